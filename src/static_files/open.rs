//! Opening a file beneath a document directory and nowhere else. `openat2(2)` with
//! `RESOLVE_BENEATH` lets the kernel refuse every way out — `..`, an absolute symlink,
//! a relative symlink that climbs — in the same call that opens the file. Where the
//! kernel lacks openat2 (or a seccomp filter hides it), the fallback opens normally and
//! compares canonical paths.
//!
//! The directory itself is opened once and its descriptor reused for [`DIR_TTL`]. A
//! regular file opened beneath it is kept open too, and reused while one `statx(2)`
//! of its path finds the same file unchanged (same inode, size, modification and
//! status-change times; a `chmod`, a write, a rename over it all change one of them):
//! per request a hit costs that `statx` instead of `openat2`, `fstat` and `close`.
//! The files kept go with their directory's entry, so a file deleted from disk is
//! released at the directory's next renewal.
//!
//! This is stricter than nginx's default (`disable_symlinks off` follows any symlink):
//! a symlink inside the static directory that points outside it is refused with 403.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use super::conditional::Validators;
use crate::fast_hash::FastMap;

/// Why a path was not opened.
#[derive(Debug)]
pub enum OpenError {
    /// The path resolves outside the directory.
    Escapes,
    /// `disable_symlinks` refused a component of the path (nginx's `openat()`
    /// failure: ENOTDIR for a symlinked directory, ELOOP for a symlinked file).
    Symlink(io::Error),
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

/// At most this many files are kept open per worker, whatever their directories:
/// each holds a descriptor, and descriptors are for connections first. Past it the
/// kept files start over.
const MAX_FILES: usize = 64;

struct OpenDir {
    fd: OwnedFd,
    /// When it was opened, on the coarse monotonic clock.
    opened: Duration,
    /// Regular files opened beneath it, by relative path.
    files: FastMap<Box<str>, Opened>,
}

/// An open file, its metadata and its validators, as taken when it was opened, so a
/// kept file's are not worked out again per request.
#[derive(Debug, Clone)]
pub struct Opened {
    pub file: Rc<File>,
    pub meta: Metadata,
    pub validators: Rc<Validators>,
}

/// What identifies a file's content and permissions on disk: if `statx` finds these
/// unchanged, the open descriptor serves what a fresh `open` would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The stamp of `relative` beneath `dirfd` now (following symlinks, as `open`).
    fn now(dirfd: RawFd, relative: &str) -> io::Result<Stamp> {
        with_c_path(relative, |rel| {
            // SAFETY: statx is plain old data; zero is valid for every field.
            let mut buf: libc::statx = unsafe { std::mem::zeroed() };
            // SAFETY: dirfd is open (held by the cache), the pointers are valid for
            // the call, and statx writes only into `buf`.
            let rc = unsafe {
                libc::statx(
                    dirfd,
                    rel.as_ptr(),
                    libc::AT_STATX_SYNC_AS_STAT,
                    libc::STATX_BASIC_STATS,
                    &mut buf,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Stamp {
                dev: libc::makedev(buf.stx_dev_major, buf.stx_dev_minor),
                ino: buf.stx_ino,
                size: buf.stx_size,
                mtime: (buf.stx_mtime.tv_sec, i64::from(buf.stx_mtime.tv_nsec)),
                ctime: (buf.stx_ctime.tv_sec, i64::from(buf.stx_ctime.tv_nsec)),
            })
        })
    }
}

/// A worker's open directories and the files kept beneath them.
#[derive(Default)]
struct Cache {
    dirs: FastMap<Box<str>, OpenDir>,
}

impl Cache {
    /// Files kept, over all directories.
    fn kept_files(&self) -> usize {
        self.dirs.values().map(|d| d.files.len()).sum()
    }

