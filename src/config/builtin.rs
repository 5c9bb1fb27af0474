//! Configuration files built into the binary. [`read`](super::read) uses them when the
//! file on disk is missing: `include proxy_params;` and `include mime.types;` work on a
//! machine where only the binary was installed, and with no
//! `/etc/vestibule/vestibule.conf` vestibule still starts, on 127.0.0.1:8080, and says
//! how to configure it. The same files ship in `conf/` for packagers.

/// Debian's `proxy_params`: pass the client's Host, address and scheme upstream; plus
/// vestibule's own `Forwarded $proxy_forwarded`, which replaces a client's `Forwarded`.
pub const PROXY_PARAMS: &str = include_str!("../../conf/proxy_params");

/// nginx's `mime.types`: a `types { ... }` block of MIME types and extensions.
pub const MIME_TYPES: &str = include_str!("../../conf/mime.types");

/// The configuration run when the main file does not exist and no `-c` was given.
pub const EMBEDDED_MAIN: &str = include_str!("../../conf/embedded.conf");

/// The built-in copy of an included file, by its file name, if there is one.
pub fn for_file_name(name: &str) -> Option<&'static str> {
    match name {
        "proxy_params" => Some(PROXY_PARAMS),
        "mime.types" => Some(MIME_TYPES),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::sync::Arc;

    use super::super::parser::parse;
    use super::super::source::Origin;
    use super::*;

    /// Every file in `conf/`, shipped or built in, parses.
    #[test]
    fn shipped_conf_files_parse() {
        let files: &[(&str, &str)] = &[
            ("proxy_params", PROXY_PARAMS),
            ("mime.types", MIME_TYPES),
            ("embedded.conf", EMBEDDED_MAIN),
            ("vestibule.conf", include_str!("../../conf/vestibule.conf")),
            (
                "sites-available/default",
                include_str!("../../conf/sites-available/default"),
            ),
        ];
        for (name, text) in files {
            let origin = Arc::new(Origin::BuiltIn(format!("/conf/{name}").into()));
            let parsed = parse(text, &origin).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!parsed.is_empty(), "{name}");
        }
    }

    #[test]
    fn proxy_params_sets_the_four_headers_and_forwarded() {
        let origin = Arc::new(Origin::BuiltIn("/proxy_params".into()));
        let headers: Vec<String> = parse(PROXY_PARAMS, &origin)
            .unwrap()
            .iter()
            .map(|d| format!("{} {}", d.name, d.arg_strs().join(" ")))
            .collect();
        assert_eq!(
            headers,
            [
                "proxy_set_header Host $http_host",
                "proxy_set_header X-Real-IP $remote_addr",
                "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
                "proxy_set_header X-Forwarded-Proto $scheme",
                "proxy_set_header Forwarded $proxy_forwarded",
            ]
        );
    }

    #[test]
    fn mime_types_map_common_extensions() {
        let origin = Arc::new(Origin::BuiltIn("/mime.types".into()));
        let parsed = parse(MIME_TYPES, &origin).unwrap();
        let types = parsed[0].block.as_ref().unwrap();
        let type_of = |ext: &str| {
            types
                .iter()
                .find(|d| d.args.iter().any(|a| a.value == ext))
                .map(|d| d.name.clone())
        };
        let cases = [
            ("html", "text/html"),
            ("css", "text/css"),
            ("js", "application/javascript"),
            ("mjs", "application/javascript"),
            ("json", "application/json"),
            ("png", "image/png"),
            ("svg", "image/svg+xml"),
            ("woff2", "font/woff2"),
            ("wasm", "application/wasm"),
            (
                "docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
            ("mp4", "video/mp4"),
        ];
        for (ext, want) in cases {
            assert_eq!(type_of(ext).as_deref(), Some(want), "{ext}");
        }
    }

    #[test]
    fn built_in_copies_by_name() {
        assert_eq!(for_file_name("proxy_params"), Some(PROXY_PARAMS));
        assert_eq!(for_file_name("mime.types"), Some(MIME_TYPES));
        assert_eq!(for_file_name("fastcgi_params"), None);
    }
}
