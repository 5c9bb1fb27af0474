//! Whether an `if` condition holds, as nginx's script codes decide: a value is false
//! when empty or `0`; `=` compares bytes exactly; a regex runs unanchored unless
//! anchored; `-f`, `-d`, `-e` and `-x` ask the file system (`stat`, following links,
//! as nginx's `ngx_open_cached_file` with `test_only`), a failure other than "does
//! not exist" being logged at `crit` and counted as not found.

use std::os::unix::fs::PermissionsExt;

use crate::config::model::FileTest;

/// nginx's truth of a value (`ngx_http_script_if_code`).
pub fn truthy(value: &[u8]) -> bool {
    !value.is_empty() && value != b"0"
}

/// What a file test found.
#[derive(Debug)]
pub enum FileAnswer {
    Yes,
    No,
    /// `stat` failed for another reason than a missing file: nginx logs it at `crit`
    /// (`stat() "PATH" failed (13: Permission denied)`) and the test is false.
    Failed(std::io::Error),
}

/// Runs a file test on `path`.
pub fn file_test(path: &str, test: FileTest) -> FileAnswer {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            // nginx's list of errors that only mean "not there".
            let missing = matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG)
            );
            return if missing {
                FileAnswer::No
            } else {
                FileAnswer::Failed(e)
            };
        }
    };
    let yes = match test {
        FileTest::File => meta.is_file(),
        FileTest::Directory => meta.is_dir(),
        FileTest::Exists => true,
        // nginx's `ngx_is_exec`: the owner's execute bit, whatever the file type.
        FileTest::Executable => meta.permissions().mode() & 0o100 != 0,
    };
    if yes {
        FileAnswer::Yes
    } else {
        FileAnswer::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_of_values() {
        for (value, want) in [
            (&b""[..], false),
            (b"0", false),
            (b"00", true),
            (b"1", true),
            (b" ", true),
        ] {
            assert_eq!(truthy(value), want, "{value:?}");
        }
    }

    #[test]
    fn file_tests_follow_nginx() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let exe = dir.path().join("x");
        std::fs::write(&exe, "x").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let broken = dir.path().join("b");
        std::os::unix::fs::symlink(dir.path().join("nothing"), &broken).unwrap();
        let p = |p: &std::path::Path| p.to_str().unwrap().to_string();
        let d = p(dir.path());
        let cases: &[(&str, String, FileTest, bool)] = &[
            ("file_is_file", p(&file), FileTest::File, true),
            ("dir_is_not_file", d.clone(), FileTest::File, false),
            ("dir_is_dir", d.clone(), FileTest::Directory, true),
            ("file_is_not_dir", p(&file), FileTest::Directory, false),
            ("link_to_file_is_file", p(&link), FileTest::File, true),
            (
                "broken_link_does_not_exist",
                p(&broken),
                FileTest::Exists,
                false,
            ),
            (
                "missing_does_not_exist",
                format!("{d}/none"),
                FileTest::Exists,
                false,
            ),
            (
                "below_a_file_does_not_exist",
                format!("{}/x", p(&file)),
                FileTest::Exists,
                false,
            ),
            ("dir_exists", d.clone(), FileTest::Exists, true),
            ("owner_executable", p(&exe), FileTest::Executable, true),
            (
                "plain_file_not_executable",
                p(&file),
                FileTest::Executable,
                false,
            ),
        ];
        for (name, path, test, want) in cases {
            let got = file_test(path, *test);
            let want = if *want {
                FileAnswer::Yes
            } else {
                FileAnswer::No
            };
            assert!(
                matches!(
                    (&got, &want),
                    (FileAnswer::Yes, FileAnswer::Yes) | (FileAnswer::No, FileAnswer::No)
                ),
                "{name}: {got:?}"
            );
        }
    }
}
