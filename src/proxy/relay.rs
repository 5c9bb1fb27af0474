//! Moving a response body from an upstream to a client, and the two-way relay after
//! `101 Switching Protocols`.
//!
//! With `proxy_buffering on` (the default) the upstream side and the client side run
//! concurrently around a [`Spool`]: the upstream is read as fast as it sends, so a
//! Gunicorn sync worker is free again as soon as it has written its response, however
//! slowly the client reads. With `proxy_buffering off` each piece is written to the
//! client before the next is read (streaming). Either way a body the upstream cuts
//! short is never presented as complete: the chunked terminator is withheld and the
//! client connection is closed.

use std::cell::RefCell;
use std::future::poll_fn;
use std::path::PathBuf;
use std::task::Poll;
use std::time::Duration;

use super::error::RelayError;
use super::spool::Spool;
use crate::exchange::Downstream;
use crate::http1::{BodyDecoder, Chunk};
use crate::net::stream::Stream;

/// How much is read from an upstream or written to a client at once.
pub const RELAY_CHUNK: usize = 64 * 1024;

/// The upstream's response body, read from its connection.
#[derive(Debug)]
pub struct ResponseBody<'m> {
    pub stream: Stream,
    /// Bytes read after the response head.
    pub input: Vec<u8>,
    pub decoder: BodyDecoder,
    pub read_timeout: Duration,
    /// `proxy_limit_rate` (bytes per second, 0: none) with when reading began and
    /// what was read since: by the `n`th second at most `rate × (n + 1)` bytes are
    /// read, and each read waits what the one before took at the rate, as nginx's
    /// event pipe counts (a read may overshoot the budget by one buffer).
    pub limit_rate: u64,
    pub read_since: std::time::Instant,
    pub read_length: u64,
    pub next_read: Option<std::time::Instant>,
    /// Bytes read from the upstream and body bytes decoded, for
    /// `$upstream_bytes_received` and `$upstream_response_length` (a cell on the caller's stack,
    /// read after the relay: no allocation per response).
    pub meter: &'m std::cell::Cell<(u64, u64)>,
}

/// How a relay ended.
#[derive(Debug)]
pub struct Relayed {
    /// The upstream connection, when the body ended cleanly and it may be reused.
    pub reusable: Option<Stream>,
    /// Whether the client received the whole body.
    pub client_complete: bool,
    /// What went wrong on the upstream side, for the error log.
    pub upstream_error: Option<RelayError>,
}

enum Step {
    Data(Vec<u8>),
    Done,
    Failed(RelayError),
}

