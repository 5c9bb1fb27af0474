//! `worker_connections`: the connections a worker serves at once, and the idle ones it
//! may close to make room (nginx's "reusable" connections).
//!
//! A connection is idle while it waits for the first byte of a request — a fresh
//! connection or a keep-alive one between requests. Once a byte arrives it is busy
//! until its response is written. When a new connection would exceed the limit, the
//! oldest idle connection is shut down (`shutdown(2)`, so its pending read ends with
//! EOF under io_uring and epoll alike and its task closes it); with none idle, the new
//! connection is closed and nginx's alert is logged. Slow clients that trickle a head
//! are busy, not idle: they are bounded by `client_header_timeout`, a deadline.
//!
//! A graceful shutdown ends the idle keep-alive connections the same way
//! ([`IdleConnections::close_keep_alive`]); a fresh connection still gets its answer.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::fd::RawFd;

/// The idle connections of a worker, oldest first.
#[derive(Debug, Default)]
pub struct IdleConnections {
    next: u64,
    /// Entry number → the connection's socket, kept open by its task while listed,
    /// and whether it waits for a keep-alive request (it has served one).
    waiting: BTreeMap<u64, (RawFd, bool)>,
}

/// Ends a listed connection: its task's pending read returns EOF.
fn shut_down(fd: RawFd) {
    // SAFETY: the descriptor belongs to a connection task that is still waiting on it
    // (it leaves the list before its socket is dropped); shutdown does not close it,
    // it only ends the connection so that task's read returns.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

impl IdleConnections {
    fn enter(&mut self, fd: RawFd, keep_alive: bool) -> u64 {
        let key = self.next;
        self.next += 1;
        self.waiting.insert(key, (fd, keep_alive));
        key
    }

    fn leave(&mut self, key: u64) {
        self.waiting.remove(&key);
    }

    /// Shuts down the oldest idle connection; false when none is idle.
    pub fn close_oldest(&mut self) -> bool {
        let Some((_, (fd, _))) = self.waiting.pop_first() else {
            return false;
        };
        shut_down(fd);
        true
    }

    /// Shuts down every connection waiting for a keep-alive request (a graceful
    /// shutdown); fresh connections stay listed and are answered.
    pub fn close_keep_alive(&mut self) {
        self.waiting.retain(|_, (fd, keep_alive)| {
            if *keep_alive {
                shut_down(*fd);
            }
            !*keep_alive
        });
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// A connection's place in [`IdleConnections`] while it waits for a request; leaving
/// (drop) takes it off the list.
#[derive(Debug)]
pub struct Idle<'w> {
    list: &'w RefCell<IdleConnections>,
    key: u64,
}

impl<'w> Idle<'w> {
    /// Lists `fd` as idle, `keep_alive` when it has served a request already. The
    /// caller keeps the socket open for the guard's life.
    pub fn enter(list: &'w RefCell<IdleConnections>, fd: RawFd, keep_alive: bool) -> Idle<'w> {
        let key = list.borrow_mut().enter(fd, keep_alive);
        Idle { list, key }
    }
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.list.borrow_mut().leave(self.key);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn the_oldest_idle_connection_is_shut_down_first() {
        let list = RefCell::new(IdleConnections::default());
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        let (b, b_peer) = UnixStream::pair().unwrap();
        let first = Idle::enter(&list, a.as_raw_fd(), false);
        let _second = Idle::enter(&list, b.as_raw_fd(), false);
        assert_eq!(list.borrow().len(), 2);
        assert!(list.borrow_mut().close_oldest());
        // `a` is shut down: its peer reads EOF; `b` is untouched.
        let mut buf = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut a_peer, &mut buf).unwrap(), 0);
        b_peer.set_nonblocking(true).unwrap();
        assert!(std::io::Read::read(&mut &b_peer, &mut buf).is_err());
        drop(first); // already off the list: leaving again is harmless
        assert_eq!(list.borrow().len(), 1);
    }

    #[test]
    fn a_connection_that_leaves_is_never_closed() {
        let list = RefCell::new(IdleConnections::default());
        let (a, mut a_peer) = UnixStream::pair().unwrap();
        drop(Idle::enter(&list, a.as_raw_fd(), false));
        assert!(list.borrow().is_empty());
        assert!(!list.borrow_mut().close_oldest());
        a_peer.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        assert!(std::io::Read::read(&mut a_peer, &mut buf).is_err());
    }

    #[test]
    fn a_graceful_shutdown_closes_only_keep_alive_waits() {
        let list = RefCell::new(IdleConnections::default());
        let (fresh, fresh_peer) = UnixStream::pair().unwrap();
        let (kept, mut kept_peer) = UnixStream::pair().unwrap();
        let _fresh = Idle::enter(&list, fresh.as_raw_fd(), false);
        let _kept = Idle::enter(&list, kept.as_raw_fd(), true);
        list.borrow_mut().close_keep_alive();
        assert_eq!(list.borrow().len(), 1, "the fresh connection stays listed");
        let mut buf = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut kept_peer, &mut buf).unwrap(), 0);
        fresh_peer.set_nonblocking(true).unwrap();
        assert!(std::io::Read::read(&mut &fresh_peer, &mut buf).is_err());
    }
}
