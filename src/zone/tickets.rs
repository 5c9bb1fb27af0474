//! TLS session ticket keys, in a zone every worker reads: a ticket one worker issues
//! resumes with any other, and across a reload or a USR2 upgrade (RFC 5077 for TLS
//! 1.2, RFC 8446 §4.6.1 for TLS 1.3). nginx 1.23.2 and later keep their automatic
//! keys in the `ssl_session_cache` zone for the same reason; here they have a zone of
//! their own, so tickets work across workers with or without a shared session cache.
//!
//! ```text
//! master ── TicketKeys::install (ssl_session_ticket_key files, or none) ──┐
//!        ── TicketKeys::rotate(now) on a timer (automatic keys only) ─────┼─► zone
//! worker ── rustls ServerConfig.ticketer = Arc<Ticketer> ◄─ reads keys ───┘
//! ```
//!
//! **Keys.** A key is a 16-byte name and a 32-byte AES-256-GCM key. The first key
//! encrypts; every key decrypts. Two sources, as nginx's:
//! - `ssl_session_ticket_key` files ([`TicketKey::from_file_bytes`]): 48 bytes (name
//!   16 | HMAC 16 | AES 16) or 80 (name 16 | HMAC 32 | AES 32). The name is the
//!   file's first 16 bytes; the AEAD key is HKDF-SHA256 of the other 32 or 64 bytes
//!   (salt `vestibule ticket key v1`, info the name), so every server given the same
//!   file makes and accepts the same tickets. The first file's key encrypts, the
//!   others only decrypt; never rotated (rotate the files and reload, as with
//!   nginx). Tickets are not nginx's format (nginx: AES-CBC and HMAC), so a ticket
//!   from an nginx does not resume here, nor the reverse: the files are compatible,
//!   the tickets are not.
//! - automatic (no files): random keys the master makes and rotates. With the
//!   `period` given to [`TicketKeys::rotate`] (`ssl_session_timeout`, as nginx), a key
//!   encrypts for one period, then decrypts only for two more, then is erased from
//!   the zone: [`KEPT`] = 3 keys, nginx's `ticket_keys[3]`. A ticket issued just before
//!   its key stopped encrypting still decrypts for two periods, so a ticket lifetime
//!   (the hint sent to clients, [`Ticketer::new`]) of up to twice the period is always
//!   honoured; nginx sends `ssl_session_timeout`, one period.
//!
//! **Tickets.** `name (16) | nonce (12) | AES-256-GCM ciphertext | tag (16)`, the name
//! also the associated data. The name, in clear, picks the key; a ticket whose name
//! is not among the keys, or whose tag does not verify (tampered, truncated, or from
//! a key erased since), decrypts to `None`, and the client gets a full handshake. The
//! nonce is random (aws-lc-rs's `SystemRandom`): one key may encrypt 2^32 tickets
//! before random nonces risk a repeat (NIST SP 800-38D §8.3); an automatic key is
//! used for one period (minutes), a file key for as long as the file is (rotate files
//! well before 2^32 full handshakes).
//!
//! **Reading keys in a worker.** A [`Ticketer`] keeps the keys it last read, ready
//! for aws-lc (`LessSafeKey`), with the zone's *generation* when it read them. Every
//! encrypt and decrypt loads the generation (one atomic load of a shared word); only
//! when the master changed the keys (a rotation: once a period) does the worker take
//! the zone's lock and read them again. Measured (release build, one process, two
//! keys, 96-byte sessions): the generation check costs 21 ns; a decrypt 119 ns and
//! an encrypt 483 ns (most of it the random nonce); reading the keys under the lock
//! and setting up their AES key schedules 282 ns. A seqlock copy on every call would
//! pay those 282 ns each time (more than doubling a decrypt) to save a lock taken
//! once a period per worker. The master writes keys and bumps the generation under
//! one hold of the lock, so a worker that sees a new generation and takes the lock
//! reads whole keys.
//!
//! Layout (offsets from the zone's data; integers little-endian):
//!
//! ```text
//! 0   magic           byte API, under the lock
//! 8   generation      atomic only (Zone::u64_at): bumped, under the lock, by every change
//! 16  source          0 none yet, 1 automatic, 2 files
//! 24  count           keys in use, the first the encrypting one
//! 64  keys            MAX_KEYS × 64 bytes: name 16 | AEAD key 32 | made at (ms) 8 | 0 8
//! ```
//!
//! A holder that died with the lock: only the master writes the keys, and workers
//! die with the master (`PR_SET_PDEATHSIG`); a torn key could only fail to decrypt
//! (a full handshake), and the next `rotate` or `install` rewrites them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::{hkdf, hmac};
use rustls::server::ProducesTickets;

