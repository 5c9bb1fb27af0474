//! Request and response heads across the proxy: the request line and headers sent to
//! the upstream (`proxy_set_header`, hop-by-hop removal, `proxy_pass` URI
//! replacement), and the response headers passed back (`proxy_hide_header`,
//! `proxy_pass_header`, `proxy_redirect`). Pure functions over the exchange.

use crate::config::model::{LocationConf, LocationMatch, ProxyPass, ProxyRedirect, RedirectRule};
use crate::config::template::VariableSource;
use crate::exchange::Exchange;
use crate::http1::{headers, write, Header, Version};
use crate::route::RoutedLocation;

/// The request-target sent upstream. Without a URI part in `proxy_pass`, the client's
/// target as it was sent (or `$uri` escaped, once rewritten); with one, the part of
/// the normalised `$uri` that matched the location is replaced by it (then
/// re-escaped, and the arguments appended), exactly as nginx does — unless
/// `rewrite ... break` changed the URI in this location, which sends the whole new
/// `$uri` without the `proxy_pass` URI (nginx's `r->valid_location`).
pub fn upstream_target(
    x: &Exchange,
    location: Option<&RoutedLocation>,
    pass: &ProxyPass,
) -> String {
    // `proxy_pass` with variables: its URI part as it is (nginx adds no arguments).
    if let (true, Some(uri)) = (pass.verbatim_uri, &pass.uri) {
        return uri.clone();
    }
    let replacement = pass
        .uri
        .as_ref()
        .filter(|_| x.valid_location && !pass.verbatim_uri);
    let Some(replacement) = replacement else {
        // Absolute-form targets are sent in origin form.
        let mut t = x.head.path.clone();
        if let Some(q) = &x.head.query {
            t.push('?');
            t.push_str(q);
        }
        return t;
    };
    let prefix_len = match location.map(|l| &l.matcher) {
        Some(LocationMatch::Prefix { path, .. }) | Some(LocationMatch::Exact(path)) => path.len(),
        _ => 0,
    };
    let rest = x.uri.get(prefix_len..).unwrap_or("");
    let mut t = String::with_capacity(replacement.len() + rest.len() + 16);
    t.push_str(replacement);
    crate::uri::escape_path(rest, &mut t);
    if let Some(q) = &x.head.query {
        t.push(if replacement.contains('?') { '&' } else { '?' });
        t.push_str(q);
    }
    t
}

/// Request headers nginx never passes from the client (it sets its own or none).
const NOT_FORWARDED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "expect",
    "te",
    "keep-alive",
    "upgrade",
    "connection",
    "proxy-connection",
];

/// The client's conditional and range fields, not passed when the cache fetches a
/// response it may store (nginx's cache defaults for `proxy_set_header`): the
/// upstream sends the whole response, and the cache answers the client's conditions
/// and ranges itself. A revalidation sends the stored entry's validators instead
/// (`Exchange::cache_validators`). A request the cache will not store (with
/// `Authorization`, or before `proxy_cache_min_uses`) passes them on.
const NOT_FORWARDED_WHEN_CACHING: &[&str] = &[
    "if-modified-since",
    "if-unmodified-since",
    "if-none-match",
    "if-match",
    "range",
    "if-range",
];

