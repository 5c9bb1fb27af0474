//! `limit_conn` through the real binary, with Gunicorn's `/slow` endpoint holding
//! requests open: with `limit_conn addr 1` a second concurrent request from the same
//! address is refused (503 and nginx's `limiting connections by zone "addr"`),
//! whichever of the two workers takes it, as nginx does; the count goes when the
//! request ends, also when the client went away; and a worker killed while holding
//! counts does not leave them behind (the master clears its column).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::nginx::Nginx;
use common::{wait_until, Client, Driver, Gunicorn, Vestibule};

const TWO_WORKERS: &str = "worker_processes 2; events { worker_connections 256; }";

fn servers(upstream: &str) -> String {
    format!(
        "limit_conn_zone $binary_remote_addr zone=addr:1m;
         server {{
             listen 127.0.0.1:@PORT@;
             server_name localhost;
             location / {{ limit_conn addr 1; proxy_pass {upstream}; }}
             location /quiet/ {{ limit_conn addr 1; limit_conn_status 429;
                 limit_conn_log_level info; proxy_pass {upstream}/;
                 add_header X-Conn $limit_conn_status always; }}
         }}"
    )
}

/// Sends `GET path` on a new connection without reading the answer.
fn send(port: u16, path: &str) -> Client {
    let mut c = Client::connect(port);
    c.send(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    c
}

fn status(port: u16, path: &str) -> u16 {
    send(port, path).read_response(false).status
}

/// One slow request held open, a second one, a third once the first is answered:
/// their statuses.
fn sequence(port: u16, second: &str) -> Vec<u16> {
    // The previous sequence's last request is released a moment after its client has
    // the answer (by the worker that served it): give that moment before counting.
    std::thread::sleep(Duration::from_millis(100));
    let mut held = send(port, "/slow?s=1.5");
    // The held request is counted (it is at the upstream) before the second is sent.
    std::thread::sleep(Duration::from_millis(300));
    let mut out = vec![status(port, second)];
    out.push(held.read_response(false).status);
    // The count goes once the worker has finished the request, a moment after the
    // client has the last byte: the next request may be sent in that moment.
    let mut third = 0;
    wait_until(Duration::from_secs(2), || {
        third = status(port, "/slow?s=0");
        third == 200
    });
    out.push(third);
    out
}

#[test]
fn a_second_concurrent_request_is_refused_as_nginx_refuses_it() {
    let gunicorn = Gunicorn::tcp(4);
    let servers = servers(&gunicorn.proxy_pass());
    let nginx = Nginx::start(&servers, |_| {}).map(|n| {
        let seen = sequence(n.port, "/slow?s=0");
        let log = n.error_log();
        (seen, log)
    });
    for driver in [Driver::Default, Driver::Epoll] {
        let v = Vestibule::start_with_main(TWO_WORKERS, &servers, "", driver);
        // Several times: the second request lands on either worker.
        for _ in 0..3 {
            assert_eq!(sequence(v.port, "/slow?s=0"), [503, 200, 200], "{driver:?}");
        }
        let line = v.wait_for_error_line(&["limiting connections by zone"]);
        assert!(
            line.contains("[error] ")
                && line.contains("limiting connections by zone \"addr\", client: 127.0.0.1, server: localhost, request: \"GET /slow?s=0 HTTP/1.1\", host: \"localhost\""),
            "{line}"
        );
        if let Some((seen, log)) = &nginx {
            assert_eq!(seen, &[503, 200, 200], "nginx");
            assert!(
                log.contains("limiting connections by zone \"addr\", client: 127.0.0.1, server: localhost, request: \"GET /slow?s=0 HTTP/1.1\", host: \"localhost\""),
                "{log}"
            );
        }
        // limit_conn_status and limit_conn_log_level.
        assert_eq!(sequence(v.port, "/quiet/slow?s=0"), [429, 200, 200]);
        let r = send(v.port, "/quiet/slow?s=0").read_response(false);
        assert_eq!((r.status, r.header("x-conn")), (200, Some("PASSED")));
        let mut held = send(v.port, "/quiet/slow?s=1");
        std::thread::sleep(Duration::from_millis(300));
        let r = send(v.port, "/quiet/slow?s=0").read_response(false);
        assert_eq!((r.status, r.header("x-conn")), (429, Some("REJECTED")));
        held.read_response(false);
        let log = v.error_log();
        let quiet = log
            .lines()
            .find(|l| l.contains("GET /quiet/"))
            .unwrap_or_else(|| panic!("{log}"));
        assert!(
            quiet.contains("[info] ") && quiet.contains(" limiting connections by zone \"addr\""),
            "{quiet}"
        );
    }
}

/// A client that closes its connection while its request waits for the upstream:
/// the count goes with the request, so the next request from the same address is
/// served (after the upstream's answer at the latest).
#[test]
fn a_client_that_goes_away_does_not_keep_its_count() {
    let gunicorn = Gunicorn::tcp(4);
    let v = Vestibule::start_with_main(
        TWO_WORKERS,
        &servers(&gunicorn.proxy_pass()),
        "",
        Driver::Default,
    );
    let held = send(v.port, "/slow?s=1");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status(v.port, "/slow?s=0"), 503);
    drop(held);
    let served = wait_until(Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(100));
        status(v.port, "/slow?s=0") == 200
    });
    assert!(served, "the count of the abandoned request was released");
}

/// A worker killed (SIGKILL) while it holds a request: its count would stay in the
/// shared zone forever (nginx keeps such counts until a restart); the master clears
/// the dead worker's column, so the replacement serves the address again.
#[test]
fn a_killed_worker_leaves_no_count_behind() {
    let gunicorn = Gunicorn::tcp(4);
    let v = Vestibule::start_with_main(
        "worker_processes 1; events { worker_connections 64; }",
        &servers(&gunicorn.proxy_pass()),
        "",
        Driver::Default,
    );
    let log = v.wait_for_error_line(&["start worker process"]);
    let worker: i32 = log
        .lines()
        .find_map(|l| l.split("start worker process ").nth(1))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _held = send(v.port, "/slow?s=10");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status(v.port, "/slow?s=0"), 503, "counted");
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our worker.
    assert_eq!(unsafe { libc::kill(worker, libc::SIGKILL) }, 0);
    v.wait_for_error_line(&["exited on signal 9"]);
    let served = wait_until(Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(100));
        Client::connect(v.port);
        status(v.port, "/slow?s=0") == 200
    });
    assert!(served, "the dead worker's count was cleared");
}

/// A reload that starts a new generation, with `worker_shutdown_timeout`: the old
/// worker exits with a request still in flight, and releases its count first, so
/// the address is served again once it is gone.
#[test]
fn a_worker_cut_off_by_shutdown_timeout_releases_its_counts() {
    let gunicorn = Gunicorn::tcp(4);
    let v = Vestibule::start_with_main(
        "worker_processes 1; worker_shutdown_timeout 1s; events { worker_connections 64; }",
        &servers(&gunicorn.proxy_pass()),
        "",
        Driver::Default,
    );
    let _held = send(v.port, "/slow?s=15");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status(v.port, "/slow?s=0"), 503, "counted");
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        text.replace("worker_processes 1;", "worker_processes 2;"),
    )
    .unwrap();
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child's.
    assert_eq!(unsafe { libc::kill(v.pid(), libc::SIGHUP) }, 0);
    let served = wait_until(Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(200));
        status(v.port, "/slow?s=0") == 200
    });
    assert!(served, "the cut-off request's count was released");
}
