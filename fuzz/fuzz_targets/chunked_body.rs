#![no_main]
//! The chunked decoder: payload ranges stay inside the input, consumption always
//! advances or stops, and it never panics.
use libfuzzer_sys::fuzz_target;
use vestibule::http1::{BodyDecoder, Chunk, RequestFraming};

fuzz_target!(|data: &[u8]| {
    let mut d = BodyDecoder::for_request(RequestFraming::Chunked);
    let mut at = 0;
    for _ in 0..=data.len() {
        let rest = &data[at..];
        match d.next(rest) {
            Ok((used, Chunk::Data(r))) => {
                assert!(r.end <= rest.len() && used <= rest.len());
                at += used;
            }
            Ok((used, Chunk::NeedMore)) => {
                at += used;
                break;
            }
            Ok((_, Chunk::Done)) | Err(_) => break,
        }
    }
});
