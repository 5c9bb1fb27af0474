//! The corpus: 35 nginx configurations of the kind Flask, Django and FastAPI
//! deployments carry (tests/corpus/*.conf, each written for this test after the shape
//! of a public source its first comment names), checked with `vestibule -t`. Each
//! either loads or fails with one clear line naming what vestibule lacks, as
//! [`EXPECTED`] says; and, where nginx is installed, each passes `nginx -t`, so the
//! corpus stays what nginx accepts. A site file is included from a main file shaped
//! like Debian's stock `nginx.conf`; a file with its own `events` block is the main
//! file. `@DIR@` is the test's directory (certificates, sockets, logs, roots).
//!
//! When a directive becomes implemented, its rows here flip to `Loads` (the test
//! fails until they do, so the count below stays true).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::nginx::{Nginx, NGINX};
use common::tls::Ca;

/// What `vestibule -t` does with a corpus file.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Loads,
    /// Fails, every error line saying this (the issue that implements it in brackets
    /// in the reason column of docs/configuration.md). No file is refused today;
    /// kept for the next that nginx accepts and vestibule does not.
    #[allow(dead_code)]
    Refused(&'static str),
}

use Expect::*;

const EXPECTED: &[(&str, Expect)] = &[
    ("01-gunicorn-docs", Loads),
    ("02-flask-guide", Loads),
    ("03-flask-guide-certbot", Loads),
    ("04-django-static-media", Loads),
    ("05-uvicorn-docs", Loads),
    ("06-channels-daphne", Loads),
    ("07-flask-socketio", Loads),
    ("08-mozilla-intermediate", Loads),
    ("09-mozilla-modern", Loads),
    ("10-h5bp-caching", Loads),
    ("11-h5bp-security", Loads),
    ("12-digitalocean-django", Loads),
    ("13-fastapi-compose", Loads),
    ("14-debian-gzip-uncommented", Loads),
    ("15-rate-limit-login", Loads),
    ("16-admin-allowlist", Loads),
    ("17-staging-basic-auth", Loads),
    ("18-microcache", Loads),
    ("19-www-redirect", Loads),
    ("20-https-redirect-if", Loads),
    ("21-maintenance-mode", Loads),
    ("22-legacy-rewrites", Loads),
    ("23-spa-and-api", Loads),
    ("24-error-log-per-site", Loads),
    ("25-realip-cloudflare", Loads),
    ("26-upstream-weights", Loads),
    ("27-listen-options", Loads),
    ("28-timeouts-buffers", Loads),
    ("29-downloads-autoindex", Loads),
    ("30-django-gzip-static", Loads),
    ("31-websocket-map-tls", Loads),
    ("32-json-access-log", Loads),
    ("33-apps-on-subpaths", Loads),
    ("34-security-headers", Loads),
    ("35-large-uploads", Loads),
];

/// The main file around a site file: Debian's stock `nginx.conf`, its paths moved
/// into the test's directory.
const STOCK_MAIN: &str = "user www-data;
worker_processes auto;
pid @DIR@/run/nginx.pid;
error_log @DIR@/log/error.log;
events { worker_connections 768; }
http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include @DIR@/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log @DIR@/log/access.log;
    gzip on;
    include @DIR@/sites/@SITE@.conf;
}
";

/// The files the corpus names, under `dir`.
fn lay_out(dir: &Path) {
    let subdirs = [
        "certs",
        "log",
        "run",
        "sites",
        "cache",
        "srv/site",
        "srv/downloads",
    ];
    common::corpus::lay_out(dir, &Ca::new("Corpus Test CA"), &subdirs);
}

/// Writes the corpus file `name` (and a main file around it when it is a site file);
/// returns the main file.
fn main_file(dir: &Path, name: &str) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(common::repo_dir().join(format!("tests/corpus/{name}.conf")))
            .unwrap()
            .replace("@DIR@", &dir.display().to_string());
    let site = dir.join(format!("sites/{name}.conf"));
    std::fs::write(&site, &text).unwrap();
    if text.lines().any(|l| l.starts_with("events")) {
        return site;
    }
    let main = dir.join(format!("main-{name}.conf"));
    let main_text = STOCK_MAIN
        .replace("@DIR@", &dir.display().to_string())
        .replace("@SITE@", name);
    std::fs::write(&main, main_text).unwrap();
    main
}

/// `[emerg]` lines without their `in FILE:LINE`: one message per failure, however
/// many lines repeat it.
fn error_messages(stderr: &str) -> Vec<String> {
    let mut out: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("[emerg]"))
        .map(|l| l.rsplit_once(" in /").map_or(l, |(m, _)| m).to_string())
        .collect();
    out.dedup();
    out
}

#[test]
fn every_corpus_file_loads_or_says_what_it_lacks() {
    let files: Vec<String> = std::fs::read_dir(common::repo_dir().join("tests/corpus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".conf").map(str::to_string))
        .collect();
    assert_eq!(
        files.len(),
        EXPECTED.len(),
        "a corpus file without an EXPECTED row"
    );
    let dir = tempfile::Builder::new()
        .prefix("vestibule-corpus-")
        .tempdir()
        .unwrap();
    lay_out(dir.path());
    let nginx = Nginx::available();
    let mut loads = 0;
    let mut report = Vec::new();
    let mut wrong = Vec::new();
    for (name, expect) in EXPECTED {
        assert!(
            files.iter().any(|f| f == name),
            "no tests/corpus/{name}.conf"
        );
        let main = main_file(dir.path(), name);
        let out = Command::new(env!("CARGO_BIN_EXE_vestibule"))
            .args(["-t", "-q", "-c"])
            .arg(&main)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let messages = error_messages(&stderr);
        match expect {
            Loads if out.status.success() => loads += 1,
            Loads => wrong.push(format!("{name} does not load:\n{stderr}")),
            Refused(_) if out.status.success() => {
                wrong.push(format!("{name} loads now: make its row Loads"))
            }
            Refused(why) if messages.len() == 1 && messages[0].contains(why) => {
                report.push(format!("{name}: {}", messages[0]))
            }
            Refused(why) => wrong.push(format!(
                "{name}: not one clear line saying {why:?}:\n{stderr}"
            )),
        }
        if nginx {
            let out = Command::new(NGINX)
                .arg("-t")
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&main)
                .output()
                .unwrap();
            if !out.status.success() {
                wrong.push(format!(
                    "nginx refuses tests/corpus/{name}.conf:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    eprintln!(
        "vestibule loads {loads} of {} corpus files; the rest:\n  {}",
        EXPECTED.len(),
        report.join("\n  ")
    );
    if !nginx {
        eprintln!("{NGINX} is not installed: the corpus was not checked against nginx");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
