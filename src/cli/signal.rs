//! `-s stop|quit|reopen|reload`: find the running master through the pid file named by
//! the configuration and signal it, with nginx's messages when that fails.

use std::path::Path;
use std::process::ExitCode;

use super::{Console, Signal};
use crate::sys;

/// Reads the pid file and sends the signal.
pub fn send(signal: Signal, pid_file: &Path, out: &Console) -> ExitCode {
    match read_pid(pid_file).and_then(|pid| {
        sys::send_signal(pid, signal.number()).map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(0);
            format!(
                "kill({pid}, {}) failed ({errno}: {})",
                signal.number(),
                sys::strerror(errno)
            )
        })
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            out.say("error", &message);
            ExitCode::FAILURE
        }
    }
}

/// The pid in the file, or nginx's message for why there is none.
fn read_pid(pid_file: &Path) -> Result<i32, String> {
    let text = std::fs::read_to_string(pid_file).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(0);
        let hint = if errno == libc::ENOENT {
            " (is vestibule running? the pid file is written by the running master)"
        } else {
            ""
        };
        format!(
            "open() \"{}\" failed ({errno}: {}){hint}",
            pid_file.display(),
            sys::strerror(errno)
        )
    })?;
    let trimmed = text.trim_end_matches(['\n', '\r']);
    trimmed
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            format!(
                "invalid PID number \"{trimmed}\" in \"{}\"",
                pid_file.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pid");
        let err = read_pid(&missing).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "open() \"{}\" failed (2: No such file or directory)",
                missing.display()
            )),
            "{err}"
        );
        let bad = dir.path().join("bad.pid");
        std::fs::write(&bad, "abc\n").unwrap();
        assert_eq!(
            read_pid(&bad).unwrap_err(),
            format!("invalid PID number \"abc\" in \"{}\"", bad.display())
        );
        let good = dir.path().join("good.pid");
        std::fs::write(&good, "1234\n").unwrap();
        assert_eq!(read_pid(&good), Ok(1234));
    }
}
