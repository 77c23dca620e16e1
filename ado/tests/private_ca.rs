//! HTTPS to an Azure DevOps Server behind a private CA: trusted only with the configured CA bundle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use azp_ado::{AdoClient, AdoClientConfig, AdoError, Auth, RetryPolicy, Secret};
use azp_ado_emulator::tls::PrivateCa;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A minimal HTTPS "collection" that answers `GET /tfs/coll/_apis/distributedtask/pools` and 404s anything else.
async fn serve(pki: &PrivateCa) -> u16 {
    let acceptor = pki.acceptor().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the CA aborts the handshake: nothing to answer.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
                let (status, body) = if !head.contains("\r\nauthorization: basic ") {
                    (
                        "401 Unauthorized",
                        r#"{"message":"unauthorized","typeKey":"UnauthorizedRequestException"}"#,
                    )
                } else if head.starts_with("get /tfs/coll/_apis/distributedtask/pools?") {
                    (
                        "200 OK",
                        r#"{"count":1,"value":[{"id":10,"name":"onprem","poolType":"automation"}]}"#,
                    )
                } else {
                    (
                        "404 Not Found",
                        r#"{"message":"no such route","typeKey":"RouteNotFoundException"}"#,
                    )
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn config(port: u16, ca_bundle_pem: Option<Vec<u8>>) -> AdoClientConfig {
    let url = url::Url::parse(&format!("https://localhost:{port}/tfs/coll/")).unwrap();
    let mut cfg = AdoClientConfig::new(url, Auth::Pat(Secret::new("onprem-pat")));
    cfg.ca_bundle_pem = ca_bundle_pem;
    cfg.request_timeout = Duration::from_secs(5);
    cfg.retry = RetryPolicy::none();
    cfg
}

#[tokio::test]
async fn a_server_signed_by_the_configured_private_ca_is_trusted() {
    let pki = PrivateCa::new("azp-ado test private CA").unwrap();
    let port = serve(&pki).await;
    let client = AdoClient::new(config(port, Some(pki.ca_pem.clone().into_bytes()))).unwrap();
    let pool = client.find_pool("onprem").await.unwrap();
    assert_eq!((pool.id, pool.name.as_str()), (10, "onprem"));
}

#[tokio::test]
async fn without_the_ca_bundle_the_server_is_not_trusted() {
    let pki = PrivateCa::new("azp-ado test private CA").unwrap();
    let port = serve(&pki).await;
    let client = AdoClient::new(config(port, None)).unwrap();
    let err = client.find_pool("onprem").await.unwrap_err();
    assert!(matches!(err, AdoError::Transport { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("localhost:"),
        "no URL in transport errors: {err}"
    );
}

#[tokio::test]
async fn a_ca_bundle_without_certificates_is_refused() {
    for bundle in [b"not pem at all".to_vec(), Vec::new()] {
        let err = AdoClient::new(config(443, Some(bundle))).unwrap_err();
        assert!(matches!(err, AdoError::InvalidConfig { .. }), "{err:?}");
    }
}
