//! What can go wrong talking to an upstream, with who failed, whether another server
//! may be tried (`proxy_next_upstream`), the status the client gets, and nginx's
//! error-log wording (`connect() failed (111: Connection refused) while connecting to
//! upstream`).

use std::io;

use crate::config::model::NextUpstream;
use crate::exchange::{Side, Sided};
use crate::http1::UpstreamHeadError;

/// The phase an upstream error happened in, for the log line's "while ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Sending,
    ReadingHead,
}

impl Phase {
    fn words(self) -> &'static str {
        match self {
            Phase::Connecting => "while connecting to upstream",
            Phase::Sending => "while sending request to upstream",
            Phase::ReadingHead => "while reading response header from upstream",
        }
    }
}

/// A failure before any byte of the response reached the client.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{syscall}{} failed ({errno}: {}) {}", to.as_ref().map(|t| format!(" to {t}")).unwrap_or_default(), crate::sys::strerror(*errno), phase.words())]
    Io {
        syscall: &'static str,
        /// nginx names the socket for unix upstreams: `connect() to unix:/x failed`.
        to: Option<String>,
        errno: i32,
        phase: Phase,
    },
    #[error("upstream timed out (110: Connection timed out) {}", phase.words())]
    Timeout { phase: Phase },
    #[error("upstream prematurely closed connection {}", Phase::ReadingHead.words())]
    ClosedBeforeHead,
    #[error("{} {}", head_words(.0), Phase::ReadingHead.words())]
    InvalidHead(UpstreamHeadError),
    #[error("no live upstreams {}", Phase::Connecting.words())]
    NoLiveUpstreams,
    /// A response whose status `proxy_next_upstream` names (`http_502`, ...): it is
    /// dropped unread and the next server tried. nginx logs no line for it.
    #[error("upstream answered {0}")]
    Status(u16),
    /// The client's side failed while its body was streamed upstream
    /// (`proxy_request_buffering off`): it closed, stalled or sent a bad chunk. The
    /// client gets the body error's status; the upstream did nothing wrong, so it is
    /// neither counted against `max_fails` nor replaced by another server.
    #[error("{0}")]
    ClientBody(crate::exchange::body::BodyReadError),
}

/// A failure while the response body is relayed, after its head reached the client:
/// the client's response is cut short (never presented as complete) and the line
/// goes to the error log.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("upstream sent invalid chunked response ({0}) while reading upstream")]
    InvalidChunk(crate::http1::BodyError),
    #[error("upstream timed out (110: Connection timed out) while reading upstream")]
    Timeout,
    #[error("upstream prematurely closed connection while reading upstream")]
    Closed,
    #[error("recv() failed ({errno}: {}) while reading upstream", crate::sys::strerror(*errno))]
    Recv { errno: i32 },
    /// `proxy_temp_path` could not take the response.
    #[error("could not buffer the response in a temp file: {0}")]
    TempFile(io::Error),
}

impl Sided for RelayError {
    fn side(&self) -> Side {
        match self {
            RelayError::TempFile(_) => Side::Internal,
            _ => Side::Upstream,
        }
    }
}

/// nginx's words for a bad response head, with vestibule's detail in parentheses
/// where nginx adds none to the line: `upstream sent no valid HTTP/1.0 header`,
/// `upstream sent invalid header`, `upstream sent duplicate header line`, ...
/// `upstream sent too big header` stays bare, as nginx writes it.
fn head_words(e: &UpstreamHeadError) -> String {
    match e {
        UpstreamHeadError::TooBig { .. } => e.reason().to_string(),
        other => other.to_string(),
    }
}

impl ProxyError {
    pub fn io(syscall: &'static str, e: &io::Error, phase: Phase) -> ProxyError {
        let errno = e.raw_os_error().unwrap_or(0);
        ProxyError::Io {
            syscall,
            to: None,
            errno,
            phase,
        }
    }

    /// `connect() to unix:/path failed (...)`, as nginx words a unix socket failure.
    pub fn connect_unix(path: &std::path::Path, e: &io::Error) -> ProxyError {
        let errno = e.raw_os_error().unwrap_or(0);
        ProxyError::Io {
            syscall: "connect()",
            to: Some(format!("unix:{}", path.display())),
            errno,
            phase: Phase::Connecting,
        }
    }

