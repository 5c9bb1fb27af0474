//! Answering with a file: validators (`ETag`, `Last-Modified`), preconditions (304,
//! 412), ranges (206 single or `multipart/byteranges`, 416), and the body.
//! The body goes to the downstream as file ranges: small ones leave with the head in
//! one write; larger ones go out with sendfile(2) when `sendfile on` and the transport
//! allows it (page cache to socket, no userspace copy), otherwise in pieces read into
//! memory — the choice measured in docs/static-files.md.

use std::fs::File;
use std::time::SystemTime;

use super::conditional::{self, Precondition};
use super::open::Opened;
use super::range::{self, ByteRange, Multipart, RangeOutcome};
use crate::compress::{policy, Coding};
use crate::config::model::LocationConf;
use crate::exchange::answer;
use crate::exchange::response::{self, BodyLength, ResponseHead};
use crate::exchange::{Downstream, Exchange, Outcome};
use crate::http1::{date, headers, Header, Method};

/// What goes after the head.
enum Body {
    None,
    Ranges(Vec<ByteRange>),
    Multipart(Multipart),
}

/// A file response's header lines, borrowed, in a fixed array (at most four).
#[derive(Default)]
struct Fields<'a> {
    lines: [(&'static str, &'a [u8]); 4],
    len: usize,
}

impl<'a> Fields<'a> {
    fn push(&mut self, name: &'static str, value: &'a [u8]) {
        if let Some(slot) = self.lines.get_mut(self.len) {
            *slot = (name, value);
            self.len += 1;
        }
    }

    fn lines(&self) -> &[(&'static str, &'a [u8])] {
        self.lines.get(..self.len).unwrap_or(&[])
    }
}

/// Serves an open regular file, `meta` its metadata (taken once, by the caller).
pub async fn send_file<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    opened: &Opened,
) -> Outcome {
    send_file_as(d, x, conf, opened, None).await
}

/// Whether the compression filter will compress this file's 200: then, as in nginx
/// (whose gzip filter runs before its range filter), `Range` is not honoured.
fn compressed_on_the_fly(x: &Exchange, conf: &LocationConf, content_type: &str, len: u64) -> bool {
    if !conf.compression.active() {
        return false;
    }
    let fields = [("Content-Type", content_type.as_bytes())];
    let r = policy::Response::new(200, BodyLength::Known(len), &fields, &[]);
    policy::decide(&conf.compression, &x.head, &r)
        .coding
        .is_some()
}

