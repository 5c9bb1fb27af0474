//! Storing a response as it passes: [`Recorder`] is a downstream that wraps the
//! client's and writes what the proxy sends into a temporary file in the cache
//! directory, renamed into place and entered in the index once the body is
//! complete. The proxy handler does not know it is being recorded. A response to be
//! replaced by a stale copy (`proxy_cache_use_stale http_5xx`) is held back instead
//! of sent. [`NoClient`] is the downstream of a background update: nobody waits.
//!
//! The client's view of a response being stored is nginx's: its `If-None-Match` or
//! `If-Modified-Since` that the response satisfies gets a 304, a failed `If-Match`
//! or `If-Unmodified-Since` a 412 (and nothing is stored), and its single
//! `Range` a 206 when the upstream offered ranges (`Accept-Ranges`), while the whole
//! response is recorded ([`View`]); the upstream was asked without them (see
//! `proxy::head`).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::entry::{self, Meta};
use super::index::{Key, Stored};
use super::policy::{self, Refusal};
use super::{hit, Cache};
use crate::config::model::cache::Vec16;
use crate::config::model::LocationConf;
use crate::exchange::body::BodyReadError;
use crate::exchange::response::{default_page, BodyLength, ResponseHead};
use crate::exchange::{Downstream, Exchange, Upgraded};
use crate::http1::{Header, Method};
use crate::static_files::conditional::Precondition;
use crate::static_files::range::{self, RangeOutcome};

/// The largest body whose storing a head-only answer waits for ([`Recorder`]).
const HOLD_HEAD_LIMIT: u64 = 256 * 1024;

/// Numbers temporary files within a process.
static TEMP: AtomicU64 = AtomicU64::new(0);

/// What to do with the response.
#[derive(Debug)]
pub struct Plan {
    pub cache: Arc<Cache>,
    pub key: Key,
    /// The key's main entry, not a variant's secondary key.
    pub main: bool,
    pub key_text: String,
    /// False: only pass it on (`proxy_cache_min_uses` not reached, a HEAD).
    pub store: bool,
    /// Statuses to hold back because a stale copy answers instead.
    pub hold_back: Vec16,
    /// The request carries the stored entry's validators (`proxy_cache_revalidate`):
    /// a 304 renews the entry (with the stored `status`'s validity) instead of going
    /// to the client.
    pub revalidating: Option<u16>,
    /// A HEAD sent upstream as GET (`proxy_cache_convert_head`): the client gets the
    /// head only, the cache the whole response.
    pub converted_head: bool,
    /// A background update: nobody's conditions to answer (as nginx's subrequest).
    pub background: bool,
}

/// How recording went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Nothing came (the proxy failed before a head).
    Nothing,
    Stored,
    NotStored(Option<Refusal>),
    /// A status in `hold_back` came: nothing was sent to the client.
    HeldBack(u16),
    /// The upstream answered 304 to the revalidation: the stored copy answers,
    /// fresh again until then when the 304 allows it.
    Revalidated(Option<policy::Freshness>),
}

/// A response's `ETag` (empty when none) and `Last-Modified` (Unix seconds; 0 when
/// none).
fn validators(headers: &[Header]) -> (String, u64) {
    let etag = crate::http1::headers::get(headers, "etag")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let last_modified = crate::http1::headers::get(headers, "last-modified")
        .and_then(crate::http1::date::parse_http_date)
        .map_or(0, policy::unix);
    (etag, last_modified)
}

/// What of the response the client gets while the whole is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Whole,
    /// The head only: a HEAD asked upstream as GET, or a 304 for the client.
    HeadOnly,
    /// A single range: the body bytes in `from..to`; `at` is the next byte's offset.
    Range {
        from: u64,
        to: u64,
        at: u64,
    },
}

impl View {
    /// Of the next `len` body bytes, the ones the client gets: (skip, take).
    fn window(&mut self, len: u64) -> Option<(u64, u64)> {
        match self {
            View::Whole => Some((0, len)),
            View::HeadOnly => None,
            View::Range { from, to, at } => {
                let start = (*at).max(*from);
                let end = (*at + len).min(*to);
                let skip = start.saturating_sub(*at);
                *at += len;
                (start < end).then_some((skip, end - start))
            }
        }
    }
}

#[derive(Debug)]
struct Writing {
    file: File,
    temp: PathBuf,
    /// The bytes before the body.
    head_len: u64,
    written: u64,
    expected: Option<u64>,
    fresh: policy::Freshness,
}

