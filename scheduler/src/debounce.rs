//! When to run a scheduling pass. Swarm's tick batching is the trailing edge: a pass runs once
//! changes have been quiet for `quiet` (≈50 ms), but never later than `max` (1 s) after the first
//! unprocessed change. Under steady churn (a rolling update's stops and reports) changes never
//! pause for 50 ms, so every pass waited for the cap. Hence a leading edge too: once a task
//! waits for a decision, a pass starts as soon as the previous passes' writes are done, at most
//! one pass per quiet period; writes in flight batch what arrives meanwhile.

use std::time::Duration;

use tokio::time::Instant;

/// What a watched change means for the next pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Cannot change a decision (e.g. a status report of a task staying on its node).
    Irrelevant,
    /// Can change a decision (resources freed, a node changed) but brings no task to decide.
    Relevant,
    /// A task now waits for a decision.
    Waiting,
}

#[derive(Debug)]
pub struct Debouncer {
    quiet: Duration,
    max: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
    /// A task started waiting for a decision since the last pass.
    waiting: bool,
    /// When the last pass ran.
    passed: Option<Instant>,
}

impl Debouncer {
    pub fn new(quiet: Duration, max: Duration) -> Debouncer {
        Debouncer {
            quiet,
            max,
            first: None,
            last: None,
            waiting: false,
            passed: None,
        }
    }

    /// Something changed at `now`.
    pub fn touch(&mut self, now: Instant, change: Change) {
        if change == Change::Irrelevant {
            return;
        }
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.waiting |= change == Change::Waiting;
    }

    /// When the next pass is due, if anything changed. `writing`: writes of earlier passes are
    /// still in flight or queued (a pass now would only queue behind them).
    pub fn deadline(&self, writing: bool) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        let trailing = (last + self.quiet).min(first + self.max);
        if writing || !self.waiting {
            return Some(trailing);
        }
        let leading = self.passed.map_or(first, |p| first.max(p + self.quiet));
        Some(leading.min(trailing))
    }

    /// A pass ran at `now`: wait for new changes.
    pub fn passed(&mut self, now: Instant) {
        self.first = None;
        self.last = None;
        self.waiting = false;
        self.passed = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::advance;

    use super::Change::*;
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Changes every `every` from now on; returns when the first pass would run.
    async fn churn(d: &mut Debouncer, every: Duration, change: Change, writing: bool) -> Duration {
        let start = Instant::now();
        loop {
            d.touch(Instant::now(), change);
            let due = d.deadline(writing).expect("a change is pending");
            if due <= Instant::now() + every {
                return due - start;
            }
            advance(every).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_waiting_tasks_a_pass_waits_for_quiet_up_to_the_cap() {
        let mut d = Debouncer::new(ms(50), ms(1000));
        assert_eq!(d.deadline(false), None);
        d.touch(Instant::now(), Irrelevant);
        assert_eq!(d.deadline(false), None, "an irrelevant change is no reason");
        let t0 = Instant::now();
        d.touch(t0, Relevant);
        assert_eq!(d.deadline(false), Some(t0 + ms(50)));
        advance(ms(30)).await;
        d.touch(Instant::now(), Relevant);
        assert_eq!(d.deadline(false), Some(t0 + ms(80)), "quiet restarts");
        d.passed(Instant::now());
        assert_eq!(d.deadline(false), None);
        let waited = churn(&mut d, ms(10), Relevant, false).await;
        assert_eq!(waited, ms(1000), "churn holds a pass to the cap");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_task_starts_a_pass_at_once_when_nothing_is_in_flight() {
        let mut d = Debouncer::new(ms(50), ms(1000));
        let waited = churn(&mut d, ms(10), Waiting, false).await;
        assert_eq!(waited, ms(0), "no earlier pass: at once");
        d.passed(Instant::now());
        let waited = churn(&mut d, ms(10), Waiting, false).await;
        assert_eq!(
            waited,
            ms(50),
            "one pass per quiet period, not one per change"
        );
        d.passed(Instant::now());
        advance(ms(200)).await;
        let waited = churn(&mut d, ms(10), Relevant, false).await;
        assert_eq!(waited, ms(1000), "freed resources alone: the trailing edge");
    }

    #[tokio::test(start_paused = true)]
    async fn while_writes_are_in_flight_a_pass_waits_for_them_or_the_cap() {
        let mut d = Debouncer::new(ms(50), ms(1000));
        let waited = churn(&mut d, ms(10), Waiting, true).await;
        assert_eq!(waited, ms(1000), "churn during writes: the cap, as before");
        d.passed(Instant::now());
        advance(ms(60)).await;
        let t1 = Instant::now();
        d.touch(t1, Waiting);
        advance(ms(100)).await;
        d.touch(Instant::now(), Waiting);
        assert_eq!(
            d.deadline(false),
            Some(t1),
            "the writes are done: due since the first waiting change"
        );
    }
}
