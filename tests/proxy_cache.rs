//! The response cache through the real binary, in front of Gunicorn and a Flask view
//! that counts its calls (`/counted/<name>`, tests/apps/app.py): hits, misses and
//! expiry; what the upstream's fields let be stored; `proxy_cache_lock` collapsing
//! concurrent misses across two workers; stale answers on errors and background
//! updates; purge by key and prefix; a restart over a warm cache directory; `max_size`
//! and `inactive`; reloads; the configuration errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::nginx::Nginx;
use common::{wait_until, Driver, Gunicorn, Response, Vestibule};

/// Long enough for a one-second entry to expire: validity is in whole seconds and
/// holds through the second it names (nginx's `valid_sec >= now`), so
/// `proxy_cache_valid 200 1s` keeps an entry one to two seconds.
const PAST_ONE_SECOND: Duration = Duration::from_millis(2050);

const TWO_WORKERS: &str = "worker_processes 2; events { worker_connections 512; }";

/// A cache in the instance's directory and one server whose `/` is cached with
/// `extra` settings; `/purge/` purges.
fn start(g: &Gunicorn, cache_path: &str, extra: &str, driver: Driver) -> Vestibule {
    let http = format!(
        "proxy_cache_path @DIR@/cache levels=1:2 keys_zone=micro:1m {cache_path};
         log_format cache '$request_uri $status $upstream_cache_status';
         map $request_method $purge_method {{ PURGE 1; default 0; }}"
    );
    let servers = format!(
        "server {{
            listen 127.0.0.1:@PORT@;
            access_log @DIR@/cache.log cache;
            location / {{
                proxy_pass {up};
                proxy_set_header Host $host;
                proxy_cache micro;
                proxy_cache_valid 200 1s;
                add_header X-Cache-Status $upstream_cache_status always;
                {extra}
            }}
            location /denied/ {{
                deny 127.0.0.1;
                proxy_pass {up};
                proxy_cache micro;
                proxy_cache_purge $purge_method;
            }}
        }}",
        up = g.proxy_pass()
    );
    Vestibule::start_with_main(TWO_WORKERS, &servers, &http, driver)
}

/// The counted view's path for `name`, with its calls recorded in `dir`.
fn counted(dir: &Path, name: &str, query: &str) -> String {
    let sep = if query.is_empty() { "" } else { "&" };
    format!("/counted/{name}?dir={}{sep}{query}", dir.display())
}

fn calls(dir: &Path, name: &str) -> usize {
    common::read_lossy(&dir.join(format!("calls-{name}")))
        .lines()
        .count()
}

fn status_of(r: &Response) -> &str {
    r.header("X-Cache-Status").unwrap_or("")
}

