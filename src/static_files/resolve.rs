//! Where a URI lives on disk, as a directory and a path beneath it: `root` + `$uri`,
//! or for `alias` the URI with the location's prefix replaced by the alias. The pair is
//! what [`open_beneath`](super::open::open_beneath) needs to refuse every way out of the
//! directory, including the off-by-slash alias (`location /static { alias /srv/s/; }`
//! with `/static../x`), which nginx would follow.

use crate::config::model::{DocRoot, LocationConf};
use crate::config::template::{Part, VariableSource};
use crate::exchange::Exchange;
use crate::route::{AliasScope, RoutedLocation};

/// A file's place: the directory that bounds it and the path beneath it, held as one
/// string (`path`, what nginx prints in `open() "..." failed`) with two cut points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    path: String,
    /// `path[..dir_end]` is the directory.
    dir_end: usize,
    /// `path[rel_start..]` is the path beneath it.
    rel_start: usize,
}

impl Resolved {
    /// The directory that bounds the file.
    pub fn dir(&self) -> &str {
        self.path.get(..self.dir_end).unwrap_or("/")
    }

    /// The path beneath [`dir`](Self::dir), without a leading `/`.
    pub fn rel(&self) -> &str {
        self.path.get(self.rel_start..).unwrap_or("")
    }

    /// The full path, as nginx would print it in `open() "..." failed`.
    pub fn display(&self) -> &str {
        &self.path
    }
}

/// Splits a concatenated path at the last `/` of its first `fixed` bytes: the
/// directory that stays fixed, and the rest.
fn split_at_dir(full: String, fixed: usize) -> Resolved {
    let head = full.get(..fixed.min(full.len())).unwrap_or(&full);
    match head.rfind('/') {
        Some(i) => Resolved {
            dir_end: i + 1,
            rel_start: i + 1,
            path: full,
        },
        None => Resolved {
            path: format!("/{full}"),
            dir_end: 1,
            rel_start: 1,
        },
    }
}

/// A template's expansion as text, reusing the buffer when it is UTF-8.
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// How a regex location's `alias` (the whole path) takes the URI: nginx's
/// `try_files` looks for `alias` + candidate there, as if the alias were a root, and
/// a file it finds is served from that place (`r->add_uri_to_alias`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasMode {
    /// The alias alone is the path.
    Whole,
    /// The URI is appended to the alias.
    WithUri,
}

/// Resolves `uri` (normalised, starting with `/`) for this location.
pub fn resolve(
    x: &Exchange,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
    uri: &str,
    mode: AliasMode,
) -> Resolved {
    // One buffer for the whole path: the directory, then what is beneath it.
    let mut base = Vec::with_capacity(64 + uri.len());
    match &conf.root {
        DocRoot::Root(t) => {
            t.expand(x as &dyn VariableSource, &mut base);
            if base.is_empty() {
                base.push(b'/');
            }
            let dir_end = base.len();
            let rel = uri.trim_start_matches('/');
            if !base.ends_with(b"/") && !rel.is_empty() {
                base.push(b'/');
            }
            let rel_start = base.len();
            base.extend_from_slice(rel.as_bytes());
            let path = into_string(base);
            // A lossy conversion may have moved the cut points: cut again.
            if path.len() != rel_start + rel.len() {
                return split_at_dir(path, dir_end);
            }
            Resolved {
                path,
                dir_end,
                rel_start,
            }
        }
        DocRoot::Alias(t) => {
            t.expand(x as &dyn VariableSource, &mut base);
            let alias_len = base.len();
            let scope = location.map_or(AliasScope::Whole, |l| l.alias_scope);
            match (scope, mode) {
                (AliasScope::Prefix(prefix), _) => {
                    let rest = uri.get(prefix..).unwrap_or("");
                    // nginx concatenates; the alias's own directory bounds the result.
                    base.extend_from_slice(rest.as_bytes());
                    split_at_dir(into_string(base), alias_len)
                }
                (AliasScope::Whole, mode) => {
                    // A regex location's alias is the whole path (with captures); the
                    // part written before the first variable bounds it.
                    let fixed = match t.parts.first() {
                        Some(Part::Literal(s)) if t.parts.len() > 1 => s.len(),
                        _ => alias_len,
                    };
                    if mode == AliasMode::WithUri {
                        base.extend_from_slice(uri.as_bytes());
                    }
                    split_at_dir(into_string(base), fixed)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_keep_nginx_concatenation_inside_the_alias_directory() {
        let cases: &[(&str, usize, &str, &str)] = &[
            // location /static/ { alias /srv/static/; } and /static/css/a.css
            (
                "/srv/static/css/a.css",
                "/srv/static/".len(),
                "/srv/static/",
                "css/a.css",
            ),
            // off by slash: location /static/ { alias /srv/static; } → nginx's "/srv/staticapp.css"
            (
                "/srv/staticapp.css",
                "/srv/static".len(),
                "/srv/",
                "staticapp.css",
            ),
            // the other way: location /static { alias /srv/static/; } and "/static../x"
            (
                "/srv/static/../x",
                "/srv/static/".len(),
                "/srv/static/",
                "../x",
            ),
            ("/file", 5, "/", "file"),
        ];
        for (full, fixed, dir, rel) in cases {
            let r = split_at_dir(full.to_string(), *fixed);
            assert_eq!((r.dir(), r.rel()), (*dir, *rel), "{full}");
            assert_eq!(r.display(), *full);
        }
    }
}
