//! nginx's `ngx_http_ssl_module`: its table, the slots of one level (http or
//! server), and the merge into a server's [`ServerTls`], which loads the certificates
//! and keys. What rustls cannot do is accepted with a warning that says what happens
//! instead; nothing Debian's stock `nginx.conf` or certbot's `options-ssl-nginx.conf`
//! writes is an error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::SupportedKxGroup;
use rustls::{ProtocolVersion, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::args::{self, arg, set_once};
use super::command::{d, Arity::*, Command, HTTP_SRV};
use super::ssl_ciphers;
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::model::tls::{Certificate, KeyAlgorithm, ServerTls, SessionCache, VerifyClient};
use crate::config::source::Span;
use crate::config::tree::Directive;

/// nginx's `ssl_buffer_size` default, the largest TLS record.
const DEFAULT_BUFFER_SIZE: usize = 16 << 10;
/// `ssl_session_cache builtin` without a size: nginx's 20480 sessions.
const DEFAULT_BUILTIN_SESSIONS: usize = 20480;
/// The smallest `shared:` cache nginx accepts: 8 pages.
const MIN_SHARED_CACHE: u64 = 8 * 4096;

/// A file named by a directive, and where.
type Named = (PathBuf, Span);

/// The ssl settings written at one level.
#[derive(Debug, Default)]
pub struct SslLayer {
    pub ssl: Option<bool>,
    pub certificates: Option<Vec<Named>>,
    pub keys: Option<Vec<Named>>,
    pub protocols: Option<Vec<ProtocolVersion>>,
    pub ciphers: Option<Vec<SupportedCipherSuite>>,
    pub ecdh_curve: Option<Vec<&'static dyn SupportedKxGroup>>,
    pub prefer_server_ciphers: Option<bool>,
    pub session_cache: Option<SessionCache>,
    pub session_timeout: Option<Duration>,
    pub session_tickets: Option<bool>,
    pub ticket_keys: Option<Vec<Named>>,
    pub buffer_size: Option<usize>,
    pub stapling: Option<bool>,
    pub stapling_file: Option<Named>,
    pub verify_client: Option<VerifyClient>,
    pub client_certificate: Option<Named>,
    pub trusted_certificate: Option<Named>,
    pub verify_depth: Option<u32>,
    pub reject_handshake: Option<bool>,
    pub early_data: Option<bool>,
    pub handshake_timeout: Option<Duration>,
}

pub const COMMANDS: &[Command<SslLayer>] = &[
    d("ssl", HTTP_SRV, Exactly(1), |s, d, cx, _| {
        cx.warn(
            "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead"
                .to_string(),
            &d.span,
        );
        set_once(cx, d, &mut s.ssl, args::flag(d))
    }),
    d("ssl_certificate", HTTP_SRV, Exactly(1), |s, d, cx, _| {
        let named = file(cx, d);
        s.certificates.get_or_insert_with(Vec::new).push(named);
    }),
    d(
        "ssl_certificate_key",
        HTTP_SRV,
        Exactly(1),
        |s, d, cx, _| {
            let named = file(cx, d);
            s.keys.get_or_insert_with(Vec::new).push(named);
        },
    ),
    d("ssl_password_file", HTTP_SRV, Exactly(1), |_, d, cx, _| {
        cx.error(
            ConfigErrorKind::Unsupported(
                d.name.clone(),
                "encrypted keys are not supported; decrypt the key once with \"openssl pkey -in KEY -out KEY.plain\", keep it readable by root only",
            ),
            &d.span,
        )
    }),
    d("ssl_dhparam", HTTP_SRV, Exactly(1), |_, d, cx, _| {
        cx.warn(
            "\"ssl_dhparam\" has no effect: vestibule offers no DHE cipher suites, only ECDHE"
                .to_string(),
            &d.span,
        )
    }),
    d("ssl_protocols", HTTP_SRV, AtLeast(1), |s, d, cx, _| {
        let v = protocols(cx, d);
        set_once(cx, d, &mut s.protocols, v)
    }),
    d("ssl_ciphers", HTTP_SRV, Exactly(1), |s, d, cx, _| {
        let choice = ssl_ciphers::ciphers(arg(d, 0));
        if !choice.dropped.is_empty() {
            cx.warn(
                format!(
                    "\"ssl_ciphers\": {} match no cipher suite vestibule offers (rustls has ECDHE with AES-GCM and ChaCha20-Poly1305 only), dropped",
                    choice.dropped.join(":")
                ),
                &d.span,
            );
        }
        if choice.no_tls12 {
            cx.warn(
                "\"ssl_ciphers\" leaves no TLSv1.2 cipher suite: only TLSv1.3 clients can connect"
                    .to_string(),
                &d.span,
            );
        }
        set_once(cx, d, &mut s.ciphers, Ok(choice.suites))
    }),
    d("ssl_ecdh_curve", HTTP_SRV, Exactly(1), |s, d, cx, _| {
        let (groups, unknown) = ssl_ciphers::curves(arg(d, 0));
        if !unknown.is_empty() {
            cx.warn(
                format!(
                    "\"ssl_ecdh_curve\": {} not offered (vestibule has X25519, prime256v1, secp384r1 and X25519MLKEM768)",
                    unknown.join(":")
                ),
                &d.span,
            );
        }
        let v = if groups.is_empty() {
            Err(ConfigErrorKind::InvalidValueIn {
                directive: d.name.clone(),
                value: arg(d, 0).to_string(),
            })
        } else {
            Ok(groups)
        };
        set_once(cx, d, &mut s.ecdh_curve, v)
    }),
    d(
        "ssl_prefer_server_ciphers",
        HTTP_SRV,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.prefer_server_ciphers, args::flag(d)),
    ),
    d(
        "ssl_session_cache",
        HTTP_SRV,
        Between(1, 2),
        |s, d, cx, _| {
            let v = session_cache(d);
            if let Ok(SessionCache {
                shared: Some((name, size)),
                ..
            }) = &v
            {
                cx.declare_zone(name, *size, &d.span);
            }
            set_once(cx, d, &mut s.session_cache, v)
        },
    ),
    d(
        "ssl_session_timeout",
        HTTP_SRV,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.session_timeout, args::time(d, 0)),
    ),
    d(
        "ssl_session_tickets",
        HTTP_SRV,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.session_tickets, args::flag(d)),
    ),
    d(
        "ssl_session_ticket_key",
        HTTP_SRV,
        Exactly(1),
        |s, d, cx, _| {
            let named = file(cx, d);
            s.ticket_keys.get_or_insert_with(Vec::new).push(named);
        },
    ),
    d("ssl_buffer_size", HTTP_SRV, Exactly(1), |s, d, cx, _| {
        let v = args::size(d, 0).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        set_once(cx, d, &mut s.buffer_size, v)
    }),
    d("ssl_stapling", HTTP_SRV, Exactly(1), |s, d, cx, _| {
        set_once(cx, d, &mut s.stapling, args::flag(d))
    }),
    d("ssl_stapling_file", HTTP_SRV, Exactly(1), |s, d, cx, _| {
        let v = Ok(file(cx, d));
        set_once(cx, d, &mut s.stapling_file, v)
    }),
    d(
        "ssl_stapling_verify",
        HTTP_SRV,
        Exactly(1),
        |_, d, cx, _| {
            if let Err(kind) = args::flag(d) {
                cx.error(kind, &d.span);
            }
        },
    ),
    d(
        "ssl_stapling_responder",
        HTTP_SRV,
        Exactly(1),
        |_, d, cx, _| {
            cx.warn(
            "\"ssl_stapling_responder\" has no effect: vestibule does not fetch OCSP responses; give one with \"ssl_stapling_file\"".to_string(),
            &d.span,
        )
        },
    ),
    d(
        "ssl_trusted_certificate",
        HTTP_SRV,
        Exactly(1),
        |s, d, cx, _| {
            let v = Ok(file(cx, d));
            set_once(cx, d, &mut s.trusted_certificate, v)
        },
    ),
    d(
        "ssl_client_certificate",
        HTTP_SRV,
        Exactly(1),
        |s, d, cx, _| {
            let v = Ok(file(cx, d));
            set_once(cx, d, &mut s.client_certificate, v)
        },
    ),
    d("ssl_verify_client", HTTP_SRV, Exactly(1), |s, d, cx, _| {
        let v = match arg(d, 0) {
            "off" => Ok(VerifyClient::Off),
            "on" => Ok(VerifyClient::On),
            "optional" => Ok(VerifyClient::Optional),
            "optional_no_ca" => Ok(VerifyClient::OptionalNoCa),
            other => Err(ConfigErrorKind::InvalidValueIn {
                directive: d.name.clone(),
                value: other.to_string(),
            }),
        };
        set_once(cx, d, &mut s.verify_client, v)
    }),
    d("ssl_verify_depth", HTTP_SRV, Exactly(1), |s, d, cx, _| {
        cx.warn(
            "\"ssl_verify_depth\" has no effect: a client chain is checked up to the configured CAs whatever its length".to_string(),
            &d.span,
        );
        set_once(cx, d, &mut s.verify_depth, args::number(d, 0))
    }),
    d("ssl_crl", HTTP_SRV, Exactly(1), |_, d, cx, _| {
        cx.warn(
            "\"ssl_crl\" has no effect: client certificates are not checked against revocation lists".to_string(),
            &d.span,
        )
    }),
    d("ssl_ocsp", HTTP_SRV, Exactly(1), |_, d, cx, _| {
        if arg(d, 0) != "off" {
            cx.warn(
                "\"ssl_ocsp\" has no effect: client certificates are not checked with OCSP"
                    .to_string(),
                &d.span,
            )
        }
    }),
    d("ssl_early_data", HTTP_SRV, Exactly(1), |s, d, cx, _| {
        let v = args::flag(d);
        if v == Ok(true) {
            cx.warn(
                "\"ssl_early_data on\": vestibule does not accept 0-RTT data; clients send their first request after the handshake, which is always safe to replay-protect".to_string(),
                &d.span,
            );
        }
        set_once(cx, d, &mut s.early_data, v)
    }),
    d("ssl_conf_command", HTTP_SRV, Exactly(2), |_, d, cx, _| {
        cx.warn(
            format!(
                "\"ssl_conf_command {}\" has no effect: it is an OpenSSL command and vestibule uses rustls",
                arg(d, 0)
            ),
            &d.span,
        )
    }),
    d(
        "ssl_reject_handshake",
        HTTP_SRV,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.reject_handshake, args::flag(d)),
    ),
    d(
        "ssl_handshake_timeout",
        HTTP_SRV,
        Exactly(1),
        |s, d, cx, _| set_once(cx, d, &mut s.handshake_timeout, args::time(d, 0)),
    ),
];

