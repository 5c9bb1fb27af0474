//! The access phase through the real binary, side by side with nginx 1.22 where it
//! is installed: `allow`/`deny` (first match wins, on the realip-adjusted address),
//! `auth_basic` with a user file holding every hash kind nginx checks, `satisfy`,
//! `limit_except`, `$remote_user`, and nginx's error-log lines for each refusal.
//! The client is always 127.0.0.1; rules name it or not.
//!
//! The hashes in [`USERS`] were made once (`openssl passwd`, Perl's `crypt`); the
//! `htpasswd` test makes its own with apache2-utils' `htpasswd` when it is installed
//! (`tests/run.sh` installs it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::side_by_side::{self, status, Case, Pair};
use common::{test_config, Response};

/// One user per hash kind, each with the password `secret`.
const USERS: &str = "\
# a comment line
plain:{PLAIN}secret
sha:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=
apr1:$apr1$WdcYOygH$8hz.hvVyC8doSmnDYU0UD1
md5:$1$KrEEDlN/$n5M9BYs3R5olk96zmH4Gb0
sha256:$5$aV4I4X.ePqak3alQ$1U8AjRA5qEOfZzMNCu4CMAe5YJkUxfg457wffOOcpcD
sha512:$6$qTwiI0Qc.sNx/dom$A9vGpd3GDIW1Kz4mYmxG8vQVQFS1eATC/lshmqgeMUnoAR1w6NxwEu7rw707Fclz1ee/czpc6ClEGukgAr0za0
des:abNANd1rDfiNc
bcrypt:$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a
locked:!
";

fn files(dir: &Path) {
    for d in [
        "www/open",
        "www/a",
        "www/le",
        "www/le/in",
        "www/le/own",
        "www/le/if",
        "www/private",
        "www/any",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
        std::fs::write(dir.join(d).join("f.txt"), "file\n").unwrap();
    }
    std::fs::write(dir.join("htpasswd"), USERS).unwrap();
}

/// `Authorization: Basic` for `user:password`, as a header line.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {token}\r\n")
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// `GET path` with `headers`, sent to both servers; both answers returned.
fn ask(pair: &Pair, request: &str, headers: &str) -> Vec<(&'static str, Response)> {
    let raw = format!("{request} HTTP/1.1\r\nHost: h.test\r\n{headers}Connection: close\r\n\r\n");
    let mut out = vec![("vestibule", pair.vestibule.request(raw.as_bytes()))];
    if let Some(nginx) = &pair.nginx {
        out.push(("nginx", nginx.request(raw.as_bytes())));
    }
    out
}

#[test]
fn allow_and_deny_first_match_wins() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    location /open/ { }
    location /a/ {
        allow 127.0.0.2;
        deny all;
        location /a/net/ { allow 127.0.0.0/8; deny all; }
        location /a/first/ { deny 127.0.0.1; allow all; }
        location /a/v6/ { allow ::1; deny all; }
        location /a/none/ { deny 10.0.0.0/8; deny unix:; }
        location /a/all/ { allow all; }
    }
}",
        files,
    );
    pair.check(&[
        status("no rules", "GET /open/f.txt", 200),
        status("allow another, deny all", "GET /a/f.txt", 403),
        status("the client's network allowed", "GET /a/net/f.txt", 404),
        status("deny before allow all", "GET /a/first/f.txt", 403),
        status(
            "an IPv6 rule never names an IPv4 client",
            "GET /a/v6/f.txt",
            403,
        ),
        status("no rule names the client", "GET /a/none/f.txt", 404),
        status("allow all", "GET /a/all/f.txt", 404),
    ]);
    pair.both_logged(&[
        "access forbidden by rule, client: 127.0.0.1, server: , request: \"GET /a/f.txt HTTP/1.1\", host: \"h.test\"",
    ]);
}

#[test]
fn rules_see_the_address_realip_gave() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    set_real_ip_from 127.0.0.1;
    location /open/ { deny 203.0.113.7; allow all; }
}",
        files,
    );
    pair.check(&[
        status("own address", "GET /open/f.txt", 200),
        status("a trusted header's address", "GET /open/f.txt", 403)
            .with("X-Real-IP: 203.0.113.7\r\n"),
        status("another header address", "GET /open/f.txt", 200).with("X-Real-IP: 203.0.113.8\r\n"),
    ]);
    pair.both_logged(&["access forbidden by rule, client: 203.0.113.7"]);
}

