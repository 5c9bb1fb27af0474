//! Chunked coding tests: sizes, extensions, trailers and each strictness rule as a
//! named row; every body fed in every two-piece split and one byte at a time; each
//! limit at and one past the limit; the encoder round-tripped through the decoder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

/// What a caller gets from feeding `pieces` in order, dropping consumed bytes after
/// each call: the payload, whether the body ended, and the bytes left after it.
type Outcome = Result<(Vec<u8>, bool, Vec<u8>), ChunkError>;

fn drive(pieces: &[&[u8]]) -> Outcome {
    let mut decoder = ChunkedDecoder::new();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        buf.extend_from_slice(piece);
        loop {
            let (consumed, chunk) = decoder.next(&buf)?;
            assert!(consumed <= buf.len());
            if let Chunk::Data(range) = &chunk {
                assert!(
                    !range.is_empty() && range.end == consumed,
                    "{range:?} / {consumed}"
                );
                out.extend_from_slice(&buf[range.clone()]);
            }
            buf.drain(..consumed);
            match chunk {
                Chunk::Data(_) => continue,
                Chunk::NeedMore => break,
                Chunk::Done => {
                    assert!(decoder.is_done());
                    assert_eq!(decoder.next(&buf)?, (0, Chunk::Done), "Done is final");
                    buf.extend(pieces[i + 1..].concat());
                    return Ok((out, true, buf));
                }
            }
        }
    }
    Ok((out, false, buf))
}