/// A file argument, relative to the configuration directory as nginx's (`ssl_*`
/// files are found beside `nginx.conf`, not under the prefix).
fn file(cx: &Builder, d: &Directive) -> Named {
    (cx.conf_path(arg(d, 0)), d.span.clone())
}

/// `ssl_protocols`: TLSv1.2 and TLSv1.3 are offered; older ones are dropped with a
/// warning, an unknown name is an error (as nginx's).
fn protocols(cx: &mut Builder, d: &Directive) -> Result<Vec<ProtocolVersion>, ConfigErrorKind> {
    let mut out = Vec::new();
    let mut dropped = Vec::new();
    for a in &d.args {
        match a.value.as_str() {
            "TLSv1.2" => out.push(ProtocolVersion::TLSv1_2),
            "TLSv1.3" => out.push(ProtocolVersion::TLSv1_3),
            old @ ("SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.1") => dropped.push(old),
            other => {
                return Err(ConfigErrorKind::InvalidValueIn {
                    directive: d.name.clone(),
                    value: other.to_string(),
                })
            }
        }
    }
    if !dropped.is_empty() {
        cx.warn(
            format!(
                "\"ssl_protocols\": {} not offered (vestibule speaks TLSv1.2 and TLSv1.3 only)",
                dropped.join(" ")
            ),
            &d.span,
        );
    }
    if out.is_empty() {
        return Err(ConfigErrorKind::Unsupported(
            d.name.clone(),
            "it names no protocol vestibule offers; write TLSv1.2 TLSv1.3",
        ));
    }
    Ok(out)
}