    /// Keeps `opened` beneath `dir` (an entry of `dirs`), within [`MAX_FILES`].
    fn keep(&mut self, dir: &str, relative: &str, opened: &Opened) {
        if self.kept_files() >= MAX_FILES {
            for d in self.dirs.values_mut() {
                d.files.clear();
            }
        }
        if let Some(d) = self.dirs.get_mut(dir) {
            d.files.insert(Box::from(relative), opened.clone());
        }
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Opens `relative` (a path without a leading `/`) for reading, beneath `dir`, or
/// reuses the descriptor kept from an earlier open of the same unchanged file.
pub fn open_beneath(dir: &str, relative: &str) -> Result<Opened, OpenError> {
    let relative = relative.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let d = fresh_dir(&mut cache, dir)?;
        let dirfd = d.fd.as_raw_fd();
        if let Some(kept) = d.files.get(relative) {
            if Stamp::now(dirfd, relative).ok() == Some(Stamp::of(&kept.meta)) {
                return Ok(kept.clone());
            }
            d.files.remove(relative);
        }
        let file = open_file(dir, dirfd, relative)?;
        let meta = file.metadata().map_err(OpenError::Io)?;
        let validators = Rc::new(Validators::new(meta.mtime(), meta.len()));
        let opened = Opened {
            file: Rc::new(file),
            meta,
            validators,
        };
        if opened.meta.is_file() {
            cache.keep(dir, relative, &opened);
        }
        Ok(opened)
    })
}

/// Opens the file itself: `openat2` beneath the directory's descriptor, or the
/// canonical-path fallback where the kernel lacks it.
fn open_file(dir: &str, dirfd: RawFd, relative: &str) -> Result<File, OpenError> {
    match openat2_beneath(dirfd, relative) {
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

/// The directory's entry: its `O_PATH` descriptor, opened at most once per
/// [`DIR_TTL`], and the files kept beneath it (released when it is renewed).
fn fresh_dir<'c>(cache: &'c mut Cache, dir: &str) -> Result<&'c mut OpenDir, OpenError> {
    let now = crate::sys::coarse_monotonic();
    let fresh = cache
        .dirs
        .get(dir)
        .is_some_and(|d| now.saturating_sub(d.opened) < DIR_TTL);
    if !fresh {
        let fd = open_dir(dir).map_err(OpenError::Io)?;
        if cache.dirs.len() >= MAX_DIRS && !cache.dirs.contains_key(dir) {
            cache.dirs.clear();
        }
        let entry = OpenDir {
            fd,
            opened: now,
            files: FastMap::default(),
        };
        cache.dirs.insert(Box::from(dir), entry);
    }
    cache
        .dirs
        .get_mut(dir)
        .ok_or_else(|| OpenError::Io(io::Error::from(io::ErrorKind::NotFound)))
}

fn open_dir(dir: &str) -> io::Result<OwnedFd> {
    with_c_path(dir, |c| {
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
    })
}

fn openat2_beneath(dirfd: RawFd, relative: &str) -> io::Result<File> {
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
    fn a_kept_file_is_reused_only_while_it_is_unchanged() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().to_str().unwrap();
        let path = root.path().join("app.css");
        std::fs::write(&path, "one").unwrap();
        let first = open_beneath(dir, "app.css").unwrap();
        let again = open_beneath(dir, "app.css").unwrap();
        assert!(Rc::ptr_eq(&first.file, &again.file), "the kept descriptor");

        // Written in place, longer: the same inode, a new size.
        std::fs::write(&path, "two, longer").unwrap();
        let written = open_beneath(dir, "app.css").unwrap();
        assert!(!Rc::ptr_eq(&first.file, &written.file));
        assert_eq!(written.meta.len(), 11);

        // Replaced by a rename (how deploys swap files): the new file.
        let staged = root.path().join("app.css.new");
        std::fs::write(&staged, "new").unwrap();
        std::fs::rename(&staged, &path).unwrap();
        let renamed = open_beneath(dir, "app.css").unwrap();
        assert_eq!(renamed.meta.ino(), std::fs::metadata(&path).unwrap().ino());
        let mut content = String::new();
        std::io::Read::read_to_string(&mut &*renamed.file, &mut content).unwrap();
        assert_eq!(content, "new");

        // Permissions changed: reopened (a fresh open decides).
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(&path, perms).unwrap();
        let chmodded = open_beneath(dir, "app.css").unwrap();
        assert!(!Rc::ptr_eq(&renamed.file, &chmodded.file));

        // Deleted: not found, although its descriptor was kept.
        std::fs::remove_file(&path).unwrap();
        assert!(
            matches!(open_beneath(dir, "app.css"), Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn kept_files_stay_within_the_limit() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().to_str().unwrap();
        for i in 0..MAX_FILES * 2 + 3 {
            let name = format!("f{i}");
            std::fs::write(root.path().join(&name), "x").unwrap();
            open_beneath(dir, &name).unwrap();
            let kept = CACHE.with(|c| c.borrow().kept_files());
            assert!((1..=MAX_FILES).contains(&kept), "{kept}");
        }
        // Directories are not kept as files.
        std::fs::create_dir(root.path().join("sub")).unwrap();
        let before = CACHE.with(|c| c.borrow().kept_files());
        assert!(open_beneath(dir, "sub").unwrap().meta.is_dir());
        assert_eq!(CACHE.with(|c| c.borrow().kept_files()), before);
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
