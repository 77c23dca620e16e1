//! The Helm chart, checked with real `helm` (lint --strict, template) and `kubernetes-validate --strict`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn kubernetes_validate(rendered: &str) -> std::process::Output {
    let mut command = Command::new(tool("venv/bin/kubernetes-validate"));
    command.args(["--strict", "-"]);
    run_with_stdin(command, rendered)
}

#[test]
fn helm_lint_strict_passes_for_default_and_example_values() {
    let helm = Helm::new();
    let mut cases: Vec<Vec<&Path>> = vec![vec![]];
    let examples = example_values();
    cases.extend(examples.iter().map(|file| vec![file.as_path()]));
    for values in cases {
        let mut command = helm.command();
        command.args(["lint", "--strict"]).arg(chart());
        for file in &values {
            command.arg("--values").arg(file);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{values:?}: {}", text(&output));
    }
}

#[test]
fn every_rendered_manifest_passes_kubernetes_validate_strict() {
    let helm = Helm::new();
    let examples = example_values();
    let mut cases: Vec<(String, String)> = vec![("default".into(), helm.render(&[], &[]))];
    for file in &examples {
        cases.push((file.display().to_string(), helm.render(&[file], &[])));
    }
    for (name, rendered) in cases {
        let docs = documents(&rendered);
        // The CRD is part of the stream (--include-crds), so it is validated too.
        assert_eq!(
            of_kind(&docs, "CustomResourceDefinition").len(),
            1,
            "{name}"
        );
        // kubernetes-validate knows no custom kinds; AgentPools and ServiceMonitors are checked
        // against their own schemas elsewhere (examples.rs), so they are left out here.
        let builtin: Vec<String> = docs
            .iter()
            .filter(|d| d["kind"] != "AgentPool" && d["kind"] != "ServiceMonitor")
            .map(|d| serde_yaml::to_string(d).unwrap())
            .collect();
        let output = kubernetes_validate(&builtin.join("---\n"));
        assert!(output.status.success(), "{name}: {}", text(&output));
        assert!(
            !text(&output).contains("ERROR"),
            "{name}: {}",
            text(&output)
        );
    }
}

#[test]
fn kubernetes_validate_catches_a_broken_manifest() {
    // Guards the check above against a validator that passes everything.
    let helm = Helm::new();
    let rendered = helm.render(&[], &[]);
    let broken = rendered.replacen("replicas: 2", "replicas: \"two\"", 1);
    assert_ne!(broken, rendered);
    let output = kubernetes_validate(&broken);
    assert!(!output.status.success(), "{}", text(&output));
}

#[test]
fn values_schema_rejects_wrong_types_and_unknown_keys() {
    let helm = Helm::new();
    for set in [
        "replicaCount=two",
        "watch.allNamespaces=maybe",
        "port=80",
        "logFormat=xml",
        "image.digest=latest",
        "leaderElection.leaseDurationSeconds=soon",
        "unknownKey=1",
        "serviceAccount.annotations.role=1",
        "extraArgs[0]=lease-duration-seconds=30",
        "agentNetworkPolicy.httpsCidrs[0]=everywhere",
        "grafanaDashboard.enabled=yes",
        "operator.podStartupTimeoutSeconds=0",
        "operator.podFinishTimeoutSeconds=0",
        "operator.mintedKeyReserve=-1",
        "operator.mintedKeyReserve=lots",
        "operator.maxJobListBytes=512",
        "operator.maxJobListBytes=64MiB",
    ] {
        let error = helm
            .template(&[], &[set])
            .expect_err(&format!("--set {set} should be rejected"));
        assert!(
            error.contains("schema") || error.contains("values don't meet"),
            "{set}: {error}"
        );
    }
}

#[test]
fn unsafe_combinations_fail_with_an_explanation() {
    let helm = Helm::new();
    let error = helm
        .template(&[], &["leaderElection.enabled=false"])
        .unwrap_err();
    assert!(
        error.contains("needs leaderElection.enabled=true"),
        "{error}"
    );
    let error = helm
        .template(&[], &["serviceHook.enabled=true"])
        .unwrap_err();
    assert!(error.contains("serviceHook.existingSecret"), "{error}");
    // One replica without election is allowed.
    helm.render(&[], &["leaderElection.enabled=false", "replicaCount=1"]);
}

#[test]
fn deployment_is_hardened_highly_available_and_never_allows_insecure_http() {
    let helm = Helm::new();
    let docs = documents(&helm.render(&[], &[]));
    let deployment = of_kind(&docs, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(container["resources"]["requests"].is_object());
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "run");
    assert!(args.contains(&"--leader-election"), "{args:?}");
    assert!(
        args.contains(&"--leader-election-namespace=azp-system"),
        "{args:?}"
    );
    assert!(args.contains(&"--namespace=azp-system"), "{args:?}");
    assert_eq!(of_kind(&docs, "PodDisruptionBudget").len(), 1);
    for file in example_values() {
        let docs = documents(&helm.render(&[&file], &[]));
        let container =
            &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
        let wiring = format!("{} {}", container["args"], container["env"]);
        assert!(!wiring.contains("insecure"), "{}: {wiring}", file.display());
        assert!(!wiring.contains("INSECURE"), "{}: {wiring}", file.display());
    }
}

#[test]
fn probes_and_service_use_the_operators_single_http_port() {
    let helm = Helm::new();
    let docs = documents(&helm.render(&[], &["port=9090"]));
    let container = &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 9090);
    assert!(
        container["args"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("--metrics-addr=0.0.0.0:9090"))
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let service = of_kind(&docs, "Service")[0];
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
}

#[test]
fn service_hook_secret_is_mounted_as_a_file_and_passed_by_path() {
    let helm = Helm::new();
    let docs = documents(&helm.render(
        &[],
        &[
            "serviceHook.enabled=true",
            "serviceHook.existingSecret=azp-hook",
        ],
    ));
    let pod = &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["secret"]["secretName"], "azp-hook");
    let args = pod["containers"][0]["args"].as_array().unwrap();
    assert!(args.contains(&serde_json::json!(
        "--hook-secret-file=/etc/azp-operator/hook/secret"
    )));
    assert_eq!(
        pod["containers"][0]["volumeMounts"][0]["mountPath"],
        "/etc/azp-operator/hook"
    );
}

