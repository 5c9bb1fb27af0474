//! Certificates made at test time with rcgen (no key material in the tree): a test
//! CA, leaf certificates it signs for given names (ECDSA P-256 or RSA-2048), written
//! as PEM files, and rustls client configurations that trust the CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SignatureAlgorithm};

/// The key type of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Ecdsa,
    Rsa,
}

impl Key {
    fn algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            Key::Ecdsa => &rcgen::PKCS_ECDSA_P256_SHA256,
            Key::Rsa => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

/// A certificate authority that signs test certificates.
pub struct Ca {
    pub cert: rcgen::Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ca")
    }
}

/// A signed certificate and its key, as PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `names` (DNS subjectAltNames; the first is also the CN).
    pub fn issue(&self, names: &[&str], key: Key) -> Issued {
        self.issue_with(names, key, |_| {})
    }

    /// [`issue`](Self::issue), with the parameters adjusted first (validity, ...).
    pub fn issue_with(
        &self,
        names: &[&str],
        key: Key,
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Issued {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        adjust(&mut params);
        let pair = KeyPair::generate_for(key.algorithm()).unwrap();
        let cert = params.signed_by(&pair, &self.cert, &self.key).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: pair.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

impl Issued {
    /// Writes `NAME.crt` and `NAME.key` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }
}

/// A client configuration that trusts `ca`, for TLS 1.2 and 1.3 (or only `versions`).
pub fn client_config(ca: &Ca) -> Arc<rustls::ClientConfig> {
    client_config_with(ca, rustls::ALL_VERSIONS, |_| {})
}

/// [`client_config`] with chosen versions and a last adjustment (ALPN, resumption).
pub fn client_config_with(
    ca: &Ca,
    versions: &[&'static rustls::SupportedProtocolVersion],
    adjust: impl FnOnce(&mut rustls::ClientConfig),
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    adjust(&mut config);
    Arc::new(config)
}

/// The DER of the leaf certificate a client was given.
pub fn served_leaf(conn: &rustls::ClientConnection) -> Vec<u8> {
    conn.peer_certificates().unwrap()[0].as_ref().to_vec()
}
