//! `vestibule_metrics`: the Prometheus page — what the metrics zone's rows sum to
//! (src/zone/metrics/), the connection gauges `stub_status` keeps
//! (src/zone/status.rs), and each upstream server's up/down state from the passive
//! checks' shared window ([`crate::proxy::balancer::server_up`]) — written in the
//! format the scraper asks for ([`crate::observe::exposition`]). The names, types,
//! labels and buckets are documented in docs/metrics.md.
//!
//! Also the per-request side: [`request_done`] counts a request at the log phase.

use crate::exchange::Exchange;
use crate::http1::Method;
use crate::observe::exposition::{Format, Kind, Writer};
use crate::proxy::balancer::{actively_healthy, passive_state, server_up};
use crate::zone::metrics::catalogue::{method_slot, BUCKETS, CLASSES, METHODS};
use crate::zone::metrics::{self, Histogram, Sums};
use crate::zone::peer_fails::PeerFails;
use crate::zone::status::Totals;

/// Counts a finished request (one with a status) for its server block:
/// `default_block` is the address's default server, for a request that ended before
/// one was chosen.
pub fn request_done(x: &Exchange, default_block: impl FnOnce() -> Option<usize>) {
    if !metrics::enabled() || x.status == 0 {
        return;
    }
    let Some(block) = x.server_index.or_else(default_block) else {
        return;
    };
    let method = match &x.head.method {
        Method::Other(_) => METHODS.len() - 1,
        m => method_slot(m.as_str()),
    };
    let micros = metrics::micros(x.start.elapsed());
    metrics::request_done(
        block,
        x.status,
        method,
        micros,
        x.request_length.saturating_add(x.body_bytes_received),
        x.bytes_sent,
    );
}

/// The page, in `format`; `None` in a process that does not count (no zone).
pub fn page(format: Format, fails: Option<&PeerFails>) -> Option<String> {
    let sums = metrics::sums()?;
    let mut w = Writer::new(format);
    http(&mut w, &sums);
    connections(&mut w, &crate::zone::status::totals());
    upstreams(&mut w, &sums, fails);
    process(&mut w, &sums);
    Some(w.finish())
}

fn seconds(h: &Histogram) -> f64 {
    h.sum_us as f64 / 1e6
}

fn http(w: &mut Writer, s: &Sums<'_>) {
    let labels = |i: usize| {
        s.catalogue
            .servers
            .get(i)
            .map(|l| (l.server.as_str(), l.listen.as_str()))
            .unwrap_or_default()
    };
    w.family(
        "vestibule_http_requests",
        Kind::Counter,
        "Requests answered, by server block, status class and method.",
    );
    for (i, server) in s.servers.iter().enumerate() {
        let (name, listen) = labels(i);
        for (c, by_method) in server.requests.iter().enumerate() {
            for (m, n) in by_method.iter().enumerate() {
                if *n == 0 {
                    continue;
                }
                let (code, method) = (CLASSES.get(c), METHODS.get(m));
                if let (Some(code), Some(method)) = (code, method) {
                    let l = [
                        ("server", name),
                        ("listen", listen),
                        ("code", code),
                        ("method", method),
                    ];
                    w.counter(&l, *n);
                }
            }
        }
    }
    w.family(
        "vestibule_http_request_duration_seconds",
        Kind::Histogram,
        "Time from a request's head being read to its logging, by server block.",
    );
    for (i, server) in s.servers.iter().enumerate() {
        let (name, listen) = labels(i);
        let l = [("server", name), ("listen", listen)];
        w.histogram(
            &l,
            &BUCKETS,
            &server.duration.buckets,
            seconds(&server.duration),
        );
    }
    w.family(
        "vestibule_http_request_bytes",
        Kind::Counter,
        "Bytes of request heads and (decoded) bodies received, by server block.",
    );
    for (i, server) in s.servers.iter().enumerate() {
        let (name, listen) = labels(i);
        w.counter(&[("server", name), ("listen", listen)], server.bytes_in);
    }
    w.family(
        "vestibule_http_response_bytes",
        Kind::Counter,
        "Bytes of responses sent, heads included, by server block.",
    );
    for (i, server) in s.servers.iter().enumerate() {
        let (name, listen) = labels(i);
        w.counter(&[("server", name), ("listen", listen)], server.bytes_out);
    }
}

