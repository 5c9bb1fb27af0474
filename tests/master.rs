//! The master and its workers, through the real binary with real signals: workers
//! respawn after `kill -9`, `HUP` swaps the configuration with no failed request, a
//! broken configuration is refused and the old one keeps serving, and systemd hears
//! `READY=1`, `RELOADING=1`, `READY=1`, `STOPPING=1` in that order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Vestibule;

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; the pids are our children's.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// Worker pids the master announced (`start worker process PID`), in order.
fn worker_pids(v: &Vestibule) -> Vec<i32> {
    v.error_log()
        .lines()
        .filter_map(|l| l.split("start worker process ").nth(1))
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// `kill -9` of a worker, returning once the master has logged its death.
fn kill_worker(v: &Vestibule, pid: i32) {
    signal(pid, libc::SIGKILL);
    v.wait_for_error_line(&[&format!("worker process {pid} exited on signal 9")]);
}

fn site(text: &str) -> String {
    format!("server {{ listen 127.0.0.1:@PORT@; location / {{ return 200 \"{text}\"; }} }}")
}

/// Client threads looping requests until [`Load::finish`]: how many ran, which failed,
/// what they answered.
struct Load {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicUsize>,
    answers: Arc<std::sync::Mutex<Vec<String>>>,
    clients: Vec<std::thread::JoinHandle<usize>>,
}

impl Load {
    fn start(port: u16, threads: usize, keep_alive: bool) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(std::sync::Mutex::new(Vec::new()));
        let clients = (0..threads)
            .map(|_| {
                load_with(
                    port,
                    keep_alive,
                    Arc::clone(&stop),
                    Arc::clone(&failures),
                    Arc::clone(&answers),
                )
            })
            .collect();
        Load {
            stop,
            failures,
            answers,
            clients,
        }
    }

    /// Stops the clients; returns (requests, failures, answers).
    fn finish(self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let total = self.clients.into_iter().map(|c| c.join().unwrap()).sum();
        let answers = std::mem::take(&mut *self.answers.lock().unwrap());
        (total, self.failures.load(Ordering::SeqCst), answers)
    }
}

/// Requests in a bounded loop until `stop`, counting failures: on one keep-alive
/// connection per thread when `keep_alive` (a reload in place must not close it), else
/// on a fresh connection each.
fn load_with(
    port: u16,
    keep_alive: bool,
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicUsize>,
    answers: Arc<std::sync::Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut done = 0;
        let mut kept = keep_alive.then(|| common::Client::connect(port));
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline && done < 20_000 {
            let mut fresh;
            let c = match kept.as_mut() {
                Some(c) => {
                    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
                    c
                }
                None => {
                    fresh = common::Client::connect(port);
                    fresh.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    &mut fresh
                }
            };
            match c.try_read_response(false) {
                Ok(r) if r.status == 200 => {
                    // `keepalive_requests` (1000) ends a connection with
                    // `Connection: close`; a client then opens a new one.
                    if r.header("connection") == Some("close") && kept.is_some() {
                        kept = Some(common::Client::connect(port));
                    }
                    answers.lock().unwrap().push(r.text());
                }
                other => {
                    eprintln!("failed request: {other:?}");
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
            done += 1;
        }
        done
    })
}

#[test]
fn a_killed_worker_is_respawned_on_the_same_sockets() {
    let v = Vestibule::start_with(&site("one"), "", common::Driver::Default);
    assert!(common::wait_until(Duration::from_secs(10), || worker_pids(
        &v
    )
    .len()
        == 1));
    kill_worker(&v, worker_pids(&v)[0]);
    assert!(
        common::wait_until(Duration::from_secs(10), || worker_pids(&v).len() == 2),
        "respawned"
    );
    // The new worker serves on the same port (the master kept the socket).
    assert_eq!(v.get("/", "x").text(), "one");
}

