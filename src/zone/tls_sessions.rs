//! The TLS session cache, in a zone: nginx's `ssl_session_cache shared:NAME:SIZE`,
//! one table every worker reads and writes, so a client that did a full handshake
//! with one worker resumes with whichever worker accepts its next connection.
//!
//! ```text
//! worker ── rustls ServerConfig.session_storage = Arc<SessionCache> ──┐
//! worker ── rustls ServerConfig.session_storage = Arc<SessionCache> ──┼─► zone "NAME"
//! master ── creates the zone (spec) before forking ───────────────────┘
//! ```
//!
//! rustls stores here (the [`StoresServerSessions`] it calls):
//! - TLS 1.2: the session under the 32-byte session id it sent (`put` after the
//!   handshake, `get` when a client offers the id again; RFC 5246 §7.4.1.2);
//! - TLS 1.3 with the ticketer off (stateful tickets): the session under a random
//!   32-byte ticket id (`put` per ticket sent), and `take` when the client offers it,
//!   so a ticket resumes once (RFC 8446 §8.1): `take` finds and removes the entry
//!   under one hold of the lock, so two workers offered the same ticket cannot both
//!   resume it. With the ticketer on, TLS 1.3 never comes here (src/zone/tickets.rs).
//!
//! What a value is: rustls's encoded `ServerSessionValue`, 72 bytes plus the SNI name
//! plus the ALPN protocol (1 + its length) plus the client's certificate chain if it
//! sent one. Measured (tests/tls_resumption.rs, `session_values_fit_the_slots`), with
//! SNI `www.example.com`: 87 bytes, 96 with ALPN `http/1.1`, the same for TLS 1.2
//! and 1.3 and for ECDSA and RSA server certificates (the server's certificate is not
//! in it); with a client certificate chain of leaf and CA, 838 bytes (ECDSA P-256) and
//! 1,631 (RSA 2048).
//!
//! Layout (all offsets from the zone's data, integers little-endian, every access
//! under the zone's lock through the byte API, [`ZoneGuard::read`]):
//!
//! ```text
//! header   64 bytes: magic, slots, never-used mark, free list, queue ends, entries, evicted
//! buckets  4 bytes per slot: the first slot of the bucket's chain (index + 1; 0 = none)
//! slots    SLOT_BYTES each:
//!   head   chain next | queue newer | queue older | continuation | expires (ms) |
//!          key hash | value length | key length | key (32) | value (first 192 bytes)
//!   more   next continuation | value (the next 252 bytes)
//!   free   next free slot
//! ```
//!
//! A session is one head slot, and as many continuation slots as its value needs
//! beyond the head's 192 bytes: a session without a client certificate fits one slot
//! (SNI names up to about 110 bytes with ALPN), one with a client certificate chain
//! takes 4 to 8. Values over [`VALUE_MAX`] (nginx's `NGX_SSL_MAX_SESSION_SIZE`, 4096)
//! are not stored, as nginx does not store them: `put` says false and the session
//! cannot be resumed from the cache.
//!
//! Capacity: [`SLOT_BYTES`] (256) plus a 4-byte bucket per slot, so 1 MiB holds 4,032
//! one-slot sessions (nginx's documentation: "about 4000"); [`capacity`] says it for
//! any size.
//!
//! Expiry and eviction, as nginx's `ngx_ssl_new_session`/`ngx_ssl_expire_sessions`:
//! each entry stores when it expires (`ssl_session_timeout` from when it was put; the
//! timeout is per [`SessionCache`] handle, so server blocks with different timeouts
//! can share one zone as they can in nginx). Entries sit in one queue in the order
//! they were put (newest first). Every `put` first removes up to two expired entries
//! from the old end; if there is still not room for the new value, it removes the
//! oldest entries, expired or not, until there is. That is FIFO by insertion rather
//! than least recently used, as nginx's (a `get` does not move an entry): with one
//! timeout the oldest entry is also the first to expire. An expired entry that is
//! looked up is removed then. Evicting one that had not expired means the zone is
//! too small for the traffic: the worker logs it once ([`SessionCache::full_to_tell`]).
//!
//! Time is `CLOCK_MONOTONIC_COARSE` in milliseconds, the same in every process (and
//! across a USR2 upgrade on the same boot).
//!
//! The table needs no set-up: a zone's data starts zeroed, and the first locked
//! access that finds no magic (a new zone, or one a binary with another layout made)
//! clears the table and writes it. A lock recovered from a holder that died
//! ([`ZoneGuard::recovered`]) clears the table too: the dead holder may have left a
//! chain half-linked, and a cache can always be emptied (clients do a full
//! handshake). Lock holds are bounded: a lookup walks one bucket chain (one slot on
//! average: as many buckets as slots) and copies at most 4 KiB; a `put` evicts at
//! most as many entries as the slots it needs (17 at most); a clear writes the
//! header and the buckets (4 bytes a slot). Measured uncontended (release build): a
//! `put` of a one-slot session about 0.1 µs, evicting or not, and a `get` as much,
//! against the hundreds of microseconds of the full handshake a hit saves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::server::StoresServerSessions;

