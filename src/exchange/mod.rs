//! The request exchange, below both the handlers and the connection loops (imports
//! run one way: `worker` → handlers → `exchange`). One request and its response:
//! what arrived, where routing sent it, what went out, and the [`Downstream`]
//! interface through which handlers answer without speaking a protocol. It gives nginx variables their values
//! ([`VariableSource`]), for `proxy_set_header`, `add_header`, `return` and the access log.

pub mod answer;
pub mod body;
pub mod downstream;
pub mod error;
pub mod expires;
pub mod map;
mod outcome;
pub mod peer;
pub mod rate;
pub mod request_id;
pub mod response;
pub mod stopwatch;

use std::rc::Rc;
use std::time::{Duration, SystemTime};

pub use downstream::{Downstream, Upgraded};
pub use error::{Side, Sided};
pub use outcome::{context, Env, Outcome};
pub use peer::Peer;
pub use request_id::RequestId;

use crate::config::model::LocationConf;
use crate::config::template::{ConnectionsField, Variable, VariableSource};
use crate::http1::{headers, Header, RequestHead};
use crate::route::Captures;

/// One attempt to reach an upstream server, for `$upstream_*`.
#[derive(Debug, Clone)]
pub struct UpstreamAttempt {
    pub addr: std::rc::Rc<str>,
    pub status: Option<u16>,
    pub response_time: Duration,
    /// Until the connection was there (0 for a pooled one), `$upstream_connect_time`;
    /// `None` when it failed.
    pub connect_time: Option<Duration>,
    /// Until the response head was read, `$upstream_header_time`.
    pub header_time: Option<Duration>,
    /// `$upstream_bytes_sent`, `$upstream_bytes_received`.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The body's length as decoded, `$upstream_response_length`; `None` until read.
    pub response_length: Option<u64>,
}

/// How much of the request body has been read from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyState {
    /// None of it (or there is none).
    Unread,
    /// All of it: the connection is positioned at the next request.
    Consumed,
    /// Some of it: the connection cannot serve another request.
    Partial,
}

