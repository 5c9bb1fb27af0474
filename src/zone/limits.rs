//! The tables of `limit_req_zone` and `limit_conn_zone`: one zone each, made by the
//! master, so a limit holds for every worker together, as nginx's.
//!
//! Both are hash tables of fixed rows, keyed by the 64-bit FNV-1a hash of the
//! expanded key (`$binary_remote_addr`, say: nginx keeps the key's bytes and
//! compares them; two keys with the same 64-bit hash would share a row here). A key
//! lives in one of [`WINDOW`] consecutive rows from `hash % rows`; every access holds
//! the zone's lock and scans the window, so a row can be freed anywhere without
//! tombstones. Words are read and written as atomics under the lock.
//!
//! ```text
//! limit_req row  (32 bytes): key | excess (thousandths) | last (ms) | unused
//! limit_conn row (40 bytes): key | four words of four u16 counts, one per worker column
//! ```
//!
//! - **limit_req**: nginx's leaky bucket (`ngx_http_limit_req_lookup`): the excess
//!   drains at `rate` and grows by 1000 per request; beyond `burst` the request is
//!   refused and the row is left alone. A new key takes a free row in its window, or
//!   one whose bucket has drained and that was last used 60 s ago or more (nginx's
//!   expiry: such a row is the same as no row), or else the row used longest ago (a
//!   full zone, which each worker logs once; nginx then also frees its oldest).
//! - **limit_conn**: counts per key, one column per worker slot (a worker writes only
//!   its own). A row whose counts all reach 0 is freed, as nginx deletes the node.
//!   When a worker dies without ending its requests (killed, crashed) the master
//!   clears its column ([`ConnTable::clear_column`]) before starting the replacement,
//!   so its counts do not stay forever (nginx's do, until a restart). More than
//!   [`COLUMNS`] workers share columns (slot % 16), and a draining worker of an older
//!   generation shares its slot's column with the new one: clearing a column then
//!   also forgets the other's requests, which can let a few more in, never fewer.
//!   With no free row in its window a new key is refused, as nginx's limit_conn
//!   refuses when the zone has no memory left.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::{Zone, Zones};

/// Rows a key may live in.
pub const WINDOW: usize = 8;
/// How long a drained `limit_req` row is kept (nginx: 60 s).
const EXPIRE_MS: u64 = 60_000;
/// Counts per `limit_conn` row.
pub const COLUMNS: usize = 16;

const REQ_ROW: usize = 32;
const CONN_ROW: usize = 40;

/// FNV-1a, 64 bits (never 0: 0 marks a free row); stable across processes.
pub fn key_hash(bytes: &[u8]) -> u64 {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    h.max(1)
}

/// The window of rows of `hash` in a table of `rows`.
fn window(hash: u64, rows: usize) -> impl Iterator<Item = usize> {
    let start = usize::try_from(hash % rows.max(1) as u64).unwrap_or(0);
    (0..WINDOW.min(rows)).map(move |i| (start + i) % rows)
}

/// What a `limit_req` lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Within the burst; the excess (thousandths) the request leaves.
    Pass(u64),
    /// Beyond the burst: the excess it would have had.
    Busy(u64),
}

/// The leaky buckets of one `limit_req_zone`.
#[derive(Debug)]
pub struct ReqTable {
    zone: Arc<Zone>,
    rows: usize,
    full: AtomicBool,
    full_told: AtomicBool,
}

/// The excess after `ms` of draining at `rate` (per 1000 s), plus this request.
fn drained(excess: u64, rate: u64, ms: u64) -> u64 {
    let drain = rate.saturating_mul(ms) / 1000;
    (excess.saturating_add(1000)).saturating_sub(drain)
}

/// Milliseconds since `last` as nginx counts them (a clock step back counts as none).
fn since(now: u64, last: u64) -> u64 {
    now.saturating_sub(last)
}

impl ReqTable {
    pub fn new(zone: Arc<Zone>) -> ReqTable {
        let rows = zone.size() / REQ_ROW;
        ReqTable {
            zone,
            rows,
            full: AtomicBool::new(false),
            full_told: AtomicBool::new(false),
        }
    }

