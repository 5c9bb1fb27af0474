//! The master process: binds the listen sockets, forks one worker per slot, and then
//! only supervises — signals in, workers out (DESIGN.md §2). It never runs a runtime
//! or a thread, so forking is always safe.
//!
//! ```text
//! HUP   reload: validate the new configuration; if it fails, log it and keep serving
//!       the old one; else fork a new generation on the same sockets and QUIT the old
//! QUIT  graceful stop: workers finish what is in flight, then the master exits
//! TERM  fast stop (INT too)          USR1  reopen logs (master and workers)
//! CHLD  a worker died: respawn it on the same sockets (throttled if it keeps dying)
//! ```
//!
//! Signals are blocked and taken with `sigtimedwait`, so there are no handlers and a
//! forked child starts with default dispositions.
//!
//! The master makes the zones (src/zone/) before it forks, so every worker inherits
//! them. A reload keeps each zone whose name and size are unchanged; when every zone
//! is kept it can be applied in place, otherwise a new generation maps the new ones.

mod activation;
mod files;
mod notify;
mod process;
mod sockets;
mod upgrade;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::model::{Config, LogLevel};
use crate::config::{self, LoadOptions};
use crate::observe::ErrorLog;
use crate::zone::{self, Zones};
use notify::notify;
use sockets::Sockets;

/// A worker that dies this often within [`RESPAWN_WINDOW`] is respawned only after
/// [`RESPAWN_PAUSE`].
const RESPAWN_LIMIT: usize = 5;
const RESPAWN_WINDOW: Duration = Duration::from_secs(10);
const RESPAWN_PAUSE: Duration = Duration::from_secs(1);
/// How long a fast stop waits for workers before SIGKILL.
const FAST_STOP_GRACE: Duration = Duration::from_secs(5);
/// How long the master waits for a worker to answer a control message.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the master waits for a new generation's workers to accept.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the master wakes without a signal (respawns that were held back).
const TICK: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// QUIT: waiting for workers to finish.
    Quitting,
    /// TERM/INT: waiting briefly, then killing.
    Terminating(Instant),
}

#[derive(Debug)]
struct Slot {
    pid: Option<i32>,
    /// The master's end of this worker's control socketpair.
    control: Option<std::os::unix::net::UnixStream>,
    deaths: VecDeque<Instant>,
    respawn_at: Option<Instant>,
}

/// The running master.
#[derive(Debug)]
pub struct Master {
    options: LoadOptions,
    config: Config,
    error_log: ErrorLog,
    sockets: Sockets,
    /// The zones of the configuration in force, inherited by every worker forked.
    zones: Zones,
    slots: Vec<Slot>,
    /// Workers of older generations, draining.
    old: Vec<i32>,
    generation: u64,
    state: State,
    /// After USR2: the new master's pid, while it runs.
    new_binary: Option<i32>,
    /// After WINCH: workers are stopped and not respawned.
    winched: bool,
    /// Reloads, restarts and the load time, for the metrics zone.
    figures: zone::metrics::MasterFigures,
}

/// Every zone `config` needs: the upstream fail counts and TLS's.
fn zone_specs(config: &Config) -> Vec<zone::Spec> {
    let mut specs = zone::specs(config);
    specs.extend(crate::tls::zones::specs(config));
    specs.extend(zone::metrics::spec(config, worker_count(config)));
    specs
}

/// Now as Unix milliseconds (the metrics' configuration load time).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The coarse monotonic clock in milliseconds (ticket keys are stamped with it).
fn now_ms() -> u64 {
    u64::try_from(crate::sys::coarse_monotonic().as_millis()).unwrap_or(u64::MAX)
}

use process::worker_count;

fn kill(pid: i32, signal: i32) {
    let _ = crate::sys::send_signal(pid, signal);
}

/// Why the master could not start (printed at `emerg`, in nginx's words).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Sockets(#[from] sockets::SocketsError),
    #[error(transparent)]
    Zone(#[from] zone::ZoneError),
}

