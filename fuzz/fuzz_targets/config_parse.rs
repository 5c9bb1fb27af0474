#![no_main]
//! Any configuration text: the parser and the builder report errors, never panic.
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use vestibule::config::build::{build, BuildOptions};
use vestibule::config::parser::parse;
use vestibule::config::source::Origin;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let origin = Arc::new(Origin::File("/fuzz.conf".into()));
    if let Ok(tree) = parse(text, &origin) {
        let _ = build(&tree, &BuildOptions { prefix: "/".into(), is_root: false });
    }
});