/// How the request body is framed for the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// Serialises the request head for the upstream.
pub fn upstream_request_head(
    x: &Exchange,
    conf: &LocationConf,
    target: &str,
    body: RequestBodyFraming,
    keep_alive: bool,
    out: &mut Vec<u8>,
) {
    let version = if conf.proxy.http_version == (1, 0) {
        Version::Http10
    } else {
        Version::Http11
    };
    let shaping = &conf.proxy.shaping;
    match &shaping.method {
        // `proxy_method`: its expansion instead of the client's method.
        Some(m) => {
            let mut name = Vec::new();
            m.expand(x as &dyn VariableSource, &mut name);
            let method = crate::http1::Method::from_token(&String::from_utf8_lossy(&name));
            write::write_request_line(&method, target, version, out);
        }
        None => write::write_request_line(&x.head.method, target, version, out),
    }
    // proxy_set_header, with nginx's `Host $proxy_host` when Host is not set.
    let set = &conf.proxy.set_headers;
    let mut value = Vec::new();
    // `proxy_set_header Connection $connection_upgrade;` (with a `map`) and
    // `proxy_set_header Upgrade $http_upgrade;`, when not empty, replace the lines
    // sent by default.
    let (mut wrote_connection, mut wrote_upgrade) = (false, false);
    if !set.iter().any(|h| h.name.eq_ignore_ascii_case("host")) {
        write::write_known_header(
            "Host",
            x.proxy_host.as_deref().unwrap_or_default().as_bytes(),
            out,
        );
    }
    for h in set {
        value.clear();
        h.value.expand(x as &dyn VariableSource, &mut value);
        // An empty value removes the header, as in nginx.
        if !value.is_empty() {
            write::write_header(&h.name, &value, out);
            wrote_connection |= h.name.eq_ignore_ascii_case("connection");
            wrote_upgrade |= h.name.eq_ignore_ascii_case("upgrade");
        }
    }
    let upgrade = x
        .head
        .upgrade
        .as_deref()
        .filter(|_| version == Version::Http11);
    if let Some(protocol) = upgrade.filter(|_| !wrote_upgrade) {
        write::write_known_header("Upgrade", protocol.as_bytes(), out);
    }
    if !wrote_connection {
        if upgrade.is_some() {
            write::write_known_header("Connection", b"upgrade", out);
        } else if !keep_alive || version == Version::Http10 {
            write::write_known_line(b"Connection: close\r\n", out);
        }
    }
    match body {
        RequestBodyFraming::None => {}
        RequestBodyFraming::Length(n) => {
            write::write_known_header("Content-Length", n.to_string().as_bytes(), out)
        }
        RequestBodyFraming::Chunked => {
            write::write_known_line(b"Transfer-Encoding: chunked\r\n", out)
        }
    }
    // `proxy_pass_request_headers off`: only the lines above.
    let client_lines = if shaping.pass_request_headers {
        &x.head.headers[..]
    } else {
        &[]
    };
    let caching = x.cache_validators.is_some();
    let named = |name: &str| set.iter().any(|s| s.name.eq_ignore_ascii_case(name));
    for h in client_lines {
        let name: &str = &h.name;
        if NOT_FORWARDED.iter().any(|n| n.eq_ignore_ascii_case(name))
            || headers::is_hop_by_hop(name, &x.head.connection_tokens)
            || named(name)
            || (caching
                && NOT_FORWARDED_WHEN_CACHING
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(name)))
        {
            continue;
        }
        write::write_header(&h.name, &h.value, out);
    }
    for h in x
        .cache_validators
        .iter()
        .flatten()
        .filter(|h| !named(&h.name))
    {
        write::write_header(&h.name, &h.value, out);
    }
    write::write_head_end(out);
}

/// What the proxy does with an upstream response header, by its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameClass {
    /// `Content-Length`, `Transfer-Encoding`: vestibule writes its own from the
    /// framing it chooses.
    Reframed,
    /// The other [`headers::HOP_BY_HOP`] fields.
    HopByHop,
    /// Hidden by nginx unless `proxy_pass_header` names it: `Date`, `Server`,
    /// `X-Pad`, `X-Accel-Expires`, `-Redirect`, `-Limit-Rate`, `-Buffering`,
    /// `-Charset`.
    Hidden,
    /// Rewritten by `proxy_redirect`.
    Location,
    Refresh,
    Other,
}

