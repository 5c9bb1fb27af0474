//! Active health checks through the real binary, with two Gunicorns behind two
//! vestibule workers: `health_check` probes (NGINX Plus's syntax) take a server out
//! when its health endpoint fails or it stops listening, and put it back when it
//! recovers; every worker follows what the one prober found (the state is in a zone);
//! `match` blocks and `mandatory`; the metrics' up/down gauge; the configuration
//! errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use common::{test_config, wait_until, Driver, Gunicorn, Vestibule};

const TWO_WORKERS: &str = "worker_processes 2; events { worker_connections 256; }";

/// The upstream addresses that answered `n` requests (each on its own connection,
/// so both workers serve them).
fn answered_by(v: &Vestibule, path: &str, n: usize) -> HashSet<String> {
    (0..n)
        .map(|_| {
            let r = v.get(path, "app.test");
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            r.header("X-Upstream").unwrap().to_string()
        })
        .collect()
}

fn count_lines(v: &Vestibule, needle: &str) -> usize {
    v.error_log().lines().filter(|l| l.contains(needle)).count()
}

fn config(a: &Gunicorn, b: &Gunicorn, dir: &Path, check: &str) -> String {
    format!(
        "upstream app {{ zone app 64k; server 127.0.0.1:{}; server 127.0.0.1:{}; }}
         server {{
            listen 127.0.0.1:@PORT@;
            location = /metrics {{ vestibule_metrics; }}
            location / {{
                proxy_pass http://app;
                proxy_set_header Host $host;
                add_header X-Upstream $upstream_addr always;
                {check} uri=/health?dir={};
            }}
         }}",
        a.port(),
        b.port(),
        dir.display()
    )
}

