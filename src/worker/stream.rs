//! A byte stream to a client or an upstream, TCP or unix socket, with the few
//! operations the data path needs. Buffers are passed by ownership (monoio's rent
//! model): a read appends to the buffer's spare capacity and hands it back.

use std::io;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{TcpStream, UnixStream};

/// A connected socket.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
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
        let slice = buf.slice_mut(len..cap);
        let (res, slice) = match self {
            Stream::Tcp(s) => s.read(slice).await,
            Stream::Unix(s) => s.read(slice).await,
        };
        (res, slice.into_inner())
    }

    /// Writes the whole buffer.
    pub async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let (res, buf) = match self {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Unix(s) => s.write_all(buf).await,
        };
        (res.map(|_| ()), buf)
    }

    /// Writes a static byte string (interim responses such as `100 Continue`).
    pub async fn write_static(&mut self, bytes: &'static [u8]) -> io::Result<()> {
        let res = match self {
            Stream::Tcp(s) => s.write_all(bytes).await,
            Stream::Unix(s) => s.write_all(bytes).await,
        };
        res.0.map(|_| ())
    }

    /// Half-closes the write side (after a close-delimited response).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown().await,
            Stream::Unix(s) => s.shutdown().await,
        }
    }

    /// A second handle on the same socket (`dup`), so one task can read while another
    /// writes (upgrade relays). Both handles refer to one connection.
    pub fn try_clone(&self) -> io::Result<Stream> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let fd = match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        };
        // SAFETY: dup has no memory-safety preconditions; a negative result is an error.
        let dup = unsafe { libc::dup(fd) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(match self {
            // SAFETY: `dup` is a new descriptor we own, of the same socket type.
            Stream::Tcp(_) => Stream::Tcp(TcpStream::from_std(unsafe {
                std::net::TcpStream::from_raw_fd(dup)
            })?),
            // SAFETY: as above, for a unix stream socket.
            Stream::Unix(_) => Stream::Unix(UnixStream::from_std(unsafe {
                std::os::unix::net::UnixStream::from_raw_fd(dup)
            })?),
        })
    }

    pub fn set_nodelay(&self, on: bool) {
        if let Stream::Tcp(s) = self {
            // Only a hint; a failure changes nothing observable.
            let _ = s.set_nodelay(on);
        }
    }
}
