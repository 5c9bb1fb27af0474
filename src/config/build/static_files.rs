//! What a location serves from disk: `root` and `alias` and `try_files` (from nginx's
//! core module) and `index` (`ngx_http_index_module`). Their table, slots and merge.

use super::args::{self, arg, push, set_once};
use super::command::{d, Arity::*, Command, Context, HTTP_SRV_LOC, HTTP_SRV_LOC_LIF, LOC, SRV_LOC};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{DocRoot, LocationConf, TryFiles, TryFilesFallback};
use crate::config::template::Template;
use crate::config::tree::Directive;

/// The static-file settings written at one level.
#[derive(Debug, Default)]
pub struct StaticConf {
    /// The root or alias, and which of the two directives set it.
    pub root: Option<(DocRoot, &'static str)>,
    pub index: Option<Vec<Template>>,
    pub try_files: Option<TryFiles>,
}

pub const COMMANDS: &[Command<StaticConf>] = &[
    d("root", HTTP_SRV_LOC_LIF, Exactly(1), set_root),
    d("alias", LOC, Exactly(1), set_root),
    d("index", HTTP_SRV_LOC, AtLeast(1), |s, d, cx, _| {
        for i in 0..d.args.len() {
            let t = args::template(cx, d, i);
            push(cx, d, &mut s.index, t);
        }
    }),
    d("try_files", SRV_LOC, AtLeast(2), |s, d, cx, _| {
        let v = try_files(cx, d);
        set_once(cx, d, &mut s.try_files, v);
    }),
];

impl StaticConf {
    /// Merges over the parent's settings, into `conf`. `try_files` is not inherited.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        conf.root = self
            .root
            .as_ref()
            .map_or_else(|| parent.root.clone(), |(r, _)| r.clone());
        conf.index = args::pick_vec(&self.index, &parent.index);
        conf.try_files = self.try_files.clone();
    }
}

fn set_root(s: &mut StaticConf, d: &Directive, cx: &mut Builder, _: Context) {
    let name: &'static str = if d.name == "alias" { "alias" } else { "root" };
    if let Some((_, earlier)) = &s.root {
        let kind = if *earlier == name {
            ConfigErrorKind::Duplicate(d.name.clone())
        } else {
            ConfigErrorKind::DuplicateWith {
                directive: d.name.clone(),
                earlier: earlier.to_string(),
            }
        };
        cx.error(kind, &d.span);
        return;
    }
    let raw = arg(d, 0);
    // A relative root is relative to the prefix; a template starting with a
    // variable is left as written.
    let text = if raw.starts_with('/') || raw.starts_with('$') {
        raw.to_string()
    } else {
        cx.full_path(raw).to_string_lossy().into_owned()
    };
    match Template::parse(&text, &cx.names) {
        Ok(t) => {
            let root = if name == "alias" {
                DocRoot::Alias(t)
            } else {
                DocRoot::Root(t)
            };
            s.root = Some((root, name));
        }
        Err(k) => cx.error(k, &d.span),
    }
}

fn try_files(cx: &Builder, d: &Directive) -> Result<TryFiles, ConfigErrorKind> {
    let n = d.args.len();
    let mut files = Vec::with_capacity(n.saturating_sub(1));
    for i in 0..n.saturating_sub(1) {
        files.push(args::template(cx, d, i)?);
    }
    let last = arg(d, n.saturating_sub(1));
    let fallback = if let Some(code) = last.strip_prefix('=') {
        match code.parse::<u16>() {
            Ok(c) if (100..=999).contains(&c) => TryFilesFallback::Code(c),
            _ => return Err(ConfigErrorKind::InvalidReturnCode(last.to_string())),
        }
    } else if last.starts_with('@') {
        TryFilesFallback::Named(last.to_string())
    } else {
        TryFilesFallback::Uri(args::template(cx, d, n.saturating_sub(1))?)
    };
    Ok(TryFiles { files, fallback })
}
