//! The chunked transfer coding (RFC 9112 §7.1): [`ChunkedDecoder`] reads a chunked
//! request body from a client or a chunked response body from an upstream, one
//! byte range at a time, so the proxy relays payload straight from its read buffer;
//! [`ChunkedEncoder`] frames a body whose length is unknown when the head is sent.
//!
//! The decoder is strict where parsers disagree (the request-smuggling surface):
//! every line ends in CRLF, never a bare LF or CR; whitespace after the size is only
//! the BWS before `;`; the size is at most [`MAX_CHUNK_SIZE`] (leading zeros are
//! legal and free); the size line and the trailer section have byte limits.
//! Extensions and trailer fields are checked for bytes and discarded, as nginx
//! discards them.

use std::ops::Range;

use super::error::{ChunkError, HeaderDefect};

/// The largest chunk size, nginx's `NGX_MAX_OFF_T_VALUE`. Leading zeros do not count
/// against it (RFC 9112 §7.1: `chunk-size = 1*HEXDIG`); the line limit bounds them.
pub const MAX_CHUNK_SIZE: u64 = i64::MAX as u64;
/// Bytes in a chunk size line before its CRLF: size (leading zeros included), BWS
/// and extensions.
pub const MAX_CHUNK_SIZE_LINE: usize = 4096;
/// Bytes in the trailer section after the last chunk, CRLFs included.
pub const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// The CRLF that ends each chunk's data.
pub const CHUNK_TRAILER: &[u8] = b"\r\n";
/// The last chunk and an empty trailer section: the end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What one decoding step found. With it comes `consumed`, the number of input
/// bytes used up: the caller drops them from its buffer whatever the variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Payload at `input[range]`; `range.end == consumed`.
    Data(Range<usize>),
    /// The input is used up; call again with more.
    NeedMore,
    /// The body has ended; bytes after `consumed` belong to the next message.
    Done,
}

/// Where the decoder is inside the chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the hex digits of a chunk size.
    Size {
        size: u64,
        digits: usize,
    },
    /// In the BWS after the size, which must lead to `;`.
    SizeBws {
        size: u64,
        line: usize,
    },
    /// In a chunk extension, after `;`.
    Extension {
        size: u64,
        line: usize,
    },
    /// After the CR that ends the size line.
    SizeLf {
        size: u64,
    },
    /// In chunk data, `remaining` bytes to go.
    Data {
        remaining: u64,
    },
    /// After chunk data, expecting CR.
    DataCr,
    /// After chunk data and CR, expecting LF.
    DataLf,
    /// At the start of a trailer line (or of the final CRLF).
    TrailerStart {
        total: usize,
    },
    /// Inside a trailer field line.
    TrailerLine {
        total: usize,
    },
    /// After the CR of a trailer field line.
    TrailerLf {
        total: usize,
    },
    /// After the CR of the final empty line.
    EndLf,
    Done,
}

/// Decodes a chunked body incrementally; see [`Chunk`] for the calling convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self {
            state: State::Size { size: 0, digits: 0 },
        }
    }

    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `input` until it finds payload, needs more bytes
    /// or reaches the end of the body. Returns `(consumed, chunk)`.
    pub fn next(&mut self, input: &[u8]) -> Result<(usize, Chunk), ChunkError> {
        let mut pos = 0;
        loop {
            if self.state == State::Done {
                return Ok((pos, Chunk::Done));
            }
            if let State::Data { remaining } = self.state {
                let available = input.len() - pos;
                if available == 0 {
                    return Ok((pos, Chunk::NeedMore));
                }
                let take = usize::try_from(remaining).map_or(available, |r| r.min(available));
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining: left }
                };
                return Ok((pos + take, Chunk::Data(pos..pos + take)));
            }
            let Some(&byte) = input.get(pos) else {
                return Ok((pos, Chunk::NeedMore));
            };
            self.state = step(self.state, byte)?;
            pos += 1;
        }
    }
}

