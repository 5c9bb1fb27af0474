//! An upstream that misbehaves (`tests/apps/fake_upstream.py`): each fault is answered
//! as nginx answers it — 502 or 504 with its error-log line when nothing has been sent
//! yet, and, once a response has started, a client connection that is closed with the
//! body visibly incomplete (fewer bytes than `Content-Length`, no final chunk), never a
//! truncated body presented as whole. [`FAULTS`] is the table; the last test runs all
//! of it against one worker and checks that the worker survived without leaking.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{End, FakeUpstream, Framing, Response, Vestibule};

/// Vestibule in front of an upstream port: `/` buffered (the default), `/nobuf/` with
/// `proxy_buffering off`, both with a 1 s read timeout.
fn proxy_to_port(port: u16) -> Vestibule {
    let up = format!("http://127.0.0.1:{port}");
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

fn proxy_to(fake: &FakeUpstream) -> Vestibule {
    proxy_to_port(fake.port)
}

fn get(v: &Vestibule, path: &str) -> Response {
    v.get(path, "example.com")
}

/// What the client must see for a fault.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// vestibule's own error page: nothing of the upstream's answer got through.
    Page(u16),
    /// The upstream's 200 with this body, whole.
    Served(&'static str),
    /// The upstream's 200 with its body cut short, then a closed connection.
    CutShort,
}

/// One upstream fault: the `fake_upstream.py` mode (the last path segment in
/// `by_path` mode), what the client gets, and the start of the error-log line.
struct Fault {
    mode: &'static str,
    outcome: Outcome,
    log: Option<&'static str>,
}

const HEAD: &str = "while reading response header from upstream";

/// Every fault, in nginx's words. "refused" is not a mode: nothing listens.
const FAULTS: &[Fault] = &[
    Fault {
        mode: "refused",
        outcome: Outcome::Page(502),
        log: Some("connect() failed (111: Connection refused) while connecting to upstream"),
    },
    Fault {
        mode: "reset_before_head",
        outcome: Outcome::Page(502),
        log: Some("recv() failed (104: Connection reset by peer) while reading response header from upstream"),
    },
    Fault {
        mode: "close_before_head",
        outcome: Outcome::Page(502),
        log: Some("upstream prematurely closed connection while reading response header from upstream"),
    },
    Fault {
        mode: "hang",
        outcome: Outcome::Page(504),
        log: Some("upstream timed out (110: Connection timed out) while reading response header from upstream"),
    },
    // proxy_read_timeout bounds the whole head, as in nginx: a head trickled byte by
    // byte over longer than the timeout gets 504 at the timeout.
    Fault {
        mode: "trickle_head",
        outcome: Outcome::Page(504),
        log: Some("upstream timed out (110: Connection timed out) while reading response header from upstream"),
    },
    Fault {
        mode: "garbage",
        outcome: Outcome::Page(502),
        log: Some("upstream sent no valid HTTP/1.0 header"),
    },
    Fault {
        mode: "oversized_head",
        outcome: Outcome::Page(502),
        log: Some("upstream sent too big header while reading response header from upstream"),
    },
    Fault {
        mode: "two_lengths",
        outcome: Outcome::Page(502),
        log: Some("upstream sent duplicate header line"),
    },
    Fault {
        mode: "cl_and_te",
        outcome: Outcome::Page(502),
        log: Some("upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time while reading response header from upstream"),
    },
    Fault {
        mode: "reset_mid_body",
        outcome: Outcome::CutShort,
        log: Some("recv() failed (104: Connection reset by peer) while reading upstream"),
    },
    Fault {
        mode: "close_mid_body",
        outcome: Outcome::CutShort,
        log: Some("upstream prematurely closed connection while reading upstream"),
    },
    Fault {
        mode: "stall_mid_body",
        outcome: Outcome::CutShort,
        log: Some("upstream timed out (110: Connection timed out) while reading upstream"),
    },
    Fault {
        mode: "close_mid_chunked",
        outcome: Outcome::CutShort,
        log: Some("upstream prematurely closed connection while reading upstream"),
    },
    // A framing error in the body: the client's connection closes at once (the
    // upstream keeps its own open, so nothing else would end it).
    Fault {
        mode: "bad_chunk",
        outcome: Outcome::CutShort,
        log: Some("upstream sent invalid chunked response"),
    },
];

fn fault(mode: &str) -> &'static Fault {
    FAULTS
        .iter()
        .find(|f| f.mode == mode)
        .unwrap_or_else(|| panic!("no fault {mode}"))
}

