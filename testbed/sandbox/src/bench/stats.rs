//! Latency summaries: nearest-rank percentiles over a set of samples.

use serde::Serialize;

/// p50, p99 and max of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencySummary {
    /// Number of samples.
    pub count: usize,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl LatencySummary {
    /// Summarises `samples_ms`; `None` when there are none (a summary of nothing would be
    /// a made-up zero).
    pub fn of(samples_ms: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = samples_ms
            .iter()
            .copied()
            .filter(|s| s.is_finite())
            .collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(Self {
            count: sorted.len(),
            p50_ms: nearest_rank(&sorted, 50.0),
            p99_ms: nearest_rank(&sorted, 99.0),
            max_ms: sorted[sorted.len() - 1],
        })
    }
}

/// The nearest-rank percentile of ascending `sorted` (not empty): the smallest sample such
/// that at least `percent` % of the samples are less than or equal to it. No interpolation,
/// so every reported figure is a latency that was actually observed.
pub fn nearest_rank(sorted: &[f64], percent: f64) -> f64 {
    let n = sorted.len();
    let rank = ((percent / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_observed_samples() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(nearest_rank(&samples, 50.0), 50.0);
        assert_eq!(nearest_rank(&samples, 99.0), 99.0);
        assert_eq!(nearest_rank(&samples, 100.0), 100.0);
        assert_eq!(nearest_rank(&[7.0], 99.0), 7.0);
        // 99 % of 10 samples is 9.9 → rank 10: with few samples p99 is the max.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(nearest_rank(&ten, 99.0), 10.0);
        assert_eq!(nearest_rank(&ten, 50.0), 5.0);
    }

    #[test]
    fn summary_sorts_unordered_samples_and_drops_non_finite_ones() {
        let summary = LatencySummary::of(&[300.0, 100.0, f64::NAN, 200.0]).unwrap();
        assert_eq!(summary.count, 3);
        assert_eq!(summary.p50_ms, 200.0);
        assert_eq!(summary.p99_ms, 300.0);
        assert_eq!(summary.max_ms, 300.0);
    }

    #[test]
    fn no_samples_give_no_summary() {
        assert_eq!(LatencySummary::of(&[]), None);
        assert_eq!(LatencySummary::of(&[f64::INFINITY]), None);
    }
}
