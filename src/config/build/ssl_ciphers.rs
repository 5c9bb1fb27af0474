//! OpenSSL's cipher-list language (`ssl_ciphers`) and curve names (`ssl_ecdh_curve`)
//! mapped onto what rustls with aws-lc-rs offers. rustls has six TLS 1.2 suites, all
//! ECDHE with AES-GCM or ChaCha20-Poly1305, and the three TLS 1.3 suites, which
//! OpenSSL's cipher list never touches either. A list is read as OpenSSL reads it —
//! names and aliases joined by `:` (or `,`, or spaces), `A+B` for "both", `!X` removes
//! for good, `-X` removes, `+X` reorders, `@...` sorts — and whatever it asks for that
//! rustls does not have (DHE, CBC, RSA key exchange, ...) is reported, not an error.

use rustls::crypto::aws_lc_rs::{cipher_suite as cs, kx_group, ALL_CIPHER_SUITES};
use rustls::crypto::SupportedKxGroup;
use rustls::SupportedCipherSuite;

/// A TLS 1.2 suite rustls has, its OpenSSL name and the aliases that match it.
struct Suite {
    openssl: &'static str,
    suite: SupportedCipherSuite,
    /// The OpenSSL aliases whose set contains this suite.
    aliases: &'static [&'static str],
}

const COMMON: [&str; 12] = [
    "ALL",
    "DEFAULT",
    "HIGH",
    "ECDHE",
    "EECDH",
    "kECDHE",
    "kEECDH",
    "AEAD",
    "TLSv1.2",
    "FIPS",
    "SSLv3",
    "COMPLEMENTOFALL",
];

const SUITES: &[Suite] = &[
    Suite {
        openssl: "ECDHE-ECDSA-AES128-GCM-SHA256",
        suite: cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        aliases: &["ECDSA", "aECDSA", "AESGCM", "AES", "AES128", "SHA256"],
    },
    Suite {
        openssl: "ECDHE-RSA-AES128-GCM-SHA256",
        suite: cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        aliases: &["aRSA", "AESGCM", "AES", "AES128", "SHA256"],
    },
    Suite {
        openssl: "ECDHE-ECDSA-AES256-GCM-SHA384",
        suite: cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        aliases: &["ECDSA", "aECDSA", "AESGCM", "AES", "AES256", "SHA384"],
    },
    Suite {
        openssl: "ECDHE-RSA-AES256-GCM-SHA384",
        suite: cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        aliases: &["aRSA", "AESGCM", "AES", "AES256", "SHA384"],
    },
    Suite {
        openssl: "ECDHE-ECDSA-CHACHA20-POLY1305",
        suite: cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        aliases: &["ECDSA", "aECDSA", "CHACHA20", "SHA256"],
    },
    Suite {
        openssl: "ECDHE-RSA-CHACHA20-POLY1305",
        suite: cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        aliases: &["aRSA", "CHACHA20", "SHA256"],
    },
];

impl Suite {
    /// Whether one `+`-free term names this suite.
    fn matches(&self, term: &str) -> bool {
        term == self.openssl || COMMON.contains(&term) || self.aliases.contains(&term)
    }

    /// Whether `A+B+...` names this suite (every part does).
    fn matches_all(&self, terms: &str) -> bool {
        terms.split('+').all(|t| self.matches(t))
    }
}

/// What a cipher list came to.
#[derive(Debug)]
pub struct CipherChoice {
    /// The TLS 1.3 suites, then the TLS 1.2 suites in the list's order.
    pub suites: Vec<SupportedCipherSuite>,
    /// The list's names that asked for something rustls does not have, in order.
    pub dropped: Vec<String>,
    /// No TLS 1.2 suite is left.
    pub no_tls12: bool,
}

