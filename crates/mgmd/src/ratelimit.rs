//! A log rate limiter: at most N lines per one-second window, then one summary line with the
//! count of what was left out.

use std::time::{Duration, Instant};

/// What the limiter decided for one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Log this line.
    pub log: bool,
    /// Lines left out in the windows that ended since the last line logged: say so first.
    pub suppressed_before: u64,
}

/// At most `per_second` lines in each one-second window.
///
/// ```
/// use mgmd::ratelimit::LogLimiter;
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// let mut l = LogLimiter::new(2);
/// assert!(l.check(t0).log && l.check(t0).log);
/// assert!(!l.check(t0).log, "the third line of the second is left out");
/// let d = l.check(t0 + Duration::from_secs(1));
/// assert!(d.log);
/// assert_eq!(d.suppressed_before, 1);
/// ```
#[derive(Clone, Debug)]
pub struct LogLimiter {
    per_second: u32,
    window: Option<Instant>,
    in_window: u32,
    suppressed: u64,
    total_suppressed: u64,
}

impl LogLimiter {
    /// A limiter of `per_second` lines a second (0: every line is left out and counted).
    pub fn new(per_second: u32) -> Self {
        LogLimiter {
            per_second,
            window: None,
            in_window: 0,
            suppressed: 0,
            total_suppressed: 0,
        }
    }

    /// Decides for a line at `now`.
    pub fn check(&mut self, now: Instant) -> Decision {
        let fresh = self
            .window
            .is_none_or(|w| now.saturating_duration_since(w) >= Duration::from_secs(1));
        if fresh {
            self.window = Some(now);
            self.in_window = 0;
        }
        if self.in_window < self.per_second {
            self.in_window += 1;
            let before = std::mem::take(&mut self.suppressed);
            Decision {
                log: true,
                suppressed_before: before,
            }
        } else {
            self.suppressed += 1;
            self.total_suppressed += 1;
            Decision {
                log: false,
                suppressed_before: 0,
            }
        }
    }

    /// Lines left out and not yet reported, when the window they fell in is over: the caller
    /// logs one summary line with the count (call it about once a second).
    pub fn flush(&mut self, now: Instant) -> Option<u64> {
        let over = self
            .window
            .is_some_and(|w| now.saturating_duration_since(w) >= Duration::from_secs(1));
        if over && self.suppressed > 0 {
            Some(std::mem::take(&mut self.suppressed))
        } else {
            None
        }
    }

    /// Lines left out since start.
    pub fn total_suppressed(&self) -> u64 {
        self.total_suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_n_a_second_and_every_left_out_line_is_counted_once() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(3);
        let logged = (0..100).filter(|_| l.check(t0).log).count();
        assert_eq!(logged, 3);
        assert_eq!(
            l.flush(t0 + Duration::from_millis(999)),
            None,
            "window not over"
        );
        assert_eq!(l.flush(t0 + Duration::from_secs(1)), Some(97));
        assert_eq!(l.flush(t0 + Duration::from_secs(2)), None, "reported once");
        // A new window: lines again, and nothing to report before them.
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(
            l.check(t1),
            Decision {
                log: true,
                suppressed_before: 0
            }
        );
        for _ in 0..5 {
            l.check(t1);
        }
        // Left-out lines not yet flushed are reported with the next line logged.
        let d = l.check(t1 + Duration::from_millis(1500));
        assert_eq!((d.log, d.suppressed_before), (true, 3));
        assert_eq!(l.total_suppressed(), 100);
    }

    #[test]
    fn zero_leaves_everything_out() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(0);
        assert!(!(0..10).any(|_| l.check(t0).log));
        assert_eq!(l.flush(t0 + Duration::from_secs(1)), Some(10));
    }
}
