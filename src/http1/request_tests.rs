//! Request head tests: one named row per RFC 9112 rule, smuggling case or nginx
//! behaviour. Every valid request is also parsed from each of its prefixes (the
//! first read of a two-read split), which must ask for more, and with body bytes
//! after it, which must be left alone. Every invalid request's prefixes must ask
//! for more or fail the same way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::http1::error::HeaderDefect as HD;
use crate::http1::error::RequestLineDefect as RL;

fn parse_with(
    input: &[u8],
    limits: &HeadLimits,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    parse_request_head(input, limits)
}

fn parse_ok_with(name: &str, input: &[u8], limits: &HeadLimits) -> (RequestHead, usize) {
    let (head, consumed) = parse_with(input, limits)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .unwrap_or_else(|| panic!("{name}: incomplete"));
    assert_eq!(consumed, input.len(), "{name}: consumed");
    for split in 0..consumed {
        assert_eq!(
            parse_with(&input[..split], limits),
            Ok(None),
            "{name}: prefix of {split} bytes"
        );
    }
    let mut longer = input.to_vec();
    longer.extend_from_slice(b"BODY");
    assert_eq!(
        parse_with(&longer, limits),
        Ok(Some((head.clone(), consumed))),
        "{name}: with body"
    );
    (head, consumed)
}

fn parse_ok(name: &str, input: &[u8]) -> RequestHead {
    parse_ok_with(name, input, &HeadLimits::default()).0
}

fn parse_err_with(name: &str, input: &[u8], limits: &HeadLimits) -> HeadError {
    let err = match parse_with(input, limits) {
        Err(e) => e,
        Ok(other) => panic!("{name}: expected an error, got {other:?}"),
    };
    for split in 0..input.len() {
        let got = parse_with(&input[..split], limits);
        assert!(
            got == Ok(None) || got == Err(err.clone()),
            "{name}: prefix of {split} bytes gave {got:?}"
        );
    }
    err
}

fn parse_err(name: &str, input: &[u8]) -> HeadError {
    parse_err_with(name, input, &HeadLimits::default())
}

/// (name, input, method, path, query, host, framing, keep_alive)
type ValidRow = (
    &'static str,
    &'static [u8],
    Method,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    RequestFraming,
    bool,
);

