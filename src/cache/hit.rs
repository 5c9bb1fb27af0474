//! Answering from a stored entry: the entry's file opened and checked against the
//! request (its key, its `Vary` variant), then a 304 when the client's validators
//! match (412 when its `If-Match` or `If-Unmodified-Since` fails), a 206 for a range
//! when the upstream offered ranges (`multipart/byteranges` for several, as nginx's range
//! filter makes them of a cached file), or the whole stored response, its body sent
//! from the file (sendfile where the transport allows).

use std::fs::File;
use std::time::{Duration, UNIX_EPOCH};

use super::entry::Meta;
use super::index::Key;
use super::{variant, Cache};
use crate::compress::policy;
use crate::config::model::LocationConf;
use crate::exchange::response::{BodyLength, ResponseHead};
use crate::exchange::{answer, Downstream, Exchange, Outcome};
use crate::http1::{headers, Header, Method};
use crate::static_files::conditional::{self, Precondition};
use crate::static_files::range::{self, Multipart, RangeOutcome};
use crate::static_files::send;

/// A stored entry opened for this request.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub meta: Meta,
}

/// What is stored under a key for this request.
#[derive(Debug)]
pub enum Opening {
    /// The entry, of this key and this request's variant.
    Opened(Opened),
    /// A response of this key with `Vary` (these names), of another variant; its
    /// generation began at `stored` (Unix milliseconds).
    OtherVariant { vary: String, stored: u64 },
    /// Nothing usable: no file, not a cache file, or another key's.
    Absent,
}

/// Opens the file of `key` and checks it is this key's and this request's variant.
pub fn open(cache: &Cache, key: &Key, key_text: &str, x: &Exchange) -> Opening {
    let Ok(file) = File::open(cache.file_of(key)) else {
        return Opening::Absent;
    };
    let meta = match Meta::read(&file) {
        Ok(Some(meta)) if meta.key == key_text => meta,
        _ => return Opening::Absent,
    };
    if !meta.vary.is_empty() && variant(&meta.vary, &x.head.headers) != meta.variant {
        return Opening::OtherVariant {
            vary: meta.vary,
            stored: meta.stored,
        };
    }
    Opening::Opened(Opened { file, meta })
}

/// A response as the cache answers from it: stored, or being stored.
#[derive(Debug, Clone, Copy)]
pub struct Representation<'a> {
    pub status: u16,
    pub headers: &'a [Header],
    pub etag: &'a str,
    /// Seconds since the epoch; 0: no `Last-Modified`.
    pub last_modified: u64,
    pub len: u64,
}

/// The client's preconditions against a stored (or about to be stored) 200: nginx's
/// not-modified filter runs on cacheable responses. Without a `Last-Modified` the
/// date fields are not looked at (nginx's `last_modified_time == -1`).
pub fn precondition(x: &Exchange, conf: &LocationConf, r: &Representation<'_>) -> Precondition {
    if r.status != 200 {
        return Precondition::Proceed;
    }
    let get_or_head = matches!(x.head.method, Method::Get | Method::Head);
    let mtime = UNIX_EPOCH + Duration::from_secs(r.last_modified);
    let mode = conf.files.if_modified_since;
    let date_field = |h: &Header| {
        h.name.eq_ignore_ascii_case("if-modified-since")
            || h.name.eq_ignore_ascii_case("if-unmodified-since")
    };
    if r.last_modified != 0 || !x.head.headers.iter().any(date_field) {
        return conditional::evaluate(get_or_head, &x.head.headers, r.etag, mtime, mode);
    }
    // Rare (a date asked about, none to compare): a copy without the date fields.
    let undated: Vec<Header> = x
        .head
        .headers
        .iter()
        .filter(|h| !date_field(h))
        .cloned()
        .collect();
    conditional::evaluate(get_or_head, &undated, r.etag, mtime, mode)
}

/// The head of a 304 from a stored head: as nginx's, without the body's fields.
pub fn not_modified_head(mut headers: Vec<Header>) -> Vec<Header> {
    headers.retain(|h| {
        !h.name.eq_ignore_ascii_case("content-type")
            && !h.name.eq_ignore_ascii_case("accept-ranges")
    });
    headers
}

