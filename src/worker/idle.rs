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

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::fd::RawFd;

/// The idle connections of a worker, oldest first.
#[derive(Debug, Default)]
pub struct IdleConnections {
    next: u64,
    /// Entry number → the connection's socket, kept open by its task while listed.
    waiting: BTreeMap<u64, RawFd>,
}

impl IdleConnections {
    fn enter(&mut self, fd: RawFd) -> u64 {
        let key = self.next;
        self.next += 1;
        self.waiting.insert(key, fd);
        key
    }

    fn leave(&mut self, key: u64) {
        self.waiting.remove(&key);
    }

    /// Shuts down the oldest idle connection; false when none is idle.
    pub fn close_oldest(&mut self) -> bool {
        let Some((_, fd)) = self.waiting.pop_first() else {
            return false;
        };
        // SAFETY: the descriptor belongs to a connection task that is still waiting on
        // it (it leaves this list before its socket is dropped); shutdown does not
        // close it, it only ends the connection so that task's read returns.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        true
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
    /// Lists `fd` as idle. The caller keeps the socket open for the guard's life.
    pub fn enter(list: &'w RefCell<IdleConnections>, fd: RawFd) -> Idle<'w> {
        let key = list.borrow_mut().enter(fd);
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
        let first = Idle::enter(&list, a.as_raw_fd());
        let _second = Idle::enter(&list, b.as_raw_fd());
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
        drop(Idle::enter(&list, a.as_raw_fd()));
        assert!(list.borrow().is_empty());
        assert!(!list.borrow_mut().close_oldest());
        a_peer.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        assert!(std::io::Read::read(&mut a_peer, &mut buf).is_err());
    }
}
