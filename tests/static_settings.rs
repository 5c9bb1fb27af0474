//! The directives that shape a static answer beyond which file it is — `charset`,
//! `etag`, `if_modified_since`, `max_ranges`, `server_tokens build`, and the names
//! and ports of the redirects vestibule makes (`server_name_in_redirect`,
//! `port_in_redirect`) — through the real binary, each asked of nginx 1.22 too with
//! the same server blocks, and required to answer as it does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use common::side_by_side::{self, redirect, status, Pair};
use common::Response;

/// `GET target` with extra header lines, asked of both servers.
fn both(pair: &Pair, target: &str, headers: &str) -> Vec<(&'static str, Response)> {
    let raw =
        format!("GET {target} HTTP/1.1\r\nHost: h.test\r\n{headers}Connection: close\r\n\r\n");
    let mut out = vec![("vestibule", pair.vestibule.request(raw.as_bytes()))];
    if let Some(nginx) = &pair.nginx {
        out.push(("nginx", nginx.request(raw.as_bytes())));
    }
    out
}

/// Asks both servers and checks one header's value (`None`: absent) and the status.
fn check_header(pair: &Pair, target: &str, headers: &str, want: (u16, &str, Option<&str>)) {
    let (status, name, value) = want;
    for (who, r) in both(pair, target, headers) {
        assert_eq!(r.status, status, "{who}, {target}: {r}");
        assert_eq!(r.header(name), value, "{who}, {target} {name}: {r}");
    }
}

/// A file whose modification time is 2020-01-01 00:00:00 UTC.
fn dated_file(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(1_577_836_800))
        .unwrap();
}

const JAN_2020: &str = "Wed, 01 Jan 2020 00:00:00 GMT";
const FEB_2020: &str = "Sat, 01 Feb 2020 00:00:00 GMT";

fn files(dir: &Path) {
    for name in ["page.html", "app.js", "site.css", "notes.txt"] {
        dated_file(&dir.join("www").join(name), "0123456789\n");
    }
    std::fs::create_dir_all(dir.join("www/sub")).unwrap();
}

