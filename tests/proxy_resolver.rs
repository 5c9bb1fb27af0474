//! `proxy_pass` with variables and `resolver`: a name looked up per request from a DNS
//! server (a small one in this test, on loopback), an `upstream` group named by a
//! variable, an address, a URI part sent as it is, a name that resolves to several
//! addresses (the next one tried when the first refuses), and nginx's 502s for a name
//! that does not resolve or a location without a resolver. The same configuration runs
//! in nginx beside it, asking the same DNS server, with the same answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::nginx::Nginx;
use common::{free_port, get_via, Vestibule};

/// A DNS server on loopback answering A queries from a fixed table; AAAA gets an
/// empty answer, any other name NXDOMAIN. Stops when dropped.
struct FakeDns {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeDns {
    fn start(table: &'static [(&'static str, &'static [[u8; 4]])]) -> FakeDns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            // Bounded: the test drops the server within seconds; this is a backstop.
            for _ in 0..2400 {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(reply) = answer(&buf[..n], table) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        FakeDns {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to one query.
fn answer(q: &[u8], table: &[(&str, &[[u8; 4]])]) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    while *q.get(at)? != 0 {
        let len = usize::from(q[at]);
        labels.push(String::from_utf8_lossy(q.get(at + 1..at + 1 + len)?).to_lowercase());
        at += 1 + len;
    }
    let question_end = at + 5;
    let qtype = u16::from_be_bytes([q[at + 1], q[at + 2]]);
    let name = labels.join(".");
    let found = table.iter().find(|(n, _)| *n == name).map(|(_, a)| *a);
    let mut r = q.get(..question_end)?.to_vec();
    r[2] = 0x81;
    r[3] = if found.is_some() { 0x80 } else { 0x83 };
    r[6] = 0;
    r[7] = 0;
    r[8..12].fill(0);
    if let (Some(addrs), 1) = (found, qtype) {
        r[7] = addrs.len() as u8;
        for a in addrs {
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(a);
        }
    }
    Some(r)
}

const TABLE: &[(&str, &[[u8; 4]])] = &[
    ("one.test", &[[127, 0, 0, 1]]),
    ("two.test", &[[127, 0, 0, 2]]),
    // The first refuses (nothing listens on 127.0.0.3), the second answers.
    ("flaky.test", &[[127, 0, 0, 3], [127, 0, 0, 2]]),
];

/// Backends on 127.0.0.1 and 127.0.0.2 (same port), each naming itself.
fn backends(port: u16) -> Vestibule {
    Vestibule::start(&format!(
        r#"
server {{ listen 127.0.0.1:@PORT@; }}
server {{ listen 127.0.0.1:{port}; location / {{ return 200 "one $request_uri\n"; }} }}
server {{ listen 127.0.0.2:{port}; location / {{ return 200 "two $request_uri\n"; }} }}
"#
    ))
}

fn site(dns: u16, port: u16) -> String {
    format!(
        r#"
upstream grp {{ server 127.0.0.2:{port}; }}
server {{
    listen 127.0.0.1:@PORT@;
    resolver 127.0.0.1:{dns} valid=30s ipv6=off;
    resolver_timeout 5s;
    location /name/ {{ set $h one.test; proxy_pass http://$h:{port}; }}
    location /two/ {{ proxy_pass http://$arg_h:{port}; }}
    location /uri/ {{ set $h two.test; proxy_pass http://$h:{port}/fixed?x=1; }}
    location /group/ {{ set $g grp; proxy_pass http://$g; }}
    location /ip/ {{ proxy_pass http://127.0.0.$arg_n:{port}; }}
    location /flaky/ {{ set $h flaky.test; proxy_pass http://$h:{port}; }}
    location /missing/ {{ set $h missing.test; proxy_pass http://$h:{port}; }}
    # nginx's default, ipv6=on: AAAA is asked too (this server has none to give).
    location /both/ {{ resolver 127.0.0.1:{dns}; set $h two.test; proxy_pass http://$h:{port}; }}
}}
server {{
    listen 127.0.0.1:@PORT@;
    server_name nores.test;
    location / {{ set $h one.test; proxy_pass http://$h:{port}; }}
}}
"#
    )
}

const CASES: &[(&str, &str, u16, &str)] = &[
    ("/name/a?b=1", "h.test", 200, "one /name/a?b=1\n"),
    (
        "/two/x?h=two.test",
        "h.test",
        200,
        "two /two/x?h=two.test\n",
    ),
    ("/uri/ignored?y=2", "h.test", 200, "two /fixed?x=1\n"),
    ("/group/g", "h.test", 200, "two /group/g\n"),
    ("/ip/z?n=2", "h.test", 200, "two /ip/z?n=2\n"),
    ("/flaky/f", "h.test", 200, "two /flaky/f\n"),
    ("/missing/m", "h.test", 502, ""),
    ("/both/b", "h.test", 200, "two /both/b\n"),
    ("/any", "nores.test", 502, ""),
];

#[test]
fn names_resolved_per_request_as_nginx_resolves_them() {
    let dns = FakeDns::start(TABLE);
    let port = free_port();
    let _b = backends(port);
    let site = site(dns.port, port);
    let v = Vestibule::start(&site);
    for (path, host, status, body) in CASES {
        assert_eq!(
            get_via(|raw| v.request(raw), path, host),
            (*status, body.to_string()),
            "{path} {host}"
        );
    }
    let log = v.error_log();
    assert!(
        log.contains("missing.test could not be resolved (3: Host not found)"),
        "{log}"
    );
    assert!(
        log.contains("no resolver defined to resolve one.test"),
        "{log}"
    );
    if let Some(n) = Nginx::start(&site, |_| {}) {
        for (path, host, status, body) in CASES {
            assert_eq!(
                get_via(|raw| n.request(raw), path, host),
                (*status, body.to_string()),
                "nginx: {path} {host}"
            );
        }
        let theirs = n.error_log();
        assert!(theirs.contains("missing.test could not be resolved (3: Host not found)"));
        assert!(theirs.contains("no resolver defined to resolve one.test"));
    }
}
