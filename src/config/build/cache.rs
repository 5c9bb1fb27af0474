//! nginx's response cache directives (`ngx_http_proxy_module`'s `proxy_cache*` and
//! `proxy_no_cache`, with `ngx_http_file_cache`'s `proxy_cache_path`): their table,
//! slots and merge into [`CacheConf`], with nginx's messages. A `proxy_cache` naming
//! a zone no `proxy_cache_path` declares fails at the end of the http block, as
//! nginx's `"proxy_cache" zone "NAME" is unknown`.

use std::sync::Arc;
use std::time::Duration;

use super::args::{self, arg, set_once};
use super::command::{d, Arity::*, Command, Context, HTTP, HTTP_SRV_LOC};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::cache::{CacheConf, CachePath, CacheValid, UseStale};
use crate::config::source::Span;
use crate::config::template::Template;
use crate::config::tree::Directive;
use crate::config::value;

/// The default key: nginx's (`$scheme$proxy_host$request_uri`) with the request's
/// `$host` added, so two sites behind one upstream never share an entry (nginx's
/// default mixes them when the upstream tells sites apart by `Host`).
pub const DEFAULT_KEY: &str = "$scheme$proxy_host$host$request_uri";

/// The smallest keys zone nginx accepts: two pages.
const MIN_KEYS_ZONE: usize = 2 * 4096;

/// The cache settings written at one level.
#[derive(Debug, Default)]
pub struct CacheLayer {
    /// `proxy_cache_path` lines (http only).
    pub paths: Vec<CachePath>,
    /// `proxy_cache NAME` (`Some(None)`: `off`).
    pub zone: Option<Option<String>>,
    pub key: Option<Template>,
    pub valid: Option<Vec<CacheValid>>,
    pub methods: Option<Vec<String>>,
    pub min_uses: Option<u32>,
    pub bypass: Option<Vec<Template>>,
    pub no_cache: Option<Vec<Template>>,
    pub use_stale: Option<UseStale>,
    pub background_update: Option<bool>,
    pub lock: Option<bool>,
    pub lock_timeout: Option<Duration>,
    pub lock_age: Option<Duration>,
    pub revalidate: Option<bool>,
    pub convert_head: Option<bool>,
    pub purge: Option<Vec<Template>>,
}

fn says(message: String) -> ConfigErrorKind {
    ConfigErrorKind::Limit(message)
}

pub const COMMANDS: &[Command<CacheLayer>] = &[
    d("proxy_cache_path", HTTP, AtLeast(2), cache_path),
    d("proxy_cache", HTTP_SRV_LOC, Exactly(1), |c, d, cx, _| {
        let v = match arg(d, 0) {
            "off" => Ok(None),
            name if name.contains('$') => Err(ConfigErrorKind::Unsupported(
                d.name.clone(),
                "a zone named by variables is not implemented; name the zone",
            )),
            name => {
                cx.cache_refs.push((name.to_string(), d.span.clone()));
                Ok(Some(name.to_string()))
            }
        };
        set_once(cx, d, &mut c.zone, v);
    }),
    d(
        "proxy_cache_key",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| {
            let v = args::template(cx, d, 0);
            set_once(cx, d, &mut c.key, v);
        },
    ),
    d(
        "proxy_cache_valid",
        HTTP_SRV_LOC,
        AtLeast(1),
        |c, d, cx, _| match valid(d) {
            Ok(v) => c.valid.get_or_insert_with(Vec::new).push(v),
            Err(k) => cx.error(k, &d.span),
        },
    ),
    d(
        "proxy_cache_methods",
        HTTP_SRV_LOC,
        AtLeast(1),
        |c, d, cx, _| {
            let v = d
                .args
                .iter()
                .map(|a| match a.value.as_str() {
                    m @ ("GET" | "HEAD" | "POST") => Ok(m.to_string()),
                    other => Err(ConfigErrorKind::InvalidValueIn {
                        directive: d.name.clone(),
                        value: other.to_string(),
                    }),
                })
                .collect();
            set_once(cx, d, &mut c.methods, v);
        },
    ),
    d(
        "proxy_cache_min_uses",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| {
            let v = args::number(d, 0).map(|n| n.max(1));
            set_once(cx, d, &mut c.min_uses, v);
        },
    ),
    d(
        "proxy_cache_bypass",
        HTTP_SRV_LOC,
        AtLeast(1),
        |c, d, cx, _| templates(c.bypass.get_or_insert_with(Vec::new), d, cx),
    ),
    d("proxy_no_cache", HTTP_SRV_LOC, AtLeast(1), |c, d, cx, _| {
        templates(c.no_cache.get_or_insert_with(Vec::new), d, cx)
    }),
    d(
        "proxy_cache_use_stale",
        HTTP_SRV_LOC,
        AtLeast(1),
        |c, d, cx, _| set_once(cx, d, &mut c.use_stale, use_stale(d)),
    ),
    d(
        "proxy_cache_background_update",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.background_update, args::flag(d)),
    ),
    d(
        "proxy_cache_lock",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.lock, args::flag(d)),
    ),
    d(
        "proxy_cache_lock_timeout",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.lock_timeout, args::time(d, 0)),
    ),
    d(
        "proxy_cache_lock_age",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.lock_age, args::time(d, 0)),
    ),
    d(
        "proxy_cache_revalidate",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.revalidate, args::flag(d)),
    ),
    d(
        "proxy_cache_convert_head",
        HTTP_SRV_LOC,
        Exactly(1),
        |c, d, cx, _| set_once(cx, d, &mut c.convert_head, args::flag(d)),
    ),
    d(
        "proxy_cache_purge",
        HTTP_SRV_LOC,
        AtLeast(1),
        |c, d, cx, _| {
            let v = d
                .args
                .iter()
                .map(|a| Template::parse(&a.value, &cx.names))
                .collect();
            set_once(cx, d, &mut c.purge, v);
        },
    ),
];

