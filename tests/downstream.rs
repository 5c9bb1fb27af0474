//! The downstream seam (docs/architecture.md): handlers answer through
//! `exchange::Downstream` and write no protocol bytes. A second implementation here,
//! which records what it is asked to send as data (as an HTTP/2 stream will encode
//! it), drives the real static-file handler and the shared error pages: the head
//! arrives as a status, header lines and a body length, with no connection
//! management and no framing, and the body as bytes and file ranges.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use vestibule::config::build::{build, BuildOptions};
use vestibule::config::model::{HttpConfig, ListenAddr, LocationConf};
use vestibule::config::parser::parse;
use vestibule::config::source::Origin;
use vestibule::config::Config;
use vestibule::exchange::body::BodyReadError;
use vestibule::exchange::response::{compose, BodyLength, HeadWriter, ResponseHead};
use vestibule::exchange::{answer, Downstream, Env, Exchange, Outcome, Peer, RequestId, Upgraded};
use vestibule::http1::{parse_request_head, HeadLimits};
use vestibule::observe::ErrorLog;
use vestibule::route::{LocationOutcome, Router};

/// A response as a protocol-neutral recorder saw it.
#[derive(Debug, Default)]
struct Recorded {
    status: u16,
    headers: Vec<(String, String)>,
    length: Option<BodyLength>,
    body: Vec<u8>,
    /// (offset, len, zero_copy) of each file range.
    files: Vec<(u64, u64, bool)>,
    finished: bool,
}

impl HeadWriter for Recorded {
    fn status(&mut self, status: u16, _reason: &str) {
        self.status = status;
    }
    fn server(&mut self, _tokens: bool) {
        self.headers.push(("server".into(), "vestibule".into()));
    }
    fn date(&mut self) {
        self.headers.push(("date".into(), "now".into()));
    }
    fn known(&mut self, name: &'static str, value: &[u8]) {
        self.header(name, value);
    }
    fn header(&mut self, name: &str, value: &[u8]) {
        self.headers.push((
            name.to_ascii_lowercase(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    fn protocol_lines(&mut self, length: BodyLength, _upgrade: bool) {
        self.length = Some(length);
    }
}

#[derive(Debug, Default)]
struct Recorder {
    r: Recorded,
}

impl Downstream for Recorder {
    fn server_chosen(&mut self, _x: &Exchange, _conf: &LocationConf) {}
    fn close_after(&mut self) {}
    fn keeps_alive(&self) -> bool {
        true
    }
    async fn start_body(&mut self, _x: &Exchange, _limit: u64, _timeout: Duration) -> bool {
        true
    }
    async fn read_body(&mut self, _out: &mut Vec<u8>) -> Result<usize, BodyReadError> {
        Ok(0)
    }
    fn body_done(&self) -> bool {
        true
    }
    fn skip_body(&mut self, _x: &mut Exchange, _conf: &LocationConf) -> Result<(), BodyReadError> {
        Ok(())
    }
    fn send_head(&mut self, x: &mut Exchange, conf: &LocationConf, head: ResponseHead<'_>) {
        compose(x, conf, head, &mut self.r);
    }
    async fn flush(&mut self) -> bool {
        true
    }
    async fn send_body(&mut self, data: &[u8]) -> bool {
        self.r.body.extend_from_slice(data);
        true
    }
    async fn send_owned(&mut self, data: Vec<u8>) -> Option<Vec<u8>> {
        self.r.body.extend_from_slice(&data);
        Some(data)
    }
    async fn send_file(&mut self, file: &File, offset: u64, len: u64, zero_copy: bool) -> bool {
        let mut buf = vec![0; len as usize];
        file.read_exact_at(&mut buf, offset).unwrap();
        self.r.body.extend_from_slice(&buf);
        self.r.files.push((offset, len, zero_copy));
        true
    }
    async fn finish(&mut self) -> bool {
        self.r.finished = true;
        true
    }
    async fn closed(&self) {
        std::future::pending::<()>().await
    }
    async fn upgrade(&mut self) -> Option<Upgraded<'_>> {
        None
    }
    async fn end(&mut self, _x: &mut Exchange, done: bool) -> bool {
        done
    }
}

fn site(dir: &std::path::Path) -> (Config, Router) {
    let text = format!(
        "http {{ server {{ listen 127.0.0.1:8080; sendfile on;
            location /static/ {{ alias {}/; }} }} }}",
        dir.display()
    );
    let origin = Arc::new(Origin::File("/downstream.conf".into()));
    let tree = parse(&text, &origin).unwrap();
    let built = build(&tree, &BuildOptions::new("/", false)).unwrap();
    let http: &HttpConfig = built.config.http.as_ref().unwrap();
    let router = Router::compile(http);
    (built.config, router)
}

