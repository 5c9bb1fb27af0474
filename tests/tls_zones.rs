//! The TLS session cache and ticket keys across real processes, forked as the master
//! forks workers: the zones are made first, then each child maps them by inheriting
//! them, builds its own `SessionCache`, `Ticketer` or rustls `ServerConfig`, and exits
//! with a code that says what it saw.
//!
//! No test harness (`harness = false` in Cargo.toml): libtest runs tests on threads,
//! and a child forked from a multi-threaded process may only do async-signal-safe
//! work (src/zone/tests.rs's children do only that). This binary stays on one thread,
//! so its children may allocate and run rustls, as a worker forked from the master
//! does. It prints a libtest-style summary, which tests/run.sh counts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod tls_memory;
use tls_memory as tls;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::server::{ProducesTickets, StoresServerSessions};
use rustls::version::{TLS12, TLS13};
use rustls::{HandshakeKind, SupportedProtocolVersion};
use vestibule::zone::tickets::{self, Rotation, TicketKeys, Ticketer};
use vestibule::zone::tls_sessions::{self, SessionCache};
use vestibule::zone::Zone;

use tls::{client_config, server_config, Pki, Shared};

const TIMEOUT: Duration = Duration::from_secs(300);
const T: u64 = 300_000;

// ---- the processes -------------------------------------------------------------------

/// A forked child; waited for (or killed) on drop, so none outlives its test.
struct Child(i32);

/// Forks a child running `f`; its exit code is `f`'s result (101 if `f` panicked).
fn fork(f: impl FnOnce() -> i32) -> Child {
    // SAFETY: this process has one thread (no harness), so the child may run
    // anything; it ends with _exit and never returns into the caller.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    Child(pid)
}

impl Child {
    /// The exit code, waiting up to 30 s; `None` if it had to be killed.
    fn wait(mut self) -> Option<i32> {
        let code = wait_pid(self.0, Duration::from_secs(30));
        self.0 = 0;
        code
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.0 > 0 {
            wait_pid(self.0, Duration::ZERO);
        }
    }
}

