//! Where a URI lives on disk, as a directory and a path beneath it: `root` + `$uri`,
//! or for `alias` the URI with the location's prefix replaced by the alias. The pair is
//! what [`open_beneath`](super::open::open_beneath) needs to refuse every way out of the
//! directory, including the off-by-slash alias (`location /static { alias /srv/s/; }`
//! with `/static../x`), which nginx would follow.

use std::path::PathBuf;

use crate::config::model::{DocRoot, LocationConf, LocationMatch};
use crate::config::template::{Part, VariableSource};
use crate::route::RoutedLocation;
use crate::worker::exchange::Exchange;

/// A file's place: `dir` bounds it, `rel` is the path beneath `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub dir: PathBuf,
    pub rel: String,
}

impl Resolved {
    /// The full path, as nginx would print it in `open() "..." failed`.
    pub fn display(&self) -> String {
        let dir = self.dir.to_string_lossy();
        if dir.ends_with('/') || self.rel.is_empty() {
            format!("{dir}{}", self.rel)
        } else {
            format!("{dir}/{}", self.rel)
        }
    }
}

/// Splits a concatenated path at the last `/` of its first `fixed` bytes: the
/// directory that stays fixed, and the rest.
fn split_at_dir(full: &str, fixed: usize) -> Resolved {
    let fixed = full.get(..fixed.min(full.len())).unwrap_or(full);
    let cut = fixed.rfind('/').map_or(0, |i| i + 1);
    Resolved {
        dir: PathBuf::from(full.get(..cut).filter(|d| !d.is_empty()).unwrap_or("/")),
        rel: full.get(cut..).unwrap_or("").to_string(),
    }
}

/// Resolves `uri` (normalised, starting with `/`) for this location.
pub fn resolve(
    x: &Exchange,
    location: Option<&RoutedLocation>,
    conf: &LocationConf,
    uri: &str,
) -> Resolved {
    let mut base = Vec::new();
    match &conf.root {
        DocRoot::Root(t) => {
            t.expand(x as &dyn VariableSource, &mut base);
            let root = String::from_utf8_lossy(&base).into_owned();
            Resolved {
                dir: PathBuf::from(if root.is_empty() { "/" } else { root.as_str() }),
                rel: uri.trim_start_matches('/').to_string(),
            }
        }
        DocRoot::Alias(t) => {
            t.expand(x as &dyn VariableSource, &mut base);
            let alias = String::from_utf8_lossy(&base).into_owned();
            match location.map(|l| &l.matcher) {
                Some(LocationMatch::Prefix { path, .. }) | Some(LocationMatch::Exact(path)) => {
                    let rest = uri.get(path.len()..).unwrap_or("");
                    // nginx concatenates; the alias's own directory bounds the result.
                    let full = format!("{alias}{rest}");
                    split_at_dir(&full, alias.len())
                }
                _ => {
                    // A regex location's alias is the whole path (with captures); the
                    // part written before the first variable bounds it.
                    let fixed = match t.parts.first() {
                        Some(Part::Literal(s)) if t.parts.len() > 1 => s.len(),
                        _ => alias.len(),
                    };
                    split_at_dir(&alias, fixed)
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
            let r = split_at_dir(full, *fixed);
            assert_eq!(
                (r.dir.to_str().unwrap(), r.rel.as_str()),
                (*dir, *rel),
                "{full}"
            );
            assert_eq!(r.display(), *full);
        }
    }
}
