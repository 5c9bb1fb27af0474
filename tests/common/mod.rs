//! The end-to-end harness shared by `tests/proxy_*.rs` and `tests/http_*.rs`: the real
//! vestibule binary on an ephemeral port with a configuration written from a template,
//! a real Gunicorn serving `tests/apps/app.py` (TCP or unix socket), the scripted
//! misbehaving upstream `tests/apps/fake_upstream.py`, and a raw HTTP/1.1 client that
//! sends exact bytes and parses what comes back (Content-Length, chunked,
//! close-delimited), telling a complete body from one cut short.
//!
//! Every wait polls a condition against a deadline; every process is stopped by its pid
//! when its value is dropped. Gunicorn comes from `.venv` (made by `bash tests/run.sh`)
//! or from `VESTIBULE_TEST_VENV`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)] // each test file uses a different part of the harness

pub mod corpus;
pub mod nginx;
pub mod side_by_side;
pub mod tls;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a process may take to become ready.
pub const START_DEADLINE: Duration = Duration::from_secs(20);
/// How long one response (or one expected log line) may take.
pub const IO_DEADLINE: Duration = Duration::from_secs(15);
/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(10);
/// How many times a start is retried when the chosen port was taken meanwhile.
const START_ATTEMPTS: usize = 5;

// ---------------------------------------------------------------------------------
// Paths and small utilities

