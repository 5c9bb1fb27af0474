//! The schema: the union of every module's table ([`TABLES`]). [`check`] turns a
//! directive that breaks its row into nginx's error, in nginx's order (unknown — or known to nginx and not implemented, with what to do
//! instead ([`unimplemented`]) → not
//! allowed here → block/terminator → argument count). Adding a directive means adding a
//! row to its module's table; nothing here changes.

use super::command::{specs, Context, Spec, Table};
use super::{
    access, autoindex, cache, charset, compress, files, headers, health, http2, http_core, layer,
    limits, log, main_ctx, map, metrics, proxy, proxy_shaping, proxy_ssl, realip, rewrite, ssl,
    static_files, stub_status, unimplemented, upstream,
};
use crate::config::error::ConfigErrorKind;
use crate::config::tree::Directive;

/// Every table, one per module (the upstream module has two: the `upstream` block in
/// http and the directives inside it). Anything in none of them is `unknown directive`.
pub static TABLES: &[&dyn Table] = &[
    &main_ctx::COMMANDS,
    &main_ctx::EVENTS_COMMANDS,
    &layer::COMMANDS,
    &http_core::COMMANDS,
    &static_files::COMMANDS,
    &log::COMMANDS,
    &headers::COMMANDS,
    &compress::COMMANDS,
    &limits::COMMANDS,
    &files::COMMANDS,
    &autoindex::COMMANDS,
    &charset::COMMANDS,
    &rewrite::COMMANDS,
    &map::COMMANDS,
    &proxy::COMMANDS,
    &proxy_shaping::COMMANDS,
    &proxy_ssl::COMMANDS,
    &cache::COMMANDS,
    &stub_status::COMMANDS,
    &health::COMMANDS,
    &health::HTTP_COMMANDS,
    &http2::COMMANDS,
    &metrics::COMMANDS,
    &realip::COMMANDS,
    &access::COMMANDS,
    &ssl::COMMANDS,
    &upstream::HTTP_COMMANDS,
    &upstream::COMMANDS,
];

/// The spec for `name` in `ctx`. A few names have one row per context (`server` is a
/// block in http and a plain directive in upstream); when none fits the context, the
/// first row is returned so the caller reports "not allowed here".
fn find(name: &str, ctx: Context) -> Option<&'static Spec> {
    let mut first = None;
    for spec in specs(TABLES).filter(|s| s.name == name) {
        if spec.contexts.contains(&ctx) {
            return Some(spec);
        }
        first.get_or_insert(spec);
    }
    first
}

/// Whether any module's table has a directive of this name (in any context).
pub fn knows(name: &str) -> bool {
    specs(TABLES).any(|s| s.name == name)
}

/// Checks a directive's name, context, block shape and argument count.
pub fn check(directive: &Directive, ctx: Context) -> Result<(), ConfigErrorKind> {
    let name = directive.name.as_str();
    if ctx == Context::Types {
        // `types { text/html html; }`: any name, at least one extension, no block.
        if directive.block.is_some() {
            return Err(ConfigErrorKind::NotTerminated(name.to_string()));
        }
        if directive.args.is_empty() {
            return Err(ConfigErrorKind::InvalidArgCount(name.to_string()));
        }
        return Ok(());
    }
    let spec = find(name, ctx).ok_or_else(|| match unimplemented::advice(name) {
        Some(advice) => ConfigErrorKind::NotImplemented(name.to_string(), advice),
        None => ConfigErrorKind::UnknownDirective(name.to_string()),
    })?;
    if !spec.contexts.contains(&ctx) {
        return Err(ConfigErrorKind::NotAllowedHere(name.to_string()));
    }
    match (spec.block, directive.block.is_some()) {
        (true, false) => return Err(ConfigErrorKind::NoOpeningBrace(name.to_string())),
        (false, true) => return Err(ConfigErrorKind::NotTerminated(name.to_string())),
        _ => {}
    }
    if !spec.arity.accepts(directive.args.len()) {
        return Err(ConfigErrorKind::InvalidArgCount(name.to_string()));
    }
    Ok(())
}