#[test]
fn service_account_carries_the_irsa_annotation() {
    let helm = Helm::new();
    let role = "arn:aws:iam::123456789012:role/azp-operator";
    let docs = documents(&helm.render(
        &[],
        &[&format!(
            "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn={role}"
        )],
    ));
    let account = of_kind(&docs, "ServiceAccount")[0];
    assert_eq!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        role
    );
}

#[test]
fn optional_servicemonitor_networkpolicy_and_agentpools_render_from_the_example() {
    let helm = Helm::new();
    let docs = documents(&helm.render(&[&example_values()[0]], &[]));
    assert_eq!(of_kind(&docs, "ServiceMonitor").len(), 1);
    // The operator's own policy and the agent pods' one.
    assert_eq!(of_kind(&docs, "NetworkPolicy").len(), 2);
    assert_eq!(
        of_kind(&docs, "ConfigMap").len(),
        1,
        "the Grafana dashboard"
    );
    let pools = of_kind(&docs, "AgentPool");
    assert_eq!(pools.len(), 1);
    assert_eq!(pools[0]["metadata"]["namespace"], "azp");
    let defaults = documents(&helm.render(&[], &[]));
    assert!(of_kind(&defaults, "ServiceMonitor").is_empty());
    assert!(of_kind(&defaults, "NetworkPolicy").is_empty());
    assert!(of_kind(&defaults, "AgentPool").is_empty());
}

#[test]
fn chart_crd_is_the_generated_crd() {
    let generated = std::fs::read_to_string(workspace().join("crds/agentpool.yaml")).unwrap();
    let shipped = std::fs::read_to_string(chart().join("crds/agentpool.yaml")).unwrap();
    assert!(
        generated == shipped,
        "charts/azp-operator/crds/agentpool.yaml differs from crds/agentpool.yaml: run `make generate`"
    );
}

#[test]
fn notes_explain_the_crd_upgrade_path() {
    let helm = Helm::new();
    let mut command = helm.command();
    command
        .args([
            "install",
            "azp",
            "--dry-run=client",
            "--namespace",
            "azp-system",
        ])
        .arg(chart());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("helm show crds"), "{stdout}");
    assert!(
        stdout.contains("reconciles AgentPools in namespace azp-system"),
        "{stdout}"
    );
}

