//! `reset_timedout_connection`: a request ended by `client_header_timeout`,
//! `client_body_timeout` or `return 444` closes its connection with a TCP reset when
//! it is on, and with an orderly close when it is off; a connection that never sent a
//! byte is closed normally either way (nginx has no request to reset there). Each
//! ending is checked through the real binary, beside nginx 1.22 where it is installed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::nginx::Nginx;
use common::{free_port, Vestibule};

/// One server resets, the other (on `@OFF@`) closes normally.
const SERVERS: &str = r#"
server {
    listen 127.0.0.1:@PORT@;
    client_header_timeout 1s;
    client_body_timeout 1s;
    reset_timedout_connection on;
    location = /close { return 444; }
    location = /body { proxy_pass http://127.0.0.1:@DEAD@; }
}
server {
    listen 127.0.0.1:@OFF@;
    client_header_timeout 1s;
    client_body_timeout 1s;
    reset_timedout_connection off;
    location = /close { return 444; }
    location = /body { proxy_pass http://127.0.0.1:@DEAD@; }
}
"#;

/// How the server ended a connection, seen from the client.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Reset,
    Closed,
}

/// What each client sends before it stalls.
const CLIENTS: &[(&str, &[u8])] = &[
    ("a head cut off", b"GET /close HTTP/1.1\r\nHost: t\r\n"),
    ("return 444", b"GET /close HTTP/1.1\r\nHost: t\r\n\r\n"),
    (
        "a body that stops coming",
        b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc",
    ),
    ("nothing at all", b""),
];

fn connect(port: u16, send: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(send).unwrap();
    s
}

/// Reads until the server ends the connection (bounded by the read timeout and a
/// byte budget).
fn ending(mut s: TcpStream) -> Ending {
    let mut buf = [0u8; 4096];
    let mut budget = 1 << 20;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ending::Closed,
            Ok(n) if n < budget => budget -= n,
            Ok(_) => panic!("the server kept sending"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ending::Reset,
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn timed_out_requests_are_reset_only_when_on() {
    let off = free_port();
    let dead = free_port();
    let servers = SERVERS
        .replace("@OFF@", &off.to_string())
        .replace("@DEAD@", &dead.to_string());
    let vestibule = Vestibule::start(&servers);
    let mut ports = vec![("vestibule", vestibule.port, off)];
    // nginx fills in @PORT@ itself; its second port is another free one.
    let nginx_off = free_port();
    let nginx = Nginx::start(
        &servers.replace(&off.to_string(), &nginx_off.to_string()),
        |_| {},
    );
    if let Some(n) = &nginx {
        ports.push(("nginx", n.port, nginx_off));
    }
    // Every client starts at once, so the timeouts run out together.
    let mut started = Vec::new();
    for (who, on_port, off_port) in &ports {
        for (name, send) in CLIENTS {
            for (reset, port) in [(true, *on_port), (false, *off_port)] {
                started.push((*who, *name, reset, connect(port, send)));
            }
        }
    }
    for (who, name, reset, stream) in started {
        let want = if reset && name != "nothing at all" {
            Ending::Reset
        } else {
            Ending::Closed
        };
        assert_eq!(
            ending(stream),
            want,
            "{who}, {name}, reset_timedout_connection {reset}"
        );
    }
}
