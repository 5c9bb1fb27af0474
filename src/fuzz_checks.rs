//! The properties the fuzz targets check, one function per target, shared by
//! `fuzz/fuzz_targets/*.rs` (libFuzzer) and `tests/fuzz_corpus.rs`, which replays the
//! saved corpora in `fuzz/corpus/<target>/` on every ordinary test run.
//!
//! Each function takes arbitrary bytes and panics only when a property is broken: the
//! parsers themselves must answer any input with a value or an error.

#![allow(clippy::panic, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::config::build::{build, BuildOptions};
use crate::config::model::{ListenAddr, LocationMatch};
use crate::config::parser::parse;
use crate::config::source::Origin;
use crate::http1::{
    parse_request_head, parse_response_head, BodyDecoder, Chunk, HeadLimits, Method,
    RequestFraming, UpstreamHeadLimits,
};
use crate::route::{normalize_host, LocationOutcome, Router};
use crate::static_files::range::{parse_range, RangeOutcome};

/// A property over arbitrary bytes: returns, or panics when the property breaks.
pub type Check = fn(&[u8]);

/// Every target, by the name of its corpus folder and fuzz binary.
pub const TARGETS: &[(&str, Check)] = &[
    ("request_head", request_head),
    ("response_head", response_head),
    ("chunked_body", chunked_body),
    ("config_parse", config_parse),
    ("route_lookup", route_lookup),
    ("uri_normalize", uri_normalize),
    ("range_header", range_header),
    ("rewrite_replace", rewrite_replace),
    ("basic_auth", basic_auth),
];

/// The request head parser never reports more consumed bytes than it was given.
pub fn request_head(data: &[u8]) {
    if let Ok(Some((_, consumed))) = parse_request_head(data, &HeadLimits::default()) {
        assert!(consumed <= data.len());
    }
}

/// The response head parser never over-consumes, for GET and HEAD alike.
pub fn response_head(data: &[u8]) {
    for method in [Method::Get, Method::Head] {
        if let Ok(Some((_, n))) = parse_response_head(data, &method, &UpstreamHeadLimits::default())
        {
            assert!(n <= data.len());
        }
    }
}

/// The chunked decoder's payload ranges stay inside the bytes it was given.
pub fn chunked_body(data: &[u8]) {
    let mut decoder = BodyDecoder::for_request(RequestFraming::Chunked);
    let mut at = 0;
    for _ in 0..=data.len() {
        let rest = &data[at..];
        match decoder.next(rest) {
            Ok((used, Chunk::Data(r))) => {
                assert!(r.end <= rest.len() && used <= rest.len());
                at += used;
            }
            Ok((used, Chunk::NeedMore)) => {
                assert!(used <= rest.len());
                break;
            }
            Ok((_, Chunk::Done)) | Err(_) => break,
        }
    }
}

/// Any configuration text: the parser and the builder report errors, never panic.
pub fn config_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Arc::new(Origin::File("/fuzz.conf".into()));
    if let Ok(tree) = parse(text, &origin) {
        let _ = build(&tree, &BuildOptions::new("/", false));
    }
}

/// A configuration with every kind of `server_name` and `location`, compiled once.
const ROUTES: &str = r#"
http {
    server {
        listen 127.0.0.1:8080 default_server;
        server_name example.com www.example.com;
        location = / { return 200 exact; }
        location / { return 200 root; }
        location /static/ { return 200 static; }
        location ^~ /media/ { return 200 media; }
        location ~ \.(png|jpg)$ { return 200 image; }
        location ~* ^/API/(?<version>v[0-9]+)/ { return 200 api; }
        location /nested/ {
            location /nested/deep/ { return 200 deep; }
            location ~ /nested/.*\.txt$ { return 200 text; }
        }
        location @fallback { return 200 named; }
    }
    server {
        listen 127.0.0.1:8080;
        server_name *.example.org example.* ~^(?<sub>[a-z]+)\.regex\.test$;
        location /app { return 200 app; }
    }
}
"#;

fn router() -> &'static (crate::config::model::HttpConfig, Router) {
    static ROUTER: OnceLock<(crate::config::model::HttpConfig, Router)> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let origin = Arc::new(Origin::File(PathBuf::from("/fuzz/routes.conf")));
        let tree = parse(ROUTES, &origin).expect("the route table parses");
        let options = BuildOptions::new(PathBuf::from("/"), false);
        let built = build(&tree, &options).expect("the route table builds");
        let http = built.config.http.expect("the route table has http");
        let router = Router::compile(&http);
        (http, router)
    })
}

