//! Criterion benchmarks of the pure functions every request runs through. Each exists
//! because it is on the per-request path; a change that moves one cites it.
//!
//! Run: `cargo bench --bench hot_paths`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use vestibule::config::build::{build, BuildOptions};
use vestibule::config::model::{HttpConfig, ListenAddr};
use vestibule::config::parser::parse;
use vestibule::config::source::Origin;
use vestibule::exchange::Exchange;
use vestibule::exchange::Peer;
use vestibule::exchange::RequestId;
use vestibule::http1::Header;
use vestibule::http1::{parse_request_head, BodyDecoder, Chunk, HeadLimits, RequestFraming};
use vestibule::pcre::Pcre;
use vestibule::proxy::head::{client_response_headers, upstream_request_head, RequestBodyFraming};
use vestibule::route::{LocationOutcome, Router};

const BROWSER_REQUEST: &[u8] = b"GET /static/css/app.css?v=3 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\nAccept: text/css,*/*;q=0.1\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\nReferer: https://www.example.com/\r\nCookie: session=abcdef0123456789; theme=dark\r\nConnection: keep-alive\r\n\r\n";

const SITE: &str = r#"http {
    server {
        listen 80;
        server_name example.com www.example.com;
        location = /health { return 200; }
        location /static/ { alias /var/www/flaskapp/static/; }
        location ~* \.(png|jpg|gif)$ { expires 7d; }
        location /api/ {
            proxy_set_header Host $http_host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_pass http://127.0.0.1:8000;
        }
        location / { proxy_pass http://127.0.0.1:8000; }
    }
    server { listen 80; server_name *.example.org; }
}"#;

/// Head parsing runs once per request: the cost every request pays before routing.
fn head_parsing(c: &mut Criterion) {
    let limits = HeadLimits::default();
    c.bench_function("parse_request_head/browser", |b| {
        b.iter(|| parse_request_head(black_box(BROWSER_REQUEST), &limits).unwrap())
    });
}

/// Chunked decoding runs over every byte of a chunked upload or upstream response.
fn chunked_decoding(c: &mut Criterion) {
    let mut body = Vec::new();
    for _ in 0..64 {
        body.extend_from_slice(b"400\r\n");
        body.extend_from_slice(&[b'x'; 1024]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    c.bench_function("chunked_decode/64x1KiB", |b| {
        b.iter(|| {
            let mut d = BodyDecoder::for_request(RequestFraming::Chunked);
            let mut at = 0;
            let mut payload = 0;
            loop {
                let (used, chunk) = d.next(black_box(&body[at..])).unwrap();
                at += used;
                match chunk {
                    Chunk::Data(r) => payload += r.len(),
                    Chunk::Done => break,
                    Chunk::NeedMore => unreachable!(),
                }
            }
            payload
        })
    });
}

fn site() -> (HttpConfig, Router) {
    let origin = Arc::new(Origin::File("/bench.conf".into()));
    let tree = parse(SITE, &origin).unwrap();
    let built = build(&tree, &BuildOptions::new("/", false)).unwrap();
    let http = built.config.http.unwrap();
    let router = Router::compile(&http);
    (http, router)
}

/// Route lookup runs once per request (server by Host, location by path).
fn route_lookup(c: &mut Criterion) {
    let (_http, router) = site();
    let local = ListenAddr::Tcp("0.0.0.0:80".parse().unwrap());
    c.bench_function("route/server_and_location", |b| {
        b.iter(|| {
            let m = router
                .select_server(&local, Some(black_box("www.example.com")))
                .unwrap();
            matches!(
                router.select_location(m.server, black_box("/static/css/app.css")),
                vestibule::route::LocationOutcome::Location { .. }
            )
        })
    });
}

/// Location regexes run per request, in configuration order, until one matches: the
/// usual extension and prefix patterns take the automaton engine, a look-ahead the
/// backtracking one (src/pcre/).
fn location_regexes(c: &mut Criterion) {
    let cases = [
        ("extension_hit", r"\.(css|js|png)$", "/static/css/app.css"),
        (
            "extension_miss",
            r"\.(css|js|png)$",
            "/api/v2/users/42/orders",
        ),
        ("named_capture", r"^/api/(?<ver>v\d+)/", "/api/v2/users/42"),
        ("lookahead", r"^/(?!admin/)(\w+)/", "/shop/items/42"),
    ];
    for (name, pattern, subject) in cases {
        let regex = Pcre::new(pattern, false).unwrap();
        c.bench_function(&format!("regex/{name}"), |b| {
            b.iter(|| regex.spans(black_box(subject)).is_some())
        });
    }
}

/// Header rewriting runs twice per proxied request: the client's head becomes the
/// upstream's (`proxy_set_header` with `proxy_params`, hop-by-hop headers dropped), and
/// the upstream's response headers become the client's (hidden ones dropped,
/// `Location` rewritten).
fn header_rewriting(c: &mut Criterion) {
    let (_http, router) = site();
    let local = ListenAddr::Tcp("0.0.0.0:80".parse().unwrap());
    let server = router
        .select_server(&local, Some("www.example.com"))
        .unwrap();
    let LocationOutcome::Location { location, .. } =
        router.select_location(server.server, "/api/users")
    else {
        panic!("/api/ routes to a location");
    };
    let conf = Arc::clone(&location.conf);
    let pass = conf.proxy.pass.clone().unwrap();
    let request = String::from_utf8_lossy(BROWSER_REQUEST)
        .replace("/static/css/app.css?v=3", "/api/users?id=3");
    let (head, n) = parse_request_head(request.as_bytes(), &HeadLimits::default())
        .unwrap()
        .unwrap();
    let peer = Rc::new(Peer {
        remote_addr: "203.0.113.9".into(),
        remote_port: 51234,
        remote_ip: Some("203.0.113.9".parse().unwrap()),
        accepted: std::time::Instant::now(),
        realip_original: None,
        listen: local.clone(),
        server_addr: "192.0.2.1".into(),
        server_port: 80,
        scheme: "http",
        tls: None,
    });
    let mut x = Exchange::new(
        peer,
        head,
        n as u64,
        RequestId::from_bits(1, 2),
        Rc::from("bench"),
    );
    x.proxy_host = Some("127.0.0.1:8000".into());
    let mut out = Vec::with_capacity(1024);
    c.bench_function("rewrite/upstream_request_head", |b| {
        b.iter(|| {
            out.clear();
            upstream_request_head(
                black_box(&x),
                &conf,
                "/api/users?id=3",
                RequestBodyFraming::None,
                true,
                &mut out,
            );
            out.len()
        })
    });
    let upstream = [
        Header::new("Server", "gunicorn"),
        Header::new("Date", "Tue, 01 Dec 2026 14:00:00 GMT"),
        Header::new("Connection", "keep-alive"),
        Header::new("Content-Type", "application/json"),
        Header::new("Content-Length", "27"),
        Header::new("Location", "http://127.0.0.1:8000/api/users/3"),
        Header::new("Set-Cookie", "session=abcdef; HttpOnly; Path=/"),
    ];
    let tokens = vestibule::http1::headers::connection_tokens(&upstream);
    c.bench_function("rewrite/client_response_headers", |b| {
        b.iter(|| {
            // The copy is part of the measure: the proxy hands its parsed list over.
            client_response_headers(
                black_box(upstream.to_vec()),
                &tokens,
                &x,
                Some(location),
                &conf,
                &pass,
                false,
            )
            .len()
        })
    });
}

criterion_group!(
    benches,
    head_parsing,
    chunked_decoding,
    route_lookup,
    location_regexes,
    header_rewriting
);
criterion_main!(benches);
