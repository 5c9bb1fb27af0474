//! `disable_symlinks on | if_not_owner [from=PART]`: the path of a file is walked one
//! component at a time, as nginx's `ngx_open_file_wrapper` walks it, before the file
//! is opened beneath its document directory ([`super::open`]).
//!
//! - `on`: each directory is opened with `O_NOFOLLOW`, so a symlinked directory fails
//!   with "Not a directory" (nginx answers 404), and the last component with
//!   `O_NOFOLLOW`, so a symlinked file fails with "Too many levels of symbolic links"
//!   (403).
//! - `if_not_owner`: each component is followed, and refused ("Too many levels of
//!   symbolic links", 403) when the link and what it points to have different owners.
//! - `from=PART`: the components of `PART` (a prefix of the path ending at a `/`)
//!   are opened as they are; a `PART` that is the whole path turns the check off, and
//!   one that is not a prefix is ignored (the whole path is checked), as in nginx.
//!
//! Place in the data path: every open of the static handler (`try_files`
//! candidates, `index` files, the file itself) when `disable_symlinks` is not `off`.
//! The walk and the open are two steps: a symlink put in place between them is still
//! held beneath the document directory by the open's own rule.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::config::model::{DisableSymlinks, DocRoot, LocationConf};
use crate::config::template::{Template, Variable, VariableSource};
use crate::exchange::Exchange;

/// How a path is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// No symlink at all after the exempt part.
    NoSymlinks,
    /// A symlink only when it and its target have the same owner.
    SameOwner,
}

/// Where the check starts, from `from=` and the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The whole path is checked, from `/`.
    Root,
    /// The first `n` bytes (a directory) are exempt.
    After(usize),
    /// `from=` is the whole path: nothing is checked.
    Nothing,
}

/// nginx's reading of `from=PART` against `path`.
pub fn start(path: &str, from: &str) -> Start {
    if from.is_empty() || from.len() > path.len() || !path.starts_with(from) {
        return Start::Root;
    }
    if from.len() == path.len() {
        return Start::Nothing;
    }
    let b = path.as_bytes();
    if b.get(from.len()) == Some(&b'/') {
        Start::After(from.len())
    } else if b.get(from.len() - 1) == Some(&b'/') {
        Start::After(from.len() - 1)
    } else {
        Start::Root
    }
}

/// The check `conf` asks for on `path` (the full path, as logged), `None` when
/// symlinks are not restricted there.
pub fn policy(x: &Exchange, conf: &LocationConf, path: &str) -> Option<(Policy, Start)> {
    let (policy, from) = match &conf.files.disable_symlinks {
        DisableSymlinks::Off => return None,
        DisableSymlinks::On { from } => (Policy::NoSymlinks, from),
        DisableSymlinks::IfNotOwner { from } => (Policy::SameOwner, from),
    };
    let start = match from {
        None => Start::Root,
        Some(t) => start(path, &expand(x, conf, t)),
    };
    (start != Start::Nothing).then_some((policy, start))
}

/// `from=` expanded, `$document_root` included.
fn expand(x: &Exchange, conf: &LocationConf, t: &Template) -> String {
    let mut out = Vec::new();
    t.expand(&WithRoot { x, conf }, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The exchange's variables and `$document_root` (the root without its final `/`,
/// or the alias as written).
struct WithRoot<'a> {
    x: &'a Exchange,
    conf: &'a LocationConf,
}

impl VariableSource for WithRoot<'_> {
    fn write_variable(&self, var: &Variable, out: &mut Vec<u8>) -> bool {
        match (var, &self.conf.root) {
            (Variable::DocumentRoot, DocRoot::Root(t)) => {
                let start = out.len();
                t.expand(self.x as &dyn VariableSource, out);
                if out.len() > start + 1 && out.ends_with(b"/") {
                    out.pop();
                }
                true
            }
            (Variable::DocumentRoot, DocRoot::Alias(t)) => {
                t.expand(self.x as &dyn VariableSource, out);
                true
            }
            _ => self.x.write_variable(var, out),
        }
    }
}