/// One framing byte. Never called in `Data` or `Done`.
fn step(state: State, b: u8) -> Result<State, ChunkError> {
    Ok(match state {
        State::Size { size, digits } => match (b, crate::uri::hex_value(b)) {
            (_, Some(v)) => {
                // nginx's check: one more digit must not pass MAX_CHUNK_SIZE.
                if size > MAX_CHUNK_SIZE >> 4 {
                    return Err(ChunkError::SizeTooLarge {
                        limit: MAX_CHUNK_SIZE,
                    });
                }
                State::Size {
                    size: (size << 4) | u64::from(v),
                    digits: count_line(digits)?,
                }
            }
            _ if digits == 0 => return Err(ChunkError::SizeByte { byte: b }),
            (b'\r', _) => State::SizeLf { size },
            (b';', _) => State::Extension {
                size,
                line: digits + 1,
            },
            (b' ' | b'\t', _) => State::SizeBws {
                size,
                line: digits + 1,
            },
            (b'\n', _) => return Err(ChunkError::SizeLineEnd),
            _ => return Err(ChunkError::SizeByte { byte: b }),
        },
        // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS ext-name ... ); BWS must lead to ";".
        State::SizeBws { size, line } => match b {
            b' ' | b'\t' => State::SizeBws {
                size,
                line: count_line(line)?,
            },
            b';' => State::Extension {
                size,
                line: count_line(line)?,
            },
            _ => return Err(ChunkError::SizeByte { byte: b }),
        },
        State::Extension { size, line } => match b {
            b'\r' => State::SizeLf { size },
            b'\t' | b' '..=0x7e | 0x80..=0xff => State::Extension {
                size,
                line: count_line(line)?,
            },
            b'\n' => return Err(ChunkError::SizeLineEnd),
            _ => return Err(ChunkError::ExtensionByte { byte: b }),
        },
        State::SizeLf { size } => match b {
            b'\n' if size == 0 => State::TrailerStart { total: 0 },
            b'\n' => State::Data { remaining: size },
            _ => return Err(ChunkError::SizeLineEnd),
        },
        State::DataCr => match b {
            b'\r' => State::DataLf,
            _ => return Err(ChunkError::DataEnd),
        },
        State::DataLf => match b {
            b'\n' => State::Size { size: 0, digits: 0 },
            _ => return Err(ChunkError::DataEnd),
        },
        State::TrailerStart { total } => match b {
            b'\r' => State::EndLf,
            b' ' | b'\t' => return Err(trailer(HeaderDefect::ObsFold)),
            b':' => return Err(trailer(HeaderDefect::EmptyName)),
            b'\n' => return Err(ChunkError::TrailerLineEnd),
            _ => trailer_byte(b, count_trailer(total)?)?,
        },
        State::TrailerLine { total } => match b {
            b'\r' => State::TrailerLf {
                total: count_trailer(total)?,
            },
            b'\n' => return Err(ChunkError::TrailerLineEnd),
            _ => trailer_byte(b, count_trailer(total)?)?,
        },
        State::TrailerLf { total } => match b {
            b'\n' => State::TrailerStart {
                total: count_trailer(total)?,
            },
            _ => return Err(ChunkError::TrailerLineEnd),
        },
        State::EndLf => match b {
            b'\n' => State::Done,
            _ => return Err(ChunkError::TrailerLineEnd),
        },
        State::Data { .. } | State::Done => state,
    })
}

fn count_line(line: usize) -> Result<usize, ChunkError> {
    if line >= MAX_CHUNK_SIZE_LINE {
        return Err(ChunkError::SizeLineTooLong {
            limit: MAX_CHUNK_SIZE_LINE,
        });
    }
    Ok(line + 1)
}

/// Counts one more trailer byte; the final CRLF is counted too.
fn count_trailer(total: usize) -> Result<usize, ChunkError> {
    if total + 2 >= MAX_TRAILER_BYTES {
        return Err(ChunkError::TrailerTooLarge {
            limit: MAX_TRAILER_BYTES,
        });
    }
    Ok(total + 1)
}

/// A byte inside a trailer field line: a field-name, colon or field-value byte.
fn trailer_byte(b: u8, total: usize) -> Result<State, ChunkError> {
    match b {
        b'\t' | b' '..=0x7e | 0x80..=0xff => Ok(State::TrailerLine { total }),
        _ => Err(trailer(HeaderDefect::ControlByte(b))),
    }
}

fn trailer(defect: HeaderDefect) -> ChunkError {
    ChunkError::Trailer { defect }
}

/// Appends `{len:x}\r\n`, the line before `len` bytes of chunk data. A zero `len`
/// appends nothing: an empty chunk would end the body.
pub fn encode_chunk_header(len: u64, out: &mut Vec<u8>) {
    if len == 0 {
        return;
    }
    let digits = (64 - len.leading_zeros()).div_ceil(4);
    for shift in (0..digits).rev() {
        let nibble = (len >> (shift * 4)) & 0xf;
        out.push(
            b"0123456789abcdef"
                .get(nibble as usize)
                .copied()
                .unwrap_or(b'0'),
        );
    }
    out.extend_from_slice(b"\r\n");
}

/// Frames a body of unknown length as chunks; `finish` writes the last chunk once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkedEncoder {
    finished: bool,
}

impl ChunkedEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `data` as one chunk. Empty data appends nothing, so it cannot end the
    /// body early; data after `finish` is dropped.
    pub fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.is_empty() || self.finished {
            return;
        }
        encode_chunk_header(data.len() as u64, out);
        out.extend_from_slice(data);
        out.extend_from_slice(CHUNK_TRAILER);
    }

    /// Appends the last chunk, once.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.finished {
            self.finished = true;
            out.extend_from_slice(LAST_CHUNK);
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
