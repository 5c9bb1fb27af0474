//! nginx's `ngx_http_stub_status_module`: `stub_status` makes a location answer with
//! the connection and request counters every worker shares (src/zone/status.rs).
//! Its table, slot and merge.

use super::command::{d, Arity::*, Command, SRV_LOC};
use crate::config::error::ConfigErrorKind;
use crate::config::model::LocationConf;

/// Whether this level writes `stub_status`.
#[derive(Debug, Default)]
pub struct StatusLayer {
    on: bool,
}

pub const COMMANDS: &[Command<StatusLayer>] = &[d(
    "stub_status",
    SRV_LOC,
    Between(0, 1),
    |s, d, cx, _| match d.args.first().map(|a| a.value.as_str()) {
        // `stub_status on;` is the form nginx had before 1.7.5, still accepted.
        None | Some("on") => s.on = true,
        Some(other) => cx.error(
            ConfigErrorKind::InvalidParameter(other.to_string()),
            &d.span,
        ),
    },
)];

impl StatusLayer {
    /// A handler, as nginx's: the level's own, not inherited by nested locations.
    pub fn merge(&self, conf: &mut LocationConf) {
        conf.stub_status = self.on;
    }
}
