//! `proxy_ssl_*`: how vestibule speaks TLS to an `https://` upstream. The files are
//! read and checked when the configuration loads; the proxy builds its rustls client
//! configuration from these settings (src/tls/upstream.rs).

/// A location's upstream TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// `proxy_ssl_verify` (default off, as nginx: any certificate is accepted).
    pub verify: bool,
    /// `proxy_ssl_trusted_certificate`: the CA certificates, PEM.
    pub trusted: Option<Vec<u8>>,
    /// `proxy_ssl_certificate` and `proxy_ssl_certificate_key`, PEM: a client
    /// certificate for upstreams that ask for one.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// `proxy_ssl_protocols`: TLS 1.2, TLS 1.3.
    pub tls12: bool,
    pub tls13: bool,
    /// `proxy_ssl_session_reuse` (default on).
    pub session_reuse: bool,
    /// `proxy_ssl_server_name` (default off): SNI sent.
    pub server_name: bool,
    /// `proxy_ssl_name`: the name verified and sent instead of the URL's host.
    pub name: Option<String>,
}

impl Default for UpstreamTls {
    fn default() -> UpstreamTls {
        UpstreamTls {
            verify: false,
            trusted: None,
            client_cert: None,
            tls12: true,
            tls13: true,
            session_reuse: true,
            server_name: false,
            name: None,
        }
    }
}