const AUTH_SERVER: &str = "
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    location /private/ {
        auth_basic \"Staging area\";
        auth_basic_user_file @DIR@/htpasswd;
        location /private/off/ { auth_basic off; }
    }
    location /missing/ {
        auth_basic on;
        auth_basic_user_file @DIR@/no-such-file;
    }
    location = /who { return 200 \"[$remote_user]\\n\"; }
}";

#[test]
fn basic_auth_checks_every_hash_kind() {
    let pair = side_by_side::start(AUTH_SERVER, files);
    let mut cases = vec![
        status("no credentials", "GET /private/f.txt", 401),
        status("auth_basic off inside", "GET /private/off/", 404),
        status("not Basic", "GET /private/f.txt", 401).with("Authorization: Bearer abc\r\n"),
        status("unknown user", "GET /private/f.txt", 401).with(leak(basic("nobody", "secret"))),
        status("a commented user", "GET /private/f.txt", 401)
            .with(leak(basic("# a comment line", "x"))),
        status("missing user file", "GET /missing/f.txt", 403).with(leak(basic("des", "x"))),
        // Hashes the C library cannot compute: a mismatch (401), as nginx's crypt_r
        // gives its failure token — not a 500.
        status("a locked user", "GET /private/f.txt", 401).with(leak(basic("locked", "x"))),
        status("a password past crypt's limit", "GET /private/f.txt", 401)
            .with(leak(basic("bcrypt", &"p".repeat(600)))),
    ];
    for user in [
        "plain", "sha", "apr1", "md5", "sha256", "sha512", "des", "bcrypt",
    ] {
        cases.push(
            status(leak(format!("{user}: right")), "GET /private/f.txt", 200)
                .with(leak(basic(user, "secret"))),
        );
        cases.push(
            status(leak(format!("{user}: wrong")), "GET /private/f.txt", 401)
                .with(leak(basic(user, "secreT"))),
        );
    }
    pair.check(&cases);
    for (who, r) in ask(&pair, "GET /private/f.txt", "") {
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"Staging area\""),
            "{who}: {r}"
        );
    }
    pair.both_logged(&[
        "user \"nobody\" was not found in \"",
        "/htpasswd\", client: 127.0.0.1",
    ]);
    pair.both_logged(&["user \"sha\": password mismatch, client: 127.0.0.1"]);
    pair.both_logged(&[
        "open() \"",
        "/no-such-file\" failed (2: No such file or directory)",
    ]);
    // An info line, below the level nginx's side logs at.
    pair.vestibule
        .wait_for_error_line(&["no user/password was provided for basic authentication"]);
}

#[test]
fn remote_user_is_the_credentials_user() {
    let pair = side_by_side::start(AUTH_SERVER, files);
    pair.check(&[
        side_by_side::body("none", "GET /who", "[]\n"),
        side_by_side::body("unchecked user", "GET /who", "[carol]\n")
            .with(leak(basic("carol", "anything"))),
    ]);
}

#[test]
fn satisfy_any_lets_either_through_and_all_needs_both() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    auth_basic \"any\";
    auth_basic_user_file @DIR@/htpasswd;
    location /any/ {
        satisfy any;
        allow 127.0.0.2;
        deny all;
        location /any/mine/ { allow 127.0.0.1; }
        location /any/noauth/ { auth_basic off; }
    }
    location /a/ {
        allow 127.0.0.1;
        deny all;
        location /a/denied/ { deny all; }
    }
}",
        files,
    );
    let good = leak(basic("apr1", "secret"));
    pair.check(&[
        status("any: neither", "GET /any/f.txt", 401),
        status("any: password", "GET /any/f.txt", 200).with(good),
        status("any: address", "GET /any/mine/f.txt", 404),
        status("any: denied, no auth", "GET /any/noauth/f.txt", 403),
        status("all: address only", "GET /a/f.txt", 401),
        status("all: address and password", "GET /a/f.txt", 200).with(good),
        status("all: denied with a password", "GET /a/denied/f.txt", 403).with(good),
    ]);
    pair.both_logged(&["access forbidden by rule", "GET /any/noauth/f.txt"]);
}

