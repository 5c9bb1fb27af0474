//! The cache's index: the `keys_zone`, a table in a zone every worker maps, one
//! 64-byte row per key (nginx's `ngx_http_file_cache_node_t`, by offset). A row says
//! whether a body is on disk, until when it is fresh (Unix seconds), how big it is,
//! when it was last asked for (Unix milliseconds), how many times (`proxy_cache_min_uses`), and whether a worker is
//! fetching it now (`proxy_cache_lock`, `updating`).
//!
//! ```text
//! zone data: [ header row: stored bytes | entries | - ... ][ row ][ row ] ...
//! row:       key_lo key_hi accessed expires size lock_until uses stale
//! ```
//!
//! Every access holds the zone's lock (a handful of words each; the lock is a
//! process-shared mutex, uncontended in the common case). A key's row is found by
//! probing [`PROBES`] rows from its hash; rows never move. A key not found takes a
//! free row or, when the probed rows are all taken, the one asked for longest ago:
//! its body is then the caller's to delete ([`Lookup::evicted`]).

use std::sync::Arc;

use crate::zone::{Zone, ZoneGuard};

/// Bytes per row.
pub const ROW: usize = 64;
/// Rows looked at for one key.
const PROBES: usize = 16;

// Word offsets in a row.
const KEY_LO: usize = 0;
const KEY_HI: usize = 8;
const ACCESSED: usize = 16;
const EXPIRES: usize = 24;
const SIZE: usize = 32;
const LOCK_UNTIL: usize = 40;
const USES: usize = 48;
const STALE: usize = 56;

// The header row.
const STORED_BYTES: usize = 0;
const ENTRIES: usize = 8;

/// A key: the MD5 of the expanded `proxy_cache_key`, as nginx names its files.
pub type Key = [u8; 16];

/// What the index says of a stored body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    /// Fresh until this time (Unix seconds).
    pub expires: u64,
    pub size: u64,
    /// `stale-while-revalidate` and `stale-if-error` (seconds past `expires`).
    pub while_revalidate: u32,
    pub if_error: u32,
}

/// One lookup's answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lookup {
    pub stored: Option<Stored>,
    /// Requests for the key, this one included.
    pub uses: u64,
    /// A worker is fetching the key until this time (Unix milliseconds; 0: none).
    pub lock_until: u64,
    /// A key whose row this one took over, with its body's size: its file is to go.
    pub evicted: Option<(Key, u64)>,
}

/// The index over one cache's zone.
#[derive(Debug)]
pub struct Index {
    zone: Arc<Zone>,
    rows: usize,
}

fn words(key: &Key) -> (u64, u64) {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&key[..8]);
    hi.copy_from_slice(&key[8..]);
    // 0 marks a free row.
    (u64::from_le_bytes(lo).max(1), u64::from_le_bytes(hi))
}

fn key_of(lo: u64, hi: u64) -> Key {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&lo.to_le_bytes());
    k[8..].copy_from_slice(&hi.to_le_bytes());
    k
}

impl Index {
    pub fn new(zone: Arc<Zone>) -> Index {
        let rows = zone.size().saturating_sub(ROW) / ROW;
        Index { zone, rows }
    }

    pub fn zone_name(&self) -> &str {
        self.zone.name()
    }

    fn at(row: usize, word: usize) -> usize {
        ROW + row * ROW + word
    }

    /// The row of `key`, if it has one.
    fn find(&self, g: &ZoneGuard<'_>, key: &Key) -> Option<usize> {
        let (lo, hi) = words(key);
        let start = usize::try_from(lo % self.rows.max(1) as u64).unwrap_or(0);
        for i in 0..PROBES.min(self.rows) {
            let row = (start + i) % self.rows;
            let k = g.read_u64(Self::at(row, KEY_LO)).ok()?;
            if k == lo && g.read_u64(Self::at(row, KEY_HI)).ok()? == hi {
                return Some(row);
            }
            if k == 0 {
                return None;
            }
        }
        None
    }

