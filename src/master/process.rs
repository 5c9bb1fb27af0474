//! Forking a worker and what the child does before it serves: restore the signal mask,
//! die with the master, pin to a CPU, raise the file limit, drop privileges, open its
//! own logs, then run the worker on its slot's sockets.

use std::sync::Arc;

use crate::config::model::{Config, CpuAffinity};
use crate::observe::ErrorLog;
use crate::worker::{self, BoundListener, Snapshot};
use crate::zone::peer_fails::PeerFails;
use crate::zone::Zones;

/// The signals the master takes synchronously; blocked in the master, unblocked in
/// every child.
pub const MASTER_SIGNALS: [i32; 8] = [
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGUSR1,
    libc::SIGCHLD,
];

/// How many workers `config` runs (`worker_processes`; `auto`: one per CPU).
pub fn worker_count(config: &Config) -> usize {
    match config.main.worker_processes {
        crate::config::model::WorkerProcesses::Count(n) => usize::try_from(n).unwrap_or(1).max(1),
        crate::config::model::WorkerProcesses::Auto => {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

/// A signal set of [`MASTER_SIGNALS`].
pub fn master_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is plain old data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; valid signal numbers.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in MASTER_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
    }
    set
}

/// Forks a worker for `slot`. Returns the child's pid in the master; never returns in
/// the child.
pub fn spawn(
    config: &Config,
    slot: usize,
    listeners: Vec<BoundListener>,
    ready: Option<&std::os::fd::OwnedFd>,
    control: Option<crate::worker::control::Control>,
    zones: &Zones,
) -> std::io::Result<i32> {
    let master = std::process::id();
    // SAFETY: the master is single-threaded (no runtime, no threads before fork), so
    // the child may run arbitrary code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok(pid);
    }
    let ready = ready.and_then(|fd| fd.try_clone().ok());
    let code = child(config, slot, listeners, master, ready, control, zones);
    std::process::exit(code);
}

fn child(
    config: &Config,
    slot: usize,
    listeners: Vec<BoundListener>,
    master: u32,
    ready: Option<std::os::fd::OwnedFd>,
    control: Option<crate::worker::control::Control>,
    zones: &Zones,
) -> i32 {
    let set = master_sigset();
    // SAFETY: valid set pointer; a null old set is allowed.
    unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    // Die with the master (a `kill -9` of the master must not leave workers behind).
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
    // SAFETY: getppid cannot fail.
    if u32::try_from(unsafe { libc::getppid() }).ok() != Some(master) {
        return 1;
    }
    if config.main.worker_cpu_affinity == CpuAffinity::Auto {
        pin_to_cpu(slot);
    }
    if let Some(n) = config.main.worker_rlimit_nofile {
        let limit = libc::rlimit {
            rlim_cur: n,
            rlim_max: n,
        };
        // SAFETY: a valid rlimit pointer.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    }
    let error_log = ErrorLog::open(&config.main.error_log)
        .unwrap_or_else(|_| ErrorLog::stderr(crate::config::model::LogLevel::Error));
    // As nginx: a root master's workers always switch, to `nobody` when no `user`
    // is written.
    if crate::sys::is_root() {
        if let Err(e) = drop_privileges(&config.main.user.user, config.main.user.group.as_deref()) {
            error_log.log(crate::config::model::LogLevel::Emerg, None, &e.to_string());
            return 1;
        }
    }
    crate::zone::limits::set_column(slot);
    crate::zone::status::attach(zones, slot);
    crate::zone::health::attach(zones, slot);
    crate::zone::metrics::attach(zones, config, worker_count(config), slot);
    let peer_fails = PeerFails::in_zones(zones);
    let snapshot = Arc::new(Snapshot::new(
        config.clone(),
        &crate::tls::Shared::new(zones.clone()),
    ));
    match worker::run(snapshot, listeners, error_log, ready, control, peer_fails) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn pin_to_cpu(slot: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    // SAFETY: cpu_set_t is plain old data; CPU_SET writes a bit within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(slot % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Why a worker could not take on the `user` directive's identity (nginx's words).
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("getpwnam(\"{0}\") failed")]
    NoUser(String),
    #[error("getgrnam(\"{0}\") failed")]
    NoGroup(String),
    #[error("user \"{0}\" has a NUL byte in its name")]
    BadName(String),
    #[error("could not switch to user \"{user}\": {source}")]
    Switch {
        user: String,
        source: std::io::Error,
    },
}

/// setgroups, setgid, setuid to the `user` directive's user (and group).
fn drop_privileges(user: &str, group: Option<&str>) -> Result<(), PrivilegeError> {
    let info =
        crate::sys::user_by_name(user).ok_or_else(|| PrivilegeError::NoUser(user.to_string()))?;
    let gid = match group {
        Some(g) => {
            crate::sys::group_by_name(g).ok_or_else(|| PrivilegeError::NoGroup(g.to_string()))?
        }
        None => info.gid,
    };
    let name =
        std::ffi::CString::new(user).map_err(|_| PrivilegeError::BadName(user.to_string()))?;
    // SAFETY: plain syscalls with valid arguments; checked in order.
    let ok = unsafe {
        libc::initgroups(name.as_ptr(), gid) == 0
            && libc::setgid(gid) == 0
            && libc::setuid(info.uid) == 0
    };
    if ok {
        Ok(())
    } else {
        Err(PrivilegeError::Switch {
            user: user.to_string(),
            source: std::io::Error::last_os_error(),
        })
    }
}

/// A pipe the workers of one generation write a byte to once they accept.
pub fn ready_pipe() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two new descriptors that we now own.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}

/// Waits until `count` workers said they accept, or `timeout`. Returns how many did.
pub fn wait_ready(read: std::os::fd::OwnedFd, count: usize, timeout: std::time::Duration) -> usize {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + timeout;
    let mut file = std::fs::File::from(read);
    let mut seen = 0;
    while seen < count {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
            break;
        }
        let mut buf = [0u8; 64];
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen += n,
        }
    }
    seen
}
