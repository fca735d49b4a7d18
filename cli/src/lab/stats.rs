//! The lab's arithmetic, as pure functions over what was sampled: min/median/max of repeats,
//! and the longest stretch a rolling update spent below a number of running tasks.

use serde::Serialize;

/// Min, median and max of one metric's repeats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

/// `None` for no values; the median of an even count is the mean of the middle two.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    };
    Some(Summary {
        min: v[0],
        median,
        max: v[v.len() - 1],
    })
}

/// One observation: seconds since the experiment's start and the tasks running then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: f64,
    pub running: usize,
}

/// The longest time, in seconds, during which fewer than `threshold` tasks ran. A stretch
/// starts at the first sample below the threshold and ends at the next sample at or above it
/// (or at the last sample if it never recovered); a single low sample between two good ones
/// counts as the time from it to the next sample.
pub fn longest_gap_below(samples: &[Sample], threshold: usize) -> f64 {
    let mut longest = 0.0f64;
    let mut start: Option<f64> = None;
    for s in samples {
        match (s.running < threshold, start) {
            (true, None) => start = Some(s.at),
            (false, Some(t0)) => {
                longest = longest.max(s.at - t0);
                start = None;
            }
            _ => {}
        }
    }
    if let (Some(t0), Some(last)) = (start, samples.last()) {
        longest = longest.max(last.at - t0);
    }
    longest
}

/// The fewest tasks running in any sample (`None` without samples).
pub fn fewest_running(samples: &[Sample]) -> Option<usize> {
    samples.iter().map(|s| s.running).min()
}

/// CPU use in percent of one core between two readings of a process's CPU ticks.
pub fn cpu_percent(ticks_before: u64, ticks_after: u64, ticks_per_sec: u64, secs: f64) -> f64 {
    if secs <= 0.0 || ticks_per_sec == 0 {
        return 0.0;
    }
    let used = ticks_after.saturating_sub(ticks_before) as f64 / ticks_per_sec as f64;
    100.0 * used / secs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(v: &[(f64, usize)]) -> Vec<Sample> {
        v.iter()
            .map(|&(at, running)| Sample { at, running })
            .collect()
    }

    #[test]
    fn summary_of_odd_and_even_counts() {
        let s = summarize(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
        let s = summarize(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 4.0));
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[f64::NAN]), None, "a failed repeat is no value");
    }

    #[test]
    fn the_longest_gap_is_the_longest_low_stretch() {
        // 10 tasks, parallelism 2: below 8 from 1.0 to 1.5, and from 3.0 to 4.2.
        let s = samples(&[
            (0.0, 10),
            (1.0, 7),
            (1.5, 8),
            (2.0, 10),
            (3.0, 6),
            (3.5, 7),
            (4.2, 9),
        ]);
        assert!((longest_gap_below(&s, 8) - 1.2).abs() < 1e-9);
        assert_eq!(longest_gap_below(&s, 6), 0.0, "never below 6");
        assert_eq!(fewest_running(&s), Some(6));
    }

    #[test]
    fn a_gap_that_never_recovers_ends_at_the_last_sample() {
        let s = samples(&[(0.0, 4), (1.0, 1), (2.5, 1)]);
        assert!((longest_gap_below(&s, 2) - 1.5).abs() < 1e-9);
        assert_eq!(longest_gap_below(&[], 2), 0.0);
    }

    #[test]
    fn cpu_percent_of_one_core() {
        assert_eq!(cpu_percent(100, 150, 100, 1.0), 50.0);
        assert_eq!(cpu_percent(100, 100, 100, 5.0), 0.0);
        assert_eq!(cpu_percent(10, 5, 100, 1.0), 0.0, "a restarted process");
        assert_eq!(cpu_percent(0, 10, 100, 0.0), 0.0);
    }
}
