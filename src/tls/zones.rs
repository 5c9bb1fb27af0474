//! The zones TLS needs (src/zone/): one session cache per `ssl_session_cache
//! shared:NAME:SIZE`, and ticket keys per set of `ssl_session_ticket_key` files (one
//! zone of automatic keys for every server without files). The master makes them
//! with the others, installs the file keys after each load and rotates the automatic
//! ones; workers build their rustls stores over them ([`super::configs`]).

use std::hash::{Hash, Hasher};
use std::time::Duration;

use crate::config::model::tls::ServerTls;
use crate::config::model::Config;
use crate::zone::tickets::{self, TicketKey, TicketKeys};
use crate::zone::{tls_sessions, Spec, Zones};

/// The zone of automatic ticket keys (every server without key files).
const AUTOMATIC_TICKETS: &str = "ssl_session_tickets";

/// The ticket key zone a server's tickets use.
pub fn ticket_zone(tls: &ServerTls) -> String {
    if tls.ticket_keys.is_empty() {
        return AUTOMATIC_TICKETS.to_string();
    }
    // The same files give the same name in every process (std's SipHash has fixed
    // keys), so servers sharing key files share the zone.
    let mut h = std::hash::DefaultHasher::new();
    tls.ticket_keys.hash(&mut h);
    format!("{AUTOMATIC_TICKETS}_{:016x}", h.finish())
}

/// Servers that speak TLS: those with certificates.
fn tls_servers(config: &Config) -> impl Iterator<Item = &ServerTls> {
    config
        .http
        .iter()
        .flat_map(|h| h.servers.iter())
        .map(|s| s.tls.as_ref())
        .filter(|t| !t.certificates.is_empty())
}

/// The TLS zones `config` needs, each once (the first size written for a cache
/// name wins; the configuration checks reject a second, different one).
pub fn specs(config: &Config) -> Vec<Spec> {
    let mut out: Vec<Spec> = Vec::new();
    let mut add = |spec: Spec| {
        if !out.iter().any(|s| s.name == spec.name) {
            out.push(spec);
        }
    };
    for tls in tls_servers(config) {
        if tls.session_tickets {
            add(tickets::spec(&ticket_zone(tls)));
        }
        if let Some((name, size)) = &tls.session_cache.shared {
            if let Ok(spec) = tls_sessions::spec(name, *size) {
                add(spec);
            }
        }
    }
    out
}

/// Puts each server's `ssl_session_ticket_key` files (or automatic keys) into its
/// ticket zone and makes a first key where there is none. The master runs it after
/// each load, before forking. Errors are for the error log; the zone keeps its keys.
pub fn install_ticket_keys(config: &Config, zones: &Zones, now_ms: u64) -> Vec<String> {
    let mut errors = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for tls in tls_servers(config).filter(|t| t.session_tickets) {
        let name = ticket_zone(tls);
        if done.contains(&name) {
            continue;
        }
        let Some(keys) = TicketKeys::in_zones(zones, &name) else {
            continue;
        };
        let parsed: Result<Vec<TicketKey>, _> = tls
            .ticket_keys
            .iter()
            .map(|b| TicketKey::from_file_bytes(b))
            .collect();
        let result = parsed
            .map_err(|e| e.to_string())
            .and_then(|k| keys.install(&k).map_err(|e| e.to_string()))
            .and_then(|()| {
                keys.rotate(now_ms, tls.session_timeout)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            errors.push(format!("session ticket keys of zone \"{name}\": {e}"));
        }
        done.push(name);
    }
    errors
}

/// Rotates the automatic ticket keys that are due (the master's tick).
pub fn rotate_ticket_keys(config: &Config, zones: &Zones, now_ms: u64) -> Vec<String> {
    let mut errors = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for tls in tls_servers(config).filter(|t| t.session_tickets && t.ticket_keys.is_empty()) {
        let name = ticket_zone(tls);
        if done.contains(&name) {
            continue;
        }
        if let Some(keys) = TicketKeys::in_zones(zones, &name) {
            if let Err(e) = keys.rotate(now_ms, rotation_period(tls.session_timeout)) {
                errors.push(format!("session ticket keys of zone \"{name}\": {e}"));
            }
        }
        done.push(name);
    }
    errors
}

/// How often automatic keys change: `ssl_session_timeout`, at least a minute.
fn rotation_period(timeout: Duration) -> Duration {
    timeout.max(Duration::from_secs(60))
}
