//! Reason phrases for the status lines vestibule writes itself (error pages, static
//! files, `return`); relayed upstream responses keep the upstream's phrase.
//!
//! nginx's spelling where nginx has one (`302 Moved Temporarily`, `405 Not Allowed`,
//! `408 Request Time-out`, `414 Request-URI Too Large`, `503 Service Temporarily
//! Unavailable`, `504 Gateway Time-out`), so a client or test that matched nginx's
//! status line still matches; RFC 9110 §15's phrase for the codes nginx sends
//! without one.

/// The reason phrase for `status`, or `""` for a code with none (the status line
/// is then `HTTP/1.1 599 `, which RFC 9112 §4 allows).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        511 => "Network Authentication Required",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn nginx_spellings() {
        let rows = [
            (302, "Moved Temporarily"),
            (405, "Not Allowed"),
            (408, "Request Time-out"),
            (413, "Request Entity Too Large"),
            (414, "Request-URI Too Large"),
            (416, "Requested Range Not Satisfiable"),
            (502, "Bad Gateway"),
            (503, "Service Temporarily Unavailable"),
            (504, "Gateway Time-out"),
            (599, ""),
        ];
        for (status, phrase) in rows {
            assert_eq!(reason_phrase(status), phrase, "{status}");
        }
    }
}
