//! Response compression through the real binary: `gzip*` on static files, error pages
//! and proxied Gunicorn responses, `gzip_static`, brotli, and the request rules
//! (`Accept-Encoding` q-values, `gzip_http_version`, `gzip_proxied`, `gzip_disable`).
//! The gzip answers are checked side by side with nginx from apt: the same server
//! block, the same requests, the same status and header decisions, and bodies that
//! decompress to the file on disk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use common::nginx::Nginx;
use common::{Driver, Framing, Gunicorn, Response, Vestibule};

/// The server block both servers run.
const SITE: &str = r#"
log_format ratio '$request_uri $gzip_ratio';
server {
    listen 127.0.0.1:@PORT@;
    access_log @DIR@/ratio.log ratio;
    root @DIR@/www;
    types { text/html html; text/css css; application/javascript js; image/png png; }
    gzip on;
    gzip_vary on;
    gzip_types text/css application/javascript;
    location /gs/ { alias @DIR@/www/; gzip_static on; }
    location /always/ { alias @DIR@/www/; gzip_static always; }
    location /ten/ { alias @DIR@/www/; gzip_http_version 1.0; }
    location /any/ { alias @DIR@/www/; gzip_proxied any; }
    location /expired/ { alias @DIR@/www/; gzip_proxied expired; expires -1h; }
    location /fresh/ { alias @DIR@/www/; gzip_proxied expired; expires 1h; }
    location /nolm/ { alias @DIR@/www/; gzip_proxied no_last_modified; }
    location /ua/ { alias @DIR@/www/; gzip_disable msie6 "^Bot"; }
    location /big-only/ { alias @DIR@/www/; gzip_min_length 100k; }
    location /novary/ { alias @DIR@/www/; gzip_vary off; }
}
"#;

fn page() -> Vec<u8> {
    (0..3000)
        .flat_map(|i| format!("<p>hello world {i}</p>\n").into_bytes())
        .collect()
}

fn css() -> Vec<u8> {
    b"body{color:red}".repeat(100)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("not gzip ({e}): {:?}", &data[..data.len().min(40)]));
    out
}

fn unbrotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(data, 4096)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("not brotli ({e})"));
    out
}

/// The files both servers serve, under `dir/www`.
fn make_files(dir: &Path) {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("page.html"), page()).unwrap();
    std::fs::write(www.join("small.html"), b"tiny page").unwrap();
    std::fs::write(www.join("a.css"), css()).unwrap();
    std::fs::write(www.join("img.png"), page()).unwrap();
    std::fs::write(www.join("st.html"), page()).unwrap();
    std::fs::write(www.join("st.html.gz"), gzip(&page())).unwrap();
}

/// The body as the client reads it: decompressed when `Content-Encoding` says so.
fn decoded(r: &Response) -> Vec<u8> {
    match r.header("content-encoding") {
        Some("gzip") => gunzip(&r.body),
        Some("br") => unbrotli(&r.body),
        None => r.body.clone(),
        Some(other) => panic!("unexpected coding {other}"),
    }
}

/// What must agree between vestibule and nginx for one request.
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    status: u16,
    encoding: Option<String>,
    vary: Option<String>,
    weak_etag: Option<bool>,
    content_length: bool,
    accept_ranges: bool,
    framing_close: bool,
}

fn shape(r: &Response) -> Shape {
    Shape {
        status: r.status,
        encoding: r.header("content-encoding").map(str::to_string),
        vary: r.header("vary").map(str::to_string),
        weak_etag: r.header("etag").map(|e| e.starts_with("W/")),
        content_length: r.header("content-length").is_some(),
        accept_ranges: r.header("accept-ranges").is_some(),
        framing_close: r.framing == Framing::Close,
    }
}