#[test]
fn reload_swaps_the_configuration_without_failing_a_request() {
    let v = Vestibule::start_with(&site("old"), "", common::Driver::Default);
    let conf = v.path("vestibule.conf");
    let load = Load::start(v.port, 4, true);
    for round in 0..20 {
        let (from, to) = if round % 2 == 0 {
            ("old", "new")
        } else {
            ("new", "old")
        };
        let text = std::fs::read_to_string(&conf)
            .unwrap()
            .replace(&format!("\"{from}\""), &format!("\"{to}\""));
        std::fs::write(&conf, text).unwrap();
        signal(v.pid(), libc::SIGHUP);
        // After the reload, every fresh connection gets the new answer.
        assert!(
            common::wait_until(Duration::from_secs(10), || v.get("/", "x").text() == to),
            "round {round}: never answered {to}"
        );
    }
    let (total, failed, answers) = load.finish();
    assert!(total > 50, "the load ran ({total} requests)");
    assert_eq!(failed, 0, "failed requests during 20 reloads of {total}");
    assert!(
        answers.iter().all(|a| a == "old" || a == "new"),
        "only configured answers"
    );
}

#[test]
fn a_broken_configuration_is_refused_and_the_old_one_keeps_serving() {
    let v = Vestibule::start(&site("still here"));
    let conf = v.path("vestibule.conf");
    let good = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, good.replace("return 200", "retrun 200")).unwrap();
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["[emerg]", "unknown directive \"retrun\""]);
    v.wait_for_error_line(&["reload failed"]);
    assert_eq!(v.get("/", "x").text(), "still here");
    assert_eq!(worker_pids(&v).len(), 1, "no new generation was started");
}

#[test]
fn systemd_hears_ready_reloading_ready_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let v = Vestibule::start_with_env(
        &site("hi"),
        "",
        common::Driver::Default,
        &[("NOTIFY_SOCKET", socket_path.as_os_str())],
    );
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    assert!(
        ready.starts_with("READY=1\n") && ready.contains(&format!("MAINPID={}", v.pid())),
        "{ready}"
    );
    signal(v.pid(), libc::SIGHUP);
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    let usec: u64 = reloading.lines().nth(1).unwrap()["MONOTONIC_USEC=".len()..]
        .parse()
        .unwrap();
    assert!(usec > 0);
    let ready_again = next();
    assert!(
        ready_again.starts_with("READY=1\nSTATUS=generation 2"),
        "{ready_again}"
    );
    signal(v.pid(), libc::SIGQUIT);
    assert_eq!(next(), "STOPPING=1");
}

/// The configuration text with a second `listen` beside the one on `port`.
fn with_extra_listen(text: &str, port: u16, extra: u16) -> String {
    text.replace(
        &format!("listen 127.0.0.1:{port};"),
        &format!("listen 127.0.0.1:{port}; listen 127.0.0.1:{extra};"),
    )
}

/// A reload that adds a listen address cannot be swapped in place: a new generation
/// starts, serves the new port, and the old port still answers.
#[test]
fn reload_that_adds_a_listen_port_serves_it() {
    let v = Vestibule::start(&site("first"));
    let extra = common::free_port();
    let conf = v.path("vestibule.conf");
    let text = with_extra_listen(&std::fs::read_to_string(&conf).unwrap(), v.port, extra);
    std::fs::write(&conf, text).unwrap();
    signal(v.pid(), libc::SIGHUP);
    assert!(
        common::wait_until(Duration::from_secs(10), || worker_pids(&v).len() == 2),
        "a second worker was started"
    );
    assert!(
        common::wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            extra
        ))
        .is_ok()),
        "the new port is bound"
    );
    let mut c = common::Client::connect(extra);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(c.read_response(false).text(), "first");
    assert_eq!(
        v.get("/", "x").text(),
        "first",
        "the old port still answers"
    );
}

/// An upgraded connection (WebSocket) outlives the reload: the old worker drains it.
#[test]
fn an_upgraded_connection_survives_a_reload() {
    use std::io::{BufRead, BufReader, Read, Write};
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up = upstream.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (s, _) = upstream.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
        }
        common::switch_and_echo(&mut r, s);
    });
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; location / {{ proxy_pass http://127.0.0.1:{up}; }} }}"
    ));
    let mut ws = std::net::TcpStream::connect(("127.0.0.1", v.port)).unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    ws.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(ws.try_clone().unwrap());
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 101"), "{status}");
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reloaded in place by 1 of 1"]);
    assert_eq!(
        worker_pids(&v).len(),
        1,
        "same listeners: the worker swapped its configuration"
    );
    ws.write_all(b"after reload").unwrap();
    let mut echo = [0u8; 12];
    r.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"after reload");
}

