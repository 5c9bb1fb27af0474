//! From directive tree to typed [`Config`]: the second half of loading. Every directive
//! is checked against the [`schema`] (the union of the modules' tables), its row's
//! setter parses its arguments into its module's slots, inheritance is resolved
//! (http → server → location → nested location) and cross-references (`proxy_pass` to
//! an `upstream`, `access_log` to a `log_format`) are checked.
//!
//! One file per nginx module, each with its table of [`command::Command`] rows beside
//! its slots, merge and defaults: [`main_ctx`] (core, errlog, events), [`http_core`],
//! [`static_files`] (root, alias, try_files, index), [`log`], [`headers`],
//! [`rewrite`], [`map`], [`proxy`], [`realip`], [`upstream`].
//!
//! Errors are collected, not returned at the first one: a user fixing a configuration
//! sees every problem `-t` can find in one run.

mod access;
mod args;
mod autoindex;
mod cache;
mod charset;
mod command;
mod compress;
mod files;
mod headers;
mod http;
mod http_core;
mod layer;
mod limits;
mod listen;
mod location;
mod log;
mod main_ctx;
mod map;
mod modules;
mod port_range;
mod proxy;
mod proxy_pass;
pub use proxy_pass::{
    parse_url as parse_proxy_url, tls_name as proxy_tls_name, Authority as ProxyUrlAuthority,
};
mod health;
mod http2;
mod metrics;
mod proxy_shaping;
mod proxy_ssl;
mod realip;
mod rewrite;
mod rewrite_if;
mod schema;
mod server;
mod ssl;
mod ssl_ciphers;
mod static_files;
mod stub_status;
pub mod unimplemented;
mod upstream;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigErrorKind, ConfigErrors, ConfigWarning};
use super::model::Config;
use super::source::Span;
use super::template::Names;
use super::tree::Directive;
use crate::pcre::Pcre;

/// What a server block sees of the http level.
pub(crate) struct Scope<'a> {
    pub http_layer: &'a layer::Layer,
    pub http_conf: &'a super::model::LocationConf,
    pub upstream_names: &'a [String],
}

pub use command::Context;
pub use layer::fallback_location_conf;
pub use main_ctx::DEFAULT_PID;
pub use schema::knows as knows_directive;

/// What the builder needs to know about the world.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Relative paths (`root html`, `pid logs/x.pid`) are joined to this (`-p`).
    pub prefix: PathBuf,
    /// Whether the process runs as root: the default `listen` is `*:80` then, `*:8000`
    /// otherwise, as in nginx.
    pub is_root: bool,
    /// The error log when the main context names none (`-e`, as nginx's
    /// `ngx_log_open_default`).
    pub default_error_log: super::model::LogTarget,
    /// Relative `ssl_certificate` and other TLS file paths are joined to this: the
    /// main file's directory (nginx's conf prefix).
    pub conf_dir: PathBuf,
    /// Where data files (certificates, keys) come from when not from the disk: the
    /// master's reading of them (a worker's reload).
    pub replay: Option<Arc<super::Replay>>,
}

impl BuildOptions {
    /// Options with `prefix`, and the default error log (no `-e`).
    pub fn new(prefix: impl Into<PathBuf>, is_root: bool) -> BuildOptions {
        BuildOptions {
            prefix: prefix.into(),
            is_root,
            default_error_log: super::model::LogTarget::File(PathBuf::from(
                super::DEFAULT_ERROR_LOG,
            )),
            conf_dir: PathBuf::from("/etc/vestibule"),
            replay: None,
        }
    }
}

/// The typed configuration and the warnings found while building it.
#[derive(Debug)]
pub struct Built {
    pub config: Config,
    pub warnings: Vec<ConfigWarning>,
    /// Info-level notes for `-t`: directives accepted that have no effect in vestibule.
    pub infos: Vec<ConfigWarning>,
    /// The data files read (certificates, keys), path and bytes, for a replay.
    pub data_files: Vec<(PathBuf, Vec<u8>)>,
}

/// Builds the typed configuration from the main context's directives.
pub fn build(directives: &[Directive], options: &BuildOptions) -> Result<Built, ConfigErrors> {
    let mut cx = Builder::new(options.clone(), declared_names(directives));
    let config = main_ctx::build_main(directives, &mut cx);
    if cx.errors.is_empty() {
        Ok(Built {
            config,
            warnings: cx.warnings,
            infos: cx.infos,
            data_files: cx.data_files,
        })
    } else {
        Err(cx.errors)
    }
}

/// State shared by every step of one build.
pub(crate) struct Builder {
    pub errors: ConfigErrors,
    pub warnings: Vec<ConfigWarning>,
    pub infos: Vec<ConfigWarning>,
    /// Named captures of every regex and every `set` variable in the configuration,
    /// so `$name` is known wherever it is written.
    pub names: Names,
    pub options: BuildOptions,
    /// Each certificate and key pair loaded so far (servers inheriting one share it).
    loaded_certificates: HashMap<(PathBuf, PathBuf), Option<super::model::tls::Certificate>>,
    /// Data files read, in order, for a replay.
    data_files: Vec<(PathBuf, Vec<u8>)>,
    /// Shared memory zones declared so far, by name: their size.
    zone_sizes: HashMap<String, usize>,
    /// The advice already given for a directive vestibule does not implement: a family
    /// (`include uwsgi_params` and its sixteen `uwsgi_param` lines) is reported once.
    advised: Vec<&'static str>,
    /// Each `limit_req`/`limit_conn` zone named so far (checked at the end of http).
    pub limit_refs: Vec<(crate::config::model::limits::LimitKind, String, Span)>,
    /// Each `proxy_cache` zone named so far (checked at the end of http).
    pub cache_refs: Vec<(String, Span)>,
}

