//! The two tables of `rejected_requests_never_reach_the_upstream` and
//! `unusual_but_legal_requests_reach_the_upstream_once`: requests a proxy must refuse
//! (RFC 9110, RFC 9112, the request-smuggling research), and legal requests that
//! look like them. Every target is under `/proxy/`, so a request that slipped through
//! would reach the capturing upstream.
//!
//! Statuses are nginx's (`ngx_http_parse.c`, `ngx_http_request.c`). Where vestibule
//! refuses what nginx would pass, the row says "stricter than nginx" and why; the
//! table in docs/proxy.md lists the same rows.

/// A request vestibule refuses before anything reaches the upstream.
pub struct Refused {
    pub name: &'static str,
    pub raw: Vec<u8>,
    pub status: u16,
    /// How the error-log line starts (nginx's words).
    pub log: &'static str,
}

fn refused(name: &'static str, raw: impl AsRef<[u8]>, status: u16, log: &'static str) -> Refused {
    Refused {
        name,
        raw: raw.as_ref().to_vec(),
        status,
        log,
    }
}

pub const TOO_LARGE_TITLE: &str = "Request Header Or Cookie Too Large";

const INVALID_REQUEST: &str = "client sent invalid request";
const INVALID_METHOD: &str = "client sent invalid method";
const INVALID_VERSION: &str = "client sent invalid version";
const INVALID_HEADER: &str = "client sent invalid header line";
const UNKNOWN_TE: &str = "client sent unknown \"Transfer-Encoding\"";
const CL_AND_TE: &str =
    "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time";
const TE_ON_HTTP10: &str = "client sent HTTP/1.0 request with \"Transfer-Encoding\" header";
const DUPLICATE: &str = "client sent duplicate header line";
const INVALID_CL: &str = "client sent invalid \"Content-Length\" header";
const CHUNKED: &str = "client sent invalid chunked body";
const NO_HOST: &str = "client sent HTTP/1.1 request without \"Host\" header";
const DUPLICATE_HOST: &str = "client sent duplicate host header";
const INVALID_HOST: &str = "client sent invalid host header";
const INVALID_HOST_IN_LINE: &str = "client sent invalid host in request line";
const ABOVE_ROOT: &str = "client sent invalid request: \"..\" climbs above the root";

/// `POST /proxy/NAME` with `Transfer-Encoding` as given (a whole header line, or
/// several) and a chunked `hello` body.
fn te(path: &str, te_lines: &[u8]) -> Vec<u8> {
    let mut r = format!("POST /proxy/{path} HTTP/1.1\r\nHost: example.com\r\n").into_bytes();
    r.extend_from_slice(te_lines);
    r.extend_from_slice(b"\r\n5\r\nhello\r\n0\r\n\r\n");
    r
}