#[test]
fn charset_is_declared_on_the_types_nginx_declares_it_on() {
    let pair = side_by_side::start(
        r#"
server {
    listen 127.0.0.1:@PORT@;
    types { text/html html; application/javascript js; text/css css; text/plain txt; }
    default_type text/plain;
    charset utf-8;
    root @DIR@/www;
    location = /moved { return 301 /page.html; }
    location = /text { return 200 "text\n"; }
    location = /json { default_type application/json; return 200 "{}\n"; }
    location /up/ { proxy_set_header Host up.test; proxy_pass http://127.0.0.1:@PORT@/; }
    location = /css-typed { charset_types text/css; proxy_set_header Host up.test; proxy_pass http://127.0.0.1:@PORT@/css; }
    location = /any-typed { charset_types *; proxy_set_header Host up.test; proxy_pass http://127.0.0.1:@PORT@/css; }
    location /off/ { charset off; alias @DIR@/www/; }
}
server {
    listen 127.0.0.1:@PORT@;
    server_name up.test;
    location = /koi { default_type "text/html; charset=koi8-r"; return 200 "k\n"; }
    location = /html { default_type text/html; return 200 "h\n"; }
    location = /css { default_type text/css; return 200 "c\n"; }
}"#,
        files,
    );
    let utf8 = |t: &'static str| Some(t);
    for (target, want) in [
        ("/page.html", (200, utf8("text/html; charset=utf-8"))),
        (
            "/app.js",
            (200, utf8("application/javascript; charset=utf-8")),
        ),
        ("/site.css", (200, utf8("text/css"))),
        ("/notes.txt", (200, utf8("text/plain; charset=utf-8"))),
        // nginx's own error page is text/html, and declared; a redirect is not.
        ("/missing", (404, utf8("text/html; charset=utf-8"))),
        ("/moved", (301, utf8("text/html"))),
        ("/sub", (301, utf8("text/html"))),
        ("/text", (200, utf8("text/plain; charset=utf-8"))),
        ("/json", (200, utf8("application/json"))),
        // A proxied response: declared when it names no charset, kept when it does.
        ("/up/html", (200, utf8("text/html; charset=utf-8"))),
        ("/up/koi", (200, utf8("text/html; charset=koi8-r"))),
        ("/up/css", (200, utf8("text/css"))),
        ("/css-typed", (200, utf8("text/css; charset=utf-8"))),
        ("/any-typed", (200, utf8("text/css; charset=utf-8"))),
        ("/off/page.html", (200, utf8("text/html"))),
    ] {
        check_header(&pair, target, "", (want.0, "content-type", want.1));
    }
    // Each part of a multipart range answer names the charset too.
    for (who, r) in both(&pair, "/notes.txt", "Range: bytes=0-0,2-2\r\n") {
        assert_eq!(r.status, 206, "{who}: {r}");
        let parts = r
            .text()
            .matches("Content-Type: text/plain; charset=utf-8")
            .count();
        assert_eq!(parts, 2, "{who}: {r}");
    }
}

#[test]
fn etag_off_sends_none_and_matches_no_tag() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    location /plain/ { alias @DIR@/www/; }
    location /bare/ { alias @DIR@/www/; etag off; }
}",
        files,
    );
    let tag = pair.vestibule.get("/plain/notes.txt", "h.test");
    let tag = tag.header("etag").unwrap().to_string();
    let inm = format!("If-None-Match: {tag}\r\n");
    check_header(&pair, "/plain/notes.txt", &inm, (304, "etag", Some(&tag)));
    check_header(&pair, "/bare/notes.txt", "", (200, "etag", None));
    check_header(&pair, "/bare/notes.txt", &inm, (200, "etag", None));
    check_header(
        &pair,
        "/bare/notes.txt",
        "If-None-Match: *\r\n",
        (304, "etag", None),
    );
    // If-Range by tag never matches without one: the whole file.
    let if_range = format!("Range: bytes=0-0\r\nIf-Range: {tag}\r\n");
    check_header(
        &pair,
        "/bare/notes.txt",
        &if_range,
        (200, "content-length", Some("11")),
    );
}

#[test]
fn if_modified_since_exact_before_and_off() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    location /exact/ { alias @DIR@/www/; }
    location /before/ { alias @DIR@/www/; if_modified_since before; }
    location /off/ { alias @DIR@/www/; if_modified_since off; }
}",
        files,
    );
    let lm = Some(JAN_2020);
    for (target, date, status) in [
        ("/exact/notes.txt", JAN_2020, 304),
        ("/exact/notes.txt", FEB_2020, 200),
        ("/before/notes.txt", JAN_2020, 304),
        ("/before/notes.txt", FEB_2020, 304),
        ("/before/notes.txt", "Tue, 31 Dec 2019 23:59:59 GMT", 200),
        ("/off/notes.txt", JAN_2020, 200),
    ] {
        let ims = format!("If-Modified-Since: {date}\r\n");
        check_header(&pair, target, &ims, (status, "last-modified", lm));
    }
}

#[test]
fn max_ranges_zero_disables_ranges_and_past_the_limit_sends_the_whole_file() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    location /none/ { alias @DIR@/www/; max_ranges 0; }
    location /one/ { alias @DIR@/www/; max_ranges 1; }
}",
        files,
    );
    let one = "Range: bytes=0-1\r\n";
    let two = "Range: bytes=0-1,4-5\r\n";
    check_header(&pair, "/none/notes.txt", "", (200, "accept-ranges", None));
    check_header(
        &pair,
        "/none/notes.txt",
        one,
        (200, "content-length", Some("11")),
    );
    check_header(
        &pair,
        "/one/notes.txt",
        "",
        (200, "accept-ranges", Some("bytes")),
    );
    check_header(
        &pair,
        "/one/notes.txt",
        one,
        (206, "content-range", Some("bytes 0-1/11")),
    );
    check_header(
        &pair,
        "/one/notes.txt",
        two,
        (200, "content-length", Some("11")),
    );
}