/// Writes a full configuration (main context included) and returns its path.
fn main_conf(dir: &std::path::Path, main: &str, port: u16) -> std::path::PathBuf {
    let d = dir.display();
    let conf = format!(
        "{main}\npid {d}/v.pid;\nerror_log {d}/error.log info;\nhttp {{ access_log off; server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"bg\"; }} }} }}\n"
    );
    let path = dir.join("v.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

fn wait_for_pid_file(path: &std::path::Path) -> i32 {
    let mut pid = 0;
    assert!(
        common::wait_until(Duration::from_secs(10), || {
            pid = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            pid > 0
        }),
        "no pid file"
    );
    pid
}

fn wait_gone(pid: i32) {
    assert!(
        common::wait_until(Duration::from_secs(10), || !std::path::Path::new(&format!(
            "/proc/{pid}"
        ))
        .exists()),
        "process {pid} still there"
    );
}

fn get_text(port: u16) -> String {
    let mut c = common::Client::connect(port);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    c.read_response(false).text()
}

#[test]
fn daemon_on_returns_and_serves_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let conf = main_conf(dir.path(), "daemon on;", port);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the starting process exits at once");
    let master = wait_for_pid_file(&dir.path().join("v.pid"));
    assert!(common::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    assert_eq!(get_text(port), "bg");
    signal(master, libc::SIGQUIT);
    wait_gone(master);
    assert!(!dir.path().join("v.pid").exists());
}

/// The pids of the `start worker process` lines of error log `log`, in order.
fn started_workers(log: &std::path::Path) -> Vec<i32> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split("start worker process ").nth(1))
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// Asserts that every uid (real, effective, saved, filesystem) of `pid` is `uid`
/// within ten seconds. The master logs `start worker process` right after the
/// fork, before the worker has switched users, so an early read sees root.
fn assert_runs_as(pid: i32, uid: u32) {
    let uid_line = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .to_owned()
    };
    let switched = |line: &str| {
        line.split_whitespace()
            .skip(1)
            .all(|u| u == uid.to_string())
    };
    common::wait_until(Duration::from_secs(10), || switched(&uid_line()));
    let line = uid_line();
    assert!(switched(&line), "{line}");
}