/// `ssl_session_cache off | none | [builtin[:SIZE]] [shared:NAME:SIZE]`.
fn session_cache(d: &Directive) -> Result<SessionCache, ConfigErrorKind> {
    let invalid = |v: &str| ConfigErrorKind::InvalidValueIn {
        directive: d.name.clone(),
        value: v.to_string(),
    };
    let mut cache = SessionCache::default();
    for a in &d.args {
        let v = a.value.as_str();
        match v {
            "off" | "none" if d.args.len() == 1 => cache.off = v == "off",
            "builtin" => cache.builtin = Some(DEFAULT_BUILTIN_SESSIONS),
            _ => {
                if let Some(n) = v.strip_prefix("builtin:") {
                    let n = n.parse::<usize>().map_err(|_| invalid(v))?;
                    cache.builtin = Some(n);
                } else if let Some(rest) = v.strip_prefix("shared:") {
                    let (name, size) = rest.rsplit_once(':').ok_or_else(|| invalid(v))?;
                    let size = crate::config::value::parse_size(size)
                        .filter(|s| *s >= MIN_SHARED_CACHE)
                        .ok_or_else(|| invalid(v))?;
                    if name.is_empty() {
                        return Err(invalid(v));
                    }
                    let size = usize::try_from(size).map_err(|_| invalid(v))?;
                    cache.shared = Some((name.to_string(), size));
                } else {
                    return Err(invalid(v));
                }
            }
        }
    }
    Ok(cache)
}

