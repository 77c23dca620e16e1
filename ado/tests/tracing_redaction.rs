//! Tracing output of failing calls names routes but never credentials.
//!
//! Its own test binary: the subscriber is process-global, and tracing caches per-callsite interest, so sharing a
//! process with other tests would make the capture flaky.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::leaks::*;
use common::*;

/// A `MakeWriter` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn tracing_output_of_failing_calls_has_routes_but_no_credentials() {
    let buffer = Buffer::default();
    // Everything the client and its HTTP stack log, at the most verbose level (the emulator's own logs are not ours).
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "azp_ado=trace,azp_ado_emulator=off,reqwest=trace,hyper=trace,hyper_util=trace",
        ))
        .with_writer(buffer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let emulator = start_emulator().await;
    let errors = provoke_errors(&emulator).await;
    assert!(!errors.is_empty());
    emulator.shutdown().await;

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert_clean("tracing output", &logs);
    assert!(
        logs.contains("pools/{poolId}/jobrequests"),
        "requests are logged by route template:\n{logs}"
    );
    assert!(
        logs.contains("retry budget spent"),
        "giving up is logged:\n{logs}"
    );
    let ours: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains(" azp_ado::"))
        .collect();
    assert!(
        ours.len() >= errors.len(),
        "every failing call is logged:\n{logs}"
    );
    assert!(
        ours.iter().all(|line| !line.contains("127.0.0.1")),
        "client logs carry route templates, not URLs:\n{}",
        ours.join("\n")
    );
}