/// The [`NameClass`] of `name` (ASCII case-insensitive). It is compared only with
/// the listed names of its own length: for each header of each proxied response,
/// one test of the length and at most two comparisons, instead of a walk through
/// every list (the unit tests check it against the lists).
fn classify(name: &str) -> NameClass {
    use NameClass::*;
    let is = |listed: &str| name.eq_ignore_ascii_case(listed);
    match name.len() {
        2 if is("te") => HopByHop,
        4 if is("date") => Hidden,
        5 if is("x-pad") => Hidden,
        6 if is("server") => Hidden,
        7 if is("trailer") || is("upgrade") => HopByHop,
        7 if is("refresh") => Refresh,
        8 if is("location") => Location,
        10 if is("connection") || is("keep-alive") => HopByHop,
        14 if is("content-length") => Reframed,
        15 if is("x-accel-expires") || is("x-accel-charset") => Hidden,
        16 if is("proxy-connection") => HopByHop,
        16 if is("x-accel-redirect") => Hidden,
        17 if is("transfer-encoding") => Reframed,
        17 if is("x-accel-buffering") => Hidden,
        18 if is("x-accel-limit-rate") => Hidden,
        _ => Other,
    }
}

/// The upstream's response headers as the client gets them: hop-by-hop and hidden
/// ones removed, `Location` and `Refresh` rewritten by `proxy_redirect`. `Date` and
/// `Server` are the upstream's when `proxy_pass_header` passes them (the caller then
/// skips its own). Filters `upstream` in place: a passed header is not copied.
pub fn client_response_headers(
    upstream: Vec<Header>,
    connection_tokens: &headers::ConnectionTokens,
    x: &Exchange,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
    pass: &ProxyPass,
    switching_protocols: bool,
) -> Vec<Header> {
    let proxy = &conf.proxy;
    // Names compare without lowercasing copies: this runs for every header of every
    // proxied response. `pass_headers` and `hide_headers` hold lowercased names.
    let among = |list: &[&str], name: &str| list.iter().any(|n| n.eq_ignore_ascii_case(name));
    let among_owned =
        |list: &[String], name: &str| list.iter().any(|n| n.eq_ignore_ascii_case(name));
    let mut headers = upstream;
    let shaping_cookies = proxy.shaping.rewrites_cookies();
    headers.retain_mut(|h| {
        let name: &str = &h.name;
        if switching_protocols && among(&["upgrade", "connection"], name) {
            return true;
        }
        let class = classify(name);
        let dropped = match class {
            NameClass::Reframed | NameClass::HopByHop => true,
            NameClass::Hidden => !among_owned(&proxy.pass_headers, name),
            _ => false,
        };
        if dropped || connection_tokens.names(name) || among_owned(&proxy.hide_headers, name) {
            return false;
        }
        if shaping_cookies && h.is("set-cookie") {
            let s = &proxy.shaping;
            if let Some(v) = super::cookies::rewrite(
                &h.value,
                &s.cookie_domain,
                &s.cookie_path,
                x as &dyn VariableSource,
            ) {
                h.value = v.into();
            }
        }
        if matches!(class, NameClass::Location | NameClass::Refresh) {
            let refresh = class == NameClass::Refresh;
            let value = String::from_utf8_lossy(&h.value);
            let rewritten = rewrite_redirect(&value, refresh, x, location, pass, &proxy.redirect);
            h.value = rewritten.into();
        }
        true
    });
    headers
}

/// `proxy_redirect`: the first rule that matches rewrites the URL. In `Refresh`
/// (`5; url=...`) only the URL part is rewritten.
pub fn rewrite_redirect(
    value: &str,
    refresh: bool,
    x: &Exchange,
    location: Option<&RoutedLocation>,
    pass: &ProxyPass,
    redirect: &ProxyRedirect,
) -> String {
    let ProxyRedirect::Rules(rules) = redirect else {
        return value.to_string();
    };
    let (before, url) = if refresh {
        match value.to_ascii_lowercase().find("url=") {
            Some(i) => value.split_at(i + 4),
            None => return value.to_string(),
        }
    } else {
        ("", value)
    };
    for rule in rules {
        let replaced = match rule {
            // nginx has no default rule for a `proxy_pass` with variables.
            RedirectRule::Default if pass.verbatim_uri => None,
            RedirectRule::Default => {
                let (from, to) = default_rule(location, pass);
                url.strip_prefix(from.as_str())
                    .map(|rest| format!("{to}{rest}"))
            }
            RedirectRule::Replace { from, to } => {
                let mut f = Vec::new();
                from.expand(x as &dyn VariableSource, &mut f);
                let f = String::from_utf8_lossy(&f).into_owned();
                url.strip_prefix(f.as_str()).map(|rest| {
                    let mut t = Vec::new();
                    to.expand(x as &dyn VariableSource, &mut t);
                    format!("{}{rest}", String::from_utf8_lossy(&t))
                })
            }
            RedirectRule::Regex { regex, to } => {
                if regex.is_match(url) {
                    let mut t = Vec::new();
                    to.expand(x as &dyn VariableSource, &mut t);
                    Some(
                        regex
                            .replace(url, String::from_utf8_lossy(&t).as_ref())
                            .into_owned(),
                    )
                } else {
                    None
                }
            }
        };
        if let Some(r) = replaced {
            return format!("{before}{r}");
        }
    }
    value.to_string()
}

