//! When the operator listed job requests: the spacing behind "one list call per Azure
//! DevOps pool per poll interval".
//!
//! A ratio of calls to run time cannot show it (a 12 s run holds 2.4 intervals and three
//! scheduled polls), so the bench samples the emulator's counter of the list route every
//! [`SAMPLE_EVERY`] and keeps when each call arrived. A call *brought forward* is one that
//! came less than a poll interval after the previous one: something other than the timer
//! (a hook, a pod event) asked for it.

use std::time::Duration;

use azp_ado_emulator::RunningEmulator;
use serde::Serialize;
use tokio::time::Instant;

/// Sampling period of the emulator's counter.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// Spacing of the job-request list calls of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCallSpacing {
    /// Calls seen.
    pub calls: usize,
    /// Calls that came less than `pollInterval − 2 × SAMPLE_EVERY` after the previous one.
    pub brought_forward: usize,
    /// The most calls in any window of one `pollInterval` (same tolerance).
    pub max_in_one_interval: usize,
    /// Shortest gap between two calls, in milliseconds (`None` with fewer than two calls).
    pub shortest_gap_ms: Option<f64>,
}

impl ListCallSpacing {
    /// Summarises call times (sorted or not) against `interval`.
    pub fn of(times: &[Instant], interval: Duration) -> Self {
        let mut times = times.to_vec();
        times.sort_unstable();
        // A scheduled poll comes at least one interval after the previous one; sampling can
        // make two such calls look up to two periods closer.
        let window = interval.saturating_sub(SAMPLE_EVERY * 2);
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let brought_forward = gaps.iter().filter(|gap| **gap < window).count();
        let max_in_one_interval = (0..times.len())
            .map(|start| {
                times[start..]
                    .iter()
                    .take_while(|t| **t - times[start] < window)
                    .count()
            })
            .max()
            .unwrap_or(0);
        Self {
            calls: times.len(),
            brought_forward,
            max_in_one_interval,
            shortest_gap_ms: gaps.iter().min().map(|gap| gap.as_secs_f64() * 1000.0),
        }
    }
}

/// Runs `work` while sampling the emulator's count of `route`; returns its output and the
/// arrival time of each call counted meanwhile.
pub async fn while_sampling<T>(
    emulator: &RunningEmulator,
    route: &str,
    work: impl Future<Output = T>,
) -> (T, Vec<Instant>) {
    let count = || {
        emulator
            .stats()
            .routes
            .get(route)
            .map_or(0u64, |by_status| by_status.values().sum())
    };
    let mut times = Vec::new();
    let mut last = count();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            output = &mut work => return (output, times),
            _ = tick.tick() => {
                let now = count();
                if now > last {
                    let at = Instant::now();
                    times.extend((last..now).map(|_| at));
                }
                // A stats reset makes the count drop: go on from there.
                last = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, millis: &[u64]) -> Vec<Instant> {
        millis
            .iter()
            .map(|m| base + Duration::from_millis(*m))
            .collect()
    }

    #[test]
    fn scheduled_polls_are_one_per_interval_and_a_hook_poll_is_brought_forward() {
        let base = Instant::now();
        let interval = Duration::from_secs(5);
        // Timer polls 5.0x s apart (sampling made one look 30 ms early).
        let timer = ListCallSpacing::of(&at(base, &[0, 5030, 10_000, 15_050]), interval);
        assert_eq!(timer.calls, 4);
        assert_eq!(timer.brought_forward, 0);
        assert_eq!(timer.max_in_one_interval, 1);
        assert_eq!(timer.shortest_gap_ms, Some(4970.0));
        // A hook 1.2 s after a timer poll, then the timer again 5 s after the hook poll.
        let hook = ListCallSpacing::of(&at(base, &[0, 1200, 6200, 6450]), interval);
        assert_eq!(hook.brought_forward, 2);
        assert_eq!(hook.max_in_one_interval, 2);
        assert_eq!(hook.shortest_gap_ms, Some(250.0));
        assert_eq!(ListCallSpacing::of(&[], interval).max_in_one_interval, 0);
    }
}