impl Builder {
    pub fn new(options: BuildOptions, names: Names) -> Builder {
        Builder {
            errors: ConfigErrors::default(),
            warnings: Vec::new(),
            infos: Vec::new(),
            names,
            options,
            loaded_certificates: HashMap::new(),
            data_files: Vec::new(),
            zone_sizes: HashMap::new(),
            advised: Vec::new(),
            limit_refs: Vec::new(),
            cache_refs: Vec::new(),
        }
    }

    /// Reports an error. A directive or variable of a module vestibule does not
    /// implement carries that module's advice, given once per build.
    pub fn error(&mut self, kind: ConfigErrorKind, span: &Span) {
        let kind = match kind {
            ConfigErrorKind::UnknownVariable(name) => match unimplemented::advice(&name) {
                Some(advice) => ConfigErrorKind::NotImplementedVariable(name, advice),
                None => ConfigErrorKind::UnknownVariable(name),
            },
            kind => kind,
        };
        if let ConfigErrorKind::NotImplemented(_, advice)
        | ConfigErrorKind::NotImplementedVariable(_, advice) = kind
        {
            if self.advised.contains(&advice) {
                return;
            }
            self.advised.push(advice);
        }
        self.errors.push(kind, span);
    }

    pub fn warn(&mut self, message: String, span: &Span) {
        self.warnings.push(ConfigWarning {
            message,
            span: Some(span.clone()),
        });
    }

    /// An info-level note for `-t`, with the directive's place.
    pub fn info(&mut self, message: String, span: &Span) {
        self.infos.push(ConfigWarning {
            message,
            span: Some(span.clone()),
        });
    }

    /// Checks a directive against the schema; reports and returns false when it breaks it.
    pub fn check(&mut self, directive: &Directive, ctx: Context) -> bool {
        match schema::check(directive, ctx) {
            Ok(()) => true,
            Err(kind) => {
                self.error(kind, &directive.span);
                false
            }
        }
    }

    /// Declares a shared memory zone; the same name with another size is nginx's
    /// error.
    pub fn declare_zone(&mut self, name: &str, size: usize, span: &Span) {
        match self.zone_sizes.get(name) {
            Some(&known) if known != size => self.error(
                ConfigErrorKind::Tls(format!(
                    "the size {size} of shared memory zone \"{name}\" conflicts with already declared size {known}"
                )),
                span,
            ),
            Some(_) => {}
            None => {
                self.zone_sizes.insert(name.to_string(), size);
            }
        }
    }

    /// A path relative to the configuration directory, as nginx's
    /// `ngx_conf_full_name(.., conf_prefix = 1)` for TLS files.
    pub fn conf_path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.options.conf_dir.join(p)
        }
    }

    /// A data file's bytes (a certificate, a key): from the replay when building
    /// what a master validated, otherwise from the disk, recorded for the replay.
    pub fn read_file(&mut self, path: &Path) -> std::io::Result<Vec<u8>> {
        if let Some((_, bytes)) = self.data_files.iter().find(|(p, _)| p == path) {
            return Ok(bytes.clone());
        }
        let bytes = match &self.options.replay {
            Some(replay) => replay.read(path)?,
            None => std::fs::read(path)?,
        };
        self.data_files.push((path.to_path_buf(), bytes.clone()));
        Ok(bytes)
    }

    /// A path relative to the prefix, as nginx's `ngx_conf_full_name`.
    pub fn full_path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.options.prefix.join(p)
        }
    }
}

/// Compiles a location, server name or `proxy_redirect` regex, with the error on one
/// line (`invalid regex "([a-z]": unclosed group`).
pub fn compile_regex(pattern: &str, case_insensitive: bool) -> Result<Pcre, ConfigErrorKind> {
    Pcre::new(pattern, case_insensitive).map_err(|e| ConfigErrorKind::InvalidRegex {
        pattern: pattern.to_string(),
        reason: e.reason,
    })
}

/// Collects, before any template is parsed, the names nginx declares while it reads
/// the configuration: `(?<name>...)` / `(?P<name>...)` group names of every regex
/// location, regex server name, `rewrite` and `if (... ~ regex)`, and every
/// variable a `set` makes (wherever it is written, as nginx's variables are global).
fn declared_names(directives: &[Directive]) -> Names {
    let mut names = Names::default();
    let mut stack: Vec<&Directive> = directives.iter().rev().collect();
    while let Some(d) = stack.pop() {
        let regex_args: Vec<&str> = match d.name.as_str() {
            "location" => match d.arg_strs().as_slice() {
                ["~" | "~*", re] => vec![*re],
                [re] if re.starts_with('~') => vec![re.trim_start_matches(['~', '*'])],
                _ => vec![],
            },
            "server_name" => d
                .args
                .iter()
                .filter_map(|a| a.value.strip_prefix('~'))
                .collect(),
            "rewrite" => d
                .args
                .first()
                .map(|a| a.value.as_str())
                .into_iter()
                .collect(),
            "if" => rewrite_if::condition_regex(d).into_iter().collect(),
            "map" => {
                map::declare(d, &mut names);
                continue;
            }
            "set" => {
                if let Some(name) = d.args.first().and_then(|a| a.value.strip_prefix('$')) {
                    if rewrite::settable(name) {
                        names.declare(name);
                    }
                }
                vec![]
            }
            _ => vec![],
        };
        for re in regex_args {
            if let Ok(compiled) = Pcre::new(re, false) {
                names
                    .captures
                    .extend(compiled.capture_names().map(str::to_string));
            }
        }
        if let Some(children) = &d.block {
            stack.extend(children.iter().rev());
        }
    }
    names
}