/// (request line, extra header lines, the file the body must decode to).
const CASES: &[(&str, &str, Option<&str>)] = &[
    ("GET /page.html HTTP/1.1", "Accept-Encoding: gzip\r\n", Some("page.html")),
    ("GET /page.html HTTP/1.1", "", Some("page.html")),
    ("GET /page.html HTTP/1.1", "Accept-Encoding: gzip;q=0\r\n", Some("page.html")),
    ("GET /page.html HTTP/1.1", "Accept-Encoding: deflate, GZIP\r\n", Some("page.html")),
    ("HEAD /page.html HTTP/1.1", "Accept-Encoding: gzip\r\n", None),
    ("GET /page.html HTTP/1.1", "Accept-Encoding: gzip\r\nRange: bytes=0-10\r\n", Some("page.html")),
    ("GET /small.html HTTP/1.1", "Accept-Encoding: gzip\r\n", Some("small.html")),
    ("GET /a.css HTTP/1.1", "Accept-Encoding: gzip\r\n", Some("a.css")),
    ("GET /img.png HTTP/1.1", "Accept-Encoding: gzip\r\n", Some("img.png")),
    ("GET /missing.html HTTP/1.1", "Accept-Encoding: gzip\r\n", None),
    ("GET /page.html HTTP/1.0", "Accept-Encoding: gzip\r\n", Some("page.html")),
    ("GET /ten/page.html HTTP/1.0", "Accept-Encoding: gzip\r\n", Some("page.html")),
    ("GET /page.html HTTP/1.1", "Accept-Encoding: gzip\r\nVia: 1.1 cache\r\n", Some("page.html")),
    ("GET /any/page.html HTTP/1.1", "Accept-Encoding: gzip\r\nVia: 1.1 cache\r\n", Some("page.html")),
    ("GET /expired/page.html HTTP/1.1", "Accept-Encoding: gzip\r\nVia: 1.1 cache\r\n", Some("page.html")),
    ("GET /fresh/page.html HTTP/1.1", "Accept-Encoding: gzip\r\nVia: 1.1 cache\r\n", Some("page.html")),
    ("GET /nolm/page.html HTTP/1.1", "Accept-Encoding: gzip\r\nVia: 1.1 cache\r\n", Some("page.html")),
    (
        "GET /ua/page.html HTTP/1.1",
        "Accept-Encoding: gzip\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\n",
        Some("page.html"),
    ),
    (
        "GET /ua/page.html HTTP/1.1",
        "Accept-Encoding: gzip\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)\r\n",
        Some("page.html"),
    ),
    ("GET /ua/page.html HTTP/1.1", "Accept-Encoding: gzip\r\nUser-Agent: bot/2.0\r\n", Some("page.html")),
    ("GET /ua/page.html HTTP/1.1", "Accept-Encoding: gzip\r\nUser-Agent: curl/8\r\n", Some("page.html")),
    ("GET /big-only/page.html HTTP/1.1", "Accept-Encoding: gzip\r\n", Some("page.html")),
    ("GET /novary/page.html HTTP/1.1", "Accept-Encoding: gzip\r\n", Some("page.html")),
    ("GET /gs/st.html HTTP/1.1", "Accept-Encoding: gzip\r\n", Some("st.html")),
    ("GET /gs/st.html HTTP/1.1", "Accept-Encoding: gzip\r\nRange: bytes=0-10\r\n", Some("st.html")),
    ("GET /gs/st.html HTTP/1.1", "", Some("st.html")),
    ("GET /gs/page.html HTTP/1.1", "Accept-Encoding: gzip\r\n", Some("page.html")),
    ("GET /always/st.html HTTP/1.1", "", Some("st.html")),
];

fn ask(request: impl Fn(&[u8]) -> Response, line: &str, extra: &str) -> Response {
    let raw = format!("{line}\r\nHost: h.test\r\nConnection: close\r\n{extra}\r\n");
    request(raw.as_bytes())
}

/// The case table against vestibule (either io driver), and against nginx when it
/// is installed: the same shape of answer, and bodies that decode to the file.
fn gzip_as_nginx(driver: Driver) {
    let v = Vestibule::start_with(SITE, "", driver);
    make_files(v.dir.path());
    let nginx = Nginx::start(SITE, make_files);
    for (line, extra, file) in CASES {
        let ours = ask(|raw| v.request(raw), line, extra);
        let want = |path: &str| std::fs::read(v.dir.path().join("www").join(path)).unwrap();
        if let Some(file) = file {
            assert_eq!(decoded(&ours), want(file), "{line} {extra:?}: body");
        }
        if ours.status == 404 {
            assert!(
                String::from_utf8_lossy(&decoded(&ours)).contains("404 Not Found"),
                "{line}"
            );
        }
        if let Some(n) = &nginx {
            let theirs = ask(|raw| n.request(raw), line, extra);
            assert_eq!(
                shape(&ours),
                shape(&theirs),
                "{line} {extra:?}\n--- vestibule:\n{}\n--- nginx:\n{}",
                ours.head,
                theirs.head
            );
        }
    }
}

