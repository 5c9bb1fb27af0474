//! `-s stop|quit|reopen|reload`: find the running master through the pid file named by
//! the configuration and signal it, with nginx's messages when that fails.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{Console, Signal};
use crate::sys;

/// Why the master could not be signalled, in nginx's words.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("open() \"{}\" failed ({errno}: {}){}", path.display(), sys::strerror(*errno), if *errno == libc::ENOENT { " (is vestibule running? the pid file is written by the running master)" } else { "" })]
    PidFile { path: PathBuf, errno: i32 },
    #[error("invalid PID number \"{text}\" in \"{}\"", path.display())]
    InvalidPid { text: String, path: PathBuf },
    #[error("kill({pid}, {signal}) failed ({errno}: {})", sys::strerror(*errno))]
    Kill { pid: i32, signal: i32, errno: i32 },
}

/// Reads the pid file and sends the signal.
pub fn send(signal: Signal, pid_file: &Path, out: &Console) -> ExitCode {
    match read_pid(pid_file).and_then(|pid| {
        sys::send_signal(pid, signal.number()).map_err(|e| SignalError::Kill {
            pid,
            signal: signal.number(),
            errno: e.raw_os_error().unwrap_or(0),
        })
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.say("error", &e.to_string());
            ExitCode::FAILURE
        }
    }
}

/// The pid in the file, or why there is none.
fn read_pid(pid_file: &Path) -> Result<i32, SignalError> {
    let text = std::fs::read_to_string(pid_file).map_err(|e| SignalError::PidFile {
        path: pid_file.to_path_buf(),
        errno: e.raw_os_error().unwrap_or(0),
    })?;
    let trimmed = text.trim_end_matches(['\n', '\r']);
    trimmed
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| SignalError::InvalidPid {
            text: trimmed.to_string(),
            path: pid_file.to_path_buf(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pid");
        let err = read_pid(&missing).unwrap_err().to_string();
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
            read_pid(&bad).unwrap_err().to_string(),
            format!("invalid PID number \"abc\" in \"{}\"", bad.display())
        );
        let good = dir.path().join("good.pid");
        std::fs::write(&good, "1234\n").unwrap();
        assert_eq!(read_pid(&good), Ok(1234));
    }
}
