//! Values with nginx variables (`$host`, `${http_x_token}`, `$1`), kept as templates:
//! literal text and variable references, checked at load time (an unknown variable is an
//! error at `-t`, as in nginx) and expanded per request by the layer that serves it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::ConfigErrorKind;

pub mod map;

/// Set once any configuration this process parsed names a `$sent_http_*` variable;
/// until then a response's header lines are not kept for reading back (a copy per
/// response saved). It never goes back to false: a reload that drops the variable
/// only costs the copy.
static SENT_HEADERS_READ: AtomicBool = AtomicBool::new(false);

/// Whether some configuration reads `$sent_http_*` (see [`SENT_HEADERS_READ`]).
pub fn sent_headers_read() -> bool {
    SENT_HEADERS_READ.load(Ordering::Relaxed)
}

/// The same for `$upstream_http_*`: until one is named, the upstream's response
/// headers are moved to the client's response, not copied for reading back.
static UPSTREAM_HEADERS_READ: AtomicBool = AtomicBool::new(false);
static REQUEST_BODY_READ: AtomicBool = AtomicBool::new(false);

/// Whether some configuration reads `$request_body` (the proxy then keeps a copy of a
/// body it read into memory).
pub fn request_body_read() -> bool {
    REQUEST_BODY_READ.load(Ordering::Relaxed)
}

/// Whether some configuration reads `$upstream_http_*`.
pub fn upstream_headers_read() -> bool {
    UPSTREAM_HEADERS_READ.load(Ordering::Relaxed)
}

/// The same for `$request_time` and `$upstream_response_time`: until one is named,
/// a request's start and an upstream's answer are timed on the coarse clock the
/// timeouts use, not read from the precise one (three clock reads per proxied request).
static DURATIONS_READ: AtomicBool = AtomicBool::new(false);

/// Whether some configuration reads `$request_time` or `$upstream_response_time`.
pub fn durations_read() -> bool {
    DURATIONS_READ.load(Ordering::Relaxed)
}

/// Something outside the configuration's variables reads durations too (the
/// metrics' histograms): marks are taken on the precise clock from now on.
pub fn note_durations_read() {
    DURATIONS_READ.store(true, Ordering::Relaxed);
}

