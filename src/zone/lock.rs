//! The zone's lock: a POSIX mutex in the zone's own memory, `PTHREAD_PROCESS_SHARED`
//! and `PTHREAD_MUTEX_ROBUST`.
//!
//! Why this and not a spinlock holding the owner's pid (nginx's `ngx_shmtx` without
//! atomics fallback checks `kill(pid, 0)`): the kernel itself releases a robust mutex
//! whose owner dies — the thread's robust list is walked at exit, with no polling and
//! no race with a reused pid — and a waiter sleeps in a futex instead of spinning on
//! a 2-core machine while the holder is descheduled. The next locker gets
//! `EOWNERDEAD`, marks the mutex consistent and is told, so the zone's user can repair
//! what the dead holder left half-written ([`super::ZoneGuard::recovered`]).

use std::io;

/// Initialises a process-shared robust mutex at `m`.
///
/// # Safety
/// `m` points to writable memory for a `pthread_mutex_t` that no process is using.
pub(super) unsafe fn init(m: *mut libc::pthread_mutex_t) -> io::Result<()> {
    // SAFETY: the attribute object is plain old data, initialised by
    // pthread_mutexattr_init before use and destroyed after.
    unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        check(libc::pthread_mutexattr_init(&mut attr))?;
        let set = check(libc::pthread_mutexattr_setpshared(
            &mut attr,
            libc::PTHREAD_PROCESS_SHARED,
        ))
        .and_then(|()| {
            check(libc::pthread_mutexattr_setrobust(
                &mut attr,
                libc::PTHREAD_MUTEX_ROBUST,
            ))
        })
        .and_then(|()| check(libc::pthread_mutex_init(m, &attr)));
        libc::pthread_mutexattr_destroy(&mut attr);
        set
    }
}

/// How the lock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Acquired {
    Clean,
    /// The previous holder died holding it; the mutex has been made consistent again.
    OwnerDied,
}

/// Takes the mutex, recovering it from a dead owner.
///
/// # Safety
/// `m` points to a mutex made by [`init`] in memory that stays mapped until
/// [`unlock`].
pub(super) unsafe fn lock(m: *mut libc::pthread_mutex_t) -> io::Result<Acquired> {
    // SAFETY: per the function's contract.
    match unsafe { libc::pthread_mutex_lock(m) } {
        0 => Ok(Acquired::Clean),
        libc::EOWNERDEAD => {
            // SAFETY: we hold the mutex (EOWNERDEAD means the lock was acquired).
            check(unsafe { libc::pthread_mutex_consistent(m) })?;
            Ok(Acquired::OwnerDied)
        }
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Releases the mutex.
///
/// # Safety
/// The calling thread holds `m` (taken with [`lock`]).
pub(super) unsafe fn unlock(m: *mut libc::pthread_mutex_t) {
    // SAFETY: per the function's contract.
    unsafe { libc::pthread_mutex_unlock(m) };
}

fn check(code: i32) -> io::Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(code))
    }
}
