//! Deadlines that only real progress renews, for `client_body_timeout` and
//! `send_timeout`.
//!
//! nginx restarts these timers on every successful read or write, so a client that
//! trickles one byte per period holds a connection forever. Here the period starts
//! again only once a whole quantum (16 KiB read, 64 KiB sent) has moved within it: a
//! normal client never notices, a trickling one is cut off after one period.

use std::time::{Duration, Instant};

/// One timeout period that `quantum` bytes of progress renew.
#[derive(Debug, Clone)]
pub struct ProgressDeadline {
    period: Duration,
    quantum: u64,
    until: Instant,
    moved: u64,
}

impl ProgressDeadline {
    pub fn new(period: Duration, quantum: u64, now: Instant) -> ProgressDeadline {
        ProgressDeadline {
            period,
            quantum,
            until: now + period,
            moved: 0,
        }
    }

    /// Time left in the current period; `None` once it has passed.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        let left = self.until.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    /// Records `n` bytes moved; a full quantum starts a new period.
    pub fn advanced(&mut self, n: u64, now: Instant) {
        self.moved += n;
        if self.moved >= self.quantum {
            self.moved = 0;
            self.until = now + self.period;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const PERIOD: Duration = Duration::from_secs(10);

    #[test]
    fn trickled_bytes_do_not_renew_the_period() {
        let t0 = Instant::now();
        let mut d = ProgressDeadline::new(PERIOD, 1000, t0);
        for s in 1..10 {
            d.advanced(1, t0 + Duration::from_secs(s));
        }
        assert_eq!(
            d.remaining(t0 + Duration::from_secs(9)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(d.remaining(t0 + PERIOD), None);
    }

    #[test]
    fn a_full_quantum_starts_a_new_period() {
        let t0 = Instant::now();
        let mut d = ProgressDeadline::new(PERIOD, 1000, t0);
        d.advanced(600, t0 + Duration::from_secs(5));
        d.advanced(400, t0 + Duration::from_secs(8));
        assert_eq!(
            d.remaining(t0 + Duration::from_secs(17)),
            Some(Duration::from_secs(1))
        );
        // The count starts again from zero in the new period.
        d.advanced(999, t0 + Duration::from_secs(17));
        assert_eq!(d.remaining(t0 + Duration::from_secs(18)), None);
    }
}