#[test]
fn limit_except_applies_to_other_methods() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    location /le/ {
        limit_except GET { deny all; }
        location /le/in/ { }
        location /le/own/ { limit_except GET POST { deny all; } }
        location /le/if/ {
            limit_except GET { deny all; }
            if ($arg_x) { }
        }
    }
    location /up/ {
        proxy_pass http://127.0.0.1:@UP@;
        limit_except GET POST {
            auth_basic \"writers\";
            auth_basic_user_file @DIR@/htpasswd;
        }
    }
}",
        files,
    );
    let good = leak(basic("sha", "secret"));
    pair.check(&[
        status("GET listed", "GET /le/f.txt", 200),
        status("HEAD comes with GET", "HEAD /le/f.txt", 200),
        status("POST refused", "POST /le/f.txt", 403),
        status("DELETE refused", "DELETE /le/f.txt", 403),
        status(
            "a nested location does not inherit it",
            "POST /le/in/f.txt",
            405,
        ),
        status("a nested one of its own", "POST /le/own/f.txt", 405),
        status("which still refuses others", "PUT /le/own/f.txt", 403),
        status("a false if keeps it", "POST /le/if/f.txt", 403),
        status("a true if keeps it too", "POST /le/if/f.txt?x=1", 403),
        side_by_side::body("proxied GET", "GET /up/x", "UP /up/x\n"),
        status("PUT asks for a password", "PUT /up/x", 401),
        side_by_side::body("PUT with one", "PUT /up/x", "UP /up/x\n").with(good),
    ]);
}

#[test]
fn htpasswd_files_from_apache2_utils() {
    let made = |flag: &str, file: &Path, user: &str, create: bool| {
        let mut c = Command::new("htpasswd");
        c.arg("-b");
        if create {
            c.arg("-c");
        }
        c.arg(flag).arg(file).arg(user).arg("pw-12345");
        c.output().map(|o| o.status.success()).unwrap_or(false)
    };
    let probe = tempfile::tempdir().unwrap();
    if !made("-m", &probe.path().join("p"), "x", true) {
        eprintln!("htpasswd (apache2-utils) is not installed: this test is skipped");
        return;
    }
    let prepare = |dir: &Path| {
        files(dir);
        let f = dir.join("htpasswd");
        assert!(made("-B", &f, "bcrypt", true));
        assert!(made("-m", &f, "apr1", false));
        assert!(made("-s", &f, "sha", false));
        assert!(made("-d", &f, "des", false));
        assert!(made("-p", &f, "plain", false));
    };
    let pair = side_by_side::start(AUTH_SERVER, prepare);
    // `htpasswd -p` writes the password itself, which nginx hands to crypt() as a
    // DES setting on Linux: it never matches (nginx wants `{PLAIN}` before it).
    let mut cases =
        vec![status("plain: refused", "GET /private/f.txt", 401)
            .with(leak(basic("plain", "pw-12345")))];
    for user in ["bcrypt", "apr1", "sha", "des"] {
        cases.push(
            status(leak(format!("{user}: right")), "GET /private/f.txt", 200)
                .with(leak(basic(user, "pw-12345"))),
        );
        cases.push(
            status(leak(format!("{user}: wrong")), "GET /private/f.txt", 401)
                .with(leak(basic(user, "pw-12346"))),
        );
    }
    pair.check(&cases);
}

#[test]
fn bad_values_fail_the_test_as_nginx_does() {
    let mut programs = vec![env!("CARGO_BIN_EXE_vestibule")];
    if common::nginx::Nginx::available() {
        programs.push(common::nginx::NGINX);
    }
    for program in programs {
        bad_values_fail_with(program);
    }
}

