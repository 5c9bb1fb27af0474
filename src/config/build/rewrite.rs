//! nginx's `ngx_http_rewrite_module`, as far as vestibule implements it: `return`.
//! Its table, slot and merge.

use super::args::{self, arg};
use super::command::{d, Arity::*, Command, SRV_LOC};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{LocationConf, Return};
use crate::config::tree::Directive;

/// The rewrite settings written at one level.
#[derive(Debug, Default)]
pub struct RewriteConf {
    pub return_: Option<Return>,
}

pub const COMMANDS: &[Command<RewriteConf>] =
    &[d("return", SRV_LOC, Between(1, 2), |r, d, cx, _| {
        // nginx runs the first `return`; later ones are unreachable.
        let v = return_(cx, d);
        match v {
            Ok(ret) if r.return_.is_none() => r.return_ = Some(ret),
            Ok(_) => {}
            Err(k) => cx.error(k, &d.span),
        }
    })];

impl RewriteConf {
    /// `return` is not inherited: a level has its own or none.
    pub fn merge(&self, _parent: &LocationConf, conf: &mut LocationConf) {
        conf.return_ = self.return_.clone();
    }
}

/// `return code [text]`, `return code URL`, `return URL`.
pub fn return_(cx: &Builder, d: &Directive) -> Result<Return, ConfigErrorKind> {
    let first = arg(d, 0);
    let Ok(code) = first.parse::<u16>() else {
        if d.args.len() == 1
            && (first.starts_with("http://")
                || first.starts_with("https://")
                || first.starts_with("$scheme"))
        {
            return Ok(Return {
                code: 302,
                text: Some(args::template(cx, d, 0)?),
            });
        }
        return Err(ConfigErrorKind::InvalidReturnCode(first.to_string()));
    };
    if code > 999 || (d.args.len() == 2 && code == 444) {
        return Err(ConfigErrorKind::InvalidReturnCode(first.to_string()));
    }
    let text = match d.args.get(1) {
        Some(_) => Some(args::template(cx, d, 1)?),
        None => None,
    };
    Ok(Return { code, text })
}
