//! The error log, in nginx's format so existing habits (`tail -f`, grep for
//! `connect() failed`) keep working:
//!
//! ```text
//! 2026/11/22 07:33:29 [error] 1234#1234: *5 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, ...
//! ```
//!
//! Lines are written whole with one `write` on an `O_APPEND` file, so workers sharing a
//! file never interleave within a line. Errors are rare, so there is no buffering.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::SystemTime;

use crate::config::model::{self, LogLevel, LogTarget};

#[derive(Debug)]
enum Sink {
    Stderr,
    File { path: PathBuf, file: File },
}

/// One process's error log: every configured target with its level.
#[derive(Debug)]
pub struct ErrorLog {
    sinks: RefCell<Vec<(LogLevel, Sink)>>,
    pid: u32,
}

impl ErrorLog {
    /// Opens every `error_log` target. Fails with the path when a file cannot be opened.
    pub fn open(targets: &[model::ErrorLog]) -> Result<ErrorLog, (PathBuf, std::io::Error)> {
        let mut sinks = Vec::new();
        for t in targets {
            let sink = match &t.target {
                LogTarget::Stderr => Sink::Stderr,
                LogTarget::File(path) => Sink::File {
                    path: path.clone(),
                    file: open_append(path).map_err(|e| (path.clone(), e))?,
                },
            };
            sinks.push((t.level, sink));
        }
        Ok(ErrorLog {
            sinks: RefCell::new(sinks),
            pid: std::process::id(),
        })
    }

    /// A log to standard error only, at `level`.
    pub fn stderr(level: LogLevel) -> ErrorLog {
        ErrorLog {
            sinks: RefCell::new(vec![(level, Sink::Stderr)]),
            pid: std::process::id(),
        }
    }

    /// Whether a message at `level` would be written anywhere.
    pub fn enabled(&self, level: LogLevel) -> bool {
        self.sinks.borrow().iter().any(|(max, _)| level <= *max)
    }

    /// Writes one line. `connection` is the connection number nginx prints as `*N`.
    pub fn log(&self, level: LogLevel, connection: Option<u64>, message: &str) {
        if !self.enabled(level) {
            return;
        }
        let mut line = String::with_capacity(64 + message.len());
        super::time::error_log_time(SystemTime::now(), &mut line);
        line.push_str(" [");
        line.push_str(level.as_str());
        line.push_str("] ");
        line.push_str(&format!("{0}#{0}: ", self.pid));
        if let Some(c) = connection {
            line.push_str(&format!("*{c} "));
        }
        line.push_str(message);
        line.push('\n');
        for (max, sink) in self.sinks.borrow().iter() {
            if level > *max {
                continue;
            }
            // A log that cannot be written has nowhere to report to; carry on serving.
            let _ = match sink {
                Sink::Stderr => std::io::stderr().write_all(line.as_bytes()),
                Sink::File { file, .. } => {
                    let mut f: &File = file;
                    f.write_all(line.as_bytes())
                }
            };
        }
    }

    /// Reopens the files (SIGUSR1 after logrotate moved them).
    pub fn reopen(&self) {
        for (_, sink) in self.sinks.borrow_mut().iter_mut() {
            if let Sink::File { path, file } = sink {
                if let Ok(f) = open_append(path) {
                    *file = f;
                }
            }
        }
    }

    pub fn error(&self, connection: Option<u64>, message: &str) {
        self.log(LogLevel::Error, connection, message);
    }

    pub fn info(&self, connection: Option<u64>, message: &str) {
        self.log(LogLevel::Info, connection, message);
    }

    pub fn notice(&self, message: &str) {
        self.log(LogLevel::Notice, None, message);
    }

    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, None, message);
    }
}

/// The `error_log` targets written in http, server or location blocks: each set
/// opened by the worker the first time a request of such a location logs, kept for
/// the worker's life, and reopened with the main log on SIGUSR1. The master has
/// already created the files for the worker's user (src/master/files.rs).
#[derive(Debug, Default)]
pub struct SiteErrorLogs {
    logs: RefCell<std::collections::HashMap<Vec<model::ErrorLog>, Rc<ErrorLog>>>,
}

impl SiteErrorLogs {
    /// The log for `targets`; `None` when a file cannot be opened (said once in
    /// `main`, whose lines the location's then go to).
    pub fn get(&self, targets: &[model::ErrorLog], main: &ErrorLog) -> Option<Rc<ErrorLog>> {
        if let Some(log) = self.logs.borrow().get(targets) {
            return Some(Rc::clone(log));
        }
        match ErrorLog::open(targets) {
            Ok(log) => {
                let log = Rc::new(log);
                self.logs
                    .borrow_mut()
                    .insert(targets.to_vec(), Rc::clone(&log));
                Some(log)
            }
            Err((path, e)) => {
                main.error(
                    None,
                    &format!(
                        "open() \"{}\" failed ({e}): its lines go here",
                        path.display()
                    ),
                );
                None
            }
        }
    }

    pub fn reopen(&self) {
        for log in self.logs.borrow().values() {
            log.reopen();
        }
    }
}

pub fn open_append(path: &std::path::Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_nginx_shape_and_levels_filter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("error.log");
        let log = ErrorLog::open(&[model::ErrorLog {
            target: LogTarget::File(path.clone()),
            level: LogLevel::Warn,
        }])
        .unwrap();
        log.error(Some(7), "connect() failed (111: Connection refused)");
        log.info(None, "not written");
        let text = std::fs::read_to_string(&path).unwrap();
        let pid = std::process::id();
        assert!(
            text.ends_with(&format!(
                " [error] {pid}#{pid}: *7 connect() failed (111: Connection refused)\n"
            )),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1);
        assert!(!log.enabled(LogLevel::Info));
    }
}