/// Walks `path` from `start` under `policy`; the error is the component's, with
/// nginx's errno (ENOTDIR for a symlinked directory under `on`, ELOOP for a symlinked
/// file or an owner mismatch).
pub fn check(path: &str, start: Start, policy: Policy) -> io::Result<()> {
    let (anchor, rest) = match start {
        Start::Nothing => return Ok(()),
        Start::Root => ("/", path.get(1..).unwrap_or("")),
        Start::After(n) => (
            path.get(..n).unwrap_or("/"),
            path.get(n + 1..).unwrap_or(""),
        ),
    };
    let mut at = open_at(libc::AT_FDCWD, anchor, libc::O_DIRECTORY)?;
    let mut parts = rest.split('/').filter(|p| !p.is_empty()).peekable();
    // Bounded by the path's length: each turn takes one component.
    while let Some(part) = parts.next() {
        // A path ending in `/` names a directory: its last component is one too.
        let last = parts.peek().is_none() && !path.ends_with('/');
        let kind = if last {
            libc::O_NONBLOCK
        } else {
            libc::O_DIRECTORY
        };
        let fd = match policy {
            Policy::NoSymlinks => open_at(at.as_raw_fd(), part, kind | libc::O_NOFOLLOW)?,
            Policy::SameOwner => {
                let fd = open_at(at.as_raw_fd(), part, kind)?;
                if owner(at.as_raw_fd(), part, false)? != owner(fd.as_raw_fd(), "", true)? {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                fd
            }
        };
        at = fd;
    }
    Ok(())
}

fn open_at(dirfd: RawFd, name: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: c is NUL-terminated; dirfd is open or AT_FDCWD.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), flags | libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The owner of `name` beneath `dirfd` (the link itself), or of `dirfd` itself when
/// `itself`.
fn owner(dirfd: RawFd, name: &str, itself: bool) -> io::Result<libc::uid_t> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = if itself {
        libc::AT_EMPTY_PATH
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    };
    // SAFETY: stat is plain old data; zero is valid for every field.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: dirfd is open, c is NUL-terminated, fstatat writes only into st.
    if unsafe { libc::fstatat(dirfd, c.as_ptr(), &mut st, flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.st_uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_part_as_nginx_reads_it() {
        let path = "/srv/www/static/app.css";
        for (from, want) in [
            ("", Start::Root),
            ("/srv/www", Start::After(8)),
            ("/srv/www/", Start::After(8)),
            ("/srv/ww", Start::Root),
            ("/other", Start::Root),
            (path, Start::Nothing),
            ("/srv/www/static/app.css/more", Start::Root),
        ] {
            assert_eq!(start(path, from), want, "{from}");
        }
    }

    #[test]
    fn symlinks_refused_or_followed_by_owner() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().canonicalize().unwrap();
        std::fs::create_dir_all(base.join("real")).unwrap();
        std::fs::write(base.join("real/f.txt"), "f").unwrap();
        std::os::unix::fs::symlink("real", base.join("link")).unwrap();
        std::os::unix::fs::symlink("f.txt", base.join("real/flink")).unwrap();
        let p = |rel: &str| format!("{}/{rel}", base.display());
        let errno = |r: io::Result<()>| r.err().and_then(|e| e.raw_os_error());
        let none = Policy::NoSymlinks;
        assert!(check(&p("real/f.txt"), Start::Root, none).is_ok());
        assert_eq!(
            errno(check(&p("link/f.txt"), Start::Root, none)),
            Some(libc::ENOTDIR)
        );
        assert_eq!(
            errno(check(&p("real/flink"), Start::Root, none)),
            Some(libc::ELOOP)
        );
        assert_eq!(
            errno(check(&p("real/nothing"), Start::Root, none)),
            Some(libc::ENOENT)
        );
        let exempt = Start::After(p("link").len());
        assert!(check(&p("link/f.txt"), exempt, none).is_ok());
        // Same owner (the test's user owns both): followed.
        assert!(check(&p("link/f.txt"), Start::Root, Policy::SameOwner).is_ok());
        assert!(check(&p("real/flink"), Start::Root, Policy::SameOwner).is_ok());
    }
}
