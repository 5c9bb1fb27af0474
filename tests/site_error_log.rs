//! `error_log` in http, server and location blocks: a location's request errors
//! (`open()` failures, upstream errors) go to the nearest level's log, filtered by its
//! level, and not to the main log; USR1 reopens them. The same configuration is run by
//! nginx beside it, which must write the same lines to the same files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::nginx::Nginx;
use common::{free_port, read_lossy, signal, wait_until, Response, Vestibule};

fn site(dead_port: u16) -> String {
    format!(
        r#"
server {{
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    error_log @DIR@/site.log;
    location /own/ {{ error_log @DIR@/own.log warn; }}
    location /quiet/ {{ error_log @DIR@/quiet.log crit; }}
    location /app/ {{ proxy_pass http://127.0.0.1:{dead_port}; }}
}}
"#
    )
}

fn get(request: impl Fn(&[u8]) -> Response, path: &str) -> u16 {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n");
    request(raw.as_bytes()).status
}

/// Waits for `needle` in `dir/name`.
fn logged(dir: &Path, name: &str, needle: &str) -> bool {
    wait_until(Duration::from_secs(5), || {
        read_lossy(&dir.join(name)).contains(needle)
    })
}

/// The requests, and where each line must land, for either server.
fn check(dir: &Path, request: impl Fn(&[u8]) -> Response + Copy, main_log: &str) {
    std::fs::create_dir_all(dir.join("www")).unwrap();
    assert_eq!(get(request, "/missing-site.html"), 404);
    assert_eq!(get(request, "/own/missing-own.html"), 404);
    assert_eq!(get(request, "/quiet/missing-quiet.html"), 404);
    assert_eq!(get(request, "/app/x"), 502);
    assert!(logged(
        dir,
        "site.log",
        "missing-site.html\" failed (2: No such file or directory)"
    ));
    assert!(logged(
        dir,
        "own.log",
        "missing-own.html\" failed (2: No such file or directory)"
    ));
    assert!(logged(
        dir,
        "site.log",
        "connect() failed (111: Connection refused)"
    ));
    // Written nowhere else: not to the server's log from the locations with their own,
    // not at error level to a crit log, and not to the main log.
    let site = read_lossy(&dir.join("site.log"));
    assert!(
        !site.contains("missing-own") && !site.contains("missing-quiet"),
        "{site}"
    );
    assert!(!read_lossy(&dir.join("quiet.log")).contains("missing-quiet"));
    let main = read_lossy(&dir.join(main_log));
    assert!(!main.contains("missing-"), "{main}");
}

#[test]
fn request_errors_go_to_the_nearest_error_log() {
    let dead = free_port();
    let v = Vestibule::start(&site(dead));
    check(v.dir.path(), |raw| v.request(raw), "error.log");
    if let Some(n) = Nginx::start(&site(dead), |_| {}) {
        check(n.dir.path(), |raw| n.request(raw), "error.log");
    }
}

#[test]
fn usr1_reopens_a_site_log() {
    let v = Vestibule::start(&site(free_port()));
    let dir = v.dir.path().to_path_buf();
    std::fs::create_dir_all(dir.join("www")).unwrap();
    assert_eq!(get(|raw| v.request(raw), "/before.html"), 404);
    assert!(logged(&dir, "site.log", "before.html"));
    std::fs::rename(dir.join("site.log"), dir.join("site.log.1")).unwrap();
    signal(v.pid(), libc::SIGUSR1);
    // The master's line, then the worker's, which reopens its files.
    assert!(wait_until(Duration::from_secs(5), || {
        read_lossy(&dir.join("error.log"))
            .matches("reopening logs")
            .count()
            >= 2
    }));
    assert_eq!(get(|raw| v.request(raw), "/after.html"), 404);
    assert!(
        logged(&dir, "site.log", "after.html"),
        "site.log: {}\nsite.log.1: {}\nerror.log: {}",
        read_lossy(&dir.join("site.log")),
        read_lossy(&dir.join("site.log.1")),
        read_lossy(&dir.join("error.log"))
    );
    assert!(!read_lossy(&dir.join("site.log.1")).contains("after.html"));
}