#[test]
fn redirects_name_the_server_and_port_as_nginx_does() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    server_name first.test second.test;
    root @DIR@/www;
    location /named/ { alias @DIR@/www/; server_name_in_redirect on; }
    location /portless/ { alias @DIR@/www/; port_in_redirect off; }
    location = /ret { return 301 /target; }
    location = /ret-named { server_name_in_redirect on; port_in_redirect off; return 302 /t2; }
    location = /rw { rewrite ^ /rewritten permanent; }
}
server {
    listen 127.0.0.1:@PORT@;
    server_name *.wild.test second.wild.test;
    server_name_in_redirect on;
    return 301 /x;
}
server {
    listen 127.0.0.1:@PORT@;
    server_name ~^(?<sub>.+)\\.re\\.test$ plain.test;
    server_name_in_redirect on;
    return 301 /x;
}
server {
    listen 127.0.0.1:@PORT@;
    server_name .dot.test;
    server_name_in_redirect on;
    return 301 /x;
}",
        files,
    );
    let other = "Host: other.test:99\r\n";
    pair.check(&[
        redirect(
            "dir_slash",
            "GET /sub",
            301,
            "http://other.test:@PORT@/sub/",
        )
        .with(other),
        redirect(
            "named",
            "GET /named/sub",
            301,
            "http://first.test:@PORT@/named/sub/",
        )
        .with(other),
        redirect(
            "portless",
            "GET /portless/sub",
            301,
            "http://other.test/portless/sub/",
        )
        .with(other),
        redirect("return", "GET /ret", 301, "http://other.test:@PORT@/target").with(other),
        redirect(
            "return_named",
            "GET /ret-named",
            302,
            "http://first.test/t2",
        )
        .with(other),
        redirect(
            "rewrite",
            "GET /rw",
            301,
            "http://other.test:@PORT@/rewritten",
        )
        .with(other),
        // The first server_name exactly as written, as nginx (a leading dot dropped).
        redirect("wildcard", "GET /", 301, "http://*.wild.test:@PORT@/x")
            .with("Host: a.wild.test\r\n"),
        redirect(
            "regex",
            "GET /",
            301,
            r"http://~^(?<sub>.+)\.re\.test$:@PORT@/x",
        )
        .with("Host: a.re.test\r\n"),
        redirect("dot", "GET /", 301, "http://dot.test:@PORT@/x").with("Host: x.dot.test\r\n"),
    ]);
    // HTTP/1.0 without a Host: the address the connection came to, unless named.
    for (target, want) in [
        ("/sub", "http://127.0.0.1:@PORT@/sub/"),
        ("/named/sub", "http://first.test:@PORT@/named/sub/"),
    ] {
        let raw = format!("GET {target} HTTP/1.0\r\n\r\n");
        let mut answers = vec![(pair.vestibule.port, pair.vestibule.request(raw.as_bytes()))];
        if let Some(nginx) = &pair.nginx {
            answers.push((nginx.port, nginx.request(raw.as_bytes())));
        }
        for (port, r) in answers {
            let want = want.replace("@PORT@", &port.to_string());
            assert_eq!(r.header("location"), Some(want.as_str()), "{target}: {r}");
        }
    }
}

#[test]
fn server_tokens_build_is_on() {
    let v = common::Vestibule::start(
        "server { listen 127.0.0.1:@PORT@; server_tokens build; return 404; }",
    );
    let r = v.get("/", "h.test");
    let server = r.header("server").unwrap().to_string();
    assert!(server.starts_with("vestibule/"), "{r}");
    assert!(r.text().contains(&server), "{r}");
}

