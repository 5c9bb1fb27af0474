//! Main- and events-context settings: the process model's knobs.

use std::path::PathBuf;
use std::time::Duration;

/// `user NAME [GROUP];`. nginx's default is `nobody` (group `nogroup` on Debian), and
/// it only matters when the master runs as root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: String,
    pub group: Option<String>,
}

/// `worker_processes N | auto;` (default 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerProcesses {
    Auto,
    Count(u32),
}

/// `worker_cpu_affinity auto;` or not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuAffinity {
    None,
    Auto,
}

/// Severity, in nginx's order from most to least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Emerg,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl LogLevel {
    pub fn parse(s: &str) -> Option<LogLevel> {
        Some(match s {
            "emerg" => LogLevel::Emerg,
            "alert" => LogLevel::Alert,
            "crit" => LogLevel::Crit,
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "notice" => LogLevel::Notice,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Emerg => "emerg",
            LogLevel::Alert => "alert",
            LogLevel::Crit => "crit",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// Where a log goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
}

/// `error_log PATH|stderr [LEVEL];`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorLog {
    pub target: LogTarget,
    pub level: LogLevel,
}

/// Main and events context, defaults resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MainConfig {
    pub user: UserSpec,
    /// Whether `user` was written; when it was not, a non-root master keeps its own user.
    pub user_explicit: bool,
    pub worker_processes: WorkerProcesses,
    pub worker_cpu_affinity: CpuAffinity,
    /// `pid` (default `/run/vestibule.pid`).
    pub pid: PathBuf,
    /// `error_log`, possibly several (default `/var/log/vestibule/error.log error`).
    pub error_log: Vec<ErrorLog>,
    /// `daemon` (default on, as nginx).
    pub daemon: bool,
    /// `worker_shutdown_timeout` (default: none, wait for every connection).
    pub worker_shutdown_timeout: Option<Duration>,
    /// `worker_rlimit_nofile` (default: leave the limit as it is).
    pub worker_rlimit_nofile: Option<u64>,
    /// `events { worker_connections }` (default 512).
    pub worker_connections: u32,
}
