//! `vestibule --import-nginx DIR [--into DEST] [--force]`: moving from nginx. The nginx
//! tree is copied whole ([`tree`]) into a temporary directory beside DEST (default
//! `/etc/vestibule`), its main file `nginx.conf` becoming `vestibule.conf`, the paths
//! that point into the tree and nginx's runtime paths rewritten ([`rewrite`]); the
//! copy is renamed into place only once whole. Then the copy is checked as `-t`
//! checks it and a [`report`] is printed: what is honoured, what is accepted without
//! effect, what must change and how. The exit status is 0 when the copy passes `-t`,
//! 1 otherwise; the copy is kept either way, since it is what the user edits next.
//! docs/migration.md is the user's side of this.

mod report;
mod rewrite;
mod tree;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::Console;

/// Where the copy goes without `--into`: the directory of vestibule's default
/// configuration file.
pub const DEFAULT_DEST: &str = "/etc/vestibule";
/// nginx's main file in a tree, and the copy's.
const NGINX_MAIN: &str = "nginx.conf";
const VESTIBULE_MAIN: &str = "vestibule.conf";

/// Why nothing was imported. Nothing is written at DEST in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot import \"{}\": {source}", path.display())]
    Source { path: PathBuf, source: io::Error },
    #[error("\"{}\" holds no nginx.conf: give the directory nginx's configuration is in (/etc/nginx), or its main file", path.display())]
    NoMainFile { path: PathBuf },
    #[error("\"{}\" exists: import into another directory with --into DIR, or pass --force to replace it (the old one is kept beside it)", path.display())]
    DestinationExists { path: PathBuf },
    #[error("\"{}\" and \"{}\" overlap: import into a directory outside the nginx tree", dest.display(), tree.display())]
    Overlap { tree: PathBuf, dest: PathBuf },
    #[error("\"{}\" has no parent directory to write in", path.display())]
    NoParent { path: PathBuf },
    #[error("copying \"{}\" failed: {source} (nothing was written to \"{}\")", tree.display(), dest.display())]
    Copy {
        tree: PathBuf,
        dest: PathBuf,
        source: io::Error,
    },
    #[error("putting the copy in place at \"{}\" failed: {source}", dest.display())]
    Place { dest: PathBuf, source: io::Error },
}