/// [`send_file`] for a file that is `coding`'s precompressed variant of the URI's
/// (`gzip_static`): labelled with its coding, answered whole.
pub async fn send_file_as<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    opened: &Opened,
    coding: Option<Coding>,
) -> Outcome {
    let (file, meta) = (&*opened.file, &opened.meta);
    let len = meta.len();
    let validators = &*opened.validators;
    let files = &conf.files;
    // `etag off`: no ETag, and an `If-None-Match` or `If-Range` tag matches nothing.
    let etag = if files.etag {
        validators.etag.as_str()
    } else {
        ""
    };
    let mtime = validators.mtime;
    let extension = x.uri.rsplit_once('.').map_or("", |(_, e)| e);
    let extension = if extension.contains('/') {
        ""
    } else {
        extension
    };
    let content_type = conf.types.lookup(extension).unwrap_or(&conf.default_type);
    // `max_ranges 0`: no range is looked at and none is offered; nor for a compressed
    // answer (nginx's gzip filter runs before its range filter), on the fly or
    // precompressed.
    let ranges_allowed = files.max_ranges != Some(0)
        && coding.is_none()
        && !compressed_on_the_fly(x, conf, content_type, len);
    let max_ranges = files.max_ranges.map_or(range::MAX_RANGES, |n| {
        usize::try_from(n).unwrap_or(usize::MAX)
    });
    let is_get_or_head = matches!(x.head.method, Method::Get | Method::Head);
    let last_modified = &validators.last_modified;

    // What the head says besides the validators, and the body after it.
    let mut typed: Option<String> = None; // a multipart type replaces the file's
    let mut with_type = false;
    let mut content_range: Option<String> = None;
    let (status, framing, body) = match conditional::evaluate(
        is_get_or_head,
        &x.head.headers,
        etag,
        mtime,
        files.if_modified_since,
    ) {
        Precondition::NotModified => (304, BodyLength::None, Body::None),
        Precondition::Failed => return Outcome::Status(412),
        Precondition::Proceed => {
            let if_range = headers::get(&x.head.headers, "if-range");
            let range = headers::get(&x.head.headers, "range").filter(|_| ranges_allowed);
            let ranges = match if_range {
                Some(_) if !conf.add_headers.is_empty() => {
                    let (etag, mtime) = replaced_validators(x, conf, etag, mtime);
                    range::evaluate(range, if_range, &etag, mtime, len, max_ranges)
                }
                _ => range::evaluate(range, if_range, etag, Some(mtime), len, max_ranges),
            };
            match ranges {
                RangeOutcome::Full => {
                    with_type = true;
                    let whole = ByteRange { start: 0, end: len };
                    (200, BodyLength::Known(len), Body::Ranges(vec![whole]))
                }
                RangeOutcome::Unsatisfiable => {
                    let headers = vec![Header::new("Content-Range", range::unsatisfied_range(len))];
                    return answer::send_error_page(d, x, conf, 416, headers).await;
                }
                RangeOutcome::Satisfiable(rs) if rs.len() == 1 => {
                    let r = rs[0];
                    with_type = true;
                    content_range = Some(range::content_range(r, len));
                    (206, BodyLength::Known(r.len()), Body::Ranges(rs))
                }
                RangeOutcome::Satisfiable(rs) => {
                    let boundary = range::boundary(x.request_id.high_bits());
                    // Each part names the file's type with its declared charset.
                    let part_type = match files.charset_for(content_type) {
                        Some(c) => format!("{content_type}; charset={c}"),
                        None => content_type.to_string(),
                    };
                    let m = Multipart::new(boundary, &part_type, rs, len);
                    with_type = true;
                    typed = Some(m.content_type());
                    (
                        206,
                        BodyLength::Known(m.content_length()),
                        Body::Multipart(m),
                    )
                }
            }
        }
    };
    // The header lines, borrowed: no allocation per line.
    let mut fields = Fields::default();
    if with_type {
        let ty = typed.as_deref().unwrap_or(content_type);
        fields.push("Content-Type", ty.as_bytes());
    }
    fields.push("Last-Modified", last_modified.as_bytes());
    if !etag.is_empty() {
        fields.push("ETag", etag.as_bytes());
    }
    if status == 200 && ranges_allowed {
        fields.push("Accept-Ranges", b"bytes");
    } else if let Some(cr) = &content_range {
        fields.push("Content-Range", cr.as_bytes());
    }
    // A precompressed variant carries its coding (`gzip_static`).
    let mut hdrs = Vec::new();
    if let Some(c) = coding {
        hdrs.push(Header::new("Content-Encoding", c.token()));
    }
    d.send_head(
        x,
        conf,
        ResponseHead {
            status,
            reason: None,
            fields: fields.lines(),
            // `expires` is added by the head's composition, for every response.
            headers: hdrs,
            length: framing,
            upgrade: false,
        },
    );
    let sent = match body {
        _ if x.head.method == Method::Head => true,
        Body::None => true,
        Body::Ranges(rs) => send_ranges(d, file, 0, conf, &rs).await,
        Body::Multipart(m) => send_parts(d, file, 0, conf, &m).await,
    };
    if sent && d.finish().await {
        Outcome::Done
    } else {
        Outcome::Close
    }
}

/// The `ETag` and `Last-Modified` the response will carry once `add_header` has
/// replaced them: what `If-Range` is checked against (nginx's range filter runs
/// after its headers filter). A removed or unparsable `Last-Modified` matches no date.
fn replaced_validators(
    x: &Exchange,
    conf: &LocationConf,
    etag: &str,
    mtime: SystemTime,
) -> (String, Option<SystemTime>) {
    let etag = match response::add_header_replacement(x, conf, "ETag") {
        Some(v) => String::from_utf8_lossy(&v).into_owned(),
        None => etag.to_string(),
    };
    let mtime = match response::add_header_replacement(x, conf, "Last-Modified") {
        Some(v) => date::parse_http_date(&v),
        None => Some(mtime),
    };
    (etag, mtime)
}

/// Sends each range of the content that starts at `base` in the file (0 for a
/// static file; past the stored head for a cache entry).
async fn send_ranges<D: Downstream>(
    d: &mut D,
    file: &File,
    base: u64,
    conf: &LocationConf,
    ranges: &[ByteRange],
) -> bool {
    for r in ranges {
        if !d
            .send_file(file, base + r.start, r.len(), conf.sendfile)
            .await
        {
            return false;
        }
    }
    true
}

/// A `multipart/byteranges` body of the content at `base` in the file: each part's
/// head, then its range; then the closing boundary.
pub async fn send_parts<D: Downstream>(
    d: &mut D,
    file: &File,
    base: u64,
    conf: &LocationConf,
    m: &Multipart,
) -> bool {
    for (part_head, r) in m.parts() {
        if !d.send_body(&part_head).await || !send_ranges(d, file, base, conf, &[r]).await {
            return false;
        }
    }
    d.send_body(&m.closing()).await
}
