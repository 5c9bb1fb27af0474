//! The counters behind the Prometheus metrics (`vestibule_metrics`, docs/metrics.md),
//! in a zone every worker and the master share, so a scrape is the whole server's
//! whichever worker answers it, and survives a worker's respawn.
//!
//! ```text
//! zone "metrics:<fingerprint>"   one row per worker slot, then the master's row
//!   worker row: per server block  requests[class × method]  duration buckets + sum
//!                                 bytes in, bytes out
//!               per upstream server  requests, failures, retries, buckets + sum
//!               TLS handshakes: full, resumed, failed          (padded to 64 bytes)
//!   master row: reloads ok, reloads failed, generation, load time, worker restarts
//! ```
//!
//! A worker adds to its own row only, with relaxed atomic adds (five per request,
//! four per upstream attempt: no lock); a scrape sums the rows. Counters only grow,
//! so a row needs no repair when its worker dies. The labels come from the
//! configuration ([`catalogue`]), whose fingerprint names the zone: a reload that
//! changes a label makes a new zone (and so a new generation of workers, as any new
//! zone does), and one that keeps them keeps the counters. The zone is made only
//! when some location has `vestibule_metrics`; otherwise nothing is counted.

pub mod catalogue;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use super::{Spec, Zone, Zones};
use crate::config::Config;
use catalogue::{bucket_of, Catalogue, BUCKETS, CLASSES, METHODS};

/// The start of every metrics zone's name; the fingerprint follows.
pub const ZONE_PREFIX: &str = "metrics:";

const HISTOGRAM_WORDS: usize = BUCKETS.len() + 2;
const REQUEST_WORDS: usize = CLASSES.len() * METHODS.len();
/// A server block's words: requests, the duration histogram, bytes in and out.
const SERVER_WORDS: usize = REQUEST_WORDS + HISTOGRAM_WORDS + 2;
/// An upstream server's words: requests, failures, retries, the response histogram.
const PEER_WORDS: usize = 3 + HISTOGRAM_WORDS;
/// TLS handshakes: full, resumed, failed.
const TLS_WORDS: usize = 3;
const MASTER_WORDS: usize = 8;
/// Rows are padded to a cache line, so workers do not share one.
const LINE_WORDS: usize = 8;

/// Where things are in a zone of one catalogue and worker count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    servers: usize,
    peers: usize,
    rows: usize,
}

impl Layout {
    fn new(catalogue: &Catalogue, workers: usize) -> Layout {
        Layout {
            servers: catalogue.servers.len(),
            peers: catalogue.peers.len(),
            rows: workers.max(1),
        }
    }

    fn row_words(&self) -> usize {
        let words = self.servers * SERVER_WORDS + self.peers * PEER_WORDS + TLS_WORDS;
        words.div_ceil(LINE_WORDS) * LINE_WORDS
    }

    fn bytes(&self) -> usize {
        (self.rows * self.row_words() + MASTER_WORDS) * 8
    }

    /// Byte offsets inside a row.
    fn server(&self, s: usize) -> usize {
        s * SERVER_WORDS * 8
    }

    fn peer(&self, p: usize) -> usize {
        (self.servers * SERVER_WORDS + p * PEER_WORDS) * 8
    }

    fn tls(&self) -> usize {
        (self.servers * SERVER_WORDS + self.peers * PEER_WORDS) * 8
    }

    fn row(&self, slot: usize) -> usize {
        (slot % self.rows) * self.row_words() * 8
    }

    fn master(&self) -> usize {
        self.rows * self.row_words() * 8
    }
}

/// The labels and layout of `config`'s zone, if it serves metrics.
fn plan(config: &Config, workers: usize) -> Option<(Spec, Catalogue, Layout)> {
    if !catalogue::wanted(config) {
        return None;
    }
    let catalogue = Catalogue::new(config);
    let layout = Layout::new(&catalogue, workers);
    let spec = Spec {
        name: format!("{ZONE_PREFIX}{:016x}", catalogue.fingerprint()),
        size: layout.bytes(),
    };
    Some((spec, catalogue, layout))
}

/// The zone `config` needs, if it serves metrics.
pub fn spec(config: &Config, workers: usize) -> Option<Spec> {
    plan(config, workers).map(|(spec, _, _)| spec)
}

