//! The listening sockets a master holds for its whole life: for every listen address,
//! one socket per worker slot (TCP, `SO_REUSEPORT`, so the kernel spreads connections
//! across workers), or one shared socket (unix). A respawned or replacement worker
//! takes over the same sockets, so a connection waiting in a queue is never reset.
//!
//! A reload to fewer workers keeps the sockets of the slots that go away: closing one
//! resets the connections in its queue (29 read errors in 625,191 requests over six
//! reloads between 2 and 1 workers under `wrk -c20`), and the kernel keeps spreading
//! new connections to it until it closes. Each is served instead by the worker whose
//! slot it falls to (socket `i` by slot `i % workers`).
//!
//! `SO_REUSEPORT` would also let a second vestibule started by mistake on the same
//! configuration bind beside the first and take half its connections. So at start an
//! address that was not passed in is first probed as nginx binds it, without
//! `SO_REUSEPORT` ([`probe`]): if another process listens there, it is `bind() to ...
//! failed (98: Address already in use)`, tried again as nginx does, then refused
//! (`still could not bind()`, exit 1). Reloads do not probe ([`Probe::Off`] says why),
//! nor does an address whose `listen` says `reuseport`: sharing is then asked for.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::model::{Config, Listen, ListenAddr, ListenOptions, LogLevel};
use crate::worker::listener::{
    bind, listen_addresses, probe, reconfigure, BindError, BoundListener,
};

/// How many times a start tries its addresses while another process holds one, and
/// the pause between tries: nginx's (`ngx_open_listening_sockets`). nginx also pauses
/// after the last try; vestibule does not.
pub const START_BIND_TRIES: u32 = 5;
pub const BIND_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Whether addresses are probed before they are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// At start: up to this many tries while another process holds an address, each
    /// failure reported.
    Tries(u32),
    /// On reload: not probed. The workers of a generation that is draining still hold
    /// the sockets of an address this master has dropped, so a reload that brings the
    /// address back would find it in use by vestibule itself; and an address held by
    /// any process without `SO_REUSEPORT` and this user fails the bind anyway.
    Off,
}

/// Why the sockets could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SocketsError {
    #[error(transparent)]
    Bind(#[from] BindError),
    /// Every try found an address in use (each failure was reported as it happened).
    #[error("still could not bind()")]
    StillInUse,
}

/// Where the master says what happened while binding: a level and a message.
pub type Report<'a> = &'a mut dyn FnMut(LogLevel, &str);

/// Sockets by address, one per slot.
#[derive(Debug, Default)]
pub struct Sockets {
    by_addr: BTreeMap<ListenAddr, Vec<BoundListener>>,
    /// The options each address's sockets were set up with (none for sockets passed
    /// in, which are taken as they are).
    options: BTreeMap<ListenAddr, ListenOptions>,
    /// The worker count the sockets were laid out for.
    slots: usize,
}

impl Sockets {
    /// The sockets for `config` with `slots` workers, reusing those of `old` that
    /// still apply and binding the rest. Sockets of `old` that are not reused are
    /// closed when `old` is dropped. With [`Probe::Tries`], the addresses that are
    /// neither held nor passed in (nor overlap one that is) are probed first.
    pub fn for_config(
        config: &Config,
        slots: usize,
        old: &mut Sockets,
        inherited: &mut Vec<BoundListener>,
        probe: Probe,
        report: Report<'_>,
    ) -> Result<Sockets, SocketsError> {
        let listens = listen_addresses(config);
        let held: Vec<ListenAddr> = old
            .by_addr
            .keys()
            .cloned()
            .chain(inherited.iter().map(|b| b.addr.clone()))
            .collect();
        let fresh: Vec<&Listen> = listens
            .iter()
            .copied()
            .filter(|l| !held.iter().any(|h| overlaps(h, &l.addr)))
            .collect();
        if let Probe::Tries(tries) = probe {
            probe_all(&fresh, tries, report)?;
        }
        let mut by_addr = BTreeMap::new();
        let mut options = BTreeMap::new();
        for listen in listens {
            let mut sockets = old.by_addr.remove(&listen.addr).unwrap_or_default();
            if let Some(set) = old.options.remove(&listen.addr) {
                options.insert(listen.addr.clone(), set);
            }
            // Sockets passed in (socket activation, or an old master's on USR2): all of
            // those for this address become slots; a single one serves every slot.
            if sockets.is_empty() {
                while let Some(i) = inherited.iter().position(|b| b.addr == listen.addr) {
                    sockets.push(inherited.remove(i));
                }
                if sockets.len() == 1 {
                    for _ in 1..slots {
                        if let Some(dup) = sockets.first().and_then(|s| s.try_clone().ok()) {
                            sockets.push(dup);
                        }
                    }
                }
            }
            let want = match listen.addr {
                ListenAddr::Tcp(_) => slots,
                ListenAddr::Unix(_) => 1,
            };
            if sockets.is_empty() {
                options.insert(listen.addr.clone(), listen.options.clone());
            }
            // More than `want` (fewer workers than before): the extra ones stay.
            while sockets.len() < want {
                sockets.push(bind(listen)?);
            }
            by_addr.insert(listen.addr.clone(), sockets);
        }
        let mut sockets = Sockets {
            by_addr,
            options,
            slots: slots.max(1),
        };
        sockets.apply_options(config, report);
        Ok(sockets)
    }

