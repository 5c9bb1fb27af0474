//! The guide's deployment, end to end: the real vestibule binary in front of a real
//! Gunicorn running the Flask app in `tests/apps/app.py`, over TCP and over a unix
//! socket, with the server block of "Nginx Reverse Proxy for Flask" (static files by
//! `alias`, everything else by `include proxy_params; proxy_pass ...`).
//!
//! Each test is one scenario a user of that guide meets: the app answering through the
//! proxy, the app seeing the client's address, host and scheme, uploads, redirects,
//! Gunicorn down (502 and the nginx log line), a timeout (504), a body too large (413),
//! `proxy_pass` with a URI, `return`, `add_header`, `error_page`, static files and
//! `server_name`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::Ipv4Addr;
use std::path::Path;

use common::{
    pattern, sha256_hex, Client, ClientOptions, Driver, Framing, Gunicorn, Response, Vestibule,
};

const HELLO: &str = "Hello from Flask\n";

/// A static directory as the guide has it: `static/app.css`, `static/app.js`, plus
/// `html/` with error pages.
fn site_dir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("vestibule-site-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(d.path().join("static/img")).unwrap();
    std::fs::create_dir_all(d.path().join("html")).unwrap();
    std::fs::write(d.path().join("static/app.css"), "body { color: teal; }\n").unwrap();
    std::fs::write(
        d.path().join("static/app.js"),
        "console.log('vestibule');\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("static/img/logo.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("html/custom_404.html"),
        "<h1>custom 404: nothing here</h1>\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("html/50x.html"),
        "<h1>the app is down, back soon</h1>\n",
    )
    .unwrap();
    d
}

/// The guide's server block, with `extra` (more directives or locations) inside it.
fn guide_server(upstream: &str, site: &Path, extra: &str) -> String {
    format!(
        "
server {{
    listen 127.0.0.1:@PORT@;
    server_name example.com www.example.com;
    location /static/ {{
        alias {site}/static/;
    }}
    location / {{
        include proxy_params;
        proxy_pass {upstream};
        proxy_redirect off;
    }}
{extra}
}}
",
        site = site.display()
    )
}

fn request(v: &Vestibule, raw: &str) -> Response {
    v.request(raw.as_bytes())
}

fn assert_status(r: &Response, status: u16) {
    assert_eq!(r.status, status, "unexpected response:\n{r}");
    assert!(r.complete(), "response body cut short:\n{r}");
}