/// Requests `path` and checks the fault's outcome and its error-log line (among the
/// lines written since `log_from`, naming this request). Returns the response.
fn check(v: &Vestibule, f: &Fault, path: &str, log_from: usize) -> Response {
    let r = get(v, path);
    let what = format!("{} at {path}", f.mode);
    match f.outcome {
        Outcome::Page(status) => {
            assert_eq!(r.status, status, "{what}: {r}");
            assert!(r.complete(), "{what}: {r}");
            assert!(
                r.text().contains(&format!("<title>{status} ")),
                "{what}: not vestibule's page: {r}"
            );
        }
        Outcome::Served(body) => {
            assert_eq!(r.status, 200, "{what}: {r}");
            assert!(r.complete(), "{what}: {r}");
            assert_eq!(r.text(), body, "{what}");
        }
        Outcome::CutShort => assert_cut_short(&r, &what),
    }
    if let Some(words) = f.log {
        let request = format!("request: \"GET {path} HTTP/1.1\"");
        let logged = common::wait_until(common::IO_DEADLINE, || {
            v.error_log().get(log_from..).is_some_and(|new| {
                new.lines()
                    .any(|l| l.contains(words) && l.contains(&request))
            })
        });
        assert!(
            logged,
            "{what}: no error-log line with {words:?} and {request:?}; new lines:\n{}",
            v.error_log().get(log_from..).unwrap_or_default()
        );
    }
    r
}

#[test]
fn fake_upstream_ok_mode_works_through_the_proxy() {
    let fake = FakeUpstream::start("ok");
    let v = proxy_to(&fake);
    let r = get(&v, "/");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.text(), "ok\n");
}

/// Runs one fault through its own fake upstream, at `/x` and (for body faults, where
/// buffering matters) `/nobuf/x`.
fn run_alone(mode: &str) -> (FakeUpstream, Vestibule, Vec<Response>) {
    let f = fault(mode);
    let fake = FakeUpstream::start(mode);
    let v = proxy_to(&fake);
    let paths: &[&str] = match f.outcome {
        Outcome::CutShort => &["/x", "/nobuf/x"],
        _ => &["/x"],
    };
    let responses = paths
        .iter()
        .map(|path| check(&v, f, path, v.error_log().len()))
        .collect();
    (fake, v, responses)
}

#[test]
fn refused_connection_gives_502() {
    // A port that was bound and released: nothing listens there.
    let port = common::free_port();
    let v = proxy_to_port(port);
    check(&v, fault("refused"), "/x", 0);
    v.wait_for_error_line(&[&format!("upstream: \"http://127.0.0.1:{port}/x\"")]);
}

#[test]
fn reset_before_head_gives_502() {
    run_alone("reset_before_head");
}

#[test]
fn garbage_status_line_gives_502_not_the_garbage() {
    let (fake, v, _) = run_alone("garbage");
    let r = get(&v, "/nobuf/x");
    assert_eq!(r.status, 502, "{r}");
    for r in [r, get(&v, "/x")] {
        assert!(!r.text().contains("garbage"), "passed through: {r}");
        assert_eq!(r.header("x-garbage"), None, "{r}");
    }
    let line = v.wait_for_error_line(&["upstream sent no valid HTTP/1.0 header", HEAD]);
    assert!(
        line.contains(&format!("upstream: \"http://127.0.0.1:{}/x\"", fake.port)),
        "{line}"
    );
}

#[test]
fn close_before_head_gives_502() {
    run_alone("close_before_head");
}

#[test]
fn oversized_head_gives_502() {
    let (_fake, _v, responses) = run_alone("oversized_head");
    assert_eq!(responses[0].header("x-filler"), None);
}

#[test]
fn hanging_upstream_gives_504_after_proxy_read_timeout() {
    let (_fake, _v, responses) = run_alone("hang");
    assert!(responses[0].text().contains("504 Gateway Time-out"));
}

/// The head arrives one byte per 100 ms (3.8 s in all); `proxy_read_timeout` is 1 s
/// for the whole head, as nginx arms it: 504 at the timeout. A per-read timer let
/// the trickle hold the client for as long as it lasted.
#[test]
fn trickled_head_gives_504_at_proxy_read_timeout() {
    let started = Instant::now();
    let (_fake, _v, responses) = run_alone("trickle_head");
    assert!(responses[0].text().contains("504 Gateway Time-out"));
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "answered after {:?}: the trickle held the client",
        started.elapsed()
    );
}

/// A body cut short after the head went out: the client must see it cut short.
fn assert_cut_short(r: &Response, what: &str) {
    assert_eq!(r.status, 200, "{what}: {r}");
    assert_ne!(
        r.end,
        End::Complete,
        "{what}: a truncated body presented as complete: {r}"
    );
    assert_ne!(
        r.end,
        End::Timeout,
        "{what}: the connection was left open instead of closed: {r}"
    );
}

#[test]
fn reset_mid_body_with_content_length_closes_the_client_short() {
    let (_fake, _v, responses) = run_alone("reset_mid_body");
    for r in responses {
        assert_eq!(r.framing, Framing::Length(1_000_000), "{r}");
        assert!(r.body.len() < 1_000_000);
    }
}

#[test]
fn close_mid_body_with_content_length_closes_the_client_short() {
    let (_fake, _v, responses) = run_alone("close_mid_body");
    for r in responses {
        assert_eq!(r.framing, Framing::Length(1_000_000), "{r}");
        assert_eq!(r.body, common::pattern(100_000));
    }
}

#[test]
fn stalled_body_is_cut_at_proxy_read_timeout() {
    let (_fake, _v, responses) = run_alone("stall_mid_body");
    for r in responses {
        assert_eq!(r.framing, Framing::Length(1_000_000), "{r}");
        assert_eq!(r.body, common::pattern(100_000));
    }
}

