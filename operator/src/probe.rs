//! Holding back pod creation while the AgentPool's pods are known to fail: instead of one pod
//! per pass, one probe pod at a time, and only once a wait has passed. The start-failure
//! backoff ([`crate::start_failures`]) and the BuildKit hold ([`crate::buildkit_health`])
//! decide *whether* to hold and *how long* to wait; this decides how many pods that leaves.

/// How many of `wanted` new pods may be created while held: one probe when no pod of the
/// AgentPool is alive (the last probe has ended) and the wait is `over`; otherwise none.
pub(crate) fn probe_pods(wanted: u32, live_pods: usize, over: bool) -> u32 {
    if live_pods == 0 && over {
        wanted.min(1)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_probe_only_when_nothing_lives_and_the_wait_is_over() {
        assert_eq!(probe_pods(5, 0, true), 1);
        assert_eq!(probe_pods(0, 0, true), 0);
        assert_eq!(probe_pods(5, 1, true), 0, "the last probe still runs");
        assert_eq!(probe_pods(5, 0, false), 0, "still waiting");
    }
}
