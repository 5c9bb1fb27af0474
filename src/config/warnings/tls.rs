//! `-t` warnings for certificates, beyond nginx (which loads an expired or
//! incomplete chain without a word): each names the fix.
//!
//! - expired, not yet valid, or expiring within [`SOON`];
//! - a chain without its intermediate (a leaf file where `fullchain.pem` belongs);
//! - a `server_name` no certificate of the server covers;
//! - a private key file that every user may read.
//!
//! A key that does not match its certificate is an error, reported by the builder.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::error::ConfigWarning;
use crate::config::model::tls::Certificate;
use crate::config::model::{Server, ServerName};
use crate::tls::x509::{summary, CertSummary};

/// A certificate expiring sooner than this is worth a warning.
pub const SOON: Duration = Duration::from_secs(14 * 86400);

/// The certificate warnings of every server, each file reported once.
pub fn check(servers: &[Server], now: SystemTime) -> Vec<ConfigWarning> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut out = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    for server in servers {
        let mut covered: Vec<String> = Vec::new();
        for cert in &server.tls.certificates {
            let Some(leaf) = cert.key.cert.first().and_then(|c| summary(c.as_ref())) else {
                continue;
            };
            covered.extend(names_of(&leaf));
            if seen.insert(cert.cert_path.clone()) {
                certificate(cert, &leaf, now, &mut out);
            }
            if seen.insert(cert.key_path.clone()) {
                key_file(cert, &mut out);
            }
        }
        if !server.tls.certificates.is_empty() {
            uncovered_names(server, &covered, &mut out);
        }
    }
    out
}

fn warn(out: &mut Vec<ConfigWarning>, cert: &Certificate, message: String) {
    out.push(ConfigWarning {
        message,
        span: Some(cert.span.clone()),
    });
}

/// Validity dates and the chain.
fn certificate(cert: &Certificate, leaf: &CertSummary, now: i64, out: &mut Vec<ConfigWarning>) {
    let path = cert.cert_path.display();
    let day = |t: i64| crate::tls::x509::utc_date(t);
    if leaf.not_after < now {
        warn(
            out,
            cert,
            format!(
                "certificate \"{path}\" expired on {}: clients refuse it; renew it (certbot renew) and reload",
                day(leaf.not_after)
            ),
        );
    } else if leaf.not_before > now {
        warn(
            out,
            cert,
            format!(
                "certificate \"{path}\" is not valid before {}: check the clock, or the file",
                day(leaf.not_before)
            ),
        );
    } else if leaf.not_after - now < SOON.as_secs() as i64 {
        warn(
            out,
            cert,
            format!(
                "certificate \"{path}\" expires on {}, in {} days: renew it (certbot renew)",
                day(leaf.not_after),
                (leaf.not_after - now) / 86400
            ),
        );
    }
    let self_signed = leaf.subject_der == leaf.issuer_der;
    let issuer_in_file = cert
        .key
        .cert
        .iter()
        .skip(1)
        .filter_map(|c| summary(c.as_ref()))
        .any(|c| c.subject_der == leaf.issuer_der);
    if !self_signed && !issuer_in_file {
        warn(
            out,
            cert,
            format!(
                "certificate \"{path}\" has no intermediate: its issuer \"{}\" is not in the file, so clients that do not already have it fail; use the full chain (certbot's fullchain.pem)",
                leaf.issuer
            ),
        );
    }
}

/// A private key others may read.
fn key_file(cert: &Certificate, out: &mut Vec<ConfigWarning>) {
    let Ok(meta) = std::fs::metadata(&cert.key_path) else {
        return;
    };
    if meta.permissions().mode() & 0o004 != 0 {
        warn(
            out,
            cert,
            format!(
                "private key \"{}\" is readable by every user: chmod 600 it (vestibule reads it as root before the workers start)",
                cert.key_path.display()
            ),
        );
    }
}

/// The DNS names a certificate is for: its subjectAltNames, or its CN without them.
fn names_of(leaf: &CertSummary) -> Vec<String> {
    if !leaf.dns_names.is_empty() {
        return leaf.dns_names.clone();
    }
    leaf.subject
        .split(',')
        .filter_map(|rdn| rdn.strip_prefix("CN="))
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether a certificate name covers a host (`*.example.com` one label deep).
fn covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => pattern == host,
    }
}

fn uncovered_names(server: &Server, covered: &[String], out: &mut Vec<ConfigWarning>) {
    for name in &server.server_names {
        let host = match name {
            ServerName::Exact(n) if !n.is_empty() && n != "_" && n != "localhost" => n.clone(),
            ServerName::LeadingWildcard(n) => format!("*{n}"),
            _ => continue,
        };
        let ok = covered
            .iter()
            .any(|c| covers(c, &host) || (host.starts_with("*.") && c == &host));
        if !ok {
            out.push(ConfigWarning {
                message: format!(
                    "no certificate of this server covers server_name \"{host}\" (it has {}): browsers will refuse it; add the name to the certificate (certbot -d {host})",
                    covered.join(", ")
                ),
                span: Some(server.span.clone()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.example.com", "www.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(covers("example.com", "example.com"));
    }
}
