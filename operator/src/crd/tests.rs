//! CRD shape and CEL rules, evaluated client-side with kube-cel (the apiserver's CEL library
//! functions: `url()`, `duration()`, ...), defaults applied first as the apiserver does.

use kube::CustomResourceExt;
use kube::core::cel::{ScopeContext, Validator, WarningKind, analyze_rule, compile_schema};
use serde_json::{Value, json};

use super::*;
use crate::duration::parse_go_duration;

fn schema() -> Value {
    let crd = AgentPool::crd();
    serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .unwrap(),
    )
    .unwrap()
}

fn valid_object() -> Value {
    json!({
        "apiVersion": "azp.dev/v1alpha1",
        "kind": "AgentPool",
        "metadata": {"name": "linux", "namespace": "ci"},
        "spec": {
            "organization": "https://dev.azure.com/contoso",
            "pool": "eks-linux",
            "auth": {"patSecretRef": {"name": "azp-pat"}},
            "capabilities": {"buildkit": "true"},
            "agent": {"image": "ghcr.io/example/azp-agent:1"},
            "ecr": {"region": "ap-northeast-1", "registry": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com"}
        }
    })
}

/// Sets `spec.<path>` (dot-separated) to `value` in a valid object.
fn with(path: &str, value: Value) -> Value {
    let mut object = valid_object();
    let mut cursor = &mut object["spec"];
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        cursor = &mut cursor[*part];
    }
    cursor[parts[parts.len() - 1]] = value;
    object
}

/// CEL failure messages for `object`, empty when it is accepted.
fn cel_errors(object: &Value) -> Vec<String> {
    match Validator::new().validate(&schema(), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_vec()
            .into_iter()
            .map(|e| format!("{}: {}", e.field_path, e.message))
            .collect(),
    }
}

#[test]
fn crd_identity_matches_the_design() {
    let crd = AgentPool::crd();
    assert_eq!(crd.metadata.name.as_deref(), Some("agentpools.azp.dev"));
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names, Some(vec!["azp".to_owned()]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some(),
        "status subresource missing"
    );
    let columns: Vec<&str> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        ["Pool", "Queued", "Running", "Idle", "Max", "Ready", "Age"]
    );
    // The Ready column reads the condition type the controller writes.
    let ready = &version.additional_printer_columns.as_ref().unwrap()[5];
    assert_eq!(
        ready.json_path,
        format!(
            ".status.conditions[?(@.type==\"{}\")].status",
            condition_type::READY
        )
    );
}

/// Every property must carry a description: it is what `kubectl explain` shows.
#[test]
fn every_schema_property_is_described() {
    fn walk(schema: &Value, path: &str, missing: &mut Vec<String>) {
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                let here = format!("{path}.{name}");
                let described = property
                    .get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| !d.trim().is_empty());
                if !described {
                    missing.push(here.clone());
                }
                walk(property, &here, missing);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(inner) = schema.get(key) {
                walk(inner, path, missing);
            }
        }
    }
    let schema = schema();
    let mut missing = Vec::new();
    walk(&schema["properties"]["spec"], "spec", &mut missing);
    walk(&schema["properties"]["status"], "status", &mut missing);
    assert!(missing.is_empty(), "undescribed: {missing:?}");
}

#[test]
fn conditions_are_a_list_map_keyed_by_type() {
    let conditions = &schema()["properties"]["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
}

#[test]
fn template_keeps_unknown_fields() {
    let template = &schema()["properties"]["spec"]["properties"]["template"];
    assert_eq!(template["x-kubernetes-preserve-unknown-fields"], true);
}

#[test]
fn every_rule_compiles_and_fits_the_cost_budget() {
    let schema = schema();
    let compiled = compile_schema(&schema);
    assert!(
        !compiled.has_errors(),
        "{:?}",
        compiled.compilation_errors()
    );
    let text = serde_json::to_string(&schema).unwrap();
    let mut rules = Vec::new();
    fn collect(value: &Value, rules: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(list)) = map.get("x-kubernetes-validations") {
                    for rule in list {
                        rules.push(rule["rule"].as_str().unwrap().to_owned());
                    }
                }
                map.values().for_each(|v| collect(v, rules));
            }
            Value::Array(list) => list.iter().for_each(|v| collect(v, rules)),
            _ => {}
        }
    }
    collect(&schema, &mut rules);
    assert!(rules.len() >= 10, "only {} rules in {text}", rules.len());
    for rule in rules {
        let warnings = analyze_rule(&rule, &compiled, ScopeContext::CrdValidation);
        assert!(
            !warnings
                .iter()
                .any(|w| matches!(w.kind, WarningKind::CostExceeded | WarningKind::WrongScope)),
            "{rule}: {warnings:?}"
        );
    }
}

