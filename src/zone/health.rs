//! Upstream servers' health as the active probes see it, in a zone every worker
//! shares: the worker that probes (slot 0, [`crate::worker::health`]) writes a row per
//! checked server, and every balancer reads it before it picks a server.
//!
//! A row is eight 64-bit words, keyed as the fail counts are ([`super::keyed`]):
//!
//! ```text
//! key      hash of "upstream NAME|ADDR"; 0 = free
//! state    0 never probed, 1 healthy, 2 unhealthy
//! fails    consecutive failed probes
//! passes   consecutive passed probes
//! probed   last probe, coarse monotonic ms + 1
//! status   the last answer's status (0: no answer)
//! claimed  when the row was last looked up
//! ```
//!
//! The zone's size does not depend on the configuration (one table for every
//! group), so a reload never replaces it and a server's state survives reloads,
//! worker respawns and a USR2 upgrade.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use super::keyed::Keyed;
use super::{Spec, Zone, Zones};

pub const ZONE_NAME: &str = "upstream_health";
const ROWS: usize = 1024;
const ROW_BYTES: usize = 64;
const STATE: usize = 8;
const FAILS: usize = 16;
const PASSES: usize = 24;
const PROBED: usize = 32;
const STATUS: usize = 40;
const CLAIMED: usize = 48;

/// The zone, always made.
pub fn spec() -> Spec {
    Spec {
        name: ZONE_NAME.to_owned(),
        size: ROWS * ROW_BYTES,
    }
}

/// This process's view of the table, and whether it runs the probes.
static TABLE: OnceLock<(Keyed, bool)> = OnceLock::new();

/// Attaches a worker to the table after the fork; slot 0's worker probes.
pub fn attach(zones: &Zones, slot: usize) {
    if let Some(zone) = zones.get(ZONE_NAME) {
        let _ = TABLE.set((Keyed::new(Arc::clone(zone), ROW_BYTES, CLAIMED), slot == 0));
    }
}

/// Whether this worker runs the health probes.
pub fn probes_here() -> bool {
    TABLE.get().is_some_and(|(_, prober)| *prober)
}

/// A server's health as the probes last judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Healthy,
    Unhealthy,
}

/// One server's row.
#[derive(Debug, Clone)]
pub struct HealthRow {
    zone: Arc<Zone>,
    offset: usize,
}

/// A probe's effect on a server's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    BecameHealthy,
    BecameUnhealthy,
}

/// The row of `key` ("upstream NAME|ADDR"); `None` outside a worker or when the lock
/// cannot be taken.
pub fn row(key: &str) -> Option<HealthRow> {
    let (table, _) = TABLE.get()?;
    let now = stamp();
    let (offset, _) = table.row(key, now)?;
    Some(HealthRow {
        zone: Arc::clone(&table.zone),
        offset,
    })
}

/// The row of `key` if the prober has made one, without making it (a scrape looks).
pub fn find(key: &str) -> Option<HealthRow> {
    let (table, _) = TABLE.get()?;
    let offset = table.find(key)?;
    Some(HealthRow {
        zone: Arc::clone(&table.zone),
        offset,
    })
}

