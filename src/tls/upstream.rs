//! TLS to upstreams (`proxy_pass https://`): the rustls client configuration a
//! location's `proxy_ssl_*` settings give, and the handshake. As nginx by default,
//! the server's certificate is not checked unless `proxy_ssl_verify on` (then against
//! `proxy_ssl_trusted_certificate` and `proxy_ssl_name`), and SNI is sent only with
//! `proxy_ssl_server_name on`. The handshake's signatures are always verified.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::model::upstream_tls::UpstreamTls;
use crate::net::stream::{Stream, UpstreamTlsStream};

/// The client configuration for `settings`; the files were checked at load time, so
/// an error here is a certificate and key that do not belong together.
pub fn client_config(settings: &UpstreamTls) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if settings.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if settings.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)?;
    let builder = if settings.verify {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(settings.trusted.as_deref().unwrap_or_default())
            .flatten()
        {
            roots.add(cert)?;
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
    };
    let mut config = match &settings.client_cert {
        Some((chain, key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(chain).flatten().collect();
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    config.enable_sni = settings.server_name;
    if !settings.session_reuse {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// A worker's client configurations, one per distinct `proxy_ssl_*` settings, kept
/// across reloads that leave the settings as they were (so sessions resume).
#[derive(Debug, Default)]
pub struct ClientConfigs {
    built: std::cell::RefCell<Vec<(Arc<UpstreamTls>, Arc<ClientConfig>)>>,
}

/// At most this many are kept; past it the list starts over.
const MAX_CONFIGS: usize = 64;

impl ClientConfigs {
    pub fn get(&self, settings: &Arc<UpstreamTls>) -> Result<Arc<ClientConfig>, rustls::Error> {
        if let Some((_, c)) = self
            .built
            .borrow()
            .iter()
            .find(|(s, _)| Arc::ptr_eq(s, settings) || **s == **settings)
        {
            return Ok(Arc::clone(c));
        }
        let config = client_config(settings)?;
        let mut built = self.built.borrow_mut();
        if built.len() >= MAX_CONFIGS {
            built.clear();
        }
        built.push((Arc::clone(settings), Arc::clone(&config)));
        Ok(config)
    }
}

/// TLS over a connected TCP stream to an upstream, verified against (and with SNI
/// naming) `name`.
pub async fn connect(
    config: Arc<ClientConfig>,
    name: &str,
    tcp: monoio::net::TcpStream,
) -> std::io::Result<Stream> {
    let io = tcp.try_into_poll_io().map_err(|(e, _)| e)?;
    let server_name = ServerName::try_from(name.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tls: UpstreamTlsStream = tokio_rustls::TlsConnector::from(config)
        .connect(server_name, io)
        .await?;
    Ok(Stream::TlsUpstream(Box::new(tls)))
}

/// `proxy_ssl_verify off`: any certificate, as nginx's default. The handshake's
/// signatures are still checked, so the peer holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
