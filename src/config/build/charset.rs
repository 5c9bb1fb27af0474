//! `ngx_http_charset_module`, declaration only: `charset`, `charset_types` and
//! `source_charset` (accepted when it names the charset declared: nothing to
//! recode). Their table, slots, merge, and the check that refuses a pair needing
//! recoding. `charset_map` and `override_charset` are in [`super::unimplemented`].

use std::sync::Arc;

use super::args::{arg, set_once};
use super::command::{d, Arity::*, Command, HTTP_SRV_LOC, HTTP_SRV_LOC_LIF};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::LocationConf;
use crate::config::source::Span;

/// The charset settings written at one level.
#[derive(Debug, Default)]
pub struct CharsetLayer {
    /// `charset NAME` (`None` inside for `charset off`), with where it was written.
    pub charset: Option<(Option<Arc<str>>, Span)>,
    pub source_charset: Option<(Arc<str>, Span)>,
    pub charset_types: Option<Vec<String>>,
}

pub const COMMANDS: &[Command<CharsetLayer>] = &[
    d("charset", HTTP_SRV_LOC_LIF, Exactly(1), |f, d, cx, _| {
        let v = match arg(d, 0) {
            "off" => None,
            name => Some(Arc::from(name)),
        };
        set_once(cx, d, &mut f.charset, Ok((v, d.span.clone())))
    }),
    d(
        "source_charset",
        HTTP_SRV_LOC_LIF,
        Exactly(1),
        |f, d, cx, _| {
            let v = (Arc::from(arg(d, 0)), d.span.clone());
            set_once(cx, d, &mut f.source_charset, Ok(v))
        },
    ),
    d("charset_types", HTTP_SRV_LOC, AtLeast(1), |f, d, cx, _| {
        let types = d
            .args
            .iter()
            .map(|a| a.value.to_ascii_lowercase())
            .collect();
        set_once(cx, d, &mut f.charset_types, Ok(types))
    }),
];

impl CharsetLayer {
    /// Merges over the parent's settings, into `conf`.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        let p = &parent.files;
        let f = &mut conf.files;
        f.charset = match &self.charset {
            Some((c, _)) => c.clone(),
            None => p.charset.clone(),
        };
        f.source_charset = match &self.source_charset {
            Some((c, _)) => Some(c.clone()),
            None => p.source_charset.clone(),
        };
        f.charset_types = match &self.charset_types {
            Some(t) => Arc::new(t.clone()),
            None => p.charset_types.clone(),
        };
    }

    /// After the merge: a `charset` and `source_charset` that name different
    /// charsets would need recoding, which vestibule does not do. Reported at the
    /// level that wrote either of them.
    pub fn check_recoding(&self, conf: &LocationConf, cx: &mut Builder) {
        let span = match (&self.charset, &self.source_charset) {
            (Some((_, s)), _) | (None, Some((_, s))) => s,
            (None, None) => return,
        };
        if let (Some(to), Some(from)) = (&conf.files.charset, &conf.files.source_charset) {
            if !to.eq_ignore_ascii_case(from) {
                let kind = ConfigErrorKind::CharsetRecoding {
                    from: from.to_string(),
                    to: to.to_string(),
                };
                cx.error(kind, span);
            }
        }
    }
}
