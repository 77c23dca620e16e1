//! Console output in the real agent's style. Never pass secrets here.

use std::io::Write as _;

/// `2026-01-01 12:00:00Z: text` on stdout, like the listener's status lines.
pub fn line(text: &str) {
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ");
    let mut out = std::io::stdout().lock();
    // A closed stdout must not kill the agent.
    let _ = writeln!(out, "{now}: {text}");
    let _ = out.flush();
}

/// A plain progress line on stdout (configure / remove).
pub fn info(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// An error line on stderr.
pub fn error(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
