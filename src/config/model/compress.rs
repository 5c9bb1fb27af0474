//! Response compression settings: nginx's `gzip*` and `gzip_static` directives and
//! the `brotli*` directives of the ngx_brotli module, merged per location. What the
//! data path does with them is in [`crate::compress`].

/// One coding's on-the-fly settings (`gzip`, `gzip_comp_level`, `gzip_min_length`,
/// `gzip_types`; the same for `brotli`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coder {
    pub enabled: bool,
    /// gzip 1–9 (default 1), brotli 0–11 (default 6).
    pub level: u32,
    /// Responses whose `Content-Length` is below this are sent as they are (default
    /// 20). An unknown length always qualifies.
    pub min_length: u64,
    pub types: TypeList,
    /// brotli's window (`brotli_window`, as the log2 of its size); gzip's is fixed.
    pub window_log: u32,
}

/// `gzip_types` / `brotli_types`: the MIME types compressed, compared without
/// parameters and case-insensitively; `text/html` always is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeList {
    /// `*`: any type.
    pub any: bool,
    /// Lowercase, without `text/html`.
    pub types: Vec<String>,
}

impl TypeList {
    /// Just `text/html`, the default.
    pub fn html() -> TypeList {
        TypeList {
            any: false,
            types: Vec::new(),
        }
    }

    /// Whether a response of `content_type` (parameters allowed) is in the list.
    pub fn contains(&self, content_type: &[u8]) -> bool {
        if self.any {
            return true;
        }
        let bare = content_type
            .split(|b| *b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        bare.eq_ignore_ascii_case(b"text/html")
            || self
                .types
                .iter()
                .any(|t| bare.eq_ignore_ascii_case(t.as_bytes()))
    }
}

/// `gzip_static` / `brotli_static`: whether `file.gz` (`file.br`) beside a file is
/// served in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precompressed {
    Off,
    /// To clients that accept the coding.
    On,
    /// To every client, whatever it accepts.
    Always,
}

/// `gzip_proxied`: which responses to requests that came through a proxy (they carry
/// `Via`) are compressed. A bit set, nginx's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Proxied(pub u16);

impl Proxied {
    pub const OFF: u16 = 1 << 0;
    pub const EXPIRED: u16 = 1 << 1;
    pub const NO_CACHE: u16 = 1 << 2;
    pub const NO_STORE: u16 = 1 << 3;
    pub const PRIVATE: u16 = 1 << 4;
    pub const NO_LAST_MODIFIED: u16 = 1 << 5;
    pub const NO_ETAG: u16 = 1 << 6;
    pub const AUTH: u16 = 1 << 7;
    pub const ANY: u16 = 1 << 8;

    /// The flag an argument of `gzip_proxied` names.
    pub fn flag(name: &str) -> Option<u16> {
        Some(match name {
            "off" => Self::OFF,
            "expired" => Self::EXPIRED,
            "no-cache" => Self::NO_CACHE,
            "no-store" => Self::NO_STORE,
            "private" => Self::PRIVATE,
            "no_last_modified" => Self::NO_LAST_MODIFIED,
            "no_etag" => Self::NO_ETAG,
            "auth" => Self::AUTH,
            "any" => Self::ANY,
            _ => return None,
        })
    }

    pub fn has(self, flag: u16) -> bool {
        self.0 & flag != 0
    }
}

/// `gzip_disable`: the User-Agents never sent a compressed response.
#[derive(Debug, Clone, Default)]
pub struct Disable {
    /// `msie6`: Internet Explorer 4–6 before XP SP2 (nginx's test: `MSIE [4-6]\.`
    /// without `SV1`).
    pub msie6: bool,
    /// Case-insensitive regexes matched against `User-Agent`, with their source.
    pub regexes: Vec<(String, crate::pcre::Pcre)>,
}

impl PartialEq for Disable {
    fn eq(&self, other: &Disable) -> bool {
        self.msie6 == other.msie6
            && self.regexes.len() == other.regexes.len()
            && self
                .regexes
                .iter()
                .zip(&other.regexes)
                .all(|(a, b)| a.0 == b.0)
    }
}

/// A location's compression settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Compression {
    pub gzip: Coder,
    pub brotli: Coder,
    pub gzip_static: Precompressed,
    pub brotli_static: Precompressed,
    /// `gzip_vary on`: `Vary: Accept-Encoding` on every response that could have been
    /// compressed, whether or not this client's was.
    pub vary: bool,
    pub proxied: Proxied,
    pub disable: Disable,
    /// `gzip_http_version 1.0`: HTTP/1.0 clients too (default 1.1: not them).
    pub http10: bool,
}

impl Default for Compression {
    /// nginx's defaults: everything off, `gzip_comp_level 1`, `brotli_comp_level 6`,
    /// `*_min_length 20`, `text/html`, `gzip_proxied off`, `gzip_http_version 1.1`.
    fn default() -> Compression {
        Compression {
            gzip: Coder {
                enabled: false,
                level: 1,
                min_length: 20,
                types: TypeList::html(),
                window_log: 15,
            },
            brotli: Coder {
                enabled: false,
                level: 6,
                min_length: 20,
                types: TypeList::html(),
                window_log: 19,
            },
            gzip_static: Precompressed::Off,
            brotli_static: Precompressed::Off,
            vary: false,
            proxied: Proxied(Proxied::OFF),
            disable: Disable::default(),
            http10: false,
        }
    }
}

impl Compression {
    /// Whether anything here can change a response: the data path's fast check.
    pub fn active(&self) -> bool {
        self.gzip.enabled
            || self.brotli.enabled
            || self.gzip_static != Precompressed::Off
            || self.brotli_static != Precompressed::Off
    }
}
