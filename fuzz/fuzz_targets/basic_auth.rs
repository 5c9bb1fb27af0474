#![no_main]
//! libFuzzer over `vestibule::fuzz_checks::basic_auth`; the property is documented there.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vestibule::fuzz_checks::basic_auth(data));
