//! The live view (an ANSI redraw on a terminal, one compact line per second otherwise) and the
//! summary table printed at the end of a run.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use crate::snapshot::{AgentState, Snapshot};

/// Redraws the state of the run.
#[derive(Debug)]
pub struct LiveView {
    tty: bool,
    drawn_lines: usize,
    title: String,
}

impl LiveView {
    /// A view for stdout; redraws in place only when stdout is a terminal.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            tty: std::io::stdout().is_terminal(),
            drawn_lines: 0,
            title: title.into(),
        }
    }

    /// Shows one snapshot. `total_jobs` sizes the progress bar; `note` is the latest event.
    pub fn show(&mut self, snapshot: &Snapshot, elapsed: Duration, total_jobs: usize, note: &str) {
        let mut out = std::io::stdout().lock();
        if self.tty {
            let text = frame(&self.title, snapshot, elapsed, total_jobs, note);
            if self.drawn_lines > 0 {
                // Up to the first line of the previous frame, then clear to the end.
                let _ = write!(out, "\x1b[{}A\x1b[J", self.drawn_lines);
            }
            self.drawn_lines = text.lines().count();
            let _ = write!(out, "{text}");
        } else {
            let _ = writeln!(out, "{}", compact_line(snapshot, elapsed, total_jobs, note));
        }
        let _ = out.flush();
    }
}

fn progress_bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done.min(total) * width).checked_div(total).unwrap_or(0);
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

fn finished(snapshot: &Snapshot) -> usize {
    snapshot.jobs.len() - snapshot.unfinished_jobs()
}

fn join_counts<K: std::fmt::Display>(counts: impl IntoIterator<Item = (K, usize)>) -> String {
    let parts: Vec<String> = counts
        .into_iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// One line for CI logs.
pub fn compact_line(snapshot: &Snapshot, elapsed: Duration, total: usize, note: &str) -> String {
    let jobs = snapshot.jobs_by_state();
    let agents: Vec<String> = snapshot
        .agents_by_pool()
        .into_iter()
        .map(|(pool, states)| {
            format!(
                "{pool}:{}",
                join_counts(states.into_iter().map(|(s, n)| (s.label(), n)))
            )
        })
        .collect();
    format!(
        "t={:>4.0}s jobs {}/{} done (queued {}, running {}) pods {{{}}} agents {{{}}}{}",
        elapsed.as_secs_f64(),
        finished(snapshot),
        total.max(snapshot.jobs.len()),
        jobs.get("queued").copied().unwrap_or(0) + jobs.get("assigned").copied().unwrap_or(0),
        jobs.get("running").copied().unwrap_or(0),
        join_counts(snapshot.pods_by_phase()),
        agents.join("; "),
        if note.is_empty() {
            String::new()
        } else {
            format!(" | {note}")
        }
    )
}

/// The multi-line frame for a terminal.
pub fn frame(
    title: &str,
    snapshot: &Snapshot,
    elapsed: Duration,
    total: usize,
    note: &str,
) -> String {
    let total = total.max(snapshot.jobs.len());
    let done = finished(snapshot);
    let jobs = snapshot.jobs_by_state();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "\x1b[1m{title}\x1b[0m  t={:.0}s",
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        text,
        "progress {} {done}/{total} jobs finished",
        progress_bar(done, total, 40)
    );
    let _ = writeln!(
        text,
        "queue    queued {}  assigned {}  running {}  finished {}",
        jobs.get("queued").copied().unwrap_or(0),
        jobs.get("assigned").copied().unwrap_or(0),
        jobs.get("running").copied().unwrap_or(0),
        jobs.get("finished").copied().unwrap_or(0),
    );
    let _ = writeln!(text, "results  {}", join_counts(snapshot.results()));
    let _ = writeln!(text, "pods     {}", join_counts(snapshot.pods_by_phase()));
    for (pool, states) in snapshot.agents_by_pool() {
        let _ = writeln!(
            text,
            "agents   {pool:<10} {}",
            join_counts(states.into_iter().map(|(s, n)| (s.label(), n)))
        );
    }
    let _ = writeln!(text, "requests {} _apis calls", snapshot.stats.total);
    if !note.is_empty() {
        let _ = writeln!(text, "last     {note}");
    }
    text
}