fn get_with(v: &Vestibule, path: &str, extra: &str) -> Response {
    v.request(
        format!("GET {path} HTTP/1.1\r\nHost: app.test\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
}

#[test]
fn micro_caching_serves_hits_until_the_entry_expires() {
    micro_caching(Driver::Default);
}

#[test]
fn micro_caching_on_epoll() {
    micro_caching(Driver::Epoll);
}

fn micro_caching(driver: Driver) {
    let g = Gunicorn::tcp(2);
    let calls_dir = tempfile::tempdir().unwrap();
    let v = start(&g, "", "", driver);
    let page = counted(calls_dir.path(), "page", "");

    let first = v.get(&page, "app.test");
    assert_eq!(first.status, 200);
    assert_eq!(status_of(&first), "MISS");
    assert_eq!(first.text(), "call 1 of page\n");
    // Many requests, each on its own connection (both workers): one upstream call.
    for _ in 0..10 {
        let r = v.get(&page, "app.test");
        assert_eq!((r.status, status_of(&r)), (200, "HIT"));
        assert_eq!(r.text(), "call 1 of page\n");
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    }
    // The upstream offered no ranges: as nginx, a Range gets the whole response.
    let whole = get_with(&v, &page, "Range: bytes=5-8\r\n");
    assert_eq!((whole.status, status_of(&whole)), (200, "HIT"));
    assert_eq!(whole.text(), "call 1 of page\n");
    // It did here: ranges of the stored body, from the file. The first request is a
    // miss with a Range: the upstream is asked for the whole (stored) and the client
    // gets its range.
    let ranged = counted(calls_dir.path(), "ranged", "ar=bytes");
    let part = get_with(&v, &ranged, "Range: bytes=5-8\r\n");
    assert_eq!((part.status, status_of(&part)), (206, "MISS"));
    assert_eq!(part.text(), "1 of");
    assert_eq!(part.header("Content-Range"), Some("bytes 5-8/17"));
    let part = get_with(&v, &ranged, "Range: bytes=0-3\r\n");
    assert_eq!((part.status, status_of(&part)), (206, "HIT"));
    assert_eq!(part.text(), "call");
    let parts = get_with(&v, &ranged, "Range: bytes=0-3,5-5\r\n");
    assert_eq!((parts.status, status_of(&parts)), (206, "HIT"));
    assert!(parts
        .header("Content-Type")
        .unwrap()
        .starts_with("multipart/byteranges; boundary="));
    let past = get_with(&v, &ranged, "Range: bytes=100-\r\n");
    assert_eq!(past.status, 416);
    assert_eq!(calls(calls_dir.path(), "ranged"), 1);
    // A client revalidating its own copy on a miss: the upstream is asked without the
    // client's validators, so the whole response is stored, and the client gets 304.
    let tagged = counted(calls_dir.path(), "tagged", "etag=t1");
    let r = get_with(&v, &tagged, "If-None-Match: \"t1\"\r\n");
    assert_eq!((r.status, status_of(&r)), (304, "MISS"));
    let r = v.get(&tagged, "app.test");
    assert_eq!(
        (r.status, status_of(&r), r.text().as_str()),
        (200, "HIT", "call 1 of tagged\n")
    );
    let r = get_with(&v, &tagged, "If-None-Match: \"t1\"\r\n");
    assert_eq!((r.status, status_of(&r)), (304, "HIT"));
    assert_eq!(r.header("Content-Type"), None, "a 304 has no body's fields");
    let r = get_with(&v, &tagged, "If-Match: \"other\"\r\n");
    assert_eq!((r.status, status_of(&r)), (412, "HIT"));
    let head = v.request(
        format!("HEAD {page} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!((head.status, status_of(&head)), (200, "HIT"));
    assert_eq!(head.header("Content-Length"), Some("15"));
    assert_eq!(calls(calls_dir.path(), "page"), 1);

    // Another site on the same upstream has its own entry (the key has $host).
    let other = v.get(&page, "other.test");
    assert_eq!(status_of(&other), "MISS");
    assert_eq!(other.text(), "call 2 of page\n");

    // proxy_cache_valid 200 1s: then the entry is fetched again.
    std::thread::sleep(PAST_ONE_SECOND);
    let again = v.get(&page, "app.test");
    assert_eq!(status_of(&again), "EXPIRED");
    assert_eq!(again.text(), "call 3 of page\n");
    assert_eq!(status_of(&v.get(&page, "app.test")), "HIT");

    // The access log has $upstream_cache_status.
    v.wait_for_log_line("cache.log", "EXPIRED");
    let log = common::read_lossy(&v.path("cache.log"));
    assert!(log.contains(" 200 MISS\n"), "{log}");
    assert!(log.contains(" 200 HIT\n"), "{log}");

    // The file is in nginx's levels layout: one hex character, then two.
    let files: Vec<_> = walk(&v.path("cache"));
    assert_eq!(
        files.len(),
        4,
        "page, other.test's page, ranged, tagged: {files:?}"
    );
    for f in &files {
        let rel = f.strip_prefix(v.path("cache")).unwrap();
        let parts: Vec<_> = rel.iter().map(|p| p.to_string_lossy().len()).collect();
        assert_eq!(parts, vec![1, 2, 32], "{}", rel.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if !e.file_name().to_string_lossy().starts_with('.') {
            out.push(p);
        }
    }
    out
}

/// `n` requests for `path` in a row: what the cache said each time, and the calls.
fn statuses(v: &Vestibule, path: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| status_of(&v.get(path, "app.test")).to_string())
        .collect()
}

#[test]
fn the_upstreams_fields_decide_what_is_stored() {
    let g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let v = start(
        &g,
        "",
        "proxy_cache_bypass $arg_nocache;
         proxy_no_cache $arg_nostore;
         location /counted/twice {
             proxy_pass PASS;
             proxy_cache micro;
             proxy_cache_valid 200 60s;
             proxy_cache_min_uses 2;
             add_header X-Cache-Status $upstream_cache_status always;
         }
         location /counted/expiring {
             proxy_pass PASS;
             proxy_cache micro;
             proxy_cache_valid 200 1s;
             expires 1h;
             add_header X-Cache-Status $upstream_cache_status always;
         }
         location /counted/ignoring {
             proxy_pass PASS;
             proxy_cache micro;
             proxy_cache_valid 200 60s;
             proxy_ignore_headers Set-Cookie;
             add_header X-Cache-Status $upstream_cache_status always;
         }"
        .replace("PASS", &g.proxy_pass())
        .as_str(),
        Driver::Default,
    );
    let never = |name: &str, query: &str| {
        let path = counted(dir, name, query);
        assert_eq!(statuses(&v, &path, 3), ["MISS", "MISS", "MISS"], "{query}");
        assert_eq!(calls(dir, name), 3, "{query}");
    };
    never("private", "cc=private");
    never("nostore", "cc=no-store");
    never("nocache", "cc=no-cache");
    never("maxage0", "cc=max-age%3D0");
    never("cookie", "cookie=1");
    never("xae0", "xae=0");
    never("past", "expires=-60");
    never("varystar", "vary=*");
    never("status", "status=500");
    never("nostore_arg", "nostore=1");

    // proxy_cache_min_uses 2: stored from the second request on.
    let twice = counted(dir, "twice", "");
    assert_eq!(statuses(&v, &twice, 3), ["MISS", "MISS", "HIT"]);
    assert_eq!(calls(dir, "twice"), 2);

    // `expires` shapes what clients are told, not how long the cache keeps it.
    let expires = counted(dir, "expiring", "");
    let r = v.get(&expires, "app.test");
    assert_eq!(r.header("Cache-Control"), Some("max-age=3600"));
    assert_eq!(statuses(&v, &expires, 1), ["HIT"]);
    std::thread::sleep(PAST_ONE_SECOND);
    let r = v.get(&expires, "app.test");
    assert_eq!(status_of(&r), "EXPIRED");
    assert_eq!(r.header("Cache-Control"), Some("max-age=3600"));

    // proxy_ignore_headers Set-Cookie: stored anyway.
    let ignoring = counted(dir, "ignoring", "cookie=1");
    assert_eq!(statuses(&v, &ignoring, 2), ["MISS", "HIT"]);

    // Cache-Control max-age outlives proxy_cache_valid's 1 s; X-Accel-Expires too.
    for (name, query) in [
        ("maxage", "cc=max-age%3D60"),
        ("xae", "xae=60"),
        ("expires", "expires=60"),
    ] {
        let path = counted(dir, name, query);
        assert_eq!(statuses(&v, &path, 2), ["MISS", "HIT"]);
        std::thread::sleep(PAST_ONE_SECOND);
        assert_eq!(statuses(&v, &path, 1), ["HIT"], "{query}");
        assert_eq!(calls(dir, name), 1);
    }

    // A request with credentials is never answered from the cache nor stored.
    let shared = counted(dir, "shared", "");
    assert_eq!(statuses(&v, &shared, 2), ["MISS", "HIT"]);
    let authorized = get_with(&v, &shared, "Authorization: Basic dTpw\r\n");
    assert_eq!(status_of(&authorized), "BYPASS");
    assert_eq!(authorized.text(), "call 2 of shared\n");
    assert_eq!(v.get(&shared, "app.test").text(), "call 1 of shared\n");

    // proxy_cache_bypass: answered by the upstream, and the answer is stored.
    let bypassed = v.get(&format!("{shared}&nocache=1"), "app.test");
    assert_eq!(status_of(&bypassed), "BYPASS");

    // Vary: each variant is fetched for itself, never served to another, and kept
    // beside the others (the first under the key, the rest under secondary keys).
    let varied = counted(dir, "varied", "vary=Accept-Language&cc=max-age%3D60");
    let fr = |v: &Vestibule| get_with(v, &varied, "Accept-Language: fr\r\n");
    let de = |v: &Vestibule| get_with(v, &varied, "Accept-Language: de\r\n");
    assert_eq!(status_of(&fr(&v)), "MISS");
    assert_eq!(status_of(&fr(&v)), "HIT");
    let german = de(&v);
    assert_eq!(status_of(&german), "MISS");
    assert_eq!(german.text(), "call 2 of varied\n");
    for _ in 0..2 {
        let (f, g) = (fr(&v), de(&v));
        assert_eq!(
            (status_of(&f), f.text().as_str()),
            ("HIT", "call 1 of varied\n")
        );
        assert_eq!(
            (status_of(&g), g.text().as_str()),
            ("HIT", "call 2 of varied\n")
        );
    }
    assert_eq!(calls(dir, "varied"), 2);
}

/// A POST the cache may store (`proxy_cache_methods POST`) is asked upstream
/// without the client's conditions; when its answer is not stored (`private`), the
/// client gets that answer, never a 412 for an action the upstream carried out.
#[test]
fn a_post_whose_answer_is_not_stored_gets_the_upstreams_answer() {
    let g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let v = start(
        &g,
        "",
        "proxy_cache_methods GET HEAD POST;",
        Driver::Default,
    );
    let path = counted(d.path(), "posted", "etag=p2&cc=private");
    let r = v.request(
        format!(
            "POST {path} HTTP/1.1\r\nHost: app.test\r\nIf-Match: \"p1\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!((r.status, status_of(&r)), (200, "MISS"), "{r}");
    assert_eq!(calls(d.path(), "posted"), 1);
}

/// A refresh of a key's main entry keeps the variants stored beside it: they stay
/// hits until they expire themselves (a purge or an eviction of the main entry
/// takes them, see the purge test).
#[test]
fn a_refresh_of_the_main_entry_keeps_its_variants() {
    let g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let v = start(&g, "", "", Driver::Default);
    let path = counted(d.path(), "kept", "vary=Accept-Language&cc=max-age%3D3");
    let lang = |l: &str| {
        let r = get_with(&v, &path, &format!("Accept-Language: {l}\r\n"));
        format!("{} {}", status_of(&r), r.text().trim())
    };
    let t0 = std::time::Instant::now();
    let sleep_until = |t: Duration| std::thread::sleep(t.saturating_sub(t0.elapsed()));
    assert_eq!(lang("fr"), "MISS call 1 of kept");
    sleep_until(Duration::from_millis(1500));
    assert_eq!(lang("de"), "MISS call 2 of kept");
    // fr (the main entry) has expired, de not yet: whole seconds, as nginx counts.
    sleep_until(Duration::from_millis(4100));
    assert_eq!(lang("fr"), "EXPIRED call 3 of kept");
    assert_eq!(lang("de"), "HIT call 2 of kept");
}

/// A site with `proxy_cache_lock on`, shared by the threads of a test.
fn locked(g: &Gunicorn) -> Arc<Vestibule> {
    Arc::new(start(
        g,
        "",
        "proxy_cache_lock on; proxy_cache_valid 200 60s;",
        Driver::Default,
    ))
}

/// With the lock on, concurrent misses of two variants of one key (`Vary`): each
/// variant is fetched once, and each client gets its own variant's answer.
#[test]
fn the_lock_collapses_each_variant_on_its_own() {
    let g = Gunicorn::tcp(4);
    let d = tempfile::tempdir().unwrap();
    let v = locked(&g);
    let path = counted(d.path(), "langs", "s=0.5&vary=Accept-Language");
    let barrier = Arc::new(Barrier::new(20));
    let answers: Vec<(String, String)> = (0..20)
        .map(|i| {
            let (v, b, path) = (Arc::clone(&v), Arc::clone(&barrier), path.clone());
            let lang = if i % 2 == 0 { "fr" } else { "de" };
            std::thread::spawn(move || {
                // The French requests first, so the German ones wait on the lock.
                b.wait();
                if lang == "de" {
                    std::thread::sleep(Duration::from_millis(100));
                }
                let r = get_with(&v, &path, &format!("Accept-Language: {lang}\r\n"));
                assert_eq!(r.status, 200);
                (lang.to_string(), r.text())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(calls(d.path(), "langs"), 2, "one upstream call per variant");
    let body = |lang: &str| {
        let mut bodies: Vec<&String> = answers
            .iter()
            .filter(|a| a.0 == lang)
            .map(|a| &a.1)
            .collect();
        bodies.dedup();
        assert_eq!(bodies.len(), 1, "{lang}: {answers:?}");
        bodies[0].clone()
    };
    assert_ne!(body("fr"), body("de"), "{answers:?}");
    // Both stay: a hit each.
    for lang in ["fr", "de"] {
        let r = get_with(&v, &path, &format!("Accept-Language: {lang}\r\n"));
        assert_eq!((status_of(&r), r.text()), ("HIT", body(lang)));
    }
}

#[test]
fn the_lock_sends_one_of_a_hundred_concurrent_misses_across_two_workers() {
    let g = Gunicorn::tcp(4);
    let d = tempfile::tempdir().unwrap();
    let v = locked(&g);
    let path = counted(d.path(), "slow", "s=0.5");
    let barrier = Arc::new(Barrier::new(100));
    let answers: Vec<(u16, String)> = (0..100)
        .map(|_| {
            let (v, b, path) = (Arc::clone(&v), Arc::clone(&barrier), path.clone());
            std::thread::spawn(move || {
                b.wait();
                let r = v.get(&path, "app.test");
                (r.status, r.text())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    for (status, text) in &answers {
        assert_eq!((*status, text.as_str()), (200, "call 1 of slow\n"));
    }
    assert_eq!(calls(d.path(), "slow"), 1, "the upstream was asked once");
    // Logged after each answer went out: wait for all hundred lines.
    let log = || common::read_lossy(&v.path("cache.log"));
    assert!(
        wait_until(Duration::from_secs(5), || log().lines().count() == 100),
        "{}",
        log()
    );
    assert_eq!(log().matches(" MISS\n").count(), 1, "{}", log());
    assert_eq!(log().matches(" HIT\n").count(), 99, "{}", log());
}

#[test]
fn a_stale_copy_answers_errors_and_background_updates() {
    let mut g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let failing = dir.join("failing");
    let v = start(
        &g,
        "",
        "proxy_cache_use_stale error timeout http_500 updating;
         location /bg/ {
             proxy_pass PASS/;
             proxy_cache micro;
             proxy_cache_valid 200 1s;
             proxy_cache_use_stale updating;
             proxy_cache_background_update on;
             add_header X-Cache-Status $upstream_cache_status always;
         }"
        .replace("PASS", &g.proxy_pass())
        .as_str(),
        Driver::Default,
    );
    // http_500: the upstream fails, the stale copy answers.
    let page = counted(dir, "page", &format!("fail={}", failing.display()));
    assert_eq!(v.get(&page, "app.test").text(), "call 1 of page\n");
    std::thread::sleep(PAST_ONE_SECOND);
    std::fs::write(&failing, "").unwrap();
    let stale = v.get(&page, "app.test");
    assert_eq!((stale.status, status_of(&stale)), (200, "STALE"));
    assert_eq!(stale.text(), "call 1 of page\n");
    std::fs::remove_file(&failing).unwrap();
    let fresh = v.get(&page, "app.test");
    assert_eq!(status_of(&fresh), "EXPIRED");
    assert_eq!(fresh.text(), "call 3 of page\n");

    // Background update: the stale copy at once, the new one stored behind it.
    let bg = format!("/bg{}", counted(dir, "bg", "s=2"));
    let first = v.get(&bg, "app.test");
    assert_eq!(first.status, 200, "{}", first.text());
    std::thread::sleep(PAST_ONE_SECOND);
    let started = Instant::now();
    let mut c = v.client();
    c.send(format!("GET {bg} HTTP/1.1\r\nHost: app.test\r\n\r\n").as_bytes());
    let r = c.read_response(false);
    let took = started.elapsed();
    assert_eq!(status_of(&r), "STALE");
    assert_eq!(r.text(), "call 1 of bg\n");
    assert!(
        took < Duration::from_millis(1500),
        "the stale copy waited {took:?}"
    );
    assert!(wait_until(Duration::from_secs(5), || calls(dir, "bg") == 2));
    assert!(wait_until(Duration::from_secs(5), || {
        let r = v.get(&bg, "app.test");
        status_of(&r) == "HIT" && r.text() == "call 2 of bg\n"
    }));

    // error: Gunicorn is gone, the stale copy answers.
    std::thread::sleep(PAST_ONE_SECOND);
    g.stop();
    let gone = v.get(&page, "app.test");
    assert_eq!((gone.status, status_of(&gone)), (200, "STALE"));
    assert_eq!(gone.text(), "call 3 of page\n");
    // A key never stored has nothing stale: the usual 502.
    assert_eq!(v.get(&counted(dir, "never", ""), "app.test").status, 502);
}

#[test]
fn the_upstreams_stale_if_error_and_stale_while_revalidate_are_honoured() {
    let mut g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // No proxy_cache_use_stale at all: the upstream's Cache-Control allows it.
    let v = start(&g, "", "", Driver::Default);
    let swr = counted(dir, "swr", "cc=max-age%3D1,stale-while-revalidate%3D30");
    assert_eq!(v.get(&swr, "app.test").text(), "call 1 of swr\n");
    std::thread::sleep(PAST_ONE_SECOND);
    let r = v.get(&swr, "app.test");
    assert_eq!(
        (status_of(&r), r.text().as_str()),
        ("STALE", "call 1 of swr\n")
    );
    assert!(wait_until(Duration::from_secs(5), || v
        .get(&swr, "app.test")
        .text()
        == "call 2 of swr\n"));

    let sie = counted(dir, "sie", "cc=max-age%3D1,stale-if-error%3D30");
    assert_eq!(v.get(&sie, "app.test").text(), "call 1 of sie\n");
    std::thread::sleep(PAST_ONE_SECOND);
    g.stop();
    let r = v.get(&sie, "app.test");
    assert_eq!((r.status, status_of(&r)), (200, "STALE"));
    assert_eq!(r.text(), "call 1 of sie\n");
}

#[test]
fn expired_entries_are_revalidated_and_a_head_is_fetched_as_get() {
    let g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let v = start(&g, "", "proxy_cache_revalidate on;", Driver::Default);
    let page = counted(dir, "etag", "etag=v1");
    let first = v.get(&page, "app.test");
    assert_eq!(
        (status_of(&first), first.header("ETag")),
        ("MISS", Some("\"v1\""))
    );
    std::thread::sleep(PAST_ONE_SECOND);
    // The upstream is asked with the stored ETag, answers 304, and the stored body
    // goes out; the entry is fresh again.
    let again = get_with(&v, &page, "If-None-Match: \"other\"\r\n");
    assert_eq!((again.status, status_of(&again)), (200, "REVALIDATED"));
    assert_eq!(again.text(), "call 1 of etag\n");
    let lines = common::read_lossy(&dir.join("calls-etag"));
    assert!(
        lines.lines().nth(1).unwrap().ends_with(" \"v1\""),
        "{lines}"
    );
    assert_eq!(statuses(&v, &page, 1), ["HIT"]);
    // A client's own validators are answered from the entry.
    let cached = get_with(&v, &page, "If-None-Match: \"v1\"\r\n");
    assert_eq!((cached.status, status_of(&cached)), (304, "HIT"));
    assert_eq!(calls(dir, "etag"), 2);

    // A 304 to the revalidation that may not renew the entry (it says no-store)
    // still answers from the stored copy, as nginx: never a bare 304 to a request
    // that sent no validators.
    let nostore = counted(dir, "nostore304", "etag=v2&cc304=no-store");
    assert_eq!(statuses(&v, &nostore, 1), ["MISS"]);
    std::thread::sleep(PAST_ONE_SECOND);
    let again = v.get(&nostore, "app.test");
    assert_eq!((again.status, status_of(&again)), (200, "REVALIDATED"));
    assert_eq!(again.text(), "call 1 of nostore304\n");

    // A request the cache will not store (with Authorization) keeps its validators:
    // the upstream answers them.
    let authed = counted(dir, "authed", "etag=a1");
    let r = get_with(
        &v,
        &authed,
        "Authorization: Basic dXNlcjpwdw==\r\nIf-None-Match: \"a1\"\r\n",
    );
    assert_eq!((r.status, status_of(&r)), (304, "BYPASS"));

    // A HEAD that misses, with the validators of what it will store: 304 too.
    let tagged = counted(dir, "headtag", "etag=h1");
    let r = v.request(
        format!(
            "HEAD {tagged} HTTP/1.1\r\nHost: app.test\r\nIf-None-Match: \"h1\"\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!((r.status, status_of(&r)), (304, "MISS"));

    // proxy_cache_convert_head (on by default): a HEAD that misses is asked as GET
    // and stored; the client gets the head only.
    let head = counted(dir, "head", "");
    let files_before = walk(&v.path("cache")).len();
    let r = v.request(
        format!("HEAD {head} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!((r.status, status_of(&r)), (200, "MISS"));
    assert!(r.text().is_empty());
    assert_eq!(r.header("Content-Length"), Some("15"));
    // The head goes out as soon as the upstream's head is in (as nginx sends it); the
    // body is stored once it has all come.
    assert!(wait_until(Duration::from_secs(5), || walk(
        &v.path("cache")
    )
    .len()
        == files_before + 1));
    let got = v.get(&head, "app.test");
    assert_eq!(
        (status_of(&got), got.text().as_str()),
        ("HIT", "call 1 of head\n")
    );
    let lines = common::read_lossy(&dir.join("calls-head"));
    assert!(lines.starts_with("GET "), "{lines}");
}

#[test]
fn purge_by_key_and_by_prefix_from_an_allowed_address() {
    let g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let v = start(
        &g,
        "",
        "proxy_cache_valid 200 60s; proxy_cache_purge $purge_method;",
        Driver::Default,
    );
    let one = format!("/counted/one?dir={}", dir.display());
    let two = format!("/counted/two?dir={}", dir.display());
    for p in [&one, &two] {
        assert_eq!(statuses(&v, p, 2), ["MISS", "HIT"]);
    }
    let purge = |path: &str| {
        v.request(
            format!("PURGE {path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    assert_eq!(purge(&one).status, 204);
    assert_eq!(statuses(&v, &one, 2), ["MISS", "HIT"]);
    assert_eq!(statuses(&v, &two, 1), ["HIT"]);
    assert_eq!(purge("/counted/*").status, 204);
    assert_eq!(statuses(&v, &one, 1), ["MISS"]);
    assert_eq!(statuses(&v, &two, 1), ["MISS"]);
    assert_eq!((calls(dir, "one"), calls(dir, "two")), (3, 2));
    // A key's variants (Vary) go with it: by key, and by prefix.
    let varied = format!("/counted/varied?dir={}&vary=Accept-Language", dir.display());
    let lang = |l: &str| {
        let r = get_with(&v, &varied, &format!("Accept-Language: {l}\r\n"));
        format!("{} {}", status_of(&r), r.text().trim())
    };
    assert_eq!(
        [lang("fr"), lang("de"), lang("fr"), lang("de")],
        [
            "MISS call 1 of varied",
            "MISS call 2 of varied",
            "HIT call 1 of varied",
            "HIT call 2 of varied"
        ]
    );
    // By key: the main entry goes; the variant beside it is older than the next
    // main entry, so it is fetched again too.
    assert_eq!(purge(&varied).status, 204);
    assert_eq!(
        [lang("fr"), lang("de"), lang("fr"), lang("de")],
        [
            "MISS call 3 of varied",
            "MISS call 4 of varied",
            "HIT call 3 of varied",
            "HIT call 4 of varied"
        ]
    );
    assert_eq!(purge("/counted/v*").status, 204);
    assert_eq!(
        [lang("fr"), lang("de")],
        ["MISS call 5 of varied", "MISS call 6 of varied"]
    );
    // Who may purge is the location's allow/deny.
    assert_eq!(purge("/denied/x").status, 403);
}

#[test]
fn a_restart_over_a_warm_cache_directory_serves_hits_and_a_reload_keeps_them() {
    let g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let cache = tempfile::tempdir().unwrap();
    let http = format!(
        "proxy_cache_path {} levels=1:2 keys_zone=warm:1m;",
        cache.path().display()
    );
    let servers = format!(
        "server {{
            listen 127.0.0.1:@PORT@;
            location / {{
                proxy_pass {};
                proxy_cache warm;
                proxy_cache_valid 200 10m;
                add_header X-Cache-Status $upstream_cache_status;
            }}
        }}",
        g.proxy_pass()
    );
    let page = counted(dir, "warm", "");
    // Two variants of one key: the second under its secondary key.
    let varied = counted(dir, "varied", "vary=Accept-Language");
    let lang = |v: &Vestibule, l: &str| {
        let r = get_with(v, &varied, &format!("Accept-Language: {l}\r\n"));
        format!("{} {}", status_of(&r), r.text().trim())
    };
    {
        let v = Vestibule::start_with_main(TWO_WORKERS, &servers, &http, Driver::Default);
        assert_eq!(statuses(&v, &page, 2), ["MISS", "HIT"]);
        assert_eq!(lang(&v, "fr"), "MISS call 1 of varied");
        assert_eq!(lang(&v, "de"), "MISS call 2 of varied");
    }
    let v = Vestibule::start_with_main(TWO_WORKERS, &servers, &http, Driver::Default);
    v.wait_for_error_line(&["http file cache", "3 files loaded"]);
    assert_eq!(statuses(&v, &page, 4), ["HIT", "HIT", "HIT", "HIT"]);
    assert_eq!(calls(dir, "warm"), 1);
    assert_eq!(lang(&v, "de"), "HIT call 2 of varied");
    assert_eq!(lang(&v, "fr"), "HIT call 1 of varied");

    // An in-place reload keeps the keys zone and what it indexes.
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("X-Cache-Status", "X-Cache")).unwrap();
    common::signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reloaded in place"]);
    let r = v.get(&page, "app.test");
    assert_eq!(r.header("X-Cache"), Some("HIT"));
    assert_eq!(calls(dir, "warm"), 1);
    drop(v);

    // A reload that adds the cache loads its directory too.
    let v = Vestibule::start_with_main(
        TWO_WORKERS,
        &servers.replace("proxy_cache warm;", "proxy_cache off;"),
        "",
        Driver::Default,
    );
    assert_eq!(statuses(&v, &page, 1), [""]);
    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let with_cache = text
        .replace("proxy_cache off;", "proxy_cache warm;")
        .replacen("http {", &format!("http {{\n{http}"), 1);
    std::fs::write(&conf, with_cache).unwrap();
    common::signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["http file cache", "3 files loaded"]);
    // The old generation's workers (no cache) may still answer a request or two;
    // then the entry stored by the first instance answers, no new call made for it.
    assert!(wait_until(Duration::from_secs(5), || {
        let r = v.get(&page, "app.test");
        status_of(&r) == "HIT" && r.text() == "call 1 of warm\n"
    }));
}

#[test]
fn a_slow_upstream_and_the_lock_timeout() {
    let g = Gunicorn::tcp(4);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let slow = dir.join("slow");
    let v = Arc::new(start(
        &g,
        "",
        "proxy_read_timeout 500ms;
         proxy_cache_use_stale timeout;
         location /counted/locked {
             proxy_pass PASS;
             proxy_cache micro;
             proxy_cache_valid 200 60s;
             proxy_cache_lock on;
             proxy_cache_lock_timeout 300ms;
             proxy_read_timeout 5s;
             add_header X-Cache-Status $upstream_cache_status always;
         }"
        .replace("PASS", &g.proxy_pass())
        .as_str(),
        Driver::Default,
    ));
    // use_stale timeout: the upstream takes longer than proxy_read_timeout.
    let page = counted(dir, "page", &format!("slow={}", slow.display()));
    assert_eq!(v.get(&page, "app.test").text(), "call 1 of page\n");
    std::thread::sleep(PAST_ONE_SECOND);
    std::fs::write(&slow, "").unwrap();
    let r = v.get(&page, "app.test");
    assert_eq!((r.status, status_of(&r)), (200, "STALE"));
    assert_eq!(r.text(), "call 1 of page\n");
    std::fs::remove_file(&slow).unwrap();

    // proxy_cache_lock_timeout: a request that waited 300 ms goes to the upstream
    // itself, and what it gets is not stored; the lock holder's answer is.
    let locked = counted(dir, "locked", "s=1.5");
    let first = {
        let (v, locked) = (Arc::clone(&v), locked.clone());
        std::thread::spawn(move || v.get(&locked, "app.test").text())
    };
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let second = v.get(&locked, "app.test");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status_of(&second), "MISS");
    assert_eq!(second.text(), "call 2 of locked\n");
    assert_eq!(first.join().unwrap(), "call 1 of locked\n");
    let third = v.get(&locked, "app.test");
    assert_eq!(
        (status_of(&third), third.text().as_str()),
        ("HIT", "call 1 of locked\n")
    );
}

#[test]
fn max_size_and_inactive_remove_entries() {
    let g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let v = start(
        &g,
        "max_size=100k inactive=2s",
        "proxy_cache_valid 200 60s;",
        Driver::Default,
    );
    // Five 30 KiB entries: the manager keeps at most 100 KiB, the least recently
    // used going first.
    let names = ["a", "b", "c", "d", "e"];
    for n in names {
        let p = counted(dir, n, "size=30000");
        assert_eq!(statuses(&v, &p, 1), ["MISS"]);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        wait_until(Duration::from_secs(5), || bytes(&v.path("cache"))
            <= 100 * 1024),
        "{} bytes",
        bytes(&v.path("cache"))
    );
    assert_eq!(statuses(&v, &counted(dir, "e", "size=30000"), 1), ["HIT"]);
    assert_eq!(statuses(&v, &counted(dir, "a", "size=30000"), 1), ["MISS"]);
    // inactive=2s: nothing asked for, everything goes.
    assert!(
        wait_until(Duration::from_secs(8), || walk(&v.path("cache")).is_empty()),
        "{:?}",
        walk(&v.path("cache"))
    );
}

fn bytes(dir: &Path) -> u64 {
    walk(dir)
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[test]
fn configuration_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (http, expected) in [
        (
            "server { listen 127.0.0.1:1; location / { proxy_pass http://127.0.0.1:2; proxy_cache nope; } }",
            "\"proxy_cache\" zone \"nope\" is unknown",
        ),
        (
            "proxy_cache_path /tmp/x levels=1:2;",
            "\"keys_zone\" parameter",
        ),
        (
            "proxy_cache_path /tmp/x keys_zone=a:1m; server { location / { proxy_cache_use_stale sometimes; } }",
            "sometimes",
        ),
        (
            "proxy_cache_path /tmp/x levels=3 keys_zone=a:1m;",
            "levels=3",
        ),
    ] {
        let conf = dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!("events {{}}\nhttp {{\n{http}\n}}\n"),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vestibule"))
            .arg("-t")
            .arg("-c")
            .arg(&conf)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{http}: {text}");
        assert!(text.contains(expected), "{http}: {text}");
        assert!(text.contains(&format!("{}:3", conf.display())), "{text}");
    }
}

/// The same configuration and requests for nginx (apt's 1.22) and vestibule: what
/// `$upstream_cache_status` says, request after request, for the upstream fields that
/// decide what is stored. (Where vestibule differs on purpose — `Authorization`,
/// `$host` in the default key — is tested above, not here.)
#[test]
fn the_cache_decides_as_nginx_does_side_by_side() {
    let g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let servers = format!(
        "proxy_cache_path @DIR@/cache levels=1:2 keys_zone=side:1m;
         server {{
            listen 127.0.0.1:@PORT@;
            location / {{
                proxy_pass {};
                proxy_cache side;
                proxy_cache_valid 200 301 60s;
                proxy_cache_bypass $arg_nocache;
                proxy_no_cache $arg_nostore;
                add_header X-Cache-Status $upstream_cache_status always;
                gzip on;
                gzip_types text/plain;
                gzip_min_length 10;
            }}
        }}",
        g.proxy_pass()
    );
    let Some(nginx) = Nginx::start(&servers, |_| {}) else {
        return;
    };
    let v = Vestibule::start_with_main(TWO_WORKERS, &servers, "", Driver::Default);
    let cases: &[(&str, &str, usize)] = &[
        ("plain", "", 3),
        ("private", "cc=private", 2),
        ("nocache", "cc=no-cache", 2),
        ("nostore", "cc=no-store", 2),
        ("maxage0", "cc=max-age%3D0", 2),
        ("public", "cc=public,max-age%3D60", 2),
        ("smaxage", "cc=s-maxage%3D60", 2),
        ("cookie", "cookie=1", 2),
        ("xae0", "xae=0", 2),
        ("xae", "xae=60", 2),
        ("past", "expires=-60", 2),
        ("future", "expires=60", 2),
        ("varystar", "vary=*", 2),
        ("vary", "vary=Accept", 2),
        ("notfound", "status=404", 2),
        ("moved", "status=301", 2),
        ("error", "status=500", 2),
        ("bypass", "nocache=1", 2),
        ("nostore_arg", "nostore=1", 2),
    ];
    let mut differ = Vec::new();
    for (name, query, n) in cases {
        let said = |request: &dyn Fn(&[u8]) -> Response, who: &str| -> Vec<String> {
            let path = counted(d.path(), &format!("{who}-{name}"), query);
            (0..*n)
                .map(|_| {
                    let raw = format!(
                        "GET {path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"
                    );
                    status_of(&request(raw.as_bytes())).to_string()
                })
                .collect()
        };
        let ours = said(&|raw| v.request(raw), "v");
        let theirs = said(&|raw| nginx.request(raw), "n");
        if ours != theirs {
            differ.push(format!(
                "{name} ({query}): vestibule {ours:?}, nginx {theirs:?}"
            ));
        }
    }
    // A HEAD first, then a GET (proxy_cache_convert_head on).
    let head_then_get = |request: &dyn Fn(&[u8]) -> Response, who: &str| {
        let path = counted(d.path(), &format!("{who}-head"), "");
        let head = format!("HEAD {path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
        let get = format!("GET {path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
        let first = status_of(&request(head.as_bytes())).to_string();
        // nginx stores the GET it made for the HEAD after answering the HEAD: give it
        // the time (vestibule stores before its answer's last write).
        std::thread::sleep(Duration::from_millis(200));
        [first, status_of(&request(get.as_bytes())).to_string()]
    };
    let ours = head_then_get(&|raw| v.request(raw), "v");
    let theirs = head_then_get(&|raw| nginx.request(raw), "n");
    if ours != theirs {
        differ.push(format!(
            "HEAD then GET: vestibule {ours:?}, nginx {theirs:?}"
        ));
    }
    // Requests with Range or validators, on a miss and then on the hit: what the
    // client gets (the multipart boundary aside) and how often the upstream is called.
    let lm = "Sat, 01 Jan 2022 00:00:00 GMT";
    let sequences: &[(&str, &str, &[&str])] = &[
        (
            "r-none",
            "size=100",
            &["", "Range: bytes=30-39", "Range: bytes=0-3,30-39,-5"],
        ),
        (
            "r-bytes",
            "size=100&ar=bytes",
            &[
                "Range: bytes=30-39",
                "Range: bytes=30-39",
                "Range: bytes=0-3,30-39,-5",
                "Range: bytes=200-",
                "",
            ],
        ),
        (
            "r-ifrange",
            "size=100&ar=bytes&etag=e1",
            &[
                "",
                "Range: bytes=1-2\r\nIf-Range: \"e1\"",
                "Range: bytes=1-2\r\nIf-Range: \"e2\"",
            ],
        ),
        (
            "r-gzip",
            "size=100&ar=bytes",
            &[
                "Accept-Encoding: gzip\r\nRange: bytes=30-39",
                "Accept-Encoding: gzip\r\nRange: bytes=30-39",
                "Range: bytes=30-39",
            ],
        ),
        (
            "vary",
            "vary=Accept-Language&cc=max-age%3D60",
            &[
                "Accept-Language: fr",
                "Accept-Language: fr",
                "Accept-Language: de",
                "Accept-Language: de",
                "Accept-Language: fr",
                "",
                "",
                "Accept-Language: de",
            ],
        ),
        (
            "inm",
            "etag=e1",
            &[
                "If-None-Match: \"e1\"",
                "If-None-Match: \"e1\"",
                "If-None-Match: \"e2\"",
            ],
        ),
        (
            "im",
            "etag=e1",
            &["If-Match: \"e2\"", "If-Match: \"e2\"", "If-Match: \"e1\""],
        ),
        (
            "ims",
            "lm=1640995200",
            &[
                &format!("If-Modified-Since: {lm}"),
                &format!("If-Modified-Since: {lm}"),
            ],
        ),
    ];
    for (name, query, requests) in sequences {
        let said = |request: &dyn Fn(&[u8]) -> Response, who: &str| -> Vec<String> {
            let path = counted(d.path(), &format!("{who}-{name}"), query);
            let mut said: Vec<String> = requests
                .iter()
                .map(|extra| {
                    let extra = if extra.is_empty() {
                        String::new()
                    } else {
                        format!("{extra}\r\n")
                    };
                    let raw = format!(
                        "GET {path} HTTP/1.1\r\nHost: app.test\r\n{extra}Connection: close\r\n\r\n"
                    );
                    let r = request(raw.as_bytes());
                    let mut ct = r.header("Content-Type").unwrap_or("").to_string();
                    if r.status == 416 {
                        // nginx's error page keeps the stored response's charset.
                        ct = ct.split(';').next().unwrap_or("").to_string();
                    }
                    let boundary = ct.split("boundary=").nth(1).unwrap_or("\0").to_string();
                    // nginx stores after its answer: give it the time.
                    std::thread::sleep(Duration::from_millis(100));
                    let gzipped = r.header("Content-Encoding") == Some("gzip");
                    format!(
                        "{extra:?}: {} {} {:?} {} gzip: {gzipped} {:?}",
                        r.status,
                        status_of(&r),
                        r.header("Content-Range"),
                        ct.replace(&boundary, "B"),
                        // The error page's signature is the server's own; a
                        // compressed body is compared by its coding.
                        if gzipped { String::new() } else { r.text() }
                            .split("<hr><center>")
                            .next()
                            .unwrap_or("")
                            .replace(&boundary, "B")
                            .replace(&format!("{who}-{name}"), "NAME"),
                    )
                })
                .collect();
            said.push(format!(
                "upstream calls: {}",
                calls(d.path(), &format!("{who}-{name}"))
            ));
            said
        };
        let ours = said(&|raw| v.request(raw), "v");
        let theirs = said(&|raw| nginx.request(raw), "n");
        if ours != theirs {
            differ.push(format!("{name}: vestibule {ours:#?}, nginx {theirs:#?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// Over HTTP/2 (prior-knowledge h2c, curl): the same entry answers, from the file.
#[test]
fn hits_are_served_over_http2_too() {
    let g = Gunicorn::tcp(2);
    let d = tempfile::tempdir().unwrap();
    let servers = format!(
        "proxy_cache_path @DIR@/cache levels=1:2 keys_zone=h2:1m;
         server {{
            listen 127.0.0.1:@PORT@ http2;
            location / {{
                proxy_pass {};
                proxy_cache h2;
                proxy_cache_valid 200 60s;
                add_header X-Cache-Status $upstream_cache_status always;
            }}
        }}",
        g.proxy_pass()
    );
    let v = Vestibule::start_with_main(TWO_WORKERS, &servers, "", Driver::Default);
    let url = format!(
        "http://127.0.0.1:{}{}",
        v.port,
        counted(d.path(), "h2", "size=40000")
    );
    let fetch = || {
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "-i",
                "--http2-prior-knowledge",
                "--max-time",
                "10",
                &url,
            ])
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = fetch();
    assert!(first.starts_with("HTTP/2 200"), "{first}");
    assert!(first.contains("x-cache-status: MISS"), "{first}");
    let second = fetch();
    assert!(second.contains("x-cache-status: HIT"), "{second}");
    let body = |r: &str| r.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    assert_eq!(body(&second).len(), 40000);
    assert_eq!(body(&first), body(&second));
    assert_eq!(calls(d.path(), "h2"), 1);
}
