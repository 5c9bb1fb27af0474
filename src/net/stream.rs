//! A byte stream to a client or an upstream, TCP or unix socket, with the few
//! operations the data path needs. Buffers are passed by ownership (monoio's rent
//! model): a read appends to the buffer's spare capacity and hands it back.

use std::io;
use std::time::Instant;

use bytes::BufMut;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{TcpStream, UnixStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::deadline::ProgressDeadline;
use crate::sys::Peek;

/// `send_timeout` for a file: each period must move this much to renew it (a slow
/// reader draining a few bytes at a time does not).
const SEND_QUANTUM: u64 = 64 * 1024;

/// The most one sendfile(2) call is asked to move (Linux caps a call near 2 GiB).
const SENDFILE_MAX: usize = 1 << 30;

/// Sets `O_NONBLOCK` and returns the flags as they were, to restore afterwards (the
/// io_uring driver works on sockets without it, and some kernels hand `EAGAIN` back
/// to io_uring reads on a non-blocking socket instead of waiting).
fn set_nonblocking(fd: std::os::fd::RawFd) -> io::Result<libc::c_int> {
    // SAFETY: fcntl on an open descriptor with valid commands.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(flags)
}

fn restore_flags(fd: std::os::fd::RawFd, flags: libc::c_int) {
    // SAFETY: fcntl on an open descriptor with flags it returned earlier.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
}

/// Waits for bytes on `tcp` and copies what has arrived into `buf` without taking it:
/// how many (at least one), or `None` when the peer closed or the socket failed first.
pub async fn peek_arrived(tcp: &TcpStream, buf: &mut [u8]) -> Option<usize> {
    use std::os::fd::AsRawFd;
    loop {
        tcp.readable(false).await.ok()?;
        match crate::sys::peek_into(tcp.as_raw_fd(), buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {}
                _ => return None,
            },
        }
    }
}

/// A TLS connection to a client, over monoio's readiness-based TCP stream
/// (`poll-io`): rustls encrypts into its own buffers, so there is no sendfile.
pub type TlsStream = tokio_rustls::server::TlsStream<monoio::net::tcp::stream_poll::TcpStreamPoll>;

/// A TLS connection to an upstream (`proxy_pass https://`), over the same stream.
pub type UpstreamTlsStream =
    tokio_rustls::client::TlsStream<monoio::net::tcp::stream_poll::TcpStreamPoll>;

/// A connected socket.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// Boxed: a TLS session's state is a few KiB, the other variants a descriptor.
    Tls(Box<TlsStream>),
    /// TLS to an upstream server.
    TlsUpstream(Box<UpstreamTlsStream>),
}

impl Stream {
    /// Reads at most the buffer's spare capacity, appending to it. `Ok(0)` is EOF.
    /// Grows the buffer to `min_spare` free bytes first.
    pub async fn read_more(
        &mut self,
        mut buf: Vec<u8>,
        min_spare: usize,
    ) -> (io::Result<usize>, Vec<u8>) {
        if buf.capacity() - buf.len() < min_spare {
            buf.reserve(min_spare);
        }
        let len = buf.len();
        let cap = buf.capacity();
        let (res, slice) = match self {
            Stream::Tcp(s) => s.read(buf.slice_mut(len..cap)).await,
            Stream::Unix(s) => s.read(buf.slice_mut(len..cap)).await,
            Stream::Tls(s) => {
                // Into the spare capacity only: `read_buf` would grow a full buffer.
                let res = s.read_buf(&mut (&mut buf).limit(cap - len)).await;
                return (res, buf);
            }
            Stream::TlsUpstream(s) => {
                let res = s.read_buf(&mut (&mut buf).limit(cap - len)).await;
                return (res, buf);
            }
        };
        (res, slice.into_inner())
    }

