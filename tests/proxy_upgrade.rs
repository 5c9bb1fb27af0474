//! The proxy against a scripted upstream written here in Rust: a WebSocket-style
//! upgrade becomes a two-way byte relay, and upstream keep-alive connections are
//! reused across requests (one upstream connection serves many client requests).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts vestibule proxying `/` to `upstream_port`; waits until it accepts.
fn vestibule(upstream_port: u16, legacy: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("v.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; pid {d}/v.pid; error_log {d}/error.log info;\nhttp {{ access_log off;\n upstream app {{ server 127.0.0.1:{upstream_port}; keepalive 8; }}\n server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://app; proxy_read_timeout 5s; }} }} }}\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vestibule"));
    cmd.arg("-c").arg(&conf);
    if legacy {
        cmd.env("MONOIO_FORCE_LEGACY_DRIVER", "1");
    }
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "vestibule did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server {
        child,
        port,
        _dir: dir,
    }
}

/// Reads a head (up to the empty line) from a buffered stream.
fn read_head(r: &mut impl BufRead) -> String {
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

#[test]
fn upgrade_becomes_a_two_way_relay() {
    for legacy in [false, true] {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_port = upstream.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (s, _) = upstream.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let head = read_head(&mut r).to_ascii_lowercase();
            assert!(head.contains("upgrade: websocket"), "{head}");
            assert!(head.contains("connection: upgrade"), "{head}");
            let mut w = s;
            w.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").unwrap();
            // Echo until the client side closes.
            let mut buf = [0u8; 1024];
            loop {
                let n = r.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                w.write_all(&buf[..n]).unwrap();
            }
        });
        let v = vestibule(up_port, legacy);
        let mut c = TcpStream::connect(("127.0.0.1", v.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let head = read_head(&mut r);
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
                    let head = read_head(&mut r);
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
        let mut c = TcpStream::connect(("127.0.0.1", v.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 200 OK") && resp.ends_with("pooled"),
            "{resp}"
        );
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one upstream connection served all 20 requests"
    );
}
