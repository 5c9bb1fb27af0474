//! The settings of a location that shape how a file (or a directory listing) is
//! answered, beyond where it is: validators (`etag`, `if_modified_since`), ranges
//! (`max_ranges`), symlink policy (`disable_symlinks`), directory listings
//! (`autoindex*`) and the declared charset (`charset`, `charset_types`). Read by
//! `static_files` and, for the charset, by the response head of proxied answers too.

use std::sync::Arc;

/// `if_modified_since off | exact | before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfModifiedSince {
    /// The header is ignored.
    Off,
    /// 304 only when the date equals the file's modification time (the default).
    Exact,
    /// 304 when the file was modified at or before the date.
    Before,
}

/// `disable_symlinks off | on | if_not_owner [from=PART]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisableSymlinks {
    /// Symlinks are followed (within the document directory: vestibule's rule).
    Off,
    /// Any symlink in the checked part of the path is refused (403).
    On {
        from: Option<crate::config::template::Template>,
    },
    /// A symlink is followed only when it and its target have the same owner.
    IfNotOwner {
        from: Option<crate::config::template::Template>,
    },
}

/// `autoindex_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoindexFormat {
    Html,
    Xml,
    Json,
    Jsonp,
}

/// `autoindex` and its companions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autoindex {
    pub autoindex: bool,
    pub format: AutoindexFormat,
    /// `autoindex_exact_size` (html only): bytes, or a rounded K/M/G.
    pub exact_size: bool,
    /// `autoindex_localtime` (html only): local time rather than GMT.
    pub localtime: bool,
}

/// The per-location file settings, merged.
#[derive(Debug, Clone)]
pub struct FileConf {
    pub etag: bool,
    pub if_modified_since: IfModifiedSince,
    /// `max_ranges`: `None` is nginx's unlimited (vestibule still stops at
    /// `range::MAX_RANGES`); `Some(0)` disables ranges.
    pub max_ranges: Option<u32>,
    pub disable_symlinks: DisableSymlinks,
    pub autoindex: Autoindex,
    /// `charset NAME`: appended to the `Content-Type` of responses whose type is in
    /// `charset_types`; `None` for `charset off`.
    pub charset: Option<Arc<str>>,
    /// `source_charset NAME`: accepted when it names the same charset (no recoding).
    pub source_charset: Option<Arc<str>>,
    /// `charset_types`, lowercased MIME types (`*` matches every type).
    pub charset_types: Arc<Vec<String>>,
}

/// nginx's default `charset_types`.
pub const DEFAULT_CHARSET_TYPES: &[&str] = &[
    "text/html",
    "text/xml",
    "text/plain",
    "text/vnd.wap.wml",
    "application/javascript",
    "application/rss+xml",
];

impl Default for FileConf {
    fn default() -> FileConf {
        FileConf {
            etag: true,
            if_modified_since: IfModifiedSince::Exact,
            max_ranges: None,
            disable_symlinks: DisableSymlinks::Off,
            autoindex: Autoindex {
                autoindex: false,
                format: AutoindexFormat::Html,
                exact_size: true,
                localtime: false,
            },
            charset: None,
            source_charset: None,
            charset_types: Arc::new(
                DEFAULT_CHARSET_TYPES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
        }
    }
}

impl FileConf {
    /// The charset to declare for a response of `content_type` (a type without
    /// parameters or with them): `None` when `charset off`, when the type is not in
    /// `charset_types`, or when the type already names a charset.
    pub fn charset_for(&self, content_type: &str) -> Option<&str> {
        let charset = self.charset.as_deref()?;
        let (ty, params) = content_type.split_once(';').unwrap_or((content_type, ""));
        if params.to_ascii_lowercase().contains("charset=") {
            return None;
        }
        let ty = ty.trim();
        let listed = self
            .charset_types
            .iter()
            .any(|t| t == "*" || t.eq_ignore_ascii_case(ty));
        listed.then_some(charset)
    }
}