/// A variable a template can refer to. The set is nginx's, limited to what vestibule
/// can evaluate; any other name is `unknown "name" variable`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Variable {
    Host,
    /// `$remote_addr`: the client's address, as the realip module left it.
    RemoteAddr,
    /// `$binary_remote_addr`: the client's address in 4 or 16 bytes (`unix:` for a
    /// unix socket client, as nginx).
    BinaryRemoteAddr,
    /// `$limit_rate`: the rate a `set $limit_rate` gave this request (0 otherwise).
    LimitRate,
    /// `$limit_req_status`, `$limit_conn_status`: `PASSED`, `DELAYED`, `REJECTED`,
    /// `DELAYED_DRY_RUN`, `REJECTED_DRY_RUN`; not found before the limits ran.
    LimitReqStatus,
    LimitConnStatus,
    RemotePort,
    RemoteUser,
    /// `$realip_remote_addr`: the connection's own peer address, even when
    /// `set_real_ip_from` let a header replace `$remote_addr`.
    RealipRemoteAddr,
    /// `$realip_remote_port`.
    RealipRemotePort,
    ProxyAddXForwardedFor,
    /// `$proxy_forwarded` (vestibule's own): one RFC 7239 `Forwarded` element,
    /// `for=$remote_addr;proto=$scheme;host=...`, replacing whatever the client sent.
    ProxyForwarded,
    Scheme,
    /// `$https`: `on` over TLS, empty otherwise.
    Https,
    /// `$ssl_protocol`, `$ssl_cipher`, `$ssl_server_name`, `$ssl_session_reused`,
    /// `$ssl_client_verify`, `$ssl_client_s_dn`, `$ssl_client_i_dn`,
    /// `$ssl_client_serial`, `$ssl_alpn_protocol`: not found in plain text.
    Ssl(SslVariable),
    RequestUri,
    /// `$uri` and `$document_uri`: the normalised path, without arguments.
    Uri,
    /// `$args` and `$query_string`.
    Args,
    IsArgs,
    ServerName,
    ServerPort,
    ServerAddr,
    ServerProtocol,
    /// `$http2`: `h2` for a request over HTTP/2 on TLS, `h2c` in plain text, else
    /// empty.
    Http2,
    ProxyHost,
    ProxyPort,
    RequestMethod,
    Request,
    Status,
    BodyBytesSent,
    BytesSent,
    /// `$gzip_ratio`: the body's size over its compressed size, `%.2f`.
    GzipRatio,
    TimeLocal,
    TimeIso8601,
    RequestTime,
    Msec,
    UpstreamAddr,
    UpstreamStatus,
    /// `$upstream_cache_status`: MISS, HIT, EXPIRED, STALE, UPDATING, REVALIDATED,
    /// BYPASS (empty when the cache was not consulted).
    UpstreamCacheStatus,
    UpstreamResponseTime,
    UpstreamConnectTime,
    UpstreamHeaderTime,
    UpstreamBytesSent,
    UpstreamBytesReceived,
    UpstreamResponseLength,
    /// `$connections_active` and friends (stub_status): the server's, all workers.
    Connections(ConnectionsField),
    /// `$upstream_cookie_NAME` (lowercase name).
    UpstreamCookie(String),
    /// `$connection_time`: seconds since the connection was accepted.
    ConnectionTime,
    /// `$request_body`: the body when it was read into memory.
    RequestBody,
    /// `$request_body_file`: never set (bodies go to unlinked temp files).
    RequestBodyFile,
    Connection,
    ConnectionRequests,
    RequestId,
    ContentType,
    ContentLength,
    RequestLength,
    DocumentRoot,
    RealpathRoot,
    RequestFilename,
    Hostname,
    Pid,
    /// `$http_NAME`: a request header; the name is lowercased with `_` for `-`.
    RequestHeader(String),
    /// `$sent_http_NAME`: a response header.
    ResponseHeader(String),
    /// `$upstream_http_NAME`: a header of the upstream's response.
    UpstreamHeader(String),
    /// `$arg_NAME`: a query argument.
    QueryArg(String),
    /// `$cookie_NAME`.
    Cookie(String),
    /// `$1` … `$9`: a capture of the last matched regex.
    Capture(u8),
    /// A named capture `(?<name>…)` of a regex location, server name, `rewrite` or
    /// `if`.
    NamedCapture(String),
    /// A variable made by `set $name ...;` somewhere in the configuration: its slot
    /// in the request's table of values.
    User(UserVar),
    /// The result of a `map` block, evaluated when read (see [`map`]).
    Map(map::MapVar),
}

/// A `set` variable: its slot in a request's values, and its name for messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserVar {
    pub index: usize,
    pub name: std::sync::Arc<str>,
}

/// The names a template may use besides nginx's own variables, collected from the
/// whole configuration before any template is parsed (as nginx resolves variable
/// names only once every module has declared its own): the named captures of every
/// regex, and every variable `set` makes.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub captures: HashSet<String>,
    /// `set` variables by name, each with its slot.
    pub user: HashMap<String, UserVar>,
    /// `map` results by name, each with the map it is filled from once built.
    pub maps: HashMap<String, map::MapVar>,
}

impl Names {
    /// Declares a `set` variable (once per name); returns its slot.
    pub fn declare(&mut self, name: &str) -> UserVar {
        let next = self.user.len();
        self.user
            .entry(name.to_string())
            .or_insert_with(|| UserVar {
                index: next,
                name: std::sync::Arc::from(name),
            })
            .clone()
    }

    /// Declares a `map` result (once per name; a later block for the same name is
    /// the one kept, as in nginx's); returns its slot.
    pub fn declare_map(&mut self, name: &str, at: &super::source::Span) -> map::MapVar {
        use map::{MapSlot, MapVar};
        use std::sync::{Arc, OnceLock};
        let next = self.maps.len();
        let var = self.maps.entry(name.to_string()).or_insert_with(|| MapVar {
            index: next,
            name: Arc::from(name),
            slot: Arc::new(MapSlot {
                last: at.clone(),
                map: OnceLock::new(),
            }),
        });
        if let Some(slot) = Arc::get_mut(&mut var.slot) {
            slot.last = at.clone();
        }
        var.clone()
    }
}

