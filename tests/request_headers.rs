//! Request headers the upstream must not see, through the real binary to a scripted
//! upstream that records the head it receives: names with `_` or other bytes nginx
//! calls invalid are dropped by default (`X_Forwarded_Host` and `Transfer_Encoding`
//! would reach a WSGI app as `HTTP_X_FORWARDED_HOST` and `HTTP_TRANSFER_ENCODING`),
//! passed with `underscores_in_headers on` or `ignore_invalid_headers off`, judged by
//! the default server of the listening socket; and `proxy_params` sets `Forwarded`
//! from what vestibule saw, replacing the client's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::{Driver, Vestibule, IO_DEADLINE};

/// Connections the recording upstream serves before its thread ends.
const MAX_UPSTREAM_CONNECTIONS: usize = 16;
/// Lines one recorded head may have.
const MAX_HEAD_LINES: usize = 200;

/// An upstream that answers every request `200 ok` and sends each request head it
/// read (lines without CRLF) down a channel.
struct RecordingUpstream {
    port: u16,
    heads: mpsc::Receiver<Vec<String>>,
}

impl RecordingUpstream {
    fn start() -> RecordingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, heads) = mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..MAX_UPSTREAM_CONNECTIONS {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                stream.set_read_timeout(Some(IO_DEADLINE)).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = Vec::new();
                for _ in 0..MAX_HEAD_LINES {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push(line.trim_end_matches(['\r', '\n']).to_string());
                }
                let mut w = stream;
                let _ = w.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
                if tx.send(head).is_err() {
                    return;
                }
            }
        });
        RecordingUpstream { port, heads }
    }

    /// The next head the upstream received.
    fn next_head(&self) -> Vec<String> {
        self.heads
            .recv_timeout(IO_DEADLINE)
            .expect("the upstream received no request")
    }
}

/// The values of the lines of `head` called `name` (case-insensitive).
fn values<'a>(head: &'a [String], name: &str) -> Vec<&'a str> {
    head.iter()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// A request with every kind of name nginx calls invalid, a valid one, and a
/// `Forwarded` of the client's own making.
const REQUEST: &[u8] = b"GET /app HTTP/1.1\r\nHost: app.example\r\n\
X_Forwarded_Host: evil.example\r\nTransfer_Encoding: chunked\r\nX.Dot: 1\r\n\
X-Good: 2\r\nForwarded: for=203.0.113.9;host=evil.example\r\nConnection: close\r\n\r\n";

/// Sends [`REQUEST`] through `v` and returns the head the upstream saw.
fn forwarded_head(v: &Vestibule, up: &RecordingUpstream) -> Vec<String> {
    let resp = v.request(REQUEST);
    assert_eq!(resp.status, 200, "{resp}");
    up.next_head()
}