fn stamp() -> u64 {
    u64::try_from(crate::sys::coarse_monotonic().as_millis())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

impl HealthRow {
    /// Builds a row over a zone of its own (unit tests).
    #[cfg(test)]
    fn in_zone(zone: Arc<Zone>, key: &str) -> Option<HealthRow> {
        let (offset, _) = Keyed::new(Arc::clone(&zone), ROW_BYTES, CLAIMED).row(key, 1)?;
        Some(HealthRow { zone, offset })
    }

    fn get(&self, at: usize) -> u64 {
        self.zone
            .u64_at(self.offset + at)
            .map_or(0, |w| w.load(Ordering::Acquire))
    }

    fn set(&self, at: usize, value: u64) {
        if let Some(w) = self.zone.u64_at(self.offset + at) {
            w.store(value, Ordering::Release);
        }
    }

    pub fn health(&self) -> Health {
        match self.get(STATE) {
            1 => Health::Healthy,
            2 => Health::Unhealthy,
            _ => Health::Unknown,
        }
    }

    /// Whether a balancer may pick the server: never probed counts as healthy unless
    /// the check is `mandatory`.
    pub fn usable(&self, mandatory: bool) -> bool {
        match self.health() {
            Health::Healthy => true,
            Health::Unhealthy => false,
            Health::Unknown => !mandatory,
        }
    }

    /// The last probe's answer status (0: none).
    pub fn last_status(&self) -> u16 {
        u16::try_from(self.get(STATUS)).unwrap_or(0)
    }

    /// Records a probe: `fails` consecutive failures make a healthy server unhealthy,
    /// `passes` consecutive passes an unhealthy one healthy. A server never probed
    /// counts as healthy, unless the check is `mandatory`: then its first probe
    /// decides, as NGINX Plus's "checking" state.
    pub fn record(&self, passed: bool, status: u16, check: Counts) -> Change {
        self.set(PROBED, stamp());
        self.set(STATUS, u64::from(status));
        let before = match self.health() {
            Health::Unknown if !check.mandatory => Health::Healthy,
            h => h,
        };
        let (run, reset) = if passed {
            (PASSES, FAILS)
        } else {
            (FAILS, PASSES)
        };
        let count = self.get(run).saturating_add(1);
        self.set(run, count);
        self.set(reset, 0);
        let after = match (before, passed) {
            (Health::Unknown, true) => Health::Healthy,
            (Health::Unknown, false) => Health::Unhealthy,
            (Health::Unhealthy, true) if count >= u64::from(check.passes) => Health::Healthy,
            (Health::Healthy, false) if count >= u64::from(check.fails) => Health::Unhealthy,
            (h, _) => h,
        };
        self.set(STATE, if after == Health::Unhealthy { 2 } else { 1 });
        match (before, after) {
            (Health::Unhealthy, Health::Healthy) => Change::BecameHealthy,
            (Health::Healthy | Health::Unknown, Health::Unhealthy) => Change::BecameUnhealthy,
            _ => Change::None,
        }
    }
}

/// What [`HealthRow::record`] needs of a check.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub fails: u32,
    pub passes: u32,
    pub mandatory: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn row() -> HealthRow {
        let zone = Arc::new(Zone::create("h", ROWS * ROW_BYTES).unwrap());
        HealthRow::in_zone(zone, "upstream app|127.0.0.1:1").unwrap()
    }

    const C: Counts = Counts {
        fails: 3,
        passes: 2,
        mandatory: false,
    };

    #[test]
    fn fails_then_passes_in_a_row_flip_the_state() {
        let r = row();
        assert_eq!(r.health(), Health::Unknown);
        assert!(r.usable(false));
        assert!(!r.usable(true), "mandatory: unhealthy until probed");
        assert_eq!(r.record(false, 500, C), Change::None, "starts healthy");
        assert_eq!(
            r.record(true, 200, C),
            Change::None,
            "a pass resets the run"
        );
        assert_eq!(r.health(), Health::Healthy);
        assert_eq!(r.record(false, 0, C), Change::None);
        assert_eq!(r.record(false, 0, C), Change::None);
        assert_eq!(r.record(false, 503, C), Change::BecameUnhealthy);
        assert!(!r.usable(false));
        assert_eq!(r.last_status(), 503);
        assert_eq!(r.record(true, 200, C), Change::None);
        assert_eq!(r.record(true, 200, C), Change::BecameHealthy);
        assert!(r.usable(true));
    }

    #[test]
    fn mandatory_the_first_probe_decides() {
        let mandatory = Counts {
            mandatory: true,
            ..C
        };
        let r = row();
        assert_eq!(r.record(false, 0, mandatory), Change::BecameUnhealthy);
        assert_eq!(r.health(), Health::Unhealthy);
        let r2 = HealthRow::in_zone(Arc::clone(&r.zone), "upstream app|127.0.0.1:2").unwrap();
        assert_eq!(r2.record(true, 200, mandatory), Change::None);
        assert_eq!(r2.health(), Health::Healthy);
    }
}
