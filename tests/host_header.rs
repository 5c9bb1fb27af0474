//! `Host` values at the edge of the grammar, through the real binary, answered as
//! nginx 1.22 answers them (each row checked against it with `return 200 "$host"`):
//! an IP-literal in IPvFuture form and a repeated port are 200 with the host part
//! as `$host`, while the same repeated port in an absolute-form target is 400.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Vestibule;

const SERVER: &str = "server { listen 127.0.0.1:@PORT@;
    location / { return 200 \"$host|$http_host\"; } }";

#[test]
fn host_edge_cases_as_nginx_answers_them() {
    let v = Vestibule::start(SERVER);
    // (name, Host value, status, body): nginx's answers.
    let rows: [(&str, &str, u16, &str); 8] = [
        (
            "ip_future",
            "[v1.fe80::a+en1]",
            200,
            "[v1.fe80::a+en1]|[v1.fe80::a+en1]",
        ),
        (
            "ip_future_with_port",
            "[v1.fe80::a+en1]:8080",
            200,
            "[v1.fe80::a+en1]|[v1.fe80::a+en1]:8080",
        ),
        (
            "ip_future_lowercased",
            "[V1.FE80::A+en1]",
            200,
            "[v1.fe80::a+en1]|[V1.FE80::A+en1]",
        ),
        ("port_twice", "a:80:80", 200, "a|a:80:80"),
        (
            "port_twice_lowercased",
            "Example.com:80:80",
            200,
            "example.com|Example.com:80:80",
        ),
        ("ipv6_port_twice", "[::1]:80:80", 200, "[::1]|[::1]:80:80"),
        (
            "ipv6_zone",
            "[fe80::1%25en0]",
            200,
            "[fe80::1%25en0]|[fe80::1%25en0]",
        ),
        ("space", "a b", 400, ""),
    ];
    for (name, host, status, body) in rows {
        let resp = v.get("/", host);
        assert_eq!(resp.status, status, "{name}: {resp}");
        if status == 200 {
            assert_eq!(resp.text(), body, "{name}");
        }
    }
}

#[test]
fn absolute_form_target_takes_one_port() {
    let v = Vestibule::start(SERVER);
    let resp = v.request(b"GET http://a:80:80/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(resp.status, 400, "{resp}");
    let resp = v.request(
        b"GET http://[v1.fe80::a+en1]:81/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 200, "{resp}");
    // `$host` is the authority, as in nginx (whose `$http_host` would be `x`).
    assert!(resp.text().starts_with("[v1.fe80::a+en1]|"), "{resp}");
}
