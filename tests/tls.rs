//! HTTPS through the real binary: `listen ... ssl` with certificates the tests make,
//! a rustls client, a real Gunicorn + Flask app behind, on both io drivers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::tls::{client_config, client_config_with, served_leaf, Ca, Key};
use common::{Client, Driver, Gunicorn, Vestibule};

/// A GET over a fresh TLS connection.
fn get_tls(
    port: u16,
    sni: &str,
    config: &std::sync::Arc<rustls::ClientConfig>,
    path: &str,
) -> (common::Response, Vec<u8>) {
    let mut c = Client::connect_tls(port, Some(sni), config).unwrap();
    c.send(format!("GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n").as_bytes());
    let r = c.read_response(false);
    (r, served_leaf(c.session()))
}

fn https_end_to_end(driver: Driver) {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], Key::Ecdsa).write(dir.path(), "a");
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    std::fs::write(dir.path().join("www/hello.txt"), "hello over tls\n").unwrap();
    let big = common::pattern(3 << 20);
    std::fs::write(dir.path().join("www/big.bin"), &big).unwrap();
    let app = Gunicorn::tcp(1);
    let v = Vestibule::start_with(
        &format!(
            "server {{
                listen 127.0.0.1:@PORT@ ssl;
                server_name a.test;
                ssl_certificate {cert};
                ssl_certificate_key {key};
                access_log @DIR@/tls.log tls;
                location /static/ {{ alias {www}/; }}
                location / {{ include proxy_params; proxy_pass {up}; proxy_redirect off; }}
            }}",
            cert = cert.display(),
            key = key.display(),
            www = dir.path().join("www").display(),
            up = app.proxy_pass(),
        ),
        "log_format tls '$scheme|$https|$ssl_protocol|$ssl_cipher|$ssl_server_name|$ssl_session_reused|$status';",
        driver,
    );
    let config = client_config(&ca);
    let (r, _) = get_tls(v.port, "a.test", &config, "/static/hello.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello over tls\n");
    // Larger than a sendfile range: read and written through the TLS session.
    let (r, _) = get_tls(v.port, "a.test", &config, "/static/big.bin");
    assert_eq!(r.status, 200);
    assert!(r.complete());
    assert_eq!(common::sha256_hex(&r.body), common::sha256_hex(&big));
    // Flask sees https (X-Forwarded-Proto from proxy_params) and builds https URLs.
    let (r, _) = get_tls(v.port, "a.test", &config, "/echo");
    assert_eq!(r.status, 200, "{}", r.text());
    let json = r.json();
    assert_eq!(json.request_headers("X-Forwarded-Proto"), ["https"]);
    assert_eq!(json.str("scheme"), "https");
    let (r, _) = get_tls(v.port, "a.test", &config, "/redirect/external");
    assert_eq!(r.status, 302);
    assert!(
        r.header("location").unwrap().starts_with("https://a.test"),
        "{:?}",
        r.header("location")
    );
    // A 1 MiB upload and keep-alive: several requests on one TLS connection.
    let mut c = Client::connect_tls(v.port, Some("a.test"), &config).unwrap();
    let upload = common::pattern(1 << 20);
    for _ in 0..3 {
        let mut req = format!(
            "POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: {}\r\n\r\n",
            upload.len()
        )
        .into_bytes();
        req.extend_from_slice(&upload);
        c.send(&req);
        let r = c.read_response(false);
        assert_eq!(r.status, 200);
        assert_eq!(r.json().num("body_len"), upload.len() as u64);
        assert_eq!(r.json().str("body_sha256"), common::sha256_hex(&upload));
    }
    let line = v.wait_for_log_line("tls.log", "|200");
    assert!(line.starts_with("https|on|TLSv1.3|TLS_AES_"), "{line}");
    assert!(line.contains("|a.test|.|200"), "{line}");
    // TLS 1.2 with a chosen suite, named as OpenSSL names it.
    let tls12 = client_config_with(&ca, &[&rustls::version::TLS12], |_| {});
    let mut c = Client::connect_tls(v.port, Some("a.test"), &tls12).unwrap();
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
    let log = v.wait_for_log_line("tls.log", "TLSv1.2");
    assert!(log.contains("|TLSv1.2|ECDHE-ECDSA-"), "{log}");
    v.assert_driver_logged();
}

