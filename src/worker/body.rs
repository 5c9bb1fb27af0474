//! Reading a client's request body: decoded by the framing the head declared
//! (`Content-Length` or chunked), bounded by `client_max_body_size`, with
//! `client_body_timeout` as a deadline that only 16 KiB of progress renews
//! ([`ProgressDeadline`]). A body can be streamed piece by piece or
//! spooled whole — in memory up to `client_body_buffer_size`, then in an unlinked temp
//! file under `client_body_temp_path` — so Gunicorn's sync workers receive it in one
//! fast burst (request buffering).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::http1::{BodyDecoder, BodyError, Chunk};
use crate::net::deadline::ProgressDeadline;
use crate::net::stream::Stream;

/// How many bytes a read from the client asks for at most.
pub const READ_CHUNK: usize = 16 * 1024;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyReadError {
    /// More than `client_max_body_size`: 413.
    #[error("client intended to send too large body: {0} bytes")]
    TooLarge(u64),
    #[error("client timed out (110: Connection timed out) while reading client request body")]
    Timeout,
    #[error("client prematurely closed connection while reading client request body")]
    Closed,
    #[error("client sent invalid chunked body: {0}")]
    Invalid(BodyError),
    #[error("reading client request body failed: {0}")]
    Io(io::Error),
    #[error("could not write the request body to a temp file in \"{path}\": {source}")]
    TempFile { path: String, source: io::Error },
}

impl BodyReadError {
    /// The status the client gets (408 and 400 are sent; 499-like cases just close).
    pub fn status(&self) -> u16 {
        match self {
            BodyReadError::TooLarge(_) => 413,
            BodyReadError::Timeout => 408,
            BodyReadError::Invalid(_) => 400,
            BodyReadError::Closed | BodyReadError::Io(_) => 400,
            BodyReadError::TempFile { .. } => 500,
        }
    }
}

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

/// A request body held whole, ready to be sent (and re-sent on a retry).
#[derive(Debug)]
pub enum SpooledBody {
    Memory(Vec<u8>),
    File { file: File, len: u64 },
}

impl SpooledBody {
    pub fn len(&self) -> u64 {
        match self {
            SpooledBody::Memory(v) => v.len() as u64,
            SpooledBody::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies up to `max` bytes starting at `offset` into `out` (cleared first).
    pub fn read_at(&self, offset: u64, max: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        out.clear();
        match self {
            SpooledBody::Memory(v) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(v.len());
                let end = start.saturating_add(max).min(v.len());
                out.extend_from_slice(v.get(start..end).unwrap_or_default());
                Ok(end - start)
            }
            SpooledBody::File { file, len } => {
                let want = usize::try_from(len.saturating_sub(offset))
                    .unwrap_or(max)
                    .min(max);
                out.resize(want, 0);
                // The page cache answers this; a blocking read of a file just written
                // costs less than handing it to a thread.
                let n = file.read_at(out, offset)?;
                out.truncate(n);
                Ok(n)
            }
        }
    }
}

/// Reads a whole body: memory up to `memory_limit` bytes, then a temp file in
/// `temp_dir`.
pub async fn spool(
    reader: &mut BodyReader,
    stream: &mut Stream,
    input: &mut Vec<u8>,
    memory_limit: u64,
    temp_dir: &Path,
) -> Result<SpooledBody, BodyReadError> {
    let mut memory = Vec::new();
    let mut file: Option<(File, u64)> = None;
    loop {
        let n = reader.read_into(stream, input, &mut memory).await?;
        if n == 0 {
            break;
        }
        if file.is_none() && memory.len() as u64 > memory_limit {
            let f =
                crate::proxy::spool::open_temp(temp_dir).map_err(|e| BodyReadError::TempFile {
                    path: temp_dir.display().to_string(),
                    source: e,
                })?;
            file = Some((f, 0));
        }
        if let Some((f, len)) = &mut file {
            f.write_all(&memory).map_err(|e| BodyReadError::TempFile {
                path: temp_dir.display().to_string(),
                source: e,
            })?;
            *len += memory.len() as u64;
            memory.clear();
        }
    }
    Ok(match file {
        Some((file, len)) => SpooledBody::File { file, len },
        None => SpooledBody::Memory(memory),
    })
}