/// `proxy_redirect default` is `proxy_redirect <proxy_pass URL> <location>`: with a
/// URI part in `proxy_pass`, that URL as written; without, the URL plus the location's
/// prefix.
fn default_rule(location: Option<&RoutedLocation>, pass: &ProxyPass) -> (String, String) {
    let prefix = match location.map(|l| &l.matcher) {
        Some(LocationMatch::Prefix { path, .. }) | Some(LocationMatch::Exact(path)) => path.clone(),
        _ => "/".to_string(),
    };
    match &pass.uri {
        Some(_) => (pass.url.clone(), prefix),
        None => {
            let base = pass.url.trim_end_matches('/');
            (format!("{base}{prefix}"), prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// nginx's lists (`ngx_http_proxy_hide_headers` and the framing and hop-by-hop
    /// fields), which [`classify`] must agree with.
    const HIDDEN_BY_DEFAULT: &[&str] = &[
        "date",
        "server",
        "x-pad",
        "x-accel-expires",
        "x-accel-redirect",
        "x-accel-limit-rate",
        "x-accel-buffering",
        "x-accel-charset",
    ];
    const REFRAMED: &[&str] = &["content-length", "transfer-encoding"];

    /// `x-accel-expires` as `X-Accel-Expires`.
    fn title_case(name: &str) -> String {
        let mut after_dash = true;
        name.chars()
            .map(|c| {
                let out = if after_dash {
                    c.to_ascii_uppercase()
                } else {
                    c
                };
                after_dash = c == '-';
                out
            })
            .collect()
    }

    fn by_the_lists(name: &str) -> NameClass {
        let among = |list: &[&str]| list.iter().any(|n| n.eq_ignore_ascii_case(name));
        if among(REFRAMED) {
            NameClass::Reframed
        } else if among(&headers::HOP_BY_HOP) {
            NameClass::HopByHop
        } else if among(HIDDEN_BY_DEFAULT) {
            NameClass::Hidden
        } else if name.eq_ignore_ascii_case("location") {
            NameClass::Location
        } else if name.eq_ignore_ascii_case("refresh") {
            NameClass::Refresh
        } else {
            NameClass::Other
        }
    }

    #[test]
    fn names_are_classified_as_the_lists_say() {
        let listed = REFRAMED
            .iter()
            .chain(headers::HOP_BY_HOP.iter())
            .chain(HIDDEN_BY_DEFAULT)
            .chain(&["location", "refresh"]);
        let others = [
            "",
            "t",
            "tE",
            "Content-Type",
            "Set-Cookie",
            "Vary",
            "ETag",
            "Expires",
            "Last-Modified",
            "X-Accel-Other",
            "x-accel-",
            "X-Powered-By",
            "Date2",
            "content-lengthx",
            "Connectio",
            "keep_alive",
            "Locations",
        ];
        for name in listed.copied().chain(others) {
            for spelling in [name.to_owned(), name.to_ascii_uppercase(), title_case(name)] {
                assert_eq!(classify(&spelling), by_the_lists(&spelling), "{spelling}");
            }
        }
        assert_eq!(classify("Content-Length"), NameClass::Reframed);
        assert_eq!(classify("Server"), NameClass::Hidden);
        assert_eq!(classify("Content-Type"), NameClass::Other);
    }
}