/// Everything the guide's user does against a working deployment.
fn happy_path(v: &Vestibule) {
    // GET: the app's answer, signed by vestibule.
    let r = v.get("/", "example.com");
    assert_status(&r, 200);
    assert_eq!(r.text(), HELLO);
    assert!(r.header("server").unwrap().starts_with("vestibule"), "{r}");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    // One Server (vestibule's, not Gunicorn's), one Date, one Connection.
    assert_eq!(r.headers_named("server").len(), 1, "{r}");
    assert_eq!(r.headers_named("date").len(), 1, "{r}");
    assert_eq!(r.headers_named("connection"), vec!["close"], "{r}");

    // HEAD: the length of the GET, no body; the next response on the same connection
    // parses cleanly, so no body byte leaked after the head.
    let mut c = v.client();
    c.send(
        b"HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\nGET /echo?after=head HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    let head = c.read_response(true);
    assert_status(&head, 200);
    assert_eq!(head.header("content-length"), Some("17"), "{head}");
    assert!(head.body.is_empty());
    let after = c.read_response(false);
    assert_status(&after, 200);
    assert_eq!(after.json().str("query"), "after=head");

    // Query strings pass through untouched.
    let r = v.get("/echo?a=1&b=%20x&a=2", "example.com");
    assert_status(&r, 200);
    let j = r.json();
    assert_eq!(j.str("method"), "GET");
    assert_eq!(j.str("path"), "/echo");
    assert_eq!(j.str("query"), "a=1&b=%20x&a=2");
    assert_eq!(j.str("raw_uri"), "/echo?a=1&b=%20x&a=2");

    // POST a form.
    let form = "name=Ada+Lovelace&lang=en&lang=fr";
    let r = request(
        v,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
            form.len()
        ),
    );
    assert_status(&r, 200);
    let j = r.json();
    assert_eq!(j.str("method"), "POST");
    assert_eq!(j.form("name"), vec!["Ada Lovelace"]);
    assert_eq!(j.form("lang"), vec!["en", "fr"]);
    assert_eq!(j.num("body_len"), form.len() as u64);

    // POST JSON.
    let body = r#"{"user": "ada", "tags": ["x", "y"], "n": 3}"#;
    let r = request(
        v,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_status(&r, 200);
    let j = r.json();
    assert_eq!(j.str("content_type"), "application/json");
    assert_eq!(j.str("body_sha256"), sha256_hex(body.as_bytes()));
    assert_eq!(j.get("json").get("user"), &common::Json::Str("ada".into()));

    // A chunked upload: buffered by vestibule, sent on with a Content-Length.
    let data = pattern(100_000);
    let mut raw = b"PUT /echo/upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for piece in data.chunks(7_777) {
        raw.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let r = v.request(&raw);
    assert_status(&r, 200);
    let j = r.json();
    assert_eq!(j.num("body_len"), 100_000);
    assert_eq!(j.str("body_sha256"), sha256_hex(&data));
    assert_eq!(j.request_headers("content-length"), vec!["100000"]);
    assert!(j.request_headers("transfer-encoding").is_empty(), "{j:?}");

    // What the app knows about the client comes from proxy_params: a client on
    // 127.0.0.2 that is itself behind a proxy, asking for www.example.com:8443.
    let mut c = Client::connect_with(
        v.port,
        ClientOptions {
            from: Some(Ipv4Addr::new(127, 0, 0, 2)),
            rcvbuf: None,
        },
    );
    c.send(b"GET /echo HTTP/1.1\r\nHost: www.example.com:8443\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n");
    let r = c.read_response(false);
    assert_status(&r, 200);
    let j = r.json();
    assert_eq!(j.request_headers("x-real-ip"), vec!["127.0.0.2"]);
    assert_eq!(
        j.request_headers("x-forwarded-for"),
        vec!["203.0.113.7, 127.0.0.2"]
    );
    assert_eq!(j.request_headers("x-forwarded-proto"), vec!["http"]);
    assert_eq!(j.request_headers("host"), vec!["www.example.com:8443"]);
    assert_eq!(j.str("remote_addr"), "127.0.0.2", "ProxyFix(x_for=1)");
    assert_eq!(j.str("scheme"), "http");
    assert_eq!(j.str("host"), "www.example.com:8443");
    assert_eq!(j.str("url_root"), "http://www.example.com:8443/");

    // Redirects made by Flask reach the client as Flask made them (proxy_redirect off).
    let r = v.get("/redirect", "example.com");
    assert_status(&r, 302);
    assert_eq!(r.header("location"), Some("/"));
    let r = v.get("/redirect/external", "www.example.com");
    assert_status(&r, 302);
    assert_eq!(r.header("location"), Some("http://www.example.com/"));

    // The access log records the requests (buffered, flushed within a second).
    let line = v.wait_for_access_line("\"GET /redirect HTTP/1.1\" 302");
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
}

#[test]
fn guide_deployment_over_tcp() {
    let site = site_dir();
    let g = Gunicorn::tcp(2);
    let v = Vestibule::start(&guide_server(&g.proxy_pass(), site.path(), ""));
    v.assert_driver_logged();
    happy_path(&v);
}

#[test]
fn guide_deployment_over_unix_socket() {
    let site = site_dir();
    let g = Gunicorn::unix(2);
    let v = Vestibule::start(&guide_server(
        &g.proxy_pass(),
        site.path(),
        &format!(
            "    location /app/ {{\n        include proxy_params;\n        proxy_pass {}:/prefix/;\n    }}",
            g.proxy_pass()
        ),
    ));
    happy_path(&v);
    // Over a unix socket Gunicorn has no client address: the app knows it only from
    // the forwarded headers.
    let r = v.get("/echo", "example.com");
    assert_eq!(r.json().str("remote_addr"), "127.0.0.1");
    // `http://unix:/path:/uri/` replaces the location prefix as over TCP.
    let r = v.get("/app/x?y=1", "example.com");
    assert_status(&r, 200);
    assert_eq!(r.json().str("raw_uri"), "/prefix/x?y=1");
}

#[test]
fn guide_deployment_under_epoll() {
    let site = site_dir();
    let g = Gunicorn::tcp(2);
    let v = Vestibule::start_with(
        &guide_server(&g.proxy_pass(), site.path(), ""),
        "",
        Driver::Epoll,
    );
    v.assert_driver_logged();
    assert!(v.error_log().contains("io driver: epoll"));
    happy_path(&v);
}

#[test]
fn upload_of_5_mb_arrives_intact() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(
        &g.proxy_pass(),
        site.path(),
        "    client_max_body_size 10m;",
    ));
    let data: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut raw = format!(
        "POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        data.len()
    )
    .into_bytes();
    raw.extend_from_slice(&data);
    let r = v.request(&raw);
    assert_status(&r, 200);
    let j = r.json();
    assert_eq!(j.num("body_len"), data.len() as u64);
    assert_eq!(j.str("body_sha256"), sha256_hex(&data));
}

