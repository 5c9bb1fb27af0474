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

/// A PKCS#8 PEM key rewritten in its traditional form: `RSA PRIVATE KEY` (PKCS#1)
/// or `EC PRIVATE KEY` (SEC1, with the P-256 curve named as OpenSSL writes it).
pub fn traditional_key_pem(pkcs8_pem: &str, label: &str) -> String {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(pkcs8_pem.as_bytes()).unwrap();
    // PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING }
    let (info, _) = der_element(der.secret_pkcs8_der());
    let (_version, rest) = der_element(info);
    let (_algorithm, rest) = der_element(rest);
    let (inner, _) = der_element(rest);
    let key = if label == "EC PRIVATE KEY" {
        // ECPrivateKey ::= SEQUENCE { version, privateKey, [0] parameters, [1] publicKey }
        let (seq, _) = der_element(inner);
        let (version_len, private_len) = (element_len(seq), element_len(&seq[element_len(seq)..]));
        let head = &seq[..version_len + private_len];
        let tail = &seq[version_len + private_len..];
        let tail = if tail.first() == Some(&0xa0) {
            &tail[element_len(tail)..]
        } else {
            tail
        };
        const P256: &[u8] = &[
            0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
        ];
        let body = [head, P256, tail].concat();
        der_wrap(0x30, &body)
    } else {
        inner.to_vec()
    };
    let b64 = base64(&key);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The body of the DER element at the start of `der`, and what follows it.
fn der_element(der: &[u8]) -> (&[u8], &[u8]) {
    let (header, len) = der_header(der);
    (&der[header..header + len], &der[header + len..])
}

/// The whole length (header and body) of the DER element at the start of `der`.
fn element_len(der: &[u8]) -> usize {
    let (header, len) = der_header(der);
    header + len
}

fn der_header(der: &[u8]) -> (usize, usize) {
    let first = der[1];
    if first < 0x80 {
        return (2, usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    let len = der[2..2 + n]
        .iter()
        .fold(0usize, |a, &b| (a << 8) | usize::from(b));
    (2 + n, len)
}

fn der_wrap(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if body.len() < 0x80 {
        out.push(body.len() as u8);
    } else if body.len() < 0x100 {
        out.extend_from_slice(&[0x81, body.len() as u8]);
    } else {
        out.extend_from_slice(&[0x82, (body.len() >> 8) as u8, body.len() as u8]);
    }
    out.extend_from_slice(body);
    out
}

fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The directives of certbot 2.1's `options-ssl-nginx.conf`, which it installs into its
/// configuration directory and includes (the one it picks for `nginx/1.25.5` built with OpenSSL
/// 1.1.1 or later; docs/cli.md).
pub const OPTIONS_SSL_NGINX: &str = r#"# The settings certbot 2.1 installs (its comment header left out).

ssl_session_cache shared:le_nginx_SSL:10m;
ssl_session_timeout 1440m;
ssl_session_tickets off;

ssl_protocols TLSv1.2 TLSv1.3;
ssl_prefer_server_ciphers off;

ssl_ciphers "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
"#;

/// certbot's `ssl-dhparams.pem`: RFC 7919's ffdhe2048 group (public parameters).
pub const SSL_DHPARAMS: &str = "-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
";
