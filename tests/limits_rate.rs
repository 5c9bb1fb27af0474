//! `limit_rate`, `limit_rate_after`, `set $limit_rate` and `proxy_limit_rate` through
//! the real binary, beside nginx 1.22 where it is installed. nginx's arithmetic: by
//! the `n`th second of the request at most `rate × (n + 1)` bytes past
//! `limit_rate_after` have gone, so 300,000 bytes at `100k` take about 2 s (the
//! first 102,400 go at once, then 102,400 more at each second). The bounds are loose
//! (at least 1.5 s, at most 10 s), so no assertion depends on fine timing. On
//! HTTP/2 the rate is a stream's: the other streams of the connection go at full
//! speed beside a paced one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::nginx::Nginx;
use common::tls::{Ca, Key};
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

/// Two streams on one HTTP/2 connection over TLS, a paced file and an unpaced one:
/// `curl -Z` fetches both at once; per transfer, its protocol, size, time and how
/// many connections it opened. (curl 7.88 fails the second transfer when it
/// multiplexes h2c with prior knowledge, so TLS, as browsers do.)
fn two_streams(port: u16) -> Vec<(String, usize, Duration, u32)> {
    let base = format!("https://localhost:{port}");
    let out = std::process::Command::new("curl")
        .args(["-sS", "-k", "-Z", "--max-time", "10"])
        .args([
            "-w",
            "%{http_version} %{size_download} %{time_total} %{num_connects}\\n",
        ])
        .args(["-o", "/dev/null", &format!("{base}/slow/big.bin")])
        .args(["-o", "/dev/null", &format!("{base}/big.bin")])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                Duration::from_secs_f64(f[2].parse().unwrap()),
                f[3].parse().unwrap(),
            )
        })
        .collect();
    // The slow one last.
    lines.sort_by_key(|l| l.2);
    lines
}

/// `limit_rate` on HTTP/2 paces its stream, and only it: beside nginx 1.22.
#[test]
fn on_http2_the_rate_is_a_streams() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = Ca::new("Test CA")
        .issue(&["localhost"], Key::Ecdsa)
        .write(certs.path(), "site");
    let servers = format!(
        "server {{
            listen 127.0.0.1:@PORT@ ssl http2;
            server_name localhost;
            ssl_certificate {};
            ssl_certificate_key {};
            root @DIR@;
            location /slow/ {{ alias @DIR@/; limit_rate 100k; }}
        }}",
        cert.display(),
        key.display()
    );
    let nginx = Nginx::start(&servers, files);
    let v = Vestibule::start_with(&servers, "", Driver::Default);
    files(v.dir.path());
    let mut ports = vec![("vestibule", v.port)];
    if let Some(n) = &nginx {
        ports.push(("nginx", n.port));
    }
    for (who, port) in ports {
        let t = two_streams(port);
        eprintln!("{who}: {t:?}");
        assert_eq!(t.len(), 2, "{who}");
        for (version, size, _, _) in &t {
            assert_eq!((version.as_str(), *size), ("2", SIZE), "{who}: {t:?}");
        }
        assert_eq!(t[0].3 + t[1].3, 1, "{who}: one connection for both: {t:?}");
        assert!(slow(t[1].2), "{who}: the paced stream: {t:?}");
        assert!(
            t[0].2 < Duration::from_millis(1000),
            "{who}: the other stream is not slowed: {t:?}"
        );
    }
}
