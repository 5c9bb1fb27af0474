//! `listen` parameters through the real binary over real sockets: `ipv6only=off` takes
//! IPv4 connections on `[::]`; `ipv6only=on` (the default) does not, and lets `listen
//! PORT` bind beside it, as certbot's `listen 443 ssl; listen [::]:443 ssl
//! ipv6only=on;` needs; the socket options reach the master's listening sockets (read
//! back through `pidfd_getfd`), and a reload that changes them sets them again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use common::Vestibule;

/// Whether this host has an IPv6 loopback (containers without one skip the IPv6 cases).
fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// `GET /` on a new connection to `addr`: the body, or `None` if nothing answers.
fn body_at(addr: &str) -> Option<String> {
    let addr: SocketAddr = addr.parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child's.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

#[test]
fn ipv6only_off_takes_ipv4_connections_on_the_ipv6_wildcard() {
    if !ipv6_loopback() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let dual = common::free_port();
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; listen [::]:{dual} ipv6only=off; \
         location / {{ return 200 \"$server_addr\"; }} }}"
    ));
    assert_eq!(
        body_at(&format!("127.0.0.1:{dual}")).as_deref(),
        Some("::ffff:127.0.0.1"),
        "{}",
        v.error_log()
    );
    assert_eq!(body_at(&format!("[::1]:{dual}")).as_deref(), Some("::1"));
}

/// certbot's pair: `listen PORT` and `listen [::]:PORT ipv6only=on` in one block (and
/// `listen [::]:PORT` without it in another): two sockets, one per family.
#[test]
fn ipv6only_on_binds_beside_the_ipv4_wildcard() {
    if !ipv6_loopback() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let shared = common::free_port();
    let v6_only = common::free_port();
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; listen {shared}; \
           location / {{ return 200 \"$server_addr\"; }} }}
         server {{ listen [::]:{shared} ipv6only=on; server_name a.test; \
           location / {{ return 200 \"v6 $server_addr\"; }} }}
         server {{ listen [::]:{shared}; server_name b.test; }}
         server {{ listen [::]:{v6_only}; return 200; }}"
    ));
    assert_eq!(
        body_at(&format!("127.0.0.1:{shared}")).as_deref(),
        Some("127.0.0.1"),
        "{}",
        v.error_log()
    );
    assert_eq!(
        body_at(&format!("[::1]:{shared}")).as_deref(),
        Some("v6 ::1")
    );
    // The default is on: IPv4 is not taken on [::].
    assert_eq!(body_at(&format!("127.0.0.1:{v6_only}")), None);
    assert_eq!(body_at(&format!("[::1]:{v6_only}")).as_deref(), Some(""));
}

/// A descriptor of the listening socket on `port` that process `pid` holds, taken
/// with `pidfd_getfd` (the master is our child, so this needs no privilege). `None`
/// when the kernel refuses (no pidfd_getfd, or a ptrace policy that forbids it).
fn listening_socket_of(pid: i32, port: u16) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return None;
    }
    // SAFETY: a descriptor pidfd_open just returned, owned here once.
    let pidfd = unsafe { OwnedFd::from_raw_fd(i32::try_from(pidfd).unwrap()) };
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let Some(n) = entry
            .ok()
            .and_then(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        else {
            continue;
        };
        // SAFETY: pidfd_getfd copies descriptor `n` of the process into this one, or
        // returns -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), n, 0) };
        if fd < 0 {
            continue;
        }
        // SAFETY: a new descriptor of ours, owned here once.
        let fd = unsafe { OwnedFd::from_raw_fd(i32::try_from(fd).unwrap()) };
        let sock = socket2::SockRef::from(&fd);
        let listening = sock.is_listener().unwrap_or(false);
        let local = sock.local_addr().ok().and_then(|a| a.as_socket());
        if listening && local.is_some_and(|a| a.port() == port) {
            return Some(fd);
        }
    }
    None
}

fn int_option(fd: &OwnedFd, level: i32, name: i32) -> i32 {
    let mut value: i32 = -1;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: value and len are live locals of the sizes passed.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::addr_of_mut!(value).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt({level}, {name})");
    value
}

#[test]
fn socket_options_reach_the_listening_socket_and_follow_a_reload() {
    let port = common::free_port();
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; return 200; }}
         server {{ listen 127.0.0.1:{port} rcvbuf=64k sndbuf=128k deferred fastopen=16 \
                   so_keepalive=30m:20s:4; return 200 \"options\"; }}"
    ));
    assert_eq!(
        body_at(&format!("127.0.0.1:{port}")).as_deref(),
        Some("options")
    );
    let Some(fd) = listening_socket_of(v.pid(), port) else {
        eprintln!("skipped: pidfd_getfd of the master's sockets is not allowed here");
        return;
    };
    let sock = socket2::SockRef::from(&fd);
    // Linux doubles what it is given (socket(7)).
    assert_eq!(sock.recv_buffer_size().unwrap(), 2 * 64 * 1024);
    assert_eq!(sock.send_buffer_size().unwrap(), 2 * 128 * 1024);
    assert!(sock.keepalive().unwrap());
    assert_eq!(sock.keepalive_time().unwrap(), Duration::from_secs(1800));
    assert_eq!(sock.keepalive_interval().unwrap(), Duration::from_secs(20));
    assert_eq!(sock.keepalive_retries().unwrap(), 4);
    assert!(int_option(&fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT) > 0);
    assert_eq!(int_option(&fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN), 16);
    drop(fd);

    // The same addresses: a reload in place, which sets the changed options on the
    // sockets the master keeps (deferred off, a smaller receive buffer).
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        "rcvbuf=64k sndbuf=128k deferred fastopen=16 so_keepalive=30m:20s:4",
        "rcvbuf=32k so_keepalive=off",
    );
    std::fs::write(&conf, text).unwrap();
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reloaded in place"]);
    let fd = listening_socket_of(v.pid(), port).unwrap();
    let sock = socket2::SockRef::from(&fd);
    assert_eq!(sock.recv_buffer_size().unwrap(), 2 * 32 * 1024);
    assert!(!sock.keepalive().unwrap());
    assert_eq!(
        int_option(&fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT),
        0
    );
    assert_eq!(
        body_at(&format!("127.0.0.1:{port}")).as_deref(),
        Some("options")
    );
}

