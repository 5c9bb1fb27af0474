//! Zones through the real binary: the upstream fail counts live in a zone every
//! worker shares, so `max_fails` holds for the whole server (as nginx's with `zone`),
//! a server marked down stays down across an in-place reload (the zone is kept: same
//! name and size), and a reload that changes the zone's size starts a fresh one.
//!
//! The failing server accepts, reads the request and closes without answering (an
//! `error` for `proxy_next_upstream`, so every client request is still answered by
//! the good server); its accept count is the number of attempts all workers made.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Driver, Vestibule};

/// An upstream on a loopback port: reads each request head and answers it (`good`),
/// or closes the connection unanswered. Returns the port and the accept count.
fn upstream(good: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                loop {
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    if !good {
                        return;
                    }
                    let resp = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood";
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, accepted)
}

/// Two workers, and `upstream app` with the failing server first.
fn start(bad: u16, good: u16, driver: Driver) -> Vestibule {
    Vestibule::start_with_main(
        "worker_processes 2; events { worker_connections 64; }",
        "server { listen 127.0.0.1:@PORT@; add_header X-Pid $pid;
            location / { proxy_pass http://app; } }",
        &upstreams(bad, good, ""),
        driver,
    )
}

fn upstreams(bad: u16, good: u16, extra: &str) -> String {
    format!(
        "upstream app {{ server 127.0.0.1:{bad} max_fails=2 fail_timeout=30s; \
         server 127.0.0.1:{good} max_fails=2 fail_timeout=30s; }}\n{extra}"
    )
}

/// Requests on fresh connections (the kernel spreads them over the workers'
/// sockets) until every worker in `pids`, or 2 distinct ones when `pids` is empty,
/// answered at least `each`; returns the answers per worker pid. Bounded.
fn spread(v: &Vestibule, each: usize) -> BTreeMap<i32, usize> {
    let mut by_pid = BTreeMap::new();
    for _ in 0..600 {
        let r = v.get("/", "x");
        assert_eq!((r.status, r.text()), (200, "good".to_owned()));
        let pid: i32 = r.header("x-pid").unwrap().parse().unwrap();
        *by_pid.entry(pid).or_insert(0) += 1;
        if by_pid.len() >= 2 && by_pid.values().all(|n| *n >= each) {
            return by_pid;
        }
    }
    panic!("requests did not reach both workers: {by_pid:?}");
}

/// With counts per worker, each of the two workers would try the failing server
/// `max_fails` (2) times before resting it: 4 attempts. Shared, the two failures
/// any workers see mark it down for all: 2.
#[test]
fn max_fails_counts_the_failures_of_every_worker() {
    for driver in [Driver::Default, Driver::Epoll] {
        let (bad, bad_attempts) = upstream(false);
        let (good, _) = upstream(true);
        let v = start(bad, good, driver);
        let served = spread(&v, 10);
        assert_eq!(
            bad_attempts.load(Ordering::SeqCst),
            2,
            "max_fails=2 for the whole server ({driver:?}, answers per worker: {served:?})"
        );
    }
}

/// An in-place reload keeps the zone (same name and size): the server marked down
/// stays down in both workers. A reload that changes the zone's size (more servers)
/// gets a fresh zone and a new generation, where the failing server is tried again.
#[test]
fn a_server_down_stays_down_across_a_reload_and_a_resized_zone_starts_afresh() {
    let (bad, bad_attempts) = upstream(false);
    let (good, _) = upstream(true);
    let v = start(bad, good, Driver::Default);
    spread(&v, 10);
    assert_eq!(bad_attempts.load(Ordering::SeqCst), 2);
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("X-Pid", "X-PID")).unwrap();
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reloaded in place by 2 of 2"]);
    spread(&v, 10);
    assert_eq!(
        bad_attempts.load(Ordering::SeqCst),
        2,
        "still down after the reload: the zone was kept"
    );
    // 40 more servers: the table needs 128 rows, not 64.
    let more: String = (1..=40)
        .map(|i| format!("server 127.0.0.{}:{good};", i + 1))
        .collect();
    let text = std::fs::read_to_string(&conf).unwrap();
    let resized = text.replace(
        &upstreams(bad, good, ""),
        &upstreams(bad, good, &format!("upstream other {{ {more} }}")),
    );
    assert_ne!(resized, text);
    std::fs::write(&conf, resized).unwrap();
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["the shared zones changed: starting new worker processes"]);
    let before = bad_attempts.load(Ordering::SeqCst);
    common::wait_until(Duration::from_secs(10), || {
        let r = v.get("/", "x");
        r.status == 200 && bad_attempts.load(Ordering::SeqCst) > before
    });
    let after = bad_attempts.load(Ordering::SeqCst);
    assert!(
        (3..=4).contains(&after),
        "a fresh zone: the failing server is tried again, and rests after 2 ({after})"
    );
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child's.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// Stops a process that is not the harness's child (a new master after USR2).
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

fn read_pid(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// USR2 passes the zones' memfds to the new binary with the listeners: its workers
/// find the failing server already down (2 attempts in all, not 2 more).
#[test]
fn a_usr2_upgrade_hands_the_zones_to_the_new_binary() {
    let (bad, bad_attempts) = upstream(false);
    let (good, _) = upstream(true);
    let v = start(bad, good, Driver::Default);
    spread(&v, 10);
    assert_eq!(bad_attempts.load(Ordering::SeqCst), 2);
    let pid_file = v.path("vestibule.pid");
    let old_master = v.pid();
    assert!(common::wait_until(Duration::from_secs(10), || read_pid(
        &pid_file
    )
        == old_master));
    signal(old_master, libc::SIGUSR2);
    let mut new_master = 0;
    assert!(
        common::wait_until(Duration::from_secs(10), || {
            new_master = read_pid(&pid_file);
            new_master != 0 && new_master != old_master
        }),
        "the new master wrote its pid: {}",
        v.error_log()
    );
    let _new_master = KillOnDrop(new_master);
    let started_by_new = format!("{new_master}#{new_master}: start worker process");
    assert!(
        common::wait_until(Duration::from_secs(10), || v
            .error_log()
            .matches(&started_by_new)
            .count()
            == 2),
        "the new master's workers started: {}",
        v.error_log()
    );
    signal(old_master, libc::SIGWINCH);
    signal(old_master, libc::SIGQUIT);
    v.wait_for_error_line(&[&format!("{old_master}#{old_master}: exit")]);
    let served = spread(&v, 10);
    let log = v.error_log();
    signal(new_master, libc::SIGTERM);
    assert_eq!(
        bad_attempts.load(Ordering::SeqCst),
        2,
        "the new binary's workers share the zone (answers per worker: {served:?}); log:\n{log}"
    );
    assert!(!log.contains("not a vestibule zone"), "{log}");
}
