//! nginx's `ngx_http_headers_filter_module`: `add_header` and `expires`. Their table,
//! slots and merge.

use super::args::{self, arg, push, set_once};
use super::command::{d, Arity::*, Command, HTTP_SRV_LOC_LIF};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{Expires, HeaderSetting, LocationConf};
use crate::config::tree::Directive;

/// The response header settings written at one level.
#[derive(Debug, Default)]
pub struct HeadersConf {
    pub add_headers: Option<Vec<HeaderSetting>>,
    pub expires: Option<Expires>,
}

pub const COMMANDS: &[Command<HeadersConf>] = &[
    d(
        "add_header",
        HTTP_SRV_LOC_LIF,
        Between(2, 3),
        |h, d, cx, _| {
            let v = header_setting(cx, d, true);
            push(cx, d, &mut h.add_headers, v);
        },
    ),
    d("expires", HTTP_SRV_LOC_LIF, Between(1, 2), |h, d, cx, _| {
        let v = expires(d);
        set_once(cx, d, &mut h.expires, v);
    }),
];

impl HeadersConf {
    /// Merges over the parent's settings, into `conf`.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        conf.expires = self.expires.unwrap_or(parent.expires);
        conf.add_headers = args::pick_vec(&self.add_headers, &parent.add_headers);
    }
}

/// `add_header NAME VALUE [always]` and `proxy_set_header NAME VALUE`.
pub fn header_setting(
    cx: &Builder,
    d: &Directive,
    allow_always: bool,
) -> Result<HeaderSetting, ConfigErrorKind> {
    let always = match d.args.get(2) {
        None => false,
        Some(a) if allow_always && a.value == "always" => true,
        Some(a) => return Err(ConfigErrorKind::InvalidParameter(a.value.clone())),
    };
    Ok(HeaderSetting {
        name: arg(d, 0).to_string(),
        value: args::template(cx, d, 1)?,
        always,
    })
}

fn expires(d: &Directive) -> Result<Expires, ConfigErrorKind> {
    let (modified, value) = match d.arg_strs().as_slice() {
        ["modified", v] => (true, *v),
        [v] => (false, *v),
        _ => return Err(ConfigErrorKind::InvalidArgCount(d.name.clone())),
    };
    match value {
        "off" if !modified => return Ok(Expires::Off),
        "epoch" if !modified => return Ok(Expires::Epoch),
        "max" if !modified => return Ok(Expires::Max),
        _ => {}
    }
    if value.starts_with('@') {
        return Err(ConfigErrorKind::Unsupported(
            d.name.clone(),
            "\"@time\" is not implemented; use a relative time",
        ));
    }
    let (negative, t) = match value.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let secs = crate::config::value::parse_time(t)
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or_else(|| ConfigErrorKind::InvalidValue(d.name.clone()))?;
    let secs = if negative { -secs } else { secs };
    Ok(if modified {
        Expires::Modified(secs)
    } else {
        Expires::Access(secs)
    })
}