    fn word(&self, row: usize, i: usize) -> u64 {
        self.zone
            .u64_at(row * REQ_ROW + i * 8)
            .map_or(0, |w| w.load(Ordering::Acquire))
    }

    fn set(&self, row: usize, i: usize, v: u64) {
        if let Some(w) = self.zone.u64_at(row * REQ_ROW + i * 8) {
            w.store(v, Ordering::Release);
        }
    }

    /// nginx's lookup for a request with key `hash` at `now` ms: `account` stores the
    /// new excess (the last limit of a location; the others are stored by
    /// [`ReqTable::account`] once every limit passed). `None`: the lock failed.
    /// A full window drops its row used longest ago, which is logged once
    /// ([`ReqTable::full_to_tell`]).
    pub fn lookup(
        &self,
        hash: u64,
        now: u64,
        rate: u64,
        burst: u64,
        account: bool,
    ) -> Option<Lookup> {
        if self.rows == 0 {
            return None;
        }
        // A holder that died mid-update (`recovered`) leaves at worst one key's
        // bucket off: nothing to repair.
        let guard = self.zone.lock().ok()?;
        let mut free = None;
        let mut oldest: Option<(u64, usize)> = None;
        for row in window(hash, self.rows) {
            let key = self.word(row, 0);
            if key == hash {
                let last = self.word(row, 2);
                let ms = since(now, last);
                let excess = drained(self.word(row, 1), rate, ms);
                if excess > burst {
                    return Some(Lookup::Busy(excess));
                }
                if account {
                    self.set(row, 1, excess);
                    if ms != 0 {
                        self.set(row, 2, now);
                    }
                }
                return Some(Lookup::Pass(excess));
            }
            if key == 0 {
                free = free.or(Some(row));
                continue;
            }
            let last = self.word(row, 2);
            let ms = since(now, last);
            let gone = ms >= EXPIRE_MS && rate.saturating_mul(ms) / 1000 >= self.word(row, 1);
            if gone {
                free = free.or(Some(row));
            } else if oldest.map_or(true, |(at, _)| last < at) {
                oldest = Some((last, row));
            }
        }
        let row = match (free, oldest) {
            (Some(row), _) => row,
            (None, Some((_, row))) => {
                self.full.store(true, Ordering::Relaxed);
                row
            }
            (None, None) => return None,
        };
        self.set(row, 0, 0);
        self.set(row, 1, 0);
        // nginx: a node made by a limit that does not account starts at 0, so its
        // account drains everything.
        self.set(row, 2, if account { now } else { 0 });
        self.set(row, 0, hash);
        drop(guard);
        Some(Lookup::Pass(0))
    }

    /// Stores the request in the bucket of `hash` once every limit passed (nginx's
    /// `ngx_http_limit_req_account`); returns the excess it leaves.
    pub fn account(&self, hash: u64, now: u64, rate: u64) -> Option<u64> {
        let _guard = self.zone.lock().ok()?;
        let row = window(hash, self.rows).find(|&r| self.word(r, 0) == hash)?;
        let last = self.word(row, 2);
        let ms = since(now, last);
        let excess = drained(self.word(row, 1), rate, ms);
        if ms != 0 {
            self.set(row, 2, now);
        }
        self.set(row, 1, excess);
        Some(excess)
    }

    /// True once per process after a full zone dropped a live row.
    pub fn full_to_tell(&self) -> bool {
        self.full.load(Ordering::Relaxed) && !self.full_told.swap(true, Ordering::Relaxed)
    }

    pub fn name(&self) -> &str {
        self.zone.name()
    }
}

/// This worker's `limit_conn` column (its slot), set once after the fork.
static COLUMN: AtomicUsize = AtomicUsize::new(0);

/// Sets this process's `limit_conn` column from its worker slot.
pub fn set_column(slot: usize) {
    COLUMN.store(slot % COLUMNS, Ordering::Relaxed);
}

fn column() -> usize {
    COLUMN.load(Ordering::Relaxed)
}