/// The `$ssl_*` variables (nginx's `ngx_http_ssl_module`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SslVariable {
    Protocol,
    Cipher,
    ServerName,
    SessionReused,
    ClientVerify,
    ClientSubject,
    ClientIssuer,
    ClientSerial,
    Alpn,
}

impl Variable {
    /// One of nginx's own variables with a fixed name (`$host`, `$uri`, ...).
    pub fn builtin(name: &str) -> Option<Variable> {
        use Variable::*;
        match name {
            "host" => Some(Host),
            "remote_addr" => Some(RemoteAddr),
            "binary_remote_addr" => Some(BinaryRemoteAddr),
            "limit_rate" => Some(LimitRate),
            "limit_req_status" => Some(LimitReqStatus),
            "limit_conn_status" => Some(LimitConnStatus),
            "remote_port" => Some(RemotePort),
            "remote_user" => Some(RemoteUser),
            "realip_remote_addr" => Some(RealipRemoteAddr),
            "realip_remote_port" => Some(RealipRemotePort),
            "proxy_add_x_forwarded_for" => Some(ProxyAddXForwardedFor),
            "proxy_forwarded" => Some(ProxyForwarded),
            "scheme" => Some(Scheme),
            "https" => Some(Https),
            "ssl_protocol" => Some(Ssl(SslVariable::Protocol)),
            "ssl_cipher" => Some(Ssl(SslVariable::Cipher)),
            "ssl_server_name" => Some(Ssl(SslVariable::ServerName)),
            "ssl_session_reused" => Some(Ssl(SslVariable::SessionReused)),
            "ssl_client_verify" => Some(Ssl(SslVariable::ClientVerify)),
            "ssl_client_s_dn" => Some(Ssl(SslVariable::ClientSubject)),
            "ssl_client_i_dn" => Some(Ssl(SslVariable::ClientIssuer)),
            "ssl_client_serial" => Some(Ssl(SslVariable::ClientSerial)),
            "ssl_alpn_protocol" => Some(Ssl(SslVariable::Alpn)),
            "request_uri" => Some(RequestUri),
            "uri" | "document_uri" => Some(Uri),
            "args" | "query_string" => Some(Args),
            "is_args" => Some(IsArgs),
            "server_name" => Some(ServerName),
            "server_port" => Some(ServerPort),
            "server_addr" => Some(ServerAddr),
            "server_protocol" => Some(ServerProtocol),
            "http2" => Some(Http2),
            "proxy_host" => Some(ProxyHost),
            "proxy_port" => Some(ProxyPort),
            "request_method" => Some(RequestMethod),
            "request" => Some(Request),
            "status" => Some(Status),
            "body_bytes_sent" => Some(BodyBytesSent),
            "bytes_sent" => Some(BytesSent),
            "gzip_ratio" => Some(GzipRatio),
            "time_local" => Some(TimeLocal),
            "time_iso8601" => Some(TimeIso8601),
            "request_time" => Some(RequestTime),
            "msec" => Some(Msec),
            "upstream_addr" => Some(UpstreamAddr),
            "upstream_status" => Some(UpstreamStatus),
            "upstream_cache_status" => Some(UpstreamCacheStatus),
            "upstream_response_time" => Some(UpstreamResponseTime),
            "upstream_connect_time" => Some(UpstreamConnectTime),
            "upstream_bytes_sent" => Some(UpstreamBytesSent),
            "upstream_bytes_received" => Some(UpstreamBytesReceived),
            "upstream_response_length" => Some(UpstreamResponseLength),
            "connections_active" => Some(Connections(ConnectionsField::Active)),
            "connections_reading" => Some(Connections(ConnectionsField::Reading)),
            "connections_writing" => Some(Connections(ConnectionsField::Writing)),
            "connections_waiting" => Some(Connections(ConnectionsField::Waiting)),
            "upstream_header_time" => Some(UpstreamHeaderTime),
            "connection_time" => Some(ConnectionTime),
            "request_body" => {
                REQUEST_BODY_READ.store(true, Ordering::Relaxed);
                Some(RequestBody)
            }
            "request_body_file" => Some(RequestBodyFile),
            "connection" => Some(Connection),
            "connection_requests" => Some(ConnectionRequests),
            "request_id" => Some(RequestId),
            "content_type" => Some(ContentType),
            "content_length" => Some(ContentLength),
            "request_length" => Some(RequestLength),
            "document_root" => Some(DocumentRoot),
            "realpath_root" => Some(RealpathRoot),
            "request_filename" => Some(RequestFilename),
            "hostname" => Some(Hostname),
            "pid" => Some(Pid),
            _ => None,
        }
    }

