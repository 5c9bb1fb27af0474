//! Running vestibule: open the master's error log, bind every listen address (refusing
//! one another process listens on, as nginx), go to the background unless `daemon
//! off`, fork the workers, write the pid file, then supervise until a stop signal
//! (src/master/). Everything that can fail happens before the fork of `daemon on`,
//! so the exit status of `vestibule` says whether it started, as nginx's does.

use std::process::ExitCode;

use super::Console;
use crate::config::model::LogLevel;
use crate::config::{LoadOptions, Loaded};
use crate::master::Master;
use crate::observe::ErrorLog;

pub fn run(loaded: Loaded, options: LoadOptions, out: &Console) -> ExitCode {
    let config = loaded.config;
    let error_log = match ErrorLog::open(&config.main.error_log) {
        Ok(log) => log,
        Err((path, e)) => {
            let errno = e.raw_os_error().unwrap_or(0);
            out.say(
                "emerg",
                &format!(
                    "open() \"{}\" failed ({errno}: {})",
                    path.display(),
                    crate::sys::strerror(errno)
                ),
            );
            return ExitCode::FAILURE;
        }
    };
    // Started with sockets passed in (systemd activation, or an old master's USR2):
    // the starter watches this process, so it stays in the foreground.
    let passed_sockets = std::env::var_os("LISTEN_FDS").is_some();
    let daemon = config.main.daemon && !passed_sockets;
    let pid = config.main.pid.clone();
    let mut report = |level: LogLevel, message: &str| out.say(level.as_str(), message);
    let mut master = match Master::prepare(options, config, error_log, &mut report) {
        Ok(m) => m,
        Err(e) => {
            out.say("emerg", &e.to_string());
            return ExitCode::FAILURE;
        }
    };
    if daemon && !daemonize(out) {
        return ExitCode::FAILURE;
    }
    master.start();
    if let Err(e) = std::fs::write(&pid, format!("{}\n", std::process::id())) {
        let errno = e.raw_os_error().unwrap_or(0);
        out.say(
            "emerg",
            &format!(
                "open() \"{}\" failed ({errno}: {})",
                pid.display(),
                crate::sys::strerror(errno)
            ),
        );
    }
    master.supervise();
    ExitCode::SUCCESS
}

/// `daemon on`: fork, the parent exits, the child leaves the terminal's session and
/// points standard input and output at /dev/null (standard error too, unless the error
/// log is stderr). Returns false if it failed (in the parent's process).
fn daemonize(out: &Console) -> bool {
    // SAFETY: single-threaded here (no runtime or thread exists yet).
    match unsafe { libc::fork() } {
        -1 => {
            out.say(
                "emerg",
                &format!("fork() failed ({})", std::io::Error::last_os_error()),
            );
            false
        }
        0 => {
            // SAFETY: setsid has no preconditions; the child is not a group leader.
            unsafe { libc::setsid() };
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                use std::os::fd::AsRawFd;
                // SAFETY: dup2 onto the standard descriptors with a valid source fd.
                unsafe {
                    libc::dup2(null.as_raw_fd(), 0);
                    libc::dup2(null.as_raw_fd(), 1);
                }
            }
            true
        }
        _ => std::process::exit(0),
    }
}
