//! `vestibule_metrics` through the real binary: what two workers counted, summed in
//! one scrape, equals what the clients sent and received — before and after a worker
//! is killed and respawned, and after a reload (in place; and one refused); the
//! upstream counters and up/down state against a real Gunicorn and a dead port; the
//! configuration errors with file:line; `allow`/`deny` on the location; OpenMetrics
//! on request. Every scrape is checked against the exposition format by a small
//! parser here (names, `# TYPE` before samples, counters named by format, histogram
//! buckets cumulative up to `+Inf` = `_count`, no sample twice, `# EOF` last).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::tls::{client_config, Ca, Key};
use common::{free_port, signal, test_config, wait_until, Client, Driver, Gunicorn, Vestibule};

// ---------------------------------------------------------------- the exposition

/// A scrape, parsed: `name{k="v",...}` (labels sorted) → value.
#[derive(Debug, Default)]
struct Scrape {
    samples: BTreeMap<String, f64>,
}

fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut l: Vec<(&str, &str)> = labels.to_vec();
    l.sort();
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

impl Scrape {
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        *self
            .samples
            .get(&key(name, labels))
            .unwrap_or_else(|| panic!("no sample {}", key(name, labels)))
    }

    /// The value, 0 when the sample is absent (request counters skip zeros).
    fn get_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples.get(&key(name, labels)).copied().unwrap_or(0.0)
    }

    /// The sum over samples of `name` whose labels include every one of `having`.
    fn sum(&self, name: &str, having: &[(&str, &str)]) -> f64 {
        let prefix = format!("{name}{{");
        self.samples
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| {
                having
                    .iter()
                    .all(|(l, v)| k.contains(&format!("{l}={v:?}")))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

fn valid_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

/// `k="v",k2="v2"` → pairs, unescaping values.
fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let eq = rest
            .find("=\"")
            .unwrap_or_else(|| panic!("label without =\": {s}"));
        let name = &rest[..eq];
        assert!(valid_name(name, false), "label name {name:?}");
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break eq + 2 + i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in {s}"),
                },
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {s}"),
            }
        };
        out.push((name.to_owned(), value));
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else {
            assert!(rest.is_empty(), "after a label: {rest:?} in {s}");
        }
    }
    out
}

/// Parses and checks a scrape in text format 0.0.4 (`open_metrics` false) or
/// OpenMetrics 1.0.
fn parse(text: &str, open_metrics: bool) -> Scrape {
    let mut scrape = Scrape::default();
    let mut family: Option<(String, String)> = None;
    let mut families = HashSet::new();
    // The current histogram series: labels without le → (last le, last cumulative).
    let mut buckets: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert!(text.ends_with('\n'), "the text ends with a newline");
    if open_metrics {
        assert_eq!(lines.last(), Some(&"# EOF"), "OpenMetrics ends with # EOF");
    } else {
        assert!(!text.contains("# EOF"), "no # EOF in text format");
    }
    for (n, line) in lines.iter().enumerate() {
        if *line == "# EOF" {
            assert_eq!(n + 1, lines.len(), "# EOF is last");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(valid_name(name, true), "{line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(valid_name(name, true), "{line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(families.insert(name.to_owned()), "family twice: {line}");
            if kind == "counter" {
                assert_eq!(
                    name.ends_with("_total"),
                    !open_metrics,
                    "a counter's TYPE names it with _total in text format only: {line}"
                );
            }
            family = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, l)) => (name, parse_labels(l.strip_suffix('}').unwrap())),
            None => (series, Vec::new()),
        };
        assert!(valid_name(name, true), "{line}");
        let (fam, kind) = family
            .clone()
            .unwrap_or_else(|| panic!("sample before TYPE: {line}"));
        let allowed: Vec<String> = match (kind.as_str(), open_metrics) {
            ("counter", true) => vec![format!("{fam}_total")],
            ("histogram", _) => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{fam}{s}"))
                .collect(),
            _ => vec![fam.clone()],
        };
        assert!(
            allowed.iter().any(|a| a == name),
            "{name} is not of family {fam}: {line}"
        );
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if kind == "histogram" {
            let without_le: Vec<(&str, &str)> =
                pairs.iter().copied().filter(|(k, _)| *k != "le").collect();
            let series_key = key(&fam, &without_le);
            if name.ends_with("_bucket") {
                let le = pairs.iter().find(|(k, _)| *k == "le").expect("le").1;
                let le: f64 = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                if open_metrics {
                    let raw = labels.iter().find(|(k, _)| k == "le").unwrap().1.clone();
                    assert!(
                        raw == "+Inf" || raw.contains('.'),
                        "OpenMetrics le is a float: {line}"
                    );
                }
                if let Some((last_le, last)) = buckets.get(&series_key) {
                    assert!(le > *last_le, "le increases: {line}");
                    assert!(value >= *last, "buckets are cumulative: {line}");
                }
                buckets.insert(series_key, (le, value));
            } else if name.ends_with("_count") {
                let (last_le, last) = buckets
                    .get(&series_key)
                    .copied()
                    .expect("buckets before _count");
                assert_eq!(last_le, f64::INFINITY, "the last bucket is +Inf: {line}");
                assert_eq!(last, value, "+Inf bucket = _count: {line}");
            }
        }
        let k = key(name, &pairs);
        assert!(
            scrape.samples.insert(k, value).is_none(),
            "sample twice: {line}"
        );
    }
    scrape
}

