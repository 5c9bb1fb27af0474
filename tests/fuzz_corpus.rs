//! Replays every saved fuzz corpus (`fuzz/corpus/<target>/`) through the properties
//! the fuzz targets check (`vestibule::fuzz_checks`), so an input that once broke a
//! parser, or that reached deep into it, is checked on every ordinary test run.

use std::path::Path;

use vestibule::fuzz_checks::TARGETS;

#[test]
fn saved_corpora_hold_their_properties() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut replayed = Vec::new();
    for (name, check) in TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target keeps a corpus)", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{name}: {} breaks its property",
                path.display()
            );
            count += 1;
        }
        assert!(count > 0, "{}: empty corpus", dir.display());
        replayed.push(format!("{name}={count}"));
    }
    eprintln!("replayed fuzz corpora: {}", replayed.join(" "));
}