impl Master {
    /// What can fail before the master serves, done before `daemon on` detaches so
    /// that the command's exit status says whether it started: binds the sockets
    /// (refusing, after nginx's retries, addresses another process listens on, each
    /// failure given to `report` as it happens) and maps the zones. Then [`start`].
    ///
    /// [`start`]: Master::start
    pub fn prepare(
        options: LoadOptions,
        config: Config,
        error_log: ErrorLog,
        report: sockets::Report<'_>,
    ) -> Result<Master, StartError> {
        let n = worker_count(&config);
        let mut inherited = activation::inherited();
        let sockets = Sockets::for_config(
            &config,
            n,
            &mut Sockets::default(),
            &mut inherited,
            sockets::Probe::Tries(sockets::START_BIND_TRIES),
            report,
        )?;
        let (mut inherited_zones, zone_errors) = zone::inherited();
        for e in &zone_errors {
            error_log.warn(&e.to_string());
        }
        let zones = Zones::for_specs(
            &zone_specs(&config),
            &Zones::default(),
            &mut inherited_zones,
        )?;
        for e in crate::tls::zones::install_ticket_keys(&config, &zones, now_ms()) {
            error_log.log(LogLevel::Alert, None, &e);
        }
        Ok(Master {
            options,
            config,
            error_log,
            sockets,
            zones,
            slots: Vec::new(),
            old: Vec::new(),
            generation: 1,
            state: State::Running,
            new_binary: None,
            winched: false,
            figures: zone::metrics::MasterFigures {
                generation: 1,
                loaded_at_ms: unix_ms(),
                ..Default::default()
            },
        })
    }

    /// Forks the workers (in the process that stays, after `daemon on`'s fork) and
    /// tells systemd the master is ready once they accept.
    pub fn start(&mut self) {
        let set = process::master_sigset();
        // SAFETY: valid set pointer; the master has no other threads.
        unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        self.error_log.notice(&format!(
            "vestibule/{} master process {} listening on {}",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            self.sockets.addresses().join(", ")
        ));
        files::prepare(&self.config, &self.error_log);
        self.publish_figures();
        self.spawn_generation(worker_count(&self.config));
        notify(&format!(
            "READY=1\nMAINPID={}\nSTATUS={}",
            std::process::id(),
            self.status()
        ));
    }

    fn status(&self) -> String {
        format!(
            "generation {}, {} worker(s)",
            self.generation,
            self.slots.len()
        )
    }

    fn spawn(&mut self, slot: usize, ready: Option<&std::os::fd::OwnedFd>) {
        let listeners = match self.sockets.for_slot(slot) {
            Ok(l) => l,
            Err(e) => {
                self.error_log.log(
                    LogLevel::Alert,
                    None,
                    &format!("dup() of listening sockets failed: {e}"),
                );
                return;
            }
        };
        let (mine, theirs) = match std::os::unix::net::UnixStream::pair() {
            Ok((a, b)) => (Some(a), Some(b)),
            Err(_) => (None, None),
        };
        let control = theirs.map(|stream| crate::worker::control::Control {
            stream,
            options: self.options.clone(),
        });
        match process::spawn(&self.config, slot, listeners, ready, control, &self.zones) {
            Ok(pid) => {
                if let Some(s) = self.slots.get_mut(slot) {
                    s.pid = Some(pid);
                    s.control = mine;
                }
                self.error_log
                    .notice(&format!("start worker process {pid}"));
            }
            Err(e) => self
                .error_log
                .log(LogLevel::Alert, None, &format!("fork() failed: {e}")),
        }
    }

    /// Forks `n` workers and waits (up to [`READY_TIMEOUT`]) until each accepts, so
    /// `READY=1` means serving.
    fn spawn_generation(&mut self, n: usize) {
        let pipe = process::ready_pipe();
        let write = pipe.as_ref().ok().map(|(_, w)| w);
        for i in 0..n {
            self.slots.push(Slot {
                pid: None,
                control: None,
                deaths: VecDeque::new(),
                respawn_at: None,
            });
            self.spawn(i, write);
        }
        if let Ok((read, write)) = pipe {
            drop(write);
            let ready = process::wait_ready(read, n, READY_TIMEOUT);
            if ready < n {
                self.error_log.warn(&format!(
                    "{ready} of {n} worker processes ready after {}s",
                    READY_TIMEOUT.as_secs()
                ));
            }
        }
    }

