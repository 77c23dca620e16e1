//! Every example validates: AgentPools against the generated CRD (check-jsonschema on the
//! openAPIV3Schema, and a real create on kube-sim, which also evaluates the CEL rules), all YAML
//! with yamllint, the Terraform as HCL (python-hcl2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use azp_kube_sim::{KubeSimConfig, RunningKubeSim};
use common::*;
use kube::api::{Api, DynamicObject, GroupVersionKind, PostParams};
use kube::discovery::ApiResource;

/// AgentPool documents from the example files and from the chart's `agentPools:` example values.
fn example_agentpools() -> Vec<(String, serde_json::Value)> {
    let mut pools = Vec::new();
    for file in [
        "agentpool-basic.yaml",
        "agentpool-buildkit-ecr.yaml",
        "agentpool-arm64.yaml",
        "agentpool-workload-identity.yaml",
    ] {
        let path = workspace().join("examples").join(file);
        for doc in documents(&std::fs::read_to_string(&path).unwrap()) {
            pools.push((file.to_owned(), doc));
        }
    }
    let helm = Helm::new();
    for values in example_values() {
        for doc in documents(&helm.render(&[&values], &[])) {
            if doc["kind"] == "AgentPool" {
                pools.push((format!("chart with {}", values.display()), doc));
            }
        }
    }
    assert!(
        pools.len() >= 4,
        "expected the three example files and the chart's example AgentPool"
    );
    pools
}

/// The CRD's openAPIV3Schema as a JSON Schema file.
fn crd_schema_file(dir: &tempfile::TempDir) -> PathBuf {
    let crd = documents(&std::fs::read_to_string(workspace().join("crds/agentpool.yaml")).unwrap());
    let schema = &crd[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let path = dir.path().join("agentpool.schema.json");
    std::fs::write(&path, serde_json::to_string(schema).unwrap()).unwrap();
    path
}

fn check_jsonschema(
    schema: &std::path::Path,
    document: &serde_json::Value,
) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.json");
    std::fs::write(&file, serde_json::to_string(document).unwrap()).unwrap();
    Command::new(tool("venv/bin/check-jsonschema"))
        .arg("--schemafile")
        .arg(schema)
        .arg(&file)
        .output()
        .unwrap()
}

#[test]
fn agentpool_examples_match_the_crd_schema() {
    let dir = tempfile::tempdir().unwrap();
    let schema = crd_schema_file(&dir);
    for (source, pool) in example_agentpools() {
        let output = check_jsonschema(&schema, &pool);
        assert!(output.status.success(), "{source}: {}", text(&output));
    }
    // The schema check is not vacuous: a missing required field fails it.
    let (_, mut broken) = example_agentpools().remove(0);
    broken["spec"].as_object_mut().unwrap().remove("pool");
    let output = check_jsonschema(&schema, &broken);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("'pool' is a required property"),
        "{}",
        text(&output)
    );
}

async fn start_sim() -> (RunningKubeSim, Api<DynamicObject>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        workspace().join("crds/agentpool.yaml"),
        dir.path().join("agentpool.yaml"),
    )
    .unwrap();
    let config = KubeSimConfig {
        crds_dir: Some(dir.path().to_path_buf()),
        extra_namespaces: vec!["azp".into(), "azp-system".into()],
        ..KubeSimConfig::default()
    };
    let sim = RunningKubeSim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("azp.dev", "v1alpha1", "AgentPool"),
        "agentpools",
    );
    let api = Api::namespaced_with(sim.client().await, "azp", &resource);
    (sim, api, dir)
}

