//! `proxy_pass https://` with `proxy_ssl_*`: to a TLS upstream (a vestibule with
//! `listen ... ssl`, certificates made by a test CA), with nginx's defaults (no
//! certificate check, no SNI), with SNI and `proxy_ssl_name`, with
//! `proxy_ssl_verify on` against a trusted CA (a wrong name or CA is a 502), and with
//! a client certificate for an upstream that asks for one. The same front
//! configuration runs in nginx beside it, with the same answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::nginx::Nginx;
use common::tls::{Ca, Key};
use common::{free_port, get_via, Vestibule};

/// The certificates in `dir`: the CA, backend.test and other.test leaves, a client
/// certificate, and a second CA nobody's certificates come from.
fn certificates(dir: &Path) {
    let ca = Ca::new("Upstream Test CA");
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    ca.issue(&["backend.test"], Key::Ecdsa)
        .write(dir, "backend");
    ca.issue(&["other.test"], Key::Ecdsa).write(dir, "other");
    ca.issue(&["front.client"], Key::Ecdsa).write(dir, "client");
    std::fs::write(dir.join("ca2.pem"), Ca::new("Another CA").pem()).unwrap();
}

/// TLS backends: port `p` with two names, port `q` wanting a client certificate.
fn backends(d: &Path, p: u16, q: u16) -> Vestibule {
    let d = d.display();
    Vestibule::start(&format!(
        r#"
server {{ listen 127.0.0.1:@PORT@; }}
server {{
    listen 127.0.0.1:{p} ssl default_server;
    server_name backend.test;
    ssl_certificate {d}/backend.crt; ssl_certificate_key {d}/backend.key;
    location / {{ return 200 "backend sni=$ssl_server_name\n"; }}
}}
server {{
    listen 127.0.0.1:{p} ssl;
    server_name other.test;
    ssl_certificate {d}/other.crt; ssl_certificate_key {d}/other.key;
    location / {{ return 200 "other sni=$ssl_server_name\n"; }}
}}
server {{
    listen 127.0.0.1:{q} ssl;
    ssl_certificate {d}/backend.crt; ssl_certificate_key {d}/backend.key;
    ssl_client_certificate {d}/ca.pem; ssl_verify_client on;
    location / {{ return 200 "client $ssl_client_s_dn\n"; }}
}}
"#
    ))
}

fn front(d: &Path, p: u16, q: u16) -> String {
    let d = d.display();
    format!(
        r#"
server {{
    listen 127.0.0.1:@PORT@;
    location /plain/ {{ proxy_pass https://127.0.0.1:{p}/; }}
    location /sni/ {{
        proxy_pass https://127.0.0.1:{p}/;
        proxy_ssl_server_name on; proxy_ssl_name other.test;
    }}
    location /verify/ {{
        proxy_pass https://127.0.0.1:{p}/;
        proxy_ssl_verify on; proxy_ssl_trusted_certificate {d}/ca.pem;
        proxy_ssl_name backend.test; proxy_ssl_server_name on;
    }}
    location /wrongname/ {{
        proxy_pass https://127.0.0.1:{p}/;
        proxy_ssl_verify on; proxy_ssl_trusted_certificate {d}/ca.pem;
        proxy_ssl_name wrong.test; proxy_ssl_session_reuse off;
    }}
    location /wrongca/ {{
        proxy_pass https://127.0.0.1:{p}/;
        proxy_ssl_verify on; proxy_ssl_trusted_certificate {d}/ca2.pem;
        proxy_ssl_name backend.test; proxy_ssl_session_reuse off;
    }}
    location /client/ {{
        proxy_pass https://127.0.0.1:{q}/;
        proxy_ssl_certificate {d}/client.crt; proxy_ssl_certificate_key {d}/client.key;
    }}
    location /noclient/ {{ proxy_pass https://127.0.0.1:{q}/; proxy_ssl_session_reuse off; }}
}}
"#
    )
}

/// The refusing locations (and the one without a client certificate) turn `proxy_ssl_session_reuse` off: nginx would otherwise
/// resume there a session another location to the same address verified with other
/// settings, and skip the check (its session cache is per upstream address).
/// vestibule keeps sessions per `proxy_ssl_*` settings, so a check always holds.
const CASES: &[(&str, u16, &str)] = &[
    ("/wrongname/", 502, ""),
    ("/wrongca/", 502, ""),
    ("/plain/", 200, "backend sni=\n"),
    // SNI picks the certificate; the Host header (127.0.0.1:port) still picks the
    // server block, in vestibule as in nginx.
    ("/sni/", 200, "backend sni=other.test\n"),
    ("/verify/", 200, "backend sni=backend.test\n"),
    ("/client/", 200, "client CN=front.client\n"),
    ("/noclient/", 400, ""),
];

#[test]
fn https_upstreams_as_nginx_reaches_them() {
    let certs = tempfile::tempdir().unwrap();
    certificates(certs.path());
    let (p, q) = (free_port(), free_port());
    let _backends = backends(certs.path(), p, q);
    let site = front(certs.path(), p, q);
    let v = Vestibule::start(&site);
    for (path, status, body) in CASES {
        // Twice: the second may resume the first's session or reuse its connection.
        for _ in 0..2 {
            assert_eq!(
                get_via(|raw| v.request(raw), path, "h.test"),
                (*status, body.to_string()),
                "{path}"
            );
        }
    }
    let log = v.error_log();
    assert!(log.contains("SSL_do_handshake() failed"), "{log}");
    if let Some(n) = Nginx::start(&site, |_| {}) {
        for (path, status, body) in CASES {
            assert_eq!(
                get_via(|raw| n.request(raw), path, "h.test"),
                (*status, body.to_string()),
                "nginx: {path}"
            );
        }
    }
}

/// TLS to a unix socket is refused at load time with a line saying so (nginx does it;
/// vestibule does not yet), rather than sending plain text to a TLS socket.
#[test]
fn tls_to_a_unix_socket_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = common::test_config(
        env!("CARGO_BIN_EXE_vestibule"),
        dir.path(),
        "server { listen 127.0.0.1:1; location / { proxy_pass https://unix:/run/app.sock; } }",
    );
    assert!(
        err.contains("TLS to a unix socket is not implemented"),
        "{err}"
    );
}
