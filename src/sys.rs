//! Thin safe wrappers over the few libc calls that std does not offer: user and group
//! lookup for the `user` directive and the `-t` permission checks, signals for `-s`,
//! and a rename that never replaces (`--import-nginx`). Every `unsafe` block is here,
//! each with its reason.

use std::ffi::{CStr, CString};

/// A user from the password database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Buffer size for getpwnam_r/getgrnam_r; grown on ERANGE up to the limit.
const NSS_BUFFER_START: usize = 1024;
const NSS_BUFFER_LIMIT: usize = 1 << 20;

/// What a socket holds for reading, asked without waiting or consuming anything
/// (`recv(MSG_PEEK | MSG_DONTWAIT)` of one byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peek {
    /// Bytes wait to be read.
    Bytes,
    /// The peer closed its side (EOF).
    Closed,
    /// Nothing yet; the connection is open.
    Nothing,
    /// The connection failed (reset, ...).
    Failed,
}

/// `setsockopt(fd, level, name, &value, sizeof(int))`, for the integer socket options
/// socket2 has no setter for (`TCP_DEFER_ACCEPT`, `TCP_FASTOPEN`).
pub fn set_int_option(
    fd: std::os::fd::RawFd,
    level: i32,
    name: i32,
    value: i32,
) -> std::io::Result<()> {
    // SAFETY: the option value is a live local int and its size is passed; an invalid
    // descriptor or option is an error return, not undefined behaviour.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `SO_LINGER` on with a zero timeout: the socket's close then sends a TCP RST and
/// drops unsent data, leaving no TIME_WAIT or FIN_WAIT state behind
/// (`reset_timedout_connection`).
pub fn set_linger_zero(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the option value is a live local `linger` and its size is passed; an
    // invalid descriptor is an error return, not undefined behaviour.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Copies the bytes waiting on socket `fd` into `buf` without taking them
/// (`recv(MSG_PEEK | MSG_DONTWAIT)`): how many, `Ok(0)` when the peer closed, an error
/// of kind `WouldBlock` (or `Interrupted`) when nothing has arrived yet.
pub fn peek_into(fd: std::os::fd::RawFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: a recv into a live buffer of its own length; MSG_PEEK leaves the bytes in
    // the socket and MSG_DONTWAIT never blocks. A descriptor that is not a socket is an
    // error, not undefined behaviour.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

/// Peeks at socket `fd`: see [`Peek`].
pub fn peek(fd: std::os::fd::RawFd) -> Peek {
    match peek_into(fd, &mut [0u8]) {
        Ok(0) => Peek::Closed,
        Ok(_) => Peek::Bytes,
        Err(e) => match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Peek::Nothing,
            _ => Peek::Failed,
        },
    }
}

/// Looks a user up by name (`getpwnam_r`).
pub fn user_by_name(name: &str) -> Option<UserInfo> {
    let cname = CString::new(name).ok()?;
    let mut size = NSS_BUFFER_START;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: passwd is plain old data; zeroed is a valid (unused) value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the call; buf outlives the use of pwd's
        // string fields, which we copy before returning.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && size < NSS_BUFFER_LIMIT {
            size *= 2;
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        // SAFETY: pw_name points into buf and is NUL-terminated per getpwnam_r.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned();
        return Some(UserInfo {
            name,
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        });
    }
}

/// Looks a group up by name (`getgrnam_r`), giving its gid.
pub fn group_by_name(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut size = NSS_BUFFER_START;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: group is plain old data; zeroed is a valid (unused) value.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the duration of the call.
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && size < NSS_BUFFER_LIMIT {
            size *= 2;
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return Some(grp.gr_gid);
    }
}

/// The groups a user belongs to (primary and supplementary), as `getgrouplist`.
pub fn user_groups(user: &UserInfo) -> Vec<u32> {
    let Ok(cname) = CString::new(user.name.as_str()) else {
        return vec![user.gid];
    };
    let mut n: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; usize::try_from(n).unwrap_or(64)];
        let mut count = n;
        // SAFETY: groups has room for `count` entries; cname is NUL-terminated.
        let rc = unsafe {
            libc::getgrouplist(cname.as_ptr(), user.gid, groups.as_mut_ptr(), &mut count)
        };
        if rc >= 0 {
            groups.truncate(usize::try_from(count).unwrap_or(0));
            return groups;
        }
        if count <= n || n > 65536 {
            return vec![user.gid];
        }
        n = count;
    }
}

/// The effective uid of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail and has no preconditions.
    unsafe { libc::geteuid() }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    effective_uid() == 0
}

/// Sends `signal` to `pid`; the error is the OS error (`ESRCH`, `EPERM`).
pub fn send_signal(pid: i32, signal: i32) -> std::io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `strerror` text for an errno, as nginx prints it: `No such file or directory`.
pub fn strerror(errno: i32) -> String {
    // std's message is "No such file or directory (os error 2)"; keep the text part.
    let msg = std::io::Error::from_raw_os_error(errno).to_string();
    match msg.rfind(" (os error") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

/// This machine's host name (`$hostname`), or `localhost` when it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: buf is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len() - 1) };
    if rc != 0 {
        return "localhost".to_string();
    }
    // SAFETY: buf is NUL-terminated (its last byte was never written).
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// A broken-down local time, as nginx's log timestamps use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1–12
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Offset from UTC in seconds (east positive).
    pub utc_offset: i64,
}

