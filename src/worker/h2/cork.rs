//! Corking: one write to the socket per turn of the connection task, not one per
//! response.
//!
//! The codec flushes its frame buffer whenever a DATA frame is queued (it keeps the
//! payload aside for a vectored write), so ten streams finishing together cost ten
//! `writev`s, each of which, on loopback or through TLS, is a record and a trip
//! through the network stack. While the connection task polls the codec the
//! [`Corked`] stream is *corked*: writes and flushes land in a buffer (bounded by
//! [`LIMIT`]; past it the buffer goes out first, so a client that does not read
//! still pushes back). When the poll ends with nothing more to accept, the task
//! [`Cork::drain`]s the buffer in one write. Outside the task's poll (shutdown, the
//! last GOAWAY) the stream writes through.
//!
//! The same idea as `TCP_CORK`, kept in user space so that TLS records are built
//! from the whole batch too.

use std::cell::{Cell, RefCell};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most a corked stream holds before it writes through.
pub const LIMIT: usize = 64 * 1024;

/// The shared state: the stream itself, the corked bytes, and whether writes are
/// held now. The codec owns a [`Corked`] handle; the connection task keeps the
/// [`Cork`] to drain it. Borrows never outlive one poll call, and the two never poll
/// at once (one task).
#[derive(Debug)]
pub struct Cork<IO> {
    io: RefCell<IO>,
    out: RefCell<BytesMut>,
    held: Cell<bool>,
}

/// The stream the codec writes to.
#[derive(Debug)]
pub struct Corked<IO>(Rc<Cork<IO>>);

impl<IO> Cork<IO> {
    /// Wraps `io`; returns the codec's handle and the task's.
    pub fn new(io: IO) -> (Corked<IO>, Rc<Cork<IO>>) {
        let cork = Rc::new(Cork {
            io: RefCell::new(io),
            out: RefCell::new(BytesMut::new()),
            held: Cell::new(false),
        });
        (Corked(Rc::clone(&cork)), cork)
    }

    /// Runs `poll` with writes held in the buffer.
    pub fn hold<T>(&self, poll: impl FnOnce() -> T) -> T {
        self.held.set(true);
        let result = poll();
        self.held.set(false);
        result
    }

    /// Whether bytes are waiting.
    pub fn pending(&self) -> bool {
        !self.out.borrow().is_empty()
    }
}

impl<IO: AsyncWrite + Unpin> Cork<IO> {
    /// Writes out what is held and flushes the stream.
    pub fn drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut out = self.out.borrow_mut();
        let mut io = self.io.borrow_mut();
        while !out.is_empty() {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            out.advance(n);
        }
        Pin::new(&mut *io).poll_flush(cx)
    }

    /// Makes room for a held write: drains when the buffer is full.
    fn room(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.out.borrow().len() >= LIMIT {
            ready!(self.drain(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Corked<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0.io.borrow_mut()).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Corked<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let cork = &*self.0;
        if cork.held.get() {
            ready!(cork.room(cx))?;
            cork.out.borrow_mut().extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(cork.drain(cx))?;
        Pin::new(&mut *cork.io.borrow_mut()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let cork = &*self.0;
        if cork.held.get() {
            ready!(cork.room(cx))?;
            let mut out = cork.out.borrow_mut();
            let mut n = 0;
            for b in bufs {
                out.extend_from_slice(b);
                n += b.len();
            }
            return Poll::Ready(Ok(n));
        }
        ready!(cork.drain(cx))?;
        Pin::new(&mut *cork.io.borrow_mut()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        // Held writes take every slice at once.
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let cork = &*self.0;
        if cork.held.get() {
            // The connection task drains when its poll ends.
            return Poll::Ready(Ok(()));
        }
        cork.drain(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let cork = &*self.0;
        ready!(cork.drain(cx))?;
        Pin::new(&mut *cork.io.borrow_mut()).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{RawWaker, RawWakerVTable, Waker};

    /// A waker that does nothing (`Waker::noop` is newer than the MSRV).
    fn noop() -> Waker {
        fn clone(_: *const ()) -> RawWaker {
            RawWaker::new(std::ptr::null(), &VTABLE)
        }
        fn nothing(_: *const ()) {}
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, nothing, nothing, nothing);
        // SAFETY: every function of the table ignores the (null) data pointer.
        unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
    }

    /// A stream that records each write call.
    #[derive(Default)]
    struct Calls {
        writes: Vec<Vec<u8>>,
        flushes: usize,
    }

    impl AsyncWrite for Calls {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn write(c: &mut Corked<Calls>, bytes: &[u8]) {
        let waker = noop();
        let mut cx = Context::from_waker(&waker);
        let polled = Pin::new(&mut *c).poll_write(&mut cx, bytes);
        assert!(matches!(polled, Poll::Ready(Ok(n)) if n == bytes.len()));
        assert!(Pin::new(&mut *c).poll_flush(&mut cx).is_ready());
    }

    #[test]
    fn held_writes_go_out_in_one_write_when_drained() {
        let (mut c, cork) = Cork::new(Calls::default());
        cork.hold(|| {
            write(&mut c, b"one");
            write(&mut c, b"two");
        });
        assert!(cork.io.borrow().writes.is_empty());
        assert!(cork.pending());
        let waker = noop();
        let mut cx = Context::from_waker(&waker);
        assert!(cork.drain(&mut cx).is_ready());
        assert_eq!(cork.io.borrow().writes, vec![b"onetwo".to_vec()]);
        assert!(!cork.pending());
    }

    #[test]
    fn writes_outside_a_hold_go_through_after_what_is_held() {
        let (mut c, cork) = Cork::new(Calls::default());
        cork.hold(|| write(&mut c, b"held"));
        write(&mut c, b"now");
        assert_eq!(
            cork.io.borrow().writes,
            vec![b"held".to_vec(), b"now".to_vec()]
        );
    }

    #[test]
    fn a_full_buffer_goes_out_before_more_is_held() {
        let (mut c, cork) = Cork::new(Calls::default());
        let big = vec![7u8; LIMIT];
        cork.hold(|| {
            write(&mut c, &big);
            write(&mut c, b"more");
        });
        assert_eq!(cork.io.borrow().writes.len(), 1);
        assert_eq!(cork.io.borrow().writes[0].len(), LIMIT);
        assert_eq!(&cork.out.borrow()[..], b"more");
    }
}