// ---------------------------------------------------------------- the clients

/// One request's bytes out and in, and its status.
struct Exchanged {
    status: u16,
    sent: u64,
    received: u64,
    /// The answer said `Connection: close` (after a 5xx, say).
    closes: bool,
}

/// Sends `raw` on `s` and reads one response (Content-Length framed, or none for
/// HEAD and bodiless statuses).
fn exchange(s: &mut TcpStream, raw: &[u8], head_request: bool) -> Exchanged {
    s.write_all(raw).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "response head cut short");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let status: u16 = text[9..12].parse().unwrap();
    let length: usize = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let closes = text
        .to_ascii_lowercase()
        .contains("\r\nconnection: close\r\n");
    let body_len = if head_request { 0 } else { length };
    let mut body = vec![0u8; body_len];
    s.read_exact(&mut body).unwrap();
    Exchanged {
        status,
        sent: raw.len() as u64,
        received: (head.len() + body_len) as u64,
        closes,
    }
}

/// What the clients did, as the metrics should count it.
#[derive(Debug, Default, Clone, PartialEq)]
struct Expected {
    /// (class, method) → requests.
    requests: BTreeMap<(String, String), u64>,
    bytes_in: u64,
    bytes_out: u64,
    connections: u64,
}

impl Expected {
    fn add(&mut self, other: &Expected) {
        for (k, v) in &other.requests {
            *self.requests.entry(k.clone()).or_default() += v;
        }
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.connections += other.connections;
    }
}

const LOAD_HOST: &str = "load.test";

/// The requests of one round: each method and status class.
fn round_requests() -> Vec<(&'static str, String, bool)> {
    let h = LOAD_HOST;
    vec![
        (
            "GET",
            format!("GET /index.html HTTP/1.1\r\nHost: {h}\r\n\r\n"),
            false,
        ),
        (
            "HEAD",
            format!("HEAD /index.html HTTP/1.1\r\nHost: {h}\r\n\r\n"),
            true,
        ),
        (
            "GET",
            format!("GET /missing HTTP/1.1\r\nHost: {h}\r\n\r\n"),
            false,
        ),
        (
            "POST",
            format!("POST /r HTTP/1.1\r\nHost: {h}\r\nContent-Length: 5\r\n\r\nhello"),
            false,
        ),
        (
            "DELETE",
            format!("DELETE /gone HTTP/1.1\r\nHost: {h}\r\n\r\n"),
            false,
        ),
        (
            "other",
            format!("PROPFIND /r HTTP/1.1\r\nHost: {h}\r\n\r\n"),
            false,
        ),
        (
            "GET",
            format!("GET /moved HTTP/1.1\r\nHost: {h}\r\n\r\n"),
            false,
        ),
        // A 5xx closes the connection without reading a body (which would then not
        // be received, nor counted): none here.
        (
            "PUT",
            format!("PUT /broken HTTP/1.1\r\nHost: {h}\r\nContent-Length: 0\r\n\r\n"),
            false,
        ),
        (
            "OPTIONS",
            format!("OPTIONS /r HTTP/1.1\r\nHost: {h}\r\n\r\n"),
            false,
        ),
    ]
}