#[test]
fn a_complete_valid_pool_is_accepted() {
    assert_eq!(cel_errors(&valid_object()), Vec::<String>::new());
}

#[test]
fn invalid_specs_are_refused_with_a_helpful_message() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "scaling.minIdle",
            json!(11),
            "minIdle must not exceed maxAgents",
        ),
        (
            "organization",
            json!("http://dev.azure.com/contoso"),
            "https://",
        ),
        (
            "organization",
            json!("ftp://dev.azure.com/contoso"),
            "https://",
        ),
        ("organization", json!("dev.azure.com/contoso"), "https://"),
        (
            "organization",
            json!("http://localhost.evil.example/org"),
            "https://",
        ),
        (
            "organization",
            json!("http://127.0.0.1@evil.example/org"),
            "https://",
        ),
        ("organization", json!("https://"), "https://"),
        ("pool", json!(""), "must not be empty"),
        (
            "auth",
            json!({}),
            "exactly one of patSecretRef or workloadIdentity",
        ),
        (
            "auth.workloadIdentity",
            json!({"tenantId": TENANT, "clientId": CLIENT, "serviceAccountName": "azp"}),
            "exactly one of patSecretRef or workloadIdentity",
        ),
        ("auth.patSecretRef.name", json!(""), "must not be empty"),
        ("capabilities.AZP_AGENTPOOL", json!("ci/other"), "reserved"),
        ("scaling.idleTimeout", json!("1d"), "between 0s and 24h"),
        ("scaling.idleTimeout", json!("-5m"), "between 0s and 24h"),
        ("scaling.idleTimeout", json!("25h"), "between 0s and 24h"),
        ("scaling.idleTimeout", json!(""), "between 0s and 24h"),
        ("scaling.pollInterval", json!("1s"), "between 5s and 10m"),
        (
            "scaling.pollInterval",
            json!("4999ms"),
            "between 5s and 10m",
        ),
        ("scaling.pollInterval", json!("11m"), "between 5s and 10m"),
        ("scaling.pollInterval", json!("fast"), "between 5s and 10m"),
        ("agent.image", json!(""), "must not be empty"),
        ("agent.workDir", json!("azp/_work"), "absolute path"),
        ("ecr.region", json!("Tokyo"), "AWS region"),
        (
            "ecr.registry",
            json!("https://123.dkr.ecr.x.amazonaws.com"),
            "registry host",
        ),
        ("ecr.apiEndpoint", json!("http://vpce.example"), "https://"),
        (
            "buildkit",
            json!({"enabled": true, "mode": "remote"}),
            "mode remote needs remote.address",
        ),
        (
            "buildkit.remote.address",
            json!("buildkitd:1234"),
            "tcp://host:port",
        ),
        ("buildkit.cache", json!("buildcache"), "must be `none` or"),
        (
            "caBundle",
            json!({}),
            "exactly one of secretRef or configMapRef",
        ),
        (
            "caBundle",
            json!({"secretRef": {"name": "a"}, "configMapRef": {"name": "b"}}),
            "exactly one of secretRef or configMapRef",
        ),
    ];
    for (path, value, expected) in cases {
        let errors = cel_errors(&with(path, value.clone()));
        // The failing rule must sit on the field itself or on one of its parents.
        let full_path = format!("spec.{path}");
        assert!(
            errors.iter().any(|e| {
                let (field, message) = e.split_once(": ").unwrap();
                field.starts_with("spec.")
                    && full_path.starts_with(field)
                    && message.contains(expected)
            }),
            "{full_path} = {value}: expected {expected:?}, got {errors:?}"
        );
    }
}

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0d9c2a5e-3c4b-4e7a-9f1d-6b2a8c3e5f70";

/// An object authenticating with workload identity instead of the PAT.
fn workload_identity_object() -> Value {
    with(
        "auth",
        json!({"workloadIdentity": {"tenantId": TENANT, "clientId": CLIENT, "serviceAccountName": "azp-operator"}}),
    )
}

#[test]
fn workload_identity_without_a_pat_is_accepted() {
    assert_eq!(
        cel_errors(&workload_identity_object()),
        Vec::<String>::new()
    );
    let mut object = workload_identity_object();
    object["spec"]["registration"] = json!("operator");
    assert_eq!(cel_errors(&object), Vec::<String>::new());
}

#[test]
fn workload_identity_with_registration_pod_is_refused() {
    let mut object = workload_identity_object();
    object["spec"]["registration"] = json!("pod");
    let errors = cel_errors(&object);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("needs registration: operator")),
        "{errors:?}"
    );
}

#[test]
fn workload_identity_fields_are_checked() {
    for (field, value, expected) in [
        ("tenantId", "contoso.onmicrosoft.com", "tenant ID (GUID)"),
        ("clientId", "my-app", "client) ID (GUID)"),
        ("serviceAccountName", "Azp_Operator", "service account name"),
    ] {
        let mut object = workload_identity_object();
        object["spec"]["auth"]["workloadIdentity"][field] = json!(value);
        let errors = cel_errors(&object);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{field}={value}: {errors:?}"
        );
    }
}

