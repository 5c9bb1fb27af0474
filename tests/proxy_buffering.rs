//! Why nginx stands in front of Gunicorn's sync workers: response buffering. A sync
//! worker serves one request at a time and is busy until its response is written; with
//! vestibule reading the response as fast as Gunicorn sends it, slow clients cost
//! vestibule memory or a temp file, not a Gunicorn worker. And `proxy_buffering off`
//! passes a streamed response on piece by piece, as it is produced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{pattern, Client, ClientOptions, Framing, Gunicorn, Vestibule};

/// Larger than what the kernel's socket buffers between Gunicorn, vestibule and a
/// client can absorb (a few MiB each way on loopback), so without buffering a worker
/// really is stuck writing it.
const BIG: usize = 32 * 1024 * 1024;
const SLOW_CLIENTS: usize = 4;

fn server(upstream: &str, buffering: &str) -> String {
    format!(
        "
server {{
    listen 127.0.0.1:@PORT@;
    server_name example.com;
    location / {{
        include proxy_params;
        proxy_pass {upstream};
        proxy_buffering {buffering};
    }}
}}
"
    )
}

/// What happened while slow clients stalled.
struct Stalled {
    // Field order is drop order: clients first, then vestibule, then Gunicorn.
    /// Each slow client with the bytes it read before stalling (head and body start).
    slow: Vec<(Client, Vec<u8>)>,
    /// The fresh `GET /`, or why it got no answer within 5 s.
    fresh: Result<common::Response, String>,
    _v: Vestibule,
    _g: Gunicorn,
}

/// Four clients ask for a large response through a Gunicorn with two sync workers;
/// each reads its head and a few KB, then stalls (at most 5 s per client). While they
/// stall, a fresh `GET /` is sent, with 5 s to be answered.
fn slow_readers_then_fresh_request(buffering: &str) -> Stalled {
    let g = Gunicorn::tcp(2);
    let v = Vestibule::start(&server(&g.proxy_pass(), buffering));
    let mut slow = Vec::new();
    for _ in 0..SLOW_CLIENTS {
        // A small receive window: the client really does not take the data.
        let mut c = Client::connect_with(
            v.port,
            ClientOptions {
                from: None,
                rcvbuf: Some(16 * 1024),
            },
        );
        c.send(format!("GET /big?n={BIG} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes());
        slow.push(c);
    }
    let slow = slow
        .into_iter()
        .map(|mut c| {
            c.deadline = Duration::from_secs(5);
            let first = c.read_raw(4096);
            (c, first)
        })
        .collect();
    // Without buffering both workers are still writing to stalled clients now, and
    // this request waits in Gunicorn's backlog until one of them is done.
    let mut fresh = Client::connect(v.port);
    fresh.deadline = Duration::from_secs(5);
    fresh.send(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    let fresh = fresh.try_read_response(false);
    Stalled {
        slow,
        fresh,
        _v: v,
        _g: g,
    }
}

#[test]
fn slow_clients_do_not_hold_gunicorn_workers() {
    let mut s = slow_readers_then_fresh_request("on");
    let r = s.fresh.as_ref().unwrap_or_else(|e| {
        panic!(
            "a fresh GET / was not answered within 5 s while {SLOW_CLIENTS} clients stall \
             (Gunicorn's 2 sync workers are held by slow clients: no response buffering): {e}"
        )
    });
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.text(), "Hello from Flask\n");
    for (i, (_, first)) in s.slow.iter().enumerate() {
        assert!(
            first.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "slow client {i} got no response start: {:?}",
            String::from_utf8_lossy(&first[..first.len().min(200)])
        );
    }

    // A buffered response (memory, then a temp file) arrives whole and in order.
    let (mut c, first) = s.slow.pop().unwrap();
    let head_end = first
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .expect("the head fits in the first 4 KB");
    let mut body = first[head_end..].to_vec();
    c.deadline = Duration::from_secs(60);
    body.extend(c.read_raw(BIG - body.len()));
    assert_eq!(body.len(), BIG, "the body was cut short");
    assert!(body == pattern(BIG), "the body differs from /big's pattern");
}

/// The control for the test above: with `proxy_buffering off` the same fresh request
/// is NOT answered while the slow clients stall, which shows that the test measures
/// what it claims. Ignored by default (it waits out its 5 s deadlines); run it with
/// `cargo test --test proxy_buffering -- --ignored`.
#[test]
#[ignore]
fn control_without_buffering_slow_clients_hold_the_workers() {
    let s = slow_readers_then_fresh_request("off");
    let started = s
        .slow
        .iter()
        .filter(|(_, first)| first.starts_with(b"HTTP/1.1 200"))
        .count();
    assert!(
        s.fresh.is_err(),
        "with proxy_buffering off the fresh request was answered anyway ({started} of \
         {SLOW_CLIENTS} slow clients started): the buffering test would not catch a regression"
    );
}

#[test]
fn proxy_buffering_off_streams_as_produced() {
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&server(&g.proxy_pass(), "off"));
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("gate");
    let mut c = v.client();
    c.send(
        format!(
            "GET /stream?n=3&gate={} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
            gate.display()
        )
        .as_bytes(),
    );
    // The app yields "piece 0" and then waits for the gate file, which only this test
    // creates: the first piece must reach the client while the response is unfinished.
    c.deadline = Duration::from_secs(10);
    let first = c.read_until(b"piece 0\n");
    let text = String::from_utf8_lossy(&first).into_owned();
    assert!(
        text.contains("piece 0\n"),
        "the first piece did not arrive while the app was still producing: {text:?}"
    );
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("transfer-encoding: chunked\r\n"),
        "{text}"
    );
    assert!(!text.contains("piece 1"), "{text}");
    assert!(!text.contains("\r\n0\r\n\r\n"), "{text}");

    std::fs::write(&gate, b"open").unwrap();
    let rest = c.read_until(b"\r\n0\r\n\r\n");
    let rest = String::from_utf8_lossy(&rest).into_owned();
    assert!(
        rest.contains("piece 1\n") && rest.contains("piece 2\n"),
        "{rest}"
    );
    assert!(rest.ends_with("\r\n0\r\n\r\n"), "{rest:?}");
    assert!(c.closed_by_peer());

    // Buffered (the default) or not, the whole stream is the same.
    let r = v.get(
        &format!("/stream?n=4&gate={}", gate.display()),
        "example.com",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.framing, Framing::Chunked);
    assert!(r.complete());
    assert_eq!(r.text(), "piece 0\npiece 1\npiece 2\npiece 3\n");
}

