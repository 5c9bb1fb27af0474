//! When the proxy sends a request again, and when it must not: against scripted
//! upstreams that drop connections, answer with errors and count what they were sent.
//!
//! - A POST whose pooled connection closes unanswered is sent once and answered 502
//!   (nginx: `proxy_next_upstream ... non_idempotent` is off by default); a GET in the
//!   same spot is re-sent on a fresh connection.
//! - A pooled connection the upstream closed while it idled is found closed before a
//!   POST is written to it, and the POST goes on a fresh connection.
//! - `proxy_next_upstream http_502` moves a GET on to the next server, never a POST.
//! - `max_fails` counts failures within `fail_timeout` even with successes between.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Driver, Vestibule};

/// One request as the upstream read it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Which request this was on its connection (1 for the first).
    nth_on_connection: usize,
}

/// What the scripted upstream does with a request it has read whole.
enum Act {
    Answer(u16, &'static str),
    /// Close the connection without a byte of response.
    Drop,
    /// Answer, then close the connection (no `Connection: close` header).
    AnswerThenClose(u16, &'static str),
}

/// Everything an upstream was sent, in order.
type Log = Arc<Mutex<Vec<Seen>>>;

/// An upstream on a loopback port that reads each request (head and
/// `Content-Length` body), logs it and does what `script` says.
fn upstream(script: impl Fn(&Seen) -> Act + Send + Sync + 'static) -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let script = Arc::new(script);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            let seen = Arc::clone(&seen);
            let script = Arc::clone(&script);
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                for nth in 1.. {
                    let Some(request) = read_request(&mut r, nth) else {
                        return;
                    };
                    seen.lock().unwrap().push(request.clone());
                    let (status, body, close) = match script(&request) {
                        Act::Drop => return,
                        Act::Answer(status, body) => (status, body, false),
                        Act::AnswerThenClose(status, body) => (status, body, true),
                    };
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if w.write_all(resp.as_bytes()).is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    (port, log)
}

fn read_request(r: &mut impl BufRead, nth: usize) -> Option<Seen> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).ok()?;
    let mut words = head.split_whitespace();
    Some(Seen {
        method: words.next()?.to_string(),
        path: words.next()?.to_string(),
        nth_on_connection: nth,
    })
}

/// Sends one request on a new client connection and returns (status, body).
fn ask(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = if method == "GET" { "" } else { "amount=10" };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: shop\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    let status = resp
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {resp:?}"));
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

fn count(log: &Log, method: &str, path: &str) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == method && s.path == path)
        .count()
}

fn drivers() -> [Driver; 2] {
    [Driver::Default, Driver::Epoll]
}

fn proxy_to(upstreams: &str, location: &str, driver: Driver) -> Vestibule {
    let http = format!("upstream app {{ {upstreams} keepalive 8; }}");
    let servers = format!(
        "server {{ listen 127.0.0.1:@PORT@; location / {{ proxy_pass http://app; proxy_read_timeout 10s; {location} }} }}"
    );
    Vestibule::start_with(&servers, &http, driver)
}

/// The second request on every upstream connection is read and dropped unanswered:
/// a POST there reaches the app once and the client gets 502; a GET there is re-sent
/// on a fresh connection and answered.
#[test]
fn a_post_on_a_pooled_connection_that_drops_is_sent_once() {
    for driver in drivers() {
        let (up, log) = upstream(|seen| {
            if seen.nth_on_connection == 2 {
                Act::Drop
            } else {
                Act::Answer(200, "ok")
            }
        });
        let v = proxy_to(&format!("server 127.0.0.1:{up};"), "", driver);
        assert_eq!(ask(v.port, "GET", "/warm"), (200, "ok".into()));
        let (status, _) = ask(v.port, "POST", "/pay");
        assert_eq!(status, 502, "{driver:?}");
        // Anything re-sent would have arrived by the time the client has its answer;
        // a little longer for a straggler.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            count(&log, "POST", "/pay"),
            1,
            "{driver:?}: the POST reached the app once: {:?}",
            log.lock().unwrap()
        );
        let errors = v.error_log();
        assert!(
            errors.contains("upstream prematurely closed connection while reading response header from upstream"),
            "{errors}"
        );
        // The same place with a GET: re-sent on a fresh connection.
        assert_eq!(ask(v.port, "GET", "/warm-again"), (200, "ok".into()));
        assert_eq!(
            ask(v.port, "GET", "/read"),
            (200, "ok".into()),
            "{driver:?}"
        );
        assert_eq!(count(&log, "GET", "/read"), 2, "{driver:?}");
    }
}

/// The upstream answers and then closes its side while the connection idles in the
/// pool. The POST that comes next is not written onto it: the close is seen first and
/// the POST goes on a fresh connection, once.
#[test]
fn a_pooled_connection_closed_while_idle_is_not_used_for_a_post() {
    for driver in drivers() {
        let (up, log) = upstream(|_| Act::AnswerThenClose(200, "ok"));
        let v = proxy_to(&format!("server 127.0.0.1:{up};"), "", driver);
        for round in 0..3 {
            assert_eq!(ask(v.port, "GET", "/warm"), (200, "ok".into()));
            // The upstream's FIN reaches vestibule's socket.
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(
                ask(v.port, "POST", "/pay"),
                (200, "ok".into()),
                "{driver:?} round {round}"
            );
        }
        assert_eq!(count(&log, "POST", "/pay"), 3, "{driver:?}");
        let errors = v.error_log();
        assert!(!errors.contains("prematurely closed"), "{errors}");
    }
}

