//! Whether the worker user can reach a path: the classic Unix permission rules
//! (owner, else group, else other; root may do anything), applied to the path and to
//! every directory above it, since each of those needs search (`x`) permission. Only
//! the `-t` checks in [`super`] use this; nothing here runs per request.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::model::MainConfig;
use crate::sys;

/// The permission a worker needs on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
    /// `x` on a directory: looking a name up inside it.
    Search,
}

impl Access {
    /// The letter `chmod` uses.
    pub(super) fn letter(self) -> char {
        match self {
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Search => 'x',
        }
    }

    /// The `rwx` bit for the "other" class; shift it for group (3) and owner (6).
    fn bit(self) -> u32 {
        match self {
            Access::Read => 0o4,
            Access::Write => 0o2,
            Access::Search => 0o1,
        }
    }
}

/// Whether a process with `uid` and `groups` may access a file with `mode`, owned by
/// `file_uid:file_gid`. The owner is judged by the owner bits only, even when the group
/// or other bits would allow more, as the kernel does. Root may do anything (the kernel
/// wants one `x` bit for root to execute a file, which no check here asks about).
pub(super) fn may_access(
    mode: u32,
    file_uid: u32,
    file_gid: u32,
    uid: u32,
    groups: &[u32],
    want: Access,
) -> bool {
    if uid == 0 {
        return true;
    }
    let shift = if uid == file_uid {
        6
    } else if groups.contains(&file_gid) {
        3
    } else {
        0
    };
    (mode >> shift) & want.bit() != 0
}

/// The identity the workers will have, which is who opens files and sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Worker {
    /// `user "www-data"`, or `uid 1000` when the name is unknown.
    pub who: String,
    pub uid: u32,
    /// Primary and supplementary groups.
    pub groups: Vec<u32>,
    /// How to change who the workers are: the `user` directive as root, another
    /// account otherwise.
    pub change: &'static str,
}

impl Worker {
    fn may(&self, owner: &Owner, want: Access) -> bool {
        may_access(
            owner.mode,
            owner.uid,
            owner.gid,
            self.uid,
            &self.groups,
            want,
        )
    }
}

/// Who owns a path and its mode: what a permission check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub is_dir: bool,
}

impl Owner {
    pub(super) fn of(meta: &Metadata) -> Owner {
        Owner {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode(),
            is_dir: meta.is_dir(),
        }
    }
}

/// `owner 1000, group 1000, mode 0750`, for messages.
impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "owner {}, group {}, mode {:04o}",
            self.uid,
            self.gid,
            self.mode & 0o7777
        )
    }
}

/// Who the workers run as: as root, the `user` directive (nginx's default `nobody`
/// when it is absent); otherwise this process's own user, since a non-root master
/// cannot switch. `None` when that cannot be found out, which skips permission checks.
pub(super) fn worker_user(main: &MainConfig, is_root: bool) -> Option<Worker> {
    if is_root {
        let info = sys::user_by_name(&main.user.user)?;
        let gid = main
            .user
            .group
            .as_deref()
            .and_then(sys::group_by_name)
            .unwrap_or(info.gid);
        let mut groups = sys::user_groups(&sys::UserInfo {
            gid,
            ..info.clone()
        });
        if !groups.contains(&gid) {
            groups.push(gid);
        }
        return Some(Worker {
            who: format!("user \"{}\"", main.user.user),
            uid: info.uid,
            groups,
            change: "change the \"user\" directive",
        });
    }
    let uid = sys::effective_uid();
    let name = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| sys::user_by_name(name).is_some_and(|u| u.uid == uid));
    let groups = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| groups_from_proc_status(&text))
        .or_else(|| {
            let info = sys::user_by_name(name.as_deref()?)?;
            Some(sys::user_groups(&info))
        })?;
    Some(Worker {
        who: name.map_or_else(|| format!("uid {uid}"), |n| format!("user \"{n}\"")),
        uid,
        groups,
        change: "run vestibule as a user that has access",
    })
}

/// The effective gid and supplementary groups from `/proc/self/status`
/// (`Gid: real effective saved fs`, `Groups: g1 g2 ...`).
fn groups_from_proc_status(text: &str) -> Option<Vec<u32>> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|n| n.parse::<u32>().ok())
            })
    };
    let egid = field("Gid:")?.nth(1)?;
    let mut groups: Vec<u32> = field("Groups:").map(Iterator::collect).unwrap_or_default();
    if !groups.contains(&egid) {
        groups.insert(0, egid);
    }
    Some(groups)
}

/// Why a path cannot be used.
#[derive(Debug)]
pub(super) enum Problem {
    /// `stat` failed with ENOENT or ENOTDIR: the reason in nginx's words.
    Missing(String),
    /// `stat` failed otherwise (this process itself may not look).
    Unchecked(String),
    /// A directory above the path is not searchable by the worker.
    Ancestor { dir: PathBuf, owner: Owner },
    /// The path itself lacks the permission.
    Denied(Owner),
}

/// Looks `path` up (following symlinks). A missing path is an error; the file type is
/// left to the caller, which knows what it expects.
pub(super) fn stat(path: &Path) -> Result<Metadata, Problem> {
    std::fs::metadata(path).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(0);
        let reason = sys::strerror(errno);
        if errno == libc::ENOENT || errno == libc::ENOTDIR {
            Problem::Missing(reason)
        } else {
            Problem::Unchecked(reason)
        }
    })
}

