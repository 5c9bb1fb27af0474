//! HTTP/2 settings of a server: nginx's `ngx_http_v2_module` directives, merged http →
//! server (`http2_chunk_size` also per location, in [`super::LocationConf`]).

/// nginx's defaults.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 128;
pub const DEFAULT_BODY_PREREAD_SIZE: u64 = 64 * 1024;
pub const DEFAULT_CHUNK_SIZE: u64 = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http2Conf {
    /// `http2 on` (nginx 1.25.1): this server speaks HTTP/2 on its TLS addresses
    /// (ALPN `h2`) and to clients that open with the HTTP/2 preface on its plain ones.
    /// `listen ... http2` does the same for every server of that address.
    pub enabled: bool,
    /// `http2_max_concurrent_streams` (128).
    pub max_concurrent_streams: u32,
    /// `http2_body_preread_size` (64k): each stream's initial receive window, so at
    /// most this much of a request body arrives before a handler reads it.
    pub body_preread_size: u64,
}

impl Default for Http2Conf {
    fn default() -> Http2Conf {
        Http2Conf {
            enabled: false,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            body_preread_size: DEFAULT_BODY_PREREAD_SIZE,
        }
    }
}
