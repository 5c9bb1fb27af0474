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

/// The C library's text for `errno` (`No such file or directory`), without the
/// ` (os error 2)` that Rust's `io::Error` adds.
fn strerror(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.split(" (os error ").next() {
        Some(reason) => reason.to_owned(),
        None => text,
    }
}

/// The 1-based line of byte `offset` in `bytes`.
fn line_of_offset(bytes: &[u8], offset: usize) -> u32 {
    let newlines = bytes.iter().take(offset).filter(|&&b| b == b'\n').count();
    u32::try_from(newlines.saturating_add(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::fs;
    use std::path::Path;

    use super::*;

    /// Writes `files` (relative path, text) under a new temporary directory.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    fn read(dir: &Path) -> Result<ReadResult, ConfigErrors> {
        read_config(&ReadOptions::new(dir.join("main.conf")))
    }

    /// `name args;` for every directive, depth-first, blocks as `name args {`.
    fn flat(directives: &[Directive]) -> Vec<String> {
        let mut out = Vec::new();
        for d in directives {
            let head = std::iter::once(d.name.as_str())
                .chain(d.arg_strs())
                .collect::<Vec<_>>()
                .join(" ");
            match &d.block {
                Some(children) => {
                    out.push(format!("{head} {{"));
                    out.extend(flat(children));
                    out.push("}".to_owned());
                }
                None => out.push(format!("{head};")),
            }
        }
        out
    }

    fn messages(errors: &ConfigErrors) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn glob_include_reads_sorted_regular_visible_files() {
        let dir = tree(&[
            ("main.conf", "a;\ninclude sites/*;\nz;\n"),
            ("sites/b.conf", "b;\n"),
            ("sites/a.conf", "a2;\n"),
            ("sites/.a.conf.swp", "swap;\n"),
            ("sites/sub/c.conf", "c;\n"),
        ]);
        let got = read(dir.path()).unwrap();
        assert_eq!(flat(&got.directives), ["a;", "a2;", "b;", "z;"]);
        let origin = &got.directives[1].span.origin;
        assert_eq!(**origin, Origin::File(dir.path().join("sites/a.conf")));
    }

    #[test]
    fn glob_matching_nothing_is_fine() {
        let dir = tree(&[("main.conf", "include conf.d/*.conf;\nx;\n")]);
        assert_eq!(flat(&read(dir.path()).unwrap().directives), ["x;"]);
    }

    #[test]
    fn bad_glob_pattern_is_reported() {
        let dir = tree(&[("main.conf", "include \"[\";\n")]);
        let want = format!(
            "glob() \"{}/[\" failed: invalid range pattern in {}/main.conf:1",
            dir.path().display(),
            dir.path().display()
        );
        assert_eq!(messages(&read(dir.path()).unwrap_err()), [want]);
    }

    #[test]
    fn missing_include_is_reported_and_reading_goes_on() {
        let dir = tree(&[(
            "main.conf",
            "http {\ninclude missing.conf;\ninclude /nonexistent/other.conf;\n}\n",
        )]);
        let d = dir.path().display();
        assert_eq!(
            messages(&read(dir.path()).unwrap_err()),
            [
                format!(
                    "open() \"{d}/missing.conf\" failed (2: No such file or directory) \
                     in {d}/main.conf:2"
                ),
                format!(
                    "open() \"/nonexistent/other.conf\" failed (2: No such file or directory) \
                     in {d}/main.conf:3"
                ),
            ]
        );
    }

    #[test]
    fn include_of_a_directory_names_the_errno() {
        let dir = tree(&[("main.conf", "include sub;\n"), ("sub/x", "")]);
        let d = dir.path().display();
        assert_eq!(
            messages(&read(dir.path()).unwrap_err()),
            [format!(
                "open() \"{d}/sub\" failed (21: Is a directory) in {d}/main.conf:1"
            )]
        );
    }

    #[test]
    fn missing_main_file_has_no_span() {
        let dir = tree(&[]);
        let d = dir.path().display();
        assert_eq!(
            messages(&read(dir.path()).unwrap_err()),
            [format!(
                "open() \"{d}/main.conf\" failed (2: No such file or directory)"
            )]
        );
    }

    #[test]
    fn embedded_main_when_missing() {
        let dir = tree(&[]);
        let mut opts = ReadOptions::new(dir.path().join("main.conf"));
        opts.embedded_main_if_missing = true;
        let got = read_config(&opts).unwrap();
        let origins: Vec<Origin> = got.sources.iter().map(|s| (*s.origin).clone()).collect();
        assert_eq!(
            origins,
            [
                Origin::BuiltIn(dir.path().join("main.conf")),
                Origin::BuiltIn(dir.path().join("mime.types")),
            ]
        );
        assert_eq!(got.sources[0].text, builtin::EMBEDDED_MAIN);
        assert_eq!(got.directives[0].name, "daemon");
    }

    #[test]
    fn relative_include_resolves_against_conf_dir() {
        let dir = tree(&[
            (
                "etc/main.conf",
                "include part.conf;\ninclude sites/*.conf;\n",
            ),
            ("etc/part.conf", "from_conf_dir;\n"),
            ("etc/sites/s.conf", "from_glob;\n"),
            ("elsewhere/part.conf", "wrong;\n"),
        ]);
        let mut opts = ReadOptions::new(dir.path().join("elsewhere/main.conf"));
        opts.main_file = dir.path().join("etc/main.conf");
        opts.conf_dir = dir.path().join("etc");
        let got = read_config(&opts).unwrap();
        assert_eq!(flat(&got.directives), ["from_conf_dir;", "from_glob;"]);
    }

    #[test]
    fn conf_dir_with_glob_characters_is_taken_literally() {
        let dir = tree(&[
            ("we[i]rd/main.conf", "include s/*.conf;\n"),
            ("we[i]rd/s/a.conf", "a;\n"),
        ]);
        let got = read_config(&ReadOptions::new(dir.path().join("we[i]rd/main.conf")));
        assert_eq!(flat(&got.unwrap().directives), ["a;"]);
    }

    #[test]
    fn built_in_proxy_params_and_mime_types_when_not_on_disk() {
        let dir = tree(&[(
            "main.conf",
            "http {\ninclude mime.types;\nlocation / {\ninclude proxy_params;\n}\n}\n",
        )]);
        let got = read(dir.path()).unwrap();
        let origins: Vec<Origin> = got.sources.iter().map(|s| (*s.origin).clone()).collect();
        assert_eq!(
            origins,
            [
                Origin::File(dir.path().join("main.conf")),
                Origin::BuiltIn(dir.path().join("mime.types")),
                Origin::BuiltIn(dir.path().join("proxy_params")),
            ]
        );
        let http = got.directives[0].block.as_ref().unwrap();
        assert_eq!(http[0].name, "types");
        let location = http[1].block.as_ref().unwrap();
        assert_eq!(location.len(), 5); // the five lines of proxy_params
        assert_eq!(
            location[0].span.to_string(),
            format!("in {}/proxy_params:1", dir.path().display())
        );
    }

    #[test]
    fn file_on_disk_wins_over_built_in() {
        let dir = tree(&[
            ("main.conf", "include proxy_params;\n"),
            ("proxy_params", "proxy_set_header A b;\n"),
        ]);
        let got = read(dir.path()).unwrap();
        assert_eq!(flat(&got.directives), ["proxy_set_header A b;"]);
    }

    #[test]
    fn include_in_nested_blocks_is_replaced_in_place() {
        let dir = tree(&[
            (
                "main.conf",
                "http {\n server {\n  location / {\n   a;\n   include loc.conf;\n   d;\n  }\n }\n}\n",
            ),
            ("loc.conf", "b;\ninclude deeper.conf;\n"),
            ("deeper.conf", "c {\n x;\n}\n"),
        ]);
        let got = read(dir.path()).unwrap();
        assert_eq!(
            flat(&got.directives),
            [
                "http {",
                "server {",
                "location / {",
                "a;",
                "b;",
                "c {",
                "x;",
                "}",
                "d;",
                "}",
                "}",
                "}"
            ]
        );
        let c = &got.directives[0].block.as_ref().unwrap()[0]
            .block
            .as_ref()
            .unwrap()[0]
            .block
            .as_ref()
            .unwrap()[2];
        assert_eq!(
            c.span.to_string(),
            format!("in {}/deeper.conf:1", dir.path().display())
        );
    }

    #[test]
    fn include_shape_errors() {
        let dir = tree(&[("main.conf", "include;\ninclude a b;\ninclude x { }\n")]);
        let d = dir.path().display();
        assert_eq!(
            messages(&read(dir.path()).unwrap_err()),
            [
                format!("invalid number of arguments in \"include\" directive in {d}/main.conf:1"),
                format!("invalid number of arguments in \"include\" directive in {d}/main.conf:2"),
                format!("directive \"include\" is not terminated by \";\" in {d}/main.conf:3"),
            ]
        );
    }

    #[test]
    fn self_include_hits_the_depth_limit() {
        let dir = tree(&[
            ("main.conf", "include self.conf;\n"),
            ("self.conf", "x;\ninclude self.conf;\n"),
        ]);
        let d = dir.path().display();
        assert_eq!(
            messages(&read(dir.path()).unwrap_err()),
            [format!(
                "include nesting is deeper than {MAX_INCLUDE_DEPTH} files \
                 (is \"{d}/self.conf\" including itself?) in {d}/self.conf:2"
            )]
        );
    }

    #[test]
    fn include_chain_at_the_depth_limit_is_fine() {
        let dir = tree(&[("main.conf", "include f1;\n")]);
        for level in 1..=MAX_INCLUDE_DEPTH {
            let text = if level == MAX_INCLUDE_DEPTH {
                "last;\n".to_owned()
            } else {
                format!("include f{};\n", level + 1)
            };
            fs::write(dir.path().join(format!("f{level}")), text).unwrap();
        }
        assert_eq!(flat(&read(dir.path()).unwrap().directives), ["last;"]);

        let last = dir.path().join(format!("f{MAX_INCLUDE_DEPTH}"));
        fs::write(&last, "include one_too_many;\n").unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(matches!(
            err.0[0].kind,
            ConfigErrorKind::IncludeTooDeep { .. }
        ));
    }

    #[test]
    fn command_line_directives_come_first() {
        let dir = tree(&[
            ("main.conf", "worker_processes 2;\n"),
            ("g.conf", "from_g_include;\n"),
        ]);
        let mut opts = ReadOptions::new(dir.path().join("main.conf"));
        opts.command_line = Some("daemon off; include g.conf;".to_owned());
        let got = read_config(&opts).unwrap();
        assert_eq!(
            flat(&got.directives),
            ["daemon off;", "from_g_include;", "worker_processes 2;"]
        );
        assert_eq!(got.directives[0].span.to_string(), "in command line");
        assert_eq!(*got.sources[0].origin, Origin::CommandLine);
    }

    #[test]
    fn command_line_error_is_collected_with_file_errors() {
        let dir = tree(&[("main.conf", "}\n")]);
        let mut opts = ReadOptions::new(dir.path().join("main.conf"));
        opts.command_line = Some("daemon off".to_owned());
        let d = dir.path().display();
        assert_eq!(
            messages(&read_config(&opts).unwrap_err()),
            [
                "unexpected end of parameter, expecting \";\" in command line".to_owned(),
                format!("unexpected \"}}\" in {d}/main.conf:1"),
            ]
        );
    }

    #[test]
    fn syntax_error_ends_only_that_file() {
        let dir = tree(&[
            (
                "main.conf",
                "include bad.conf;\ninclude missing.conf;\nok;\n",
            ),
            ("bad.conf", "a;\nb;\n}\n"),
        ]);
        let d = dir.path().display();
        assert_eq!(
            messages(&read(dir.path()).unwrap_err()),
            [
                format!("unexpected \"}}\" in {d}/bad.conf:3"),
                format!(
                    "open() \"{d}/missing.conf\" failed (2: No such file or directory) \
                     in {d}/main.conf:2"
                ),
            ]
        );
    }

    #[test]
    fn sources_are_verbatim_and_read_once() {
        let part = "# comment kept\nx   \"y\";"; // no final newline
        let dir = tree(&[
            (
                "main.conf",
                "include part.conf;\ninclude part.conf;\ninclude p*.conf;\n",
            ),
            ("part.conf", part),
        ]);
        let got = read(dir.path()).unwrap();
        assert_eq!(got.directives.len(), 3);
        assert_eq!(got.sources.len(), 2);
        assert_eq!(got.sources[1].text, part);
        assert_eq!(
            *got.sources[1].origin,
            Origin::File(dir.path().join("part.conf"))
        );
    }

    #[test]
    fn non_utf8_is_reported_at_its_line() {
        let dir = tree(&[("main.conf", "include bin.conf;\n")]);
        fs::write(dir.path().join("bin.conf"), b"a;\nb \xff;\n").unwrap();
        let d = dir.path().display();
        assert_eq!(
            messages(&read(dir.path()).unwrap_err()),
            [format!(
                "configuration text is not valid UTF-8 in {d}/bin.conf:2"
            )]
        );
    }

    #[test]
    fn shipped_layout_reads_with_built_ins() {
        let dir = tree(&[
            ("vestibule.conf", include_str!("../../conf/vestibule.conf")),
            (
                "sites-enabled/default",
                include_str!("../../conf/sites-available/default"),
            ),
        ]);
        let got = read_config(&ReadOptions::new(dir.path().join("vestibule.conf"))).unwrap();
        let names: Vec<String> = got
            .sources
            .iter()
            .map(|s| {
                s.origin
                    .path()
                    .unwrap()
                    .strip_prefix(dir.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "vestibule.conf",
                "mime.types",
                "sites-enabled/default",
                "proxy_params"
            ]
        );
    }

    #[test]
    fn errno_text_matches_the_c_library() {
        let cases = [
            (libc::ENOENT, "No such file or directory"),
            (libc::EACCES, "Permission denied"),
            (libc::EISDIR, "Is a directory"),
        ];
        for (errno, want) in cases {
            assert_eq!(strerror(errno), want, "{errno}");
        }
    }

    #[test]
    fn line_of_offset_counts_newlines_before_it() {
        let cases: [(&[u8], usize, u32); 4] = [
            (b"", 0, 1),
            (b"a\nb", 2, 2),
            (b"a\nb", 1, 1),
            (b"\n\n", 9, 3),
        ];
        for (bytes, offset, want) in cases {
            assert_eq!(line_of_offset(bytes, offset), want);
        }
    }
}