fn wait_pid(pid: i32, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: our own child; WNOHANG never blocks.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        }
        if Instant::now() >= deadline {
            // SAFETY: our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `f` in a child and returns its exit code.
fn in_child(f: impl FnOnce() -> i32) -> Option<i32> {
    fork(f).wait()
}

fn now_ms() -> u64 {
    vestibule::sys::coarse_monotonic().as_millis() as u64
}

fn key(i: u32) -> Vec<u8> {
    let mut k = vec![0x5a; 32];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k
}

/// A message over a socket: a length, then the bytes.
fn send(sock: &mut UnixStream, bytes: &[u8]) {
    sock.write_all(&(bytes.len() as u32).to_le_bytes()).unwrap();
    sock.write_all(bytes).unwrap();
}

fn receive(sock: &mut UnixStream) -> Vec<u8> {
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut len = [0u8; 4];
    sock.read_exact(&mut len).unwrap();
    let mut bytes = vec![0; u32::from_le_bytes(len) as usize];
    sock.read_exact(&mut bytes).unwrap();
    bytes
}

// ---- the session cache ---------------------------------------------------------------

fn cache_zone(size: usize) -> Arc<Zone> {
    Arc::new(Zone::create("SSL", size).unwrap())
}

fn a_session_put_by_one_worker_is_got_by_another() {
    let zone = cache_zone(1 << 20);
    let now = now_ms();
    let put = in_child(|| {
        let cache = SessionCache::new(Arc::clone(&zone), TIMEOUT);
        let big = vec![7u8; 1000];
        i32::from(!(cache.put_at(&key(1), b"session one", now) && cache.put_at(&key(2), &big, now)))
    });
    assert_eq!(put, Some(0), "stored in one worker");
    let got = in_child(|| {
        let cache = SessionCache::new(Arc::clone(&zone), TIMEOUT);
        let one = cache.get_at(&key(1), now + 1);
        let two = cache.get_at(&key(2), now + 1);
        i32::from(!(one.as_deref() == Some(&b"session one"[..]) && two == Some(vec![7u8; 1000])))
    });
    assert_eq!(got, Some(0), "found by another, the multi-slot one whole");
    // The trait's own clock: a put and get through StoresServerSessions.
    let put = in_child(|| {
        let cache = SessionCache::new(Arc::clone(&zone), TIMEOUT);
        i32::from(!cache.put(key(3), b"now".to_vec()))
    });
    assert_eq!(put, Some(0));
    let cache = SessionCache::new(Arc::clone(&zone), TIMEOUT);
    assert_eq!(cache.get(&key(3)).as_deref(), Some(&b"now"[..]));
}

fn sessions_expire_for_every_worker() {
    let zone = cache_zone(1 << 20);
    let short = Duration::from_secs(1);
    assert_eq!(
        in_child(
            || i32::from(!SessionCache::new(Arc::clone(&zone), short).put_at(&key(1), b"v", 5000))
        ),
        Some(0)
    );
    // Read by workers whose own timeout is the default: the expiry is the entry's.
    let get_at = |at: u64| {
        in_child(|| {
            let got = SessionCache::new(Arc::clone(&zone), TIMEOUT).get_at(&key(1), at);
            i32::from(got.is_some())
        })
    };
    assert_eq!(get_at(5999), Some(1), "still there 999 ms on");
    assert_eq!(get_at(6000), Some(0), "gone at 1 s");
    let stats = SessionCache::new(zone, TIMEOUT).stats().unwrap();
    assert_eq!(stats.entries, 0, "and removed");
}

fn a_small_zone_evicts_the_oldest_across_workers() {
    let zone = cache_zone(tls_sessions::MIN_SIZE);
    let slots = tls_sessions::capacity(tls_sessions::MIN_SIZE) as u32;
    assert_eq!(slots, 31);
    // Four workers in turn store 20 sessions each: 80 in a table of 31. Each says
    // whether it would log that the zone is full (exit 1) or not (0).
    let told: Vec<Option<i32>> = (0..4u32)
        .map(|w| {
            in_child(|| {
                let cache = SessionCache::new(Arc::clone(&zone), TIMEOUT);
                for i in w * 20..w * 20 + 20 {
                    if !cache.put_at(&key(i), &i.to_le_bytes(), u64::from(i)) {
                        return 2;
                    }
                }
                i32::from(cache.full_to_tell())
            })
        })
        .collect();
    assert_eq!(
        told,
        [Some(0), Some(1), Some(1), Some(1)],
        "full from the second on"
    );
    let cache = SessionCache::new(Arc::clone(&zone), TIMEOUT);
    let kept: Vec<u32> = (0..80)
        .filter(|&i| cache.get_at(&key(i), 80).is_some())
        .collect();
    assert_eq!(
        kept,
        (80 - slots..80).collect::<Vec<_>>(),
        "the newest 31 are kept"
    );
    let stats = cache.stats().unwrap();
    assert_eq!((stats.entries, stats.free, stats.evicted), (31, 0, 49));
}

fn a_stateful_ticket_resumes_once_when_workers_race_to_take_it() {
    let zone = cache_zone(1 << 20);
    let cache = SessionCache::new(Arc::clone(&zone), TIMEOUT);
    assert!(cache.put_at(&key(1), b"single use", now_ms()));
    let (mut go, mut wait) = UnixStream::pair().unwrap();
    let racers: Vec<Child> = (0..8)
        .map(|_| {
            fork(|| {
                let cache = SessionCache::new(Arc::clone(&zone), TIMEOUT);
                let mut byte = [0u8];
                if wait.read_exact(&mut byte).is_err() {
                    return 2;
                }
                match cache.take(&key(1)) {
                    Some(v) if v == b"single use" => 0,
                    Some(_) => 3,
                    None => 1,
                }
            })
        })
        .collect();
    go.write_all(&[0u8; 8]).unwrap();
    let mut codes: Vec<Option<i32>> = racers.into_iter().map(Child::wait).collect();
    codes.sort();
    let mut expected = vec![Some(0)];
    expected.extend([Some(1); 7]);
    assert_eq!(codes, expected, "exactly one worker took it");
}

fn a_worker_killed_holding_the_cache_lock_leaves_an_empty_cache_not_a_wedged_one() {
    let zone = cache_zone(1 << 20);
    let now = now_ms();
    assert!(SessionCache::new(Arc::clone(&zone), TIMEOUT).put_at(&key(1), b"v", now));
    let (mut parent, mut child) = UnixStream::pair().unwrap();
    let holder = fork(|| {
        let Ok(guard) = zone.lock() else {
            return 2;
        };
        // Half an update: a bucket pointing nowhere sensible.
        let _ = guard.write_u32(64, u32::MAX);
        let _ = child.write_all(b"h");
        loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        }
    });
    let mut byte = [0u8];
    parent.read_exact(&mut byte).unwrap();
    // SAFETY: our own child, holding the lock.
    unsafe { libc::kill(holder.0, libc::SIGKILL) };
    assert_eq!(holder.wait(), None, "killed");
    let after = in_child(|| {
        let cache = SessionCache::new(Arc::clone(&zone), TIMEOUT);
        if cache.get_at(&key(1), now).is_some() {
            return 1;
        }
        i32::from(!cache.put_at(&key(2), b"w", now))
    });
    assert_eq!(
        after,
        Some(0),
        "the next worker got the lock, found the table cleared, and stored"
    );
    assert_eq!(zone.recoveries(), 1);
    let stats = SessionCache::new(zone, TIMEOUT).stats().unwrap();
    assert_eq!(stats.entries, 1);
}