#[test]
fn gunicorn_down_gives_502_with_the_nginx_log_line_and_recovers() {
    let site = site_dir();
    let mut g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(&g.proxy_pass(), site.path(), ""));
    assert_status(&v.get("/", "example.com"), 200);

    g.stop();
    let r = v.get("/", "example.com");
    assert_status(&r, 502);
    assert!(r.text().contains("<title>502 Bad Gateway</title>"), "{r}");
    v.wait_for_error_line(&[&format!(
        "connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: example.com, request: \"GET / HTTP/1.1\", upstream: \"http://127.0.0.1:{}/\", host: \"example.com\"",
        g.port()
    )]);

    // Started again, it is used again at once (a single server is never "down").
    g.restart();
    let r = v.get("/", "example.com");
    assert_status(&r, 200);
    assert_eq!(r.text(), HELLO);
}

#[test]
fn missing_unix_socket_gives_502_with_the_nginx_log_line() {
    let site = site_dir();
    let gone = tempfile::tempdir().unwrap();
    let sock = gone.path().join("gunicorn.sock");
    let v = Vestibule::start(&guide_server(
        &format!("http://unix:{}", sock.display()),
        site.path(),
        "",
    ));
    let r = v.get("/", "example.com");
    assert_status(&r, 502);
    v.wait_for_error_line(&[
        &format!(
            "connect() to unix:{} failed (2: No such file or directory) while connecting to upstream",
            sock.display()
        ),
        "client: 127.0.0.1, server: example.com, request: \"GET / HTTP/1.1\"",
    ]);
}

#[test]
fn slow_app_gives_504_after_proxy_read_timeout() {
    let site = site_dir();
    let g = Gunicorn::tcp(2);
    let v = Vestibule::start(&guide_server(
        &g.proxy_pass(),
        site.path(),
        &format!(
            "    location /slow {{\n        include proxy_params;\n        proxy_pass {};\n        proxy_read_timeout 1s;\n    }}",
            g.proxy_pass()
        ),
    ));
    let r = v.get("/slow?s=4", "example.com");
    assert_status(&r, 504);
    assert!(r.text().contains("504 Gateway Time-out"), "{r}");
    v.wait_for_error_line(&[
        "upstream timed out (110: Connection timed out) while reading response header from upstream",
        "request: \"GET /slow?s=4 HTTP/1.1\"",
    ]);
    // Quick enough for the timeout: answered.
    let r = v.get("/slow?s=0.1", "example.com");
    assert_status(&r, 200);
}

