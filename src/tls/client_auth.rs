//! Client certificates as nginx handles them (`ssl_verify_client`): the handshake
//! asks for a certificate and accepts any the client proves it holds, and the
//! verdict — checked against `ssl_client_certificate`'s CAs right after the
//! handshake — goes to `$ssl_client_verify`. The request, not the handshake, then
//! fails: 496 (no certificate) or 495 (a bad one), answered as nginx's 400 pages,
//! which `error_page 495 496` may replace.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, Error, RootCertStore, SignatureScheme};

use crate::config::model::tls::{ServerTls, VerifyClient};

/// Asks for a client certificate; keeps the CA check for after the handshake.
#[derive(Debug)]
pub struct DeferredVerifier {
    /// The CA check itself (webpki, the configured CAs).
    inner: Arc<dyn ClientCertVerifier>,
}

impl DeferredVerifier {
    /// The verifier for a server, `None` for `ssl_verify_client off`.
    pub fn for_server(tls: &ServerTls) -> Result<Option<Arc<DeferredVerifier>>, Error> {
        if tls.verify_client == VerifyClient::Off {
            return Ok(None);
        }
        let mut roots = RootCertStore::empty();
        for ca in &tls.client_cas {
            roots.add(ca.clone())?;
        }
        let inner = WebPkiClientVerifier::builder(Arc::new(roots))
            .allow_unauthenticated()
            .build()
            .map_err(|e| Error::General(e.to_string()))?;
        Ok(Some(Arc::new(DeferredVerifier { inner })))
    }

    /// `$ssl_client_verify` for the chain a client presented (leaf first).
    pub fn verdict(&self, chain: Option<&[CertificateDer<'static>]>) -> String {
        let Some((leaf, intermediates)) = chain.and_then(|c| c.split_first()) else {
            return "NONE".to_string();
        };
        match self
            .inner
            .verify_client_cert(leaf, intermediates, UnixTime::now())
        {
            Ok(_) => "SUCCESS".to_string(),
            Err(e) => format!("FAILED:{}", reason(&e)),
        }
    }
}

/// OpenSSL's words for the usual failures, so log lines read as nginx's.
fn reason(e: &Error) -> String {
    use rustls::CertificateError as C;
    match e {
        Error::InvalidCertificate(C::UnknownIssuer) => {
            "unable to get local issuer certificate".to_string()
        }
        Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "certificate has expired".to_string()
        }
        Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "certificate is not yet valid".to_string()
        }
        Error::InvalidCertificate(C::BadSignature) => "certificate signature failure".to_string(),
        other => other.to_string(),
    }
}

impl ClientCertVerifier for DeferredVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        // Judged after the handshake (`verdict`); the signature checks below still
        // make the client prove it holds the certificate's key.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The status a request on a connection gets under `ssl_verify_client`, before any
/// phase runs (nginx's `ngx_http_process_request`), with its error-log line; `None`
/// lets it through.
pub fn refusal(mode: VerifyClient, verify: &str) -> Option<(u16, String)> {
    match mode {
        VerifyClient::Off => None,
        VerifyClient::On if verify == "NONE" => Some((
            496,
            "client sent no required SSL certificate while reading client request headers"
                .to_string(),
        )),
        VerifyClient::On | VerifyClient::Optional => verify.strip_prefix("FAILED:").map(|why| {
            (
                495,
                format!(
                    "client SSL certificate verify error: ({why}) while reading client request headers"
                ),
            )
        }),
        // `optional_no_ca`: a certificate no configured CA vouches for goes on.
        VerifyClient::OptionalNoCa => None,
    }
}
