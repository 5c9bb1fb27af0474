//! The core module's directives that shape how a file is answered: `etag`,
//! `if_modified_since`, `max_ranges`, `disable_symlinks`, and the `open_file_cache`
//! family (accepted with no effect). Their table, slots and merge into
//! [`crate::config::model::FileConf`]; the autoindex and charset modules, which
//! fill the same model, are [`super::autoindex`] and [`super::charset`].

use super::args::{self, arg, set_once, Kind, NoEffect};
use super::command::{d, Arity::*, Command, HTTP_SRV_LOC};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{DisableSymlinks, IfModifiedSince, LocationConf};
use crate::config::tree::Directive;

/// The file settings written at one level.
#[derive(Debug, Default)]
pub struct FilesLayer {
    pub etag: Option<bool>,
    pub if_modified_since: Option<IfModifiedSince>,
    pub max_ranges: Option<u32>,
    pub disable_symlinks: Option<DisableSymlinks>,
    pub no_effect: NoEffect,
}

/// Why the `open_file_cache` family changes nothing.
const OPEN_FILE_CACHE: &str = "each worker already keeps document directories and unchanged files open, checked on every request";

pub const COMMANDS: &[Command<FilesLayer>] = &[
    d("etag", HTTP_SRV_LOC, Exactly(1), |f, d, cx, _| {
        set_once(cx, d, &mut f.etag, args::flag(d))
    }),
    d(
        "if_modified_since",
        HTTP_SRV_LOC,
        Exactly(1),
        |f, d, cx, _| {
            let v = match arg(d, 0) {
                "off" => Ok(IfModifiedSince::Off),
                "exact" => Ok(IfModifiedSince::Exact),
                "before" => Ok(IfModifiedSince::Before),
                _ => Err(invalid_value(d, 0)),
            };
            set_once(cx, d, &mut f.if_modified_since, v)
        },
    ),
    d("max_ranges", HTTP_SRV_LOC, Exactly(1), |f, d, cx, _| {
        set_once(cx, d, &mut f.max_ranges, args::number(d, 0))
    }),
    d(
        "disable_symlinks",
        HTTP_SRV_LOC,
        Between(1, 2),
        |f, d, cx, _| {
            let v = disable_symlinks(cx, d);
            set_once(cx, d, &mut f.disable_symlinks, v)
        },
    ),
    d(
        "open_file_cache",
        HTTP_SRV_LOC,
        Between(1, 2),
        |f, d, cx, _| match open_file_cache(d) {
            Ok(()) => f
                .no_effect
                .set_kind(cx, d, Kind::Any, Some(OPEN_FILE_CACHE)),
            Err(e) => cx.error(e, &d.span),
        },
    ),
    d(
        "open_file_cache_valid",
        HTTP_SRV_LOC,
        Exactly(1),
        |f, d, cx, _| {
            f.no_effect
                .set_kind(cx, d, Kind::Time, Some(OPEN_FILE_CACHE))
        },
    ),
    d(
        "open_file_cache_min_uses",
        HTTP_SRV_LOC,
        Exactly(1),
        |f, d, cx, _| {
            f.no_effect
                .set_kind(cx, d, Kind::Number, Some(OPEN_FILE_CACHE))
        },
    ),
    d(
        "open_file_cache_errors",
        HTTP_SRV_LOC,
        Exactly(1),
        |f, d, cx, _| {
            f.no_effect
                .set_kind(cx, d, Kind::Flag, Some(OPEN_FILE_CACHE))
        },
    ),
];

pub fn invalid_value(d: &Directive, i: usize) -> ConfigErrorKind {
    ConfigErrorKind::InvalidValueIn {
        directive: d.name.clone(),
        value: arg(d, i).to_string(),
    }
}

/// `disable_symlinks off | on | if_not_owner [from=PART]`.
fn disable_symlinks(cx: &Builder, d: &Directive) -> Result<DisableSymlinks, ConfigErrorKind> {
    let from = match d.args.get(1) {
        None => None,
        Some(a) => match a.value.strip_prefix("from=") {
            // nginx accepts an empty `from=`: no part is exempt.
            Some("") => None,
            Some(part) => Some(crate::config::template::Template::parse(part, &cx.names)?),
            None => return Err(ConfigErrorKind::InvalidParameter(a.value.clone())),
        },
    };
    match (arg(d, 0), from) {
        ("off", None) => Ok(DisableSymlinks::Off),
        ("off", Some(_)) => Err(ConfigErrorKind::FromWithOff),
        ("on", from) => Ok(DisableSymlinks::On { from }),
        ("if_not_owner", from) => Ok(DisableSymlinks::IfNotOwner { from }),
        (other, _) => Err(ConfigErrorKind::InvalidParameter(other.to_string())),
    }
}

/// `open_file_cache off` or `open_file_cache max=N [inactive=TIME]`, checked as
/// nginx checks it.
fn open_file_cache(d: &Directive) -> Result<(), ConfigErrorKind> {
    let mut max = None;
    for a in &d.args {
        let v = a.value.as_str();
        let bad = || ConfigErrorKind::InvalidParameterOf {
            directive: d.name.clone(),
            value: v.to_string(),
        };
        if v == "off" {
            return Ok(());
        } else if let Some(n) = v.strip_prefix("max=") {
            let n = crate::config::value::parse_number(n).filter(|n| *n > 0);
            max = Some(n.ok_or_else(bad)?);
        } else if let Some(t) = v.strip_prefix("inactive=") {
            crate::config::value::parse_time(t).ok_or_else(bad)?;
        } else {
            return Err(bad());
        }
    }
    match max {
        Some(_) => Ok(()),
        None => Err(ConfigErrorKind::MissingParameter {
            directive: d.name.clone(),
            parameter: "max",
        }),
    }
}

impl FilesLayer {
    /// Merges over the parent's settings, into `conf`.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        let p = &parent.files;
        let f = &mut conf.files;
        f.etag = self.etag.unwrap_or(p.etag);
        f.if_modified_since = self.if_modified_since.unwrap_or(p.if_modified_since);
        f.max_ranges = self.max_ranges.or(p.max_ranges);
        f.disable_symlinks = self
            .disable_symlinks
            .clone()
            .unwrap_or_else(|| p.disable_symlinks.clone());
    }
}
