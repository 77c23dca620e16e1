//! The PAT never appears in Debug/Display of the client, config or any error produced by real failing calls,
//! nor in tracing output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azp_ado::{AdoClient, AdoError, Auth, Secret};
use common::leaks::*;
use common::*;

#[tokio::test]
async fn errors_client_and_config_never_print_the_credential() {
    let emulator = start_emulator().await;
    let errors = provoke_errors(&emulator).await;
    let reasons: Vec<&str> = errors.iter().map(AdoError::reason).collect();
    assert_eq!(
        reasons,
        [
            "BadCredentials",
            "BadCredentials",
            "PoolNotFound",
            "AgentNotFound",
            "AgentExists",
            "RateLimited",
            "Unavailable",
            "Timeout",
            "TransportError",
            "InvalidConfig",
            "InvalidConfig",
        ]
    );
    for err in &errors {
        assert_clean(err.reason(), &format!("{err} | {err:?} | {err:#?}"));
    }
    let transport = errors
        .iter()
        .find(|e| e.reason() == "TransportError")
        .unwrap();
    assert!(
        !transport.to_string().contains("http://"),
        "transport errors must not carry URLs: {transport}"
    );

    let config = test_config(&emulator, Auth::Pat(Secret::new(PAT)));
    assert_clean("config", &format!("{config:?}"));
    let client = AdoClient::new(config).unwrap();
    assert_clean("client", &format!("{client:?} {client:#?}"));
    let bearer = test_config(&emulator, Auth::Bearer(CountingTokenSource::new(BEARER)));
    assert_clean("bearer config", &format!("{bearer:?}"));
    emulator.shutdown().await;
}