fn proxy_server(up: &RecordingUpstream, extra: &str) -> String {
    format!(
        "server {{ listen 127.0.0.1:@PORT@; {extra}
            location / {{ include proxy_params; proxy_pass http://127.0.0.1:{}; }} }}",
        up.port
    )
}

#[test]
fn underscored_and_invalid_names_are_dropped_by_default() {
    let up = RecordingUpstream::start();
    let v = Vestibule::start(&proxy_server(&up, ""));
    let head = forwarded_head(&v, &up);
    for dropped in ["X_Forwarded_Host", "Transfer_Encoding", "X.Dot"] {
        assert!(values(&head, dropped).is_empty(), "{dropped}: {head:#?}");
    }
    assert_eq!(values(&head, "X-Good"), ["2"], "{head:#?}");
    // What a WSGI server would read as X-Forwarded-Host is only what vestibule set.
    assert!(values(&head, "X-Forwarded-Host").is_empty(), "{head:#?}");
}

#[test]
fn underscores_in_headers_on_passes_underscored_names() {
    let up = RecordingUpstream::start();
    let v = Vestibule::start(&proxy_server(&up, "underscores_in_headers on;"));
    let head = forwarded_head(&v, &up);
    assert_eq!(
        values(&head, "X_Forwarded_Host"),
        ["evil.example"],
        "{head:#?}"
    );
    assert_eq!(values(&head, "Transfer_Encoding"), ["chunked"], "{head:#?}");
    // `.` is still invalid; `_` is the only byte the directive admits.
    assert!(values(&head, "X.Dot").is_empty(), "{head:#?}");
    // `Transfer_Encoding` is not framing: the request had no body, and has none.
    assert!(values(&head, "Transfer-Encoding").is_empty(), "{head:#?}");
}

#[test]
fn ignore_invalid_headers_off_passes_every_token_name() {
    let up = RecordingUpstream::start();
    let v = Vestibule::start_with(
        &proxy_server(&up, ""),
        "ignore_invalid_headers off;",
        Driver::Default,
    );
    let head = forwarded_head(&v, &up);
    assert_eq!(
        values(&head, "X_Forwarded_Host"),
        ["evil.example"],
        "{head:#?}"
    );
    assert_eq!(values(&head, "Transfer_Encoding"), ["chunked"], "{head:#?}");
    assert_eq!(values(&head, "X.Dot"), ["1"], "{head:#?}");
}

/// nginx reads both directives in the default server of the listening socket for
/// the lines before `Host`: a name-based server cannot turn them on or off there.
#[test]
fn the_default_server_of_the_socket_decides() {
    let up = RecordingUpstream::start();
    let servers = format!(
        "{}
        server {{ listen 127.0.0.1:@PORT@; server_name on.example; underscores_in_headers on;
            location / {{ proxy_pass http://127.0.0.1:{}; }} }}",
        proxy_server(&up, ""),
        up.port
    );
    let v = Vestibule::start(&servers);
    let resp = v.request(
        b"GET / HTTP/1.1\r\nX_Forwarded_Host: evil.example\r\nHost: on.example\r\n\
Connection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 200, "{resp}");
    let head = up.next_head();
    assert!(values(&head, "X_Forwarded_Host").is_empty(), "{head:#?}");
}

#[test]
fn forwarded_is_set_by_vestibule_and_replaces_the_clients() {
    let up = RecordingUpstream::start();
    let v = Vestibule::start(&proxy_server(&up, ""));
    let head = forwarded_head(&v, &up);
    assert_eq!(
        values(&head, "Forwarded"),
        ["for=127.0.0.1;proto=http;host=app.example"],
        "{head:#?}"
    );

    // A host with a port is not a token: quoted (RFC 7239 §4).
    let resp = v.request(
        b"GET / HTTP/1.1\r\nHost: app.example:8080\r\nForwarded: for=\"[::1]\"\r\n\
Connection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 200, "{resp}");
    let head = up.next_head();
    assert_eq!(
        values(&head, "Forwarded"),
        ["for=127.0.0.1;proto=http;host=\"app.example:8080\""],
        "{head:#?}"
    );
}

/// An IPv6 client is bracketed and quoted, `for="[::1]"` (RFC 7239 §6). Skipped
/// where the host has no IPv6 loopback.
#[test]
fn forwarded_quotes_an_ipv6_client() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback: skipped");
        return;
    }
    let up = RecordingUpstream::start();
    let port6 = common::free_port();
    let server = proxy_server(&up, &format!("listen [::1]:{port6};"));
    let v = Vestibule::start(&server);
    let ready = common::wait_until(Duration::from_secs(5), || {
        std::net::TcpStream::connect(("::1", port6)).is_ok()
    });
    assert!(ready, "vestibule does not listen on [::1]:{port6}");
    let mut c = std::net::TcpStream::connect(("::1", port6)).unwrap();
    c.set_read_timeout(Some(IO_DEADLINE)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut c, &mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The readiness probe sent no request, so this is the only upstream request.
    let head = up.next_head();
    assert_eq!(
        values(&head, "Forwarded"),
        ["for=\"[::1]\";proto=http;host=a"],
        "{head:#?}"
    );
    drop(v);
}
