//! Zones: named regions of memory shared by the master and every worker (DESIGN.md
//! §7), as nginx's `ngx_shared_memory_add`. Upstream fail counts live in one
//! ([`peer_fails`]), as do the TLS session cache ([`tls_sessions`]) and the TLS
//! session ticket keys ([`tickets`]), and the tables of `limit_req_zone` and
//! `limit_conn_zone` ([`limits`]), the Prometheus counters ([`metrics`]), and the
//! response cache's keys (`proxy_cache_path ... keys_zone=`, [`crate::cache::index`]).
//!
//! ```text
//! master: config ──specs──► Zones::for_specs ──(memfd, mmap MAP_SHARED)──► fork ─► workers
//!           │  reload: same name and size → the same memfd, contents kept;
//!           │          otherwise a new zone, and a new worker generation maps it
//!           └─ USR2: the memfds go to the new binary with the listeners
//!              (VESTIBULE_ZONE_FDS), which maps and keeps them by name and size
//! ```
//!
//! - **Made by the master before forking**, sized by the configuration; a worker only
//!   ever uses the mappings it inherited. A reload whose zones are all kept can be
//!   applied in place; one that needs a new zone starts a new generation of workers,
//!   which inherit it (src/master/).
//! - **Offsets, not pointers**: a zone is mapped at a different address in a new
//!   binary after USR2, so nothing inside one points anywhere; data is addressed by
//!   offset from the start of the zone's data ([`Zone::u64_at`]).
//! - **Atomics, or the zone's lock**: a word shared without the lock is read and
//!   written as an atomic ([`Zone::u64_at`]); the lock ([`Zone::lock`], a robust
//!   process-shared mutex, see [`lock`]) orders updates that touch several words. A
//!   table whose every access holds the lock may instead copy bytes in and out
//!   ([`ZoneGuard::read`], [`ZoneGuard::write`]: bounds-checked, little-endian
//!   integers). A holder killed while holding the lock cannot wedge the others: the
//!   next locker gets it, and [`ZoneGuard::recovered`] says the data it guards may be
//!   half-updated.
//!
//! Layout of a zone: a header (magic, size, name, recovery count, the lock) in the
//! first [`DATA_OFFSET`] bytes, then the data.

pub mod health;
pub mod keyed;
pub mod limits;
pub mod lock;
pub mod metrics;
pub mod peer_fails;
pub mod region;
pub mod status;
pub mod tickets;
pub mod tls_sessions;

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::Config;
use region::Region;

/// The first bytes of every zone (and the layout's version).
const MAGIC: [u8; 8] = *b"VZONE\0\0\x01";
/// The longest zone name.
pub const NAME_MAX: usize = 48;
/// Where a zone's data starts; the header lives before it.
pub const DATA_OFFSET: usize = 256;

/// The start of every zone.
#[repr(C)]
struct Header {
    magic: [u8; 8],
    data_len: u64,
    name: [u8; NAME_MAX],
    /// How many times a dead holder's lock was taken over.
    recoveries: AtomicU64,
    lock: libc::pthread_mutex_t,
}

const _: () = assert!(std::mem::size_of::<Header>() <= DATA_OFFSET);

/// The environment variable that tells a new binary (USR2) which descriptors are zones.
pub const INHERITED_ENV: &str = "VESTIBULE_ZONE_FDS";

/// What went wrong with a zone.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error("zone \"{name}\": {op}() failed: {source}")]
    Os {
        name: String,
        op: &'static str,
        source: io::Error,
    },
    #[error("zone name \"{0}\" is longer than {NAME_MAX} bytes")]
    NameTooLong(String),
    #[error("descriptor {0} passed as a zone is not a vestibule zone")]
    NotAZone(i32),
}

/// A zone wanted by the configuration: its name and the size of its data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Spec {
    pub name: String,
    pub size: usize,
}