/// `threads` clients, each `rounds` rounds on one keep-alive connection and one
/// request per new connection; each connection's last request asks to close and the
/// client waits for the close, so the worker has logged (and counted) it.
fn load(port: u16, threads: usize, rounds: usize) -> Expected {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let mut e = Expected::default();
                let count = |e: &mut Expected, method: &str, x: &Exchanged| {
                    let class = format!("{}xx", x.status / 100);
                    *e.requests.entry((class, method.to_owned())).or_default() += 1;
                    e.bytes_in += x.sent;
                    e.bytes_out += x.received;
                };
                for _ in 0..rounds {
                    let reqs = round_requests();
                    // One keep-alive connection for the round.
                    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    e.connections += 1;
                    for (method, raw, head) in &reqs {
                        let x = exchange(&mut s, raw.as_bytes(), *head);
                        count(&mut e, method, &x);
                        if x.closes {
                            // A 5xx ends the connection, as nginx's: a new one.
                            wait_closed(&mut s);
                            s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                            e.connections += 1;
                        }
                    }
                    let close = format!("GET /index.html HTTP/1.1\r\nHost: {LOAD_HOST}\r\nConnection: close\r\n\r\n");
                    let x = exchange(&mut s, close.as_bytes(), false);
                    count(&mut e, "GET", &x);
                    wait_closed(&mut s);
                    // And each request on a connection of its own.
                    for (method, raw, head) in &reqs {
                        let raw = raw.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
                        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        e.connections += 1;
                        let x = exchange(&mut s, raw.as_bytes(), *head);
                        count(&mut e, method, &x);
                        wait_closed(&mut s);
                    }
                }
                e
            })
        })
        .collect();
    let mut total = Expected::default();
    for h in handles {
        total.add(&h.join().unwrap());
    }
    total
}

fn wait_closed(s: &mut TcpStream) {
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// A scrape of `path` with `Accept` (text format without), parsed and checked.
fn scrape_with(port: u16, path: &str, accept: Option<&str>) -> (u16, String, Scrape) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    let raw =
        format!("GET {path} HTTP/1.1\r\nHost: metrics.test\r\n{accept}Connection: close\r\n\r\n");
    s.write_all(raw.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8(all).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("")
        .to_owned();
    if status != 200 {
        return (status, content_type, Scrape::default());
    }
    let open_metrics = content_type.starts_with("application/openmetrics-text");
    (status, content_type, parse(body, open_metrics))
}

fn scrape(port: u16) -> Scrape {
    let (status, content_type, s) = scrape_with(port, "/metrics", None);
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    s
}

// ---------------------------------------------------------------- the scrape test

const TWO_WORKERS: &str = "worker_processes 2; events { worker_connections 256; }";

const SITE: &str = r#"
log_format withpid "$pid $host $status";
server {
    listen 127.0.0.1:@PORT@;
    server_name load.test;
    root @DIR@/www;
    access_log @DIR@/load.log withpid;
    location = /r { return 200 "ok\n"; }
    location = /gone { return 410; }
    location = /moved { return 301 /index.html; }
    location = /broken { return 503; }
}
server {
    listen 127.0.0.1:@PORT@;
    server_name metrics.test;
    location = /metrics { vestibule_metrics; allow 127.0.0.1; deny all; }
    location = /closed { vestibule_metrics; deny 127.0.0.1; allow all; }
}
"#;

/// Checks the load server's counters in `s` against `e`.
fn assert_counts(s: &Scrape, e: &Expected, port: u16, when: &str) {
    let listen = format!("127.0.0.1:{port}");
    let server = [("server", LOAD_HOST), ("listen", listen.as_str())];
    let mut seen = BTreeMap::new();
    for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
        for method in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
        ] {
            let labels = [server[0], server[1], ("code", class), ("method", method)];
            let n = s.get_or_zero("vestibule_http_requests_total", &labels) as u64;
            if n > 0 {
                seen.insert((class.to_owned(), method.to_owned()), n);
            }
        }
    }
    assert_eq!(seen, e.requests, "{when}: requests by class and method");
    let total: u64 = e.requests.values().sum();
    assert_eq!(
        s.get("vestibule_http_request_duration_seconds_count", &server) as u64,
        total,
        "{when}: durations observed"
    );
    assert_eq!(
        s.get("vestibule_http_request_bytes_total", &server) as u64,
        e.bytes_in,
        "{when}: bytes in"
    );
    assert_eq!(
        s.get("vestibule_http_response_bytes_total", &server) as u64,
        e.bytes_out,
        "{when}: bytes out"
    );
}