/// As root, workers switch to `user`, take `worker_rlimit_nofile`, and there are
/// `worker_processes` of them.
#[test]
fn workers_take_user_rlimit_and_count() {
    if !vestibule::sys::is_root() {
        return; // `user` only applies when the master is root (as nginx).
    }
    let nobody = vestibule::sys::user_by_name("nobody").expect("a nobody user");
    let dir = tempfile::tempdir().unwrap();
    // The worker must be able to write its log as nobody.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let port = common::free_port();
    let conf = main_conf(
        dir.path(),
        "daemon off; user nobody; worker_processes 2; worker_rlimit_nofile 4321;",
        port,
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("-c")
        .arg(&conf)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = dir.path().join("error.log");
    let pids = || started_workers(&log);
    assert!(
        common::wait_until(Duration::from_secs(10), || pids().len() == 2),
        "two workers"
    );
    assert!(common::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    assert_eq!(get_text(port), "bg");
    for pid in pids() {
        assert_runs_as(pid, nobody.uid);
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let files = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        assert!(files.contains("4321"), "{files}");
    }
    signal(i32::try_from(child.id()).unwrap(), libc::SIGTERM);
    child.wait().unwrap();
}

/// Socket activation: a socket passed as fd 3 with LISTEN_FDS/LISTEN_PID is used for
/// its address. The test's socket lacks SO_REUSEPORT, so vestibule binding the port
/// itself would fail: an answer proves the passed socket serves.
#[test]
fn socket_activation_serves_the_passed_socket() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let conf = main_conf(dir.path(), "daemon off;", port);
    let fd = listener.as_raw_fd();
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" -c \"$1\"")
        .arg(env!("CARGO_BIN_EXE_vestibule"))
        .arg(&conf)
        .stderr(std::process::Stdio::null());
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let log = dir.path().join("error.log");
    assert!(
        common::wait_until(Duration::from_secs(10), || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("io driver:")),
        "worker started: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(get_text(port), "bg");
    signal(i32::try_from(child.id()).unwrap(), libc::SIGTERM);
    child.wait().unwrap();
}

/// Sends SIGKILL to a process when dropped.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

/// USR2 starts the binary again with the sockets passed; WINCH and QUIT retire the old
/// master. Requests keep succeeding throughout.
#[test]
fn usr2_hands_over_to_a_new_binary_without_failing_a_request() {
    let v = Vestibule::start(&site("served"));
    let pid_file = v.path("vestibule.pid");
    let old_master = v.pid();
    assert_eq!(wait_for_pid_file(&pid_file), old_master);
    // Keep-alive clients and clients with a connection per request: the old
    // generation's workers must drain the keep-alive ones without losing a request.
    let load = Load::start(v.port, 4, true);
    let fresh = Load::start(v.port, 1, false);
    signal(old_master, libc::SIGUSR2);
    let mut new_master = 0;
    assert!(
        common::wait_until(Duration::from_secs(10), || {
            new_master = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            new_master != 0 && new_master != old_master
        }),
        "the new master wrote its pid: {}",
        v.error_log()
    );
    // The new master is not the harness's child: stop it even if an assertion fails.
    let _new_master = KillOnDrop(new_master);
    assert!(v.path("vestibule.pid.oldbin").exists());
    assert!(
        common::wait_until(Duration::from_secs(10), || worker_pids(&v).len() >= 2),
        "the new master's worker started"
    );
    signal(old_master, libc::SIGWINCH);
    v.wait_for_error_line(&["SIGWINCH"]);
    signal(old_master, libc::SIGQUIT);
    v.wait_for_error_line(&["exit"]);
    std::thread::sleep(Duration::from_millis(300));
    let (total, failed, _) = load.finish();
    let (fresh_total, fresh_failed, _) = fresh.finish();
    let (total, failed) = (total + fresh_total, failed + fresh_failed);
    let served_after = v.get("/", "x").text();
    signal(new_master, libc::SIGTERM);
    wait_gone(new_master);
    assert_eq!(served_after, "served", "the new master serves alone");
    assert!(total > 20, "the load ran ({total})");
    assert_eq!(failed, 0, "failed requests during the upgrade of {total}");
}

/// With the same listeners, a reload is in place: a keep-alive connection opened
/// before it carries on and its next request sees the new configuration.
#[test]
fn in_place_reload_keeps_keep_alive_connections() {
    let v = Vestibule::start(&site("before"));
    let mut c = v.client();
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read_response(false).text(), "before");
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("\"before\"", "\"after\"");
    std::fs::write(&conf, text).unwrap();
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reloaded in place by 1 of 1"]);
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        c.read_response(false).text(),
        "after",
        "same connection, new configuration"
    );
    assert_eq!(worker_pids(&v).len(), 1);
}

/// Reloads that change the listen addresses or the worker count start new
/// generations; looping clients on the port that stays (keep-alive ones and ones with
/// a connection per request) see no failure across them.
#[test]
fn generation_reloads_under_load_fail_no_request() {
    let v = Vestibule::start(&site("old"));
    let conf = v.path("vestibule.conf");
    let base = std::fs::read_to_string(&conf).unwrap();
    let extra = common::free_port();
    let load = Load::start(v.port, 3, false);
    let kept = Load::start(v.port, 3, true);
    for round in 0..6 {
        // Every round answers its own text, so a draining older generation (which
        // may accept for a moment after its QUIT) cannot pass for the new one.
        let want = format!("round {round}");
        let mut text = base.replace("\"old\"", &format!("\"{want}\""));
        if round % 2 == 0 {
            text = with_extra_listen(&text, v.port, extra);
        } else if round % 4 == 1 {
            // Two workers, then back to one: the slot that goes away keeps its socket
            // (closing it reset the connections queued on it).
            text = text.replace("events {", "worker_processes 2;\nevents {");
        }
        std::fs::write(&conf, text).unwrap();
        signal(v.pid(), libc::SIGHUP);
        assert!(
            common::wait_until(Duration::from_secs(10), || v.get("/", "x").text() == want),
            "round {round}"
        );
    }
    let (total, failed, _) = load.finish();
    let (kept_total, kept_failed, _) = kept.finish();
    let (total, failed) = (total + kept_total, failed + kept_failed);
    assert!(
        worker_pids(&v).len() >= 7,
        "six new generations were started:\n{}",
        v.error_log()
    );
    assert_eq!(
        failed, 0,
        "failed requests during 6 generation reloads of {total}"
    );
}