/// Converts seconds since the epoch to local time (`localtime_r`), falling back to UTC.
pub fn local_time(epoch_secs: i64) -> LocalTime {
    let t: libc::time_t = epoch_secs;
    // SAFETY: tm is plain old data; zeroed is valid and localtime_r fills it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    if !ok {
        // SAFETY: as above, gmtime_r only writes into tm.
        unsafe { libc::gmtime_r(&t, &mut tm) };
    }
    LocalTime {
        year: tm.tm_year + 1900,
        month: u32::try_from(tm.tm_mon + 1).unwrap_or(1),
        day: u32::try_from(tm.tm_mday).unwrap_or(1),
        hour: u32::try_from(tm.tm_hour).unwrap_or(0),
        minute: u32::try_from(tm.tm_min).unwrap_or(0),
        second: u32::try_from(tm.tm_sec).unwrap_or(0),
        utc_offset: if ok { tm.tm_gmtoff } else { 0 },
    }
}

/// Keeps glibc's allocator from handing the top of the heap back to the kernel after
/// every burst: the request path frees and reallocates small buffers at a high rate,
/// and with the default 128 KiB trim threshold that cost a `brk` pair every few proxied
/// requests (measured with `strace -c` on a worker under load). Freed memory stays
/// with the process for reuse instead; the worker's footprint is unchanged at rest
/// (docs/performance.md). mimalloc was tried: as fast, but 40 % more memory per idle
/// keep-alive connection.
pub fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator tunables; it is called before any thread
    // or worker exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Reads a coarse clock (`CLOCK_*_COARSE`): the time of the last timer tick, a few
/// milliseconds old at most, without reading the hardware counter. Enough for what
/// counts in seconds (the `Date` header, `expires`, a cache's time to live) and
/// several times cheaper per call on virtual machines, where the request path reads
/// the clock often.
fn coarse_clock(clock: libc::clockid_t) -> Option<std::time::Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a live local.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec).ok()?;
    Some(std::time::Duration::new(secs, nanos))
}

/// The wall-clock time from the coarse clock (see [`coarse_clock`]); the precise one
/// if the coarse clock cannot be read.
pub fn coarse_wall_time() -> std::time::SystemTime {
    coarse_clock(libc::CLOCK_REALTIME_COARSE)
        .map(|d| std::time::UNIX_EPOCH + d)
        .unwrap_or_else(std::time::SystemTime::now)
}

/// How far the coarse monotonic clock may lag the precise one: its resolution (one
/// timer tick, 1–10 ms by the kernel's `HZ`), read once.
pub fn coarse_resolution() -> std::time::Duration {
    static RESOLUTION: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *RESOLUTION.get_or_init(|| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_getres writes one timespec into a live local.
        let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
        if rc == 0 && ts.tv_sec == 0 && nanos > 0 {
            std::time::Duration::from_nanos(nanos)
        } else {
            std::time::Duration::from_millis(10)
        }
    })
}

/// Time since an unspecified start from the coarse monotonic clock (see
/// [`coarse_clock`]), for ages in whole seconds; zero if it cannot be read.
pub fn coarse_monotonic() -> std::time::Duration {
    coarse_clock(libc::CLOCK_MONOTONIC_COARSE).unwrap_or_default()
}

/// Renames `from` to `to` only if `to` does not exist (`renameat2(RENAME_NOREPLACE)`),
/// so a directory that appeared meanwhile is never replaced (a plain `rename` replaces
/// an empty one). Where the filesystem refuses the flag, checks and renames.
pub fn rename_no_replace(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &std::path::Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    };
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: both paths are live NUL-terminated strings; AT_FDCWD makes them relative
    // to the working directory as rename(2) would; failure is an error return.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cfrom.as_ptr(),
            libc::AT_FDCWD,
            cto.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EINVAL) {
        return Err(err);
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(std::io::Error::from_raw_os_error(libc::EEXIST));
    }
    std::fs::rename(from, to)
}

/// An unlinked temp file in `dir`, creating the directory on first use (nginx creates
/// its temp paths at start).
pub fn open_temp(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    match tempfile::tempfile_in(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            tempfile::tempfile_in(dir)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_no_replace_never_replaces_even_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        std::fs::create_dir(&from).unwrap();
        std::fs::create_dir(&to).unwrap();
        let err = rename_no_replace(&from, &to).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(from.is_dir());
        std::fs::remove_dir(&to).unwrap();
        rename_no_replace(&from, &to).unwrap();
        assert!(to.is_dir() && !from.exists());
    }

    #[test]
    fn root_exists_and_nonsense_does_not() {
        let root = user_by_name("root").unwrap();
        assert_eq!(root.uid, 0);
        assert!(user_by_name("no-such-user-vestibule").is_none());
        assert_eq!(group_by_name("root"), Some(0));
        assert!(group_by_name("no-such-group-vestibule").is_none());
        assert!(user_groups(&root).contains(&0));
    }

    #[test]
    fn strerror_matches_nginx_wording() {
        assert_eq!(strerror(2), "No such file or directory");
        assert_eq!(strerror(13), "Permission denied");
        assert_eq!(strerror(21), "Is a directory");
    }

    #[test]
    fn coarse_clocks_are_close_to_the_precise_ones() {
        let precise = std::time::SystemTime::now();
        let coarse = coarse_wall_time();
        let apart = match precise.duration_since(coarse) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        assert!(apart < std::time::Duration::from_millis(100), "{apart:?}");
        let first = coarse_monotonic();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let later = coarse_monotonic();
        assert!(later > first && later - first < std::time::Duration::from_secs(1));
    }
}
