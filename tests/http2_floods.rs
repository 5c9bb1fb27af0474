//! The known HTTP/2 attacks, each played against the real binary by a scripted client
//! (tests/h2/client.py): each must end with the connection closed with the right code
//! (or the stream reset), the worker's memory bounded, and nothing forwarded to the
//! upstream that should not be. The worker is the same process at the end, and its
//! resident memory has not grown by more than a few MiB over all of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::tls::{Ca, Key};
use common::{Gunicorn, Json, Vestibule};

const PROTOCOL_ERROR: u64 = 1;
const REFUSED_STREAM: u64 = 7;
const CANCEL: u64 = 8;
const ENHANCE_YOUR_CALM: u64 = 11;

fn client(port: u16, args: &[&str]) -> Json {
    let out = Command::new(common::venv_dir().join("bin/python"))
        .arg(common::repo_dir().join("tests/h2/client.py"))
        .arg("--tls")
        .arg(port.to_string())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Json::parse(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

fn closed(r: &Json) -> bool {
    r.get("closed") == &Json::Bool(true)
}

fn goaway_code(r: &Json) -> Option<u64> {
    match r.get("goaway") {
        Json::Null => None,
        g => Some(g.num("code")),
    }
}

fn reset_code(r: &Json, stream: &str) -> Option<u64> {
    match r.get("resets") {
        Json::Obj(m) => m.iter().find(|(k, _)| k == stream).map(|(_, v)| match v {
            Json::Num(n) => *n as u64,
            _ => panic!("{v:?}"),
        }),
        _ => None,
    }
}

fn responses(r: &Json) -> usize {
    match r.get("responses") {
        Json::Obj(m) => m.len(),
        _ => 0,
    }
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn every_known_attack_ends_bounded() {
    let app = Gunicorn::tcp(2);
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let (cert, key) = ca.issue(&["localhost"], Key::Ecdsa).write(dir.path(), "a");
    std::fs::write(dir.path().join("big.bin"), common::pattern(1 << 20)).unwrap();
    let v = Vestibule::start(&format!(
        "log_format up '$request_uri $upstream_addr';
        server {{
            access_log @DIR@/up.log up;
            listen 127.0.0.1:@PORT@ ssl http2;
            ssl_certificate {cert};
            ssl_certificate_key {key};
            http2_max_concurrent_streams 4;
            send_timeout 1s;
            root {root};
            location /app/ {{ proxy_pass {up}/; }}
            location /r {{ return 200 \"ok\\n\"; }}
        }}",
        cert = cert.display(),
        key = key.display(),
        root = dir.path().display(),
        up = app.proxy_pass(),
    ));
    let worker = common::child_pids(v.pid())[0];
    // Warm up (TLS, the codec, the pool), then measure.
    for _ in 0..3 {
        assert_eq!(
            client(v.port, &["get", "/app/"])
                .get("responses")
                .get("1")
                .num("status"),
            200
        );
    }
    let rss_before = rss_kib(worker);

    // Rapid reset (CVE-2023-44487): 2000 streams opened and cancelled in one write.
    let before = gunicorn_requests(&v);
    let r = client(v.port, &["rapid_reset", "/app/slow?s=0", "2000"]);
    assert_eq!(goaway_code(&r), Some(ENHANCE_YOUR_CALM), "{r:?}");
    assert!(closed(&r));
    assert!(
        gunicorn_requests(&v) - before < 64,
        "cancelled streams reached the app"
    );

    // CONTINUATION flood: a header block that never ends.
    let r = client(v.port, &["continuation", "100000"]);
    assert!(closed(&r), "{r:?}");
    assert!(r.num("continuations_sent") <= 2000, "cut off early: {r:?}");
    assert_eq!(responses(&r), 0);

    // HPACK bomb: 64 MB of decoded fields from a 20 KB block.
    let r = client(v.port, &["hpack_bomb"]);
    assert!(closed(&r) || reset_code(&r, "1").is_some(), "{r:?}");
    assert_eq!(responses(&r), 0, "{r:?}");

    // Control-frame floods: cut off with ENHANCE_YOUR_CALM long before the end.
    for mode in [
        "ping_flood",
        "settings_flood",
        "priority_flood",
        "window_update_flood",
    ] {
        let r = client(v.port, &[mode, "400000"]);
        assert!(closed(&r), "{mode}: {r:?}");
        if let Some(code) = goaway_code(&r) {
            assert_eq!(code, ENHANCE_YOUR_CALM, "{mode}: {r:?}");
        }
        assert!(r.num("pings_acked") < 100_000, "{mode}: {r:?}");
    }
    let r = client(v.port, &["empty_data_flood", "/app/echo", "400000"]);
    assert!(closed(&r), "{r:?}");
    assert_eq!(goaway_code(&r), Some(ENHANCE_YOUR_CALM), "{r:?}");
    let floods = v.error_log().matches("http2 flood detected").count();
    assert!(floods >= 5, "{}", v.error_log());

    // A zero window held open: the head, no body, and the stream reset at send_timeout.
    let r = client(v.port, &["zero_window", "/big.bin"]);
    assert_eq!(reset_code(&r, "1"), Some(CANCEL), "{r:?}");
    v.wait_for_error_line(&["client timed out", "flow control window"]);

    // More streams than http2_max_concurrent_streams: the rest refused.
    let r = client(v.port, &["--wait", "8", "raw_many", "/app/slow?s=1", "8"]);
    let refused = ["1", "3", "5", "7", "9", "11", "13", "15"]
        .iter()
        .filter(|s| reset_code(&r, s) == Some(REFUSED_STREAM))
        .count();
    assert_eq!(refused, 4, "{r:?}");
    assert_eq!(responses(&r), 4, "{r:?}");

    // Malformed requests: reset (or the connection ended) with PROTOCOL_ERROR, never
    // forwarded.
    let before = gunicorn_requests(&v);
    for kind in [
        "unknown_pseudo",
        "uppercase",
        "te",
        "connection",
        "upgrade",
        "no_path",
        "pseudo_after_regular",
        "content_length",
    ] {
        let r = client(v.port, &["malformed", kind]);
        let code = reset_code(&r, "1").or_else(|| goaway_code(&r));
        assert_eq!(code, Some(PROTOCOL_ERROR), "{kind}: {r:?}");
        assert_eq!(responses(&r), 0, "{kind}: {r:?}");
    }
    assert_eq!(
        gunicorn_requests(&v),
        before,
        "nothing malformed was forwarded"
    );

    // The same worker, still serving, with its memory bounded.
    assert_eq!(common::child_pids(v.pid()), vec![worker]);
    assert_eq!(
        client(v.port, &["get", "/r"])
            .get("responses")
            .get("1")
            .num("status"),
        200
    );
    let grown = rss_kib(worker).saturating_sub(rss_before);
    assert!(grown < 16 * 1024, "the worker grew by {grown} KiB");
}

/// Requests sent to the upstream so far (access-log lines with an upstream address;
/// the log is flushed every second).
fn gunicorn_requests(v: &Vestibule) -> usize {
    std::thread::sleep(std::time::Duration::from_millis(1100));
    common::read_lossy(&v.path("up.log"))
        .lines()
        .filter(|l| l.contains(" 127.0.0.1:"))
        .count()
}
