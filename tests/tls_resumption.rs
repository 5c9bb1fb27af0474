//! TLS resumption across "workers" in one process: two rustls `ServerConfig`s, as two
//! workers would build, share the zone-backed session cache (src/zone/tls_sessions.rs)
//! and ticket keys (src/zone/tickets.rs); a client that did a full handshake with the
//! first resumes with the second. Handshakes run over memory buffers. The same across
//! forked processes: tests/tls_zones.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod tls_memory;
use tls_memory as tls;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::server::{ProducesTickets, StoresServerSessions};
use rustls::version::{TLS12, TLS13};
use rustls::HandshakeKind::{Full, Resumed};
use vestibule::zone::tickets::{self, TicketKeys, Ticketer};
use vestibule::zone::tls_sessions::{self, SessionCache, DEFAULT_TIMEOUT};
use vestibule::zone::Zone;

use tls::{client_config, connect_in_memory, server_config, Pki, Shared};

fn cache_zone() -> Arc<Zone> {
    Arc::new(Zone::create("SSL", 1 << 20).unwrap())
}

fn cache(zone: &Arc<Zone>) -> Arc<dyn StoresServerSessions> {
    Arc::new(SessionCache::new(Arc::clone(zone), DEFAULT_TIMEOUT))
}

/// A ticket key zone with a first key, as the master makes it before forking.
fn ticket_zone() -> Arc<Zone> {
    let zone = Arc::new(Zone::create("tickets", tickets::ZONE_SIZE).unwrap());
    TicketKeys::new(Arc::clone(&zone))
        .rotate(0, DEFAULT_TIMEOUT)
        .unwrap();
    zone
}

fn ticketer(zone: &Arc<Zone>) -> Arc<dyn ProducesTickets> {
    Arc::new(Ticketer::new(Arc::clone(zone), DEFAULT_TIMEOUT))
}

fn stateful(zone: &Arc<Zone>) -> Shared {
    Shared {
        cache: Some(cache(zone)),
        ticketer: None,
        client_auth: false,
        alpn: false,
    }
}

#[test]
fn tls12_resumes_by_session_id_with_another_workers_config() {
    let pki = Pki::new(&rcgen::PKCS_ECDSA_P256_SHA256);
    let zone = cache_zone();
    let worker_a = server_config(&pki, &TLS12, &stateful(&zone));
    let worker_b = server_config(&pki, &TLS12, &stateful(&zone));
    let client = client_config(&pki, &TLS12, false, false);
    assert_eq!(connect_in_memory(&client, &worker_a), (Full, Full));
    assert_eq!(connect_in_memory(&client, &worker_b), (Resumed, Resumed));
    // A worker with a cache of its own (another zone) cannot resume it.
    let client = client_config(&pki, &TLS12, false, false);
    assert_eq!(connect_in_memory(&client, &worker_a).0, Full);
    let alone = server_config(&pki, &TLS12, &stateful(&cache_zone()));
    assert_eq!(connect_in_memory(&client, &alone).0, Full);
}

#[test]
fn tls12_resumes_by_ticket_with_another_workers_config() {
    let pki = Pki::new(&rcgen::PKCS_ECDSA_P256_SHA256);
    let keys = ticket_zone();
    let shared = |cache_zone: &Arc<Zone>| Shared {
        ticketer: Some(ticketer(&keys)),
        ..stateful(cache_zone)
    };
    // Each worker with a cache of its own: only the ticket can carry the session.
    let worker_a = server_config(&pki, &TLS12, &shared(&cache_zone()));
    let worker_b = server_config(&pki, &TLS12, &shared(&cache_zone()));
    let client = client_config(&pki, &TLS12, false, false);
    assert_eq!(connect_in_memory(&client, &worker_a), (Full, Full));
    assert_eq!(connect_in_memory(&client, &worker_b), (Resumed, Resumed));
}

#[test]
fn tls13_resumes_by_ticket_with_another_workers_config() {
    let pki = Pki::new(&rcgen::PKCS_ECDSA_P256_SHA256);
    let keys = ticket_zone();
    let cache_a = cache_zone();
    let shared = |cache_zone: &Arc<Zone>| Shared {
        ticketer: Some(ticketer(&keys)),
        ..stateful(cache_zone)
    };
    let worker_a = server_config(&pki, &TLS13, &shared(&cache_a));
    let worker_b = server_config(&pki, &TLS13, &shared(&cache_zone()));
    let client = client_config(&pki, &TLS13, false, false);
    assert_eq!(connect_in_memory(&client, &worker_a), (Full, Full));
    assert_eq!(connect_in_memory(&client, &worker_b), (Resumed, Resumed));
    let stats = SessionCache::new(cache_a, DEFAULT_TIMEOUT).stats().unwrap();
    assert_eq!(
        stats.entries, 0,
        "with tickets on, TLS 1.3 stores nothing in the cache"
    );
    // Keys of another zone (another server's) do not decrypt these tickets.
    let client = client_config(&pki, &TLS13, false, false);
    assert_eq!(connect_in_memory(&client, &worker_a).0, Full);
    let stranger = server_config(
        &pki,
        &TLS13,
        &Shared {
            ticketer: Some(ticketer(&ticket_zone())),
            ..stateful(&cache_zone())
        },
    );
    assert_eq!(connect_in_memory(&client, &stranger).0, Full);
}

