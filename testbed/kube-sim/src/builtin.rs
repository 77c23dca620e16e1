//! Kind-specific defaults and validation of built-in kinds (the subset the operator touches).
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::registry::ResourceType;

/// Applies defaults and checks of built-in kinds; custom resources pass through.
pub fn normalize(rt: &ResourceType, old: Option<&Value>, new: &mut Value) -> Result<(), ApiError> {
    if rt.group == "events.k8s.io" && rt.plural == "events" {
        return crate::event_v1::validate(rt, old, new);
    }
    if crate::event_convert::is_core_event(rt) {
        return crate::event_core::validate(rt, new);
    }
    if !rt.group.is_empty() {
        return Ok(());
    }
    match rt.plural.as_str() {
        "pods" => pod(rt, old, new),
        "secrets" => secret(rt, new),
        "namespaces" => {
            if old.is_none() {
                new["spec"]["finalizers"] = json!(["kubernetes"]);
                new["status"] = json!({"phase": "Active"});
                let name = crate::meta::name(new).to_string();
                new["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn invalid(rt: &ResourceType, obj: &Value, causes: Vec<(String, String)>) -> ApiError {
    ApiError::invalid(&rt.kind_group(), crate::meta::name(obj), &causes)
}

fn pod(rt: &ResourceType, old: Option<&Value>, new: &mut Value) -> Result<(), ApiError> {
    match old {
        None => {
            let mut causes = Vec::new();
            let containers = new
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if containers.is_empty() {
                causes.push(("spec.containers".into(), "Required value".into()));
            }
            let mut seen = Vec::new();
            for (i, c) in containers.iter().enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                if name.is_empty() {
                    causes.push((
                        format!("spec.containers[{i}].name"),
                        "Required value".into(),
                    ));
                } else if seen.contains(&name) {
                    causes.push((
                        format!("spec.containers[{i}].name"),
                        format!("Duplicate value: {name:?}"),
                    ));
                }
                seen.push(name);
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push((
                        format!("spec.containers[{i}].image"),
                        "Required value".into(),
                    ));
                }
            }
            let restart = new
                .pointer("/spec/restartPolicy")
                .and_then(Value::as_str)
                .unwrap_or("Always");
            if !matches!(restart, "Always" | "OnFailure" | "Never") {
                causes.push(("spec.restartPolicy".into(), format!("Unsupported value: {restart:?}: supported values: \"Always\", \"OnFailure\", \"Never\"")));
            }
            if !causes.is_empty() {
                return Err(invalid(rt, new, causes));
            }
            default_pod_spec(new);
            new["status"] = json!({"phase": "Pending", "qosClass": qos_class(new)});
            Ok(())
        }
        Some(old) => {
            // Pod specs are immutable except for a few fields; the real message is long, keep its start.
            let strip = |p: &Value| {
                let mut s = p.get("spec").cloned().unwrap_or_default();
                for list in ["containers", "initContainers"] {
                    if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
                        for c in cs {
                            if let Some(m) = c.as_object_mut() {
                                m.remove("image");
                            }
                        }
                    }
                }
                if let Some(m) = s.as_object_mut() {
                    for f in [
                        "activeDeadlineSeconds",
                        "tolerations",
                        "terminationGracePeriodSeconds",
                    ] {
                        m.remove(f);
                    }
                }
                s
            };
            let mut candidate = new.clone();
            default_pod_spec(&mut candidate);
            if strip(&candidate) != strip(old) {
                return Err(invalid(rt, new, vec![(
                    "spec".into(),
                    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".into(),
                )]));
            }
            *new = candidate;
            Ok(())
        }
    }
}

fn qos_class(pod: &Value) -> &'static str {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |c: &Value, what: &str| {
        c.pointer(&format!("/resources/{what}"))
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
    };
    if containers
        .iter()
        .all(|c| !has(c, "requests") && !has(c, "limits"))
    {
        "BestEffort"
    } else if containers.iter().all(|c| {
        has(c, "limits")
            && c.pointer("/resources/requests")
                .is_none_or(|r| Some(r) == c.pointer("/resources/limits"))
    }) {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    m.entry(key.to_string()).or_insert(value);
}

/// The defaults the real server fills in, so an operator comparing specs sees what a cluster returns.
fn default_pod_spec(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                let image = c
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let latest = !image.rsplit('/').next().unwrap_or("").contains(':')
                    || image.ends_with(":latest");
                set_default(
                    c,
                    "imagePullPolicy",
                    json!(if latest && !image.contains('@') {
                        "Always"
                    } else {
                        "IfNotPresent"
                    }),
                );
                set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(c, "terminationMessagePolicy", json!("File"));
                set_default(c, "resources", json!({}));
                // SetDefaults_ContainerPort: a port without a protocol is TCP.
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(port, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

fn secret(rt: &ResourceType, new: &mut Value) -> Result<(), ApiError> {
    let Some(obj) = new.as_object_mut() else {
        return Ok(());
    };
    if let Some(Value::Object(string_data)) = obj.remove("stringData") {
        let data = obj.entry("data").or_insert_with(|| json!({}));
        for (k, v) in string_data {
            let text = v.as_str().unwrap_or_default();
            data[k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
    }
    obj.entry("type").or_insert_with(|| json!("Opaque"));
    let mut causes = Vec::new();
    if let Some(data) = obj.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            let ok = v
                .as_str()
                .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok());
            if !ok {
                causes.push((
                    format!("data[{k}]"),
                    "Invalid value: illegal base64 data".into(),
                ));
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(rt, new, causes))
    }
}
