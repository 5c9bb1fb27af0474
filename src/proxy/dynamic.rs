//! `proxy_pass` with variables (`set $backend app:8000; proxy_pass http://$backend;`):
//! the URL expanded per request and read as nginx reads it — an `upstream` group of
//! that name (no port given), an address, a unix socket, or a name the location's
//! `resolver` looks up ([`crate::net::dns`]). Its URI part, when it has one, is sent as
//! it is; without one the client's URI goes.

use crate::config::build::{parse_proxy_url, ProxyUrlAuthority};
use crate::config::model::{LocationConf, ProxyPass, ProxyTarget, UpstreamAddr};
use crate::config::template::{Template, VariableSource};
use crate::config::Config;
use crate::exchange::{context, Env, Exchange, Outcome};
use crate::net::dns::DnsCache;

/// The target this request's expansion of `url` names, or the status to answer with
/// (its reason logged as nginx logs it).
pub async fn target(
    x: &Exchange,
    env: Env<'_>,
    conf: &LocationConf,
    url: &Template,
    dns: &DnsCache,
) -> Result<ProxyPass, Outcome> {
    let mut raw = Vec::new();
    url.expand(x as &dyn VariableSource, &mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (authority, uri, tls) = match parse_proxy_url(&text) {
        Ok(v) => v,
        Err(e) => {
            env.error_log.error(
                Some(x.connection),
                &format!("{e} in upstream \"{text}\"{}", context(x, None)),
            );
            return Err(Outcome::Status(500));
        }
    };
    let name = crate::config::build::proxy_tls_name(&authority);
    let (target, proxy_host, port) = match authority {
        ProxyUrlAuthority::Unix(path) => (
            ProxyTarget::Direct(vec![UpstreamAddr::Unix(path)]),
            "localhost".to_string(),
            80,
        ),
        ProxyUrlAuthority::Host { host, port: None } if group_exists(env.config, &host) => {
            (ProxyTarget::Group(host.clone()), host, 80)
        }
        ProxyUrlAuthority::Host { host, port } => {
            let default_port = if tls { 443 } else { 80 };
            let port = port.unwrap_or(default_port);
            let shown = if port == default_port {
                host.clone()
            } else if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let ips = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => lookup(x, env, conf, &host, dns).await?,
            };
            let addrs = ips
                .into_iter()
                .map(|ip| UpstreamAddr::Tcp((ip, port).into()))
                .collect();
            (ProxyTarget::Direct(addrs), shown, port)
        }
        ProxyUrlAuthority::Variable(_) => return Err(Outcome::Status(500)),
    };
    // The balancer state follows what this lookup gave: another address list (a DNS
    // change, another socket, another scheme's port) is another key.
    let balancer_key = match &target {
        ProxyTarget::Group(name) => ["upstream ", name.as_str()].concat(),
        ProxyTarget::Direct(addrs) => {
            let mut names: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            names.sort();
            format!("dynamic {}", names.join(","))
        }
        ProxyTarget::Variable(_) => return Err(Outcome::Status(500)),
    };
    Ok(ProxyPass {
        url: text,
        target,
        uri,
        proxy_host: proxy_host.into(),
        proxy_port: port,
        balancer_key,
        verbatim_uri: true,
        tls: tls.then_some(name),
    })
}

fn group_exists(config: &Config, name: &str) -> bool {
    config
        .http
        .as_ref()
        .is_some_and(|h| h.upstream(name).is_some())
}

/// A name's addresses from the location's resolver; 502 with nginx's lines when there
/// is none or it does not answer.
async fn lookup(
    x: &Exchange,
    env: Env<'_>,
    conf: &LocationConf,
    host: &str,
    dns: &DnsCache,
) -> Result<Vec<std::net::IpAddr>, Outcome> {
    let Some(resolver) = conf.resolver.as_deref() else {
        env.error_log.error(
            Some(x.connection),
            &format!("no resolver defined to resolve {host}{}", context(x, None)),
        );
        return Err(Outcome::Status(502));
    };
    match dns.resolve(host, resolver).await {
        Ok(ips) => Ok(ips),
        Err(e) => {
            let code = match e {
                crate::net::dns::DnsError::TimedOut => 110,
                _ => 3,
            };
            env.error_log.error(
                Some(x.connection),
                &format!(
                    "{host} could not be resolved ({code}: {e}){}",
                    context(x, None)
                ),
            );
            Err(Outcome::Status(502))
        }
    }
}