/// A request in flight.
#[derive(Debug)]
pub struct Exchange {
    pub connection: u64,
    pub connection_requests: u64,
    pub peer: Rc<Peer>,
    pub head: RequestHead,
    /// `$uri`: the normalised path; changes on an internal redirect.
    pub uri: String,
    /// `$host`: the Host without port, lowercased, or the server's first name.
    pub host: String,
    /// `$server_name`.
    pub server_name: String,
    /// The captures of the last regex that set them: `$1`..`$9` and named groups.
    pub captures: Option<Captures>,
    /// Captures replaced by a later regex that had named groups: nginx keeps a named
    /// capture as a variable until a later regex with that name sets it again.
    pub earlier_captures: Vec<Captures>,
    /// The values of `set` variables, by slot; empty until a `set` runs.
    pub variables: Vec<Option<Vec<u8>>>,
    /// The values of `map` results read so far, by slot (nginx keeps a variable's
    /// value for the rest of the request unless its map is `volatile`).
    pub map_values: std::cell::RefCell<Vec<map::Cached>>,
    /// nginx's `r->internal`: the URI was rewritten or internally redirected, so an
    /// `internal` location may serve it.
    pub internal: bool,
    /// nginx's `r->valid_location`: false once `rewrite ... break` (or `break` after
    /// a rewrite) changed the URI in the location that serves it, so `proxy_pass`
    /// sends the whole new URI instead of replacing the location's prefix.
    pub valid_location: bool,
    pub start: stopwatch::Mark,
    pub request_id: RequestId,
    /// The status sent (0 until a response head is written).
    pub status: u16,
    /// Set by `error_page`: a page answered with 200 goes out with this status.
    pub status_override: Option<u16>,
    /// A precompressed file (`gzip_static`) exists for this response: it carries
    /// `Vary: Accept-Encoding` under `gzip_vary on`, whichever file is sent.
    pub vary_encoding: bool,
    /// The body's bytes before and after compression, when it was compressed.
    pub compressed: Option<(u64, u64)>,
    /// The request body read whole into memory, kept for `$request_body` when some
    /// configuration reads it.
    pub request_body: Option<Vec<u8>>,
    pub body_bytes_sent: u64,
    pub bytes_sent: u64,
    pub request_length: u64,
    /// Request body bytes read from the client (decoded), for the metrics' bytes in.
    pub body_bytes_received: u64,
    /// The server block that took the request (`HttpConfig::servers` index), once
    /// chosen; before that the address's default one is meant.
    pub server_index: Option<usize>,
    pub body: BodyState,
    pub upstream: Vec<UpstreamAttempt>,
    pub upstream_headers: Vec<Header>,
    /// `$upstream_cache_status`, once the cache was consulted.
    pub cache_status: Option<&'static str>,
    /// Set while the cache fetches a response it may store: the client's conditional
    /// and range fields then stay here (the cache answers them) and these go
    /// upstream instead: the stored entry's validators when the cache revalidates it
    /// (nginx's `$upstream_cache_etag` and `$upstream_cache_last_modified`), else
    /// none.
    pub cache_validators: Option<Vec<crate::http1::Header>>,
    /// The header lines of the response head as sent (`Name: value\r\n` each), for
    /// `$sent_http_*`.
    pub sent_head: Vec<u8>,
    /// `$proxy_host`, shared with the configuration; `None` until the proxy runs.
    pub proxy_host: Option<std::sync::Arc<str>>,
    pub proxy_port: u16,
    pub hostname: Rc<str>,
    /// `$request` as received, for a head cut off by its timeout (`"GET /partial"`);
    /// `None` for a parsed request, whose line is rebuilt from its parts.
    pub raw_request_line: Option<String>,
    /// What the preaccess limits decided (nginx's `r->main->limit_req_status` and
    /// `limit_conn_status`: `$limit_req_status`, `$limit_conn_status`). Once set, an
    /// internal redirect does not count the request again.
    pub limit_req_status: Option<&'static str>,
    pub limit_conn_status: Option<&'static str>,
    /// What the request holds until it ends: `limit_conn` counts, released when the
    /// exchange is dropped (answered, failed or abandoned by the client).
    pub held: Vec<Box<dyn std::fmt::Debug>>,
    /// `set $limit_rate`: the response's rate in bytes per second, over `limit_rate`.
    pub limit_rate: Option<u64>,
    /// The realm of the access phase's 401 (`auth_basic`), sent as
    /// `WWW-Authenticate: Basic realm="..."` with whatever answers the 401.
    pub auth_realm: Option<Vec<u8>>,
}

/// One `$ssl_*` variable of a TLS connection; empty ones (no SNI, no client
/// certificate) are not found, as nginx's.
fn ssl_variable(
    tls: &peer::TlsInfo,
    which: crate::config::template::SslVariable,
    out: &mut Vec<u8>,
) -> bool {
    use crate::config::template::SslVariable::*;
    let text: &str = match which {
        Protocol => tls.protocol,
        Cipher => tls.cipher,
        ServerName => tls.server_name.as_deref().unwrap_or(""),
        SessionReused => {
            return push_str(out, if tls.session_reused { "r" } else { "." });
        }
        ClientVerify => &tls.client_verify,
        ClientSubject => &tls.client_s_dn,
        ClientIssuer => &tls.client_i_dn,
        ClientSerial => &tls.client_serial,
        Alpn => &tls.alpn,
    };
    !text.is_empty() && push_str(out, text)
}

fn push_str(out: &mut Vec<u8>, s: &str) -> bool {
    out.extend_from_slice(s.as_bytes());
    true
}

fn push_display(out: &mut Vec<u8>, v: impl std::fmt::Display) -> bool {
    out.extend_from_slice(v.to_string().as_bytes());
    true
}

/// A port, or nothing for none (a unix socket client, an address from a header
/// without a port), as nginx's `$remote_port`.
fn push_port(out: &mut Vec<u8>, port: u16) -> bool {
    if port != 0 {
        push_display(out, port);
    }
    true
}

fn header_name_matches(wanted: &str, actual: &str) -> bool {
    // `$http_x_real_ip` names `X-Real-IP`: lowercase, `_` for `-`.
    wanted.len() == actual.len()
        && wanted
            .bytes()
            .zip(actual.bytes())
            .all(|(w, a)| w == a.to_ascii_lowercase() || (w == b'_' && a == b'-'))
}

