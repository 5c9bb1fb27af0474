//! Timeouts for I/O waits: one list per worker thread, checked by one sweeper task
//! every [`TICK`], instead of an entry in monoio's timer wheel per wait.
//!
//! A proxied request waits up to five times under a timeout (the next request's first
//! byte, the upstream write, the upstream's head, the client's watch, the response
//! write), and nearly every wait ends long before its timeout. With monoio's wheel
//! each of them cost a clock read, a cache-padded timer entry inserted into and
//! removed from the wheel, and the wheel's bookkeeping on every turn of the event
//! loop: about 2,700 instructions per proxied request under callgrind
//! (docs/performance.md). Here a wait that ends at its first poll registers nothing,
//! and one that does not takes a slot in a vector and a clone of its waker; the
//! deadline is read from the coarse monotonic clock.
//!
//! The price is precision: a timeout fires up to one [`TICK`] (plus the coarse
//! clock's resolution, a few milliseconds) after its deadline, never before it. nginx's timeouts
//! count in seconds (`proxy_read_timeout 60s`), so 20 ms late is well inside what
//! they promise.
//!
//! [`sweep`] must run on the thread for timeouts to fire; the worker spawns it. A
//! future awaited without it still completes, only its timeout never fires.

use std::cell::RefCell;
use std::future::Future;
use std::task::{Poll, Waker};
use std::time::Duration;

/// How often the sweeper checks the deadlines.
pub const TICK: Duration = Duration::from_millis(20);

/// A wait that timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

struct Entry {
    /// On the coarse monotonic clock ([`crate::sys::coarse_monotonic`]).
    deadline: Duration,
    waker: Waker,
    fired: bool,
}

/// The thread's pending deadlines, in reusable slots.
#[derive(Default)]
struct List {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
}

impl List {
    fn insert(&mut self, entry: Entry) -> usize {
        match self.free.pop() {
            Some(i) => {
                if let Some(slot) = self.slots.get_mut(i) {
                    *slot = Some(entry);
                }
                i
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i) {
            if slot.take().is_some() {
                self.free.push(i);
            }
        }
    }

    /// Whether slot `i` has fired; if not, makes sure it will wake `waker`.
    fn check(&mut self, i: usize, waker: &Waker) -> bool {
        match self.slots.get_mut(i) {
            Some(Some(entry)) => {
                if !entry.fired && !entry.waker.will_wake(waker) {
                    entry.waker = waker.clone();
                }
                entry.fired
            }
            _ => true,
        }
    }

    /// Marks every entry due at `now` as fired and hands back their wakers.
    fn expire(&mut self, now: Duration, due: &mut Vec<Waker>) {
        for entry in self.slots.iter_mut().flatten() {
            if !entry.fired && entry.deadline <= now {
                entry.fired = true;
                due.push(entry.waker.clone());
            }
        }
    }

    fn pending(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

thread_local! {
    // Initialised at compile time: no first-use check on each of a request's waits.
    static LIST: RefCell<List> = const {
        RefCell::new(List {
            slots: Vec::new(),
            free: Vec::new(),
        })
    };
}

/// A deadline's place on the list while its wait is pending; dropping it (the wait
/// ended or was dropped) gives the slot back.
struct Registration {
    deadline: Duration,
    slot: Option<usize>,
}

impl Registration {
    /// Whether the deadline has passed; registers `waker` on first use.
    fn elapsed(&mut self, waker: &Waker) -> bool {
        LIST.with(|list| {
            let mut list = list.borrow_mut();
            match self.slot {
                Some(i) => list.check(i, waker),
                None => {
                    let entry = Entry {
                        deadline: self.deadline,
                        waker: waker.clone(),
                        fired: false,
                    };
                    self.slot = Some(list.insert(entry));
                    false
                }
            }
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            // `try_with`: nothing to give back while the thread is being torn down.
            let _ = LIST.try_with(|list| list.borrow_mut().remove(i));
        }
    }
}

/// Runs `future` for at most `limit`: its output, or [`Elapsed`] once the limit has
/// passed (up to one [`TICK`] later) without it finishing.
///
/// A plain future rather than an `async fn`: the wrapped future is moved once, into
/// the [`Timeout`], instead of again into a pinned local of the `async fn`'s state
/// (a copy of a few hundred bytes per wait, measured in docs/performance.md).
#[inline(always)]
pub fn timeout<F: Future>(limit: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        registration: Registration {
            // The coarse clock may lag by its resolution: counted in, so never early.
            deadline: crate::sys::coarse_monotonic()
                .saturating_add(crate::sys::coarse_resolution())
                .saturating_add(limit),
            slot: None,
        },
    }
}

pin_project_lite::pin_project! {
    /// The future [`timeout`] returns.
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        registration: Registration,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if this.registration.elapsed(cx.waker()) {
            return Poll::Ready(Err(Elapsed));
        }
        Poll::Pending
    }
}

impl<F> std::fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.registration.deadline)
            .finish_non_exhaustive()
    }
}

/// Waits `period` (up to one [`TICK`] more).
pub async fn sleep(period: Duration) {
    let _ = timeout(period, std::future::pending::<()>()).await;
}

/// The sweeper: every [`TICK`], wakes the waits whose deadline has passed. Runs for
/// the life of the worker.
pub async fn sweep() {
    let mut due = Vec::new();
    loop {
        monoio::time::sleep(TICK).await;
        let now = crate::sys::coarse_monotonic();
        LIST.with(|list| list.borrow_mut().expire(now, &mut due));
        // Woken outside the borrow: a waker may touch the list again.
        for waker in due.drain(..) {
            waker.wake();
        }
    }
}

/// Waits registered on this thread now, for tests and diagnostics.
pub fn pending() -> usize {
    LIST.with(|list| list.borrow().pending())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::time::Instant;

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    #[test]
    fn slots_are_reused_and_fire_once_when_due() {
        let mut list = List::default();
        let waker = Waker::noop().clone();
        let at = |ms| Entry {
            deadline: Duration::from_millis(ms),
            waker: waker.clone(),
            fired: false,
        };
        let a = list.insert(at(10));
        let b = list.insert(at(20));
        list.remove(a);
        assert_eq!(list.insert(at(30)), a, "the freed slot is reused");
        let mut due = Vec::new();
        list.expire(Duration::from_millis(25), &mut due);
        assert_eq!(due.len(), 1);
        assert!(list.check(b, &waker) && !list.check(a, &waker));
        list.expire(Duration::from_millis(25), &mut due);
        assert_eq!(due.len(), 1, "a fired entry is not woken again");
        list.remove(a);
        list.remove(b);
        list.remove(b);
        assert_eq!(list.pending(), 0);
    }

    #[test]
    fn a_wait_that_ends_in_time_registers_nothing_and_a_late_one_times_out() {
        runtime().block_on(async {
            monoio::spawn(sweep());
            let start = Instant::now();
            assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
            assert_eq!(pending(), 0, "ready at the first poll: no slot taken");

            let late = timeout(Duration::from_millis(60), std::future::pending::<()>()).await;
            let waited = start.elapsed();
            assert_eq!(late, Err(Elapsed));
            assert!(waited >= Duration::from_millis(55), "{waited:?}");
            assert!(waited < Duration::from_millis(60) + 10 * TICK, "{waited:?}");
            assert_eq!(pending(), 0, "the slot is given back");

            // A wait that needs a few polls ends before its timeout.
            let slow = timeout(
                Duration::from_secs(5),
                monoio::time::sleep(Duration::from_millis(30)),
            );
            assert_eq!(slow.await, Ok(()));
            assert_eq!(pending(), 0);
        });
    }
}