#[test]
fn gzip_answers_as_nginx_does() {
    gzip_as_nginx(Driver::Default);
}

#[test]
fn gzip_answers_as_nginx_does_on_epoll() {
    gzip_as_nginx(Driver::Epoll);
}

/// The decisions, written out, so they hold without nginx too.
#[test]
fn the_gzip_rules_written_out() {
    let v = Vestibule::start(SITE);
    make_files(v.dir.path());
    let get = |line: &str, extra: &str| ask(|raw| v.request(raw), line, extra);

    let r = get("GET /page.html HTTP/1.1", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.header("content-encoding"), Some("gzip"), "{}", r.head);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(r.header("etag").unwrap().starts_with("W/\""), "{}", r.head);
    assert!(r.header("content-length").is_none() && r.header("accept-ranges").is_none());
    assert_eq!(r.framing, Framing::Chunked);
    assert!(r.body.len() < page().len() / 4, "{} bytes", r.body.len());

    // A range of a compressed response is not honoured: the whole, compressed.
    let r = get(
        "GET /page.html HTTP/1.1",
        "Accept-Encoding: gzip\r\nRange: bytes=0-10\r\n",
    );
    assert_eq!((r.status, decoded(&r)), (200, page()));

    // HEAD: the same head, no body, no framing.
    let r = get("HEAD /page.html HTTP/1.1", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.header("transfer-encoding").is_none(), "{}", r.head);
    assert!(r.body.is_empty());

    // The weak validator still matches for a 304.
    let etag = get("GET /page.html HTTP/1.1", "Accept-Encoding: gzip\r\n")
        .header("etag")
        .unwrap()
        .to_string();
    let r = get(
        "GET /page.html HTTP/1.1",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 304, "{}", r.head);

    // Not compressed: below gzip_min_length, a type not listed, refused by q=0, HTTP/1.0,
    // through a proxy under gzip_proxied off, and an old MSIE.
    for (line, extra) in [
        ("GET /small.html HTTP/1.1", "Accept-Encoding: gzip\r\n"),
        ("GET /img.png HTTP/1.1", "Accept-Encoding: gzip\r\n"),
        ("GET /page.html HTTP/1.1", "Accept-Encoding: gzip;q=0\r\n"),
        ("GET /page.html HTTP/1.0", "Accept-Encoding: gzip\r\n"),
        ("GET /page.html HTTP/1.1", "Accept-Encoding: gzip\r\nVia: 1.1 c\r\n"),
        (
            "GET /ua/page.html HTTP/1.1",
            "Accept-Encoding: gzip\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)\r\n",
        ),
    ] {
        let r = get(line, extra);
        assert_eq!(r.header("content-encoding"), None, "{line} {extra:?}");
    }
    // ...and compressed: gzip_http_version 1.0 (close-delimited), gzip_proxied any.
    let r = get("GET /ten/page.html HTTP/1.0", "Accept-Encoding: gzip\r\n");
    assert_eq!(
        (r.header("content-encoding"), r.framing),
        (Some("gzip"), Framing::Close)
    );
    assert_eq!(gunzip(&r.body), page());
    let r = get(
        "GET /any/page.html HTTP/1.1",
        "Accept-Encoding: gzip\r\nVia: 1.1 c\r\n",
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));

    // gzip_static: the .gz file itself, with its own length and validators.
    let gz = std::fs::read(v.dir.path().join("www/st.html.gz")).unwrap();
    let r = get("GET /gs/st.html HTTP/1.1", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.body, gz);
    assert_eq!(
        r.header("content-length"),
        Some(gz.len().to_string().as_str())
    );
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(!r.header("etag").unwrap().starts_with("W/"));
    let r = get("GET /always/st.html HTTP/1.1", "");
    assert_eq!(r.body, gz);

    // $gzip_ratio: the page over its compressed size, "-" when not compressed.
    let line = v.wait_for_log_line("ratio.log", "/any/page.html ");
    let ratio: f64 = line.rsplit(' ').next().unwrap().trim().parse().unwrap();
    assert!(
        ratio > 4.0 && line.trim_end().rsplit_once('.').unwrap().1.len() == 2,
        "{line}"
    );
    let line = v.wait_for_log_line("ratio.log", "/small.html ");
    assert!(line.trim_end().ends_with("/small.html -"), "{line}");
}