#[tokio::test]
async fn agentpool_examples_are_accepted_by_the_api_server_with_cel_rules() {
    let (sim, api, _dir) = start_sim().await;
    for (index, (source, mut pool)) in example_agentpools().into_iter().enumerate() {
        // Several sources share names; the server checks content, not names.
        pool["metadata"]["name"] = format!("example-{index}").into();
        pool["metadata"]["namespace"] = "azp".into();
        let object: DynamicObject = serde_json::from_value(pool).unwrap();
        if let Err(error) = api.create(&PostParams::default(), &object).await {
            panic!("{source} was rejected: {error}");
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_api_server_rejects_an_example_that_breaks_a_cel_rule() {
    // Guards the test above: kube-sim really evaluates the CRD's rules.
    let (sim, api, _dir) = start_sim().await;
    let (_, mut pool) = example_agentpools().remove(0);
    pool["metadata"]["namespace"] = "azp".into();
    pool["spec"]["scaling"]["minIdle"] = 50.into();
    pool["spec"]["scaling"]["maxAgents"] = 2.into();
    let object: DynamicObject = serde_json::from_value(pool).unwrap();
    let error = api
        .create(&PostParams::default(), &object)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("minIdle must not exceed maxAgents"),
        "{error}"
    );
    sim.shutdown().await;
}

#[test]
fn every_yaml_example_passes_yamllint() {
    let examples = workspace().join("examples");
    let mut files = vec![
        examples.join("agentpool-basic.yaml"),
        examples.join("agentpool-buildkit-ecr.yaml"),
        examples.join("agentpool-arm64.yaml"),
        examples.join("azure-pipelines.yml"),
        examples.join("templates/build.yml"),
        workspace().join("charts/azp-operator/values.yaml"),
        workspace().join("charts/azp-operator/Chart.yaml"),
    ];
    files.extend(example_values());
    // relaxed, plus long lines allowed: comments carry URLs and commands.
    let config = "{extends: relaxed, rules: {line-length: disable}}";
    let output = Command::new(tool("venv/bin/yamllint"))
        .args(["--strict", "-d", config])
        .args(&files)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn pipeline_builds_with_azp_agent_and_no_longer_uses_a_service_connection() {
    let examples = workspace().join("examples");
    let pipeline =
        documents(&std::fs::read_to_string(examples.join("azure-pipelines.yml")).unwrap());
    let template_text = std::fs::read_to_string(examples.join("templates/build.yml")).unwrap();
    let template = documents(&template_text);
    let pipeline = &pipeline[0];
    assert_eq!(pipeline["pool"]["name"], "eks-buildkit");
    // The job's demand matches the capability the buildkit AgentPool advertises.
    let pool =
        documents(&std::fs::read_to_string(examples.join("agentpool-buildkit-ecr.yaml")).unwrap());
    assert_eq!(pool[0]["spec"]["pool"], "eks-buildkit");
    for demand in pipeline["pool"]["demands"].as_array().unwrap() {
        assert!(
            pool[0]["spec"]["capabilities"][demand.as_str().unwrap()].is_string(),
            "demand {demand} is not a capability of the example AgentPool"
        );
    }
    let steps = serde_json::to_string(&pipeline["stages"]).unwrap();
    assert!(steps.contains("templates/build.yml"));
    let step_names: Vec<&str> = template[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["script"].as_str())
        .collect();
    assert!(
        step_names
            .iter()
            .any(|s| s.starts_with("azp-agent build-push")),
        "{step_names:?}"
    );
    // The digest output the deploy stage reads is the one build-push sets on step "buildpush".
    assert!(template_text.contains("name: buildpush"));
    assert!(steps.contains("buildpush.imageDigest"));
    // No Docker@2 / ECRPushImage@1 tasks and no AWS service connection remain (outside comments).
    for (name, doc) in [
        ("azure-pipelines.yml", pipeline),
        ("templates/build.yml", &template[0]),
    ] {
        let body = serde_json::to_string(doc).unwrap();
        for banned in ["Docker@2", "ECRPushImage@1", "awsCredentials"] {
            assert!(!body.contains(banned), "{name} still uses {banned}");
        }
    }
}

/// python-hcl2 parses every `*.tf` file of a directory and prints what the assertions need, as
/// JSON (files, resources, data sources, and all the text).
const TERRAFORM_SUMMARY: &str = r#"
import glob, json, os, sys, hcl2
out = {"files": [], "resources": [], "data": [], "text": ""}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.tf"))):
    with open(path) as f:
        text = f.read()
    doc = hcl2.loads(text)
    out["files"].append(os.path.basename(path))
    out["text"] += text
    for block in doc.get("resource", []):
        for kind, named in block.items():
            for name in named:
                out["resources"].append(kind.strip("\"") + "." + name.strip("\""))
    for block in doc.get("data", []):
        for kind, named in block.items():
            for name in named:
                out["data"].append(kind.strip("\"") + "." + name.strip("\""))
print(json.dumps(out))
"#;

/// [`TERRAFORM_SUMMARY`] of `dir`; panics with the parser's message when a file does not parse.
fn terraform_summary(dir: &std::path::Path) -> serde_json::Value {
    let output = Command::new(tool("venv/bin/python"))
        .args(["-c", TERRAFORM_SUMMARY])
        .arg(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn terraform_parses_as_hcl_and_holds_the_private_push_path() {
    let parsed = terraform_summary(&workspace().join("examples/terraform"));
    let resources = parsed["resources"].to_string();
    for expected in [
        "aws_ecr_repository.app",
        "aws_ecr_repository_policy.app",
        "aws_vpc_endpoint.interface",
        "aws_vpc_endpoint.s3",
        "aws_iam_role.agent",
        // The build cache repository and the lifecycle policy that keeps it bounded.
        "aws_ecr_repository.build_cache",
        "aws_ecr_lifecycle_policy.build_cache",
    ] {
        assert!(
            resources.contains(expected),
            "missing {expected} in {resources}"
        );
    }
    let all = parsed["text"].as_str().unwrap();
    for expected in [
        "ecr.api",
        "ecr.dkr",
        ".sts\"",
        "aws:SourceVpce",
        "sts:AssumeRoleWithWebIdentity",
        "system:serviceaccount:",
        "vpc_endpoint_type = \"Gateway\"",
    ] {
        assert!(all.contains(expected), "terraform lacks {expected}");
    }

    // The parser is strict enough to notice a broken file.
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(
        broken.path().join("bad.tf"),
        "resource \"x\" \"y\" {\n  a = \n",
    )
    .unwrap();
    let output = Command::new(tool("venv/bin/python"))
        .args(["-c", TERRAFORM_SUMMARY])
        .arg(broken.path())
        .output()
        .unwrap();
    assert!(!output.status.success(), "{}", text(&output));
}

#[test]
fn vm_terraform_parses_and_gives_a_private_instance_push_rights_on_one_repository() {
    let dir = workspace().join("examples/vm/terraform");
    let parsed = terraform_summary(&dir);
    let resources = parsed["resources"].to_string();
    for expected in [
        "aws_instance.vm_agent",
        "aws_iam_instance_profile.vm_agent",
        "aws_iam_role.vm_agent",
        "aws_iam_role_policy.vm_agent_push",
        "aws_ecr_repository.app",
        "aws_ecr_repository_policy.app",
        // The endpoints come from the EKS example's own file.
        "aws_vpc_endpoint.interface",
        "aws_vpc_endpoint.s3",
    ] {
        assert!(
            resources.contains(expected),
            "missing {expected} in {resources}"
        );
    }
    assert!(
        !resources.contains("aws_ecr_repository.build_cache"),
        "the VM pushes to one repository: {resources}"
    );
    // The endpoints and the repository with its push-only-through-the-endpoint policy are the
    // EKS example's own files, so the two examples cannot drift apart.
    for file in ["vpc_endpoints.tf", "ecr.tf"] {
        let linked = std::fs::read_link(dir.join(file)).unwrap();
        assert_eq!(linked, PathBuf::from(format!("../../terraform/{file}")));
    }
    let all = parsed["text"].as_str().unwrap();
    for expected in [
        "associate_public_ip_address = false",
        "http_tokens                 = \"required\"",
        "\"ec2.amazonaws.com\"",
        "resources = [aws_ecr_repository.app.arn]",
        "aws:SourceVpce",
    ] {
        assert!(all.contains(expected), "VM terraform lacks {expected}");
    }
    // No static key anywhere: the instance role is the identity.
    for banned in ["aws_iam_access_key", "aws_iam_user"] {
        assert!(!all.contains(banned), "VM terraform has {banned}");
    }
    // The user data installs the agent (twice: register and run homes), azp-agent and the unit,
    // and carries no PAT.
    let user_data = std::fs::read_to_string(dir.join("user-data.sh.tftpl")).unwrap();
    for expected in [
        "/usr/local/bin/azp-agent",
        "sha256sum -c",
        "tar -xzf /tmp/azp-agent-package.tar.gz -C /opt/azp-agent",
        "tar -xzf /tmp/azp-agent-package.tar.gz -C /home/azp-job/agent",
        "/etc/systemd/system/azp-agent.service",
        "systemctl enable azp-agent.service",
        "AZP_EXPECT_IDENTITY=instance-profile",
    ] {
        assert!(user_data.contains(expected), "user data lacks {expected}");
    }
    assert!(
        !user_data.contains("> /etc/azp-agent/pat"),
        "user data writes the PAT"
    );
    for banned in [
        "variable \"pat\"",
        "variable \"azp_pat\"",
        "variable \"azp_token\"",
    ] {
        assert!(
            !all.contains(banned),
            "a PAT variable ends up in user data: {banned}"
        );
    }
}