/// `$request_time` and `$upstream_response_time` as nginx logs them: seconds with
/// milliseconds, read from the precise clock once a `log_format` names them. A Flask
/// view that sleeps 0.3 s shows in both; a quick one stays far below it.
#[test]
fn request_and_upstream_times_are_logged_in_milliseconds() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start_with(
        &guide_server(&g.proxy_pass(), site.path(), ""),
        "log_format timing '$request_uri $request_time $upstream_response_time';\n    access_log @DIR@/timing.log timing;",
        Driver::Default,
    );
    let times = |uri: &str| -> (f64, f64) {
        assert_status(&v.get(uri, "example.com"), 200);
        let line = v.wait_for_log_line("timing.log", &format!("{uri} "));
        let f: Vec<&str> = line.split(' ').collect();
        for t in &f[1..] {
            let (_, ms) = t.split_once('.').unwrap_or_else(|| panic!("{line}"));
            assert_eq!(ms.len(), 3, "three decimals: {line}");
        }
        (f[1].parse().unwrap(), f[2].parse().unwrap())
    };
    let (request, upstream) = times("/slow?s=0.3");
    assert!((0.29..5.0).contains(&upstream), "upstream {upstream}");
    assert!(request >= upstream, "request {request} upstream {upstream}");
    let (request, upstream) = times("/");
    assert!(
        request < 0.29 && upstream <= request,
        "{request} {upstream}"
    );
}

#[test]
fn body_over_client_max_body_size_gives_413() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(
        &g.proxy_pass(),
        site.path(),
        "    client_max_body_size 1k;",
    ));
    // At the limit: passed.
    let body = "x".repeat(1024);
    let r = request(
        &v,
        &format!("POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n{body}"),
    );
    assert_status(&r, 200);
    assert_eq!(r.json().num("body_len"), 1024);

    // Over it, declared: 413 before the body is read.
    let body = "x".repeat(2000);
    let r = request(
        &v,
        &format!("POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2000\r\n\r\n{body}"),
    );
    assert_status(&r, 413);
    assert!(r.text().contains("413 Request Entity Too Large"), "{r}");
    assert_eq!(r.header("connection"), Some("close"));
    v.wait_for_error_line(&["client intended to send too large body: 2000 bytes"]);

    // Over it, chunked: found out while reading.
    let r = request(
        &v,
        &format!("POST /echo HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n{body}\r\n0\r\n\r\n"),
    );
    assert_status(&r, 413);
    v.wait_for_error_line(&["client intended to send too large chunked body"]);
}

#[test]
fn proxy_pass_with_a_uri_replaces_the_location_prefix() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(
        &g.proxy_pass(),
        site.path(),
        &format!(
            "    location /app/ {{\n        include proxy_params;\n        proxy_pass http://127.0.0.1:{}/prefix/;\n    }}",
            g.port()
        ),
    ));
    let r = v.get("/app/some/path?x=1&y=%2F", "example.com");
    assert_status(&r, 200);
    let j = r.json();
    assert_eq!(j.str("raw_uri"), "/prefix/some/path?x=1&y=%2F");
    assert_eq!(j.str("path"), "/prefix/some/path");

    // The normalised path is what is replaced, re-escaped.
    let r = v.get("/app/a%20b/../c%20d", "example.com");
    assert_status(&r, 200);
    assert_eq!(r.json().str("raw_uri"), "/prefix/c%20d");

    let r = v.get("/app/", "example.com");
    assert_status(&r, 200);
    assert_eq!(r.json().str("raw_uri"), "/prefix/");

    // Without its slash, the location redirects to it (nginx's auto-redirect).
    let r = v.get("/app", "example.com");
    assert_status(&r, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("http://example.com:{}/app/", v.port).as_str())
    );
}

