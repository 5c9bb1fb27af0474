//! Answering from a stored entry: the entry's file opened and checked against the
//! request (its key, its `Vary` variant), then a 304 when the client's validators
//! match, a 206 for a single range, or the whole stored response, its body sent from
//! the file (sendfile where the transport allows).

use std::fs::File;
use std::time::{Duration, UNIX_EPOCH};

use super::entry::Meta;
use super::index::Key;
use super::{policy, variant, Cache};
use crate::config::model::{IfModifiedSince, LocationConf};
use crate::exchange::response::{BodyLength, ResponseHead};
use crate::exchange::{Downstream, Exchange, Outcome};
use crate::http1::{Header, Method};
use crate::static_files::range::{self, RangeOutcome};

/// A stored entry opened for this request.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub meta: Meta,
}

/// Opens the file of `key` and checks it is this key's (and this request's variant):
/// `None` when it is not there, not a cache file, or another variant.
pub fn open(cache: &Cache, key: &Key, key_text: &str, x: &Exchange) -> Option<Opened> {
    let file = File::open(cache.file_of(key)).ok()?;
    let meta = Meta::read(&file).ok()??;
    if meta.key != key_text {
        return None;
    }
    if !meta.vary.is_empty() && variant(&meta.vary, &x.head.headers) != meta.variant {
        return None;
    }
    Some(Opened { file, meta })
}

/// Whether the client's validators match the stored response (nginx's not-modified
/// filter runs on cached responses too).
fn not_modified(x: &Exchange, conf: &LocationConf, meta: &Meta) -> bool {
    if meta.status != 200 {
        return false;
    }
    let header = |name: &str| {
        x.head
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| &*h.value)
    };
    if let Some(inm) = header("if-none-match") {
        if meta.etag.is_empty() {
            return false;
        }
        let tag = meta.etag.trim_start_matches("W/");
        return inm.split(|&b| b == b',').any(|t| {
            let t = t.trim_ascii();
            t == b"*" || t.strip_prefix(b"W/").unwrap_or(t) == tag.as_bytes()
        });
    }
    let Some(ims) = header("if-modified-since") else {
        return false;
    };
    if meta.last_modified == 0 {
        return false;
    }
    let Some(t) = crate::http1::date::parse_http_date(ims).map(policy::unix) else {
        return false;
    };
    match conf.files.if_modified_since {
        IfModifiedSince::Off => false,
        IfModifiedSince::Exact => t == meta.last_modified,
        IfModifiedSince::Before => meta.last_modified <= t,
    }
}

/// Answers from a stored entry.
pub async fn serve<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    opened: Opened,
) -> Outcome {
    let Opened { file, meta } = opened;
    if not_modified(x, conf, &meta) {
        d.send_head(
            x,
            conf,
            ResponseHead::new(304, meta.headers, BodyLength::None),
        );
        return finished(d.finish().await);
    }
    let (status, mut headers, mut from, mut len) = (meta.status, meta.headers, 0, meta.body_len);
    match one_range(x, conf, &meta.etag, meta.last_modified, meta.status, len) {
        RangeOutcome::Satisfiable(r) if r.len() == 1 => {
            headers.push(Header::new(
                "Content-Range",
                range::content_range(r[0], len),
            ));
            (from, len) = (r[0].start, r[0].len());
            d.send_head(
                x,
                conf,
                ResponseHead::new(206, headers, BodyLength::Known(len)),
            );
        }
        RangeOutcome::Unsatisfiable => {
            let unsatisfied = vec![Header::new("Content-Range", range::unsatisfied_range(len))];
            d.send_head(
                x,
                conf,
                ResponseHead::new(416, unsatisfied, BodyLength::None),
            );
            return finished(d.finish().await);
        }
        _ => d.send_head(
            x,
            conf,
            ResponseHead::new(status, headers, BodyLength::Known(len)),
        ),
    }
    if x.head.method == Method::Head || len == 0 {
        return finished(d.finish().await);
    }
    if !d
        .send_file(&file, meta.body_offset + from, len, conf.sendfile)
        .await
    {
        return Outcome::Close;
    }
    finished(d.finish().await)
}

/// A single `Range` of a stored 200 (nginx's range filter runs on cached responses;
/// more than one range is answered whole here).
fn one_range(
    x: &Exchange,
    conf: &LocationConf,
    etag: &str,
    last_modified: u64,
    status: u16,
    len: u64,
) -> RangeOutcome {
    let get = |name: &str| {
        x.head
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| &*h.value)
    };
    if status != 200 || x.head.method != Method::Get || conf.files.max_ranges == Some(0) {
        return RangeOutcome::Full;
    }
    let mtime = (last_modified != 0).then(|| UNIX_EPOCH + Duration::from_secs(last_modified));
    range::evaluate(get("range"), get("if-range"), etag, mtime, len, 1)
}

pub fn finished(ok: bool) -> Outcome {
    if ok {
        Outcome::Done
    } else {
        Outcome::Close
    }
}
