//! Upstream response head tests: framing per RFC 9112 §6.3 with one row per rule,
//! the same strictness as for requests, every valid head parsed from each of its
//! prefixes, and the size limit at and one past the limit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::http1::error::HeaderDefect as HD;

fn parse_with(
    input: &[u8],
    method: &Method,
    limits: &UpstreamHeadLimits,
) -> Result<Option<(ResponseHead, usize)>, UpstreamHeadError> {
    parse_response_head(input, method, limits)
}

fn parse_ok(name: &str, input: &[u8], method: &Method) -> ResponseHead {
    let limits = UpstreamHeadLimits::default();
    let (head, consumed) = parse_with(input, method, &limits)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .unwrap_or_else(|| panic!("{name}: incomplete"));
    assert_eq!(consumed, input.len(), "{name}: consumed");
    for split in 0..consumed {
        assert_eq!(
            parse_with(&input[..split], method, &limits),
            Ok(None),
            "{name}: prefix of {split} bytes"
        );
    }
    let mut longer = input.to_vec();
    longer.extend_from_slice(b"BODY");
    assert_eq!(
        parse_with(&longer, method, &limits),
        Ok(Some((head.clone(), consumed))),
        "{name}: with body"
    );
    head
}

fn parse_err(name: &str, input: &[u8], limits: &UpstreamHeadLimits) -> UpstreamHeadError {
    let err = match parse_with(input, &Method::Get, limits) {
        Err(e) => e,
        Ok(other) => panic!("{name}: expected an error, got {other:?}"),
    };
    for split in 0..input.len() {
        let got = parse_with(&input[..split], &Method::Get, limits);
        assert!(
            got == Ok(None) || got == Err(err.clone()),
            "{name}: prefix of {split} bytes gave {got:?}"
        );
    }
    err
}

/// (name, input, request method, status, framing, keep_alive)
type FramingRow = (
    &'static str,
    &'static [u8],
    Method,
    u16,
    ResponseFraming,
    bool,
);