#[test]
fn return_redirects_and_texts() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(
        &g.proxy_pass(),
        site.path(),
        "    location = /old { return 301 /new; }
    location = /elsewhere { return 301 https://example.org/x; }
    location = /health { return 200 \"ok $host\\n\"; }
    location = /gone { return 410; }",
    ));
    let r = v.get("/old", "example.com");
    assert_status(&r, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("http://example.com:{}/new", v.port).as_str())
    );
    assert!(r.text().contains("301 Moved Permanently"), "{r}");

    let r = v.get("/elsewhere", "example.com");
    assert_status(&r, 301);
    assert_eq!(r.header("location"), Some("https://example.org/x"));

    let r = v.get("/health", "www.example.com");
    assert_status(&r, 200);
    assert_eq!(r.text(), "ok www.example.com\n");
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));

    let r = v.get("/gone", "example.com");
    assert_status(&r, 410);
    assert!(r.text().contains("<title>410 Gone</title>"), "{r}");
}

#[test]
fn add_header_and_add_header_always() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(
        &g.proxy_pass(),
        site.path(),
        "    add_header X-Frame-Options DENY;\n    add_header X-Served-By vestibule always;",
    ));
    for (path, status) in [
        ("/", 200),               // proxied
        ("/static/app.css", 200), // static
        ("/redirect", 302),       // proxied redirect
    ] {
        let r = v.get(path, "example.com");
        assert_status(&r, status);
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}: {r}");
        assert_eq!(r.header("x-served-by"), Some("vestibule"), "{path}: {r}");
    }
    for path in ["/status/404", "/static/missing.css", "/status/500"] {
        let r = v.get(path, "example.com");
        assert!(r.status >= 400, "{path}: {r}");
        assert_eq!(r.header("x-frame-options"), None, "{path}: {r}");
        assert_eq!(r.header("x-served-by"), Some("vestibule"), "{path}: {r}");
    }
}

/// A server with a document root, custom error pages and a proxied location whose
/// upstream is down.
fn error_page_server(html: &Path) -> Vestibule {
    let dead = common::free_port();
    Vestibule::start(&format!(
        "
server {{
    listen 127.0.0.1:@PORT@;
    server_name example.com;
    root {html};
    error_page 404 /custom_404.html;
    error_page 502 503 504 /50x.html;
    location = /50x.html {{ root {html}; }}
    location /app/ {{
        include proxy_params;
        proxy_pass http://127.0.0.1:{dead};
    }}
}}
",
        html = html.display()
    ))
}

#[test]
fn error_page_404_serves_the_custom_page_with_status_404() {
    let site = site_dir();
    let html = site.path().join("html");
    let v = error_page_server(&html);
    let r = v.get("/no/such/page", "example.com");
    assert_eq!(r.text(), "<h1>custom 404: nothing here</h1>\n");
    assert_eq!(r.header("content-type"), Some("text/html"));
    v.wait_for_error_line(&[&format!(
        "open() \"{}/no/such/page\" failed (2: No such file or directory)",
        html.display()
    )]);
    // nginx keeps the error status: the page replaces the body, not the status.
    assert_status(&r, 404);
    // The page itself, asked for directly, is an ordinary 200.
    let r = v.get("/custom_404.html", "example.com");
    assert_status(&r, 200);
}

#[test]
fn error_page_502_serves_the_custom_page_with_status_502() {
    let site = site_dir();
    let v = error_page_server(&site.path().join("html"));
    let r = v.get("/app/x", "example.com");
    assert_eq!(r.text(), "<h1>the app is down, back soon</h1>\n");
    v.wait_for_error_line(&[
        "connect() failed (111: Connection refused) while connecting to upstream",
    ]);
    assert_status(&r, 502);
}