/// `$sent_http_NAME` from the serialised header lines; repeated lines are joined
/// with ", " as `$http_*` does.
fn sent_header_var(lines: &[u8], name: &str, out: &mut Vec<u8>) -> bool {
    let mut found = false;
    for line in lines.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let Ok(line_name) = std::str::from_utf8(&line[..colon]) else {
            continue;
        };
        if header_name_matches(name, line_name) {
            if found {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(line[colon + 1..].trim_ascii());
            found = true;
        }
    }
    found
}

fn header_var(headers: &[Header], name: &str, out: &mut Vec<u8>) -> bool {
    // Repeated headers are joined with ", " as nginx does for `$http_*`
    // (cookies with "; ").
    let sep: &[u8] = if name == "cookie" { b"; " } else { b", " };
    let mut found = false;
    for h in headers
        .iter()
        .filter(|h| header_name_matches(name, &h.name))
    {
        if found {
            out.extend_from_slice(sep);
        }
        out.extend_from_slice(&h.value);
        found = true;
    }
    found
}

fn seconds_ms(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

impl Exchange {
    /// A request just read from `peer`: nothing routed, answered or logged yet. The
    /// connection sets its number, count and server name.
    pub fn new(
        peer: Rc<Peer>,
        head: RequestHead,
        request_length: u64,
        request_id: RequestId,
        hostname: Rc<str>,
    ) -> Exchange {
        Exchange {
            connection: 0,
            connection_requests: 0,
            peer,
            head,
            uri: String::new(),
            host: String::new(),
            server_name: String::new(),
            captures: None,
            earlier_captures: Vec::new(),
            vary_encoding: false,
            compressed: None,
            request_body: None,
            variables: Vec::new(),
            map_values: std::cell::RefCell::default(),
            internal: false,
            valid_location: true,
            start: stopwatch::Mark::now(),
            request_id,
            status: 0,
            status_override: None,
            body_bytes_sent: 0,
            bytes_sent: 0,
            request_length,
            body_bytes_received: 0,
            server_index: None,
            body: BodyState::Unread,
            upstream: Vec::new(),
            upstream_headers: Vec::new(),
            cache_status: None,
            cache_validators: None,
            sent_head: Vec::new(),
            proxy_host: None,
            proxy_port: 0,
            hostname,
            raw_request_line: None,
            limit_req_status: None,
            limit_conn_status: None,
            held: Vec::new(),
            limit_rate: None,
            auth_realm: None,
        }
    }

    /// The peer of the connection itself, even when the realip module replaced the
    /// request's client address (`$realip_remote_addr`).
    pub fn connection_peer(&self) -> &Peer {
        self.peer.realip_original.as_deref().unwrap_or(&self.peer)
    }

    /// The request line, as `$request`.
    /// A redirect's `Location`: with `absolute_redirect` on, a path becomes
    /// `scheme://host[:port]path`, as nginx writes it; anything else is kept as given.
    /// The host is the server's first `server_name` under `server_name_in_redirect
    /// on`, else the request's host (without its port), else — a request without
    /// one — the address the connection came to. The port is left out under
    /// `port_in_redirect off`, when it is the scheme's default, or for a unix socket.
    pub fn redirect_location(&self, conf: &LocationConf, to: &str) -> String {
        if !conf.absolute_redirect || !to.starts_with('/') {
            return to.to_string();
        }
        let scheme = self.peer.scheme;
        let host = if conf.server_name_in_redirect {
            self.server_name.as_str()
        } else if self.head.host.is_some() {
            self.host.as_str()
        } else {
            self.peer.server_addr.as_str()
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        match self.peer.server_port {
            _ if !conf.port_in_redirect => format!("{scheme}://{host}{to}"),
            0 => format!("{scheme}://{host}{to}"),
            port if port == default_port => format!("{scheme}://{host}{to}"),
            port => format!("{scheme}://{host}:{port}{to}"),
        }
    }

    /// `$uri/` with the request's arguments: where a directory requested without its
    /// slash is redirected (a location `/dir/` asked for as `/dir`, or a directory on
    /// disk).
    pub fn directory_uri(&self) -> String {
        let mut to = format!("{}/", self.uri);
        if let Some(q) = &self.head.query {
            to.push('?');
            to.push_str(q);
        }
        to
    }

    pub fn request_line(&self) -> String {
        if let Some(line) = &self.raw_request_line {
            return line.clone();
        }
        format!(
            "{} {} {}",
            self.head.method.as_str(),
            self.head.target,
            self.head.version.as_str()
        )
    }

    fn query_arg(&self, name: &str, out: &mut Vec<u8>) -> bool {
        let Some(q) = &self.head.query else {
            return false;
        };
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k.eq_ignore_ascii_case(name) {
                out.extend_from_slice(v.as_bytes());
                return true;
            }
        }
        false
    }

    fn cookie(&self, name: &str, out: &mut Vec<u8>) -> bool {
        for value in headers::get_all(&self.head.headers, "cookie") {
            let text = String::from_utf8_lossy(value);
            for pair in text.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=') {
                    if k == name {
                        out.extend_from_slice(v.as_bytes());
                        return true;
                    }
                }
            }
        }
        false
    }

    /// A regex of the rewrite module matched with `captures` (`None`: it has no
    /// groups, or it did not match): as nginx, `$1`..`$9` are now only this match's,
    /// while named captures of earlier regexes stay readable until renamed.
    pub fn replace_captures(&mut self, captures: Option<Captures>) {
        if let Some(old) = std::mem::replace(&mut self.captures, captures) {
            if old.names().next().is_some() {
                self.earlier_captures.push(old);
            }
        }
    }

    /// A named capture: from the last regex that has a group of that name.
    fn named_capture(&self, name: &str) -> Option<&str> {
        std::iter::once(&self.captures)
            .flatten()
            .chain(self.earlier_captures.iter().rev())
            .find(|c| c.has_name(name))
            .and_then(|c| c.name(name))
    }

    /// Stores the value of a `set` variable.
    pub fn set_variable(&mut self, index: usize, value: Vec<u8>) {
        if self.variables.len() <= index {
            self.variables.resize(index + 1, None);
        }
        if let Some(slot) = self.variables.get_mut(index) {
            *slot = Some(value);
        }
    }

    /// A `map` result: kept from an earlier read of this request, or evaluated now
    /// with the variables of `vars` (the exchange itself, or a wrapper that adds
    /// `$document_root`); a map that reads itself, directly or through another,
    /// gives no value.
    pub fn map_variable(
        &self,
        var: &crate::config::template::map::MapVar,
        vars: &dyn VariableSource,
        out: &mut Vec<u8>,
    ) -> bool {
        use map::Cached;
        let Some(def) = var.slot.map.get() else {
            return false;
        };
        match self.map_values.borrow().get(var.index) {
            Some(Cached::Done(value)) => {
                out.extend_from_slice(value);
                return true;
            }
            Some(Cached::Evaluating) => return false,
            _ => {}
        }
        let store = |state: Cached| {
            let mut cache = self.map_values.borrow_mut();
            if cache.len() <= var.index {
                cache.resize(var.index + 1, Cached::Unread);
            }
            if let Some(slot) = cache.get_mut(var.index) {
                *slot = state;
            }
        };
        store(Cached::Evaluating);
        let start = out.len();
        map::evaluate(def, vars, out);
        store(if def.volatile {
            Cached::Unread
        } else {
            Cached::Done(out.get(start..).unwrap_or_default().to_vec())
        });
        true
    }

    /// After the URI or the arguments changed: what a proxied request without a URI
    /// in `proxy_pass` sends is the new `$uri`, escaped (nginx's
    /// `valid_unparsed_uri = 0`).
    pub fn target_from_uri(&mut self) {
        self.head.path.clear();
        crate::uri::escape_path(&self.uri, &mut self.head.path);
    }

    fn list<T>(&self, out: &mut Vec<u8>, f: impl Fn(&UpstreamAttempt) -> T) -> bool
    where
        T: std::fmt::Display,
    {
        if self.upstream.is_empty() {
            return false;
        }
        let joined: Vec<String> = self.upstream.iter().map(|a| f(a).to_string()).collect();
        push_str(out, &joined.join(", "))
    }
}