/// `config`'s zone among `zones`, with its labels and layout.
fn find<'z>(
    zones: &'z Zones,
    config: &Config,
    workers: usize,
) -> Option<(&'z Arc<Zone>, Catalogue, Layout)> {
    let (spec, catalogue, layout) = plan(config, workers)?;
    let zone = zones.get(&spec.name)?;
    (zone.size() == spec.size).then_some((zone, catalogue, layout))
}

/// A worker's zone, row and labels, set once after the fork.
#[derive(Debug)]
struct Attached {
    zone: Arc<Zone>,
    row: usize,
    layout: Layout,
    catalogue: Catalogue,
}

static ATTACHED: OnceLock<Attached> = OnceLock::new();

/// Attaches this process (a worker in `slot`, after the fork) to its row. Its
/// configuration may change in place later only while the zone stays, that is while
/// every label stays: the catalogue taken here holds for the worker's life.
pub fn attach(zones: &Zones, config: &Config, workers: usize, slot: usize) {
    if let Some((zone, catalogue, layout)) = find(zones, config, workers) {
        // The duration histograms have millisecond buckets: the coarse clock's 4 ms
        // ticks would blur them.
        crate::config::template::note_durations_read();
        let _ = ATTACHED.set(Attached {
            zone: Arc::clone(zone),
            row: layout.row(slot),
            layout,
            catalogue,
        });
    }
}

/// Whether this process counts (a worker whose configuration serves metrics).
pub fn enabled() -> bool {
    ATTACHED.get().is_some()
}

fn add(a: &Attached, offset: usize, delta: u64) {
    if let Some(w) = a.zone.u64_at(a.row + offset) {
        w.fetch_add(delta, Ordering::Relaxed);
    }
}

fn observe(a: &Attached, histogram: usize, micros: u64) {
    add(a, histogram + bucket_of(micros) * 8, 1);
    add(a, histogram + BUCKETS.len() * 8 + 8, micros);
}

/// A request ended with `status` (a request with none is not counted): counted for
/// the server block `block` (`HttpConfig::servers` index) and `method`'s slot in
/// [`METHODS`].
pub fn request_done(
    block: usize,
    status: u16,
    method: usize,
    micros: u64,
    bytes_in: u64,
    bytes_out: u64,
) {
    let Some(a) = ATTACHED.get() else {
        return;
    };
    let Some(&server) = a.catalogue.server_of_block.get(block) else {
        return;
    };
    let class = usize::from(status / 100);
    if !(1..=CLASSES.len()).contains(&class) || method >= METHODS.len() {
        return;
    }
    let base = a.layout.server(server);
    add(a, base + ((class - 1) * METHODS.len() + method) * 8, 1);
    let histogram = base + REQUEST_WORDS * 8;
    observe(a, histogram, micros);
    let bytes = histogram + HISTOGRAM_WORDS * 8;
    add(a, bytes, bytes_in);
    add(a, bytes + 8, bytes_out);
}

/// A duration in whole microseconds, without the 128-bit division of
/// `Duration::as_micros` (on every request).
pub fn micros(d: std::time::Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(d.subsec_micros()))
}

/// The catalogue index of the upstream server whose `upstream_fails` key is `key`
/// (none for a server a request named, `proxy_pass` with variables).
pub fn peer_index(key: &str) -> Option<usize> {
    ATTACHED.get()?.catalogue.peer_index(key)
}

/// One attempt to reach upstream server `peer`: a retry when another server was
/// tried before it for the same request; failed as `max_fails` counts failures.
pub fn upstream_attempt(peer: usize, retry: bool, failed: bool, micros: u64) {
    let Some(a) = ATTACHED.get() else {
        return;
    };
    if peer >= a.layout.peers {
        return;
    }
    let base = a.layout.peer(peer);
    add(a, base, 1);
    if failed {
        add(a, base + 8, 1);
    }
    if retry {
        add(a, base + 16, 1);
    }
    observe(a, base + 24, micros);
}

/// How a TLS handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    Full = 0,
    Resumed = 1,
    Failed = 2,
}

pub fn tls_handshake(kind: Handshake) {
    if let Some(a) = ATTACHED.get() {
        add(a, a.layout.tls() + kind as usize * 8, 1);
    }
}

/// What the master knows, in its row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MasterFigures {
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// The configuration's generation: 1 at start, one more per applied reload.
    pub generation: u64,
    /// When the configuration in force was loaded, Unix milliseconds.
    pub loaded_at_ms: u64,
    /// Workers that died and were started again in their slot.
    pub restarts: u64,
}

