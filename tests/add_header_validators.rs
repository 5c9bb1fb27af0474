//! `add_header` of `Last-Modified` and `ETag` through the real binary, as nginx's
//! headers filter does it (compared side by side with nginx 1.22.1): the header
//! replaces the file's own (or the upstream's) instead of adding a second line, an
//! empty value removes it, `Cache-Control` and `Link` are added beside what is
//! there, a 304 is decided on the file's own validators but carries the replaced
//! ones, and `If-Range` is checked against the replaced values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{Response, Vestibule};

const REPLACED_DATE: &str = "Tue, 02 Feb 2021 00:00:00 GMT";

const SITE: &str = r#"
    server {
        listen 127.0.0.1:@PORT@;
        location /lm/ {
            root @DIR@/www;
            add_header Last-Modified "Tue, 02 Feb 2021 00:00:00 GMT";
            add_header ETag '"new"';
            add_header Cache-Control "no-cache";
            add_header Link "</x>; rel=preload";
        }
        location /gone/ {
            alias @DIR@/www/lm/;
            add_header Last-Modified "";
            add_header ETag "";
        }
        location /twice/ {
            alias @DIR@/www/lm/;
            add_header ETag '"one"';
            add_header ETag '"two"';
        }
        location /cc/ {
            alias @DIR@/www/lm/;
            expires 1h;
            add_header Cache-Control "no-cache";
        }
    }"#;

fn site() -> Vestibule {
    let v = Vestibule::start(SITE);
    std::fs::create_dir_all(v.path("www/lm")).unwrap();
    std::fs::write(v.path("www/lm/f.txt"), "0123456789abcdef").unwrap();
    v
}

fn get(v: &Vestibule, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut raw = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, val) in headers {
        raw.push_str(&format!("{k}: {val}\r\n"));
    }
    raw.push_str("Connection: close\r\n\r\n");
    v.request(raw.as_bytes())
}

/// The file's own `Last-Modified`, as a location without `add_header` sends it.
fn own_last_modified(v: &Vestibule) -> String {
    let r = get(v, "/cc/f.txt", &[]);
    r.header("Last-Modified").unwrap().to_string()
}

#[test]
fn add_header_replaces_last_modified_and_etag_and_adds_the_rest() {
    let v = site();
    let r = get(&v, "/lm/f.txt", &[]);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.headers_named("Last-Modified"), [REPLACED_DATE], "{r}");
    assert_eq!(r.headers_named("ETag"), ["\"new\""], "{r}");
    assert_eq!(r.headers_named("Cache-Control"), ["no-cache"], "{r}");
    assert_eq!(r.headers_named("Link"), ["</x>; rel=preload"], "{r}");
    assert_eq!(r.body, b"0123456789abcdef");

    // Several lines for the same header: the last one wins.
    let r = get(&v, "/twice/f.txt", &[]);
    assert_eq!(r.headers_named("ETag"), ["\"two\""], "{r}");

    // Cache-Control is added beside the one `expires` makes, as nginx does.
    let r = get(&v, "/cc/f.txt", &[]);
    assert_eq!(
        r.headers_named("Cache-Control"),
        ["max-age=3600", "no-cache"],
        "{r}"
    );
}

#[test]
fn add_header_with_an_empty_value_removes_last_modified_and_etag() {
    let v = site();
    let r = get(&v, "/gone/f.txt", &[]);
    assert_eq!(r.status, 200, "{r}");
    assert!(r.header("Last-Modified").is_none(), "{r}");
    assert!(r.header("ETag").is_none(), "{r}");
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"), "{r}");
}

#[test]
fn not_modified_is_decided_on_the_file_and_carries_the_replaced_validators() {
    let v = site();
    let own = own_last_modified(&v);
    let r = get(&v, "/lm/f.txt", &[("If-Modified-Since", &own)]);
    assert_eq!(r.status, 304, "{r}");
    assert_eq!(r.headers_named("ETag"), ["\"new\""], "{r}");
    assert_eq!(r.headers_named("Last-Modified"), [REPLACED_DATE], "{r}");
    // The replaced date and tag are not what the 304 check compares with.
    let r = get(&v, "/lm/f.txt", &[("If-Modified-Since", REPLACED_DATE)]);
    assert_eq!(r.status, 200, "{r}");
    let r = get(&v, "/lm/f.txt", &[("If-None-Match", "\"new\"")]);
    assert_eq!(r.status, 200, "{r}");
}

#[test]
fn if_range_is_checked_against_the_replaced_validators() {
    let v = site();
    let own = own_last_modified(&v);
    let range = ("Range", "bytes=0-3");
    let cases: &[(&str, &str, &str, u16)] = &[
        ("replaced_date", "/lm/f.txt", REPLACED_DATE, 206),
        ("file_date_no_longer_matches", "/lm/f.txt", &own, 200),
        ("replaced_tag", "/lm/f.txt", "\"new\"", 206),
        (
            "removed_last_modified_matches_no_date",
            "/gone/f.txt",
            &own,
            200,
        ),
    ];
    for (name, target, if_range, want) in cases {
        let r = get(&v, target, &[range, ("If-Range", if_range)]);
        assert_eq!(r.status, *want, "{name}: {r}");
        if *want == 206 {
            assert_eq!(r.body, b"0123", "{name}");
            assert_eq!(r.header("Content-Range"), Some("bytes 0-3/16"), "{name}");
        }
    }
}

/// An upstream that answers every request (at most `n` connections) with its own
/// `Last-Modified` and `ETag`; returns its port.
fn upstream_with_validators(n: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(n) {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\
                  Last-Modified: Mon, 01 Jan 2001 00:00:00 GMT\r\nETag: \"up\"\r\n\
                  Connection: close\r\n\r\nup\n",
            );
        }
    });
    port
}

#[test]
fn add_header_replaces_and_removes_the_upstreams_validators() {
    let port = upstream_with_validators(4);
    let v = Vestibule::start(&format!(
        r#"
    server {{
        listen 127.0.0.1:@PORT@;
        location /replaced/ {{
            proxy_pass http://127.0.0.1:{port};
            add_header Last-Modified "Tue, 02 Feb 2021 00:00:00 GMT";
            add_header ETag '"new"';
        }}
        location /removed/ {{
            proxy_pass http://127.0.0.1:{port};
            add_header Last-Modified "";
            add_header ETag "";
        }}
    }}"#
    ));
    let r = v.get("/replaced/x", "localhost");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.headers_named("Last-Modified"), [REPLACED_DATE], "{r}");
    assert_eq!(r.headers_named("ETag"), ["\"new\""], "{r}");
    let r = v.get("/removed/x", "localhost");
    assert_eq!(r.status, 200, "{r}");
    assert!(r.header("Last-Modified").is_none(), "{r}");
    assert!(r.header("ETag").is_none(), "{r}");
    assert_eq!(r.body, b"up\n");
}