/// Host and path split at the first NUL: server selection always finds a server of
/// the listen address, and a matched location really matches the path.
pub fn route_lookup(data: &[u8]) {
    let (http, router) = router();
    let (host, path) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let host = String::from_utf8_lossy(host);
    let path = String::from_utf8_lossy(path);
    let local = ListenAddr::Tcp(([127, 0, 0, 1], 8080).into());
    let host = normalize_host(&host);
    let server = router
        .select_server(&local, host.as_deref())
        .expect("a server listens on 127.0.0.1:8080")
        .server;
    assert!(server.get(http).is_some());
    match router.select_location(server, &path) {
        LocationOutcome::Location { location, .. } => match &location.matcher {
            LocationMatch::Exact(uri) => assert_eq!(uri, &*path),
            LocationMatch::Prefix { path: prefix, .. } => assert!(path.starts_with(prefix)),
            LocationMatch::Regex { regex, .. } => assert!(regex.is_match(&path)),
            LocationMatch::Named(_) => panic!("a URI matched a named location"),
        },
        LocationOutcome::Redirect(location) => match &location.matcher {
            LocationMatch::Prefix { path: prefix, .. } | LocationMatch::Exact(prefix) => {
                assert_eq!(format!("{path}/"), *prefix);
            }
            other => panic!("redirect from {other:?}"),
        },
        LocationOutcome::Server => {}
    }
}

/// A normalised path starts with `/` and has no `.` or `..` segment, and the
/// shortcut for paths that need no work agrees with the full normalisation.
pub fn uri_normalize(data: &[u8]) {
    if let Ok(raw) = std::str::from_utf8(data) {
        let normalized = crate::uri::normalize_path(raw);
        assert_eq!(
            normalized,
            crate::uri::normalize_path_general(raw),
            "{raw:?}"
        );
        if let Ok(path) = normalized {
            assert!(path.starts_with('/'));
            assert!(path.split('/').all(|s| s != ".." && s != "."));
        }
    }
}

/// Every satisfiable range lies inside the file.
pub fn range_header(data: &[u8]) {
    for len in [0u64, 1, 500, 1 << 20] {
        if let RangeOutcome::Satisfiable(ranges) = parse_range(data, len) {
            for r in ranges {
                assert!(r.start < r.end && r.end <= len);
            }
        }
    }
}

/// What a redirecting `rewrite` makes of request bytes: unescaping never grows a
/// `Location`, and a capture escaped for it (nginx's `NGX_ESCAPE_ARGS`) comes out
/// with no space, control or non-ASCII byte, so no header line can be split.
pub fn rewrite_replace(data: &[u8]) {
    use crate::rewrite::replace::{escape_args, redirect_location, unescape_redirect};
    assert!(unescape_redirect(data).len() <= data.len());
    let mut escaped = Vec::new();
    escape_args(data, &mut escaped);
    let location = unescape_redirect(&escaped);
    assert!(
        location.iter().all(|&b| b > b' ' && b < 0x7f),
        "{location:?}"
    );
    let args = std::str::from_utf8(data).ok();
    let _ = redirect_location(data, data.first() == Some(&b'?'), true, args);
}

/// `Authorization` values and user files from arbitrary bytes: a user never holds
/// the `:` that ends it, and a stored hash never runs past its line or field.
pub fn basic_auth(data: &[u8]) {
    use crate::access::basic::{credentials, find_hash};
    let headers = vec![crate::http1::Header::new("Authorization", data)];
    if let Some(c) = credentials(&headers) {
        assert!(!c.user.contains(&b':'));
    }
    let (user, file) = data.split_at(data.iter().position(|&b| b == b'\n').unwrap_or(0));
    if let Some(hash) = find_hash(file, user) {
        assert!(!hash.iter().any(|&b| b == b'\n' || b == b'\r' || b == b':'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The route table itself answers as written, so `route_lookup` checks a real
    /// table rather than an empty one.
    #[test]
    fn route_table_routes() {
        let (_, router) = router();
        let local = ListenAddr::Tcp(([127, 0, 0, 1], 8080).into());
        let server = router.select_server(&local, Some("a.example.org")).unwrap();
        assert_eq!(server.server.index(), 1);
        let main = router.select_server(&local, Some("example.com")).unwrap();
        match router.select_location(main.server, "/nested/deep/x") {
            LocationOutcome::Location { location, .. } => {
                assert_eq!(location.matcher.describe(), "/nested/deep/")
            }
            other => panic!("{other:?}"),
        }
        for input in [&b"example.com\0/static/a.png"[..], b"\0/media", b"x\0/"] {
            route_lookup(input);
        }
    }
}