    /// Supervises until the workers are gone after a stop.
    pub fn supervise(&mut self) {
        let set = process::master_sigset();
        let watchdog = notify::watchdog_interval();
        let mut last_ping = Instant::now();
        loop {
            if let Some(every) = watchdog {
                if last_ping.elapsed() >= every {
                    notify("WATCHDOG=1");
                    last_ping = Instant::now();
                }
            }
            // SAFETY: siginfo_t is plain old data, filled by sigtimedwait.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            let timeout = libc::timespec {
                tv_sec: 0,
                tv_nsec: i64::from(TICK.subsec_nanos()),
            };
            // SAFETY: valid pointers for the call.
            let sig = unsafe { libc::sigtimedwait(&set, &mut info, &timeout) };
            match sig {
                libc::SIGCHLD => {}
                libc::SIGHUP if self.state == State::Running => self.reload(),
                libc::SIGQUIT => self.stop(libc::SIGQUIT),
                libc::SIGTERM | libc::SIGINT => self.stop(libc::SIGTERM),
                libc::SIGUSR1 => self.reopen(),
                libc::SIGUSR2 if self.state == State::Running && self.new_binary.is_none() => {
                    self.upgrade()
                }
                libc::SIGWINCH => self.winch(),
                _ => {}
            }
            self.reap();
            self.respawn_due();
            for e in crate::tls::zones::rotate_ticket_keys(&self.config, &self.zones, now_ms()) {
                self.error_log.log(LogLevel::Alert, None, &e);
            }
            if let State::Terminating(since) = self.state {
                if since.elapsed() >= FAST_STOP_GRACE {
                    for pid in self.all_pids() {
                        kill(pid, libc::SIGKILL);
                    }
                }
            }
            if self.state != State::Running && self.all_pids().is_empty() {
                self.error_log.notice("exit");
                // After a binary upgrade the pid file is the new master's.
                let pid_file = &self.config.main.pid;
                if self.new_binary.is_some() {
                    let _ = std::fs::remove_file(pid_file.with_extension("pid.oldbin"));
                } else {
                    let _ = std::fs::remove_file(pid_file);
                }
                return;
            }
        }
    }

    fn all_pids(&self) -> Vec<i32> {
        self.slots
            .iter()
            .filter_map(|s| s.pid)
            .chain(self.old.iter().copied())
            .collect()
    }

    fn stop(&mut self, signal: i32) {
        if self.state == State::Running {
            notify("STOPPING=1");
        }
        self.state = if signal == libc::SIGQUIT {
            self.error_log.notice("gracefully shutting down");
            State::Quitting
        } else {
            self.error_log.notice("exiting");
            State::Terminating(Instant::now())
        };
        for pid in self.all_pids() {
            kill(pid, signal);
        }
    }

    /// USR2: start the binary on disk with our sockets; we keep serving until told.
    fn upgrade(&mut self) {
        let pid_file = self.config.main.pid.clone();
        let oldbin = pid_file.with_extension("pid.oldbin");
        let _ = std::fs::rename(&pid_file, &oldbin);
        let zone_fds: Vec<_> = self.zones.iter().map(|z| z.fd()).collect();
        match upgrade::exec_new_binary(&self.sockets.all(), &zone_fds) {
            Ok(pid) => {
                self.error_log.notice(&format!(
                    "signal 12 (SIGUSR2) received, new binary started as master process {pid}"
                ));
                self.new_binary = Some(pid);
            }
            Err(e) => {
                let _ = std::fs::rename(&oldbin, &pid_file);
                self.error_log.log(
                    LogLevel::Alert,
                    None,
                    &format!("could not start the new binary: {e}"),
                );
            }
        }
    }

    /// WINCH: stop the workers gracefully and keep the master (after a USR2).
    fn winch(&mut self) {
        self.error_log
            .notice("signal 28 (SIGWINCH) received, gracefully shutting down worker processes");
        self.winched = true;
        let pids: Vec<i32> = self.slots.iter_mut().filter_map(|s| s.pid.take()).collect();
        for pid in &pids {
            kill(*pid, libc::SIGQUIT);
        }
        self.old.extend(pids);
    }

    fn reopen(&mut self) {
        self.error_log.notice("reopening logs");
        self.error_log.reopen();
        files::prepare(&self.config, &self.error_log);
        for pid in self.all_pids() {
            kill(pid, libc::SIGUSR1);
        }
    }

    /// HUP: validate, then a new generation on the same sockets; the old one drains.
    fn reload(&mut self) {
        notify(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}",
            notify::monotonic_usec()
        ));
        self.error_log
            .notice("signal 1 (SIGHUP) received, reconfiguring");
        let (loaded, replay) = match config::load_recorded(&self.options) {
            Ok(l) => l,
            Err(errors) => {
                for e in errors.iter() {
                    self.error_log.log(LogLevel::Emerg, None, &e.to_string());
                }
                self.error_log.log(
                    LogLevel::Error,
                    None,
                    "reload failed: the configuration above has errors; the running configuration is unchanged",
                );
                self.figures.reloads_failed += 1;
                self.publish_figures();
                notify(&format!("READY=1\nSTATUS=reload failed; {}", self.status()));
                return;
            }
        };
        for w in &loaded.warnings {
            self.error_log.warn(&w.to_string());
        }
        files::prepare(&loaded.config, &self.error_log);
        let n = worker_count(&loaded.config);
        let zones =
            match Zones::for_specs(&zone_specs(&loaded.config), &self.zones, &mut Vec::new()) {
                Ok(z) => z,
                Err(e) => return self.reload_failed(&e),
            };
        for e in crate::tls::zones::install_ticket_keys(&loaded.config, &zones, now_ms()) {
            self.error_log.log(LogLevel::Alert, None, &e);
        }
        // Running workers only have the zones they inherited: a new one needs a new
        // generation.
        let zones_kept = zones.same_as(&self.zones);
        if zones_kept && self.can_reload_in_place(&loaded.config, n) {
            let error_log = &self.error_log;
            let mut report = |level, message: &str| error_log.log(level, None, message);
            self.sockets.apply_options(&loaded.config, &mut report);
            self.reload_in_place(loaded.config, &replay);
            return;
        }
        if !zones_kept {
            self.error_log
                .notice("the shared zones changed: starting new worker processes");
        }
        let error_log = &self.error_log;
        let mut report = |level, message: &str| error_log.log(level, None, message);
        let sockets = match Sockets::for_config(
            &loaded.config,
            n,
            &mut self.sockets,
            &mut Vec::new(),
            sockets::Probe::Off,
            &mut report,
        ) {
            Ok(s) => s,
            Err(e) => return self.reload_failed(&e),
        };
        self.sockets = sockets;
        self.zones = zones;
        self.config = loaded.config;
        self.generation += 1;
        self.reloaded();
        let previous: Vec<i32> = self.slots.drain(..).filter_map(|s| s.pid).collect();
        self.spawn_generation(n);
        for pid in &previous {
            kill(*pid, libc::SIGQUIT);
        }
        self.old.extend(previous);
        notify(&format!("READY=1\nSTATUS={}", self.status()));
    }

    /// The same listen addresses, worker count and user: the workers can take the new
    /// configuration as they run (DESIGN.md §2).
    /// A reload that could not be carried out: the reason at `emerg`, nginx's line that
    /// nothing changed, and systemd told so.
    fn reload_failed(&mut self, reason: &dyn std::fmt::Display) {
        self.figures.reloads_failed += 1;
        self.publish_figures();
        self.error_log
            .log(LogLevel::Emerg, None, &reason.to_string());
        self.error_log.log(
            LogLevel::Error,
            None,
            "reload failed; the running configuration is unchanged",
        );
        notify(&format!("READY=1\nSTATUS=reload failed; {}", self.status()));
    }

    fn can_reload_in_place(&self, config: &Config, n: usize) -> bool {
        let mut old: Vec<String> = self.sockets.addresses();
        let mut new: Vec<String> = crate::worker::listener::listen_addresses(config)
            .iter()
            .map(|l| l.addr.to_string())
            .collect();
        old.sort();
        new.sort();
        old == new
            && n == self.slots.len()
            && config.main.user == self.config.main.user
            && self
                .slots
                .iter()
                .all(|s| s.pid.is_some() && s.control.is_some())
    }

    /// Sends every worker the texts this master validated (`replay`) to build and swap
    /// in; waits for each answer. A worker that fails keeps its configuration and is
    /// named in the log. Workers open no configuration file (worker/control.rs).
    fn reload_in_place(&mut self, config: Config, replay: &config::Replay) {
        use std::io::{BufRead, BufReader, Write};
        let payload = replay.encode();
        let line = crate::worker::control::reload_line(payload.len());
        let mut failed = 0;
        for slot in &mut self.slots {
            let (Some(pid), Some(control)) = (slot.pid, slot.control.as_mut()) else {
                continue;
            };
            let _ = control.set_read_timeout(Some(CONTROL_TIMEOUT));
            let _ = control.set_write_timeout(Some(CONTROL_TIMEOUT));
            let sent = control
                .write_all(line.as_bytes())
                .and_then(|()| control.write_all(&payload));
            let answer = sent.and_then(|()| {
                let mut line = String::new();
                BufReader::new(&*control).read_line(&mut line)?;
                Ok(line)
            });
            match answer {
                Ok(line) if line.trim() == "ok" => {}
                Ok(line) => {
                    failed += 1;
                    self.error_log.error(
                        None,
                        &format!("worker process {pid} did not reload: {}", line.trim()),
                    );
                }
                Err(e) => {
                    failed += 1;
                    self.error_log.error(
                        None,
                        &format!("worker process {pid} did not answer the reload: {e}"),
                    );
                }
            }
        }
        self.config = config;
        self.generation += 1;
        self.reloaded();
        self.error_log.notice(&format!(
            "configuration reloaded in place by {} of {} worker process(es)",
            self.slots.len() - failed,
            self.slots.len()
        ));
        notify(&format!("READY=1\nSTATUS={}", self.status()));
    }

    /// A reload was applied: counted, with the new generation and load time.
    fn reloaded(&mut self) {
        self.figures.reloads_ok += 1;
        self.figures.generation = self.generation;
        self.figures.loaded_at_ms = unix_ms();
        self.publish_figures();
    }

    /// The master's row of the metrics zone (when the configuration has one).
    fn publish_figures(&self) {
        let workers = worker_count(&self.config);
        zone::metrics::publish_master(&self.zones, &self.config, workers, &self.figures);
    }

    /// Collects exited workers; a current one that died is respawned.
    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: a valid status pointer; WNOHANG never blocks.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            self.old.retain(|p| *p != pid);
            if self.new_binary == Some(pid) {
                self.new_binary = None;
                self.error_log.log(
                    LogLevel::Alert,
                    None,
                    &format!("new binary (master process {pid}) exited; this master goes on"),
                );
                let pid_file = self.config.main.pid.clone();
                let _ = std::fs::rename(pid_file.with_extension("pid.oldbin"), &pid_file);
                continue;
            }
            let Some(index) = self.slots.iter().position(|s| s.pid == Some(pid)) else {
                continue;
            };
            let how = if libc::WIFSIGNALED(status) {
                format!("exited on signal {}", libc::WTERMSIG(status))
            } else {
                format!("exited with code {}", libc::WEXITSTATUS(status))
            };
            // A worker that died without ending its requests leaves their
            // `limit_conn` counts in its column: forget them (src/zone/limits.rs).
            if libc::WIFSIGNALED(status) || libc::WEXITSTATUS(status) != 0 {
                crate::zone::limits::worker_died(&self.zones, index);
                crate::zone::status::worker_died(&self.zones, index);
            }
            let Some(slot) = self.slots.get_mut(index) else {
                continue;
            };
            slot.pid = None;
            if self.state != State::Running || self.winched {
                continue;
            }
            self.error_log.log(
                LogLevel::Alert,
                None,
                &format!("worker process {pid} {how}"),
            );
            self.figures.restarts += 1;
            let now = Instant::now();
            slot.deaths.push_back(now);
            while slot
                .deaths
                .front()
                .is_some_and(|t| now.duration_since(*t) > RESPAWN_WINDOW)
            {
                slot.deaths.pop_front();
            }
            if slot.deaths.len() >= RESPAWN_LIMIT {
                slot.respawn_at = Some(now + RESPAWN_PAUSE);
                self.error_log.log(
                    LogLevel::Alert,
                    None,
                    &format!("worker process of slot {index} keeps dying ({RESPAWN_LIMIT} times in {}s): respawning in {}s", RESPAWN_WINDOW.as_secs(), RESPAWN_PAUSE.as_secs()),
                );
            } else {
                self.spawn(index, None);
            }
            self.publish_figures();
        }
    }

    fn respawn_due(&mut self) {
        if self.state != State::Running || self.winched {
            return;
        }
        let now = Instant::now();
        let due: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                self.slots[i].pid.is_none() && self.slots[i].respawn_at.is_some_and(|t| t <= now)
            })
            .collect();
        for i in due {
            self.slots[i].respawn_at = None;
            self.spawn(i, None);
        }
    }
}
