//! `limit_req` through the real binary, beside nginx 1.22 where it is installed: a
//! burst on fresh connections spread over two workers admits as many requests as
//! nginx's one process does (the buckets are in a zone both workers share), under
//! both io drivers; a request within `burst` but beyond `delay` waits its turn;
//! the error-log lines are nginx's, word for word (fail2ban's `nginx-limit-req`
//! filter reads them); `limit_req_status`, `limit_req_log_level` and
//! `limit_req_dry_run`; an empty key is not limited; a reload with the same zone
//! keeps the buckets, a resized zone starts afresh; and `-t` refuses what nginx's
//! `-t` refuses, with its message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::nginx::{Nginx, NGINX};
use common::{wait_until, Driver, Response, Vestibule};

const TWO_WORKERS: &str = "worker_processes 2; events { worker_connections 256; }";

/// A zone of 10 r/s and a location that allows a burst of 5 without delay, serving
/// a file from the test's directory.
const BURST: &str = "
limit_req_zone $binary_remote_addr zone=one:1m rate=10r/s;
server {
    listen 127.0.0.1:@PORT@;
    server_name localhost;
    root @DIR@;
    location / { limit_req zone=one burst=5 nodelay; }
    location /delayed/ { alias @DIR@/; limit_req zone=two burst=3; }
    location /quiet/ { alias @DIR@/; limit_req zone=three; limit_req_status 429;
        limit_req_log_level warn; }
    location /dry/ { alias @DIR@/; limit_req zone=four; limit_req_dry_run on; }
    location /nokey/ { alias @DIR@/; limit_req zone=empty; }
    location /first/ { alias @DIR@/; limit_req zone=m1 burst=2 nodelay;
        limit_req zone=m2 burst=4 nodelay; }
    location /last/ { alias @DIR@/; limit_req zone=m3 burst=4 nodelay;
        limit_req zone=m4 burst=2 nodelay; }
    location /status/ { alias @DIR@/; limit_req zone=five burst=1 nodelay;
        add_header X-Req $limit_req_status always; }
    location /drystatus/ { alias @DIR@/; limit_req zone=six; limit_req_dry_run on;
        add_header X-Req $limit_req_status always; }
}
limit_req_zone $binary_remote_addr zone=five:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=m1:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=m2:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=m3:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=m4:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=six:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=two:1m rate=10r/s;
limit_req_zone $binary_remote_addr zone=three:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=four:1m rate=1r/m;
limit_req_zone $arg_nokey zone=empty:1m rate=1r/m;
";

fn file(dir: &Path) {
    std::fs::write(dir.join("f.txt"), "file\n").unwrap();
}

