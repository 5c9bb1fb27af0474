//! Opening a file beneath a document directory and nowhere else. `openat2(2)` with
//! `RESOLVE_BENEATH` lets the kernel refuse every way out — `..`, an absolute symlink,
//! a relative symlink that climbs — in the same call that opens the file. Where the
//! kernel lacks openat2 (or a seccomp filter hides it), the fallback opens normally and
//! compares canonical paths.
//!
//! The directory itself is opened once and its descriptor reused for [`DIR_TTL`]: per
//! request only the file is opened.
//!
//! This is stricter than nginx's default (`disable_symlinks off` follows any symlink):
//! a symlink inside the static directory that points outside it is refused with 403.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::fast_hash::FastMap;

/// Why a path was not opened.
#[derive(Debug)]
pub enum OpenError {
    /// The path resolves outside the directory.
    Escapes,
    Io(io::Error),
}

/// How long a document directory's descriptor is reused before it is opened again, so
/// a directory replaced on disk (a deploy that swaps a `current` symlink, a `root`
/// removed and recreated) is seen within this time. nginx reopens every path unless
/// `open_file_cache` is on; reopening the directory cost an `openat` and a `close` per
/// request (docs/performance.md).
const DIR_TTL: Duration = Duration::from_secs(1);
/// At most this many directories are held open per worker (`root` with variables can
/// name many); past it the cache starts over.
const MAX_DIRS: usize = 64;

struct OpenDir {
    fd: OwnedFd,
    opened: Instant,
}

thread_local! {
    static DIRS: RefCell<FastMap<Box<str>, OpenDir>> = RefCell::new(FastMap::default());
}

/// Opens `relative` (a path without a leading `/`) for reading, beneath `dir`.
pub fn open_beneath(dir: &str, relative: &str) -> Result<File, OpenError> {
    let relative = relative.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    match openat2_beneath(dir, relative) {
        Err(e)
            if e.raw_os_error() == Some(libc::ENOSYS) || e.raw_os_error() == Some(libc::EPERM) =>
        {
            fallback(Path::new(dir), relative)
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV) | Some(libc::ELOOP)) => {
            Err(OpenError::Escapes)
        }
        Err(e) => Err(OpenError::Io(e)),
        Ok(f) => Ok(f),
    }
}

/// `path` NUL-terminated, in `buf` when it fits (no allocation), else on the heap.
fn with_c_path<T>(path: &str, f: impl FnOnce(&CStr) -> io::Result<T>) -> io::Result<T> {
    let invalid = || io::Error::from(io::ErrorKind::InvalidInput);
    let mut buf = [0u8; 256];
    if let Some(room) = buf.get_mut(..path.len()) {
        room.copy_from_slice(path.as_bytes());
        let c = CStr::from_bytes_with_nul(buf.get(..=path.len()).ok_or_else(invalid)?)
            .map_err(|_| invalid())?;
        return f(c);
    }
    let c = CString::new(path).map_err(|_| invalid())?;
    f(&c)
}

/// The directory's `O_PATH` descriptor, opened at most once per [`DIR_TTL`].
fn dir_fd(dir: &str) -> io::Result<RawFd> {
    let now = Instant::now();
    DIRS.with(|dirs| {
        let mut dirs = dirs.borrow_mut();
        if let Some(d) = dirs.get(dir) {
            if now.duration_since(d.opened) < DIR_TTL {
                return Ok(d.fd.as_raw_fd());
            }
        }
        let fd = with_c_path(dir, |c| {
            // SAFETY: c is a valid NUL-terminated path.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: open returned a new descriptor that we own.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })?;
        let raw = fd.as_raw_fd();
        if dirs.len() >= MAX_DIRS && !dirs.contains_key(dir) {
            dirs.clear();
        }
        dirs.insert(Box::from(dir), OpenDir { fd, opened: now });
        Ok(raw)
    })
}

fn openat2_beneath(dir: &str, relative: &str) -> io::Result<File> {
    let dirfd = dir_fd(dir)?;
    // SAFETY: open_how is plain old data; zero is valid for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    let fd = with_c_path(relative, |rel| {
        // SAFETY: dirfd stays open (the cache holds it and nothing else runs on this
        // thread meanwhile); the pointers are valid for the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                rel.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        i32::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
    })?;
    // SAFETY: openat2 returned a new descriptor that we own.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn fallback(dir: &Path, relative: &str) -> Result<File, OpenError> {
    let path = dir.join(relative);
    let file = File::open(&path).map_err(OpenError::Io)?;
    let real = std::fs::canonicalize(&path).map_err(OpenError::Io)?;
    let base = std::fs::canonicalize(dir).map_err(OpenError::Io)?;
    if real.starts_with(&base) {
        Ok(file)
    } else {
        Err(OpenError::Escapes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_inside_and_refuses_every_way_out() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let www = root.path().join("www");
        let www_dir = www.to_str().unwrap();
        std::fs::create_dir_all(www.join("css")).unwrap();
        std::fs::write(www.join("css/app.css"), "body{}").unwrap();
        std::fs::write(root.path().join("secret"), "no").unwrap();
        std::fs::write(outside.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), www.join("abs-link")).unwrap();
        std::os::unix::fs::symlink("../secret", www.join("rel-link")).unwrap();
        std::os::unix::fs::symlink("css/app.css", www.join("inner-link")).unwrap();
        assert!(open_beneath(www_dir, "css/app.css").is_ok());
        assert!(open_beneath(www_dir, "/css/app.css").is_ok());
        assert!(
            open_beneath(www_dir, "inner-link").is_ok(),
            "a symlink that stays inside is fine"
        );
        for escape in ["../secret", "css/../../secret", "abs-link", "rel-link"] {
            assert!(
                matches!(open_beneath(www_dir, escape), Err(OpenError::Escapes)),
                "{escape}"
            );
            assert!(
                matches!(fallback(&www, escape), Err(OpenError::Escapes)),
                "fallback {escape}"
            );
        }
        assert!(
            matches!(open_beneath(www_dir, "missing"), Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn a_replaced_directory_is_seen_after_the_ttl() {
        let root = tempfile::tempdir().unwrap();
        let www = root.path().join("www");
        std::fs::create_dir(&www).unwrap();
        std::fs::write(www.join("old"), "old").unwrap();
        let dir = www.to_str().unwrap();
        assert!(open_beneath(dir, "old").is_ok());
        std::fs::rename(&www, root.path().join("www.previous")).unwrap();
        std::fs::create_dir(&www).unwrap();
        std::fs::write(www.join("new"), "new").unwrap();
        std::thread::sleep(DIR_TTL + Duration::from_millis(50));
        assert!(
            open_beneath(dir, "new").is_ok(),
            "the new directory is used"
        );
        assert!(
            matches!(open_beneath(dir, "old"), Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound)
        );
    }
}