    /// 504 for timeouts, the status itself for a retried status, 502 for everything
    /// else (nginx's mapping).
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::Timeout { .. } => 504,
            ProxyError::Status(code) => *code,
            ProxyError::ClientBody(e) => e.status(),
            _ => 502,
        }
    }

    /// Whether the error log gets a line for this error (here; a client body error
    /// is logged by the proxy as the body error it is).
    pub fn is_logged(&self) -> bool {
        !matches!(self, ProxyError::Status(_) | ProxyError::ClientBody(_))
    }

    /// Whether `proxy_next_upstream` allows trying another server after this error.
    pub fn next_upstream_allows(&self, next: &NextUpstream) -> bool {
        if !self.retryable() {
            return false;
        }
        match self {
            ProxyError::Timeout { .. } => next.timeout,
            ProxyError::InvalidHead(_) => next.invalid_header,
            ProxyError::Io { .. } | ProxyError::ClosedBeforeHead => next.error,
            ProxyError::Status(code) => next.retries_status(*code),
            ProxyError::NoLiveUpstreams | ProxyError::ClientBody(_) => false,
        }
    }

    /// Whether the server counts as failed (`max_fails`): only for the upstream's own
    /// failures, and not for an answer of 403 or 404, which only move the request on
    /// (as nginx).
    pub fn counts_as_failure(&self) -> bool {
        self.side() == Side::Upstream && !matches!(self, ProxyError::Status(403 | 404))
    }
}

impl Sided for ProxyError {
    fn side(&self) -> Side {
        match self {
            ProxyError::ClientBody(e) => e.side(),
            ProxyError::NoLiveUpstreams => Side::Internal,
            _ => Side::Upstream,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_in_nginx_words() {
        let refused = ProxyError::io(
            "connect()",
            &io::Error::from_raw_os_error(111),
            Phase::Connecting,
        );
        assert_eq!(
            refused.to_string(),
            "connect() failed (111: Connection refused) while connecting to upstream"
        );
        assert_eq!(refused.status(), 502);
        let denied = ProxyError::connect_unix(
            std::path::Path::new("/run/gunicorn.sock"),
            &io::Error::from_raw_os_error(13),
        );
        assert_eq!(
            denied.to_string(),
            "connect() to unix:/run/gunicorn.sock failed (13: Permission denied) while connecting to upstream"
        );
        let t = ProxyError::Timeout {
            phase: Phase::ReadingHead,
        };
        assert_eq!(t.to_string(), "upstream timed out (110: Connection timed out) while reading response header from upstream");
        assert_eq!(t.status(), 504);
        assert_eq!(
            ProxyError::ClosedBeforeHead.to_string(),
            "upstream prematurely closed connection while reading response header from upstream"
        );
        // (error, how its line starts)
        let heads = [
            (
                UpstreamHeadError::InvalidStatusLine,
                "upstream sent no valid HTTP/1.0 header (",
            ),
            (
                UpstreamHeadError::TooBig { limit: 4096 },
                "upstream sent too big header while reading response header from upstream",
            ),
            (
                UpstreamHeadError::InvalidHeader {
                    line: 2,
                    defect: crate::http1::HeaderDefect::ObsFold,
                },
                "upstream sent invalid header (line 2: ",
            ),
            (
                UpstreamHeadError::DuplicateHeader {
                    name: "Content-Length".into(),
                },
                "upstream sent duplicate header line (",
            ),
            (
                UpstreamHeadError::ContentLengthWithTransferEncoding,
                "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time while reading response header from upstream",
            ),
        ];
        for (e, start) in heads {
            let line = ProxyError::InvalidHead(e).to_string();
            assert!(line.starts_with(start), "{line}");
            assert!(
                line.ends_with(" while reading response header from upstream"),
                "{line}"
            );
        }
        let next = NextUpstream {
            error: true,
            timeout: true,
            ..NextUpstream::default()
        };
        assert!(refused.next_upstream_allows(&next) && t.next_upstream_allows(&next));
        // The side decides who is blamed and whether another server may be asked.
        let aborted = ProxyError::ClientBody(crate::exchange::body::BodyReadError::Closed);
        assert_eq!(aborted.side(), Side::Client);
        assert!(!aborted.counts_as_failure() && !aborted.next_upstream_allows(&next));
        assert_eq!(aborted.status(), 400);
        let temp = ProxyError::ClientBody(crate::exchange::body::BodyReadError::TempFile {
            path: "/tmp".into(),
            source: io::Error::from_raw_os_error(28),
        });
        assert_eq!(temp.side(), Side::Internal);
        assert!(!temp.counts_as_failure() && temp.status() == 500);
        assert_eq!(refused.side(), Side::Upstream);
        assert!(refused.counts_as_failure() && refused.retryable());
        assert!(!ProxyError::Status(404).counts_as_failure());
        assert!(!ProxyError::NoLiveUpstreams.counts_as_failure());
        // Relay failures, in nginx's words, with their side.
        assert_eq!(
            RelayError::Recv { errno: 104 }.to_string(),
            "recv() failed (104: Connection reset by peer) while reading upstream"
        );
        assert_eq!(
            RelayError::Closed.to_string(),
            "upstream prematurely closed connection while reading upstream"
        );
        assert_eq!(RelayError::Timeout.side(), Side::Upstream);
        assert_eq!(
            RelayError::TempFile(io::Error::from_raw_os_error(28)).side(),
            Side::Internal
        );
        assert!(
            !ProxyError::InvalidHead(UpstreamHeadError::InvalidStatusLine)
                .next_upstream_allows(&next)
        );
    }
}
