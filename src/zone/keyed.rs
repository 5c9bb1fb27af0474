//! Tables of fixed-size rows keyed by a 64-bit hash, in a zone: the upstream fail
//! counts ([`super::peer_fails`]) and health states ([`super::health`]) are two.
//!
//! A row's first word is its key (0: free) and one other word records when a worker
//! last looked it up (`claimed`). Rows are found by open addressing on the key and
//! claimed under the zone's lock; they never move, so a row's offset stays valid for
//! the zone's life. When the table is full, the row looked up longest ago is taken
//! over. A claim clears the row and writes the key last, so a worker killed in the
//! middle of one leaves a free row or a complete one.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Zone;

/// The shape of a table in a zone.
#[derive(Debug)]
pub struct Keyed {
    pub zone: Arc<Zone>,
    pub rows: usize,
    row_bytes: usize,
    /// Where in a row the `claimed` word is.
    claimed_at: usize,
}

impl Keyed {
    pub fn new(zone: Arc<Zone>, row_bytes: usize, claimed_at: usize) -> Keyed {
        let rows = zone.size() / row_bytes;
        Keyed {
            zone,
            rows,
            row_bytes,
            claimed_at,
        }
    }

    /// The offset of `key`'s row (found, or claimed and cleared), and whether a used
    /// row had to be taken over. `now` marks the row as in use. `None` when the table
    /// has no rows or the lock cannot be taken.
    pub fn row(&self, key: &str, now: u64) -> Option<(usize, bool)> {
        if self.rows == 0 {
            return None;
        }
        let hash = fnv1a(key.as_bytes()).max(1);
        let _guard = self.zone.lock().ok()?;
        let word = |row: usize, at: usize| self.zone.u64_at(row * self.row_bytes + at);
        let start = usize::try_from(hash % self.rows as u64).unwrap_or(0);
        let mut free = None;
        let mut oldest: Option<(u64, usize)> = None;
        for i in 0..self.rows {
            let row = (start + i) % self.rows;
            let key_word = word(row, 0)?.load(Ordering::Acquire);
            if key_word == hash {
                word(row, self.claimed_at)?.store(now, Ordering::Release);
                return Some((row * self.row_bytes, false));
            }
            if key_word == 0 {
                free = Some(row);
                break;
            }
            let claimed = word(row, self.claimed_at)?.load(Ordering::Acquire);
            if oldest.map_or(true, |(at, _)| claimed < at) {
                oldest = Some((claimed, row));
            }
        }
        let took_over = free.is_none();
        let row = free.or(oldest.map(|(_, row)| row))?;
        for at in (8..self.row_bytes).step_by(8) {
            word(row, at)?.store(0, Ordering::Release);
        }
        word(row, self.claimed_at)?.store(now, Ordering::Release);
        word(row, 0)?.store(hash, Ordering::Release);
        Some((row * self.row_bytes, took_over))
    }
}

impl Keyed {
    /// The offset of `key`'s row if one was claimed, without claiming. No lock: a
    /// claim writes the key last.
    pub fn find(&self, key: &str) -> Option<usize> {
        if self.rows == 0 {
            return None;
        }
        let hash = fnv1a(key.as_bytes()).max(1);
        let start = usize::try_from(hash % self.rows as u64).unwrap_or(0);
        for i in 0..self.rows {
            let row = (start + i) % self.rows;
            let key_word = self
                .zone
                .u64_at(row * self.row_bytes)?
                .load(Ordering::Acquire);
            if key_word == hash {
                return Some(row * self.row_bytes);
            }
            if key_word == 0 {
                return None;
            }
        }
        None
    }
}

/// FNV-1a, 64 bits: stable across processes and binaries (a zone outlives a USR2).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
