//! Table tests for routing: one named row per nginx rule, each built from real
//! configuration text through the parser and builder.

#![allow(clippy::unwrap_used, clippy::panic)]

mod locations;
mod servers;

use std::path::PathBuf;
use std::sync::Arc;

use super::{LocationOutcome, Router, ServerId};
use crate::config::build::{build, BuildOptions};
use crate::config::model::HttpConfig;
use crate::config::parser::parse;
use crate::config::source::Origin;

/// Parses and builds `text` as a main configuration file.
pub(super) fn http_config(text: &str) -> HttpConfig {
    let origin = Arc::new(Origin::File(PathBuf::from("/test/vestibule.conf")));
    let directives = parse(text, &origin).unwrap_or_else(|e| panic!("{e}"));
    let options = BuildOptions::new(PathBuf::from("/prefix"), false);
    let built = build(&directives, &options).unwrap_or_else(|e| panic!("{e}"));
    built.config.http.unwrap()
}

pub(super) fn routed(text: &str) -> (HttpConfig, Router) {
    let http = http_config(text);
    let router = Router::compile(&http);
    (http, router)
}

/// The outcome as text, for table rows: `"loc <describe>"`, `"redirect <describe>"`,
/// `"server"`.
pub(super) fn describe(outcome: &LocationOutcome<'_>) -> String {
    match outcome {
        LocationOutcome::Location { location, .. } => {
            format!("loc {}", location.matcher.describe())
        }
        LocationOutcome::Redirect(location) => {
            format!("redirect {}", location.matcher.describe())
        }
        LocationOutcome::Server => "server".to_string(),
    }
}

pub(super) const FIRST: ServerId = ServerId(0);

/// The worker keeps `Arc<(Config, Router)>` in an `ArcSwap` shared with its control
/// thread.
#[test]
fn router_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Router>();
    send_sync::<(crate::config::Config, Router)>();
}