/// A slow download outlives both kinds of reload: in place (the worker swaps its
/// configuration under the transfer) and a new generation (the old worker drains it).
#[test]
fn a_slow_download_survives_both_kinds_of_reload() {
    const SIZE: usize = 24 << 20;
    let v = Vestibule::start("server { listen 127.0.0.1:@PORT@; root @DIR@/www; }");
    std::fs::create_dir_all(v.path("www")).unwrap();
    std::fs::write(v.path("www/big.bin"), common::pattern(SIZE)).unwrap();
    let mut c = common::Client::connect_with(
        v.port,
        common::ClientOptions {
            from: None,
            rcvbuf: Some(16 * 1024),
        },
    );
    c.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let received = c.read_until(b"\r\n\r\n");
    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&received)
    );
    // What arrived after the head (if anything) is the body's start.
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut got = received[head_end..].to_vec();
    got.extend(c.read_raw(64 * 1024));

    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reloaded in place by 1 of 1"]);
    got.extend(c.read_raw(64 * 1024));

    let extra = common::free_port();
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        &format!("listen 127.0.0.1:{};", v.port),
        &format!("listen 127.0.0.1:{}; listen 127.0.0.1:{extra};", v.port),
    );
    std::fs::write(&conf, text).unwrap();
    signal(v.pid(), libc::SIGHUP);
    assert!(
        common::wait_until(Duration::from_secs(10), || worker_pids(&v).len() == 2),
        "a new generation was started"
    );
    c.deadline = Duration::from_secs(60);
    let rest = SIZE - got.len();
    got.extend(c.read_raw(rest));
    assert_eq!(got.len(), SIZE, "the download was cut short");
    assert!(
        got == common::pattern(SIZE),
        "the download differs from the file"
    );
}

/// A worker that keeps dying is respawned at once a few times, then only after a
/// pause, with nginx-style alerts saying so; the port keeps being served.
#[test]
fn a_crash_loop_is_throttled_and_logged() {
    let v = Vestibule::start(&site("alive"));
    for round in 0..5 {
        let pids = worker_pids(&v);
        kill_worker(&v, *pids.last().unwrap());
        if round < 4 {
            assert!(
                common::wait_until(Duration::from_secs(5), || worker_pids(&v).len()
                    == pids.len() + 1),
                "round {round}: no respawn"
            );
        }
    }
    v.wait_for_error_line(&["keeps dying (5 times in 10s): respawning in 1s"]);
    assert!(
        common::wait_until(Duration::from_secs(10), || worker_pids(&v).len() == 6),
        "respawned after the pause"
    );
    assert_eq!(v.get("/", "x").text(), "alive");
}