/// The client's downstream, recorded into the cache.
#[derive(Debug)]
pub struct Recorder<'d, D: Downstream> {
    inner: &'d mut D,
    plan: Plan,
    writing: Option<Writing>,
    view: View,
    /// A page that replaces the body for the client (a 412), sent at the end.
    page: Option<Vec<u8>>,
    pub recorded: Recorded,
    /// Error-log lines (a file that could not be written), for the caller to log.
    pub errors: Vec<String>,
}

impl<'d, D: Downstream> Recorder<'d, D> {
    pub fn new(inner: &'d mut D, plan: Plan) -> Recorder<'d, D> {
        Recorder {
            inner,
            plan,
            writing: None,
            view: View::Whole,
            page: None,
            recorded: Recorded::Nothing,
            errors: Vec::new(),
        }
    }

    fn held_back(&self) -> bool {
        matches!(
            self.recorded,
            Recorded::HeldBack(_) | Recorded::Revalidated(_)
        )
    }

    /// Sends the client what its view takes of these body bytes.
    async fn send_viewed(&mut self, data: &[u8]) -> bool {
        match self.view.window(data.len() as u64) {
            Some((skip, take)) => {
                let (skip, take) = (skip as usize, take as usize);
                self.inner.send_body(&data[skip..skip + take]).await
            }
            None => true,
        }
    }

    /// Whether the client's head-only answer (a 304, a 412, a HEAD) waits for the
    /// end of a small body being stored: the entry is then stored before the client
    /// has its answer and asks again. A large body does not hold it up.
    fn holds_head(&self) -> bool {
        self.view == View::HeadOnly
            && self
                .writing
                .as_ref()
                .is_some_and(|w| w.expected.is_some_and(|n| n <= HOLD_HEAD_LIMIT))
    }

    /// The head the client gets of a response being stored: a 304 for its
    /// validators, a 206 for its single range, or the response's own.
    fn client_head<'h>(
        &mut self,
        x: &Exchange,
        conf: &LocationConf,
        head: ResponseHead<'h>,
    ) -> ResponseHead<'h> {
        let (etag, last_modified) = validators(&head.headers);
        let stored = hit::Representation {
            status: head.status,
            headers: &head.headers,
            etag: &etag,
            last_modified,
            len: match head.length {
                BodyLength::Known(n) => n,
                _ => 0,
            },
        };
        let precondition = hit::precondition(x, conf, &stored);
        // Ranges need the length (nginx's range filter does too).
        let ranges = match head.length {
            BodyLength::Known(_) => hit::ranges(x, conf, &stored, true),
            _ => RangeOutcome::Full,
        };
        let len = stored.len;
        match precondition {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                self.view = View::HeadOnly;
                let headers = hit::not_modified_head(head.headers);
                return ResponseHead::new(304, headers, BodyLength::None);
            }
            Precondition::Failed => {
                // nginx's 412 ends the upstream request: nothing is stored.
                self.abandon();
                self.view = View::HeadOnly;
                let page = default_page(412, conf.server_tokens);
                let headers = vec![Header::new("Content-Type", "text/html")];
                let length = BodyLength::Known(page.len() as u64);
                self.page = Some(page);
                return ResponseHead::new(412, headers, length);
            }
        }
        match ranges {
            RangeOutcome::Satisfiable(r) if r.len() == 1 => {
                let r = r[0];
                self.view = View::Range {
                    from: r.start,
                    to: r.start + r.len(),
                    at: 0,
                };
                let mut headers = head.headers;
                headers.push(Header::new("Content-Range", range::content_range(r, len)));
                ResponseHead::new(206, headers, BodyLength::Known(r.len()))
            }
            _ => head,
        }
    }

    /// Starts the file for a response that may be stored.
    fn begin(&mut self, x: &Exchange, conf: &LocationConf, head: &ResponseHead<'_>) {
        let cc = &conf.proxy.cache;
        let now = policy::unix(std::time::SystemTime::now());
        let fresh = match policy::judge(
            head.status,
            &x.upstream_headers,
            cc,
            &conf.proxy.shaping.ignore_headers,
            now,
        ) {
            Ok(f) => f,
            Err(why) => {
                self.recorded = Recorded::NotStored(Some(why));
                return;
            }
        };
        if super::any_true(&cc.no_cache, x) {
            return;
        }
        let expected = match head.length {
            BodyLength::Known(n) => Some(n),
            BodyLength::None => Some(0),
            BodyLength::Unknown => None,
        };
        let vary = if conf
            .proxy
            .shaping
            .ignore_headers
            .iter()
            .any(|i| i == "vary")
        {
            String::new()
        } else {
            super::vary_names(&x.upstream_headers)
        };
        let (etag, last_modified) = validators(&head.headers);
        let meta = Meta {
            expires: fresh.expires,
            // Set again at the commit (see `generation`).
            stored: super::now_ms(),
            last_modified,
            while_revalidate: fresh.while_revalidate,
            if_error: fresh.if_error,
            variant: super::variant(&vary, &x.head.headers),
            status: head.status,
            key: self.plan.key_text.clone(),
            vary,
            etag,
            headers: head.headers.clone(),
            body_len: expected.unwrap_or(0),
            body_offset: 0,
        };
        let root = &self.plan.cache.path.path;
        let temp = root.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            TEMP.fetch_add(1, Ordering::Relaxed)
        ));
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut f| {
                let head = meta.encode();
                f.write_all(&head).map(|()| (f, head.len() as u64))
            });
        match opened {
            Ok((file, head_len)) => {
                self.writing = Some(Writing {
                    file,
                    temp,
                    head_len,
                    written: 0,
                    expected,
                    fresh,
                })
            }
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                self.errors.push(format!(
                    "open() \"{}\" failed ({e}) while storing a response in the cache",
                    temp.display()
                ));
            }
        }
    }

    /// The `stored` time of the entry being written: for a key's main entry that
    /// replaces one of the same key, the replaced entry's, so a refresh keeps the
    /// variants stored beside it; else now (see `locate` in the module).
    fn generation(&self) -> u64 {
        let now = super::now_ms();
        if !self.plan.main {
            return now;
        }
        let previous = std::fs::File::open(self.plan.cache.file_of(&self.plan.key))
            .ok()
            .and_then(|f| Meta::read(&f).ok().flatten());
        match previous {
            Some(old) if old.key == self.plan.key_text && old.stored <= now => old.stored,
            _ => now,
        }
    }

    /// Writes body bytes to the file; the last byte of a known length stores the
    /// entry at once, before the bytes go on to the client: a client that asks again
    /// as soon as it has the answer finds it stored.
    fn append(&mut self, data: &[u8]) {
        let Some(w) = &mut self.writing else {
            return;
        };
        if w.file.write_all(data).is_err() {
            self.abandon();
            return;
        }
        w.written += data.len() as u64;
        if w.expected == Some(w.written) {
            self.commit();
        }
    }

    fn abandon(&mut self) {
        if let Some(w) = self.writing.take() {
            let _ = std::fs::remove_file(&w.temp);
        }
    }

    /// The body is complete: into place and into the index.
    fn commit(&mut self) {
        let Some(w) = self.writing.take() else {
            return;
        };
        if w.expected.is_some_and(|n| n != w.written) {
            let _ = std::fs::remove_file(&w.temp);
            return;
        }
        if w.expected.is_none() && entry::write_body_len(&w.file, w.written).is_err() {
            let _ = std::fs::remove_file(&w.temp);
            return;
        }
        // Read at the commit, not the start: a purge meanwhile ends the generation.
        if entry::write_stored(&w.file, self.generation()).is_err() {
            let _ = std::fs::remove_file(&w.temp);
            return;
        }
        let cache = Arc::clone(&self.plan.cache);
        let path = entry::path_of(&cache.path.path, &cache.path.levels, &self.plan.key);
        let placed = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::rename(&w.temp, &path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&w.temp);
            self.errors.push(format!(
                "rename() \"{}\" to \"{}\" failed ({e})",
                w.temp.display(),
                path.display()
            ));
            return;
        }
        let size = w.head_len + w.written;
        let stored = Stored {
            expires: w.fresh.expires,
            size,
            while_revalidate: w.fresh.while_revalidate,
            if_error: w.fresh.if_error,
        };
        if let Some((old, _)) = cache.index.store(&self.plan.key, stored, super::now_ms()) {
            cache.delete_file(&old);
        }
        self.recorded = Recorded::Stored;
    }
}

