//! Response compression: nginx's gzip filter, `gzip_static`, and brotli beside them.
//!
//! Place in the data path: between every handler and the protocol. [`Filter`] wraps
//! the [`Downstream`] a request is answered through (the dispatcher puts it there), so
//! the proxy, static files, `return` and error pages are compressed alike without
//! knowing it, on any protocol. At the head it asks [`policy::decide`]; when the
//! answer is a coding it rewrites the head as nginx does (`Content-Encoding`, no
//! `Content-Length` or `Accept-Ranges`, a weak `ETag`) and feeds each body piece
//! through a streaming [`Encoder`] to the protocol: nothing is gathered whole. A piece
//! relayed from an upstream is flushed through at once (a slow stream reaches the
//! client as it comes); a file goes through in 64 KiB reads, flushed at the end.
//!
//! Precompressed files (`gzip_static`, `brotli_static`) are the static handler's:
//! it opens `file.gz` instead and labels the head, which this filter then leaves be.

pub mod encoder;
pub mod negotiate;
pub mod policy;

use std::fs::File;
use std::os::unix::fs::FileExt;

pub use encoder::{Coding, Encoder};

use crate::config::model::LocationConf;
use crate::exchange::response::{self, BodyLength, ResponseHead};
use crate::exchange::{Downstream, Exchange, Upgraded};
use crate::http1::{headers, Header, Method};

/// Compressed output is handed to the protocol once this much is ready.
const OUTPUT_CHUNK: usize = 32 << 10;
/// A file is read and compressed this much at a time.
const FILE_READ: usize = 64 << 10;

/// A downstream that compresses what handlers send through it, when the location's
/// settings and the client say so.
#[derive(Debug)]
pub struct Filter<'d, D> {
    inner: &'d mut D,
    encoder: Option<Encoder>,
    /// Compressed bytes not yet handed on.
    out: Vec<u8>,
    /// Bytes into the encoder and out of it, for `$gzip_ratio`.
    plain: u64,
    sent: u64,
}

impl<'d, D: Downstream> Filter<'d, D> {
    pub fn new(inner: &'d mut D) -> Filter<'d, D> {
        Filter {
            inner,
            encoder: None,
            out: Vec::new(),
            plain: 0,
            sent: 0,
        }
    }

    /// Hands the compressed bytes on; false when the client is gone.
    async fn send_out(&mut self) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let out = std::mem::take(&mut self.out);
        self.sent += out.len() as u64;
        match self.inner.send_owned(out).await {
            Some(mut buf) => {
                buf.clear();
                self.out = buf;
                true
            }
            None => false,
        }
    }

    /// Compresses `data` (flushed through when `flush`) and sends what is ready.
    async fn encode(&mut self, data: &[u8], flush: bool) -> bool {
        let Some(e) = self.encoder.as_mut() else {
            return false;
        };
        if e.write(data, &mut self.out, flush).is_err() {
            return false;
        }
        self.plain += data.len() as u64;
        if flush || self.out.len() >= OUTPUT_CHUNK {
            return self.send_out().await;
        }
        true
    }
}

/// nginx's `ngx_http_weak_etag`: `"x"` becomes `W/"x"`, a weak one stays, anything
/// else is dropped.
fn weak_etag(value: &[u8]) -> Option<Vec<u8>> {
    if value.starts_with(b"W/") {
        Some(value.to_vec())
    } else if value.starts_with(b"\"") {
        Some([b"W/", value].concat())
    } else {
        None
    }
}

/// The head of a compressed response: `Content-Encoding`, no length or
/// `Accept-Ranges`, a weak `ETag`.
fn compressed_head<'a>(
    head: ResponseHead<'_>,
    fields: &'a mut Vec<(&'static str, &'a [u8])>,
    weak: &'a Option<Vec<u8>>,
    coding: Coding,
) -> ResponseHead<'a> {
    let ResponseHead {
        status,
        reason: _,
        fields: _,
        mut headers,
        length,
        upgrade,
    } = head;
    fields.retain(|(n, _)| !n.eq_ignore_ascii_case("Accept-Ranges"));
    if let Some((_, v)) = fields
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("ETag"))
    {
        *v = weak.as_deref().unwrap_or_default();
    }
    fields.retain(|(n, v)| !(n.eq_ignore_ascii_case("ETag") && v.is_empty()));
    headers.retain_mut(|h| {
        if h.is("Content-Length") || h.is("Accept-Ranges") {
            return false;
        }
        if h.is("ETag") {
            match weak_etag(&h.value) {
                Some(w) => h.value = w.into(),
                None => return false,
            }
        }
        true
    });
    headers.push(Header::new("Content-Encoding", coding.token()));
    let length = match length {
        BodyLength::None => BodyLength::None,
        _ => BodyLength::Unknown,
    };
    ResponseHead {
        status,
        reason: None,
        fields: &fields[..],
        headers,
        length,
        upgrade,
    }
}

