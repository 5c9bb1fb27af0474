//! Golden-file tests for `vestibule -t`: every `tests/golden/config/*.conf` is tested by
//! the real binary and its exit status and messages compared with `NAME.expected`
//! (`$DIR` stands for the golden directory). Set `VESTIBULE_BLESS=1` to rewrite the
//! expected files after an intended change, then review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/config")
}

fn run_test(conf: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .arg("-t")
        .arg("-c")
        .arg(conf)
        .output()
        .expect("run vestibule");
    let dir = golden_dir();
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(dir.to_str().expect("utf-8 path"), "$DIR");
    format!("exit: {}\n{}", out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn every_golden_config() {
    let bless = std::env::var_os("VESTIBULE_BLESS").is_some();
    let mut confs: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    confs.sort();
    assert!(confs.len() >= 10, "golden cases went missing");
    let mut failures = Vec::new();
    for conf in &confs {
        let got = run_test(conf);
        let expected_path = conf.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &got).expect("write expected");
            continue;
        }
        let want = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "== {}\n-- want:\n{want}-- got:\n{got}",
                conf.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        let name = conf
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let ok = got.starts_with("exit: 0\n");
        assert_eq!(
            ok,
            name.starts_with("ok_"),
            "{name}: ok_ cases pass, err_ cases fail\n{got}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
