//! An upstream that misbehaves (`tests/apps/fake_upstream.py`): each fault is answered
//! as nginx answers it — 502 or 504 with its error-log line when nothing has been sent
//! yet, and, once a response has started, a client connection that is closed with the
//! body visibly incomplete (fewer bytes than `Content-Length`, no final chunk), never a
//! truncated body presented as whole.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{End, FakeUpstream, Framing, Response, Vestibule};

/// Vestibule in front of a fake upstream: `/` buffered (the default), `/nobuf/` with
/// `proxy_buffering off`, both with a 1 s read timeout.
fn proxy_to(fake: &FakeUpstream) -> Vestibule {
    let up = format!("http://127.0.0.1:{}", fake.port);
    Vestibule::start(&format!(
        "
server {{
    listen 127.0.0.1:@PORT@;
    server_name example.com;
    proxy_read_timeout 1s;
    location / {{
        include proxy_params;
        proxy_pass {up};
    }}
    location /nobuf/ {{
        include proxy_params;
        proxy_pass {up};
        proxy_buffering off;
    }}
}}
"
    ))
}

fn get(v: &Vestibule, path: &str) -> Response {
    v.get(path, "example.com")
}

#[test]
fn fake_upstream_ok_mode_works_through_the_proxy() {
    let fake = FakeUpstream::start("ok");
    let v = proxy_to(&fake);
    let r = get(&v, "/");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.text(), "ok\n");
}

#[test]
fn garbage_status_line_gives_502_not_the_garbage() {
    let fake = FakeUpstream::start("garbage");
    let v = proxy_to(&fake);
    for path in ["/x", "/nobuf/x"] {
        let r = get(&v, path);
        assert_eq!(r.status, 502, "{path}: {r}");
        assert!(r.complete());
        assert!(!r.text().contains("garbage"), "{path}: passed through: {r}");
        assert_eq!(r.header("x-garbage"), None, "{path}: {r}");
    }
    let line = v.wait_for_error_line(&[
        "upstream sent invalid header",
        "while reading response header from upstream",
    ]);
    assert!(
        line.contains(&format!("upstream: \"http://127.0.0.1:{}/x\"", fake.port)),
        "{line}"
    );
}

#[test]
fn close_before_head_gives_502() {
    let fake = FakeUpstream::start("close_before_head");
    let v = proxy_to(&fake);
    let r = get(&v, "/x");
    assert_eq!(r.status, 502, "{r}");
    v.wait_for_error_line(&[
        "upstream prematurely closed connection while reading response header from upstream",
        "request: \"GET /x HTTP/1.1\"",
    ]);
}

#[test]
fn oversized_head_gives_502() {
    let fake = FakeUpstream::start("oversized_head");
    let v = proxy_to(&fake);
    let r = get(&v, "/x");
    assert_eq!(r.status, 502, "{r}");
    assert_eq!(r.header("x-filler"), None);
    v.wait_for_error_line(&[
        "upstream sent too big header while reading response header from upstream",
    ]);
}

#[test]
fn hanging_upstream_gives_504_after_proxy_read_timeout() {
    let fake = FakeUpstream::start("hang");
    let v = proxy_to(&fake);
    let r = get(&v, "/x");
    assert_eq!(r.status, 504, "{r}");
    assert!(r.text().contains("504 Gateway Time-out"), "{r}");
    v.wait_for_error_line(&[
        "upstream timed out (110: Connection timed out) while reading response header from upstream",
        "request: \"GET /x HTTP/1.1\"",
    ]);
}

/// A body cut short after the head went out: the client must see it cut short.
fn assert_cut_short(r: &Response, path: &str) {
    assert_eq!(r.status, 200, "{path}: {r}");
    assert_ne!(
        r.end,
        End::Complete,
        "{path}: a truncated body presented as complete: {r}"
    );
    assert_ne!(
        r.end,
        End::Timeout,
        "{path}: the connection was left open instead of closed: {r}"
    );
}

#[test]
fn reset_mid_body_with_content_length_closes_the_client_short() {
    let fake = FakeUpstream::start("reset_mid_body");
    let v = proxy_to(&fake);
    for path in ["/x", "/nobuf/x"] {
        let r = get(&v, path);
        assert_eq!(r.framing, Framing::Length(1_000_000), "{path}: {r}");
        assert!(r.body.len() < 1_000_000);
        assert_cut_short(&r, path);
    }
    v.wait_for_error_line(&["while reading upstream", "request: \"GET /x HTTP/1.1\""]);
}

#[test]
fn close_mid_body_with_content_length_closes_the_client_short() {
    let fake = FakeUpstream::start("close_mid_body");
    let v = proxy_to(&fake);
    for path in ["/x", "/nobuf/x"] {
        let r = get(&v, path);
        assert_eq!(r.framing, Framing::Length(1_000_000), "{path}: {r}");
        assert_eq!(r.body, common::pattern(100_000), "{path}");
        assert_cut_short(&r, path);
    }
    v.wait_for_error_line(&[
        "upstream prematurely closed connection while reading upstream",
        "request: \"GET /nobuf/x HTTP/1.1\"",
    ]);
}

