#![no_main]
//! The request head parser must never panic and never report more consumed bytes
//! than it was given.
use libfuzzer_sys::fuzz_target;
use vestibule::http1::{parse_request_head, HeadLimits};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_, consumed))) = parse_request_head(data, &HeadLimits::default()) {
        assert!(consumed <= data.len());
    }
});