fn templates(list: &mut Vec<Template>, d: &Directive, cx: &mut Builder) {
    for a in &d.args {
        match Template::parse(&a.value, &cx.names) {
            Ok(t) => list.push(t),
            Err(k) => cx.error(k, &d.span),
        }
    }
}

/// `proxy_cache_valid [CODE ...] TIME`: only a time covers 200, 301 and 302; `any`
/// covers every status.
fn valid(d: &Directive) -> Result<CacheValid, ConfigErrorKind> {
    let n = d.args.len();
    let time_text = arg(d, n - 1);
    let time = value::parse_time(time_text).ok_or_else(|| ConfigErrorKind::InvalidValueIn {
        directive: d.name.clone(),
        value: time_text.to_string(),
    })?;
    if n == 1 {
        return Ok(CacheValid {
            statuses: vec![200, 301, 302],
            time,
        });
    }
    let mut statuses = Vec::new();
    for a in &d.args[..n - 1] {
        if a.value == "any" {
            return Ok(CacheValid {
                statuses: Vec::new(),
                time,
            });
        }
        match a.value.parse::<u16>() {
            Ok(s) if (100..=599).contains(&s) => statuses.push(s),
            _ => return Err(says(format!("invalid status \"{}\"", a.value))),
        }
    }
    Ok(CacheValid { statuses, time })
}

/// `proxy_cache_use_stale error | timeout | invalid_header | updating | http_500 |
/// http_502 | http_503 | http_504 | http_403 | http_404 | http_429 | off ...`.
fn use_stale(d: &Directive) -> Result<UseStale, ConfigErrorKind> {
    let mut s = UseStale::default();
    for a in &d.args {
        match a.value.as_str() {
            "off" if d.args.len() == 1 => return Ok(UseStale::default()),
            "error" => s.error = true,
            "timeout" => s.timeout = true,
            "invalid_header" => s.invalid_header = true,
            "updating" => s.updating = true,
            other => match other
                .strip_prefix("http_")
                .and_then(|c| c.parse::<u16>().ok())
            {
                Some(code @ (500 | 502 | 503 | 504 | 403 | 404 | 429)) => s.statuses.push(code),
                _ => return Err(ConfigErrorKind::InvalidBitmaskValue(other.to_string())),
            },
        }
    }
    Ok(s)
}

/// `proxy_cache_path PATH [levels=L] keys_zone=NAME:SIZE [inactive=T] [max_size=N]
/// [min_free=N] [use_temp_path=on|off] [manager_* loader_* purger*]`.
fn cache_path(c: &mut CacheLayer, d: &Directive, cx: &mut Builder, _: Context) {
    match parse_path(d, cx) {
        Ok(p) => {
            if c.paths.iter().any(|k| k.name == p.name) {
                let message = format!("duplicate zone \"{}\"", p.name);
                return cx.error(says(message), &d.span);
            }
            if let Some(other) = c.paths.iter().find(|k| k.path == p.path) {
                let message = format!(
                    "\"{}\" is already used by zone \"{}\"",
                    p.path.display(),
                    other.name
                );
                return cx.error(says(message), &d.span);
            }
            cx.declare_zone(&p.zone_name(), p.keys_size, &d.span);
            c.paths.push(p);
        }
        Err(k) => cx.error(k, &d.span),
    }
}

