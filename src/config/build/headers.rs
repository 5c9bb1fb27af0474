//! nginx's `ngx_http_headers_filter_module`: `add_header` and `expires`. Their table,
//! slots and merge.

use super::args::{self, arg, push, set_once};
use super::command::{d, Arity::*, Command, HTTP_SRV_LOC_LIF};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{Expires, ExpiresError, HeaderSetting, LocationConf};
use crate::config::template::Template;
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
        let v = expires(cx, d);
        set_once(cx, d, &mut h.expires, v);
    }),
];

impl HeadersConf {
    /// Merges over the parent's settings, into `conf`.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        conf.expires = self
            .expires
            .clone()
            .unwrap_or_else(|| parent.expires.clone());
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

fn expires(cx: &Builder, d: &Directive) -> Result<Expires, ConfigErrorKind> {
    let (modified, value) = match d.arg_strs().as_slice() {
        ["modified", v] => (true, *v),
        [v] => (false, *v),
        _ => return Err(ConfigErrorKind::InvalidArgCount(d.name.clone())),
    };
    if value.contains('$') {
        let value = Template::parse(value, &cx.names)?;
        return Ok(Expires::Variable { modified, value });
    }
    Expires::parse(modified, value).map_err(|e| match e {
        ExpiresError::Invalid => ConfigErrorKind::InvalidValue(d.name.clone()),
        e => ConfigErrorKind::DirectiveSays {
            directive: d.name.clone(),
            message: e.message(),
        },
    })
}