#[test]
fn valid_requests() {
    use RequestFraming::{Chunked, ContentLength, None as NoBody};
    // (name, input, method, path, query, host, framing, keep_alive)
    #[rustfmt::skip]
    let rows: Vec<ValidRow> = vec![
        ("simple_get", b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
            Method::Get, "/", None, Some("example.com"), NoBody, true),
        ("path_and_query", b"GET /a/b?x=1&y HTTP/1.1\r\nHost: a\r\n\r\n",
            Method::Get, "/a/b", Some("x=1&y"), Some("a"), NoBody, true),
        ("bare_question_mark", b"GET /a? HTTP/1.1\r\nHost: a\r\n\r\n",
            Method::Get, "/a", Some(""), Some("a"), NoBody, true),
        ("fragment_dropped", b"GET /a?q#frag HTTP/1.1\r\nHost: a\r\n\r\n",
            Method::Get, "/a", Some("q"), Some("a"), NoBody, true),
        ("percent_encoding_kept_raw", b"GET /a%20b?c%3D HTTP/1.1\r\nHost: a\r\n\r\n",
            Method::Get, "/a%20b", Some("c%3D"), Some("a"), NoBody, true),
        ("raw_utf8_target", "GET /café HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes(),
            Method::Get, "/café", None, Some("a"), NoBody, true),
        ("http10_without_host", b"GET / HTTP/1.0\r\n\r\n",
            Method::Get, "/", None, None, NoBody, false),
        ("http10_keep_alive", b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            Method::Get, "/", None, None, NoBody, true),
        ("http11_connection_close", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            Method::Get, "/", None, Some("a"), NoBody, false),
        ("close_wins_over_keep_alive", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
            Method::Get, "/", None, Some("a"), NoBody, false),
        ("bare_lf_line_endings", b"GET / HTTP/1.1\nHost: a\n\n",
            Method::Get, "/", None, Some("a"), NoBody, true),
        ("leading_empty_lines_ignored", b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Method::Get, "/", None, Some("a"), NoBody, true),
        ("content_length", b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
            Method::Post, "/f", None, Some("a"), ContentLength(5), true),
        ("content_length_zero", b"PUT /f HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n",
            Method::Put, "/f", None, Some("a"), ContentLength(0), true),
        ("chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Post, "/", None, Some("a"), Chunked, true),
        ("chunked_odd_case", b"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: Chunked\r\n\r\n",
            Method::Post, "/", None, Some("a"), Chunked, true),
        ("chunked_with_tab_ows", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\t\r\n\r\n",
            Method::Post, "/", None, Some("a"), Chunked, true),
        ("http_1_2_served_as_1_1", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
            Method::Get, "/", None, Some("a"), NoBody, true),
        ("minor_version_leading_zeros", b"GET / HTTP/1.0001\r\nHost: a\r\n\r\n",
            Method::Get, "/", None, Some("a"), NoBody, true),
        ("minor_version_zero_zero", b"GET / HTTP/1.00\r\n\r\n",
            Method::Get, "/", None, None, NoBody, false),
        // nginx (and RFC 9112 §3's MAY) read the request line on runs of SP.
        ("runs_of_spaces", b"GET   /a?b   HTTP/1.1\r\nHost: a\r\n\r\n",
            Method::Get, "/a", Some("b"), Some("a"), NoBody, true),
        ("trailing_spaces", b"GET / HTTP/1.1  \r\nHost: a\r\n\r\n",
            Method::Get, "/", None, Some("a"), NoBody, true),
        ("chunked_with_content_length_absent", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED \r\n\r\n",
            Method::Post, "/", None, Some("a"), Chunked, true),
        ("absolute_form_host_wins", b"GET http://example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
            Method::Get, "/p", Some("q"), Some("example.com:8080"), NoBody, true),
        ("absolute_form_empty_path", b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
            Method::Get, "/", None, Some("example.com"), NoBody, true),
        ("absolute_form_query_only", b"GET HTTPS://example.com?a HTTP/1.1\r\nHost: example.com\r\n\r\n",
            Method::Get, "/", Some("a"), Some("example.com"), NoBody, true),
        ("asterisk_form_with_options", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            Method::Options, "*", None, Some("a"), NoBody, true),
        ("unknown_method", b"PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n",
            Method::Other("PROPFIND".into()), "/dav", None, Some("a"), NoBody, true),
        ("obs_text_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\r\n\r\n",
            Method::Get, "/", None, Some("a"), NoBody, true),
        ("empty_value", b"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n",
            Method::Get, "/", None, Some("a"), NoBody, true),
        ("ipv6_host", b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
            Method::Get, "/", None, Some("[::1]:8080"), NoBody, true),
    ];
    for (name, input, method, path, query, host, framing, keep_alive) in rows {
        let head = parse_ok(name, input);
        assert_eq!(head.method, method, "{name}: method");
        assert_eq!(head.path, path, "{name}: path");
        assert_eq!(head.query.as_deref(), query, "{name}: query");
        assert_eq!(head.host.as_deref(), host, "{name}: host");
        assert_eq!(head.framing, framing, "{name}: framing");
        assert_eq!(head.keep_alive, keep_alive, "{name}: keep_alive");
    }
}

#[test]
fn head_fields_are_kept_as_received() {
    let input = b"GET /x?y HTTP/1.1\r\nHost: a\r\nX-Mixed-Case:  v  \r\nAccept: */*\r\n\r\n";
    let head = parse_ok("fields", input);
    assert_eq!(head.target, "/x?y");
    assert_eq!(head.version, Version::Http11);
    assert_eq!(
        head.headers,
        vec![
            Header::new("Host", "a"),
            Header::new("X-Mixed-Case", "v"),
            Header::new("Accept", "*/*")
        ]
    );
}

/// (name, input, expect_continue, upgrade, connection_tokens)
type OptionsRow = (
    &'static str,
    &'static [u8],
    bool,
    Option<&'static str>,
    &'static [&'static str],
);