/// The connection counts of one `limit_conn_zone`.
#[derive(Debug)]
pub struct ConnTable {
    zone: Arc<Zone>,
    rows: usize,
    full_told: AtomicBool,
}

/// What `limit_conn` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// Counted; release it when the request ends.
    Yes,
    /// At the limit already.
    Busy,
    /// No room for a new key (the zone is full).
    Full,
}

impl ConnTable {
    pub fn new(zone: Arc<Zone>) -> ConnTable {
        let rows = zone.size() / CONN_ROW;
        ConnTable {
            zone,
            rows,
            full_told: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &str {
        self.zone.name()
    }

    fn key(&self, row: usize) -> u64 {
        self.zone
            .u64_at(row * CONN_ROW)
            .map_or(0, |w| w.load(Ordering::Acquire))
    }

    fn set_key(&self, row: usize, v: u64) {
        if let Some(w) = self.zone.u64_at(row * CONN_ROW) {
            w.store(v, Ordering::Release);
        }
    }

    /// The count word of `column` and the bit shift of its u16 inside.
    fn count_word(
        &self,
        row: usize,
        column: usize,
    ) -> Option<(&std::sync::atomic::AtomicU64, u32)> {
        let w = self.zone.u64_at(row * CONN_ROW + 8 + (column / 4) * 8)?;
        Some((w, ((column % 4) * 16) as u32))
    }

    fn count(&self, row: usize, column: usize) -> u64 {
        self.count_word(row, column).map_or(0, |(w, shift)| {
            (w.load(Ordering::Acquire) >> shift) & 0xffff
        })
    }

    fn add(&self, row: usize, column: usize, up: bool) {
        if let Some((w, shift)) = self.count_word(row, column) {
            let v = w.load(Ordering::Acquire);
            let n = (v >> shift) & 0xffff;
            let n = if up {
                (n + 1).min(0xffff)
            } else {
                n.saturating_sub(1)
            };
            w.store((v & !(0xffff << shift)) | (n << shift), Ordering::Release);
        }
    }

    fn total(&self, row: usize) -> u64 {
        (0..COLUMNS).map(|c| self.count(row, c)).sum()
    }

    fn clear_row(&self, row: usize) {
        for i in 0..4 {
            if let Some(w) = self.zone.u64_at(row * CONN_ROW + 8 + i * 8) {
                w.store(0, Ordering::Release);
            }
        }
        self.set_key(row, 0);
    }

    /// Counts one more request for `hash` unless `max` are already counted.
    pub fn acquire(&self, hash: u64, max: u32) -> Option<Acquired> {
        if self.rows == 0 {
            return None;
        }
        let _guard = self.zone.lock().ok()?;
        let mut free = None;
        for row in window(hash, self.rows) {
            let key = self.key(row);
            if key == hash {
                if self.total(row) >= u64::from(max) {
                    return Some(Acquired::Busy);
                }
                self.add(row, column(), true);
                return Some(Acquired::Yes);
            }
            if key == 0 && free.is_none() {
                free = Some(row);
            }
        }
        let Some(row) = free else {
            return Some(Acquired::Full);
        };
        self.clear_row(row);
        self.add(row, column(), true);
        self.set_key(row, hash);
        Some(Acquired::Yes)
    }

    /// Counts one request of `hash` less (this worker's column); frees the row at 0.
    pub fn release(&self, hash: u64) {
        let Ok(_guard) = self.zone.lock() else {
            return;
        };
        if let Some(row) = window(hash, self.rows).find(|&r| self.key(r) == hash) {
            self.add(row, column(), false);
            if self.total(row) == 0 {
                self.set_key(row, 0);
            }
        }
    }

    /// Forgets every count of a worker column (the master, after that worker died).
    pub fn clear_column(&self, slot: usize) {
        let Ok(_guard) = self.zone.lock() else {
            return;
        };
        let column = slot % COLUMNS;
        for row in 0..self.rows {
            if self.key(row) == 0 {
                continue;
            }
            if let Some((w, shift)) = self.count_word(row, column) {
                let v = w.load(Ordering::Acquire);
                w.store(v & !(0xffff << shift), Ordering::Release);
            }
            if self.total(row) == 0 {
                self.set_key(row, 0);
            }
        }
    }

    /// True once per table after a new key found no room.
    pub fn full_to_tell(&self) -> bool {
        !self.full_told.swap(true, Ordering::Relaxed)
    }

    /// The requests counted for `hash` (tests).
    pub fn counted(&self, hash: u64) -> u64 {
        let Ok(_guard) = self.zone.lock() else {
            return 0;
        };
        window(hash, self.rows)
            .find(|&r| self.key(r) == hash)
            .map_or(0, |r| self.total(r))
    }
}

/// The master's part after a worker died: clear its column in every `limit_conn`
/// zone.
pub fn worker_died(zones: &Zones, slot: usize) {
    let prefix = crate::config::model::limits::LimitKind::Conn.prefix();
    for zone in zones.iter().filter(|z| z.name().starts_with(prefix)) {
        ConnTable::new(Arc::clone(zone)).clear_column(slot);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn req(rows: usize) -> ReqTable {
        ReqTable::new(Arc::new(
            Zone::create("limit_req:t", rows * REQ_ROW).unwrap(),
        ))
    }

    #[test]
    fn the_bucket_admits_the_burst_then_one_per_period() {
        let t = req(64);
        let (rate, burst) = (10_000, 5_000);
        let h = key_hash(b"\x7f\0\0\x01");
        let admitted = (0..20)
            .filter(|_| matches!(t.lookup(h, 1000, rate, burst, true), Some(Lookup::Pass(_))))
            .count();
        assert_eq!(admitted, 6, "the first, then five of burst");
        assert_eq!(
            t.lookup(h, 1050, rate, burst, true),
            Some(Lookup::Busy(5500))
        );
        assert_eq!(
            t.lookup(h, 1100, rate, burst, true),
            Some(Lookup::Pass(5000))
        );
        assert_eq!(
            t.lookup(h, 1100, rate, burst, true),
            Some(Lookup::Busy(6000))
        );
        assert_eq!(
            t.lookup(h, 9000, rate, burst, true),
            Some(Lookup::Pass(0)),
            "drained"
        );
    }

    #[test]
    fn a_full_window_reuses_drained_rows_then_the_oldest() {
        let t = req(WINDOW);
        for i in 0..WINDOW as u64 {
            t.lookup(100 + i, 1000 + i, 1000, 0, true).unwrap();
        }
        assert!(!t.full_to_tell());
        // All live (less than 60 s): the oldest (100) goes.
        assert_eq!(t.lookup(999, 2000, 1000, 0, true), Some(Lookup::Pass(0)));
        assert_eq!(
            t.lookup(100, 2000, 1000, 0, true),
            Some(Lookup::Pass(0)),
            "a new row"
        );
        assert_eq!(
            t.lookup(101, 2000, 1000, 5000, true),
            Some(Lookup::Pass(0)),
            "101 was dropped in turn"
        );
    }

    #[test]
    fn conn_counts_per_key_and_a_dead_workers_column_is_cleared() {
        let zone = Arc::new(Zone::create("limit_conn:t", 64 * CONN_ROW).unwrap());
        let t = ConnTable::new(Arc::clone(&zone));
        let h = key_hash(b"a");
        assert_eq!(t.acquire(h, 2), Some(Acquired::Yes));
        assert_eq!(t.acquire(h, 2), Some(Acquired::Yes));
        assert_eq!(t.acquire(h, 2), Some(Acquired::Busy));
        t.release(h);
        assert_eq!(t.counted(h), 1);
        assert_eq!(t.acquire(h, 2), Some(Acquired::Yes));
        let mut zones = Zones::default();
        zones.zones.push(zone);
        worker_died(&zones, column());
        assert_eq!(t.counted(h), 0, "the column is cleared");
        t.release(h);
        assert_eq!(t.counted(h), 0, "a late release does not go below 0");
        assert_eq!(t.acquire(h, 1), Some(Acquired::Yes));
    }
}