/// `ipv6only` is fixed when a socket is bound: a reload that changes it says so and
/// keeps serving as before.
#[test]
fn a_reload_that_changes_ipv6only_says_it_needs_a_restart() {
    if !ipv6_loopback() {
        eprintln!("skipped: no IPv6 loopback");
        return;
    }
    let dual = common::free_port();
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; listen [::]:{dual} ipv6only=off; return 200 \"dual\"; }}"
    ));
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("ipv6only=off", "ipv6only=on");
    std::fs::write(&conf, text).unwrap();
    signal(v.pid(), libc::SIGHUP);
    let line = v.wait_for_error_line(&["ipv6only=on for [::]:"]);
    assert!(
        line.contains("takes effect when vestibule is restarted"),
        "{line}"
    );
    v.wait_for_error_line(&["reloaded in place"]);
    assert_eq!(
        body_at(&format!("127.0.0.1:{dual}")).as_deref(),
        Some("dual")
    );
}

/// Three consecutive loopback ports nobody listens on now (bounded tries).
fn free_port_run() -> u16 {
    for _ in 0..50 {
        let base = common::free_port();
        let Some(last) = base.checked_add(2) else {
            continue;
        };
        if (base..=last).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no run of three free ports after 50 tries");
}

/// `listen 127.0.0.1:A-B` (nginx 1.15.10+) binds every port of the range, each one
/// answering as the same server.
#[test]
fn a_port_range_binds_every_port() {
    let base = free_port_run();
    let last = base + 2;
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; return 200 \"main\\n\"; }}\n\
         server {{ listen 127.0.0.1:{base}-{last}; return 200 \"range $server_port\\n\"; }}"
    ));
    for port in base..=last {
        assert_eq!(
            body_at(&format!("127.0.0.1:{port}")).as_deref(),
            Some(format!("range {port}\n").as_str()),
            "port {port} of the range"
        );
    }
    assert_eq!(
        body_at(&format!("127.0.0.1:{}", v.port)).as_deref(),
        Some("main\n")
    );
}

/// A reversed range, a port out of bounds, more sockets than `worker_connections`
/// allows, and FreeBSD's `setfib=`: `-t` fails as nginx 1.22's does (checked against
/// it where installed), vestibule adding the line and why.
#[test]
fn listen_errors_as_nginx() {
    #[rustfmt::skip]
    let rows: &[(&str, &str, &str, &str)] = &[
        ("reversed range", "", "server { listen 127.0.0.1:8010-8000; }", "invalid port range in \"127.0.0.1:8010-8000\" of the \"listen\" directive"),
        ("port zero in a range", "", "server { listen 127.0.0.1:0-5; }", "invalid port in \"127.0.0.1:0-5\" of the \"listen\" directive"),
        ("port above 65535", "", "server { listen 8000-70000; }", "invalid port in \"8000-70000\" of the \"listen\" directive"),
        ("open range", "", "server { listen 127.0.0.1:8000-; }", "invalid port in \"127.0.0.1:8000-\" of the \"listen\" directive"),
        ("more sockets than connections", "worker_connections 16;", "server { listen 127.0.0.1:8000-8015; }", "16 worker_connections are not enough for 16 listening sockets"),
        ("setfib", "", "server { listen 8000 setfib=1; }", "invalid parameter \"setfib=1\""),
    ];
    let ours = env!("CARGO_BIN_EXE_vestibule");
    for (name, main, http, want) in rows {
        for program in [ours, common::nginx::NGINX] {
            if program != ours && !common::nginx::Nginx::available() {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let err = common::test_config_with_events(program, dir.path(), main, http);
            assert!(
                err.contains(want) && err.contains("test failed"),
                "{program}, {name}: want {want:?} in\n{err}"
            );
        }
    }
    // vestibule says why a FreeBSD parameter is refused, and where.
    let dir = tempfile::tempdir().unwrap();
    let err =
        common::test_config_with_events(ours, dir.path(), "", "server {\n listen 8000 setfib=1; }");
    assert!(
        err.contains("FreeBSD-only")
            && err.contains(&format!("{}:6", dir.path().join("t.conf").display())),
        "{err}"
    );
    // FreeBSD's accept filter is ignored with nginx's words, and the test passes.
    for program in [ours, common::nginx::NGINX] {
        if program != ours && !common::nginx::Nginx::available() {
            continue;
        }
        let err = common::test_config_with_events(
            program,
            dir.path(),
            "",
            "server { listen 8000 accept_filter=dataready; }",
        );
        assert!(
            err.contains("accept filters \"accept_filter=dataready\" are not supported on this platform, ignored")
                && err.contains("test is successful"),
            "{program}: {err}"
        );
    }
    // One socket short of the limit loads.
    let err = common::test_config_with_events(
        ours,
        dir.path(),
        "worker_connections 16;",
        "server { listen 127.0.0.1:8000-8014; }",
    );
    assert!(err.contains("test is successful"), "{err}");
}
