//! The label sets of the metrics, taken from the configuration and from nothing a
//! request carries, so a scrape's size is bounded by the configuration: one row of
//! labels per server block (its first `server_name` and first `listen`; blocks with
//! the same pair share it) and per upstream server (the `upstream` block's name and
//! the server's address; for `proxy_pass http://ADDR` without a block, the address as
//! both, since nginx names such an implicit upstream by its host and port).
//!
//! The catalogue also gives the zone its name (a hash of every label) so a reload
//! that changes a label makes a fresh zone: counters never move to another label.

use std::time::Duration;

use crate::config::model::{LocationConf, ProxyTarget, Server};
use crate::config::Config;
use crate::fast_hash::FastMap;

/// The methods with a label of their own; every other one counts as `other`.
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
];
/// Status classes `1xx` .. `5xx`.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Upper bounds of the duration histograms' buckets, in seconds: Prometheus's
/// default buckets (the client libraries' `DefBuckets`, which Caddy's
/// `caddy_http_request_duration_seconds` uses), plus `+Inf` after them.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The same bounds in microseconds, for the hot path.
pub const BUCKETS_US: [u64; 11] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// One server block's labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLabels {
    pub server: String,
    pub listen: String,
}

/// One upstream server: its labels and what its up/down state is derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLabels {
    pub upstream: String,
    pub server: String,
    /// Its row's key in the `upstream_fails` zone (src/zone/peer_fails.rs), and in
    /// the `upstream_health` one.
    pub fail_key: String,
    /// `Some(mandatory)` when its group has a `health_check`.
    pub health_check: Option<bool>,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    /// Marked `down` in the configuration.
    pub down: bool,
}

/// nginx's implicit upstream (`proxy_pass http://host:port`): max_fails 1,
/// fail_timeout 10s (src/proxy/balancer.rs).
const IMPLICIT_MAX_FAILS: u32 = 1;
const IMPLICIT_FAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// Every label set of one configuration.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub servers: Vec<ServerLabels>,
    /// `HttpConfig::servers` index → index in `servers`.
    pub server_of_block: Vec<usize>,
    pub peers: Vec<PeerLabels>,
    peer_by_key: FastMap<String, usize>,
}

impl Catalogue {
    pub fn new(config: &Config) -> Catalogue {
        let mut c = Catalogue::default();
        let Some(http) = &config.http else {
            return c;
        };
        for server in &http.servers {
            let labels = server_labels(server);
            let i = match c.servers.iter().position(|s| *s == labels) {
                Some(i) => i,
                None => {
                    c.servers.push(labels);
                    c.servers.len() - 1
                }
            };
            c.server_of_block.push(i);
        }
        for u in &http.upstreams {
            for s in &u.servers {
                c.add_peer(PeerLabels {
                    upstream: u.name.clone(),
                    server: s.addr.to_string(),
                    fail_key: format!("upstream {}|{}", u.name, s.addr),
                    health_check: http
                        .health_checks
                        .iter()
                        .find(|g| g.upstream == u.name)
                        .map(|g| g.check.mandatory),
                    max_fails: s.max_fails,
                    fail_timeout: s.fail_timeout,
                    down: s.down,
                });
            }
        }
        for server in &http.servers {
            c.add_direct(&server.conf);
            walk(&server.locations, &mut |conf| c.add_direct(conf));
        }
        c
    }

    fn add_peer(&mut self, p: PeerLabels) {
        if !self.peer_by_key.contains_key(&p.fail_key) {
            self.peer_by_key
                .insert(p.fail_key.clone(), self.peers.len());
            self.peers.push(p);
        }
    }

    /// The servers of a `proxy_pass` that names no `upstream` block.
    fn add_direct(&mut self, conf: &LocationConf) {
        let Some(pass) = &conf.proxy.pass else {
            return;
        };
        if let ProxyTarget::Direct(addrs) = &pass.target {
            for a in addrs {
                let addr = a.to_string();
                self.add_peer(PeerLabels {
                    upstream: addr.clone(),
                    server: addr.clone(),
                    fail_key: addr,
                    health_check: None,
                    max_fails: IMPLICIT_MAX_FAILS,
                    fail_timeout: IMPLICIT_FAIL_TIMEOUT,
                    down: false,
                });
            }
        }
    }

    /// The index of the upstream server whose fail key is `key`.
    pub fn peer_index(&self, key: &str) -> Option<usize> {
        self.peer_by_key.get(key).copied()
    }

