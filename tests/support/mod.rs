//! Shared pieces of the integration tests: start the real binary on an ephemeral port
//! with a configuration, wait until it accepts (with a deadline), stop it by PID; and a
//! raw HTTP/1.1 client that reads one response exactly by its framing.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(10);

/// A running vestibule, killed on drop.
pub struct Vestibule {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Vestibule {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Vestibule {
    /// Starts vestibule with `http_body` inside `http { }`; `PORT` in it is replaced
    /// by the listen port and `DIR` by the test's temp directory. `legacy` forces epoll.
    pub fn start(http_body: &str, legacy: bool) -> Vestibule {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display().to_string();
        let body = http_body
            .replace("PORT", &port.to_string())
            .replace("DIR", &d);
        let conf = format!("daemon off;\npid {d}/vestibule.pid;\nerror_log {d}/error.log info;\nhttp {{\n    access_log {d}/access.log;\n{body}\n}}\n");
        let path = dir.path().join("vestibule.conf");
        std::fs::write(&path, conf).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vestibule"));
        cmd.arg("-c").arg(&path);
        if legacy {
            cmd.env("MONOIO_FORCE_LEGACY_DRIVER", "1");
        } else {
            cmd.env_remove("MONOIO_FORCE_LEGACY_DRIVER");
        }
        let child = cmd.spawn().unwrap();
        let v = Vestibule { child, port, dir };
        let deadline = Instant::now() + DEADLINE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "vestibule did not start: {}",
                v.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        v
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Waits until the error log contains `needle`.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let log = self.error_log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the error log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        s
    }

    /// One request on a new connection.
    pub fn get(&self, target: &str, extra_headers: &[(&str, &str)]) -> Response {
        let mut s = self.connect();
        let mut req = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n");
        for (k, v) in extra_headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("Connection: close\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        read_response(&mut r, false).expect("a response")
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response; `head_only` for a response to HEAD. `None` on EOF before a
/// status line.
pub fn read_response(r: &mut BufReader<TcpStream>, head_only: bool) -> Option<Response> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 304 || status == 204 || (100..200).contains(&status) {
        return Some(resp);
    }
    if let Some(len) = resp.header("content-length") {
        let mut body = vec![0u8; len.parse().unwrap()];
        r.read_exact(&mut body).unwrap();
        resp.body = body;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                let mut end = String::new();
                r.read_line(&mut end).unwrap();
                break;
            }
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).unwrap();
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else {
        r.read_to_end(&mut resp.body).unwrap();
    }
    Some(resp)
}

/// Writes `len` deterministic bytes to `path`.
pub fn write_pattern(path: &Path, len: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 7)) as u8)
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}