#[test]
fn https_serves_static_files_and_the_flask_app() {
    https_end_to_end(Driver::Default);
}

#[test]
fn https_works_on_the_epoll_driver() {
    https_end_to_end(Driver::Epoll);
}

/// One certificate per server; SNI picks the server by nginx's `server_name` rules,
/// and a client without SNI (or with an unknown name) gets the default server's.
#[test]
fn sni_chooses_the_certificate_with_server_name_rules() {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let names = [
        ("exact", "a.test"),
        ("leading", "x.wild.test"),
        ("trailing", "www.trail.example"),
        ("regex", "re42.test"),
        ("default", "default.test"),
    ];
    let mut leaves = std::collections::HashMap::new();
    let mut paths = std::collections::HashMap::new();
    for (label, name) in names {
        // The default server's certificate also names 127.0.0.1, which a client
        // without SNI checks.
        let issued = match label {
            "default" => ca.issue(&[name, "127.0.0.1"], Key::Ecdsa),
            _ => ca.issue(&[name], Key::Ecdsa),
        };
        leaves.insert(label, issued.der.clone());
        paths.insert(label, issued.write(dir.path(), label));
    }
    let server = |label: &str, server_name: &str, extra: &str| {
        let (c, k) = &paths[label];
        format!(
            "server {{ listen 127.0.0.1:@PORT@ ssl{extra}; server_name {server_name};
               ssl_certificate {}; ssl_certificate_key {}; return 200 '{label}\\n'; }}\n",
            c.display(),
            k.display()
        )
    };
    let servers = [
        server("exact", "a.test", ""),
        server("leading", "*.wild.test", ""),
        server("trailing", "www.trail.*", ""),
        server("regex", "~^re\\d+\\.test$", ""),
        server("default", "default.test", " default_server"),
    ]
    .concat();
    let v = Vestibule::start(&servers);
    let config = client_config(&ca);
    for (sni, label) in [
        ("a.test", "exact"),
        ("x.wild.test", "leading"),
        ("www.trail.example", "trailing"),
        ("re42.test", "regex"),
        ("default.test", "default"),
    ] {
        let (r, leaf) = get_tls(v.port, sni, &config, "/");
        assert_eq!(leaf, leaves[label], "certificate for {sni}");
        assert_eq!(r.text(), format!("{label}\n"), "server for {sni}");
    }
    // An unknown name: the default server's certificate, which the client rejects.
    let err = Client::connect_tls(v.port, Some("other.test"), &config).unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    // No SNI at all: the default server's certificate (the client checks the IP).
    let c = Client::connect_tls(v.port, None, &config).unwrap();
    assert_eq!(served_leaf(c.session()), leaves["default"]);
}

/// An ECDSA and an RSA certificate in one server: ECDSA for clients that take it,
/// RSA for a client whose only suites are RSA ones.
#[test]
fn ecdsa_and_rsa_certificates_side_by_side() {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let ecdsa = ca.issue(&["a.test"], Key::Ecdsa);
    let rsa = ca.issue(&["a.test"], Key::Rsa);
    let (ec, eck) = ecdsa.write(dir.path(), "ec");
    let (rc, rck) = rsa.write(dir.path(), "rsa");
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@ ssl; server_name a.test;
           ssl_certificate {}; ssl_certificate_key {};
           ssl_certificate {}; ssl_certificate_key {};
           return 200 'ok\\n'; }}",
        rc.display(),
        rck.display(),
        ec.display(),
        eck.display()
    ));
    let (_, leaf) = get_tls(v.port, "a.test", &client_config(&ca), "/");
    assert_eq!(leaf, ecdsa.der);
    let rsa_only = {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert.der().clone()).unwrap();
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        provider.cipher_suites =
            vec![rustls::crypto::aws_lc_rs::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
        std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };
    let (r, leaf) = get_tls(v.port, "a.test", &rsa_only, "/");
    assert_eq!(r.text(), "ok\n");
    assert_eq!(leaf, rsa.der);
}

