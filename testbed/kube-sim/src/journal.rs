//! An opt-in record of requests (tests): when each matching request was answered and with
//! which status, so a test can show how a client paced itself, e.g. after a 429.
use std::sync::Mutex;
use std::time::Instant;

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// When the answer was sent.
    pub at: Instant,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Status code of the answer.
    pub status: u16,
}

/// Records requests matching a method and a path substring; records nothing until asked to.
#[derive(Debug, Default)]
pub struct Journal {
    filter: Mutex<Option<(String, String)>>,
    entries: Mutex<Vec<JournalEntry>>,
}

impl Journal {
    /// From now on, record requests with `method` whose path ends with `path_suffix`
    /// (e.g. `POST` and `/pods`: pod creates, not evictions or bindings).
    pub fn record(&self, method: &str, path_suffix: &str) {
        *self.filter.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((method.to_ascii_uppercase(), path_suffix.to_owned()));
    }

    /// Records one answered request if it matches.
    pub fn answered(&self, method: &str, path: &str, status: u16) {
        let matches = self
            .filter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|(m, suffix)| m.eq_ignore_ascii_case(method) && path.ends_with(suffix));
        if matches {
            self.entries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(JournalEntry {
                    at: Instant::now(),
                    method: method.to_owned(),
                    path: path.to_owned(),
                    status,
                });
        }
    }

    /// Everything recorded so far, in order.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