use super::{OutOfBounds, Spec, Zone, ZoneError, ZoneGuard, Zones};

/// A key's name: the first bytes of every ticket, in clear.
pub const NAME_LEN: usize = 16;
/// AES-256-GCM's key.
const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// What a ticket adds to the session it carries.
pub const TICKET_OVERHEAD: usize = NAME_LEN + NONCE_LEN + TAG_LEN;
/// The longest ticket decrypted: a TLS ticket's length is 16 bits (RFC 5077 §3.3,
/// RFC 8446 §4.6.1).
pub const TICKET_MAX: usize = u16::MAX as usize;
/// The most keys a zone holds (`ssl_session_ticket_key` files in one server).
pub const MAX_KEYS: usize = 16;
/// Automatic keys kept: the current one and two that only decrypt (nginx's three).
pub const KEPT: usize = 3;
/// The zone's size.
pub const ZONE_SIZE: usize = HEADER_BYTES + MAX_KEYS * KEY_BYTES;

const HEADER_BYTES: usize = 64;
const KEY_BYTES: usize = 64;
const MAGIC: u64 = u64::from_le_bytes(*b"VTLSTK\x01\x00");
const H_MAGIC: usize = 0;
const H_GENERATION: usize = 8;
const H_SOURCE: usize = 16;
const H_COUNT: usize = 24;
const K_NAME: usize = 0;
const K_SECRET: usize = NAME_LEN;
const K_MADE: usize = K_SECRET + SECRET_LEN;
/// HKDF salt for keys from files.
const FILE_SALT: &[u8] = b"vestibule ticket key v1";

/// Where the keys came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    None,
    Automatic,
    Files,
}

impl Source {
    fn code(self) -> u64 {
        match self {
            Source::None => 0,
            Source::Automatic => 1,
            Source::Files => 2,
        }
    }

    fn from_code(code: u64) -> Source {
        match code {
            1 => Source::Automatic,
            2 => Source::Files,
            _ => Source::None,
        }
    }
}

/// The zone for one set of ticket keys (every server block that shares the keys
/// shares the zone).
pub fn spec(name: &str) -> Spec {
    Spec {
        name: name.to_owned(),
        size: ZONE_SIZE,
    }
}

/// What went wrong with ticket keys.
#[derive(Debug, thiserror::Error)]
pub enum TicketKeyError {
    #[error("an ssl_session_ticket_key file must be 48 or 80 bytes, not {0}")]
    FileLength(usize),
    #[error("{0} ssl_session_ticket_key files: at most {MAX_KEYS}")]
    TooMany(usize),
    #[error("no random bytes for a session ticket key (getrandom failed)")]
    Random,
    #[error(transparent)]
    Zone(#[from] ZoneError),
    #[error("the ticket key zone is too small: {0}")]
    Layout(#[from] OutOfBounds),
}

/// One key: its name and AEAD key. Its `Debug` shows the name only.
#[derive(Clone)]
pub struct TicketKey {
    name: [u8; NAME_LEN],
    secret: [u8; SECRET_LEN],
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKey")
            .field("name", &Hex(&self.name))
            .finish_non_exhaustive()
    }
}

impl Drop for TicketKey {
    fn drop(&mut self) {
        wipe(&mut self.secret);
    }
}

impl TicketKey {
    /// The key of an `ssl_session_ticket_key` file's contents (48 or 80 bytes).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<TicketKey, TicketKeyError> {
        if bytes.len() != 48 && bytes.len() != 80 {
            return Err(TicketKeyError::FileLength(bytes.len()));
        }
        let (name, material) = bytes
            .split_first_chunk::<NAME_LEN>()
            .ok_or(TicketKeyError::FileLength(bytes.len()))?;
        let mut secret = [0u8; SECRET_LEN];
        hkdf::Salt::new(hkdf::HKDF_SHA256, FILE_SALT)
            .extract(material)
            .expand(&[name], hmac::HMAC_SHA256)
            .and_then(|okm| okm.fill(&mut secret))
            .map_err(|_| TicketKeyError::Random)?;
        Ok(TicketKey {
            name: *name,
            secret,
        })
    }

