//! The variables operators log by, in access-log lines of a real Gunicorn + Flask
//! deployment: `$upstream_connect_time`, `$upstream_header_time`,
//! `$upstream_cookie_NAME`, `$connection_time`, `$upstream_response_length`,
//! `$upstream_bytes_received`, `$upstream_bytes_sent`, `$request_body` (and
//! `$request_body_file`, which has no file to name); and `access_log ... if=` and
//! `gzip=`. The same configuration runs in nginx beside it, whose lines must have the
//! same shape.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use common::nginx::Nginx;
use common::{read_lossy, wait_until, Gunicorn, Response, Vestibule};

fn site(upstream: &str) -> String {
    format!(
        r#"
log_format vars '$request_uri|$upstream_connect_time|$upstream_header_time|$upstream_cookie_session|$connection_time|$request_body|$request_body_file|$upstream_response_length|$upstream_bytes_received|$upstream_bytes_sent|$body_bytes_sent';
log_format plain '$request_uri $status';
map $status $failed {{ ~^[23] 0; default 1; }}
server {{
    listen 127.0.0.1:@PORT@;
    access_log @DIR@/vars.log vars;
    access_log @DIR@/failed.log plain if=$failed;
    access_log @DIR@/all.log.gz plain gzip=4 flush=1s;
    location / {{ proxy_pass {upstream}; }}
}}
"#
    )
}

fn send(request: impl Fn(&[u8]) -> Response, raw: &str) -> u16 {
    request(raw.as_bytes()).status
}

/// The requests, and the lines each server must write, in its directory `dir`.
fn check(dir: &Path, request: impl Fn(&[u8]) -> Response + Copy) {
    let get = |path: &str| {
        send(
            request,
            &format!("GET {path} HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n"),
        )
    };
    assert_eq!(get("/cookies"), 200);
    assert_eq!(get("/status/503"), 503);
    let body = "name=value&x=1";
    let post = format!(
        "POST /echo HTTP/1.1\r\nHost: h.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(send(request, &post), 200);

    let vars = dir.join("vars.log");
    assert!(wait_until(Duration::from_secs(5), || read_lossy(&vars)
        .lines()
        .count()
        >= 3));
    let text = read_lossy(&vars);
    let line = |uri: &str| -> Vec<String> {
        let l = text.lines().find(|l| l.starts_with(uri)).unwrap();
        l.split('|').map(str::to_string).collect()
    };
    let seconds = |v: &str| {
        let ok = v.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.len() == 3
        });
        assert!(ok, "not seconds.millis: {v:?} in {text}");
    };
    let cookies = line("/cookies");
    seconds(&cookies[1]);
    seconds(&cookies[2]);
    assert_eq!(cookies[3], "abc123", "{text}");
    seconds(&cookies[4]);
    assert_eq!(
        (cookies[5].as_str(), cookies[6].as_str()),
        ("-", "-"),
        "{text}"
    );
    let echo = line("/echo");
    assert_eq!(echo[5], body, "{text}");
    assert_eq!(echo[3], "-");
    // The body as the app sent it ("two cookies\n"), all the bytes read (head and
    // body, more), and the request written upstream (its line and headers at least).
    let num = |v: &str| {
        v.trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{v:?}: {text}"))
    };
    assert_eq!(num(&cookies[7]), 12, "{text}");
    assert!(num(&cookies[8]) > 12 + 40, "{text}");
    assert!(num(&cookies[9]) > 30, "{text}");
    // The POST's body went with its head.
    assert!(num(&echo[9]) >= body.len() as u64 + 30, "{text}");

    // `if=`: only the failure.
    let failed = dir.join("failed.log");
    assert!(wait_until(Duration::from_secs(5), || read_lossy(&failed)
        .contains("/status/503 503")));
    let failed = read_lossy(&failed);
    assert!(
        !failed.contains("/cookies") && !failed.contains("/echo"),
        "{failed}"
    );

    // `gzip=`: members that zcat reads whole.
    let gz = dir.join("all.log.gz");
    let mut all = String::new();
    assert!(wait_until(Duration::from_secs(5), || {
        let bytes = std::fs::read(&gz).unwrap_or_default();
        all.clear();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut all)
            .is_ok()
            && all.contains("/echo 200")
    }));
    assert!(
        all.contains("/cookies 200") && all.contains("/status/503 503"),
        "{all}"
    );
}

#[test]
fn logged_variables_and_access_log_options() {
    let g = Gunicorn::tcp(1);
    let site = site(&g.proxy_pass());
    let v = Vestibule::start(&site);
    check(v.dir.path(), |raw| v.request(raw));
    if let Some(n) = Nginx::start(&site, |_| {}) {
        check(n.dir.path(), |raw| n.request(raw));
    }
}
