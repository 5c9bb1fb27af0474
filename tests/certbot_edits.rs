//! What certbot's nginx plugin writes, in certbot's own layout (tests/certbot/README.md
//! quotes it from a run against nginx 1.22.1), loaded and served by the real binary:
//! directives glued to `{`, `# managed by Certbot` after a directive and after `}`, the
//! challenge include holding one server block on one line without a final newline
//! (then empty), a `root` that does not exist, `listen ... ssl ipv6only=on`, and
//! certbot's options file and DH parameters. `rewrite` and `if` (also written by
//! certbot) belong to the rewrite module and are tested with it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::tls::{client_config, Ca, Key, OPTIONS_SSL_NGINX, SSL_DHPARAMS};
use common::{Client, Vestibule};

const TOKEN: &str = "R3VrX0FhY2hhbGxlbmdlLXRva2VuLXhMUQ";
const THUMBPRINT: &str = "KMu3dGh1bWJwcmludC1vZi10aGUta2V5dWQ";

fn get(port: u16, host: &str, path: &str) -> common::Response {
    let mut c = Client::connect(port);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes());
    c.read_response(false)
}

/// certbot's configuration directory: a lineage (`fullchain.pem` is the leaf and the
/// issuer, `privkey.pem` PKCS#8 ECDSA P-256, certbot 2's default), the options file,
/// the DH parameters, and the challenge include (one server block, one line, no final
/// newline, a root that does not exist).
fn certbot_config_dir(dir: &Path, ca: &Ca, challenge_port: u16) {
    let live = dir.join("live/example.test");
    std::fs::create_dir_all(&live).unwrap();
    let leaf = ca.issue(&["example.test", "www.example.test"], Key::Ecdsa);
    std::fs::write(
        live.join("fullchain.pem"),
        format!("{}{}", leaf.cert_pem, ca.pem()),
    )
    .unwrap();
    std::fs::write(live.join("privkey.pem"), &leaf.key_pem).unwrap();
    std::fs::write(dir.join("options-ssl-nginx.conf"), OPTIONS_SSL_NGINX).unwrap();
    std::fs::write(dir.join("ssl-dhparams.pem"), SSL_DHPARAMS).unwrap();
    std::fs::write(
        dir.join("le_http_01_cert_challenge.conf"),
        format!(
            "server{{listen 127.0.0.1:{challenge_port};server_name api.example.test;root {}/work/http_01_nonexistent;location = /.well-known/acme-challenge/{TOKEN}{{default_type text/plain;return 200 {TOKEN}.{THUMBPRINT};}}}}",
            dir.display()
        ),
    )
    .unwrap();
}

#[test]
fn certbots_edits_load_and_serve() {
    let ca = Ca::new("pebble intermediate");
    let dir = tempfile::tempdir().unwrap();
    let le = dir.path().join("letsencrypt");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "example.test over vestibule\n").unwrap();
    let challenge_port = common::free_port();
    let tls_port = common::free_port();
    certbot_config_dir(&le, &ca, challenge_port);
    let ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    let le = le.display();
    // The site as certbot leaves it during a challenge after installing the
    // certificate: its first insertion glued to `server {` (a `rewrite` in certbot's
    // case; an `index` here), the challenge location glued to its `{` with the comment
    // after `}`, the ssl lines appended with their comments, blank lines before `}`.
    let site = format!(
        "server {{index index.html; # managed by Certbot

    listen 127.0.0.1:@PORT@;

    server_name example.test www.example.test;

    root {www};

    location / {{
        try_files $uri $uri/ =404;
    }}
location = /.well-known/acme-challenge/{TOKEN}{{default_type text/plain;return 200 {TOKEN}.{THUMBPRINT};}} # managed by Certbot

{v6}    listen 127.0.0.1:{tls_port} ssl; # managed by Certbot
    ssl_certificate {le}/live/example.test/fullchain.pem; # managed by Certbot
    ssl_certificate_key {le}/live/example.test/privkey.pem; # managed by Certbot
    include {le}/options-ssl-nginx.conf; # managed by Certbot
    ssl_dhparam {le}/ssl-dhparams.pem; # managed by Certbot


}}",
        www = www.display(),
        v6 = if ipv6 {
            format!("    listen [::1]:{tls_port} ssl ipv6only=on; # managed by Certbot\n")
        } else {
            String::new()
        },
    );
    // In nginx.conf, at the top of `http {` during a challenge.
    let http =
        format!("server_names_hash_bucket_size 128;\ninclude {le}/le_http_01_cert_challenge.conf;");
    let v = Vestibule::start_with(&site, &http, common::Driver::Default);

    // `-t` passes: the missing root is a warning, the hash size an info line.
    let tested = Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args(["-t", "-c"])
        .arg(v.path("vestibule.conf"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&tested.stderr);
    assert!(tested.status.success(), "{said}");
    assert!(!said.contains("[emerg]"), "{said}");
    assert!(
        said.contains("[warn] root \"") && said.contains("http_01_nonexistent\" does not exist"),
        "{said}"
    );

    // The challenge, from the site and from the temporary block of the include.
    let path = format!("/.well-known/acme-challenge/{TOKEN}");
    for (port, host) in [
        (v.port, "www.example.test"),
        (challenge_port, "api.example.test"),
    ] {
        let r = get(port, host, &path);
        assert_eq!(r.status, 200, "{host}: {r}");
        assert_eq!(r.text(), format!("{TOKEN}.{THUMBPRINT}"));
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
    assert_eq!(get(v.port, "example.test", "/").status, 200);

    // HTTPS with the lineage: leaf and issuer sent, TLS 1.3 or 1.2 only.
    let config = client_config(&ca);
    let mut c = Client::connect_tls(tls_port, Some("www.example.test"), &config).unwrap();
    assert_eq!(c.session().peer_certificates().unwrap().len(), 2);
    c.send(b"GET / HTTP/1.1\r\nHost: www.example.test\r\nConnection: close\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "example.test over vestibule\n");
    if ipv6 {
        let s = std::net::TcpStream::connect(("::1", tls_port));
        assert!(s.is_ok(), "[::1]:{tls_port}: {s:?}");
    }

    // The challenge over: certbot empties the include. The temporary block's address
    // goes away in a new generation; the site serves on.
    std::fs::write(le_file(dir.path(), "le_http_01_cert_challenge.conf"), "").unwrap();
    // SAFETY: kill(2) on the pid of a child this test started.
    unsafe { libc::kill(v.pid(), libc::SIGHUP) };
    assert!(
        common::wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", challenge_port)).is_err()
        }),
        "{}",
        v.error_log()
    );
    assert_eq!(get(v.port, "example.test", "/").status, 200);
    assert!(!v.error_log().contains("[emerg]"), "{}", v.error_log());
}

fn le_file(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join("letsencrypt").join(name)
}