use super::{OutOfBounds, Spec, Zone, ZoneError, ZoneGuard, Zones};

/// nginx's default `ssl_session_timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest key: a TLS 1.2 session id (RFC 5246 §7.4.1.2) or rustls's TLS 1.3
/// stateful ticket id are at most 32 bytes.
pub const KEY_MAX: usize = 32;
/// The largest value stored; larger sessions are not cached (nginx's
/// `NGX_SSL_MAX_SESSION_SIZE`).
pub const VALUE_MAX: usize = 4096;
/// One slot: a session without a client certificate fits in one.
pub const SLOT_BYTES: usize = 256;
/// The smallest zone `spec` accepts: the header and 31 slots.
pub const MIN_SIZE: usize = 8192;

const HEADER_BYTES: usize = 64;
const BUCKET_BYTES: usize = 4;
/// The magic and layout version; a zone without it is cleared before use.
const MAGIC: u64 = u64::from_le_bytes(*b"VTLSSC\x01\x00");

// Header fields.
const H_MAGIC: usize = 0;
const H_SLOTS: usize = 8;
/// Slots at or past this index have never been used (they are free).
const H_UNUSED: usize = 12;
const H_FREE: usize = 16;
const H_FREE_COUNT: usize = 20;
const H_NEWEST: usize = 24;
const H_OLDEST: usize = 28;
const H_ENTRIES: usize = 32;
const H_EVICTED: usize = 40;

// A head slot's fields.
const S_CHAIN: usize = 0;
const S_NEWER: usize = 4;
const S_OLDER: usize = 8;
const S_MORE: usize = 12;
const S_EXPIRES: usize = 16;
const S_HASH: usize = 24;
const S_VALUE_LEN: usize = 28;
const S_KEY_LEN: usize = 30;
const S_KEY: usize = 32;
const S_VALUE: usize = S_KEY + KEY_MAX;
const HEAD_VALUE: usize = SLOT_BYTES - S_VALUE;
// A continuation slot's (and a free slot's) fields.
const C_NEXT: usize = 0;
const C_VALUE: usize = 4;
const MORE_VALUE: usize = SLOT_BYTES - C_VALUE;

const _: () = assert!(HEAD_VALUE == 192 && MORE_VALUE == 252);

/// How many sessions of one slot a zone of `size` bytes holds.
pub fn capacity(size: usize) -> usize {
    Layout::for_size(size).slots
}

/// The zone of `ssl_session_cache shared:NAME:SIZE`. The name is the zone's, as in
/// nginx, where every shared zone's name is in one namespace.
pub fn spec(name: &str, size: usize) -> Result<Spec, SessionCacheError> {
    if size < MIN_SIZE {
        return Err(SessionCacheError::TooSmall {
            name: name.to_owned(),
            size,
        });
    }
    Ok(Spec {
        name: name.to_owned(),
        size,
    })
}

/// What is wrong with a session cache's configuration.
#[derive(Debug, thiserror::Error)]
pub enum SessionCacheError {
    #[error(
        "the \"{name}\" zone of ssl_session_cache is too small: {size} bytes, at least {MIN_SIZE} (8k)"
    )]
    TooSmall { name: String, size: usize },
}

/// Where things are in a zone of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    slots: usize,
    buckets_at: usize,
    slots_at: usize,
}

impl Layout {
    fn for_size(size: usize) -> Layout {
        let slots = (size.saturating_sub(HEADER_BYTES) / (SLOT_BYTES + BUCKET_BYTES))
            .min(u32::MAX as usize - 1);
        let buckets_at = HEADER_BYTES;
        // Slots start 8-aligned (nothing needs it; it keeps a dump readable).
        let slots_at = (buckets_at + slots * BUCKET_BYTES).next_multiple_of(8);
        Layout {
            slots,
            buckets_at,
            slots_at,
        }
    }

    fn slot(&self, index: usize) -> usize {
        self.slots_at + index * SLOT_BYTES
    }

