//! systemd socket activation: when started by a `.socket` unit, the listening sockets
//! arrive as descriptors 3, 4, ... (`LISTEN_FDS`, for the process `LISTEN_PID`).
//! The master takes those whose address a `listen` names instead of binding its own,
//! and clears the variables so workers do not see them.

use std::os::fd::FromRawFd;
use std::os::unix::net::UnixListener;

use crate::config::model::ListenAddr;
use crate::worker::listener::{BoundListener, BoundSocket};

/// The first descriptor systemd passes.
const SD_LISTEN_FDS_START: i32 = 3;

/// The sockets systemd passed to this process, by address.
pub fn inherited() -> Vec<BoundListener> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let count: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    if !pid_ok || count <= 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for fd in SD_LISTEN_FDS_START..SD_LISTEN_FDS_START.saturating_add(count) {
        // SAFETY: systemd handed these descriptors to this process; each is owned once.
        let tcp = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        if let Ok(addr) = tcp.local_addr() {
            let _ = tcp.set_nonblocking(true);
            out.push(BoundListener {
                addr: ListenAddr::Tcp(addr),
                socket: BoundSocket::Tcp(tcp),
            });
            continue;
        }
        // Not an inet socket: take it back as a unix one.
        let raw = std::os::fd::IntoRawFd::into_raw_fd(tcp);
        // SAFETY: the same descriptor, re-owned as a unix listener.
        let unix = unsafe { UnixListener::from_raw_fd(raw) };
        let path = unix
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.to_path_buf()));
        if let Some(path) = path {
            let _ = unix.set_nonblocking(true);
            out.push(BoundListener {
                addr: ListenAddr::Unix(path),
                socket: BoundSocket::Unix(unix),
            });
        }
    }
    out
}
