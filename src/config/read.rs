//! Reading a configuration from disk: the `-g` directives, the main file, and every
//! file it `include`s, expanded in place into one directive tree. This is the only part
//! of `config/` that touches the file system; the [`parser`] turns each
//! text into directives, and the schema gives them meaning afterwards.
//!
//! As in nginx (`ngx_conf_parse`, `ngx_conf_include`):
//! - `-g` directives come first, as if written at the top of the main file;
//! - `include` works in any block; a relative path is resolved against the
//!   configuration directory; a pattern with `*`, `?` or `[` is a glob whose matches are
//!   read in sorted order, and which may match nothing;
//! - errors say `open() "/etc/vestibule/x" failed (2: No such file or directory)`.
//!
//! Unlike nginx, reading goes on after a missing include or a syntax error (which ends
//! only that file), so `-t` reports every such problem at once; a glob skips
//! directories and hidden files; and `proxy_params`, `mime.types` and the main file
//! fall back to the copies in [`builtin`] when they are not on disk.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::builtin;
use super::error::{ConfigError, ConfigErrorKind, ConfigErrors};
use super::parser;
use super::replay::{GlobMatches, Replay};
use super::source::{Origin, SourceFile, Span};
use super::tree::Directive;
use crate::sys::strerror;

/// How many files deep `include`s may nest (the main file is level 0). Deeper nesting
/// is almost always a file including itself.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// The main configuration file (`-c`), absolute or as given.
    pub main_file: PathBuf,
    /// Relative `include` paths are resolved against this (nginx's conf prefix: the
    /// directory of the main file).
    pub conf_dir: PathBuf,
    /// `-g "directives"`: main-context directives read before the main file's.
    pub command_line: Option<String>,
    /// When the main file does not exist, run [`builtin::EMBEDDED_MAIN`] instead of
    /// failing (only for the default path, never for an explicit `-c`).
    pub embedded_main_if_missing: bool,
}

impl ReadOptions {
    /// Options for `main_file`, with includes relative to its directory, no `-g` and no
    /// built-in fallback for the main file.
    pub fn new(main_file: impl Into<PathBuf>) -> Self {
        let main_file = main_file.into();
        let conf_dir = match main_file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        ReadOptions {
            main_file,
            conf_dir,
            command_line: None,
            embedded_main_if_missing: false,
        }
    }
}

/// The configuration as written, with every `include` expanded.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub directives: Vec<Directive>,
    /// Every text read, once each, in the order first read, verbatim (for `-T`).
    pub sources: Vec<SourceFile>,
    /// Each `include` glob expanded, for a [`Replay`].
    pub globs: Vec<GlobMatches>,
}

/// Reads the `-g` directives, the main file and all its includes. Returns every open,
/// include and syntax error found, in reading order.
pub fn read_config(opts: &ReadOptions) -> Result<ReadResult, ConfigErrors> {
    read_config_replaying(opts, None)
}

/// [`read_config`], with every file read and every glob answered from `replay`
/// instead of the disk when it is given (a worker building what the master
/// validated).
pub fn read_config_replaying(
    opts: &ReadOptions,
    replay: Option<&Replay>,
) -> Result<ReadResult, ConfigErrors> {
    let mut reader = Reader {
        opts,
        sources: Vec::new(),
        errors: ConfigErrors::default(),
        replay,
        globs: Vec::new(),
    };
    let mut directives = Vec::new();

    if let Some(text) = &opts.command_line {
        let origin = Arc::new(Origin::CommandLine);
        reader.record(&origin, text);
        reader.parse_and_expand(text, &origin, 0, &mut directives);
    }

    let fallback = opts
        .embedded_main_if_missing
        .then_some(builtin::EMBEDDED_MAIN);
    if let Some((origin, text)) = reader.load(&opts.main_file, fallback, None) {
        reader.parse_and_expand(&text, &origin, 0, &mut directives);
    }

    if reader.errors.is_empty() {
        Ok(ReadResult {
            directives,
            sources: reader.sources,
            globs: reader.globs,
        })
    } else {
        Err(reader.errors)
    }
}

/// The state of one [`read_config`] call.
struct Reader<'a> {
    opts: &'a ReadOptions,
    sources: Vec<SourceFile>,
    errors: ConfigErrors,
    /// Where files and globs come from when not from the disk.
    replay: Option<&'a Replay>,
    /// Each glob expanded.
    globs: Vec<GlobMatches>,
}