#[test]
fn every_flag_the_chart_passes_exists_in_the_operators_cli() {
    // The clap `RunArgs` fields in operator/src/main.rs, kebab-cased, are the accepted long flags.
    let main = std::fs::read_to_string(workspace().join("operator/src/main.rs")).unwrap();
    let field = regex::Regex::new(r"#\[arg\(long[^\n]*\n\s*(\w+):").unwrap();
    let accepted: Vec<String> = field
        .captures_iter(&main)
        .map(|c| format!("--{}", c[1].replace('_', "-")))
        .collect();
    assert!(accepted.contains(&"--namespace".to_owned()), "{accepted:?}");
    let helm = Helm::new();
    let sets = [
        vec![],
        vec!["watch.allNamespaces=true"],
        vec![
            "serviceHook.enabled=true",
            "serviceHook.existingSecret=hook",
        ],
    ];
    for set in sets {
        let docs = documents(&helm.render(&[], &set));
        let args =
            of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
                .as_array()
                .unwrap()
                .clone();
        for arg in args.iter().skip(1) {
            let flag = arg.as_str().unwrap().split('=').next().unwrap();
            assert!(
                accepted.iter().any(|a| a == flag),
                "{set:?}: the operator has no {flag}"
            );
        }
    }
}

#[test]
fn the_hook_ingress_exposes_only_the_hook_port_and_passes_kubernetes_validate() {
    let helm = Helm::new();
    let sets = [
        "serviceHook.enabled=true",
        "serviceHook.existingSecret=azp-hook",
        "serviceHook.ingress.enabled=true",
        "serviceHook.ingress.className=nginx",
        "serviceHook.ingress.host=azp-hooks.example.com",
        "serviceHook.ingress.tls.secretName=azp-hooks-tls",
        "serviceHook.ingress.annotations.cert-manager\\.io/cluster-issuer=letsencrypt",
    ];
    let rendered = helm.render(&[], &sets);
    let docs = documents(&rendered);
    let ingress = of_kind(&docs, "Ingress");
    assert_eq!(ingress.len(), 1);
    let ingress = ingress[0];
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
    assert_eq!(ingress["spec"]["tls"][0]["secretName"], "azp-hooks-tls");
    let paths = ingress["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap();
    assert_eq!(paths.len(), 1, "only the hook path is exposed");
    assert_eq!(paths[0]["path"], "/hooks/azure-devops");
    assert_eq!(paths[0]["backend"]["service"]["port"]["name"], "hook");
    // The hook has its own listener and port; /metrics stays on the other one.
    let container = &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    let args = container["args"].as_array().unwrap();
    assert!(args.contains(&serde_json::json!("--hook-addr=0.0.0.0:8081")));
    assert_eq!(container["ports"][1]["name"], "hook");
    let service = of_kind(&docs, "Service")[0];
    assert_eq!(service["spec"]["ports"][1]["targetPort"], "hook");
    let builtin: Vec<String> = docs
        .iter()
        .filter(|d| d["kind"] != "AgentPool" && d["kind"] != "ServiceMonitor")
        .map(|d| serde_yaml::to_string(d).unwrap())
        .collect();
    let output = kubernetes_validate(&builtin.join("---\n"));
    assert!(output.status.success(), "{}", text(&output));
    assert!(!text(&output).contains("ERROR"), "{}", text(&output));
    // Without the Ingress nothing exposes the hook outside the cluster.
    let defaults = documents(&helm.render(&[], &sets[..2]));
    assert!(of_kind(&defaults, "Ingress").is_empty());
    for service in of_kind(&defaults, "Service") {
        assert_eq!(service["spec"]["type"], "ClusterIP");
    }
    // An Ingress without a host or without the hook is refused with an explanation.
    let error = helm
        .template(&[], &["serviceHook.ingress.enabled=true"])
        .unwrap_err();
    assert!(error.contains("needs serviceHook.enabled=true"), "{error}");
    let error = helm
        .template(&[], &[sets[0], sets[1], sets[2]])
        .unwrap_err();
    assert!(error.contains("serviceHook.ingress.host"), "{error}");
}

#[test]
fn the_grafana_dashboard_is_a_configmap_for_the_sidecar_holding_the_shipped_json() {
    let helm = Helm::new();
    let docs = documents(&helm.render(
        &[],
        &[
            "grafanaDashboard.enabled=true",
            "grafanaDashboard.namespace=monitoring",
        ],
    ));
    let maps = of_kind(&docs, "ConfigMap");
    assert_eq!(maps.len(), 1, "{maps:?}");
    let map = maps[0];
    assert_eq!(map["metadata"]["namespace"], "monitoring");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(chart().join("dashboards/azp-operator.json")).unwrap(),
    )
    .unwrap();
    let rendered: serde_json::Value =
        serde_json::from_str(map["data"]["azp-operator.json"].as_str().unwrap()).unwrap();
    assert_eq!(rendered, shipped);
    // Off by default: nothing for a cluster without Grafana.
    assert!(of_kind(&documents(&helm.render(&[], &[])), "ConfigMap").is_empty());
}

