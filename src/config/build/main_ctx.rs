//! The main and events contexts: process-level settings, and the entry into `http`.
//! Their tables, slots and defaults.

use std::collections::HashSet;
use std::path::PathBuf;

use super::args::{self, arg, set_once, Kind, NoEffect};
use super::command::{b, d, dispatch, Arity::*, Command, Context, EVENTS, MAIN};
use super::{http, modules, Builder};
use crate::config::error::ConfigErrorKind;
use crate::config::model::{
    Config, CpuAffinity, ErrorLog, HttpConfig, ListenAddr, LogLevel, LogTarget, MainConfig,
    UserSpec, WorkerProcesses,
};
use crate::config::source::Span;
use crate::config::tree::Directive;

/// nginx's defaults, with Debian's paths (the error log's is `-e` or
/// [`crate::config::DEFAULT_ERROR_LOG`], in the build options).
pub const DEFAULT_PID: &str = "/run/vestibule.pid";
const DEFAULT_WORKER_CONNECTIONS: u32 = 512;

/// The main context's slots (nginx's core, errlog, events and http modules), each
/// `None` until a directive sets it.
#[derive(Default)]
pub struct MainSlots {
    user: Option<UserSpec>,
    worker_processes: Option<WorkerProcesses>,
    worker_cpu_affinity: Option<CpuAffinity>,
    pid: Option<PathBuf>,
    error_log: Option<Vec<ErrorLog>>,
    daemon: Option<bool>,
    worker_shutdown_timeout: Option<std::time::Duration>,
    worker_rlimit_nofile: Option<u64>,
    events: EventsSlots,
    events_seen: bool,
    http: Option<HttpConfig>,
    no_effect: NoEffect,
}

/// The events block's slots (nginx's event core module).
#[derive(Default)]
pub struct EventsSlots {
    worker_connections: Option<u32>,
    no_effect: NoEffect,
}

/// The main context: nginx's `ngx_core_module`, `ngx_errlog_module`, and the `events`
/// and `http` blocks.
pub const COMMANDS: &[Command<MainSlots>] = &[
    d("user", MAIN, Between(1, 2), |s, d, cx, _| {
        let spec = user(d);
        set_once(cx, d, &mut s.user, spec);
    }),
    d("worker_processes", MAIN, Exactly(1), |s, d, cx, _| {
        let v = match arg(d, 0) {
            "auto" => Ok(WorkerProcesses::Auto),
            n => args::number(d, 0)
                .ok()
                .filter(|n| *n > 0)
                .map(WorkerProcesses::Count)
                .ok_or_else(|| ConfigErrorKind::InvalidValueIn {
                    directive: d.name.clone(),
                    value: n.to_string(),
                }),
        };
        set_once(cx, d, &mut s.worker_processes, v);
    }),
    d("worker_cpu_affinity", MAIN, AtLeast(1), |s, d, cx, _| {
        let v = match d.arg_strs().as_slice() {
            ["auto"] => Ok(CpuAffinity::Auto),
            _ => Err(ConfigErrorKind::Unsupported(
                d.name.clone(),
                "only \"worker_cpu_affinity auto\" is implemented",
            )),
        };
        set_once(cx, d, &mut s.worker_cpu_affinity, v);
    }),
    d("pid", MAIN, Exactly(1), |s, d, cx, _| {
        let p = args::path(cx, d, 0);
        set_once(cx, d, &mut s.pid, Ok(p));
    }),
    d("error_log", MAIN, Between(1, 2), |s, d, cx, _| {
        let v = error_log(cx, d);
        args::push(cx, d, &mut s.error_log, v);
    }),
    d("daemon", MAIN, Exactly(1), |s, d, cx, _| {
        let v = args::flag(d);
        set_once(cx, d, &mut s.daemon, v);
    }),
    d(
        "worker_shutdown_timeout",
        MAIN,
        Exactly(1),
        |s, d, cx, _| {
            let v = args::time(d, 0);
            set_once(cx, d, &mut s.worker_shutdown_timeout, v);
        },
    ),
    d("worker_rlimit_nofile", MAIN, Exactly(1), |s, d, cx, _| {
        let v = args::number(d, 0).map(u64::from);
        set_once(cx, d, &mut s.worker_rlimit_nofile, v);
    }),
    d("timer_resolution", MAIN, Exactly(1), |s, d, cx, _| {
        let why = "vestibule reads the clock when it needs the time";
        s.no_effect.set_kind(cx, d, Kind::Time, Some(why));
    }),
    d("load_module", MAIN, Exactly(1), |_, d, cx, _| {
        modules::load_module(cx, d)
    }),
    b("events", MAIN, Exactly(0), |s, d, cx, _| {
        if s.events_seen {
            cx.error(ConfigErrorKind::Duplicate(d.name.clone()), &d.span);
        }
        s.events_seen = true;
        for inner in d.block.as_deref().unwrap_or(&[]) {
            if cx.check(inner, Context::Events) {
                let found = dispatch(EVENTS_COMMANDS, &mut s.events, inner, cx, Context::Events);
                debug_assert!(found, "events directive {} has no row", inner.name);
            }
        }
    }),
    b("http", MAIN, Exactly(0), |s, d, cx, _| {
        if s.http.is_some() {
            cx.error(ConfigErrorKind::Duplicate(d.name.clone()), &d.span);
            return;
        }
        s.http = Some(http::build_http(d.block.as_deref().unwrap_or(&[]), cx));
    }),
];

/// How vestibule accepts connections, which the event tuning directives cannot change.
const ACCEPT: &str =
    "each worker accepts on its own SO_REUSEPORT socket; the kernel spreads the connections";