    /// After a reload: sets anew the options of kept sockets whose `listen` options
    /// changed (what nginx sets again on the sockets it keeps); `ipv6only`, fixed at
    /// bind time, is reported as lasting until a restart. A socket that refuses an
    /// option is reported and keeps serving.
    pub fn apply_options(&mut self, config: &Config, report: Report<'_>) {
        for listen in listen_addresses(config) {
            let Some(current) = self.options.get_mut(&listen.addr) else {
                continue;
            };
            if *current == listen.options {
                continue;
            }
            if current.ipv6only != listen.options.ipv6only {
                if let ListenAddr::Tcp(a) = &listen.addr {
                    if a.is_ipv6() {
                        report(
                            LogLevel::Warn,
                            &format!(
                                "ipv6only={} for {} takes effect when vestibule is restarted: a bound socket keeps ipv6only={}",
                                on_off(listen.options.ipv6only),
                                listen.addr,
                                on_off(current.ipv6only)
                            ),
                        );
                    }
                }
            }
            for socket in self.by_addr.get(&listen.addr).into_iter().flatten() {
                if let Err(e) = reconfigure(socket, &listen.options) {
                    report(LogLevel::Alert, &format!("{e}, ignored"));
                }
            }
            let ipv6only = current.ipv6only;
            *current = ListenOptions {
                ipv6only,
                ..listen.options.clone()
            };
        }
    }

    /// Descriptors for worker `slot` (dups; the master keeps its own): its own socket
    /// of every address, and those left from a larger worker count that fall to it.
    pub fn for_slot(&self, slot: usize) -> std::io::Result<Vec<BoundListener>> {
        let mut out = Vec::new();
        for sockets in self.by_addr.values() {
            match sockets.get(slot).or_else(|| sockets.first()) {
                Some(own) => out.push(own.try_clone()?),
                None => continue,
            }
            for (i, extra) in sockets.iter().enumerate().skip(self.slots) {
                if i % self.slots == slot {
                    out.push(extra.try_clone()?);
                }
            }
        }
        Ok(out)
    }

    /// Every socket held (each slot's), for passing to a new binary.
    pub fn all(&self) -> Vec<&BoundListener> {
        self.by_addr.values().flatten().collect()
    }

    pub fn addresses(&self) -> Vec<String> {
        self.by_addr.keys().map(ToString::to_string).collect()
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// Probes every address in `fresh` ([`probe`]), `tries` times while one is in use;
/// each address found in use is reported as it is found. An address whose `listen`
/// says `reuseport` is not probed: that is the configuration saying the port may be
/// shared, as nginx with `reuseport` shares it (README: switching from nginx with no
/// refused connection, nginx and vestibule both listening for a moment).
fn probe_all(fresh: &[&Listen], tries: u32, report: Report<'_>) -> Result<(), SocketsError> {
    let tries = tries.max(1);
    for attempt in 1..=tries {
        let mut in_use = false;
        for listen in fresh.iter().filter(|l| !l.options.reuseport) {
            match probe(listen) {
                Ok(()) => {}
                Err(e) if e.address_in_use() => {
                    report(LogLevel::Emerg, &e.to_string());
                    in_use = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !in_use {
            return Ok(());
        }
        if attempt == tries {
            return Err(SocketsError::StillInUse);
        }
        report(
            LogLevel::Notice,
            &format!(
                "try again to bind() after {}ms",
                BIND_RETRY_PAUSE.as_millis()
            ),
        );
        std::thread::sleep(BIND_RETRY_PAUSE);
    }
    Ok(())
}

/// Whether a socket bound to `a` could be what makes binding `b` fail: the same unix
/// path, or TCP addresses on the same port that are equal or of which one is a
/// wildcard (of either family: `[::]` with `ipv6only=off` takes IPv4 too).
fn overlaps(a: &ListenAddr, b: &ListenAddr) -> bool {
    match (a, b) {
        (ListenAddr::Tcp(a), ListenAddr::Tcp(b)) => {
            a.port() == b.port()
                && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
        }
        (ListenAddr::Unix(a), ListenAddr::Unix(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tcp(s: &str) -> ListenAddr {
        ListenAddr::Tcp(s.parse().unwrap())
    }

    #[test]
    fn overlapping_addresses() {
        let cases: &[(&str, &str, bool)] = &[
            ("0.0.0.0:80", "127.0.0.1:80", true),
            ("127.0.0.1:80", "0.0.0.0:80", true),
            ("127.0.0.1:80", "127.0.0.1:80", true),
            ("127.0.0.1:80", "127.0.0.2:80", false),
            ("0.0.0.0:80", "0.0.0.0:81", false),
            ("[::]:80", "127.0.0.1:80", true),
            ("[::1]:80", "127.0.0.1:80", false),
            ("[::1]:80", "[::]:80", true),
        ];
        for (a, b, want) in cases {
            assert_eq!(overlaps(&tcp(a), &tcp(b)), *want, "{a} {b}");
        }
        let unix = ListenAddr::Unix("/run/v.sock".into());
        assert!(overlaps(&unix, &unix.clone()));
        assert!(!overlaps(&unix, &tcp("0.0.0.0:80")));
    }
}
