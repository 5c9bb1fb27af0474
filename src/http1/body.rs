//! One body reader for every framing (RFC 9112 §6.3): the connection loop reads a
//! request body with it after [`super::request`], the proxy an upstream response
//! body after [`super::response`]. Like [`ChunkedDecoder`] it hands back byte ranges
//! of the caller's buffer, so payload is relayed without a copy.

use super::chunked::{Chunk, ChunkedDecoder};
use super::error::BodyError;
use super::request::RequestFraming;
use super::response::ResponseFraming;

/// What one body step found; the same convention as the chunked decoder's: the
/// caller drops `consumed` bytes after every call.
pub type BodyChunk = Chunk;

/// Reads a message body of any framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyDecoder {
    /// `Content-Length`: `remaining` bytes still to come.
    Length {
        remaining: u64,
    },
    Chunked(ChunkedDecoder),
    /// The body ends when the connection does (responses only).
    CloseDelimited,
    /// No body.
    Empty,
}

impl BodyDecoder {
    /// The reader for a request body. A request without `Content-Length` or
    /// `Transfer-Encoding` has no body (RFC 9112 §6.3 rule 7).
    pub fn for_request(framing: RequestFraming) -> Self {
        match framing {
            RequestFraming::None | RequestFraming::ContentLength(0) => Self::Empty,
            RequestFraming::ContentLength(n) => Self::Length { remaining: n },
            RequestFraming::Chunked => Self::Chunked(ChunkedDecoder::new()),
        }
    }

    /// The reader for an upstream response body.
    pub fn for_response(framing: ResponseFraming) -> Self {
        match framing {
            ResponseFraming::NoBody | ResponseFraming::Length(0) => Self::Empty,
            ResponseFraming::Length(n) => Self::Length { remaining: n },
            ResponseFraming::Chunked => Self::Chunked(ChunkedDecoder::new()),
            ResponseFraming::CloseDelimited => Self::CloseDelimited,
        }
    }

    /// Reads from the start of `input`: payload at `input[range]`, a request for
    /// more bytes, or the end of the body. Returns `(consumed, chunk)`.
    pub fn next(&mut self, input: &[u8]) -> Result<(usize, BodyChunk), BodyError> {
        match self {
            Self::Length { remaining: 0 } | Self::Empty => Ok((0, Chunk::Done)),
            Self::Length { remaining } => {
                if input.is_empty() {
                    return Ok((0, Chunk::NeedMore));
                }
                let take = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                *remaining -= take as u64;
                Ok((take, Chunk::Data(0..take)))
            }
            Self::Chunked(decoder) => Ok(decoder.next(input)?),
            Self::CloseDelimited if input.is_empty() => Ok((0, Chunk::NeedMore)),
            Self::CloseDelimited => Ok((input.len(), Chunk::Data(0..input.len()))),
        }
    }

    /// Whether the body has been read to its end. A close-delimited body never is
    /// until the caller sees the end of the connection.
    pub fn is_done(&self) -> bool {
        match self {
            Self::Length { remaining } => *remaining == 0,
            Self::Chunked(decoder) => decoder.is_done(),
            Self::CloseDelimited => false,
            Self::Empty => true,
        }
    }

    /// Called when the connection has ended: fine for a close-delimited or complete
    /// body, [`BodyError::Truncated`] when the framing promised more.
    pub fn finish_at_eof(&self) -> Result<(), BodyError> {
        match self {
            Self::CloseDelimited => Ok(()),
            _ if self.is_done() => Ok(()),
            Self::Length { remaining } => Err(BodyError::Truncated {
                remaining: Some(*remaining),
            }),
            _ => Err(BodyError::Truncated { remaining: None }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::http1::error::ChunkError;

    /// Feeds `pieces` one read at a time, dropping consumed bytes as a caller would;
    /// returns the payload, whether the body ended, and the bytes left after it.
    fn drive(
        decoder: &mut BodyDecoder,
        pieces: &[&[u8]],
    ) -> Result<(Vec<u8>, bool, Vec<u8>), BodyError> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            buf.extend_from_slice(piece);
            loop {
                let (consumed, chunk) = decoder.next(&buf)?;
                if let Chunk::Data(range) = &chunk {
                    out.extend_from_slice(&buf[range.clone()]);
                }
                buf.drain(..consumed);
                match chunk {
                    Chunk::Data(_) => continue,
                    Chunk::NeedMore => break,
                    Chunk::Done => {
                        buf.extend(pieces[i + 1..].concat());
                        return Ok((out, true, buf));
                    }
                }
            }
        }
        Ok((out, false, buf))
    }

    #[test]
    fn length_body_stops_at_its_length_in_every_split() {
        let input = b"hello world NEXT";
        for split in 0..=input.len() {
            let mut d = BodyDecoder::for_request(RequestFraming::ContentLength(11));
            let (out, done, rest) = drive(&mut d, &[&input[..split], &input[split..]]).unwrap();
            assert_eq!(
                (out.as_slice(), done, rest.as_slice()),
                (&b"hello world"[..], true, &b" NEXT"[..]),
                "split {split}"
            );
        }
    }

    #[test]
    fn framings_map_to_decoders() {
        assert_eq!(
            BodyDecoder::for_request(RequestFraming::None),
            BodyDecoder::Empty
        );
        assert_eq!(
            BodyDecoder::for_request(RequestFraming::ContentLength(0)),
            BodyDecoder::Empty
        );
        assert_eq!(
            BodyDecoder::for_response(ResponseFraming::NoBody),
            BodyDecoder::Empty
        );
        assert_eq!(
            BodyDecoder::for_response(ResponseFraming::CloseDelimited),
            BodyDecoder::CloseDelimited
        );
        assert!(matches!(
            BodyDecoder::for_response(ResponseFraming::Chunked),
            BodyDecoder::Chunked(_)
        ));
    }

    #[test]
    fn close_delimited_body_takes_everything_until_eof() {
        let mut d = BodyDecoder::for_response(ResponseFraming::CloseDelimited);
        let (out, done, _) = drive(&mut d, &[b"abc", b"", b"def"]).unwrap();
        assert_eq!((out.as_slice(), done), (&b"abcdef"[..], false));
        assert_eq!(d.finish_at_eof(), Ok(()));
    }

    #[test]
    fn eof_before_the_framing_ends_is_truncation() {
        let mut d = BodyDecoder::for_request(RequestFraming::ContentLength(10));
        drive(&mut d, &[b"abc"]).unwrap();
        assert_eq!(
            d.finish_at_eof(),
            Err(BodyError::Truncated { remaining: Some(7) })
        );

        let mut d = BodyDecoder::for_request(RequestFraming::Chunked);
        drive(&mut d, &[b"5\r\nab"]).unwrap();
        assert_eq!(
            d.finish_at_eof(),
            Err(BodyError::Truncated { remaining: None })
        );

        let mut d = BodyDecoder::for_request(RequestFraming::Chunked);
        drive(&mut d, &[b"2\r\nab\r\n0\r\n\r\n"]).unwrap();
        assert_eq!(d.finish_at_eof(), Ok(()));
        assert!(BodyDecoder::Empty.finish_at_eof().is_ok());
    }

    #[test]
    fn chunked_errors_pass_through() {
        let mut d = BodyDecoder::for_request(RequestFraming::Chunked);
        assert_eq!(
            drive(&mut d, &[b"x\r\n"]),
            Err(BodyError::Chunked(ChunkError::SizeByte { byte: b'x' }))
        );
    }
}
