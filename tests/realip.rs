//! The realip directives through the real binary: who `$remote_addr` is when vestibule
//! sits behind a load balancer (`set_real_ip_from`, `real_ip_header`,
//! `real_ip_recursive`), and that nothing a client sends changes it otherwise.
//!
//! What the app sees comes from Gunicorn's `/echo` (the headers `include
//! proxy_params;` sets); what vestibule itself thinks comes from a `return` that
//! prints the variables and from an access log format that logs them:
//! `$remote_addr|$remote_port|$realip_remote_addr "$request"`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use common::{Client, ClientOptions, Driver, Gunicorn, Response, Vestibule};

/// The access log format every test server uses.
const LOG_FORMAT: &str =
    "log_format realip '$remote_addr|$remote_port|$realip_remote_addr \"$request\"';";

/// A server with the realip settings in `realip`, the guide's proxy location (when
/// `upstream` is given) and `/whoami`, which answers with the variables.
fn server(realip: &str, upstream: Option<&str>, extra: &str) -> String {
    let proxy = upstream.map_or_else(String::new, |u| {
        format!("location / {{ include proxy_params; proxy_pass {u}; }}")
    });
    format!(
        r#"
server {{
    listen 127.0.0.1:@PORT@;
    server_name realip.test;
    access_log @DIR@/access.log realip;
    {realip}
    {proxy}
    location = /whoami {{
        return 200 "$remote_addr|$remote_port|$realip_remote_addr|$realip_remote_port\n";
    }}
    {extra}
}}
"#
    )
}

fn start(servers: &str) -> Vestibule {
    Vestibule::start_with(servers, LOG_FORMAT, Driver::Default)
}

/// `GET path` with `headers` (each a full line without CRLF) from `from`.
fn get_from(v: &Vestibule, from: Ipv4Addr, path: &str, headers: &[&str]) -> Response {
    let mut c = Client::connect_with(
        v.port,
        ClientOptions {
            from: Some(from),
            rcvbuf: None,
        },
    );
    c.send(request(path, headers).as_bytes());
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{r}");
    r
}

fn get(v: &Vestibule, path: &str, headers: &[&str]) -> Response {
    get_from(v, Ipv4Addr::LOCALHOST, path, headers)
}

