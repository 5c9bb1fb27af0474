//! Configuration errors and warnings, worded as nginx words them so that a user's
//! search for the message finds the nginx answer too. Where nginx's words do not name
//! the fix, the variant adds a hint after them.
//!
//! An error is a [`ConfigErrorKind`] plus the [`Span`] it happened at; `Display` gives
//! `unknown directive "foo" in /etc/vestibule/vestibule.conf:12`.

use std::fmt;
use std::path::PathBuf;

use super::source::Span;

/// A line of a `map` block that nginx's `ngx_http_map` refuses, in its words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// Not `KEY VALUE`, nor `hostnames;` / `volatile;` alone.
    #[error("invalid number of the map parameters")]
    ParameterCount,
    #[error("duplicate default map parameter")]
    DuplicateDefault,
    /// The same key twice (case ignored), or `.example.com` beside `example.com`.
    #[error("conflicting parameter \"{0}\"")]
    Conflicting(String),
    /// Under `hostnames`: a `*` other than a leading `*.` or a trailing `.*`.
    #[error("invalid hostname or wildcard \"{0}\"")]
    InvalidWildcard(String),
    /// A line that opens a block.
    #[error("unexpected \"{{\"")]
    UnexpectedBlock,
}

/// What went wrong, without where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    // ---- syntax -------------------------------------------------------------------
    #[error("unexpected \"{0}\"")]
    Unexpected(char),
    #[error("unexpected end of file, expecting \";\" or \"}}\"")]
    UnexpectedEofInDirective,
    #[error("unexpected end of file, expecting \"}}\"")]
    UnexpectedEofInBlock,
    #[error("directive \"{0}\" is not terminated by \";\"")]
    NotTerminated(String),
    #[error("directive \"{0}\" has no opening \"{{\"")]
    NoOpeningBrace(String),
    #[error("configuration text is not valid UTF-8")]
    NotUtf8,
    /// nginx's wording for an unterminated `-g` directive.
    #[error("unexpected end of parameter, expecting \";\"")]
    UnexpectedEndOfParameter,
    #[error("block directives are not supported in -g option")]
    BlockInCommandLine,
    #[error("blocks are nested deeper than {0} levels")]
    BlockTooDeep(usize),

    // ---- files and includes -------------------------------------------------------
    /// `open() "/etc/x" failed (2: No such file or directory)`
    #[error("open() \"{}\" failed ({errno}: {reason})", path.display())]
    Open {
        path: PathBuf,
        errno: i32,
        reason: String,
    },
    #[error("glob() \"{pattern}\" failed: {reason}")]
    Glob { pattern: String, reason: String },
    #[error("include nesting is deeper than {limit} files (is \"{}\" including itself?)", path.display())]
    IncludeTooDeep { path: PathBuf, limit: usize },

    // ---- directive shape ----------------------------------------------------------
    #[error("unknown directive \"{0}\"")]
    UnknownDirective(String),
    #[error("invalid number of arguments in \"{0}\" directive")]
    InvalidArgCount(String),
    #[error("\"{0}\" directive is not allowed here")]
    NotAllowedHere(String),
    #[error("\"{0}\" directive is duplicate")]
    Duplicate(String),
    #[error(
        "\"{directive}\" directive is duplicate, \"{earlier}\" directive was specified earlier"
    )]
    DuplicateWith { directive: String, earlier: String },
    /// An HTTP/2 setting nginx refuses, in its words.
    #[error("{0}")]
    Http2(String),
    /// A `health_check` or `match` that cannot run, with what to do.
    #[error("{0}")]
    Health(String),
    /// A TLS file or setting that cannot serve (nginx's wording where it has one).
    #[error("{0}")]
    Tls(String),
    /// A `limit_req*`/`limit_conn*` value, in nginx's words.
    #[error("{0}")]
    Limit(String),
    /// A `map` block's line.
    #[error(transparent)]
    Map(MapError),
    #[error("\"{0}\" directive is not supported by vestibule yet ({1})")]
    Unsupported(String, &'static str),
    /// An nginx directive vestibule knows of and does not implement, with what to do.
    #[error("\"{0}\" directive is not implemented in vestibule: {1}")]
    NotImplemented(String, &'static str),
    /// `load_module` of a module that is neither vestibule's nor one Debian ships.
    #[error("vestibule loads no dynamic modules and has no {0}: remove the \"load_module\" line")]
    UnknownModule(String),
    /// `$fastcgi_script_name` and the like: a variable of a module vestibule lacks.
    #[error("unknown \"{0}\" variable: {1}")]
    NotImplementedVariable(String, &'static str),

    // ---- values -------------------------------------------------------------------
    /// nginx's message for a bad size or time: `"client_max_body_size" directive invalid value`.
    #[error("\"{0}\" directive invalid value")]
    InvalidValue(String),
    /// A word outside a bitmask directive's list (`keepalive_disable foo`).
    #[error("invalid value \"{0}\"")]
    InvalidBitmaskValue(String),
    #[error("\"{0}\" directive invalid number")]
    InvalidNumber(String),
    /// A `server` parameter the group's balancing method cannot use.
    #[error("balancing method does not support parameter \"{0}\"")]
    BalancingParameter(String),
    /// nginx's `ngx_conf_check_num_bounds` message.
    #[error("value must be between {0} and {1}")]
    ValueBetween(i64, i64),
    #[error(
        "invalid value \"{value}\" in \"{directive}\" directive, it must be \"on\" or \"off\""
    )]
    InvalidFlag { directive: String, value: String },
    #[error("invalid value \"{value}\" in \"{directive}\" directive")]
    InvalidValueIn { directive: String, value: String },
    #[error("invalid parameter \"{0}\"")]
    InvalidParameter(String),
    /// `limit_except` naming a method nginx does not know.
    #[error("invalid method \"{0}\"")]
    InvalidMethod(String),
    /// nginx's `"x" directive ...` messages that are particular to one directive.
    #[error("\"{directive}\" directive {message}")]
    DirectiveSays {
        directive: String,
        message: &'static str,
    },
    #[error("invalid \"{directive}\" parameter \"{value}\"")]
    InvalidParameterOf { directive: String, value: String },
    #[error("\"{directive}\" must have the \"{parameter}\" parameter")]
    MissingParameter {
        directive: String,
        parameter: &'static str,
    },
    /// `disable_symlinks off from=...`.
    #[error("\"from=\" cannot be used with \"off\" parameter")]
    FromWithOff,
    /// `charset` and `source_charset` naming different charsets.
    #[error("no \"charset_map\" between the charsets \"{from}\" and \"{to}\": vestibule does not recode; convert the files (or the application's output) to the charset you declare, and make source_charset name the same one")]
    CharsetRecoding { from: String, to: String },
    #[error("invalid port in \"{value}\" of the \"{directive}\" directive")]
    InvalidPort { directive: String, value: String },
    #[error("invalid port range in \"{value}\" of the \"{directive}\" directive")]
    InvalidPortRange { directive: String, value: String },
    #[error("invalid parameter \"{0}\": a FreeBSD-only listen parameter, which nginx built for Linux does not have either")]
    FreeBsdListenParameter(String),
    #[error("{connections} worker_connections are not enough for {sockets} listening sockets")]
    TooManyListeningSockets { connections: u32, sockets: usize },
    #[error("invalid host in \"{value}\" of the \"{directive}\" directive")]
    InvalidHost { directive: String, value: String },
    #[error("host not found in \"{value}\" of the \"{directive}\" directive")]
    ListenHostNotFound { directive: String, value: String },
    #[error("unknown \"{0}\" variable")]
    UnknownVariable(String),
    #[error("invalid variable name \"{0}\"")]
    InvalidVariableName(String),
    #[error("invalid regex \"{pattern}\": {reason}")]
    InvalidRegex { pattern: String, reason: String },
    #[error("the duplicate \"{0}\" variable")]
    DuplicateVariable(String),

    // ---- rewrite module -----------------------------------------------------------
    #[error("empty replacement")]
    EmptyReplacement,
    #[error("invalid condition \"{0}\"")]
    InvalidCondition(String),
    #[error("unexpected \"{0}\" in condition")]
    UnexpectedInCondition(String),
    #[error("invalid log level \"{0}\"")]
    InvalidLogLevel(String),
    #[error("unknown log format \"{0}\"")]
    UnknownLogFormat(String),
    #[error("duplicate \"log_format\" name \"{0}\"")]
    DuplicateLogFormat(String),
    #[error("invalid return code \"{0}\"")]
    InvalidReturnCode(String),
    #[error("value \"{0}\" must be between 300 and 599")]
    InvalidErrorPageCode(String),
    #[error(
        "user \"{0}\" not found (create it, or name an existing user in the \"user\" directive)"
    )]
    UnknownUser(String),
    #[error("group \"{0}\" not found")]
    UnknownGroup(String),
    /// `set_real_ip_from 10.0.0.0/33`.
    #[error("invalid address \"{value}\" in \"set_real_ip_from\" directive ({hint}; write an address, ADDRESS/PREFIX, a host name or \"unix:\")")]
    InvalidTrustedAddress { value: String, hint: &'static str },
    #[error("host not found in set_real_ip_from \"{0}\"")]
    SetRealIpFromHostNotFound(String),

    // ---- servers, listen, locations -----------------------------------------------
    #[error("a duplicate listen {0}")]
    DuplicateListen(String),
    #[error("duplicate listen options for {0} (give socket options such as \"ipv6only\" or \"backlog\" in one \"listen\" of the address)")]
    DuplicateListenOptions(String),
    #[error("invalid {what} \"{value}\"")]
    InvalidListenParameter { what: &'static str, value: String },
    #[error("invalid ipv6only flags \"{0}\"")]
    InvalidIpv6onlyFlags(String),
    #[error("invalid so_keepalive value: \"{0}\"")]
    InvalidSoKeepalive(String),
    #[error("a duplicate default server for {0}")]
    DuplicateDefaultServer(String),
    #[error("duplicate location \"{0}\"")]
    DuplicateLocation(String),
    #[error("location \"{inner}\" is outside location \"{outer}\"")]
    LocationOutside { inner: String, outer: String },
    #[error("location \"{0}\" cannot be inside the named location")]
    InsideNamedLocation(String),
    #[error("named location \"{0}\" can be on the server level only")]
    NamedLocationNotOnServerLevel(String),
    #[error("location \"{inner}\" cannot be inside the exact location \"{outer}\"")]
    InsideExactLocation { inner: String, outer: String },
    #[error("invalid location modifier \"{0}\"")]
    InvalidLocationModifier(String),
    #[error("empty regex in server name")]
    EmptyServerNameRegex,
    #[error("invalid server name or wildcard \"{0}\"")]
    InvalidServerName(String),

    // ---- proxy and upstream -------------------------------------------------------
    #[error("host not found in upstream \"{0}\"")]
    HostNotFoundInUpstream(String),
    #[error(
        "host not found in upstream \"{0}\" (it names no \"upstream\" block and does not resolve)"
    )]
    ProxyPassHostNotFound(String),
    #[error("invalid URL prefix in \"{0}\" (vestibule proxies to \"http://\" and \"https://\" upstreams)")]
    InvalidUrlPrefix(String),
    #[error("TLS to a unix socket is not implemented in \"{0}\": use \"http://unix:\"")]
    TlsToUnixSocket(String),
    #[error("invalid host in upstream \"{0}\"")]
    InvalidHostInUpstream(String),
    #[error("invalid port in upstream \"{0}\"")]
    InvalidPortInUpstream(String),
    #[error("\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block")]
    ProxyPassUriInRegexLocation,
    #[error("duplicate upstream \"{0}\"")]
    DuplicateUpstream(String),
    #[error("no servers are inside upstream")]
    NoServersInUpstream,
    #[error("\"proxy_redirect default\" cannot be used with \"proxy_pass\" using variables")]
    ProxyRedirectDefault,
}

/// An error and where it happened (`None` for errors with no place, such as a
/// missing main configuration file, which carries its path in the kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub kind: ConfigErrorKind,
    pub span: Option<Span>,
}

impl ConfigError {
    pub fn new(kind: ConfigErrorKind, span: &Span) -> Self {
        ConfigError {
            kind,
            span: Some(span.clone()),
        }
    }

    pub fn without_span(kind: ConfigErrorKind) -> Self {
        ConfigError { kind, span: None }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            Some(span) => write!(f, "{} {}", self.kind, span),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every error found in one load; validation goes on after the first error so the user
/// can fix them all in one edit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn push(&mut self, kind: ConfigErrorKind, span: &Span) {
        self.0.push(ConfigError::new(kind, span));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A `-t` warning: the configuration is valid but probably not what the user meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub message: String,
    pub span: Option<Span>,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            Some(span) => write!(f, "{} {}", self.message, span),
            None => f.write_str(&self.message),
        }
    }
}