#[test]
fn connection_options() {
    // (name, input, expect_continue, upgrade, connection_tokens)
    #[rustfmt::skip]
    let rows: [OptionsRow; 6] = [
        ("expect_continue", b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
            true, None, &[]),
        ("expect_ignored_on_http10", b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            false, None, &[]),
        ("websocket_upgrade", b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            false, Some("websocket"), &["upgrade"]),
        ("upgrade_without_connection_token", b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
            false, None, &[]),
        ("upgrade_ignored_on_http10", b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            false, None, &["upgrade"]),
        ("tokens_merged_and_lowercased", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo\r\nConnection: keep-alive, ,TE\r\n\r\n",
            false, None, &["keep-alive", "x-foo", "te"]),
    ];
    for (name, input, expect_continue, upgrade, tokens) in rows {
        let head = parse_ok(name, input);
        assert_eq!(
            head.expect_continue, expect_continue,
            "{name}: expect_continue"
        );
        assert_eq!(head.upgrade.as_deref(), upgrade, "{name}: upgrade");
        // The common options come first, then the others in order of appearance.
        let got: Vec<&str> = head.connection_tokens.iter().collect();
        assert_eq!(got, tokens, "{name}: tokens");
    }
}

#[test]
fn invalid_requests() {
    let host = |v: &str| HeadError::InvalidHost {
        value: v.to_owned(),
    };
    let cl = |v: &str| HeadError::InvalidContentLength {
        value: v.to_owned(),
    };
    let te = |v: &str| HeadError::UnknownTransferEncoding {
        value: v.to_owned(),
    };
    let dup = |n: &str| HeadError::DuplicateHeader { name: n.to_owned() };
    let line = |line, defect| HeadError::InvalidHeaderLine { line, defect };
    let rl = HeadError::InvalidRequestLine;
    // (name, input, error, status)
    #[rustfmt::skip]
    let rows: Vec<(&str, &[u8], HeadError, u16)> = vec![
        // Smuggling: two framings, or one that parsers read differently (RFC 9112 §6.1, §6.3).
        ("cl_then_te", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            HeadError::ContentLengthWithTransferEncoding, 400),
        ("te_then_cl", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            HeadError::ContentLengthWithTransferEncoding, 400),
        ("te_xchunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
            te("xchunked"), 501),
        ("te_chunked_identity", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            te("chunked, identity"), 501),
        ("te_identity", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
            te("identity"), 501),
        ("te_gzip_chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            te("gzip, chunked"), 501),
        ("te_empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n",
            te(""), 501),
        // nginx refuses both framings at once before it reads either (400, not 501).
        ("te_unknown_with_cl", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\n",
            HeadError::ContentLengthWithTransferEncoding, 400),
        ("te_with_invalid_cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\nTransfer-Encoding: chunked\r\n\r\n",
            HeadError::ContentLengthWithTransferEncoding, 400),
        ("te_identity_chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n",
            te("identity, chunked"), 501),
        ("te_quoted", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
            te("\\\"chunked\\\""), 501),
        ("te_vertical_tab", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n",
            line(3, HD::ControlByte(0x0b)), 400),
        ("te_repeated", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            dup("Transfer-Encoding"), 400),
        ("te_on_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            HeadError::TransferEncodingOnHttp10, 400),
        ("te_tab_before_colon", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n",
            line(3, HD::WhitespaceBeforeColon), 400),
        ("te_obs_folded", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n",
            line(4, HD::ObsFold), 400),
        ("te_leading_tab_line", b"POST / HTTP/1.1\r\nHost: a\r\n\tTransfer-Encoding: chunked\r\n\r\n",
            line(3, HD::ObsFold), 400),
        ("cl_repeated_identical", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            dup("Content-Length"), 400),
        ("cl_conflicting", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n",
            dup("content-length"), 400),
        ("cl_plus_sign", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", cl("+5"), 400),
        ("cl_negative", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", cl("-1"), 400),
        ("cl_list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n", cl("1,1"), 400),
        ("cl_list_with_space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", cl("1, 1"), 400),
        ("cl_huge", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
            cl("99999999999999999999"), 400),
        ("cl_empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", cl(""), 400),
        ("cl_hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", cl("0x5"), 400),
        // Header line syntax (RFC 9112 §5, RFC 9110 §5.5).
        ("obs_fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", line(4, HD::ObsFold), 400),
        ("space_before_colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", line(2, HD::WhitespaceBeforeColon), 400),
        ("bare_cr_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", line(3, HD::BareCr), 400),
        ("bare_cr_as_line_end", b"GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n", line(2, HD::BareCr), 400),
        ("bare_cr_ending_head", b"GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n", line(3, HD::BareCr), 400),
        ("nul_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n", line(3, HD::ControlByte(0)), 400),
        ("control_byte_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01b\r\n\r\n", line(3, HD::ControlByte(1)), 400),
        ("del_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7fb\r\n\r\n", line(3, HD::ControlByte(0x7f)), 400),
        ("invalid_name_byte", b"GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", line(3, HD::NameByte(b'(')), 400),
        ("non_ascii_name", b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n", line(3, HD::NameByte(0xc3)), 400),
        ("empty_name", b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", line(3, HD::EmptyName), 400),
        ("missing_colon", b"GET / HTTP/1.1\r\nHost: a\r\nXA\r\n\r\n", line(3, HD::MissingColon), 400),
        // Host (RFC 9112 §3.2).
        ("host_missing", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", HeadError::MissingHost, 400),
        ("host_missing_with_absolute_form", b"GET http://a/ HTTP/1.1\r\n\r\n", HeadError::MissingHost, 400),
        ("host_repeated", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", HeadError::DuplicateHost, 400),
        ("host_repeated_other_case", b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", HeadError::DuplicateHost, 400),
        ("host_userinfo", b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", host("user@a"), 400),
        ("host_space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", host("a b"), 400),
        ("host_slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", host("a/b"), 400),
        ("host_backslash", b"GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", host("a\\\\b"), 400),
        ("host_leading_dot", b"GET / HTTP/1.1\r\nHost: .a\r\n\r\n", host(".a"), 400),
        ("host_double_dot", b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", host("a..b"), 400),
        ("host_empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", host(""), 400),
        // Request line (RFC 9112 §3, §2.3).
        ("http09", b"GET /\r\n", rl(RL::Http09), 400),
        ("http2", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", HeadError::UnsupportedVersion { major: 2 }, 505),
        ("http2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HeadError::UnsupportedVersion { major: 2 }, 505),
        ("http3_without_minor", b"GET / HTTP/3\r\nHost: a\r\n\r\n", HeadError::UnsupportedVersion { major: 3 }, 505),
        ("http12_major_known_late", b"GET / HTTP/12.0\r\nHost: a\r\n\r\n", HeadError::UnsupportedVersion { major: 12 }, 505),
        ("http2_garbage_after_major", b"GET / HTTP/2x\r\nHost: a\r\n\r\n", HeadError::UnsupportedVersion { major: 2 }, 505),
        // nginx: a major version starts with 1-9.
        ("http_0_9_named", b"GET / HTTP/0.9\r\n\r\n", rl(RL::Version), 400),
        ("major_leading_zero", b"GET / HTTP/01.1\r\nHost: a\r\n\r\n", rl(RL::Version), 400),
        ("http1_without_minor", b"GET / HTTP/1\r\nHost: a\r\n\r\n", rl(RL::Version), 400),
        ("http1_dot_without_minor", b"GET / HTTP/1.\r\nHost: a\r\n\r\n", rl(RL::Version), 400),
        ("version_garbage", b"GET / HTTP/1.x\r\nHost: a\r\n\r\n", rl(RL::Version), 400),
        ("version_three_parts", b"GET / HTTP/1.1.1\r\nHost: a\r\n\r\n", rl(RL::Version), 400),
        ("version_lowercase", b"GET / http/1.1\r\nHost: a\r\n\r\n", rl(RL::Version), 400),
        ("version_nul", b"GET / HTTP/1.1\0\r\nHost: a\r\n\r\n", rl(RL::Version), 400),
        ("minor_version_past_999", b"GET / HTTP/1.1000\r\nHost: a\r\n\r\n", rl(RL::Version), 400),
        ("method_lowercase", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", HeadError::InvalidMethod, 400),
        ("method_bad_byte", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", HeadError::InvalidMethod, 400),
        ("tls_client_hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", HeadError::InvalidMethod, 400),
        ("leading_space", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", HeadError::InvalidMethod, 400),
        ("tab_separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", HeadError::InvalidMethod, 400),
        ("method_only", b"GET\r\n\r\n", rl(RL::Malformed), 400),
        ("method_then_spaces", b"GET   \r\n\r\n", rl(RL::Malformed), 400),
        ("extra_word", b"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", rl(RL::Malformed), 400),
        ("tab_before_version", b"GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::TargetByte(b'\t')), 400),
        ("tab_after_version", b"GET / HTTP/1.1\t\r\nHost: a\r\n\r\n", rl(RL::Version), 400),
        ("nul_in_method", b"G\0T / HTTP/1.1\r\nHost: a\r\n\r\n", HeadError::InvalidMethod, 400),
        ("nul_in_target", b"GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::TargetByte(0)), 400),
        ("post_without_version", b"POST /\r\n\r\n", rl(RL::Http09), 400),
        ("bare_cr_in_request_line", b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", rl(RL::BareCr), 400),
        ("bare_cr_before_request_line", b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::BareCr), 400),
        ("control_byte_in_target", b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::TargetByte(1)), 400),
        ("del_in_target", b"GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::TargetByte(0x7f)), 400),
        ("invalid_utf8_target", b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::TargetByte(0xff)), 400),
        // Target forms (RFC 9112 §3.2).
        ("asterisk_form_with_get", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::TargetForm), 400),
        ("authority_form_with_get", b"GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::TargetForm), 400),
        ("relative_target", b"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::TargetForm), 400),
        ("absolute_form_userinfo", b"GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::Userinfo), 400),
        ("absolute_form_ftp", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", rl(RL::Scheme), 400),
        ("absolute_form_bad_host", b"GET http://a..b/ HTTP/1.1\r\nHost: a\r\n\r\n",
            HeadError::InvalidHostInRequestLine { value: "a..b".into() }, 400),
        ("absolute_form_empty_authority", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n",
            HeadError::InvalidHostInRequestLine { value: String::new() }, 400),
        // Methods nginx refuses (405).
        ("connect", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            HeadError::MethodNotAllowed { method: Method::Connect }, 405),
        ("trace", b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", HeadError::MethodNotAllowed { method: Method::Trace }, 405),
    ];
    for (name, input, want, status) in rows {
        let err = parse_err(name, input);
        assert_eq!(err, want, "{name}");
        assert_eq!(err.status(), status, "{name}: status");
    }
}

#[test]
fn reasons_are_nginx_log_texts() {
    let rows = [
        (
            HeadError::MissingHost,
            "client sent HTTP/1.1 request without \"Host\" header",
        ),
        (
            HeadError::ContentLengthWithTransferEncoding,
            "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time",
        ),
        (
            HeadError::UnknownTransferEncoding {
                value: "gzip".into(),
            },
            "client sent unknown \"Transfer-Encoding\"",
        ),
        (
            HeadError::UriTooLong { limit: 1 },
            "client sent too long URI",
        ),
        (
            HeadError::MethodNotAllowed {
                method: Method::Connect,
            },
            "client sent CONNECT method",
        ),
        (
            HeadError::MethodNotAllowed {
                method: Method::Trace,
            },
            "client sent TRACE method",
        ),
        (
            HeadError::InvalidHeaderLine {
                line: 2,
                defect: HD::ObsFold,
            },
            "client sent invalid header line",
        ),
    ];
    for (err, reason) in rows {
        assert_eq!(err.reason(), reason);
        assert!(err.to_string().starts_with(reason), "{err}");
    }
}

/// Small limits so that each boundary is easy to build by hand.
fn small_limits() -> HeadLimits {
    HeadLimits {
        max_request_line: 32,
        max_header_line: 20,
        max_head: 64,
        max_headers: 3,
        names: HeaderNameRules::default(),
    }
}

#[test]
fn request_line_limit_at_and_past_the_limit() {
    let limits = small_limits();
    let at_limit = b"GET /aaaaaaaaaaaaaaaa HTTP/1.0\r\n\r\n"; // request line: 32 bytes
    assert_eq!(at_limit.iter().position(|&b| b == b'\n'), Some(31));
    parse_ok_with("request_line_at_limit", at_limit, &limits);

    let past = b"GET /aaaaaaaaaaaaaaaaa HTTP/1.0\r\n\r\n";
    assert_eq!(
        parse_err_with("request_line_past_limit", past, &limits),
        HeadError::UriTooLong { limit: 32 }
    );
    assert_eq!(HeadError::UriTooLong { limit: 32 }.status(), 414);

    // Incomplete: 31 bytes could still fit, 32 without a LF cannot.
    assert_eq!(parse_with(&past[..31], &limits), Ok(None));
    assert_eq!(
        parse_with(&past[..32], &limits),
        Err(HeadError::UriTooLong { limit: 32 })
    );

    // Empty lines before the request line count towards it.
    let mut padded = b"\r\n".to_vec();
    padded.extend_from_slice(at_limit);
    assert_eq!(
        parse_with(&padded, &limits),
        Err(HeadError::UriTooLong { limit: 32 })
    );
    assert_eq!(
        parse_with(&[b'\n'; 32], &limits),
        Err(HeadError::UriTooLong { limit: 32 })
    );
}

#[test]
fn header_line_limit_at_and_past_the_limit() {
    let limits = small_limits();
    let at_limit = b"GET / HTTP/1.0\r\nX-A: aaaaaaaaaaaaa\r\n\r\n"; // header line: 20 bytes
    let (head, _) = parse_ok_with("header_line_at_limit", at_limit, &limits);
    assert_eq!(head.headers[0].value.len(), 13);

    let past = b"GET / HTTP/1.0\r\nX-A: aaaaaaaaaaaaaa\r\n\r\n";
    let err = parse_err_with("header_line_past_limit", past, &limits);
    assert_eq!(err, HeadError::HeaderLineTooLong { line: 2, limit: 20 });
    assert_eq!(
        (err.status(), err.page_title()),
        (400, Some("Request Header Or Cookie Too Large"))
    );

    // Incomplete: 20 header bytes without a LF can no longer fit.
    let start = 16;
    assert_eq!(parse_with(&past[..start + 19], &limits), Ok(None));
    assert_eq!(
        parse_with(&past[..start + 20], &limits),
        Err(HeadError::HeaderLineTooLong { line: 2, limit: 20 })
    );
}

#[test]
fn head_size_limit_at_and_past_the_limit() {
    let limits = small_limits();
    // 16 + 3 × 16 = 64 bytes of head.
    let at_limit = b"GET / HTTP/1.0\r\nX-A: aaaaaaaaa\r\nX-B: bbbbbbbbb\r\nX-C: ccccccc\r\n\r\n";
    assert_eq!(at_limit.len(), 64);
    parse_ok_with("head_at_limit", at_limit, &limits);

    let past = b"GET / HTTP/1.0\r\nX-A: aaaaaaaaa\r\nX-B: bbbbbbbbb\r\nX-C: cccccccc\r\n\r\n";
    let err = parse_err_with("head_past_limit", past, &limits);
    assert_eq!(err, HeadError::HeadTooLarge { limit: 64 });
    assert_eq!(err.page_title(), Some("Request Header Or Cookie Too Large"));

    // Incomplete: 64 bytes without the empty line cannot fit.
    assert_eq!(parse_with(&past[..63], &limits), Ok(None));
    assert_eq!(
        parse_with(&past[..64], &limits),
        Err(HeadError::HeadTooLarge { limit: 64 })
    );
}

#[test]
fn header_count_limit_at_and_past_the_limit() {
    let limits = small_limits();
    parse_ok_with(
        "three_headers",
        b"GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
        &limits,
    );
    let err = parse_err_with(
        "four_headers",
        b"GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
        &limits,
    );
    assert_eq!(err, HeadError::TooManyHeaders { limit: 3 });

    let clamped = HeadLimits {
        max_headers: usize::MAX,
        ..HeadLimits::default()
    };
    let mut many = b"GET / HTTP/1.0\r\n".to_vec();
    for i in 0..=HEADER_SLOTS {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(
        parse_with(&many, &clamped),
        Err(HeadError::TooManyHeaders {
            limit: HEADER_SLOTS
        })
    );
}

#[test]
fn a_head_with_more_lines_than_the_first_slots_still_parses() {
    // The first parse has FEW_SLOTS slots; a head with more lines is parsed again.
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..FEW_SLOTS + 8 {
        head.extend_from_slice(format!("X-{i}: v{i}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let (parsed, n) = parse_with(&head, &HeadLimits::default()).unwrap().unwrap();
    assert_eq!(n, head.len());
    assert_eq!(parsed.headers.len(), FEW_SLOTS + 9);
    let last = parsed.headers.last().unwrap();
    assert_eq!((&*last.name, last.value.as_slice()), ("X-39", &b"v39"[..]));
    let limits = HeadLimits {
        max_headers: FEW_SLOTS + 2,
        ..HeadLimits::default()
    };
    assert_eq!(
        parse_with(&head, &limits),
        Err(HeadError::TooManyHeaders {
            limit: FEW_SLOTS + 2
        })
    );
}

#[test]
fn limits_from_nginx_directives() {
    assert_eq!(
        HeadLimits::default(),
        HeadLimits {
            max_request_line: 8192,
            max_header_line: 8192,
            max_head: 32768,
            max_headers: 100,
            names: HeaderNameRules::default(),
        }
    );
    let big_first_buffer = HeadLimits::from_nginx(16 * 1024, (2, 4 * 1024));
    assert_eq!(
        (big_first_buffer.max_request_line, big_first_buffer.max_head),
        (16 * 1024, 16 * 1024)
    );
    let huge = HeadLimits::from_nginx(u64::MAX, (u32::MAX, u64::MAX));
    assert_eq!(huge.max_head, usize::MAX);
}

/// `underscores_in_headers` and `ignore_invalid_headers`, as nginx applies them: a
/// dropped line is gone before framing and `Host` are read, so `Transfer_Encoding` or
/// `Content_Length` never frame or reach anything.
#[test]
fn header_names_nginx_would_drop() {
    let head = b"POST / HTTP/1.1\r\nHost: a\r\nX_Forwarded_Host: evil\r\n\
Transfer_Encoding: chunked\r\nX.Dot: 1\r\nX-Good: 2\r\nContent-Length: 0\r\n\r\n";
    let names_of = |rules: HeaderNameRules| {
        let limits = HeadLimits::default().with_names(rules);
        let (parsed, _) = parse_ok_with("names", head, &limits);
        assert_eq!(parsed.framing, RequestFraming::ContentLength(0));
        parsed
            .headers
            .iter()
            .map(|h| h.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names_of(HeaderNameRules::default()),
        ["Host", "X-Good", "Content-Length"]
    );
    assert_eq!(
        names_of(HeaderNameRules {
            underscores_in_headers: true,
            ignore_invalid_headers: true,
        }),
        [
            "Host",
            "X_Forwarded_Host",
            "Transfer_Encoding",
            "X-Good",
            "Content-Length"
        ]
    );
    assert_eq!(
        names_of(HeaderNameRules {
            underscores_in_headers: false,
            ignore_invalid_headers: false,
        }),
        [
            "Host",
            "X_Forwarded_Host",
            "Transfer_Encoding",
            "X.Dot",
            "X-Good",
            "Content-Length"
        ]
    );
    // A dropped `Host` is no `Host`: nginx answers 400 to HTTP/1.1 without one.
    assert_eq!(
        parse_with(
            b"GET / HTTP/1.1\r\nHo_st: a\r\n\r\n",
            &HeadLimits::default()
        ),
        Err(HeadError::MissingHost)
    );
}