#[test]
fn static_files_next_to_the_proxy() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(&g.proxy_pass(), site.path(), ""));
    for (path, ctype, body) in [
        ("/static/app.css", "text/css", "body { color: teal; }\n"),
        (
            "/static/app.js",
            "application/javascript",
            "console.log('vestibule');\n",
        ),
        (
            "/static/img/logo.svg",
            "image/svg+xml",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
        ),
    ] {
        let r = v.get(path, "example.com");
        assert_status(&r, 200);
        assert_eq!(r.header("content-type"), Some(ctype), "{path}");
        assert_eq!(r.text(), body, "{path}");
        assert_eq!(r.framing, Framing::Length(body.len() as u64));
        assert!(r.header("last-modified").is_some(), "{r}");
    }
    let r = v.request(
        b"HEAD /static/app.css HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    assert_status(&r, 200);
    assert_eq!(r.header("content-length"), Some("22"));
    assert!(r.body.is_empty());

    // Missing: 404 from vestibule, the app never asked, nginx's log line.
    let r = v.get("/static/missing.css", "example.com");
    assert_status(&r, 404);
    assert!(r.text().contains("<title>404 Not Found</title>"), "{r}");
    v.wait_for_error_line(&[
        &format!(
            "open() \"{}/static/missing.css\" failed (2: No such file or directory)",
            site.path().display()
        ),
        "client: 127.0.0.1, server: example.com, request: \"GET /static/missing.css HTTP/1.1\"",
    ]);

    // "/static" without the slash is not under `location /static/`: the app answers.
    let r = v.get("/static", "example.com");
    assert_status(&r, 200);
    assert_eq!(r.text(), "flask answered /static\n");

    // POST to a file: 405, the body discarded, the connection still usable.
    let mut c = v.client();
    c.send(b"POST /static/app.css HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhelloGET /static/app.js HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    let r = c.read_response(false);
    assert_status(&r, 405);
    let r = c.read_response(false);
    assert_status(&r, 200);
    assert_eq!(r.text(), "console.log('vestibule');\n");

    // A directory without its slash is redirected to it; without an index it is
    // forbidden, as nginx does.
    let r = v.get("/static/img", "example.com");
    assert_status(&r, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("http://example.com:{}/static/img/", v.port).as_str())
    );
    let r = v.get("/static/img/", "example.com");
    assert_status(&r, 403);
    v.wait_for_error_line(&[&format!(
        "directory index of \"{}/static/img/\" is forbidden",
        site.path().display()
    )]);

    // Climbing out of the alias is not possible.
    let r = v.get("/static/../../etc/passwd", "example.com");
    assert!(r.status == 400 || r.status == 404, "{r}");
    assert!(!r.text().contains("root:"), "{r}");
}

#[test]
fn server_name_picks_the_server_by_host() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let servers = format!(
        "{}
server {{
    listen 127.0.0.1:@PORT@ default_server;
    server_name other.test *.other.test;
    location / {{ return 200 \"other server\\n\"; }}
}}
",
        guide_server(&g.proxy_pass(), site.path(), "")
    );
    let v = Vestibule::start(&servers);
    for (host, expected) in [
        ("example.com", HELLO),
        ("www.example.com", HELLO),
        ("EXAMPLE.COM", HELLO),
        (&format!("example.com:{}", v.port) as &str, HELLO),
        ("example.com.", HELLO),
        ("other.test", "other server\n"),
        ("api.other.test", "other server\n"),
        ("unknown.test", "other server\n"), // the default_server
        ("127.0.0.1", "other server\n"),
    ] {
        let r = v.get("/", host);
        assert_status(&r, 200);
        assert_eq!(r.text(), expected, "Host: {host}");
    }
    // HTTP/1.0 without Host: the default server.
    let r = v.request(b"GET / HTTP/1.0\r\n\r\n");
    assert_status(&r, 200);
    assert_eq!(r.text(), "other server\n");
}

#[test]
fn proxy_redirect_default_rewrites_the_apps_own_address() {
    // Without proxy_params the app sees Host 127.0.0.1:PORT and builds its absolute
    // URLs from it; `proxy_redirect default` maps them back under the location.
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(
        &g.proxy_pass(),
        site.path(),
        &format!(
            "    location /mounted/ {{\n        proxy_pass http://127.0.0.1:{}/;\n    }}",
            g.port()
        ),
    ));
    let r = v.get("/mounted/echo", "example.com");
    assert_status(&r, 200);
    assert_eq!(
        r.json().request_headers("host"),
        vec![format!("127.0.0.1:{}", g.port())]
    );
    let r = v.get("/mounted/redirect/external", "example.com");
    assert_status(&r, 302);
    assert_eq!(r.header("location"), Some("/mounted/"), "{r}");
}