/// `Cache-Control: max-age=N` as a number.
fn max_age(r: &Response) -> Option<i64> {
    r.header("cache-control")?
        .strip_prefix("max-age=")?
        .parse()
        .ok()
}

#[test]
fn expires_daily_and_from_a_map() {
    let pair = side_by_side::start(
        r#"
map $arg_e $exp {
    default off; hour 1h; epoch epoch; max max; daily @15h30m; bogus bogus;
    past -1h; daily_late @25h; midnight @0;
}
server {
    listen 127.0.0.1:@PORT@;
    location /daily/ { alias @DIR@/www/; expires @15h30m; }
    location /v/ { alias @DIR@/www/; expires $exp; }
    location /m/ { alias @DIR@/www/; expires modified $exp; }
}"#,
        files,
    );
    // Fixed answers: the same on both sides.
    for (target, want) in [
        (
            "/v/notes.txt?e=epoch",
            Some(("Thu, 01 Jan 1970 00:00:01 GMT", "no-cache")),
        ),
        (
            "/v/notes.txt?e=max",
            Some(("Thu, 31 Dec 2037 23:55:55 GMT", "max-age=315360000")),
        ),
        ("/v/notes.txt", None),
        ("/v/notes.txt?e=bogus", None),
        ("/v/notes.txt?e=daily_late", None),
        ("/m/notes.txt?e=daily", None),
        ("/m/notes.txt?e=epoch", None),
        // An hour after the file's 2020 modification: long past.
        (
            "/m/notes.txt?e=hour",
            Some(("Wed, 01 Jan 2020 01:00:00 GMT", "no-cache")),
        ),
    ] {
        for (who, r) in both(&pair, target, "") {
            let got = r.header("expires").zip(r.header("cache-control"));
            assert_eq!(got, want, "{who} {target}: {r}");
        }
    }
    // Answers that depend on the clock: the same date, max-age within a second or two.
    for target in [
        "/daily/notes.txt",
        "/v/notes.txt?e=daily",
        "/v/notes.txt?e=midnight",
        "/v/notes.txt?e=hour",
    ] {
        let answers = both(&pair, target, "");
        let (_, v) = &answers[0];
        let age = max_age(v).unwrap_or_else(|| panic!("vestibule {target}: {v}"));
        assert!((0..=86_400).contains(&age), "{target}: {v}");
        if let Some((_, n)) = answers.get(1) {
            let n_age = max_age(n).unwrap();
            assert!((age - n_age).abs() <= 2, "{target}: {v}\n{n}");
            if target.contains("daily") || target.contains("midnight") {
                assert_eq!(v.header("expires"), n.header("expires"), "{target}");
            }
        }
    }
    let (_, r) = &both(&pair, "/v/notes.txt?e=past", "")[0];
    assert_eq!(r.header("cache-control"), Some("no-cache"), "{r}");
}

fn symlink_tree(dir: &Path) {
    let sl = dir.join("www/sl");
    std::fs::create_dir_all(sl.join("real")).unwrap();
    std::fs::write(sl.join("real/f.txt"), "real\n").unwrap();
    std::fs::write(dir.join("www/top.txt"), "top\n").unwrap();
    std::os::unix::fs::symlink("real", sl.join("link")).unwrap();
    std::os::unix::fs::symlink("real", sl.join("olink")).unwrap();
    std::os::unix::fs::symlink("f.txt", sl.join("real/flink")).unwrap();
    std::os::unix::fs::symlink(dir.join("www"), sl.join("rootlink")).unwrap();
    // A link owned by someone else than its target (the tests run as root).
    std::os::unix::fs::lchown(sl.join("olink"), Some(65534), None).unwrap();
}