/// Plain HTTP to a TLS port: nginx's 400 page naming the mistake, and the
/// connection closes; `error_page 497` turns it into a redirect to https.
#[test]
fn plain_http_to_a_tls_port_gets_497() {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], Key::Ecdsa).write(dir.path(), "a");
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@ ssl; server_name a.test;
           ssl_certificate {}; ssl_certificate_key {};
           location /r/ {{ error_page 497 =301 https://$host:$server_port$request_uri; }}
           return 200 'ok\\n'; }}",
        cert.display(),
        key.display()
    ));
    let mut c = Client::connect(v.port);
    c.send(b"GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 400);
    assert!(
        r.text()
            .contains("<center>The plain HTTP request was sent to HTTPS port</center>"),
        "{}",
        r.text()
    );
    assert!(c.closed_by_peer());
    v.wait_for_error_line(&["client sent plain HTTP request to HTTPS port"]);
    v.wait_for_access_line("\"GET /x HTTP/1.1\" 400");
    // The server-level error_page applies (nginx finalizes before any location).
    let v2 = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@ ssl; server_name a.test;
           ssl_certificate {}; ssl_certificate_key {};
           error_page 497 =301 https://$host:$server_port$request_uri;
           return 200 'ok\\n'; }}",
        cert.display(),
        key.display()
    ));
    let mut c = Client::connect(v2.port);
    c.send(b"GET /r/x?y=1 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location").unwrap(),
        format!("https://a.test:{}/r/x?y=1", v2.port)
    );
}

/// `ssl_reject_handshake on` in the default server: names no server claims get no
/// handshake at all; a named server still serves.
#[test]
fn ssl_reject_handshake_refuses_unknown_names() {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], Key::Ecdsa).write(dir.path(), "a");
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@ ssl default_server; ssl_reject_handshake on; }}
         server {{ listen 127.0.0.1:@PORT@ ssl; server_name a.test;
           ssl_certificate {}; ssl_certificate_key {}; return 200 'ok\\n'; }}",
        cert.display(),
        key.display()
    ));
    let config = client_config(&ca);
    assert!(Client::connect_tls(v.port, Some("b.test"), &config).is_err());
    let (r, _) = get_tls(v.port, "a.test", &config, "/");
    assert_eq!(r.text(), "ok\n");
    v.wait_for_error_line(&["SSL handshake rejected"]);
}