/// Reads an OpenSSL cipher list.
pub fn ciphers(list: &str) -> CipherChoice {
    let mut chosen: Vec<usize> = Vec::new();
    let mut banned: Vec<usize> = Vec::new();
    let mut dropped = Vec::new();
    for token in list
        .split([':', ',', ' '])
        .filter(|t| !t.is_empty() && !t.starts_with('@'))
    {
        let (op, body) = match token.as_bytes()[0] {
            b'!' | b'-' | b'+' => (token.as_bytes()[0], &token[1..]),
            _ => (b' ', token),
        };
        let hits: Vec<usize> = (0..SUITES.len())
            .filter(|&i| SUITES[i].matches_all(body))
            .collect();
        match op {
            b'!' => {
                banned.extend(&hits);
                chosen.retain(|i| !hits.contains(i));
            }
            b'-' => chosen.retain(|i| !hits.contains(i)),
            // `+X` moves what is chosen to the end: the order among six suites is
            // the client's unless the server's is preferred; kept as written.
            b'+' => {}
            _ => {
                if hits.is_empty() {
                    dropped.push(token.to_string());
                }
                for i in hits {
                    if !banned.contains(&i) && !chosen.contains(&i) {
                        chosen.push(i);
                    }
                }
            }
        }
    }
    let mut suites: Vec<SupportedCipherSuite> = ALL_CIPHER_SUITES
        .iter()
        .copied()
        .filter(|s| s.tls13().is_some())
        .collect();
    suites.extend(chosen.iter().map(|&i| SUITES[i].suite));
    CipherChoice {
        suites,
        dropped,
        no_tls12: chosen.is_empty(),
    }
}

/// nginx's default list, `HIGH:!aNULL:!MD5`: every suite rustls has.
pub fn default_ciphers() -> Vec<SupportedCipherSuite> {
    ciphers("HIGH:!aNULL:!MD5").suites
}

/// `ssl_ecdh_curve auto | NAME[:NAME...]`: the groups rustls offers, and the names it
/// has no group for.
pub fn curves(list: &str) -> (Vec<&'static dyn SupportedKxGroup>, Vec<String>) {
    if list == "auto" {
        return (default_curves(), Vec::new());
    }
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    let mut unknown = Vec::new();
    for name in list.split(':').filter(|n| !n.is_empty()) {
        let group: Option<&'static dyn SupportedKxGroup> = match name {
            "X25519" | "x25519" => Some(kx_group::X25519),
            "prime256v1" | "secp256r1" | "P-256" => Some(kx_group::SECP256R1),
            "secp384r1" | "P-384" => Some(kx_group::SECP384R1),
            "X25519MLKEM768" => Some(kx_group::X25519MLKEM768),
            "SecP256r1MLKEM768" => Some(kx_group::SECP256R1MLKEM768),
            _ => None,
        };
        match group {
            Some(g) if !groups.iter().any(|h| h.name() == g.name()) => groups.push(g),
            Some(_) => {}
            None => unknown.push(name.to_string()),
        }
    }
    (groups, unknown)
}

/// What `auto` means: rustls's defaults (X25519 with ML-KEM first, then X25519, P-256
/// and P-384).
pub fn default_curves() -> Vec<&'static dyn SupportedKxGroup> {
    rustls::crypto::aws_lc_rs::default_provider().kx_groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls12_names(list: &str) -> Vec<String> {
        ciphers(list)
            .suites
            .iter()
            .filter(|s| s.tls13().is_none())
            .map(|s| format!("{:?}", s.suite()))
            .collect()
    }

    #[test]
    fn nginx_default_list_gives_every_suite() {
        let c = ciphers("HIGH:!aNULL:!MD5");
        assert_eq!(c.suites.len(), 9);
        assert!(c.dropped.is_empty());
    }

    #[test]
    fn mozilla_intermediate_drops_the_dhe_names() {
        let c = ciphers(
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305",
        );
        assert_eq!(c.suites.len(), 9);
        assert_eq!(
            c.dropped,
            [
                "DHE-RSA-AES128-GCM-SHA256",
                "DHE-RSA-AES256-GCM-SHA384",
                "DHE-RSA-CHACHA20-POLY1305"
            ]
        );
    }

    #[test]
    fn plus_means_both_and_bang_bans_for_good() {
        assert_eq!(
            tls12_names("EECDH+AESGCM:EDH+AESGCM"),
            [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ]
        );
        assert_eq!(
            tls12_names("!aRSA:HIGH"),
            [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            ]
        );
        assert_eq!(tls12_names("HIGH:-CHACHA20:CHACHA20").len(), 6);
    }

    #[test]
    fn a_list_with_nothing_rustls_has_leaves_tls13_only() {
        let c = ciphers("AES128-SHA:DHE-RSA-AES256-SHA");
        assert!(c.no_tls12);
        assert_eq!(c.suites.len(), 3);
        assert_eq!(c.dropped.len(), 2);
    }

    #[test]
    fn curves_by_openssl_and_nist_names() {
        let (groups, unknown) = curves("X25519:prime256v1:secp384r1:secp521r1");
        assert_eq!(groups.len(), 3);
        assert_eq!(unknown, ["secp521r1"]);
        assert!(!curves("auto").0.is_empty());
    }
}
