#![no_main]
//! libFuzzer over `vestibule::fuzz_checks::rewrite_replace`; the property is documented there.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vestibule::fuzz_checks::rewrite_replace(data));
