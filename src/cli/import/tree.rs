//! Copying an nginx tree for `--import-nginx`: every directory, file and symlink under
//! it (what `include` reaches and the rest: `mime.types`, `snippets/`,
//! `sites-available/`), into a temporary directory beside the destination that is
//! renamed into place only once the copy is whole, so a failed import leaves nothing
//! behind. Configuration files (those that parse as nginx's language) have their paths
//! rewritten ([`super::rewrite`]); other files (certificates, keys, htpasswd) are
//! copied byte for byte. Symlinks stay symlinks, a target inside the tree pointing
//! into the copy, a relative one that leaves the tree made absolute. Modes are kept, and owners too when run as root.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::rewrite::{self, Rewritten, Rule};
use crate::config::parser;
use crate::config::source::Origin;

/// Directories deeper than this under the tree are not copied (an nginx tree is two or
/// three levels deep; this bounds a loop through a bind mount).
const MAX_DEPTH: usize = 16;
/// Entries copied at most: an nginx tree has tens.
const MAX_ENTRIES: usize = 10_000;

/// What the copy did, with paths as they are at the destination.
#[derive(Debug, Default)]
pub struct Copied {
    pub files: usize,
    pub symlinks: usize,
    /// Words rewritten in configuration files: (file, what changed).
    pub rewritten: Vec<(PathBuf, Rewritten)>,
    /// Symlinks whose target moved into the copy: (link, new target).
    pub relinked: Vec<(PathBuf, PathBuf)>,
    /// Entries not copied, with why.
    pub skipped: Vec<(PathBuf, &'static str)>,
}

/// Where the copy goes and how names change on the way.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The nginx tree.
    pub source: &'a Path,
    /// The directory being filled (a temporary one beside `dest`).
    pub staging: &'a Path,
    /// Where `staging` will be renamed to: the paths the copy names.
    pub dest: &'a Path,
    /// The main file's name in the tree (`nginx.conf`) and in the copy
    /// (`vestibule.conf`).
    pub main_from: &'a str,
    pub main_to: &'a str,
    pub rules: &'a [Rule],
}

/// Copies the tree into `plan.staging`.
pub fn copy(plan: &Plan) -> io::Result<Copied> {
    let mut copied = Copied::default();
    copy_dir(plan, Path::new(""), 0, &mut copied)?;
    let meta = fs::metadata(plan.source)?;
    keep_owner_and_mode(plan.staging, &meta)?;
    Ok(copied)
}

/// Copies the directory `rel` (relative to the tree) into the staging directory, which
/// already exists.
fn copy_dir(plan: &Plan, rel: &Path, depth: usize, copied: &mut Copied) -> io::Result<()> {
    let mut entries: Vec<fs::DirEntry> =
        fs::read_dir(plan.source.join(rel))?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if copied.files + copied.symlinks >= MAX_ENTRIES {
            return Err(io::Error::other(format!(
                "more than {MAX_ENTRIES} files under {}: is it an nginx configuration tree?",
                plan.source.display()
            )));
        }
        let mut name = entry.file_name();
        if depth == 0 && name == plan.main_to && plan.main_from != plan.main_to {
            copied
                .skipped
                .push((plan.dest.join(&name), "the tree's main file takes its name"));
            continue;
        }
        if depth == 0 && name == plan.main_from {
            name = plan.main_to.into();
        }
        let from = entry.path();
        let rel_to = rel.join(&name);
        let to = plan.staging.join(&rel_to);
        let shown = plan.dest.join(&rel_to);
        let meta = fs::symlink_metadata(&from)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(&from)?;
            let new = if target.is_absolute() {
                rewrite::rewrite_path(&target.to_string_lossy(), plan.rules).map(PathBuf::from)
            } else {
                // A relative target inside the tree is inside the copy too; one that
                // leaves the tree would lead elsewhere from the copy, so it is made
                // absolute.
                let resolved = lexical(&plan.source.join(rel).join(&target));
                (!resolved.starts_with(plan.source)).then_some(resolved)
            };
            if let Some(new) = &new {
                copied.relinked.push((shown, new.clone()));
            }
            std::os::unix::fs::symlink(new.as_ref().unwrap_or(&target), &to)?;
            copied.symlinks += 1;
        } else if kind.is_dir() {
            if depth + 1 >= MAX_DEPTH {
                copied.skipped.push((shown, "nested too deep"));
                continue;
            }
            fs::create_dir(&to)?;
            copy_dir(plan, &rel_to, depth + 1, copied)?;
            keep_owner_and_mode(&to, &meta)?;
        } else if kind.is_file() {
            let bytes = fs::read(&from)?;
            let out = match configuration_text(&from, &bytes) {
                Some(text) => {
                    let (text, changed) = rewrite::rewrite_text(text, plan.rules);
                    copied
                        .rewritten
                        .extend(changed.into_iter().map(|c| (shown.clone(), c)));
                    text.into_bytes()
                }
                None => bytes,
            };
            fs::write(&to, out)?;
            keep_owner_and_mode(&to, &meta)?;
            copied.files += 1;
        } else {
            copied
                .skipped
                .push((shown, "not a file, directory or symlink"));
        }
    }
    Ok(())
}

/// `path` with `.` and `..` taken away without asking the filesystem (a link's target
/// is resolved against the link's own directory, as the kernel does).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The file's text when it is nginx configuration: UTF-8 that parses.
fn configuration_text<'a>(path: &Path, bytes: &'a [u8]) -> Option<&'a str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let origin = Arc::new(Origin::File(path.to_path_buf()));
    parser::parse(text, &origin).ok().map(|_| text)
}

/// Gives `to` the mode of `meta` and, when run as root, its owner.
fn keep_owner_and_mode(to: &Path, meta: &fs::Metadata) -> io::Result<()> {
    if crate::sys::is_root() {
        std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    }
    fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
}
