//! `stub_status` through the real binary with two workers: nginx's page, word for
//! word, summed over the workers whichever answers — idle keep-alive connections as
//! Waiting, a request in flight at Gunicorn as Writing, a head half sent as Reading,
//! every accepted connection counted once, `$connections_*` — and the same gauges as
//! nginx's for the same steps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::nginx::Nginx;
use common::{wait_until, Client, Driver, Gunicorn, Vestibule};

const TWO_WORKERS: &str = "worker_processes 2; events { worker_connections 256; }";

fn site(upstream: &str) -> String {
    format!(
        r#"
server {{
    listen 127.0.0.1:@PORT@;
    location = /basic_status {{ stub_status; }}
    location = /vars {{ return 200 "$connections_active $connections_reading $connections_writing $connections_waiting\n"; }}
    location / {{ proxy_pass {upstream}; }}
}}
"#
    )
}

/// The page's numbers: active, accepts, handled, requests, reading, writing, waiting.
fn status(port: u16) -> [u64; 7] {
    let mut c = Client::connect(port);
    c.send(b"GET /basic_status HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let text = r.text();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 5, "{text:?}");
    assert!(
        lines[0].starts_with("Active connections: ") && lines[0].ends_with(' '),
        "{text:?}"
    );
    assert_eq!(lines[1], "server accepts handled requests", "{text:?}");
    assert!(
        lines[2].starts_with(' ') && lines[2].ends_with(' '),
        "{text:?}"
    );
    assert!(
        lines[3].starts_with("Reading: ") && lines[3].ends_with(' '),
        "{text:?}"
    );
    assert_eq!(lines[4], "");
    let n: Vec<u64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    n.try_into().unwrap_or_else(|_| panic!("{text:?}"))
}

/// The gauges (active, reading, writing, waiting) once `connections` are held idle,
/// one slow request is at the app and one head is half sent.
fn gauges(port: u16) -> [u64; 4] {
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(port);
        c.send(b"GET / HTTP/1.1\r\nHost: h.test\r\n\r\n");
        assert_eq!(c.read_response(false).status, 200);
        idle.push(c);
    }
    let mut slow = Client::connect(port);
    slow.send(b"GET /slow?s=2 HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n");
    let mut partial = Client::connect(port);
    partial.send(b"GET / HTTP/1.1\r\nHost: h.");
    // Until all six connections are in (the slow request may still wait in the
    // kernel's queue while an idle connection's worker finishes its exchange, which
    // looks the same on Writing), the slow request is at the app and the half head
    // has arrived.
    let mut last = [0; 7];
    wait_until(Duration::from_secs(5), || {
        last = status(port);
        last[0] == 6 && last[5] == 2 && last[4] == 1
    });
    let g = [last[0], last[4], last[5], last[6]];
    drop((idle, slow, partial));
    g
}

#[test]
fn the_servers_counters_as_nginx_prints_them() {
    let g = Gunicorn::tcp(2);
    let site = site(&g.proxy_pass());
    for driver in [Driver::Default, Driver::Epoll] {
        let v = Vestibule::start_with_main(TWO_WORKERS, &site, "", driver);
        // Each status request is one more connection and one more request, whichever
        // of the two workers takes it.
        let mut before = status(v.port);
        // The harness's readiness probe (one bare connection, no request) may be
        // accepted by the other worker well after the first page: settle until it is
        // counted, when accepts are the requests (each page's) and one.
        assert!(wait_until(Duration::from_secs(5), || {
            before = status(v.port);
            before[1] == before[3] + 1
        }));
        for _ in 0..6 {
            let now = status(v.port);
            assert_eq!(now[1], before[1] + 1, "accepts {before:?} -> {now:?}");
            assert_eq!(now[1], now[2], "handled = accepts");
            assert_eq!(now[3], before[3] + 1, "requests {before:?} -> {now:?}");
            before = now;
        }
        // Only the status request itself in flight, once the last one's worker has
        // closed its connection (a moment after the client has the answer).
        let mut now = [0; 7];
        let settled = wait_until(Duration::from_secs(2), || {
            now = status(v.port);
            (now[0], now[4], now[5], now[6]) == (1, 0, 1, 0)
        });
        assert!(settled, "{driver:?}: {now:?}");
        // The same figures as variables.
        let mut vars = String::new();
        let same = wait_until(Duration::from_secs(2), || {
            vars = v.get("/vars", "h.test").text();
            vars == "1 0 1 0\n"
        });
        assert!(same, "{driver:?}: {vars:?}");
        // 3 idle + 1 slow + 1 half head + the status request.
        assert_eq!(gauges(v.port), [6, 1, 2, 3], "{driver:?}");
    }
    if let Some(n) = Nginx::start(&site, |_| {}) {
        assert_eq!(gauges(n.port), [6, 1, 2, 3], "nginx");
    }
}

/// Workers killed while holding connections: the master clears their gauges, so the
/// page does not count connections nobody holds any more; the counters keep growing.
#[test]
fn a_killed_workers_gauges_are_cleared_and_the_counters_kept() {
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start_with_main(TWO_WORKERS, &site(&g.proxy_pass()), "", Driver::Default);
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut c = Client::connect(v.port);
        c.send(b"GET / HTTP/1.1\r\nHost: h.test\r\n\r\n");
        assert_eq!(c.read_response(false).status, 200);
        idle.push(c);
    }
    let before = status(v.port);
    assert_eq!(before[0], 5, "{before:?}");
    let workers = common::child_pids(v.pid());
    assert_eq!(workers.len(), 2, "{workers:?}");
    for w in &workers {
        common::signal(*w, libc::SIGKILL);
    }
    // Until both are respawned and answer.
    let respawned = wait_until(Duration::from_secs(10), || {
        let now = common::child_pids(v.pid());
        now.len() == 2 && now.iter().all(|p| !workers.contains(p))
    });
    assert!(respawned);
    let mut now = [0; 7];
    let cleared = wait_until(Duration::from_secs(5), || {
        now = status(v.port);
        now[0] == 1
    });
    assert!(
        cleared,
        "the dead workers' connections still count: {now:?}"
    );
    assert!(
        now[1] > before[1] && now[3] > before[3],
        "{before:?} -> {now:?}"
    );
    drop(idle);
}
