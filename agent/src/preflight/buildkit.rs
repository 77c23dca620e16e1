//! The BuildKit sidecar answers on its socket.
//!
//! buildkitd speaks gRPC (HTTP/2). Sending the HTTP/2 client preface and receiving the server's
//! SETTINGS frame proves a live HTTP/2 server is behind the address — a stale socket file, or a
//! listener that is not buildkitd yet, fails.
//!
//! The kubelet starts the `agent` container once the sidecar has *started*, not once it
//! listens (unless the sidecar's startup probe holds it back), so the check retries for a
//! bounded time before it gives up, and says how long it waited.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::{Check, CheckResult};

/// HTTP/2 connection preface followed by an empty SETTINGS frame (RFC 9113 §3.4).
const CLIENT_PREFACE: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
/// Frame type of SETTINGS.
const SETTINGS_FRAME: u8 = 0x4;

/// Pause between two attempts while the sidecar is not answering yet.
const RETRY_INTERVAL: Duration = Duration::from_millis(250);

/// The `buildkit` check; skipped when no address is configured (sidecar disabled).
pub struct BuildkitCheck {
    /// `BUILDKIT_HOST`: `unix:///path` or `tcp://host:port`.
    pub address: Option<String>,
    /// How long to wait for the server's SETTINGS frame on one connection.
    pub answer_timeout: Duration,
    /// How long to keep retrying while the sidecar does not answer yet (zero: one attempt).
    pub wait: Duration,
}

impl Check for BuildkitCheck {
    fn name(&self) -> &'static str {
        "buildkit"
    }

    fn budget(&self, per_check: Duration) -> Duration {
        // The waiting is bounded by `wait`; the last attempt still gets its answer timeout.
        per_check.max(self.wait + self.answer_timeout + RETRY_INTERVAL)
    }

    fn run(&self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move {
            let Some(address) = &self.address else {
                return CheckResult::skip("BUILDKIT_HOST not set (BuildKit sidecar disabled)");
            };
            if !address.starts_with("unix://") && !address.starts_with("tcp://") {
                return CheckResult::fail(
                    format!("unsupported BUILDKIT_HOST {address}"),
                    "use unix:///run/buildkit/buildkitd.sock or tcp://host:port",
                );
            }
            let started = tokio::time::Instant::now();
            let give_up_at = started + self.wait;
            let mut attempts = 1u32;
            loop {
                let error = match attempt(address, self.answer_timeout).await {
                    Ok(()) if attempts == 1 => {
                        return CheckResult::pass(format!("{address} answers HTTP/2 (gRPC)"));
                    }
                    Ok(()) => {
                        return CheckResult::pass(format!(
                            "{address} answers HTTP/2 (gRPC) after {:.1} s ({attempts} attempts)",
                            started.elapsed().as_secs_f32()
                        ));
                    }
                    Err(error) => error,
                };
                let now = tokio::time::Instant::now();
                if now >= give_up_at {
                    let fix = format!(
                        "check the buildkitd sidecar logs (kubectl logs <pod> -c buildkitd); rootless BuildKit needs user.max_user_namespaces > 0 on the node; a slow node may need a longer --buildkit-wait (now {} s) or a larger startupProbe failureThreshold on the sidecar",
                        self.wait.as_secs()
                    );
                    return CheckResult::fail(
                        format!(
                            "{address}: {error} (gave up after waiting {:.1} s, {attempts} attempts)",
                            started.elapsed().as_secs_f32()
                        ),
                        fix,
                    );
                }
                tokio::time::sleep(RETRY_INTERVAL.min(give_up_at - now)).await;
                attempts += 1;
            }
        })
    }
}

/// One connection attempt: connect and read the server's SETTINGS frame.
async fn attempt(address: &str, answer_timeout: Duration) -> Result<(), String> {
    if let Some(path) = address.strip_prefix("unix://") {
        match tokio::net::UnixStream::connect(path).await {
            Ok(stream) => speaks_http2(stream, answer_timeout).await,
            Err(error) => Err(format!("cannot connect: {error}")),
        }
    } else {
        let host_port = address.strip_prefix("tcp://").unwrap_or(address);
        match tokio::net::TcpStream::connect(host_port).await {
            Ok(stream) => speaks_http2(stream, answer_timeout).await,
            Err(error) => Err(format!("cannot connect: {error}")),
        }
    }
}

