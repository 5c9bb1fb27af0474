//! The proxy against scripted upstreams written here in Rust: a WebSocket-style
//! upgrade becomes a two-way byte relay; upstream keep-alive connections are reused;
//! a dead server in an `upstream` group costs no request and then rests
//! (`proxy_next_upstream`, `max_fails`); a burst beyond `keepalive` is pooled briefly,
//! then trimmed back to `keepalive`; `log_format` variables as the access log
//! writes them; and `listen unix:/path`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Driver, Vestibule};

/// Starts vestibule proxying `/` to an `upstream` group on `upstream_port`.
fn vestibule(upstream_port: u16, legacy: bool) -> Vestibule {
    let http = format!("upstream app {{ server 127.0.0.1:{upstream_port}; keepalive 8; }}");
    let servers = "server { listen 127.0.0.1:@PORT@; location / { proxy_pass http://app; proxy_read_timeout 5s; } }";
    Vestibule::start_with(
        servers,
        &http,
        if legacy {
            Driver::Epoll
        } else {
            Driver::Default
        },
    )
}

/// `GET /` on a new connection (`Connection: close`); the response must be a 200
/// whose body ends with `body`.
fn get_ok(port: u16, body: &str) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200 OK") && resp.ends_with(body),
        "{resp}"
    );
}

#[test]
fn upgrade_becomes_a_two_way_relay() {
    for legacy in [false, true] {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_port = upstream.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (s, _) = upstream.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let head = common::read_head(&mut r).to_ascii_lowercase();
            assert!(head.contains("upgrade: websocket"), "{head}");
            assert!(head.contains("connection: upgrade"), "{head}");
            // Echo until the client side closes.
            common::switch_and_echo(&mut r, s);
        });
        let v = vestibule(up_port, legacy);
        let mut c = TcpStream::connect(("127.0.0.1", v.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let head = common::read_head(&mut r);
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(
            head.to_ascii_lowercase().contains("upgrade: websocket"),
            "{head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        for msg in [&b"ping"[..], b"second message", &[0u8, 255, 10, 13]] {
            c.write_all(msg).unwrap();
            let mut got = vec![0u8; msg.len()];
            r.read_exact(&mut got).unwrap();
            assert_eq!(got, msg, "legacy={legacy}");
        }
        drop(r);
        c.shutdown(std::net::Shutdown::Both).unwrap();
        handle.join().unwrap();
    }
}