/// A renewed certificate is served after SIGHUP while a connection opened before
/// keeps working; a reload with a key that does not match keeps the old one.
#[test]
fn reload_serves_renewed_certificates_without_closing_connections() {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let first = ca.issue(&["a.test"], Key::Ecdsa);
    let (cert, key) = first.write(dir.path(), "a");
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@ ssl; server_name a.test;
           ssl_certificate {}; ssl_certificate_key {}; return 200 'ok\\n'; }}",
        cert.display(),
        key.display()
    ));
    // No resumption: a resumed session would report the certificate it began with.
    let config = client_config_with(&ca, rustls::ALL_VERSIONS, |c| {
        c.resumption = rustls::client::Resumption::disabled();
    });
    let mut open = Client::connect_tls(v.port, Some("a.test"), &config).unwrap();
    open.send(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(open.read_response(false).status, 200);
    let renewed = ca.issue(&["a.test"], Key::Ecdsa);
    renewed.write(dir.path(), "a");
    // SAFETY: kill(2) on the pid of the master this test started.
    unsafe { libc::kill(v.pid(), libc::SIGHUP) };
    assert!(common::wait_until(Duration::from_secs(10), || {
        get_tls(v.port, "a.test", &config, "/").1 == renewed.der
    }));
    open.send(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(open.read_response(false).status, 200);
    assert_eq!(served_leaf(open.session()), first.der);
    // A key from another certificate: the reload fails with file:line, the renewed
    // certificate keeps serving.
    let other = ca.issue(&["a.test"], Key::Ecdsa);
    std::fs::write(&key, &other.key_pem).unwrap();
    // SAFETY: kill(2) on the pid of the master this test started.
    unsafe { libc::kill(v.pid(), libc::SIGHUP) };
    let line = v.wait_for_error_line(&["does not match the certificate"]);
    assert!(line.contains("vestibule.conf:"), "{line}");
    assert_eq!(get_tls(v.port, "a.test", &config, "/").1, renewed.der);
    open.send(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(open.read_response(false).status, 200);
}

/// Connects `count` times with one client config and says how many handshakes
/// resumed, and which worker pids served (from `$pid` in the access log).
fn reconnect(v: &Vestibule, config: &std::sync::Arc<rustls::ClientConfig>, count: usize) -> usize {
    let mut resumed = 0;
    for _ in 0..count {
        let mut c = Client::connect_tls(v.port, Some("a.test"), config).unwrap();
        if c.session().handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
            resumed += 1;
        }
        c.send(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
        assert_eq!(c.read_response(false).status, 200);
    }
    resumed
}

/// A client reconnecting lands on either of two workers and resumes every time:
/// TLS 1.2 session ids through `ssl_session_cache shared:`, TLS 1.2 and 1.3 tickets
/// with keys the master shares, and TLS 1.3 from the shared cache with tickets off.
#[test]
fn sessions_resume_on_every_worker() {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], Key::Ecdsa).write(dir.path(), "a");
    for tickets in ["on", "off"] {
        let v = Vestibule::start_with_main(
            "worker_processes 2; events { worker_connections 512; }",
            &format!(
                "server {{ listen 127.0.0.1:@PORT@ ssl; server_name a.test;
                   ssl_certificate {}; ssl_certificate_key {};
                   ssl_session_cache shared:SSL:1m; ssl_session_tickets {tickets};
                   access_log @DIR@/pids.log pids;
                   return 200 'ok\\n'; }}",
                cert.display(),
                key.display()
            ),
            "log_format pids '$pid $ssl_protocol $ssl_session_reused';",
            Driver::Default,
        );
        assert!(common::wait_until(Duration::from_secs(10), || {
            v.error_log().matches("io driver:").count() == 2
        }));
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let config = client_config_with(&ca, &[version], |_| {});
            let n = 40;
            assert_eq!(
                reconnect(&v, &config, n),
                n - 1,
                "tickets {tickets}, {version:?}: every reconnection resumes"
            );
        }
        let log = v.wait_for_log_line("pids.log", "TLSv1.3 r");
        let served = std::fs::read_to_string(v.path("pids.log")).unwrap();
        let pids: std::collections::HashSet<&str> = served
            .lines()
            .filter(|l| l.ends_with(" r"))
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert_eq!(pids.len(), 2, "resumed on both workers: {log}");
    }
}

/// A client configuration trusting `ca` that presents `client`'s certificate.
fn with_client_cert(ca: &Ca, client: &common::tls::Issued) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).unwrap();
    let chain = vec![rustls::pki_types::CertificateDer::from(client.der.clone())];
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap(),
    )
}