/// Until the scrape shows `e` (a worker logs a request a moment after the client has
/// the answer of a keep-alive one; closes are waited for, so this is quick).
fn settle(port: u16, e: &Expected) -> Scrape {
    let mut last = Scrape::default();
    let listen = format!("127.0.0.1:{port}");
    let server = [("server", LOAD_HOST), ("listen", listen.as_str())];
    let total: u64 = e.requests.values().sum();
    wait_until(Duration::from_secs(5), || {
        last = scrape(port);
        last.sum("vestibule_http_requests_total", &server) as u64 == total
    });
    last
}

fn workers_of(v: &Vestibule) -> Vec<i32> {
    let mut w = common::child_pids(v.pid());
    w.sort();
    w
}

/// On both io drivers.
#[test]
fn scraped_counters_equal_what_two_workers_served_across_a_kill_and_reloads() {
    for driver in [Driver::Default, Driver::Epoll] {
        counters_equal_what_was_served(driver);
    }
}

fn counters_equal_what_was_served(driver: Driver) {
    let v = Vestibule::start_with_main(TWO_WORKERS, SITE, "", driver);
    std::fs::create_dir_all(v.path("www")).unwrap();
    std::fs::write(v.path("www/index.html"), "<p>hello</p>\n").unwrap();
    let port = v.port;
    let workers = workers_of(&v);
    assert_eq!(workers.len(), 2, "{workers:?}");

    let first = scrape(port);
    assert_eq!(first.get("vestibule_config_generation", &[]), 1.0);
    assert_eq!(first.get("vestibule_worker_restarts_total", &[]), 0.0);
    let accepted0 = first.get("vestibule_connections_accepted_total", &[]) as u64;
    let mut expected = Expected::default();

    // 1. Load over both workers.
    let round = load(port, 4, 3);
    expected.add(&round);
    let s = settle(port, &expected);
    assert_counts(&s, &expected, port, "after the first load");
    // Every connection was accepted once: the load's, the first scrape's and the
    // settling scrapes' (at least one).
    let accepted = s.get("vestibule_connections_accepted_total", &[]) as u64;
    assert!(
        accepted > accepted0 + round.connections,
        "{accepted0} + {} < {accepted}",
        round.connections
    );
    // The load was served by both workers (their pids in the access log), and one
    // scrape summed them.
    // (The access log is buffered: until both have written theirs.)
    let mut pids = HashSet::new();
    wait_until(Duration::from_secs(5), || {
        pids = common::read_lossy(&v.path("load.log"))
            .lines()
            .filter_map(|l| l.split(' ').next()?.parse::<i32>().ok())
            .collect();
        pids.len() == 2
    });
    assert_eq!(
        pids,
        workers.iter().copied().collect(),
        "both workers served"
    );
    // Only the scrape's own connection is open; nothing reads or idles.
    assert_eq!(s.get("vestibule_connections_active", &[]), 1.0);
    assert_eq!(s.get("vestibule_connections_writing", &[]), 1.0);
    assert_eq!(s.get("vestibule_connections_idle", &[]), 0.0);

    // 2. A worker killed: its row's counters stay, the respawned worker adds to them.
    signal(workers[0], libc::SIGKILL);
    let respawned = wait_until(Duration::from_secs(10), || {
        let now = workers_of(&v);
        now.len() == 2 && !now.contains(&workers[0])
    });
    assert!(respawned, "{:?}", workers_of(&v));
    let round = load(port, 4, 3);
    expected.add(&round);
    let s = settle(port, &expected);
    assert_counts(&s, &expected, port, "after a worker was killed");
    assert_eq!(s.get("vestibule_worker_restarts_total", &[]), 1.0);

    // 3. A reload (the same text: in place, the zone kept).
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["configuration reloaded in place"]);
    let round = load(port, 4, 2);
    expected.add(&round);
    let s = settle(port, &expected);
    assert_counts(&s, &expected, port, "after a reload");
    assert_eq!(
        s.get("vestibule_config_reloads_total", &[("result", "ok")]),
        1.0
    );
    assert_eq!(
        s.get("vestibule_config_reloads_total", &[("result", "failed")]),
        0.0
    );
    assert_eq!(s.get("vestibule_config_generation", &[]), 2.0);
    let loaded = s.get(
        "vestibule_config_last_reload_success_timestamp_seconds",
        &[],
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - loaded).abs() < 60.0, "loaded at {loaded}, now {now}");

    // 4. A refused reload changes no counter and counts as failed.
    let conf = v.path("vestibule.conf");
    let good = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        good.replace("vestibule_metrics; allow", "vestibule_metrics on; allow"),
    )
    .unwrap();
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reload failed"]);
    std::fs::write(&conf, &good).unwrap();
    let s = settle(port, &expected);
    assert_counts(&s, &expected, port, "after a refused reload");
    assert_eq!(
        s.get("vestibule_config_reloads_total", &[("result", "failed")]),
        1.0
    );
    assert_eq!(s.get("vestibule_config_generation", &[]), 2.0);
}

