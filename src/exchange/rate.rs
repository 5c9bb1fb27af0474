//! nginx's `limit_rate` and `limit_rate_after` for one response, shared by the
//! HTTP/1.1 connection and the HTTP/2 stream. nginx's write filter counts this way:
//! by the `n`th second since the request started, at most `rate × (n + 1)` bytes
//! past the first `after` may have gone out (the head included), and after each
//! write the next waits the time its bytes take at `rate`. On HTTP/2 the rate is a
//! stream's, as in nginx: the other streams of the connection are not slowed.

use std::time::{Duration, Instant};

use super::stopwatch::Mark;

/// The most sent at once under `limit_rate` (nginx writes what the socket takes;
/// the pause after each write makes the rate either way).
pub const PACE_PIECE: usize = 16 * 1024;

/// One response's pace.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Bytes per second; 0: no limit.
    rate: u64,
    /// `limit_rate_after`: bytes that go out before the limit applies.
    after: u64,
    start: Mark,
    sent: u64,
    /// After each write nginx waits the time its bytes take at the rate before the
    /// next one (the write filter's `delay`): not before this.
    next_write: Option<Instant>,
}

impl RateLimit {
    /// No limit.
    pub fn none() -> RateLimit {
        RateLimit::new(0, 0, Mark::now())
    }

    /// `rate` bytes per second past the first `after`, counted from `start` (when
    /// the request began).
    pub fn new(rate: u64, after: u64, start: Mark) -> RateLimit {
        RateLimit {
            rate,
            after,
            start,
            sent: 0,
            next_write: None,
        }
    }

    /// Whether a rate applies.
    pub fn limited(&self) -> bool {
        self.rate > 0
    }

    /// How many of `want` bytes may go now, or how long to wait before any may.
    fn allowance(&self, want: usize) -> Result<usize, Duration> {
        let elapsed = self.start.elapsed();
        let budget = self.rate.saturating_mul(elapsed.as_secs() + 1);
        let used = self.sent.saturating_sub(self.after);
        if used >= budget {
            let over = used - budget + 1;
            return Err(Duration::from_millis(
                over.saturating_mul(1000) / self.rate.max(1) + 1,
            ));
        }
        Ok(usize::try_from(budget - used)
            .unwrap_or(usize::MAX)
            .min(want))
    }

    /// Waits until some of `want` bytes may go; how many (at least 1, at most
    /// [`PACE_PIECE`]). Without a limit: `want` at once.
    pub async fn pace(&mut self, want: usize) -> usize {
        if !self.limited() {
            return want;
        }
        if let Some(at) = self.next_write.take() {
            let now = Instant::now();
            if at > now {
                monoio::time::sleep(at - now).await;
            }
        }
        loop {
            match self.allowance(want.min(PACE_PIECE)) {
                Ok(n) => return n.max(1),
                Err(wait) => monoio::time::sleep(wait).await,
            }
        }
    }

    /// Counts `n` bytes sent: only those past `limit_rate_after` cost time, which
    /// the next [`RateLimit::pace`] waits out.
    pub fn sent(&mut self, n: usize) {
        let before = self.sent.saturating_sub(self.after);
        self.sent += n as u64;
        if !self.limited() {
            return;
        }
        let counted = self.sent.saturating_sub(self.after) - before;
        let delay = Duration::from_millis(counted.saturating_mul(1000) / self.rate);
        if !delay.is_zero() {
            self.next_write = Some(Instant::now() + delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_second_allows_the_rate_then_waits() {
        let mut r = RateLimit::new(1000, 0, Mark::now());
        assert_eq!(r.allowance(5000), Ok(1000));
        r.sent(1000);
        assert!(r.allowance(10).is_err());
        assert!(r.next_write.is_some(), "1000 bytes at 1000/s cost a second");
    }

    #[test]
    fn bytes_before_limit_rate_after_cost_nothing() {
        let mut r = RateLimit::new(1000, 4000, Mark::now());
        r.sent(3000);
        assert_eq!(r.next_write, None);
        assert_eq!(r.allowance(5000), Ok(1000));
        r.sent(1500);
        // 500 of them past `after`: half a second.
        let wait = r.next_write.unwrap() - Instant::now();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
    }

    #[test]
    fn without_a_rate_nothing_waits() {
        let mut r = RateLimit::none();
        r.sent(1 << 30);
        assert!(!r.limited());
        assert_eq!(r.next_write, None);
    }
}