/// `ssl_verify_client`: a good certificate gets through with `$ssl_client_verify`
/// SUCCESS and its subject; none, or one no CA vouches for, gets nginx's 400 pages
/// (statuses 496 and 495 to `error_page`); `optional` lets a client without one in.
#[test]
fn client_certificates_as_nginx_checks_them() {
    let ca = Ca::new("Test CA");
    let client_ca = Ca::new("Client CA");
    let stranger_ca = Ca::new("Stranger CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca
        .issue(&["a.test", "optional.test"], Key::Ecdsa)
        .write(dir.path(), "a");
    std::fs::write(dir.path().join("clients.pem"), client_ca.pem()).unwrap();
    let good = client_ca.issue(&["client.test"], Key::Ecdsa);
    let stranger = stranger_ca.issue(&["client.test"], Key::Ecdsa);
    let v = Vestibule::start_with(
        &format!(
            "server {{ listen 127.0.0.1:@PORT@ ssl; server_name a.test;
               ssl_certificate {c}; ssl_certificate_key {k};
               ssl_client_certificate {d}/clients.pem; ssl_verify_client on;
               access_log @DIR@/clients.log clients;
               return 200 'ok\\n'; }}
             server {{ listen 127.0.0.1:@PORT@ ssl; server_name optional.test;
               ssl_certificate {c}; ssl_certificate_key {k};
               ssl_client_certificate {d}/clients.pem; ssl_verify_client optional;
               access_log @DIR@/clients.log clients;
               return 200 'ok\\n'; }}",
            c = cert.display(),
            k = key.display(),
            d = dir.path().display()
        ),
        "log_format clients '$server_name|$status|$ssl_client_verify|$ssl_client_s_dn';",
        Driver::Default,
    );
    let fetch = |sni: &str, config: &std::sync::Arc<rustls::ClientConfig>| {
        let mut c = Client::connect_tls(v.port, Some(sni), config).unwrap();
        c.send(format!("GET / HTTP/1.1\r\nHost: {sni}\r\n\r\n").as_bytes());
        let r = c.read_response(false);
        (r, c)
    };
    let (r, _) = fetch("a.test", &with_client_cert(&ca, &good));
    assert_eq!(r.text(), "ok\n");
    v.wait_for_log_line("clients.log", "a.test|200|SUCCESS|CN=client.test");
    let (r, mut c) = fetch("a.test", &client_config(&ca));
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("No required SSL certificate was sent"),
        "{}",
        r.text()
    );
    assert!(c.closed_by_peer());
    let (r, _) = fetch("a.test", &with_client_cert(&ca, &stranger));
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("The SSL certificate error"),
        "{}",
        r.text()
    );
    v.wait_for_error_line(&[
        "client SSL certificate verify error: (unable to get local issuer certificate)",
    ]);
    let (r, _) = fetch("optional.test", &client_config(&ca));
    assert_eq!(r.text(), "ok\n");
    v.wait_for_log_line("clients.log", "optional.test|200|NONE|-");
}

/// The guide's HTTPS ending: port 80 redirects with `return 301
/// https://$host$request_uri;`, and the TLS server (here in the legacy `ssl on;`
/// form) sends HSTS on every answer with `always`, errors included.
#[test]
fn redirect_to_https_and_hsts_always() {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], Key::Ecdsa).write(dir.path(), "a");
    let plain = common::free_port();
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:{plain}; server_name a.test;
           return 301 https://$host$request_uri; }}
         server {{ listen 127.0.0.1:@PORT@; ssl on; server_name a.test;
           ssl_certificate {}; ssl_certificate_key {};
           add_header Strict-Transport-Security \"max-age=63072000; includeSubDomains\" always;
           root {}/none; }}",
        cert.display(),
        key.display(),
        dir.path().display()
    ));
    let mut c = Client::connect(plain);
    c.send(b"GET /login?next=/a HTTP/1.1\r\nHost: a.test\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://a.test/login?next=/a"));
    assert_eq!(r.header("strict-transport-security"), None);
    let (r, _) = get_tls(v.port, "a.test", &client_config(&ca), "/missing");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=63072000; includeSubDomains")
    );
    let output = std::fs::read_to_string(v.path("output.log")).unwrap() + &v.error_log();
    assert!(output.contains(
        "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead"
    ));
}