#[test]
fn disable_symlinks_on_if_not_owner_and_from() {
    let pair = side_by_side::start(
        "
server {
    listen 127.0.0.1:@PORT@;
    location /off/ { alias @DIR@/www/sl/; }
    location /on/ { alias @DIR@/www/sl/; disable_symlinks on; }
    location /own/ { alias @DIR@/www/sl/; disable_symlinks if_not_owner; }
    location /from/ { alias @DIR@/www/sl/; disable_symlinks on from=@DIR@/www/sl/link; }
    location /fromroot/ { alias @DIR@/www/sl/; disable_symlinks on from=$document_root; }
    location /rl/ { alias @DIR@/www/sl/rootlink/; disable_symlinks on; }
    location /rlf/ { alias @DIR@/www/sl/rootlink/; disable_symlinks on from=$document_root; }
}",
        symlink_tree,
    );
    pair.check(&[
        status("off_follows", "GET /off/link/f.txt", 200),
        status("on_plain_path", "GET /on/real/f.txt", 200),
        status("on_symlinked_dir", "GET /on/link/f.txt", 404),
        status("on_symlinked_file", "GET /on/real/flink", 403),
        status("on_symlinked_dir_as_file", "GET /on/link", 403),
        status("on_symlinked_dir_listing", "GET /on/link/", 404),
        status("on_missing", "GET /on/nothing/x", 404),
        status("owner_same", "GET /own/link/f.txt", 200),
        status("owner_same_file", "GET /own/real/flink", 200),
        status("owner_differs", "GET /own/olink/f.txt", 403),
        status("owner_differs_last", "GET /own/olink", 403),
        status("from_covers_link", "GET /from/link/f.txt", 200),
        status("from_not_a_prefix", "GET /from/olink/f.txt", 404),
        status("from_document_root", "GET /fromroot/link/f.txt", 404),
        status("document_root_itself_symlinked", "GET /rl/top.txt", 404),
        status("document_root_exempt", "GET /rlf/top.txt", 200),
    ]);
    pair.both_logged(&[
        "openat() \"",
        "/www/sl/real/flink\" failed (40: Too many levels of symbolic links)",
    ]);
    pair.both_logged(&[
        "openat() \"",
        "/www/sl/link/f.txt\" failed (20: Not a directory)",
    ]);
}

#[test]
fn expires_replaces_a_proxied_answers_own_and_applies_to_return() {
    let pair = side_by_side::start(
        r#"
server {
    listen 127.0.0.1:@PORT@;
    expires 1h;
    location /up/ { proxy_set_header Host up.test; proxy_pass http://127.0.0.1:@PORT@/; }
    location /upmod/ { expires modified 1h; proxy_set_header Host up.test; proxy_pass http://127.0.0.1:@PORT@/; }
    location = /text { return 200 "text\n"; }
    location = /moved { return 301 /text; }
    location = /gone { return 404; }
}
server {
    listen 127.0.0.1:@PORT@;
    server_name up.test;
    root @DIR@/www;
    location = /own { expires 5m; return 200 "own\n"; }
    location = /plain { return 200 "plain\n"; }
}"#,
        files,
    );
    for target in ["/up/own", "/up/plain", "/text", "/moved"] {
        for (who, r) in both(&pair, target, "") {
            assert_eq!(
                r.headers_named("cache-control"),
                ["max-age=3600"],
                "{who} {target}: {r}"
            );
            assert_eq!(r.headers_named("expires").len(), 1, "{who} {target}: {r}");
        }
    }
    for (who, r) in both(&pair, "/gone", "") {
        assert_eq!(r.status, 404, "{who}: {r}");
        assert_eq!(r.header("expires"), None, "{who}: {r}");
    }
    // `modified` counts from the upstream's Last-Modified (the file's, in 2020).
    let want = (200, "expires", Some("Wed, 01 Jan 2020 01:00:00 GMT"));
    check_header(&pair, "/upmod/notes.txt", "", want);
    check_header(
        &pair,
        "/upmod/notes.txt",
        "",
        (200, "cache-control", Some("no-cache")),
    );
}
