//! Token endpoint errors in Entra's shape: `error`, `error_description` starting with the
//! `AADSTS` code, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

/// One refusal of the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    /// HTTP status (400 or 401, as Entra answers).
    pub status: u16,
    /// OAuth error (`invalid_client`, `unauthorized_client`, `invalid_request`, ...).
    pub error: &'static str,
    /// The AADSTS number.
    pub code: u32,
    /// The description after `AADSTS<code>: `.
    pub message: String,
}

impl EntraError {
    fn new(status: u16, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    /// AADSTS70003: the grant type is not supported.
    pub fn unsupported_grant(grant: &str) -> Self {
        Self::new(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        )
    }

    /// AADSTS900144: a required parameter is missing.
    pub fn missing(parameter: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    /// AADSTS7000216: no client credential at all.
    pub fn no_client_credential() -> Self {
        Self::new(
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        )
    }

    /// AADSTS700016: the application is not in the tenant.
    pub fn application_not_found(client_id: &str, tenant: &str) -> Self {
        Self::new(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// AADSTS90002: unknown tenant.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        )
    }

    /// AADSTS1002012 / AADSTS500011: a scope other than `<resource>/.default`.
    pub fn bad_scope(scope: &str) -> Self {
        if !scope.ends_with("/.default") {
            return Self::new(
                400,
                "invalid_scope",
                1002012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            );
        }
        Self::new(
            400,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {} was not found in the tenant.",
                scope.trim_end_matches("/.default")
            ),
        )
    }

    /// AADSTS50027: not a JWT.
    pub fn malformed_assertion(why: &str) -> Self {
        Self::new(
            400,
            "invalid_request",
            50027,
            format!("JWT token is invalid or malformed: {why}."),
        )
    }

    /// AADSTS700211: no federated credential of the app has the assertion's issuer.
    pub fn no_matching_issuer(issuer: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            700211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{issuer}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
            ),
        )
    }

    /// AADSTS700212: no federated credential of the issuer has the assertion's audience.
    pub fn no_matching_audience(audience: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            700212,
            format!(
                "No matching federated identity record found for presented assertion audience '{audience}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
            ),
        )
    }

    /// AADSTS700213: no federated credential of the issuer has the assertion's subject.
    pub fn no_matching_subject(subject: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{subject}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."
            ),
        )
    }

    /// AADSTS50166: the issuer's discovery document or keys could not be fetched.
    pub fn issuer_unreachable(issuer: &str) -> Self {
        Self::new(
            400,
            "invalid_client",
            50166,
            format!("Request to External OIDC endpoint failed. Issuer: '{issuer}'."),
        )
    }

    /// AADSTS700027: the signature does not verify with the issuer's keys.
    pub fn bad_signature() -> Self {
        Self::new(
            401,
            "invalid_client",
            700027,
            "Client assertion failed signature validation.",
        )
    }

    /// AADSTS700024: outside `nbf`..`exp`.
    pub fn not_in_time_range(now: i64, nbf: i64, exp: i64) -> Self {
        let at = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .map(|d| d.format("%m/%d/%Y %H:%M:%S").to_string())
                .unwrap_or_default()
        };
        Self::new(
            400,
            "invalid_client",
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}.",
                at(now),
                at(nbf),
                at(exp)
            ),
        )
    }
}

impl IntoResponse for EntraError {
    fn into_response(self) -> Response {
        let trace_id = Uuid::new_v4();
        let correlation_id = Uuid::new_v4();
        let now = Utc::now().format("%Y-%m-%d %H:%M:%SZ");
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {now}",
                self.code, self.message
            ),
            "error_codes": [self.code],
            "timestamp": now.to_string(),
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(body)).into_response()
    }
}
