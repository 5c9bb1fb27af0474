//! `ip_hash`, `hash KEY`, `hash KEY consistent` and `random` through the real binary:
//! the hashes are nginx's, so with the same configuration a client (or a key) lands on
//! the same server behind vestibule as behind nginx — checked side by side with nginx
//! from apt over 40 client addresses and 40 keys — and stays there; `random` spreads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::nginx::Nginx;
use common::{free_port, test_config, Response, Vestibule};

/// Three backends in one vestibule, each answering with its port.
fn backends() -> (Vestibule, [u16; 3]) {
    let ports = [free_port(), free_port(), free_port()];
    let servers: String = ports
        .iter()
        .map(|p| {
            format!("server {{ listen 127.0.0.1:{p}; location / {{ return 200 \"B{p}\\n\"; }} }}\n")
        })
        .collect();
    let servers = format!("server {{ listen 127.0.0.1:@PORT@; }}\n{servers}");
    (Vestibule::start(&servers), ports)
}

fn front(ports: [u16; 3]) -> String {
    let list = |extra: &[&str]| -> String {
        ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("server 127.0.0.1:{p}{};", extra.get(i).unwrap_or(&"")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        r#"
upstream iph {{ ip_hash; {plain} }}
upstream hsh {{ hash $arg_k; {weighted} }}
upstream con {{ hash $arg_k consistent; {weighted} }}
upstream rnd {{ random two least_conn; {plain} }}
server {{
    listen 127.0.0.1:@PORT@;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /iph {{ proxy_pass http://iph; }}
    location /hsh {{ proxy_pass http://hsh; }}
    location /con {{ proxy_pass http://con; }}
    location /rnd {{ proxy_pass http://rnd; }}
}}
"#,
        plain = list(&[]),
        weighted = list(&[" weight=2", "", " weight=3"]),
    )
}

fn ask(request: impl Fn(&[u8]) -> Response, path: &str, client: &str) -> String {
    let raw = format!(
        "GET {path} HTTP/1.1\r\nHost: h.test\r\nX-Real-IP: {client}\r\nConnection: close\r\n\r\n"
    );
    let r = request(raw.as_bytes());
    assert_eq!(r.status, 200, "{path} {client}: {}", r.head);
    r.text()
}

/// Who answers each client address (`ip_hash`) and each key (`hash`, consistent or
/// not).
fn answers(request: impl Fn(&[u8]) -> Response + Copy) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..40 {
        let client = format!("10.{}.{}.7", i * 37 % 256, i * 11 % 256);
        out.push(ask(request, "/iph", &client));
        // The last octet does not count: the same server.
        let neighbour = format!("10.{}.{}.200", i * 37 % 256, i * 11 % 256);
        assert_eq!(ask(request, "/iph", &neighbour), *out.last().unwrap());
        out.push(ask(request, &format!("/hsh?k=user{i}"), "10.0.0.1"));
        out.push(ask(request, &format!("/con?k=user{i}"), "10.0.0.1"));
    }
    out
}

#[test]
fn hashes_land_where_nginx_lands_them() {
    let (_backends, ports) = backends();
    let site = front(ports);
    let v = Vestibule::start(&site);
    let ours = answers(|raw| v.request(raw));
    // Sticky: asked again, the same answers.
    assert_eq!(answers(|raw| v.request(raw)), ours);
    // Spread: every server gets clients and keys.
    for p in ports {
        assert!(ours.iter().any(|a| a == &format!("B{p}\n")), "{p} got none");
    }
    match Nginx::start(&site, |_| {}) {
        Some(n) => {
            let theirs = answers(|raw| n.request(raw));
            assert_eq!(ours, theirs, "vestibule and nginx chose differently");
        }
        None => eprintln!("nginx not installed: compared with nothing"),
    }
}

#[test]
fn random_spreads_and_a_down_server_is_skipped() {
    let (_backends, ports) = backends();
    let v = Vestibule::start(&front(ports));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..60 {
        seen.insert(ask(|raw| v.request(raw), "/rnd", "10.0.0.1"));
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    // A server marked down: ip_hash sends its clients elsewhere.
    let site = front(ports).replace(
        &format!("ip_hash; server 127.0.0.1:{};", ports[0]),
        &format!("ip_hash; server 127.0.0.1:{} down;", ports[0]),
    );
    let v = Vestibule::start(&site);
    for i in 0..20 {
        let client = format!("10.{i}.1.1");
        let who = ask(|raw| v.request(raw), "/iph", &client);
        assert_ne!(
            who,
            format!("B{}\n", ports[0]),
            "{client} went to a down server"
        );
    }
}

#[test]
fn configuration_errors_as_nginx() {
    let dir = tempfile::tempdir().unwrap();
    let ours = env!("CARGO_BIN_EXE_vestibule");
    for (http, message) in [
        (
            "upstream u { ip_hash; server 127.0.0.1:1; server 127.0.0.1:2 backup; }",
            "balancing method does not support parameter \"backup\"",
        ),
        (
            "upstream u { hash $uri sometimes; server 127.0.0.1:1; }",
            "invalid parameter \"sometimes\"",
        ),
        (
            "upstream u { random three; server 127.0.0.1:1; }",
            "invalid parameter \"three\"",
        ),
    ] {
        let err = test_config(ours, dir.path(), http);
        assert!(err.contains(message), "{http}: {err}");
        if Nginx::available() {
            let theirs = test_config(common::nginx::NGINX, dir.path(), http);
            assert!(theirs.contains("[emerg]"), "nginx accepts {http}: {theirs}");
        }
    }
    let err = test_config(
        ours,
        dir.path(),
        "upstream u { least_conn; ip_hash; server 127.0.0.1:1; } server { listen 127.0.0.1:1; location / { proxy_pass http://u; } }",
    );
    assert!(
        err.contains("[warn] load balancing method redefined"),
        "{err}"
    );
}
