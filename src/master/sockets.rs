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

use std::collections::BTreeMap;

use crate::config::model::{Config, ListenAddr};
use crate::worker::listener::{bind, listen_addresses, BindError, BoundListener};

/// Sockets by address, one per slot.
#[derive(Debug, Default)]
pub struct Sockets {
    by_addr: BTreeMap<ListenAddr, Vec<BoundListener>>,
    /// The worker count the sockets were laid out for.
    slots: usize,
}

impl Sockets {
    /// The sockets for `config` with `slots` workers, reusing those of `old` that
    /// still apply and binding the rest. Sockets of `old` that are not reused are
    /// closed when `old` is dropped.
    pub fn for_config(
        config: &Config,
        slots: usize,
        old: &mut Sockets,
        inherited: &mut Vec<BoundListener>,
    ) -> Result<Sockets, BindError> {
        let mut by_addr = BTreeMap::new();
        for listen in listen_addresses(config) {
            let mut sockets = old.by_addr.remove(&listen.addr).unwrap_or_default();
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
            // More than `want` (fewer workers than before): the extra ones stay.
            while sockets.len() < want {
                sockets.push(bind(listen)?);
            }
            by_addr.insert(listen.addr.clone(), sockets);
        }
        Ok(Sockets {
            by_addr,
            slots: slots.max(1),
        })
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
