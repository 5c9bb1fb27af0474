//! Slow and numerous clients: 2,000 slowloris connections do not keep a normal client
//! from its answer; a head trickled byte by byte is cut off at `client_header_timeout`
//! (a deadline); at `worker_connections`, idle keep-alive connections are closed first
//! to make room (nginx's warning logged), and with none idle the new connection is
//! refused with nginx's alert. Timeouts leave the log lines nginx leaves: a 408 in the
//! access log for a head or body cut off, an info line for a connection that never
//! sent a byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Client, Driver, Vestibule};

const SERVER: &str = "
server {
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    client_header_timeout 30s;
    keepalive_timeout 60s;
    location / { return 200 \"ok\\n\"; }
}";

fn normal_request(v: &Vestibule) -> Duration {
    let start = Instant::now();
    let r = v.get("/", "localhost");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.text(), "ok\n");
    start.elapsed()
}

/// The slowloris head, one byte of which each connection sends per round.
const SLOW_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: abcdefghijklmnop";

#[test]
fn two_thousand_slowloris_connections_do_not_starve_a_normal_client() {
    const SLOW: usize = 2000;
    const ROUNDS: usize = 4;
    let main =
        "worker_processes 1;\nworker_rlimit_nofile 8192;\nevents { worker_connections 4096; }";
    let v = Vestibule::start_with_main(main, SERVER, "", Driver::Default);
    let mut slow: Vec<Client> = (0..SLOW).map(|_| Client::connect(v.port)).collect();
    let mut latencies = Vec::new();
    for round in 0..ROUNDS {
        for s in &mut slow {
            // Each holds a started head open: busy, never closed for room.
            s.send(&SLOW_HEAD[round..=round]);
        }
        latencies.push(normal_request(&v));
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("normal request latencies beside {SLOW} slowloris connections: {latencies:?}");
    // The slow connections were held, not dropped: each finishes its head now and is
    // answered.
    for s in slow.iter_mut().step_by(100) {
        s.send(&SLOW_HEAD[ROUNDS..]);
        s.send(b"\r\nConnection: close\r\n\r\n");
    }
    for s in slow.iter_mut().step_by(100) {
        let r = s.read_response(false);
        assert_eq!(r.status, 200, "{r}");
    }
    assert!(!v.error_log().contains("worker_connections are not enough"));
}

#[test]
fn a_trickled_head_is_cut_off_at_the_header_deadline() {
    let server = SERVER.replace("client_header_timeout 30s;", "client_header_timeout 1s;");
    let v = Vestibule::start(&server);
    let mut c = Client::connect(v.port);
    let start = Instant::now();
    let mut sent = 0;
    // One byte every 100 ms would take 6 s for the whole head; the deadline is 1 s
    // from the first byte, however often bytes arrive.
    for byte in SLOW_HEAD {
        if c.try_send(&[*byte]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
        if start.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    assert!(
        sent < SLOW_HEAD.len(),
        "the whole head went in: no deadline"
    );
    assert!(c.closed_by_peer(), "still open after {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(4));
    v.wait_for_error_line(&["client timed out", "while reading client request line"]);
}

/// A keep-alive connection that has been answered once and now waits.
fn idle_client(v: &Vestibule) -> Client {
    let mut c = Client::connect(v.port);
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{r}");
    c
}

fn worker_connections_make_room(driver: Driver) {
    const LIMIT: usize = 8;
    let main = format!("worker_processes 1;\nevents {{ worker_connections {LIMIT}; }}");
    let v = Vestibule::start_with_main(&main, SERVER, "", driver);
    // The harness's readiness probe connected once; let that connection end.
    std::thread::sleep(Duration::from_millis(200));

    // At the limit with every connection idle: a new client is served, and the oldest
    // idle one is the one closed.
    let mut idle: Vec<Client> = (0..LIMIT).map(|_| idle_client(&v)).collect();
    let r = v.get("/", "localhost");
    assert_eq!(r.status, 200, "{r}");
    assert!(
        idle[0].closed_by_peer(),
        "the oldest idle connection is still open"
    );
    v.wait_for_error_line(&[
        "[warn]",
        "8 worker_connections are not enough, reusing connections",
    ]);
    for c in idle.iter_mut().skip(2) {
        // Newer idle connections keep their keep-alive.
        c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(c.read_response(false).status, 200);
    }
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));

    // At the limit with every connection busy (a head begun): the new connection is
    // closed unanswered, nginx's alert is logged, and the busy ones are still served.
    let mut busy: Vec<Client> = (0..LIMIT)
        .map(|_| {
            let mut c = Client::connect(v.port);
            c.send(&SLOW_HEAD[..20]);
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut refused = Client::connect(v.port);
    let _ = refused.try_send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(
        refused.closed_by_peer(),
        "a connection over the limit was served"
    );
    v.wait_for_error_line(&["[alert]", "8 worker_connections are not enough"]);
    for c in &mut busy {
        c.send(&SLOW_HEAD[20..]);
        c.send(b"\r\n\r\n");
        assert_eq!(c.read_response(false).status, 200);
    }
}

#[test]
fn worker_connections_close_idle_connections_first() {
    worker_connections_make_room(Driver::Default);
}

#[test]
fn worker_connections_close_idle_connections_first_on_epoll() {
    worker_connections_make_room(Driver::Epoll);
}

#[test]
fn a_trickled_body_is_cut_off_at_the_body_deadline() {
    let fake = common::FakeUpstream::start("ok");
    let server = format!(
        "
server {{
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    client_body_timeout 1s;
    location / {{ proxy_pass http://127.0.0.1:{}; }}
}}",
        fake.port
    );
    let v = Vestibule::start(&server);
    let mut c = Client::connect(v.port);
    c.send(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n");
    let start = Instant::now();
    let mut sent = 0;
    // One byte per 100 ms would take 10 s; nginx's per-read timer would never fire.
    while sent < 100 && start.elapsed() < Duration::from_secs(5) {
        if c.try_send(b"x").is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(sent < 100, "the whole body went in: no deadline");
    v.wait_for_error_line(&[
        "client timed out (110: Connection timed out) while reading client request body",
    ]);
    // Answered 408 (or closed first).
    match c.try_read_response(false) {
        Ok(r) => assert_eq!(r.status, 408, "{r}"),
        Err(_) => assert!(c.closed_by_peer()),
    }
}

/// A client that requests a large file and stops reading holds its connection for
/// `send_timeout`, not longer: with sendfile and without (read and write in pieces),
/// so a client that never reads cannot pin a worker's connection.
#[test]
fn a_client_that_stops_reading_a_file_is_let_go_at_the_send_timeout() {
    const SIZE: usize = 32 << 20;
    for sendfile in ["on", "off"] {
        let servers = format!(
            "server {{
                listen 127.0.0.1:@PORT@;
                server_name localhost;
                send_timeout 1s;
                sendfile {sendfile};
                location /files/ {{ alias @DIR@/files/; }}
            }}"
        );
        let v = Vestibule::start_with_main("worker_processes 1;", &servers, "", Driver::Default);
        std::fs::create_dir_all(v.path("files")).unwrap();
        std::fs::write(v.path("files/big.bin"), common::pattern(SIZE)).unwrap();
        let opts = common::ClientOptions {
            rcvbuf: Some(16 * 1024),
            ..Default::default()
        };
        let mut c = Client::connect_with(v.port, opts);
        c.send(b"GET /files/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n");
        // Not reading: the socket buffers fill and the server's write waits.
        std::thread::sleep(Duration::from_millis(2500));
        // Reading now gets what was buffered, then the end: the server gave up. Had
        // it kept waiting, the whole file would arrive well within the deadline.
        c.deadline = Duration::from_secs(10);
        let got = c.read_raw(SIZE + 4096);
        assert!(
            got.len() < SIZE / 2,
            "sendfile {sendfile}: {} bytes arrived after the timeout",
            got.len()
        );
        // The worker is not stuck: a new client is answered.
        let r = v.get("/files/missing", "localhost");
        assert_eq!(r.status, 404, "{r}");
    }
}

/// A body that stops coming is answered at `client_body_timeout` (once, not twice:
/// the 408 used to wait a second period trying to discard the rest), the upstream is
/// never contacted, and the access log has the 408.
#[test]
fn a_stalled_body_is_answered_at_the_body_timeout_without_the_upstream() {
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_port = upstream.local_addr().unwrap().port();
    upstream.set_nonblocking(true).unwrap();
    let server = format!(
        "
server {{
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    client_body_timeout 2s;
    location / {{ proxy_pass http://127.0.0.1:{up_port}; }}
}}"
    );
    let v = Vestibule::start(&server);
    let mut c = Client::connect(v.port);
    let start = Instant::now();
    c.send(b"POST /pay HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc");
    match c.try_read_response(false) {
        Ok(r) => assert_eq!(r.status, 408, "{r}"),
        Err(_) => assert!(c.closed_by_peer()),
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_millis(3500),
        "answered after {waited:?}, client_body_timeout is 2s"
    );
    assert!(
        upstream.accept().is_err(),
        "the upstream was contacted for a body that never came"
    );
    v.wait_for_access_line("\"POST /pay HTTP/1.1\" 408");
}

/// A head cut off by `client_header_timeout` leaves nginx's lines: the error log's
/// info line with the request as far as it came, and a 408 in the access log with
/// `$request` as received (`"GET /partial"`) and the header lines that had arrived.
/// A connection that sends nothing gets "while waiting for request".
#[test]
fn timed_out_heads_and_idle_connections_are_logged_as_nginx_logs_them() {
    for driver in [Driver::Default, Driver::Epoll] {
        let server = SERVER.replace("client_header_timeout 30s;", "client_header_timeout 1s;");
        let v = Vestibule::start_with(&server, "", driver);
        let mut silent = Client::connect(v.port);
        let mut cut_line = Client::connect(v.port);
        cut_line.send(b"GET /partial");
        let mut cut_head = Client::connect(v.port);
        cut_head.send(b"GET /p2 HTTP/1.1\r\nUser-Agent: ua1\r\nHost: localhost\r\nX-Ha");
        for c in [&mut silent, &mut cut_line, &mut cut_head] {
            assert!(c.closed_by_peer(), "{driver:?}: still open");
        }
        v.wait_for_access_line("\"GET /partial\" 408 0");
        let line = v.wait_for_access_line("\"GET /p2 HTTP/1.1\" 408 0");
        assert!(line.contains("\"ua1\""), "{line}");
        v.wait_for_error_line(&[
            "[info]",
            "client timed out (110: Connection timed out) while reading client request line",
            "request: \"GET /partial\"",
        ]);
        v.wait_for_error_line(&[
            "client timed out (110: Connection timed out) while reading client request headers",
            "request: \"GET /p2 HTTP/1.1\", host: \"localhost\"",
        ]);
        v.wait_for_error_line(&[
            "[info]",
            "client timed out (110: Connection timed out) while waiting for request, client: 127.0.0.1, server: 127.0.0.1:",
        ]);
    }
}

/// A `return` (and a redirect) answers at once, before a slow body it does not need
/// has arrived, as nginx does; the body is then read and dropped so the connection
/// carries the next request.
#[test]
fn return_answers_before_a_slow_body_and_keeps_the_connection() {
    let server = "
server {
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    client_body_timeout 5s;
    location / { return 200 \"ok\\n\"; }
    location /moved { return 301 /new; }
}";
    let v = Vestibule::start(server);
    for path in ["/", "/moved"] {
        let mut c = Client::connect(v.port);
        let start = Instant::now();
        c.send(
            format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n012")
                .as_bytes(),
        );
        let r = c.read_response(false);
        let waited = start.elapsed();
        assert!(r.status == 200 || r.status == 301, "{r}");
        assert!(
            waited < Duration::from_secs(2),
            "{path}: answered after {waited:?}, once the body had timed out"
        );
        assert_eq!(r.header("connection"), Some("keep-alive"), "{r}");
        // The rest of the body, then the next request on the same connection.
        c.send(b"3456789GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let next = c.read_response(false);
        assert_eq!((next.status, next.text().as_str()), (200, "ok\n"), "{path}");
    }
    // A client waiting for 100 Continue gets it, then the answer.
    let mut c = Client::connect(v.port);
    c.send(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    // Exactly the interim response: the answer may arrive in the same read.
    let interim = c.read_raw(b"HTTP/1.1 100 Continue\r\n\r\n".len());
    assert!(
        interim.starts_with(b"HTTP/1.1 100 Continue"),
        "{:?}",
        String::from_utf8_lossy(&interim)
    );
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{r}");
    c.send(b"hello");
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
}
