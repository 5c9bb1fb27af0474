//! `vestibule_metrics`: makes a location answer with the server's Prometheus metrics
//! (docs/metrics.md; the counters in src/zone/metrics/). A location-only handler,
//! written once per location, not inherited by nested ones.

use super::command::{d, Arity::*, Command, LOC};
use crate::config::error::ConfigErrorKind;
use crate::config::model::LocationConf;

/// Whether this location writes `vestibule_metrics`.
#[derive(Debug, Default)]
pub struct MetricsLayer {
    on: bool,
}

pub const COMMANDS: &[Command<MetricsLayer>] =
    &[d("vestibule_metrics", LOC, Exactly(0), |s, d, cx, _| {
        if s.on {
            cx.error(ConfigErrorKind::Duplicate(d.name.clone()), &d.span);
        }
        s.on = true;
    })];

impl MetricsLayer {
    /// A handler, as `stub_status`: the level's own, not inherited.
    pub fn merge(&self, conf: &mut LocationConf) {
        conf.vestibule_metrics = self.on;
    }
}
