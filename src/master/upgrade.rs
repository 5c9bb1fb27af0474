//! `USR2`: a binary upgrade without closing a socket. The master forks and execs the
//! binary on disk (usually a newer one) with every listening socket passed as
//! descriptors 3, 4, ... (`LISTEN_FDS`, the socket-activation protocol), so the new
//! master takes them over; its pid file is written anew and the old one is renamed
//! `.oldbin`, as nginx does. The old master keeps serving until it is told `WINCH`
//! (stop its workers) and `QUIT`.
//!
//! The zones' memfds follow the sockets (descriptors `3 + LISTEN_FDS`, ...), named in
//! `VESTIBULE_ZONE_FDS`; the new master maps those its configuration wants with the
//! same name and size, so both generations share them (the fail counts go on).

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

use crate::worker::listener::BoundListener;

/// Descriptors at or above this are free for shuffling before the final `dup2`s.
const SCRATCH_FD: i32 = 1000;

/// Forks and execs `/proc/self/exe` with the same arguments and the sockets passed.
/// Returns the new master's pid.
pub fn exec_new_binary(
    sockets: &[&BoundListener],
    zones: &[std::os::fd::BorrowedFd<'_>],
) -> std::io::Result<i32> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let exe_c = CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let fds: Vec<i32> = sockets.iter().map(|s| raw(s)).collect();
    let zone_fds: Vec<i32> = zones.iter().map(AsRawFd::as_raw_fd).collect();
    let zone_targets: Vec<String> = (0..zone_fds.len())
        .map(|i| (3 + fds.len() + i).to_string())
        .collect();
    let zone_list = zone_targets.join(",");
    // SAFETY: the master is single-threaded; the child only calls async-signal-safe
    // functions (dup, dup2, setenv before exec is safe without other threads) and exec.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok(pid);
    }
    // Child: move the sockets to 3, 4, ... (through high numbers, so none is clobbered).
    let mut moved = Vec::with_capacity(fds.len() + zone_fds.len());
    for fd in fds.iter().chain(&zone_fds) {
        // SAFETY: fcntl duplicates a valid descriptor.
        moved.push(unsafe { libc::fcntl(*fd, libc::F_DUPFD, SCRATCH_FD) });
    }
    for (i, fd) in moved.iter().enumerate() {
        let target = 3 + i32::try_from(i).unwrap_or(0);
        // SAFETY: dup2 onto a small descriptor; the new one is not close-on-exec.
        unsafe { libc::dup2(*fd, target) };
    }
    let pid_text = std::process::id().to_string();
    std::env::set_var("LISTEN_PID", pid_text);
    std::env::set_var("LISTEN_FDS", fds.len().to_string());
    if zone_fds.is_empty() {
        std::env::remove_var(crate::zone::INHERITED_ENV);
    } else {
        std::env::set_var(crate::zone::INHERITED_ENV, &zone_list);
    }
    std::env::remove_var("NOTIFY_SOCKET");
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: exe_c and argv are NUL-terminated and outlive the call; execv only
    // returns on failure.
    unsafe { libc::execv(exe_c.as_ptr(), argv.as_ptr()) };
    std::process::exit(1);
}

fn raw(s: &BoundListener) -> i32 {
    match &s.socket {
        crate::worker::listener::BoundSocket::Tcp(l) => l.as_raw_fd(),
        crate::worker::listener::BoundSocket::Unix(l) => l.as_raw_fd(),
    }
}