/// The crate root.
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/apps`, Gunicorn's `--chdir`.
pub fn apps_dir() -> PathBuf {
    repo_dir().join("tests").join("apps")
}

/// The Python virtual environment with Gunicorn and Flask.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("VESTIBULE_TEST_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => repo_dir().join(".venv"),
    }
}

fn venv_bin(name: &str) -> PathBuf {
    let path = venv_dir().join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: the end-to-end tests need Gunicorn and Flask in a virtual \
         environment. Run `bash tests/run.sh` once (it creates .venv from \
         tests/requirements.txt), or point VESTIBULE_TEST_VENV at a venv that has them.",
        path.display()
    );
    path
}

/// Picks a port nobody listens on now (bind port 0, read it, release it), never the
/// same one twice in this test process: vestibule binds with `SO_REUSEPORT`, so two
/// parallel tests handed the same port would both bind it and share its connections.
/// Another process may still take it before it is used: starters retry on EADDRINUSE.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no unused port after 1000 tries");
}

/// Polls `ready` every few milliseconds until it is true or `deadline` passes.
pub fn wait_until(deadline: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Sends `signal` to a process (or, with a negative id, a process group) we started.
pub fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions; the id is one of our children.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Stops a child: SIGTERM, then SIGKILL (to its process group when it leads one)
/// if it has not exited within `grace`. Always reaps it.
fn stop_child(child: &mut Child, grace: Duration, group: bool) {
    let pid = i32::try_from(child.id()).unwrap();
    if child.try_wait().ok().flatten().is_none() {
        signal(pid, libc::SIGTERM);
        let exited = wait_until(grace, || child.try_wait().ok().flatten().is_some());
        if !exited {
            signal(if group { -pid } else { pid }, libc::SIGKILL);
            let _ = child.wait();
        }
    }
    if group {
        // Workers left behind by a killed leader (ESRCH when there are none).
        signal(-pid, libc::SIGKILL);
    }
}

/// Whether the kernel lets this process set up an io_uring (what monoio checks first).
pub fn io_uring_available() -> bool {
    // struct io_uring_params is 120 bytes; zeroed asks for defaults.
    let mut params = [0u64; 15];
    // SAFETY: io_uring_setup writes into `params`, which is large enough and lives
    // across the call; a returned descriptor is closed right away.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 2u32, params.as_mut_ptr()) };
    if fd < 0 {
        return false;
    }
    // SAFETY: closing the descriptor io_uring_setup just returned.
    unsafe {
        libc::close(fd as libc::c_int);
    }
    true
}

// ---------------------------------------------------------------------------------
// vestibule

/// Which io driver a vestibule instance is asked to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// Whatever the environment gives (io_uring where the kernel allows it).
    Default,
    /// `MONOIO_FORCE_LEGACY_DRIVER=1`: epoll.
    Epoll,
}

/// A running `vestibule -c FILE`, stopped on drop.
#[derive(Debug)]
pub struct Vestibule {
    child: Child,
    /// The port of every `listen 127.0.0.1:@PORT@`.
    pub port: u16,
    /// The temp dir: configuration, logs, pid file, temp paths.
    pub dir: tempfile::TempDir,
    pub driver: Driver,
}

/// The configuration every instance runs; `@MAIN@`, `@SERVERS@` and `@HTTP@` are the
/// test's, `@PORT@` and `@DIR@` are filled in everywhere. `user root`: the tests run
/// as root and keep their files in 0700 temp directories, which the default worker
/// user (`nobody`) cannot enter; `tests/master.rs` tests the default itself.
const CONFIG_TEMPLATE: &str = "\
daemon off;
user root;
pid @DIR@/vestibule.pid;
error_log @DIR@/error.log info;
@MAIN@
http {
    include mime.types;
    default_type application/octet-stream;
    access_log @DIR@/access.log;
    client_body_temp_path @DIR@/client_body_temp;
    proxy_temp_path @DIR@/proxy_temp;
@HTTP@
@SERVERS@
}
";

/// The main-context directives of [`CONFIG_TEMPLATE`] unless a test gives its own.
pub const DEFAULT_MAIN: &str = "events { worker_connections 512; }";

impl Vestibule {
    /// Starts vestibule with `servers` (server blocks, using `@PORT@` and `@DIR@`).
    pub fn start(servers: &str) -> Vestibule {
        Vestibule::start_with(servers, "", Driver::Default)
    }

    /// Starts vestibule with server blocks, extra http-level directives and a driver.
    /// Waits until the worker has logged its start and the port accepts connections.
    pub fn start_with(servers: &str, http: &str, driver: Driver) -> Vestibule {
        Vestibule::start_with_env(servers, http, driver, &[])
    }

    /// [`start_with`](Self::start_with) with extra environment variables for this
    /// process only (`NOTIFY_SOCKET`, say).
    pub fn start_with_env(
        servers: &str,
        http: &str,
        driver: Driver,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Vestibule {
        Vestibule::start_full(DEFAULT_MAIN, servers, http, driver, env)
    }

    /// [`start_with`](Self::start_with) with the main-context directives (`events`,
    /// `worker_processes`, ...) given instead of [`DEFAULT_MAIN`].
    pub fn start_with_main(main: &str, servers: &str, http: &str, driver: Driver) -> Vestibule {
        Vestibule::start_full(main, servers, http, driver, &[])
    }

    fn start_full(
        main: &str,
        servers: &str,
        http: &str,
        driver: Driver,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Vestibule {
        let dir = tempfile::Builder::new()
            .prefix("vestibule-e2e-")
            .tempdir()
            .unwrap();
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let fill = |s: &str| {
                s.replace("@PORT@", &port.to_string())
                    .replace("@DIR@", &dir.path().display().to_string())
            };
            let conf = fill(
                &CONFIG_TEMPLATE
                    .replace("@MAIN@", main)
                    .replace("@HTTP@", http)
                    .replace("@SERVERS@", servers),
            );
            let conf_path = dir.path().join("vestibule.conf");
            std::fs::write(&conf_path, &conf).unwrap();
            let error_log = dir.path().join("error.log");
            let _ = std::fs::remove_file(&error_log);
            let output = std::fs::File::create(dir.path().join("output.log")).unwrap();
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_vestibule"));
            cmd.arg("-c")
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(output.try_clone().unwrap())
                .stderr(output);
            for (k, val) in env {
                cmd.env(k, val);
            }
            match driver {
                Driver::Default => {}
                Driver::Epoll => {
                    cmd.env("MONOIO_FORCE_LEGACY_DRIVER", "1");
                }
            }
            let mut child = cmd.spawn().unwrap();
            let mut exited = false;
            let ready = wait_until(START_DEADLINE, || {
                if child.try_wait().ok().flatten().is_some() {
                    exited = true;
                    return true;
                }
                read_lossy(&error_log).contains("io driver:")
                    && TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            let output = read_lossy(&dir.path().join("output.log"));
            let log = read_lossy(&error_log);
            if ready && !exited {
                return Vestibule {
                    child,
                    port,
                    dir,
                    driver,
                };
            }
            stop_child(&mut child, Duration::from_secs(2), false);
            last_failure = format!(
                "vestibule did not start (exited: {exited})\n--- config:\n{conf}\n--- output:\n{output}\n--- error.log:\n{log}"
            );
            if !(output.contains("Address already in use")
                || log.contains("Address already in use"))
            {
                break;
            }
        }
        panic!("{last_failure}");
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn error_log(&self) -> String {
        read_lossy(&self.path("error.log"))
    }

    pub fn access_log(&self) -> String {
        read_lossy(&self.path("access.log"))
    }

    /// Waits for an error-log line containing every one of `needles`; returns it.
    pub fn wait_for_error_line(&self, needles: &[&str]) -> String {
        let mut found = None;
        wait_until(IO_DEADLINE, || {
            found = self
                .error_log()
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .map(str::to_string);
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "no error-log line with {needles:?}; error.log:\n{}",
                tail(&self.error_log(), 40)
            )
        })
    }

    /// Waits for an access-log line containing `needle` (the log is flushed every 1 s).
    pub fn wait_for_access_line(&self, needle: &str) -> String {
        self.wait_for_log_line("access.log", needle)
    }

    /// Waits for a line containing `needle` in the log file `name` of this instance's
    /// directory (an `access_log` with its own path and format); returns it.
    pub fn wait_for_log_line(&self, name: &str, needle: &str) -> String {
        let path = self.path(name);
        let mut found = None;
        wait_until(IO_DEADLINE, || {
            found = read_lossy(&path)
                .lines()
                .find(|l| l.contains(needle))
                .map(str::to_string);
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "no line with {needle:?} in {name}:\n{}",
                tail(&read_lossy(&path), 40)
            )
        })
    }

    /// The driver this instance must have logged: epoll when forced, else io_uring
    /// where the kernel allows it.
    pub fn expected_driver(&self) -> &'static str {
        let forced_by_env = std::env::var("MONOIO_FORCE_LEGACY_DRIVER")
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
            .unwrap_or(false);
        if self.driver == Driver::Epoll || forced_by_env || !io_uring_available() {
            "epoll"
        } else {
            "io_uring"
        }
    }

    /// Asserts the `worker process N started, io driver: X` line names the right driver.
    pub fn assert_driver_logged(&self) {
        let expected = self.expected_driver();
        let line = self.wait_for_error_line(&["io driver:"]);
        assert!(
            line.ends_with(&format!("io driver: {expected}")),
            "expected io driver {expected}, error log says: {line}"
        );
    }

    /// The process id, for sending it signals.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// Sends `raw` on a new connection and reads one response.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut c = self.client();
        c.send(raw);
        c.read_response(raw.starts_with(b"HEAD "))
    }

    /// `GET path` with `Host: host` and `Connection: close`.
    pub fn get(&self, path: &str, host: &str) -> Response {
        self.request(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
    }
}

impl Drop for Vestibule {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(3), false);
        if std::thread::panicking() {
            eprintln!(
                "--- vestibule error.log ({}):\n{}\n--- output:\n{}",
                self.dir.path().display(),
                tail(&self.error_log(), 30),
                tail(&read_lossy(&self.path("output.log")), 20)
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Gunicorn + the Flask app

/// Where Gunicorn listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Tcp(u16),
    Unix(PathBuf),
}

impl Bind {
    /// What `proxy_pass` names.
    pub fn proxy_pass(&self) -> String {
        match self {
            Bind::Tcp(port) => format!("http://127.0.0.1:{port}"),
            Bind::Unix(path) => format!("http://unix:{}", path.display()),
        }
    }

    fn gunicorn_arg(&self) -> String {
        match self {
            Bind::Tcp(port) => format!("127.0.0.1:{port}"),
            Bind::Unix(path) => format!("unix:{}", path.display()),
        }
    }
}

/// `gunicorn --worker-class sync app:app` from `tests/apps`, stopped on drop.
#[derive(Debug)]
pub struct Gunicorn {
    child: Option<Child>,
    pub bind: Bind,
    pub workers: u32,
    pub dir: tempfile::TempDir,
}

impl Gunicorn {
    /// On a free TCP port.
    pub fn tcp(workers: u32) -> Gunicorn {
        let dir = tempfile::Builder::new()
            .prefix("gunicorn-e2e-")
            .tempdir()
            .unwrap();
        let mut g = Gunicorn {
            child: None,
            bind: Bind::Tcp(0),
            workers,
            dir,
        };
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            g.bind = Bind::Tcp(free_port());
            match g.try_start() {
                Ok(()) => return g,
                Err(e) => {
                    let in_use = e.contains("in use");
                    last = e;
                    if !in_use {
                        break;
                    }
                }
            }
        }
        panic!("{last}");
    }

    /// On a unix socket in its own temp dir.
    pub fn unix(workers: u32) -> Gunicorn {
        let dir = tempfile::Builder::new()
            .prefix("gunicorn-e2e-")
            .tempdir()
            .unwrap();
        let sock = dir.path().join("gunicorn.sock");
        let mut g = Gunicorn {
            child: None,
            bind: Bind::Unix(sock),
            workers,
            dir,
        };
        g.try_start().unwrap_or_else(|e| panic!("{e}"));
        g
    }

    pub fn port(&self) -> u16 {
        match self.bind {
            Bind::Tcp(p) => p,
            Bind::Unix(_) => panic!("gunicorn listens on a unix socket"),
        }
    }

    pub fn proxy_pass(&self) -> String {
        self.bind.proxy_pass()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("gunicorn.log")
    }

    pub fn log(&self) -> String {
        read_lossy(&self.log_path())
    }

    fn try_start(&mut self) -> Result<(), String> {
        let gunicorn = venv_bin("gunicorn");
        let log = self.log_path();
        let _ = std::fs::remove_file(&log);
        let output = std::fs::File::create(self.dir.path().join("output.log")).unwrap();
        let mut cmd = Command::new(gunicorn);
        cmd.arg("--bind")
            .arg(self.bind.gunicorn_arg())
            .arg("--workers")
            .arg(self.workers.to_string())
            .arg("--worker-class")
            .arg("sync")
            .arg("--chdir")
            .arg(apps_dir())
            // Gunicorn 23+ opens a control socket in ~/.gunicorn by default; parallel
            // instances would fight over it.
            .arg("--no-control-socket")
            .arg("--graceful-timeout")
            .arg("2")
            .arg("--timeout")
            .arg("60")
            .arg("--error-logfile")
            .arg(&log)
            .arg("app:app")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            // Its own process group, so its workers can be stopped with it.
            .process_group(0);
        let mut child = cmd.spawn().unwrap();
        let mut exited = false;
        let bind = self.bind.clone();
        let mut in_use = false;
        let ready = wait_until(START_DEADLINE, || {
            if child.try_wait().ok().flatten().is_some() {
                exited = true;
                return true;
            }
            if read_lossy(&log).contains("Connection in use") {
                in_use = true;
                return true;
            }
            gunicorn_answers(&bind)
        });
        if ready && !exited && !in_use {
            self.child = Some(child);
            return Ok(());
        }
        stop_child(&mut child, Duration::from_secs(3), true);
        Err(format!(
            "gunicorn did not start on {:?} (exited: {exited}, address in use: {in_use})\n--- log:\n{}\n--- output:\n{}",
            self.bind,
            tail(&read_lossy(&log), 30),
            tail(&read_lossy(&self.dir.path().join("output.log")), 30)
        ))
    }

    /// Stops Gunicorn (SIGTERM, then SIGKILL to its group).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(5), true);
        }
        let bind = self.bind.clone();
        assert!(
            wait_until(START_DEADLINE, || !gunicorn_answers(&bind)),
            "gunicorn still answers after being stopped"
        );
    }

    /// Starts it again on the same address.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "gunicorn is running");
        let mut last = String::new();
        // The same port as before: if something else took it, say so.
        for _ in 0..START_ATTEMPTS {
            match self.try_start() {
                Ok(()) => return,
                Err(e) => last = e,
            }
        }
        panic!("{last}");
    }
}

impl Drop for Gunicorn {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(5), true);
        }
        if std::thread::panicking() {
            eprintln!("--- gunicorn log:\n{}", tail(&self.log(), 30));
        }
    }
}

/// Whether the app answers `GET /` directly (readiness: a worker has booted).
fn gunicorn_answers(bind: &Bind) -> bool {
    let request = b"GET / HTTP/1.0\r\nHost: readiness\r\n\r\n";
    let mut answer = Vec::new();
    let ok = match bind {
        Bind::Tcp(port) => TcpStream::connect(("127.0.0.1", *port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(request)?;
            s.read_to_end(&mut answer)
        }),
        Bind::Unix(path) => UnixStream::connect(path).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(request)?;
            s.read_to_end(&mut answer)
        }),
    };
    ok.is_ok() && answer.starts_with(b"HTTP/1.") && answer.windows(5).any(|w| w == b" 200 ")
}

// ---------------------------------------------------------------------------------
// The scripted misbehaving upstream

/// `fake_upstream.py MODE` on a port it picked, stopped on drop.
#[derive(Debug)]
pub struct FakeUpstream {
    child: Child,
    pub port: u16,
}

impl FakeUpstream {
    pub fn start(mode: &str) -> FakeUpstream {
        let mut child = Command::new(venv_bin("python3"))
            .arg(apps_dir().join("fake_upstream.py"))
            .arg(mode)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(START_DEADLINE).unwrap_or_default();
        let Ok(port) = line.trim().parse::<u16>() else {
            stop_child(&mut child, Duration::from_secs(1), false);
            panic!("fake_upstream.py {mode} did not print its port (got {line:?})");
        };
        FakeUpstream { child, port }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(2), false);
    }
}

// ---------------------------------------------------------------------------------
// The raw HTTP/1.1 client

/// How a response body was delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes.
    Close,
}

/// How reading a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The body ended as its framing says.
    Complete,
    /// The peer closed the connection (FIN) before that.
    Eof,
    /// The peer reset the connection.
    Reset,
    /// Nothing more arrived before the deadline.
    Timeout,
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub framing: Framing,
    pub end: End,
    /// The head as received, for messages.
    pub head: String,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the body arrived whole, as its framing declared.
    pub fn complete(&self) -> bool {
        self.end == End::Complete
    }

    /// Parses the body as the JSON `/echo` returns.
    pub fn json(&self) -> Json {
        Json::parse(&self.text()).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}):\n{}\n{}",
                self.head,
                tail(&self.text(), 20)
            )
        })
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(600)]).into_owned();
        write!(
            f,
            "{}[{} body bytes, {:?}, {:?}]\n{body}",
            self.head,
            self.body.len(),
            self.framing,
            self.end
        )
    }
}

/// What one read from the socket gave.
enum Read1 {
    Data,
    Eof,
    Reset,
    Timeout,
}

/// Options for a client connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientOptions {
    /// The local address to connect from (any of 127.0.0.0/8), so the server sees a
    /// client address other than 127.0.0.1.
    pub from: Option<Ipv4Addr>,
    /// `SO_RCVBUF`, set before connecting so the window stays small (slow readers).
    pub rcvbuf: Option<usize>,
}

/// One client connection that sends exact bytes and parses responses.
#[derive(Debug)]
pub struct Client {
    pub stream: TcpStream,
    /// A TLS session over `stream` when connected with [`Client::connect_tls`]: every
    /// send and read goes through it.
    pub tls: Option<Box<rustls::ClientConnection>>,
    /// Received and not yet parsed.
    buf: Vec<u8>,
    pub deadline: Duration,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        Client::connect_with(port, ClientOptions::default())
    }

    pub fn connect_with(port: u16, opts: ClientOptions) -> Client {
        let stream = if opts.from.is_none() && opts.rcvbuf.is_none() {
            TcpStream::connect(("127.0.0.1", port)).unwrap()
        } else {
            raw_connect(port, opts).unwrap()
        };
        Client {
            stream,
            tls: None,
            buf: Vec::new(),
            deadline: IO_DEADLINE,
        }
    }

    /// Connects and completes a TLS handshake with `config`, sending `sni` (none
    /// when `None`, as an IP address is never sent as SNI). Errors are the
    /// handshake's.
    pub fn connect_tls(
        port: u16,
        sni: Option<&str>,
        config: &std::sync::Arc<rustls::ClientConfig>,
    ) -> std::io::Result<Client> {
        let name = match sni {
            Some(n) => rustls::pki_types::ServerName::try_from(n.to_string()).unwrap(),
            None => rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
        };
        let mut conn = rustls::ClientConnection::new(std::sync::Arc::clone(config), name)
            .map_err(std::io::Error::other)?;
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(IO_DEADLINE))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut stream)?;
        }
        Ok(Client {
            stream,
            tls: Some(Box::new(conn)),
            buf: Vec::new(),
            deadline: IO_DEADLINE,
        })
    }

    /// The TLS session, for what the handshake settled.
    pub fn session(&self) -> &rustls::ClientConnection {
        self.tls.as_deref().expect("a TLS client")
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes).unwrap();
    }

    /// Sends, tolerating a connection the server already closed.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.tls.as_deref_mut() {
            Some(conn) => {
                let mut s = rustls::Stream::new(conn, &mut self.stream);
                s.write_all(bytes)?;
                s.flush()
            }
            None => self.stream.write_all(bytes),
        }
    }

    fn read_some(&mut self, until: Instant) -> Read1 {
        let remaining = until.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Read1::Timeout;
        }
        self.stream
            .set_read_timeout(Some(remaining.max(Duration::from_millis(1))))
            .unwrap();
        let mut chunk = [0u8; 64 * 1024];
        let read = match self.tls.as_deref_mut() {
            Some(conn) => rustls::Stream::new(conn, &mut self.stream).read(&mut chunk),
            None => self.stream.read(&mut chunk),
        };
        match read {
            Ok(0) => Read1::Eof,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Read1::Data
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Read1::Timeout
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Read1::Data,
            Err(_) => Read1::Reset,
        }
    }

    /// Reads exactly `n` more raw bytes (or what arrives before the deadline).
    pub fn read_raw(&mut self, n: usize) -> Vec<u8> {
        let until = Instant::now() + self.deadline;
        while self.buf.len() < n {
            match self.read_some(until) {
                Read1::Data => {}
                _ => break,
            }
        }
        let take = n.min(self.buf.len());
        self.buf.drain(..take).collect()
    }

    /// Reads until the received bytes contain `needle` (or the deadline passes);
    /// returns everything received so far and consumes it.
    pub fn read_until(&mut self, needle: &[u8]) -> Vec<u8> {
        let until = Instant::now() + self.deadline;
        while find(&self.buf, needle).is_none() {
            match self.read_some(until) {
                Read1::Data => {}
                _ => break,
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Reads one response; `head_request` says whether it answers a HEAD (no body).
    /// Panics when no complete head arrives before the deadline.
    pub fn read_response(&mut self, head_request: bool) -> Response {
        self.try_read_response(head_request)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads one response, or says why no head could be read.
    pub fn try_read_response(&mut self, head_request: bool) -> Result<Response, String> {
        let until = Instant::now() + self.deadline;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            match self.read_some(until) {
                Read1::Data => {}
                Read1::Eof => {
                    return Err(format!(
                        "connection closed before a response head; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ))
                }
                Read1::Reset => {
                    return Err(format!(
                        "connection reset before a response head; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ))
                }
                Read1::Timeout => {
                    return Err(format!(
                        "no response head within {:?}; got {:?}",
                        self.deadline,
                        String::from_utf8_lossy(&self.buf)
                    ))
                }
            }
        };
        let head: Vec<u8> = self.buf.drain(..head_end).collect();
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let reason = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| format!("bad header line {line:?} in\n{head}"))?;
            headers.push((n.to_string(), v.trim().to_string()));
        }
        let mut r = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
            framing: Framing::None,
            end: End::Complete,
            head,
        };
        let chunked = r
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = r
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        r.framing =
            if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
                Framing::None
            } else if chunked {
                Framing::Chunked
            } else if let Some(n) = length {
                Framing::Length(n)
            } else {
                Framing::Close
            };
        r.end = match r.framing {
            Framing::None => End::Complete,
            Framing::Length(n) => self.read_length(&mut r.body, n, until),
            Framing::Chunked => self.read_chunked(&mut r.body, until),
            Framing::Close => self.read_to_close(&mut r.body, until),
        };
        Ok(r)
    }

    fn end_of(read: Read1) -> End {
        match read {
            Read1::Data => End::Complete,
            Read1::Eof => End::Eof,
            Read1::Reset => End::Reset,
            Read1::Timeout => End::Timeout,
        }
    }

    fn read_length(&mut self, body: &mut Vec<u8>, n: u64, until: Instant) -> End {
        let n = usize::try_from(n).unwrap();
        loop {
            let want = n - body.len();
            let take = want.min(self.buf.len());
            body.extend(self.buf.drain(..take));
            if body.len() == n {
                return End::Complete;
            }
            match self.read_some(until) {
                Read1::Data => {}
                other => return Client::end_of(other),
            }
        }
    }

    fn read_to_close(&mut self, body: &mut Vec<u8>, until: Instant) -> End {
        loop {
            body.append(&mut self.buf);
            match self.read_some(until) {
                Read1::Data => {}
                Read1::Eof => {
                    body.append(&mut self.buf);
                    return End::Complete;
                }
                other => return Client::end_of(other),
            }
        }
    }

    /// Reads a line ending in CRLF from the buffer, reading more as needed.
    fn line(&mut self, until: Instant) -> Result<String, End> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..i + 2).collect();
                return Ok(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            match self.read_some(until) {
                Read1::Data => {}
                other => return Err(Client::end_of(other)),
            }
        }
    }

    fn read_chunked(&mut self, body: &mut Vec<u8>, until: Instant) -> End {
        loop {
            let size_line = match self.line(until) {
                Ok(l) => l,
                Err(end) => return end,
            };
            let hex = size_line.split(';').next().unwrap_or_default().trim();
            let Ok(size) = usize::from_str_radix(hex, 16) else {
                panic!("bad chunk size line {size_line:?}");
            };
            if size == 0 {
                // Trailers up to the empty line.
                loop {
                    match self.line(until) {
                        Ok(l) if l.is_empty() => return End::Complete,
                        Ok(_) => {}
                        Err(end) => return end,
                    }
                }
            }
            while self.buf.len() < size + 2 {
                match self.read_some(until) {
                    Read1::Data => {}
                    other => {
                        let take = size.min(self.buf.len());
                        body.extend(self.buf.drain(..take));
                        return Client::end_of(other);
                    }
                }
            }
            body.extend(self.buf.drain(..size));
            assert_eq!(&self.buf[..2], b"\r\n", "chunk not followed by CRLF");
            self.buf.drain(..2);
        }
    }

    /// Waits until the server closes the connection (EOF or reset) and returns true,
    /// or returns false if data arrives or the deadline passes first.
    pub fn closed_by_peer(&mut self) -> bool {
        let until = Instant::now() + self.deadline;
        if !self.buf.is_empty() {
            return false;
        }
        match self.read_some(until) {
            Read1::Eof | Read1::Reset => true,
            Read1::Data | Read1::Timeout => false,
        }
    }

    /// Bytes received and not yet parsed.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Reads a response or request head, up to its empty line, from a buffered stream
/// (scripted upstreams and raw clients).
pub fn read_head(r: &mut impl BufRead) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 {
            break;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    head
}

/// `PROGRAM -t` (vestibule, or nginx beside it) on an http block, with `events` inside
/// the events block, in `dir`; its stderr.
pub fn test_config_with_events(program: &str, dir: &Path, events: &str, http: &str) -> String {
    let conf = dir.join("t.conf");
    std::fs::write(
        &conf,
        format!(
            "pid {d}/t.pid;\nerror_log {d}/error.log;\nevents {{ {events} }}\nhttp {{\n{http}\n}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let out = Command::new(program)
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// [`test_config_with_events`] with an empty events block.
pub fn test_config(program: &str, dir: &Path, http: &str) -> String {
    test_config_with_events(program, dir, "", http)
}

/// `GET path` with `Host: host` through `request` (a vestibule's or an nginx's): the
/// status, and the body of a 200 (error pages name their server, so differ).
pub fn get_via(request: impl Fn(&[u8]) -> Response, path: &str, host: &str) -> (u16, String) {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let r = request(raw.as_bytes());
    let body = if r.status == 200 {
        r.text()
    } else {
        String::new()
    };
    (r.status, body)
}

/// A WebSocket upstream, once it has read the request head: `101 Switching
/// Protocols`, then every byte from `r` echoed to `w` until the peer closes.
pub fn switch_and_echo(r: &mut impl Read, mut w: impl Write) {
    w.write_all(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// connect(2) with a chosen source address and receive buffer, which std cannot do.
fn raw_connect(port: u16, opts: ClientOptions) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let sockaddr = |ip: Ipv4Addr, port: u16| {
        // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
        let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = port.to_be();
        sa.sin_addr.s_addr = u32::from(ip).to_be();
        sa
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket we own; TcpStream closes it when dropped, also on error.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    if let Some(size) = opts.rcvbuf {
        let size = libc::c_int::try_from(size).unwrap();
        // SAFETY: the option value points at a c_int that lives across the call.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    if let Some(from) = opts.from {
        let local = sockaddr(from, 0);
        // SAFETY: `local` is a valid sockaddr_in of length `len`.
        if unsafe { libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    let remote = sockaddr(Ipv4Addr::LOCALHOST, port);
    // SAFETY: `remote` is a valid sockaddr_in of length `len`; the socket is blocking.
    if unsafe { libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(stream)
}

// ---------------------------------------------------------------------------------
// Bodies: the app's deterministic pattern and SHA-256

/// The body `/big?n=N` returns: byte i is i % 251.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// SHA-256 (FIPS 180-4) as lowercase hex, to compare with what Flask computed.
pub fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(v);
        }
    }
    let mut out = String::with_capacity(64);
    for x in h {
        write!(out, "{x:08x}").unwrap();
    }
    out
}

// ---------------------------------------------------------------------------------
// A small JSON reader for what `/echo` returns

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing bytes at {}", p.i));
        }
        Ok(v)
    }

    /// A member of an object (panics with the document when absent).
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(members) => members
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no {key:?} in {self:?}")),
            _ => panic!("not an object: {self:?}"),
        }
    }

    pub fn str(&self, key: &str) -> String {
        match self.get(key) {
            Json::Str(s) => s.clone(),
            Json::Null => String::new(),
            other => panic!("{key} is not a string: {other:?}"),
        }
    }

    pub fn num(&self, key: &str) -> u64 {
        match self.get(key) {
            Json::Num(n) => *n as u64,
            other => panic!("{key} is not a number: {other:?}"),
        }
    }

    /// `/echo`'s `headers` (pairs as Flask saw them): the values of a header.
    pub fn request_headers(&self, name: &str) -> Vec<String> {
        let Json::Arr(pairs) = self.get("headers") else {
            panic!("headers is not an array");
        };
        pairs
            .iter()
            .filter_map(|p| match p {
                Json::Arr(kv) => match (&kv[0], &kv[1]) {
                    (Json::Str(k), Json::Str(v)) if k.eq_ignore_ascii_case(name) => Some(v.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// `/echo`'s `form`: the values of a field.
    pub fn form(&self, field: &str) -> Vec<String> {
        match self.get("form") {
            Json::Obj(members) => members
                .iter()
                .filter(|(k, _)| k == field)
                .flat_map(|(_, v)| match v {
                    Json::Arr(vs) => vs
                        .iter()
                        .filter_map(|x| match x {
                            Json::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                })
                .collect(),
            other => panic!("form is not an object: {other:?}"),
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", b as char, self.i))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > 64 {
            return Err("nested too deep".into());
        }
        self.ws();
        match self.s.get(self.i).copied() {
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(members));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.eat(b':')?;
                    members.push((k, self.value(depth + 1)?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(members));
                        }
                        _ => return Err(format!("bad object at {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("bad array at {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Json::Null)
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .map(Json::Num)
                    .ok_or_else(|| format!("bad value at {start}"))
            }
            None => Err("unexpected end".into()),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("bad \\u escape at {}", self.i))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("unterminated escape")?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let low = self.hex4()?;
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (low.wrapping_sub(0xdc00));
                            }
                            char::from_u32(cp).unwrap_or('\u{fffd}')
                        }
                        _ => return Err(format!("bad escape at {}", self.i)),
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                _ => out.push(b),
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Processes, as /proc shows them

/// The children of `pid`: every thread's `/proc/PID/task/TID/children`, or, where the
/// kernel has no such file, the processes whose parent (`/proc/N/stat`) is `pid`.
pub fn child_pids(pid: i32) -> Vec<i32> {
    let mut children = Vec::new();
    let mut found_file = false;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                found_file = true;
                children.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
    }
    if !found_file {
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(n) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let stat = read_lossy(&entry.path().join("stat"));
            // "PID (comm) STATE PPID ...": comm may hold spaces, so split after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if ppid == Some(pid) {
                children.push(n);
            }
        }
    }
    children.sort_unstable();
    children.dedup();
    children
}

/// The file descriptors `pid` has open (`/proc/PID/fd`), by number and target.
pub fn open_fds(pid: i32) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse::<i32>().ok()?;
            let target = std::fs::read_link(e.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            Some((n, target))
        })
        .collect();
    fds.sort();
    fds
}

#[cfg(test)]
mod harness_tests {
    use super::*;

    #[test]
    fn sha256_known_answers() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn json_reads_what_flask_writes() {
        let j = Json::parse(
            r#"{"headers":[["Host","x"],["X","\u00e9\"q\""]],"n":5,"form":{"k":["v"]},"z":null}"#,
        )
        .unwrap();
        assert_eq!(j.request_headers("host"), vec!["x"]);
        assert_eq!(j.num("n"), 5);
        assert_eq!(j.form("k"), vec!["v"]);
        assert_eq!(j.str("z"), "");
    }
}