    fn bucket(&self, hash: u32) -> usize {
        self.buckets_at + (hash as usize % self.slots.max(1)) * BUCKET_BYTES
    }
}

/// Counts read from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Sessions stored.
    pub entries: u32,
    /// Slots in the zone.
    pub slots: u32,
    /// Slots free (never used or freed).
    pub free: u32,
    /// Sessions removed before they expired to make room, since the table was last
    /// cleared.
    pub evicted: u64,
}

/// The cache in one zone, as a worker's rustls `ServerConfig` uses it.
#[derive(Debug)]
pub struct SessionCache {
    zone: Arc<Zone>,
    layout: Layout,
    timeout_ms: u64,
    /// This process removed a session that had not expired to make room.
    overflowed: AtomicBool,
    /// That has been logged (once per worker).
    overflow_told: AtomicBool,
}

impl SessionCache {
    /// The cache in `zone`, storing sessions for `timeout` (`ssl_session_timeout`).
    pub fn new(zone: Arc<Zone>, timeout: Duration) -> SessionCache {
        let layout = Layout::for_size(zone.size());
        SessionCache {
            zone,
            layout,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            overflowed: AtomicBool::new(false),
            overflow_told: AtomicBool::new(false),
        }
    }

    /// The cache in the zone named `name` of `zones` (those the master hands each
    /// worker), if there is one.
    pub fn in_zones(zones: &Zones, name: &str, timeout: Duration) -> Option<Arc<SessionCache>> {
        zones
            .get(name)
            .map(|z| Arc::new(SessionCache::new(Arc::clone(z), timeout)))
    }

    /// True once, after this process first removed an unexpired session to make
    /// room: the caller logs that the zone is too small (once per worker).
    pub fn full_to_tell(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed) && !self.overflow_told.swap(true, Ordering::Relaxed)
    }

    /// Stores `value` under `key` until `now_ms` + the timeout, replacing what `key`
    /// had. False if the key or value is too long, or the lock cannot be taken.
    pub fn put_at(&self, key: &[u8], value: &[u8], now_ms: u64) -> bool {
        if key.is_empty() || key.len() > KEY_MAX || value.len() > VALUE_MAX {
            return false;
        }
        let needed = slots_for(value.len());
        if needed > self.layout.slots {
            return false;
        }
        let expires = now_ms.saturating_add(self.timeout_ms);
        self.with_table(|t| {
            let put = t.put(key, value, expires, now_ms, needed)?;
            if put.evicted_live {
                self.overflowed.store(true, Ordering::Relaxed);
            }
            Ok(put.stored)
        })
        .unwrap_or(false)
    }

    /// The value under `key`, if it has not expired at `now_ms`.
    pub fn get_at(&self, key: &[u8], now_ms: u64) -> Option<Vec<u8>> {
        self.lookup(key, now_ms, false)
    }

    /// The value under `key`, removed, if it has not expired at `now_ms`: at most one
    /// caller, in any process, gets it.
    pub fn take_at(&self, key: &[u8], now_ms: u64) -> Option<Vec<u8>> {
        self.lookup(key, now_ms, true)
    }

    /// The table's counts (`None` if the lock cannot be taken).
    pub fn stats(&self) -> Option<Stats> {
        self.with_table(|t| {
            Ok(Stats {
                entries: t.get(H_ENTRIES)?,
                slots: t.get(H_SLOTS)?,
                free: t.free_slots()?,
                evicted: t.g.read_u64(H_EVICTED)?,
            })
        })
    }

    fn lookup(&self, key: &[u8], now_ms: u64, remove: bool) -> Option<Vec<u8>> {
        if key.is_empty() || key.len() > KEY_MAX {
            return None;
        }
        self.with_table(|t| t.lookup(key, now_ms, remove)).flatten()
    }

    /// Runs `f` on the table under the lock, after clearing it if it is new, of
    /// another layout, or was left by a holder that died. A table found corrupt
    /// (`f` fails: a link out of range, which only a bug makes) is cleared too.
    fn with_table<T>(&self, f: impl FnOnce(&Table<'_, '_>) -> Result<T, Corrupt>) -> Option<T> {
        if self.layout.slots == 0 {
            return None;
        }
        let guard = self.zone.lock().ok()?;
        let table = Table {
            g: &guard,
            layout: self.layout,
        };
        let ready = !guard.recovered()
            && table.g.read_u64(H_MAGIC).ok() == Some(MAGIC)
            && table.get(H_SLOTS).ok() == u32::try_from(self.layout.slots).ok();
        if !ready {
            table.clear().ok()?;
        }
        match f(&table) {
            Ok(v) => Some(v),
            Err(Corrupt) => {
                // Only a bug gets here; the cache is emptied rather than trusted.
                table.clear().ok();
                None
            }
        }
    }

    fn now_ms() -> u64 {
        u64::try_from(crate::sys::coarse_monotonic().as_millis()).unwrap_or(u64::MAX)
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.put_at(&key, &value, SessionCache::now_ms())
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get_at(key, SessionCache::now_ms())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.take_at(key, SessionCache::now_ms())
    }

    fn can_cache(&self) -> bool {
        self.layout.slots > 0
    }
}