    /// FNV-1a over every label, in order: the zone's name carries it.
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |s: &str| {
            for b in s.bytes().chain(std::iter::once(0xff)) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for s in &self.servers {
            eat(&s.server);
            eat(&s.listen);
        }
        eat("|peers|");
        for p in &self.peers {
            eat(&p.fail_key);
            eat(&p.upstream);
        }
        h
    }
}

fn server_labels(server: &Server) -> ServerLabels {
    ServerLabels {
        server: server.primary_name(),
        listen: server
            .listen
            .first()
            .map(|l| l.addr.to_string())
            .unwrap_or_default(),
    }
}

fn walk(locations: &[crate::config::model::Location], f: &mut dyn FnMut(&LocationConf)) {
    for l in locations {
        f(&l.conf);
        walk(&l.locations, f);
    }
}

/// Whether some location of `config` serves the metrics (`vestibule_metrics`): only
/// then is the zone made and are requests counted.
pub fn wanted(config: &Config) -> bool {
    let Some(http) = &config.http else {
        return false;
    };
    let mut found = false;
    for server in &http.servers {
        walk(&server.locations, &mut |conf| {
            found |= conf.vestibule_metrics
        });
    }
    found
}

/// The slot of a method name in [`METHODS`].
pub fn method_slot(method: &str) -> usize {
    METHODS
        .iter()
        .position(|m| *m == method)
        .unwrap_or(METHODS.len() - 1)
}

/// The bucket a duration falls in: the first bound at or above it, or `+Inf`'s
/// slot ([`BUCKETS`]`.len()`).
pub fn bucket_of(micros: u64) -> usize {
    BUCKETS_US
        .iter()
        .position(|&b| micros <= b)
        .unwrap_or(BUCKETS_US.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::sync::Arc;

    fn config(text: &str) -> Config {
        let opts = crate::config::build::BuildOptions::new("/tmp", false);
        let origin = Arc::new(crate::config::source::Origin::File("/t.conf".into()));
        let directives = crate::config::parser::parse(text, &origin).unwrap();
        crate::config::build::build(&directives, &opts)
            .unwrap()
            .config
    }

    #[test]
    fn labels_come_from_the_configuration() {
        let c = Catalogue::new(&config(
            "http { upstream app { server 127.0.0.1:1; server 127.0.0.1:2 down; }
              server { listen 127.0.0.1:81; server_name a.test b.test;
                location / { proxy_pass http://app; }
                location = /metrics { vestibule_metrics; }
                location /x { proxy_pass http://127.0.0.1:3; } }
              server { listen 127.0.0.1:82; location /y { proxy_pass http://127.0.0.1:3; } }
              server { listen 127.0.0.1:81; server_name a.test; } }",
        ));
        let names: Vec<(&str, &str)> = c
            .servers
            .iter()
            .map(|s| (s.server.as_str(), s.listen.as_str()))
            .collect();
        assert_eq!(names, [("a.test", "127.0.0.1:81"), ("", "127.0.0.1:82")]);
        assert_eq!(c.server_of_block, [0, 1, 0]);
        let peers: Vec<(&str, &str, bool)> = c
            .peers
            .iter()
            .map(|p| (p.upstream.as_str(), p.server.as_str(), p.down))
            .collect();
        assert_eq!(
            peers,
            [
                ("app", "127.0.0.1:1", false),
                ("app", "127.0.0.1:2", true),
                ("127.0.0.1:3", "127.0.0.1:3", false)
            ]
        );
        assert_eq!(c.peer_index("upstream app|127.0.0.1:2"), Some(1));
        assert_eq!(c.peer_index("127.0.0.1:3"), Some(2));
        assert!(wanted(&config(
            "http { server { location /m { vestibule_metrics; } } }"
        )));
        assert!(!wanted(&config(
            "http { server { location /m { stub_status; } } }"
        )));
    }

    #[test]
    fn buckets_and_methods() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(5_000), 0);
        assert_eq!(bucket_of(5_001), 1);
        assert_eq!(bucket_of(10_000_001), BUCKETS.len());
        assert_eq!(method_slot("PATCH"), 5);
        assert_eq!(method_slot("PROPFIND"), 7);
        for (s, us) in BUCKETS.iter().zip(BUCKETS_US) {
            assert_eq!((s * 1e6).round() as u64, us);
        }
    }
}