/// A labelled row of the summary.
#[derive(Debug, Clone)]
pub struct SummaryRow {
    /// Left column.
    pub label: String,
    /// Right column.
    pub value: String,
}

impl SummaryRow {
    /// A row.
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
        }
    }
}

/// The end-of-run table: jobs by result, agents per pool, pods, requests, plus `extra` rows.
pub fn summary_table(snapshot: &Snapshot, elapsed: Duration, extra: &[SummaryRow]) -> String {
    let mut rows = vec![
        SummaryRow::new("duration", format!("{:.1} s", elapsed.as_secs_f64())),
        SummaryRow::new("jobs", snapshot.jobs.len().to_string()),
        SummaryRow::new("results", join_counts(snapshot.results())),
        SummaryRow::new("jobs unfinished", snapshot.unfinished_jobs().to_string()),
        SummaryRow::new("pods left", join_counts(snapshot.pods_by_phase())),
    ];
    for (pool, states) in snapshot.agents_by_pool() {
        let live: usize = states
            .iter()
            .filter(|(s, _)| **s != AgentState::Placeholder)
            .map(|(_, n)| n)
            .sum();
        rows.push(SummaryRow::new(
            format!("agents left in {pool}"),
            format!(
                "{live} (+ {} placeholder)",
                states.get(&AgentState::Placeholder).copied().unwrap_or(0)
            ),
        ));
    }
    rows.push(SummaryRow::new(
        "_apis requests",
        format!(
            "{} total, {} job-request lists",
            snapshot.stats.total,
            snapshot.requests_matching("GET", crate::invariants::JOB_REQUEST_LIST_ROUTE)
        ),
    ));
    rows.extend(extra.iter().cloned());
    let width = rows.iter().map(|r| r.label.len()).max().unwrap_or(0);
    let mut text = String::new();
    let _ = writeln!(text, "+-{}-+-{}", "-".repeat(width), "-".repeat(40));
    for row in rows {
        let _ = writeln!(text, "| {:<width$} | {}", row.label, row.value);
    }
    let _ = writeln!(text, "+-{}-+-{}", "-".repeat(width), "-".repeat(40));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let job = |id: i64, state: &str, result: Option<&str>| {
            serde_json::from_value(serde_json::json!({
                "requestId": id, "pool": "Linux", "state": state, "result": result,
                "queueTime": "2026-01-01T00:00:00Z",
            }))
            .unwrap()
        };
        Snapshot {
            jobs: vec![
                job(1, "finished", Some("succeeded")),
                job(2, "running", None),
                job(3, "queued", None),
            ],
            ..Snapshot::default()
        }
    }

    #[test]
    fn the_compact_line_counts_what_the_snapshot_holds() {
        let line = compact_line(&snapshot(), Duration::from_secs(12), 5, "burst");
        assert!(
            line.contains("jobs 1/5 done (queued 1, running 1)"),
            "{line}"
        );
        assert!(line.ends_with("| burst"), "{line}");
    }

    #[test]
    fn the_progress_bar_fills_in_proportion() {
        assert_eq!(progress_bar(1, 4, 8), "[##------]");
        assert_eq!(progress_bar(9, 4, 4), "[####]");
        assert_eq!(progress_bar(0, 0, 2), "[--]");
    }

    #[test]
    fn the_summary_lists_results_and_unfinished_jobs() {
        let table = summary_table(&snapshot(), Duration::from_secs(3), &[]);
        assert!(table.contains("| results         | succeeded 1"), "{table}");
        assert!(table.contains("| jobs unfinished | 2"), "{table}");
    }
}
