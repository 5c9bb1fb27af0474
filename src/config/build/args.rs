//! Argument parsing with nginx's error for each kind of slot: a bad size or time is
//! `"x" directive invalid value`, a bad number `"x" directive invalid number`, a bad
//! flag `invalid value "y" in "x" directive, it must be "on" or "off"`.

use std::path::PathBuf;
use std::time::Duration;

use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::template::Template;
use crate::config::tree::Directive;
use crate::config::value;

/// The argument at `i` (the schema has already checked the count).
pub fn arg(d: &Directive, i: usize) -> &str {
    d.args.get(i).map(|a| a.value.as_str()).unwrap_or("")
}

pub fn size(d: &Directive, i: usize) -> Result<u64, ConfigErrorKind> {
    value::parse_size(arg(d, i)).ok_or_else(|| ConfigErrorKind::InvalidValue(d.name.clone()))
}

pub fn time(d: &Directive, i: usize) -> Result<Duration, ConfigErrorKind> {
    value::parse_time(arg(d, i)).ok_or_else(|| ConfigErrorKind::InvalidValue(d.name.clone()))
}

pub fn number(d: &Directive, i: usize) -> Result<u32, ConfigErrorKind> {
    value::parse_number(arg(d, i))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ConfigErrorKind::InvalidNumber(d.name.clone()))
}

pub fn flag(d: &Directive) -> Result<bool, ConfigErrorKind> {
    value::parse_flag(arg(d, 0)).ok_or_else(|| ConfigErrorKind::InvalidFlag {
        directive: d.name.clone(),
        value: arg(d, 0).to_string(),
    })
}

pub fn template(cx: &Builder, d: &Directive, i: usize) -> Result<Template, ConfigErrorKind> {
    Template::parse(arg(d, i), &cx.names)
}

pub fn path(cx: &Builder, d: &Directive, i: usize) -> PathBuf {
    cx.full_path(arg(d, i))
}

/// Stores `value` in a single-valued slot, reporting `"x" directive is duplicate` when
/// the slot was already set at this level.
pub fn set_once<T>(
    cx: &mut Builder,
    d: &Directive,
    slot: &mut Option<T>,
    value: Result<T, ConfigErrorKind>,
) {
    if slot.is_some() {
        cx.error(ConfigErrorKind::Duplicate(d.name.clone()), &d.span);
        return;
    }
    match value {
        Ok(v) => *slot = Some(v),
        Err(kind) => cx.error(kind, &d.span),
    }
}

/// Appends to a multi-valued slot (`add_header`, `error_page`, ...).
pub fn push<T>(
    cx: &mut Builder,
    d: &Directive,
    slot: &mut Option<Vec<T>>,
    value: Result<T, ConfigErrorKind>,
) {
    match value {
        Ok(v) => slot.get_or_insert_with(Vec::new).push(v),
        Err(kind) => cx.error(kind, &d.span),
    }
}

/// nginx's rule for array settings: a level that writes any entry replaces the whole
/// inherited list.
pub fn pick_vec<T: Clone>(own: &Option<Vec<T>>, inherited: &[T]) -> Vec<T> {
    own.clone().unwrap_or_else(|| inherited.to_vec())
}

/// `proxy_buffers 8 4k` / `large_client_header_buffers 4 8k`.
pub fn buffers(d: &Directive) -> Result<(u32, u64), ConfigErrorKind> {
    let n = number(d, 0).map_err(|_| ConfigErrorKind::InvalidValue(d.name.clone()))?;
    let size = size(d, 1)?;
    if n == 0 || size == 0 {
        return Err(ConfigErrorKind::InvalidValue(d.name.clone()));
    }
    Ok((n, size))
}

/// `client_body_temp_path PATH [LEVEL...]`: levels are not implemented.
pub fn temp_path(cx: &Builder, d: &Directive) -> Result<PathBuf, ConfigErrorKind> {
    if d.args.len() > 1 {
        return Err(ConfigErrorKind::Unsupported(
            d.name.clone(),
            "subdirectory levels are not implemented; give only the path",
        ));
    }
    Ok(path(cx, d, 0))
}

/// The tuning directives of one level that vestibule accepts and ignores (hash table
/// sizes, event-loop and memory-pool tuning, ...). Each is checked as nginx checks it
/// (once per level, a value of its kind), then listed by `-t` at info level.
#[derive(Debug, Default)]
pub struct NoEffect(Vec<String>);

/// What a no-effect directive's arguments must be, as nginx's slot setter for it checks.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `ngx_conf_set_num_slot`: digits only, up to the largest signed 64-bit value.
    Number,
    /// `ngx_conf_set_flag_slot`: `on` or `off`.
    Flag,
    /// `ngx_conf_set_msec_slot` / `ngx_conf_set_sec_slot`.
    Time,
    /// `ngx_conf_set_size_slot`.
    Size,
    /// `ngx_conf_set_enum_slot` (or a bitmask slot, every argument one of these).
    OneOf(&'static [&'static str]),
    /// Free text (MIME types, regexes): only the count is checked.
    Any,
}

impl Kind {
    fn check(self, d: &Directive) -> Result<(), ConfigErrorKind> {
        match self {
            Kind::Number => value::parse_number(arg(d, 0))
                .filter(|n| i64::try_from(*n).is_ok())
                .map(drop)
                .ok_or_else(|| ConfigErrorKind::InvalidNumber(d.name.clone())),
            Kind::Flag => flag(d).map(drop),
            Kind::Time => time(d, 0).map(drop),
            Kind::Size => size(d, 0).map(drop),
            Kind::Any => Ok(()),
            Kind::OneOf(values) => {
                match d.args.iter().find(|a| !values.contains(&a.value.as_str())) {
                    None => Ok(()),
                    Some(a) => Err(ConfigErrorKind::InvalidValueIn {
                        directive: d.name.clone(),
                        value: a.value.clone(),
                    }),
                }
            }
        }
    }
}

impl NoEffect {
    /// A hash-table size: a number.
    pub fn set(&mut self, cx: &mut Builder, d: &Directive) {
        self.set_kind(cx, d, Kind::Number, None);
    }

    /// Checks `d` as `kind`, once per level, and lists it at info level with `reason`
    /// (why it means nothing to vestibule) when there is one worth saying.
    pub fn set_kind(&mut self, cx: &mut Builder, d: &Directive, kind: Kind, reason: Option<&str>) {
        if self.0.contains(&d.name) {
            cx.error(ConfigErrorKind::Duplicate(d.name.clone()), &d.span);
            return;
        }
        if let Err(e) = kind.check(d) {
            cx.error(e, &d.span);
            return;
        }
        self.0.push(d.name.clone());
        let message = match reason {
            Some(r) => format!("\"{}\" has no effect in vestibule ({r})", d.name),
            None => format!("\"{}\" has no effect in vestibule", d.name),
        };
        cx.info(message, &d.span);
    }
}