    /// Writes the whole buffer.
    pub async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let (res, buf) = match self {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Unix(s) => s.write_all(buf).await,
            Stream::Tls(s) => {
                let res = tls_write(s.as_mut(), &buf).await;
                return (res, buf);
            }
            Stream::TlsUpstream(s) => {
                let res = tls_write(s.as_mut(), &buf).await;
                return (res, buf);
            }
        };
        (res.map(|_| ()), buf)
    }

    /// Writes a static byte string (interim responses such as `100 Continue`).
    pub async fn write_static(&mut self, bytes: &'static [u8]) -> io::Result<()> {
        let res = match self {
            Stream::Tcp(s) => s.write_all(bytes).await,
            Stream::Unix(s) => s.write_all(bytes).await,
            Stream::Tls(s) => return tls_write(s.as_mut(), bytes).await,
            Stream::TlsUpstream(s) => return tls_write(s.as_mut(), bytes).await,
        };
        res.0.map(|_| ())
    }

    /// Half-closes the write side (after a close-delimited response).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown().await,
            Stream::Unix(s) => s.shutdown().await,
            // close_notify, then the TCP half-close.
            Stream::Tls(s) => AsyncWriteExt::shutdown(s.as_mut()).await,
            Stream::TlsUpstream(s) => AsyncWriteExt::shutdown(s.as_mut()).await,
        }
    }

    /// Whether file bytes may go to this socket with sendfile(2) (not into TLS).
    pub fn can_sendfile(&self) -> bool {
        !matches!(self, Stream::Tls(_) | Stream::TlsUpstream(_))
    }

    /// `TCP_NODELAY` (nginx's `tcp_nodelay`, on by default): a response written in two
    /// parts (head, then a sendfile body) must not wait for a delayed ACK.
    pub fn set_nodelay(&self, on: bool) {
        // Only a latency hint; a failure changes nothing observable.
        match self {
            Stream::Tcp(s) => drop(s.set_nodelay(on)),
            Stream::Tls(s) => drop(s.get_ref().0.set_nodelay(on)),
            Stream::TlsUpstream(s) => drop(s.get_ref().0.set_nodelay(on)),
            Stream::Unix(_) => {}
        }
    }

    /// Makes the coming close a reset (TCP RST, no TIME_WAIT), as nginx's
    /// `reset_timedout_connection` does for a timed-out request; a unix socket has
    /// nothing to reset. The caller closes the stream next: anything still unsent is
    /// dropped.
    pub fn reset_on_close(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(_) | Stream::Tls(_) | Stream::TlsUpstream(_) => {
                crate::sys::set_linger_zero(self.raw_fd())
            }
            Stream::Unix(_) => Ok(()),
        }
    }

    /// A second handle on the same socket (`dup`), so one task can read while another
    /// writes (upgrade relays). Both handles refer to one connection.
    pub fn try_clone(&self) -> io::Result<Stream> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let dup = |fd: std::os::fd::RawFd| {
            // SAFETY: dup has no memory-safety preconditions; a negative result is an
            // error, otherwise the new descriptor is ours.
            match unsafe { libc::dup(fd) } {
                d if d < 0 => Err(io::Error::last_os_error()),
                d => Ok(d),
            }
        };
        match self {
            Stream::Tcp(s) => {
                let fd = dup(s.as_raw_fd())?;
                // SAFETY: `fd` is a new descriptor we own, a TCP socket.
                let std = unsafe { std::net::TcpStream::from_raw_fd(fd) };
                Ok(Stream::Tcp(TcpStream::from_std(std)?))
            }
            Stream::Unix(s) => {
                let fd = dup(s.as_raw_fd())?;
                // SAFETY: `fd` is a new descriptor we own, a unix stream socket.
                let std = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
                Ok(Stream::Unix(UnixStream::from_std(std)?))
            }
            // Two handles cannot share one TLS session's state.
            Stream::Tls(_) | Stream::TlsUpstream(_) => {
                Err(io::Error::from(io::ErrorKind::Unsupported))
            }
        }
    }

    /// Whether this idle connection can no longer carry a request, asked without
    /// waiting: the peer closed or reset it, or sent bytes nobody asked for (a late
    /// or unsolicited response). Nothing is consumed. The proxy asks before it writes
    /// a request it must not send twice onto a pooled connection: a closed one is
    /// known then, before any byte of the request is written, not guessed after.
    pub fn unusable_now(&self) -> bool {
        crate::sys::peek(self.raw_fd()) != Peek::Nothing
    }

    /// Resolves when the peer has closed or reset the connection, without consuming
    /// anything. Bytes waiting to be read (a pipelined request) mean the peer is there:
    /// the watch then stays pending for good, since readability would not change.
    pub async fn closed_by_peer(&self) {
        loop {
            let ready = match self {
                Stream::Tcp(s) => s.readable(false).await,
                Stream::Unix(s) => s.readable(false).await,
                // Bytes under TLS may be records the session has not read yet; the
                // watch is left to the reads (no 499 before the response over TLS).
                Stream::Tls(_) | Stream::TlsUpstream(_) => std::future::pending().await,
            };
            if ready.is_err() {
                return;
            }
            match crate::sys::peek(self.raw_fd()) {
                Peek::Closed | Peek::Failed => return,
                Peek::Bytes => std::future::pending::<()>().await,
                Peek::Nothing => {}
            }
        }
    }

    /// The socket's descriptor, owned by this stream.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.get_ref().0.as_raw_fd(),
            Stream::TlsUpstream(s) => s.get_ref().0.as_raw_fd(),
        }
    }

    async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.writable(false).await,
            Stream::Unix(s) => s.writable(false).await,
            Stream::Tls(_) | Stream::TlsUpstream(_) => {
                Err(io::Error::from(io::ErrorKind::Unsupported))
            }
        }
    }

    /// Sends `len` bytes of `file` from `offset` with sendfile(2): from the page cache
    /// to the socket with no userspace copy. Waits for writability (bounded by
    /// `timeout` per wait) when the socket buffer is full. Returns the bytes sent,
    /// fewer than `len` only if the file shrank.
    pub async fn sendfile(
        &mut self,
        file: &std::fs::File,
        offset: u64,
        len: u64,
        timeout: std::time::Duration,
    ) -> io::Result<u64> {
        use std::os::fd::AsRawFd;
        if !self.can_sendfile() {
            return Err(io::Error::from(io::ErrorKind::Unsupported));
        }
        let fd = self.raw_fd();
        let flags = set_nonblocking(fd)?;
        let result = self
            .sendfile_loop(fd, file.as_raw_fd(), offset, len, timeout)
            .await;
        if flags & libc::O_NONBLOCK == 0 {
            restore_flags(fd, flags);
        }
        result
    }

    async fn sendfile_loop(
        &self,
        fd: std::os::fd::RawFd,
        file_fd: std::os::fd::RawFd,
        offset: u64,
        len: u64,
        timeout: std::time::Duration,
    ) -> io::Result<u64> {
        let mut off = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut sent = 0u64;
        let mut deadline = ProgressDeadline::new(timeout, SEND_QUANTUM, Instant::now());
        while sent < len {
            let want = usize::try_from(len - sent)
                .unwrap_or(usize::MAX)
                .min(SENDFILE_MAX);
            // SAFETY: both descriptors are open for the duration of the call and `off`
            // is a valid, exclusively borrowed offset.
            let n = unsafe { libc::sendfile(fd, file_fd, &mut off, want) };
            if n > 0 {
                sent += n as u64;
                deadline.advanced(n as u64, Instant::now());
                continue;
            }
            if n == 0 {
                break;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => {
                    let Some(left) = deadline.remaining(Instant::now()) else {
                        return Err(io::Error::from(io::ErrorKind::TimedOut));
                    };
                    match crate::net::timer::timeout(left, self.writable()).await {
                        Ok(r) => r?,
                        Err(_) => return Err(io::Error::from(io::ErrorKind::TimedOut)),
                    }
                }
                io::ErrorKind::Interrupted => {}
                _ => return Err(err),
            }
        }
        Ok(sent)
    }
}

/// Writes all of `bytes` into the TLS session and flushes the records out.
async fn tls_write<S: tokio::io::AsyncWrite + Unpin>(s: &mut S, bytes: &[u8]) -> io::Result<()> {
    s.write_all(bytes).await?;
    s.flush().await
}