impl Reader<'_> {
    /// Parses one text and appends its expanded directives to `out`; a syntax error is
    /// recorded and ends this text only.
    fn parse_and_expand(
        &mut self,
        text: &str,
        origin: &Arc<Origin>,
        depth: usize,
        out: &mut Vec<Directive>,
    ) {
        match parser::parse(text, origin) {
            Ok(directives) => self.expand(directives, depth, out),
            Err(e) => self.errors.0.push(e),
        }
    }

    /// Appends `directives` to `out`, replacing each `include` (in any block) by the
    /// directives of the files it names. `depth` is the include level of the file
    /// the directives come from.
    fn expand(&mut self, directives: Vec<Directive>, depth: usize, out: &mut Vec<Directive>) {
        for mut directive in directives {
            if directive.name == "include" {
                self.include(&directive, depth, out);
                continue;
            }
            if let Some(children) = directive.block.take() {
                let mut expanded = Vec::with_capacity(children.len());
                self.expand(children, depth, &mut expanded);
                directive.block = Some(expanded);
            }
            out.push(directive);
        }
    }

    fn include(&mut self, directive: &Directive, depth: usize, out: &mut Vec<Directive>) {
        let span = &directive.span;
        if directive.block.is_some() {
            let kind = ConfigErrorKind::NotTerminated(directive.name.clone());
            self.errors.push(kind, span);
            return;
        }
        let [pattern] = directive.args.as_slice() else {
            let kind = ConfigErrorKind::InvalidArgCount(directive.name.clone());
            self.errors.push(kind, span);
            return;
        };
        let pattern = pattern.as_str();
        let path = self.resolve(pattern);
        if depth >= MAX_INCLUDE_DEPTH {
            let limit = MAX_INCLUDE_DEPTH;
            self.errors
                .push(ConfigErrorKind::IncludeTooDeep { path, limit }, span);
            return;
        }

        if pattern.contains(['*', '?', '[']) {
            for file in self.glob(pattern, &path, span) {
                if let Some((origin, text)) = self.load(&file, None, Some(span)) {
                    self.parse_and_expand(&text, &origin, depth + 1, out);
                }
            }
        } else {
            let fallback = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(builtin::for_file_name);
            if let Some((origin, text)) = self.load(&path, fallback, Some(span)) {
                self.parse_and_expand(&text, &origin, depth + 1, out);
            }
        }
    }

    /// An include path as nginx's `ngx_conf_full_name` makes it.
    fn resolve(&self, name: &str) -> PathBuf {
        let path = Path::new(name);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.opts.conf_dir.join(path)
        }
    }

    /// The regular files matching an include pattern, sorted. `shown` is the resolved
    /// pattern for messages; the configuration directory's own characters are escaped
    /// so that only the user's pattern is a pattern.
    fn glob(&mut self, pattern: &str, shown: &Path, span: &Span) -> Vec<PathBuf> {
        let full = if Path::new(pattern).is_absolute() {
            pattern.to_owned()
        } else {
            let dir = glob::Pattern::escape(&self.opts.conf_dir.to_string_lossy());
            Path::new(&dir).join(pattern).to_string_lossy().into_owned()
        };
        // POSIX glob(3), as nginx uses it: `*` matches neither `/` nor a leading dot,
        // so editor backups such as `.app.swp` are not included.
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let glob_error = |reason: String| ConfigErrorKind::Glob {
            pattern: shown.display().to_string(),
            reason,
        };
        if let Some(replay) = self.replay {
            return match replay.glob(&full) {
                Some(files) => files.to_vec(),
                None => {
                    let reason = "not expanded by the master".to_owned();
                    self.errors.push(glob_error(reason), span);
                    Vec::new()
                }
            };
        }
        let entries = match glob::glob_with(&full, options) {
            Ok(entries) => entries,
            Err(e) => {
                self.errors.push(glob_error(e.msg.to_owned()), span);
                return Vec::new();
            }
        };
        let mut files = Vec::new();
        for entry in entries {
            match entry {
                Ok(path) if path.is_dir() => {}
                Ok(path) => files.push(path),
                Err(e) => self.errors.push(glob_error(e.error().to_string()), span),
            }
        }
        files.sort();
        self.globs.push((full, files.clone()));
        files
    }

    /// The text of a file, recording it in `sources` the first time. When the file
    /// does not exist and `fallback` is given, that built-in text is used instead.
    /// Failures are recorded at `at` (the include directive; `None` for the main file).
    fn load(
        &mut self,
        path: &Path,
        fallback: Option<&'static str>,
        at: Option<&Span>,
    ) -> Option<(Arc<Origin>, String)> {
        let on_disk = Arc::new(Origin::File(path.to_path_buf()));
        let built_in = Arc::new(Origin::BuiltIn(path.to_path_buf()));
        if let Some(seen) = self
            .sources
            .iter()
            .find(|s| s.origin == on_disk || s.origin == built_in)
        {
            return Some((Arc::clone(&seen.origin), seen.text.clone()));
        }

        let read = match self.replay {
            Some(replay) => replay.read(path),
            None => fs::read(path),
        };
        let (origin, text) = match read {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => (on_disk, text),
                Err(e) => {
                    let line = line_of_offset(e.as_bytes(), e.utf8_error().valid_up_to());
                    let span = Span::new(on_disk, line);
                    self.errors.push(ConfigErrorKind::NotUtf8, &span);
                    return None;
                }
            },
            Err(e) => match fallback {
                Some(text) if e.kind() == io::ErrorKind::NotFound => (built_in, text.to_owned()),
                _ => {
                    let kind = open_error(path, &e);
                    self.errors.0.push(match at {
                        Some(span) => ConfigError::new(kind, span),
                        None => ConfigError::without_span(kind),
                    });
                    return None;
                }
            },
        };
        self.record(&origin, &text);
        Some((origin, text))
    }

    /// Keeps a text for `-T`, once per origin.
    fn record(&mut self, origin: &Arc<Origin>, text: &str) {
        if !self.sources.iter().any(|s| s.origin == *origin) {
            self.sources.push(SourceFile {
                origin: Arc::clone(origin),
                text: text.to_owned(),
            });
        }
    }
}

/// nginx's `open() "PATH" failed (ERRNO: strerror)`.
fn open_error(path: &Path, err: &io::Error) -> ConfigErrorKind {
    let (errno, reason) = match err.raw_os_error() {
        Some(errno) => (errno, strerror(errno)),
        None => (0, err.to_string()),
    };
    ConfigErrorKind::Open {
        path: path.to_path_buf(),
        errno,
        reason,
    }
}

/// The 1-based line of byte `offset` in `bytes`.
fn line_of_offset(bytes: &[u8], offset: usize) -> u32 {
    let newlines = bytes.iter().take(offset).filter(|&&b| b == b'\n').count();
    u32::try_from(newlines.saturating_add(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