/// How many slots a session value of `len` bytes takes.
pub fn slots_for(len: usize) -> usize {
    1 + len.saturating_sub(HEAD_VALUE).div_ceil(MORE_VALUE)
}

/// A link or offset out of range: the table is not what this layout says.
#[derive(Debug, Clone, Copy)]
struct Corrupt;

impl From<OutOfBounds> for Corrupt {
    fn from(_: OutOfBounds) -> Corrupt {
        Corrupt
    }
}

impl From<ZoneError> for Corrupt {
    fn from(_: ZoneError) -> Corrupt {
        Corrupt
    }
}

/// What a `put` did.
struct Put {
    stored: bool,
    /// A session that had not expired was removed to make room.
    evicted_live: bool,
}

/// The table, under the lock.
struct Table<'g, 'z> {
    g: &'g ZoneGuard<'z>,
    layout: Layout,
}

impl Table<'_, '_> {
    fn get(&self, at: usize) -> Result<u32, Corrupt> {
        Ok(self.g.read_u32(at)?)
    }

    fn set(&self, at: usize, value: u32) -> Result<(), Corrupt> {
        Ok(self.g.write_u32(at, value)?)
    }

    /// A slot link (index + 1, 0 = none) read at `at`.
    fn link(&self, at: usize) -> Result<Option<usize>, Corrupt> {
        match self.get(at)? {
            0 => Ok(None),
            n if (n as usize) <= self.layout.slots => Ok(Some(n as usize - 1)),
            _ => Err(Corrupt),
        }
    }

    fn set_link(&self, at: usize, slot: Option<usize>) -> Result<(), Corrupt> {
        let v = match slot {
            None => 0,
            Some(i) => u32::try_from(i + 1).map_err(|_| Corrupt)?,
        };
        self.set(at, v)
    }

    /// Empties the table and writes its magic.
    fn clear(&self) -> Result<(), Corrupt> {
        self.g.fill(0, self.layout.slots_at, 0)?;
        self.set(
            H_SLOTS,
            u32::try_from(self.layout.slots).map_err(|_| Corrupt)?,
        )?;
        self.g.write_u64(H_MAGIC, MAGIC)?;
        Ok(())
    }

    fn free_slots(&self) -> Result<u32, Corrupt> {
        let never_used = self
            .layout
            .slots
            .saturating_sub(self.get(H_UNUSED)? as usize);
        Ok(self.get(H_FREE_COUNT)? + u32::try_from(never_used).map_err(|_| Corrupt)?)
    }

    /// The head slot of `key`, and the slot before it in its bucket's chain.
    fn find(&self, key: &[u8], hash: u32) -> Result<Option<(usize, Option<usize>)>, Corrupt> {
        let mut prev = None;
        let mut at = self.link(self.layout.bucket(hash))?;
        // A chain is never longer than the slots; a longer walk is a cycle.
        for _ in 0..self.layout.slots {
            let Some(slot) = at else {
                return Ok(None);
            };
            let base = self.layout.slot(slot);
            if self.get(base + S_HASH)? == hash && self.key_is(base, key)? {
                return Ok(Some((slot, prev)));
            }
            prev = Some(slot);
            at = self.link(base + S_CHAIN)?;
        }
        Err(Corrupt)
    }

    fn key_is(&self, base: usize, key: &[u8]) -> Result<bool, Corrupt> {
        let mut lens = [0u8; 1];
        self.g.read(base + S_KEY_LEN, &mut lens)?;
        if usize::from(lens[0]) != key.len() {
            return Ok(false);
        }
        let mut stored = [0u8; KEY_MAX];
        let stored = stored.get_mut(..key.len()).ok_or(Corrupt)?;
        self.g.read(base + S_KEY, stored)?;
        Ok(stored == key)
    }