/// `$upstream_cookie_NAME`: the value of the cookie `name` the upstream set.
fn upstream_cookie(headers: &[Header], name: &str, out: &mut Vec<u8>) -> bool {
    for value in crate::http1::headers::get_all(headers, "set-cookie") {
        let first = value.split(|b| *b == b';').next().unwrap_or_default();
        if let Some(eq) = first.iter().position(|b| *b == b'=') {
            if first[..eq]
                .trim_ascii()
                .eq_ignore_ascii_case(name.as_bytes())
            {
                out.extend_from_slice(first[eq + 1..].trim_ascii());
                return true;
            }
        }
    }
    false
}

impl VariableSource for Exchange {
    fn write_variable(&self, var: &Variable, out: &mut Vec<u8>) -> bool {
        use Variable::*;
        match var {
            Host => push_str(out, &self.host),
            RemoteAddr => push_str(out, &self.peer.remote_addr),
            BinaryRemoteAddr => {
                match self.peer.remote_ip {
                    Some(std::net::IpAddr::V4(ip)) => out.extend_from_slice(&ip.octets()),
                    Some(std::net::IpAddr::V6(ip)) => out.extend_from_slice(&ip.octets()),
                    // nginx gives a unix socket client its text address, `unix:`.
                    None => out.extend_from_slice(self.peer.remote_addr.as_bytes()),
                }
                true
            }
            RemotePort => push_port(out, self.peer.remote_port),
            LimitRate => push_display(out, self.limit_rate.unwrap_or(0)),
            LimitReqStatus => self.limit_req_status.is_some_and(|s| push_str(out, s)),
            LimitConnStatus => self.limit_conn_status.is_some_and(|s| push_str(out, s)),
            RealipRemoteAddr => push_str(out, &self.connection_peer().remote_addr),
            RealipRemotePort => push_port(out, self.connection_peer().remote_port),
            // nginx's `$remote_user`: the Basic credentials' user, checked or not.
            RemoteUser => match crate::access::basic::credentials(&self.head.headers) {
                Some(c) => {
                    out.extend_from_slice(&c.user);
                    true
                }
                None => false,
            },
            ProxyAddXForwardedFor => {
                if header_var(&self.head.headers, "x_forwarded_for", out) {
                    out.extend_from_slice(b", ");
                }
                push_str(out, &self.peer.remote_addr)
            }
            ProxyForwarded => {
                let host = self.head.host.as_deref();
                crate::http1::forwarded::write_element(
                    &self.peer.remote_addr,
                    self.peer.scheme,
                    host,
                    out,
                );
                true
            }
            Scheme => push_str(out, self.peer.scheme),
            Https => {
                if self.peer.tls.is_some() {
                    out.extend_from_slice(b"on");
                }
                true
            }
            Ssl(which) => match &self.peer.tls {
                Some(tls) => ssl_variable(tls, *which, out),
                None => false,
            },
            RequestUri => push_str(out, &self.head.target),
            Uri => push_str(out, &self.uri),
            Args => match &self.head.query {
                Some(q) => push_str(out, q),
                None => false,
            },
            IsArgs => {
                if self.head.query.is_some() {
                    out.push(b'?');
                }
                true
            }
            ServerName => push_str(out, &self.server_name),
            ServerPort => push_display(out, self.peer.server_port),
            ServerAddr => push_str(out, &self.peer.server_addr),
            ServerProtocol => push_str(out, self.head.version.as_str()),
            Http2 => match self.head.version {
                crate::http1::Version::Http2 if self.connection_peer().tls.is_some() => {
                    push_str(out, "h2")
                }
                crate::http1::Version::Http2 => push_str(out, "h2c"),
                _ => true,
            },
            ProxyHost => push_str(out, self.proxy_host.as_deref().unwrap_or_default()),
            ProxyPort => push_display(out, self.proxy_port),
            RequestMethod => push_str(out, self.head.method.as_str()),
            Request => push_str(out, &self.request_line()),
            Status => push_display(out, format_args!("{:03}", self.status)),
            BodyBytesSent => push_display(out, self.body_bytes_sent),
            BytesSent => push_display(out, self.bytes_sent),
            GzipRatio => match self.compressed {
                Some((plain, sent)) if sent > 0 => {
                    push_display(out, format_args!("{:.2}", plain as f64 / sent as f64))
                }
                _ => false,
            },
            TimeLocal => push_str(
                out,
                &crate::http1::date::format_time_local(SystemTime::now()),
            ),
            TimeIso8601 => push_str(out, &crate::http1::date::format_iso8601(SystemTime::now())),
            RequestTime => push_str(out, &seconds_ms(self.start.elapsed())),
            Msec => {
                let d = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                push_str(out, &seconds_ms(d))
            }
            UpstreamAddr => self.list(out, |a| a.addr.clone()),
            UpstreamStatus => self.list(out, |a| {
                a.status
                    .map_or_else(|| "502".to_string(), |s| s.to_string())
            }),
            UpstreamCacheStatus => push_str(out, self.cache_status.unwrap_or("")),
            UpstreamResponseTime => self.list(out, |a| seconds_ms(a.response_time)),
            Connections(which) => {
                let t = crate::zone::status::totals();
                let n = match which {
                    ConnectionsField::Active => t.active,
                    ConnectionsField::Reading => t.reading,
                    ConnectionsField::Writing => t.writing,
                    ConnectionsField::Waiting => t.waiting(),
                };
                push_display(out, n)
            }
            UpstreamBytesSent => self.list(out, |a| a.bytes_sent),
            UpstreamBytesReceived => self.list(out, |a| a.bytes_received),
            UpstreamResponseLength => self.list(out, |a| a.response_length.unwrap_or(0)),
            UpstreamConnectTime => self.list(out, |a| match a.connect_time {
                Some(t) => seconds_ms(t).to_string(),
                None => "-".to_string(),
            }),
            UpstreamHeaderTime => self.list(out, |a| match a.header_time {
                Some(t) => seconds_ms(t).to_string(),
                None => "-".to_string(),
            }),
            UpstreamCookie(name) => upstream_cookie(&self.upstream_headers, name, out),
            ConnectionTime => {
                push_display(out, seconds_ms(self.connection_peer().accepted.elapsed()))
            }
            RequestBody => match &self.request_body {
                Some(b) => {
                    out.extend_from_slice(b);
                    true
                }
                None => false,
            },
            // Bodies spill to unlinked temp files, which have no name to give.
            RequestBodyFile => false,
            Connection => push_display(out, self.connection),
            ConnectionRequests => push_display(out, self.connection_requests),
            RequestId => push_str(out, self.request_id.as_str()),
            ContentType => header_var(&self.head.headers, "content_type", out),
            ContentLength => header_var(&self.head.headers, "content_length", out),
            RequestLength => push_display(out, self.request_length),
            DocumentRoot | RealpathRoot | RequestFilename => false,
            Hostname => push_str(out, &self.hostname),
            Pid => push_display(out, std::process::id()),
            RequestHeader(name) if name == "host" => match &self.head.host {
                Some(h) => push_str(out, h),
                None => false,
            },
            RequestHeader(name) => header_var(&self.head.headers, name, out),
            ResponseHeader(name) => sent_header_var(&self.sent_head, name, out),
            UpstreamHeader(name) => header_var(&self.upstream_headers, name, out),
            QueryArg(name) => self.query_arg(name, out),
            Cookie(name) => self.cookie(name, out),
            Capture(i) => match self.captures.as_ref().and_then(|c| c.get(usize::from(*i))) {
                Some(s) => push_str(out, s),
                None => false,
            },
            NamedCapture(name) => match self.named_capture(name) {
                Some(s) => push_str(out, s),
                None => false,
            },
            Map(var) => self.map_variable(var, self, out),
            // An unset variable is empty, not "not found", as nginx's.
            User(var) => {
                if let Some(Some(v)) = self.variables.get(var.index) {
                    out.extend_from_slice(v);
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sent_headers_are_read_back_from_the_written_lines() {
        let lines = b"Server: vestibule\r\nDate: x\r\nSet-Cookie: a=1\r\nX-Trace-Id:  abc \r\nSet-Cookie: b=2\r\n";
        let mut out = Vec::new();
        assert!(super::sent_header_var(lines, "x_trace_id", &mut out));
        assert_eq!(out, b"abc");
        out.clear();
        assert!(super::sent_header_var(lines, "set_cookie", &mut out));
        assert_eq!(out, b"a=1, b=2");
        out.clear();
        assert!(!super::sent_header_var(lines, "content_length", &mut out));
        assert!(out.is_empty());
    }
}