#[test]
fn a_failing_server_is_left_out_by_every_worker_and_comes_back() {
    let mut a = Gunicorn::tcp(1);
    let b = Gunicorn::tcp(1);
    let flags = tempfile::tempdir().unwrap();
    let v = Vestibule::start_with_main(
        TWO_WORKERS,
        &config(
            &a,
            &b,
            flags.path(),
            "health_check interval=200ms fails=2 passes=2",
        ),
        "",
        Driver::Default,
    );
    let (addr_a, addr_b) = (
        format!("127.0.0.1:{}", a.port()),
        format!("127.0.0.1:{}", b.port()),
    );
    let both: HashSet<String> = [addr_a.clone(), addr_b.clone()].into();
    assert_eq!(
        answered_by(&v, "/", 12),
        both,
        "both servers serve at first"
    );

    // The probe is a plain GET with the location's Host (`$host`: the server's name,
    // none here, so the group's) and says who it is.
    let probes = flags.path().join(format!("probes-{}", a.port()));
    assert!(wait_until(Duration::from_secs(5), || probes.exists()));
    let first = common::read_lossy(&probes);
    assert!(
        first
            .lines()
            .next()
            .unwrap()
            .starts_with("app vestibule health check"),
        "{first}"
    );

    // A's health endpoint fails: after two probes it is out, for both workers.
    std::fs::write(flags.path().join(format!("down-{}", a.port())), "").unwrap();
    let line = v.wait_for_error_line(&["peer is unhealthy", &addr_a]);
    assert!(line.contains("[warn]"), "{line}");
    assert!(
        line.contains(&format!(
            "status 503 is not 2xx or 3xx, health check \"/health?dir={}\" of peer {addr_a} in upstream \"app\"",
            flags.path().display()
        )),
        "{line}"
    );
    assert_eq!(
        answered_by(&v, "/", 16),
        HashSet::from([addr_b.clone()]),
        "only B while A is unhealthy"
    );
    // The metrics mark it down, and B up.
    let up = |addr: &str| -> String {
        let page = v.get("/metrics", "app.test").text();
        page.lines()
            .find(|l| l.starts_with("vestibule_upstream_server_up{") && l.contains(addr))
            .unwrap_or_else(|| panic!("no up line for {addr}:\n{page}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(up(&addr_a), "0");
    assert_eq!(up(&addr_b), "1");

    // It recovers: two passing probes bring it back.
    std::fs::remove_file(flags.path().join(format!("down-{}", a.port()))).unwrap();
    v.wait_for_error_line(&["peer is healthy again", &addr_a]);
    assert!(
        wait_until(Duration::from_secs(5), || answered_by(&v, "/", 8) == both),
        "A serves again"
    );
    assert_eq!(up(&addr_a), "1");

    // A stops listening: the probes' connect fails, and no client request is sent to
    // it (no 502, no retry logged) once it is marked.
    a.stop();
    let line = v.wait_for_error_line(&[
        "peer is unhealthy: connect() failed (111: Connection refused)",
        &addr_a,
    ]);
    assert!(line.contains("while connecting to upstream"), "{line}");
    let refused_before = count_lines(&v, "connect() failed (111");
    assert_eq!(answered_by(&v, "/", 12), HashSet::from([addr_b.clone()]));
    assert_eq!(
        count_lines(&v, "connect() failed (111"),
        refused_before,
        "no request went to the server that is down"
    );
    assert_eq!(count_lines(&v, "peer is healthy again"), 1);
    a.restart();
    assert!(
        wait_until(Duration::from_secs(5), || count_lines(
            &v,
            "peer is healthy again"
        ) == 2),
        "A is found healthy after its restart"
    );
    assert!(
        wait_until(Duration::from_secs(5), || answered_by(&v, "/", 8) == both),
        "A serves again after its restart"
    );
    // One prober for the two workers: probes come at about the interval, not twice.
    let probed = common::read_lossy(&flags.path().join(format!("probes-{}", b.port())))
        .lines()
        .count();
    assert!(probed > 5, "B was probed all along ({probed})");
}

#[test]
fn a_match_block_judges_and_mandatory_waits_for_the_first_probe() {
    let a = Gunicorn::tcp(1);
    let b = Gunicorn::tcp(1);
    let flags = tempfile::tempdir().unwrap();
    let http = "match healthy { status 200-299; header X-Health = yes; body ~ \"^ok\"; }
                match never { status 200; header ! X-Health; }";
    let servers = format!(
        "upstream good {{ server 127.0.0.1:{a}; }}
         upstream bad {{ server 127.0.0.1:{b}; }}
         server {{
            listen 127.0.0.1:@PORT@;
            location /good/ {{
                proxy_pass http://good/;
                add_header X-Upstream $upstream_addr always;
                health_check interval=150ms match=healthy mandatory uri=/health?dir={d};
            }}
            location /bad/ {{
                proxy_pass http://bad/;
                health_check interval=150ms match=never mandatory persistent uri=/health?dir={d};
            }}
         }}",
        a = a.port(),
        b = b.port(),
        d = flags.path().display()
    );
    let v = Vestibule::start_with_main(TWO_WORKERS, &servers, http, Driver::Default);
    // `mandatory`: unhealthy until probed; the first probe of `good` passes its match.
    assert!(
        wait_until(Duration::from_secs(5), || v.get("/good/", "x").status
            == 200),
        "good becomes healthy"
    );
    // `never` refuses a healthy answer (it has X-Health): a lone server marked
    // unhealthy is not tried at all, as NGINX Plus's "no live upstreams".
    v.wait_for_error_line(&[
        "peer is unhealthy: answer with status 200 does not match",
        "upstream \"bad\"",
    ]);
    let r = v.get("/bad/", "x");
    assert_eq!(r.status, 502);
    v.wait_for_error_line(&["no live upstreams while connecting to upstream"]);
    // The body condition: `good` failing its endpoint (503, body "down") goes out.
    std::fs::write(flags.path().join(format!("down-{}", a.port())), "").unwrap();
    v.wait_for_error_line(&[
        "peer is unhealthy: answer with status 503 does not match",
        "upstream \"good\"",
    ]);
    assert_eq!(v.get("/good/", "x").status, 502);
}

#[test]
fn configuration_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let vestibule = env!("CARGO_BIN_EXE_vestibule");
    let t = |http: &str| test_config(vestibule, dir.path(), http);
    let server = |location: &str| {
        format!(
            "upstream app {{ zone app; server 127.0.0.1:1; }}\nserver {{ listen 127.0.0.1:1; location / {{ {location} }} }}"
        )
    };
    let ok = t(&server("proxy_pass http://app; health_check interval=2s jitter=1s fails=3 passes=2 uri=/up port=8080 keepalive_time=60s;"));
    assert!(ok.contains("test is successful"), "{ok}");
    let cases = [
        (server("health_check;"), "\"health_check\" needs \"proxy_pass\" to an upstream group in its location in"),
        (server("proxy_pass http://127.0.0.1:2; health_check;"), "not \"http://127.0.0.1:2\": put the server in an upstream block"),
        (server("proxy_pass http://app; health_check match=nope;"), "match \"nope\" not found in"),
        (server("proxy_pass http://app; health_check type=grpc;"), "gRPC health checks are not supported"),
        (server("proxy_pass http://app; health_check fails=0;"), "invalid parameter \"fails=0\""),
        (server("proxy_pass http://app; health_check uri=health;"), "invalid parameter \"uri=health\""),
        (server("proxy_pass http://app; health_check persistent;"), "invalid parameter \"persistent\""),
        (server("proxy_pass http://app; health_check; health_check;"), "\"health_check\" directive is duplicate"),
        (
            format!("{}\nserver {{ listen 127.0.0.1:3; location / {{ proxy_pass http://app; health_check; }} }}", server("proxy_pass http://app; health_check;")),
            "upstream \"app\" already has a health_check (at ",
        ),
        (format!("match m {{ require $x; }}\n{}", server("proxy_pass http://app;")), "\"require\" in match is not supported"),
        (format!("match m {{ status 600; }}\n{}", server("proxy_pass http://app;")), "invalid parameter \"600\""),
        (format!("match m {{ body = x; }}\n{}", server("proxy_pass http://app;")), "invalid \"body\" line in match"),
        ("upstream app { zone app 1x; server 127.0.0.1:1; }".to_string(), "\"zone\" directive invalid value"),
        ("server { listen 127.0.0.1:1; health_check; }".to_string(), "\"health_check\" directive is not allowed here"),
    ];
    for (http, want) in cases {
        let out = t(&http);
        assert!(out.contains(want), "{http}\n-> {out}");
        assert!(out.contains("t.conf:"), "file:line in {out}");
        assert!(out.contains("test failed"), "{out}");
    }
}

/// A reload in place starts the checks it adds; workers killed and respawned keep
/// what the probes found (the zone outlives them), so a server marked down is not
/// tried again while the new prober has not yet probed it three times.
#[test]
fn a_reload_adds_checks_and_respawned_workers_keep_the_state() {
    let a = Gunicorn::tcp(1);
    let b = Gunicorn::tcp(1);
    let flags = tempfile::tempdir().unwrap();
    std::fs::write(flags.path().join(format!("down-{}", a.port())), "").unwrap();
    // `#`: no health_check yet (the rest of the line is a comment).
    let v = Vestibule::start_with_main(
        TWO_WORKERS,
        &config(&a, &b, flags.path(), "#"),
        "",
        Driver::Default,
    );
    let addr_b = format!("127.0.0.1:{}", b.port());
    assert_eq!(
        answered_by(&v, "/", 12).len(),
        2,
        "no checks: A's failing endpoint is not asked"
    );

    let conf = v.path("vestibule.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        text.replace("# uri=", "health_check interval=1s fails=3 uri="),
    )
    .unwrap();
    common::signal(v.pid(), libc::SIGHUP);
    v.wait_for_error_line(&["reloaded in place by 2 of 2"]);
    v.wait_for_error_line(&["peer is unhealthy", &format!("127.0.0.1:{}", a.port())]);
    assert_eq!(answered_by(&v, "/", 8), HashSet::from([addr_b.clone()]));

    let workers = common::child_pids(v.pid());
    assert_eq!(workers.len(), 2, "{workers:?}");
    for w in &workers {
        common::signal(*w, libc::SIGKILL);
    }
    assert!(wait_until(Duration::from_secs(10), || {
        let now = common::child_pids(v.pid());
        now.len() == 2 && now.iter().all(|p| !workers.contains(p))
    }));
    // Straight away, before three new probes could have failed: still only B.
    assert!(wait_until(Duration::from_secs(5), || v
        .get("/", "x")
        .status
        == 200));
    assert_eq!(answered_by(&v, "/", 12), HashSet::from([addr_b]));
    assert_eq!(
        count_lines(&v, "peer is unhealthy"),
        1,
        "the state was kept, not found again"
    );
}
