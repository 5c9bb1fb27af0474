//! HTTP/2 through the real binary, with real clients: curl (built with nghttp2) over
//! TLS with ALPN and with prior knowledge over plain TCP, and a scripted client
//! (tests/h2/client.py, Python's `h2`) for exact fields. Everything that works on
//! HTTP/1.1 works on a stream: proxying to Gunicorn (bodies, `Host` from
//! `:authority`, cookies joined, no hop-by-hop fields), static files with ranges and
//! validators, gzip, `return`, `error_page`, the access log (`HTTP/2.0`, `$http2`);
//! reloads in place keep h2 connections and graceful stops send GOAWAY and let
//! streams finish. The floods are in tests/http2_floods.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::tls::{Ca, Key};
use common::{Driver, Gunicorn, Json, Vestibule};

/// `curl ARGS`: its status line, headers and body (`-i`), failing on curl errors.
fn curl(args: &[&str]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-sS", "-i", "-k", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_curl(&out.stdout)
}

fn parse_curl(raw: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap();
    assert!(
        status_line.starts_with("HTTP/2 "),
        "not HTTP/2: {status_line}"
    );
    let status = status_line[7..10].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (status, headers, raw[end..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The scripted client's report for `args`.
pub fn h2_client(port: u16, tls: bool, args: &[&str]) -> Json {
    let mut cmd = Command::new(common::venv_dir().join("bin/python"));
    cmd.arg(common::repo_dir().join("tests/h2/client.py"));
    if tls {
        cmd.arg("--tls");
    }
    let out = cmd.arg(port.to_string()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "client.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Json::parse(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

/// A TLS + h2 site with a static root, Gunicorn behind `/app/`, `return`, an error
/// page and gzip; and a plain `http2` address for h2c.
fn site(dir: &Path, app: &Gunicorn, h2c_port: u16) -> String {
    let ca = Ca::new("Test CA");
    let (cert, key) = ca
        .issue(&["a.test", "localhost"], Key::Ecdsa)
        .write(dir, "a");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("hello.txt"), "hello over h2\n").unwrap();
    std::fs::write(www.join("big.bin"), common::pattern(300_000)).unwrap();
    std::fs::write(www.join("page.html"), "<p>compress me</p>\n".repeat(200)).unwrap();
    std::fs::write(www.join("404.html"), "custom not found\n").unwrap();
    format!(
        "log_format h2 '$request|$status|$server_protocol|$http2|$body_bytes_sent';
        server {{
            listen 127.0.0.1:@PORT@ ssl http2;
            listen 127.0.0.1:{h2c_port} http2;
            server_name a.test;
            ssl_certificate {cert};
            ssl_certificate_key {key};
            access_log @DIR@/h2.log h2;
            root {www};
            gzip on;
            gzip_types text/html;
            gzip_min_length 100;
            error_page 404 /404.html;
            location /r {{ return 200 \"returned over $server_protocol $http2\\n\"; }}
            location /app/ {{ include proxy_params; proxy_pass {up}/; }}
            location /small/ {{ client_max_body_size 1k; proxy_pass {up}/; }}
            location /stream/ {{ proxy_request_buffering off; proxy_pass {up}/; }}
        }}",
        cert = cert.display(),
        key = key.display(),
        www = www.display(),
        up = app.proxy_pass(),
    )
}

fn start(app: &Gunicorn, driver: Driver) -> (Vestibule, u16, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let h2c = common::free_port();
    let v = Vestibule::start_with(&site(dir.path(), app, h2c), "", driver);
    (v, h2c, dir)
}

fn everything_http1_does(driver: Driver) {
    let app = Gunicorn::tcp(2);
    let (v, h2c, _dir) = start(&app, driver);
    let base = format!("https://127.0.0.1:{}", v.port);
    let url = |p: &str| format!("{base}{p}");

    // Static files: the file, a range, a validator.
    let (status, headers, body) = curl(&["--http2", &url("/hello.txt")]);
    assert_eq!((status, body.as_slice()), (200, &b"hello over h2\n"[..]));
    let etag = header(&headers, "etag").unwrap().to_string();
    assert_eq!(header(&headers, "content-length"), Some("14"));
    assert!(header(&headers, "connection").is_none(), "{headers:?}");
    let (status, headers, body) = curl(&["--http2", "-H", "Range: bytes=6-7", &url("/hello.txt")]);
    assert_eq!((status, body.as_slice()), (206, &b"ov"[..]));
    assert_eq!(header(&headers, "content-range"), Some("bytes 6-7/14"));
    let (status, _, body) = curl(&[
        "--http2",
        "-H",
        &format!("If-None-Match: {etag}"),
        &url("/hello.txt"),
    ]);
    assert_eq!((status, body.len()), (304, 0));
    // A file larger than the windows: flow control across many DATA frames.
    let (status, _, body) = curl(&["--http2", &url("/big.bin")]);
    assert_eq!(status, 200);
    assert_eq!(
        common::sha256_hex(&body),
        common::sha256_hex(&common::pattern(300_000))
    );
    // gzip, return, error_page.
    let (status, headers, body) = curl(&["--http2", "--compressed", &url("/page.html")]);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert_eq!(body, "<p>compress me</p>\n".repeat(200).into_bytes());
    let (status, _, body) = curl(&["--http2", &url("/r")]);
    assert_eq!(
        (status, String::from_utf8(body).unwrap()),
        (200, "returned over HTTP/2.0 h2\n".into())
    );
    let (status, _, body) = curl(&["--http2", &url("/nothing")]);
    assert_eq!((status, body.as_slice()), (404, &b"custom not found\n"[..]));

    // Proxied to Gunicorn: a 1 MiB upload streamed in DATA frames, Host from
    // :authority, X-Forwarded-Proto https.
    let upload = common::pattern(1 << 20);
    let file = v.path("upload.bin");
    std::fs::write(&file, &upload).unwrap();
    let (status, _, body) = curl(&[
        "--http2",
        "--data-binary",
        &format!("@{}", file.display()),
        "-H",
        "Content-Type: application/octet-stream",
        &format!("https://a.test:{}/app/echo", v.port),
        "--resolve",
        &format!("a.test:{}:127.0.0.1", v.port),
    ]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let echo = Json::parse(&String::from_utf8_lossy(&body)).unwrap();
    assert_eq!(echo.num("body_len"), 1 << 20);
    assert_eq!(echo.str("body_sha256"), common::sha256_hex(&upload));
    assert_eq!(echo.str("host"), format!("a.test:{}", v.port));
    assert_eq!(echo.request_headers("X-Forwarded-Proto"), ["https"]);
    assert_eq!(echo.str("method"), "POST");

    // Exact fields with the scripted client: two `cookie` fields reach Gunicorn as
    // one (RFC 9113 §8.2.3); `te: trailers` is allowed on h2 and never forwarded.
    let r = h2_client(
        v.port,
        true,
        &[
            "get",
            "/app/echo",
            "cookie",
            "a=1",
            "cookie",
            "b=2",
            "te",
            "trailers",
        ],
    );
    let response = r.get("responses").get("1");
    assert_eq!(response.num("status"), 200);
    let echo = Json::parse(&response.str("body")).unwrap();
    assert_eq!(echo.request_headers("Cookie"), ["a=1; b=2"]);
    assert!(echo.request_headers("TE").is_empty());
    assert!(echo.request_headers("Connection").is_empty());

    // The same upload streamed (`proxy_request_buffering off`): framed chunked to
    // Gunicorn, since the client sent no Content-Length.
    let r = h2_client(v.port, true, &["post", "/stream/echo", "300000"]);
    let response = r.get("responses").get("1");
    assert_eq!(response.num("status"), 200, "{r:?}");
    let echo = Json::parse(&response.str("body")).unwrap();
    assert_eq!(echo.num("body_len"), 300_000);
    assert_eq!(echo.str("body_sha256"), r.str("body_sha256"));

    // A body over client_max_body_size: 413, and Gunicorn never sees it.
    let before = app.log().matches("/echo").count();
    let r = h2_client(v.port, true, &["post", "/small/echo", "200000"]);
    assert_eq!(r.get("responses").get("1").num("status"), 413, "{r:?}");
    assert_eq!(
        app.log().matches("/echo").count(),
        before,
        "nothing forwarded"
    );

    // Prior knowledge on the plain http2 address, and HTTP/1.1 on both.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http2-prior-knowledge",
            &format!("http://127.0.0.1:{h2c}/r"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "returned over HTTP/2.0 h2c\n"
    );
    for u in [format!("http://127.0.0.1:{h2c}/r"), url("/r")] {
        let out = Command::new("curl")
            .args(["-sSk", "--http1.1", &u])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "returned over HTTP/1.1 \n",
            "{u}"
        );
    }

    // The access log: HTTP/2.0 and $http2.
    v.wait_for_log_line("h2.log", "GET /hello.txt HTTP/2.0|200|HTTP/2.0|h2|14");
    v.wait_for_log_line("h2.log", "GET /r HTTP/2.0|200|HTTP/2.0|h2c|");
    v.wait_for_log_line("h2.log", "POST /app/echo HTTP/2.0|200|HTTP/2.0|h2|");
    // Empty for HTTP/1.1 (written `-`, as vestibule writes every empty value).
    v.wait_for_log_line("h2.log", "GET /r HTTP/1.1|200|HTTP/1.1|-|");
    v.assert_driver_logged();
}

#[test]
fn everything_http1_does_works_on_http2() {
    everything_http1_does(Driver::Default);
}

#[test]
fn everything_http1_does_works_on_http2_on_epoll() {
    everything_http1_does(Driver::Epoll);
}

/// Streams run side by side: a slow upstream request does not hold up the others on
/// the same connection.
#[test]
fn a_slow_stream_does_not_block_the_others() {
    let app = Gunicorn::tcp(4);
    let (v, _, _dir) = start(&app, Driver::Default);
    let started = std::time::Instant::now();
    let r = h2_client(v.port, true, &["many", "/app/slow?s=1", "3"]);
    let responses = r.get("responses");
    for sid in ["1", "3", "5"] {
        assert_eq!(responses.get(sid).num("status"), 200, "{r:?}");
    }
    // Three one-second requests at once: together, not one after the other.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A reload in place keeps an h2 connection and applies to its next stream; a
/// graceful stop sends GOAWAY and lets the open stream finish.
#[test]
fn reload_keeps_connections_and_a_graceful_stop_lets_streams_finish() {
    let app = Gunicorn::tcp(2);
    let (v, _, _dir) = start(&app, Driver::Default);
    // A stream in flight while the master is told to stop gracefully.
    let port = v.port;
    let holder = std::thread::spawn(move || {
        h2_client(port, true, &["--wait", "8", "hold", "/app/slow?s=2", "8"])
    });
    std::thread::sleep(Duration::from_millis(600));
    // Reload first: in place, the connection stays (the hold is not ended).
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("returned over", "reloaded, over")).unwrap();
    common::signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reloaded in place"]);
    let (_, _, body) = curl(&["--http2", &format!("https://127.0.0.1:{}/r", v.port)]);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "reloaded, over HTTP/2.0 h2\n"
    );
    common::signal(v.pid(), libc::SIGQUIT);
    let r = holder.join().unwrap();
    let goaway = r.get("goaway");
    assert_eq!(goaway.num("code"), 0, "NO_ERROR: {r:?}");
    let response = r.get("responses").get("1");
    assert_eq!(
        response.num("status"),
        200,
        "the open stream finished: {r:?}"
    );
    assert_eq!(response.get("ended"), &Json::Bool(true));
    assert!(
        r.get("closed") == &Json::Bool(true),
        "then the connection closed: {r:?}"
    );
    v.wait_for_error_line(&["exiting"]);
}

/// `http2` directives: nginx's obsolete ones warn as nginx's do, push is accepted
/// and said to do nothing, bad values name their line.
#[test]
fn configuration() {
    let dir = tempfile::tempdir().unwrap();
    let t = |http: &str| common::test_config(env!("CARGO_BIN_EXE_vestibule"), dir.path(), http);
    let out = t("http2_recv_buffer_size 512k; http2_chunk_size 16k; http2_max_concurrent_streams 64;
                 http2_body_preread_size 128k; http2_push_preload on;
                 http2_idle_timeout 3m; http2_max_requests 1000;
                 server { listen 127.0.0.1:1 http2; http2 on; location / { http2_chunk_size 4k; http2_push /a.css; } }");
    assert!(out.contains("test is successful"), "{out}");
    assert!(out.contains("the \"http2_idle_timeout\" directive is obsolete, use the \"keepalive_timeout\" directive instead"), "{out}");
    assert!(out.contains("the \"http2_max_requests\" directive is obsolete, use the \"keepalive_requests\" directive instead"), "{out}");
    for (http, want) in [
        ("server { http2 maybe; }", "invalid value \"maybe\""),
        ("http2_chunk_size 0;", "the http2 chunk size cannot be zero"),
        (
            "server { http2_recv_buffer_size 1m; }",
            "\"http2_recv_buffer_size\" directive is not allowed here",
        ),
        (
            "http2_max_concurrent_streams x;",
            "\"http2_max_concurrent_streams\" directive invalid",
        ),
    ] {
        let out = t(http);
        assert!(
            out.contains(want) && out.contains("t.conf:"),
            "{http}: {out}"
        );
    }
}

/// A connection with no open stream for `keepalive_timeout` ends with GOAWAY
/// (`NO_ERROR`), as nginx ends one since 1.19.7; h2c with prior knowledge here.
#[test]
fn an_idle_connection_ends_with_goaway_after_keepalive_timeout() {
    let v = Vestibule::start(
        "server { listen 127.0.0.1:@PORT@ http2; keepalive_timeout 1s; location / { return 200 \"idle\\n\"; } }",
    );
    let started = std::time::Instant::now();
    let r = h2_client(v.port, false, &["--wait", "6", "hold", "/", "6"]);
    assert_eq!(r.get("responses").get("1").num("status"), 200, "{r:?}");
    assert_eq!(r.get("goaway").num("code"), 0, "{r:?}");
    assert_eq!(r.get("closed"), &Json::Bool(true), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// After `keepalive_requests` streams the connection ends with GOAWAY, as nginx's
/// does since 1.19.7; the streams it accepted are answered.
#[test]
fn keepalive_requests_ends_a_connection_with_goaway() {
    let v = Vestibule::start(
        "server { listen 127.0.0.1:@PORT@ http2; keepalive_requests 3; location / { return 200 \"n\\n\"; } }",
    );
    let r = h2_client(v.port, false, &["many", "/", "3"]);
    for sid in ["1", "3", "5"] {
        assert_eq!(r.get("responses").get(sid).num("status"), 200, "{r:?}");
    }
    assert_eq!(r.get("goaway").num("code"), 0, "{r:?}");
    assert_eq!(r.get("goaway").num("last_stream"), 5, "{r:?}");
}

/// Requests on HTTP/2 streams count in the metrics as on HTTP/1.1: by server block,
/// status class and method, with their body bytes.
#[test]
fn http2_requests_are_counted_in_the_metrics() {
    let v = Vestibule::start(
        "server { listen 127.0.0.1:@PORT@ http2; server_name m.test;
            location = /metrics { vestibule_metrics; }
            location / { return 200 \"counted\\n\"; } }",
    );
    let r = h2_client(v.port, false, &["many", "/a", "4"]);
    assert_eq!(r.get("responses").get("7").num("status"), 200, "{r:?}");
    let r = h2_client(v.port, false, &["post", "/b", "5000"]);
    assert_eq!(r.get("responses").get("1").num("status"), 200, "{r:?}");
    let page = v.get("/metrics", "m.test").text();
    let count = |method: &str| -> u64 {
        page.lines()
            .find(|l| {
                l.starts_with("vestibule_http_requests_total{")
                    && l.contains("code=\"2xx\"")
                    && l.contains(&format!("method=\"{method}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {method} line in:\n{page}"))
    };
    assert_eq!(count("GET"), 4, "{page}");
    assert_eq!(count("POST"), 1, "{page}");
    let bytes_in: f64 = page
        .lines()
        .find(|l| l.starts_with("vestibule_http_request_bytes_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(bytes_in >= 5000.0, "the POST body is counted: {bytes_in}");
}

/// At `worker_connections`, an HTTP/2 connection with no stream open is idle: the
/// oldest is closed to make room, with GOAWAY `NO_ERROR` so its client knows no
/// request was lost (nginx reuses an idle h2 connection so); the newer ones stay.
#[test]
fn worker_connections_close_an_idle_http2_connection_with_goaway() {
    const LIMIT: usize = 4;
    let main = format!("worker_processes 1;\nevents {{ worker_connections {LIMIT}; }}");
    let v = Vestibule::start_with_main(
        &main,
        "server { listen 127.0.0.1:@PORT@ http2; location / { return 200 \"ok\\n\"; } }",
        "",
        Driver::Default,
    );
    // The harness's readiness probe connected once; let that connection end.
    std::thread::sleep(Duration::from_millis(300));
    let port = v.port;
    // LIMIT connections, one after the other, each idle after one answered stream.
    let mut holders: Vec<_> = (0..LIMIT)
        .map(|_| {
            let t = std::thread::spawn(move || {
                h2_client(port, false, &["--wait", "8", "hold", "/", "5"])
            });
            std::thread::sleep(Duration::from_millis(600));
            t
        })
        .collect();
    let r = v.get("/", "localhost");
    assert_eq!(r.status, 200, "{r}");
    let oldest = holders.remove(0).join().unwrap();
    assert_eq!(oldest.get("responses").get("1").num("status"), 200);
    assert_eq!(oldest.get("goaway").num("code"), 0, "{oldest:?}");
    assert_eq!(oldest.get("goaway").num("last_stream"), 1, "{oldest:?}");
    assert_eq!(oldest.get("closed"), &Json::Bool(true), "{oldest:?}");
    v.wait_for_error_line(&[
        "[warn]",
        "4 worker_connections are not enough, reusing connections",
    ]);
    for h in holders {
        let r = h.join().unwrap();
        assert_eq!(r.get("responses").get("1").num("status"), 200);
        assert_eq!(
            r.get("closed"),
            &Json::Bool(false),
            "a newer one stays: {r:?}"
        );
    }
}
