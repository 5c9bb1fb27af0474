//! HTTP/1.1 framing on real sockets, byte for byte: keep-alive, pipelining, HTTP/1.0,
//! `Connection: close`, HEAD, `Expect: 100-continue`, and the requests a proxy must
//! refuse rather than forward (request smuggling and oversized heads). A capturing
//! upstream written here records every request that reaches it, which proves that
//! none of the refused ones did.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "http_framing/cases.rs"]
mod cases;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Client, Response, Vestibule};

/// Every request head (and body length) an upstream received.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

/// An HTTP/1.1 upstream that records each request and answers
/// `upstream saw METHOD TARGET body=N`, keeping connections alive.
struct Capture {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Capture {
    fn start() -> Capture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { return };
                let record = Arc::clone(&record);
                std::thread::spawn(move || serve_capture(s, &record));
            }
        });
        Capture { port, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_capture(s: std::net::TcpStream, record: &Mutex<Vec<Seen>>) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    // Bounded: a test connection carries a handful of requests.
    for _ in 0..1000 {
        let mut head = String::new();
        loop {
            // Bytes, not UTF-8: header values may hold obs-text.
            let mut line = Vec::new();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            head.push_str(&String::from_utf8_lossy(&line));
            if line == b"\r\n" || line == b"\n" {
                break;
            }
        }
        let lower = head.to_ascii_lowercase();
        let length = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if lower.contains("transfer-encoding: chunked") {
            // Not expected (vestibule buffers request bodies); read to the last chunk.
            let mut rest = Vec::new();
            while !rest.ends_with(b"0\r\n\r\n") {
                let mut b = [0u8; 1];
                if r.read_exact(&mut b).is_err() {
                    return;
                }
                rest.push(b[0]);
            }
            body = rest;
        }
        let request_line = head.lines().next().unwrap_or_default().to_string();
        record.lock().unwrap().push(Seen {
            head: head.clone(),
            body: body.clone(),
        });
        let mut parts = request_line.split(' ');
        let text = format!(
            "upstream saw {} {} body={}",
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            body.len()
        );
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn servers(upstream_port: u16) -> String {
    format!(
        "
server {{
    listen 127.0.0.1:@PORT@;
    server_name example.com;
    location / {{ return 200 \"uri=$uri\\n\"; }}
    location /proxy/ {{ proxy_pass http://127.0.0.1:{upstream_port}; }}
}}
server {{
    listen 127.0.0.1:@PORT@;
    server_name other.test;
    location / {{ return 200 \"other server\\n\"; }}
}}
"
    )
}

fn start() -> (Capture, Vestibule) {
    let cap = Capture::start();
    let v = Vestibule::start(&servers(cap.port));
    (cap, v)
}

fn expect(r: &Response, status: u16, body: &str) {
    assert_eq!(r.status, status, "{r}");
    assert!(r.complete(), "{r}");
    assert_eq!(r.text(), body, "{r}");
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let (cap, v) = start();
    let mut c = v.client();
    c.send(b"GET /first HTTP/1.1\r\nHost: example.com\r\n\r\n");
    let r = c.read_response(false);
    expect(&r, 200, "uri=/first\n");
    assert_eq!(r.header("connection"), Some("keep-alive"), "{r}");
    c.send(b"GET /proxy/second HTTP/1.1\r\nHost: example.com\r\n\r\n");
    let r = c.read_response(false);
    expect(&r, 200, "upstream saw GET /proxy/second body=0");
    assert_eq!(r.header("connection"), Some("keep-alive"), "{r}");
    c.send(b"GET /third HTTP/1.1\r\nHost: example.com\r\n\r\n");
    expect(&c.read_response(false), 200, "uri=/third\n");
    assert_eq!(cap.seen().len(), 1);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (cap, v) = start();
    let mut c = v.client();
    c.send(
        b"GET /one HTTP/1.1\r\nHost: example.com\r\n\r\n\
          GET /proxy/two HTTP/1.1\r\nHost: example.com\r\n\r\n\
          POST /proxy/three HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello\
          HEAD /four HTTP/1.1\r\nHost: example.com\r\n\r\n\
          GET /five HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    expect(&c.read_response(false), 200, "uri=/one\n");
    expect(
        &c.read_response(false),
        200,
        "upstream saw GET /proxy/two body=0",
    );
    expect(
        &c.read_response(false),
        200,
        "upstream saw POST /proxy/three body=5",
    );
    let head = c.read_response(true);
    expect(&head, 200, "");
    assert_eq!(head.header("content-length"), Some("10"), "{head}");
    let last = c.read_response(false);
    expect(&last, 200, "uri=/five\n");
    assert_eq!(last.header("connection"), Some("close"), "{last}");
    assert!(
        c.closed_by_peer(),
        "connection left open after Connection: close"
    );
    assert_eq!(cap.seen().len(), 2);
}

#[test]
fn http10_without_keep_alive_is_closed_after_the_response() {
    let (_cap, v) = start();
    for path in ["/plain", "/proxy/plain"] {
        let mut c = v.client();
        c.send(format!("GET {path} HTTP/1.0\r\nHost: example.com\r\n\r\n").as_bytes());
        let r = c.read_response(false);
        assert_eq!(r.status, 200, "{r}");
        assert!(r.complete(), "{r}");
        assert_eq!(r.header("connection"), Some("close"), "{r}");
        assert!(c.closed_by_peer(), "{path}: HTTP/1.0 connection left open");
    }
    // An HTTP/1.0 client that asks for keep-alive gets it.
    let mut c = v.client();
    c.send(b"GET /a HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response(false);
    expect(&r, 200, "uri=/a\n");
    assert_eq!(r.header("connection"), Some("keep-alive"), "{r}");
    c.send(b"GET /b HTTP/1.0\r\nHost: example.com\r\n\r\n");
    expect(&c.read_response(false), 200, "uri=/b\n");
    assert!(c.closed_by_peer());
}

#[test]
fn connection_close_is_honoured() {
    let (_cap, v) = start();
    for path in ["/x", "/proxy/x"] {
        let mut c = v.client();
        c.send(
            format!("GET {path} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let r = c.read_response(false);
        assert_eq!(r.status, 200, "{r}");
        assert_eq!(r.header("connection"), Some("close"), "{r}");
        assert!(c.closed_by_peer(), "{path}: connection left open");
    }
}

#[test]
fn head_responses_have_no_body() {
    let (_cap, v) = start();
    let mut c = v.client();
    // Each HEAD is followed on the same connection by a GET: a body byte after a HEAD
    // response would corrupt the next response.
    c.send(
        b"HEAD /h HTTP/1.1\r\nHost: example.com\r\n\r\n\
          GET /after HTTP/1.1\r\nHost: example.com\r\n\r\n\
          HEAD /proxy/h HTTP/1.1\r\nHost: example.com\r\n\r\n\
          GET /last HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    let r = c.read_response(true);
    expect(&r, 200, "");
    assert_eq!(r.header("content-length"), Some("7"), "{r}");
    expect(&c.read_response(false), 200, "uri=/after\n");
    let r = c.read_response(true);
    assert_eq!(r.status, 200, "{r}");
    expect(&c.read_response(false), 200, "uri=/last\n");
    assert!(c.closed_by_peer());
    assert!(c.pending().is_empty());
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let (cap, v) = start();
    let mut c = v.client();
    c.send(b"POST /proxy/upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
    // Nothing of the body has been sent: the interim response must come first.
    let interim = c.read_response(false);
    assert_eq!(interim.status, 100, "{interim}");
    assert_eq!(interim.head, "HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"hello world");
    let r = c.read_response(false);
    expect(&r, 200, "upstream saw POST /proxy/upload body=11");
    let seen = cap.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, b"hello world");
    assert!(
        !seen[0].head.to_ascii_lowercase().contains("expect:"),
        "Expect was forwarded: {}",
        seen[0].head
    );
}

/// Runs every refused request on its own connection: each must get its status
/// (with nginx's page), `Connection: close`, a closed connection and its error-log
/// line, and none may reach the upstream.
#[test]
fn rejected_requests_never_reach_the_upstream() {
    let (cap, v) = start();
    let mut failures = Vec::new();
    for case in cases::rejected() {
        let name = case.name;
        let logged_before = v.error_log().len();
        let mut c = v.client();
        // The server may answer and close before reading all of it.
        let _ = c.try_send(&case.raw);
        let r = match c.try_read_response(false) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: no response: {e}"));
                continue;
            }
        };
        if r.status != case.status {
            failures.push(format!("{name}: expected {}, got\n{r}", case.status));
            continue;
        }
        let title = match case.log {
            "client sent too long header line"
            | "client sent too large request"
            | "client sent too many header lines" => cases::TOO_LARGE_TITLE.to_string(),
            _ => format!("<title>{} ", case.status),
        };
        if !r.text().contains(&title) {
            failures.push(format!("{name}: the page does not say {title:?}\n{r}"));
        }
        if r.header("connection") != Some("close") {
            failures.push(format!("{name}: no Connection: close\n{r}"));
        }
        if !c.closed_by_peer() {
            failures.push(format!(
                "{name}: connection left open after the error (pending {:?})",
                String::from_utf8_lossy(c.pending())
            ));
        }
        let logged = common::wait_until(Duration::from_secs(2), || {
            v.error_log()
                .get(logged_before..)
                .is_some_and(|new| new.lines().any(|l| l.contains(case.log)))
        });
        if !logged {
            failures.push(format!(
                "{name}: no error-log line with {:?}; new lines:\n{}",
                case.log,
                v.error_log().get(logged_before..).unwrap_or_default()
            ));
        }
    }
    let seen = cap.seen();
    assert!(
        failures.is_empty() && seen.is_empty(),
        "failures:\n{}\nrequests that reached the upstream:\n{}",
        failures.join("\n"),
        seen.iter()
            .map(|s| s.head.clone())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The control: a valid request does reach it.
    let r = v.get("/proxy/valid", "example.com");
    expect(&r, 200, "upstream saw GET /proxy/valid body=0");
    assert_eq!(cap.seen().len(), 1);
}

/// The lines of a head whose name is `name` (lowercase).
fn header_lines<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .skip(1)
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
        })
        .collect()
}

/// Runs every legal look-alike: the upstream must get exactly one request, with the
/// request line and body expected, one `Host`, no `Transfer-Encoding`, and (for a
/// body) one `Content-Length` of vestibule's own.
#[test]
fn unusual_but_legal_requests_reach_the_upstream_once() {
    let (cap, v) = start();
    let mut failures = Vec::new();
    for case in cases::legal() {
        let name = case.name;
        let before = cap.seen().len();
        let mut c = v.client();
        c.send(&case.raw);
        let r = match c.try_read_response(false) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: no response: {e}"));
                continue;
            }
        };
        let method = case.upstream_line.split(' ').next().unwrap_or_default();
        let target = case.upstream_line.split(' ').nth(1).unwrap_or_default();
        let want = format!("upstream saw {method} {target} body={}", case.body.len());
        if r.status != 200 || !r.complete() || r.text() != want || r.version != "HTTP/1.1" {
            failures.push(format!("{name}: expected 200 {want:?}, got\n{r}"));
            continue;
        }
        if !c.closed_by_peer() {
            failures.push(format!(
                "{name}: connection left open after Connection: close"
            ));
        }
        let seen = cap.seen();
        let new = seen.get(before..).unwrap_or_default();
        let [one] = new else {
            failures.push(format!("{name}: the upstream got {} requests", new.len()));
            continue;
        };
        let head = &one.head;
        let mut wrong = Vec::new();
        if head.lines().next() != Some(case.upstream_line) {
            wrong.push("request line");
        }
        if one.body != case.body {
            wrong.push("body");
        }
        if header_lines(head, "host").len() != 1 {
            wrong.push("Host lines");
        }
        if !header_lines(head, "transfer-encoding").is_empty() {
            wrong.push("Transfer-Encoding forwarded");
        }
        let lengths = header_lines(head, "content-length");
        let length_ok = match lengths.as_slice() {
            [] => case.body.is_empty() && !method.starts_with("POST"),
            [l] => l.split_once(':').map(|(_, v)| v.trim()) == Some(&*case.body.len().to_string()),
            _ => false,
        };
        if !length_ok {
            wrong.push("Content-Length");
        }
        if case
            .not_forwarded
            .iter()
            .any(|n| !header_lines(head, n).is_empty())
        {
            wrong.push("a header that must not be forwarded");
        }
        if !wrong.is_empty() {
            failures.push(format!("{name}: wrong {wrong:?} in\n{head}"));
        }
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn a_client_that_sends_nothing_more_is_closed_after_keepalive() {
    // With keepalive_timeout 1s an idle keep-alive connection is closed by the server.
    let cap = Capture::start();
    let v = Vestibule::start(&format!(
        "{}\n",
        servers(cap.port).replace(
            "server_name example.com;",
            "server_name example.com;\n    keepalive_timeout 1s;"
        )
    ));
    let mut c: Client = v.client();
    c.send(b"GET /k HTTP/1.1\r\nHost: example.com\r\n\r\n");
    expect(&c.read_response(false), 200, "uri=/k\n");
    c.deadline = Duration::from_secs(10);
    assert!(c.closed_by_peer(), "idle keep-alive connection not closed");
}

/// A bad chunk in a body no handler reads (`return`): the answer closes the
/// connection, and the bytes after the bad chunk, shaped as a second request, are
/// never read as one.
#[test]
fn a_framing_error_in_a_discarded_body_closes_the_connection() {
    let (_cap, v) = start();
    let mut c = v.client();
    c.send(b"POST /x HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.header("connection"), Some("close"), "{r}");
    assert!(!r.text().contains("smuggled"), "{r}");
    assert!(
        c.closed_by_peer(),
        "still open after a framing error (pending {:?})",
        String::from_utf8_lossy(c.pending())
    );
}

#[test]
fn a_stalled_head_or_body_is_cut_off_and_never_forwarded() {
    let cap = Capture::start();
    let v = Vestibule::start(&servers(cap.port).replace(
        "server_name example.com;",
        "server_name example.com;\n    client_header_timeout 1s;\n    client_body_timeout 1s;",
    ));
    // Half a head, then nothing: closed after client_header_timeout.
    let mut c = v.client();
    c.deadline = Duration::from_secs(10);
    c.send(b"GET /proxy/half HTTP/1.1\r\nHost: exam");
    let closed = c.read_until(b"\r\n\r\n");
    // nginx closes without a response here (it would log 408); either way it ends.
    assert!(
        closed.is_empty() || closed.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&closed)
    );
    assert!(
        c.closed_by_peer(),
        "a stalled head kept the connection open"
    );
    v.wait_for_error_line(&[
        "client timed out (110: Connection timed out) while reading client request headers",
    ]);

    // A whole head, part of the body, then nothing: the request never reaches the
    // upstream (it is buffered first) and the connection ends.
    let mut c = v.client();
    c.deadline = Duration::from_secs(10);
    c.send(b"POST /proxy/half-body HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\n0123456789");
    match c.try_read_response(false) {
        Ok(r) => {
            assert_eq!(r.status, 408, "{r}");
            assert!(c.closed_by_peer());
        }
        Err(e) => assert!(e.contains("closed") || e.contains("reset"), "{e}"),
    }
    v.wait_for_error_line(&[
        "client timed out (110: Connection timed out) while reading client request body",
    ]);
    assert!(cap.seen().is_empty(), "{:?}", cap.seen());
}

#[test]
fn a_request_sent_one_byte_at_a_time_is_served() {
    let (cap, v) = start();
    let mut c = v.client();
    c.stream.set_nodelay(true).unwrap();
    let raw = b"POST /proxy/bytes HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n";
    for b in raw.iter() {
        c.send(&[*b]);
    }
    let r = c.read_response(false);
    expect(&r, 200, "upstream saw POST /proxy/bytes body=5");
    let seen = cap.seen();
    assert_eq!(seen[0].body, b"abcde");
    assert!(
        seen[0]
            .head
            .to_ascii_lowercase()
            .contains("content-length: 5\r\n"),
        "{}",
        seen[0].head
    );
}

#[test]
fn a_burst_of_pipelined_requests_is_answered_in_order() {
    let (cap, v) = start();
    let mut c = v.client();
    let mut raw = Vec::new();
    for i in 0..60 {
        let path = if i % 3 == 0 { "/proxy/p" } else { "/r" };
        raw.extend_from_slice(
            format!("GET {path}{i} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes(),
        );
    }
    c.send(&raw);
    for i in 0..60 {
        let r = c.read_response(false);
        if i % 3 == 0 {
            expect(&r, 200, &format!("upstream saw GET /proxy/p{i} body=0"));
        } else {
            expect(&r, 200, &format!("uri=/r{i}\n"));
        }
    }
    assert_eq!(cap.seen().len(), 20);
}

#[test]
fn keepalive_requests_limits_requests_per_connection() {
    let cap = Capture::start();
    let v = Vestibule::start(&servers(cap.port).replace(
        "server_name example.com;",
        "server_name example.com;\n    keepalive_requests 2;",
    ));
    let mut c = v.client();
    c.send(b"GET /1 HTTP/1.1\r\nHost: example.com\r\n\r\nGET /2 HTTP/1.1\r\nHost: example.com\r\n\r\nGET /3 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    let r = c.read_response(false);
    expect(&r, 200, "uri=/1\n");
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = c.read_response(false);
    expect(&r, 200, "uri=/2\n");
    assert_eq!(r.header("connection"), Some("close"), "{r}");
    assert!(c.closed_by_peer(), "a third request was served");
}