    fn lookup(&self, key: &[u8], now_ms: u64, remove: bool) -> Result<Option<Vec<u8>>, Corrupt> {
        let hash = hash(key);
        let Some((slot, prev)) = self.find(key, hash)? else {
            return Ok(None);
        };
        let base = self.layout.slot(slot);
        if self.g.read_u64(base + S_EXPIRES)? <= now_ms {
            self.remove(slot, prev, hash)?;
            return Ok(None);
        }
        let value = self.value(base)?;
        if remove {
            self.remove(slot, prev, hash)?;
        }
        Ok(Some(value))
    }

    /// The value of the entry whose head slot is at `base`, across its
    /// continuation slots.
    fn value(&self, base: usize) -> Result<Vec<u8>, Corrupt> {
        let mut len = [0u8; 2];
        self.g.read(base + S_VALUE_LEN, &mut len)?;
        let len = usize::from(u16::from_le_bytes(len));
        if len > VALUE_MAX {
            return Err(Corrupt);
        }
        let mut value = vec![0u8; len];
        let (head, mut rest) = value.split_at_mut(len.min(HEAD_VALUE));
        self.g.read(base + S_VALUE, head)?;
        let mut more = self.link(base + S_MORE)?;
        while !rest.is_empty() {
            let slot = more.ok_or(Corrupt)?;
            let at = self.layout.slot(slot);
            let (part, tail) = rest.split_at_mut(rest.len().min(MORE_VALUE));
            self.g.read(at + C_VALUE, part)?;
            rest = tail;
            more = self.link(at + C_NEXT)?;
        }
        Ok(value)
    }

    fn put(
        &self,
        key: &[u8],
        value: &[u8],
        expires: u64,
        now_ms: u64,
        needed: usize,
    ) -> Result<Put, Corrupt> {
        let hash = hash(key);
        if let Some((slot, prev)) = self.find(key, hash)? {
            self.remove(slot, prev, hash)?;
        }
        // nginx's ngx_ssl_expire_sessions(cache, shpool, 1): up to two expired ones.
        for _ in 0..2 {
            if !self.remove_oldest_if(|expires| expires <= now_ms)? {
                break;
            }
        }
        let mut evicted_live = false;
        while (self.free_slots()? as usize) < needed {
            let was_live = self.oldest_expires()?.is_some_and(|e| e > now_ms);
            if !self.remove_oldest_if(|_| true)? {
                return Ok(Put {
                    stored: false,
                    evicted_live,
                });
            }
            if was_live {
                evicted_live = true;
                let n = self.g.read_u64(H_EVICTED)?;
                self.g.write_u64(H_EVICTED, n.saturating_add(1))?;
            }
        }
        let head = self.alloc()?;
        let base = self.layout.slot(head);
        // The value: the head's part, then continuation slots linked in order.
        let (first, mut rest) = value.split_at(value.len().min(HEAD_VALUE));
        self.g.write(base + S_VALUE, first)?;
        let mut link_at = base + S_MORE;
        while !rest.is_empty() {
            let slot = self.alloc()?;
            self.set_link(link_at, Some(slot))?;
            let at = self.layout.slot(slot);
            let (part, tail) = rest.split_at(rest.len().min(MORE_VALUE));
            self.g.write(at + C_VALUE, part)?;
            rest = tail;
            link_at = at + C_NEXT;
        }
        self.set_link(link_at, None)?;
        self.g.write_u64(base + S_EXPIRES, expires)?;
        self.set(base + S_HASH, hash)?;
        let value_len = u16::try_from(value.len()).map_err(|_| Corrupt)?;
        self.g.write(base + S_VALUE_LEN, &value_len.to_le_bytes())?;
        let key_len = u8::try_from(key.len()).map_err(|_| Corrupt)?;
        self.g.write(base + S_KEY_LEN, &[key_len])?;
        self.g.write(base + S_KEY, key)?;
        // Linked last: into the bucket's chain, then at the new end of the queue.
        let bucket = self.layout.bucket(hash);
        self.set_link(base + S_CHAIN, self.link(bucket)?)?;
        self.set_link(bucket, Some(head))?;
        let newest = self.link(H_NEWEST)?;
        self.set_link(base + S_NEWER, None)?;
        self.set_link(base + S_OLDER, newest)?;
        match newest {
            Some(n) => self.set_link(self.layout.slot(n) + S_NEWER, Some(head))?,
            None => self.set_link(H_OLDEST, Some(head))?,
        }
        self.set_link(H_NEWEST, Some(head))?;
        self.set(H_ENTRIES, self.get(H_ENTRIES)?.saturating_add(1))?;
        Ok(Put {
            stored: true,
            evicted_live,
        })
    }

