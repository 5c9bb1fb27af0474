//! The proxy against a scripted upstream written here in Rust: a WebSocket-style
//! upgrade becomes a two-way byte relay, and upstream keep-alive connections are
//! reused across requests (one upstream connection serves many client requests).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
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