    /// Resolves a variable name as written after `$`, in nginx's order: its own
    /// variables, then `set` ones (which may shadow a prefixed name such as
    /// `$http_x`), then the prefixed families, captures and named captures.
    pub fn from_name(name: &str, names: &Names) -> Option<Variable> {
        use Variable::*;
        let simple = Variable::builtin(name);
        if matches!(
            simple,
            Some(RequestTime | UpstreamResponseTime | UpstreamConnectTime | UpstreamHeaderTime)
        ) {
            DURATIONS_READ.store(true, Ordering::Relaxed);
        }
        if simple.is_some() {
            return simple;
        }
        if let [d @ b'1'..=b'9'] = name.as_bytes() {
            return Some(Capture(d - b'0'));
        }
        if let Some(var) = names.maps.get(name) {
            return Some(Map(var.clone()));
        }
        if let Some(var) = names.user.get(name) {
            return Some(User(var.clone()));
        }
        type Make = fn(String) -> Variable;
        let prefixed: [(&str, Make); 6] = [
            ("http_", RequestHeader),
            ("sent_http_", ResponseHeader),
            ("upstream_http_", UpstreamHeader),
            ("upstream_cookie_", UpstreamCookie),
            ("arg_", QueryArg),
            ("cookie_", Cookie),
        ];
        for (prefix, make) in prefixed {
            if let Some(rest) = name.strip_prefix(prefix) {
                if !rest.is_empty() {
                    match prefix {
                        "sent_http_" => SENT_HEADERS_READ.store(true, Ordering::Relaxed),
                        "upstream_http_" | "upstream_cookie_" => {
                            UPSTREAM_HEADERS_READ.store(true, Ordering::Relaxed)
                        }
                        _ => {}
                    }
                    return Some(make(rest.to_ascii_lowercase()));
                }
            }
        }
        if names.captures.contains(name) {
            return Some(NamedCapture(name.to_string()));
        }
        None
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Var(Variable),
}

/// A configuration value that may contain variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
    /// The text as written, for messages and `-T`-style output.
    pub source: String,
}

impl Template {
    /// Parses `text`, resolving every `$name` / `${name}`.
    pub fn parse(text: &str, names: &Names) -> Result<Template, ConfigErrorKind> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
                let end = braced
                    .find('}')
                    .ok_or_else(|| ConfigErrorKind::InvalidVariableName(after.to_string()))?;
                (&braced[..end], end + 2)
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                // `$1abc` is capture 1 followed by text, as in nginx.
                let end = if after.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                    1.min(end)
                } else {
                    end
                };
                (&after[..end], end)
            };
            if name.is_empty() {
                return Err(ConfigErrorKind::InvalidVariableName(after.to_string()));
            }
            let var = Variable::from_name(name, names)
                .ok_or_else(|| ConfigErrorKind::UnknownVariable(name.to_string()))?;
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Var(var));
            rest = &after[consumed..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template {
            parts,
            source: text.to_string(),
        })
    }

    /// A template with no variables.
    pub fn literal(text: &str) -> Template {
        let parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![Part::Literal(text.to_string())]
        };
        Template {
            parts,
            source: text.to_string(),
        }
    }

    /// The text when the template has no variables.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(s)] => Some(s),
            _ => None,
        }
    }
}