fn get(port: u16, path: &str) -> Response {
    let mut c = common::Client::connect(port);
    c.send(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    c.read_response(false)
}

/// 100 requests, each on a new connection, `pause` apart: the 200s, the 503s, and
/// how long it took.
fn burst(port: u16, path: &str, pause: Duration) -> (usize, usize, Duration) {
    let start = Instant::now();
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..100 {
        std::thread::sleep(pause);
        match get(port, path).status {
            200 => ok += 1,
            503 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    (ok, refused, start.elapsed())
}

/// What the leaky bucket admits in `elapsed`: the first request, the burst of 5,
/// and one more each 100 ms.
fn admissible(elapsed: Duration) -> std::ops::RangeInclusive<usize> {
    6..=6 + (elapsed.as_millis() / 100) as usize + 1
}

fn start(driver: Driver) -> Vestibule {
    let v = Vestibule::start_with_main(TWO_WORKERS, BURST, "", driver);
    file(v.dir.path());
    v
}

/// The pids of the processes that logged `needle`.
fn pids_logging(log: &str, needle: &str) -> BTreeSet<String> {
    log.lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| l.split("] ").nth(1)?.split('#').next().map(str::to_owned))
        .collect()
}

/// All at once (the first and the burst of 5 pass), then paced at one request each
/// 10 ms for about a second (the bucket lets one more through each 100 ms).
#[test]
fn a_burst_over_two_workers_admits_what_nginx_admits() {
    for pause in [Duration::ZERO, Duration::from_millis(10)] {
        burst_against_nginx(pause);
    }
}

fn burst_against_nginx(pause: Duration) {
    let reference = Nginx::start(BURST, file);
    let nginx = reference.as_ref().map(|n| burst(n.port, "/f.txt", pause));
    for driver in [Driver::Default, Driver::Epoll] {
        let v = start(driver);
        let (ok, refused, took) = burst(v.port, "/f.txt", pause);
        assert_eq!(ok + refused, 100);
        assert!(
            admissible(took).contains(&ok),
            "{ok} admitted in {took:?} ({driver:?})"
        );
        if let Some((n_ok, _, n_took)) = nginx {
            // Timing jitter only: one request, plus one per 100 ms the two bursts'
            // durations differ by.
            let apart = took.max(n_took) - took.min(n_took);
            let slack = 1 + (apart.as_millis() / 100) as usize;
            assert!(
                ok.abs_diff(n_ok) <= slack,
                "vestibule admitted {ok} in {took:?}, nginx {n_ok} in {n_took:?} ({driver:?})"
            );
            eprintln!("admitted: vestibule {ok} in {took:?}, nginx {n_ok} in {n_took:?}");
        }
        let log = v.wait_for_error_line(&["limiting requests, excess:"]);
        let pids = pids_logging(&v.error_log(), "limiting requests");
        assert_eq!(
            pids.len(),
            2,
            "both workers refused some of the burst, from one shared bucket: {pids:?}\n{log}"
        );
    }
}

/// Drops the time, pid and connection number: `[error] limiting requests, ...`.
fn normalized(line: &str, excess: bool) -> String {
    let level = line.split(' ').nth(2).unwrap_or("");
    let message = line.split_once(": ").map_or("", |(_, m)| m);
    let message = message.split_once(' ').map_or("", |(_, m)| m);
    let mut out = format!("{level} {message}");
    if !excess {
        if let Some(at) = out.find("excess: ") {
            let end = out[at + 8..]
                .find([' ', ','])
                .map_or(out.len(), |e| at + 8 + e);
            out.replace_range(at + 8..end, "E");
        }
    }
    out
}

fn line_with(log: &str, needle: &str) -> String {
    log.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{log}"))
        .to_owned()
}

/// `n` requests for `/delayed/f.txt` sent at once on their own connections.
fn at_once(port: u16, n: usize) -> Vec<u16> {
    let mut clients: Vec<common::Client> = (0..n).map(|_| common::Client::connect(port)).collect();
    for c in &mut clients {
        c.send(b"GET /delayed/f.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    }
    clients
        .iter_mut()
        .map(|c| c.read_response(false).status)
        .collect()
}

#[test]
fn refused_and_delayed_requests_log_nginx_lines_and_delayed_ones_wait() {
    let v = start(Driver::Default);
    let reference = Nginx::start(BURST, file);
    // burst=3 without nodelay: each request after the first waits for the bucket to
    // drain to the previous level, 100 ms at 10 r/s.
    let mut c = v.client();
    let started = Instant::now();
    for _ in 0..4 {
        c.send(b"GET /delayed/f.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(c.read_response(false).status, 200);
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(10),
        "four requests at 10 r/s took {took:?}"
    );
    // Beyond the burst (eight at once): 503.
    let statuses = at_once(v.port, 8);
    assert!(statuses.contains(&503), "{statuses:?}");
    let delayed = line_with(
        &v.wait_for_error_line(&["delaying request, excess: "]),
        "delaying request",
    );
    let refused = line_with(&v.error_log(), "limiting requests, excess: ");
    let ours = [normalized(&delayed, false), normalized(&refused, false)];
    assert_eq!(
        ours[0],
        "[warn] delaying request, excess: E, by zone \"two\", client: 127.0.0.1, server: localhost, request: \"GET /delayed/f.txt HTTP/1.1\", host: \"localhost\""
    );
    assert_eq!(
        ours[1],
        "[error] limiting requests, excess: E by zone \"two\", client: 127.0.0.1, server: localhost, request: \"GET /delayed/f.txt HTTP/1.1\", host: \"localhost\""
    );
    // fail2ban's nginx-limit-req: `limiting requests, excess: [\d\.]+ by zone "[^"]+", client: <HOST>`.
    let excess = refused.split("excess: ").nth(1).unwrap();
    let number = excess.split(' ').next().unwrap();
    let (whole, frac) = number.split_once('.').unwrap();
    assert!(
        whole.parse::<u32>().unwrap() >= 3 && frac.len() == 3,
        "{refused}"
    );
    if let Some(n) = reference {
        let mut c = common::Client::connect(n.port);
        for _ in 0..4 {
            c.send(b"GET /delayed/f.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
            assert_eq!(c.read_response(false).status, 200);
        }
        at_once(n.port, 8);
        assert!(wait_until(Duration::from_secs(5), || n
            .error_log()
            .contains("limiting requests")));
        let log = n.error_log();
        let theirs = [
            normalized(&line_with(&log, "delaying request"), false),
            normalized(&line_with(&log, "limiting requests"), false),
        ];
        assert_eq!(ours, theirs, "the lines nginx writes");
    }
}

#[test]
fn status_log_level_dry_run_and_an_empty_key() {
    let v = start(Driver::Default);
    let reference = Nginx::start(BURST, file);
    let mut seen = Vec::new();
    for port in std::iter::once(v.port).chain(reference.as_ref().map(|n| n.port)) {
        let quiet: Vec<u16> = (0..3).map(|_| get(port, "/quiet/f.txt").status).collect();
        let dry: Vec<u16> = (0..3).map(|_| get(port, "/dry/f.txt").status).collect();
        let nokey: Vec<u16> = (0..3).map(|_| get(port, "/nokey/f.txt").status).collect();
        let keyed: Vec<u16> = (0..3)
            .map(|_| get(port, "/nokey/f.txt?nokey=a").status)
            .collect();
        seen.push((quiet, dry, nokey, keyed));
    }
    assert_eq!(
        seen[0],
        (
            vec![200, 429, 429],
            vec![200, 200, 200],
            vec![200, 200, 200],
            vec![200, 503, 503]
        )
    );
    if let Some(nginx) = seen.get(1) {
        assert_eq!(&seen[0], nginx, "as nginx");
    }
    v.wait_for_error_line(&["dry run"]);
    let log = v.error_log();
    let warn = line_with(&log, "by zone \"three\"");
    assert!(warn.contains("[warn] "), "limit_req_log_level warn: {warn}");
    let dry = normalized(&line_with(&log, "by zone \"four\""), false);
    assert!(
        dry.starts_with("[error] limiting requests, dry run, excess: E by zone \"four\""),
        "{dry}"
    );
    if let Some(n) = &reference {
        let theirs = normalized(&line_with(&n.error_log(), "by zone \"four\""), false);
        assert_eq!(dry, theirs);
    }
}

/// Two `limit_req` lines: the tighter one refuses, whichever comes first, and a
/// refused request is not counted by the other (nginx's accounting).
#[test]
fn several_limits_count_as_nginx_counts() {
    let v = start(Driver::Default);
    let reference = Nginx::start(BURST, file);
    let mut seen = Vec::new();
    for port in std::iter::once(v.port).chain(reference.as_ref().map(|n| n.port)) {
        let run = |path: &str| -> Vec<u16> { (0..8).map(|_| get(port, path).status).collect() };
        seen.push((run("/first/f.txt"), run("/last/f.txt")));
    }
    assert_eq!(
        seen[0],
        (
            vec![200, 200, 200, 503, 503, 503, 503, 503],
            vec![200, 200, 200, 503, 503, 503, 503, 503]
        )
    );
    if let Some(nginx) = seen.get(1) {
        assert_eq!(&seen[0], nginx, "as nginx");
    }
}

/// `$limit_req_status`: PASSED, REJECTED, REJECTED_DRY_RUN, as nginx sets it.
#[test]
fn the_status_variable() {
    let v = start(Driver::Default);
    let reference = Nginx::start(BURST, file);
    let mut seen = Vec::new();
    for port in std::iter::once(v.port).chain(reference.as_ref().map(|n| n.port)) {
        let header = |path: &str| {
            let r = get(port, path);
            format!("{} {}", r.status, r.header("x-req").unwrap_or("-"))
        };
        let statuses: Vec<String> = ["/status/f.txt"; 3]
            .iter()
            .chain(["/drystatus/f.txt"; 2].iter())
            .map(|p| header(p))
            .collect();
        seen.push(statuses);
    }
    assert_eq!(
        seen[0],
        [
            "200 PASSED",
            "200 PASSED",
            "503 REJECTED",
            "200 PASSED",
            "200 REJECTED_DRY_RUN"
        ]
    );
    if let Some(nginx) = seen.get(1) {
        assert_eq!(&seen[0], nginx, "as nginx");
    }
}

/// 1 r/m with no burst: the second request is refused. An in-place reload (same
/// zone name and size) keeps the bucket; a reload that resizes the zone starts a
/// fresh one.
#[test]
fn a_reload_keeps_the_zone_and_a_resized_zone_starts_afresh() {
    let v = Vestibule::start_with_main(
        TWO_WORKERS,
        "limit_req_zone $binary_remote_addr zone=one:64k rate=1r/m;
         server { listen 127.0.0.1:@PORT@; root @DIR@; add_header X-A a;
           location / { limit_req zone=one; } }",
        "",
        Driver::Default,
    );
    file(v.dir.path());
    assert_eq!(get(v.port, "/f.txt").status, 200);
    assert_eq!(get(v.port, "/f.txt").status, 503);
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("X-A a", "X-A b")).unwrap();
    signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reloaded in place by 2 of 2"]);
    let after: Vec<u16> = (0..4).map(|_| get(v.port, "/f.txt").status).collect();
    assert_eq!(after, [503; 4], "the bucket was kept");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("zone=one:64k", "zone=one:128k")).unwrap();
    signal(v.pid(), libc::SIGHUP);
    let fresh = wait_until(Duration::from_secs(10), || {
        let r = get(v.port, "/f.txt");
        r.status == 200
    });
    assert!(fresh, "a resized zone starts afresh");
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our child's.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// `-t` on a configuration: the first `[emerg]` message, without the program's name
/// and the `in FILE:LINE` nginx and vestibule both add (nginx does not add it to
/// "zero size shared memory zone", which it finds after reading the file).
fn test_message(program: &str, http: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("t.conf");
    std::fs::write(
        &conf,
        format!(
            "events {{}} http {{ {http} server {{ listen 127.0.0.1:1; location / {{ }} }} }}\n"
        ),
    )
    .unwrap();
    let out = Command::new(program)
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("err.log"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{program} accepted {http}");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("[emerg]"))
        .unwrap_or_else(|| panic!("{text}"));
    let message = line.split("[emerg] ").nth(1).unwrap();
    message.split(" in /").next().unwrap().to_owned()
}

#[test]
fn config_test_refuses_what_nginx_refuses() {
    let cases = [
        ("limit_req zone=nowhere;", "zero size shared memory zone \"nowhere\""),
        ("limit_conn nowhere 1;", "zero size shared memory zone \"nowhere\""),
        (
            "limit_req_zone $binary_remote_addr zone=one:10m rate=1r/x;",
            "invalid rate \"rate=1r/x\"",
        ),
        (
            "limit_req_zone $binary_remote_addr zone=one:10m rate=0r/s;",
            "invalid rate \"rate=0r/s\"",
        ),
        (
            "limit_req_zone $binary_remote_addr zone=one rate=1r/s;",
            "invalid zone size \"zone=one\"",
        ),
        (
            "limit_req_zone $binary_remote_addr zone=one:1k rate=1r/s;",
            "zone \"zone=one:1k\" is too small",
        ),
        (
            "limit_req_zone $binary_remote_addr zone=one:10m rate=1r/s; limit_req zone=one burst=x;",
            "invalid burst value \"burst=x\"",
        ),
        (
            "limit_req_zone $binary_remote_addr zone=one:10m rate=1r/s; limit_req_zone $remote_addr zone=one:10m rate=2r/s;",
            "limit_req_zone \"one\" is already bound to key \"$binary_remote_addr\"",
        ),
        (
            "limit_req_zone $binary_remote_addr zone=one:10m rate=1r/s; limit_req zone=one; limit_req zone=one;",
            "\"limit_req\" directive is duplicate",
        ),
        (
            "limit_conn_zone $binary_remote_addr zone=two:10m; limit_conn two 0;",
            "invalid number of connections \"0\"",
        ),
        ("limit_req_status 600;", "value must be between 400 and 599"),
        ("limit_req_log_level debug;", "invalid value \"debug\""),
        ("limit_req foo;", "invalid parameter \"foo\""),
    ];
    let vestibule = env!("CARGO_BIN_EXE_vestibule");
    for (http, message) in cases {
        assert_eq!(test_message(vestibule, http), message, "vestibule: {http}");
        if Path::new(NGINX).exists() {
            assert_eq!(test_message(NGINX, http), message, "nginx: {http}");
        }
    }
}