fn exchange(request: &str) -> Exchange {
    let (head, n) = parse_request_head(request.as_bytes(), &HeadLimits::default())
        .unwrap()
        .unwrap();
    let local = ListenAddr::Tcp("127.0.0.1:8080".parse().unwrap());
    let peer = Rc::new(Peer {
        remote_addr: "127.0.0.1".into(),
        remote_port: 40000,
        remote_ip: Some("127.0.0.1".parse().unwrap()),
        accepted: std::time::Instant::now(),
        realip_original: None,
        listen: local,
        server_addr: "127.0.0.1".into(),
        server_port: 8080,
        scheme: "https",
        tls: None,
    });
    let mut x = Exchange::new(peer, head, n as u64, RequestId::from_bits(1, 2), "h".into());
    x.uri = x.head.path.clone();
    x.host = "localhost".into();
    x
}

/// Runs the static handler for `request` on the recorder.
fn serve(config: &Config, router: &Router, request: &str) -> (Outcome, Recorded, Exchange) {
    let mut x = exchange(request);
    let local = ListenAddr::Tcp("127.0.0.1:8080".parse().unwrap());
    let server = router.select_server(&local, Some("localhost")).unwrap();
    let LocationOutcome::Location { location, .. } = router.select_location(server.server, &x.uri)
    else {
        panic!("/static/ routes to a location");
    };
    let error_log = ErrorLog::stderr(vestibule::config::model::LogLevel::Crit);
    let env = Env {
        error_log: &error_log,
        config,
    };
    let mut d = Recorder::default();
    let conf = Arc::clone(&location.conf);
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    let outcome = rt.block_on(vestibule::static_files::handle(
        &mut d,
        &mut x,
        env,
        Some(location),
        &conf,
    ));
    (outcome, d.r, x)
}

fn header<'r>(r: &'r Recorded, name: &str) -> Option<&'r str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn the_static_handler_speaks_no_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    let (config, router) = site(dir.path());

    let (outcome, r, x) = serve(
        &config,
        &router,
        "GET /static/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(matches!(outcome, Outcome::Done), "{outcome:?}");
    assert_eq!(r.status, 200);
    assert_eq!(x.status, 200);
    assert_eq!(r.length, Some(BodyLength::Known(100_000)));
    assert_eq!(
        r.files,
        vec![(0, 100_000, true)],
        "one zero-copy file range"
    );
    assert_eq!(r.body, data);
    assert!(r.finished);
    assert_eq!(header(&r, "accept-ranges"), Some("bytes"));
    for hop in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
    ] {
        assert_eq!(
            header(&r, hop),
            None,
            "{hop} is the protocol's, not the handler's"
        );
    }

    let (_, r, _) = serve(
        &config,
        &router,
        "GET /static/big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=10-19\r\n\r\n",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.length, Some(BodyLength::Known(10)));
    assert_eq!(r.files, vec![(10, 10, true)]);
    assert_eq!(header(&r, "content-range"), Some("bytes 10-19/100000"));

    // HEAD: the length, no body.
    let (_, r, _) = serve(
        &config,
        &router,
        "HEAD /static/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(r.length, Some(BodyLength::Known(100_000)));
    assert!(r.files.is_empty() && r.body.is_empty());

    // A directory without its slash: the shared redirect, absolute with the
    // connection's scheme.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let (_, r, _) = serve(
        &config,
        &router,
        "GET /static/sub?a=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(r.status, 301);
    assert_eq!(
        header(&r, "location"),
        Some("https://localhost:8080/static/sub/?a=1")
    );
    assert_eq!(header(&r, "content-type"), Some("text/html"));
    assert!(String::from_utf8_lossy(&r.body).contains("<h1>301 Moved Permanently</h1>"));

    // Not found: a status for the dispatcher's error page, nothing sent.
    let (outcome, r, _) = serve(
        &config,
        &router,
        "GET /static/nothing HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert!(matches!(outcome, Outcome::Status(404)), "{outcome:?}");
    assert_eq!(r.status, 0);
}

#[test]
fn error_pages_are_one_renderer_over_any_downstream() {
    let dir = tempfile::tempdir().unwrap();
    let (_config, router) = site(dir.path());
    let local = ListenAddr::Tcp("127.0.0.1:8080".parse().unwrap());
    let server = router.select_server(&local, Some("localhost")).unwrap();
    let LocationOutcome::Location { location, .. } =
        router.select_location(server.server, "/static/x")
    else {
        panic!("/static/ routes to a location");
    };
    let mut x = exchange("GET /static/x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut d = Recorder::default();
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .build()
        .unwrap();
    let outcome = rt.block_on(answer::send_error_page(
        &mut d,
        &mut x,
        &location.conf,
        502,
        Vec::new(),
    ));
    assert!(matches!(outcome, Outcome::Done));
    assert_eq!(d.r.status, 502);
    let page = vestibule::exchange::response::default_page(502, location.conf.server_tokens);
    assert_eq!(d.r.length, Some(BodyLength::Known(page.len() as u64)));
    assert_eq!(d.r.body, page);
}