#[test]
fn headers_and_targets_pass_through_unchanged() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(&g.proxy_pass(), site.path(), ""));
    // Several Set-Cookie lines and a long header value reach the client as sent.
    let r = v.get("/cookies", "example.com");
    assert_status(&r, 200);
    let cookies = r.headers_named("set-cookie");
    assert_eq!(cookies.len(), 2, "{r}");
    assert!(cookies[0].starts_with("session=abc123"), "{r}");
    assert!(cookies[1].starts_with("theme=dark"), "{r}");
    assert_eq!(r.header("x-long").map(str::len), Some(2000));

    // Without a URI in proxy_pass the request target goes upstream as the client sent
    // it (escapes included); repeated request headers all arrive.
    let r = request(
        &v,
        "GET /echo/a%2Fb%20c?q=%C3%A9 HTTP/1.1\r\nHost: example.com\r\nX-Multi: one\r\nX-Multi: two\r\nCookie: a=1\r\nConnection: close\r\n\r\n",
    );
    assert_status(&r, 200);
    let j = r.json();
    assert_eq!(j.str("raw_uri"), "/echo/a%2Fb%20c?q=%C3%A9");
    let multi = j.request_headers("x-multi");
    assert!(
        multi == vec!["one", "two"] || multi == vec!["one,two"] || multi == vec!["one, two"],
        "{multi:?}"
    );
    assert_eq!(j.request_headers("cookie"), vec!["a=1"]);

    // Hop-by-hop headers, and those the client's Connection names, stay here.
    let r = request(
        &v,
        "GET /echo HTTP/1.1\r\nHost: example.com\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Kept: yes\r\n\r\n",
    );
    assert_status(&r, 200);
    let j = r.json();
    for gone in [
        "x-secret",
        "keep-alive",
        "te",
        "proxy-connection",
        "upgrade",
    ] {
        assert!(
            j.request_headers(gone).is_empty(),
            "{gone} was forwarded: {j:?}"
        );
    }
    assert_eq!(j.request_headers("x-kept"), vec!["yes"]);

    // An absolute-form target goes upstream in origin form; its authority is the host.
    let r = request(
        &v,
        "GET http://example.com/echo?abs=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    assert_status(&r, 200);
    assert_eq!(r.json().str("raw_uri"), "/echo?abs=1");
}

#[test]
fn bodiless_statuses_keep_the_connection_usable() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(&g.proxy_pass(), site.path(), ""));
    let mut c = v.client();
    for code in [204u16, 304] {
        c.send(format!("GET /status/{code} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes());
        let r = c.read_response(false);
        assert_eq!(r.status, code, "{r}");
        assert_eq!(r.header("transfer-encoding"), None, "{r}");
        assert!(
            c.pending().is_empty(),
            "bytes after a {code}: {:?}",
            c.pending()
        );
    }
    c.send(b"HEAD /big?n=123456 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    let r = c.read_response(true);
    assert_status(&r, 200);
    assert_eq!(r.header("content-length"), Some("123456"), "{r}");
    c.send(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    let r = c.read_response(false);
    assert_status(&r, 200);
    assert_eq!(r.text(), HELLO);
}

#[test]
fn streamed_response_to_an_http10_client_is_close_delimited() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(&g.proxy_pass(), site.path(), ""));
    let r = request(&v, "GET /stream?n=3 HTTP/1.0\r\nHost: example.com\r\n\r\n");
    assert_status(&r, 200);
    assert_eq!(r.framing, Framing::Close, "{r}");
    assert_eq!(r.text(), "piece 0\npiece 1\npiece 2\n");
    // The same to an HTTP/1.1 client: chunked.
    let r = v.get("/stream?n=3", "example.com");
    assert_status(&r, 200);
    assert_eq!(r.framing, Framing::Chunked, "{r}");
    assert_eq!(r.text(), "piece 0\npiece 1\npiece 2\n");
}

#[test]
fn unbuffered_chunked_upload_streams_to_gunicorn() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(
        &g.proxy_pass(),
        site.path(),
        &format!(
            "    location /echo/unbuffered {{\n        include proxy_params;\n        proxy_pass {};\n        proxy_request_buffering off;\n    }}",
            g.proxy_pass()
        ),
    ));
    let data = pattern(300_000);
    let mut raw = b"POST /echo/unbuffered HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for piece in data.chunks(65_000) {
        raw.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let r = v.request(&raw);
    assert_status(&r, 200);
    let j = r.json();
    assert_eq!(j.num("body_len"), 300_000);
    assert_eq!(j.str("body_sha256"), sha256_hex(&data));
    assert_eq!(j.request_headers("transfer-encoding"), vec!["chunked"]);
}