fn request(path: &str, headers: &[&str]) -> String {
    let mut raw = format!("GET {path} HTTP/1.1\r\nHost: realip.test\r\nConnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    raw
}

/// `/whoami`'s answer: `$remote_addr|$remote_port|$realip_remote_addr|$realip_remote_port`.
fn whoami(v: &Vestibule, headers: &[&str]) -> Vec<String> {
    let r = get(v, "/whoami", headers);
    r.text().trim_end().split('|').map(str::to_string).collect()
}

#[test]
fn without_set_real_ip_from_client_headers_change_nothing() {
    let g = Gunicorn::tcp(1);
    let v = start(&server("", Some(&g.proxy_pass()), ""));
    let spoof = [
        "X-Real-IP: 1.2.3.4",
        "X-Forwarded-For: 1.2.3.4",
        "Forwarded: for=1.2.3.4",
    ];
    let r = get(&v, "/echo?case=spoof", &spoof);
    let j = r.json();
    assert_eq!(j.request_headers("x-real-ip"), vec!["127.0.0.1"]);
    // The client's list is kept and vestibule's peer appended, never replaced.
    assert_eq!(
        j.request_headers("x-forwarded-for"),
        vec!["1.2.3.4, 127.0.0.1"]
    );
    // proxy_params sets Forwarded from what vestibule saw: the client's is replaced.
    assert_eq!(
        j.request_headers("forwarded"),
        vec!["for=127.0.0.1;proto=http;host=realip.test"]
    );
    assert_eq!(j.str("remote_addr"), "127.0.0.1", "ProxyFix(x_for=1)");
    let line = v.wait_for_access_line("case=spoof");
    assert!(line.starts_with("127.0.0.1|"), "{line}");
    let who = whoami(&v, &spoof);
    assert_eq!(who[0], "127.0.0.1");
    assert_eq!(who[2], "127.0.0.1");
    assert_eq!(who[1], who[3], "$remote_port is the connection's");
}

#[test]
fn trusted_peer_takes_the_last_x_forwarded_for_address() {
    let g = Gunicorn::tcp(1);
    let v = start(&server(
        "set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;",
        Some(&g.proxy_pass()),
        "",
    ));
    let xff = ["X-Forwarded-For: 203.0.113.7, 198.51.100.2"];
    let r = get(&v, "/echo?case=xff", &xff);
    let j = r.json();
    assert_eq!(j.request_headers("x-real-ip"), vec!["198.51.100.2"]);
    // As nginx: $proxy_add_x_forwarded_for appends the new $remote_addr.
    assert_eq!(
        j.request_headers("x-forwarded-for"),
        vec!["203.0.113.7, 198.51.100.2, 198.51.100.2"]
    );
    // The header had no port: $remote_port is empty (logged as "-").
    let line = v.wait_for_access_line("case=xff");
    assert!(
        line.starts_with("198.51.100.2|-|127.0.0.1 \"GET /echo?case=xff"),
        "{line}"
    );
    let who = whoami(&v, &xff);
    assert_eq!(who[..3], ["198.51.100.2", "", "127.0.0.1"]);
    assert!(who[3].parse::<u16>().unwrap() > 0, "{who:?}");
}

#[test]
fn x_real_ip_is_the_default_header_and_may_carry_a_port() {
    let v = start(&server("set_real_ip_from 127.0.0.0/8;", None, ""));
    let who = whoami(&v, &["X-Real-IP: 203.0.113.9:4711"]);
    assert_eq!(who[..3], ["203.0.113.9", "4711", "127.0.0.1"]);
    let who = whoami(&v, &["X-Real-IP: [2001:db8::5]:443"]);
    assert_eq!(who[..3], ["2001:db8::5", "443", "127.0.0.1"]);
    // X-Forwarded-For is not the configured header: ignored.
    let who = whoami(&v, &["X-Forwarded-For: 203.0.113.9"]);
    assert_eq!(who[0], "127.0.0.1");
}

#[test]
fn recursive_walks_past_every_trusted_proxy() {
    let chain = "X-Forwarded-For: 198.51.100.9, 203.0.113.4, 10.1.1.1, 10.2.2.2";
    let trusted = "set_real_ip_from 127.0.0.1; set_real_ip_from 10.0.0.0/8; \
                   real_ip_header X-Forwarded-For;";
    let v = start(&server(
        &format!("{trusted} real_ip_recursive on;"),
        None,
        "",
    ));
    assert_eq!(whoami(&v, &[chain])[0], "203.0.113.4");
    // Every address trusted: the leftmost.
    let all = "X-Forwarded-For: 10.9.9.9, 10.1.1.1";
    assert_eq!(whoami(&v, &[all])[0], "10.9.9.9");
    // Split over several lines, the list reads as one.
    assert_eq!(
        whoami(
            &v,
            &[
                "X-Forwarded-For: 198.51.100.9, 203.0.113.4",
                "X-Forwarded-For: 10.1.1.1, 10.2.2.2"
            ]
        )[0],
        "203.0.113.4"
    );
    drop(v);
    // Without recursion, the last address whatever it is.
    let v = start(&server(trusted, None, ""));
    assert_eq!(whoami(&v, &[chain])[0], "10.2.2.2");
}

#[test]
fn a_peer_outside_the_trusted_ranges_changes_nothing() {
    let v = start(&server(
        "set_real_ip_from 10.0.0.0/8; set_real_ip_from 192.168.0.0/16; \
         set_real_ip_from 127.0.0.2; real_ip_header X-Forwarded-For;",
        None,
        "",
    ));
    let xff = "X-Forwarded-For: 203.0.113.50";
    let r = get(&v, "/whoami", &[xff]);
    assert!(r.text().starts_with("127.0.0.1|"), "{r}");
    // The same request from 127.0.0.2, which is trusted.
    let r = get_from(&v, Ipv4Addr::new(127, 0, 0, 2), "/whoami", &[xff]);
    assert!(r.text().starts_with("203.0.113.50||127.0.0.2|"), "{r}");
}

#[test]
fn an_unparsable_address_changes_nothing() {
    let v = start(&server(
        "set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For; real_ip_recursive on;",
        None,
        "",
    ));
    for value in [
        "unknown",
        "<script>alert(1)</script>",
        "1.2.3.4:99999",
        "256.1.1.1",
        "[2001:db8::1]",
        "1.2.3.4, garbage",
        ",",
    ] {
        let who = whoami(&v, &[&format!("X-Forwarded-For: {value}")]);
        assert_eq!(who[0], "127.0.0.1", "X-Forwarded-For: {value}");
    }
}

#[test]
fn realip_remote_addr_keeps_the_peer_and_the_next_request_starts_over() {
    let v = start(&server(
        "set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;",
        None,
        "",
    ));
    let mut c = v.client();
    let first =
        "GET /whoami?n=1 HTTP/1.1\r\nHost: realip.test\r\nX-Forwarded-For: 198.51.100.20\r\n\r\n";
    c.send(first.as_bytes());
    let r = c.read_response(false);
    assert!(r.text().starts_with("198.51.100.20||127.0.0.1|"), "{r}");
    // Same connection, no header: the connection's own address again.
    c.send(b"GET /whoami?n=2 HTTP/1.1\r\nHost: realip.test\r\nConnection: close\r\n\r\n");
    let r = c.read_response(false);
    assert!(r.text().starts_with("127.0.0.1|"), "{r}");
    let line = v.wait_for_access_line("/whoami?n=1");
    assert!(line.starts_with("198.51.100.20|-|127.0.0.1 \""), "{line}");
    let line = v.wait_for_access_line("/whoami?n=2");
    assert!(line.starts_with("127.0.0.1|"), "{line}");
}

#[test]
fn location_settings_apply_when_the_server_has_none() {
    // nginx runs the module with the server's settings first (post-read) and with the
    // location's before its handler (preaccess); `return` runs before that.
    let v = start(&server(
        "",
        None,
        r#"
    location /loc/ {
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        location = /loc/return { return 200 "$remote_addr\n"; }
        error_page 404 = /whoami;
    }"#,
    ));
    let xff = "X-Forwarded-For: 198.51.100.33";
    // The static handler runs after preaccess: its 404 page (an internal redirect to
    // /whoami) sees the replaced address.
    let r = get(&v, "/loc/missing", &[xff]);
    assert!(r.text().starts_with("198.51.100.33|"), "{r}");
    let r = get(&v, "/loc/return", &[xff]);
    assert_eq!(r.text(), "127.0.0.1\n");
}

#[test]
fn unix_socket_clients_are_trusted_with_unix() {
    let v = start(&server(
        "listen unix:@DIR@/in.sock; set_real_ip_from unix:; real_ip_header X-Forwarded-For;",
        None,
        "",
    ));
    let mut s = UnixStream::connect(v.path("in.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(request("/whoami", &["X-Forwarded-For: 198.51.100.44"]).as_bytes())
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.ends_with("\r\n\r\n198.51.100.44||unix:|\n"),
        "{answer}"
    );
    // TCP clients are not unix sockets: not trusted.
    let who = whoami(&v, &["X-Forwarded-For: 198.51.100.44"]);
    assert_eq!(who[0], "127.0.0.1");
}

#[test]
fn connection_cannot_strip_the_forwarding_headers_vestibule_sets() {
    let g = Gunicorn::tcp(1);
    let v = start(&server("", Some(&g.proxy_pass()), ""));
    // The client names the headers in Connection, as if they were hop-by-hop: its own
    // copies go, the ones proxy_params sets are still sent.
    let raw = "GET /echo HTTP/1.1\r\nHost: realip.test\r\n\
               Connection: X-Forwarded-For, X-Real-IP, close\r\n\
               X-Forwarded-For: 1.2.3.4\r\nX-Real-IP: 6.6.6.6\r\n\r\n";
    let r = v.request(raw.as_bytes());
    assert_eq!(r.status, 200, "{r}");
    let j = r.json();
    assert_eq!(j.request_headers("x-real-ip"), vec!["127.0.0.1"]);
    assert_eq!(
        j.request_headers("x-forwarded-for"),
        vec!["1.2.3.4, 127.0.0.1"]
    );
    assert_eq!(j.str("remote_addr"), "127.0.0.1");
}

#[test]
fn a_bad_network_fails_the_config_test_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("vestibule.conf");
    std::fs::write(
        &conf,
        "events { }\nhttp {\n    server {\n        listen 127.0.0.1:8080;\n        \
         set_real_ip_from 10.0.0.0/33;\n        real_ip_header proxy_protocol;\n    }\n}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let at = |line: u32| format!(" in {}:{line}", conf.display());
    assert!(
        stderr.contains(&format!(
            "[emerg] invalid address \"10.0.0.0/33\" in \"set_real_ip_from\" directive \
             (an IPv4 prefix length is at most 32; write an address, ADDRESS/PREFIX, a host \
             name or \"unix:\"){}",
            at(5)
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "\"real_ip_header proxy_protocol\" directive is not supported by vestibule yet{}",
            ""
        )) && stderr.contains(&at(6)),
        "{stderr}"
    );
}

#[test]
fn settings_merge_down_as_nginx_merges_them() {
    use vestibule::config::model::{RealIpConf, RealIpHeader, TrustedPeer};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vestibule.conf");
    std::fs::write(
        &path,
        "http {
            set_real_ip_from 10.0.0.0/8;
            real_ip_header X-Forwarded-For;
            server {
                listen 127.0.0.1:8080;
                location /inherits/ { }
                location /own/ {
                    set_real_ip_from 192.168.0.0/16;
                    set_real_ip_from unix:;
                    real_ip_recursive on;
                }
            }
            server { listen 127.0.0.1:8081; real_ip_header X-Real-IP; }
        }
        ",
    )
    .unwrap();
    let loaded = vestibule::config::load(&vestibule::config::LoadOptions {
        main_file: path,
        prefix: None,
        directives: None,
        embedded_if_missing: false,
        error_log: None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let http = loaded.config.http.unwrap();
    let describe = |r: &RealIpConf| {
        let from: Vec<String> = r
            .set_real_ip_from
            .iter()
            .map(|t| match t {
                TrustedPeer::Network(n) => n.to_string(),
                TrustedPeer::Unix => "unix:".to_string(),
            })
            .collect();
        (
            from.join(" "),
            r.real_ip_header.clone(),
            r.real_ip_recursive,
        )
    };
    let s = &http.servers[0];
    let xff = RealIpHeader::XForwardedFor;
    assert_eq!(
        describe(&s.conf.realip),
        ("10.0.0.0/8".into(), xff.clone(), false)
    );
    let loc = |p: &str| {
        let l = s.locations.iter().find(|l| l.matcher.describe() == p);
        describe(&l.unwrap().conf.realip)
    };
    assert_eq!(loc("/inherits/"), ("10.0.0.0/8".into(), xff.clone(), false));
    // A level that lists any address replaces the inherited list, as nginx's merge.
    assert_eq!(loc("/own/"), ("192.168.0.0/16 unix:".into(), xff, true));
    assert_eq!(
        describe(&http.servers[1].conf.realip),
        ("10.0.0.0/8".into(), RealIpHeader::XRealIp, false)
    );
}
