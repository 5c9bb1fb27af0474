//! One task's waker, kept for whoever wakes it later: the connection task of an
//! HTTP/2 connection registers it each time it is polled, and a flood, a request to
//! close (`worker_connections`) or its last stream ending wakes it. Workers are
//! single-threaded, so a `Cell` holds it.

use std::cell::Cell;
use std::task::Waker;

/// A registered waker, or none.
#[derive(Default)]
pub struct WakerSlot(Cell<Option<Waker>>);

impl WakerSlot {
    /// Keeps `waker` (the one kept already when it wakes the same task).
    pub fn register(&self, waker: &Waker) {
        match self.0.take() {
            Some(w) if w.will_wake(waker) => self.0.set(Some(w)),
            _ => self.0.set(Some(waker.clone())),
        }
    }

    /// Wakes the registered task, if any; it registers again when polled.
    pub fn wake(&self) {
        if let Some(w) = self.0.take() {
            w.wake();
        }
    }
}

impl std::fmt::Debug for WakerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WakerSlot")
    }
}
