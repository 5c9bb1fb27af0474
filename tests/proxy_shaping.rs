//! `proxy_method`, `proxy_pass_request_headers`, `proxy_pass_request_body`,
//! `proxy_set_body`, `proxy_cookie_path` and `proxy_ignore_client_abort` in front of a
//! real Gunicorn + Flask app that echoes what it received — the same configuration
//! answered by nginx beside it where nginx answers. (nginx passes the client's
//! `Content-Length` on with `proxy_pass_request_body off` or `proxy_pass_request_headers
//! off` and a body it no longer sends, so the app waits for bytes that never come;
//! vestibule frames the body it sends. docs/proxy.md says so.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::nginx::Nginx;
use common::{read_lossy, wait_until, Client, Gunicorn, Response, Vestibule};

fn site(upstream: &str) -> String {
    format!(
        r#"
log_format st '$request_uri $status';
server {{
    listen 127.0.0.1:@PORT@;
    access_log @DIR@/st.log st;
    location /method/ {{ proxy_pass {upstream}/echo/; proxy_method PUT; }}
    location /noheaders/ {{ proxy_pass {upstream}/echo/; proxy_pass_request_headers off; }}
    location /nobody/ {{ proxy_pass {upstream}/echo/; proxy_pass_request_body off; }}
    location /setbody/ {{
        proxy_pass {upstream}/echo/;
        proxy_set_body "token=$arg_t&fixed=1";
        proxy_set_header Content-Type application/x-www-form-urlencoded;
    }}
    location /app/ {{ proxy_pass {upstream}/; proxy_cookie_path / /app/; }}
    location /abort/ {{ proxy_pass {upstream}/; proxy_ignore_client_abort on; }}
    location /keep/ {{ proxy_pass {upstream}/; proxy_socket_keepalive on; proxy_next_upstream_timeout 5s; }}
}}
"#
    )
}

/// What the app saw, as (method, body length, the X-Custom header, the form).
fn seen(request: impl Fn(&[u8]) -> Response, raw: &str) -> (String, u64, Vec<String>, String) {
    let r = request(raw.as_bytes());
    assert_eq!(r.status, 200, "{raw}: {}", r.head);
    let j = r.json();
    (
        j.str("method"),
        j.num("body_len"),
        j.request_headers("x-custom"),
        format!("{:?}", j.get("form")),
    )
}

fn check(request: impl Fn(&[u8]) -> Response + Copy) -> Vec<(String, u64, Vec<String>, String)> {
    let post = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: h.test\r\nX-Custom: yes\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        )
    };
    let get = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: h.test\r\nX-Custom: yes\r\nConnection: close\r\n\r\n")
    };
    vec![
        seen(request, &get("/method/x")),
        seen(request, &post("/noheaders/x")),
        seen(request, &post("/nobody/x")),
        seen(request, &post("/setbody/x?t=abc")),
        seen(request, &get("/keep/echo")),
    ]
}

/// The cases nginx answers (see the module's note).
fn check_where_nginx_answers(
    request: impl Fn(&[u8]) -> Response + Copy,
) -> Vec<(String, u64, Vec<String>, String)> {
    let get = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: h.test\r\nX-Custom: yes\r\nConnection: close\r\n\r\n")
    };
    let post = "POST /setbody/x?t=abc HTTP/1.1\r\nHost: h.test\r\nX-Custom: yes\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    vec![
        seen(request, &get("/method/x")),
        seen(request, post),
        seen(request, &get("/keep/echo")),
    ]
}

#[test]
fn the_request_is_reshaped_as_nginx_reshapes_it() {
    let g = Gunicorn::tcp(1);
    let site = site(&g.proxy_pass());
    let v = Vestibule::start(&site);
    let ours = check(|raw| v.request(raw));
    assert_eq!(ours[0].0, "PUT");
    assert_eq!(ours[0].2, vec!["yes".to_string()]);
    assert!(
        ours[1].2.is_empty(),
        "client headers were sent: {:?}",
        ours[1]
    );
    assert_eq!((ours[2].0.as_str(), ours[2].1), ("POST", 0));
    assert_eq!(ours[3].1, "token=abc&fixed=1".len() as u64);
    assert!(ours[3].3.contains("abc"), "{:?}", ours[3]);
    assert_eq!(ours[4].0, "GET");
    if let Some(n) = Nginx::start(&site, |_| {}) {
        let theirs = check_where_nginx_answers(|raw| n.request(raw));
        let same: Vec<_> = [0, 3, 4].iter().map(|&i| ours[i].clone()).collect();
        assert_eq!(theirs, same, "nginx differs");
    }
}

#[test]
fn cookie_paths_follow_the_prefix() {
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&site(&g.proxy_pass()));
    let r = v.get("/app/cookies", "h.test");
    let cookies = r.headers_named("set-cookie");
    assert!(!cookies.is_empty());
    for c in cookies {
        assert!(c.contains("Path=/app/"), "{c}");
    }
}

#[test]
fn a_client_that_leaves_does_not_end_the_upstream_request_when_told() {
    let g = Gunicorn::tcp(2);
    let site = site(&g.proxy_pass());
    let v = Vestibule::start(&site);
    // The client sends and leaves at once; the app answers a second later.
    for path in ["/abort/slow?s=1", "/keep/slow?s=1"] {
        let mut c = Client::connect(v.port);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: h.test\r\n\r\n").as_bytes());
        std::thread::sleep(Duration::from_millis(200));
        drop(c);
    }
    let log = v.path("st.log");
    assert!(wait_until(Duration::from_secs(10), || read_lossy(&log)
        .lines()
        .count()
        >= 2));
    let text = read_lossy(&log);
    assert!(text.contains("/keep/slow?s=1 499"), "{text}");
    assert!(text.contains("/abort/slow?s=1 200"), "{text}");
}