    /// A new random key.
    fn random(rng: &SystemRandom) -> Result<TicketKey, TicketKeyError> {
        let mut key = TicketKey {
            name: [0; NAME_LEN],
            secret: [0; SECRET_LEN],
        };
        rng.fill(&mut key.name)
            .map_err(|_| TicketKeyError::Random)?;
        rng.fill(&mut key.secret)
            .map_err(|_| TicketKeyError::Random)?;
        Ok(key)
    }

    pub fn name(&self) -> [u8; NAME_LEN] {
        self.name
    }
}

/// What [`TicketKeys::rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The keys are from `ssl_session_ticket_key` files: never rotated.
    FromFiles,
    /// The current key is younger than the period; the next is due at `next_ms`.
    Kept { next_ms: u64 },
    /// A new current key was made; the next is due at `next_ms`.
    Rotated { next_ms: u64 },
}

/// The master's side: puts keys in the zone.
#[derive(Debug, Clone)]
pub struct TicketKeys {
    zone: Arc<Zone>,
}

impl TicketKeys {
    pub fn new(zone: Arc<Zone>) -> TicketKeys {
        TicketKeys { zone }
    }

    /// The keys in the zone named `name` of `zones`.
    pub fn in_zones(zones: &Zones, name: &str) -> Option<TicketKeys> {
        zones.get(name).map(|z| TicketKeys::new(Arc::clone(z)))
    }

    /// Uses `keys` (from `ssl_session_ticket_key` files, in the configuration's
    /// order: the first encrypts) from now on, or automatic keys when `keys` is empty.
    /// Going from files to automatic erases the file keys (the next [`rotate`] makes
    /// a key); automatic keys already in the zone are kept (a reload keeps tickets).
    ///
    /// [`rotate`]: TicketKeys::rotate
    pub fn install(&self, keys: &[TicketKey]) -> Result<(), TicketKeyError> {
        if keys.len() > MAX_KEYS {
            return Err(TicketKeyError::TooMany(keys.len()));
        }
        let g = self.zone.lock()?;
        let ready = g.read_u64(H_MAGIC)? == MAGIC;
        let source = if ready {
            Source::from_code(g.read_u64(H_SOURCE)?)
        } else {
            Source::None
        };
        if keys.is_empty() {
            if source == Source::Automatic && !g.recovered() {
                return Ok(());
            }
            write_keys(&g, Source::Automatic, &[])?;
        } else {
            let stamped: Vec<(&TicketKey, u64)> = keys.iter().map(|k| (k, 0)).collect();
            write_keys(&g, Source::Files, &stamped)?;
        }
        Ok(())
    }

    /// Makes a new current key if the keys are automatic and the current one is
    /// `period` old (or there is none), keeping the [`KEPT`] newest and erasing the
    /// rest. The master calls it before forking the first workers (so they have a
    /// key) and then at each `next_ms`; `now_ms` is `CLOCK_MONOTONIC_COARSE` in
    /// milliseconds ([`crate::sys::coarse_monotonic`]).
    pub fn rotate(&self, now_ms: u64, period: Duration) -> Result<Rotation, TicketKeyError> {
        let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
        let g = self.zone.lock()?;
        let ready = g.read_u64(H_MAGIC)? == MAGIC;
        let source = if ready {
            Source::from_code(g.read_u64(H_SOURCE)?)
        } else {
            Source::None
        };
        if source == Source::Files && !g.recovered() {
            return Ok(Rotation::FromFiles);
        }
        let mut keys = if source == Source::Automatic && !g.recovered() {
            read_keys(&g)?
        } else {
            Vec::new()
        };
        if let Some(current) = keys.first() {
            let due = current.made_ms.saturating_add(period_ms);
            if now_ms < due {
                return Ok(Rotation::Kept { next_ms: due });
            }
        }
        let new = TicketKey::random(&SystemRandom::new())?;
        keys.insert(
            0,
            Stored {
                key: new,
                made_ms: now_ms,
            },
        );
        keys.truncate(KEPT);
        let stamped: Vec<(&TicketKey, u64)> = keys.iter().map(|s| (&s.key, s.made_ms)).collect();
        write_keys(&g, Source::Automatic, &stamped)?;
        Ok(Rotation::Rotated {
            next_ms: now_ms.saturating_add(period_ms),
        })
    }