#[test]
fn upstream_keepalive_connections_are_reused() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up_port = upstream.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    std::thread::spawn(move || {
        for s in upstream.incoming() {
            let Ok(s) = s else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                loop {
                    let head = common::read_head(&mut r);
                    if head.is_empty() {
                        return;
                    }
                    let body = "pooled";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let v = vestibule(up_port, false);
    for _ in 0..20 {
        get_ok(v.port, "pooled");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one upstream connection served all 20 requests"
    );
}

/// A burst of 12 requests at once over `keepalive 8` needs 12 upstream connections.
/// All 12 stay pooled while they were just returned (closing 4 only to open 4 again
/// at the next burst is what cost the proxy its kernel time), and the 4 beyond
/// `keepalive` are closed once they have idled past the grace, with no request
/// needed to close them.
#[test]
fn a_burst_beyond_keepalive_is_pooled_briefly_then_trimmed_to_keepalive() {
    const BURST: usize = 12;
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up_port = upstream.local_addr().unwrap().port();
    let opened = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let (o, cl, ar) = (
        Arc::clone(&opened),
        Arc::clone(&closed),
        Arc::clone(&arrived),
    );
    std::thread::spawn(move || {
        for s in upstream.incoming() {
            let Ok(s) = s else { return };
            o.fetch_add(1, Ordering::SeqCst);
            let (closed, arrived) = (Arc::clone(&cl), Arc::clone(&ar));
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                loop {
                    if common::read_head(&mut r).is_empty() {
                        closed.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    // The burst's requests are answered only when all have arrived,
                    // so each one holds its own connection.
                    if arrived.fetch_add(1, Ordering::SeqCst) < BURST {
                        let deadline = std::time::Instant::now() + Duration::from_secs(5);
                        while arrived.load(Ordering::SeqCst) < BURST
                            && std::time::Instant::now() < deadline
                        {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                    let resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let http = format!("upstream app {{ server 127.0.0.1:{up_port}; keepalive 8; }}");
    let v = Vestibule::start_with_main(
        "worker_processes 1; events { worker_connections 512; }",
        "server { listen 127.0.0.1:@PORT@; location / { proxy_pass http://app; proxy_read_timeout 5s; } }",
        &http,
        Driver::Default,
    );
    let port = v.port;
    let burst: Vec<_> = (0..BURST)
        .map(|_| std::thread::spawn(move || get_ok(port, "ok")))
        .collect();
    for b in burst {
        b.join().unwrap();
    }
    let returned = std::time::Instant::now();
    assert_eq!(opened.load(Ordering::SeqCst), BURST);
    // Right after the burst nothing is closed (the check is skipped when this
    // machine stalled the test past the grace), and later requests reuse the pool.
    let closed_at_once = closed.load(Ordering::SeqCst);
    if returned.elapsed() < Duration::from_millis(50) {
        assert_eq!(closed_at_once, 0, "closed within the grace");
    }
    for _ in 0..3 {
        get_ok(port, "ok");
    }
    assert_eq!(opened.load(Ordering::SeqCst), BURST, "reused, none opened");
    // Past the grace (100 ms) and the worker's next look at its pool (every 100 ms).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while closed.load(Ordering::SeqCst) < BURST - 8 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        closed.load(Ordering::SeqCst),
        BURST - 8,
        "the connections beyond keepalive 8 are closed, the 8 stay"
    );
}

/// An upstream that answers every request on every connection with its own name.
fn named_upstream(name: &'static str) -> u16 {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = upstream.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in upstream.incoming() {
            let Ok(s) = s else { return };
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                while !common::read_head(&mut r).is_empty() {
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
                        name.len()
                    );
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// `proxy_next_upstream error` moves a request on from a server that refuses, and
/// `max_fails=1 fail_timeout=30s` keeps the dead server out of the rotation after.
#[test]
fn a_dead_server_in_a_group_costs_no_request() {
    let live = named_upstream("live");
    let dead = common::free_port(); // nothing listens here
    let http = format!(
        "upstream app {{ server 127.0.0.1:{dead} max_fails=1 fail_timeout=30s; server 127.0.0.1:{live}; }}"
    );
    let v = Vestibule::start_with(
        "server { listen 127.0.0.1:@PORT@; location / { proxy_pass http://app; } }",
        &http,
        Driver::Default,
    );
    for _ in 0..10 {
        let r = v.get("/", "example.com");
        assert_eq!((r.status, r.text().as_str()), (200, "live"));
    }
    let log = v.error_log();
    let refused = log
        .matches("connect() failed (111: Connection refused) while connecting to upstream")
        .count();
    assert_eq!(
        refused, 1,
        "the dead server is tried once, then rests:\n{log}"
    );
    assert!(
        log.contains(&format!("upstream: \"http://127.0.0.1:{dead}/\"")),
        "{log}"
    );
}

/// `log_format` variables through the binary: what the access log line says.
#[test]
fn access_log_format_variables() {
    let live = named_upstream("live");
    let http = "log_format probe '$remote_addr|$host|$request|$status|$body_bytes_sent|$upstream_addr|$upstream_status|$http_x_probe|$arg_q|$request_id|$server_port|$upstream_http_content_length';\n    access_log @DIR@/probe.log probe;";
    let v = Vestibule::start_with(
        &format!("server {{ listen 127.0.0.1:@PORT@; server_name probe.test; location / {{ proxy_pass http://127.0.0.1:{live}; }} }}"),
        http,
        Driver::Default,
    );
    let r = v.request(
        b"GET /x?q=42 HTTP/1.1\r\nHost: Probe.Test:80\r\nX-Probe: yes\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let line = v.wait_for_log_line("probe.log", "");
    let f: Vec<&str> = line.split('|').collect();
    assert_eq!(
        &f[..9],
        [
            "127.0.0.1",
            "probe.test",
            "GET /x?q=42 HTTP/1.1",
            "200",
            "4",
            &format!("127.0.0.1:{live}"),
            "200",
            "yes",
            "42"
        ]
    );
    assert_eq!(f[9].len(), 32, "request id: {line}");
    assert_eq!(f[10], v.port.to_string());
    // The upstream's own header, though the client's Content-Length is vestibule's.
    assert_eq!(f[11], "4", "$upstream_http_content_length: {line}");
}

/// `listen unix:/path`: clients on a unix socket are served like TCP ones.
#[test]
fn listens_on_a_unix_socket() {
    use std::os::unix::net::UnixStream;
    let v = Vestibule::start(
        "server { listen 127.0.0.1:@PORT@; listen unix:@DIR@/vestibule.sock; location / { return 200 \"over unix\\n\"; } }",
    );
    let mut s = UnixStream::connect(v.path("vestibule.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\r\n\r\nover unix\n"),
        "{out}"
    );
}

/// `error_page` with `=CODE` answers with that status; with a bare `=` the page's own
/// handler (here a named proxy location) decides.
#[test]
fn error_page_status_overrides() {
    let live = named_upstream("live");
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; root @DIR@/www;
           error_page 404 =200 /fallback.html;
           error_page 403 = @app;
           location /forbidden/ {{ return 403; }}
           location @app {{ proxy_pass http://127.0.0.1:{live}; }} }}"
    ));
    std::fs::create_dir_all(v.path("www")).unwrap();
    std::fs::write(v.path("www/fallback.html"), "fallback\n").unwrap();
    let missing = v.get("/no/such/page", "x");
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (200, "fallback\n")
    );
    let forbidden = v.get("/forbidden/x", "x");
    assert_eq!((forbidden.status, forbidden.text().as_str()), (200, "live"));
}

/// USR1 reopens the logs (logrotate's `postrotate`), and TERM writes the buffered
/// access log lines, removes the pid file and exits cleanly.
#[test]
fn usr1_reopens_logs_and_term_flushes_them() {
    let v = Vestibule::start("server { listen 127.0.0.1:@PORT@; location / { return 204; } }");
    let access = v.path("access.log");
    assert_eq!(v.get("/before", "x").status, 204);
    let wait = |what: &str, ok: &dyn Fn() -> bool| {
        assert!(common::wait_until(Duration::from_secs(10), ok), "{what}");
    };
    wait("first line written", &|| {
        std::fs::read_to_string(&access)
            .unwrap_or_default()
            .contains("/before")
    });
    let rotated = v.path("access.log.1");
    std::fs::rename(&access, &rotated).unwrap();
    let pid = v.pid();
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
    // The master reopens its log and passes USR1 on; the worker says so too.
    wait("master and worker reopened", &|| {
        v.error_log().matches("reopening logs").count() >= 2
    });
    assert_eq!(v.get("/after", "x").status, 204);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait("the process exits", &|| {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
    });
    let fresh = std::fs::read_to_string(&access).unwrap();
    assert!(
        fresh.contains("/after") && !fresh.contains("/before"),
        "{fresh}"
    );
    assert!(std::fs::read_to_string(&rotated)
        .unwrap()
        .contains("/before"));
    assert!(
        !v.path("vestibule.pid").exists(),
        "pid file removed on exit"
    );
}

/// QUIT is graceful: a request in flight is answered whole, an idle keep-alive
/// connection is closed at once, then the process exits.
#[test]
fn quit_finishes_requests_in_flight() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in upstream.incoming() {
            let Ok(s) = s else { return };
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                common::read_head(&mut r);
                std::thread::sleep(Duration::from_millis(800));
                let mut w = s;
                let _ = w.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow",
                );
            });
        }
    });
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; location / {{ proxy_pass http://127.0.0.1:{up}; }} location = /fast {{ return 204; }} }}"
    ));
    // An idle keep-alive connection.
    let mut idle = v.client();
    idle.send(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(idle.read_response(false).status, 204);
    // A request in flight.
    let port = v.port;
    let in_flight = std::thread::spawn(move || {
        let mut c = common::Client::connect(port);
        c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
        c.read_response(false)
    });
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child's.
    assert_eq!(unsafe { libc::kill(v.pid(), libc::SIGQUIT) }, 0);
    let r = in_flight.join().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slow"));
    assert_eq!(
        r.header("connection"),
        Some("close"),
        "no keep-alive while shutting down"
    );
    v.wait_for_error_line(&["gracefully shutting down"]);
    v.wait_for_error_line(&["exiting"]);
    assert!(
        idle.try_read_response(false).is_err(),
        "the idle connection was closed"
    );
}
