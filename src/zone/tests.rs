//! Zones across real forked processes: children share a zone's memory and lock, and a
//! child killed while holding the lock does not wedge the others. The children run
//! only what is safe after a fork from the multi-threaded test harness: the zone's
//! atomics and futex-based lock, a pipe write, `_exit` — no allocation.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;

/// Forks a child running `f`, which must not allocate; exits with its return value.
fn fork_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs only `f` (async-signal-safe work by the caller's
    // contract) and `_exit`, never returning into the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = f();
        // SAFETY: ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Waits for `pid` up to `limit`; kills it after that. Returns its exit code, or
/// `None` if it had to be killed (it was wedged).
fn wait_child(pid: i32, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: our own child; WNOHANG never blocks.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            return (libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status));
        }
        if Instant::now() >= deadline {
            // SAFETY: our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Read-modify-write of word 0 in two steps (load, then store): only correct when
/// the lock excludes the others.
fn add_under_lock(zone: &Zone, times: usize) -> i32 {
    for _ in 0..times {
        let Ok(guard) = zone.lock() else {
            return 2;
        };
        let Some(counter) = guard.zone().u64_at(0) else {
            return 3;
        };
        let v = counter.load(Ordering::Relaxed);
        std::hint::spin_loop();
        counter.store(v + 1, Ordering::Relaxed);
    }
    0
}

#[test]
fn forked_children_add_up_under_the_lock() {
    let zone = Zone::create("count", 64).unwrap();
    let children: Vec<i32> = (0..4)
        .map(|_| fork_child(|| add_under_lock(&zone, 2000)))
        .collect();
    let exits: Vec<Option<i32>> = children
        .into_iter()
        .map(|pid| wait_child(pid, Duration::from_secs(30)))
        .collect();
    assert_eq!(exits, [Some(0); 4]);
    assert_eq!(zone.u64_at(0).unwrap().load(Ordering::SeqCst), 8000);
    assert_eq!(zone.recoveries(), 0);
}

#[test]
fn a_child_killed_holding_the_lock_does_not_wedge_the_others() {
    let zone = Zone::create("killed", 64).unwrap();
    let mut fds = [0i32; 2];
    // SAFETY: room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let [read_end, write_end] = fds;
    // The holder: takes the lock, half-writes (word 1), says so, and waits forever.
    let holder = fork_child(|| {
        let Ok(guard) = zone.lock() else {
            return 2;
        };
        if let Some(w) = guard.zone().u64_at(8) {
            w.store(1, Ordering::SeqCst);
        }
        // SAFETY: a one-byte write from a valid buffer to our pipe.
        unsafe { libc::write(write_end, b"h".as_ptr().cast(), 1) };
        loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
    });
    let mut byte = 0u8;
    // SAFETY: a one-byte read into a valid buffer.
    let got = unsafe { libc::read(read_end, std::ptr::addr_of_mut!(byte).cast(), 1) };
    assert_eq!(got, 1, "the holder took the lock");
    // SAFETY: our own child, which now holds the lock.
    unsafe { libc::kill(holder, libc::SIGKILL) };
    assert_eq!(
        wait_child(holder, Duration::from_secs(10)),
        None,
        "killed, not exited"
    );
    // Two more children take the lock after the killed one; each counts, and the one
    // that recovered the lock repairs the half-written word and says so (word 2).
    let others: Vec<i32> = (0..2)
        .map(|_| {
            fork_child(|| {
                let Ok(guard) = zone.lock() else {
                    return 2;
                };
                let (Some(count), Some(half), Some(repaired)) = (
                    guard.zone().u64_at(0),
                    guard.zone().u64_at(8),
                    guard.zone().u64_at(16),
                ) else {
                    return 3;
                };
                if guard.recovered() {
                    half.store(0, Ordering::SeqCst);
                    repaired.fetch_add(1, Ordering::SeqCst);
                }
                count.fetch_add(1, Ordering::SeqCst);
                0
            })
        })
        .collect();
    // Every child waited for (or killed) before any assertion, so none is left behind.
    let exits: Vec<Option<i32>> = others
        .into_iter()
        .map(|pid| wait_child(pid, Duration::from_secs(10)))
        .collect();
    assert_eq!(
        exits,
        [Some(0), Some(0)],
        "the children after the killed holder got the lock"
    );
    let word = |at| zone.u64_at(at).unwrap().load(Ordering::SeqCst);
    assert_eq!(word(0), 2, "both later children ran under the lock");
    assert_eq!(word(16), 1, "exactly one was told the holder died");
    assert_eq!(word(8), 0, "and repaired what it left");
    assert_eq!(zone.recoveries(), 1);
    let guard = zone.lock().unwrap();
    assert!(!guard.recovered(), "the lock is consistent again");
    drop(guard);
    // SAFETY: closing our own pipe ends.
    unsafe {
        libc::close(read_end);
        libc::close(write_end);
    }
}

#[test]
fn a_zone_is_kept_by_name_and_size_and_remade_otherwise() {
    let spec = |name: &str, size| Spec {
        name: name.to_owned(),
        size,
    };
    let first = Zones::for_specs(
        &[spec("a", 64), spec("b", 64)],
        &Zones::default(),
        &mut Vec::new(),
    )
    .unwrap();
    first
        .get("a")
        .unwrap()
        .u64_at(0)
        .unwrap()
        .store(7, Ordering::SeqCst);
    first
        .get("b")
        .unwrap()
        .u64_at(0)
        .unwrap()
        .store(7, Ordering::SeqCst);
    let same = Zones::for_specs(&[spec("b", 64), spec("a", 64)], &first, &mut Vec::new()).unwrap();
    assert!(same.same_as(&first));
    let resized =
        Zones::for_specs(&[spec("a", 64), spec("b", 128)], &first, &mut Vec::new()).unwrap();
    assert!(!resized.same_as(&first));
    let value = |z: &Zones, name| {
        z.get(name)
            .unwrap()
            .u64_at(0)
            .unwrap()
            .load(Ordering::SeqCst)
    };
    assert_eq!(
        value(&resized, "a"),
        7,
        "same name and size: the same memory"
    );
    assert_eq!(value(&resized, "b"), 0, "a new size: a fresh zone");
    assert_eq!(resized.get("b").unwrap().size(), 128);
}

#[test]
fn an_adopted_zone_is_the_same_memory_under_its_name() {
    let zone = Zone::create("passed", 4096).unwrap();
    zone.u64_at(4088).unwrap().store(42, Ordering::SeqCst);
    assert!(zone.u64_at(4096).is_none() && zone.u64_at(4).is_none());
    let fd = zone.fd().try_clone_to_owned().unwrap();
    let adopted = Zone::adopt(fd).unwrap();
    assert_eq!((adopted.name(), adopted.size()), ("passed", 4096));
    assert_eq!(adopted.u64_at(4088).unwrap().load(Ordering::SeqCst), 42);
    adopted.u64_at(0).unwrap().store(5, Ordering::SeqCst);
    assert_eq!(zone.u64_at(0).unwrap().load(Ordering::SeqCst), 5);
    drop(adopted.lock().unwrap());
    let mut inherited = vec![adopted];
    let zones = Zones::for_specs(
        &[Spec {
            name: "passed".into(),
            size: 4096,
        }],
        &Zones::default(),
        &mut inherited,
    )
    .unwrap();
    assert!(inherited.is_empty(), "taken by name and size");
    assert_eq!(
        zones
            .get("passed")
            .unwrap()
            .u64_at(0)
            .unwrap()
            .load(Ordering::SeqCst),
        5
    );
    let not_a_zone = tempfile::tempfile().unwrap();
    not_a_zone.set_len(4096).unwrap();
    assert!(matches!(
        Zone::adopt(not_a_zone.into()),
        Err(ZoneError::NotAZone(_))
    ));
}

#[test]
fn the_byte_api_is_bounds_checked_at_every_edge() {
    let zone = Zone::create("bytes", 64).unwrap();
    let g = zone.lock().unwrap();
    g.write(60, b"abcd").unwrap();
    let mut out = [0u8; 4];
    g.read(60, &mut out).unwrap();
    assert_eq!(&out, b"abcd");
    assert_eq!(g.read_u32(60).unwrap(), u32::from_le_bytes(*b"abcd"));
    g.write(64, &[]).unwrap();
    assert_eq!(
        g.write(61, b"abcd"),
        Err(OutOfBounds { offset: 61, len: 4 })
    );
    assert!(g.read(64, &mut out).is_err());
    assert!(
        g.read(usize::MAX, &mut out).is_err(),
        "offset + len overflows"
    );
    assert!(g.fill(1, 64, 0).is_err());
    g.fill(0, 64, 0xee).unwrap();
    assert_eq!(g.read_u64(56).unwrap(), u64::from_le_bytes([0xee; 8]));
    g.write_u64(0, 0x0102_0304_0506_0708).unwrap();
    g.write_u32(8, 0x0a0b_0c0d).unwrap();
    let mut raw = [0u8; 12];
    g.read(0, &mut raw).unwrap();
    assert_eq!(
        raw,
        [8, 7, 6, 5, 4, 3, 2, 1, 0xd, 0xc, 0xb, 0xa],
        "little-endian"
    );
    drop(g);
    assert_eq!(
        zone.u64_at(0).unwrap().load(Ordering::SeqCst),
        0x0102_0304_0506_0708,
        "the same bytes"
    );
}

#[test]
fn bytes_written_under_the_lock_by_a_child_are_read_by_the_parent() {
    let zone = Zone::create("bytes-fork", 4096).unwrap();
    let children: Vec<i32> = (0..4u8)
        .map(|n| {
            let zone = &zone;
            fork_child(move || {
                for _ in 0..500 {
                    let Ok(g) = zone.lock() else {
                        return 2;
                    };
                    // A whole 1 KiB record of one byte value, then a count: torn
                    // records would show two values.
                    let mut record = [0u8; 1024];
                    if g.read(8, &mut record).is_err() {
                        return 3;
                    }
                    if record.iter().any(|&b| b != record[0]) {
                        return 4;
                    }
                    if g.fill(8, 1024, n + 1).is_err() {
                        return 5;
                    }
                    let Ok(count) = g.read_u64(0) else {
                        return 6;
                    };
                    if g.write_u64(0, count + 1).is_err() {
                        return 7;
                    }
                }
                0
            })
        })
        .collect();
    let exits: Vec<Option<i32>> = children
        .into_iter()
        .map(|pid| wait_child(pid, Duration::from_secs(30)))
        .collect();
    assert_eq!(exits, [Some(0); 4]);
    let g = zone.lock().unwrap();
    assert_eq!(g.read_u64(0).unwrap(), 2000);
    let mut record = [0u8; 1024];
    g.read(8, &mut record).unwrap();
    assert!((1..=4).contains(&record[0]) && record.iter().all(|&b| b == record[0]));
}