#[test]
fn names_too_long_for_a_pod_label_are_refused() {
    let mut object = valid_object();
    object["metadata"]["name"] = json!("a".repeat(64));
    let errors = cel_errors(&object);
    assert!(
        errors.iter().any(|e| e.contains("at most 63")),
        "{errors:?}"
    );
    object["metadata"]["name"] = json!("a".repeat(63));
    assert_eq!(cel_errors(&object), Vec::<String>::new());
}

#[test]
fn edge_values_that_must_stay_valid_are_accepted() {
    let cases: Vec<(&str, Value)> = vec![
        ("organization", json!("http://127.0.0.1:8080/contoso")),
        ("organization", json!("http://localhost/contoso")),
        (
            "organization",
            json!("https://tfs.corp.example/tfs/DefaultCollection"),
        ),
        ("organization", json!("HTTPS://dev.azure.com/contoso")),
        ("scaling.minIdle", json!(10)),
        ("scaling.idleTimeout", json!("0s")),
        ("scaling.idleTimeout", json!("1h30m")),
        ("scaling.idleTimeout", json!("24h")),
        ("scaling.pollInterval", json!("5s")),
        ("scaling.pollInterval", json!("0.5m")),
        ("scaling.pollInterval", json!("10m")),
        (
            "ecr.apiEndpoint",
            json!("https://vpce-0abc.api.ecr.ap-northeast-1.vpce.amazonaws.com"),
        ),
        ("caBundle", json!({"configMapRef": {"name": "corp-ca"}})),
    ];
    for (path, value) in cases {
        let errors = cel_errors(&with(path, value.clone()));
        assert!(errors.is_empty(), "spec.{path} = {value}: {errors:?}");
    }
}

/// Whatever the CEL rule admits, the operator's parser must read, with the same value bounds.
#[test]
fn cel_duration_rule_and_operator_parser_agree() {
    let texts = [
        "15s",
        "5s",
        "10m",
        "1h30m",
        "1.5m",
        ".5m",
        "5.s",
        "+30s",
        "300000ms",
        "4s",
        "1d",
        "5S",
        "5 s",
        "",
        "0",
        "-0",
        "-10s",
        "5000000000ns",
        "1m1m",
        "3\u{b5}s",
        "10m0.000000001s",
    ];
    for text in texts {
        let admitted = cel_errors(&with("scaling.pollInterval", json!(text))).is_empty();
        let parsed = parse_go_duration(text).ok();
        let in_bounds = parsed.is_some_and(|d| {
            d >= std::time::Duration::from_secs(5) && d <= std::time::Duration::from_secs(600)
        });
        assert_eq!(
            admitted, in_bounds,
            "{text:?}: CEL {admitted}, parser {parsed:?}"
        );
    }
}

#[test]
fn omitted_sections_get_documented_defaults() {
    let spec: AgentPoolSpec = serde_json::from_value(json!({
        "organization": "https://dev.azure.com/contoso",
        "pool": "eks-linux",
        "auth": {"patSecretRef": {"name": "azp-pat"}},
        "agent": {"image": "agent:1"}
    }))
    .unwrap();
    assert_eq!(spec.scaling, ScalingSpec::default());
    let policy = spec.scaling.policy().unwrap();
    assert_eq!(policy.min_idle, 0);
    assert_eq!(policy.max_agents, 10);
    assert_eq!(policy.idle_timeout, std::time::Duration::from_secs(600));
    assert_eq!(
        spec.scaling.poll_interval().unwrap(),
        std::time::Duration::from_secs(15)
    );
    assert_eq!(spec.auth.pat_secret_ref.unwrap().key, "token");
    assert_eq!(spec.agent.work_dir, azp_contract::paths::WORK_DIR);
    assert!(!spec.buildkit.enabled);
    assert_eq!(spec.buildkit.image, DEFAULT_BUILDKIT_IMAGE);
    // The apiserver applies the same defaults from the schema.
    let scaling_default = &schema()["properties"]["spec"]["properties"]["scaling"]["default"];
    assert_eq!(
        scaling_default,
        &serde_json::to_value(ScalingSpec::default()).unwrap()
    );
}