/// Which `$connections_*` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionsField {
    Active,
    Reading,
    Writing,
    Waiting,
}

/// Gives variables their values for one request; the worker implements it.
pub trait VariableSource {
    /// Appends the value of `var` to `out`. Returns false when the variable has no
    /// value (an absent header, no upstream yet), which access logs print as `-`.
    fn write_variable(&self, var: &Variable, out: &mut Vec<u8>) -> bool;
}

impl Template {
    /// Appends the expanded value; variables without a value expand to nothing.
    pub fn expand(&self, vars: &dyn VariableSource, out: &mut Vec<u8>) {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.extend_from_slice(s.as_bytes()),
                Part::Var(v) => {
                    vars.write_variable(v, out);
                }
            }
        }
    }

    /// Appends the expanded value for a log line: each variable's value passes through
    /// `escape`, and one without a value is written as `-`.
    pub fn expand_for_log(
        &self,
        vars: &dyn VariableSource,
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
        escape: fn(&[u8], &mut Vec<u8>),
    ) {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.extend_from_slice(s.as_bytes()),
                Part::Var(v) => {
                    scratch.clear();
                    if vars.write_variable(v, scratch) && !scratch.is_empty() {
                        escape(scratch, out);
                    } else {
                        out.push(b'-');
                    }
                }
            }
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Template, ConfigErrorKind> {
        let mut names = Names {
            captures: ["name".to_string()].into_iter().collect(),
            ..Names::default()
        };
        names.declare("maintenance");
        names.declare("http_x_shadowed");
        Template::parse(s, &names)
    }

    #[test]
    fn literal_only() {
        let t = parse("plain text").unwrap();
        assert_eq!(t.as_static(), Some("plain text"));
    }

    #[test]
    fn variables_of_every_form() {
        let t = parse("$scheme://${host}:$server_port$request_uri").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Var(Variable::Scheme),
                Part::Literal("://".into()),
                Part::Var(Variable::Host),
                Part::Literal(":".into()),
                Part::Var(Variable::ServerPort),
                Part::Var(Variable::RequestUri),
            ]
        );
    }

    #[test]
    fn prefixed_variables_and_captures() {
        let t = parse("$http_X_Forwarded_For $arg_page $cookie_sid $1x $name").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Var(Variable::RequestHeader("x_forwarded_for".into())),
                Part::Literal(" ".into()),
                Part::Var(Variable::QueryArg("page".into())),
                Part::Literal(" ".into()),
                Part::Var(Variable::Cookie("sid".into())),
                Part::Literal(" ".into()),
                Part::Var(Variable::Capture(1)),
                Part::Literal("x ".into()),
                Part::Var(Variable::NamedCapture("name".into())),
            ]
        );
    }

    #[test]
    fn set_variables_are_known_and_shadow_prefixed_names() {
        let t = parse("$maintenance $http_x_shadowed $http_x_other").unwrap();
        let Part::Var(Variable::User(m)) = &t.parts[0] else {
            panic!("{:?}", t.parts)
        };
        assert_eq!((m.index, &*m.name), (0, "maintenance"));
        assert!(matches!(&t.parts[2], Part::Var(Variable::User(v)) if v.index == 1));
        assert_eq!(
            t.parts[4],
            Part::Var(Variable::RequestHeader("x_other".into()))
        );
        // A digit is always a capture, whatever `set` declared.
        let mut names = Names::default();
        names.declare("1");
        let t = Template::parse("$1", &names).unwrap();
        assert_eq!(t.parts, vec![Part::Var(Variable::Capture(1))]);
    }

    #[test]
    fn unknown_and_malformed_variables() {
        assert_eq!(
            parse("$nosuch").unwrap_err().to_string(),
            "unknown \"nosuch\" variable"
        );
        assert_eq!(
            parse("cost: $").unwrap_err().to_string(),
            "invalid variable name \"\""
        );
        assert_eq!(
            parse("${host").unwrap_err().to_string(),
            "invalid variable name \"{host\""
        );
        assert_eq!(
            parse("$http_").unwrap_err().to_string(),
            "unknown \"http_\" variable"
        );
    }
}