async fn speaks_http2<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    timeout: Duration,
) -> Result<(), String> {
    stream
        .write_all(CLIENT_PREFACE)
        .await
        .map_err(|error| format!("write failed: {error}"))?;
    let mut header = [0u8; 9];
    match tokio::time::timeout(timeout, stream.read_exact(&mut header)).await {
        Err(_) => Err(format!(
            "no HTTP/2 answer within {} ms",
            timeout.as_millis()
        )),
        Ok(Err(error)) => Err(format!(
            "connection closed without an HTTP/2 answer: {error}"
        )),
        Ok(Ok(_)) if header[3] == SETTINGS_FRAME => Ok(()),
        Ok(Ok(_)) => Err("the server does not speak HTTP/2".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::preflight::Status;
    use tokio::net::UnixListener;

    fn check(address: Option<String>) -> BuildkitCheck {
        BuildkitCheck {
            address,
            answer_timeout: Duration::from_millis(500),
            wait: Duration::ZERO,
        }
    }

    /// Answers like an HTTP/2 server: reads the preface, sends an empty SETTINGS frame.
    async fn serve_once(listener: UnixListener, reply: &'static [u8]) {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut preface = vec![0u8; CLIENT_PREFACE.len()];
        stream.read_exact(&mut preface).await.unwrap();
        assert_eq!(preface, CLIENT_PREFACE);
        stream.write_all(reply).await.unwrap();
    }

    #[tokio::test]
    async fn http2_server_on_unix_socket_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buildkitd.sock");
        let server = tokio::spawn(serve_once(
            UnixListener::bind(&path).unwrap(),
            b"\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        ));
        let result = check(Some(format!("unix://{}", path.display())))
            .run()
            .await;
        assert_eq!(result.status, Status::Pass, "{result:?}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_non_http2_answer_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let server = tokio::spawn(serve_once(
            UnixListener::bind(&path).unwrap(),
            b"HTTP/1.1 400 Bad",
        ));
        let result = check(Some(format!("unix://{}", path.display())))
            .run()
            .await;
        assert_eq!(result.status, Status::Fail);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn stale_socket_path_fails_and_unset_is_skipped() {
        let result = check(Some("unix:///nonexistent/buildkitd.sock".into()))
            .run()
            .await;
        assert_eq!(result.status, Status::Fail);
        assert!(result.fix.unwrap().contains("buildkitd"));
        assert_eq!(check(None).run().await.status, Status::Skip);
        assert_eq!(
            check(Some("ftp://x".into())).run().await.status,
            Status::Fail
        );
    }

    /// The sidecar binds its socket only after a while (as buildkitd does while it sets up
    /// its worker): the check keeps trying and passes, saying how long it took.
    #[tokio::test]
    async fn a_socket_that_appears_late_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buildkitd.sock");
        let late = path.clone();
        let server = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1200)).await;
            serve_once(
                UnixListener::bind(&late).unwrap(),
                b"\x00\x00\x00\x04\x00\x00\x00\x00\x00",
            )
            .await;
        });
        let mut waiting = check(Some(format!("unix://{}", path.display())));
        waiting.wait = Duration::from_secs(10);
        let started = std::time::Instant::now();
        let result = waiting.run().await;
        assert_eq!(result.status, Status::Pass, "{result:?}");
        assert!(result.detail.contains("after"), "{}", result.detail);
        assert!(started.elapsed() >= Duration::from_millis(1200));
        server.await.unwrap();
    }

    /// Giving up is bounded and the message says how long the check waited.
    #[tokio::test]
    async fn a_socket_that_never_appears_fails_after_the_wait_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut waiting = check(Some(format!(
            "unix://{}",
            dir.path().join("never.sock").display()
        )));
        waiting.wait = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let result = waiting.run().await;
        let elapsed = started.elapsed();
        assert_eq!(result.status, Status::Fail);
        assert!(
            result.detail.contains("gave up after waiting 1."),
            "{}",
            result.detail
        );
        assert!(result.detail.contains("No such file"), "{}", result.detail);
        assert!(result.fix.unwrap().contains("--buildkit-wait (now 1 s)"));
        assert!(elapsed >= Duration::from_millis(750) && elapsed < Duration::from_secs(3));
        assert!(waiting.budget(Duration::from_secs(5)) >= Duration::from_secs(5));
        assert!(waiting.budget(Duration::from_millis(100)) > Duration::from_secs(1));
    }
}