// ---- ticket keys ---------------------------------------------------------------------

fn ticket_zone() -> (Arc<Zone>, TicketKeys) {
    let zone = Arc::new(Zone::create("tickets", tickets::ZONE_SIZE).unwrap());
    let keys = TicketKeys::new(Arc::clone(&zone));
    (zone, keys)
}

/// A worker that encrypts `plain` and sends the ticket.
fn encrypting_worker(zone: &Arc<Zone>, plain: &'static [u8], out: &mut UnixStream) -> i32 {
    let ticketer = Ticketer::new(Arc::clone(zone), TIMEOUT);
    match ticketer.encrypt(plain) {
        Some(ticket) => {
            send(out, &ticket);
            0
        }
        None => 1,
    }
}

/// A worker that decrypts `ticket`: 0 if it gives `plain`, 1 if `None`, 2 otherwise.
fn decrypting_worker(zone: &Arc<Zone>, ticket: &[u8], plain: &[u8]) -> i32 {
    match Ticketer::new(Arc::clone(zone), TIMEOUT).decrypt(ticket) {
        Some(p) if p == plain => 0,
        None => 1,
        Some(_) => 2,
    }
}

fn a_ticket_made_by_one_worker_decrypts_in_another_and_a_tampered_one_does_not() {
    let (zone, keys) = ticket_zone();
    assert!(matches!(
        keys.rotate(now_ms(), TIMEOUT).unwrap(),
        Rotation::Rotated { .. }
    ));
    let (mut parent, mut child) = UnixStream::pair().unwrap();
    assert_eq!(
        in_child(|| encrypting_worker(&zone, b"state", &mut child)),
        Some(0)
    );
    let ticket = receive(&mut parent);
    assert_eq!(
        in_child(|| decrypting_worker(&zone, &ticket, b"state")),
        Some(0)
    );
    let mut tampered = ticket.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    assert_eq!(
        in_child(|| decrypting_worker(&zone, &tampered, b"state")),
        Some(1)
    );
    let mut renamed = ticket.clone();
    renamed[0] ^= 0x01;
    assert_eq!(
        in_child(|| decrypting_worker(&zone, &renamed, b"state")),
        Some(1)
    );
}