/// `POST /proxy/NAME` with these header lines and this body.
fn post(path: &str, lines: &[u8], body: &[u8]) -> Vec<u8> {
    let mut r = format!("POST /proxy/{path} HTTP/1.1\r\nHost: example.com\r\n").into_bytes();
    r.extend_from_slice(lines);
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

/// `POST /proxy/NAME` with a chunked body as given.
fn chunked(path: &str, body: &[u8]) -> Vec<u8> {
    post(path, b"Transfer-Encoding: chunked\r\n", body)
}

/// `GET /proxy/NAME` with these header lines after `Host`.
fn get_with(path: &str, lines: &[u8]) -> Vec<u8> {
    let mut r = format!("GET /proxy/{path} HTTP/1.1\r\nHost: example.com\r\n").into_bytes();
    r.extend_from_slice(lines);
    r.extend_from_slice(b"\r\n");
    r
}

/// A request line (as bytes) followed by `Host` and the end of the head.
fn line(request_line: &[u8]) -> Vec<u8> {
    let mut r = request_line.to_vec();
    r.extend_from_slice(b"\r\nHost: example.com\r\n\r\n");
    r
}

#[rustfmt::skip]
pub fn rejected() -> Vec<Refused> {
    let long_line = format!("GET /proxy/{} HTTP/1.1", "a".repeat(9000));
    let long_header = format!("X-Big: {}\r\n", "a".repeat(9000));
    // Five lines of 7000 bytes: each fits in a large buffer, all of them do not.
    let big_head = format!("X-Big: {}\r\n", "a".repeat(7000)).repeat(5);
    let many_headers: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let long_extension = format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(5000));
    vec![
        // Transfer-Encoding obfuscations (TE.TE) and both framings (CL.TE, TE.CL).
        refused("te_xchunked", te("te", b"Transfer-Encoding: xchunked\r\n"), 501, UNKNOWN_TE),
        refused("te_chunked_identity", te("te", b"Transfer-Encoding: chunked, identity\r\n"), 501, UNKNOWN_TE),
        refused("te_identity_chunked", te("te", b"Transfer-Encoding: identity, chunked\r\n"), 501, UNKNOWN_TE),
        refused("te_chunked_twice_in_a_list", te("te", b"Transfer-Encoding: chunked, chunked\r\n"), 501, UNKNOWN_TE),
        refused("te_identity", te("te", b"Transfer-Encoding: identity\r\n"), 501, UNKNOWN_TE),
        refused("te_quoted", te("te", b"Transfer-Encoding: \"chunked\"\r\n"), 501, UNKNOWN_TE),
        // nginx: 501 (the VT is part of the value); a control byte in a value is 400 here.
        refused("te_vertical_tab", te("te", b"Transfer-Encoding:\x0bchunked\r\n"), 400, INVALID_HEADER),
        refused("te_space_before_colon", te("te", b"Transfer-Encoding : chunked\r\n"), 400, INVALID_HEADER),
        refused("te_tab_before_colon", te("te", b"Transfer-Encoding\t: chunked\r\n"), 400, INVALID_HEADER),
        refused("te_obs_folded", te("te", b"Transfer-Encoding:\r\n chunked\r\n"), 400, INVALID_HEADER),
        refused("te_line_starting_with_space", te("te", b" Transfer-Encoding: chunked\r\n"), 400, INVALID_HEADER),
        refused("te_repeated", te("te", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 400, DUPLICATE),
        refused("te_repeated_other_value", te("te", b"Transfer-Encoding: chunked\r\ntransfer-encoding: identity\r\n"), 400, DUPLICATE),
        refused(
            "content_length_with_transfer_encoding",
            b"POST /proxy/cl-te HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /proxy/smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n",
            400,
            CL_AND_TE,
        ),
        refused(
            "transfer_encoding_with_content_length",
            b"POST /proxy/te-cl HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 44\r\n\r\n0\r\n\r\nGET /proxy/smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n",
            400,
            CL_AND_TE,
        ),
        refused("te_xchunked_with_content_length", te("te", b"Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n"), 400, CL_AND_TE),
        refused(
            "te_on_http10",
            b"POST /proxy/te10 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            400,
            TE_ON_HTTP10,
        ),
        // Content-Length: 1*DIGIT, once (RFC 9110 §8.6; nginx's ngx_atoof).
        refused("cl_repeated_identical", post("cl", b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), 400, DUPLICATE),
        refused("cl_two_different", post("cl", b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400, DUPLICATE),
        refused("cl_plus_sign", post("cl", b"Content-Length: +5\r\n", b"hello"), 400, INVALID_CL),
        refused("cl_negative", post("cl", b"Content-Length: -1\r\n", b""), 400, INVALID_CL),
        refused("cl_list", post("cl", b"Content-Length: 5, 5\r\n", b"hello"), 400, INVALID_CL),
        refused("cl_list_without_space", post("cl", b"Content-Length: 5,5\r\n", b"hello"), 400, INVALID_CL),
        refused("cl_space_inside", post("cl", b"Content-Length: 1 0\r\n", b"0123456789"), 400, INVALID_CL),
        refused("cl_hex", post("cl", b"Content-Length: 0x5\r\n", b"hello"), 400, INVALID_CL),
        refused("cl_empty", post("cl", b"Content-Length:\r\n", b""), 400, INVALID_CL),
        refused("cl_past_off_t", post("cl", b"Content-Length: 9223372036854775808\r\n", b""), 400, INVALID_CL),
        // Chunked bodies (RFC 9112 §7.1): the head is fine, the body is not.
        refused("chunk_size_overflow", chunked("chunk", b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400, CHUNKED),
        refused("chunk_size_past_off_t", chunked("chunk", b"8000000000000000\r\nhello\r\n0\r\n\r\n"), 400, CHUNKED),
        refused("chunk_size_not_hex", chunked("chunk", b"zz\r\nhello\r\n0\r\n\r\n"), 400, CHUNKED),
        refused("chunk_size_negative", chunked("chunk", b"-5\r\nhello\r\n0\r\n\r\n"), 400, CHUNKED),
        refused("chunk_size_hex_prefix", chunked("chunk", b"0x5\r\nhello\r\n0\r\n\r\n"), 400, CHUNKED),
        refused("chunk_longer_than_its_size", chunked("chunk", b"3\r\nhello\r\n0\r\n\r\n"), 400, CHUNKED),
        // A chunk's data not followed by CRLF, and what follows shaped as the rest of
        // the body and a second request: the connection closes after the 400, so the
        // second request is never read (the table checks the close and the upstream).
        refused(
            "chunk_data_without_crlf_then_a_request",
            chunked("chunk", b"3\r\nabcXX\r\n0\r\n\r\nGET /proxy/smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n"),
            400,
            CHUNKED,
        ),
        // Stricter than nginx, which reads "5 5" as size 5 with an extension " 5".
        refused("chunk_size_space_inside", chunked("chunk", b"5 5\r\nhello\r\n0\r\n\r\n"), 400, CHUNKED),
        // Stricter than nginx, which accepts bare LF in chunked framing: a classic
        // parser discrepancy (RFC 9112 §7.1 requires CRLF).
        refused("chunk_size_line_bare_lf", chunked("chunk", b"5\nhello\r\n0\r\n\r\n"), 400, CHUNKED),
        refused("chunk_data_bare_lf", chunked("chunk", b"5\r\nhello\n0\r\n\r\n"), 400, CHUNKED),
        refused("chunk_size_line_bare_cr", chunked("chunk", b"5\rhello\r\n0\r\n\r\n"), 400, CHUNKED),
        // Stricter than nginx, which does not limit extensions or check their bytes.
        refused("chunk_extension_over_4k", chunked("chunk", long_extension.as_bytes()), 400, CHUNKED),
        refused("chunk_extension_control_byte", chunked("chunk", b"5;a=\x01\r\nhello\r\n0\r\n\r\n"), 400, CHUNKED),
        refused("chunk_trailer_obs_fold", chunked("chunk", b"5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n"), 400, CHUNKED),
        // Bare CR (RFC 9112 §2.2) and obs-fold (§5.2).
        refused("bare_cr_in_request_line", b"GET /proxy/cr HTTP/1.1\rHost: example.com\r\n\r\n", 400, INVALID_REQUEST),
        refused("bare_cr_in_header_value", get_with("cr", b"X-A: a\rb\r\n"), 400, INVALID_HEADER),
        refused("bare_cr_ending_header_line", b"GET /proxy/cr HTTP/1.1\r\nHost: example.com\rX-A: b\r\n\r\n", 400, INVALID_HEADER),
        // Stricter than nginx, which skips CR and LF alike before the request line.
        refused("bare_cr_before_request_line", b"\rGET /proxy/cr HTTP/1.1\r\nHost: example.com\r\n\r\n", 400, INVALID_REQUEST),
        refused("obs_fold", get_with("fold", b"X-Folded: a\r\n b\r\n"), 400, INVALID_HEADER),
        refused("obs_fold_with_tab", get_with("fold", b"X-Folded: a\r\n\tb\r\n"), 400, INVALID_HEADER),
        // Header names (RFC 9110 §5.1: a token, then the colon at once).
        refused("whitespace_before_colon", post("ws", b"Content-Length : 5\r\n", b"hello"), 400, INVALID_HEADER),
        refused("space_in_name", get_with("name", b"X A: b\r\n"), 400, INVALID_HEADER),
        refused("empty_name", get_with("name", b": b\r\n"), 400, INVALID_HEADER),
        refused("nul_in_name", get_with("name", b"X\0A: b\r\n"), 400, INVALID_HEADER),
        // Stricter than nginx, which drops such a line (ignore_invalid_headers) and
        // serves the request; Gunicorn refuses them too.
        refused("paren_in_name", get_with("name", b"X(A): b\r\n"), 400, INVALID_HEADER),
        refused("non_ascii_name", get_with("name", b"X\xc3\xa9: b\r\n"), 400, INVALID_HEADER),
        // Stricter than nginx, which takes "XA" as a header with an empty value.
        refused("missing_colon", get_with("name", b"XA\r\n"), 400, INVALID_HEADER),
        // NUL and control bytes.
        refused("nul_in_method", line(b"G\0T /proxy/nul HTTP/1.1"), 400, INVALID_METHOD),
        refused("nul_in_target", line(b"GET /proxy/a\0b HTTP/1.1"), 400, INVALID_REQUEST),
        refused("control_byte_in_target", line(b"GET /proxy/a\x01b HTTP/1.1"), 400, INVALID_REQUEST),
        refused("del_in_target", line(b"GET /proxy/a\x7fb HTTP/1.1"), 400, INVALID_REQUEST),
        refused("tab_in_target", line(b"GET /proxy/a\tb HTTP/1.1"), 400, INVALID_REQUEST),
        refused("nul_in_version", line(b"GET /proxy/nul HTTP/1.1\0"), 400, INVALID_REQUEST),
        refused("nul_in_header_value", get_with("nul", b"X-Nul: a\0b\r\n"), 400, INVALID_HEADER),
        // Stricter than nginx, which passes other control bytes in values on.
        refused("control_byte_in_header_value", get_with("ctl", b"X-Ctl: a\x01b\r\n"), 400, INVALID_HEADER),
        refused("del_in_header_value", get_with("ctl", b"X-Ctl: a\x7fb\r\n"), 400, INVALID_HEADER),
        // Request lines (RFC 9112 §3; nginx's method alphabet is A-Z, "_" and "-").
        refused("lowercase_method", line(b"get /proxy/m HTTP/1.1"), 400, INVALID_METHOD),
        refused("mixed_case_method", line(b"Get /proxy/m HTTP/1.1"), 400, INVALID_METHOD),
        refused("digit_in_method", line(b"G3T /proxy/m HTTP/1.1"), 400, INVALID_METHOD),
        refused("leading_space", line(b" GET /proxy/m HTTP/1.1"), 400, INVALID_METHOD),
        refused("tab_after_method", line(b"GET\t/proxy/m HTTP/1.1"), 400, INVALID_METHOD),
        // nginx answers "GET /path" as HTTP/0.9 (a body without status line or
        // headers); vestibule does not speak HTTP/0.9 and says so with a 400.
        refused("no_version_http09", b"GET /proxy/09\r\n\r\n", 400, INVALID_REQUEST),
        refused("post_without_version", b"POST /proxy/09\r\n\r\n", 400, INVALID_REQUEST),
        refused("no_target", line(b"GET HTTP/1.1"), 400, INVALID_REQUEST),
        refused("space_in_request_target", line(b"GET /proxy/a b HTTP/1.1"), 400, INVALID_REQUEST),
        refused("word_after_version", line(b"GET /proxy/a HTTP/1.1 x"), 400, INVALID_REQUEST),
        // Versions (RFC 9112 §2.3, nginx's digits rules).
        refused("http_2_0", line(b"GET /proxy/v HTTP/2.0"), 505, INVALID_VERSION),
        refused("http_3", line(b"GET /proxy/v HTTP/3"), 505, INVALID_VERSION),
        refused("http_10_0", line(b"GET /proxy/v HTTP/10.0"), 505, INVALID_VERSION),
        refused("http_0_9_named", line(b"GET /proxy/v HTTP/0.9"), 400, INVALID_REQUEST),
        refused("http_01_1", line(b"GET /proxy/v HTTP/01.1"), 400, INVALID_REQUEST),
        refused("http_1_without_minor", line(b"GET /proxy/v HTTP/1"), 400, INVALID_REQUEST),
        refused("http_1_x", line(b"GET /proxy/v HTTP/1.x"), 400, INVALID_REQUEST),
        refused("http_lowercase", line(b"GET /proxy/v http/1.1"), 400, INVALID_REQUEST),
        refused("http_1_1000", line(b"GET /proxy/v HTTP/1.1000"), 400, INVALID_REQUEST),
        // Target forms (RFC 9112 §3.2) and the methods nginx refuses.
        refused("asterisk_form_options", line(b"OPTIONS * HTTP/1.1"), 400, INVALID_REQUEST),
        refused("asterisk_form_get", line(b"GET * HTTP/1.1"), 400, INVALID_REQUEST),
        refused("authority_form_get", line(b"GET example.com:80 HTTP/1.1"), 400, INVALID_REQUEST),
        refused("relative_target", line(b"GET proxy/rel HTTP/1.1"), 400, INVALID_REQUEST),
        refused("connect", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405, "client sent CONNECT method"),
        refused("trace", line(b"TRACE /proxy/trace HTTP/1.1"), 405, "client sent TRACE method"),
        refused("absolute_form_userinfo", line(b"GET http://user@example.com/proxy/ui HTTP/1.1"), 400, INVALID_REQUEST),
        refused("absolute_form_user_and_password", line(b"GET http://u:p@example.com/proxy/ui HTTP/1.1"), 400, INVALID_REQUEST),
        refused("absolute_form_bad_host", line(b"GET http://example..com/proxy/h HTTP/1.1"), 400, INVALID_HOST_IN_LINE),
        // Host (RFC 9112 §3.2, RFC 9110 §7.2).
        refused("missing_host_on_http11", b"GET /proxy/no-host HTTP/1.1\r\n\r\n", 400, NO_HOST),
        refused("duplicate_host", b"GET /proxy/two-hosts HTTP/1.1\r\nHost: example.com\r\nHost: evil.test\r\n\r\n", 400, DUPLICATE_HOST),
        refused("duplicate_host_same_value", b"GET /proxy/two-hosts HTTP/1.1\r\nHost: example.com\r\nhost: example.com\r\n\r\n", 400, DUPLICATE_HOST),
        // Stricter than nginx, which takes "user@example.com" as a server name.
        refused("host_with_userinfo", b"GET /proxy/ui HTTP/1.1\r\nHost: user@example.com\r\n\r\n", 400, INVALID_HOST),
        refused("host_with_space", b"GET /proxy/bad-host HTTP/1.1\r\nHost: exa mple.com\r\n\r\n", 400, INVALID_HOST),
        refused("host_with_slash", b"GET /proxy/bad-host HTTP/1.1\r\nHost: example.com/x\r\n\r\n", 400, INVALID_HOST),
        refused("host_empty", b"GET /proxy/bad-host HTTP/1.1\r\nHost:\r\n\r\n", 400, INVALID_HOST),
        // Sizes: large_client_header_buffers 4 8k (nginx's 494 is sent as 400).
        refused("request_line_over_8k", line(long_line.as_bytes()), 414, "client sent too long URI"),
        refused("header_line_over_8k", get_with("long", long_header.as_bytes()), 400, "client sent too long header line"),
        refused("head_over_32k", get_with("big", big_head.as_bytes()), 400, "client sent too large request"),
        // Stricter than nginx (no count limit); Gunicorn refuses more than 100 too.
        refused("over_100_headers", get_with("many", many_headers.as_bytes()), 400, "client sent too many header lines"),
        // Paths that climb above the root, encoded or not (nginx's 400).
        refused("dot_dot_above_root", line(b"GET /proxy/../../etc/passwd HTTP/1.1"), 400, ABOVE_ROOT),
        refused("encoded_dot_dot", line(b"GET /%2e%2e/etc/passwd HTTP/1.1"), 400, ABOVE_ROOT),
        refused("encoded_dot_dot_upper", line(b"GET /proxy/%2E%2E/%2e%2E/etc/passwd HTTP/1.1"), 400, ABOVE_ROOT),
        refused("dot_dot_encoded_slash", line(b"GET /..%2fetc/passwd HTTP/1.1"), 400, ABOVE_ROOT),
        refused("dot_dot_encoded_slashes_under_prefix", line(b"GET /proxy/..%2F..%2Fetc/passwd HTTP/1.1"), 400, ABOVE_ROOT),
        refused("encoded_nul", line(b"GET /proxy/a%00b HTTP/1.1"), 400, INVALID_REQUEST),
        refused("broken_escape", line(b"GET /proxy/a%zz HTTP/1.1"), 400, INVALID_REQUEST),
    ]
}

/// A legal request that looks like a refused one: the upstream gets it once, with a
/// request line and body framing of vestibule's own.
pub struct Accepted {
    pub name: &'static str,
    pub raw: Vec<u8>,
    /// The request line the upstream must receive.
    pub upstream_line: &'static str,
    /// The body it must receive, under vestibule's own `Content-Length`.
    pub body: &'static [u8],
    /// Lowercase header names that must not reach the upstream.
    pub not_forwarded: &'static [&'static str],
}

fn accepted(
    name: &'static str,
    raw: impl AsRef<[u8]>,
    upstream_line: &'static str,
    body: &'static [u8],
) -> Accepted {
    Accepted {
        name,
        raw: raw.as_ref().to_vec(),
        upstream_line,
        body,
        not_forwarded: &[],
    }
}

/// A chunked `POST /proxy/NAME` with `Connection: close` and this TE line and body.
fn close_chunked(path: &str, te_line: &[u8], body: &[u8]) -> Vec<u8> {
    let mut r =
        format!("POST /proxy/{path} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n")
            .into_bytes();
    r.extend_from_slice(te_line);
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

const HELLO_CHUNKED: &[u8] = b"5\r\nhello\r\n0\r\n\r\n";

#[rustfmt::skip]
pub fn legal() -> Vec<Accepted> {
    let te = |path, line: &[u8]| close_chunked(path, line, HELLO_CHUNKED);
    let body = |path, body: &[u8]| close_chunked(path, b"Transfer-Encoding: chunked\r\n", body);
    vec![
        // Coding names are case-insensitive (RFC 9112 §7); OWS around a value is not
        // part of it (RFC 9110 §5.5). nginx accepts all of these.
        accepted("te_odd_case", te("te-odd", b"Transfer-Encoding: Chunked\r\n"), "POST /proxy/te-odd HTTP/1.1", b"hello"),
        accepted("te_upper_case", te("te-upper", b"transfer-encoding: CHUNKED\r\n"), "POST /proxy/te-upper HTTP/1.1", b"hello"),
        accepted("te_tab_after_colon", te("te-tab", b"Transfer-Encoding:\tchunked\r\n"), "POST /proxy/te-tab HTTP/1.1", b"hello"),
        accepted("te_trailing_whitespace", te("te-ows", b"Transfer-Encoding: chunked \t\r\n"), "POST /proxy/te-ows HTTP/1.1", b"hello"),
        accepted(
            "cl_leading_zeros",
            b"POST /proxy/cl-zeros HTTP/1.1\r\nHost: example.com\r\nContent-Length: 005\r\nConnection: close\r\n\r\nhello",
            "POST /proxy/cl-zeros HTTP/1.1",
            b"hello",
        ),
        accepted(
            "cl_zero",
            b"POST /proxy/cl-zero HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "POST /proxy/cl-zero HTTP/1.1",
            b"",
        ),
        // Chunk extensions are legal (RFC 9112 §7.1.1) and dropped, as nginx drops them.
        accepted("chunk_extensions", body("ext", b"5;name=value\r\nhello\r\n0;last=1\r\n\r\n"), "POST /proxy/ext HTTP/1.1", b"hello"),
        accepted("chunk_quoted_extension", body("ext-q", b"5;n=\"a b;c\"\r\nhello\r\n0\r\n\r\n"), "POST /proxy/ext-q HTTP/1.1", b"hello"),
        accepted("chunk_bws_before_extension", body("ext-bws", b"5 \t;x\r\nhello\r\n0\r\n\r\n"), "POST /proxy/ext-bws HTTP/1.1", b"hello"),
        accepted("chunk_size_leading_zeros", body("zeros", b"0000000000000000000005\r\nhello\r\n0000\r\n\r\n"), "POST /proxy/zeros HTTP/1.1", b"hello"),
        accepted("chunk_size_uppercase_hex", body("hex", b"A\r\n0123456789\r\n0\r\n\r\n"), "POST /proxy/hex HTTP/1.1", b"0123456789"),
        Accepted {
            not_forwarded: &["x-trailer"],
            ..accepted("chunk_trailers_dropped", body("trailer", b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"), "POST /proxy/trailer HTTP/1.1", b"hello")
        },
        // Bare LF ends head lines for nginx (and RFC 9112 §2.2 allows it).
        accepted(
            "bare_lf_head",
            b"POST /proxy/lf HTTP/1.1\nHost: example.com\nContent-Length: 5\nConnection: close\n\nhello",
            "POST /proxy/lf HTTP/1.1",
            b"hello",
        ),
        accepted(
            "mixed_line_endings",
            b"GET /proxy/mixed HTTP/1.1\r\nHost: example.com\nConnection: close\r\n\n",
            "GET /proxy/mixed HTTP/1.1",
            b"",
        ),
        accepted(
            "empty_lines_before_request_line",
            b"\r\n\n\r\nGET /proxy/after-empty HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
            "GET /proxy/after-empty HTTP/1.1",
            b"",
        ),
        // Versions: a 1.x above 1.1 is served as 1.1 (RFC 9110 §6.2), as nginx does.
        accepted(
            "http_1_2",
            b"GET /proxy/v12 HTTP/1.2\r\nHost: example.com\r\nConnection: close\r\n\r\n",
            "GET /proxy/v12 HTTP/1.1",
            b"",
        ),
        // Runs of SP in the request line (nginx; RFC 9112 §3's MAY).
        accepted(
            "runs_of_spaces",
            b"GET   /proxy/spaces   HTTP/1.1  \r\nHost: example.com\r\nConnection: close\r\n\r\n",
            "GET /proxy/spaces HTTP/1.1",
            b"",
        ),
        // Absolute form: the authority wins over Host (RFC 9112 §3.2.2), and the
        // upstream gets the origin form.
        accepted(
            "absolute_form",
            b"GET http://example.com/proxy/abs?q=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
            "GET /proxy/abs?q=1 HTTP/1.1",
            b"",
        ),
        accepted(
            "absolute_form_odd_case",
            b"GET HTTP://Example.COM/proxy/abs2 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
            "GET /proxy/abs2 HTTP/1.1",
            b"",
        ),
        // %2F is a byte of a segment for the upstream; the target goes on unchanged.
        accepted(
            "encoded_slash",
            b"GET /proxy/a%2Fb HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
            "GET /proxy/a%2Fb HTTP/1.1",
            b"",
        ),
        accepted(
            "http10_with_body",
            b"POST /proxy/ten HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
            "POST /proxy/ten HTTP/1.1",
            b"hello",
        ),
        accepted(
            "unknown_method",
            b"PROPFIND /proxy/dav HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
            "PROPFIND /proxy/dav HTTP/1.1",
            b"",
        ),
        accepted(
            "host_case_and_trailing_dot",
            b"GET /proxy/host HTTP/1.1\r\nHost: EXAMPLE.com.\r\nConnection: close\r\n\r\n",
            "GET /proxy/host HTTP/1.1",
            b"",
        ),
        accepted(
            "obs_text_in_value",
            b"GET /proxy/obs HTTP/1.1\r\nHost: example.com\r\nX-Name: caf\xe9\r\nConnection: close\r\n\r\n",
            "GET /proxy/obs HTTP/1.1",
            b"",
        ),
    ]
}