impl<D: Downstream> Downstream for Filter<'_, D> {
    crate::exchange::downstream::forward_request_side!();

    fn send_head(&mut self, x: &mut Exchange, conf: &LocationConf, mut head: ResponseHead<'_>) {
        self.encoder = None;
        self.out.clear();
        (self.plain, self.sent) = (0, 0);
        let c = &*conf.compression;
        if !c.active() {
            return self.inner.send_head(x, conf, head);
        }
        // Through a proxy (`Via`), `gzip_proxied` reads `Expires` and `Cache-Control`
        // as `expires` will leave them: nginx's headers filter runs before its gzip
        // filter.
        let expiry = match headers::get(&x.head.headers, "via") {
            Some(_) => response::expiry_lines(x, conf, head.status, head.fields, &head.headers),
            None => Vec::new(),
        };
        let decision = if expiry.is_empty() {
            let r = policy::Response::new(head.status, head.length, head.fields, &head.headers);
            policy::decide(c, &x.head, &r)
        } else {
            let mut lines: Vec<Header> = head
                .headers
                .iter()
                .filter(|h| !response::is_expiry(&h.name))
                .cloned()
                .collect();
            lines.extend(expiry);
            let r = policy::Response::new(head.status, head.length, head.fields, &lines);
            policy::decide(c, &x.head, &r)
        };
        if (decision.vary || x.vary_encoding) && c.vary && !head.upgrade {
            head.headers.push(Header::new("Vary", "Accept-Encoding"));
        }
        let Some(coding) = decision.coding else {
            return self.inner.send_head(x, conf, head);
        };
        let known = match head.length {
            BodyLength::Known(n) => Some(n),
            _ => None,
        };
        let weak = head
            .fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("ETag"))
            .and_then(|(_, v)| weak_etag(v));
        let mut fields = head.fields.to_vec();
        let head = compressed_head(head, &mut fields, &weak, coding);
        if x.head.method != Method::Head {
            let coder = match coding {
                Coding::Gzip => &c.gzip,
                Coding::Brotli => &c.brotli,
            };
            self.encoder = Some(Encoder::new(coding, coder, known));
            x.compressed = Some((0, 0));
        }
        self.inner.send_head(x, conf, head);
    }

    async fn flush(&mut self) -> bool {
        if self.encoder.is_some() && !self.encode(&[], true).await {
            return false;
        }
        self.inner.flush().await
    }

    async fn send_body(&mut self, data: &[u8]) -> bool {
        if self.encoder.is_none() {
            return self.inner.send_body(data).await;
        }
        self.encode(data, false).await
    }

    async fn send_owned(&mut self, data: Vec<u8>) -> Option<Vec<u8>> {
        if self.encoder.is_none() {
            return self.inner.send_owned(data).await;
        }
        // A relayed piece: through to the client now, as it would go uncompressed.
        self.encode(&data, true).await.then_some(data)
    }

    async fn send_file(&mut self, file: &File, offset: u64, len: u64, zero_copy: bool) -> bool {
        if self.encoder.is_none() {
            return self.inner.send_file(file, offset, len, zero_copy).await;
        }
        // Dropped on return: a buffer kept for the connection's next response would
        // be 64 KiB per connection held while the socket drains.
        let mut input = Vec::new();
        let (mut at, end) = (offset, offset.saturating_add(len));
        let mut ok = true;
        while ok && at < end {
            let want = usize::try_from(end - at)
                .unwrap_or(FILE_READ)
                .min(FILE_READ);
            input.resize(want, 0);
            // The page cache answers this, as for the uncompressed read path.
            ok = match file.read_at(&mut input, at) {
                Ok(0) | Err(_) => false,
                Ok(n) => {
                    at += n as u64;
                    self.encode(input.get(..n).unwrap_or_default(), false).await
                }
            };
        }
        ok
    }

    async fn finish(&mut self) -> bool {
        if let Some(mut e) = self.encoder.take() {
            // The encoder's state (a few hundred KiB for gzip) goes before the wait for
            // the client: under load, as many responses wait as there are connections.
            let ended = e.finish(&mut self.out);
            drop(e);
            if ended.is_err() || !self.send_out().await {
                return false;
            }
        }
        self.inner.finish().await
    }

    async fn closed(&self) {
        self.inner.closed().await
    }

    async fn upgrade(&mut self) -> Option<Upgraded<'_>> {
        self.inner.upgrade().await
    }

    async fn end(&mut self, x: &mut Exchange, done: bool) -> bool {
        self.encoder = None;
        if x.compressed.is_some() {
            x.compressed = Some((self.plain, self.sent));
        }
        self.inner.end(x, done).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_weaken_as_nginx() {
        assert_eq!(weak_etag(b"\"a-1\"").as_deref(), Some(&b"W/\"a-1\""[..]));
        assert_eq!(weak_etag(b"W/\"a-1\"").as_deref(), Some(&b"W/\"a-1\""[..]));
        assert_eq!(weak_etag(b"bare"), None);
    }
}