#[test]
fn tls13_stateful_tickets_resume_with_another_workers_config_once_each() {
    let pki = Pki::new(&rcgen::PKCS_ECDSA_P256_SHA256);
    let zone = cache_zone();
    let worker_a = server_config(&pki, &TLS13, &stateful(&zone));
    let worker_b = server_config(&pki, &TLS13, &stateful(&zone));
    let count = || {
        SessionCache::new(Arc::clone(&zone), DEFAULT_TIMEOUT)
            .stats()
            .unwrap()
            .entries
    };
    let client = client_config(&pki, &TLS13, false, false);
    assert_eq!(connect_in_memory(&client, &worker_a), (Full, Full));
    assert_eq!(count(), 2, "send_tls13_tickets: two ticket ids stored");
    assert_eq!(connect_in_memory(&client, &worker_b), (Resumed, Resumed));
    assert_eq!(
        count(),
        2 - 1 + 2,
        "the offered id taken, two new ones stored"
    );
}

#[test]
fn a_session_older_than_ssl_session_timeout_is_not_resumed() {
    let pki = Pki::new(&rcgen::PKCS_ECDSA_P256_SHA256);
    let zone = cache_zone();
    let expired_at_once = Shared {
        cache: Some(Arc::new(SessionCache::new(
            Arc::clone(&zone),
            Duration::ZERO,
        ))),
        ..stateful(&zone)
    };
    let worker_a = server_config(&pki, &TLS12, &expired_at_once);
    let worker_b = server_config(&pki, &TLS12, &stateful(&zone));
    let client = client_config(&pki, &TLS12, false, false);
    assert_eq!(connect_in_memory(&client, &worker_a).0, Full);
    assert_eq!(connect_in_memory(&client, &worker_b).0, Full);
}

/// A store that records the sizes rustls puts, in front of the zone's cache.
#[derive(Debug)]
struct Recording {
    inner: Arc<SessionCache>,
    puts: Mutex<Vec<(usize, usize, bool)>>,
}

impl StoresServerSessions for Recording {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let (k, v) = (key.len(), value.len());
        let stored = self.inner.put(key, value);
        self.puts.lock().unwrap().push((k, v, stored));
        stored
    }
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.take(key)
    }
    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

/// The session values rustls stores, by server key type, protocol, client
/// certificate and ALPN; printed (`--nocapture`) for src/zone/tls_sessions.rs's
/// module docs. Without a client certificate a session fits one slot; with one it
/// takes several, is stored, and resumes.
#[test]
fn session_values_fit_the_slots() {
    for (alg_name, alg) in [
        ("ECDSA P-256", &rcgen::PKCS_ECDSA_P256_SHA256),
        ("RSA 2048", &rcgen::PKCS_RSA_SHA256),
    ] {
        let pki = Pki::new(alg);
        for version in [&TLS12, &TLS13] {
            for client_auth in [false, true] {
                for alpn in [false, true] {
                    let zone = cache_zone();
                    let recording = Arc::new(Recording {
                        inner: Arc::new(SessionCache::new(Arc::clone(&zone), DEFAULT_TIMEOUT)),
                        puts: Mutex::new(Vec::new()),
                    });
                    let shared = Shared {
                        cache: Some(recording.clone()),
                        ticketer: None,
                        client_auth,
                        alpn,
                    };
                    let worker_a = server_config(&pki, version, &shared);
                    let worker_b = server_config(&pki, version, &shared);
                    let client = client_config(&pki, version, client_auth, alpn);
                    assert_eq!(connect_in_memory(&client, &worker_a).0, Full);
                    let puts = recording.puts.lock().unwrap().clone();
                    println!(
                        "{alg_name} {:?} client certificate: {client_auth} ALPN: {alpn}: \
                         (key, value, stored) {puts:?}",
                        version.version
                    );
                    assert!(!puts.is_empty());
                    for &(key, value, stored) in &puts {
                        assert_eq!(key, 32);
                        assert!(stored, "{value} bytes stored");
                        if !client_auth {
                            assert_eq!(tls_sessions::slots_for(value), 1, "{value} bytes");
                        }
                    }
                    assert_eq!(
                        connect_in_memory(&client, &worker_b).0,
                        Resumed,
                        "{alg_name} {version:?} client certificate: {client_auth}"
                    );
                }
            }
        }
    }
}
