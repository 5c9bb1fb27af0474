//! Flood detection for an HTTP/2 connection: the frames a client may send without
//! asking for anything — PING, SETTINGS, PRIORITY, WINDOW_UPDATE, RST_STREAM, empty
//! DATA — each cost the server a little work, and a client that sends nothing else
//! could keep a core busy forever. The codec bounds what they cost in memory (it
//! answers a PING or SETTINGS before it reads on), not in CPU.
//!
//! [`Metered`] sits between the socket (or TLS) and the codec and reads the frame
//! headers as the bytes pass. As nginx's detector does, it weighs all bytes read
//! against useful ones: request headers and body (HEADERS and DATA payload), plus a
//! sixty-fourth of what the server wrote (a long download makes the client send
//! WINDOW_UPDATEs). More than [`ALLOWANCE`] of read bytes beyond eight times the
//! useful ones is a flood: the connection is told (the [`Guard`]) and ends with
//! GOAWAY `ENHANCE_YOUR_CALM`. The stream tasks also report streams the client reset
//! before their response was done: many more of those than finished streams is the
//! rapid-reset attack (CVE-2023-44487) on streams the codec had already handed over.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::worker::wake::WakerSlot;

/// Control bytes a connection may read beyond eight times its useful bytes.
pub const ALLOWANCE: u64 = 1 << 20;
/// Streams the client may reset before their end beyond those that finished.
pub const RESET_ALLOWANCE: u64 = 128;
/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;

/// What the connection and its streams share about the client's behaviour.
#[derive(Default)]
pub struct Guard {
    read: Cell<u64>,
    useful: Cell<u64>,
    written: Cell<u64>,
    resets: Cell<u64>,
    finished: Cell<u64>,
    flood: Cell<Option<&'static str>>,
    /// The connection task, woken when a flood is found.
    waker: WakerSlot,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("read", &self.read.get())
            .field("useful", &self.useful.get())
            .field("flood", &self.flood.get())
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// What flood was found, if one was.
    pub fn flood(&self) -> Option<&'static str> {
        self.flood.get()
    }

    /// The connection task waits here for a flood (or its other events).
    pub fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    fn found(&self, what: &'static str) {
        if self.flood.get().is_none() {
            self.flood.set(Some(what));
            self.waker.wake();
        }
    }

    fn check_bytes(&self) {
        let credit = self.useful.get() + self.written.get() / 64;
        if self.read.get() > ALLOWANCE.saturating_add(credit.saturating_mul(8)) {
            self.found("control frames");
        }
    }

    /// A stream the client reset before its response ended.
    pub fn reset_by_client(&self) {
        self.resets.set(self.resets.get() + 1);
        if self.resets.get() > RESET_ALLOWANCE + self.finished.get() {
            self.found("streams reset by the client");
        }
    }

    /// A stream whose response was sent whole.
    pub fn finished(&self) {
        self.finished.set(self.finished.get() + 1);
    }
}

/// Where the reader is in the byte stream.
#[derive(Debug)]
enum At {
    /// In the client preface, this many bytes of it still to come.
    Preface(usize),
    /// In a frame header, with these bytes of it.
    Header([u8; 9], usize),
    /// In a frame's payload: this many bytes still to come.
    Payload(usize),
}

/// A client's stream, read frame by frame for the [`Guard`].
#[derive(Debug)]
pub struct Metered<IO> {
    io: IO,
    at: At,
    guard: Rc<Guard>,
}

impl<IO> Metered<IO> {
    pub fn new(io: IO, guard: Rc<Guard>) -> Metered<IO> {
        Metered {
            io,
            at: At::Preface(PREFACE.len()),
            guard,
        }
    }

    /// Follows `bytes` through the frame layout.
    fn observe(&mut self, mut bytes: &[u8]) {
        let g = &self.guard;
        g.read.set(g.read.get() + bytes.len() as u64);
        while !bytes.is_empty() {
            match &mut self.at {
                At::Preface(left) => {
                    let n = (*left).min(bytes.len());
                    bytes = &bytes[n..];
                    g.useful.set(g.useful.get() + n as u64);
                    *left -= n;
                    if *left == 0 {
                        self.at = At::Header([0; 9], 0);
                    }
                }
                At::Header(head, have) => {
                    let n = (9 - *have).min(bytes.len());
                    head[*have..*have + n].copy_from_slice(&bytes[..n]);
                    *have += n;
                    bytes = &bytes[n..];
                    if *have == 9 {
                        let length = (usize::from(head[0]) << 16)
                            | (usize::from(head[1]) << 8)
                            | usize::from(head[2]);
                        // The header itself is counted as useful for request frames.
                        if matches!(head[3], DATA | HEADERS) && length > 0 {
                            g.useful.set(g.useful.get() + 9 + length as u64);
                        }
                        self.at = if length == 0 {
                            At::Header([0; 9], 0)
                        } else {
                            At::Payload(length)
                        };
                    }
                }
                At::Payload(left) => {
                    let n = (*left).min(bytes.len());
                    bytes = &bytes[n..];
                    *left -= n;
                    if *left == 0 {
                        self.at = At::Header([0; 9], 0);
                    }
                }
            }
        }
        g.check_bytes();
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Metered<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.guard.flood().is_some() {
            // Nothing more is read from a flooding client; the connection is ending.
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            this.observe(buf.filled().get(before..).unwrap_or_default());
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Metered<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            let g = &self.guard;
            g.written.set(g.written.get() + *n as u64);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &polled {
            let g = &self.guard;
            g.written.set(g.written.get() + *n as u64);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metered() -> Metered<()> {
        Metered::new((), Rc::new(Guard::default()))
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn pings_alone_are_a_flood_and_requests_are_not() {
        let mut m = metered();
        m.observe(PREFACE);
        let ping = frame(0x6, 0, 0, &[0; 8]);
        let mut sent = 0;
        while m.guard.flood().is_none() && sent < 1_000_000 {
            m.observe(&ping);
            sent += 1;
        }
        assert_eq!(m.guard.flood(), Some("control frames"));
        assert!((60_000..70_000).contains(&sent), "{sent}");

        // A client that uploads 10 MiB in 16 KiB DATA frames, in pieces of any size.
        let mut m = metered();
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(HEADERS, 4, 1, &[0x82; 20]));
        for _ in 0..640 {
            stream.extend(frame(DATA, 0, 1, &[7; 16384]));
            stream.extend(frame(0x8, 0, 0, &[0, 0, 0x40, 0]));
        }
        for piece in stream.chunks(1000) {
            m.observe(piece);
        }
        assert_eq!(m.guard.flood(), None);
    }

    #[test]
    fn many_more_resets_than_answers_is_rapid_reset() {
        let g = Guard::default();
        for _ in 0..100 {
            g.finished();
        }
        for _ in 0..228 {
            g.reset_by_client();
        }
        assert_eq!(g.flood(), None);
        g.reset_by_client();
        assert_eq!(g.flood(), Some("streams reset by the client"));
    }
}
