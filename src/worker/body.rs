//! Reading a client's HTTP/1.1 request body: decoded by the framing the head declared
//! (`Content-Length` or chunked), bounded by `client_max_body_size`, with
//! `client_body_timeout` as a deadline that only 16 KiB of progress renews
//! ([`ProgressDeadline`]). The HTTP/1.1 downstream (`h1.rs`) reads through it;
//! handlers see only [`Downstream::read_body`](crate::exchange::Downstream::read_body).

use std::time::{Duration, Instant};

pub use crate::exchange::body::BodyReadError;
use crate::http1::{BodyDecoder, Chunk};
use crate::net::deadline::ProgressDeadline;
use crate::net::stream::Stream;

/// How many bytes a read from the client asks for at most.
pub const READ_CHUNK: usize = 16 * 1024;

/// Decodes one request body from the client connection.
#[derive(Debug)]
pub struct BodyReader {
    decoder: BodyDecoder,
    received: u64,
    /// `client_max_body_size`; 0 means no limit.
    limit: u64,
    timeout: Duration,
    /// `client_body_timeout` as a deadline that 16 KiB of progress renews, from the
    /// first read of the body on.
    deadline: Option<ProgressDeadline>,
}

impl BodyReader {
    pub fn new(decoder: BodyDecoder, limit: u64, timeout: Duration) -> BodyReader {
        BodyReader {
            decoder,
            received: 0,
            limit,
            timeout,
            deadline: None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.decoder.is_done()
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// Starts counting `received` again (what was counted has been told).
    pub fn reset_received(&mut self) {
        self.received = 0;
    }

    /// Appends the next piece of the body to `out`; `Ok(0)` when the body is complete.
    /// `input` holds bytes already read from the client and not yet used; bytes past
    /// the body stay there (the next pipelined request).
    pub async fn read_into(
        &mut self,
        stream: &mut Stream,
        input: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<usize, BodyReadError> {
        loop {
            let (consumed, chunk) = self.decoder.next(input).map_err(BodyReadError::Invalid)?;
            match chunk {
                Chunk::Data(range) => {
                    let n = range.len();
                    out.extend_from_slice(input.get(range).unwrap_or_default());
                    input.drain(..consumed);
                    self.received += n as u64;
                    if self.limit > 0 && self.received > self.limit {
                        return Err(BodyReadError::TooLarge(self.received));
                    }
                    return Ok(n);
                }
                Chunk::Done => {
                    input.drain(..consumed);
                    return Ok(0);
                }
                Chunk::NeedMore => {
                    input.drain(..consumed);
                    let deadline = self.deadline.get_or_insert_with(|| {
                        ProgressDeadline::new(self.timeout, READ_CHUNK as u64, Instant::now())
                    });
                    let left = deadline
                        .remaining(Instant::now())
                        .ok_or(BodyReadError::Timeout)?;
                    let taken = std::mem::take(input);
                    let read =
                        crate::net::timer::timeout(left, stream.read_more(taken, READ_CHUNK)).await;
                    let (res, buf) = read.map_err(|_| BodyReadError::Timeout)?;
                    *input = buf;
                    match res {
                        Ok(0) => return Err(BodyReadError::Closed),
                        Ok(n) => deadline.advanced(n as u64, Instant::now()),
                        Err(e) => return Err(BodyReadError::Io(e)),
                    }
                }
            }
        }
    }

    /// Takes and drops the part of the body already in `input`, without reading the
    /// socket: true when that was all of it. nginx's discard starts the same way, so a
    /// framing error in what has arrived is known before the answer goes out.
    pub fn take_buffered(&mut self, input: &mut Vec<u8>) -> Result<bool, BodyReadError> {
        loop {
            let (consumed, chunk) = self.decoder.next(input).map_err(BodyReadError::Invalid)?;
            input.drain(..consumed);
            match chunk {
                Chunk::Data(range) => self.received += range.len() as u64,
                Chunk::Done => return Ok(true),
                Chunk::NeedMore => return Ok(false),
            }
        }
    }

    /// Reads and drops the rest of the body, so the connection can serve the next
    /// request (nginx's "discard body").
    pub async fn discard(
        &mut self,
        stream: &mut Stream,
        input: &mut Vec<u8>,
    ) -> Result<(), BodyReadError> {
        let mut sink = Vec::new();
        self.limit = 0;
        while self.read_into(stream, input, &mut sink).await? > 0 {
            sink.clear();
        }
        Ok(())
    }
}