fn bad_values_fail_with(program: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("server { allow foo; }", "invalid parameter \"foo\""),
        (
            "server { deny 10.0.0.0/33; }",
            "invalid parameter \"10.0.0.0/33\"",
        ),
        (
            "server { location / { limit_except FOO { deny all; } } }",
            "invalid method \"FOO\"",
        ),
        (
            "server { limit_except GET { deny all; } }",
            "\"limit_except\" directive is not allowed here",
        ),
        ("server { satisfy some; }", "invalid value \"some\" in /"),
        (
            "server { auth_basic a; auth_basic b; }",
            "\"auth_basic\" directive is duplicate",
        ),
    ];
    for (http, want) in cases {
        let out = test_config(program, dir.path(), http);
        assert!(out.contains(want), "{program}, {http}: {out}");
    }
    if program.ends_with("vestibule") {
        let out = test_config(
            program,
            dir.path(),
            "server { location / { limit_except GET { proxy_pass http://127.0.0.1:1; } } }",
        );
        assert!(
            out.contains(
                "\"proxy_pass\" directive is not supported by vestibule yet (inside limit_except"
            ),
            "{out}"
        );
    }
    let out = test_config(program, dir.path(), "server { allow 10.1.2.3/8; }");
    assert!(
        out.contains("low address bits of 10.1.2.3/8 are meaningless"),
        "{out}"
    );
    assert!(out.contains("test is successful"), "{out}");
}

#[test]
fn an_error_page_for_401_keeps_the_challenge() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    location /private/ {
        auth_basic \"pages\";
        auth_basic_user_file @DIR@/htpasswd;
        error_page 401 /open/f.txt;
    }
    location /open/ { }
}",
        files,
    );
    for (who, r) in ask(&pair, "GET /private/f.txt", "") {
        assert_eq!(r.status, 401, "{who}: {r}");
        assert_eq!(r.text(), "file\n", "{who}: {r}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"pages\""),
            "{who}: {r}"
        );
    }
}

#[test]
fn unix_names_unix_socket_clients_only() {
    use std::io::{Read, Write};
    let v = common::Vestibule::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    listen unix:@DIR@/in.sock;
    root @DIR@/www;
    location /open/ { deny unix:; allow all; }
    location /a/ { allow unix:; deny all; }
}",
    );
    files(v.dir.path());
    let over_unix = |path: &str| {
        let mut s = std::os::unix::net::UnixStream::connect(v.path("in.sock")).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(over_unix("/open/f.txt").starts_with("HTTP/1.1 403 "));
    assert!(over_unix("/a/f.txt").starts_with("HTTP/1.1 200 "));
    assert_eq!(v.get("/open/f.txt", "h").status, 200);
    assert_eq!(v.get("/a/f.txt", "h").status, 403);
    v.wait_for_error_line(&["access forbidden by rule, client: unix:"]);
}

#[test]
fn error_page_for_403_is_used_once() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    error_page 403 /open/f.txt;
    location /a/ { deny all; }
    location /open/ { }
}
server {
    listen 127.0.0.1:@PORT@;
    server_name walled.test;
    root @DIR@/www;
    deny all;
    error_page 403 /open/f.txt;
}",
        files,
    );
    pair.check(&[
        Case {
            status: 403,
            ..side_by_side::body("the page's location is open", "GET /a/f.txt", "file\n")
        },
        status("the page is denied too", "GET /a/f.txt", 403).with("Host: walled.test\r\n"),
    ]);
    // The walled server's page is refused once more, then nginx's own page answers.
    let count = |log: &str| {
        log.lines()
            .filter(|l| l.contains("access forbidden by rule") && l.contains("walled.test"))
            .count()
    };
    // Both lines are written before the answer is.
    assert_eq!(count(&pair.vestibule.error_log()), 2);
    if let Some(nginx) = &pair.nginx {
        assert_eq!(count(&nginx.error_log()), 2);
    }
}

#[test]
fn a_user_file_named_with_variables_is_read_from_the_configuration_directory() {
    let prepare = |dir: &Path| {
        files(dir);
        std::fs::write(dir.join("h.test.users"), USERS).unwrap();
    };
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    location /private/ {
        auth_basic \"$host\";
        auth_basic_user_file $host.users;
    }
}",
        prepare,
    );
    pair.check(&[
        status("right", "GET /private/f.txt", 200).with(leak(basic("sha512", "secret"))),
        status("wrong", "GET /private/f.txt", 401).with(leak(basic("sha512", "x"))),
    ]);
    for (who, r) in ask(&pair, "GET /private/f.txt", "") {
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"h.test\""),
            "{who}: {r}"
        );
    }
}