/// `proxy_next_upstream_timeout`: after an upstream that never answers times out, the
/// next server is tried only while the limit allows.
#[test]
fn the_next_server_is_tried_only_within_the_timeout() {
    let g = Gunicorn::tcp(1);
    let hang = common::FakeUpstream::start("hang");
    let app = g.proxy_pass().trim_start_matches("http://").to_string();
    let v = Vestibule::start(&format!(
        r#"
upstream within {{ server 127.0.0.1:{h}; server {app}; }}
upstream short {{ server 127.0.0.1:{h}; server {app}; }}
server {{
    listen 127.0.0.1:@PORT@;
    proxy_read_timeout 1s;
    location /within/ {{ proxy_pass http://within/; proxy_next_upstream_timeout 10s; }}
    location /short/ {{ proxy_pass http://short/; proxy_next_upstream_timeout 500ms; }}
}}
"#,
        h = hang.port
    ));
    // Each group's first pick is its first server, the one that hangs.
    assert_eq!(v.get("/within/", "h.test").status, 200);
    assert_eq!(v.get("/short/", "h.test").status, 504);
}

/// `proxy_bind`: the upstream sees the connection come from the address given, under
/// either io driver, as from nginx.
#[test]
fn proxy_bind_sets_the_source_address() {
    let backend = Vestibule::start(
        r#"server { listen 127.0.0.1:@PORT@; location / { return 200 "$remote_addr\n"; } }"#,
    );
    let site = format!(
        r#"
server {{
    listen 127.0.0.1:@PORT@;
    location /bound/ {{ proxy_pass http://127.0.0.1:{p}/; proxy_bind 127.0.0.2; }}
    location /free/ {{ proxy_pass http://127.0.0.1:{p}/; }}
}}
"#,
        p = backend.port
    );
    for driver in [common::Driver::Default, common::Driver::Epoll] {
        let v = Vestibule::start_with(&site, "", driver);
        for _ in 0..2 {
            assert_eq!(
                v.get("/bound/", "h.test").text(),
                "127.0.0.2\n",
                "{driver:?}"
            );
        }
        assert_eq!(v.get("/free/", "h.test").text(), "127.0.0.1\n");
    }
    if let Some(n) = Nginx::start(&site, |_| {}) {
        let r = n.request(b"GET /bound/ HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n");
        assert_eq!(r.text(), "127.0.0.2\n");
    }
}

/// `proxy_socket_keepalive on`: the kernel runs its keep-alive timer on the idle
/// upstream connection (`/proc/net/tcp`'s timer field 2); off, it does not.
#[test]
fn proxy_socket_keepalive_arms_the_kernel_timer() {
    let timers = |port: u16| -> Vec<String> {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let want = format!(":{port:04X}");
        table
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // local, remote, state 01 (established), "tr:when".
                (f.get(2)?.ends_with(&want) && f.get(3)? == &"01")
                    .then(|| {
                        f.get(5)
                            .map(|t| t.split(':').next().unwrap_or("").to_string())
                    })
                    .flatten()
            })
            .collect()
    };
    for (on, want) in [("on", "02"), ("off", "00")] {
        let backend = Vestibule::start(
            r#"server { listen 127.0.0.1:@PORT@; location / { return 200 "ok\n"; } }"#,
        );
        let v = Vestibule::start(&format!(
            r#"server {{ listen 127.0.0.1:@PORT@;
                 location / {{ proxy_pass http://127.0.0.1:{p}; proxy_socket_keepalive {on}; }} }}"#,
            p = backend.port
        ));
        assert_eq!(v.get("/", "h.test").status, 200);
        // The upstream connection now idles in the pool.
        let seen = timers(backend.port);
        assert!(!seen.is_empty(), "no pooled connection to {}", backend.port);
        assert!(seen.iter().all(|t| t == want), "{on}: {seen:?}");
    }
}

/// `proxy_cookie_domain` through the binary: the upstream's `Domain` attribute
/// becomes the public name; `proxy_ignore_headers` loads with the fields nginx allows
/// and refuses others, as nginx's `-t` does.
#[test]
fn cookie_domains_and_ignored_headers() {
    let backend = Vestibule::start(
        r#"server { listen 127.0.0.1:@PORT@;
             location / { add_header Set-Cookie "sid=1; Domain=.backend.local; Path=/"; return 200 "ok\n"; } }"#,
    );
    let site = format!(
        r#"server {{ listen 127.0.0.1:@PORT@;
             location / {{ proxy_pass http://127.0.0.1:{p}; proxy_cookie_domain backend.local example.org;
                 proxy_ignore_headers X-Accel-Redirect Expires Cache-Control Set-Cookie; }} }}"#,
        p = backend.port
    );
    let v = Vestibule::start(&site);
    let r = v.get("/", "h.test");
    assert_eq!(
        r.header("set-cookie"),
        Some("sid=1; Domain=.example.org; Path=/")
    );
    if let Some(n) = Nginx::start(&site, |_| {}) {
        let r = n.request(b"GET / HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n");
        assert_eq!(
            r.header("set-cookie"),
            Some("sid=1; Domain=.example.org; Path=/")
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let err = common::test_config(
        env!("CARGO_BIN_EXE_vestibule"),
        dir.path(),
        "server { listen 127.0.0.1:1; location / { proxy_pass http://127.0.0.1:2; proxy_ignore_headers X-Custom; } }",
    );
    assert!(err.contains("invalid value \"X-Custom\""), "{err}");
}