    /// The row of `key`, claimed when it has none; and a key whose stored body was
    /// pushed out to make room.
    fn claim(&self, g: &ZoneGuard<'_>, key: &Key, now: u64) -> Option<(usize, Option<(Key, u64)>)> {
        if let Some(row) = self.find(g, key) {
            return Some((row, None));
        }
        let (lo, hi) = words(key);
        let start = usize::try_from(lo % self.rows.max(1) as u64).ok()?;
        let mut oldest: Option<(u64, usize)> = None;
        let mut free = None;
        for i in 0..PROBES.min(self.rows) {
            let row = (start + i) % self.rows;
            if g.read_u64(Self::at(row, KEY_LO)).ok()? == 0 {
                free = Some(row);
                break;
            }
            let accessed = g.read_u64(Self::at(row, ACCESSED)).ok()?;
            if oldest.map_or(true, |(at, _)| accessed < at) {
                oldest = Some((accessed, row));
            }
        }
        let row = free.or(oldest.map(|(_, r)| r))?;
        let mut evicted = None;
        if free.is_none() {
            let size = g.read_u64(Self::at(row, SIZE)).ok()?;
            if size > 0 {
                let old = key_of(
                    g.read_u64(Self::at(row, KEY_LO)).ok()?,
                    g.read_u64(Self::at(row, KEY_HI)).ok()?,
                );
                self.account(g, 0, size);
                evicted = Some((old, size));
            }
        } else {
            let n = g.read_u64(ENTRIES).unwrap_or(0);
            let _ = g.write_u64(ENTRIES, n + 1);
        }
        let _ = g.fill(Self::at(row, 0), ROW, 0);
        let _ = g.write_u64(Self::at(row, KEY_HI), hi);
        let _ = g.write_u64(Self::at(row, ACCESSED), now);
        let _ = g.write_u64(Self::at(row, KEY_LO), lo);
        Some((row, evicted))
    }

    /// Adds `add` and takes `sub` from the stored bytes.
    fn account(&self, g: &ZoneGuard<'_>, add: u64, sub: u64) {
        let total = g.read_u64(STORED_BYTES).unwrap_or(0);
        let _ = g.write_u64(STORED_BYTES, total.saturating_add(add).saturating_sub(sub));
    }

    fn stored_at(g: &ZoneGuard<'_>, row: usize) -> Option<Stored> {
        let size = g.read_u64(Self::at(row, SIZE)).ok()?;
        if size == 0 {
            return None;
        }
        let stale = g.read_u64(Self::at(row, STALE)).ok()?;
        Some(Stored {
            expires: g.read_u64(Self::at(row, EXPIRES)).ok()?,
            size,
            while_revalidate: stale as u32,
            if_error: (stale >> 32) as u32,
        })
    }

    /// A request for `key` at `now` (Unix milliseconds): what is stored, counted as a
    /// use.
    pub fn lookup(&self, key: &Key, now: u64) -> Lookup {
        let Ok(g) = self.zone.lock() else {
            return Lookup::default();
        };
        let Some((row, evicted)) = self.claim(&g, key, now) else {
            return Lookup::default();
        };
        let _ = g.write_u64(Self::at(row, ACCESSED), now);
        let uses = g
            .read_u64(Self::at(row, USES))
            .unwrap_or(0)
            .saturating_add(1);
        let _ = g.write_u64(Self::at(row, USES), uses);
        Lookup {
            stored: Self::stored_at(&g, row),
            uses,
            lock_until: g.read_u64(Self::at(row, LOCK_UNTIL)).unwrap_or(0),
            evicted,
        }
    }

    /// What is stored for `key`, without counting a use (the lock's waiters).
    pub fn peek(&self, key: &Key) -> Option<Stored> {
        let g = self.zone.lock().ok()?;
        let row = self.find(&g, key)?;
        Self::stored_at(&g, row)
    }

    /// Takes the fetch of `key` for `age_ms` unless another worker holds it: true
    /// when this request is to fetch.
    pub fn try_lock(&self, key: &Key, now_ms: u64, age_ms: u64) -> bool {
        let Ok(g) = self.zone.lock() else {
            return true;
        };
        let Some(row) = self.find(&g, key) else {
            return true;
        };
        let until = g.read_u64(Self::at(row, LOCK_UNTIL)).unwrap_or(0);
        if until > now_ms {
            return false;
        }
        let _ = g.write_u64(Self::at(row, LOCK_UNTIL), now_ms.saturating_add(age_ms));
        true
    }

    /// Ends a fetch of `key`.
    pub fn unlock(&self, key: &Key) {
        if let Ok(g) = self.zone.lock() {
            if let Some(row) = self.find(&g, key) {
                let _ = g.write_u64(Self::at(row, LOCK_UNTIL), 0);
            }
        }
    }

    /// Records a body stored for `key` (replacing any); returns the replaced one's
    /// size, and a key pushed out to make room.
    pub fn store(&self, key: &Key, s: Stored, now: u64) -> Option<(Key, u64)> {
        let g = self.zone.lock().ok()?;
        let (row, evicted) = self.claim(&g, key, now)?;
        let old = g.read_u64(Self::at(row, SIZE)).unwrap_or(0);
        self.account(&g, s.size, old);
        let _ = g.write_u64(Self::at(row, EXPIRES), s.expires);
        let _ = g.write_u64(Self::at(row, SIZE), s.size);
        let stale = u64::from(s.while_revalidate) | (u64::from(s.if_error) << 32);
        let _ = g.write_u64(Self::at(row, STALE), stale);
        let _ = g.write_u64(Self::at(row, LOCK_UNTIL), 0);
        evicted
    }