/// Every zone `config` needs.
pub fn specs(config: &Config) -> Vec<Spec> {
    let mut specs = vec![peer_fails::spec(config), status::spec(), health::spec()];
    for c in config.http.iter().flat_map(|h| h.cache_paths.iter()) {
        specs.push(Spec {
            name: c.zone_name(),
            size: c.keys_size,
        });
    }
    for z in config.http.iter().flat_map(|h| h.limit_zones.iter()) {
        specs.push(Spec {
            name: z.zone_name(),
            size: z.size,
        });
    }
    specs
}

/// One named shared region, mapped in this process.
#[derive(Debug)]
pub struct Zone {
    name: String,
    size: usize,
    region: Region,
}

impl Zone {
    /// A new zone with `size` bytes of zeroed data, its lock initialised.
    pub fn create(name: &str, size: usize) -> Result<Zone, ZoneError> {
        if name.len() > NAME_MAX {
            return Err(ZoneError::NameTooLong(name.to_owned()));
        }
        let os = |op| {
            move |source| ZoneError::Os {
                name: name.to_owned(),
                op,
                source,
            }
        };
        let len = DATA_OFFSET
            .checked_add(size)
            .ok_or_else(|| os("mmap")(io::ErrorKind::InvalidInput.into()))?;
        let region = Region::create(name, len).map_err(os("memfd_create"))?;
        let header = region.base().as_ptr().cast::<Header>();
        let mut name_bytes = [0u8; NAME_MAX];
        name_bytes[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: the mapping is at least DATA_OFFSET bytes (> the header), page-aligned,
        // and no other process sees it yet; the lock is initialised in place.
        unsafe {
            std::ptr::addr_of_mut!((*header).data_len).write(size as u64);
            std::ptr::addr_of_mut!((*header).name).write(name_bytes);
            lock::init(std::ptr::addr_of_mut!((*header).lock)).map_err(os("pthread_mutex_init"))?;
            // The magic last: a zone with it is complete.
            std::ptr::addr_of_mut!((*header).magic).write(MAGIC);
        }
        Ok(Zone {
            name: name.to_owned(),
            size,
            region,
        })
    }

    /// A zone another process made, from its memfd (USR2).
    pub fn adopt(fd: OwnedFd) -> Result<Zone, ZoneError> {
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        let region = Region::adopt(fd).map_err(|source| ZoneError::Os {
            name: format!("fd {raw}"),
            op: "mmap",
            source,
        })?;
        if region.len() < DATA_OFFSET {
            return Err(ZoneError::NotAZone(raw));
        }
        let header = region.base().as_ptr().cast::<Header>();
        // SAFETY: the mapping holds a whole header; the creator wrote these fields
        // before passing the zone on, and nobody writes them after.
        let (magic, data_len, name) = unsafe {
            (
                std::ptr::addr_of!((*header).magic).read(),
                std::ptr::addr_of!((*header).data_len).read(),
                std::ptr::addr_of!((*header).name).read(),
            )
        };
        let size = usize::try_from(data_len).map_err(|_| ZoneError::NotAZone(raw))?;
        if magic != MAGIC || DATA_OFFSET.checked_add(size) != Some(region.len()) {
            return Err(ZoneError::NotAZone(raw));
        }
        let end = name.iter().position(|&b| b == 0).unwrap_or(NAME_MAX);
        let name = String::from_utf8_lossy(name.get(..end).unwrap_or_default()).into_owned();
        Ok(Zone { name, size, region })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size of the data, as configured.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The memfd (for a new binary on USR2).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.region.fd()
    }

    fn header(&self) -> *mut Header {
        self.region.base().as_ptr().cast::<Header>()
    }

    /// How many times a lock holder died holding the lock and another took it over.
    pub fn recoveries(&self) -> u64 {
        // SAFETY: the header is in the mapping, which lives as long as `self`; the
        // field is only ever accessed atomically.
        unsafe { (*std::ptr::addr_of!((*self.header()).recoveries)).load(Ordering::Acquire) }
    }

    /// Takes the zone's lock (blocking). If its holder died holding it, the lock is
    /// recovered and the guard says so.
    pub fn lock(&self) -> Result<ZoneGuard<'_>, ZoneError> {
        // SAFETY: the lock was initialised by `create` (or the creator, for an adopted
        // zone) and stays mapped while the guard borrows `self`.
        let acquired = unsafe { lock::lock(std::ptr::addr_of_mut!((*self.header()).lock)) }
            .map_err(|source| ZoneError::Os {
                name: self.name.clone(),
                op: "pthread_mutex_lock",
                source,
            })?;
        let recovered = acquired == lock::Acquired::OwnerDied;
        if recovered {
            // SAFETY: as in `recoveries`.
            unsafe {
                (*std::ptr::addr_of!((*self.header()).recoveries)).fetch_add(1, Ordering::AcqRel)
            };
        }
        Ok(ZoneGuard {
            zone: self,
            recovered,
            _not_send: std::marker::PhantomData,
        })
    }

