//! `proxy_pass` URLs: `http://HOST[:PORT][/URI]`, `http://unix:/PATH[:/URI]` and
//! `http://NAME[/URI]` naming an `upstream` block. Parsed in two steps, since an
//! `upstream` may be defined after the server that uses it: [`RawProxyPass::parse`]
//! reads the syntax, [`RawProxyPass::resolve`] looks up the group or the host.

use std::net::ToSocketAddrs;
use std::path::PathBuf;

use super::args::arg;
use super::command::Context;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{ProxyPass, ProxyTarget, UpstreamAddr};
use crate::config::source::Span;
use crate::config::tree::Directive;

/// A `proxy_pass` whose target is not yet resolved.
#[derive(Debug, Clone)]
pub struct RawProxyPass {
    pub url: String,
    pub authority: Authority,
    pub uri: Option<String>,
    /// `https://`: TLS to the upstream (`proxy_ssl_*`).
    pub tls: bool,
    pub span: Span,
}

/// The part of the URL between `http://` and the URI.
#[derive(Debug, Clone)]
pub enum Authority {
    /// The URL has variables: it is read per request ([`crate::proxy::dynamic`]).
    Variable(crate::config::template::Template),
    Unix(PathBuf),
    /// A host with an explicit port, or a bare name that may be an `upstream`.
    Host {
        host: String,
        port: Option<u16>,
    },
}

impl RawProxyPass {
    pub fn parse(
        d: &Directive,
        _ctx: Context,
        names: &crate::config::template::Names,
    ) -> Result<RawProxyPass, ConfigErrorKind> {
        let url = arg(d, 0);
        if url.contains('$') {
            let template = crate::config::template::Template::parse(url, names)?;
            return Ok(RawProxyPass {
                url: url.to_string(),
                authority: Authority::Variable(template),
                uri: None,
                tls: false,
                span: d.span.clone(),
            });
        }
        let (authority, uri, tls) = parse_url(url)?;
        Ok(RawProxyPass {
            url: url.to_string(),
            authority,
            uri,
            tls,
            span: d.span.clone(),
        })
    }

    /// The host and port as written in the URL, for messages.
    fn authority_text(&self) -> String {
        let rest = self
            .url
            .get(if self.tls { 8 } else { 7 }..)
            .unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        rest[..end].to_string()
    }

    /// Resolves the target: an `upstream` of that name when no port is given, else the
    /// host's addresses. `upstream_exists` answers whether a group has the name.
    pub fn resolve(
        &self,
        upstream_exists: &dyn Fn(&str) -> bool,
    ) -> Result<ProxyPass, ConfigErrorKind> {
        let (target, proxy_host, proxy_port) = match &self.authority {
            Authority::Variable(t) => (ProxyTarget::Variable(t.clone()), String::new(), 80),
            Authority::Unix(path) => (
                ProxyTarget::Direct(vec![UpstreamAddr::Unix(path.clone())]),
                "localhost".to_string(),
                80,
            ),
            Authority::Host { host, port: None } if upstream_exists(host) => {
                (ProxyTarget::Group(host.clone()), host.clone(), 80)
            }
            Authority::Host { host, port } => {
                let default_port = if self.tls { 443 } else { 80 };
                let port = port.unwrap_or(default_port);
                let addrs = resolve_host(host, port)
                    .ok_or_else(|| ConfigErrorKind::ProxyPassHostNotFound(self.authority_text()))?;
                let proxy_host = if port == default_port {
                    host.clone()
                } else {
                    host_port(host, port)
                };
                (
                    ProxyTarget::Direct(addrs.into_iter().map(UpstreamAddr::Tcp).collect()),
                    proxy_host,
                    port,
                )
            }
        };
        let balancer_key = match &target {
            ProxyTarget::Group(name) => ["upstream ", name.as_str()].concat(),
            ProxyTarget::Direct(_) | ProxyTarget::Variable(_) => self.url.clone(),
        };
        Ok(ProxyPass {
            url: self.url.clone(),
            balancer_key,
            target,
            uri: self.uri.clone(),
            proxy_host: proxy_host.into(),
            proxy_port,
            verbatim_uri: false,
            tls: self.tls.then(|| tls_name(&self.authority)),
        })
    }
}

/// The name a TLS upstream is verified against and, with `proxy_ssl_server_name on`,
/// sent as SNI: the host of the URL (or the group's name), as nginx's default
/// `proxy_ssl_name $proxy_host` without the port.
pub fn tls_name(authority: &Authority) -> String {
    match authority {
        Authority::Host { host, .. } => host.clone(),
        Authority::Unix(_) | Authority::Variable(_) => "localhost".to_string(),
    }
}

/// Reads `http[s]://HOST[:PORT][/URI]` or `http://unix:/PATH[:/URI]`: the authority,
/// the URI part and whether it is `https`. At load time for a literal URL, per request
/// for one with variables.
pub fn parse_url(url: &str) -> Result<(Authority, Option<String>, bool), ConfigErrorKind> {
    let (rest, tls) = match (url.get(..7), url.get(..8)) {
        (Some(scheme), _) if scheme.eq_ignore_ascii_case("http://") => (&url[7..], false),
        (_, Some(scheme)) if scheme.eq_ignore_ascii_case("https://") => (&url[8..], true),
        _ => return Err(ConfigErrorKind::InvalidUrlPrefix(url.to_string())),
    };
    if let Some(path) = rest.strip_prefix("unix:") {
        // `unix:/run/app.sock:/uri` — the URI follows the first `:` after the path.
        let (sock, uri) = match path.find(':') {
            Some(i) => (&path[..i], Some(path[i + 1..].to_string())),
            None => (path, None),
        };
        if sock.is_empty() {
            return Err(ConfigErrorKind::InvalidHostInUpstream(url.to_string()));
        }
        if tls {
            return Err(ConfigErrorKind::TlsToUnixSocket(url.to_string()));
        }
        return Ok((Authority::Unix(PathBuf::from(sock)), uri, tls));
    }
    let (authority, uri) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], Some(rest[i..].to_string())),
        None => (rest, None),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(ConfigErrorKind::InvalidHostInUpstream(url.to_string()));
    }
    let (host, port) = split_host_port(authority)
        .ok_or_else(|| ConfigErrorKind::InvalidPortInUpstream(url.to_string()))?;
    Ok((
        Authority::Host {
            host: host.to_ascii_lowercase(),
            port,
        },
        uri,
        tls,
    ))
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host[:port]` / `[v6][:port]`. `None` on a bad port.
pub fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        let host = &v6[..end];
        let after = &v6[end + 1..];
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(parse_port(p)?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => Some((host, Some(parse_port(p)?))),
        None => Some((authority, None)),
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|n| *n > 0)
}

/// Resolves a host name or address literal at load time, as nginx does.
pub fn resolve_host(host: &str, port: u16) -> Option<Vec<std::net::SocketAddr>> {
    let addrs: Vec<_> = (host, port).to_socket_addrs().ok()?.collect();
    if addrs.is_empty() {
        None
    } else {
        Some(addrs)
    }
}
