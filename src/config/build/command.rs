//! What a directive row is: nginx's `ngx_command_t`. Each module of the builder
//! (`main_ctx`, `http_core`, `static_files`, `proxy`, ...) keeps one table of
//! [`Command`]s beside its settings, merge and defaults; a row names the directive, the
//! contexts it may appear in, its argument count, whether it opens a block, and the
//! setter that parses its arguments into the module's slots. The schema check
//! ([`super::schema`]) runs over the union of every table, so a directive the check
//! accepts always has a setter.

use super::Builder;
use crate::config::tree::Directive;

/// Where a directive sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Main,
    Events,
    Http,
    Server,
    Location,
    /// Inside a server-level `if` (nginx's `NGX_HTTP_SIF_CONF`).
    ServerIf,
    /// Inside a location-level `if` (nginx's `NGX_HTTP_LIF_CONF`).
    LocationIf,
    Upstream,
    /// Inside `limit_except METHOD ... { }` (nginx's `NGX_HTTP_LMT_CONF`).
    LimitExcept,
    /// Inside `types { }`, where every line is `MIME/TYPE ext ...;`.
    Types,
}

/// How many arguments a directive takes.
#[derive(Debug, Clone, Copy)]
pub enum Arity {
    Exactly(usize),
    Between(usize, usize),
    AtLeast(usize),
}

impl Arity {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exactly(k) => n == k,
            Arity::Between(lo, hi) => (lo..=hi).contains(&n),
            Arity::AtLeast(lo) => n >= lo,
        }
    }
}

/// The shape of a directive: what the schema check needs.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub contexts: &'static [Context],
    pub arity: Arity,
    pub block: bool,
}

/// Parses a directive's arguments into the slots `S` of one level. The schema check has
/// passed: the name, context, block shape and argument count are right.
pub type Setter<S> = fn(&mut S, &Directive, &mut Builder, Context);

/// One row of a module's table.
pub struct Command<S: 'static> {
    pub spec: Spec,
    pub set: Setter<S>,
}

/// A directive without a block.
pub const fn d<S>(
    name: &'static str,
    contexts: &'static [Context],
    arity: Arity,
    set: Setter<S>,
) -> Command<S> {
    Command {
        spec: Spec {
            name,
            contexts,
            arity,
            block: false,
        },
        set,
    }
}

/// A directive that opens a block.
pub const fn b<S>(
    name: &'static str,
    contexts: &'static [Context],
    arity: Arity,
    set: Setter<S>,
) -> Command<S> {
    let mut row = d(name, contexts, arity, set);
    row.spec.block = true;
    row
}

pub const MAIN: &[Context] = &[Context::Main];
pub const EVENTS: &[Context] = &[Context::Events];
pub const HTTP: &[Context] = &[Context::Http];
pub const SRV: &[Context] = &[Context::Server];
pub const LOC: &[Context] = &[Context::Location];
pub const UPS: &[Context] = &[Context::Upstream];
pub const HTTP_SRV: &[Context] = &[Context::Http, Context::Server];
pub const SRV_LOC: &[Context] = &[Context::Server, Context::Location];
pub const HTTP_SRV_LOC: &[Context] = &[Context::Http, Context::Server, Context::Location];
/// The access directives: also inside `limit_except`.
pub const HTTP_SRV_LOC_LMT: &[Context] = &[
    Context::Http,
    Context::Server,
    Context::Location,
    Context::LimitExcept,
];
/// Also allowed inside a location-level `if`.
pub const LOC_LIF: &[Context] = &[Context::Location, Context::LocationIf];
pub const HTTP_SRV_LOC_LIF: &[Context] = &[
    Context::Http,
    Context::Server,
    Context::Location,
    Context::LocationIf,
];
/// The rewrite module's directives: server, location and both kinds of `if`.
pub const SRV_SIF_LOC_LIF: &[Context] = &[
    Context::Server,
    Context::ServerIf,
    Context::Location,
    Context::LocationIf,
];
pub const HTTP_SRV_SIF_LOC_LIF: &[Context] = &[
    Context::Http,
    Context::Server,
    Context::ServerIf,
    Context::Location,
    Context::LocationIf,
];

/// A table whatever its slots, as the schema sees it.
pub trait Table: Sync {
    /// The spec of row `i`, `None` past the end.
    fn spec(&self, i: usize) -> Option<&'static Spec>;
}

impl<S: 'static> Table for &'static [Command<S>] {
    fn spec(&self, i: usize) -> Option<&'static Spec> {
        let table: &'static [Command<S>] = self;
        table.get(i).map(|c| &c.spec)
    }
}

/// Every row of `tables`, in order.
pub fn specs(tables: &'static [&'static dyn Table]) -> impl Iterator<Item = &'static Spec> {
    tables
        .iter()
        .flat_map(|t| (0..).map_while(move |i| t.spec(i)))
}

/// Runs the setter of the row of `table` for `d` in `ctx` on `slots`. Returns false when
/// the table has no such row (the caller tries its next table).
pub fn dispatch<S>(
    table: &'static [Command<S>],
    slots: &mut S,
    d: &Directive,
    cx: &mut Builder,
    ctx: Context,
) -> bool {
    match table
        .iter()
        .find(|c| c.spec.name == d.name && c.spec.contexts.contains(&ctx))
    {
        Some(c) => {
            (c.set)(slots, d, cx, ctx);
            true
        }
        None => false,
    }
}