/// WebSocket over HTTPS (Flask-SocketIO behind TLS): after `101`, bytes go both ways
/// through the TLS session to a plain upstream, on both drivers.
#[test]
fn an_upgrade_over_tls_becomes_a_two_way_relay() {
    use std::io::Read;
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], Key::Ecdsa).write(dir.path(), "a");
    for driver in [Driver::Default, Driver::Epoll] {
        let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let up_port = upstream.local_addr().unwrap().port();
        let echo = std::thread::spawn(move || {
            let (mut s, _) = upstream.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                assert_eq!(s.read(&mut byte).unwrap(), 1);
                head.push(byte[0]);
            }
            common::switch_and_echo(&mut s.try_clone().unwrap(), s);
        });
        let v = Vestibule::start_with(
            &format!(
                "server {{ listen 127.0.0.1:@PORT@ ssl; server_name a.test;
                   ssl_certificate {}; ssl_certificate_key {};
                   location /socket.io/ {{ proxy_pass http://127.0.0.1:{up_port};
                     proxy_http_version 1.1;
                     proxy_set_header Upgrade $http_upgrade;
                     proxy_set_header Connection \"upgrade\"; }} }}",
                cert.display(),
                key.display()
            ),
            "",
            driver,
        );
        let mut c = Client::connect_tls(v.port, Some("a.test"), &client_config(&ca)).unwrap();
        c.send(b"GET /socket.io/?EIO=4 HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        let head = c.read_until(b"\r\n\r\n");
        assert!(
            head.starts_with(b"HTTP/1.1 101 "),
            "{}",
            String::from_utf8_lossy(&head)
        );
        for msg in [&b"ping"[..], &common::pattern(100_000)] {
            c.send(msg);
            assert_eq!(c.read_raw(msg.len()), msg, "{driver:?}");
        }
        drop(c);
        echo.join().unwrap();
    }
}

/// Records the OCSP response a server staples, and checks the chain as usual.
#[derive(Debug)]
struct StapleRecorder {
    inner: std::sync::Arc<rustls::client::WebPkiServerVerifier>,
    seen: std::sync::Mutex<Vec<u8>>,
}

impl rustls::client::danger::ServerCertVerifier for StapleRecorder {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = ocsp.to_vec();
        self.inner
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What rustls honours of the ssl_* directives, seen from a client: the stapled
/// `ssl_stapling_file`, `ssl_protocols`, `ssl_ciphers` and `ssl_ecdh_curve`.
#[test]
fn ssl_directives_reach_the_handshake() {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca
        .issue(&["a.test", "b.test"], Key::Ecdsa)
        .write(dir.path(), "a");
    // Any bytes: the server staples the file as it is.
    let ocsp = b"\x30\x03\x0a\x01\x01".to_vec();
    std::fs::write(dir.path().join("ocsp.der"), &ocsp).unwrap();
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@ ssl; server_name a.test;
           ssl_certificate {c}; ssl_certificate_key {k};
           ssl_stapling on; ssl_stapling_file {d}/ocsp.der;
           ssl_protocols TLSv1.2; ssl_ciphers ECDHE-ECDSA-CHACHA20-POLY1305;
           ssl_ecdh_curve secp384r1;
           return 200 'ok\\n'; }}
         server {{ listen 127.0.0.1:@PORT@ ssl; server_name b.test;
           ssl_certificate {c}; ssl_certificate_key {k};
           ssl_protocols TLSv1.3; return 200 'ok\\n'; }}",
        c = cert.display(),
        k = key.display(),
        d = dir.path().display()
    ));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let roots = std::sync::Arc::new(roots);
    let recorder = std::sync::Arc::new(StapleRecorder {
        inner: rustls::client::WebPkiServerVerifier::builder(std::sync::Arc::clone(&roots))
            .build()
            .unwrap(),
        seen: std::sync::Mutex::new(Vec::new()),
    });
    let stapled = client_config_with(&ca, rustls::ALL_VERSIONS, |c| {
        c.dangerous()
            .set_certificate_verifier(std::sync::Arc::clone(&recorder) as _);
    });
    let c = Client::connect_tls(v.port, Some("a.test"), &stapled).unwrap();
    assert_eq!(*recorder.seen.lock().unwrap(), ocsp);
    let s = c.session();
    assert_eq!(s.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(
        s.negotiated_cipher_suite().map(|c| c.suite()),
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
    );
    assert_eq!(
        s.negotiated_key_exchange_group().map(|g| g.name()),
        Some(rustls::NamedGroup::secp384r1)
    );
    // TLS 1.3 only for b.test: a TLS 1.2 client is refused, a 1.3 one served.
    let tls12 = client_config_with(&ca, &[&rustls::version::TLS12], |_| {});
    assert!(Client::connect_tls(v.port, Some("b.test"), &tls12).is_err());
    let (r, _) = get_tls(v.port, "b.test", &client_config(&ca), "/");
    assert_eq!(r.text(), "ok\n");
}
