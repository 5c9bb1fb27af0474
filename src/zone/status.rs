//! The connection and request counters `stub_status` reports, in a zone every worker
//! shares, so one answer is the whole server's whichever worker gives it: one padded
//! row per worker slot (a worker writes only its own row), summed when read.
//!
//! Counters (`accepts`, `handled`, `requests`) only grow and survive a worker's
//! respawn, as nginx's live in shared memory. Gauges (`active`, `reading`,
//! `writing`) go up and down; a worker that dies abnormally leaves its row's gauges
//! behind, which the master clears ([`worker_died`]), as it clears `limit_conn`'s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::{Spec, Zone, Zones};

pub const ZONE_NAME: &str = "stub_status";
/// Worker slots with a row of their own (more share rows: sums stay right).
const ROWS: usize = 64;
/// A row: six fields, padded to a cache line so workers do not share one.
const ROW_BYTES: usize = 64;

#[derive(Debug, Clone, Copy)]
enum Field {
    Accepted = 0,
    Handled = 1,
    Requests = 2,
    Active = 3,
    Reading = 4,
    Writing = 5,
}

/// The zone, always made (its size does not depend on the configuration).
pub fn spec() -> Spec {
    Spec {
        name: ZONE_NAME.to_owned(),
        size: ROWS * ROW_BYTES,
    }
}

/// This worker's zone and row, set once after the fork.
static ROW: OnceLock<(Arc<Zone>, usize)> = OnceLock::new();

/// Attaches this process to its row of the zone (a worker, after the fork).
pub fn attach(zones: &Zones, slot: usize) {
    if let Some(zone) = zones.get(ZONE_NAME) {
        let _ = ROW.set((Arc::clone(zone), (slot % ROWS) * ROW_BYTES));
    }
}

fn word(zone: &Zone, row: usize, field: Field) -> Option<&AtomicU64> {
    zone.u64_at(row + field as usize * 8)
}

/// Adds `delta` (wrapping: a gauge's decrement is the two's complement) to this
/// worker's field; nothing outside a worker.
fn add(field: Field, delta: u64) {
    if let Some((zone, row)) = ROW.get() {
        if let Some(w) = word(zone, *row, field) {
            w.fetch_add(delta, Ordering::Relaxed);
        }
    }
}

/// A connection was accepted (and is handled: vestibule drops none it accepts).
pub fn accepted() {
    add(Field::Accepted, 1);
    add(Field::Handled, 1);
    add(Field::Active, 1);
}

/// A connection ended.
pub fn closed() {
    add(Field::Active, u64::MAX);
}

/// A request began to arrive.
pub fn request_started() {
    add(Field::Requests, 1);
    add(Field::Reading, 1);
}

/// A request's head is read (or it ended before): no longer reading.
pub fn head_done() {
    add(Field::Reading, u64::MAX);
}

/// A request is being processed and answered.
pub fn writing(on: bool) {
    add(Field::Writing, if on { 1 } else { u64::MAX });
}

/// The server's figures, as `stub_status` prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub active: u64,
    pub accepted: u64,
    pub handled: u64,
    pub requests: u64,
    pub reading: u64,
    pub writing: u64,
}

impl Totals {
    /// Idle keep-alive connections: the rest of the active ones.
    pub fn waiting(&self) -> u64 {
        self.active.saturating_sub(self.reading + self.writing)
    }
}

/// The sums over every row (gauges read as signed, a row's decrement may be seen
/// before another's increment).
pub fn totals() -> Totals {
    let Some((zone, _)) = ROW.get() else {
        return Totals::default();
    };
    let sum = |field: Field| -> i64 {
        (0..ROWS)
            .filter_map(|r| word(zone, r * ROW_BYTES, field))
            .map(|w| w.load(Ordering::Relaxed) as i64)
            .fold(0i64, i64::wrapping_add)
    };
    let gauge = |field: Field| u64::try_from(sum(field)).unwrap_or(0);
    Totals {
        active: gauge(Field::Active),
        accepted: sum(Field::Accepted) as u64,
        handled: sum(Field::Handled) as u64,
        requests: sum(Field::Requests) as u64,
        reading: gauge(Field::Reading),
        writing: gauge(Field::Writing),
    }
}

/// A worker in `slot` died without ending its connections: its row's gauges are
/// cleared (its counters stay).
pub fn worker_died(zones: &Zones, slot: usize) {
    if let Some(zone) = zones.get(ZONE_NAME) {
        let row = (slot % ROWS) * ROW_BYTES;
        for field in [Field::Active, Field::Reading, Field::Writing] {
            if let Some(w) = word(zone, row, field) {
                w.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// nginx's page: `Active connections: N \nserver accepts handled requests\n A H R \n
/// Reading: R Writing: W Waiting: I \n`, spaces included.
pub fn page(t: &Totals) -> String {
    format!(
        "Active connections: {} \nserver accepts handled requests\n {} {} {} \nReading: {} Writing: {} Waiting: {} \n",
        t.active,
        t.accepted,
        t.handled,
        t.requests,
        t.reading,
        t.writing,
        t.waiting()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_nginx_s() {
        let t = Totals {
            active: 3,
            accepted: 10,
            handled: 10,
            requests: 25,
            reading: 0,
            writing: 1,
        };
        assert_eq!(
            page(&t),
            "Active connections: 3 \nserver accepts handled requests\n 10 10 25 \nReading: 0 Writing: 1 Waiting: 2 \n"
        );
    }
}