/// The master writes its figures into the zone of `config` (made before it forks,
/// and again after a reload that made a new zone).
pub fn publish_master(zones: &Zones, config: &Config, workers: usize, f: &MasterFigures) {
    let Some((zone, _, layout)) = find(zones, config, workers) else {
        return;
    };
    let at = layout.master();
    let words = [
        f.reloads_ok,
        f.reloads_failed,
        f.generation,
        f.loaded_at_ms,
        f.restarts,
    ];
    for (i, v) in words.into_iter().enumerate() {
        if let Some(w) = zone.u64_at(at + i * 8) {
            w.store(v, Ordering::Relaxed);
        }
    }
}

/// A histogram summed over the workers: per bucket (not cumulative, `+Inf` last),
/// and the sum of the observations in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: [u64; BUCKETS.len() + 1],
    pub sum_us: u64,
}

impl Histogram {
    pub fn count(&self) -> u64 {
        self.buckets.iter().fold(0, |a, b| a.wrapping_add(*b))
    }
}

/// One server block's sums.
#[derive(Debug, Clone, Default)]
pub struct ServerSums {
    /// By class then method: `[class][method]`.
    pub requests: [[u64; METHODS.len()]; CLASSES.len()],
    pub duration: Histogram,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// One upstream server's sums.
#[derive(Debug, Clone, Default)]
pub struct PeerSums {
    pub requests: u64,
    pub failures: u64,
    pub retries: u64,
    pub response: Histogram,
}

/// Every row summed: what a scrape reports (with the labels to print them with).
#[derive(Debug, Clone)]
pub struct Sums<'a> {
    pub catalogue: &'a Catalogue,
    pub servers: Vec<ServerSums>,
    pub peers: Vec<PeerSums>,
    /// Full, resumed, failed.
    pub tls: [u64; TLS_WORDS],
    pub master: MasterFigures,
}

/// The sums over every worker's row, in a worker that counts.
pub fn sums() -> Option<Sums<'static>> {
    let a = ATTACHED.get()?;
    let l = a.layout;
    let word = |offset: usize| -> u64 {
        (0..l.rows)
            .filter_map(|r| a.zone.u64_at(l.row(r) + offset))
            .fold(0u64, |s, w| s.wrapping_add(w.load(Ordering::Relaxed)))
    };
    let histogram = |at: usize| Histogram {
        buckets: std::array::from_fn(|b| word(at + b * 8)),
        sum_us: word(at + BUCKETS.len() * 8 + 8),
    };
    let servers = (0..l.servers)
        .map(|s| {
            let base = l.server(s);
            let bytes = base + (REQUEST_WORDS + HISTOGRAM_WORDS) * 8;
            ServerSums {
                requests: std::array::from_fn(|c| {
                    std::array::from_fn(|m| word(base + (c * METHODS.len() + m) * 8))
                }),
                duration: histogram(base + REQUEST_WORDS * 8),
                bytes_in: word(bytes),
                bytes_out: word(bytes + 8),
            }
        })
        .collect();
    let peers = (0..l.peers)
        .map(|p| {
            let base = l.peer(p);
            PeerSums {
                requests: word(base),
                failures: word(base + 8),
                retries: word(base + 16),
                response: histogram(base + 24),
            }
        })
        .collect();
    let master_word = |i: usize| {
        a.zone
            .u64_at(l.master() + i * 8)
            .map_or(0, |w| w.load(Ordering::Relaxed))
    };
    Some(Sums {
        catalogue: &a.catalogue,
        servers,
        peers,
        tls: std::array::from_fn(|k| word(l.tls() + k * 8)),
        master: MasterFigures {
            reloads_ok: master_word(0),
            reloads_failed: master_word(1),
            generation: master_word(2),
            loaded_at_ms: master_word(3),
            restarts: master_word(4),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_keeps_rows_apart_and_fits_the_zone() {
        let l = Layout {
            servers: 2,
            peers: 3,
            rows: 2,
        };
        assert_eq!(l.row_words() % LINE_WORDS, 0);
        assert!(l.tls() + TLS_WORDS * 8 <= l.row_words() * 8);
        assert_eq!(l.row(3), l.row(1), "more slots than rows share a row");
        assert_eq!(l.master() + MASTER_WORDS * 8, l.bytes());
        assert!(l.peer(0) >= l.server(1) + SERVER_WORDS * 8);
    }
}