impl<D: Downstream> Drop for Recorder<'_, D> {
    fn drop(&mut self) {
        self.abandon();
    }
}

impl<D: Downstream> Downstream for Recorder<'_, D> {
    crate::exchange::downstream::forward_request_side!();

    fn send_head(&mut self, x: &mut Exchange, conf: &LocationConf, head: ResponseHead<'_>) {
        if self.plan.hold_back.contains(head.status) {
            self.recorded = Recorded::HeldBack(head.status);
            return;
        }
        if let (Some(status), 304) = (self.plan.revalidating, head.status) {
            let now = policy::unix(std::time::SystemTime::now());
            let cc = &conf.proxy.cache;
            let ignore = &conf.proxy.shaping.ignore_headers;
            let fresh = policy::judge(status, &x.upstream_headers, cc, ignore, now);
            self.recorded = Recorded::Revalidated(fresh.ok());
            return;
        }
        self.recorded = Recorded::NotStored(None);
        if self.plan.store && !head.upgrade {
            self.begin(x, conf, &head);
        }
        if self.plan.converted_head {
            // The client asked for the head only; the upstream was asked with GET.
            x.head.method = crate::http1::Method::Head;
            self.view = View::HeadOnly;
        }
        // The upstream was asked without the client's conditions and ranges (see
        // `Fetch::run`): they are answered here, for a response being stored, and
        // for any answer to GET or HEAD (a method with effects, whose response is
        // not stored, is not told 412 after the upstream carried it out).
        let safe = matches!(x.head.method, Method::Get | Method::Head);
        let head = if self.plan.store
            && !self.plan.background
            && !head.upgrade
            && (self.writing.is_some() || safe)
        {
            self.client_head(x, conf, head)
        } else {
            head
        };
        self.inner.send_head(x, conf, head);
    }

    async fn flush(&mut self) -> bool {
        self.held_back() || self.holds_head() || self.inner.flush().await
    }

    async fn send_body(&mut self, data: &[u8]) -> bool {
        if self.held_back() {
            return true;
        }
        self.append(data);
        self.send_viewed(data).await
    }

    async fn send_owned(&mut self, data: Vec<u8>) -> Option<Vec<u8>> {
        if self.held_back() {
            return Some(data);
        }
        self.append(&data);
        if self.view == View::Whole {
            return self.inner.send_owned(data).await;
        }
        self.send_viewed(&data).await.then_some(data)
    }

    async fn send_file(&mut self, file: &File, offset: u64, len: u64, zero_copy: bool) -> bool {
        if self.held_back() {
            return true;
        }
        if self.writing.is_some() {
            let mut buf = vec![0u8; 64 * 1024];
            let mut done = 0u64;
            while done < len {
                let want = usize::try_from((len - done).min(buf.len() as u64)).unwrap_or(0);
                match file.read_at(&mut buf[..want], offset + done) {
                    Ok(0) | Err(_) => {
                        self.abandon();
                        break;
                    }
                    Ok(n) => {
                        self.append(&buf[..n]);
                        done += n as u64;
                    }
                }
            }
        }
        match self.view.window(len) {
            Some((skip, take)) => {
                self.inner
                    .send_file(file, offset + skip, take, zero_copy)
                    .await
            }
            None => true,
        }
    }

    async fn finish(&mut self) -> bool {
        if self.held_back() {
            return true;
        }
        // A body of unknown length (or none) is complete now, before the client's
        // last write (for chunked framing, the last chunk).
        self.commit();
        if let Some(page) = self.page.take() {
            if !self.inner.send_body(&page).await {
                return false;
            }
        }
        self.inner.finish().await
    }

    async fn closed(&self) {
        self.inner.closed().await
    }

    async fn upgrade(&mut self) -> Option<Upgraded<'_>> {
        self.abandon();
        self.inner.upgrade().await
    }

    async fn end(&mut self, x: &mut Exchange, done: bool) -> bool {
        self.inner.end(x, done).await
    }
}