/// With `WATCHDOG_USEC` set, the master pings `WATCHDOG=1` at half the interval; a
/// reload whose configuration is broken is still answered with `READY=1`, and its
/// `STATUS=` says the reload failed.
#[test]
fn systemd_gets_watchdog_pings_and_hears_a_failed_reload() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let v = Vestibule::start_with_env(
        &site("hi"),
        "",
        common::Driver::Default,
        &[
            ("NOTIFY_SOCKET", socket_path.as_os_str()),
            ("WATCHDOG_USEC", std::ffi::OsStr::new("400000")),
        ],
    );
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // Pings every 200 ms: at least three within the first two seconds.
    let mut pings = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if next() == "WATCHDOG=1" {
            pings += 1;
        }
    }
    assert!(pings >= 3, "{pings} watchdog pings in 2 s");
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("location /", "location /{")).unwrap();
    signal(v.pid(), libc::SIGHUP);
    let mut after: Vec<String> = Vec::new();
    while !after.iter().any(|m| m.starts_with("READY=1")) && after.len() < 100 {
        let m = next();
        if m != "WATCHDOG=1" {
            after.push(m);
        }
    }
    assert!(
        after[0].starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{after:?}"
    );
    let ready = after.last().unwrap();
    assert!(
        ready.starts_with("READY=1\nSTATUS=reload failed"),
        "{after:?}"
    );
    assert_eq!(v.get("/", "x").text(), "hi", "the old configuration serves");
}

/// Started as root with no `user` line, workers run as `nobody` (nginx's default):
/// a file in a 0700 root-owned directory gets 403, a world-readable one 200, and the
/// access log the master created is written by the worker, after a logrotate-style
/// USR1 too.
#[test]
fn without_user_a_root_master_serves_as_nobody() {
    if !vestibule::sys::is_root() {
        return; // Only a root master switches users (as nginx).
    }
    let nobody = vestibule::sys::user_by_name("nobody").expect("a nobody user");
    let dir = tempfile::tempdir().unwrap();
    let mode = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    };
    mode(dir.path(), 0o755);
    let d = dir.path().display();
    std::fs::create_dir_all(dir.path().join("www/private")).unwrap();
    std::fs::write(dir.path().join("www/public.txt"), "public\n").unwrap();
    std::fs::write(dir.path().join("www/private/secret.txt"), "secret\n").unwrap();
    mode(&dir.path().join("www/private"), 0o700);
    let port = common::free_port();
    let conf = dir.path().join("v.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 1;\npid {d}/v.pid;\nerror_log {d}/error.log info;\n\
             http {{ access_log {d}/access.log; server {{ listen 127.0.0.1:{port}; root {d}/www; }} }}\n"
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let master = i32::try_from(child.id()).unwrap();
    let log = dir.path().join("error.log");
    let worker = || started_workers(&log).first().copied();
    let serving = common::wait_until(Duration::from_secs(10), || {
        worker().is_some() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let fetch = |path: &str| {
        let mut c = common::Client::connect(port);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
        c.read_response(false)
    };
    let outcome = std::panic::catch_unwind(|| {
        assert!(serving, "not serving");
        assert_runs_as(worker().unwrap(), nobody.uid);
        assert_eq!(fetch("/public.txt").status, 200);
        assert_eq!(fetch("/private/secret.txt").status, 403);
        let access = dir.path().join("access.log");
        assert!(
            common::wait_until(Duration::from_secs(10), || {
                std::fs::read_to_string(&access)
                    .unwrap_or_default()
                    .contains("\"GET /private/secret.txt HTTP/1.1\" 403")
            }),
            "access log not written"
        );
        // logrotate: the log is moved away and USR1 sent. The master creates the new
        // file and hands it to nobody before the worker reopens it.
        std::fs::rename(&access, dir.path().join("access.log.1")).unwrap();
        signal(master, libc::SIGUSR1);
        assert!(
            common::wait_until(Duration::from_secs(10), || {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .matches("reopening logs")
                    .count()
                    >= 2
            }),
            "the worker did not reopen its logs"
        );
        assert_eq!(fetch("/public.txt").status, 200);
        assert!(
            common::wait_until(Duration::from_secs(10), || {
                std::fs::read_to_string(&access)
                    .unwrap_or_default()
                    .contains("\"GET /public.txt HTTP/1.1\" 200")
            }),
            "the reopened access log was not written"
        );
    });
    signal(master, libc::SIGTERM);
    child.wait().unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Serves `path` (a FIFO) to every reader that opens it, until dropped: the first
/// reader gets `first`, every later one `later`. Counts the opens, so a test sees
/// exactly who read a configuration file and what each got. Each text goes to one of
/// `pids`, and the next is served only once none of them has the FIFO open any more,
/// so one reader never gets two texts.
struct FifoServer {
    stop: Arc<AtomicBool>,
    opens: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FifoServer {
    fn start(path: &std::path::Path, pids: Vec<i32>, first: &str, later: &str) -> FifoServer {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        let stop = Arc::new(AtomicBool::new(false));
        let opens = Arc::new(AtomicUsize::new(0));
        let (first, later) = (first.to_owned(), later.to_owned());
        let fifo = path.to_path_buf();
        let thread = {
            let (stop, opens) = (Arc::clone(&stop), Arc::clone(&opens));
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    // Non-blocking: succeeds only while a reader has the FIFO open.
                    // SAFETY: a valid path; the descriptor is owned below.
                    let fd =
                        unsafe { libc::open(c_path.as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK) };
                    if fd < 0 {
                        std::thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                    let n = opens.fetch_add(1, Ordering::SeqCst);
                    // SAFETY: fd is a descriptor we just opened and own.
                    let mut file = unsafe {
                        use std::os::fd::FromRawFd;
                        std::fs::File::from_raw_fd(fd)
                    };
                    // SAFETY: clearing O_NONBLOCK on our own descriptor.
                    unsafe { libc::fcntl(fd, libc::F_SETFL, 0) };
                    let text = if n == 0 { &first } else { &later };
                    let _ = std::io::Write::write_all(&mut file, text.as_bytes());
                    // The reader's open returns once a writer is there; while this end
                    // stays open it cannot see the end of the text, so it is still
                    // holding the FIFO when looked for.
                    let held = common::wait_until(Duration::from_secs(10), || {
                        pids.iter().any(|pid| holds_open(*pid, &fifo))
                    });
                    assert!(held, "no known process opened {}", fifo.display());
                    drop(file);
                    let gone = common::wait_until(Duration::from_secs(10), || {
                        !pids.iter().any(|pid| holds_open(*pid, &fifo))
                    });
                    assert!(gone, "a reader kept {} open", fifo.display());
                }
            })
        };
        FifoServer {
            stop,
            opens,
            thread: Some(thread),
        }
    }
}

/// Whether process `pid` has `path` open (any thread).
fn holds_open(pid: i32, path: &std::path::Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(Result::ok)
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
        })
        .unwrap_or(false)
}