/// A reload that adds a server block changes the labels: a new zone, so a new
/// generation of workers whose counters start from zero, with the new block's
/// series and the master's figures carried into it.
#[test]
fn a_reload_that_changes_the_labels_starts_the_counters_again() {
    let v = Vestibule::start_with_main(TWO_WORKERS, SITE, "", Driver::Default);
    let e = load(v.port, 1, 1);
    let s = settle(v.port, &e);
    let served = s.sum("vestibule_http_requests_total", &[("server", LOAD_HOST)]);
    assert!(served > 0.0);
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let port = v.port;
    let added = text.replacen(
        "server {",
        &format!(
            "server {{ listen 127.0.0.1:{port}; server_name new.test; return 204; }}\nserver {{"
        ),
        1,
    );
    std::fs::write(&conf, added).unwrap();
    let old = workers_of(&v);
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["the shared zones changed"]);
    // Until the old generation has drained and gone: only the new one answers.
    let replaced = wait_until(Duration::from_secs(10), || {
        let now = workers_of(&v);
        now.len() == 2 && now.iter().all(|p| !old.contains(p))
    });
    assert!(replaced, "{old:?} -> {:?}", workers_of(&v));
    let mut s = Scrape::default();
    let listen = format!("127.0.0.1:{port}");
    let new = [("server", "new.test"), ("listen", listen.as_str())];
    let moved = wait_until(Duration::from_secs(10), || {
        s = scrape(port);
        s.samples
            .contains_key(&key("vestibule_http_request_bytes_total", &new))
    });
    assert!(
        moved,
        "the new block's series: {:?}",
        s.samples.keys().take(5).collect::<Vec<_>>()
    );
    assert_eq!(
        s.sum("vestibule_http_requests_total", &[("server", LOAD_HOST)]),
        0.0
    );
    assert_eq!(s.get("vestibule_config_generation", &[]), 2.0);
    assert_eq!(
        s.get("vestibule_config_reloads_total", &[("result", "ok")]),
        1.0
    );
    let r = v.request(b"GET / HTTP/1.1\r\nHost: new.test\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 204);
    let counted = wait_until(Duration::from_secs(5), || {
        let s = scrape(port);
        s.get_or_zero(
            "vestibule_http_requests_total",
            &[new[0], new[1], ("code", "2xx"), ("method", "GET")],
        ) == 1.0
    });
    assert!(counted);
}

