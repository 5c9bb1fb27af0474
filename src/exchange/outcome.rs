//! What a handler reports back to the dispatcher, and nginx's error-log context for a
//! request's lines.

use super::Exchange;

/// What a handler did.
#[derive(Debug)]
pub enum Outcome {
    /// The response is sent (whether the connection goes on is the downstream's
    /// business: [`Downstream::end`](super::Downstream::end)).
    Done,
    /// Nothing is sent yet: answer with this status (`error_page` applies).
    Status(u16),
    /// Close without answering (`return 444`, a client that went away).
    Close,
    /// An internal redirect (`try_files` fallback): a URI or `@named` location.
    Internal(String),
}

/// nginx's error-log context: `, client: A, server: S, request: "R", upstream: "U", host: "H"`.
pub fn context(x: &Exchange, upstream: Option<&str>) -> String {
    let mut s = format!(
        ", client: {}, server: {}, request: \"{}\"",
        x.peer.remote_addr,
        x.server_name,
        x.request_line()
    );
    if let Some(u) = upstream {
        s.push_str(&format!(", upstream: \"{u}\""));
    }
    if let Some(h) = &x.head.host {
        s.push_str(&format!(", host: \"{h}\""));
    }
    s
}

/// What a handler may use of the worker besides the exchange and its downstream: the
/// error log and the configuration the request runs with.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    pub error_log: &'a crate::observe::ErrorLog,
    pub config: &'a crate::config::Config,
}
