//! `vestibule -t` on TLS configurations: what real trees write loads (with warnings
//! that say what vestibule does instead), broken files fail with file:line, and the
//! checks beyond nginx name the fix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::tls::{Ca, Key};

/// `vestibule -t -c DIR/v.conf` with `http` as the http block's contents.
fn test_config(dir: &Path, http: &str) -> Output {
    let conf = dir.join("v.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\npid {d}/v.pid;\nerror_log {d}/error.log;\nhttp {{\n{http}\n}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A server block on a TLS port with the given certificate lines.
fn server(lines: &str) -> String {
    format!("server {{ listen 127.0.0.1:8443 ssl; server_name a.test; {lines} }}")
}

fn pair(dir: &Path, name: &str, issued: &common::tls::Issued) -> String {
    let (c, k) = issued.write(dir, name);
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "ssl_certificate {}; ssl_certificate_key {};",
        c.display(),
        k.display()
    )
}

/// What Debian's stock nginx.conf and certbot's options-ssl-nginx.conf write loads,
/// with a warning for each thing rustls does differently, never an error.
#[test]
fn debian_and_certbot_ssl_settings_load_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let cert = pair(dir.path(), "a", &ca.issue(&["a.test"], Key::Ecdsa));
    std::fs::write(dir.path().join("dh.pem"), "not read\n").unwrap();
    let out = test_config(
        dir.path(),
        &format!(
            "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
             ssl_prefer_server_ciphers on;
             server {{ listen 127.0.0.1:8443 ssl; server_name a.test; {cert}
               ssl_session_cache shared:le_nginx_SSL:10m;
               ssl_session_timeout 1440m;
               ssl_session_tickets off;
               ssl_protocols TLSv1.2 TLSv1.3;
               ssl_prefer_server_ciphers off;
               ssl_ciphers \"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384\";
               ssl_dhparam dh.pem;
               ssl_stapling on; ssl_stapling_verify on;
               ssl_early_data off; ssl_buffer_size 4k; ssl_ecdh_curve X25519:prime256v1:secp384r1;
               ssl_verify_depth 2;
             }}"
        ),
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for expected in [
        "\"ssl_protocols\": TLSv1 TLSv1.1 not offered",
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384 match no cipher suite",
        "\"ssl_dhparam\" has no effect",
        "\"ssl_stapling\" ignored",
        "\"ssl_verify_depth\" has no effect",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
    assert!(err.contains("v.conf:"), "warnings carry file:line: {err}");
}

/// Broken certificate files fail the test with the file and line of the directive.
#[test]
fn broken_certificates_fail_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let a = ca.issue(&["a.test"], Key::Ecdsa);
    let b = ca.issue(&["a.test"], Key::Ecdsa);
    let (cert, _) = a.write(dir.path(), "a");
    let (_, other_key) = b.write(dir.path(), "b");
    let cases = [
        (
            format!(
                "ssl_certificate {}; ssl_certificate_key {};",
                cert.display(),
                other_key.display()
            ),
            "does not match the certificate",
        ),
        (
            format!(
                "ssl_certificate {}/missing.crt; ssl_certificate_key {};",
                dir.path().display(),
                other_key.display()
            ),
            "missing.crt\": open() failed (2: No such file or directory)",
        ),
        (
            format!(
                "ssl_certificate {}; ssl_certificate_key {};",
                other_key.display(),
                other_key.display()
            ),
            "no \"BEGIN CERTIFICATE\" block",
        ),
        (
            String::new(),
            "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive",
        ),
        (
            format!("ssl_certificate {};", cert.display()),
            "no \"ssl_certificate_key\" is defined for certificate",
        ),
        (
            "ssl_password_file /etc/keys/pass;".to_string(),
            "encrypted keys are not supported",
        ),
        (
            "ssl_protocols SSLv3;".to_string(),
            "it names no protocol vestibule offers",
        ),
        (
            "ssl_session_cache shared:SSL:1m; ssl_session_cache shared:SSL:2m;".to_string(),
            "the size 2097152 of shared memory zone \"SSL\" conflicts with already declared size 1048576",
        ),
    ];
    for (lines, expected) in cases {
        let out = test_config(dir.path(), &server(&lines));
        let err = stderr(&out);
        assert!(!out.status.success(), "{lines}: {err}");
        assert!(
            err.contains(expected),
            "{lines}: want {expected:?} in {err}"
        );
        assert!(err.contains("v.conf:"), "{err}");
    }
}

/// PKCS#1 (`RSA PRIVATE KEY`), PKCS#8 (`PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`)
/// keys all load; a full chain in one file too.
#[test]
fn every_key_form_and_full_chains_load() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    for (key, label, form) in [
        (Key::Rsa, "RSA PRIVATE KEY", "pkcs1"),
        (Key::Ecdsa, "EC PRIVATE KEY", "sec1"),
        (Key::Ecdsa, "PRIVATE KEY", "pkcs8"),
    ] {
        let issued = ca.issue(&["a.test"], key);
        let (cert, key_path) = issued.write(dir.path(), form);
        if label != "PRIVATE KEY" {
            let pem = common::tls::traditional_key_pem(&issued.key_pem, label);
            assert!(pem.contains(&format!("BEGIN {label}")));
            std::fs::write(&key_path, pem).unwrap();
        }
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        // The full chain: leaf, then the CA.
        let chain = format!("{}{}", issued.cert_pem, ca.pem());
        std::fs::write(&cert, chain).unwrap();
        let out = test_config(
            dir.path(),
            &server(&format!(
                "ssl_certificate {}; ssl_certificate_key {};",
                cert.display(),
                key_path.display()
            )),
        );
        let err = stderr(&out);
        assert!(out.status.success(), "{form}: {err}");
        assert!(!err.contains("no intermediate"), "{form}: {err}");
    }
}

/// The checks nginx does not make: each warning names the fix.
#[test]
fn certificate_checks_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let expired = ca.issue_with(&["a.test"], Key::Ecdsa, |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let out = test_config(dir.path(), &server(&pair(dir.path(), "old", &expired)));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("expired on 2021-01-01 UTC: clients refuse it; renew it"),
        "{err}"
    );
    assert!(err.contains("has no intermediate"), "{err}");

    let soon = ca.issue_with(&["a.test"], Key::Ecdsa, |p| {
        let now = std::time::SystemTime::now();
        p.not_before = (now - std::time::Duration::from_secs(86400)).into();
        p.not_after = (now + std::time::Duration::from_secs(3 * 86400 + 600)).into();
    });
    let err = stderr(&test_config(
        dir.path(),
        &server(&pair(dir.path(), "soon", &soon)),
    ));
    assert!(err.contains("in 3 days: renew it"), "{err}");

    let fine = ca.issue(&["a.test"], Key::Ecdsa);
    let lines = pair(dir.path(), "fine", &fine);
    std::fs::set_permissions(
        dir.path().join("fine.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let err = stderr(&test_config(
        dir.path(),
        &format!(
            "server {{ listen 127.0.0.1:8443 ssl; server_name a.test www.a.test *.b.test; {lines} }}"
        ),
    ));
    assert!(
        err.contains("is readable by every user: chmod 600"),
        "{err}"
    );
    assert!(
        err.contains("covers server_name \"www.a.test\" (it has a.test)"),
        "{err}"
    );
    assert!(err.contains("covers server_name \"*.b.test\""), "{err}");
    assert!(!err.contains("expire"), "{err}");
}