    fn oldest_expires(&self) -> Result<Option<u64>, Corrupt> {
        match self.link(H_OLDEST)? {
            Some(slot) => Ok(Some(self.g.read_u64(self.layout.slot(slot) + S_EXPIRES)?)),
            None => Ok(None),
        }
    }

    /// Removes the oldest entry if `when(its expiry)`; says whether it did.
    fn remove_oldest_if(&self, when: impl FnOnce(u64) -> bool) -> Result<bool, Corrupt> {
        let Some(slot) = self.link(H_OLDEST)? else {
            return Ok(false);
        };
        let base = self.layout.slot(slot);
        if !when(self.g.read_u64(base + S_EXPIRES)?) {
            return Ok(false);
        }
        // Its place in its chain: found again by its key.
        let mut key = [0u8; KEY_MAX];
        let mut len = [0u8; 1];
        self.g.read(base + S_KEY_LEN, &mut len)?;
        let key = key.get_mut(..usize::from(len[0])).ok_or(Corrupt)?;
        self.g.read(base + S_KEY, key)?;
        let hash = self.get(base + S_HASH)?;
        match self.find(key, hash)? {
            Some((found, prev)) if found == slot => self.remove(slot, prev, hash)?,
            _ => return Err(Corrupt),
        }
        Ok(true)
    }

    /// Unlinks the entry at `slot` (after `prev` in its chain) and frees its slots.
    fn remove(&self, slot: usize, prev: Option<usize>, hash: u32) -> Result<(), Corrupt> {
        let base = self.layout.slot(slot);
        let next = self.link(base + S_CHAIN)?;
        match prev {
            Some(p) => self.set_link(self.layout.slot(p) + S_CHAIN, next)?,
            None => self.set_link(self.layout.bucket(hash), next)?,
        }
        let newer = self.link(base + S_NEWER)?;
        let older = self.link(base + S_OLDER)?;
        match newer {
            Some(n) => self.set_link(self.layout.slot(n) + S_OLDER, older)?,
            None => self.set_link(H_NEWEST, older)?,
        }
        match older {
            Some(o) => self.set_link(self.layout.slot(o) + S_NEWER, newer)?,
            None => self.set_link(H_OLDEST, newer)?,
        }
        let mut more = self.link(base + S_MORE)?;
        self.free(slot)?;
        for _ in 0..self.layout.slots {
            let Some(m) = more else {
                break;
            };
            more = self.link(self.layout.slot(m) + C_NEXT)?;
            self.free(m)?;
        }
        self.set(H_ENTRIES, self.get(H_ENTRIES)?.saturating_sub(1))
    }

    fn free(&self, slot: usize) -> Result<(), Corrupt> {
        self.set_link(self.layout.slot(slot) + C_NEXT, self.link(H_FREE)?)?;
        self.set_link(H_FREE, Some(slot))?;
        self.set(H_FREE_COUNT, self.get(H_FREE_COUNT)?.saturating_add(1))
    }

    /// A free slot: from the free list, else one never used.
    fn alloc(&self) -> Result<usize, Corrupt> {
        if let Some(slot) = self.link(H_FREE)? {
            self.set_link(H_FREE, self.link(self.layout.slot(slot) + C_NEXT)?)?;
            self.set(H_FREE_COUNT, self.get(H_FREE_COUNT)?.saturating_sub(1))?;
            return Ok(slot);
        }
        let unused = self.get(H_UNUSED)? as usize;
        if unused >= self.layout.slots {
            return Err(Corrupt);
        }
        self.set(H_UNUSED, u32::try_from(unused + 1).map_err(|_| Corrupt)?)?;
        Ok(unused)
    }
}