#[test]
fn close_mid_chunked_body_sends_no_final_chunk() {
    let fake = FakeUpstream::start("close_mid_chunked");
    let v = proxy_to(&fake);
    for path in ["/x", "/nobuf/x"] {
        let r = get(&v, path);
        assert_eq!(r.framing, Framing::Chunked, "{path}: {r}");
        assert_eq!(r.text(), "first\nsecond\n", "{path}");
        assert_cut_short(&r, path);
    }
    v.wait_for_error_line(&["upstream prematurely closed connection while reading upstream"]);
}

#[test]
fn close_mid_body_on_a_keep_alive_connection_does_not_continue_it() {
    // The client asked for keep-alive; after a cut-short body the connection must end,
    // since the client cannot know where the next response would start.
    let fake = FakeUpstream::start("close_mid_body");
    let v = proxy_to(&fake);
    let mut c = v.client();
    c.send(b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n");
    let r = c.read_response(false);
    assert_cut_short(&r, "/x");
    let _ = c.try_send(b"GET /y HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert!(
        c.try_read_response(false).is_err(),
        "a second response followed a truncated one"
    );
}

/// An upstream that keeps connections alive by its headers but closes each one
/// (FIN, or RST with `reset`) shortly after answering: the connection vestibule pooled
/// is dead when the next request comes. Counts connections and requests.
struct Flaky {
    port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    closed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn flaky_upstream(reset: bool) -> Flaky {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (conns, done) = (Arc::clone(&connections), Arc::clone(&closed));
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            conns.fetch_add(1, Ordering::SeqCst);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                    .unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let length = head
                    .to_ascii_lowercase()
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:").map(str::to_string))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                let _ = r.read_exact(&mut body);
                let mut w = s;
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
                std::thread::sleep(std::time::Duration::from_millis(100));
                if reset {
                    // SO_LINGER 0: close() sends RST.
                    let linger = libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    };
                    use std::os::fd::AsRawFd;
                    // SAFETY: setsockopt on an open socket with a valid linger struct.
                    unsafe {
                        libc::setsockopt(
                            w.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_LINGER,
                            (&linger as *const libc::linger).cast(),
                            std::mem::size_of::<libc::linger>() as libc::socklen_t,
                        );
                    }
                }
                drop(r);
                drop(w);
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    Flaky {
        port,
        connections,
        closed,
    }
}

fn stale_pooled_connection_is_replaced(reset: bool) {
    use std::sync::atomic::Ordering;
    let up = flaky_upstream(reset);
    let v = Vestibule::start(&format!(
        "
upstream app {{ server 127.0.0.1:{}; keepalive 4; }}
server {{
    listen 127.0.0.1:@PORT@;
    server_name example.com;
    location / {{ proxy_pass http://app; }}
}}
",
        up.port
    ));
    let requests = [
        "GET /one HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        "GET /two HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        "POST /three HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    ];
    for (i, raw) in requests.iter().enumerate() {
        // Wait until the upstream has closed every connection it answered on.
        assert!(common::wait_until(common::IO_DEADLINE, || up
            .closed
            .load(Ordering::SeqCst)
            == i));
        let r = v.request(raw.as_bytes());
        assert_eq!(r.status, 200, "request {i} (reset: {reset}): {r}");
        assert_eq!(r.text(), "fresh");
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 3);
}

#[test]
fn stale_pooled_connection_closed_by_the_upstream_is_replaced() {
    stale_pooled_connection_is_replaced(false);
}

#[test]
fn stale_pooled_connection_reset_by_the_upstream_is_replaced() {
    stale_pooled_connection_is_replaced(true);
}

#[test]
fn ambiguous_upstream_framing_gives_502() {
    for (mode, words) in [
        (
            "cl_and_te",
            "upstream sent \"Content-Length\" and \"Transfer-Encoding\"",
        ),
        ("two_lengths", "upstream sent duplicate header line"),
    ] {
        let fake = FakeUpstream::start(mode);
        let v = proxy_to(&fake);
        let r = get(&v, "/x");
        assert_eq!(r.status, 502, "{mode}: {r}");
        assert!(!r.text().contains("hello"), "{mode}: passed through: {r}");
        v.wait_for_error_line(&[words]);
    }
}

#[test]
fn close_delimited_upstream_body_is_reframed_for_the_client() {
    let fake = FakeUpstream::start("close_delimited");
    let v = proxy_to(&fake);
    for path in ["/x", "/nobuf/x"] {
        // HTTP/1.1 client: chunked, with the final chunk (the body did end properly).
        let r = get(&v, path);
        assert_eq!(r.status, 200, "{path}: {r}");
        assert_eq!(r.framing, Framing::Chunked, "{path}: {r}");
        assert!(r.complete(), "{path}: {r}");
        assert_eq!(r.body, common::pattern(100_000), "{path}");
        // HTTP/1.0 client: close-delimited as well.
        let r = v.request(format!("GET {path} HTTP/1.0\r\nHost: example.com\r\n\r\n").as_bytes());
        assert_eq!(r.framing, Framing::Close, "{path}: {r}");
        assert_eq!(r.body, common::pattern(100_000), "{path}");
    }
}