/// The `Range` of a stored 200, at most `max_ranges` (1 when `single`, as nginx
/// allows on a response it is storing). nginx's range filter runs on a cached
/// response only when the upstream offered ranges (`Accept-Ranges`); otherwise the
/// whole response is the answer.
pub fn ranges(
    x: &Exchange,
    conf: &LocationConf,
    r: &Representation<'_>,
    single: bool,
) -> RangeOutcome {
    // Most requests ask for no range: one look, nothing else worked out.
    let Some(asked) = headers::get(&x.head.headers, "range") else {
        return RangeOutcome::Full;
    };
    let offered = r.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("accept-ranges") && !h.value.eq_ignore_ascii_case(b"none")
    });
    if !offered
        || r.status != 200
        || x.head.method != Method::Get
        || conf.files.max_ranges == Some(0)
        || compressed_on_the_fly(x, conf, r)
    {
        return RangeOutcome::Full;
    }
    let max_ranges = match (single, conf.files.max_ranges) {
        (true, _) => 1,
        (false, None) => range::MAX_RANGES,
        (false, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let mtime = (r.last_modified != 0).then(|| UNIX_EPOCH + Duration::from_secs(r.last_modified));
    range::evaluate(
        Some(asked),
        headers::get(&x.head.headers, "if-range"),
        r.etag,
        mtime,
        r.len,
        max_ranges,
    )
}

/// Whether the compression filter will compress this 200: then, as in nginx (whose
/// gzip filter runs before its range filter), `Range` is not honoured.
fn compressed_on_the_fly(x: &Exchange, conf: &LocationConf, r: &Representation<'_>) -> bool {
    if !conf.compression.active() {
        return false;
    }
    let response = policy::Response::new(200, BodyLength::Known(r.len), &[], r.headers);
    policy::decide(&conf.compression, &x.head, &response)
        .coding
        .is_some()
}

/// Answers from a stored entry.
pub async fn serve<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    opened: Opened,
) -> Outcome {
    let Opened { file, meta } = opened;
    let stored = Representation {
        status: meta.status,
        headers: &meta.headers,
        etag: &meta.etag,
        last_modified: meta.last_modified,
        len: meta.body_len,
    };
    match precondition(x, conf, &stored) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            let headers = not_modified_head(meta.headers);
            d.send_head(x, conf, ResponseHead::new(304, headers, BodyLength::None));
            return finished(d.finish().await);
        }
        Precondition::Failed => {
            return answer::send_error_page(d, x, conf, 412, Vec::new()).await;
        }
    }
    let ranges = ranges(x, conf, &stored, false);
    let (status, mut headers, mut from, mut len) = (meta.status, meta.headers, 0, meta.body_len);
    match ranges {
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
        RangeOutcome::Satisfiable(rs) => {
            // Each part names the stored type; the response's type is the multipart.
            let at = headers
                .iter()
                .position(|h| h.name.eq_ignore_ascii_case("content-type"));
            let part_type = at
                .map(|i| headers.remove(i).value)
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default();
            let m = Multipart::new(
                range::boundary(x.request_id.high_bits()),
                &part_type,
                rs,
                len,
            );
            headers.push(Header::new("Content-Type", m.content_type()));
            d.send_head(
                x,
                conf,
                ResponseHead::new(206, headers, BodyLength::Known(m.content_length())),
            );
            let sent = send::send_parts(d, &file, meta.body_offset, conf, &m).await;
            return finished(sent && d.finish().await);
        }
        RangeOutcome::Unsatisfiable => {
            let unsatisfied = vec![Header::new("Content-Range", range::unsatisfied_range(len))];
            return answer::send_error_page(d, x, conf, 416, unsatisfied).await;
        }
        RangeOutcome::Full => d.send_head(
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

pub fn finished(ok: bool) -> Outcome {
    if ok {
        Outcome::Done
    } else {
        Outcome::Close
    }
}
