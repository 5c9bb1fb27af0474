//! `-v` and `-V`. Under its own name vestibule says what it is; invoked as `nginx` (a
//! symlink `/usr/sbin/nginx -> vestibule`, as a package installing vestibule as an
//! alternative for nginx ships it) it prints nginx's lines, which tools parse:
//! certbot's nginx plugin reads `-V`'s standard error for the version
//! (`nginx version: ([^/]+)/([0-9\.]*)`), ` --with-http_ssl_module`,
//! `TLS SNI support enabled` and `built with OpenSSL ([^ ]+) ` (docs/cli.md).
//!
//! Every line is true of this build: the version is that of the nginx whose
//! configuration language vestibule implements, with vestibule's own in parentheses
//! where nginx puts a `--build` name; the OpenSSL version is the one AWS-LC, the
//! cryptography under rustls, reports of itself; the module flags are checked against
//! the directive tables by the tests below.

use std::ffi::CStr;
use std::path::Path;

use super::{DEFAULT_CONF_FILE, DEFAULT_ERROR_LOG, DEFAULT_PREFIX, VERSION};
use crate::config::build::DEFAULT_PID;

/// The nginx release whose configuration language vestibule implements: the last 1.25
/// mainline, the same language as 1.26 stable (docs/cli.md says why this one).
pub const NGINX_VERSION: &str = "1.25.5";

/// The rustls series vestibule is built with (a test checks it against Cargo.lock).
const RUSTLS_SERIES: &str = "0.23";

/// The modules nginx builds only when asked, which vestibule has: `--with-...`.
const WITH_MODULES: &[&str] = &[
    "http_ssl_module",
    "http_realip_module",
    "http_gzip_static_module",
    "http_stub_status_module",
];

/// The modules nginx builds unless told not to, which vestibule does not have:
/// `--without-...`. Each with a directive of that module, which the tests check is an
/// unknown directive (so this list is corrected when one is implemented).
pub const WITHOUT_MODULES: &[(&str, &str)] = &[
    ("http_ssi_module", "ssi"),
    ("http_userid_module", "userid"),
    ("http_mirror_module", "mirror"),
    ("http_geo_module", "geo"),
    ("http_split_clients_module", "split_clients"),
    ("http_referer_module", "valid_referers"),
    ("http_fastcgi_module", "fastcgi_pass"),
    ("http_uwsgi_module", "uwsgi_pass"),
    ("http_scgi_module", "scgi_pass"),
    ("http_grpc_module", "grpc_pass"),
    ("http_memcached_module", "memcached_pass"),
    ("http_empty_gif_module", "empty_gif"),
    ("http_browser_module", "ancient_browser"),
];

/// The name the binary was run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    Vestibule,
    /// argv[0]'s file name is `nginx`.
    Nginx,
}

impl Invocation {
    /// From argv[0]: `nginx` when its file name is exactly that.
    pub fn from_argv0(argv0: Option<&std::ffi::OsStr>) -> Invocation {
        match argv0.and_then(|a| Path::new(a).file_name()) {
            Some(name) if name == "nginx" => Invocation::Nginx,
            _ => Invocation::Vestibule,
        }
    }
}

/// The version line (`-v`), without its newline.
pub fn version_line(invocation: Invocation) -> String {
    match invocation {
        // nginx's `NGINX_VER_BUILD` form, as a distribution's `--build=NAME` prints it
        // (`nginx version: nginx/1.18.0 (Ubuntu)`).
        Invocation::Nginx => format!("nginx version: nginx/{NGINX_VERSION} (vestibule/{VERSION})"),
        Invocation::Vestibule => format!("vestibule version: vestibule/{VERSION}"),
    }
}

/// What `-V` prints, every line ending in a newline.
pub fn verbose(invocation: Invocation) -> String {
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    line(&version_line(invocation));
    if invocation == Invocation::Vestibule {
        line(&format!("configuration language: nginx/{NGINX_VERSION}"));
    }
    line(&tls_line());
    line("TLS SNI support enabled");
    match invocation {
        Invocation::Nginx => line(&format!(
            "configure arguments: --build=vestibule/{VERSION} --prefix={DEFAULT_PREFIX} \
             --conf-path={DEFAULT_CONF_FILE} --error-log-path={DEFAULT_ERROR_LOG} \
             --pid-path={DEFAULT_PID} {}",
            module_arguments()
        )),
        Invocation::Vestibule => {
            line(&format!(
                "modules, in nginx's configure arguments: {}",
                module_arguments()
            ));
            line(&format!("default configuration file: {DEFAULT_CONF_FILE}"));
            line(&format!("default prefix: {DEFAULT_PREFIX}"));
            line(&format!("default error log: {DEFAULT_ERROR_LOG}"));
            line("built-in files: proxy_params, mime.types, default configuration");
        }
    }
    out
}