const EVENT_LOOP: &str = "vestibule uses io_uring, or epoll where io_uring is unavailable";

/// Inside `events { }`: nginx's `ngx_event_core_module`.
pub const EVENTS_COMMANDS: &[Command<EventsSlots>] = &[
    d("worker_connections", EVENTS, Exactly(1), |s, d, cx, _| {
        let v = args::number(d, 0);
        set_once(cx, d, &mut s.worker_connections, v);
    }),
    d("accept_mutex", EVENTS, Exactly(1), |s, d, cx, _| {
        s.no_effect.set_kind(cx, d, Kind::Flag, Some(ACCEPT))
    }),
    d("accept_mutex_delay", EVENTS, Exactly(1), |s, d, cx, _| {
        s.no_effect.set_kind(cx, d, Kind::Time, Some(ACCEPT))
    }),
    d("multi_accept", EVENTS, Exactly(1), |s, d, cx, _| {
        s.no_effect.set_kind(cx, d, Kind::Flag, Some(ACCEPT))
    }),
    d("use", EVENTS, Exactly(1), |s, d, cx, _| {
        // The methods nginx builds on Linux.
        let methods = Kind::OneOf(&["epoll", "poll", "select"]);
        s.no_effect.set_kind(cx, d, methods, Some(EVENT_LOOP))
    }),
    d("worker_aio_requests", EVENTS, Exactly(1), |s, d, cx, _| {
        s.no_effect.set_kind(cx, d, Kind::Number, Some(EVENT_LOOP))
    }),
];

pub fn build_main(directives: &[Directive], cx: &mut Builder) -> Config {
    let mut s = MainSlots::default();
    for d in directives {
        if cx.check(d, Context::Main) {
            let found = dispatch(COMMANDS, &mut s, d, cx, Context::Main);
            debug_assert!(found, "main directive {} has no row", d.name);
        }
    }
    let main = MainConfig {
        user_explicit: s.user.is_some(),
        user: s.user.unwrap_or(UserSpec {
            user: "nobody".to_string(),
            group: None,
        }),
        worker_processes: s.worker_processes.unwrap_or(WorkerProcesses::Count(1)),
        worker_cpu_affinity: s.worker_cpu_affinity.unwrap_or(CpuAffinity::None),
        pid: s.pid.unwrap_or_else(|| PathBuf::from(DEFAULT_PID)),
        error_log: s.error_log.unwrap_or_else(|| {
            vec![ErrorLog {
                target: cx.options.default_error_log.clone(),
                level: LogLevel::Error,
            }]
        }),
        daemon: s.daemon.unwrap_or(true),
        worker_shutdown_timeout: s.worker_shutdown_timeout,
        worker_rlimit_nofile: s.worker_rlimit_nofile,
        worker_connections: s
            .events
            .worker_connections
            .unwrap_or(DEFAULT_WORKER_CONNECTIONS),
    };
    if let Some(http) = &s.http {
        check_listening_sockets(http, main.worker_connections, cx);
    }
    Config { main, http: s.http }
}

/// Every listening socket takes a connection slot in each worker, so there must be
/// more slots than sockets: nginx's `ngx_event_init_conf` check, which bounds what a
/// port range (`listen 8000-9000`) may open. The error points at the `listen` that
/// went over.
fn check_listening_sockets(http: &HttpConfig, connections: u32, cx: &mut Builder) {
    let mut seen: HashSet<&ListenAddr> = HashSet::new();
    let mut over: Option<&Span> = None;
    for listen in http.servers.iter().flat_map(|s| &s.listen) {
        if seen.insert(&listen.addr) && seen.len() >= connections as usize && over.is_none() {
            over = Some(&listen.span);
        }
    }
    if let Some(span) = over {
        let kind = ConfigErrorKind::TooManyListeningSockets {
            connections,
            sockets: seen.len(),
        };
        cx.error(kind, span);
    }
}

/// `user NAME [GROUP]`: the user (and group) must exist, as nginx's getpwnam check.
fn user(d: &Directive) -> Result<UserSpec, ConfigErrorKind> {
    let name = arg(d, 0).to_string();
    let group = d.args.get(1).map(|a| a.value.clone());
    // As nginx, the user is only looked up when it will be used: by a root master.
    if !crate::sys::is_root() {
        return Ok(UserSpec { user: name, group });
    }
    if crate::sys::user_by_name(&name).is_none() {
        return Err(ConfigErrorKind::UnknownUser(name));
    }
    if let Some(g) = &group {
        if crate::sys::group_by_name(g).is_none() {
            return Err(ConfigErrorKind::UnknownGroup(g.clone()));
        }
    }
    Ok(UserSpec { user: name, group })
}

/// `error_log stderr|PATH [LEVEL]`.
pub(super) fn error_log(cx: &Builder, d: &Directive) -> Result<ErrorLog, ConfigErrorKind> {
    let target = match arg(d, 0) {
        "stderr" => LogTarget::Stderr,
        t if t.starts_with("syslog:") || t.starts_with("memory:") => {
            return Err(ConfigErrorKind::Unsupported(
                d.name.clone(),
                "only a file path or \"stderr\" is implemented",
            ))
        }
        _ => LogTarget::File(args::path(cx, d, 0)),
    };
    let level = match d.args.get(1) {
        None => LogLevel::Error,
        Some(l) => LogLevel::parse(&l.value)
            .ok_or_else(|| ConfigErrorKind::InvalidLogLevel(l.value.clone()))?,
    };
    Ok(ErrorLog { target, level })
}
