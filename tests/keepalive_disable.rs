//! `keepalive_disable none|msie6|safari`: the browsers nginx never keeps alive — MSIE 4
//! to 6 (not XP SP2's) after a POST by default, Safari on Apple systems when asked —
//! through the real binary, each answer's `Connection` header checked against nginx
//! 1.22 where it is installed. `-t` reports a bad value as nginx does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::nginx::Nginx;
use common::{Response, Vestibule};

const SERVERS: &str = r#"
server {
    listen 127.0.0.1:@PORT@;
    location / { return 200 "ok\n"; }
    location /safari/ { keepalive_disable safari; return 200 "ok\n"; }
    location /both/ { keepalive_disable msie6 safari; return 200 "ok\n"; }
    location /none/ { keepalive_disable none; return 200 "ok\n"; }
    location /lines/ { keepalive_disable none; keepalive_disable safari; return 200 "ok\n"; }
}
"#;

const MSIE6: &str = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)";
const MSIE6_SP2: &str = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)";
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15";
const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

/// A request that asks for keep-alive (HTTP/1.1, no `Connection: close`).
fn ask(port: u16, method: &str, path: &str, ua: &str) -> Response {
    let mut c = common::Client::connect(port);
    c.send(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: {ua}\r\nContent-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    );
    c.read_response(false)
}

#[test]
fn browsers_refused_keep_alive_as_nginx() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("msie6 after a POST: closed by default", "POST", "/", MSIE6, "close"),
        ("msie6 after a GET: kept", "GET", "/", MSIE6, "keep-alive"),
        ("msie6 of XP SP2: kept", "POST", "/", MSIE6_SP2, "keep-alive"),
        ("safari: kept by default", "GET", "/", SAFARI, "keep-alive"),
        ("safari: closed when named", "GET", "/safari/", SAFARI, "close"),
        ("chrome on a mac is not safari", "GET", "/safari/", CHROME_MAC, "keep-alive"),
        ("safari only: msie6 kept", "POST", "/safari/", MSIE6, "keep-alive"),
        ("both: msie6 closed", "POST", "/both/", MSIE6, "close"),
        ("both: safari closed", "GET", "/both/", SAFARI, "close"),
        ("none: msie6 kept", "POST", "/none/", MSIE6, "keep-alive"),
        ("two lines add up", "GET", "/lines/", SAFARI, "close"),
    ];
    let vestibule = Vestibule::start(SERVERS);
    let nginx = Nginx::start(SERVERS, |_| {});
    let mut servers = vec![("vestibule", vestibule.port)];
    if let Some(n) = &nginx {
        servers.push(("nginx", n.port));
    }
    for (who, port) in servers {
        for (name, method, path, ua, want) in cases {
            let r = ask(port, method, path, ua);
            assert_eq!(r.status, 200, "{who}, {name}: {r}");
            assert_eq!(r.header("connection"), Some(*want), "{who}, {name}: {r}");
        }
    }
}

#[test]
fn values_checked_as_nginx() {
    #[rustfmt::skip]
    let rows: &[(&str, &str, &str, bool)] = &[
        ("unknown browser", "keepalive_disable opera;", "invalid value \"opera\" in @CONF@:5", false),
        ("a value twice", "keepalive_disable msie6 msie6;", "duplicate value \"msie6\" in @CONF@:5", true),
        ("lines add up", "keepalive_disable none;\nkeepalive_disable safari;", "syntax is ok", true),
        ("a value again on another line", "keepalive_disable safari;\nkeepalive_disable safari;", "duplicate value \"safari\" in @CONF@:6", true),
    ];
    for (name, http, want, loads) in rows {
        for program in [env!("CARGO_BIN_EXE_vestibule"), common::nginx::NGINX] {
            if program == common::nginx::NGINX && !Nginx::available() {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let conf = dir.path().join("t.conf");
            let want = want.replace("@CONF@", &conf.display().to_string());
            let err = common::test_config(program, dir.path(), http);
            let verdict = if *loads {
                "test is successful"
            } else {
                "test failed"
            };
            assert!(
                err.contains(&want) && err.contains(verdict),
                "{program}, {name}: want {want:?} and {verdict:?} in\n{err}"
            );
        }
    }
}