#[test]
fn close_mid_chunked_body_sends_no_final_chunk() {
    let (_fake, _v, responses) = run_alone("close_mid_chunked");
    for r in responses {
        assert_eq!(r.framing, Framing::Chunked, "{r}");
        assert_eq!(r.text(), "first\nsecond\n");
    }
}

/// A bad chunk from the upstream ends the client's connection after what was valid:
/// no final chunk, no second response on it, though the client asked for keep-alive
/// and the upstream's bytes after the fault look like more chunks.
#[test]
fn a_bad_chunk_from_the_upstream_closes_the_client_connection() {
    let fake = FakeUpstream::start("bad_chunk");
    let v = proxy_to(&fake);
    let mut c = v.client();
    c.send(b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n");
    let r = c.read_response(false);
    assert_cut_short(&r, "/x");
    assert!(!r.text().contains("second"), "{r}");
    // nginx's context names the whole upstream URL, path included.
    v.wait_for_error_line(&[
        "upstream sent invalid chunked response",
        &format!("upstream: \"http://127.0.0.1:{}/x\"", fake.port),
    ]);
    let _ = c.try_send(b"GET /y HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert!(
        c.try_read_response(false).is_err(),
        "a second response followed a broken one"
    );
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
    for mode in ["cl_and_te", "two_lengths"] {
        let (_fake, _v, responses) = run_alone(mode);
        assert!(
            !responses[0].text().contains("hello"),
            "{mode}: passed through"
        );
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

/// The worker of a one-worker vestibule (the template leaves `worker_processes` at
/// its default, 1, as nginx's).
fn only_worker(v: &Vestibule) -> i32 {
    let mut workers = Vec::new();
    common::wait_until(common::IO_DEADLINE, || {
        workers = common::child_pids(v.pid());
        workers.len() == 1
    });
    match workers.as_slice() {
        [w] => *w,
        other => panic!("expected one worker, found {other:?}"),
    }
}

/// The worker's descriptors once no client connection is open: a last request is
/// read to the server's close, then the count may still drop for a moment (the close
/// can lag the FIN the client sees); the smallest count seen is the baseline.
fn settled_fds(v: &Vestibule, worker: i32) -> Vec<(i32, String)> {
    let mut c = v.client();
    c.send(b"GET /faults/ok HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
    assert!(c.closed_by_peer());
    let mut fds = common::open_fds(worker);
    let first = fds.len();
    common::wait_until(Duration::from_millis(500), || {
        fds = common::open_fds(worker);
        fds.len() < first
    });
    fds
}

/// Every fault of [`FAULTS`], buffered and unbuffered, in turn against one worker:
/// each gets its outcome and log line, and afterwards the worker is the same process
/// (nothing crashed it) with the descriptors it had before (nothing leaked). No
/// upstream keep-alive, so no pooled connection holds a descriptor legitimately.
#[test]
fn all_faults_in_turn_leave_one_worker_alive_without_leaks() {
    let fake = FakeUpstream::start("by_path");
    let refused = common::free_port();
    let v = Vestibule::start(&format!(
        "
upstream faults {{ server 127.0.0.1:{fake}; keepalive 0; }}
upstream refused {{ server 127.0.0.1:{refused}; keepalive 0; }}
server {{
    listen 127.0.0.1:@PORT@;
    server_name example.com;
    proxy_read_timeout 1s;
    location /faults/ {{ proxy_pass http://faults; }}
    location /nobuf/faults/ {{ proxy_pass http://faults; proxy_buffering off; }}
    location /refused/ {{ proxy_pass http://refused; }}
}}
",
        fake = fake.port
    ));
    let worker = only_worker(&v);
    // A first proxied request, so that whatever a worker opens once is open.
    let ok = Fault {
        mode: "ok",
        outcome: Outcome::Served("ok\n"),
        log: None,
    };
    check(&v, &ok, "/faults/ok", 0);
    let baseline = settled_fds(&v, worker);

    for f in FAULTS {
        let paths = match (f.mode, f.outcome) {
            ("refused", _) => vec!["/refused/x".to_string()],
            (mode, Outcome::CutShort) => {
                vec![format!("/faults/{mode}"), format!("/nobuf/faults/{mode}")]
            }
            (mode, _) => vec![format!("/faults/{mode}")],
        };
        for path in paths {
            check(&v, f, &path, v.error_log().len());
        }
    }
    check(&v, &ok, "/faults/ok", 0);

    assert_eq!(
        common::child_pids(v.pid()),
        vec![worker],
        "the worker was replaced; error.log:\n{}",
        v.error_log()
    );
    // Closes may lag the responses a little.
    let mut now = Vec::new();
    let back = common::wait_until(Duration::from_secs(5), || {
        now = common::open_fds(worker);
        now.len() <= baseline.len()
    });
    assert!(
        back,
        "the worker holds {} descriptors, {} before the faults:\nbefore: {baseline:?}\nafter: {now:?}",
        now.len(),
        baseline.len()
    );
}
