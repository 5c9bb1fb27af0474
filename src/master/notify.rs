//! systemd's notification protocol (`sd_notify`): a datagram to `$NOTIFY_SOCKET`
//! saying `READY=1`, `RELOADING=1` with `MONOTONIC_USEC`, `STOPPING=1`, `STATUS=...`.
//! Nothing is sent when the variable is absent (not under systemd).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends one notification; errors are ignored (systemd may not be listening).
pub fn notify(message: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let (Ok(addr), Ok(socket)) = (addr, UnixDatagram::unbound()) else {
        return;
    };
    let _ = socket.send_to_addr(message.as_bytes(), &addr);
}

/// `MONOTONIC_USEC=`: CLOCK_MONOTONIC in microseconds, as systemd wants with RELOADING.
pub fn monotonic_usec() -> u64 {
    // SAFETY: timespec is plain old data; clock_gettime only writes into it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(ts.tv_nsec).unwrap_or(0) / 1000
}

/// Half of `$WATCHDOG_USEC` (systemd's advice), when systemd asked for pings.
pub fn watchdog_interval() -> Option<std::time::Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| std::time::Duration::from_micros(usec / 2))
}