/// `built with OpenSSL 1.1.1 (compatible; AWS-LC 5.12.0) (...)`: AWS-LC's own version
/// text (`OPENSSL_VERSION_TEXT`, what nginx prints when built with it), then what it
/// is used for. certbot reads `1.1.1` from it, which is at least the 1.0.2l it wants
/// before it turns session tickets off.
fn tls_line() -> String {
    let crypto = CStr::from_bytes_with_nul(aws_lc_sys::OPENSSL_VERSION_TEXT)
        .ok()
        .and_then(|c| c.to_str().ok())
        .unwrap_or("AWS-LC");
    format!("built with {crypto} (its libcrypto only: TLS is rustls {RUSTLS_SERIES})")
}

fn module_arguments() -> String {
    WITH_MODULES
        .iter()
        .map(|m| format!("--with-{m}"))
        .chain(
            WITHOUT_MODULES
                .iter()
                .map(|(m, _)| format!("--without-{m}")),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn invocation_by_file_name() {
        let cases: &[(Option<&str>, Invocation)] = &[
            (Some("/usr/sbin/nginx"), Invocation::Nginx),
            (Some("nginx"), Invocation::Nginx),
            (Some("./bin/nginx"), Invocation::Nginx),
            (Some("/usr/sbin/vestibule"), Invocation::Vestibule),
            (Some("/usr/sbin/nginx-debug"), Invocation::Vestibule),
            (Some("/opt/nginx/sbin/vestibule"), Invocation::Vestibule),
            (None, Invocation::Vestibule),
        ];
        for (argv0, want) in cases {
            assert_eq!(
                Invocation::from_argv0(argv0.map(OsStr::new)),
                *want,
                "{argv0:?}"
            );
        }
    }

    /// certbot 2.1's regexes (certbot_nginx/_internal/configurator.py) on `-V` as nginx.
    #[test]
    fn certbot_reads_what_it_needs() {
        let text = verbose(Invocation::Nginx);
        let version = regex::RegexBuilder::new(r"nginx version: ([^/]+)/([0-9\.]*)")
            .case_insensitive(true)
            .build()
            .unwrap();
        let caps = version.captures(&text).unwrap();
        assert_eq!(&caps[1], "nginx");
        let parsed: Vec<u32> = caps[2].split('.').map(|n| n.parse().unwrap()).collect();
        assert!(parsed >= vec![1, 13, 0], "TLS 1.3 options need 1.13.0");
        assert!(text.contains(" --with-http_ssl_module"));
        assert!(text.contains("TLS SNI support enabled"));
        let openssl = regex::Regex::new(r"built with OpenSSL ([^ ]+) ").unwrap();
        assert_eq!(&openssl.captures(&text).unwrap()[1], "1.1.1");
        assert!(text.contains("AWS-LC"), "{text}");
        assert!(text.contains("rustls"), "{text}");
    }

    #[test]
    fn rustls_series_is_the_one_built() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
        let at = lock.find("name = \"rustls\"\nversion = \"").unwrap();
        let version = lock[at..].lines().nth(1).unwrap();
        assert!(
            version.starts_with(&format!("version = \"{RUSTLS_SERIES}.")),
            "{version}"
        );
    }

    /// A `--without-` module must be one vestibule does not know; a `--with-` one must
    /// be known.
    #[test]
    fn module_flags_match_the_directive_tables() {
        for (module, directive) in WITHOUT_MODULES {
            assert!(
                !crate::config::build::knows_directive(directive),
                "\"{directive}\" is implemented: drop --without-{module}"
            );
        }
        for directive in ["ssl_certificate", "set_real_ip_from", "gzip_static"] {
            assert!(
                crate::config::build::knows_directive(directive),
                "{directive}"
            );
        }
    }

    #[test]
    fn own_name_keeps_its_form() {
        let text = verbose(Invocation::Vestibule);
        assert!(text.starts_with(&format!("vestibule version: vestibule/{VERSION}\n")));
        assert!(!text.contains("nginx version:"));
        assert!(text.contains("TLS SNI support enabled\n"));
        assert!(text.contains("--with-http_ssl_module"));
        assert!(text.contains("default configuration file: /etc/vestibule/vestibule.conf\n"));
    }
}
