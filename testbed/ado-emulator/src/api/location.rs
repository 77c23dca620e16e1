//! `connectionData`, `OPTIONS _apis`, `ResourceAreas`, `FeatureFlags`, telemetry.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AppState, client_org_url};
use crate::auth::{Caller, authenticate, challenge};
use crate::wire::Collection;
use crate::wire::location::{LOCATIONS, service_definitions};

/// Anonymous callers are welcome; wrong credentials are not.
fn optional_caller(
    shared: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Caller>, Box<Response>> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    authenticate(shared, headers)
        .map(Some)
        .ok_or_else(|| Box::new(challenge(shared, headers)))
}

/// `GET _apis/connectionData` (any query): an on-premises deployment (no `serviceOwner`).
pub async fn connection_data(State(shared): State<AppState>, headers: HeaderMap) -> Response {
    let caller = match optional_caller(&shared, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let org_url = client_org_url(&shared, &headers);
    let instance_id = shared.read(|s| s.instance_id);
    let mut body = json!({
        "instanceId": instance_id.to_string(),
        "deploymentId": instance_id.to_string(),
        "deploymentType": "onPremises",
        "locationServiceData": {
            "defaultAccessMappingMoniker": "PublicAccessMapping",
            "lastChangeId": 1,
            "lastChangeId64": 1,
            "accessMappings": [{
                "displayName": "Public Access Mapping",
                "moniker": "PublicAccessMapping",
                "accessPoint": org_url,
                "virtualDirectory": "",
            }],
            "serviceDefinitions": service_definitions(),
        },
    });
    if let Some(caller) = caller {
        let name = match caller {
            Caller::Admin => "Emulator PAT User".to_owned(),
            Caller::ServicePrincipal { .. } => "Emulator Service Principal".to_owned(),
            Caller::Agent { agent_id, .. } => format!("Agent {agent_id}"),
        };
        let identity = json!({
            "id": instance_id.to_string(),
            "descriptor": "Microsoft.TeamFoundation.Identity;emulator",
            "providerDisplayName": name,
            "isActive": true,
        });
        body["authenticatedUser"] = identity.clone();
        body["authorizedUser"] = identity;
    }
    Json(body).into_response()
}

/// `OPTIONS _apis` and `OPTIONS _apis/`: the resource-location table.
pub async fn options(State(shared): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = optional_caller(&shared, &headers) {
        return *r;
    }
    Json(Collection::new(LOCATIONS.to_vec())).into_response()
}

/// `GET _apis/ResourceAreas`: empty means "everything lives under this base URL".
pub async fn resource_areas(State(shared): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = optional_caller(&shared, &headers) {
        return *r;
    }
    Json(Collection::<serde_json::Value>::new(Vec::new())).into_response()
}

/// `GET _apis/FeatureFlags/{name}`: every flag is off.
pub async fn feature_flag(_caller: Caller, Path((_org, name)): Path<(String, String)>) -> Response {
    Json(json!({ "name": name, "effectiveState": "Off" })).into_response()
}

/// Telemetry / CustomerIntelligence posts are accepted and dropped.
pub async fn telemetry() -> StatusCode {
    StatusCode::NO_CONTENT
}