#[test]
fn operator_refuses_loopback_http_unless_allowed() {
    type Expected = Result<(), fn(String) -> OrganizationUrlError>;
    let cases: &[(&str, bool, Expected)] = &[
        ("https://dev.azure.com/contoso", false, Ok(())),
        ("http://127.0.0.1:8080/contoso", true, Ok(())),
        ("http://localhost/contoso", true, Ok(())),
        (
            "http://127.0.0.1:8080/contoso",
            false,
            Err(OrganizationUrlError::InsecureHttpNotAllowed),
        ),
        (
            "http://dev.azure.com/contoso",
            true,
            Err(OrganizationUrlError::NotHttps),
        ),
        (
            "http://localhost@evil.example/contoso",
            true,
            Err(OrganizationUrlError::NotHttps),
        ),
        (
            "https:///contoso",
            false,
            Err(OrganizationUrlError::Malformed),
        ),
        ("dev.azure.com", false, Err(OrganizationUrlError::Malformed)),
    ];
    for (url, allow, expected) in cases {
        let expected = expected.map_err(|make| make((*url).to_owned()));
        assert_eq!(check_organization_url(url, *allow), expected, "{url}");
    }
}

#[test]
fn status_serialises_only_what_is_known() {
    // Absent fields stay absent so server-side apply of the status does not claim them.
    let status = AgentPoolStatus {
        queued: 3,
        ..AgentPoolStatus::default()
    };
    let value = serde_json::to_value(&status).unwrap();
    assert_eq!(value["queued"], 3);
    assert!(value.get("conditions").is_none());
    assert!(value.get("poolId").is_none());
}

/// Structural (non-CEL) violations of the OpenAPI schema, checked as JSON Schema draft 4,
/// which OpenAPI 3.0 schemas follow for these keywords.
fn structural_errors(object: &Value) -> Vec<String> {
    let validator = jsonschema::draft4::new(&schema()).unwrap();
    validator
        .iter_errors(object)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn structural_bounds_are_enforced_by_the_schema() {
    assert_eq!(structural_errors(&valid_object()), Vec::<String>::new());
    let cases: Vec<(&str, Value, &str)> = vec![
        ("scaling.maxAgents", json!(0), "/spec/scaling/maxAgents"),
        ("scaling.maxAgents", json!(1001), "/spec/scaling/maxAgents"),
        ("scaling.minIdle", json!(-1), "/spec/scaling/minIdle"),
        ("scaling.minIdle", json!("2"), "/spec/scaling/minIdle"),
        (
            "organization",
            json!(format!("https://{}", "a".repeat(2048))),
            "/spec/organization",
        ),
        (
            "auth.patSecretRef.key",
            json!(""),
            "/spec/auth/patSecretRef/key",
        ),
        (
            "ecr.requirePrivateEndpoint",
            json!("yes"),
            "/spec/ecr/requirePrivateEndpoint",
        ),
    ];
    for (path, value, pointer) in cases {
        let errors = structural_errors(&with(path, value.clone()));
        assert!(
            errors.iter().any(|e| e.starts_with(pointer)),
            "spec.{path} = {value}: expected an error at {pointer}, got {errors:?}"
        );
    }
    let too_many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("cap{i}"), json!("1"))).collect();
    assert!(!structural_errors(&with("capabilities", Value::Object(too_many))).is_empty());
    for required in ["organization", "pool", "auth", "agent"] {
        let mut object = valid_object();
        object["spec"].as_object_mut().unwrap().remove(required);
        assert!(
            !structural_errors(&object).is_empty(),
            "spec without {required} accepted"
        );
    }
}

#[test]
fn reserved_capability_is_the_contracts_ownership_capability() {
    let owner = azp_contract::naming::OWNER_CAPABILITY;
    let errors = cel_errors(&with(&format!("capabilities.{owner}"), json!("ci/x")));
    assert!(errors.iter().any(|e| e.contains("reserved")), "{errors:?}");
}

#[test]
fn a_malformed_standby_schedule_is_refused_at_the_field() {
    for (schedule, expected) in [
        (
            json!({"timeZone": "UTC", "start": "8:00", "end": "18:00", "minIdle": 1}),
            "spec.scaling.schedules[0].start: must be HH:MM, e.g. 08:00",
        ),
        (
            json!({"timeZone": "UTC", "start": "08:00", "end": "24:00", "minIdle": 1}),
            "spec.scaling.schedules[0].end: must be HH:MM, e.g. 18:00",
        ),
        (
            json!({"timeZone": "Berlin time", "start": "08:00", "end": "18:00", "minIdle": 1}),
            "spec.scaling.schedules[0].timeZone: must be an IANA time zone name, e.g. Europe/Berlin",
        ),
    ] {
        let errors = cel_errors(&with("scaling.schedules", json!([schedule])));
        assert!(
            errors.iter().any(|e| e == expected),
            "{expected}: {errors:?}"
        );
    }
    let valid = json!([{"timeZone": "America/Argentina/Buenos_Aires", "days": ["Mon", "Sat"], "start": "22:00", "end": "06:00", "minIdle": 3}]);
    assert_eq!(
        cel_errors(&with("scaling.schedules", valid)),
        Vec::<String>::new()
    );
}