const BROTLI_SITE: &str = r#"
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    types { text/html html; text/css css; }
    gzip on;
    gzip_types text/css;
    brotli on;
    brotli_comp_level 5;
    brotli_types text/css;
    location /static/ { alias @DIR@/www/; brotli_static on; gzip_static on; }
}
"#;

#[test]
fn brotli_and_the_client_preference() {
    let v = Vestibule::start(BROTLI_SITE);
    make_files(v.dir.path());
    let www = v.dir.path().join("www");
    let mut br = brotli::CompressorWriter::new(Vec::new(), 4096, 11, 22);
    br.write_all(&page()).unwrap();
    std::fs::write(www.join("st.html.br"), br.into_inner()).unwrap();
    let get = |path: &str, ae: &str| {
        ask(
            |raw| v.request(raw),
            &format!("GET {path} HTTP/1.1"),
            &format!("Accept-Encoding: {ae}\r\n"),
        )
    };
    for (path, ae, coding) in [
        ("/page.html", "gzip, deflate, br", Some("br")),
        ("/a.css", "br", Some("br")),
        ("/page.html", "br;q=0.5, gzip", Some("gzip")),
        ("/page.html", "gzip;q=0.5, br", Some("br")),
        ("/page.html", "gzip, br;q=0", Some("gzip")),
        ("/page.html", "*", Some("br")),
        ("/page.html", "*;q=0", None),
        ("/page.html", "identity", None),
        ("/static/st.html", "gzip, br", Some("br")),
        ("/static/st.html", "gzip", Some("gzip")),
        ("/static/st.html", "br;q=0.1, gzip", Some("gzip")),
    ] {
        let r = get(path, ae);
        assert_eq!(
            r.header("content-encoding"),
            Some(coding).flatten(),
            "{path} {ae}"
        );
        let want = if path == "/a.css" { css() } else { page() };
        assert_eq!(decoded(&r), want, "{path} {ae}");
    }
    let r = get("/static/st.html", "br");
    assert_eq!(r.body, std::fs::read(www.join("st.html.br")).unwrap());
}

/// The app's responses through the proxy: compressed when their type is listed, a
/// stream flushed through piece by piece, and an already encoded body left alone.
#[test]
fn proxied_gunicorn_responses() {
    let g = Gunicorn::tcp(1);
    let upstream = g.proxy_pass();
    let servers = format!(
        r#"
server {{
    listen 127.0.0.1:@PORT@;
    gzip on;
    gzip_min_length 1;
    gzip_types application/json text/plain;
    location / {{ proxy_pass {upstream}; proxy_buffering off; }}
    location /buffered/ {{ proxy_pass {upstream}/; }}
    location /encoded/ {{ proxy_pass http://127.0.0.1:@PORT@/pre/; }}
    location /pre/ {{ alias @DIR@/www/; gzip_static always; }}
}}
"#
    );
    let v = Vestibule::start(&servers);
    make_files(v.dir.path());
    let get = |path: &str| {
        ask(
            |raw| v.request(raw),
            &format!("GET {path} HTTP/1.1"),
            "Accept-Encoding: gzip\r\n",
        )
    };
    let r = get("/echo/some/path?x=1");
    assert_eq!(r.header("content-encoding"), Some("gzip"), "{}", r.head);
    let json = String::from_utf8(gunzip(&r.body)).unwrap();
    assert!(json.contains("/echo/some/path"), "{json}");
    let r = get("/buffered/echo/b");
    assert!(String::from_utf8(gunzip(&r.body))
        .unwrap()
        .contains("/echo/b"));
    // application/octet-stream is not listed.
    let r = get("/big?n=50000");
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, common::pattern(50000));
    // An upstream's gzip body goes through as it is, not compressed twice.
    let r = get("/encoded/st.html");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&r.body), page());

    // A stream: the first piece decodes at the client while the app still waits.
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("gate");
    let mut c = v.client();
    c.deadline = Duration::from_secs(10);
    c.send(
        format!(
            "GET /stream?n=3&gate={} HTTP/1.1\r\nHost: h.test\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
            gate.display()
        )
        .as_bytes(),
    );
    let mut received = c.read_until(b"\r\n\r\n");
    let head_end = common::find(&received, b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let mut body = received.split_off(head_end);
    let mut text = String::new();
    for _ in 0..50 {
        text = String::from_utf8_lossy(&gunzip_prefix(&dechunk_prefix(&body))).into_owned();
        if text.contains("piece 0\n") {
            break;
        }
        body.extend(c.read_until(b"\r\n"));
    }
    assert_eq!(text, "piece 0\n", "the first piece was held back");
    std::fs::write(&gate, b"open").unwrap();
    body.extend(c.read_until(b"\r\n0\r\n\r\n"));
    assert_eq!(
        gunzip(&dechunk_prefix(&body)),
        b"piece 0\npiece 1\npiece 2\n"
    );
}