/// One long-running worker while the master rotates: its ticket still decrypts after
/// one rotation (and the worker encrypts with the new key), and no longer once the
/// key has aged out (three rotations).
fn rotated_keys_reach_a_running_worker_and_old_ones_age_out() {
    let (zone, keys) = ticket_zone();
    keys.rotate(0, TIMEOUT).unwrap();
    let (mut master, mut worker_end) = UnixStream::pair().unwrap();
    let worker = fork(|| {
        let ticketer = Ticketer::new(Arc::clone(&zone), TIMEOUT);
        let Some(first) = ticketer.encrypt(b"first") else {
            return 10;
        };
        send(&mut worker_end, &first);
        // Each command from the master: decrypt `first`, encrypt anew; report both.
        for _ in 0..2 {
            receive(&mut worker_end);
            let first_ok = ticketer.decrypt(&first).as_deref() == Some(&b"first"[..]);
            let Some(new) = ticketer.encrypt(b"new") else {
                return 11;
            };
            let new_ok = ticketer.decrypt(&new).as_deref() == Some(&b"new"[..]);
            send(&mut worker_end, &[u8::from(first_ok), u8::from(new_ok)]);
            send(&mut worker_end, &new);
        }
        0
    });
    let first = receive(&mut master);
    assert_eq!(
        keys.rotate(T, TIMEOUT).unwrap(),
        Rotation::Rotated { next_ms: 2 * T }
    );
    send(&mut master, b"go");
    assert_eq!(
        receive(&mut master),
        [1, 1],
        "after one rotation the old ticket decrypts"
    );
    let new = receive(&mut master);
    assert_ne!(
        new[..16],
        first[..16],
        "the worker encrypts with the new key"
    );
    keys.rotate(2 * T, TIMEOUT).unwrap();
    keys.rotate(3 * T, TIMEOUT).unwrap();
    send(&mut master, b"go");
    assert_eq!(receive(&mut master), [0, 1], "after three it does not");
    receive(&mut master);
    assert_eq!(worker.wait(), Some(0));
    // And a worker forked after all that agrees.
    assert_eq!(
        in_child(|| decrypting_worker(&zone, &first, b"first")),
        Some(1)
    );
    assert_eq!(in_child(|| decrypting_worker(&zone, &new, b"new")), Some(0));
}

fn file_keys_installed_by_the_master_are_used_by_every_worker() {
    let (zone, keys) = ticket_zone();
    let mut bytes = vec![b'n'; 16];
    bytes.extend([9u8; 64]);
    let file_key = tickets::TicketKey::from_file_bytes(&bytes).unwrap();
    keys.install(&[file_key]).unwrap();
    let (mut parent, mut child) = UnixStream::pair().unwrap();
    assert_eq!(
        in_child(|| encrypting_worker(&zone, b"state", &mut child)),
        Some(0)
    );
    let ticket = receive(&mut parent);
    assert_eq!(ticket[..16], [b'n'; 16], "named by the file");
    assert_eq!(keys.rotate(10 * T, TIMEOUT).unwrap(), Rotation::FromFiles);
    assert_eq!(
        in_child(|| decrypting_worker(&zone, &ticket, b"state")),
        Some(0)
    );
}

// ---- rustls handshakes across processes ----------------------------------------------

/// A worker process serving one TLS connection on `sock` with a `ServerConfig` it
/// builds itself over the inherited zones; exits 0 after a full handshake, 10 after
/// a resumed one.
fn serving_worker(
    pki: &Pki,
    version: &'static SupportedProtocolVersion,
    shared: impl FnOnce() -> Shared,
    mut sock: UnixStream,
) -> Child {
    fork(move || {
        let config = server_config(pki, version, &shared());
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        match tls::server_over(&mut sock, &config) {
            Ok(HandshakeKind::Resumed) => 10,
            Ok(_) => 0,
            Err(e) => {
                eprintln!("worker: {e}");
                1
            }
        }
    })
}

/// Two connections from one client, each to a different worker process.
fn two_workers(
    version: &'static SupportedProtocolVersion,
    shared: impl Fn() -> Shared + Copy,
) -> [(HandshakeKind, Option<i32>); 2] {
    let pki = Pki::new(&rcgen::PKCS_ECDSA_P256_SHA256);
    let client = client_config(&pki, version, false, false);
    [0, 1].map(|_| {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let worker = serving_worker(&pki, version, shared, theirs);
        let kind = tls::client_over(&mut ours, &client);
        (kind, worker.wait())
    })
}

fn tls12_resumes_by_session_id_with_another_worker_process() {
    let zone = cache_zone(1 << 20);
    let shared = || Shared {
        cache: Some(Arc::new(SessionCache::new(Arc::clone(&zone), TIMEOUT))
            as Arc<dyn StoresServerSessions>),
        ticketer: None,
        client_auth: false,
        alpn: false,
    };
    let [first, second] = two_workers(&TLS12, shared);
    assert_eq!(first, (HandshakeKind::Full, Some(0)));
    assert_eq!(second, (HandshakeKind::Resumed, Some(10)));
}

