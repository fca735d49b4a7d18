//! Swarm's tick batching: a pass runs once changes have been quiet for `quiet` (≈50 ms), but
//! never later than `max` (1 s) after the first unprocessed change.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Debouncer {
    quiet: Duration,
    max: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Debouncer {
    pub fn new(quiet: Duration, max: Duration) -> Debouncer {
        Debouncer {
            quiet,
            max,
            first: None,
            last: None,
        }
    }

    /// Something changed at `now`.
    pub fn touch(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When the next pass is due, if anything changed.
    pub fn deadline(&self) -> Option<Instant> {
        Some((self.last? + self.quiet).min(self.first? + self.max))
    }

    /// The pass ran: wait for new changes.
    pub fn reset(&mut self) {
        self.first = None;
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_period_is_bounded() {
        let ms = Duration::from_millis;
        let mut d = Debouncer::new(ms(50), ms(1000));
        assert_eq!(d.deadline(), None);
        let t0 = Instant::now();
        d.touch(t0);
        assert_eq!(d.deadline(), Some(t0 + ms(50)));
        d.touch(t0 + ms(30));
        assert_eq!(
            d.deadline(),
            Some(t0 + ms(80)),
            "a change restarts the quiet period"
        );
        for i in 0..100 {
            d.touch(t0 + ms(10 * i));
        }
        assert_eq!(
            d.deadline(),
            Some(t0 + ms(1000)),
            "…up to 1 s after the first"
        );
        d.reset();
        assert_eq!(d.deadline(), None);
    }
}
