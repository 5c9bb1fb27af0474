//! `ngx_http_autoindex_module`: `autoindex`, `autoindex_format`,
//! `autoindex_exact_size`, `autoindex_localtime`. Their table, slots and merge into
//! [`crate::config::model::Autoindex`]; the listings are `static_files::autoindex`.

use super::args::{self, arg, set_once};
use super::command::{d, Arity::*, Command, HTTP_SRV_LOC};
use super::files::invalid_value;
use crate::config::model::{AutoindexFormat, LocationConf};

/// The autoindex settings written at one level.
#[derive(Debug, Default)]
pub struct AutoindexLayer {
    pub autoindex: Option<bool>,
    pub autoindex_format: Option<AutoindexFormat>,
    pub autoindex_exact_size: Option<bool>,
    pub autoindex_localtime: Option<bool>,
}

pub const COMMANDS: &[Command<AutoindexLayer>] = &[
    d("autoindex", HTTP_SRV_LOC, Exactly(1), |f, d, cx, _| {
        set_once(cx, d, &mut f.autoindex, args::flag(d))
    }),
    d(
        "autoindex_format",
        HTTP_SRV_LOC,
        Exactly(1),
        |f, d, cx, _| {
            let v = match arg(d, 0) {
                "html" => Ok(AutoindexFormat::Html),
                "xml" => Ok(AutoindexFormat::Xml),
                "json" => Ok(AutoindexFormat::Json),
                "jsonp" => Ok(AutoindexFormat::Jsonp),
                _ => Err(invalid_value(d, 0)),
            };
            set_once(cx, d, &mut f.autoindex_format, v)
        },
    ),
    d(
        "autoindex_exact_size",
        HTTP_SRV_LOC,
        Exactly(1),
        |f, d, cx, _| set_once(cx, d, &mut f.autoindex_exact_size, args::flag(d)),
    ),
    d(
        "autoindex_localtime",
        HTTP_SRV_LOC,
        Exactly(1),
        |f, d, cx, _| set_once(cx, d, &mut f.autoindex_localtime, args::flag(d)),
    ),
];

impl AutoindexLayer {
    /// Merges over the parent's settings, into `conf`.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        let p = &parent.files.autoindex;
        let a = &mut conf.files.autoindex;
        a.autoindex = self.autoindex.unwrap_or(p.autoindex);
        a.format = self.autoindex_format.unwrap_or(p.format);
        a.exact_size = self.autoindex_exact_size.unwrap_or(p.exact_size);
        a.localtime = self.autoindex_localtime.unwrap_or(p.localtime);
    }
}