fn tls13_resumes_by_ticket_with_another_worker_process() {
    let (zone, keys) = ticket_zone();
    keys.rotate(now_ms(), TIMEOUT).unwrap();
    // Each worker's session cache is its own: only the ticket keys are shared.
    let shared = || Shared {
        cache: Some(Arc::new(SessionCache::new(cache_zone(1 << 16), TIMEOUT))
            as Arc<dyn StoresServerSessions>),
        ticketer: Some(
            Arc::new(Ticketer::new(Arc::clone(&zone), TIMEOUT)) as Arc<dyn ProducesTickets>
        ),
        client_auth: false,
        alpn: false,
    };
    let [first, second] = two_workers(&TLS13, shared);
    assert_eq!(first, (HandshakeKind::Full, Some(0)));
    assert_eq!(second, (HandshakeKind::Resumed, Some(10)));
}

fn tls13_stateful_resumes_with_another_worker_process() {
    let zone = cache_zone(1 << 20);
    let shared = || Shared {
        cache: Some(Arc::new(SessionCache::new(Arc::clone(&zone), TIMEOUT))
            as Arc<dyn StoresServerSessions>),
        ticketer: None,
        client_auth: false,
        alpn: false,
    };
    let [first, second] = two_workers(&TLS13, shared);
    assert_eq!(first, (HandshakeKind::Full, Some(0)));
    assert_eq!(second, (HandshakeKind::Resumed, Some(10)));
    let stats = SessionCache::new(zone, TIMEOUT).stats().unwrap();
    assert_eq!(
        stats.entries, 3,
        "two ids from the first worker, one taken, two more"
    );
}

// ---- the runner ----------------------------------------------------------------------

fn main() {
    let tests: &[(&str, fn())] = &[
        (
            "a_session_put_by_one_worker_is_got_by_another",
            a_session_put_by_one_worker_is_got_by_another,
        ),
        (
            "sessions_expire_for_every_worker",
            sessions_expire_for_every_worker,
        ),
        (
            "a_small_zone_evicts_the_oldest_across_workers",
            a_small_zone_evicts_the_oldest_across_workers,
        ),
        (
            "a_stateful_ticket_resumes_once_when_workers_race_to_take_it",
            a_stateful_ticket_resumes_once_when_workers_race_to_take_it,
        ),
        (
            "a_worker_killed_holding_the_cache_lock_leaves_an_empty_cache_not_a_wedged_one",
            a_worker_killed_holding_the_cache_lock_leaves_an_empty_cache_not_a_wedged_one,
        ),
        (
            "a_ticket_made_by_one_worker_decrypts_in_another_and_a_tampered_one_does_not",
            a_ticket_made_by_one_worker_decrypts_in_another_and_a_tampered_one_does_not,
        ),
        (
            "rotated_keys_reach_a_running_worker_and_old_ones_age_out",
            rotated_keys_reach_a_running_worker_and_old_ones_age_out,
        ),
        (
            "file_keys_installed_by_the_master_are_used_by_every_worker",
            file_keys_installed_by_the_master_are_used_by_every_worker,
        ),
        (
            "tls12_resumes_by_session_id_with_another_worker_process",
            tls12_resumes_by_session_id_with_another_worker_process,
        ),
        (
            "tls13_resumes_by_ticket_with_another_worker_process",
            tls13_resumes_by_ticket_with_another_worker_process,
        ),
        (
            "tls13_stateful_resumes_with_another_worker_process",
            tls13_stateful_resumes_with_another_worker_process,
        ),
    ];
    // Arguments: libtest's flags are accepted and ignored; any other is a name filter.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let chosen: Vec<&(&str, fn())> = tests
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let started = Instant::now();
    let mut failed = Vec::new();
    for (name, test) in &chosen {
        let ok = std::panic::catch_unwind(*test).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        chosen.len() - failed.len(),
        failed.len(),
        tests.len() - chosen.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}