/// FNV-1a, 32 bits: stable across processes and binaries. Keys are random (the
/// server makes them), so a plain hash spreads them; a client can choose only the
/// key it looks up, which costs it one chain walk.
fn hash(key: &[u8]) -> u32 {
    key.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const T: Duration = Duration::from_secs(300);

    fn cache(slots: usize) -> SessionCache {
        let size = HEADER_BYTES + slots * (SLOT_BYTES + BUCKET_BYTES) + 8;
        SessionCache::new(Arc::new(Zone::create("s", size).unwrap()), T)
    }

    fn key(i: u32) -> Vec<u8> {
        let mut k = vec![0xa5; 32];
        k[..4].copy_from_slice(&i.to_le_bytes());
        k
    }

    #[test]
    fn a_mebibyte_holds_about_as_many_sessions_as_nginx_says() {
        assert_eq!(capacity(1 << 20), 4032);
        assert_eq!(capacity(MIN_SIZE), 31);
        assert_eq!(capacity(0), 0);
        assert!(spec("SSL", 1 << 20).is_ok());
        let err = spec("SSL", 4096).unwrap_err().to_string();
        assert!(
            err.contains("\"SSL\"") && err.contains("too small"),
            "{err}"
        );
    }

    #[test]
    fn slots_for_values_of_each_size() {
        for (len, slots) in [
            (0, 1),
            (96, 1),
            (192, 1),
            (193, 2),
            (444, 2),
            (445, 3),
            (838, 4),
            (1631, 7),
            (VALUE_MAX, 17),
        ] {
            assert_eq!(slots_for(len), slots, "{len} bytes");
        }
    }

    #[test]
    fn put_get_take_and_replace() {
        let c = cache(8);
        assert!(c.can_cache());
        assert!(c.put_at(&key(1), b"one", 0));
        assert_eq!(c.get_at(&key(1), 1).as_deref(), Some(&b"one"[..]));
        assert_eq!(
            c.get_at(&key(1), 1).as_deref(),
            Some(&b"one"[..]),
            "get keeps it"
        );
        assert!(c.put_at(&key(1), b"uno", 2), "a put replaces");
        assert_eq!(c.stats().unwrap().entries, 1);
        assert_eq!(c.take_at(&key(1), 3).as_deref(), Some(&b"uno"[..]));
        assert_eq!(c.take_at(&key(1), 3), None, "take removes it");
        assert_eq!(c.get_at(&key(2), 3), None);
        let s = c.stats().unwrap();
        assert_eq!((s.entries, s.free, s.slots), (0, 8, 8));
    }

    #[test]
    fn keys_of_every_length_and_the_limits() {
        let c = cache(KEY_MAX);
        for len in 1..=KEY_MAX {
            let k = vec![7u8; len];
            assert!(c.put_at(&k, &[len as u8], 0), "key of {len}");
        }
        for len in 1..=KEY_MAX {
            assert_eq!(c.take_at(&vec![7u8; len], 0), Some(vec![len as u8]));
        }
        assert!(!c.put_at(&[], b"v", 0), "empty key");
        assert!(!c.put_at(&[1; KEY_MAX + 1], b"v", 0), "key past KEY_MAX");
        assert_eq!(c.get_at(&[1; KEY_MAX + 1], 0), None);
        assert!(
            !c.put_at(&key(1), &vec![0; VALUE_MAX + 1], 0),
            "past VALUE_MAX"
        );
        let big = cache(17);
        let v: Vec<u8> = (0..VALUE_MAX).map(|i| (i * 7) as u8).collect();
        assert!(big.put_at(&key(1), &v, 0), "VALUE_MAX takes 17 slots");
        assert_eq!(big.get_at(&key(1), 0), Some(v));
        assert!(
            !cache(16).put_at(&key(1), &[0; VALUE_MAX], 0),
            "more than the zone"
        );
    }

    #[test]
    fn values_spanning_slots_come_back_whole() {
        let c = cache(32);
        let lens = [0, 1, 191, 192, 193, 444, 445, 838, 1631, 2000];
        for (i, &len) in lens.iter().enumerate() {
            let v: Vec<u8> = (0..len).map(|b| (b as u8) ^ (i as u8)).collect();
            assert!(c.put_at(&key(i as u32), &v, 0), "{len}");
        }
        for (i, &len) in lens.iter().enumerate() {
            let v: Vec<u8> = (0..len).map(|b| (b as u8) ^ (i as u8)).collect();
            assert_eq!(c.get_at(&key(i as u32), 0), Some(v), "{len}");
        }
        let used: usize = lens.iter().map(|&l| slots_for(l)).sum();
        assert_eq!(c.stats().unwrap().free as usize, 32 - used);
        for i in 0..lens.len() {
            assert!(c.take_at(&key(i as u32), 0).is_some());
        }
        assert_eq!(c.stats().unwrap().free, 32, "every slot back");
    }

    #[test]
    fn entries_expire_after_the_timeout() {
        let c = cache(8);
        let t = T.as_millis() as u64;
        assert!(c.put_at(&key(1), b"v", 1000));
        assert!(c.get_at(&key(1), 1000 + t - 1).is_some());
        assert_eq!(c.get_at(&key(1), 1000 + t), None, "expired");
        assert_eq!(c.stats().unwrap().entries, 0, "and removed when looked up");
        let short = SessionCache::new(Arc::clone(&c.zone), Duration::from_secs(1));
        assert!(short.put_at(&key(2), b"v", 0));
        assert_eq!(c.get_at(&key(2), 1000), None, "the expiry is the putter's");
    }

    #[test]
    fn a_put_removes_expired_entries_from_the_old_end() {
        let c = cache(8);
        let t = T.as_millis() as u64;
        for i in 0..4 {
            assert!(c.put_at(&key(i), b"v", i.into()));
        }
        assert!(c.put_at(&key(9), b"v", t + 10), "all four expired by now");
        let s = c.stats().unwrap();
        assert_eq!(
            s.entries, 3,
            "two expired ones removed, as nginx's expire(1)"
        );
        assert_eq!(s.evicted, 0, "expiry is not eviction");
        assert_eq!(c.get_at(&key(2), 0).as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn a_full_table_evicts_the_oldest_and_tells_once() {
        let c = cache(4);
        for i in 0..4 {
            assert!(c.put_at(&key(i), b"v", i.into()));
        }
        c.get_at(&key(0), 5).unwrap();
        assert!(!c.full_to_tell());
        assert!(c.put_at(&key(4), b"v", 10));
        assert_eq!(
            c.get_at(&key(0), 10),
            None,
            "first in is first out, get or not"
        );
        for i in 1..5 {
            assert!(c.get_at(&key(i), 10).is_some(), "{i}");
        }
        assert!(c.full_to_tell());
        assert!(!c.full_to_tell(), "once");
        // A value of two slots evicts two.
        assert!(c.put_at(&key(5), &[1; 300], 11));
        assert_eq!((c.get_at(&key(1), 11), c.get_at(&key(2), 11)), (None, None));
        let s = c.stats().unwrap();
        assert_eq!((s.entries, s.free, s.evicted), (3, 0, 3));
    }

    #[test]
    fn colliding_keys_share_a_chain_and_unlink_from_any_place() {
        // Eight slots, eight buckets: 64 keys collide a lot.
        let c = cache(8);
        let mut live = std::collections::VecDeque::new();
        for i in 0..64u32 {
            assert!(c.put_at(&key(i), &i.to_le_bytes(), u64::from(i)));
            live.push_back(i);
            if live.len() > 8 {
                live.pop_front();
            }
            if i % 3 == 0 {
                let gone = live.remove(live.len() / 2).unwrap();
                assert!(c.take_at(&key(gone), u64::from(i)).is_some());
            }
            for &k in &live {
                assert_eq!(
                    c.get_at(&key(k), u64::from(i)),
                    Some(k.to_le_bytes().to_vec()),
                    "{k} after {i}"
                );
            }
            assert_eq!(c.stats().unwrap().entries as usize, live.len());
        }
    }

    #[test]
    fn a_lock_recovered_from_a_dead_holder_clears_the_table() {
        let c = cache(8);
        assert!(c.put_at(&key(1), b"v", 0));
        let zone = Arc::clone(&c.zone);
        // A thread that dies holding the lock: the kernel marks the robust mutex.
        std::thread::spawn(move || std::mem::forget(zone.lock().unwrap()))
            .join()
            .unwrap();
        assert_eq!(c.get_at(&key(1), 0), None, "cleared");
        assert_eq!(c.zone.recoveries(), 1);
        assert!(c.put_at(&key(2), b"v", 0), "and usable");
        assert_eq!(c.stats().unwrap().entries, 1);
    }

    #[test]
    fn a_table_of_another_layout_is_cleared_first() {
        let c = cache(8);
        assert!(c.put_at(&key(1), b"v", 0));
        c.zone
            .lock()
            .unwrap()
            .write_u64(H_MAGIC, MAGIC + 1)
            .unwrap();
        assert_eq!(c.get_at(&key(1), 0), None);
        assert_eq!(c.stats().unwrap().entries, 0);
    }

    #[test]
    fn corrupt_links_clear_the_table_instead_of_panicking() {
        let c = cache(8);
        assert!(c.put_at(&key(1), b"v", 0));
        {
            let g = c.zone.lock().unwrap();
            let bucket = c.layout.bucket(hash(&key(1)));
            g.write_u32(bucket, 999).unwrap();
        }
        assert_eq!(c.get_at(&key(1), 0), None);
        assert_eq!(c.stats().unwrap().entries, 0, "cleared");
    }

    #[test]
    fn a_zone_too_small_for_a_slot_caches_nothing() {
        let c = SessionCache::new(Arc::new(Zone::create("tiny", 64).unwrap()), T);
        assert!(!c.can_cache());
        assert!(!c.put_at(&key(1), b"v", 0));
        assert_eq!(c.get_at(&key(1), 0), None);
    }
}
