//! Static files: `root`, `alias`, `index` and `try_files`, answered as nginx answers
//! them — 301 for a directory without its slash, 403 for a directory without an index,
//! 404 and 403 with nginx's `open() "..." failed` lines — with conditional requests
//! and ranges ([`send`]), directory listings ([`autoindex`]), and files opened only
//! beneath their document directory ([`open`], [`resolve`], [`symlinks`]).
//!
//! Sits at the end of the data path: after routing picked a location that neither
//! proxies nor returns.

pub mod autoindex;
pub mod conditional;
pub mod open;
pub mod precompressed;
pub mod range;
pub mod resolve;
pub mod send;
pub mod symlinks;

use std::io;

use crate::config::model::{AutoindexFormat, LocationConf, TryFiles, TryFilesFallback};
use crate::config::template::{Part, VariableSource};
use crate::exchange::answer;
use crate::exchange::response::{BodyLength, ResponseHead};
use crate::exchange::{context, Downstream, Env, Exchange, Outcome};
use crate::http1::{Header, Method};
use crate::route::RoutedLocation;
use open::{open_beneath, OpenError, Opened};
use resolve::{resolve, AliasMode, Resolved};

/// Serves the request from the file system.
pub async fn handle<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    env: Env<'_>,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
) -> Outcome {
    if !matches!(x.head.method, Method::Get | Method::Head) {
        return Outcome::Status(405);
    }
    let mut mode = AliasMode::Whole;
    if let Some(try_files) = &conf.try_files {
        match try_files_phase(x, location, conf, try_files) {
            TryFilesFound::File => mode = AliasMode::WithUri,
            TryFilesFound::Directory => {}
            TryFilesFound::Nothing(outcome) => return outcome,
        }
    }
    if x.uri.ends_with('/') {
        let uri = x.uri.clone();
        return index(d, x, env, location, conf, &uri).await;
    }
    let place = resolve(x, location, conf, &x.uri, mode);
    match open_beneath_resolved(x, conf, &place) {
        Ok(opened) => {
            if opened.meta.is_dir() {
                return directory_redirect(d, x, conf).await;
            }
            if let Some((variant, coding)) = precompressed::find(x, conf, &place) {
                return send::send_file_as(d, x, conf, &variant, Some(coding)).await;
            }
            send::send_file(d, x, conf, &opened).await
        }
        Err(e) => open_failed(env, x, conf, &place, e),
    }
}

/// What `try_files` found.
enum TryFilesFound {
    /// A file: `$uri` is now its URI.
    File,
    /// A directory (a candidate ending in `/`): `$uri` is now its URI *without* the
    /// slash, so a request for `/dir` gets nginx's 301 to `/dir/`.
    Directory,
    /// No candidate exists: the fallback (an internal redirect or a status).
    Nothing(Outcome),
}

/// nginx's try-files phase: each candidate but the last is looked for on disk (one
/// written with a trailing `/` as a directory, with that slash dropped, as
/// `ngx_http_core_try_files` does); the first that exists becomes `$uri` and the
/// location's own handler serves it, no location is chosen again. When none exists,
/// the last parameter is an internal redirect (`Outcome::Internal`) or a status.
fn try_files_phase(
    x: &mut Exchange,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
    try_files: &TryFiles,
) -> TryFilesFound {
    for candidate in &try_files.files {
        let test_dir = matches!(candidate.parts.last(), Some(Part::Literal(s)) if s.ends_with('/'));
        let mut uri = Vec::new();
        candidate.expand(x as &dyn VariableSource, &mut uri);
        if test_dir && uri.len() > 1 {
            uri.pop();
        }
        let uri = String::from_utf8_lossy(&uri).into_owned();
        let Ok(uri) = crate::uri::normalize_path(&uri) else {
            continue;
        };
        // A regex location's alias takes the candidate as a root would.
        let place = resolve(x, location, conf, &uri, AliasMode::WithUri);
        let found = match open_beneath_resolved(x, conf, &place) {
            Ok(o) if test_dir => o.meta.is_dir(),
            Ok(o) => !o.meta.is_dir(),
            Err(_) => false,
        };
        if found {
            x.uri = uri;
            return if test_dir {
                TryFilesFound::Directory
            } else {
                TryFilesFound::File
            };
        }
    }
    TryFilesFound::Nothing(match &try_files.fallback {
        TryFilesFallback::Code(code) => Outcome::Status(*code),
        TryFilesFallback::Named(name) => Outcome::Internal(name.clone()),
        TryFilesFallback::Uri(t) => {
            let mut u = Vec::new();
            t.expand(x as &dyn VariableSource, &mut u);
            Outcome::Internal(String::from_utf8_lossy(&u).into_owned())
        }
    })
}

/// Opens a place beneath its document directory, after `disable_symlinks`'s walk
/// when it is not `off`.
fn open_beneath_resolved(
    x: &Exchange,
    conf: &LocationConf,
    place: &Resolved,
) -> Result<Opened, OpenError> {
    if let Some((policy, start)) = symlinks::policy(x, conf, place.display()) {
        symlinks::check(place.display(), start, policy).map_err(OpenError::Symlink)?;
    }
    open_beneath(place.dir(), place.rel())
}