impl SslLayer {
    /// Whether `ssl on;` applies at this level or the parent's.
    pub fn legacy_on(&self, parent: &SslLayer) -> bool {
        self.ssl.or(parent.ssl).unwrap_or(false)
    }

    /// Merges a server's settings over the http level's and loads what they name.
    /// `listens_ssl`: a `listen ... ssl` of this server (or `ssl on`), which needs a
    /// certificate. Errors are reported at the directive's place.
    pub fn merge(
        &self,
        http: &SslLayer,
        cx: &mut Builder,
        listens_ssl: Option<&Span>,
    ) -> ServerTls {
        let certs = self.certificates.as_ref().or(http.certificates.as_ref());
        let keys = self.keys.as_ref().or(http.keys.as_ref());
        let reject_handshake = self
            .reject_handshake
            .or(http.reject_handshake)
            .unwrap_or(false);
        let mut certificates = Vec::new();
        let certs: &[Named] = certs.map_or(&[], Vec::as_slice);
        let keys: &[Named] = keys.map_or(&[], Vec::as_slice);
        for (i, (cert, span)) in certs.iter().enumerate() {
            let Some((key, _)) = keys.get(i) else {
                cx.error(
                    ConfigErrorKind::Tls(format!(
                        "no \"ssl_certificate_key\" is defined for certificate \"{}\"",
                        cert.display()
                    )),
                    span,
                );
                continue;
            };
            if let Some(c) = cx.certificate(cert, key, span) {
                certificates.push(c);
            }
        }
        if let (Some(span), true) = (listens_ssl, certs.is_empty() && !reject_handshake) {
            cx.error(
                ConfigErrorKind::Tls(
                    "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive"
                        .to_string(),
                ),
                span,
            );
        }
        let pick = |own: Option<bool>, parent: Option<bool>, default: bool| {
            own.or(parent).unwrap_or(default)
        };
        let stapling = pick(self.stapling, http.stapling, false);
        let stapling_file = self.stapling_file.as_ref().or(http.stapling_file.as_ref());
        let ocsp = match (stapling, stapling_file) {
            (true, Some((path, span))) => cx.read_data(path, span, "ssl_stapling_file"),
            _ => None,
        };
        if stapling && stapling_file.is_none() {
            if let Some(span) = listens_ssl {
                cx.warn(
                    "\"ssl_stapling\" ignored: vestibule does not fetch OCSP responses; give one with \"ssl_stapling_file\"".to_string(),
                    span,
                );
            }
        }
        let certificates = match &ocsp {
            Some(der) => certificates
                .into_iter()
                .map(|mut c| {
                    let mut key = (*c.key).clone();
                    key.ocsp = Some(der.clone());
                    c.key = Arc::new(key);
                    c
                })
                .collect(),
            None => certificates,
        };
        let mut client_cas = Vec::new();
        for named in [&self.client_certificate, &http.client_certificate]
            .into_iter()
            .flatten()
            .take(1)
            .chain(
                [&self.trusted_certificate, &http.trusted_certificate]
                    .into_iter()
                    .flatten()
                    .take(1),
            )
        {
            client_cas.extend(cx.certificates_in(&named.0, &named.1));
        }
        let verify_client = self
            .verify_client
            .or(http.verify_client)
            .unwrap_or_default();
        if matches!(verify_client, VerifyClient::On | VerifyClient::Optional)
            && client_cas.is_empty()
        {
            if let Some(span) = listens_ssl {
                cx.error(
                    ConfigErrorKind::Tls(
                        "no ssl_client_certificate for ssl_verify_client".to_string(),
                    ),
                    span,
                );
            }
        }
        let mut ticket_keys = Vec::new();
        for (path, span) in self
            .ticket_keys
            .as_ref()
            .or(http.ticket_keys.as_ref())
            .into_iter()
            .flatten()
        {
            if let Some(bytes) = cx.read_data(path, span, "ssl_session_ticket_key") {
                if bytes.len() == 48 || bytes.len() == 80 {
                    ticket_keys.push(bytes);
                } else {
                    cx.error(
                        ConfigErrorKind::Tls(format!(
                            "\"{}\" must be 48 or 80 bytes",
                            path.display()
                        )),
                        span,
                    );
                }
            }
        }
        ServerTls {
            certificates,
            protocols: self
                .protocols
                .clone()
                .or_else(|| http.protocols.clone())
                .unwrap_or_else(|| vec![ProtocolVersion::TLSv1_2, ProtocolVersion::TLSv1_3]),
            cipher_suites: self
                .ciphers
                .clone()
                .or_else(|| http.ciphers.clone())
                .unwrap_or_else(ssl_ciphers::default_ciphers),
            kx_groups: self
                .ecdh_curve
                .clone()
                .or_else(|| http.ecdh_curve.clone())
                .unwrap_or_else(ssl_ciphers::default_curves),
            prefer_server_ciphers: pick(
                self.prefer_server_ciphers,
                http.prefer_server_ciphers,
                false,
            ),
            session_cache: self
                .session_cache
                .clone()
                .or_else(|| http.session_cache.clone())
                .unwrap_or_default(),
            session_timeout: self
                .session_timeout
                .or(http.session_timeout)
                .unwrap_or(Duration::from_secs(300)),
            session_tickets: pick(self.session_tickets, http.session_tickets, true),
            ticket_keys,
            buffer_size: self
                .buffer_size
                .or(http.buffer_size)
                .unwrap_or(DEFAULT_BUFFER_SIZE),
            ocsp,
            verify_client,
            client_cas,
            verify_depth: self.verify_depth.or(http.verify_depth).unwrap_or(1),
            reject_handshake,
            legacy_ssl_on: self.legacy_on(http),
            handshake_timeout: self.handshake_timeout.or(http.handshake_timeout),
        }
    }
}

