//! `limit_rate`, `limit_rate_after`, `set $limit_rate` and `proxy_limit_rate` through
//! the real binary, beside nginx 1.22 where it is installed. nginx's arithmetic: by
//! the `n`th second of the request at most `rate × (n + 1)` bytes past
//! `limit_rate_after` have gone, so 300,000 bytes at `100k` take about 2 s (the
//! first 102,400 go at once, then 102,400 more at each second). The bounds are loose
//! (at least 1.5 s, at most 10 s), so no assertion depends on fine timing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::nginx::Nginx;
use common::{Client, Driver, Gunicorn, Vestibule};

const SIZE: usize = 300_000;

fn servers(upstream: &str) -> String {
    format!(
        "server {{
            listen 127.0.0.1:@PORT@;
            server_name localhost;
            root @DIR@;
            location /slow/ {{ alias @DIR@/; limit_rate 100k; }}
            location /after/ {{ alias @DIR@/; limit_rate 100k; limit_rate_after 200k; }}
            location /set/ {{ alias @DIR@/; set $limit_rate 50k; }}
            location /big {{ proxy_pass {upstream}; proxy_limit_rate 100k; }}
        }}"
    )
}

fn files(dir: &Path) {
    let body: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), &body).unwrap();
    std::fs::write(dir.join("half.bin"), &body[..SIZE / 2]).unwrap();
}

/// `GET path`: the status, body length and how long the whole answer took.
fn timed(port: u16, path: &str) -> (u16, usize, Duration) {
    let start = Instant::now();
    let mut c = Client::connect(port);
    c.send(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let r = c.read_response(false);
    (r.status, r.body.len(), start.elapsed())
}

fn slow(d: Duration) -> bool {
    d >= Duration::from_millis(1500) && d < Duration::from_secs(10)
}

#[test]
fn responses_are_paced_as_nginx_paces_them() {
    let gunicorn = Gunicorn::tcp(2);
    let servers = servers(&gunicorn.proxy_pass());
    let big = format!("/big?n={SIZE}");
    let cases: [(&str, usize, bool); 4] = [
        ("/slow/big.bin", SIZE, true),
        ("/after/big.bin", SIZE, false),
        ("/set/half.bin", SIZE / 2, true),
        (&big, SIZE, true),
    ];
    let nginx = Nginx::start(&servers, files);
    for driver in [Driver::Default, Driver::Epoll] {
        let v = Vestibule::start_with(&servers, "", driver);
        files(v.dir.path());
        for (path, len, paced) in cases {
            let (status, got, took) = timed(v.port, path);
            assert_eq!((status, got), (200, len), "{path} ({driver:?})");
            if paced {
                assert!(slow(took), "{path} took {took:?} ({driver:?})");
            } else {
                assert!(took < Duration::from_millis(1500), "{path} took {took:?}");
            }
            if let Some(n) = &nginx {
                let (n_status, n_got, n_took) = timed(n.port, path);
                assert_eq!((n_status, n_got), (200, len), "nginx {path}");
                assert_eq!(slow(n_took), paced, "nginx {path} took {n_took:?}");
                eprintln!("{path}: vestibule {took:?}, nginx {n_took:?} ({driver:?})");
            }
        }
    }
}

/// Two clients at once are paced each on its own: the rate is per response.
#[test]
fn the_rate_is_per_response() {
    let v = Vestibule::start_with(&servers("http://127.0.0.1:9"), "", Driver::Default);
    files(v.dir.path());
    let start = Instant::now();
    let port = v.port;
    let threads: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || timed(port, "/slow/big.bin")))
        .collect();
    for t in threads {
        let (status, got, took) = t.join().unwrap();
        assert_eq!((status, got), (200, SIZE));
        assert!(slow(took), "{took:?}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "in parallel, not one after the other"
    );
}
