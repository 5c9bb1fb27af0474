//! Start marks for the durations a request reports: `$request_time` and
//! `$upstream_response_time`. nginx reads them from its cached millisecond clock;
//! here a mark comes from the precise monotonic clock only when some configuration
//! names one of those variables ([`crate::config::template::durations_read`]), and
//! otherwise from the coarse clock the timeouts already use, so a proxied request
//! costs no precise clock read at all.

use std::time::{Duration, Instant};

/// A moment, on the clock chosen when it was taken.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    Precise(Instant),
    /// On the coarse monotonic clock ([`crate::sys::coarse_monotonic`]).
    Coarse(Duration),
}

impl Mark {
    /// Now, on the precise clock when a configuration reads durations.
    pub fn now() -> Mark {
        if crate::config::template::durations_read() {
            Mark::Precise(Instant::now())
        } else {
            Mark::Coarse(crate::sys::coarse_monotonic())
        }
    }

    /// The time from `self` to `later`; zero when they are on different clocks (a
    /// reload that named a duration variable in between) or out of order.
    pub fn until(self, later: Mark) -> Duration {
        match (self, later) {
            (Mark::Precise(a), Mark::Precise(b)) => b.saturating_duration_since(a),
            (Mark::Coarse(a), Mark::Coarse(b)) => b.saturating_sub(a),
            _ => Duration::ZERO,
        }
    }

    /// The time since `self`, read on the same clock.
    pub fn elapsed(self) -> Duration {
        match self {
            Mark::Precise(a) => a.elapsed(),
            Mark::Coarse(a) => crate::sys::coarse_monotonic().saturating_sub(a),
        }
    }

    /// This moment on the coarse clock, for limits counted in seconds
    /// (`fail_timeout`): the mark itself when it is coarse, else a fresh reading.
    pub fn coarse(self) -> Duration {
        match self {
            Mark::Coarse(d) => d,
            Mark::Precise(_) => crate::sys::coarse_monotonic(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_measured_on_one_clock() {
        let a = Mark::Coarse(Duration::from_millis(1_000));
        let b = Mark::Coarse(Duration::from_millis(1_250));
        assert_eq!(a.until(b), Duration::from_millis(250));
        assert_eq!(b.until(a), Duration::ZERO, "never negative");
        assert_eq!(b.coarse(), Duration::from_millis(1_250));
        let p = Instant::now();
        let (p0, p1) = (
            Mark::Precise(p),
            Mark::Precise(p + Duration::from_micros(7)),
        );
        assert_eq!(p0.until(p1), Duration::from_micros(7));
        assert_eq!(a.until(p1), Duration::ZERO, "clocks are not mixed");
        assert!(p0.coarse() > Duration::ZERO);
    }
}