impl Builder {
    /// Loads a certificate chain and its key, once per pair in a build (servers that
    /// inherit the http level's share it). A failure is reported once, at `span`.
    pub(super) fn certificate(
        &mut self,
        cert: &std::path::Path,
        key: &std::path::Path,
        span: &Span,
    ) -> Option<Certificate> {
        let pair = (cert.to_path_buf(), key.to_path_buf());
        if let Some(found) = self.loaded_certificates.get(&pair) {
            return found.clone();
        }
        let loaded = self.load_certificate(cert, key, span);
        self.loaded_certificates.insert(pair, loaded.clone());
        loaded
    }

    fn load_certificate(
        &mut self,
        cert_path: &std::path::Path,
        key_path: &std::path::Path,
        span: &Span,
    ) -> Option<Certificate> {
        let fail = |cx: &mut Builder, what: &str, path: &std::path::Path, why: String| {
            cx.error(
                ConfigErrorKind::Tls(format!("cannot load {what} \"{}\": {why}", path.display())),
                span,
            );
            None
        };
        let cert_pem = match self.read_file(cert_path) {
            Ok(b) => b,
            Err(e) => return fail(self, "certificate", cert_path, io_reason(&e)),
        };
        let chain: Vec<CertificateDer<'static>> =
            match CertificateDer::pem_slice_iter(&cert_pem).collect::<Result<Vec<_>, _>>() {
                Ok(c) if !c.is_empty() => c,
                Ok(_) => {
                    return fail(
                        self,
                        "certificate",
                        cert_path,
                        "no \"BEGIN CERTIFICATE\" block in the file".to_string(),
                    )
                }
                Err(e) => return fail(self, "certificate", cert_path, format!("bad PEM: {e}")),
            };
        let key_pem = match self.read_file(key_path) {
            Ok(b) => b,
            Err(e) => return fail(self, "certificate key", key_path, io_reason(&e)),
        };
        if key_pem
            .windows(b"ENCRYPTED".len())
            .any(|w| w == b"ENCRYPTED")
        {
            return fail(
                self,
                "certificate key",
                key_path,
                "the key is encrypted; vestibule needs it unencrypted (openssl pkey -in KEY -out PLAIN)".to_string(),
            );
        }
        let key_der = match PrivateKeyDer::from_pem_slice(&key_pem) {
            Ok(k) => k,
            Err(e) => {
                return fail(
                    self,
                    "certificate key",
                    key_path,
                    format!("no PKCS#1, PKCS#8 or SEC1 private key in the file ({e})"),
                )
            }
        };
        let signing = match rustls::crypto::aws_lc_rs::sign::any_supported_type(&key_der) {
            Ok(k) => k,
            Err(e) => return fail(self, "certificate key", key_path, e.to_string()),
        };
        let algorithm = match signing.algorithm() {
            rustls::SignatureAlgorithm::ECDSA => KeyAlgorithm::Ecdsa,
            rustls::SignatureAlgorithm::ED25519 => KeyAlgorithm::Ed25519,
            rustls::SignatureAlgorithm::RSA => KeyAlgorithm::Rsa,
            _ => KeyAlgorithm::Other,
        };
        let key = rustls::sign::CertifiedKey::new(chain, signing);
        if key.keys_match().is_err() {
            return fail(
                self,
                "certificate",
                cert_path,
                format!(
                    "the key \"{}\" does not match the certificate (was the key replaced without the certificate, or the other way round?)",
                    key_path.display()
                ),
            );
        }
        Some(Certificate {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            key: Arc::new(key),
            algorithm,
            span: span.clone(),
        })
    }