    /// The names of the keys in the zone, the encrypting one first.
    pub fn names(&self) -> Result<Vec<[u8; NAME_LEN]>, TicketKeyError> {
        let g = self.zone.lock()?;
        if g.read_u64(H_MAGIC)? != MAGIC {
            return Ok(Vec::new());
        }
        Ok(read_keys(&g)?.iter().map(|s| s.key.name).collect())
    }
}

/// A key read from the zone.
struct Stored {
    key: TicketKey,
    made_ms: u64,
}

fn key_at(i: usize) -> usize {
    HEADER_BYTES + i * KEY_BYTES
}

fn read_keys(g: &ZoneGuard<'_>) -> Result<Vec<Stored>, OutOfBounds> {
    let count = usize::try_from(g.read_u64(H_COUNT)?)
        .unwrap_or(usize::MAX)
        .min(MAX_KEYS);
    let mut keys = Vec::with_capacity(count);
    for i in 0..count {
        let mut key = TicketKey {
            name: [0; NAME_LEN],
            secret: [0; SECRET_LEN],
        };
        g.read(key_at(i) + K_NAME, &mut key.name)?;
        g.read(key_at(i) + K_SECRET, &mut key.secret)?;
        let made_ms = g.read_u64(key_at(i) + K_MADE)?;
        keys.push(Stored { key, made_ms });
    }
    Ok(keys)
}

/// Writes `keys` with when each was made, erases every other key slot, and bumps
/// the generation: one hold of the lock, so a worker reads all of it or none.
fn write_keys(
    g: &ZoneGuard<'_>,
    source: Source,
    keys: &[(&TicketKey, u64)],
) -> Result<(), OutOfBounds> {
    for (i, &(key, made_ms)) in keys.iter().enumerate().take(MAX_KEYS) {
        g.write(key_at(i) + K_NAME, &key.name)?;
        g.write(key_at(i) + K_SECRET, &key.secret)?;
        g.write_u64(key_at(i) + K_MADE, made_ms)?;
    }
    let used = keys.len().min(MAX_KEYS);
    g.fill(key_at(used), (MAX_KEYS - used) * KEY_BYTES, 0)?;
    g.write_u64(H_SOURCE, source.code())?;
    g.write_u64(H_COUNT, used as u64)?;
    g.write_u64(H_MAGIC, MAGIC)?;
    bump_generation(g.zone())
}

