//! The request body as handlers see it, whatever protocol brought it: the errors
//! reading it can end with, and a body spooled whole — in memory up to
//! `client_body_buffer_size`, then in an unlinked temp file under
//! `client_body_temp_path` — so Gunicorn's sync workers receive it in one fast burst
//! (request buffering).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::http1::BodyError;

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

impl super::error::Sided for BodyReadError {
    /// The client's, except a temp file vestibule could not write.
    fn side(&self) -> super::error::Side {
        match self {
            BodyReadError::TempFile { .. } => super::error::Side::Internal,
            _ => super::error::Side::Client,
        }
    }
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
