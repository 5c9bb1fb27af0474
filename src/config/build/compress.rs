//! nginx's `ngx_http_gzip_filter_module` and `ngx_http_gzip_static_module`, and the
//! ngx_brotli module's `brotli*` directives (Debian's libnginx-mod-http-brotli-*):
//! their table, slots and merge into [`Compression`].

use std::sync::Arc;

use super::args::{self, arg, flag, set_once, Kind, NoEffect};
use super::command::{d, Arity::*, Command, HTTP_SRV_LOC, HTTP_SRV_LOC_LIF};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::compress::{
    Coder, Compression, Disable, Precompressed, Proxied, TypeList,
};
use crate::config::model::LocationConf;
use crate::config::tree::Directive;

/// One coding's settings written at one level.
#[derive(Debug, Default)]
pub struct CoderConf {
    pub enabled: Option<bool>,
    pub level: Option<u32>,
    pub min_length: Option<u64>,
    pub types: Option<TypeList>,
    pub window_log: Option<u32>,
}

/// The compression settings written at one level.
#[derive(Debug, Default)]
pub struct CompressConf {
    pub gzip: CoderConf,
    pub brotli: CoderConf,
    pub gzip_static: Option<Precompressed>,
    pub brotli_static: Option<Precompressed>,
    pub vary: Option<bool>,
    pub proxied: Option<Proxied>,
    pub disable: Option<Disable>,
    pub http10: Option<bool>,
    pub no_effect: NoEffect,
}

pub const COMMANDS: &[Command<CompressConf>] = &[
    d("gzip", HTTP_SRV_LOC_LIF, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.gzip.enabled, flag(d))
    }),
    d(
        "gzip_comp_level",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.gzip.level, bounded(d, 1, 9)),
    ),
    d(
        "gzip_min_length",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.gzip.min_length, args::size(d, 0)),
    ),
    d("gzip_types", HTTP_SRV_LOC, AtLeast(1), |c, d, cx, _| {
        let v = types(cx, d);
        set_once(cx, d, &mut c.gzip.types, Ok(v))
    }),
    d("gzip_vary", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.vary, flag(d))
    }),
    d("gzip_proxied", HTTP_SRV_LOC, AtLeast(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.proxied, proxied(d))
    }),
    d("gzip_disable", HTTP_SRV_LOC, AtLeast(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.disable, disable(d))
    }),
    d(
        "gzip_http_version",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| {
            let v = match arg(d, 0) {
                "1.0" => Ok(true),
                "1.1" => Ok(false),
                other => Err(invalid(d, other)),
            };
            set_once(cx, d, &mut c.http10, v)
        },
    ),
    d(
        "gzip_buffers",
        HTTP_SRV_LOC,
        Exactly(2),
        |c, d, cx, _| match args::buffers(d) {
            Ok(_) => c.no_effect.set_kind(cx, d, Kind::Any, Some(BUFFERS)),
            Err(e) => cx.error(e, &d.span),
        },
    ),
    d("gzip_window", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        c.no_effect.set_kind(cx, d, Kind::Size, Some(WINDOW))
    }),
    d("gzip_hash", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        c.no_effect.set_kind(cx, d, Kind::Size, Some(WINDOW))
    }),
    d("gzip_static", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.gzip_static, precompressed(d))
    }),
    d("brotli", HTTP_SRV_LOC_LIF, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.brotli.enabled, flag(d))
    }),
    d(
        "brotli_comp_level",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.brotli.level, bounded(d, 0, 11)),
    ),
    d(
        "brotli_min_length",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.brotli.min_length, args::size(d, 0)),
    ),
    d("brotli_types", HTTP_SRV_LOC, AtLeast(1), |c, d, cx, _| {
        let v = types(cx, d);
        set_once(cx, d, &mut c.brotli.types, Ok(v))
    }),
    d("brotli_window", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.brotli.window_log, brotli_window(d))
    }),
    d(
        "brotli_buffers",
        HTTP_SRV_LOC,
        Exactly(2),
        |c, d, cx, _| match args::buffers(d) {
            Ok(_) => c.no_effect.set_kind(cx, d, Kind::Any, Some(BUFFERS)),
            Err(e) => cx.error(e, &d.span),
        },
    ),
    d("brotli_static", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        set_once(cx, d, &mut c.brotli_static, precompressed(d))
    }),
];

const BUFFERS: &str = "compressed output is sent as it is produced";
const WINDOW: &str = "zlib's window is sized to the response";

