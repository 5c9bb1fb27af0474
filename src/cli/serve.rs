//! Running vestibule: open the master's error log, bind every listen address, fork
//! the workers, write the pid file once the sockets are bound, then supervise until a
//! stop signal (src/master/). `daemon` is not honoured yet: vestibule stays in the
//! foreground, as systemd wants it.

use std::process::ExitCode;

use super::Console;
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
    if config.main.daemon {
        error_log.notice("\"daemon on\" is not implemented yet: running in the foreground");
    }
    let pid = config.main.pid.clone();
    let mut master = match Master::start(options, config, error_log) {
        Ok(m) => m,
        Err(e) => {
            out.say("emerg", &e);
            return ExitCode::FAILURE;
        }
    };
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