    /// The 64-bit word at `offset` in the data, if it is in bounds and aligned.
    pub fn u64_at(&self, offset: usize) -> Option<&AtomicU64> {
        if offset % 8 != 0 || offset.checked_add(8)? > self.size {
            return None;
        }
        // SAFETY: in bounds of the mapping (DATA_OFFSET + offset + 8 <= len), 8-byte
        // aligned (page-aligned base, DATA_OFFSET and offset multiples of 8); the
        // mapping lives as long as `self`, and zone words are only accessed atomically.
        Some(unsafe {
            &*self
                .region
                .base()
                .as_ptr()
                .add(DATA_OFFSET + offset)
                .cast::<AtomicU64>()
        })
    }
}

/// The zone's lock, held; released on drop. Not `Send`: a mutex is released by the
/// thread that took it.
#[derive(Debug)]
pub struct ZoneGuard<'z> {
    zone: &'z Zone,
    recovered: bool,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl ZoneGuard<'_> {
    /// The previous holder died holding the lock: what it guards may be half-written.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    pub fn zone(&self) -> &Zone {
        self.zone
    }

    /// The address of `len` data bytes at `offset`, if they are all in the data.
    fn span(&self, offset: usize, len: usize) -> Result<*mut u8, OutOfBounds> {
        match offset.checked_add(len) {
            Some(end) if end <= self.zone.size => {}
            _ => return Err(OutOfBounds { offset, len }),
        }
        // SAFETY: DATA_OFFSET + offset + len <= DATA_OFFSET + size = the mapping's
        // length, so the pointer stays inside the mapping, which lives as long as
        // the zone this guard borrows.
        Ok(unsafe { self.zone.region.base().as_ptr().add(DATA_OFFSET + offset) })
    }

    /// Copies the data bytes at `offset` into `out` (bounds-checked).
    ///
    /// The byte API is for tables whose every access holds the lock (the TLS session
    /// cache, the ticket keys): the lock orders a copy against every other
    /// process's, so a plain copy never races. A byte range used this way must not
    /// also be read or written through [`Zone::u64_at`] without the lock. A
    /// holder killed mid-copy leaves the bytes torn: see [`ZoneGuard::recovered`].
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), OutOfBounds> {
        let from = self.span(offset, out.len())?;
        // SAFETY: `from..from + out.len()` is inside the mapping (`span`); `out` is a
        // distinct local buffer, so they do not overlap; the lock held by this guard
        // excludes every writer of these bytes (the byte API's contract above).
        unsafe { std::ptr::copy_nonoverlapping(from, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copies `bytes` into the data at `offset` (bounds-checked; see [`ZoneGuard::read`]).
    pub fn write(&self, offset: usize, bytes: &[u8]) -> Result<(), OutOfBounds> {
        let to = self.span(offset, bytes.len())?;
        // SAFETY: as in `read`, with the roles swapped: the mapping is writable
        // (PROT_WRITE), and no reader or writer of these bytes runs without the lock.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), to, bytes.len()) };
        Ok(())
    }

    /// Sets `len` data bytes at `offset` to `byte` (bounds-checked; see [`ZoneGuard::read`]).
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> Result<(), OutOfBounds> {
        let to = self.span(offset, len)?;
        // SAFETY: as in `write`.
        unsafe { std::ptr::write_bytes(to, byte, len) };
        Ok(())
    }

    /// The little-endian `u32` at `offset` (the byte API; see [`ZoneGuard::read`]).
    pub fn read_u32(&self, offset: usize) -> Result<u32, OutOfBounds> {
        let mut b = [0u8; 4];
        self.read(offset, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// The little-endian `u64` at `offset` (the byte API; see [`ZoneGuard::read`]).
    pub fn read_u64(&self, offset: usize) -> Result<u64, OutOfBounds> {
        let mut b = [0u8; 8];
        self.read(offset, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn write_u32(&self, offset: usize, value: u32) -> Result<(), OutOfBounds> {
        self.write(offset, &value.to_le_bytes())
    }

    pub fn write_u64(&self, offset: usize, value: u64) -> Result<(), OutOfBounds> {
        self.write(offset, &value.to_le_bytes())
    }
}

/// A byte access past the end of a zone's data: a table's layout does not fit the
/// zone it was given (a bug, or a zone of another size); the caller gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len} bytes at offset {offset} are past the end of the zone's data")]
pub struct OutOfBounds {
    pub offset: usize,
    pub len: usize,
}

impl Drop for ZoneGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this thread took the lock in `Zone::lock`.
        unsafe { lock::unlock(std::ptr::addr_of_mut!((*self.zone.header()).lock)) };
    }
}

/// The zones of one configuration, by name.
#[derive(Debug, Default, Clone)]
pub struct Zones {
    zones: Vec<Arc<Zone>>,
}

impl Zones {
    /// The zones `specs` want: a zone of `old` with the same name and size is kept
    /// (the same memory, contents and all), else one of `inherited` (a USR2 upgrade's)
    /// with the same name and size is taken, else a new zone is made.
    pub fn for_specs(
        specs: &[Spec],
        old: &Zones,
        inherited: &mut Vec<Zone>,
    ) -> Result<Zones, ZoneError> {
        let mut zones = Vec::with_capacity(specs.len());
        for spec in specs {
            let same = |z: &Zone| z.name == spec.name && z.size == spec.size;
            let zone = if let Some(kept) = old.zones.iter().find(|z| same(z)) {
                Arc::clone(kept)
            } else if let Some(i) = inherited.iter().position(same) {
                Arc::new(inherited.swap_remove(i))
            } else {
                Arc::new(Zone::create(&spec.name, spec.size)?)
            };
            zones.push(zone);
        }
        zones.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Zones { zones })
    }

    /// Whether `self` is exactly `other`'s zones (each the same memory): a reload
    /// with no new zone, which running workers can take in place.
    pub fn same_as(&self, other: &Zones) -> bool {
        self.zones.len() == other.zones.len()
            && self
                .zones
                .iter()
                .zip(&other.zones)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Zone>> {
        self.zones.iter().find(|z| z.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.iter()
    }
}

/// Zones an old master passed to this one on USR2 ([`INHERITED_ENV`]: their
/// descriptor numbers, comma-separated). Descriptors that are not zones are closed
/// and skipped. The variable is removed, so workers and later upgrades do not see it.
pub fn inherited() -> (Vec<Zone>, Vec<ZoneError>) {
    let Some(list) = std::env::var_os(INHERITED_ENV) else {
        return (Vec::new(), Vec::new());
    };
    std::env::remove_var(INHERITED_ENV);
    let mut zones = Vec::new();
    let mut errors = Vec::new();
    for item in list.to_string_lossy().split(',') {
        let Ok(fd) = item.trim().parse::<i32>() else {
            continue;
        };
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            continue;
        }
        // SAFETY: the old master passed this open descriptor to us for this purpose;
        // nothing else in this process owns it. Close-on-exec from now on.
        let owned = unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            OwnedFd::from_raw_fd(fd)
        };
        match Zone::adopt(owned) {
            Ok(z) => zones.push(z),
            Err(e) => errors.push(e),
        }
    }
    (zones, errors)
}

#[cfg(test)]
mod tests;
