//! nginx directives vestibule knows of and does not implement, each with what to do
//! instead. The schema ([`super::schema`]) consults this table only for a name no
//! module's table has, so `-t` fails with one line that says so (`"uwsgi_pass"
//! directive is not implemented in vestibule: run the app with Gunicorn ...`) rather
//! than `unknown directive`. A prefix row (`"uwsgi_"`) covers a module's whole family.
//! docs/configuration.md keeps the same list for users.

/// One row: a directive name, or a prefix ending in `_` that covers a family.
#[derive(Debug)]
pub struct NotImplemented {
    pub name: &'static str,
    pub advice: &'static str,
}

const fn n(name: &'static str, advice: &'static str) -> NotImplemented {
    NotImplemented { name, advice }
}

const UWSGI: &str =
    "run the app under Gunicorn (or uWSGI's own HTTP socket, `--http-socket`) and use proxy_pass";
const FASTCGI: &str = "FastCGI (PHP-FPM) is out of scope for vestibule; run PHP behind an HTTP server and use proxy_pass";
const SCGI: &str = "run the app under an HTTP server (Gunicorn for Python) and use proxy_pass";
const GRPC: &str =
    "gRPC needs HTTP/2 to the upstream, which vestibule does not speak; use nginx for this server";
const MEMCACHED: &str = "use proxy_pass to an HTTP cache or the application";
const SSI: &str = "server-side includes are out of scope; render the page in the application";
const SUB: &str = "response body rewriting is out of scope; change the application's output";
const PERL: &str = "embedded Perl is out of scope; move the logic into the upstream application";
const JS: &str = "njs is out of scope; move the logic into the upstream application";
const LUA: &str = "embedded Lua is out of scope; move the logic into the upstream application";
const MAIL: &str = "vestibule is an HTTP proxy; use nginx (or a mail proxy) for mail";
const STREAM: &str = "vestibule is an HTTP proxy; use nginx or HAProxy for TCP/UDP proxying";
const GUNZIP: &str = "a compressed upstream response is passed on as it is; clients that cannot decompress ask the upstream for identity";
const CACHE: &str = "storing responses as files (proxy_store) is not implemented; use proxy_cache";
const AUTH: &str = "only auth_basic is implemented; do other authentication in the application";
const GEOIP: &str = "GeoIP lookups are out of scope; do them in the application";
const DAV: &str = "WebDAV is out of scope";
const IMAGE: &str = "image transformation is out of scope";
const XSLT: &str = "XSLT transformation is out of scope";
const ECHO: &str = "use \"return CODE TEXT\" for a fixed answer";
const HEADERS_MORE: &str = "use add_header, proxy_set_header and proxy_hide_header";
const AUTOINDEX: &str = "use autoindex for directory listings";
const MIRROR: &str = "request mirroring is not implemented";
const SECURE_LINK: &str = "secure links are not implemented; check the token in the application";
const SPLIT: &str = "A/B splitting is not implemented; use upstream weights";
const CHARSET: &str = "charset recoding is out of scope: `charset` declares the charset the files are already in; convert them, or set the charset in the application's Content-Type";

/// The table, in the order of nginx's modules. Exact names first where a prefix row
/// also matches, since the first match wins.
pub const TABLE: &[NotImplemented] = &[
    n("uwsgi_", UWSGI),
    n("fastcgi_", FASTCGI),
    n("scgi_", SCGI),
    n("grpc_", GRPC),
    n("memcached_", MEMCACHED),
    n("ssi", SSI),
    n("ssi_", SSI),
    n("sub_filter", SUB),
    n("sub_filter_", SUB),
    n("subs_filter", SUB),
    n("subs_filter_types", SUB),
    n("addition_types", SUB),
    n("add_before_body", SUB),
    n("add_after_body", SUB),
    n("perl", PERL),
    n("perl_", PERL),
    n("js_", JS),
    n("content_by_lua", LUA),
    n("content_by_lua_", LUA),
    n("access_by_lua", LUA),
    n("access_by_lua_", LUA),
    n("rewrite_by_lua", LUA),
    n("rewrite_by_lua_", LUA),
    n("lua_", LUA),
    n("mail", MAIL),
    n("stream", STREAM),
    n("rtmp", STREAM),
    n("gunzip", GUNZIP),
    n("proxy_store", CACHE),
    n("proxy_store_access", CACHE),
    n("auth_request", AUTH),
    n("auth_request_set", AUTH),
    n("auth_pam", AUTH),
    n("auth_pam_", AUTH),
    n("geoip_", GEOIP),
    n("geoip2", GEOIP),
    n("geo", GEOIP),
    n("dav_methods", DAV),
    n("dav_ext_methods", DAV),
    n("create_full_put_path", DAV),
    n("image_filter", IMAGE),
    n("image_filter_", IMAGE),
    n("xslt_", XSLT),
    n("echo", ECHO),
    n("echo_", ECHO),
    n("more_set_headers", HEADERS_MORE),
    n("more_clear_headers", HEADERS_MORE),
    n("more_set_input_headers", HEADERS_MORE),
    n("more_clear_input_headers", HEADERS_MORE),
    n("fancyindex", AUTOINDEX),
    n("fancyindex_", AUTOINDEX),
    n("http3", "HTTP/3 is not implemented"),
    n("quic_", "HTTP/3 is not implemented"),
    n("mirror", MIRROR),
    n("mirror_request_body", MIRROR),
    n("secure_link", SECURE_LINK),
    n("secure_link_", SECURE_LINK),
    n("split_clients", SPLIT),
    n("charset_map", CHARSET),
    n("override_charset", CHARSET),
    n("empty_gif", "serve a file with root or alias"),
    n("mp4", "serve the file as a static file (byte ranges work)"),
    n("flv", "serve the file as a static file (byte ranges work)"),
    n("random_index", AUTOINDEX),
    n("userid", "set the cookie in the application"),
    n("userid_", "set the cookie in the application"),
    n("slice", CACHE),
];

/// The advice for `name` when nginx (or a module Debian ships) has such a directive and
/// vestibule does not.
pub fn advice(name: &str) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|r| {
            if r.name.ends_with('_') {
                name.starts_with(r.name)
            } else {
                name == r.name
            }
        })
        .map(|r| r.advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directive that becomes implemented leaves this table: a row the schema also
    /// knows (or a family one of whose names it knows) is stale.
    #[test]
    fn no_row_names_an_implemented_directive() {
        use super::super::command::specs;
        use super::super::schema::TABLES;
        for row in TABLE {
            for spec in specs(TABLES) {
                let stale = if row.name.ends_with('_') {
                    spec.name.starts_with(row.name)
                } else {
                    spec.name == row.name
                };
                assert!(!stale, "\"{}\" is implemented; remove its row", spec.name);
            }
        }
    }

    #[test]
    fn names_and_families_match() {
        for (name, found) in [
            ("uwsgi_pass", true),
            ("uwsgi_param", true),
            ("fastcgi_pass", true),
            ("ssi", true),
            ("ssi_types", true),
            ("sub_filter", true),
            ("perl_set", true),
            ("stream", true),
            ("gunzip", true),
            ("gzip_static", false),
            ("server_nmae", false),
            ("streams", false),
        ] {
            assert_eq!(advice(name).is_some(), found, "{name}");
        }
    }
}
