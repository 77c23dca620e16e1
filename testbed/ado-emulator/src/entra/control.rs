//! `/_emulator/entra/...`: what an administrator sets up in Entra and in the organization.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;

use super::Application;
use crate::control::ControlError;
use crate::state::Shared;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Clock {
    offset_seconds: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenLifetime {
    seconds: i64,
}

async fn post_token_lifetime(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<StatusCode, ControlError> {
    let lifetime: TokenLifetime = serde_json::from_slice(&body)
        .map_err(|e| crate::control::bad(format!("invalid token lifetime: {e}")))?;
    if lifetime.seconds < 1 {
        return Err(crate::control::bad("seconds must be at least 1"));
    }
    shared
        .entra
        .set_token_lifetime(chrono::Duration::seconds(lifetime.seconds));
    Ok(StatusCode::NO_CONTENT)
}

async fn post_application(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<StatusCode, ControlError> {
    let application: Application = serde_json::from_slice(&body)
        .map_err(|e| crate::control::bad(format!("invalid application: {e}")))?;
    shared.entra.register(application);
    Ok(StatusCode::CREATED)
}

async fn clear_applications(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.entra.clear();
    StatusCode::NO_CONTENT
}

async fn post_clock(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<StatusCode, ControlError> {
    let clock: Clock = serde_json::from_slice(&body)
        .map_err(|e| crate::control::bad(format!("invalid clock: {e}")))?;
    shared
        .entra
        .set_clock_offset(chrono::Duration::seconds(clock.offset_seconds));
    Ok(StatusCode::NO_CONTENT)
}

/// The control routes (merged into `/_emulator`).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/_emulator/entra/applications",
            post(post_application).delete(clear_applications),
        )
        .route("/_emulator/entra/clock", post(post_clock))
        .route("/_emulator/entra/token-lifetime", post(post_token_lifetime))
}
