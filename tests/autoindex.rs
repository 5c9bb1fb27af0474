//! Directory listings (`autoindex`) through the real binary, side by side with nginx
//! 1.22: the same directory tree on both sides, and every listing required to be
//! byte for byte nginx's — the HTML page (exact and rounded sizes, local time, a
//! UTF-8 charset), XML, JSON and JSONP — with hidden entries left out, a dangling
//! symlink listed as itself, long names cut, names escaped; and the 403 when listings
//! are off.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use common::side_by_side::{self, status, Pair};
use common::Response;

/// 2026-12-07 01:09:33 UTC: every entry's modification time, so both trees list alike.
const WHEN: u64 = 1_796_605_773;

fn stamp(path: &Path) {
    let f = std::fs::File::open(path).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(WHEN))
        .unwrap();
}

/// The tree both servers list.
fn tree(dir: &Path) {
    let list = dir.join("www/list");
    std::fs::create_dir_all(list.join("sub")).unwrap();
    std::fs::create_dir_all(list.join("zz dir")).unwrap();
    std::fs::create_dir_all(list.join(".hidden-dir")).unwrap();
    std::fs::create_dir_all(list.join("d".repeat(49))).unwrap();
    std::fs::create_dir_all(list.join("e".repeat(50))).unwrap();
    std::fs::create_dir_all(list.join("f".repeat(51))).unwrap();
    std::fs::create_dir_all(dir.join("www/empty")).unwrap();
    std::fs::create_dir_all(dir.join("www/indexed")).unwrap();
    std::fs::write(dir.join("www/indexed/index.html"), "the index\n").unwrap();
    let files: Vec<(String, u64)> = vec![
        ("a.txt".into(), 5),
        ("a&b <c>.html".into(), 8),
        ("quo\"te's".into(), 1),
        ("q?#%.txt".into(), 3),
        ("tab\there".into(), 1),
        (".hidden".into(), 1),
        (format!("{}.txt", "x".repeat(60)), 5000),
        ("y".repeat(50), 1),
        (format!("{}&h&h&h", "g".repeat(46)), 1),
        ("é".repeat(30) + ".txt", 2_000_000),
        ("é".repeat(60), 1),
        ("ten-k".into(), 10_752),
        ("big".into(), 3 << 30),
    ];
    for (name, size) in &files {
        let f = std::fs::File::create(list.join(name)).unwrap();
        f.set_len(*size).unwrap();
    }
    std::os::unix::fs::symlink("sub", list.join("link-to-dir")).unwrap();
    std::os::unix::fs::symlink("a.txt", list.join("link-to-file")).unwrap();
    std::os::unix::fs::symlink("nowhere", list.join("dangling")).unwrap();
    for entry in std::fs::read_dir(&list).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_symlink() {
            stamp(&path);
        }
    }
    stamp(&list);
    // The dangling link is listed as itself: its own time too.
    let touched = std::process::Command::new("touch")
        .args(["-h", "-d", &format!("@{WHEN}")])
        .arg(list.join("dangling"))
        .status()
        .unwrap();
    assert!(touched.success());
}

const SERVERS: &str = r#"
server {
    listen 127.0.0.1:@PORT@;
    types { text/html html; text/plain txt; }
    default_type application/octet-stream;
    root @DIR@/www;
    autoindex on;
    location /off/ { alias @DIR@/www/; autoindex off; }
    location /rounded/ { alias @DIR@/www/; autoindex_exact_size off; }
    location /local/ { alias @DIR@/www/; autoindex_localtime on; }
    location /utf8/ { alias @DIR@/www/; charset utf-8; }
    location /xml/ { alias @DIR@/www/; autoindex_format xml; }
    location /json/ { alias @DIR@/www/; autoindex_format json; }
    location /jsonp/ { alias @DIR@/www/; autoindex_format jsonp; }
    location /indexed/ { try_files $uri $uri/ =404; }
}"#;

fn ask(pair: &Pair, raw: &str) -> Vec<(&'static str, Response)> {
    let mut out = vec![("vestibule", pair.vestibule.request(raw.as_bytes()))];
    if let Some(nginx) = &pair.nginx {
        out.push(("nginx", nginx.request(raw.as_bytes())));
    }
    out
}

fn get(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n")
}

