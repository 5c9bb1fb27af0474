//! `reset_timedout_connection`: a request ended by `client_header_timeout`,
//! `client_body_timeout`, `send_timeout` or `return 444` closes its connection with a
//! TCP reset when it is on, and with an orderly close when it is off; a connection
//! that never sent a byte is closed normally either way (nginx has no request to reset
//! there). Each ending is checked through the real binary, beside nginx 1.22 where it
//! is installed.

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
fn ending(s: TcpStream) -> Ending {
    ending_within(s, 1 << 20)
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

/// A client that stops reading a large file: `send_timeout` ends the response, and
/// the connection is reset when `reset_timedout_connection` is on (whatever the
/// kernel still held for the client is dropped), closed in order when off.
#[test]
fn a_stalled_reader_is_reset_at_the_send_timeout_only_when_on() {
    const SIZE: usize = 32 << 20;
    let servers = r#"
server {
    listen 127.0.0.1:@PORT@;
    send_timeout 1s;
    location /on/ { reset_timedout_connection on; alias @DIR@/files/; }
    location /off/ { alias @DIR@/files/; }
}
"#;
    let write_file = |dir: &std::path::Path| {
        std::fs::create_dir_all(dir.join("files")).unwrap();
        std::fs::write(dir.join("files/big.bin"), common::pattern(SIZE)).unwrap();
    };
    let vestibule = Vestibule::start(servers);
    write_file(vestibule.dir.path());
    let nginx = Nginx::start(servers, write_file);
    let mut targets = vec![("vestibule", vestibule.port, vestibule.path("access.log"))];
    if let Some(n) = &nginx {
        targets.push(("nginx", n.port, n.dir.path().join("access.log")));
    }
    for (who, port, access_log) in targets {
        for (reset, path) in [(true, "/on/big.bin"), (false, "/off/big.bin")] {
            let opts = common::ClientOptions {
                rcvbuf: Some(16 * 1024),
                ..Default::default()
            };
            let mut c = common::Client::connect_with(port, opts);
            c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
            // Not reading until the server has given up and logged the request.
            let logged = common::wait_until(Duration::from_secs(10), || {
                std::fs::read_to_string(&access_log).is_ok_and(|l| l.contains(path))
            });
            assert!(logged, "{who}: {path} was never logged");
            let want = if reset { Ending::Reset } else { Ending::Closed };
            let got = ending_within(c.stream, 2 * SIZE);
            assert_eq!(got, want, "{who}, {path}");
        }
    }
}

/// As [`ending`], reading at most `budget` bytes.
fn ending_within(mut s: TcpStream, mut budget: usize) -> Ending {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 64 << 10];
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
