//! Streaming encoders: gzip (zlib-rs through flate2) and brotli (the `brotli` crate).
//! Input goes in piece by piece and compressed bytes come out as they are ready, so a
//! response is never gathered whole to be compressed. A flush makes everything given
//! so far decodable by the client (for a proxied stream); the finish writes the
//! coding's trailer.

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

use crate::config::model::compress::Coder;

/// A content coding vestibule produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Brotli,
}

impl Coding {
    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
        }
    }

    /// The suffix of a precompressed file beside the original (`gzip_static`).
    pub fn suffix(self) -> &'static str {
        match self {
            Coding::Gzip => ".gz",
            Coding::Brotli => ".br",
        }
    }
}

/// zlib's largest window (32 KiB) and the smallest a gzip stream may declare.
const GZIP_MAX_WINDOW_BITS: u8 = 15;
const GZIP_MIN_WINDOW_BITS: u8 = 9;
/// brotli's smallest window.
const BROTLI_MIN_WINDOW_LOG: u32 = 10;
/// brotli's internal staging buffer.
const BROTLI_BUFFER: usize = 4096;

/// One response's encoder.
pub enum Encoder {
    Gzip(Box<Compress>),
    Brotli(Option<Box<brotli::CompressorWriter<Vec<u8>>>>),
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encoder::Gzip(_) => f.write_str("Encoder::Gzip"),
            Encoder::Brotli(_) => f.write_str("Encoder::Brotli"),
        }
    }
}

impl Encoder {
    /// An encoder for `coding` at `coder`'s level. A known `length` shrinks the
    /// window to the body (as nginx does for gzip): less memory to set up for a small
    /// response, the same output.
    pub fn new(coding: Coding, coder: &Coder, length: Option<u64>) -> Encoder {
        match coding {
            Coding::Gzip => {
                let mut bits = GZIP_MAX_WINDOW_BITS;
                if let Some(len) = length {
                    while bits > GZIP_MIN_WINDOW_BITS && len < (1u64 << (bits - 1)) {
                        bits -= 1;
                    }
                }
                let level = Compression::new(coder.level.min(9));
                Encoder::Gzip(Box::new(Compress::new_gzip(level, bits)))
            }
            Coding::Brotli => {
                let mut log = coder.window_log;
                if let Some(len) = length {
                    while log > BROTLI_MIN_WINDOW_LOG && len < (1u64 << (log - 1)) {
                        log -= 1;
                    }
                }
                let w = brotli::CompressorWriter::new(
                    Vec::new(),
                    BROTLI_BUFFER,
                    coder.level.min(11),
                    log,
                );
                Encoder::Brotli(Some(Box::new(w)))
            }
        }
    }

    /// Compresses `input`, appending what is ready to `out`; with `flush`, everything
    /// given so far is in `out` afterwards.
    pub fn write(&mut self, input: &[u8], out: &mut Vec<u8>, flush: bool) -> io::Result<()> {
        match self {
            Encoder::Gzip(z) => {
                let mode = if flush {
                    FlushCompress::Sync
                } else {
                    FlushCompress::None
                };
                deflate(z, input, out, mode)
            }
            Encoder::Brotli(w) => {
                let w = w.as_mut().ok_or_else(finished)?;
                w.write_all(input)?;
                if flush {
                    w.flush()?;
                }
                out.append(w.get_mut());
                Ok(())
            }
        }
    }

    /// Ends the stream: the rest of the output and the coding's trailer.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Encoder::Gzip(z) => deflate(z, &[], out, FlushCompress::Finish),
            Encoder::Brotli(w) => {
                let w = w.take().ok_or_else(finished)?;
                out.append(&mut w.into_inner());
                Ok(())
            }
        }
    }
}

fn finished() -> io::Error {
    io::Error::other("the compressed stream has ended")
}

/// Runs zlib over `input` until it is consumed and, for a flush or the finish, until
/// zlib has no more to give.
fn deflate(
    z: &mut Compress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    mode: FlushCompress,
) -> io::Result<()> {
    loop {
        // zlib writes only into spare capacity.
        out.reserve((input.len() / 2).max(1024));
        let (in_before, out_before) = (z.total_in(), out.len());
        let status = z.compress_vec(input, out, mode).map_err(io::Error::other)?;
        let used = usize::try_from(z.total_in() - in_before).unwrap_or(input.len());
        input = input.get(used..).unwrap_or_default();
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(()),
            _ if mode == FlushCompress::Finish => {}
            // Consumed, and zlib stopped with room to spare: it has given all it has.
            _ if input.is_empty() && room_left => return Ok(()),
            Status::BufError if input.is_empty() && out.len() == out_before => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::compress::Compression as Settings;
    use std::io::Read;

    fn sample() -> Vec<u8> {
        (0..5000)
            .flat_map(|i| format!("<p>line {i} of a page</p>\n").into_bytes())
            .collect()
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn unbrotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::Decompressor::new(data, 4096)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn roundtrip(coding: Coding, flush_each: bool, length: Option<u64>) -> (Vec<u8>, Vec<u8>) {
        let settings = Settings::default();
        let coder = match coding {
            Coding::Gzip => &settings.gzip,
            Coding::Brotli => &settings.brotli,
        };
        let input = sample();
        let mut e = Encoder::new(coding, coder, length);
        let mut out = Vec::new();
        for piece in input.chunks(7000) {
            e.write(piece, &mut out, flush_each).unwrap();
        }
        e.finish(&mut out).unwrap();
        (input, out)
    }

    #[test]
    fn gzip_output_decompresses_to_the_input() {
        for flush in [false, true] {
            for length in [None, Some(sample().len() as u64)] {
                let (input, out) = roundtrip(Coding::Gzip, flush, length);
                assert!(out.len() < input.len() / 4, "{} bytes", out.len());
                assert_eq!(gunzip(&out), input);
            }
        }
    }

    #[test]
    fn brotli_output_decompresses_to_the_input() {
        for flush in [false, true] {
            let (input, out) = roundtrip(Coding::Brotli, flush, None);
            assert!(out.len() < input.len() / 4, "{} bytes", out.len());
            assert_eq!(unbrotli(&out), input);
        }
    }

    #[test]
    fn a_flush_makes_the_prefix_decodable() {
        let settings = Settings::default();
        let mut e = Encoder::new(Coding::Gzip, &settings.gzip, None);
        let mut out = Vec::new();
        e.write(b"data: first event\n\n", &mut out, true).unwrap();
        let mut got = Vec::new();
        let mut d = flate2::read::GzDecoder::new(&out[..]);
        let mut buf = [0u8; 64];
        let n = d.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        assert_eq!(got, b"data: first event\n\n");
    }

    #[test]
    fn tiny_and_empty_bodies() {
        let settings = Settings::default();
        for input in [&b""[..], b"x"] {
            let mut e = Encoder::new(Coding::Gzip, &settings.gzip, Some(input.len() as u64));
            let mut out = Vec::new();
            e.write(input, &mut out, false).unwrap();
            e.finish(&mut out).unwrap();
            assert_eq!(gunzip(&out), input);
            let mut e = Encoder::new(Coding::Brotli, &settings.brotli, Some(input.len() as u64));
            let mut out = Vec::new();
            e.write(input, &mut out, false).unwrap();
            e.finish(&mut out).unwrap();
            assert_eq!(unbrotli(&out), input);
        }
    }
}
