//! nginx's `ngx_http_realip_module`: `set_real_ip_from ADDRESS | CIDR | HOST | unix:`,
//! `real_ip_header FIELD` and `real_ip_recursive`. Their table, slots and merge;
//! [`RealIpConf`] is what a request sees after the merge (its `Default` is nginx's).

use super::args::{self, arg, set_once};
use super::command::{d, Arity::*, Command, HTTP_SRV_LOC};
use super::proxy_pass::resolve_host;
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::{Cidr, RealIpConf, RealIpHeader, TrustedPeer};
use crate::config::tree::Directive;

/// The realip settings written at one level.
#[derive(Debug, Default)]
pub struct RealIpLayer {
    pub set_real_ip_from: Option<Vec<TrustedPeer>>,
    pub real_ip_header: Option<RealIpHeader>,
    pub real_ip_recursive: Option<bool>,
}

pub const COMMANDS: &[Command<RealIpLayer>] = &[
    d(
        "set_real_ip_from",
        HTTP_SRV_LOC,
        Exactly(1),
        |r, d, cx, _| match set_real_ip_from(cx, d) {
            Ok(entries) => r
                .set_real_ip_from
                .get_or_insert_with(Vec::new)
                .extend(entries),
            Err(kind) => cx.error(kind, &d.span),
        },
    ),
    d("real_ip_header", HTTP_SRV_LOC, Exactly(1), |r, d, cx, _| {
        let v = real_ip_header(d);
        set_once(cx, d, &mut r.real_ip_header, v)
    }),
    d(
        "real_ip_recursive",
        HTTP_SRV_LOC,
        Exactly(1),
        |r, d, cx, _| set_once(cx, d, &mut r.real_ip_recursive, args::flag(d)),
    ),
];

impl RealIpLayer {
    /// Merges this level over its parent's resolved settings.
    pub fn merge(&self, parent: &RealIpConf) -> RealIpConf {
        RealIpConf {
            set_real_ip_from: args::pick_vec(&self.set_real_ip_from, &parent.set_real_ip_from),
            real_ip_header: self
                .real_ip_header
                .clone()
                .unwrap_or_else(|| parent.real_ip_header.clone()),
            real_ip_recursive: self.real_ip_recursive.unwrap_or(parent.real_ip_recursive),
        }
    }
}

/// `set_real_ip_from VALUE`: `unix:`, an address, a network, or a host name resolved
/// now into one entry per address (nginx 1.13.1). Text that can only be meant as an
/// address (digits and dots, or a `:` or `/`) is never looked up, so a typo in a
/// network is reported as such rather than as an unknown host. A network written
/// with bits past its prefix (`10.1.2.3/8`) is accepted with nginx's warning.
fn set_real_ip_from(cx: &mut Builder, d: &Directive) -> Result<Vec<TrustedPeer>, ConfigErrorKind> {
    let value = arg(d, 0);
    if value == "unix:" {
        return Ok(vec![TrustedPeer::Unix]);
    }
    let looks_like_address =
        value.contains([':', '/']) || value.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match Cidr::parse(value) {
        Ok((cidr, low_bits)) => {
            if low_bits {
                cx.warn(
                    format!("low address bits of {value} are meaningless"),
                    &d.span,
                );
            }
            Ok(vec![TrustedPeer::Network(cidr)])
        }
        Err(e) if looks_like_address => Err(ConfigErrorKind::InvalidTrustedAddress {
            value: value.to_string(),
            hint: e.hint(),
        }),
        Err(_) => resolve_host(value, 0)
            .map(|addrs| {
                addrs
                    .into_iter()
                    .map(|a| TrustedPeer::Network(Cidr::host(a.ip())))
                    .collect()
            })
            .ok_or_else(|| ConfigErrorKind::SetRealIpFromHostNotFound(value.to_string())),
    }
}

/// `real_ip_header X-Real-IP | X-Forwarded-For | FIELD`. `proxy_protocol` needs
/// `listen ... proxy_protocol`, which vestibule does not implement.
fn real_ip_header(d: &Directive) -> Result<RealIpHeader, ConfigErrorKind> {
    match arg(d, 0) {
        "proxy_protocol" => Err(ConfigErrorKind::Unsupported(
            "real_ip_header proxy_protocol".to_string(),
            "the PROXY protocol is not implemented; name the header your load balancer sets",
        )),
        "" => Err(ConfigErrorKind::InvalidValueIn {
            directive: d.name.clone(),
            value: String::new(),
        }),
        name => Ok(RealIpHeader::from_directive(name)),
    }
}