fn bump_generation(zone: &Zone) -> Result<(), OutOfBounds> {
    let word = zone.u64_at(H_GENERATION).ok_or(OutOfBounds {
        offset: H_GENERATION,
        len: 8,
    })?;
    word.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// A worker's side: rustls's ticketer over the zone's keys.
#[derive(Debug)]
pub struct Ticketer {
    zone: Arc<Zone>,
    lifetime: u32,
    rng: SystemRandom,
    /// The keys as last read, with the generation they were read at.
    local: ArcSwap<LocalKeys>,
}

/// Keys ready for aws-lc.
struct LocalKeys {
    generation: u64,
    keys: Vec<([u8; NAME_LEN], LessSafeKey)>,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeys")
            .field("generation", &self.generation)
            .field(
                "names",
                &self.keys.iter().map(|(n, _)| Hex(n)).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Ticketer {
    /// Tickets with the keys of `zone`, telling clients they last `lifetime`
    /// (`ssl_session_timeout`; at most twice the rotation period, see the module).
    pub fn new(zone: Arc<Zone>, lifetime: Duration) -> Ticketer {
        Ticketer {
            zone,
            lifetime: u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX),
            rng: SystemRandom::new(),
            local: ArcSwap::from_pointee(LocalKeys {
                generation: u64::MAX,
                keys: Vec::new(),
            }),
        }
    }

    /// The ticketer of the zone named `name` of `zones`.
    pub fn in_zones(zones: &Zones, name: &str, lifetime: Duration) -> Option<Arc<Ticketer>> {
        zones
            .get(name)
            .map(|z| Arc::new(Ticketer::new(Arc::clone(z), lifetime)))
    }

    /// The keys, read again if the master changed them since.
    fn keys(&self) -> Arc<LocalKeys> {
        let generation = self
            .zone
            .u64_at(H_GENERATION)
            .map_or(0, |w| w.load(Ordering::Acquire));
        let local = self.local.load_full();
        if local.generation == generation {
            return local;
        }
        match self.read() {
            Some(fresh) => {
                let fresh = Arc::new(fresh);
                self.local.store(Arc::clone(&fresh));
                fresh
            }
            None => local,
        }
    }

    fn read(&self) -> Option<LocalKeys> {
        let g = self.zone.lock().ok()?;
        // Read under the lock: the master bumps it under the lock with the keys.
        let generation = self.zone.u64_at(H_GENERATION)?.load(Ordering::Acquire);
        let stored = if g.read_u64(H_MAGIC).ok()? == MAGIC {
            read_keys(&g).ok()?
        } else {
            Vec::new()
        };
        drop(g);
        let keys = stored
            .iter()
            .filter_map(|s| {
                let key = UnboundKey::new(&AES_256_GCM, &s.key.secret).ok()?;
                Some((s.key.name, LessSafeKey::new(key)))
            })
            .collect();
        Some(LocalKeys { generation, keys })
    }
}

impl ProducesTickets for Ticketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.lifetime
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let keys = self.keys();
        let (name, key) = keys.keys.first()?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut ticket = Vec::with_capacity(TICKET_OVERHEAD + plain.len());
        ticket.extend_from_slice(name);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(plain);
        let sealed = ticket.get_mut(NAME_LEN + NONCE_LEN..)?;
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name),
                sealed,
            )
            .ok()?;
        ticket.extend_from_slice(tag.as_ref());
        Some(ticket)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        if cipher.len() < TICKET_OVERHEAD || cipher.len() > TICKET_MAX {
            return None;
        }
        let (name, rest) = cipher.split_first_chunk::<NAME_LEN>()?;
        let (nonce, sealed) = rest.split_first_chunk::<NONCE_LEN>()?;
        let keys = self.keys();
        let (_, key) = keys.keys.iter().find(|(n, _)| n == name)?;
        let mut plain = sealed.to_vec();
        let len = key
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(name),
                &mut plain,
            )
            .ok()?
            .len();
        plain.truncate(len);
        Some(plain)
    }
}

/// Overwrites secret bytes in a way the compiler keeps.
fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference to one byte.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
}

/// Bytes as hex, for `Debug`.
struct Hex<'a>(&'a [u8]);

