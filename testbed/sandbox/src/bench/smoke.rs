//! A tiny real run (3 jobs, hooks) through the whole bench path: it checks the report's shape
//! and that the in-process player took every job, never the figures (timing is not asserted).

use std::time::Duration;

use super::report::{BenchReport, Machine, TriggerMode};
use super::runner::{RunSettings, run_scenario};
use super::scenario::{ScenarioKind, ScenarioKnobs, plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_burst_reports_every_figure_with_its_mode() {
    let binaries = tokio::task::spawn_blocking(crate::harness::Binaries::locate_or_build)
        .await
        .unwrap()
        .unwrap();
    let knobs = ScenarioKnobs {
        jobs: 3,
        agent_pools: 0,
        min_idle: 0,
        poll_interval: "5s".into(),
        rate_per_second: 0.0,
        trickle_window: Duration::ZERO,
    };
    let plan = plan(
        ScenarioKind::Burst,
        &knobs,
        &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1),
    );
    let settings = RunSettings {
        kind: ScenarioKind::Burst,
        trigger: TriggerMode::Hooks,
        poll_interval: Duration::from_secs(5),
        min_poll_spacing: Duration::from_millis(500),
        job_seconds: 1,
        idle_intervals: 0,
        timeout: Duration::from_secs(60),
        start_delay: Duration::ZERO,
    };
    let report = run_scenario(&settings, &plan, &binaries).await.unwrap();
    assert_eq!(report.jobs, 3);
    assert_eq!(report.jobs_finished, 3, "notes: {:?}", report.notes);
    let json = serde_json::to_value(BenchReport {
        machine: Machine::detect(),
        command: "test".into(),
        scenarios: vec![report],
    })
    .unwrap();
    let row = &json["scenarios"][0];
    assert_eq!(row["agents"], "in-process-player");
    assert_eq!(row["trigger"], "hooks");
    assert_eq!(row["scenario"], "burst");
    for key in ["p50Ms", "p99Ms", "maxMs", "count"] {
        assert!(row["queueToPodCreated"][key].is_number(), "{key}: {row}");
        assert!(row["queueToAssigned"][key].is_number(), "{key}: {row}");
    }
    for key in [
        "operatorAdoRequestsPerMinute",
        "jobListCallsPerPoolPerInterval",
        "podsPerJob",
        "excessPods",
        "podsWithoutJob",
        "idleAgentSeconds",
        "minPollSpacingMs",
    ] {
        assert!(row[key].is_number(), "{key}: {row}");
    }
    assert!(row["operator"]["peakRssMib"].is_number(), "{row}");
    assert!(row["operator"]["cpuSeconds"].is_number(), "{row}");
    assert!(row["operatorRequestsByRoute"].is_object(), "{row}");
    // The breakdown: the operator's own list calls (from its log) and the pods it created
    // (from the API server's journal), and the size of the largest list sent.
    assert!(
        row["largestJobListBytes"].as_u64().is_some_and(|b| b > 0),
        "{row}"
    );
    let phases = &row["phases"];
    assert!(
        phases["adoRoundTrips"]["GET pools/{poolId}/jobrequests"]["count"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{phases}"
    );
    assert_eq!(phases["podCreates"]["created"], 3, "{phases}");
    assert_eq!(phases["podCreates"]["throttled"], 0, "{phases}");
}