#[test]
fn a_client_leaving_mid_response_does_not_disturb_the_next_one() {
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&server(&g.proxy_pass(), "on"));
    for _ in 0..3 {
        drop(big_download_started(v.port));
    }
    let r = v.get("/big?n=1000000", "example.com");
    assert_eq!(r.status, 200, "{r}");
    assert!(r.complete());
    assert!(r.body == pattern(1_000_000));
    assert_eq!(v.get("/", "example.com").text(), "Hello from Flask\n");
}

/// A client with a small receive window that asks for `/big` and reads the first
/// 4 KiB (head and the body's start), then stops reading.
fn big_download_started(port: u16) -> (Client, Vec<u8>) {
    let mut c = Client::connect_with(
        port,
        ClientOptions {
            from: None,
            rcvbuf: Some(16 * 1024),
        },
    );
    c.send(format!("GET /big?n={BIG} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes());
    let first = c.read_raw(4096);
    assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"));
    (c, first)
}

/// The largest temp file a worker holds open under `proxy_temp`, sampled for
/// `window`, or until it passes `enough`.
fn largest_temp_file(v: &Vestibule, window: Duration, enough: u64) -> u64 {
    let workers = common::child_pids(v.pid());
    let mut largest = 0;
    let until = std::time::Instant::now() + window;
    while std::time::Instant::now() < until && largest <= enough {
        for pid in &workers {
            for (fd, target) in common::open_fds(*pid) {
                if target.contains("proxy_temp") {
                    if let Ok(m) = std::fs::metadata(format!("/proc/{pid}/fd/{fd}")) {
                        largest = largest.max(m.len());
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    largest
}

/// A stalled client of a 32 MiB response: with the default bound the temp file takes
/// most of the response; with `proxy_max_temp_file_size 1m` it stays near 1 MiB (the
/// upstream is read only as fast as the client takes), and the client still gets the
/// whole body in order.
#[test]
fn proxy_max_temp_file_size_bounds_a_slow_clients_spill() {
    let g = Gunicorn::tcp(2);
    let mut sizes = Vec::new();
    // `server` writes `proxy_buffering {value};`.
    for buffering in ["on", "on;\n        proxy_max_temp_file_size 1m"] {
        let v = Vestibule::start(&server(&g.proxy_pass(), buffering));
        let (mut c, first) = big_download_started(v.port);
        // The default spill is watched until it is clearly past the bound (at most
        // 15 s on a busy machine); the bounded one for 3 s.
        let (window, enough) = if buffering == "on" {
            (Duration::from_secs(15), 8 << 20)
        } else {
            (Duration::from_secs(3), u64::MAX)
        };
        sizes.push(largest_temp_file(&v, window, enough));
        let head_end = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut body = first[head_end..].to_vec();
        c.deadline = Duration::from_secs(60);
        body.extend(c.read_raw(BIG - body.len()));
        assert!(body == pattern(BIG), "the body differs from /big's pattern");
    }
    let (unbounded, bounded) = (sizes[0], sizes[1]);
    eprintln!(
        "temp file while the client stalls: default {unbounded} bytes, 1m bound {bounded} bytes"
    );
    assert!(
        unbounded > 8 << 20,
        "the default spill is only {unbounded} bytes"
    );
    assert!(
        bounded <= (1 << 20) + (64 << 10),
        "the bounded spill reached {bounded} bytes"
    );
}