impl std::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const PERIOD: Duration = Duration::from_secs(300);
    const P: u64 = 300_000;

    fn zone() -> Arc<Zone> {
        Arc::new(Zone::create("tickets", ZONE_SIZE).unwrap())
    }

    fn file(name: u8, len: usize) -> Vec<u8> {
        let mut b = vec![name; NAME_LEN];
        b.extend((0..len - NAME_LEN).map(|i| i as u8 ^ name));
        b
    }

    #[test]
    fn a_ticket_round_trips_and_carries_the_key_name_in_clear() {
        let z = zone();
        let keys = TicketKeys::new(Arc::clone(&z));
        assert!(matches!(
            keys.rotate(1000, PERIOD).unwrap(),
            Rotation::Rotated { next_ms: 301_000 }
        ));
        let t = Ticketer::new(z, PERIOD);
        assert!(t.enabled());
        assert_eq!(t.lifetime(), 300);
        let ticket = t.encrypt(b"session state").unwrap();
        assert_eq!(ticket.len(), TICKET_OVERHEAD + 13);
        assert_eq!(ticket[..NAME_LEN], keys.names().unwrap()[0]);
        assert!(!ticket.windows(7).any(|w| w == b"session"), "encrypted");
        assert_eq!(t.decrypt(&ticket).as_deref(), Some(&b"session state"[..]));
        assert_ne!(
            t.encrypt(b"session state").unwrap(),
            ticket,
            "a fresh nonce"
        );
        assert_eq!(
            t.decrypt(&t.encrypt(b"").unwrap()).as_deref(),
            Some(&b""[..])
        );
    }

    #[test]
    fn tampered_truncated_or_unknown_tickets_decrypt_to_none() {
        let z = zone();
        TicketKeys::new(Arc::clone(&z)).rotate(0, PERIOD).unwrap();
        let t = Ticketer::new(z, PERIOD);
        let ticket = t.encrypt(b"session state").unwrap();
        for i in 0..ticket.len() {
            let mut bad = ticket.clone();
            bad[i] ^= 0x01;
            assert_eq!(t.decrypt(&bad), None, "byte {i} flipped");
        }
        for len in 0..ticket.len() {
            assert_eq!(t.decrypt(&ticket[..len]), None, "cut to {len}");
        }
        let mut longer = ticket.clone();
        longer.push(0);
        assert_eq!(t.decrypt(&longer), None);
        assert_eq!(t.decrypt(&vec![0; TICKET_MAX + 1]), None);
        assert_eq!(t.decrypt(&[0xff; 200]), None);
    }

    #[test]
    fn without_keys_nothing_is_encrypted() {
        let t = Ticketer::new(zone(), PERIOD);
        assert_eq!(t.encrypt(b"x"), None);
        assert_eq!(t.decrypt(&[0; 64]), None);
    }

    #[test]
    fn automatic_keys_rotate_each_period_and_decrypt_for_two_more() {
        let z = zone();
        let keys = TicketKeys::new(Arc::clone(&z));
        let t = Ticketer::new(Arc::clone(&z), PERIOD);
        keys.rotate(0, PERIOD).unwrap();
        let first = t.encrypt(b"first").unwrap();
        assert_eq!(
            keys.rotate(P - 1, PERIOD).unwrap(),
            Rotation::Kept { next_ms: P }
        );
        assert_eq!(keys.names().unwrap().len(), 1);
        assert_eq!(
            keys.rotate(P, PERIOD).unwrap(),
            Rotation::Rotated { next_ms: 2 * P }
        );
        let second = t.encrypt(b"second").unwrap();
        assert_ne!(
            first[..NAME_LEN],
            second[..NAME_LEN],
            "the new key encrypts"
        );
        assert_eq!(
            t.decrypt(&first).as_deref(),
            Some(&b"first"[..]),
            "one period on"
        );
        keys.rotate(2 * P, PERIOD).unwrap();
        assert_eq!(
            t.decrypt(&first).as_deref(),
            Some(&b"first"[..]),
            "two periods on"
        );
        assert_eq!(keys.names().unwrap().len(), KEPT);
        keys.rotate(3 * P, PERIOD).unwrap();
        assert_eq!(t.decrypt(&first), None, "erased after three");
        assert_eq!(t.decrypt(&second).as_deref(), Some(&b"second"[..]));
        let g = z.lock().unwrap();
        let mut rest = vec![0u8; (MAX_KEYS - KEPT) * KEY_BYTES];
        g.read(key_at(KEPT), &mut rest).unwrap();
        assert!(rest.iter().all(|&b| b == 0), "erased from the zone");
    }

    #[test]
    fn a_late_rotation_still_makes_one_key() {
        let z = zone();
        let keys = TicketKeys::new(z);
        keys.rotate(0, PERIOD).unwrap();
        assert_eq!(
            keys.rotate(10 * P, PERIOD).unwrap(),
            Rotation::Rotated { next_ms: 11 * P }
        );
        assert_eq!(keys.names().unwrap().len(), 2);
    }

    #[test]
    fn file_keys_encrypt_with_the_first_decrypt_with_all_and_never_rotate() {
        let z = zone();
        let keys = TicketKeys::new(Arc::clone(&z));
        let t = Ticketer::new(Arc::clone(&z), PERIOD);
        let a = TicketKey::from_file_bytes(&file(b'a', 80)).unwrap();
        let b = TicketKey::from_file_bytes(&file(b'b', 48)).unwrap();
        keys.install(std::slice::from_ref(&b)).unwrap();
        let by_b = t.encrypt(b"b").unwrap();
        keys.install(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(keys.names().unwrap(), [[b'a'; 16], [b'b'; 16]]);
        let by_a = t.encrypt(b"a").unwrap();
        assert_eq!(by_a[..NAME_LEN], [b'a'; 16]);
        assert_eq!(
            t.decrypt(&by_b).as_deref(),
            Some(&b"b"[..]),
            "b still decrypts"
        );
        assert_eq!(keys.rotate(10 * P, PERIOD).unwrap(), Rotation::FromFiles);
        assert_eq!(t.decrypt(&by_a).as_deref(), Some(&b"a"[..]));
        // Another server (zone) with the same files accepts the same tickets.
        let other_zone = zone();
        TicketKeys::new(Arc::clone(&other_zone))
            .install(&[a, b])
            .unwrap();
        let other = Ticketer::new(other_zone, PERIOD);
        assert_eq!(other.decrypt(&by_a).as_deref(), Some(&b"a"[..]));
        // Back to automatic keys: the file keys are erased, the next rotate makes one.
        keys.install(&[]).unwrap();
        assert_eq!(keys.names().unwrap(), Vec::<[u8; 16]>::new());
        assert_eq!(t.decrypt(&by_a), None);
        assert!(matches!(
            keys.rotate(0, PERIOD).unwrap(),
            Rotation::Rotated { .. }
        ));
        let name = keys.names().unwrap()[0];
        keys.install(&[]).unwrap();
        assert_eq!(
            keys.names().unwrap(),
            [name],
            "a reload keeps automatic keys"
        );
    }

    #[test]
    fn key_files_of_the_wrong_length_or_too_many_are_refused() {
        for len in [0, 16, 47, 49, 64, 79, 81] {
            let err = TicketKey::from_file_bytes(&vec![0; len]).unwrap_err();
            assert!(err.to_string().contains("48 or 80 bytes"), "{len}: {err}");
        }
        let key = TicketKey::from_file_bytes(&file(1, 48)).unwrap();
        let many = vec![key; MAX_KEYS + 1];
        let keys = TicketKeys::new(zone());
        assert!(matches!(
            keys.install(&many),
            Err(TicketKeyError::TooMany(17))
        ));
        keys.install(&many[..MAX_KEYS]).unwrap();
        assert_eq!(keys.names().unwrap().len(), MAX_KEYS);
        assert!(
            !format!("{:?}", many[0]).contains("secret"),
            "no key in Debug"
        );
    }

    #[test]
    fn file_keys_of_48_and_80_bytes_use_all_their_material() {
        let base = file(7, 80);
        let key = TicketKey::from_file_bytes(&base).unwrap();
        let mut changed = base.clone();
        changed[79] ^= 1;
        assert_ne!(
            TicketKey::from_file_bytes(&changed).unwrap().secret,
            key.secret
        );
        let short = TicketKey::from_file_bytes(&base[..48]).unwrap();
        assert_ne!(short.secret, key.secret);
        assert_eq!(short.name, key.name);
    }

    #[test]
    fn a_worker_reads_the_keys_again_only_when_the_generation_moves() {
        let z = zone();
        let keys = TicketKeys::new(Arc::clone(&z));
        keys.rotate(0, PERIOD).unwrap();
        let t = Ticketer::new(Arc::clone(&z), PERIOD);
        let first = t.keys();
        assert!(
            Arc::ptr_eq(&first, &t.keys()),
            "the same keys, not read again"
        );
        keys.rotate(0, PERIOD).unwrap();
        assert!(Arc::ptr_eq(&first, &t.keys()), "kept: no change");
        keys.rotate(P, PERIOD).unwrap();
        let second = t.keys();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(second.keys.len(), 2);
    }
}