/// Runs the import and prints its report on standard output; messages on standard
/// error as the rest of the command line's.
pub fn run(source: &Path, dest: Option<&Path>, force: bool, out: &Console) -> ExitCode {
    let dest = super::absolute(dest.unwrap_or(Path::new(DEFAULT_DEST)));
    let mut text = String::new();
    let passes = match import(source, &dest, force, &mut text) {
        Ok(passes) => passes,
        Err(e) => {
            out.say("emerg", &e.to_string());
            return ExitCode::FAILURE;
        }
    };
    let main = dest.join(VESTIBULE_MAIN);
    text.push_str(&format!(
        "vestibule: configuration file {} test {}\n",
        main.display(),
        if passes { "is successful" } else { "failed" }
    ));
    // A closed stdout (`| head`) is not worth a message; the copy is in place.
    let _ = io::stdout().lock().write_all(text.as_bytes());
    if passes {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Copies, places and checks; the report goes to `text`. `Ok(passes -t)`.
fn import(source: &Path, dest: &Path, force: bool, text: &mut String) -> Result<bool, ImportError> {
    let source = super::absolute(source);
    let (tree_dir, main_from) = find_tree(&source)?;
    let canonical = fs::canonicalize(&tree_dir).map_err(|e| ImportError::Source {
        path: tree_dir.clone(),
        source: e,
    })?;
    let dest_canonical = canonical_parent(dest);
    if dest_canonical.starts_with(&canonical) || canonical.starts_with(&dest_canonical) {
        return Err(ImportError::Overlap {
            tree: tree_dir,
            dest: dest.to_path_buf(),
        });
    }
    let exists = fs::symlink_metadata(dest).is_ok();
    if exists && !force {
        return Err(ImportError::DestinationExists {
            path: dest.to_path_buf(),
        });
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| ImportError::NoParent {
            path: dest.to_path_buf(),
        })?;
    let copy_failed = |e: io::Error| ImportError::Copy {
        tree: tree_dir.clone(),
        dest: dest.to_path_buf(),
        source: e,
    };
    let dest_name = dest
        .file_name()
        .map_or_else(|| "vestibule".into(), |n| n.to_string_lossy().into_owned());
    // Beside the destination, so that the rename stays on one filesystem; removed
    // when dropped, so a failed copy leaves nothing.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{dest_name}.import-"))
        .tempdir_in(parent)
        .map_err(copy_failed)?;
    let rules = rewrite::rules(&[&tree_dir, &canonical], dest);
    let plan = tree::Plan {
        source: &tree_dir,
        staging: staging.path(),
        dest,
        main_from: &main_from,
        main_to: VESTIBULE_MAIN,
        rules: &rules,
    };
    let copied = tree::copy(&plan).map_err(copy_failed)?;
    let kept = place(staging.path(), dest, exists).map_err(|e| ImportError::Place {
        dest: dest.to_path_buf(),
        source: e,
    })?;

    text.push_str(&format!(
        "vestibule: imported {} into {}: {} files, {} symlinks ({main_from} is {VESTIBULE_MAIN})\n",
        tree_dir.display(),
        dest.display(),
        copied.files,
        copied.symlinks,
    ));
    if let Some(kept) = kept {
        text.push_str(&format!(
            "the {} that was there is kept as {}\n",
            dest.display(),
            kept.display()
        ));
    }
    print_copy(&copied, &tree_dir, text);
    let main = dest.join(VESTIBULE_MAIN);
    let checked = report::check(&main);
    report::print(&checked, &main, text);
    let to: Vec<&str> = copied
        .rewritten
        .iter()
        .map(|(_, r)| r.to.as_str())
        .collect();
    text.push_str("\nbefore starting vestibule on it:\n");
    if let Some(dir) = report::missing_log_dir(&to) {
        text.push_str(&format!(
            "  create the logs' directory: install -d -m 0755 {}\n",
            dir.display()
        ));
    }
    text.push_str(
        "  stop nginx (systemctl disable --now nginx): the copy listens where nginx does\n",
    );
    Ok(checked.passes)
}

/// The tree's directory and its main file's name, from what the user gave: the
/// directory (which must hold `nginx.conf`) or the main file itself.
fn find_tree(source: &Path) -> Result<(PathBuf, String), ImportError> {
    let meta = fs::metadata(source).map_err(|e| ImportError::Source {
        path: source.to_path_buf(),
        source: e,
    })?;
    if meta.is_dir() {
        if !source.join(NGINX_MAIN).is_file() {
            return Err(ImportError::NoMainFile {
                path: source.to_path_buf(),
            });
        }
        return Ok((source.to_path_buf(), NGINX_MAIN.to_string()));
    }
    match (source.parent(), source.file_name()) {
        (Some(dir), Some(name)) => Ok((dir.to_path_buf(), name.to_string_lossy().into_owned())),
        _ => Err(ImportError::NoMainFile {
            path: source.to_path_buf(),
        }),
    }
}

/// `path` with its existing ancestors resolved, for comparing with the tree.
fn canonical_parent(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => fs::canonicalize(parent)
            .map(|p| p.join(name))
            .unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

/// Renames `staged` to `dest`; an existing `dest` (only with `--force`) is first
/// renamed aside, and put back if the second rename fails. Returns where it was kept.
fn place(staged: &Path, dest: &Path, exists: bool) -> io::Result<Option<PathBuf>> {
    let kept = if exists {
        let kept = aside(dest);
        crate::sys::rename_no_replace(dest, &kept)?;
        Some(kept)
    } else {
        None
    };
    if let Err(e) = crate::sys::rename_no_replace(staged, dest) {
        if let Some(kept) = &kept {
            let _ = fs::rename(kept, dest);
        }
        return Err(e);
    }
    Ok(kept)
}

/// A free name beside `dest` for the directory `--force` replaces:
/// `DEST.before-import-SECONDS` (with `-N` when taken).
fn aside(dest: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format!("{}.before-import-{secs}", dest.display());
    (0..1000)
        .map(|n| match n {
            0 => PathBuf::from(&base),
            n => PathBuf::from(format!("{base}-{n}")),
        })
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| PathBuf::from(format!("{base}-{}", std::process::id())))
}

/// The copy's part of the report: every path rewritten, every link moved, anything
/// skipped.
fn print_copy(copied: &tree::Copied, tree_dir: &Path, text: &mut String) {
    text.push_str(&format!(
        "\npaths rewritten ({}):\n",
        copied.rewritten.len() + copied.relinked.len()
    ));
    for (file, r) in &copied.rewritten {
        text.push_str(&format!(
            "  {}:{}: {} -> {}\n",
            file.display(),
            r.line,
            r.from,
            r.to
        ));
    }
    for (link, target) in &copied.relinked {
        text.push_str(&format!(
            "  {} -> {} (symlink)\n",
            link.display(),
            target.display()
        ));
    }
    text.push_str(&format!(
        "  paths outside {} stay as they are (document roots, certificates, sockets)\n",
        tree_dir.display()
    ));
    for (path, why) in &copied.skipped {
        text.push_str(&format!("  not copied: {} ({why})\n", path.display()));
    }
}
