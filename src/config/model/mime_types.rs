//! `types { }`: the extension-to-MIME-type map a location serves files with.

/// `types { type ext ...; }`: extension (lowercase, no dot) to MIME type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MimeTypes {
    pub by_extension: crate::fast_hash::FastMap<String, String>,
}

impl MimeTypes {
    /// The type for an extension in any case; no allocation unless it has capitals.
    pub fn lookup(&self, extension: &str) -> Option<&str> {
        let found = if extension.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_extension.get(&extension.to_ascii_lowercase())
        } else {
            self.by_extension.get(extension)
        };
        found.map(String::as_str)
    }
}
