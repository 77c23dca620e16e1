//! The BuildKit sidecar answers on its socket.
//!
//! buildkitd speaks gRPC (HTTP/2). Sending the HTTP/2 client preface and receiving the server's
//! SETTINGS frame proves a live HTTP/2 server is behind the address — a stale socket file, or a
//! listener that is not buildkitd yet, fails.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::{Check, CheckResult};

/// HTTP/2 connection preface followed by an empty SETTINGS frame (RFC 9113 §3.4).
const CLIENT_PREFACE: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
/// Frame type of SETTINGS.
const SETTINGS_FRAME: u8 = 0x4;

/// The `buildkit` check; skipped when no address is configured (sidecar disabled).
pub struct BuildkitCheck {
    /// `BUILDKIT_HOST`: `unix:///path` or `tcp://host:port`.
    pub address: Option<String>,
    /// How long to wait for the server's SETTINGS frame.
    pub answer_timeout: Duration,
}

impl Check for BuildkitCheck {
    fn name(&self) -> &'static str {
        "buildkit"
    }

    fn run(&self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move {
            let Some(address) = &self.address else {
                return CheckResult::skip("BUILDKIT_HOST not set (BuildKit sidecar disabled)");
            };
            let fix = "check the buildkitd sidecar logs (kubectl logs <pod> -c buildkitd); rootless BuildKit needs user.max_user_namespaces > 0 on the node";
            let answered = if let Some(path) = address.strip_prefix("unix://") {
                match tokio::net::UnixStream::connect(path).await {
                    Ok(stream) => speaks_http2(stream, self.answer_timeout).await,
                    Err(error) => Err(format!("cannot connect: {error}")),
                }
            } else if let Some(host_port) = address.strip_prefix("tcp://") {
                match tokio::net::TcpStream::connect(host_port).await {
                    Ok(stream) => speaks_http2(stream, self.answer_timeout).await,
                    Err(error) => Err(format!("cannot connect: {error}")),
                }
            } else {
                return CheckResult::fail(
                    format!("unsupported BUILDKIT_HOST {address}"),
                    "use unix:///run/buildkit/buildkitd.sock or tcp://host:port",
                );
            };
            match answered {
                Ok(()) => CheckResult::pass(format!("{address} answers HTTP/2 (gRPC)")),
                Err(error) => CheckResult::fail(format!("{address}: {error}"), fix),
            }
        })
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
}
