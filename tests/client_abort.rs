//! A client that leaves while vestibule waits for the upstream's answer: nginx's 499
//! in the access log, its info line in the error log, and the upstream connection
//! closed too. Under io_uring and epoll. Also `return 444`, logged as nginx logs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Client, Driver, FakeUpstream, Vestibule};

fn proxy_to(fake: &FakeUpstream, driver: Driver) -> Vestibule {
    let up = format!("http://127.0.0.1:{}", fake.port);
    Vestibule::start_with(
        &format!(
            "
server {{
    listen 127.0.0.1:@PORT@;
    server_name example.com;
    proxy_read_timeout 30s;
    location / {{
        include proxy_params;
        proxy_pass {up};
    }}
    location = /gone {{ return 444; }}
}}
"
        ),
        "",
        driver,
    )
}

fn client_leaves_while_the_upstream_thinks(driver: Driver) {
    let fake = FakeUpstream::start("hang");
    let v = proxy_to(&fake, driver);
    let mut c = Client::connect(v.port);
    c.send(b"GET /slow HTTP/1.1\r\nHost: example.com\r\n\r\n");
    std::thread::sleep(Duration::from_millis(300));
    drop(c);
    v.wait_for_access_line("\"GET /slow HTTP/1.1\" 499 ");
    v.wait_for_error_line(&[
        "client prematurely closed connection, so upstream connection is closed too",
        "request: \"GET /slow HTTP/1.1\"",
        &format!("upstream: \"http://127.0.0.1:{}/slow\"", fake.port),
    ]);
    // A client that stays is still answered (the watch does not misfire on a live
    // connection, nor on one with a pipelined request waiting behind it).
    let ok = FakeUpstream::start("ok");
    let v = proxy_to(&ok, driver);
    let mut c = Client::connect(v.port);
    c.send(
        b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\nGET /b HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(c.read_response(false).status, 200);
    assert_eq!(c.read_response(false).status, 200);
}

#[test]
fn a_client_leaving_during_the_upstream_wait_is_logged_499() {
    client_leaves_while_the_upstream_thinks(Driver::Default);
}

#[test]
fn a_client_leaving_during_the_upstream_wait_is_logged_499_on_epoll() {
    client_leaves_while_the_upstream_thinks(Driver::Epoll);
}

#[test]
fn return_444_closes_and_is_logged_444() {
    let fake = FakeUpstream::start("ok");
    let v = proxy_to(&fake, Driver::Default);
    let mut c = Client::connect(v.port);
    c.send(b"GET /gone HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert!(c.closed_by_peer());
    v.wait_for_access_line("\"GET /gone HTTP/1.1\" 444 0");
}
