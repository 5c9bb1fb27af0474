//! Opening a file beneath a document directory and nowhere else. `openat2(2)` with
//! `RESOLVE_BENEATH` lets the kernel refuse every way out — `..`, an absolute symlink,
//! a relative symlink that climbs — in the same call that opens the file. Where the
//! kernel lacks openat2 (or a seccomp filter hides it), the fallback opens normally and
//! compares canonical paths.
//!
//! This is stricter than nginx's default (`disable_symlinks off` follows any symlink):
//! a symlink inside the static directory that points outside it is refused with 403.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Why a path was not opened.
#[derive(Debug)]
pub enum OpenError {
    /// The path resolves outside the directory.
    Escapes,
    Io(io::Error),
}

/// Opens `relative` (a path without a leading `/`) for reading, beneath `dir`.
pub fn open_beneath(dir: &Path, relative: &str) -> Result<File, OpenError> {
    let relative = relative.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    match openat2_beneath(dir, relative) {
        Err(e)
            if e.raw_os_error() == Some(libc::ENOSYS) || e.raw_os_error() == Some(libc::EPERM) =>
        {
            fallback(dir, relative)
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV) | Some(libc::ELOOP)) => {
            Err(OpenError::Escapes)
        }
        Err(e) => Err(OpenError::Io(e)),
        Ok(f) => Ok(f),
    }
}

fn cstring(p: &[u8]) -> io::Result<CString> {
    CString::new(p).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn openat2_beneath(dir: &Path, relative: &str) -> io::Result<File> {
    let dir_c = cstring(dir.as_os_str().as_bytes())?;
    // SAFETY: dir_c is a valid NUL-terminated path.
    let dirfd = unsafe {
        libc::open(
            dir_c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dirfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: dirfd is a descriptor we just opened and now own.
    let dir_owned = unsafe { OwnedFd::from_raw_fd(dirfd) };
    let rel_c = cstring(relative.as_bytes())?;
    // SAFETY: open_how is plain old data; zero is valid for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: the pointers are valid for the call; size is the struct's size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            std::os::fd::AsRawFd::as_raw_fd(&dir_owned),
            rel_c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
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
        std::fs::create_dir_all(www.join("css")).unwrap();
        std::fs::write(www.join("css/app.css"), "body{}").unwrap();
        std::fs::write(root.path().join("secret"), "no").unwrap();
        std::fs::write(outside.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), www.join("abs-link")).unwrap();
        std::os::unix::fs::symlink("../secret", www.join("rel-link")).unwrap();
        std::os::unix::fs::symlink("css/app.css", www.join("inner-link")).unwrap();
        assert!(open_beneath(&www, "css/app.css").is_ok());
        assert!(open_beneath(&www, "/css/app.css").is_ok());
        assert!(
            open_beneath(&www, "inner-link").is_ok(),
            "a symlink that stays inside is fine"
        );
        for escape in ["../secret", "css/../../secret", "abs-link", "rel-link"] {
            assert!(
                matches!(open_beneath(&www, escape), Err(OpenError::Escapes)),
                "{escape}"
            );
            assert!(
                matches!(fallback(&www, escape), Err(OpenError::Escapes)),
                "fallback {escape}"
            );
        }
        assert!(
            matches!(open_beneath(&www, "missing"), Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound)
        );
    }
}
