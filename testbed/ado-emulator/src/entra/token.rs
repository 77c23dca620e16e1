//! `POST /{tenant}/oauth2/v2.0/token`: the `client_credentials` grant with a federated client
//! assertion, checked in Entra's order: application, scope, assertion shape, a federated
//! credential for its issuer, then audience and subject, the signature against the issuer's
//! keys (found through its OIDC discovery document), and the validity window.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;

use super::error::EntraError;
use super::{AZURE_DEVOPS_RESOURCE, Application, JWT_BEARER};
use crate::state::Shared;

/// Clock skew Entra tolerates on `nbf` and `exp`.
const CLOCK_SKEW_SECONDS: i64 = 5 * 60;

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    #[serde(default)]
    aud: Audience,
    exp: Option<i64>,
    nbf: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn values(&self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::One(a) => vec![a.clone()],
            Self::Many(list) => list.clone(),
        }
    }
}

/// The handler.
pub async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    match exchange(&shared, &tenant, &form).await {
        Ok(response) => response,
        Err(error) => {
            tracing::info!(tenant, code = error.code, "entra token request refused");
            error.into_response()
        }
    }
}

async fn exchange(
    shared: &Shared,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Result<Response, EntraError> {
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let grant = field("grant_type").ok_or_else(|| EntraError::missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(EntraError::unsupported_grant(grant));
    }
    let client_id = field("client_id").ok_or_else(|| EntraError::missing("client_id"))?;
    let directory = &shared.entra;
    if !directory.knows_tenant(tenant) {
        return Err(EntraError::tenant_not_found(tenant));
    }
    let application = directory
        .application(tenant, client_id)
        .ok_or_else(|| EntraError::application_not_found(client_id, tenant))?;
    let scope = field("scope").ok_or_else(|| EntraError::missing("scope"))?;
    if scope != format!("{AZURE_DEVOPS_RESOURCE}/.default") {
        return Err(EntraError::bad_scope(scope));
    }
    let assertion = match (field("client_assertion_type"), field("client_assertion")) {
        (Some(JWT_BEARER), Some(assertion)) => assertion,
        (Some(_), Some(_)) => {
            return Err(EntraError::malformed_assertion(
                "unsupported client_assertion_type",
            ));
        }
        _ => return Err(EntraError::no_client_credential()),
    };
    verify_assertion(directory, &application, assertion).await?;
    let (access_token, expires_in) = directory
        .issue(&application)
        .ok_or_else(|| EntraError::malformed_assertion("the directory has no signing key"))?;
    Ok(Json(json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
    }))
    .into_response())
}

async fn verify_assertion(
    directory: &super::Directory,
    application: &Application,
    assertion: &str,
) -> Result<(), EntraError> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|e| EntraError::malformed_assertion(&e.to_string()))?;
    // Which credential applies is decided from the unverified claims, as Entra does; the
    // signature is then checked with the keys of the issuer that credential trusts.
    let claims: AssertionClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|e| EntraError::malformed_assertion(&e.to_string()))?;
    let issuer = claims.iss.clone().unwrap_or_default();
    let subject = claims.sub.clone().unwrap_or_default();
    let audiences = claims.aud.values();
    let for_issuer: Vec<_> = application
        .federated_credentials
        .iter()
        .filter(|c| c.issuer == issuer)
        .collect();
    if for_issuer.is_empty() {
        return Err(EntraError::no_matching_issuer(&issuer));
    }
    let for_audience: Vec<_> = for_issuer
        .into_iter()
        .filter(|c| c.audiences.iter().any(|a| audiences.contains(a)))
        .collect();
    if for_audience.is_empty() {
        return Err(EntraError::no_matching_audience(
            &audiences.first().cloned().unwrap_or_default(),
        ));
    }
    if !for_audience.iter().any(|c| c.subject == subject) {
        return Err(EntraError::no_matching_subject(&subject));
    }
    if header.alg != Algorithm::RS256 {
        return Err(EntraError::bad_signature());
    }
    let keys = issuer_keys(&issuer).await?;
    let jwk = match header.kid.as_deref() {
        Some(kid) => keys.find(kid),
        None => keys.keys.first(),
    }
    .ok_or_else(EntraError::bad_signature)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| EntraError::bad_signature())?;
    let mut validation = Validation::new(Algorithm::RS256);
    // Audience and time are judged above and below, by the directory's own clock.
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation)
        .map_err(|_| EntraError::bad_signature())?;
    let now = directory.now().timestamp();
    let exp = claims.exp.unwrap_or(0);
    let nbf = claims.nbf.unwrap_or(i64::MIN);
    if now > exp + CLOCK_SKEW_SECONDS || now + CLOCK_SKEW_SECONDS < nbf {
        return Err(EntraError::not_in_time_range(now, nbf.max(0), exp));
    }
    Ok(())
}

/// The issuer's signing keys: `{iss}/.well-known/openid-configuration` → `jwks_uri`.
async fn issuer_keys(issuer: &str) -> Result<JwkSet, EntraError> {
    let unreachable = || EntraError::issuer_unreachable(issuer);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|_| unreachable())?;
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let discovery: serde_json::Value = client
        .get(&discovery_url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|_| unreachable())?
        .json()
        .await
        .map_err(|_| unreachable())?;
    if discovery["issuer"].as_str() != Some(issuer) {
        return Err(unreachable());
    }
    let jwks_uri = discovery["jwks_uri"].as_str().ok_or_else(unreachable)?;
    client
        .get(jwks_uri)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|_| unreachable())?
        .json()
        .await
        .map_err(|_| unreachable())
}
