#![allow(clippy::unwrap_used, clippy::expect_used)]

use azp_ado_emulator::standin::settings::AgentRoot;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::files::{AgentSettings, Credentials, registration_files};
use super::key::AgentKey;
use super::*;

fn files() -> BTreeMap<String, Vec<u8>> {
    let key = AgentKey::generate().unwrap();
    let settings = AgentSettings {
        agent_id: 42,
        agent_name: "ci.linux-b7x2k",
        pool_id: 3,
        pool_name: "Linux",
        server_url: "https://dev.azure.com/contoso",
        work_folder: "/azp/_work",
    };
    let credentials = Credentials::oauth(
        "1b6fd8a4-54f3-4ba2-8f9e-0e7b4a7a1f1c",
        "https://vssps.dev.azure.com/contoso/_apis/oauth2/token",
    );
    registration_files(&settings, &credentials, &key).unwrap()
}

#[test]
fn the_stand_in_agent_reads_the_minted_files_as_config_sh_left_them() {
    let files = files();
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![".agent", ".credentials", ".credentials_rsaparams"]
    );
    let home = tempfile::tempdir().unwrap();
    for (name, bytes) in &files {
        std::fs::write(home.path().join(name), bytes).unwrap();
    }
    let root = AgentRoot::new(home.path());
    assert!(root.is_configured());
    let settings = root.read_settings().unwrap();
    assert_eq!(settings.agent_id, 42);
    assert_eq!(settings.agent_name, "ci.linux-b7x2k");
    assert_eq!(settings.pool_id, 3);
    assert_eq!(settings.pool_name, "Linux");
    assert_eq!(settings.server_url, "https://dev.azure.com/contoso");
    assert_eq!(settings.work_folder, "/azp/_work");
    let credentials = root.read_credentials().unwrap();
    assert_eq!(credentials.scheme, "OAuth");
    assert_eq!(
        credentials.data.client_id,
        "1b6fd8a4-54f3-4ba2-8f9e-0e7b4a7a1f1c"
    );
    assert_eq!(
        credentials.data.token_endpoint(),
        "https://vssps.dev.azure.com/contoso/_apis/oauth2/token"
    );
    // The stand-in rebuilds the private key from the nine parameters, as .NET's
    // ImportParameters does; inconsistent parameters are refused.
    root.read_key().unwrap();
}

#[test]
fn a_corrupted_key_file_is_refused_by_the_stand_in() {
    let files = files();
    let home = tempfile::tempdir().unwrap();
    for (name, bytes) in &files {
        std::fs::write(home.path().join(name), bytes).unwrap();
    }
    let mut params: serde_json::Value =
        serde_json::from_slice(&files[files::RSA_PARAMS_FILE]).unwrap();
    // Another key's prime: the parameters no longer belong together.
    let other: serde_json::Value =
        serde_json::to_value(AgentKey::generate().unwrap().params()).unwrap();
    params["p"] = other["p"].clone();
    std::fs::write(
        home.path().join(files::RSA_PARAMS_FILE),
        serde_json::to_vec(&params).unwrap(),
    )
    .unwrap();
    assert!(AgentRoot::new(home.path()).read_key().is_err());
}

#[test]
fn the_secret_belongs_to_its_pod_and_holds_only_the_three_files() {
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("linux-b7x2k".into()),
            namespace: Some("ci".into()),
            uid: Some("0b5c-uid".into()),
            ..ObjectMeta::default()
        },
        ..Pod::default()
    };
    let secret = registration_secret(&pod, "linux", files());
    assert_eq!(
        secret.metadata.name.as_deref(),
        Some("linux-b7x2k-registration")
    );
    assert_eq!(secret.metadata.namespace.as_deref(), Some("ci"));
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("Pod", "linux-b7x2k", "0b5c-uid")
    );
    assert_eq!(secret.immutable, Some(true));
    let keys: Vec<&str> = secret
        .data
        .as_ref()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec![".agent", ".credentials", ".credentials_rsaparams"]
    );
    assert_eq!(
        secret.metadata.labels.as_ref().unwrap()[labels::COMPONENT],
        COMPONENT_REGISTRATION
    );
}

#[test]
fn the_registration_advertises_ownership_and_the_pool_capabilities() {
    let pool: crate::crd::AgentPool = serde_json::from_value(serde_json::json!({
        "apiVersion": "azp.dev/v1alpha1",
        "kind": "AgentPool",
        "metadata": {"name": "linux", "namespace": "ci", "uid": "u"},
        "spec": {
            "organization": "https://dev.azure.com/contoso",
            "pool": "Linux",
            "auth": {"patSecretRef": {"name": "pat", "key": "token"}},
            "capabilities": {"buildkit": "true"},
            "agent": {"image": "azp-agent:1"}
        }
    }))
    .unwrap();
    let caps = capabilities(&pool, "ci.linux-b7x2k");
    assert_eq!(caps[naming::OWNER_CAPABILITY], "ci/linux");
    assert_eq!(caps["buildkit"], "true");
    assert_eq!(caps["Agent.Name"], "ci.linux-b7x2k");
    assert_eq!(caps["Agent.OS"], "Linux");
}
