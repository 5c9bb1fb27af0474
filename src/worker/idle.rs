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
//! An HTTP/2 connection is idle while no stream is open. It is not shut down but
//! asked to close ([`CloseRequest`]): it sends GOAWAY (`NO_ERROR`, the last stream
//! id) and ends, as nginx's reuse of an idle h2 connection does, so the client knows
//! that no request of its was lost. A graceful shutdown leaves it to the connection,
//! which sends its own GOAWAY.
//!
//! A graceful shutdown (QUIT, a new generation's reload, the old binary's workers
//! after USR2 and WINCH) drains the idle keep-alive connections without losing a
//! request ([`IdleConnections::close_quiet_keep_alive`]): a request that arrives on
//! one is answered with `Connection: close`; one that has stayed listed for
//! [`DRAIN_QUIET_TICKS`] of the worker's 100 ms ticks with no byte pending is shut
//! down. Closing at once, as nginx does, loses the request a busy client has
//! already sent (9 read errors in 650,757 requests through a USR2 upgrade under
//! `wrk -c20`). A fresh connection still gets its answer. `worker_shutdown_timeout`
//! bounds the whole drain.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::Waker;

use super::wake::WakerSlot;

/// The idle connections of a worker, oldest first.
#[derive(Debug, Default)]
pub struct IdleConnections {
    next: u64,
    /// Entry number → how to end the connection, and whether it waits for a
    /// keep-alive request (it has served one).
    waiting: BTreeMap<u64, (Closer, bool)>,
    /// During a drain, `next` at each of the last ticks, oldest first: an entry
    /// numbered below the oldest has been listed for that many ticks at least.
    drain_marks: std::collections::VecDeque<u64>,
}

/// How many 100 ms ticks a keep-alive connection must have waited, with nothing
/// sent, before a drain closes it: a busy client's next request comes within
/// microseconds of its response, so only a quiet one waits this long.
pub const DRAIN_QUIET_TICKS: usize = 3;

/// How a listed connection is ended.
#[derive(Debug)]
enum Closer {
    /// The socket, kept open by its task while listed: shut down, so the task's
    /// pending read returns EOF.
    Socket(RawFd),
    /// An HTTP/2 connection, asked to end itself with GOAWAY.
    Ask(Rc<CloseRequest>),
}

impl Closer {
    fn close(&self) {
        match self {
            Closer::Socket(fd) => shut_down(*fd),
            Closer::Ask(request) => request.ask(),
        }
    }
}

/// A request to an idle HTTP/2 connection to close: the connection's task registers
/// its waker and checks [`CloseRequest::asked`] each time it is polled.
#[derive(Debug, Default)]
pub struct CloseRequest {
    asked: Cell<bool>,
    waker: WakerSlot,
}

impl CloseRequest {
    /// Wakes `waker` when the connection is asked to close.
    pub fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    pub fn asked(&self) -> bool {
        self.asked.get()
    }

    fn ask(&self) {
        self.asked.set(true);
        self.waker.wake();
    }
}

/// Ends a listed connection: its task's pending read returns EOF.
fn shut_down(fd: RawFd) {
    // SAFETY: the descriptor belongs to a connection task that is still waiting on it
    // (it leaves the list before its socket is dropped); shutdown does not close it,
    // it only ends the connection so that task's read returns.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

impl IdleConnections {
    fn enter(&mut self, closer: Closer, keep_alive: bool) -> u64 {
        let key = self.next;
        self.next += 1;
        self.waiting.insert(key, (closer, keep_alive));
        key
    }

    fn leave(&mut self, key: u64) {
        self.waiting.remove(&key);
    }

    /// Shuts down the oldest idle connection; false when none is idle.
    pub fn close_oldest(&mut self) -> bool {
        let Some((_, (closer, _))) = self.waiting.pop_first() else {
            return false;
        };
        closer.close();
        true
    }

    /// One drain tick: shuts down the connections that have waited for a keep-alive
    /// request since [`DRAIN_QUIET_TICKS`] ticks ago with no byte pending. Those
    /// with a byte pending stay: their task reads it and answers with
    /// `Connection: close`. Fresh connections stay listed and are answered.
    pub fn close_quiet_keep_alive(&mut self) {
        self.drain_marks.push_back(self.next);
        if self.drain_marks.len() <= DRAIN_QUIET_TICKS {
            return;
        }
        let listed_before = self.drain_marks.pop_front().unwrap_or(0);
        self.waiting.retain(|&key, (closer, keep_alive)| {
            let close = *keep_alive
                && key < listed_before
                && matches!(closer, Closer::Socket(fd) if crate::sys::peek(*fd) != crate::sys::Peek::Bytes);
            if close {
                closer.close();
            }
            !close
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
        let key = list.borrow_mut().enter(Closer::Socket(fd), keep_alive);
        Idle { list, key }
    }

    /// Lists an HTTP/2 connection with no open stream; at the limit it is asked to
    /// close through `request`.
    pub fn enter_h2(list: &'w RefCell<IdleConnections>, request: Rc<CloseRequest>) -> Idle<'w> {
        let key = list.borrow_mut().enter(Closer::Ask(request), false);
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
    fn a_drain_closes_only_quiet_keep_alive_waits_after_its_ticks() {
        let list = RefCell::new(IdleConnections::default());
        let (fresh, fresh_peer) = UnixStream::pair().unwrap();
        let (kept, mut kept_peer) = UnixStream::pair().unwrap();
        let (busy, mut busy_peer) = UnixStream::pair().unwrap();
        let _fresh = Idle::enter(&list, fresh.as_raw_fd(), false);
        let _kept = Idle::enter(&list, kept.as_raw_fd(), true);
        let _busy = Idle::enter(&list, busy.as_raw_fd(), true);
        // The busy client has sent its next request.
        std::io::Write::write_all(&mut busy_peer, b"GET /").unwrap();
        for _ in 0..DRAIN_QUIET_TICKS {
            list.borrow_mut().close_quiet_keep_alive();
            assert_eq!(list.borrow().len(), 3, "closed before its quiet ticks");
        }
        // One listed later has not waited long enough at the next tick.
        let (late, _late_peer) = UnixStream::pair().unwrap();
        let _late = Idle::enter(&list, late.as_raw_fd(), true);
        list.borrow_mut().close_quiet_keep_alive();
        assert_eq!(
            list.borrow().len(),
            3,
            "fresh, busy and late stay listed; the quiet one is closed"
        );
        let mut buf = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut kept_peer, &mut buf).unwrap(), 0);
        fresh_peer.set_nonblocking(true).unwrap();
        assert!(std::io::Read::read(&mut &fresh_peer, &mut buf).is_err());
        busy_peer.set_nonblocking(true).unwrap();
        assert!(std::io::Read::read(&mut busy_peer, &mut buf).is_err());
    }

    /// A waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn an_http2_connection_is_asked_to_close_and_a_drain_leaves_it() {
        let list = RefCell::new(IdleConnections::default());
        let request = Rc::new(CloseRequest::default());
        let count = std::sync::Arc::new(Count(Default::default()));
        request.register(&Waker::from(std::sync::Arc::clone(&count)));
        let _h2 = Idle::enter_h2(&list, Rc::clone(&request));
        for _ in 0..=DRAIN_QUIET_TICKS {
            list.borrow_mut().close_quiet_keep_alive();
        }
        assert_eq!(list.borrow().len(), 1, "the drain is the connection's own");
        assert!(!request.asked());
        assert!(list.borrow_mut().close_oldest());
        assert!(request.asked());
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
