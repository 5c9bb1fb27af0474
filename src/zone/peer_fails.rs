//! The upstream fail counts, in a zone: one row per upstream server for the whole
//! server, so `max_fails` counts the failures every worker saw, as nginx's does with
//! `zone` in an `upstream` block (here the default, implicit upstreams of
//! `proxy_pass http://host:port` included).
//!
//! A row is five 64-bit words, read and written as atomics by the balancer
//! (src/proxy/balancer.rs) with no lock on the request path:
//!
//! ```text
//! key        hash of "upstream NAME|ADDR" (or "ADDR" for an implicit upstream); 0 = free
//! fails      failures counted in the current window
//! failed_at  last failure, coarse monotonic ms + 1 (0 = never)
//! checked    start of the current window, same clock (nginx's `checked`)
//! claimed    when a worker last looked the row up (the oldest is evicted when full)
//! ```
//!
//! Rows are found by open addressing on the key, claimed under the zone's lock (once
//! per server per worker per configuration; [`super::keyed`]); they never move, so a
//! row's offset stays valid for the zone's life. The clock is system-wide (`CLOCK_MONOTONIC_COARSE`),
//! the same in every worker. The zone is sized from the configuration (twice the
//! servers, at least [`MIN_ROWS`]); kept across a reload while that size holds, so a
//! server marked down stays down. A claim writes the key last, so a worker killed in
//! the middle of one leaves a free row or a complete one: nothing to repair.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::keyed::Keyed;
use super::{Spec, Zone, Zones};
use crate::config::model::{LocationConf, ProxyTarget};
use crate::config::Config;

/// The zone's name.
pub const ZONE_NAME: &str = "upstream_fails";
/// The fewest rows a table has.
pub const MIN_ROWS: usize = 64;
const ROW_BYTES: usize = 40;
const CLAIMED: usize = 32;

/// A per-server value in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Fails,
    FailedAt,
    Checked,
}

impl Field {
    /// The field's place among the three (0, 1, 2).
    pub fn index(self) -> usize {
        match self {
            Field::Fails => 0,
            Field::FailedAt => 1,
            Field::Checked => 2,
        }
    }

    fn offset(self) -> usize {
        match self {
            Field::Fails => 8,
            Field::FailedAt => 16,
            Field::Checked => 24,
        }
    }
}

/// The zone this configuration needs.
pub fn spec(config: &Config) -> Spec {
    let rows = (count_servers(config) * 2)
        .next_power_of_two()
        .max(MIN_ROWS);
    Spec {
        name: ZONE_NAME.to_owned(),
        size: rows * ROW_BYTES,
    }
}

/// Servers of every `upstream` and every address of a `proxy_pass` without one.
fn count_servers(config: &Config) -> usize {
    fn direct(conf: &LocationConf) -> usize {
        match conf.proxy.pass.as_ref().map(|p| &p.target) {
            Some(ProxyTarget::Direct(addrs)) => addrs.len(),
            _ => 0,
        }
    }
    fn walk(locations: &[crate::config::model::Location]) -> usize {
        locations
            .iter()
            .map(|l| direct(&l.conf) + walk(&l.locations))
            .sum()
    }
    let Some(http) = &config.http else {
        return 0;
    };
    let grouped: usize = http.upstreams.iter().map(|u| u.servers.len()).sum();
    let direct: usize = http
        .servers
        .iter()
        .map(|s| direct(&s.conf) + walk(&s.locations))
        .sum();
    grouped + direct
}

/// The table in a zone.
#[derive(Debug)]
pub struct PeerFails {
    table: Keyed,
    /// A row was taken over because the table was full (this process saw it).
    overflowed: AtomicBool,
    /// That has been logged (once per worker).
    overflow_told: AtomicBool,
}

/// One server's row.
#[derive(Debug, Clone)]
pub struct SharedRow {
    zone: Arc<Zone>,
    offset: usize,
}

impl SharedRow {
    pub fn get(&self, field: Field) -> u64 {
        self.zone
            .u64_at(self.offset + field.offset())
            .map_or(0, |w| w.load(Ordering::Acquire))
    }

    pub fn set(&self, field: Field, value: u64) {
        if let Some(w) = self.zone.u64_at(self.offset + field.offset()) {
            w.store(value, Ordering::Release);
        }
    }

    /// Adds one, saturating at `u64::MAX`.
    pub fn increment(&self, field: Field) {
        if let Some(w) = self.zone.u64_at(self.offset + field.offset()) {
            let _ = w.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_add(1));
        }
    }

    /// Sets `field` to `new` if it is still `current` (another worker may have moved it).
    pub fn replace(&self, field: Field, current: u64, new: u64) -> bool {
        self.zone
            .u64_at(self.offset + field.offset())
            .is_some_and(|w| {
                w.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            })
    }
}