impl ResponseBody<'_> {
    /// Whether the connection may carry another request: the body ended by its framing
    /// and nothing followed it.
    fn reusable(&self) -> bool {
        self.decoder.is_done() && self.input.is_empty()
    }

    /// Takes back a buffer the client side is done with, to read into next.
    fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.input.is_empty() && self.input.capacity() < buf.capacity() {
            buf.clear();
            self.input = buf;
        }
    }

    /// Waits while `proxy_limit_rate` allows no more reading.
    async fn pace(&mut self) {
        if self.limit_rate == 0 {
            return;
        }
        if let Some(at) = self.next_read.take() {
            let now = std::time::Instant::now();
            if at > now {
                monoio::time::sleep(at - now).await;
            }
        }
        loop {
            let secs = self.read_since.elapsed().as_secs();
            let budget = self.limit_rate.saturating_mul(secs + 1);
            if self.read_length < budget {
                return;
            }
            let over = self.read_length - budget + 1;
            let wait = over.saturating_mul(1000) / self.limit_rate + 1;
            monoio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    /// The next piece of the body.
    async fn next(&mut self) -> Step {
        loop {
            match self.decoder.next(&self.input) {
                Ok((consumed, Chunk::Data(range))) => {
                    // A read that is all payload (Content-Length and close-delimited
                    // bodies, mostly) is handed on as it is: no userspace copy.
                    let (read, body) = self.meter.get();
                    self.meter.set((read, body + range.len() as u64));
                    if range.start == 0 && consumed == self.input.len() {
                        let mut data = std::mem::take(&mut self.input);
                        data.truncate(range.end);
                        return Step::Data(data);
                    }
                    let data = self.input.get(range).unwrap_or_default().to_vec();
                    self.input.drain(..consumed);
                    return Step::Data(data);
                }
                Ok((consumed, Chunk::Done)) => {
                    self.input.drain(..consumed);
                    return Step::Done;
                }
                Ok((consumed, Chunk::NeedMore)) => {
                    self.input.drain(..consumed);
                }
                Err(e) => return Step::Failed(RelayError::InvalidChunk(e)),
            }
            self.pace().await;
            let taken = std::mem::take(&mut self.input);
            let before = taken.len();
            match crate::net::timer::timeout(
                self.read_timeout,
                self.stream.read_more(taken, RELAY_CHUNK),
            )
            .await
            {
                Err(_) => return Step::Failed(RelayError::Timeout),
                Ok((Ok(0), buf)) => {
                    self.input = buf;
                    return match self.decoder {
                        BodyDecoder::CloseDelimited => Step::Done,
                        _ => Step::Failed(RelayError::Closed),
                    };
                }
                Ok((Ok(_), buf)) => {
                    let n = buf.len().saturating_sub(before) as u64;
                    self.read_length += n;
                    let (read, body) = self.meter.get();
                    self.meter.set((read + n, body));
                    // As nginx's event pipe: the next read waits what these bytes
                    // take at the rate.
                    if let Some(ms) = n.saturating_mul(1000).checked_div(self.limit_rate) {
                        self.next_read =
                            Some(std::time::Instant::now() + Duration::from_millis(ms));
                    }
                    self.input = buf;
                }
                Ok((Err(e), _)) => {
                    return Step::Failed(RelayError::Recv {
                        errno: e.raw_os_error().unwrap_or(0),
                    })
                }
            }
        }
    }
}

/// `proxy_buffering off`: each piece goes to the client before the next is read.
pub async fn stream<D: Downstream>(mut up: ResponseBody<'_>, client: &mut D) -> Relayed {
    loop {
        match up.next().await {
            Step::Data(data) => match client.send_owned(data).await {
                Some(buf) => up.recycle(buf),
                None => {
                    return Relayed {
                        reusable: None,
                        client_complete: false,
                        upstream_error: None,
                    }
                }
            },
            Step::Done => {
                let reusable = up.reusable().then_some(up.stream);
                let ok = client.finish().await;
                return Relayed {
                    reusable,
                    client_complete: ok,
                    upstream_error: None,
                };
            }
            Step::Failed(e) => {
                return Relayed {
                    reusable: None,
                    client_complete: false,
                    upstream_error: Some(e),
                }
            }
        }
    }
}

/// `proxy_buffering on`: the upstream is drained into a [`Spool`] while the client is
/// fed from it.
pub async fn buffered<D: Downstream>(
    up: ResponseBody<'_>,
    client: &mut D,
    memory_limit: usize,
    file_limit: u64,
    temp_dir: PathBuf,
) -> Relayed {
    let spool = RefCell::new(Spool::new(memory_limit, file_limit, temp_dir));
    let producer = produce(&spool, up);
    let consumer = consume(&spool, client);
    let (reusable, client_complete) = monoio::join!(producer, consumer);
    let upstream_error = match spool.into_inner().finished {
        Some(Err(e)) => Some(e),
        _ => None,
    };
    Relayed {
        reusable: if client_complete { reusable } else { None },
        client_complete,
        upstream_error,
    }
}

async fn produce(spool: &RefCell<Spool>, mut up: ResponseBody<'_>) -> Option<Stream> {
    loop {
        if spool.borrow().abandoned {
            return None;
        }
        // Memory and temp file full: read on only as the client takes.
        poll_fn(|cx| {
            let mut s = spool.borrow_mut();
            if s.has_room() || s.abandoned {
                Poll::Ready(())
            } else {
                s.wait_for_room(cx.waker());
                Poll::Pending
            }
        })
        .await;
        if spool.borrow().abandoned {
            return None;
        }
        match up.next().await {
            Step::Data(d) => {
                if let Err(e) = spool.borrow_mut().push(d) {
                    spool.borrow_mut().finish(Err(RelayError::TempFile(e)));
                    return None;
                }
            }
            Step::Done => {
                spool.borrow_mut().finish(Ok(()));
                return up.reusable().then_some(up.stream);
            }
            Step::Failed(e) => {
                spool.borrow_mut().finish(Err(e));
                return None;
            }
        }
    }
}

async fn consume<D: Downstream>(spool: &RefCell<Spool>, client: &mut D) -> bool {
    loop {
        poll_fn(|cx| {
            let mut s = spool.borrow_mut();
            if !s.is_empty() || s.finished.is_some() {
                Poll::Ready(())
            } else {
                s.wait(cx.waker());
                Poll::Pending
            }
        })
        .await;
        let popped = spool.borrow_mut().pop(RELAY_CHUNK);
        match popped {
            Ok(Some(piece)) => {
                if client.send_owned(piece).await.is_none() {
                    spool.borrow_mut().abandon();
                    return false;
                }
                continue;
            }
            Ok(None) => {}
            Err(_) => {
                spool.borrow_mut().abandon();
                return false;
            }
        }
        let finished = spool.borrow().finished.as_ref().map(Result::is_ok);
        match finished {
            Some(true) => return client.finish().await,
            Some(false) => return false,
            None => {}
        }
    }
}

/// After `101 Switching Protocols`: bytes flow both ways until either side closes
/// (then the other direction is shut down and drained) or nothing moves for
/// `idle_timeout`.
pub async fn tunnel(
    client: &mut Stream,
    client_input: Vec<u8>,
    up: Stream,
    up_input: Vec<u8>,
    idle_timeout: Duration,
) {
    if let Stream::Tls(tls) = client {
        return tunnel_tls(tls, client_input, up, up_input, idle_timeout).await;
    }
    let (Ok(mut client_writer), Ok(mut up_writer)) = (client.try_clone(), up.try_clone()) else {
        return;
    };
    let mut up_reader = up;
    let to_upstream = copy(client, &mut up_writer, client_input, idle_timeout);
    let to_client = copy(&mut up_reader, &mut client_writer, up_input, idle_timeout);
    monoio::join!(to_upstream, to_client);
}

/// [`tunnel`] for a TLS client: one TLS session cannot be duplicated like a
/// descriptor, so its two directions share it through tokio's `split` (a lock taken
/// per poll, uncontended on one thread).
async fn tunnel_tls(
    client: &mut crate::net::stream::TlsStream,
    client_input: Vec<u8>,
    up: Stream,
    up_input: Vec<u8>,
    idle_timeout: Duration,
) {
    use bytes::BufMut;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut up_writer) = up.try_clone() else {
        return;
    };
    let mut up_reader = up;
    let (mut client_reader, mut client_writer) = tokio::io::split(client);
    let to_upstream = async {
        let mut buf = client_input;
        loop {
            if !buf.is_empty() {
                let (res, mut b) = up_writer.write_all(buf).await;
                if res.is_err() {
                    return;
                }
                b.clear();
                buf = b;
            }
            buf.reserve(RELAY_CHUNK);
            let room = buf.capacity() - buf.len();
            let mut spare = (&mut buf).limit(room);
            let read = client_reader.read_buf(&mut spare);
            match crate::net::timer::timeout(idle_timeout, read).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => {
                    let _ = up_writer.shutdown().await;
                    return;
                }
            }
        }
    };
    let to_client = async {
        let mut buf = up_input;
        loop {
            if !buf.is_empty() {
                let wrote = async {
                    client_writer.write_all(&buf).await?;
                    client_writer.flush().await
                };
                if wrote.await.is_err() {
                    return;
                }
                buf.clear();
            }
            match crate::net::timer::timeout(idle_timeout, up_reader.read_more(buf, RELAY_CHUNK))
                .await
            {
                Ok((Ok(n), b)) if n > 0 => buf = b,
                _ => {
                    let _ = client_writer.shutdown().await;
                    return;
                }
            }
        }
    };
    monoio::join!(to_upstream, to_client);
}

async fn copy(from: &mut Stream, to: &mut Stream, pending: Vec<u8>, idle_timeout: Duration) {
    let mut buf = pending;
    loop {
        if !buf.is_empty() {
            let (res, mut b) = to.write_all(buf).await;
            if res.is_err() {
                return;
            }
            b.clear();
            buf = b;
        }
        match crate::net::timer::timeout(idle_timeout, from.read_more(buf, RELAY_CHUNK)).await {
            Ok((Ok(0), _)) | Ok((Err(_), _)) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok((Ok(_), b)) => buf = b,
        }
    }
}
