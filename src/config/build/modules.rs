//! `load_module`: nginx's dynamic modules, as Debian packages them
//! (`/usr/share/nginx/modules-available/*.conf`, linked into `modules-enabled/` by each
//! `libnginx-mod-*` package and included by the stock `nginx.conf`). Vestibule is one
//! binary: it loads no `.so`. A line naming a module Debian ships is accepted, so the
//! stock tree loads, with a `-t` warning naming the module and its package (the
//! package cannot simply be removed: `nginx-light`, `nginx-core` and `nginx-full` depend
//! on theirs); the
//! module's directives are then refused one by one ([`super::unimplemented`]). Any other
//! module is an error.

use super::args::arg;
use super::Builder;
use crate::config::error::ConfigErrorKind;
use crate::config::tree::Directive;

/// One dynamic module Debian ships: its name (the `.so` without the extension), its
/// package, and what it adds.
pub struct DynamicModule {
    pub name: &'static str,
    pub package: &'static str,
    pub adds: &'static str,
}

const fn m(name: &'static str, package: &'static str, adds: &'static str) -> DynamicModule {
    DynamicModule {
        name,
        package,
        adds,
    }
}

/// Debian's dynamic modules (bookworm and trixie). None is implemented natively today;
/// a module vestibule gains goes to [`NATIVE`].
pub const DEBIAN_MODULES: &[DynamicModule] = &[
    m(
        "ngx_http_auth_pam_module",
        "libnginx-mod-http-auth-pam",
        "auth_pam",
    ),
    m(
        "ngx_http_brotli_filter_module",
        "libnginx-mod-http-brotli-filter",
        "brotli",
    ),
    m(
        "ngx_http_brotli_static_module",
        "libnginx-mod-http-brotli-static",
        "brotli_static",
    ),
    m(
        "ngx_http_cache_purge_module",
        "libnginx-mod-http-cache-purge",
        "*_cache_purge",
    ),
    m(
        "ngx_http_dav_ext_module",
        "libnginx-mod-http-dav-ext",
        "dav_ext_methods",
    ),
    m("ngx_http_echo_module", "libnginx-mod-http-echo", "echo"),
    m(
        "ngx_http_fancyindex_module",
        "libnginx-mod-http-fancyindex",
        "fancyindex",
    ),
    m(
        "ngx_http_geoip_module",
        "libnginx-mod-http-geoip",
        "geoip_country, geoip_city",
    ),
    m(
        "ngx_http_geoip2_module",
        "libnginx-mod-http-geoip2",
        "geoip2",
    ),
    m(
        "ngx_http_headers_more_filter_module",
        "libnginx-mod-http-headers-more-filter",
        "more_set_headers",
    ),
    m(
        "ngx_http_image_filter_module",
        "libnginx-mod-http-image-filter",
        "image_filter",
    ),
    m(
        "ngx_http_js_module",
        "libnginx-mod-http-js",
        "js_import, js_content",
    ),
    m(
        "ngx_http_lua_module",
        "libnginx-mod-http-lua",
        "content_by_lua*",
    ),
    m(
        "ngx_http_memc_module",
        "libnginx-mod-http-memc",
        "memc_pass",
    ),
    m(
        "ngx_http_modsecurity_module",
        "libnginx-mod-http-modsecurity",
        "modsecurity",
    ),
    m(
        "ndk_http_module",
        "libnginx-mod-http-ndk",
        "nothing by itself",
    ),
    m(
        "ngx_http_perl_module",
        "libnginx-mod-http-perl",
        "perl, perl_set",
    ),
    m(
        "ngx_http_set_misc_module",
        "libnginx-mod-http-set-misc",
        "set_escape_uri",
    ),
    m(
        "ngx_http_srcache_filter_module",
        "libnginx-mod-http-srcache-filter",
        "srcache_fetch",
    ),
    m(
        "ngx_http_subs_filter_module",
        "libnginx-mod-http-subs-filter",
        "subs_filter",
    ),
    m(
        "ngx_http_uploadprogress_module",
        "libnginx-mod-http-uploadprogress",
        "upload_progress",
    ),
    m(
        "ngx_http_upstream_fair_module",
        "libnginx-mod-http-upstream-fair",
        "fair",
    ),
    m(
        "ngx_http_xslt_filter_module",
        "libnginx-mod-http-xslt-filter",
        "xslt_stylesheet",
    ),
    m("ngx_mail_module", "libnginx-mod-mail", "the mail block"),
    m("ngx_nchan_module", "libnginx-mod-nchan", "nchan_*"),
    m("ngx_rtmp_module", "libnginx-mod-rtmp", "the rtmp block"),
    m(
        "ngx_stream_module",
        "libnginx-mod-stream",
        "the stream block",
    ),
    m(
        "ngx_stream_geoip_module",
        "libnginx-mod-stream-geoip",
        "geoip_country in stream",
    ),
    m(
        "ngx_stream_geoip2_module",
        "libnginx-mod-stream-geoip2",
        "geoip2 in stream",
    ),
    m(
        "ngx_stream_js_module",
        "libnginx-mod-stream-js",
        "js_* in stream",
    ),
];

/// Dynamic modules whose work vestibule does natively: `load_module` of one is an info
/// line.
pub const NATIVE: &[&str] = &[
    "ngx_http_brotli_filter_module",
    "ngx_http_brotli_static_module",
];

/// The module a `load_module` path names: `modules/ngx_http_echo_module.so` →
/// `ngx_http_echo_module`.
pub fn module_name(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.strip_suffix(".so").unwrap_or(file)
}

/// `load_module PATH;` (main context).
pub fn load_module(cx: &mut Builder, d: &Directive) {
    let name = module_name(arg(d, 0));
    if NATIVE.contains(&name) {
        cx.info(
            format!("\"load_module\" of {name}: vestibule does this natively, nothing is loaded"),
            &d.span,
        );
        return;
    }
    match DEBIAN_MODULES.iter().find(|m| m.name == name) {
        Some(m) => cx.warn(
            format!(
                "\"load_module\" {} ({}, adds {}) is ignored: vestibule loads no modules and refuses the module's directives",
                m.name, m.package, m.adds
            ),
            &d.span,
        ),
        None => cx.error(ConfigErrorKind::UnknownModule(name.to_string()), &d.span),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_from_paths() {
        for (path, name) in [
            ("modules/ngx_http_echo_module.so", "ngx_http_echo_module"),
            (
                "/usr/lib/nginx/modules/ngx_stream_module.so",
                "ngx_stream_module",
            ),
            ("ngx_mail_module.so", "ngx_mail_module"),
            ("odd", "odd"),
        ] {
            assert_eq!(module_name(path), name, "{path}");
        }
    }

    #[test]
    fn every_debian_module_is_named_once() {
        for (i, a) in DEBIAN_MODULES.iter().enumerate() {
            assert!(a.package.starts_with("libnginx-mod-"), "{}", a.name);
            assert!(
                DEBIAN_MODULES[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
        }
    }
}
