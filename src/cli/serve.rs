//! Running vestibule: open the logs, bind every listen address, write the pid file,
//! then serve in this process with one worker. (The master that forks a worker per
//! core, reloads and upgrades is its own step; until then `daemon` is not honoured and
//! vestibule stays in the foreground, as under systemd.)

use std::process::ExitCode;
use std::sync::Arc;

use super::Console;
use crate::config::model::LogLevel;
use crate::config::Loaded;
use crate::observe::ErrorLog;
use crate::worker::{self, Snapshot};

pub fn run(loaded: Loaded, out: &Console) -> ExitCode {
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
    let listeners = match worker::bind_all(&config) {
        Ok(l) => l,
        Err(e) => {
            out.say("emerg", &e.to_string());
            error_log.log(LogLevel::Emerg, None, &e.to_string());
            return ExitCode::FAILURE;
        }
    };
    if config.main.daemon {
        error_log.notice("\"daemon on\" is not implemented yet: running in the foreground");
    }
    let pid = &config.main.pid;
    if let Err(e) = std::fs::write(pid, format!("{}\n", std::process::id())) {
        let errno = e.raw_os_error().unwrap_or(0);
        let message = format!(
            "open() \"{}\" failed ({errno}: {})",
            pid.display(),
            crate::sys::strerror(errno)
        );
        out.say("emerg", &message);
        return ExitCode::FAILURE;
    }
    let addresses: Vec<String> = listeners.iter().map(|l| l.addr.to_string()).collect();
    error_log.notice(&format!(
        "vestibule/{} listening on {}",
        env!("CARGO_PKG_VERSION"),
        addresses.join(", ")
    ));
    let snapshot = Arc::new(Snapshot::new(config));
    let pid_path = snapshot.config.main.pid.clone();
    let result = worker::run(snapshot, listeners, error_log);
    let _ = std::fs::remove_file(pid_path);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.say("emerg", &format!("worker failed: {e}"));
            ExitCode::FAILURE
        }
    }
}