/// Drives `input` whole, in every two-piece split and byte by byte; all must agree.
fn drive_every_way(name: &str, input: &[u8]) -> Outcome {
    let whole = drive(&[input]);
    for split in 0..=input.len() {
        assert_eq!(
            drive(&[&input[..split], &input[split..]]),
            whole,
            "{name}: split at {split}"
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(drive(&bytes), whole, "{name}: byte by byte");
    whole
}

#[test]
fn valid_bodies() {
    // (name, body, payload); "NEXT" follows each body and must be left over.
    #[rustfmt::skip]
    let rows: [(&str, &[u8], &[u8]); 14] = [
        ("one_chunk", b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        ("several_chunks", b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n", b"hello world"),
        ("empty_body", b"0\r\n\r\n", b""),
        ("uppercase_hex", b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        ("lowercase_hex", b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        ("leading_zeros", b"0005\r\nhello\r\n000\r\n\r\n", b"hello"),
        ("sixteen_digits", b"0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n", b"hello"),
        // Leading zeros are legal (`1*HEXDIG`) and nginx reads them by value.
        ("twenty_four_digits", b"000000000000000000000005\r\nhello\r\n0\r\n\r\n", b"hello"),
        ("extensions", b"5;name=value\r\nhello\r\n0;last\r\n\r\n", b"hello"),
        ("quoted_extension", b"5;n=\"a b;c\"\r\nhello\r\n0\r\n\r\n", b"hello"),
        ("bws_before_extension", b"5 \t;x\r\nhello\r\n0\r\n\r\n", b"hello"),
        ("trailers_discarded", b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-B:\r\n\r\n", b"hello"),
        ("payload_with_crlf", b"4\r\n\r\n\r\n\r\n0\r\n\r\n", b"\r\n\r\n"),
        ("payload_is_binary", b"3\r\n\0\xff\n\r\n0\r\n\r\n", b"\0\xff\n"),
    ];
    for (name, body, payload) in rows {
        let mut input = body.to_vec();
        input.extend_from_slice(b"NEXT");
        let got = drive_every_way(name, &input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, (payload.to_vec(), true, b"NEXT".to_vec()), "{name}");
    }
}

#[test]
fn invalid_bodies() {
    use crate::http1::error::HeaderDefect as HD;
    // (name, body, error)
    #[rustfmt::skip]
    let rows: [(&str, &[u8], ChunkError); 20] = [
        ("bare_lf_after_size", b"5\nhello\r\n0\r\n\r\n", ChunkError::SizeLineEnd),
        ("bare_cr_after_size", b"5\rhello\r\n", ChunkError::SizeLineEnd),
        ("bare_lf_after_extension", b"5;a\nhello\r\n", ChunkError::SizeLineEnd),
        ("bare_lf_after_data", b"5\r\nhello\n0\r\n\r\n", ChunkError::DataEnd),
        ("data_longer_than_size", b"5\r\nhelloX\r\n0\r\n\r\n", ChunkError::DataEnd),
        ("missing_size", b"\r\nhello\r\n", ChunkError::SizeByte { byte: b'\r' }),
        ("not_hex", b"g\r\n", ChunkError::SizeByte { byte: b'g' }),
        ("negative_size", b"-5\r\n", ChunkError::SizeByte { byte: b'-' }),
        ("hex_prefix", b"0x5\r\n", ChunkError::SizeByte { byte: b'x' }),
        ("leading_space", b" 5\r\n", ChunkError::SizeByte { byte: b' ' }),
        ("space_before_crlf", b"5 \r\nhello\r\n", ChunkError::SizeByte { byte: b'\r' }),
        ("past_off_t_max", b"8000000000000000\r\n", ChunkError::SizeTooLarge { limit: MAX_CHUNK_SIZE }),
        ("overflowing_u64", b"fffffffffffffffff\r\n", ChunkError::SizeTooLarge { limit: MAX_CHUNK_SIZE }),
        ("control_byte_in_extension", b"5;\x01\r\n", ChunkError::ExtensionByte { byte: 1 }),
        ("trailer_obs_fold", b"0\r\nA: b\r\n c\r\n\r\n", ChunkError::Trailer { defect: HD::ObsFold }),
        ("trailer_empty_name", b"0\r\n: b\r\n\r\n", ChunkError::Trailer { defect: HD::EmptyName }),
        ("trailer_nul", b"0\r\nA: \0\r\n\r\n", ChunkError::Trailer { defect: HD::ControlByte(0) }),
        ("trailer_bare_lf", b"0\r\nA: b\n\r\n", ChunkError::TrailerLineEnd),
        ("final_bare_lf", b"0\r\n\n", ChunkError::TrailerLineEnd),
        ("final_cr_without_lf", b"0\r\n\rX", ChunkError::TrailerLineEnd),
    ];
    for (name, body, want) in rows {
        assert_eq!(drive_every_way(name, body), Err(want), "{name}");
    }
}

#[test]
fn incomplete_body_needs_more() {
    assert_eq!(
        drive(&[b"5\r\nhel"]),
        Ok((b"hel".to_vec(), false, Vec::new()))
    );
    assert_eq!(
        drive(&[b"5\r\nhello\r\n0\r\nX: y\r\n"]),
        Ok((b"hello".to_vec(), false, Vec::new()))
    );
}

#[test]
fn largest_chunk_size_is_accepted() {
    let mut decoder = ChunkedDecoder::new();
    assert_eq!(
        decoder.next(b"07fffffffffffffff\r\n").unwrap(),
        (19, Chunk::NeedMore)
    );
    assert_eq!(decoder.next(b"abc").unwrap(), (3, Chunk::Data(0..3)));
    assert!(!decoder.is_done());
    assert_eq!(MAX_CHUNK_SIZE, 0x7fff_ffff_ffff_ffff);
}

#[test]
fn leading_zeros_count_towards_the_size_line_limit() {
    let mut at_limit = vec![b'0'; MAX_CHUNK_SIZE_LINE - 1];
    at_limit.extend_from_slice(b"1\r\nx\r\n0\r\n\r\n");
    assert_eq!(drive(&[&at_limit]), Ok((b"x".to_vec(), true, Vec::new())));

    let mut past = vec![b'0'; MAX_CHUNK_SIZE_LINE];
    past.extend_from_slice(b"1\r\nx\r\n0\r\n\r\n");
    assert_eq!(
        drive(&[&past]),
        Err(ChunkError::SizeLineTooLong {
            limit: MAX_CHUNK_SIZE_LINE
        })
    );
}

#[test]
fn size_line_limit_at_and_past_the_limit() {
    let mut at_limit = b"1;".to_vec();
    at_limit.resize(MAX_CHUNK_SIZE_LINE, b'a');
    at_limit.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    assert_eq!(drive(&[&at_limit]), Ok((b"x".to_vec(), true, Vec::new())));

    let mut past = b"1;".to_vec();
    past.resize(MAX_CHUNK_SIZE_LINE + 1, b'a');
    past.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    assert_eq!(
        drive(&[&past]),
        Err(ChunkError::SizeLineTooLong {
            limit: MAX_CHUNK_SIZE_LINE
        })
    );
}

#[test]
fn trailer_limit_at_and_past_the_limit() {
    // The trailer section is everything after "0\r\n", final CRLF included.
    let body = |section_len: usize| {
        let mut b = b"0\r\nX: ".to_vec();
        b.resize(3 + section_len - 4, b'a');
        b.extend_from_slice(b"\r\n\r\n");
        assert_eq!(b.len() - 3, section_len);
        b
    };
    assert_eq!(
        drive(&[&body(MAX_TRAILER_BYTES)]),
        Ok((Vec::new(), true, Vec::new()))
    );
    assert_eq!(
        drive(&[&body(MAX_TRAILER_BYTES + 1)]),
        Err(ChunkError::TrailerTooLarge {
            limit: MAX_TRAILER_BYTES
        })
    );
}

#[test]
fn chunk_headers_are_lowercase_hex() {
    let rows: [(u64, &[u8]); 5] = [
        (1, b"1\r\n"),
        (0x1a, b"1a\r\n"),
        (4096, b"1000\r\n"),
        (u64::MAX, b"ffffffffffffffff\r\n"),
        (0, b""),
    ];
    for (len, want) in rows {
        let mut out = Vec::new();
        encode_chunk_header(len, &mut out);
        assert_eq!(out, want, "{len}");
    }
}

#[test]
fn encoder_round_trips_through_the_decoder() {
    let mut encoder = ChunkedEncoder::new();
    let mut wire = Vec::new();
    for piece in [&b"hello"[..], b"", b" ", &[b'x'; 300]] {
        encoder.encode(piece, &mut wire);
    }
    encoder.finish(&mut wire);
    encoder.finish(&mut wire);
    encoder.encode(b"late", &mut wire);
    assert!(encoder.is_finished());
    assert!(wire.ends_with(LAST_CHUNK) && !wire.ends_with(b"0\r\n\r\n0\r\n\r\n"));

    let mut payload = b"hello ".to_vec();
    payload.extend_from_slice(&[b'x'; 300]);
    assert_eq!(
        drive_every_way("round_trip", &wire),
        Ok((payload, true, Vec::new()))
    );
}
