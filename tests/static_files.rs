//! Static files through the real binary, under io_uring and under epoll: byte-exact
//! bodies for every size class and every Range form, the conditional rules, and the
//! ways out of a document directory (encoded, double-encoded, `..` through an
//! off-by-slash alias, symlinks pointing out), each refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufReader, Write};
use std::path::Path;

use common::{Driver, Response, Vestibule};

/// `GET target` with extra headers on a new connection.
fn get(v: &Vestibule, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut raw = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, val) in headers {
        raw.push_str(&format!("{k}: {val}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    v.request(raw.as_bytes())
}

fn write_pattern(path: &Path, len: usize) -> Vec<u8> {
    let data = common::pattern(len);
    std::fs::write(path, &data).unwrap();
    data
}

fn driver(legacy: bool) -> Driver {
    if legacy {
        Driver::Epoll
    } else {
        Driver::Default
    }
}

const SITE: &str = "
    server {
        listen 127.0.0.1:@PORT@;
        sendfile on;
        location /static/ { alias @DIR@/www/static/; expires 7d; }
        location /files { alias @DIR@/www/static/; }
        location / { root @DIR@/www; index index.html; }
    }";

struct Site {
    v: Vestibule,
    files: Vec<(String, Vec<u8>)>,
}

fn site(legacy: bool) -> Site {
    site_with(SITE, legacy)
}

fn site_with(text: &str, legacy: bool) -> Site {
    let v = Vestibule::start_with(text, "", driver(legacy));
    let www = v.path("www");
    std::fs::create_dir_all(www.join("static/css")).unwrap();
    std::fs::create_dir_all(www.join("docs")).unwrap();
    std::fs::write(www.join("index.html"), "<h1>home</h1>\n").unwrap();
    std::fs::write(www.join("static/css/app.css"), "body { color: red }\n").unwrap();
    std::fs::write(v.path("secret.txt"), "top secret\n").unwrap();
    std::os::unix::fs::symlink(v.path("secret.txt"), www.join("static/out-abs")).unwrap();
    std::os::unix::fs::symlink("../../secret.txt", www.join("static/out-rel")).unwrap();
    std::os::unix::fs::symlink("css/app.css", www.join("static/in-link.css")).unwrap();
    let mut files = Vec::new();
    for (name, len) in [
        ("1k.bin", 1 << 10),
        ("64k.bin", 64 << 10),
        ("1m.bin", 1 << 20),
        ("100m.bin", 100 << 20),
    ] {
        let data = write_pattern(&www.join("static").join(name), len);
        files.push((name.to_string(), data));
    }
    Site { v, files }
}

#[test]
fn every_size_class_is_byte_exact_under_both_drivers() {
    for legacy in [false, true] {
        let s = site(legacy);
        s.v.assert_driver_logged();
        for (name, data) in &s.files {
            let r = get(&s.v, &format!("/static/{name}"), &[]);
            assert_eq!(r.status, 200, "{name}");
            assert_eq!(
                r.header("content-length"),
                Some(data.len().to_string().as_str())
            );
            assert_eq!(r.header("content-type"), Some("application/octet-stream"));
            assert_eq!(r.header("accept-ranges"), Some("bytes"));
            assert_eq!(r.header("cache-control"), Some("max-age=604800"));
            assert!(r.body == *data, "{name}: body differs (legacy={legacy})");
        }
        let css = get(&s.v, "/static/css/app.css", &[]);
        assert_eq!(css.header("content-type"), Some("text/css"));
        assert_eq!(css.body, b"body { color: red }\n");
        let home = get(&s.v, "/", &[]);
        assert_eq!(
            (home.status, home.body.as_slice()),
            (200, &b"<h1>home</h1>\n"[..])
        );
    }
}

/// Pipelined on one connection, with `sendfile` on and off (nginx's default; the
/// file is read and written in pieces): each body exactly once, so each next response
/// starts where it should. Without sendfile the last piece of every file over 16 KiB
/// used to go out twice.
#[test]
fn keep_alive_connection_carries_many_files_in_order() {
    for text in [
        SITE.to_string(),
        SITE.replace("sendfile on;", "sendfile off;"),
    ] {
        for legacy in [false, true] {
            files_in_order(&site_with(&text, legacy));
        }
    }
}

fn files_in_order(s: &Site) {
    let mut c = s.v.client();
    let mut req = Vec::new();
    for (name, _) in &s.files[..3] {
        req.extend_from_slice(format!("GET /static/{name} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    req.extend_from_slice(b"HEAD /static/1m.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    c.send(&req);
    for (name, data) in &s.files[..3] {
        let resp = c.read_response(false);
        assert!(resp.body == *data, "{name}");
    }
    let head = c.read_response(true);
    assert_eq!(head.header("content-length"), Some("1048576"));
}

#[test]
fn every_range_form() {
    for legacy in [false, true] {
        let s = site(legacy);
        let data = &s.files[2].1; // 1 MiB
        let len = data.len();
        let cases: &[(&str, u16, Option<std::ops::Range<usize>>)] = &[
            ("bytes=0-499", 206, Some(0..500)),
            ("bytes=1000-", 206, Some(1000..len)),
            ("bytes=-500", 206, Some(len - 500..len)),
            ("bytes=100000-900000", 206, Some(100000..900001)),
            ("bytes=0-99999999", 206, Some(0..len)),
            ("bytes=-99999999", 206, Some(0..len)),
            ("bytes=2000000-", 416, None),
            ("bytes=-0", 416, None),
            ("items=0-1", 200, Some(0..len)),
        ];
        for (range, status, want) in cases {
            let r = get(&s.v, "/static/1m.bin", &[("Range", range)]);
            assert_eq!(r.status, *status, "{range}");
            match want {
                Some(w) => {
                    assert!(r.body == data[w.clone()], "{range}: body");
                    if *status == 206 {
                        assert_eq!(
                            r.header("content-range"),
                            Some(format!("bytes {}-{}/{len}", w.start, w.end - 1).as_str())
                        );
                    }
                }
                None => assert_eq!(
                    r.header("content-range"),
                    Some(format!("bytes */{len}").as_str())
                ),
            }
        }
        // Several ranges: multipart/byteranges with each part byte-exact.
        let r = get(
            &s.v,
            "/static/1m.bin",
            &[("Range", "bytes=0-9,500000-599999,-10")],
        );
        assert_eq!(r.status, 206);
        let ct = r.header("content-type").unwrap().to_string();
        let boundary = ct.strip_prefix("multipart/byteranges; boundary=").unwrap();
        let body = &r.body;
        let mut parts = Vec::new();
        let sep = format!("\r\n--{boundary}\r\n");
        let mut rest = &body[..];
        while let Some(i) = find(rest, sep.as_bytes()) {
            rest = &rest[i + sep.len()..];
            let head_end = find(rest, b"\r\n\r\n").unwrap();
            let head = std::str::from_utf8(&rest[..head_end]).unwrap().to_string();
            let range = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Range: bytes "))
                .unwrap();
            let (a, b) = range.split_once('/').unwrap().0.split_once('-').unwrap();
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            rest = &rest[head_end + 4..];
            assert!(rest[..b - a + 1] == data[a..=b], "part {a}-{b}");
            parts.push((a, b));
        }
        assert_eq!(parts, [(0, 9), (500000, 599999), (len - 10, len - 1)]);
        assert!(body.ends_with(format!("\r\n--{boundary}--\r\n").as_bytes()));
        // If-Range: a matching validator gets the range, a stale one the whole file.
        let etag = get(&s.v, "/static/1m.bin", &[])
            .header("etag")
            .unwrap()
            .to_string();
        assert_eq!(
            get(
                &s.v,
                "/static/1m.bin",
                &[("Range", "bytes=0-0"), ("If-Range", &etag)]
            )
            .status,
            206
        );
        assert_eq!(
            get(
                &s.v,
                "/static/1m.bin",
                &[("Range", "bytes=0-0"), ("If-Range", "\"stale\"")]
            )
            .status,
            200
        );
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn conditional_requests() {
    let s = site(false);
    let first = get(&s.v, "/static/1k.bin", &[]);
    let etag = first.header("etag").unwrap().to_string();
    let modified = first.header("last-modified").unwrap().to_string();
    let cases: &[(&str, &str, u16)] = &[
        ("If-None-Match", &etag, 304),
        ("If-None-Match", "\"other\"", 200),
        ("If-None-Match", "*", 304),
        ("If-Modified-Since", &modified, 304),
        ("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT", 200),
        ("If-Match", &etag, 200),
        ("If-Match", "\"other\"", 412),
        ("If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT", 412),
        ("If-Unmodified-Since", &modified, 200),
    ];
    for (name, value, status) in cases {
        let r = get(&s.v, "/static/1k.bin", &[(name, value)]);
        assert_eq!(r.status, *status, "{name}: {value}");
        if *status == 304 {
            assert!(r.body.is_empty() && r.header("etag") == Some(etag.as_str()));
        }
    }
}

#[test]
fn no_way_out_of_the_document_directory() {
    let s = site(false);
    let cases: &[(&str, u16)] = &[
        ("/static/../secret.txt", 404), // normalised to /secret.txt under root: not there
        ("/static/%2e%2e/%2e%2e/secret.txt", 400), // climbs above /
        ("/%2e%2e/secret.txt", 400),
        ("/static/%252e%252e/secret.txt", 404), // double-encoded: a literal "%2e%2e" name
        ("/files../secret.txt", 403),           // off-by-slash alias: refused
        ("/files../../secret.txt", 404), // ".." removes "files..": /secret.txt under root, absent
        ("/static/out-abs", 403),        // symlinks pointing out
        ("/static/out-rel", 403),
        ("/static/a%00b", 400),
    ];
    for (target, status) in cases {
        let r = get(&s.v, target, &[]);
        assert_eq!(r.status, *status, "{target}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("top secret"),
            "{target}"
        );
    }
    assert_eq!(
        get(&s.v, "/static/in-link.css", &[]).body,
        b"body { color: red }\n",
        "a symlink inside is followed"
    );
    s.v.wait_for_error_line(&["refused: the path leaves", "out-abs"]);
}

#[test]
fn errors_as_nginx_reports_them() {
    let s = site(false);
    assert_eq!(get(&s.v, "/static/missing.css", &[]).status, 404);
    s.v.wait_for_error_line(&[&format!(
        "open() \"{}/www/static/missing.css\" failed (2: No such file or directory)",
        s.v.dir.path().display()
    )]);
    std::fs::create_dir_all(s.v.path("www/docs")).unwrap();
    assert_eq!(get(&s.v, "/docs/", &[]).status, 403);
    s.v.wait_for_error_line(&[&format!(
        "directory index of \"{}/www/docs/\" is forbidden",
        s.v.dir.path().display()
    )]);
    let redirect = get(&s.v, "/docs", &[]);
    assert_eq!(redirect.status, 301);
    assert_eq!(
        redirect.header("location"),
        Some(format!("http://localhost:{}/docs/", s.v.port).as_str())
    );
    assert_eq!(get(&s.v, "/static/css/app.css", &[]).status, 200);
}

/// Gunicorn's documented layout: `try_files $uri @proxy_to_app` serves files that
/// exist and sends everything else to the app; a directory without its slash is
/// redirected with a relative Location under `absolute_redirect off`.
#[test]
fn try_files_falls_back_to_a_named_proxy_location() {
    use std::io::{BufRead, Read};
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in upstream.incoming() {
            let Ok(s) = s else { return };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let body = format!("app saw {}", line.split_whitespace().nth(1).unwrap_or(""));
            let mut w = s;
            let _ = write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = w.read(&mut [0u8; 1]);
        }
    });
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; root @DIR@/www; absolute_redirect off;
               location / {{ try_files $uri @proxy_to_app; }}
               location @proxy_to_app {{ proxy_pass http://127.0.0.1:{up}; }} }}"
    ));
    std::fs::create_dir_all(v.path("www/dir")).unwrap();
    std::fs::write(v.path("www/robots.txt"), "User-agent: *\n").unwrap();
    assert_eq!(get(&v, "/robots.txt", &[]).body, b"User-agent: *\n");
    let app = get(&v, "/login?next=/", &[]);
    assert_eq!(
        (app.status, app.body.as_slice()),
        (200, &b"app saw /login?next=/"[..])
    );
    let dir = get(&v, "/dir", &[]);
    assert_eq!(
        dir.status, 200,
        "try_files $uri finds no file for a directory: the app answers"
    );
}

#[test]
fn directory_redirect_is_relative_with_absolute_redirect_off() {
    let v = Vestibule::start(
        "server { listen 127.0.0.1:@PORT@; root @DIR@/www; absolute_redirect off; }",
    );
    std::fs::create_dir_all(v.path("www/docs")).unwrap();
    let r = get(&v, "/docs?page=2", &[]);
    assert_eq!(
        (r.status, r.header("location")),
        (301, Some("/docs/?page=2"))
    );
}

/// `$sent_http_*` reads back the header lines a response went out with: here a static
/// file's `Content-Type`, `ETag` and `Cache-Control` (from `expires`).
#[test]
fn sent_http_variables_log_what_the_response_said() {
    let http = "log_format sent '$status|$sent_http_content_type|$sent_http_etag|$sent_http_cache_control|$sent_http_x_absent';\n    access_log @DIR@/sent.log sent;";
    let v = Vestibule::start_with(
        "server { listen 127.0.0.1:@PORT@; location /static/ { alias @DIR@/www/; expires 1h; } }",
        http,
        Driver::Default,
    );
    std::fs::create_dir_all(v.path("www")).unwrap();
    std::fs::write(v.path("www/app.css"), "body { color: red }\n").unwrap();
    let r = get(&v, "/static/app.css", &[]);
    assert_eq!(r.status, 200);
    // The access log escapes `"` as nginx does.
    let etag = r.header("etag").unwrap().replace('"', "\\x22");
    let line = v.wait_for_log_line("sent.log", "");
    assert_eq!(
        line,
        format!("200|text/css|{etag}|max-age=3600|-"),
        "the logged values are the sent ones"
    );
}

/// A GET for a file that carries a body (nginx reads and drops it): the body is not
/// taken for the next request on the connection, whether it came with the head, a
/// chunked one arrives after the answer, or the client waits for `100 Continue`.
#[test]
fn a_body_sent_with_a_get_is_dropped_not_read_as_the_next_request() {
    let s = site(false);
    let (name, data) = &s.files[0];
    let mut c = s.v.client();
    let target = format!("/static/{name}");
    c.send(
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello")
            .as_bytes(),
    );
    let r = c.read_response(false);
    assert_eq!(r.status, 200);
    assert_eq!(&r.body, data);
    c.send(
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
            .as_bytes(),
    );
    let r = c.read_response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.send(b"5\r\nhello\r\n0\r\n\r\n");
    c.send(format!("HEAD {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
    let r = c.read_response(true);
    assert_eq!(r.status, 200, "the chunked body was taken for a request");
    assert_eq!(
        r.header("content-length"),
        Some(data.len().to_string().as_str())
    );
}

/// `log_not_found off` (the guides' `location = /favicon.ico`): a missing file is
/// still 404, without its `open()` line; elsewhere the line is logged.
#[test]
fn log_not_found_off_keeps_missing_files_out_of_the_error_log() {
    let dir = tempfile::tempdir().unwrap();
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; root {};
           location = /favicon.ico {{ log_not_found off; access_log off; }} }}",
        dir.path().display()
    ));
    assert_eq!(get(&v, "/favicon.ico", &[]).status, 404);
    assert_eq!(get(&v, "/missing.txt", &[]).status, 404);
    let line = v.wait_for_error_line(&["missing.txt\" failed (2: No such file or directory)"]);
    assert!(line.contains("open()"), "{line}");
    assert!(!v.error_log().contains("favicon.ico"), "{}", v.error_log());
}
