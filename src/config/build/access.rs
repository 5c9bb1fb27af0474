//! The access phase's directives: nginx's `ngx_http_access_module` (`allow`, `deny`),
//! `ngx_http_auth_basic_module` (`auth_basic`, `auth_basic_user_file`), and the two
//! the core module keeps for them (`satisfy`, `limit_except`). Their table, slots
//! and merge; [`AccessConf`] is what a request sees after the merge.

use std::path::Path;
use std::sync::Arc;

use super::args::{self, arg, set_once};
use super::command::{b, d, Arity::*, Command, Context, HTTP_SRV_LOC, HTTP_SRV_LOC_LMT, LOC};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{
    AccessConf, AccessRule, AccessWho, Cidr, LimitExcept, Satisfy, UserFile,
};
use crate::config::template::Template;
use crate::config::tree::Directive;
use crate::http1::Method;

/// The access settings written at one level (or inside one `limit_except`).
#[derive(Debug, Default)]
pub struct AccessLayer {
    pub rules: Option<Vec<AccessRule>>,
    pub satisfy: Option<Satisfy>,
    pub auth_basic: Option<Option<Template>>,
    pub auth_basic_user_file: Option<UserFile>,
    pub limit_except: Option<(Vec<Method>, Box<AccessLayer>)>,
}

pub const COMMANDS: &[Command<AccessLayer>] = &[
    d("allow", HTTP_SRV_LOC_LMT, Exactly(1), |a, d, cx, _| {
        rule(a, d, cx, false)
    }),
    d("deny", HTTP_SRV_LOC_LMT, Exactly(1), |a, d, cx, _| {
        rule(a, d, cx, true)
    }),
    d("satisfy", HTTP_SRV_LOC, Exactly(1), |a, d, cx, _| {
        let v = match arg(d, 0) {
            "all" => Ok(Satisfy::All),
            "any" => Ok(Satisfy::Any),
            other => Err(ConfigErrorKind::InvalidBitmaskValue(other.to_string())),
        };
        set_once(cx, d, &mut a.satisfy, v)
    }),
    d("auth_basic", HTTP_SRV_LOC_LMT, Exactly(1), |a, d, cx, _| {
        let v = match arg(d, 0) {
            "off" => Ok(None),
            _ => args::template(cx, d, 0).map(Some),
        };
        set_once(cx, d, &mut a.auth_basic, v)
    }),
    d(
        "auth_basic_user_file",
        HTTP_SRV_LOC_LMT,
        Exactly(1),
        |a, d, cx, _| {
            // A relative path is taken from the configuration's directory, as nginx's.
            let conf_dir: Arc<Path> = Arc::from(cx.options.conf_dir.as_path());
            let v = args::template(cx, d, 0).map(|t| UserFile {
                path: match t.as_static() {
                    Some(p) => Template::literal(&cx.conf_path(p).to_string_lossy()),
                    None => t,
                },
                conf_dir,
            });
            set_once(cx, d, &mut a.auth_basic_user_file, v)
        },
    ),
    b("limit_except", LOC, AtLeast(1), limit_except),
];

/// `allow VALUE` / `deny VALUE`: an address, a network, `all` or `unix:`.
fn rule(a: &mut AccessLayer, d: &Directive, cx: &mut Builder, deny: bool) {
    let value = arg(d, 0);
    let who = match value {
        "all" => AccessWho::All,
        "unix:" => AccessWho::Unix,
        _ => match Cidr::parse(value) {
            Ok((cidr, low_bits)) => {
                if low_bits {
                    cx.warn(
                        format!("low address bits of {value} are meaningless"),
                        &d.span,
                    );
                }
                AccessWho::Network(cidr)
            }
            Err(_) => {
                cx.error(
                    ConfigErrorKind::InvalidParameter(value.to_string()),
                    &d.span,
                );
                return;
            }
        },
    };
    a.rules
        .get_or_insert_with(Vec::new)
        .push(AccessRule { deny, who });
}

/// The methods `limit_except` accepts (nginx 1.22's list, any case).
const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "MKCOL",
    "COPY",
    "MOVE",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "LOCK",
    "UNLOCK",
    "PATCH",
];

const LMT_ONLY: &str = "inside limit_except; only allow, deny, auth_basic and auth_basic_user_file are: put the handler in the location";

/// `limit_except METHOD ... { ... }`: the methods, then the block's directives in
/// the `limit_except` context.
fn limit_except(a: &mut AccessLayer, d: &Directive, cx: &mut Builder, _: Context) {
    if a.limit_except.is_some() {
        cx.error(ConfigErrorKind::Duplicate(d.name.clone()), &d.span);
        return;
    }
    let mut methods = Vec::new();
    for i in 0..d.args.len() {
        let value = arg(d, i);
        let upper = value.to_ascii_uppercase();
        if !METHODS.contains(&upper.as_str()) {
            cx.error(ConfigErrorKind::InvalidMethod(value.to_string()), &d.span);
            return;
        }
        let method = Method::from_token(&upper);
        if method == Method::Get {
            methods.push(Method::Head);
        }
        methods.push(method);
    }
    let mut inner = AccessLayer::default();
    for directive in d.block.as_deref().unwrap_or(&[]) {
        // nginx also takes these two inside limit_except; vestibule says it does not.
        if matches!(directive.name.as_str(), "proxy_pass" | "access_log") {
            cx.error(
                ConfigErrorKind::Unsupported(directive.name.clone(), LMT_ONLY),
                &directive.span,
            );
            continue;
        }
        if cx.check(directive, Context::LimitExcept) {
            super::command::dispatch(COMMANDS, &mut inner, directive, cx, Context::LimitExcept);
        }
    }
    a.limit_except = Some((methods, Box::new(inner)));
}

impl AccessLayer {
    /// Merges this level over its parent's resolved settings. A `limit_except`
    /// block's settings are merged over this level's; it is never inherited.
    pub fn merge(&self, parent: &AccessConf) -> AccessConf {
        let mut conf = AccessConf {
            rules: match &self.rules {
                Some(own) => Arc::new(own.clone()),
                None => Arc::clone(&parent.rules),
            },
            satisfy: self.satisfy.unwrap_or(parent.satisfy),
            auth_basic: match &self.auth_basic {
                Some(own) => own.clone(),
                None => parent.auth_basic.clone(),
            },
            auth_basic_user_file: self
                .auth_basic_user_file
                .clone()
                .or_else(|| parent.auth_basic_user_file.clone()),
            // nginx does not merge it: a nested location (or an `if`) without its
            // own serves every method with its own settings.
            limit_except: None,
        };
        if let Some((methods, inner)) = &self.limit_except {
            let access = inner.merge(&conf);
            conf.limit_except = Some(Arc::new(LimitExcept {
                methods: methods.clone(),
                access,
            }));
        }
        conf
    }
}