/// `proxy_next_upstream error http_502`: a GET answered 502 by the first server is
/// answered by the second (`$upstream_status` "502, 200"); a POST is not moved on
/// and the client gets the first server's own 502 response.
#[test]
fn next_upstream_http_502_moves_a_get_but_never_a_post() {
    let (bad, bad_log) = upstream(|_| Act::Answer(502, "bad gateway from the app"));
    let (good, good_log) = upstream(|_| Act::Answer(200, "good"));
    let http = format!(
        "log_format st '$request $status $upstream_status';\n    access_log @DIR@/st.log st;\n    upstream app {{ server 127.0.0.1:{bad} max_fails=0; server 127.0.0.1:{good}; }}"
    );
    let v = Vestibule::start_with(
        "server { listen 127.0.0.1:@PORT@; location / { proxy_pass http://app; proxy_next_upstream error timeout http_502; } }",
        &http,
        Driver::Default,
    );
    for _ in 0..4 {
        assert_eq!(ask(v.port, "GET", "/page"), (200, "good".into()));
    }
    assert!(
        count(&bad_log, "GET", "/page") >= 1,
        "round robin reached the bad server"
    );
    let moved = v.wait_for_log_line("st.log", "502, 200");
    assert!(moved.contains("GET /page HTTP/1.1 200 502, 200"), "{moved}");
    let mut posts = Vec::new();
    for _ in 0..4 {
        posts.push(ask(v.port, "POST", "/order"));
    }
    let bad_posts = count(&bad_log, "POST", "/order");
    assert!(bad_posts >= 1, "round robin reached the bad server");
    assert_eq!(
        bad_posts + count(&good_log, "POST", "/order"),
        4,
        "each POST was sent once"
    );
    assert_eq!(
        posts
            .iter()
            .filter(|p| **p == (502, "bad gateway from the app".to_string()))
            .count(),
        bad_posts,
        "{posts:?}"
    );
}

/// `max_fails=2 fail_timeout=30s`: a failure, a success, a failure — the server has
/// failed twice within the window and rests; every request after goes to the other.
#[test]
fn max_fails_counts_failures_within_the_window_across_successes() {
    let (flaky, flaky_log) = upstream(|seen| {
        if seen.path.starts_with("/fail") {
            Act::Drop
        } else {
            Act::Answer(200, "flaky")
        }
    });
    let (steady, _) = upstream(|_| Act::Answer(200, "steady"));
    let v = proxy_to(
        &format!(
            "server 127.0.0.1:{flaky} max_fails=2 fail_timeout=30s; server 127.0.0.1:{steady};"
        ),
        "",
        Driver::Default,
    );
    let reached = |path: &str| count(&flaky_log, "GET", path) > 0;
    // A failure on the flaky server (the request itself moves on and succeeds).
    for i in 0..10 {
        assert_eq!(ask(v.port, "GET", &format!("/fail{i}")).0, 200);
        if (0..=i).any(|j| reached(&format!("/fail{j}"))) {
            break;
        }
    }
    // A success on it.
    for i in 0..10 {
        ask(v.port, "GET", &format!("/ok{i}"));
        if reached(&format!("/ok{i}")) {
            break;
        }
    }
    // A second failure.
    for i in 10..20 {
        assert_eq!(ask(v.port, "GET", &format!("/fail{i}")).0, 200);
        if reached(&format!("/fail{i}")) {
            break;
        }
    }
    // Distinct requests: a GET dropped on a pooled connection is sent once more on a
    // fresh one to the same server, and that one failure counts once.
    let mut fails: Vec<String> = flaky_log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.path.starts_with("/fail"))
        .map(|s| s.path.clone())
        .collect();
    fails.dedup();
    assert_eq!(fails.len(), 2, "{:?}", flaky_log.lock().unwrap());
    for i in 0..6 {
        assert_eq!(
            ask(v.port, "GET", &format!("/after{i}")),
            (200, "steady".into())
        );
    }
}

/// A client that abandons an upload streamed upstream (`proxy_request_buffering off`)
/// is the client's failure: a 400 in the access log as nginx writes it, and the
/// upstream it was streaming to is not marked failed — the requests after it still
/// reach both servers of a `max_fails=1` group.
#[test]
fn an_abandoned_streamed_upload_does_not_mark_the_upstream_down() {
    for driver in drivers() {
        let (a, a_log) = upstream(|_| Act::Answer(200, "a"));
        let (b, b_log) = upstream(|_| Act::Answer(200, "b"));
        let v = proxy_to(
            &format!(
                "server 127.0.0.1:{a} max_fails=1 fail_timeout=30s; server 127.0.0.1:{b} max_fails=1 fail_timeout=30s;"
            ),
            "proxy_request_buffering off;",
            driver,
        );
        let mut c = TcpStream::connect(("127.0.0.1", v.port)).unwrap();
        c.write_all(
            b"POST /upload HTTP/1.1\r\nHost: shop\r\nContent-Length: 1000\r\n\r\n0123456789",
        )
        .unwrap();
        // The head and the first bytes reach an upstream; then the client is gone.
        std::thread::sleep(Duration::from_millis(300));
        drop(c);
        v.wait_for_access_line("\"POST /upload HTTP/1.1\" 400");
        for i in 0..6 {
            assert_eq!(ask(v.port, "GET", &format!("/after{i}")).0, 200);
        }
        let reached = |log: &Log| {
            log.lock()
                .unwrap()
                .iter()
                .filter(|s| s.path.starts_with("/after"))
                .count()
        };
        assert!(
            reached(&a_log) > 0 && reached(&b_log) > 0,
            "{driver:?}: one server was taken out for the client's abort ({} and {} requests)",
            reached(&a_log),
            reached(&b_log)
        );
        let errors = v.error_log();
        assert!(!errors.contains("[error]"), "{errors}");
    }
}