#[test]
fn concurrent_clients_share_two_workers() {
    let site = site_dir();
    let g = Gunicorn::tcp(2);
    let v = Vestibule::start(&guide_server(&g.proxy_pass(), site.path(), ""));
    let port = v.port;
    let handles: Vec<_> = (0..12)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                c.send(
                    format!("GET /echo?client={i} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
                c.read_response(false)
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.join().unwrap();
        assert_status(&r, 200);
        assert_eq!(r.json().str("query"), format!("client={i}"));
    }
}

#[test]
fn expect_100_continue_over_the_limit_gets_413_without_100() {
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(
        &g.proxy_pass(),
        site.path(),
        "    client_max_body_size 1k;",
    ));
    let mut c = v.client();
    c.send(b"POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 413, "{r}");
    // And within the limit the app gets the body after the 100.
    let mut c = v.client();
    c.send(b"POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
    let interim = c.read_response(false);
    assert_eq!(interim.status, 100, "{interim}");
    c.send(b"abc");
    let r = c.read_response(false);
    assert_status(&r, 200);
    assert_eq!(r.json().num("body_len"), 3);
    assert!(r.json().request_headers("expect").is_empty());
}

#[test]
fn large_static_files_arrive_whole_with_and_without_sendfile() {
    let site = site_dir();
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 17u32)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8)
        .collect();
    std::fs::write(site.path().join("static/big.bin"), &data).unwrap();
    let g = Gunicorn::tcp(1);
    for driver in [Driver::Default, Driver::Epoll] {
        let v = Vestibule::start_with(
            &guide_server(
                &g.proxy_pass(),
                site.path(),
                &format!(
                    "    location /sf/ {{\n        alias {}/static/;\n        sendfile on;\n    }}",
                    site.path().display()
                ),
            ),
            "",
            driver,
        );
        for path in ["/static/big.bin", "/sf/big.bin"] {
            // A reader with a small window, so the server meets a full socket buffer.
            let mut c = Client::connect_with(
                v.port,
                ClientOptions {
                    from: None,
                    rcvbuf: Some(16 * 1024),
                },
            );
            c.send(format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes());
            let r = c.read_response(false);
            assert_status(&r, 200);
            assert_eq!(r.header("content-type"), Some("application/octet-stream"));
            assert!(r.body == data, "{driver:?} {path}: body differs");
            // Still usable for the next request.
            c.send(b"GET /static/app.css HTTP/1.1\r\nHost: example.com\r\n\r\n");
            assert_eq!(c.read_response(false).text(), "body { color: teal; }\n");
        }
    }
}

#[test]
fn http10_request_without_host_reaches_the_app() {
    // An HTTP/1.0 client (a health check, `printf 'GET / HTTP/1.0\r\n\r\n' | nc`) sends
    // no Host. With proxy_params `Host $http_host` is empty and therefore not sent; nginx
    // talks HTTP/1.0 to the upstream, where Host is optional, and the app answers.
    let site = site_dir();
    let g = Gunicorn::tcp(1);
    let v = Vestibule::start(&guide_server(&g.proxy_pass(), site.path(), ""));
    let r = v.request(b"GET / HTTP/1.0\r\n\r\n");
    assert_status(&r, 200);
    assert_eq!(r.text(), HELLO);
}
