#![no_main]
//! Range headers: every satisfiable range lies inside the file.
use libfuzzer_sys::fuzz_target;
use vestibule::static_files::range::{parse_range, RangeOutcome};

fuzz_target!(|data: &[u8]| {
    for len in [0u64, 1, 500, 1 << 20] {
        if let RangeOutcome::Satisfiable(rs) = parse_range(data, len) {
            for r in rs {
                assert!(r.start < r.end && r.end <= len);
            }
        }
    }
});
