//! Static files: `root`, `alias`, `index` and `try_files`, answered as nginx answers
//! them (301 for a directory without its slash, 403 for a directory without an index,
//! 404 and 403 with nginx's `open() "..." failed` lines). This is the plain path —
//! whole small files from memory, large ones in pieces; conditional requests, ranges
//! and zero-copy delivery are their own step (see README status).

pub mod open;

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::model::{DocRoot, LocationConf, LocationMatch, TryFilesFallback};
use crate::config::template::VariableSource;
use crate::http1::{date, Header, Method};
use crate::route::RoutedLocation;
use crate::worker::dispatch::{write, Conn, Outcome};
use crate::worker::exchange::Exchange;
use crate::worker::respond::{self, Framing};

/// Files up to this size go out with the head in one write.
const SMALL_FILE: u64 = 64 * 1024;
/// Larger files are sent in pieces of this size.
const PIECE: usize = 256 * 1024;

/// Serves the request from the file system.
pub async fn handle(
    c: &mut Conn<'_>,
    x: &mut Exchange,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
    keep_alive: bool,
) -> Outcome {
    if !matches!(x.head.method, Method::Get | Method::Head) {
        return Outcome::Status(405);
    }
    if let Some(try_files) = &conf.try_files {
        for candidate in &try_files.files {
            let mut uri = Vec::new();
            candidate.expand(x as &dyn VariableSource, &mut uri);
            let uri = String::from_utf8_lossy(&uri).into_owned();
            let path = map_path(x, location, conf, &uri);
            let found = match std::fs::metadata(&path) {
                Ok(m) if uri.ends_with('/') => m.is_dir(),
                Ok(m) => m.is_file(),
                Err(_) => false,
            };
            if found {
                x.uri = uri;
                break;
            }
            if candidate == try_files.files.last().unwrap_or(candidate) {
                return match &try_files.fallback {
                    TryFilesFallback::Code(code) => Outcome::Status(*code),
                    TryFilesFallback::Named(name) => Outcome::Internal(name.clone()),
                    TryFilesFallback::Uri(t) => {
                        let mut u = Vec::new();
                        t.expand(x as &dyn VariableSource, &mut u);
                        Outcome::Internal(String::from_utf8_lossy(&u).into_owned())
                    }
                };
            }
        }
    }
    let uri = x.uri.clone();
    let path = map_path(x, location, conf, &uri);
    if uri.ends_with('/') {
        return index(c, x, location, conf, &uri, path, keep_alive).await;
    }
    serve_file(c, x, conf, &path, keep_alive).await
}

/// The file a URI names: root + URI, or for `alias` the URI with the location's prefix
/// replaced by the alias (regex locations: the alias as expanded, with captures).
pub fn map_path(
    x: &Exchange,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
    uri: &str,
) -> PathBuf {
    let mut base = Vec::new();
    match &conf.root {
        DocRoot::Root(t) => {
            t.expand(x as &dyn VariableSource, &mut base);
            let mut p = String::from_utf8_lossy(&base)
                .trim_end_matches('/')
                .to_string();
            p.push_str(uri);
            PathBuf::from(p)
        }
        DocRoot::Alias(t) => {
            t.expand(x as &dyn VariableSource, &mut base);
            let alias = String::from_utf8_lossy(&base).into_owned();
            match location.map(|l| &l.matcher) {
                Some(LocationMatch::Prefix { path, .. }) | Some(LocationMatch::Exact(path)) => {
                    let rest = uri.get(path.len()..).unwrap_or("");
                    // `location /static { alias /srv/static/; }` maps "/static../x" to
                    // "/srv/static/../x": a ".." segment after the prefix is never
                    // followed out of the alias directory.
                    if rest.split('/').any(|seg| seg == "..") {
                        return PathBuf::from(format!("{alias}/.vestibule-refused-traversal"));
                    }
                    PathBuf::from(format!("{alias}{rest}"))
                }
                _ => PathBuf::from(alias),
            }
        }
    }
}

async fn index(
    c: &mut Conn<'_>,
    x: &mut Exchange,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
    uri: &str,
    dir: PathBuf,
    keep_alive: bool,
) -> Outcome {
    for name in &conf.index {
        let mut n = Vec::new();
        name.expand(x as &dyn VariableSource, &mut n);
        let name = String::from_utf8_lossy(&n).into_owned();
        let candidate = format!("{uri}{name}");
        let path = map_path(x, location, conf, &candidate);
        if path.is_file() {
            x.uri = candidate;
            return serve_file(c, x, conf, &path, keep_alive).await;
        }
    }
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {
            c.worker.error_log.error(
                Some(x.connection),
                &format!(
                    "directory index of \"{}\" is forbidden{}",
                    dir.display(),
                    crate::worker::dispatch::context(x, None)
                ),
            );
            Outcome::Status(403)
        }
        Ok(_) => Outcome::Status(404),
        Err(e) => open_failed(c, x, &dir, &e),
    }
}

