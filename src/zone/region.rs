//! The memory of a zone: a memfd of the zone's size, mapped `MAP_SHARED`. The master
//! creates it before forking, so every worker inherits the same pages at whatever
//! address; a USR2 upgrade passes the descriptor to the new binary, which maps it
//! again (at another address: hence offsets, never pointers, inside a zone).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// A shared mapping of a memfd, unmapped on drop (the pages live while any process
/// maps them or holds the descriptor).
#[derive(Debug)]
pub struct Region {
    fd: OwnedFd,
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is shared memory whose contents are only accessed through
// atomics and the zone's process-shared lock, which are as safe from several threads
// as from several processes; the pointer itself is never changed.
unsafe impl Send for Region {}
// SAFETY: as above: `&Region` gives no unsynchronised access to the pages.
unsafe impl Sync for Region {}

impl Region {
    /// A new zero-filled region of `len` bytes, named `name` in `/proc/PID/fd`
    /// (`memfd:vestibule-zone-NAME`). Close-on-exec: a USR2 upgrade passes it on
    /// explicitly.
    pub fn create(name: &str, len: usize) -> io::Result<Region> {
        let label = CString::new(format!("vestibule-zone-{name}"))
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a valid NUL-terminated name; flags are plain bits.
        let raw = unsafe { libc::memfd_create(label.as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let size = libc::off_t::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: ftruncate on our own descriptor.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Region::map(fd, len)
    }

    /// Maps a region another process created (a USR2 upgrade's inherited descriptor),
    /// at its whole size.
    pub fn adopt(fd: OwnedFd) -> io::Result<Region> {
        // SAFETY: stat is plain old data filled by fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on a valid descriptor with a valid buffer.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let len = usize::try_from(st.st_size).map_err(|_| io::ErrorKind::InvalidData)?;
        Region::map(fd, len)
    }

    fn map(fd: OwnedFd, len: usize) -> io::Result<Region> {
        if len == 0 {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        // SAFETY: a fresh shared mapping of a descriptor we own, at an address the
        // kernel chooses; nothing else refers to it yet.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(ptr.cast::<u8>()).ok_or(io::ErrorKind::InvalidData)?;
        Ok(Region { fd, base, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first byte of the mapping, page-aligned.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// The memfd, for passing to a new binary.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `map`, unmapped once; no reference into
        // it outlives the Region (they borrow it).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}
