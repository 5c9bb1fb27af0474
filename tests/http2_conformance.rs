//! The RFC 9113 conformance suite of `httpwg-cli` (an h2spec successor, from crates;
//! `bash tests/run.sh` installs it with `cargo install`) against the real binary
//! over prior-knowledge h2c. Every case must pass except those listed, with the reason,
//! in tests/h2/known_failures.txt (and docs/http2.md): a new failure fails this test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Vestibule;

/// The suite's binary: `$HTTPWG`, cargo's bin directory, or the PATH.
fn httpwg() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HTTPWG") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(bin) = home.map(|h| h.join("bin/httpwg")).filter(|p| p.exists()) {
        return Some(bin);
    }
    let found = Command::new("sh")
        .args(["-c", "command -v httpwg"])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn rfc9113_suite_passes_but_for_the_listed_cases() {
    let Some(suite) = httpwg() else {
        eprintln!(
            "httpwg is not installed (cargo install httpwg-cli): the conformance suite was not run"
        );
        return;
    };
    let known: Vec<(String, String)> =
        std::fs::read_to_string(common::repo_dir().join("tests/h2/known_failures.txt"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (name, why) = l.split_once(" | ").expect("NAME | REASON");
                (name.to_string(), why.to_string())
            })
            .collect();
    let v = Vestibule::start(
        "server { listen 127.0.0.1:@PORT@ http2; location / { return 200 \"conformance\\n\"; } }",
    );
    let out = Command::new(suite)
        .args([
            "-a",
            &format!("127.0.0.1:{}", v.port),
            "--frame-timeout",
            "2000",
        ])
        .output()
        .unwrap();
    let text = strip_ansi(&String::from_utf8_lossy(&out.stdout))
        + &strip_ansi(&String::from_utf8_lossy(&out.stderr));
    let failed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once("Test failed: ").map(|(_, name)| name.trim()))
        .collect();
    let summary = text
        .lines()
        .find(|l| l.contains("Passed "))
        .unwrap_or_else(|| panic!("no summary in:\n{text}"));
    let (passed, total) = summary
        .split("Passed ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.split_once('/'))
        .map(|(p, t)| (p.parse::<usize>().unwrap(), t.parse::<usize>().unwrap()))
        .unwrap();
    eprintln!("httpwg: {passed}/{total} passed; failed: {failed:#?}");
    let unexpected: Vec<&&str> = failed
        .iter()
        .filter(|f| !known.iter().any(|(k, _)| k == *f))
        .collect();
    assert!(
        unexpected.is_empty(),
        "cases failed that are not known: {unexpected:#?}\n{text}"
    );
    assert!(total >= 100, "the suite ran: {summary}");
    // Every case that did not pass is a known one (a failure the suite reports
    // without its "Test failed" line would show here).
    assert!(passed + known.len() >= total, "{summary}\n{text}");
    // The worker survived the whole suite.
    assert_eq!(v.get("/", "x").status, 200);
}
