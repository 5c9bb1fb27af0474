//! Answers every handler gives the same way, written once over the [`Downstream`]
//! interface: a response held in memory, nginx's error and redirect pages (and the
//! redirects vestibule makes itself), and a request body spooled whole before the
//! upstream is contacted.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::body::{BodyReadError, SpooledBody};
use super::downstream::Downstream;
use super::response::{default_page, status_has_no_body, BodyLength, ResponseHead};
use super::{Exchange, Outcome};
use crate::config::model::LocationConf;
use crate::http1::{Header, Method};

/// A redirect with nginx's page; a relative `Location` becomes absolute when
/// `absolute_redirect` is on. The one place vestibule's own redirects are answered
/// (`return 301`, a redirecting `rewrite`, a directory without its slash, an
/// `error_page` to a URL).
pub async fn redirect<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    code: u16,
    to: &str,
) -> Outcome {
    let location = x.redirect_location(conf, to);
    if let Err(e) = d.skip_body(x, conf) {
        return Outcome::Status(e.status());
    }
    let headers = vec![Header::new("Location", location)];
    send_error_page(d, x, conf, code, headers).await
}

/// A complete response with a body held in memory. HEAD requests get the head only.
pub async fn send_simple<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    mut head: ResponseHead<'_>,
    content_type: Option<&str>,
    body: &[u8],
) -> Outcome {
    let no_body = status_has_no_body(head.status);
    if let (Some(ct), false) = (content_type, no_body) {
        head.headers.insert(0, Header::new("Content-Type", ct));
    }
    head.length = if no_body {
        BodyLength::None
    } else {
        BodyLength::Known(body.len() as u64)
    };
    d.send_head(x, conf, head);
    if !no_body && x.head.method != Method::Head && !d.send_body(body).await {
        return Outcome::Close;
    }
    if d.finish().await {
        Outcome::Done
    } else {
        Outcome::Close
    }
}

/// An error or redirect page with nginx's default body.
pub async fn send_error_page<D: Downstream>(
    d: &mut D,
    x: &mut Exchange,
    conf: &LocationConf,
    status: u16,
    headers: Vec<Header>,
) -> Outcome {
    let (status, body) = match super::response::bad_request_reason(status) {
        Some(reason) => (
            400,
            super::response::bad_request_page(reason, conf.server_tokens),
        ),
        None => (status, default_page(status, conf.server_tokens)),
    };
    let head = ResponseHead::new(status, headers, BodyLength::None);
    send_simple(d, x, conf, head, Some("text/html"), &body).await
}

/// Reads a whole body: memory up to `memory_limit` bytes, then a temp file in
/// `temp_dir`.
pub async fn spool<D: Downstream>(
    d: &mut D,
    memory_limit: u64,
    temp_dir: &Path,
) -> Result<SpooledBody, BodyReadError> {
    let mut memory = Vec::new();
    let mut file: Option<(File, u64)> = None;
    loop {
        let n = d.read_body(&mut memory).await?;
        if n == 0 {
            break;
        }
        if file.is_none() && memory.len() as u64 > memory_limit {
            let f = crate::sys::open_temp(temp_dir).map_err(|e| BodyReadError::TempFile {
                path: temp_dir.display().to_string(),
                source: e,
            })?;
            file = Some((f, 0));
        }
        if let Some((f, len)) = &mut file {
            f.write_all(&memory).map_err(|e| BodyReadError::TempFile {
                path: temp_dir.display().to_string(),
                source: e,
            })?;
            *len += memory.len() as u64;
            memory.clear();
        }
    }
    Ok(match file {
        Some((file, len)) => SpooledBody::File { file, len },
        None => SpooledBody::Memory(memory),
    })
}