fn connections(w: &mut Writer, t: &Totals) {
    w.family(
        "vestibule_connections_accepted",
        Kind::Counter,
        "Client connections accepted.",
    );
    w.counter(&[], t.accepted);
    for (name, help, v) in [
        (
            "vestibule_connections_active",
            "Client connections open.",
            t.active,
        ),
        (
            "vestibule_connections_reading",
            "Connections reading a request head.",
            t.reading,
        ),
        (
            "vestibule_connections_writing",
            "Connections with a request being processed or answered.",
            t.writing,
        ),
        (
            "vestibule_connections_idle",
            "Keep-alive connections waiting for a request.",
            t.waiting(),
        ),
    ] {
        w.family(name, Kind::Gauge, help);
        w.gauge(&[], v as f64);
    }
}

fn upstreams(w: &mut Writer, s: &Sums<'_>, fails: Option<&PeerFails>) {
    let peers = &s.catalogue.peers;
    let labels = |i: usize| {
        peers
            .get(i)
            .map(|p| (p.upstream.as_str(), p.server.as_str()))
            .unwrap_or_default()
    };
    for (name, help, pick) in [
        (
            "vestibule_upstream_requests",
            "Attempts to send a request to an upstream server.",
            0,
        ),
        (
            "vestibule_upstream_failures",
            "Attempts that failed as max_fails counts failures.",
            1,
        ),
        (
            "vestibule_upstream_retries",
            "Attempts that were a retry: another server had been tried for the request.",
            2,
        ),
    ] {
        w.family(name, Kind::Counter, help);
        for (i, p) in s.peers.iter().enumerate() {
            let (upstream, server) = labels(i);
            let v = [p.requests, p.failures, p.retries]
                .get(pick)
                .copied()
                .unwrap_or(0);
            w.counter(&[("upstream", upstream), ("server", server)], v);
        }
    }
    w.family(
        "vestibule_upstream_response_duration_seconds",
        Kind::Histogram,
        "Time from choosing an upstream server to the end of its response, per attempt.",
    );
    for (i, p) in s.peers.iter().enumerate() {
        let (upstream, server) = labels(i);
        let l = [("upstream", upstream), ("server", server)];
        w.histogram(&l, &BUCKETS, &p.response.buckets, seconds(&p.response));
    }
    w.family(
        "vestibule_upstream_server_up",
        Kind::Gauge,
        "1 when an upstream server is up: not marked down and not failed max_fails times within fail_timeout.",
    );
    let now = crate::sys::coarse_monotonic();
    for (i, p) in peers.iter().enumerate() {
        let (upstream, server) = labels(i);
        let passive = passive_state(&p.fail_key, p.max_fails, p.fail_timeout, fails);
        let row = crate::zone::health::find(&p.fail_key);
        let healthy = actively_healthy(row.as_ref(), p.health_check);
        let up = server_up(p.down, healthy, &passive, now);
        w.gauge(
            &[("upstream", upstream), ("server", server)],
            if up { 1.0 } else { 0.0 },
        );
    }
}

fn process(w: &mut Writer, s: &Sums<'_>) {
    w.family(
        "vestibule_tls_handshakes",
        Kind::Counter,
        "TLS handshakes, by result: full, resumed (a session id or ticket), failed.",
    );
    for (result, n) in ["full", "resumed", "failed"].iter().zip(s.tls) {
        w.counter(&[("result", result)], n);
    }
    let m = &s.master;
    w.family(
        "vestibule_config_reloads",
        Kind::Counter,
        "Reloads (SIGHUP) applied (ok) or refused (failed).",
    );
    w.counter(&[("result", "ok")], m.reloads_ok);
    w.counter(&[("result", "failed")], m.reloads_failed);
    w.family(
        "vestibule_config_generation",
        Kind::Gauge,
        "The configuration's generation: 1 at start, one more per applied reload.",
    );
    w.gauge(&[], m.generation as f64);
    w.family(
        "vestibule_config_last_reload_success_timestamp_seconds",
        Kind::Gauge,
        "When the configuration in force was loaded, Unix time.",
    );
    w.gauge(&[], m.loaded_at_ms as f64 / 1e3);
    w.family(
        "vestibule_worker_restarts",
        Kind::Counter,
        "Worker processes that died and were started again by the master.",
    );
    w.counter(&[], m.restarts);
}
