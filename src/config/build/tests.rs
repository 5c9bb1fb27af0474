//! The tables and the schema agree: every row is unique where it can be found, every
//! row the schema accepts reaches a setter in every context it allows, and the tuning
//! rows vestibule ignores behave as nginx's number slots do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use super::command::{dispatch, specs, Arity, Context, Spec};
use super::layer::Layer;
use super::main_ctx::{self, EventsSlots, MainSlots};
use super::schema::{self, TABLES};
use super::upstream::{self, UpstreamSlots};
use super::{build, BuildOptions, Builder};
use crate::config::error::ConfigErrorKind;
use crate::config::parser::parse;
use crate::config::source::{Origin, Span};
use crate::config::tree::{Arg, Directive};

fn builder() -> Builder {
    Builder::new(BuildOptions::new("/prefix", false), Default::default())
}

/// The fewest arguments an arity accepts.
fn fewest(arity: Arity) -> usize {
    match arity {
        Arity::Exactly(k) | Arity::Between(k, _) | Arity::AtLeast(k) => k,
    }
}

/// A directive of the row's shape: its fewest arguments, a block when it opens one.
fn well_shaped(spec: &Spec) -> Directive {
    Directive {
        name: spec.name.to_string(),
        args: (0..fewest(spec.arity))
            .map(|_| Arg {
                value: "0".to_string(),
                quoted: false,
            })
            .collect(),
        block: spec.block.then(Vec::new),
        span: Span::new(Arc::new(Origin::File("/t.conf".into())), 1),
    }
}

/// Whether the builder of `ctx` finds a setter for `d`, as it does after the check.
fn reaches_a_setter(d: &Directive, ctx: Context) -> bool {
    let cx = &mut builder();
    match ctx {
        Context::Main => dispatch(main_ctx::COMMANDS, &mut MainSlots::default(), d, cx, ctx),
        Context::Events => dispatch(
            main_ctx::EVENTS_COMMANDS,
            &mut EventsSlots::default(),
            d,
            cx,
            ctx,
        ),
        Context::Http
        | Context::Server
        | Context::Location
        | Context::ServerIf
        | Context::LocationIf => Layer::default().apply(d, cx, ctx),
        Context::Upstream => dispatch(
            upstream::COMMANDS,
            &mut UpstreamSlots::default(),
            d,
            cx,
            ctx,
        ),
        Context::LimitExcept => dispatch(
            super::access::COMMANDS,
            &mut super::access::AccessLayer::default(),
            d,
            cx,
            ctx,
        ),
        Context::Types => false,
    }
}

