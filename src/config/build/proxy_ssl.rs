//! The `proxy_ssl_*` rows of nginx's `ngx_http_proxy_module`: TLS to `https://`
//! upstreams. Their slots at one level and their merge into [`UpstreamTls`]; the
//! certificate files are read and parsed here, so `-t` names a bad one.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::args::{self, arg, set_once, Kind, NoEffect};
use super::command::{d, Arity::*, Command, HTTP_SRV_LOC};
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::upstream_tls::UpstreamTls;
use crate::config::tree::Directive;

/// The settings written at one level.
#[derive(Debug, Default)]
pub struct ProxySslLayer {
    verify: Option<bool>,
    trusted: Option<Vec<u8>>,
    certificate: Option<Vec<u8>>,
    certificate_key: Option<Vec<u8>>,
    protocols: Option<(bool, bool)>,
    session_reuse: Option<bool>,
    server_name: Option<bool>,
    name: Option<String>,
    no_effect: NoEffect,
}

pub const COMMANDS: &[Command<ProxySslLayer>] = &[
    d(
        "proxy_ssl_verify",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.verify, args::flag(d)),
    ),
    d(
        "proxy_ssl_trusted_certificate",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| {
            let v = pem_file(cx, d, Pem::Certificates);
            set_once(cx, d, &mut s.trusted, v)
        },
    ),
    d(
        "proxy_ssl_certificate",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| {
            let v = pem_file(cx, d, Pem::Certificates);
            set_once(cx, d, &mut s.certificate, v)
        },
    ),
    d(
        "proxy_ssl_certificate_key",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| {
            let v = pem_file(cx, d, Pem::Key);
            set_once(cx, d, &mut s.certificate_key, v)
        },
    ),
    d(
        "proxy_ssl_protocols",
        HTTP_SRV_LOC,
        AtLeast(1),
        |s, d, cx, _| {
            let v = protocols(cx, d);
            set_once(cx, d, &mut s.protocols, v)
        },
    ),
    d(
        "proxy_ssl_session_reuse",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.session_reuse, args::flag(d)),
    ),
    d(
        "proxy_ssl_server_name",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.server_name, args::flag(d)),
    ),
    d("proxy_ssl_name", HTTP_SRV_LOC, Exactly(1), |s, d, cx, _| {
        let v = if arg(d, 0).contains('$') {
            Err(ConfigErrorKind::Unsupported(
                d.name.clone(),
                "variables are not implemented; write the name",
            ))
        } else {
            Ok(arg(d, 0).to_string())
        };
        set_once(cx, d, &mut s.name, v)
    }),
    d(
        "proxy_ssl_verify_depth",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| {
            let why = "rustls checks the whole chain to a trusted certificate";
            s.no_effect.set_kind(cx, d, Kind::Number, Some(why))
        },
    ),
    d(
        "proxy_ssl_ciphers",
        HTTP_SRV_LOC,
        Exactly(1),
        |s, d, cx, _| {
            let why = "rustls offers its own suites, all of them strong";
            s.no_effect.set_kind(cx, d, Kind::Any, Some(why))
        },
    ),
];

#[derive(Clone, Copy)]
enum Pem {
    Certificates,
    Key,
}

/// A PEM file's bytes, checked to hold what the directive needs.
fn pem_file(cx: &mut Builder, d: &Directive, kind: Pem) -> Result<Vec<u8>, ConfigErrorKind> {
    let path = args::path(cx, d, 0);
    let bytes = cx
        .read_file(&path)
        .map_err(|e| ConfigErrorKind::Unsupported(d.name.clone(), leak_reason(&path, &e)))?;
    let ok = match kind {
        Pem::Certificates => CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .is_ok_and(|c| !c.is_empty()),
        Pem::Key => PrivateKeyDer::from_pem_slice(&bytes).is_ok(),
    };
    if ok {
        Ok(bytes)
    } else {
        Err(ConfigErrorKind::InvalidValueIn {
            directive: d.name.clone(),
            value: path.display().to_string(),
        })
    }
}

/// The reason a file could not be read, as the `'static` text an error holds (a
/// configuration load is rare and ends the process or the reload).
fn leak_reason(path: &std::path::Path, e: &std::io::Error) -> &'static str {
    Box::leak(format!("cannot read \"{}\": {e}", path.display()).into_boxed_str())
}

/// `proxy_ssl_protocols`: TLSv1 and TLSv1.1 are dropped with a warning, as for
/// `ssl_protocols`.
fn protocols(cx: &mut Builder, d: &Directive) -> Result<(bool, bool), ConfigErrorKind> {
    let (mut tls12, mut tls13) = (false, false);
    for a in &d.args {
        match a.value.as_str() {
            "TLSv1.2" => tls12 = true,
            "TLSv1.3" => tls13 = true,
            "SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.1" => cx.warn(
                format!(
                    "\"{}\": {} not offered (vestibule speaks TLSv1.2 and TLSv1.3 only)",
                    d.name, a.value
                ),
                &d.span,
            ),
            other => {
                return Err(ConfigErrorKind::InvalidValueIn {
                    directive: d.name.clone(),
                    value: other.to_string(),
                })
            }
        }
    }
    if !tls12 && !tls13 {
        return Err(ConfigErrorKind::Unsupported(
            d.name.clone(),
            "at least one of TLSv1.2 and TLSv1.3 is needed",
        ));
    }
    Ok((tls12, tls13))
}

impl ProxySslLayer {
    fn is_empty(&self) -> bool {
        self.verify.is_none()
            && self.trusted.is_none()
            && self.certificate.is_none()
            && self.certificate_key.is_none()
            && self.protocols.is_none()
            && self.session_reuse.is_none()
            && self.server_name.is_none()
            && self.name.is_none()
    }

    /// Over the parent's settings; a level that writes none shares its parent's.
    pub fn merge(&self, p: &Arc<UpstreamTls>) -> Arc<UpstreamTls> {
        if self.is_empty() {
            return Arc::clone(p);
        }
        let (tls12, tls13) = self.protocols.unwrap_or((p.tls12, p.tls13));
        let client_cert = match (&self.certificate, &self.certificate_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => p.client_cert.clone(),
            // One without the other: nginx needs both; no client certificate is sent.
            _ => None,
        };
        Arc::new(UpstreamTls {
            verify: self.verify.unwrap_or(p.verify),
            trusted: self.trusted.clone().or_else(|| p.trusted.clone()),
            client_cert,
            tls12,
            tls13,
            session_reuse: self.session_reuse.unwrap_or(p.session_reuse),
            server_name: self.server_name.unwrap_or(p.server_name),
            name: self.name.clone().or_else(|| p.name.clone()),
        })
    }
}