fn open_failed(c: &Conn<'_>, x: &Exchange, path: &std::path::Path, e: &io::Error) -> Outcome {
    let errno = e.raw_os_error().unwrap_or(0);
    c.worker.error_log.error(
        Some(x.connection),
        &format!(
            "open() \"{}\" failed ({errno}: {}){}",
            path.display(),
            crate::sys::strerror(errno),
            crate::worker::dispatch::context(x, None)
        ),
    );
    match e.kind() {
        io::ErrorKind::PermissionDenied => Outcome::Status(403),
        _ => Outcome::Status(404),
    }
}

async fn serve_file(
    c: &mut Conn<'_>,
    x: &mut Exchange,
    conf: &LocationConf,
    path: &std::path::Path,
    keep_alive: bool,
) -> Outcome {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return open_failed(c, x, path, &e),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return open_failed(c, x, path, &e),
    };
    if meta.is_dir() {
        // nginx: a directory requested without its slash is redirected to it.
        let mut to = format!("{}/", x.uri);
        if let Some(q) = &x.head.query {
            to.push('?');
            to.push_str(q);
        }
        let location = if conf.absolute_redirect {
            match x.peer.server_port {
                80 | 0 => format!("http://{}{to}", x.host),
                port => format!("http://{}:{port}{to}", x.host),
            }
        } else {
            to
        };
        let out = respond::error_response(
            c.worker,
            x,
            conf,
            301,
            vec![Header::new("Location", location)],
            keep_alive,
        );
        return write(c, out, keep_alive).await;
    }
    let len = meta.len();
    let mtime = UNIX_EPOCH + Duration::from_secs(u64::try_from(meta.mtime()).unwrap_or(0));
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let content_type = conf
        .types
        .lookup(extension)
        .unwrap_or(&conf.default_type)
        .to_string();
    let headers = vec![
        Header::new("Content-Type", content_type),
        Header::new("Last-Modified", date::format_http_date(mtime)),
        Header::new("ETag", format!("\"{:x}-{:x}\"", meta.mtime(), len)),
        Header::new("Accept-Ranges", "bytes"),
    ];
    let mut out = Vec::with_capacity(512);
    respond::write_head(
        c.worker,
        x,
        conf,
        respond::Head {
            status: 200,
            reason: None,
            headers,
            framing: Framing::Length(len),
            keep_alive,
        },
        &mut out,
    );
    let head_len = out.len() as u64;
    if x.head.method == Method::Head {
        x.bytes_sent = head_len;
        return write(c, out, keep_alive).await;
    }
    let mut offset = 0u64;
    let first = if len <= SMALL_FILE { len } else { 0 };
    if first > 0 {
        let at = out.len();
        out.resize(at + usize::try_from(first).unwrap_or(0), 0);
        match file.read_exact_at(out.get_mut(at..).unwrap_or_default(), 0) {
            Ok(()) => offset = first,
            Err(_) => return Outcome::Status(500),
        }
    }
    let (res, mut buf) = c.stream.write_all(out).await;
    if res.is_err() {
        return Outcome::Close;
    }
    if conf.sendfile && offset < len {
        // Zero-copy: page cache to socket.
        return match c
            .stream
            .sendfile(&file, offset, len - offset, conf.send_timeout)
            .await
        {
            Ok(n) if n == len - offset => {
                x.body_bytes_sent = len;
                x.bytes_sent = head_len + len;
                Outcome::Done { keep_alive }
            }
            _ => Outcome::Close,
        };
    }
    while offset < len {
        let want = usize::try_from(len - offset).unwrap_or(PIECE).min(PIECE);
        buf.clear();
        buf.resize(want, 0);
        match file.read_at(&mut buf, offset) {
            Ok(0) | Err(_) => return Outcome::Close,
            Ok(n) => {
                buf.truncate(n);
                offset += n as u64;
            }
        }
        let (res, b) = c.stream.write_all(buf).await;
        if res.is_err() {
            return Outcome::Close;
        }
        buf = b;
    }
    x.body_bytes_sent = len;
    x.bytes_sent = head_len + len;
    let _ = SystemTime::now();
    Outcome::Done { keep_alive }
}
