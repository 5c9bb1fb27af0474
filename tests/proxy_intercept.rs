//! `proxy_intercept_errors` with `error_page`, in front of a real Gunicorn + Flask app:
//! on, an upstream status that an `error_page` names is answered with that page (and
//! its status); a status no `error_page` names passes through; off, the app's own body
//! goes out. The same configuration runs in nginx beside it, with the same answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::nginx::Nginx;
use common::{Gunicorn, Response, Vestibule};

fn site(upstream: &str) -> String {
    format!(
        r#"
server {{
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    error_page 404 /missing.html;
    error_page 500 502 503 504 /oops.html;
    location = /missing.html {{ internal; }}
    location = /oops.html {{ }}
    location /on/ {{ proxy_pass {upstream}/; proxy_intercept_errors on; }}
    location /off/ {{ proxy_pass {upstream}/; }}
}}
"#
    )
}

fn pages(dir: &Path) {
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/missing.html"), "our own 404 page\n").unwrap();
    std::fs::write(dir.join("www/oops.html"), "our own 5xx page\n").unwrap();
}

fn get(request: impl Fn(&[u8]) -> Response, path: &str) -> (u16, String) {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n");
    let r = request(raw.as_bytes());
    (r.status, r.text())
}

const CASES: &[(&str, u16, &str)] = &[
    ("/on/status/404", 404, "our own 404 page\n"),
    ("/on/status/503", 503, "our own 5xx page\n"),
    ("/on/status/500", 500, "our own 5xx page\n"),
    // No error_page names 418 or 403: the app's answer goes through.
    ("/on/status/418", 418, ""),
    ("/on/status/403", 403, ""),
    ("/on/", 200, "Hello from Flask\n"),
    ("/off/status/404", 404, ""),
    ("/off/status/503", 503, ""),
];

#[test]
fn intercepted_statuses_get_the_error_page() {
    let g = Gunicorn::tcp(1);
    let site = site(&g.proxy_pass());
    let v = Vestibule::start(&site);
    pages(v.dir.path());
    let nginx = Nginx::start(&site, pages);
    for (path, status, body) in CASES {
        let ours = get(|raw| v.request(raw), path);
        assert_eq!(ours, (*status, body.to_string()), "{path}");
        if let Some(n) = &nginx {
            assert_eq!(
                get(|raw| n.request(raw), path),
                ours,
                "{path}: nginx differs"
            );
        }
    }
}

/// `recursive_error_pages`: off (nginx's default), an error while serving an error
/// page gets the built-in page; on, it takes its own page too — as nginx answers.
#[test]
fn recursive_error_pages_as_nginx() {
    let site = r#"
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    error_page 404 /broken;
    error_page 500 /oops.html;
    location = /broken { return 500; }
    location = /oops.html { }
    location /on/ { recursive_error_pages on; error_page 404 /broken; }
}
"#;
    let v = Vestibule::start(site);
    pages(v.dir.path());
    let nginx = Nginx::start(site, pages);
    for (path, want) in [
        ("/nope", (500, String::new())),
        ("/on/nope", (500, "our own 5xx page\n".to_string())),
    ] {
        let got = get(|raw| v.request(raw), path);
        let got = (
            got.0,
            if got.1.contains("<html>") {
                String::new()
            } else {
                got.1
            },
        );
        assert_eq!(got, want, "{path}");
        if let Some(n) = &nginx {
            let theirs = get(|raw| n.request(raw), path);
            let theirs = (
                theirs.0,
                if theirs.1.contains("<html>") {
                    String::new()
                } else {
                    theirs.1
                },
            );
            assert_eq!(theirs, want, "nginx {path}");
        }
    }
}
