//! The files a worker writes after it has switched to the `user` directive's user
//! (`nobody` by default when the master runs as root): log files and temp
//! directories. The master, still root, makes sure that user can write them before
//! the workers need them — at start, before each reload and before each log reopen —
//! as nginx's master does for its temp paths (`ngx_create_paths`) and its log files
//! (`ngx_reopen_files` chowns them to the worker user).
//!
//! A log file is created if missing and handed to the worker user when it is a
//! regular file owned by someone else; a temp directory is created (mode 0700) and
//! handed over the same way. Nothing happens when the master is not root: the workers
//! keep its user then, and it can already write what it could create.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::model::{Config, LogTarget};
use crate::observe::ErrorLog;

/// The user and group the workers run as, when they switch (the master is root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerIds {
    pub uid: u32,
    pub gid: u32,
}

/// The ids the workers of `config` take, or `None` when they keep the master's user.
pub fn worker_ids(config: &Config) -> Option<WorkerIds> {
    if !crate::sys::is_root() {
        return None;
    }
    let user = crate::sys::user_by_name(&config.main.user.user)?;
    let gid = match &config.main.user.group {
        Some(g) => crate::sys::group_by_name(g)?,
        None => user.gid,
    };
    Some(WorkerIds { uid: user.uid, gid })
}

/// Every log file and temp directory of `config`, writable by the worker user.
/// Failures are logged (the worker logs its own failure again when it writes).
pub fn prepare(config: &Config, log: &ErrorLog) {
    let Some(ids) = worker_ids(config) else {
        return;
    };
    let (files, dirs) = worker_paths(config);
    for file in files {
        if let Err(e) = hand_over_file(&file, ids) {
            log.error(None, &format!("open() \"{}\" failed ({e})", file.display()));
        }
    }
    for dir in dirs {
        if let Err(e) = hand_over_dir(&dir, ids) {
            log.error(None, &format!("mkdir() \"{}\" failed ({e})", dir.display()));
        }
    }
}

/// The log files (error and access) and temp directories a configuration names,
/// each once.
fn worker_paths(config: &Config) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut files: Vec<PathBuf> = config
        .main
        .error_log
        .iter()
        .filter_map(|l| match &l.target {
            LogTarget::File(p) => Some(p.clone()),
            LogTarget::Stderr => None,
        })
        .collect();
    let mut dirs = Vec::new();
    if let Some(http) = &config.http {
        dirs.extend(http.cache_paths.iter().map(|c| c.path.clone()));
        for conf in http.location_confs() {
            files.extend(conf.access_log.iter().map(|a| a.path.clone()));
            files.extend(conf.error_log.iter().flat_map(|logs| {
                logs.iter().filter_map(|l| match &l.target {
                    LogTarget::File(p) => Some(p.clone()),
                    LogTarget::Stderr => None,
                })
            }));
            dirs.push(conf.client_body_temp_path.clone());
            dirs.push(conf.proxy.temp_path.clone());
        }
    }
    files.sort();
    files.dedup();
    dirs.sort();
    dirs.dedup();
    (files, dirs)
}

fn hand_over_file(path: &Path, ids: WorkerIds) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(path)?;
    let meta = file.metadata()?;
    // /dev/stdout, /dev/null and pipes keep their owners.
    if meta.is_file() && meta.uid() != ids.uid {
        std::os::unix::fs::fchown(&file, Some(ids.uid), None)?;
    }
    Ok(())
}

fn hand_over_dir(path: &Path, ids: WorkerIds) -> std::io::Result<()> {
    if !path.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)?;
    }
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() && meta.uid() != ids.uid {
        std::os::unix::fs::chown(path, Some(ids.uid), Some(ids.gid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_come_from_every_level_once() {
        let text = "error_log /l/error.log; http { access_log /l/a.log; client_body_temp_path /t/body; \
            server { listen 127.0.0.1:1; access_log /l/s.log; \
              location / { access_log /l/a.log; proxy_temp_path /t/p; location /n { access_log /l/n.log; } } } }";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.conf");
        std::fs::write(&path, text).unwrap();
        let loaded = crate::config::load(&crate::config::LoadOptions {
            main_file: path,
            prefix: None,
            directives: None,
            embedded_if_missing: false,
            error_log: None,
        })
        .unwrap();
        let (files, dirs) = worker_paths(&loaded.config);
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter().map(|p| p.display().to_string()).collect()
        };
        assert_eq!(
            names(files),
            ["/l/a.log", "/l/error.log", "/l/n.log", "/l/s.log"]
        );
        let dirs = names(dirs);
        assert!(dirs.contains(&"/t/body".to_string()), "{dirs:?}");
        assert!(dirs.contains(&"/t/p".to_string()), "{dirs:?}");
    }
}