// ---------------------------------------------------------------- upstreams

#[test]
fn upstream_attempts_failures_retries_and_up_state_per_server() {
    let g = Gunicorn::tcp(1);
    let dead = free_port();
    let live = format!("127.0.0.1:{}", g.port());
    let dead_addr = format!("127.0.0.1:{dead}");
    let site = format!(
        r#"
upstream app {{ server {live}; server {dead_addr} max_fails=1 fail_timeout=30s; server 127.0.0.1:9 down; }}
server {{
    listen 127.0.0.1:@PORT@;
    server_name load.test;
    location / {{ proxy_pass http://app; }}
    location /direct/ {{ proxy_pass http://{live}/; }}
}}
server {{
    listen 127.0.0.1:@PORT@;
    server_name metrics.test;
    location = /metrics {{ vestibule_metrics; }}
}}
"#
    );
    let v = Vestibule::start_with_main(TWO_WORKERS, &site, "", Driver::Default);
    let before = scrape(v.port);
    let up = |s: &Scrape, upstream: &str, server: &str| {
        s.get(
            "vestibule_upstream_server_up",
            &[("upstream", upstream), ("server", server)],
        )
    };
    assert_eq!(up(&before, "app", &live), 1.0);
    assert_eq!(up(&before, "app", &dead_addr), 1.0, "not failed yet");
    assert_eq!(up(&before, "app", "127.0.0.1:9"), 0.0, "marked down");
    // Until the dead server has been tried (round robin, per worker); each request
    // that tried it went on to the live one (GET: retried on error).
    let mut answered = 0;
    for _ in 0..20 {
        let r = v.get("/", "load.test");
        assert_eq!(r.status, 200);
        answered += 1;
    }
    for _ in 0..3 {
        assert_eq!(v.get("/direct/", "load.test").status, 200);
    }
    let mut s = Scrape::default();
    wait_until(Duration::from_secs(5), || {
        s = scrape(v.port);
        s.sum("vestibule_http_requests_total", &[("server", "load.test")]) as u64 == answered + 3
    });
    let labels =
        |server: &str| [("upstream", "app"), ("server", server)].map(|(k, v)| (k, v.to_owned()));
    let get = |name: &str, server: &str| {
        let l = labels(server);
        s.get(
            name,
            &[(l[0].0, l[0].1.as_str()), (l[1].0, l[1].1.as_str())],
        ) as u64
    };
    let failures = get("vestibule_upstream_failures_total", &dead_addr);
    assert!(failures >= 1, "the dead server was tried");
    assert_eq!(
        get("vestibule_upstream_requests_total", &dead_addr),
        failures
    );
    assert_eq!(get("vestibule_upstream_failures_total", &live), 0);
    // Each failure was followed by a retry on the live server, and every request
    // ended there.
    assert_eq!(get("vestibule_upstream_retries_total", &live), failures);
    assert_eq!(get("vestibule_upstream_requests_total", &live), answered);
    assert_eq!(
        get("vestibule_upstream_response_duration_seconds_count", &live),
        answered
    );
    assert_eq!(get("vestibule_upstream_requests_total", "127.0.0.1:9"), 0);
    // The implicit upstream of `proxy_pass http://ADDR/` is named by its address.
    let direct = [("upstream", live.as_str()), ("server", live.as_str())];
    assert_eq!(s.get("vestibule_upstream_requests_total", &direct), 3.0);
    // The dead server failed max_fails times within fail_timeout: down for every
    // worker, whichever answers the scrape.
    for _ in 0..4 {
        let s = scrape(v.port);
        assert_eq!(up(&s, "app", &dead_addr), 0.0);
        assert_eq!(up(&s, "app", &live), 1.0);
    }
}

// ---------------------------------------------------------------- TLS

/// Full handshakes, resumed ones (tickets with the keys the master shares, so on
/// either worker) and failed ones, as the clients saw them.
#[test]
fn tls_handshakes_by_result_over_two_workers() {
    let ca = Ca::new("Test CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"], Key::Ecdsa).write(dir.path(), "a");
    let tls_port = free_port();
    let site = format!(
        r#"
server {{
    listen 127.0.0.1:{tls_port} ssl;
    server_name a.test;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    return 200 "ok\n";
}}
server {{
    listen 127.0.0.1:@PORT@;
    location = /metrics {{ vestibule_metrics; }}
}}
"#,
        cert = cert.display(),
        key = key.display()
    );
    let v = Vestibule::start_with_main(TWO_WORKERS, &site, "", Driver::Default);
    let config = client_config(&ca);
    let (mut full, mut resumed) = (0, 0);
    for _ in 0..12 {
        let mut c = Client::connect_tls(tls_port, Some("a.test"), &config).unwrap();
        match c.session().handshake_kind() {
            Some(rustls::HandshakeKind::Resumed) => resumed += 1,
            _ => full += 1,
        }
        c.send(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
        assert_eq!(c.read_response(false).status, 200);
    }
    assert!(full >= 1 && resumed >= 1, "full {full}, resumed {resumed}");
    // A handshake record with nothing sensible in it, then the close.
    for _ in 0..2 {
        let mut s = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
        s.write_all(b"\x16\x03\x01\x00\x05hello").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        wait_closed(&mut s);
    }
    let results = |s: &Scrape| {
        ["full", "resumed", "failed"]
            .map(|r| s.get("vestibule_tls_handshakes_total", &[("result", r)]) as u64)
    };
    let mut last = [0; 3];
    wait_until(Duration::from_secs(5), || {
        last = results(&scrape(v.port));
        last == [full, resumed, 2]
    });
    assert_eq!(last, [full, resumed, 2]);
}

// ---------------------------------------------------------------- formats, access, errors

#[test]
fn openmetrics_on_request_and_allow_deny_on_the_location() {
    let v = Vestibule::start_with_main(TWO_WORKERS, SITE, "", Driver::Default);
    let (status, content_type, s) = scrape_with(
        v.port,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
    );
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(s.get("vestibule_config_generation", &[]), 1.0);
    assert!(s
        .samples
        .contains_key(&key("vestibule_worker_restarts_total", &[])));
    // The same location without the header: text format.
    let s = scrape(v.port);
    assert_eq!(
        s.get("vestibule_config_reloads_total", &[("result", "ok")]),
        0.0
    );
    // `deny 127.0.0.1` on the other location: 403, nothing given away.
    let (status, _, _) = scrape_with(v.port, "/closed", None);
    assert_eq!(status, 403);
    // A POST is not a scrape.
    let r = v.request(b"POST /metrics HTTP/1.1\r\nHost: metrics.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 405);
    // The page is never cached.
    let r = v.get("/metrics", "metrics.test");
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[test]
fn misplaced_or_repeated_directive_is_an_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let program = env!("CARGO_BIN_EXE_vestibule");
    let conf = dir.path().join("t.conf").display().to_string();
    // t.conf: pid, error_log, events, "http {", then the text from line 5.
    for (text, want) in [
        (
            "vestibule_metrics;",
            format!("\"vestibule_metrics\" directive is not allowed here in {conf}:5"),
        ),
        (
            "server {\nvestibule_metrics;\n}",
            format!("\"vestibule_metrics\" directive is not allowed here in {conf}:6"),
        ),
        (
            "server {\nlocation /m {\nvestibule_metrics;\nvestibule_metrics;\n}\n}",
            format!("\"vestibule_metrics\" directive is duplicate in {conf}:8"),
        ),
        (
            "server {\nlocation /m {\nvestibule_metrics on;\n}\n}",
            format!("invalid number of arguments in \"vestibule_metrics\" directive in {conf}:7"),
        ),
    ] {
        let out = test_config(program, dir.path(), text);
        assert!(out.contains(&want), "{text:?}: want {want:?} in\n{out}");
    }
    let ok = test_config(
        program,
        dir.path(),
        "server {\nlocation = /metrics {\nvestibule_metrics;\n}\n}",
    );
    assert!(ok.contains("test is successful"), "{ok}");
}
