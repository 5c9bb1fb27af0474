//! The access log: one line per request in a `log_format` (`combined` by default),
//! buffered per worker and written in whole lines, so a busy worker makes one `write`
//! per [`FLUSH_AT`] bytes instead of one per request. The worker flushes on a timer
//! ([`FLUSH_INTERVAL`]) and at exit, so a quiet log is never more than that behind.
//! With `gzip[=LEVEL]` each write is one gzip member: `zcat` reads the file whole, as
//! it reads nginx's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::model::{LogEscape, LogFormat};
use crate::config::template::VariableSource;

/// Buffered bytes per file that trigger a write.
pub const FLUSH_AT: usize = 64 * 1024;
/// The longest a line waits in the buffer.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Writer {
    file: Option<File>,
    buf: Vec<u8>,
    /// `gzip=LEVEL` of the first `access_log` line that named this file.
    gzip: Option<u32>,
}

/// A worker's access log files, opened on first use.
#[derive(Debug, Default)]
pub struct AccessLogs {
    writers: RefCell<HashMap<PathBuf, Writer>>,
    scratch: RefCell<(Vec<u8>, Vec<u8>)>,
}

impl AccessLogs {
    pub fn new() -> AccessLogs {
        AccessLogs::default()
    }

    /// Formats one request's line and queues it for `path`.
    pub fn log(
        &self,
        path: &Path,
        format: &LogFormat,
        vars: &dyn VariableSource,
        gzip: Option<u32>,
    ) {
        let mut scratch = self.scratch.borrow_mut();
        let (line, tmp) = &mut *scratch;
        line.clear();
        let escape: fn(&[u8], &mut Vec<u8>) = match format.escape {
            LogEscape::Default => escape_default,
            LogEscape::Json => escape_json,
            LogEscape::None => |v, out| out.extend_from_slice(v),
        };
        format.template.expand_for_log(vars, line, tmp, escape);
        line.push(b'\n');
        self.write_line(path, line, gzip);
    }

    fn write_line(&self, path: &Path, line: &[u8], gzip: Option<u32>) {
        let mut writers = self.writers.borrow_mut();
        let w = writers.entry(path.to_path_buf()).or_insert_with(|| Writer {
            file: open(path),
            buf: Vec::with_capacity(FLUSH_AT),
            gzip,
        });
        w.buf.extend_from_slice(line);
        if w.buf.len() >= FLUSH_AT {
            flush_writer(w);
        }
    }

    /// Writes every buffered line.
    pub fn flush(&self) {
        for w in self.writers.borrow_mut().values_mut() {
            flush_writer(w);
        }
    }

    /// Flushes, then reopens every file (after logrotate moved them).
    pub fn reopen(&self) {
        let mut writers = self.writers.borrow_mut();
        for (path, w) in writers.iter_mut() {
            flush_writer(w);
            w.file = open(path);
        }
    }
}

fn open(path: &Path) -> Option<File> {
    if path == Path::new("/dev/stdout") {
        // Opening /dev/stdout fails for a socket stdout (systemd's journal), and a new
        // open file description would write at its own offset; share fd 1's.
        use std::os::fd::AsFd;
        return std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(File::from);
    }
    super::error_log::open_append(path).ok()
}

fn flush_writer(w: &mut Writer) {
    if w.buf.is_empty() {
        return;
    }
    if let Some(f) = &mut w.file {
        // Whole lines in one write; a failing disk must not stop the worker.
        let _ = match w.gzip {
            Some(level) => f.write_all(&gzip_member(&w.buf, level)),
            None => f.write_all(&w.buf),
        };
    }
    w.buf.clear();
}

/// `data` as one gzip member.
fn gzip_member(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::new(level),
    );
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// nginx's default escaping: `"`, `\`, and bytes below 0x20 or above 0x7e as `\xHH`.
pub fn escape_default(value: &[u8], out: &mut Vec<u8>) {
    for &b in value {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.extend_from_slice(format!("\\x{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

/// `escape=json`: JSON string escaping.
pub fn escape_json(value: &[u8], out: &mut Vec<u8>) {
    for &b in value {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::template::{Template, Variable};

    struct Vars;
    impl VariableSource for Vars {
        fn write_variable(&self, var: &Variable, out: &mut Vec<u8>) -> bool {
            match var {
                Variable::RemoteAddr => out.extend_from_slice(b"127.0.0.1"),
                Variable::Request => out.extend_from_slice(b"GET /\"x\" HTTP/1.1"),
                _ => return false,
            }
            true
        }
    }

    #[test]
    fn lines_are_escaped_and_missing_values_are_dashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let format = LogFormat {
            name: "t".into(),
            escape: LogEscape::Default,
            template: Template::parse(
                "$remote_addr \"$request\" $http_referer",
                &Default::default(),
            )
            .unwrap(),
        };
        let logs = AccessLogs::new();
        logs.log(&path, &format, &Vars, None);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "",
            "buffered until flushed"
        );
        logs.flush();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "127.0.0.1 \"GET /\\x22x\\x22 HTTP/1.1\" -\n"
        );
    }

    #[test]
    fn json_escaping() {
        let mut out = Vec::new();
        escape_json(b"a\"b\\c\n\x01", &mut out);
        assert_eq!(out, b"a\\\"b\\\\c\\n\\u0001");
    }
}