/// Whether the worker can search every directory above `path` (as written, then as the
/// symlinks resolve) and has every permission in `want` on the path itself, whose
/// owner is `owner`.
pub(super) fn reach(
    path: &Path,
    owner: &Owner,
    worker: &Worker,
    want: &[Access],
) -> Result<(), Problem> {
    let canonical = std::fs::canonicalize(path).ok();
    let chains = std::iter::once(path).chain(canonical.as_deref().filter(|c| *c != path));
    for chain in chains {
        let mut dirs: Vec<&Path> = chain
            .ancestors()
            .skip(1)
            .filter(|d| !d.as_os_str().is_empty())
            .collect();
        dirs.reverse();
        for dir in dirs {
            let Ok(dir_meta) = std::fs::metadata(dir) else {
                continue;
            };
            let dir_owner = Owner::of(&dir_meta);
            if !worker.may(&dir_owner, Access::Search) {
                return Err(Problem::Ancestor {
                    dir: dir.to_path_buf(),
                    owner: dir_owner,
                });
            }
        }
    }
    if want.iter().all(|a| worker.may(owner, *a)) {
        Ok(())
    } else {
        Err(Problem::Denied(*owner))
    }
}

/// The usual fixes for a missing permission: open it to everyone, or to a group the
/// worker joins (named only when the group bits would then suffice).
pub(super) fn chmod_fix(path: &Path, owner: &Owner, worker: &Worker, want: &[Access]) -> String {
    let letters: String = want.iter().map(|a| a.letter()).collect();
    let mut fix = format!("run chmod o+{letters} \"{}\"", path.display());
    let group_suffices = want.iter().all(|a| (owner.mode >> 3) & a.bit() != 0);
    if group_suffices && !worker.groups.contains(&owner.gid) {
        fix.push_str(&format!(", add {} to group {}", worker.who, owner.gid));
    }
    fix.push_str(&format!(", or {}", worker.change));
    fix
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// (name, mode, file uid, file gid, uid, groups, want, expected)
    type Case<'a> = (&'a str, u32, u32, u32, u32, &'a [u32], Access, bool);

    #[test]
    fn may_access_table() {
        use Access::{Read, Search, Write};
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("owner_reads_0600", 0o600, 1000, 1000, 1000, &[1000], Read, true),
            ("owner_cannot_search_0600", 0o600, 1000, 1000, 1000, &[1000], Search, false),
            ("owner_bits_win_over_group", 0o070, 1000, 1000, 1000, &[1000], Read, false),
            ("owner_bits_win_over_other", 0o007, 1000, 1000, 1000, &[1000], Write, false),
            ("group_member_searches_0750", 0o750, 1000, 33, 33, &[33], Search, true),
            ("group_member_cannot_write_0750", 0o750, 1000, 33, 33, &[33], Write, false),
            ("supplementary_group_counts", 0o770, 1000, 1000, 33, &[33, 1000], Write, true),
            ("group_bits_win_over_other", 0o707, 1000, 33, 33, &[33], Read, false),
            ("other_cannot_search_home_0750", 0o750, 1000, 1000, 33, &[33], Search, false),
            ("other_searches_0711", 0o711, 1000, 1000, 33, &[33], Search, true),
            ("other_reads_0644", 0o644, 0, 0, 65534, &[65534], Read, true),
            ("other_cannot_write_socket_0755", 0o755, 0, 0, 33, &[33], Write, false),
            ("other_writes_socket_0777", 0o777, 0, 0, 33, &[33], Write, true),
            ("root_reads_0000", 0o000, 1000, 1000, 0, &[0], Read, true),
            ("root_searches_0700_of_others", 0o700, 1000, 1000, 0, &[0], Search, true),
            ("type_bits_ignored", 0o140_777, 0, 0, 33, &[33], Write, true),
        ];
        for (name, mode, fuid, fgid, uid, groups, want, expected) in cases {
            assert_eq!(
                may_access(*mode, *fuid, *fgid, *uid, groups, *want),
                *expected,
                "{name}"
            );
        }
    }

    #[test]
    fn proc_status_groups_include_the_effective_gid() {
        let text =
            "Name:\tx\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t33\t33\t33\nGroups:\t4 27 \n";
        assert_eq!(groups_from_proc_status(text), Some(vec![33, 4, 27]));
        let none = "Gid:\t0\t0\t0\t0\nGroups:\t\n";
        assert_eq!(groups_from_proc_status(none), Some(vec![0]));
        assert_eq!(groups_from_proc_status("Name:\tx\n"), None);
    }

    #[test]
    fn worker_as_root_is_the_user_directive() {
        let main = MainConfig {
            user: crate::config::model::UserSpec {
                user: "root".to_string(),
                group: None,
            },
            user_explicit: true,
            worker_processes: crate::config::model::WorkerProcesses::Count(1),
            worker_cpu_affinity: crate::config::model::CpuAffinity::None,
            pid: PathBuf::from("/run/x.pid"),
            error_log: Vec::new(),
            daemon: false,
            worker_shutdown_timeout: None,
            worker_rlimit_nofile: None,
            worker_connections: 512,
        };
        let w = worker_user(&main, true).unwrap();
        assert_eq!((w.who.as_str(), w.uid), ("user \"root\"", 0));
        assert!(w.groups.contains(&0));
        let missing = MainConfig {
            user: crate::config::model::UserSpec {
                user: "no-such-user-vestibule".to_string(),
                group: None,
            },
            ..main
        };
        assert!(worker_user(&missing, true).is_none());
    }
}