#[test]
fn the_agent_network_policy_selects_the_operators_pods_and_allows_only_dns_https_and_buildkit() {
    let helm = Helm::new();
    let docs = documents(&helm.render(
        &[],
        &[
            "watch.namespace=azp",
            "agentNetworkPolicy.enabled=true",
            "agentNetworkPolicy.remoteBuildkit.cidr=10.20.0.0/16",
        ],
    ));
    let policies: Vec<_> = of_kind(&docs, "NetworkPolicy")
        .into_iter()
        .filter(|p| p["metadata"]["name"].as_str().unwrap().ends_with("-agents"))
        .collect();
    assert_eq!(policies.len(), 1);
    let policy = policies[0];
    assert_eq!(policy["metadata"]["namespace"], "azp");
    // The labels the operator puts on every agent pod (azp-contract).
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        serde_json::json!({
            azp_contract::labels::MANAGED_BY: azp_contract::labels::MANAGED_BY_VALUE,
            azp_contract::labels::COMPONENT: azp_contract::labels::COMPONENT_AGENT,
        })
    );
    assert_eq!(policy["spec"]["ingress"], serde_json::json!([]));
    let ports: Vec<u64> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["ports"].as_array().unwrap().clone())
        .map(|port| port["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [53, 53, 443, 1234]);
    // Watching every namespace, the chart cannot guess where the pods run.
    let error = helm
        .template(
            &[],
            &[
                "watch.allNamespaces=true",
                "agentNetworkPolicy.enabled=true",
            ],
        )
        .unwrap_err();
    assert!(
        error.contains("needs agentNetworkPolicy.namespaces"),
        "{error}"
    );
    let docs = documents(&helm.render(
        &[],
        &[
            "watch.allNamespaces=true",
            "agentNetworkPolicy.enabled=true",
            "agentNetworkPolicy.namespaces={team-a,team-b}",
        ],
    ));
    assert_eq!(of_kind(&docs, "NetworkPolicy").len(), 2);
}

#[test]
fn operator_env_env_from_extra_args_and_startup_flags_reach_the_container() {
    let helm = Helm::new();
    let docs = documents(&helm.render(
        &[],
        &[
            "env[0].name=HTTPS_PROXY",
            "env[0].value=http://proxy.internal:3128",
            "envFrom[0].configMapRef.name=proxy-settings",
            "extraArgs[0]=--lease-duration-seconds=30",
            "operator.podStartupTimeoutSeconds=900",
            "operator.podFinishTimeoutSeconds=120",
            "operator.maxJobListBytes=134217728",
            "operator.mintedKeyReserve=0",
        ],
    ));
    let container = &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_array().unwrap();
    assert!(
        env.iter()
            .any(|e| e["name"] == "HTTPS_PROXY" && e["value"] == "http://proxy.internal:3128"),
        "{env:?}"
    );
    assert_eq!(
        container["envFrom"][0]["configMapRef"]["name"],
        "proxy-settings"
    );
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.contains(&"--pod-startup-timeout-seconds=900"),
        "{args:?}"
    );
    assert!(
        args.contains(&"--pod-startup-warning-seconds=300"),
        "{args:?}"
    );
    assert!(
        args.contains(&"--pod-finish-timeout-seconds=120"),
        "{args:?}"
    );
    assert!(args.contains(&"--minted-key-reserve=0"), "{args:?}");
    // A large integer must not reach the flag in float notation (1.34217728e+08).
    assert!(args.contains(&"--max-job-list-bytes=134217728"), "{args:?}");
    assert_eq!(args.last(), Some(&"--lease-duration-seconds=30"));
}
