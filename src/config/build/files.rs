//! The core module's directives that shape how a file is answered (`etag`,
//! `if_modified_since`, `max_ranges`, `disable_symlinks`, the `open_file_cache`
//! family), `ngx_http_autoindex_module` and `ngx_http_charset_module` (declaration
//! only: no recoding). Their table, slots and merge into [`FileConf`].

use std::sync::Arc;

use super::args::{self, arg, set_once, Kind, NoEffect};
use super::command::{d, Arity::*, Command, HTTP_SRV_LOC, HTTP_SRV_LOC_LIF};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{
    AutoindexFormat, DisableSymlinks, FileConf, IfModifiedSince, LocationConf,
};
use crate::config::source::Span;
use crate::config::tree::Directive;

/// The file settings written at one level.
#[derive(Debug, Default)]
pub struct FilesLayer {
    pub etag: Option<bool>,
    pub if_modified_since: Option<IfModifiedSince>,
    pub max_ranges: Option<u32>,
    pub disable_symlinks: Option<DisableSymlinks>,
    pub autoindex: Option<bool>,
    pub autoindex_format: Option<AutoindexFormat>,
    pub autoindex_exact_size: Option<bool>,
    pub autoindex_localtime: Option<bool>,
    /// `charset NAME` (`None` inside for `charset off`), with where it was written.
    pub charset: Option<(Option<Arc<str>>, Span)>,
    pub source_charset: Option<(Arc<str>, Span)>,
    pub charset_types: Option<Vec<String>>,
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
    d("autoindex", HTTP_SRV_LOC, Exactly(1), |f, d, cx, _| {
        set_once(cx, d, &mut f.autoindex, args::flag(d))
    }),
    d(
        "autoindex_format",
        HTTP_SRV_LOC,
        Exactly(1),
        |f, d, cx, _| {
            let v = match arg(d, 0) {
                "html" => Ok(AutoindexFormat::Html),
                "xml" => Ok(AutoindexFormat::Xml),
                "json" => Ok(AutoindexFormat::Json),
                "jsonp" => Ok(AutoindexFormat::Jsonp),
                _ => Err(invalid_value(d, 0)),
            };
            set_once(cx, d, &mut f.autoindex_format, v)
        },
    ),
    d(
        "autoindex_exact_size",
        HTTP_SRV_LOC,
        Exactly(1),
        |f, d, cx, _| set_once(cx, d, &mut f.autoindex_exact_size, args::flag(d)),
    ),
    d(
        "autoindex_localtime",
        HTTP_SRV_LOC,
        Exactly(1),
        |f, d, cx, _| set_once(cx, d, &mut f.autoindex_localtime, args::flag(d)),
    ),
    d("charset", HTTP_SRV_LOC_LIF, Exactly(1), |f, d, cx, _| {
        let v = match arg(d, 0) {
            "off" => None,
            name => Some(Arc::from(name)),
        };
        set_once(cx, d, &mut f.charset, Ok((v, d.span.clone())))
    }),
    d(
        "source_charset",
        HTTP_SRV_LOC_LIF,
        Exactly(1),
        |f, d, cx, _| {
            let v = (Arc::from(arg(d, 0)), d.span.clone());
            set_once(cx, d, &mut f.source_charset, Ok(v))
        },
    ),
    d("charset_types", HTTP_SRV_LOC, AtLeast(1), |f, d, cx, _| {
        let types = d
            .args
            .iter()
            .map(|a| a.value.to_ascii_lowercase())
            .collect();
        set_once(cx, d, &mut f.charset_types, Ok(types))
    }),
];

fn invalid_value(d: &Directive, i: usize) -> ConfigErrorKind {
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
        let ai = &p.autoindex;
        conf.files = FileConf {
            etag: self.etag.unwrap_or(p.etag),
            if_modified_since: self.if_modified_since.unwrap_or(p.if_modified_since),
            max_ranges: self.max_ranges.or(p.max_ranges),
            disable_symlinks: self
                .disable_symlinks
                .clone()
                .unwrap_or_else(|| p.disable_symlinks.clone()),
            autoindex: crate::config::model::Autoindex {
                autoindex: self.autoindex.unwrap_or(ai.autoindex),
                format: self.autoindex_format.unwrap_or(ai.format),
                exact_size: self.autoindex_exact_size.unwrap_or(ai.exact_size),
                localtime: self.autoindex_localtime.unwrap_or(ai.localtime),
            },
            charset: match &self.charset {
                Some((c, _)) => c.clone(),
                None => p.charset.clone(),
            },
            source_charset: match &self.source_charset {
                Some((c, _)) => Some(c.clone()),
                None => p.source_charset.clone(),
            },
            charset_types: match &self.charset_types {
                Some(t) => Arc::new(t.clone()),
                None => p.charset_types.clone(),
            },
        };
    }

    /// After the merge: a `charset` and `source_charset` that name different
    /// charsets would need recoding, which vestibule does not do. Reported at the
    /// level that wrote either of them.
    pub fn check_recoding(&self, conf: &LocationConf, cx: &mut Builder) {
        let span = match (&self.charset, &self.source_charset) {
            (Some((_, s)), _) | (None, Some((_, s))) => s,
            (None, None) => return,
        };
        if let (Some(to), Some(from)) = (&conf.files.charset, &conf.files.source_charset) {
            if !to.eq_ignore_ascii_case(from) {
                let kind = ConfigErrorKind::CharsetRecoding {
                    from: from.to_string(),
                    to: to.to_string(),
                };
                cx.error(kind, span);
            }
        }
    }
}