#[test]
fn framing_follows_rfc_9112_section_6_3() {
    use ResponseFraming::{Chunked, CloseDelimited, Length, NoBody};
    // (name, input, request method, status, framing, keep_alive)
    #[rustfmt::skip]
    let rows: Vec<FramingRow> = vec![
        ("content_length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Method::Get, 200, Length(5), true),
        ("chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::Get, 200, Chunked, true),
        ("chunked_odd_case", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", Method::Post, 200, Chunked, true),
        ("close_delimited", b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", Method::Get, 200, CloseDelimited, false),
        ("head_request_has_no_body", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Method::Head, 200, NoBody, true),
        ("head_request_chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::Head, 200, NoBody, true),
        ("no_content_204", b"HTTP/1.1 204 No Content\r\n\r\n", Method::Delete, 204, NoBody, true),
        ("not_modified_304", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", Method::Get, 304, NoBody, true),
        ("continue_100", b"HTTP/1.1 100 Continue\r\n\r\n", Method::Post, 100, NoBody, true),
        ("switching_101", b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            Method::Get, 101, NoBody, true),
        ("http10_default_close", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", Method::Get, 200, Length(2), false),
        ("http10_keep_alive", b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
            Method::Get, 200, Length(2), true),
        ("connection_close", b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
            Method::Get, 200, Length(2), false),
        ("no_reason_phrase", b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", Method::Get, 200, Length(0), true),
        ("empty_reason_phrase", b"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", Method::Get, 404, Length(0), true),
        ("bare_lf_line_endings", b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", Method::Get, 200, Length(0), true),
        ("gunicorn_style", b"HTTP/1.1 502 Bad Gateway\r\nServer: gunicorn\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 3\r\n\r\n",
            Method::Get, 502, Length(3), false),
    ];
    for (name, input, method, status, framing, keep_alive) in rows {
        let head = parse_ok(name, input, &method);
        assert_eq!(head.status, status, "{name}: status");
        assert_eq!(head.framing, framing, "{name}: framing");
        assert_eq!(head.keep_alive, keep_alive, "{name}: keep_alive");
        assert_eq!(
            head.is_informational(),
            status < 200,
            "{name}: informational"
        );
    }
}

#[test]
fn head_fields_are_kept() {
    let head = parse_ok(
        "fields",
        b"HTTP/1.1 201 Created\r\nLocation: /x\r\nConnection: X-Trace, keep-alive\r\nContent-Length: 0\r\n\r\n",
        &Method::Post,
    );
    assert_eq!(
        (head.version, head.reason.as_str()),
        (Version::Http11, "Created")
    );
    assert_eq!(head.headers[0], Header::new("Location", "/x"));
    let tokens: Vec<&str> = head.connection_tokens.iter().collect();
    assert_eq!(tokens, ["keep-alive", "x-trace"]);
}

#[test]
fn invalid_responses() {
    let limits = UpstreamHeadLimits::default();
    let te = |v: &str| UpstreamHeadError::UnknownTransferEncoding {
        value: v.to_owned(),
    };
    let line = |line, defect| UpstreamHeadError::InvalidHeader { line, defect };
    // (name, input, error)
    #[rustfmt::skip]
    let rows: Vec<(&str, &[u8], UpstreamHeadError)> = vec![
        ("status_not_digits", b"HTTP/1.1 2x0 OK\r\n\r\n", UpstreamHeadError::InvalidStatusLine),
        ("status_below_100", b"HTTP/1.1 099 Odd\r\n\r\n", UpstreamHeadError::InvalidStatusLine),
        ("http2_status_line", b"HTTP/2 200\r\n\r\n", UpstreamHeadError::InvalidStatusLine),
        ("html_instead_of_head", b"<html><body>hi</body></html>\r\n", UpstreamHeadError::InvalidStatusLine),
        ("bare_cr_in_status_line", b"HTTP/1.1 200 OK\rX\r\n\r\n", UpstreamHeadError::InvalidStatusLine),
        ("cl_with_te", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            UpstreamHeadError::ContentLengthWithTransferEncoding),
        ("cl_with_te_on_204", b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
            UpstreamHeadError::ContentLengthWithTransferEncoding),
        ("te_gzip_chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", te("gzip, chunked")),
        ("te_chunked_identity", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n", te("chunked, identity")),
        ("te_xchunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n", te("xchunked")),
        ("te_on_http10", b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", UpstreamHeadError::TransferEncodingOnHttp10),
        ("cl_repeated_identical", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            UpstreamHeadError::DuplicateHeader { name: "Content-Length".into() }),
        ("te_repeated", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n",
            UpstreamHeadError::DuplicateHeader { name: "transfer-encoding".into() }),
        ("cl_negative", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            UpstreamHeadError::InvalidContentLength { value: "-1".into() }),
        ("cl_list", b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            UpstreamHeadError::InvalidContentLength { value: "5, 5".into() }),
        ("obs_fold", b"HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\n\r\n", line(3, HD::ObsFold)),
        ("space_before_colon", b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", line(2, HD::WhitespaceBeforeColon)),
        ("bare_cr_in_value", b"HTTP/1.1 200 OK\r\nX-A: b\rc\r\n\r\n", line(2, HD::BareCr)),
        ("nul_in_value", b"HTTP/1.1 200 OK\r\nX-A: b\0c\r\n\r\n", line(2, HD::ControlByte(0))),
        ("invalid_name", b"HTTP/1.1 200 OK\r\nX A: b\r\n\r\n", line(2, HD::WhitespaceBeforeColon)),
    ];
    for (name, input, want) in rows {
        let err = parse_err(name, input, &limits);
        assert_eq!(err, want, "{name}");
        assert_eq!(err.status(), 502, "{name}: status");
    }
}

#[test]
fn head_size_limit_at_and_past_the_limit() {
    let limits = UpstreamHeadLimits {
        max_head: 40,
        max_headers: 2,
    };
    let at_limit = b"HTTP/1.1 200 OK\r\nContent-Length: 000\r\n\r\n";
    assert_eq!(at_limit.len(), 40);
    assert!(parse_with(at_limit, &Method::Get, &limits)
        .unwrap()
        .is_some());

    let past = b"HTTP/1.1 200 OK\r\nContent-Length: 0000\r\n\r\n";
    assert_eq!(
        parse_err("head_past_limit", past, &limits),
        UpstreamHeadError::TooBig { limit: 40 }
    );
    assert_eq!(parse_with(&past[..39], &Method::Get, &limits), Ok(None));
    assert_eq!(
        parse_with(&past[..40], &Method::Get, &limits),
        Err(UpstreamHeadError::TooBig { limit: 40 })
    );

    let many = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(
        parse_err(
            "three_headers",
            many,
            &UpstreamHeadLimits {
                max_head: 4096,
                max_headers: 2
            }
        ),
        UpstreamHeadError::TooManyHeaders { limit: 2 }
    );
}

#[test]
fn limits_from_nginx_directives() {
    assert_eq!(UpstreamHeadLimits::from_nginx(8192).max_head, 8192);
    assert_eq!(UpstreamHeadLimits::default().max_head, 4096);
}

#[test]
fn reasons_are_nginx_log_texts() {
    assert_eq!(
        UpstreamHeadError::InvalidStatusLine.reason(),
        "upstream sent no valid HTTP/1.0 header"
    );
    assert_eq!(
        UpstreamHeadError::TooBig { limit: 1 }.reason(),
        "upstream sent too big header"
    );
    let err = UpstreamHeadError::InvalidHeader {
        line: 2,
        defect: HD::ObsFold,
    };
    assert!(err.to_string().starts_with(err.reason()), "{err}");
}