/// The downstream of a background update: takes everything, sends nothing.
#[derive(Debug, Default)]
pub struct NoClient;

impl Downstream for NoClient {
    fn server_chosen(&mut self, _: &Exchange, _: &LocationConf) {}

    fn close_after(&mut self) {}

    fn keeps_alive(&self) -> bool {
        true
    }

    async fn start_body(&mut self, _: &Exchange, _: u64, _: Duration) -> bool {
        true
    }

    async fn read_body(&mut self, _: &mut Vec<u8>) -> Result<usize, BodyReadError> {
        Ok(0)
    }

    fn body_done(&self) -> bool {
        true
    }

    fn skip_body(&mut self, _: &mut Exchange, _: &LocationConf) -> Result<(), BodyReadError> {
        Ok(())
    }

    fn send_head(&mut self, _: &mut Exchange, _: &LocationConf, _: ResponseHead<'_>) {}

    async fn flush(&mut self) -> bool {
        true
    }

    async fn send_body(&mut self, _: &[u8]) -> bool {
        true
    }

    async fn send_owned(&mut self, data: Vec<u8>) -> Option<Vec<u8>> {
        Some(data)
    }

    async fn send_file(&mut self, _: &File, _: u64, _: u64, _: bool) -> bool {
        true
    }

    async fn finish(&mut self) -> bool {
        true
    }

    async fn closed(&self) {
        std::future::pending::<()>().await
    }

    async fn upgrade(&mut self) -> Option<Upgraded<'_>> {
        None
    }

    async fn end(&mut self, _: &mut Exchange, _: bool) -> bool {
        true
    }
}