impl Drop for FifoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The race of issue 17: a file edited between the master's check and the workers'
/// swap. The included file is a FIFO the test serves: whoever opens it after the
/// master has read it gets a different text. Every worker must run the text the
/// master validated, and nobody but the master may open the file: the workers build
/// from the bytes the master sent them (a worker re-reading the file would get "C").
#[test]
fn workers_run_the_configuration_the_master_validated_not_a_later_edit() {
    let v = Vestibule::start_with_main(
        "worker_processes 2; events { worker_connections 64; }",
        "server { listen 127.0.0.1:@PORT@; add_header X-Pid $pid;
            include @DIR@/inc/*.conf;
            location / { return 200 \"A\"; } }",
        "",
        common::Driver::Default,
    );
    let workers = worker_pids(&v);
    assert_eq!(workers.len(), 2);
    std::fs::create_dir(v.path("inc")).unwrap();
    let fifo = FifoServer::start(
        &v.path("inc/v.conf"),
        [v.pid()]
            .into_iter()
            .chain(workers.iter().copied())
            .collect(),
        "location /v { return 200 \"B\"; }",
        "location /v { return 200 \"C\"; }",
    );
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reloaded in place by 2 of 2"]);
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..400 {
        let r = v.get("/v", "x");
        let pid: i32 = r.header("x-pid").unwrap().parse().unwrap();
        *seen.entry((pid, r.text())).or_insert(0) += 1;
        if workers
            .iter()
            .all(|w| seen.contains_key(&(*w, "B".to_owned())))
        {
            break;
        }
    }
    assert!(
        seen.keys().all(|(_, text)| text == "B"),
        "every answer from the validated text: {seen:?}"
    );
    assert!(
        workers
            .iter()
            .all(|w| seen.contains_key(&(*w, "B".to_owned()))),
        "both workers answered: {seen:?}"
    );
    assert_eq!(
        fifo.opens.load(Ordering::SeqCst),
        1,
        "only the master opened the configuration file"
    );
}

/// `COMMAND ARGS...` with a deadline: its exit code (`None` if it had to be killed),
/// its standard error, and how long it ran.
fn run_bounded(
    program: &std::path::Path,
    args: &[&std::ffi::OsStr],
    deadline: Duration,
) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let mut code = None;
    let exited = common::wait_until(deadline, || match child.try_wait() {
        Ok(Some(status)) => {
            code = status.code();
            true
        }
        _ => false,
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    (code, reader.join().unwrap(), started.elapsed())
}

/// A second start of the same configuration while a master runs (certbot's fallback
/// `nginx -c FILE` after a failed reload, or a mistake): nginx's `bind() to ... failed
/// (98: Address already in use)`, tried again for about two seconds, then `still could
/// not bind()` and exit 1. It never runs beside the first, which goes on serving on
/// every address (its unix socket too) with its pid file untouched.
#[test]
fn a_second_start_fails_to_bind_and_the_first_serves_on() {
    let v = Vestibule::start(
        "server { listen 127.0.0.1:@PORT@; listen unix:@DIR@/v.sock; \
         location / { return 200 \"first\"; } }",
    );
    let pid_file = v.path("vestibule.pid");
    assert_eq!(wait_for_pid_file(&pid_file), v.pid());
    // Run as certbot runs it: through a symlink named `nginx`.
    let nginx = v.path("nginx");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_vestibule"), &nginx).unwrap();
    let conf = v.path("vestibule.conf");
    let (code, stderr, took) = run_bounded(
        &nginx,
        &["-c".as_ref(), conf.as_os_str()],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(1), "exit status; stderr:\n{stderr}");
    let port = v.port;
    for line in [
        format!(
            "vestibule: [emerg] bind() to 127.0.0.1:{port} failed (98: Address already in use)"
        ),
        format!(
            "vestibule: [emerg] bind() to unix:{}/v.sock failed (98: Address already in use)",
            v.dir.path().display()
        ),
        "vestibule: [notice] try again to bind() after 500ms".to_string(),
    ] {
        assert!(stderr.contains(&line), "{line}\nin:\n{stderr}");
    }
    assert!(
        stderr.ends_with("vestibule: [emerg] still could not bind()\n"),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // The first master is alone on its addresses.
    assert_eq!(wait_for_pid_file(&pid_file), v.pid());
    for _ in 0..20 {
        assert_eq!(get_text(port), "first");
    }
    let mut unix = std::os::unix::net::UnixStream::connect(v.path("v.sock")).unwrap();
    std::io::Write::write_all(&mut unix, b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut unix, &mut answer).unwrap();
    assert!(answer.ends_with("first"), "{answer}");
    assert_eq!(worker_pids(&v).len(), 1, "{}", v.error_log());
}

/// With `daemon on`, the sockets are bound before the fork: a start that cannot bind
/// exits 1 itself, instead of exiting 0 and failing in the background.
#[test]
fn daemon_on_a_start_that_cannot_bind_exits_non_zero() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let conf = main_conf(dir.path(), "daemon on;", port);
    let (code, stderr, _) = run_bounded(
        std::path::Path::new(env!("CARGO_BIN_EXE_vestibule")),
        &["-c".as_ref(), conf.as_os_str()],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "bind() to 127.0.0.1:{port} failed (98: Address already in use)"
        )),
        "{stderr}"
    );
    assert!(!dir.path().join("v.pid").exists(), "no master was left");
}

/// A unix socket file left by a process that is gone (killed, say) is no reason to
/// refuse: nothing answers on it, so it is replaced.
#[test]
fn a_unix_socket_file_nobody_answers_on_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let v = Vestibule::start(&format!(
        "server {{ listen 127.0.0.1:@PORT@; listen unix:{}; return 200 \"fresh\"; }}",
        stale.display()
    ));
    let mut unix = std::os::unix::net::UnixStream::connect(&stale).unwrap();
    std::io::Write::write_all(&mut unix, b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut unix, &mut answer).unwrap();
    assert!(answer.ends_with("fresh"), "{answer}\n{}", v.error_log());
}