/// `index`: the first index file that exists; else 403 for an existing directory.
async fn index<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    env: Env<'_>,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
    uri: &str,
) -> Outcome {
    for name in &conf.index {
        let mut n = Vec::new();
        name.expand(x as &dyn VariableSource, &mut n);
        let candidate = format!("{uri}{}", String::from_utf8_lossy(&n));
        let place = resolve(x, location, conf, &candidate, AliasMode::Whole);
        if let Ok(opened) = open_beneath_resolved(x, conf, &place) {
            if opened.meta.is_file() {
                x.uri = candidate;
                let place = resolve(x, location, conf, &x.uri, AliasMode::Whole);
                if let Some((variant, coding)) = precompressed::find(x, conf, &place) {
                    return send::send_file_as(d, x, conf, &variant, Some(coding)).await;
                }
                return send::send_file(d, x, conf, &opened).await;
            }
        }
    }
    let place = resolve(x, location, conf, uri, AliasMode::Whole);
    match open_beneath_resolved(x, conf, &place) {
        Ok(dir) if dir.meta.is_dir() && conf.files.autoindex.autoindex => {
            listing(d, x, env, conf, &dir, &place).await
        }
        Ok(dir) if dir.meta.is_dir() => {
            let line = format!(
                "directory index of \"{}\" is forbidden{}",
                place.display(),
                context(x, None)
            );
            env.error_log.error(Some(x.connection), &line);
            Outcome::Status(403)
        }
        Ok(_) => Outcome::Status(404),
        Err(e) => open_failed(env, x, conf, &place, e),
    }
}

/// `autoindex on`: the directory's listing, in `autoindex_format`.
async fn listing<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    env: Env<'_>,
    conf: &LocationConf,
    dir: &Opened,
    place: &Resolved,
) -> Outcome {
    let settings = conf.files.autoindex;
    let callback = autoindex::callback_arg(x.head.query.as_deref()).map(str::to_string);
    if settings.format == AutoindexFormat::Jsonp {
        if let Some(cb) = callback
            .as_deref()
            .filter(|cb| !autoindex::valid_callback(cb.as_bytes()))
        {
            let line = format!("client sent invalid callback \"{cb}\"{}", context(x, None));
            env.error_log.info(Some(x.connection), &line);
            return Outcome::Status(400);
        }
    }
    let entries = match autoindex::read_entries(&dir.file) {
        Ok(entries) => entries,
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            let line = format!(
                "readdir() \"{}\" failed ({errno}: {}){}",
                place.display(),
                crate::sys::strerror(errno),
                context(x, None)
            );
            env.error_log.error(Some(x.connection), &line);
            return Outcome::Status(500);
        }
    };
    let utf8 = conf
        .files
        .charset_for("text/html")
        .is_some_and(|c| c.eq_ignore_ascii_case("utf-8"));
    let html = autoindex::HtmlOptions {
        exact_size: settings.exact_size,
        localtime: settings.localtime,
        utf8,
    };
    let uri = x.uri.clone();
    let cb = callback.as_deref().map(str::as_bytes);
    let (content_type, body) = autoindex::render(settings.format, &uri, &entries, html, cb);
    let head = ResponseHead::new(200, Vec::new(), BodyLength::Known(body.len() as u64));
    answer::send_simple(d, x, conf, head, Some(content_type), &body).await
}

/// nginx: a directory requested without its slash is redirected to it.
async fn directory_redirect<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
) -> Outcome {
    let location = x.redirect_location(conf, &x.directory_uri());
    let headers = vec![Header::new("Location", location)];
    answer::send_error_page(d, x, conf, 301, headers).await
}

/// 404 or 403 with nginx's log line; a file that is not there is not logged under
/// `log_not_found off` (nginx's ENOENT, ENOTDIR and ENAMETOOLONG).
fn open_failed(
    env: Env<'_>,
    x: &Exchange,
    conf: &LocationConf,
    place: &Resolved,
    e: OpenError,
) -> Outcome {
    let (line, status) = match e {
        OpenError::Escapes => (
            format!(
                "open() \"{}\" refused: the path leaves \"{}\" (through \"..\" or a symlink){}",
                place.display(),
                place.dir(),
                context(x, None)
            ),
            403,
        ),
        OpenError::Symlink(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            let not_found = matches!(errno, libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG);
            if not_found && !conf.log_not_found {
                return Outcome::Status(404);
            }
            let status = match errno {
                libc::ELOOP | libc::EACCES | libc::EMLINK => 403,
                _ => 404,
            };
            let line = format!(
                "openat() \"{}\" failed ({errno}: {}){}",
                place.display(),
                crate::sys::strerror(errno),
                context(x, None)
            );
            (line, status)
        }
        OpenError::Io(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            let not_found = matches!(errno, libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG);
            if not_found && !conf.log_not_found {
                return Outcome::Status(404);
            }
            let status = match e.kind() {
                io::ErrorKind::PermissionDenied => 403,
                _ => 404,
            };
            let line = format!(
                "open() \"{}\" failed ({errno}: {}){}",
                place.display(),
                crate::sys::strerror(errno),
                context(x, None)
            );
            (line, status)
        }
    };
    env.error_log.error(Some(x.connection), &line);
    Outcome::Status(status)
}