impl PeerFails {
    pub fn new(zone: Arc<Zone>) -> PeerFails {
        PeerFails {
            table: Keyed::new(zone, ROW_BYTES, CLAIMED),
            overflowed: AtomicBool::new(false),
            overflow_told: AtomicBool::new(false),
        }
    }

    /// True once, after the table first had to take over a row: the caller logs it
    /// (the design's "full: evict the oldest and log it once").
    pub fn overflow_to_tell(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed) && !self.overflow_told.swap(true, Ordering::Relaxed)
    }

    /// The row of `key` (found, or claimed; when the table is full, the row looked up
    /// longest ago is taken over). `now_ms` marks the row as in use. `None` only if
    /// the lock cannot be taken.
    pub fn row(&self, key: &str, now_ms: u64) -> Option<SharedRow> {
        let (offset, took_over) = self.table.row(key, now_ms)?;
        if took_over {
            self.overflowed.store(true, Ordering::Relaxed);
        }
        Some(SharedRow {
            zone: Arc::clone(&self.table.zone),
            offset,
        })
    }

    /// The row of `key` if some worker has claimed one, without claiming (a scrape
    /// looks, it does not make a server known).
    pub fn find(&self, key: &str) -> Option<SharedRow> {
        let offset = self.table.find(key)?;
        Some(SharedRow {
            zone: Arc::clone(&self.table.zone),
            offset,
        })
    }
}

impl PeerFails {
    /// The fail table in `zones`, which the master hands each worker it forks (the
    /// worker passes it to its balancers: nothing global).
    pub fn in_zones(zones: &Zones) -> Option<Arc<PeerFails>> {
        zones
            .get(ZONE_NAME)
            .map(|z| Arc::new(PeerFails::new(Arc::clone(z))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn table(rows: usize) -> PeerFails {
        PeerFails::new(Arc::new(Zone::create("t", rows * ROW_BYTES).unwrap()))
    }

    #[test]
    fn a_key_keeps_its_row_and_values() {
        let t = table(8);
        let a = t.row("upstream app|127.0.0.1:1", 5).unwrap();
        a.increment(Field::Fails);
        a.set(Field::Checked, 7);
        let again = t.row("upstream app|127.0.0.1:1", 9).unwrap();
        assert_eq!(again.offset, a.offset);
        assert_eq!(again.get(Field::Fails), 1);
        assert_eq!(again.get(Field::Checked), 7);
        let b = t.row("127.0.0.1:2", 9).unwrap();
        assert_ne!(b.offset, a.offset);
        assert_eq!(b.get(Field::Fails), 0);
        assert!(b.replace(Field::Checked, 0, 3));
        assert!(!b.replace(Field::Checked, 0, 4), "moved by someone else");
    }

    #[test]
    fn a_full_table_takes_over_the_row_looked_up_longest_ago() {
        let t = table(4);
        let rows: Vec<SharedRow> = (0..4)
            .map(|i| t.row(&format!("k{i}"), 10 + i).unwrap())
            .collect();
        for r in &rows {
            r.increment(Field::Fails);
        }
        assert!(!t.overflow_to_tell(), "room for all four");
        let new = t.row("k4", 20).unwrap();
        assert_eq!(new.offset, rows[0].offset, "k0 was claimed first");
        assert!(t.overflow_to_tell(), "the take-over is told");
        assert!(!t.overflow_to_tell(), "once");
        assert_eq!(new.get(Field::Fails), 0, "fresh counts");
        assert_eq!(t.row("k1", 21).unwrap().get(Field::Fails), 1);
    }

    #[test]
    fn the_zone_is_sized_from_every_server_implicit_ones_included() {
        let opts = crate::config::build::BuildOptions::new("/tmp", false);
        let text = "http { upstream app { server 127.0.0.1:1; server 127.0.0.1:2; }
            server { listen 127.0.0.1:1; location / { proxy_pass http://app; }
              location /a { proxy_pass http://127.0.0.1:3; location /a/b { proxy_pass http://127.0.0.1:4; } } } }";
        let origin = Arc::new(crate::config::source::Origin::File("/t.conf".into()));
        let directives = crate::config::parser::parse(text, &origin).unwrap();
        let config = crate::config::build::build(&directives, &opts)
            .unwrap()
            .config;
        assert_eq!(count_servers(&config), 4);
        assert_eq!(spec(&config).size, MIN_ROWS * ROW_BYTES);
    }
}
