#![no_main]
//! A normalised path never leaves the root.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = std::str::from_utf8(data) {
        if let Ok(path) = vestibule::uri::normalize_path(raw) {
            assert!(path.starts_with('/'));
            assert!(path.split('/').all(|s| s != ".." && s != "."));
        }
    }
});
