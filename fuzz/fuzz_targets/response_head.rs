#![no_main]
//! The upstream response head parser never panics nor over-consumes.
use libfuzzer_sys::fuzz_target;
use vestibule::http1::{parse_response_head, Method, UpstreamHeadLimits};

fuzz_target!(|data: &[u8]| {
    for method in [Method::Get, Method::Head] {
        if let Ok(Some((_, n))) = parse_response_head(data, &method, &UpstreamHeadLimits::default()) {
            assert!(n <= data.len());
        }
    }
});