    /// A freshness change only (`proxy_cache_revalidate`'s 304).
    pub fn refresh(&self, key: &Key, expires: u64) {
        if let Ok(g) = self.zone.lock() {
            if let Some(row) = self.find(&g, key) {
                let _ = g.write_u64(Self::at(row, EXPIRES), expires);
                let _ = g.write_u64(Self::at(row, LOCK_UNTIL), 0);
            }
        }
    }

    /// Forgets the body of `key` (its file is the caller's to delete); true when one
    /// was stored. `if_accessed_before`: only when not asked for since then.
    pub fn remove(&self, key: &Key, if_accessed_before: Option<u64>) -> bool {
        let Ok(g) = self.zone.lock() else {
            return false;
        };
        let Some(row) = self.find(&g, key) else {
            return false;
        };
        if let Some(t) = if_accessed_before {
            if g.read_u64(Self::at(row, ACCESSED)).unwrap_or(0) >= t {
                return false;
            }
        }
        let size = g.read_u64(Self::at(row, SIZE)).unwrap_or(0);
        self.account(&g, 0, size);
        let _ = g.write_u64(Self::at(row, SIZE), 0);
        let _ = g.write_u64(Self::at(row, EXPIRES), 0);
        let _ = g.write_u64(Self::at(row, USES), 0);
        size > 0
    }

    /// The bytes stored now.
    pub fn stored_bytes(&self) -> u64 {
        self.zone
            .lock()
            .ok()
            .and_then(|g| g.read_u64(STORED_BYTES).ok())
            .unwrap_or(0)
    }

    /// Every stored key with when it was last asked for and its size (the manager's
    /// view), read in slices of rows so no lock is held long.
    pub fn entries(&self) -> Vec<(Key, u64, u64)> {
        let mut out = Vec::new();
        for chunk in (0..self.rows).step_by(1024) {
            let Ok(g) = self.zone.lock() else {
                break;
            };
            for row in chunk..(chunk + 1024).min(self.rows) {
                let lo = g.read_u64(Self::at(row, KEY_LO)).unwrap_or(0);
                let size = g.read_u64(Self::at(row, SIZE)).unwrap_or(0);
                if lo == 0 || size == 0 {
                    continue;
                }
                let hi = g.read_u64(Self::at(row, KEY_HI)).unwrap_or(0);
                let accessed = g.read_u64(Self::at(row, ACCESSED)).unwrap_or(0);
                out.push((key_of(lo, hi), accessed, size));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn index(rows: usize) -> Index {
        Index::new(Arc::new(
            Zone::create("cache-test", ROW * (rows + 1)).unwrap(),
        ))
    }

    fn key(n: u8) -> Key {
        [n; 16]
    }

    #[test]
    fn a_stored_body_is_found_and_counted() {
        let ix = index(64);
        assert!(ix.lookup(&key(1), 10).stored.is_none());
        let s = Stored {
            expires: 100,
            size: 4096,
            while_revalidate: 5,
            if_error: 7,
        };
        ix.store(&key(1), s, 10);
        let l = ix.lookup(&key(1), 11);
        assert_eq!(l.stored, Some(s));
        assert_eq!(l.uses, 2);
        assert_eq!(ix.stored_bytes(), 4096);
        assert!(ix.remove(&key(1), None));
        assert_eq!(ix.stored_bytes(), 0);
        assert!(ix.lookup(&key(1), 12).stored.is_none());
    }

    #[test]
    fn one_fetch_at_a_time_until_the_lock_ages() {
        let ix = index(64);
        ix.lookup(&key(2), 1);
        assert!(ix.try_lock(&key(2), 1000, 5000));
        assert!(!ix.try_lock(&key(2), 2000, 5000));
        assert!(ix.try_lock(&key(2), 6001, 5000));
        ix.unlock(&key(2));
        assert!(ix.try_lock(&key(2), 6002, 5000));
    }

    #[test]
    fn a_full_table_gives_up_the_key_asked_for_longest_ago() {
        let ix = index(4);
        for n in 1..=4u8 {
            let s = Stored {
                expires: 9,
                size: 10,
                ..Stored::default()
            };
            ix.store(&key(n), s, u64::from(n));
        }
        let l = ix.lookup(&key(9), 100);
        assert_eq!(l.evicted, Some((key(1), 10)));
        assert_eq!(ix.stored_bytes(), 30);
        assert_eq!(ix.entries().len(), 3);
    }
}