    /// The certificates of a PEM file (client CAs), reported at `span` when unreadable.
    fn certificates_in(
        &mut self,
        path: &std::path::Path,
        span: &Span,
    ) -> Vec<CertificateDer<'static>> {
        let Some(pem) = self.read_data(path, span, "certificate") else {
            return Vec::new();
        };
        match CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>() {
            Ok(c) if !c.is_empty() => c,
            _ => {
                self.error(
                    ConfigErrorKind::Tls(format!(
                        "cannot load certificate \"{}\": no \"BEGIN CERTIFICATE\" block in the file",
                        path.display()
                    )),
                    span,
                );
                Vec::new()
            }
        }
    }

    /// A data file's bytes, or an error at `span` naming `what`.
    fn read_data(&mut self, path: &std::path::Path, span: &Span, what: &str) -> Option<Vec<u8>> {
        match self.read_file(path) {
            Ok(b) => Some(b),
            Err(e) => {
                self.error(
                    ConfigErrorKind::Tls(format!(
                        "cannot load {what} \"{}\": {}",
                        path.display(),
                        io_reason(&e)
                    )),
                    span,
                );
                None
            }
        }
    }
}

/// nginx's `(2: No such file or directory)` form.
fn io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(errno) => format!("open() failed ({errno}: {})", crate::sys::strerror(errno)),
        None => e.to_string(),
    }
}
