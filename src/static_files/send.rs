//! Answering with a file: validators (`ETag`, `Last-Modified`), preconditions (304,
//! 412), ranges (206 single or `multipart/byteranges`, 416), `expires`, and the body.
//! Bodies up to [`SMALL_FILE`] leave with the head in one write; larger ones, and every
//! range, go out with sendfile(2) when `sendfile on` (page cache to socket, no
//! userspace copy), otherwise in pieces read into memory — the choice measured in
//! docs/static-files.md.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime};

use super::conditional::{self, Precondition};
use super::expires;
use super::open::Opened;
use super::range::{self, ByteRange, Multipart, RangeOutcome};
use crate::config::model::{Expires, LocationConf};
use crate::exchange::Exchange;
use crate::http1::{date, headers, Header, Method};
use crate::net::stream::Stream;
use crate::net::timer::timeout;
use crate::worker::dispatch::{write, Conn, Outcome};
use crate::worker::respond::{self, Framing, Head};

/// Bodies up to this size are read into the head's buffer and sent in one write.
pub const SMALL_FILE: u64 = 16 * 1024;
/// Without sendfile, larger bodies are read and written in pieces of this size.
const PIECE: usize = 256 * 1024;

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
pub async fn send_file(
    c: &mut Conn<'_>,
    x: &mut Exchange,
    conf: &LocationConf,
    opened: &Opened,
    keep_alive: bool,
) -> Outcome {
    let (file, meta) = (&*opened.file, &opened.meta);
    let len = meta.len();
    let validators = &*opened.validators;
    let (mtime, etag) = (validators.mtime, &validators.etag);
    let extension = x.uri.rsplit_once('.').map_or("", |(_, e)| e);
    let extension = if extension.contains('/') {
        ""
    } else {
        extension
    };
    let content_type = conf.types.lookup(extension).unwrap_or(&conf.default_type);
    let is_get_or_head = matches!(x.head.method, Method::Get | Method::Head);
    let last_modified = &validators.last_modified;

    // What the head says besides the validators, and the body after it.
    let mut typed: Option<String> = None; // a multipart type replaces the file's
    let mut with_type = false;
    let mut content_range: Option<String> = None;
    let (status, framing, body) =
        match conditional::evaluate(is_get_or_head, &x.head.headers, etag, mtime) {
            Precondition::NotModified => (304, Framing::None, Body::None),
            Precondition::Failed => return Outcome::Status(412),
            Precondition::Proceed => {
                let if_range = headers::get(&x.head.headers, "if-range");
                let ranges = match if_range {
                    Some(_) if !conf.add_headers.is_empty() => {
                        let (etag, mtime) = replaced_validators(x, conf, etag, mtime);
                        let range = headers::get(&x.head.headers, "range");
                        range::evaluate(range, if_range, &etag, mtime, len)
                    }
                    _ => range::evaluate(
                        headers::get(&x.head.headers, "range"),
                        if_range,
                        etag,
                        Some(mtime),
                        len,
                    ),
                };
                match ranges {
                    RangeOutcome::Full => {
                        with_type = true;
                        let whole = ByteRange { start: 0, end: len };
                        (200, Framing::Length(len), Body::Ranges(vec![whole]))
                    }
                    RangeOutcome::Unsatisfiable => {
                        let headers =
                            vec![Header::new("Content-Range", range::unsatisfied_range(len))];
                        let out =
                            respond::error_response(c.worker, x, conf, 416, headers, keep_alive);
                        return write(c, out, keep_alive).await;
                    }
                    RangeOutcome::Satisfiable(rs) if rs.len() == 1 => {
                        let r = rs[0];
                        with_type = true;
                        content_range = Some(range::content_range(r, len));
                        (206, Framing::Length(r.len()), Body::Ranges(rs))
                    }
                    RangeOutcome::Satisfiable(rs) => {
                        let boundary = range::boundary(x.request_id.high_bits());
                        let m = Multipart::new(boundary, content_type, rs, len);
                        with_type = true;
                        typed = Some(m.content_type());
                        (206, Framing::Length(m.content_length()), Body::Multipart(m))
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
    fields.push("ETag", etag.as_bytes());
    if status == 200 {
        fields.push("Accept-Ranges", b"bytes");
    } else if let Some(cr) = &content_range {
        fields.push("Content-Range", cr.as_bytes());
    }
    let hdrs = if conf.expires != Expires::Off && expires::applies(status) {
        expires::headers(conf.expires, crate::sys::coarse_wall_time(), Some(mtime))
    } else {
        Vec::new()
    };
    // A small file rides in the head's buffer: room for both, so it never grows.
    let inline = match &body {
        Body::Ranges(rs) if rs.len() == 1 && rs[0].len() <= SMALL_FILE => rs[0].len() as usize,
        _ => 0,
    };
    let mut out = Vec::with_capacity(512 + inline);
    respond::write_head(
        c.worker,
        x,
        conf,
        Head {
            status,
            reason: None,
            fields: fields.lines(),
            headers: hdrs,
            framing,
            keep_alive,
        },
        &mut out,
    );
    let head_len = out.len() as u64;
    x.bytes_sent = head_len;
    if x.head.method == Method::Head {
        return write(c, out, keep_alive).await;
    }
    let sent = match body {
        Body::None => return write(c, out, keep_alive).await,
        Body::Ranges(rs) => send_ranges(c.stream, file, conf, out, &rs).await,
        Body::Multipart(m) => {
            let parts: Vec<(Vec<u8>, ByteRange)> = m.parts().collect();
            let closing = m.closing();
            send_parts(c.stream, file, conf, out, parts, closing).await
        }
    };
    match sent {
        Some(body_bytes) => {
            x.body_bytes_sent = body_bytes;
            x.bytes_sent = head_len + body_bytes;
            Outcome::Done { keep_alive }
        }
        None => Outcome::Close,
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
    let etag = match respond::add_header_replacement(x, conf, "ETag") {
        Some(v) => String::from_utf8_lossy(&v).into_owned(),
        None => etag.to_string(),
    };
    let mtime = match respond::add_header_replacement(x, conf, "Last-Modified") {
        Some(v) => date::parse_http_date(&v),
        None => Some(mtime),
    };
    (etag, mtime)
}

/// Sends `out` (the head, and whatever precedes the ranges) and then each range.
/// Returns the body bytes sent, `None` if the client went away or the file shrank.
async fn send_ranges(
    stream: &mut Stream,
    file: &File,
    conf: &LocationConf,
    mut out: Vec<u8>,
    ranges: &[ByteRange],
) -> Option<u64> {
    let mut body = 0u64;
    for r in ranges {
        // A small range rides along in the pending write.
        if r.len() <= SMALL_FILE {
            let at = out.len();
            out.resize(at + usize::try_from(r.len()).ok()?, 0);
            file.read_exact_at(out.get_mut(at..)?, r.start).ok()?;
            body += r.len();
            continue;
        }
        out = flush(stream, out, conf.send_timeout).await?;
        send_large(stream, file, conf, *r, &mut out).await?;
        body += r.len();
    }
    flush(stream, out, conf.send_timeout).await?;
    Some(body)
}

async fn send_parts(
    stream: &mut Stream,
    file: &File,
    conf: &LocationConf,
    mut out: Vec<u8>,
    parts: Vec<(Vec<u8>, ByteRange)>,
    closing: Vec<u8>,
) -> Option<u64> {
    let mut body = 0u64;
    for (part_head, r) in parts {
        out.extend_from_slice(&part_head);
        body += part_head.len() as u64;
        let sent = send_ranges(stream, file, conf, std::mem::take(&mut out), &[r]).await?;
        body += sent;
    }
    body += closing.len() as u64;
    flush(stream, closing, conf.send_timeout).await?;
    Some(body)
}

/// Writes `out` within `send_timeout` (a client that stops reading is let go).
async fn flush(stream: &mut Stream, out: Vec<u8>, send_timeout: Duration) -> Option<Vec<u8>> {
    if out.is_empty() {
        return Some(out);
    }
    let (res, mut buf) = timeout(send_timeout, stream.write_all(out)).await.ok()?;
    res.ok()?;
    buf.clear();
    Some(buf)
}

/// One large range: sendfile, or read and write in pieces.
async fn send_large(
    stream: &mut Stream,
    file: &File,
    conf: &LocationConf,
    r: ByteRange,
    buf: &mut Vec<u8>,
) -> Option<()> {
    if conf.sendfile {
        let n = stream
            .sendfile(file, r.start, r.len(), conf.send_timeout)
            .await
            .ok()?;
        return (n == r.len()).then_some(());
    }
    let mut offset = r.start;
    while offset < r.end {
        let want = usize::try_from(r.end - offset).unwrap_or(PIECE).min(PIECE);
        buf.clear();
        buf.resize(want, 0);
        let n = file.read_at(buf, offset).ok()?;
        if n == 0 {
            return None;
        }
        buf.truncate(n);
        offset += n as u64;
        let write = stream.write_all(std::mem::take(buf));
        let (res, b) = timeout(conf.send_timeout, write).await.ok()?;
        res.ok()?;
        *buf = b;
    }
    // The buffer comes back from the write holding the last piece: it is the
    // caller's pending output from here on, so it must leave empty (it went out
    // twice before, on every file over SMALL_FILE without sendfile).
    buf.clear();
    Some(())
}
