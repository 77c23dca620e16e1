//! `POST {org}/_apis/oauth2/token`: client-credentials grant with an RS256 JWT assertion.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use super::AppState;
use crate::oauth::{self as jwt, AssertionError};
use crate::state::AccessToken;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn oauth_error(error: &str, description: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": error, "error_description": description.to_string() })),
    )
        .into_response()
}

/// Verifies the assertion against the agent's registered key and mints an opaque access token.
pub async fn token(State(shared): State<AppState>, body: Bytes) -> Response {
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            "unsupported_grant_type",
            "grant_type must be client_credentials",
        );
    }
    if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
        return oauth_error(
            "invalid_request",
            format!("client_assertion_type must be {ASSERTION_TYPE}"),
        );
    }
    let Some(raw) = form.get("client_assertion") else {
        return oauth_error("invalid_request", "client_assertion is required");
    };
    let lifetime = chrono::Duration::from_std(shared.cfg.access_token_lifetime)
        .unwrap_or(chrono::Duration::hours(1));
    let outcome = (|| {
        let assertion = jwt::decode(raw)?;
        let client_id = jwt::client_id(&assertion)?;
        let now = Utc::now();
        let (agent_id, key, audience) = shared
            .read(|s| {
                s.agents
                    .values()
                    .find(|a| a.client_id == Some(client_id))
                    .and_then(|a| Some((a.id, a.key.clone()?, a.authorization_url.clone()?)))
            })
            .ok_or(AssertionError::UnknownClient)?;
        jwt::verify(&assertion, &key, &audience, now)?;
        let token = jwt::mint_token();
        shared.mutate(|s| {
            s.tokens.retain(|_, t| t.expires > now);
            s.tokens.insert(
                token.clone(),
                AccessToken {
                    agent_id,
                    expires: now + lifetime,
                },
            );
        });
        tracing::info!(agent_id, "access token issued");
        Ok::<_, AssertionError>(token)
    })();
    match outcome {
        Ok(token) => Json(json!({
            "access_token": token,
            "token_type": "jwt-bearer",
            "expires_in": lifetime.num_seconds(),
            "scope": "/",
        }))
        .into_response(),
        Err(e) => {
            tracing::info!(error = %e, "client assertion refused");
            oauth_error("invalid_client", e)
        }
    }
}
