//! nginx's `ngx_http_v2_module`: `http2 on|off` (nginx 1.25.1; `listen ... http2`
//! before it, see [`super::listen`]), the stream and window sizes, and the directives
//! nginx has made obsolete, accepted with nginx's own warning. Server push is gone
//! from browsers and from nginx 1.25.1: `http2_push*` are accepted and do nothing.

use super::args::{self, flag, set_once, Kind, NoEffect};
use super::command::{d, Arity::*, Command, HTTP, HTTP_SRV, HTTP_SRV_LOC};
use super::Builder;
use crate::config::model::http2::{
    Http2Conf, DEFAULT_BODY_PREREAD_SIZE, DEFAULT_CHUNK_SIZE, DEFAULT_MAX_CONCURRENT_STREAMS,
};
use crate::config::model::LocationConf;
use crate::config::tree::Directive;

/// The HTTP/2 settings written at one level.
#[derive(Debug, Default)]
pub struct Http2Layer {
    enabled: Option<bool>,
    max_concurrent_streams: Option<u32>,
    body_preread_size: Option<u64>,
    chunk_size: Option<u64>,
    no_effect: NoEffect,
}

pub const COMMANDS: &[Command<Http2Layer>] = &[
    d("http2", HTTP_SRV, Exactly(1), |h, d, cx, _| {
        set_once(cx, d, &mut h.enabled, flag(d))
    }),
    d(
        "http2_max_concurrent_streams",
        HTTP_SRV,
        Exactly(1),
        |h, d, cx, _| set_once(cx, d, &mut h.max_concurrent_streams, args::number(d, 0)),
    ),
    d(
        "http2_body_preread_size",
        HTTP_SRV,
        Exactly(1),
        |h, d, cx, _| set_once(cx, d, &mut h.body_preread_size, args::size(d, 0)),
    ),
    d("http2_recv_buffer_size", HTTP, Exactly(1), |h, d, cx, _| {
        // nginx: "the value must be greater than 2 * NGX_HTTP_V2_STATE_BUFFER_SIZE".
        if args::size(d, 0).is_ok_and(|n| n <= 32) {
            let value = d.args.first().map_or("", |a| a.value.as_str());
            cx.error(
                crate::config::error::ConfigErrorKind::Http2(format!(
                    "the http2 receive buffer size is too small: \"{value}\""
                )),
                &d.span,
            );
            return;
        }
        h.no_effect.set_kind(cx, d, Kind::Size, Some(RECV_BUFFER))
    }),
    d(
        "http2_chunk_size",
        HTTP_SRV_LOC,
        Exactly(1),
        |h, d, cx, _| {
            let v = args::size(d, 0).and_then(|n| {
                if n == 0 {
                    Err(crate::config::error::ConfigErrorKind::Http2(
                        "the http2 chunk size cannot be zero".to_string(),
                    ))
                } else {
                    Ok(n)
                }
            });
            set_once(cx, d, &mut h.chunk_size, v)
        },
    ),
    d("http2_push", HTTP_SRV_LOC, Exactly(1), |h, d, cx, _| {
        h.no_effect.set_kind(cx, d, Kind::Any, Some(PUSH))
    }),
    d(
        "http2_push_preload",
        HTTP_SRV_LOC,
        Exactly(1),
        |h, d, cx, _| h.no_effect.set_kind(cx, d, Kind::Any, Some(PUSH)),
    ),
    d(
        "http2_max_concurrent_pushes",
        HTTP_SRV,
        Exactly(1),
        |h, d, cx, _| h.no_effect.set_kind(cx, d, Kind::Number, Some(PUSH)),
    ),
    d(
        "http2_streams_index_size",
        HTTP_SRV,
        Exactly(1),
        |h, d, cx, _| h.no_effect.set_kind(cx, d, Kind::Number, None),
    ),
    d("http2_idle_timeout", HTTP_SRV, Exactly(1), |_, d, cx, _| {
        obsolete(cx, d, "keepalive_timeout")
    }),
    d("http2_max_requests", HTTP_SRV, Exactly(1), |_, d, cx, _| {
        obsolete(cx, d, "keepalive_requests")
    }),
    d(
        "http2_max_field_size",
        HTTP_SRV,
        Exactly(1),
        |_, d, cx, _| obsolete(cx, d, "large_client_header_buffers"),
    ),
    d(
        "http2_max_header_size",
        HTTP_SRV,
        Exactly(1),
        |_, d, cx, _| obsolete(cx, d, "large_client_header_buffers"),
    ),
    d("http2_recv_timeout", HTTP_SRV, Exactly(1), |_, d, cx, _| {
        obsolete(cx, d, "client_header_timeout")
    }),
];

const RECV_BUFFER: &str =
    "nginx's per-worker read buffer; each connection reads into its TLS or socket buffer";

const PUSH: &str = "server push is not supported: browsers dropped it, and nginx 1.25.1 made it obsolete; use `Link: rel=preload` headers or 103 Early Hints";

/// nginx 1.19.7's words for a directive another replaced; the line is ignored.
fn obsolete(cx: &mut Builder, d: &Directive, instead: &str) {
    cx.warn(
        format!(
            "the \"{}\" directive is obsolete, use the \"{instead}\" directive instead",
            d.name
        ),
        &d.span,
    );
}

impl Http2Layer {
    /// A server's settings: its own over the http level's.
    pub fn server(&self, http: &Http2Layer) -> Http2Conf {
        Http2Conf {
            enabled: self.enabled.or(http.enabled).unwrap_or(false),
            max_concurrent_streams: self
                .max_concurrent_streams
                .or(http.max_concurrent_streams)
                .unwrap_or(DEFAULT_MAX_CONCURRENT_STREAMS),
            body_preread_size: self
                .body_preread_size
                .or(http.body_preread_size)
                .unwrap_or(DEFAULT_BODY_PREREAD_SIZE),
        }
    }

    /// `http2_chunk_size`, inherited down to locations.
    pub fn merge(&self, parent: &LocationConf, conf: &mut LocationConf) {
        conf.http2_chunk_size = self.chunk_size.unwrap_or(parent.http2_chunk_size);
    }
}

/// The default of `http2_chunk_size`, for the http level's defaults.
pub const CHUNK_SIZE: u64 = DEFAULT_CHUNK_SIZE;