/// Both servers answer 200 with the same body and `Content-Type`; returns the body.
fn same_listing(pair: &Pair, target: &str, content_type: &str) -> Vec<u8> {
    let answers = ask(pair, &get(target));
    for (who, r) in &answers {
        assert_eq!(r.status, 200, "{who} {target}: {r}");
        assert_eq!(
            r.header("content-type"),
            Some(content_type),
            "{who} {target}"
        );
    }
    if let [(_, v), (_, n)] = answers.as_slice() {
        if v.body != n.body {
            let at = v
                .body
                .iter()
                .zip(&n.body)
                .take_while(|(a, b)| a == b)
                .count();
            let from = at.saturating_sub(120);
            panic!(
                "{target}: vestibule's listing differs from nginx's at byte {at}\n--- vestibule:\n{:?}\n--- nginx:\n{:?}",
                String::from_utf8_lossy(v.body.get(from..).unwrap_or(&[])),
                String::from_utf8_lossy(n.body.get(from..).unwrap_or(&[]))
            );
        }
    }
    answers.into_iter().next().unwrap().1.body
}

#[test]
fn listings_are_nginx_byte_for_byte() {
    let pair = side_by_side::start(SERVERS, tree);
    let html = same_listing(&pair, "/list/", "text/html");
    let html = String::from_utf8_lossy(&html).into_owned();
    // What the comparison covers, in case nginx is not installed here.
    assert!(
        html.starts_with("<html>\r\n<head><title>Index of /list/</title></head>"),
        "{html}"
    );
    assert!(!html.contains("hidden"), "{html}");
    assert!(html.contains("<a href=\"dangling\">dangling</a>"), "{html}");
    assert!(
        html.contains("<a href=\"link-to-dir/\">link-to-dir/</a>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"a%26b%20%3Cc%3E.html\">a&amp;b &lt;c&gt;.html</a>"),
        "{html}"
    );
    let sub = html.find("\"sub/\"").unwrap();
    let a = html.find("\"a.txt\"").unwrap();
    assert!(sub < a, "directories first: {html}");
    same_listing(&pair, "/rounded/list/", "text/html");
    same_listing(&pair, "/local/list/", "text/html");
    same_listing(&pair, "/utf8/list/", "text/html; charset=utf-8");
    same_listing(&pair, "/xml/list/", "text/xml; charset=utf-8");
    same_listing(&pair, "/json/list/", "application/json");
    same_listing(&pair, "/jsonp/list/", "application/json");
    let cb = same_listing(
        &pair,
        "/jsonp/list/?callback=jQuery_1.done",
        "application/javascript",
    );
    assert!(cb.starts_with(b"/* callback */\r\njQuery_1.done([\r\n"));
    // Through `try_files $uri $uri/ =404`, the common site block.
    std::fs::remove_file(pair.vestibule.path("www/indexed/index.html")).unwrap();
    if let Some(nginx) = &pair.nginx {
        std::fs::remove_file(nginx.path("www/indexed/index.html")).unwrap();
    }
    same_listing(&pair, "/indexed/", "text/html");
    for empty in ["/empty/", "/xml/empty/", "/json/empty/"] {
        let ty = match empty {
            "/xml/empty/" => "text/xml; charset=utf-8",
            "/json/empty/" => "application/json",
            _ => "text/html",
        };
        same_listing(&pair, empty, ty);
    }
}

#[test]
fn listing_off_index_first_and_bad_callbacks() {
    let pair = side_by_side::start(SERVERS, tree);
    pair.check(&[
        status("off_is_forbidden", "GET /off/list/", 403),
        status("invalid_callback", "GET /jsonp/list/?callback=a-b", 400),
        status("escaped_callback", "GET /jsonp/list/?callback=a%41", 400),
        status("missing_dir", "GET /nothing/", 404),
        side_by_side::body("index_wins", "GET /indexed/", "the index\n"),
        side_by_side::redirect(
            "try_files_slash",
            "GET /indexed",
            301,
            "http://h.test:@PORT@/indexed/",
        ),
        side_by_side::redirect("slash", "GET /list", 301, "http://h.test:@PORT@/list/"),
    ]);
    pair.both_logged(&["directory index of", "/www/list/\" is forbidden"]);
    for (who, r) in ask(
        &pair,
        "HEAD /list/ HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n",
    ) {
        assert_eq!(r.status, 200, "{who}: {r}");
        assert!(r.body.is_empty(), "{who}: {r}");
    }
}