#[test]
fn every_row_is_found_by_one_name_and_context() {
    let all: Vec<&Spec> = specs(TABLES).collect();
    assert!(all.len() >= 79, "rows went missing: {}", all.len());
    for (i, a) in all.iter().enumerate() {
        assert!(!a.contexts.is_empty(), "{} has no context", a.name);
        for b in &all[i + 1..] {
            if a.name == b.name {
                let shared: Vec<_> = a
                    .contexts
                    .iter()
                    .filter(|c| b.contexts.contains(c))
                    .collect();
                assert!(shared.is_empty(), "two rows for {} in {shared:?}", a.name);
            }
        }
    }
    // Within one module's table a name appears once.
    for t in TABLES {
        let rows: Vec<&Spec> = (0..).map_while(|i| t.spec(i)).collect();
        for (i, a) in rows.iter().enumerate() {
            assert!(
                rows[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice in one table",
                a.name
            );
        }
    }
}

#[test]
fn every_row_passes_the_check_and_reaches_its_setter_in_each_context() {
    for spec in specs(TABLES) {
        for &ctx in spec.contexts {
            let d = well_shaped(spec);
            assert_eq!(schema::check(&d, ctx), Ok(()), "{} in {ctx:?}", spec.name);
            assert!(
                reaches_a_setter(&d, ctx),
                "{} in {ctx:?} passes the check but no builder runs it",
                spec.name
            );
        }
    }
}

#[test]
fn no_setter_runs_a_directive_the_check_rejects_for_its_context() {
    // The dispatch of each context finds only rows allowing that context, so a row
    // never runs where nginx would say "not allowed here".
    let contexts = [
        Context::Main,
        Context::Events,
        Context::Http,
        Context::Server,
        Context::Location,
        Context::ServerIf,
        Context::LocationIf,
        Context::Upstream,
    ];
    for spec in specs(TABLES) {
        for ctx in contexts {
            let d = well_shaped(spec);
            let not_here = ConfigErrorKind::NotAllowedHere(spec.name.to_string());
            if schema::check(&d, ctx) == Err(not_here) {
                assert!(!reaches_a_setter(&d, ctx), "{} ran in {ctx:?}", spec.name);
            }
        }
    }
}

/// Builds `text`; the messages of its errors (or of its infos when it loads).
fn messages(text: &str) -> Vec<String> {
    let origin = Arc::new(Origin::File("/t.conf".into()));
    let tree = parse(text, &origin).unwrap();
    match build(&tree, &BuildOptions::new("/prefix", false)) {
        Ok(built) => built.infos.iter().map(|i| format!("info: {i}")).collect(),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn tuning_directives_load_with_an_info_line_and_nginx_s_errors() {
    let http = |body: &str| format!("http {{ {body} server {{ listen 127.0.0.1:8080; }} }}");
    #[rustfmt::skip]
    let cases: &[(&str, String, &[&str])] = &[
        ("hash sizes in http",
         http("types_hash_max_size 2048;\nserver_names_hash_bucket_size 64;"),
         &["info: \"types_hash_max_size\" has no effect in vestibule in /t.conf:1",
           "info: \"server_names_hash_bucket_size\" has no effect in vestibule in /t.conf:2"]),
        ("every level for types and proxy headers",
         "http { types_hash_bucket_size 64; server { types_hash_max_size 1024; \
          location / { proxy_headers_hash_max_size 512; proxy_headers_hash_bucket_size 64; } } }".to_string(),
         &["info: \"types_hash_bucket_size\" has no effect in vestibule in /t.conf:1",
           "info: \"types_hash_max_size\" has no effect in vestibule in /t.conf:1",
           "info: \"proxy_headers_hash_max_size\" has no effect in vestibule in /t.conf:1",
           "info: \"proxy_headers_hash_bucket_size\" has no effect in vestibule in /t.conf:1"]),
        ("zero is a number", http("variables_hash_max_size 0; variables_hash_bucket_size 9223372036854775807;"),
         &["info: \"variables_hash_max_size\" has no effect in vestibule in /t.conf:1",
           "info: \"variables_hash_bucket_size\" has no effect in vestibule in /t.conf:1"]),
        ("not a number", http("types_hash_max_size 1k;"),
         &["\"types_hash_max_size\" directive invalid number in /t.conf:1"]),
        ("negative", http("server_names_hash_max_size -1;"),
         &["\"server_names_hash_max_size\" directive invalid number in /t.conf:1"]),
        ("past a signed 64-bit number", http("types_hash_bucket_size 9223372036854775808;"),
         &["\"types_hash_bucket_size\" directive invalid number in /t.conf:1"]),
        ("no argument", http("types_hash_max_size;"),
         &["invalid number of arguments in \"types_hash_max_size\" directive in /t.conf:1"]),
        ("two arguments", http("server_names_hash_bucket_size 64 64;"),
         &["invalid number of arguments in \"server_names_hash_bucket_size\" directive in /t.conf:1"]),
        ("twice at one level", http("types_hash_max_size 1024; types_hash_max_size 2048;"),
         &["\"types_hash_max_size\" directive is duplicate in /t.conf:1"]),
        ("server names hash in a server",
         "http { server { server_names_hash_bucket_size 64; } }".to_string(),
         &["\"server_names_hash_bucket_size\" directive is not allowed here in /t.conf:1"]),
        ("in main", "types_hash_max_size 64;".to_string(),
         &["\"types_hash_max_size\" directive is not allowed here in /t.conf:1"]),
        ("with a block", http("types_hash_max_size 64 { }"),
         &["directive \"types_hash_max_size\" is not terminated by \";\" in /t.conf:1"]),
    ];
    for (name, text, want) in cases {
        assert_eq!(messages(text), *want, "{name}");
    }
}
