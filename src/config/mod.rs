//! The configuration layer: nginx's language in, a validated, typed [`Config`] out.
//!
//! ```text
//! files ──read──► directive tree ──build──► Config ──checks──► warnings
//!        (lexer, parser,            (schema, values,
//!         include, builtins)         inheritance)
//! ```
//!
//! [`load`] is the one entry point; `-t`, startup and reload all go through it, so
//! what `-t` accepts is exactly what runs.

pub mod build;
pub mod builtin;
pub mod dump;
pub mod error;
pub mod lexer;
pub mod model;
pub mod parser;
pub mod read;
pub mod replay;
pub mod source;
pub mod template;
pub mod tree;
pub mod value;
pub mod warnings;

use std::path::PathBuf;

pub use error::{ConfigError, ConfigErrorKind, ConfigErrors, ConfigWarning};
pub use model::Config;
pub use replay::Replay;
pub use source::SourceFile;

/// The prefix when no `-p` is given: nginx's compiled-in `--prefix` (Debian's nginx
/// has `/usr/share/nginx`). Relative `-c`, `-e`, `root`, `pid`, logs and temp paths
/// are taken relative to it.
pub const DEFAULT_PREFIX: &str = "/usr/share/vestibule/";

/// The error log when neither `-e` nor the configuration names one.
pub const DEFAULT_ERROR_LOG: &str = "/var/log/vestibule/error.log";

/// Where the configuration comes from (the CLI's `-c`, `-p`, `-e`, `-g`).
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The main file (`-c`, default `/etc/vestibule/vestibule.conf`), already resolved
    /// against the prefix. Relative `include`s are resolved against its directory.
    pub main_file: PathBuf,
    /// `-p`: the prefix for relative paths in directives (`root`, `pid`, logs, temp
    /// paths); [`DEFAULT_PREFIX`] when `None`.
    pub prefix: Option<PathBuf>,
    /// `-e`: the error log when the configuration names none (else
    /// [`DEFAULT_ERROR_LOG`]).
    pub error_log: Option<model::LogTarget>,
    /// `-g`: extra main-context directives.
    pub directives: Option<String>,
    /// Run the embedded configuration when the main file is missing (only when no `-c`
    /// was given).
    pub embedded_if_missing: bool,
}

/// A configuration that loaded: the typed value, the texts it came from (for `-T`) and
/// the warnings to print.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Each `include` glob's matches, for a [`Replay`].
    pub globs: Vec<replay::GlobMatches>,
    pub sources: Vec<SourceFile>,
    pub warnings: Vec<ConfigWarning>,
    /// Info-level notes `-t` prints: directives accepted that have no effect in
    /// vestibule (hash table sizes), in file order.
    pub infos: Vec<ConfigWarning>,
    /// Data files the configuration names (certificates, keys), read once by the
    /// master and handed to workers in the [`Replay`].
    pub data_files: Vec<(PathBuf, Vec<u8>)>,
}

/// Reads, parses, builds and checks a configuration. Every error found is returned.
pub fn load(options: &LoadOptions) -> Result<Loaded, ConfigErrors> {
    load_with(options, None)
}

/// [`load`], also returning the [`Replay`] of what was read: the exact texts a worker
/// builds the same configuration from with [`load_replayed`].
pub fn load_recorded(options: &LoadOptions) -> Result<(Loaded, Replay), ConfigErrors> {
    let is_root = crate::sys::is_root();
    let loaded = load(options)?;
    let files = loaded
        .sources
        .iter()
        .filter_map(|s| match s.origin.as_ref() {
            source::Origin::File(path) => Some((path.clone(), s.text.clone().into_bytes())),
            _ => None,
        })
        .chain(loaded.data_files.iter().cloned())
        .collect();
    let replay = Replay {
        is_root,
        files,
        globs: loaded.globs.clone(),
    };
    Ok((loaded, replay))
}

/// Builds the configuration a master validated from its [`Replay`], opening no
/// configuration file (a worker's in-place reload). Its warnings were the master's to
/// report.
pub fn load_replayed(options: &LoadOptions, replay: &Replay) -> Result<Config, ConfigErrors> {
    load_with(options, Some(replay)).map(|loaded| loaded.config)
}

/// [`load`], with files and globs from `replay` instead of the disk when given.
fn load_with(options: &LoadOptions, replay: Option<&Replay>) -> Result<Loaded, ConfigErrors> {
    let conf_dir = match options.main_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let read_options = read::ReadOptions {
        main_file: options.main_file.clone(),
        conf_dir,
        command_line: options.directives.clone(),
        embedded_main_if_missing: options.embedded_if_missing,
    };
    let read = read::read_config_replaying(&read_options, replay)?;
    let build_options = build::BuildOptions {
        prefix: options
            .prefix
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PREFIX)),
        is_root: replay.map_or_else(crate::sys::is_root, |r| r.is_root),
        default_error_log: options
            .error_log
            .clone()
            .unwrap_or_else(|| model::LogTarget::File(PathBuf::from(DEFAULT_ERROR_LOG))),
        conf_dir: read_options.conf_dir.clone(),
        replay: replay.map(|r| std::sync::Arc::new(r.clone())),
    };
    let built = build::build(&read.directives, &build_options).map_err(|mut errors| {
        sort_by_place(&mut errors, &read.sources);
        errors
    })?;
    let mut found = built.warnings;
    found.extend(warnings::check(&built.config, &build_options.prefix));
    let mut infos = built.infos;
    infos.sort_by_key(|i| place(i.span.as_ref(), &read.sources));
    Ok(Loaded {
        config: built.config,
        globs: read.globs,
        sources: read.sources,
        warnings: found,
        infos,
        data_files: built.data_files,
    })
}

/// Orders errors as the files were read and by line within a file, so the user reads
/// them top to bottom (the builder finds some, such as upstream errors, out of order).
fn sort_by_place(errors: &mut ConfigErrors, sources: &[SourceFile]) {
    errors
        .0
        .sort_by_key(|e: &ConfigError| place(e.span.as_ref(), sources));
}

/// Where a span is, as (file in reading order, line); no span sorts last.
fn place(span: Option<&source::Span>, sources: &[SourceFile]) -> (usize, u32) {
    span.map_or((usize::MAX, 0), |span| {
        let rank = sources
            .iter()
            .position(|s| s.origin == span.origin)
            .unwrap_or(usize::MAX);
        (rank, span.line)
    })
}