fn parse_path(d: &Directive, cx: &Builder) -> Result<CachePath, ConfigErrorKind> {
    let mut p = CachePath {
        name: String::new(),
        path: args::path(cx, d, 0),
        levels: Vec::new(),
        keys_size: 0,
        inactive: Duration::from_secs(600),
        max_size: 0,
        min_free: 0,
        use_temp_path: true,
    };
    let invalid = |a: &str| ConfigErrorKind::InvalidParameter(a.to_string());
    for a in d.args.iter().skip(1).map(|a| a.value.as_str()) {
        let (name, v) = a.split_once('=').unwrap_or((a, ""));
        match name {
            "levels" => {
                for l in v.split(':') {
                    match l.parse::<u8>() {
                        Ok(n @ 1..=2) if p.levels.len() < 3 => p.levels.push(n),
                        _ => return Err(invalid(a)),
                    }
                }
            }
            "keys_zone" => {
                let (n, s) = v.rsplit_once(':').ok_or_else(|| invalid(a))?;
                let s = value::parse_size(s)
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or_else(|| says(format!("invalid keys zone size \"{a}\"")))?;
                if n.is_empty() {
                    return Err(invalid(a));
                }
                if s < MIN_KEYS_ZONE {
                    return Err(says(format!("zone \"{n}\" is too small")));
                }
                p.name = n.to_string();
                p.keys_size = s;
            }
            "inactive" => p.inactive = value::parse_time(v).ok_or_else(|| invalid(a))?,
            "max_size" => p.max_size = value::parse_size(v).ok_or_else(|| invalid(a))?,
            "min_free" => p.min_free = value::parse_size(v).ok_or_else(|| invalid(a))?,
            "use_temp_path" => p.use_temp_path = value::parse_flag(v).ok_or_else(|| invalid(a))?,
            // The loader, manager and purger's pacing: vestibule's loader and manager
            // run in a worker's loop in small steps (docs/cache.md).
            "loader_files" | "loader_sleep" | "loader_threshold" | "manager_files"
            | "manager_sleep" | "manager_threshold" | "purger" | "purger_files"
            | "purger_sleep" | "purger_threshold" => {}
            _ => return Err(invalid(a)),
        }
    }
    if p.name.is_empty() {
        return Err(ConfigErrorKind::MissingParameter {
            directive: d.name.clone(),
            parameter: "keys_zone",
        });
    }
    Ok(p)
}

impl CacheLayer {
    /// This level over its parent's (a list written here replaces the parent's).
    pub fn merge(&self, parent: &Arc<CacheConf>) -> Arc<CacheConf> {
        if self.is_empty() {
            return Arc::clone(parent);
        }
        let p = &**parent;
        Arc::new(CacheConf {
            zone: self.zone.clone().unwrap_or_else(|| p.zone.clone()),
            key: self.key.clone().unwrap_or_else(|| p.key.clone()),
            valid: self.valid.clone().unwrap_or_else(|| p.valid.clone()),
            methods: self.methods.clone().unwrap_or_else(|| p.methods.clone()),
            min_uses: self.min_uses.unwrap_or(p.min_uses),
            bypass: self.bypass.clone().unwrap_or_else(|| p.bypass.clone()),
            no_cache: self.no_cache.clone().unwrap_or_else(|| p.no_cache.clone()),
            use_stale: self.use_stale.unwrap_or(p.use_stale),
            background_update: self.background_update.unwrap_or(p.background_update),
            lock: self.lock.unwrap_or(p.lock),
            lock_timeout: self.lock_timeout.unwrap_or(p.lock_timeout),
            lock_age: self.lock_age.unwrap_or(p.lock_age),
            revalidate: self.revalidate.unwrap_or(p.revalidate),
            convert_head: self.convert_head.unwrap_or(p.convert_head),
            purge: self.purge.clone().unwrap_or_else(|| p.purge.clone()),
        })
    }

    fn is_empty(&self) -> bool {
        self.zone.is_none()
            && self.key.is_none()
            && self.valid.is_none()
            && self.methods.is_none()
            && self.min_uses.is_none()
            && self.bypass.is_none()
            && self.no_cache.is_none()
            && self.use_stale.is_none()
            && self.background_update.is_none()
            && self.lock.is_none()
            && self.lock_timeout.is_none()
            && self.lock_age.is_none()
            && self.revalidate.is_none()
            && self.convert_head.is_none()
            && self.purge.is_none()
    }
}

/// The default settings: no cache, nginx's key.
pub fn defaults() -> Arc<CacheConf> {
    let names = crate::config::template::Names::default();
    Arc::new(CacheConf {
        key: Template::parse(DEFAULT_KEY, &names).unwrap_or_else(|_| Template::literal("")),
        ..CacheConf::default()
    })
}

/// Every `proxy_cache` names a declared `proxy_cache_path` zone.
pub fn check_refs(cx: &mut Builder, paths: &[CachePath]) {
    let refs: Vec<(String, Span)> = std::mem::take(&mut cx.cache_refs);
    let mut told: Vec<&str> = Vec::new();
    for (name, span) in &refs {
        if paths.iter().any(|p| &p.name == name) || told.contains(&&**name) {
            continue;
        }
        told.push(name);
        cx.error(
            says(format!("\"proxy_cache\" zone \"{name}\" is unknown")),
            span,
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_time_alone_covers_200_301_302_and_any_covers_all() {
        let conf = CacheConf {
            valid: vec![
                CacheValid {
                    statuses: vec![404],
                    time: Duration::from_secs(1),
                },
                CacheValid {
                    statuses: vec![200, 301, 302],
                    time: Duration::from_secs(60),
                },
            ],
            ..CacheConf::default()
        };
        assert_eq!(conf.valid_for(200), Some(Duration::from_secs(60)));
        assert_eq!(conf.valid_for(404), Some(Duration::from_secs(1)));
        assert_eq!(conf.valid_for(500), None);
        let any = CacheConf {
            valid: vec![CacheValid {
                statuses: vec![],
                time: Duration::from_secs(5),
            }],
            ..CacheConf::default()
        };
        assert_eq!(any.valid_for(503), Some(Duration::from_secs(5)));
    }
}
