//! SIGTERM and SIGINT, observed once for the whole run.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Becomes "stopped" at the first SIGTERM or SIGINT; clones see the same state.
#[derive(Clone, Debug)]
pub struct StopSignal {
    receiver: watch::Receiver<Option<&'static str>>,
}

impl StopSignal {
    /// Installs the handlers (replacing the default "terminate the process" action).
    pub fn install() -> std::io::Result<Self> {
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let (sender, receiver) = watch::channel(None);
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "stop requested");
            let _ = sender.send(Some(name));
            // Keep the handlers installed: later signals must not kill us mid-deregistration.
            loop {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
                tracing::info!("already stopping; signal ignored");
            }
        });
        Ok(Self { receiver })
    }

    /// The signal's name once one arrived.
    pub fn received(&self) -> Option<&'static str> {
        *self.receiver.borrow()
    }

    /// Waits for the first signal and returns its name.
    pub async fn stopped(&mut self) -> &'static str {
        loop {
            if let Some(name) = *self.receiver.borrow_and_update() {
                return name;
            }
            if self.receiver.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}