fn invalid(d: &Directive, value: &str) -> ConfigErrorKind {
    ConfigErrorKind::InvalidValueIn {
        directive: d.name.clone(),
        value: value.to_string(),
    }
}

/// A number within nginx's bounds for the directive.
fn bounded(d: &Directive, lo: u32, hi: u32) -> Result<u32, ConfigErrorKind> {
    let n = args::number(d, 0)?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(ConfigErrorKind::ValueBetween(lo.into(), hi.into()))
    }
}

/// `gzip_types` / `brotli_types`: MIME types, or `*`. A repeated type is a warning, as
/// in nginx.
fn types(cx: &mut Builder, d: &Directive) -> TypeList {
    let mut list = TypeList::html();
    for a in &d.args {
        let t = a.value.to_ascii_lowercase();
        if t == "*" {
            list.any = true;
        } else if t == "text/html" {
            continue;
        } else if list.types.contains(&t) {
            cx.warn(format!("duplicate MIME type \"{}\"", a.value), &d.span);
        } else {
            list.types.push(t);
        }
    }
    list
}

/// `gzip_proxied off | expired | no-cache | ... | any`.
fn proxied(d: &Directive) -> Result<Proxied, ConfigErrorKind> {
    let mut bits = 0;
    for a in &d.args {
        bits |= Proxied::flag(&a.value).ok_or_else(|| invalid(d, &a.value))?;
    }
    Ok(Proxied(bits))
}

/// `gzip_disable msie6 | degradation | REGEX ...`.
fn disable(d: &Directive) -> Result<Disable, ConfigErrorKind> {
    let mut out = Disable::default();
    for a in &d.args {
        match a.value.as_str() {
            "msie6" => out.msie6 = true,
            // Any other word is a regex (`degradation` too: Debian's nginx is built
            // without the module that gives it a meaning).
            pattern => {
                let re = super::compile_regex(pattern, true)?;
                out.regexes.push((pattern.to_string(), re));
            }
        }
    }
    Ok(out)
}

/// `gzip_static` / `brotli_static on | off | always`.
fn precompressed(d: &Directive) -> Result<Precompressed, ConfigErrorKind> {
    match arg(d, 0) {
        "on" => Ok(Precompressed::On),
        "off" => Ok(Precompressed::Off),
        "always" => Ok(Precompressed::Always),
        other => Err(invalid(d, other)),
    }
}

/// `brotli_window 1k | 2k | ... | 16m`: a power of two, kept as its log2.
fn brotli_window(d: &Directive) -> Result<u32, ConfigErrorKind> {
    let bytes = args::size(d, 0)?;
    let log = bytes.checked_ilog2().unwrap_or(0);
    if bytes.is_power_of_two() && (10..=24).contains(&log) {
        Ok(log)
    } else {
        Err(invalid(d, arg(d, 0)))
    }
}

impl CoderConf {
    fn merge(&self, parent: &Coder) -> Coder {
        Coder {
            enabled: self.enabled.unwrap_or(parent.enabled),
            level: self.level.unwrap_or(parent.level),
            min_length: self.min_length.unwrap_or(parent.min_length),
            types: self.types.clone().unwrap_or_else(|| parent.types.clone()),
            window_log: self.window_log.unwrap_or(parent.window_log),
        }
    }

    fn is_empty(&self) -> bool {
        self.enabled.is_none()
            && self.level.is_none()
            && self.min_length.is_none()
            && self.types.is_none()
            && self.window_log.is_none()
    }
}

impl CompressConf {
    /// Merges over the parent's settings, into `conf`; a level that writes none shares
    /// its parent's.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        if self.is_empty() {
            return;
        }
        let p = &*parent.compression;
        conf.compression = Arc::new(Compression {
            gzip: self.gzip.merge(&p.gzip),
            brotli: self.brotli.merge(&p.brotli),
            gzip_static: self.gzip_static.unwrap_or(p.gzip_static),
            brotli_static: self.brotli_static.unwrap_or(p.brotli_static),
            vary: self.vary.unwrap_or(p.vary),
            proxied: self.proxied.unwrap_or(p.proxied),
            disable: self.disable.clone().unwrap_or_else(|| p.disable.clone()),
            http10: self.http10.unwrap_or(p.http10),
        });
    }

    fn is_empty(&self) -> bool {
        self.gzip.is_empty()
            && self.brotli.is_empty()
            && self.gzip_static.is_none()
            && self.brotli_static.is_none()
            && self.vary.is_none()
            && self.proxied.is_none()
            && self.disable.is_none()
            && self.http10.is_none()
    }
}