/// The chunk data of the complete chunks at the start of `wire`.
fn dechunk_prefix(mut wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = common::find(wire, b"\r\n") {
        let size = std::str::from_utf8(&wire[..eol]).unwrap().trim();
        let Ok(n) = usize::from_str_radix(size, 16) else {
            break;
        };
        if n == 0 || wire.len() < eol + 2 + n + 2 {
            break;
        }
        out.extend_from_slice(&wire[eol + 2..eol + 2 + n]);
        wire = &wire[eol + 2 + n + 2..];
    }
    out
}

/// What a gzip stream's first bytes decode to so far.
fn gunzip_prefix(data: &[u8]) -> Vec<u8> {
    let mut d = flate2::write::GzDecoder::new(Vec::new());
    let _ = d.write_all(data);
    let _ = d.flush();
    d.get_ref().clone()
}

/// `-t`: the directives load, bad values fail with nginx's words and file:line, and
/// Debian's brotli modules are native.
#[test]
fn configuration_checks() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("v.conf");
    let check = |body: &str| {
        std::fs::write(&conf, body).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
            .arg("-t")
            .arg("-c")
            .arg(&conf)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let http = |inner: &str| {
        format!(
            "pid {}/p;\nevents {{}}\nhttp {{\n{inner}\nserver {{ listen 127.0.0.1:1; }}\n}}\n",
            dir.path().display()
        )
    };
    let (ok, err) = check(&http(
        "gzip on; gzip_vary on; gzip_proxied expired no-cache no-store private auth;\n\
         gzip_comp_level 6; gzip_buffers 16 8k; gzip_http_version 1.1;\n\
         gzip_types text/plain text/css application/json application/javascript text/xml;\n\
         gzip_disable \"msie6\"; gzip_min_length 256; gzip_static on;\n\
         brotli on; brotli_comp_level 6; brotli_static on; brotli_types text/css; brotli_window 512k;",
    ));
    assert!(ok, "{err}");
    assert!(err.contains("\"gzip_buffers\" has no effect"), "{err}");
    for (line, message) in [
        ("gzip_comp_level 10;", "value must be between 1 and 9"),
        ("brotli_comp_level 12;", "value must be between 0 and 11"),
        ("gzip_proxied bogus;", "invalid value \"bogus\""),
        ("gzip_http_version 2.0;", "invalid value \"2.0\""),
        ("gzip_static sometimes;", "invalid value \"sometimes\""),
        ("brotli_window 3k;", "invalid value \"3k\""),
        ("gzip_disable \"(\";", "invalid regex"),
        ("gzip on; gzip off;", "\"gzip\" directive is duplicate"),
    ] {
        let (ok, err) = check(&http(line));
        assert!(!ok, "{line}");
        assert!(err.contains(message), "{line}: {err}");
        assert!(err.contains("v.conf:4"), "{line}: {err}");
    }
    let (ok, err) = check(&format!(
        "load_module modules/ngx_http_brotli_filter_module.so;\n{}",
        http("brotli on;")
    ));
    assert!(ok, "{err}");
    assert!(err.contains("vestibule does this natively"), "{err}");
}
