//! The agent pod the operator renders, for each `spec.buildkit.mode`, passes
//! `kubernetes-validate --strict` (the Kubernetes OpenAPI schema, unknown fields rejected).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use azp_operator::crd::AgentPool;
use azp_operator::render::render_pod;
use serde_json::json;

fn kubernetes_validate() -> PathBuf {
    let dir = std::env::var_os("AZP_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/peers"));
    let tool = dir.join("venv/bin/kubernetes-validate");
    assert!(
        tool.exists(),
        "{} is missing: run `make peers`",
        tool.display()
    );
    tool
}

fn pool(buildkit: serde_json::Value) -> AgentPool {
    serde_json::from_value(json!({
        "apiVersion": "azp.dev/v1alpha1",
        "kind": "AgentPool",
        "metadata": {"name": "linux", "namespace": "ci", "uid": "u-1"},
        "spec": {
            "organization": "https://dev.azure.com/contoso",
            "pool": "eks",
            "auth": {"patSecretRef": {"name": "azp-pat", "key": "token"}},
            "agent": {"image": "agent:1"},
            "buildkit": buildkit,
        },
    }))
    .unwrap()
}

#[test]
fn the_pod_of_every_buildkit_mode_passes_kubernetes_validate_strict() {
    let cases = [
        ("rootless", json!({"enabled": true})),
        ("privileged", json!({"enabled": true, "mode": "privileged"})),
        (
            "remote",
            json!({"enabled": true, "mode": "remote", "remote": {
                "address": "tcp://buildkitd.buildkit.svc:1234",
                "clientSecretName": "buildkit-client"
            }}),
        ),
        ("disabled", json!({"enabled": false})),
    ];
    for (mode, buildkit) in cases {
        let pod = render_pod(&pool(buildkit), "linux-abcde").unwrap();
        let yaml = serde_yaml::to_string(&pod).unwrap();
        let (ok, text) = validate(&yaml);
        assert!(ok, "{mode}: {text}\n{yaml}");
        assert!(!text.contains("ERROR"), "{mode}: {text}");
        assert!(
            text.contains("passed for resource pod/linux-abcde"),
            "{mode}: nothing validated: {text}"
        );
    }
    // The validator is strict enough to notice a field Kubernetes does not know.
    let pod = render_pod(&pool(json!({"enabled": true})), "linux-abcde").unwrap();
    let mut value = serde_json::to_value(&pod).unwrap();
    value["spec"]["containers"][0]["privilegedd"] = json!(true);
    let (ok, text) = validate(&serde_yaml::to_string(&value).unwrap());
    assert!(!ok, "an unknown field passed: {text}");
}

/// Runs `kubernetes-validate --strict -` on `yaml`: success and its output.
fn validate(yaml: &str) -> (bool, String) {
    let tool = kubernetes_validate();
    {
        let mut child = Command::new(&tool)
            .args(["--strict", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }
}
