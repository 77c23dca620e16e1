//! Microsoft Entra workload identity in the sandbox: the operator's service account in
//! kube-sim and, in the emulator's Entra, an application whose federated credential trusts
//! that service account on kube-sim's issuer, added to the organization as a pool
//! administrator. No PAT Secret exists then.

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::{FIELD_MANAGER, NAMESPACE, SandboxError};

/// Directory (tenant) id of the sandbox's Entra application.
pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// Application (client) id of the sandbox's Entra application.
pub const CLIENT_ID: &str = "0d9c2a5e-3c4b-4e7a-9f1d-6b2a8c3e5f70";
/// The service account whose tokens the operator exchanges.
pub const SERVICE_ACCOUNT: &str = "azp-operator";

/// `spec.auth` of an AgentPool using the sandbox's workload identity.
pub fn auth() -> Value {
    json!({"workloadIdentity": {
        "tenantId": TENANT_ID,
        "clientId": CLIENT_ID,
        "serviceAccountName": SERVICE_ACCOUNT,
    }})
}

/// The service account (server-side apply).
pub async fn create_service_account(client: &Client) -> Result<(), SandboxError> {
    let account: ServiceAccount = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE},
    }))
    .map_err(|e| SandboxError::Kube(e.to_string()))?;
    Api::<ServiceAccount>::namespaced(client.clone(), NAMESPACE)
        .patch(
            SERVICE_ACCOUNT,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&account),
        )
        .await?;
    Ok(())
}

/// The body of `POST /_emulator/entra/applications` for an application trusting the
/// service account on `issuer`.
pub fn application(issuer: &str) -> Value {
    json!({
        "tenantId": TENANT_ID,
        "clientId": CLIENT_ID,
        "federatedCredentials": [{
            "issuer": issuer,
            "subject": format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"),
        }],
        "organizationMember": true,
        "poolAdministrator": true,
    })
}
