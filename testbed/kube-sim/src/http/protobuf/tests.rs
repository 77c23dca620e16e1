use std::collections::BTreeMap;

use k8s_pb::api::core::v1 as core;
use k8s_pb::api::events::v1 as events;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use super::*;

fn envelope(api_version: &str, kind: &str, object: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [MAGIC.to_vec(), unknown.encode_to_vec()].concat()
}

fn named(name: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    })
}

fn text(s: &str) -> Option<String> {
    Some(s.into())
}

fn quantity(s: &str) -> Quantity {
    Quantity { string: text(s) }
}

fn decode_err(api_version: &str, kind: &str, object: Vec<u8>) -> String {
    let error = decode(&envelope(api_version, kind, object)).expect_err("refused");
    format!("{error}")
}

#[test]
fn a_secret_as_kubectl_sends_it_becomes_its_json_form() {
    let secret = core_v1::Secret {
        metadata: Some(meta::ObjectMeta {
            name: text("azp-pat"),
            namespace: text("azp"),
            labels: BTreeMap::from([("team".into(), "ci".into())]),
            // Go's protobuf encoding writes the zero time as an empty message.
            creation_timestamp: Some(meta::Time::default()),
            generation: Some(0),
            ..Default::default()
        }),
        data: BTreeMap::from([("token".into(), b"s3cr\xffet".to_vec())]),
        r#type: text("Opaque"),
        ..Default::default()
    };
    let value = decode(&envelope("v1", "Secret", secret.encode_to_vec())).expect("decoded");
    assert_eq!(
        value,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "azp-pat", "namespace": "azp", "labels": {"team": "ci"}},
            "data": {"token": "czNjcv9ldA=="},
            "type": "Opaque",
        })
    );
}

#[test]
fn a_config_map_and_a_namespace_are_decoded() {
    let config_map = core_v1::ConfigMap {
        metadata: named("settings"),
        data: BTreeMap::from([("level".into(), "debug".into())]),
        ..Default::default()
    };
    let value = decode(&envelope("v1", "ConfigMap", config_map.encode_to_vec())).expect("cm");
    assert_eq!(value["data"], json!({"level": "debug"}));
    assert_eq!(value["metadata"], json!({"name": "settings"}));
    let namespace = core_v1::Namespace {
        metadata: named("azp"),
        spec: Some(core::NamespaceSpec::default()),
        status: Some(core::NamespaceStatus {
            phase: text(""),
            conditions: Vec::new(),
        }),
    };
    let value = decode(&envelope("v1", "Namespace", namespace.encode_to_vec())).expect("ns");
    assert_eq!(
        value,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "azp"}})
    );
}

#[test]
fn another_kind_is_415_naming_what_is_decoded_and_garbage_is_400() {
    let text = decode_err("apps/v1", "Deployment", Vec::new());
    assert!(text.starts_with("415"), "{text}");
    assert!(
        text.contains("kube-sim decodes protobuf only for v1 Secret, v1 ConfigMap, v1 Namespace, v1 Pod, v1 Event, events.k8s.io/v1 Event"),
        "{text}"
    );
    let error = decode(b"{\"kind\":\"Secret\"}").expect_err("json");
    assert_eq!(error.code, 400, "{error}");
    let error = decode(b"k8s\0\xff\xff\xff").expect_err("garbage");
    assert_eq!(error.code, 400, "{error}");
}

/// A container as Go's protobuf encoding writes what `kubectl run` builds: every non-pointer
/// string, number and boolean present, even when empty.
fn kubectl_run_container() -> core::Container {
    core::Container {
        name: text("job"),
        image: text("busybox:1.36"),
        command: vec!["sh".into(), "-c".into(), "echo hi".into()],
        working_dir: text(""),
        ports: vec![core::ContainerPort {
            name: text(""),
            host_port: Some(0),
            container_port: Some(8080),
            protocol: text(""),
            host_ip: text(""),
        }],
        env: vec![core::EnvVar {
            name: text("MODE"),
            value: text("fast"),
            value_from: None,
        }],
        resources: Some(core::ResourceRequirements::default()),
        restart_policy: None,
        termination_message_path: text(""),
        termination_message_policy: text(""),
        image_pull_policy: text(""),
        stdin: Some(false),
        stdin_once: Some(false),
        tty: Some(false),
        ..Default::default()
    }
}

fn empty_status() -> core::PodStatus {
    core::PodStatus {
        observed_generation: Some(0),
        phase: text(""),
        message: text(""),
        reason: text(""),
        nominated_node_name: text(""),
        host_ip: text(""),
        pod_ip: text(""),
        qos_class: text(""),
        resize: text(""),
        ..Default::default()
    }
}

fn kubectl_run_pod() -> core::Pod {
    core::Pod {
        metadata: Some(meta::ObjectMeta {
            name: text("job"),
            generate_name: text(""),
            namespace: text(""),
            labels: BTreeMap::from([("run".into(), "job".into())]),
            creation_timestamp: Some(meta::Time::default()),
            ..Default::default()
        }),
        spec: Some(core::PodSpec {
            containers: vec![kubectl_run_container()],
            restart_policy: text("Never"),
            dns_policy: text("ClusterFirst"),
            service_account_name: text(""),
            node_name: text(""),
            host_network: Some(false),
            host_pid: Some(false),
            host_ipc: Some(false),
            hostname: text(""),
            subdomain: text(""),
            scheduler_name: text(""),
            priority_class_name: text(""),
            ..Default::default()
        }),
        status: Some(empty_status()),
    }
}

#[test]
fn a_pod_as_kubectl_run_sends_it_is_exactly_its_json_form() {
    let value = decode(&envelope("v1", "Pod", kubectl_run_pod().encode_to_vec())).expect("pod");
    assert_eq!(
        value,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "job", "labels": {"run": "job"}},
            "spec": {
                "containers": [{
                    "name": "job", "image": "busybox:1.36",
                    "command": ["sh", "-c", "echo hi"],
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "MODE", "value": "fast"}],
                }],
                "restartPolicy": "Never",
                "dnsPolicy": "ClusterFirst",
            },
        })
    );
}

fn key_ref(name: &str, key: &str) -> (Option<core::LocalObjectReference>, Option<String>) {
    (
        Some(core::LocalObjectReference { name: text(name) }),
        text(key),
    )
}

fn full_container() -> core::Container {
    let (secret, secret_key) = key_ref("pat", "token");
    let (config_map, config_key) = key_ref("settings", "level");
    let env = vec![
        core::EnvVar {
            name: text("TOKEN"),
            value: None,
            value_from: Some(core::EnvVarSource {
                secret_key_ref: Some(core::SecretKeySelector {
                    local_object_reference: secret,
                    key: secret_key,
                    optional: Some(false),
                }),
                ..Default::default()
            }),
        },
        core::EnvVar {
            name: text("LEVEL"),
            value: None,
            value_from: Some(core::EnvVarSource {
                config_map_key_ref: Some(core::ConfigMapKeySelector {
                    local_object_reference: config_map,
                    key: config_key,
                    optional: None,
                }),
                ..Default::default()
            }),
        },
        core::EnvVar {
            name: text("POD"),
            value: None,
            value_from: Some(core::EnvVarSource {
                field_ref: Some(core::ObjectFieldSelector {
                    api_version: text("v1"),
                    field_path: text("metadata.name"),
                }),
                ..Default::default()
            }),
        },
    ];
    core::Container {
        args: vec!["--once".into()],
        env,
        env_from: vec![core::EnvFromSource {
            prefix: text("AZP_"),
            config_map_ref: None,
            secret_ref: Some(core::SecretEnvSource {
                local_object_reference: Some(core::LocalObjectReference { name: text("pat") }),
                optional: None,
            }),
        }],
        resources: Some(core::ResourceRequirements {
            requests: BTreeMap::from([("cpu".into(), quantity("250m"))]),
            limits: BTreeMap::from([("memory".into(), quantity("1Gi"))]),
            claims: Vec::new(),
        }),
        volume_mounts: vec![core::VolumeMount {
            name: text("work"),
            mount_path: text("/work"),
            read_only: Some(true),
            ..Default::default()
        }],
        security_context: Some(core::SecurityContext {
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(core::Capabilities {
                add: Vec::new(),
                drop: vec!["ALL".into()],
            }),
            seccomp_profile: Some(core::SeccompProfile {
                r#type: text("RuntimeDefault"),
                localhost_profile: None,
            }),
            ..Default::default()
        }),
        image_pull_policy: text("IfNotPresent"),
        working_dir: text("/work"),
        termination_message_path: text("/dev/termination-log"),
        termination_message_policy: text("File"),
        stdin: Some(true),
        tty: Some(true),
        readiness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: text("/healthz"),
                    port: Some(IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: text("http"),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            period_seconds: Some(5),
            initial_delay_seconds: Some(0),
            ..Default::default()
        }),
        ..kubectl_run_container()
    }
}

fn volumes() -> Vec<core::Volume> {
    let source = |source: core::VolumeSource| Some(source);
    let token = core::VolumeProjection {
        service_account_token: Some(core::ServiceAccountTokenProjection {
            audience: text("azp"),
            expiration_seconds: Some(3600),
            path: text("token"),
        }),
        ..Default::default()
    };
    let secret = core::VolumeProjection {
        secret: Some(core::SecretProjection {
            local_object_reference: Some(core::LocalObjectReference { name: text("pat") }),
            items: vec![core::KeyToPath {
                key: text("token"),
                path: text("pat"),
                mode: Some(0o400),
            }],
            optional: None,
        }),
        ..Default::default()
    };
    vec![
        core::Volume {
            name: text("work"),
            volume_source: source(core::VolumeSource {
                empty_dir: Some(core::EmptyDirVolumeSource {
                    medium: text(""),
                    size_limit: None,
                }),
                ..Default::default()
            }),
        },
        core::Volume {
            name: text("settings"),
            volume_source: source(core::VolumeSource {
                config_map: Some(core::ConfigMapVolumeSource {
                    local_object_reference: Some(core::LocalObjectReference {
                        name: text("settings"),
                    }),
                    default_mode: Some(420),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        },
        core::Volume {
            name: text("creds"),
            volume_source: source(core::VolumeSource {
                projected: Some(core::ProjectedVolumeSource {
                    sources: vec![token, secret],
                    default_mode: None,
                }),
                ..Default::default()
            }),
        },
    ]
}

fn full_pod() -> core::Pod {
    let mut pod = kubectl_run_pod();
    let spec = pod.spec.get_or_insert_default();
    spec.containers = vec![full_container()];
    spec.init_containers = vec![kubectl_run_container()];
    spec.volumes = volumes();
    spec.service_account_name = text("agent");
    spec.automount_service_account_token = Some(false);
    spec.node_selector = BTreeMap::from([("pool".into(), "ci".into())]);
    spec.tolerations = vec![core::Toleration {
        key: text("ci"),
        operator: text("Exists"),
        value: text(""),
        effect: text("NoSchedule"),
        toleration_seconds: None,
    }];
    spec.security_context = Some(core::PodSecurityContext {
        fs_group: Some(1000),
        run_as_non_root: Some(true),
        ..Default::default()
    });
    spec.termination_grace_period_seconds = Some(0);
    spec.active_deadline_seconds = Some(600);
    spec.priority = Some(0);
    spec.enable_service_links = Some(false);
    spec.preemption_policy = text("Never");
    spec.hostname = text("agent-0");
    spec.subdomain = text("agents");
    spec.image_pull_secrets = vec![core::LocalObjectReference {
        name: text("regcred"),
    }];
    pod
}

#[test]
fn a_full_pod_keeps_pointer_zeros_and_drops_empty_values() {
    let value = decode(&envelope("v1", "Pod", full_pod().encode_to_vec())).expect("pod");
    let spec = &value["spec"];
    assert_eq!(spec["automountServiceAccountToken"], json!(false));
    assert_eq!(spec["terminationGracePeriodSeconds"], json!(0));
    assert_eq!(spec["activeDeadlineSeconds"], json!(600));
    assert_eq!(spec["priority"], json!(0));
    assert_eq!(spec["enableServiceLinks"], json!(false));
    assert_eq!(spec["preemptionPolicy"], json!("Never"));
    assert_eq!(spec["nodeSelector"], json!({"pool": "ci"}));
    assert_eq!(spec["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(
        spec["tolerations"],
        json!([{"key": "ci", "operator": "Exists", "effect": "NoSchedule"}])
    );
    assert_eq!(
        spec["securityContext"],
        json!({"fsGroup": 1000, "runAsNonRoot": true})
    );
    assert_eq!(
        spec["volumes"],
        json!([
            {"name": "work", "emptyDir": {}},
            {"name": "settings", "configMap": {"name": "settings", "defaultMode": 420}},
            {"name": "creds", "projected": {"sources": [
                {"serviceAccountToken": {"audience": "azp", "expirationSeconds": 3600, "path": "token"}},
                {"secret": {"name": "pat", "items": [{"key": "token", "path": "pat", "mode": 256}]}},
            ]}},
        ])
    );
    assert_eq!(spec["initContainers"][0]["name"], json!("job"));
    assert_eq!(
        spec["containers"][0],
        json!({
            "name": "job", "image": "busybox:1.36",
            "command": ["sh", "-c", "echo hi"], "args": ["--once"],
            "workingDir": "/work",
            "ports": [{"containerPort": 8080}],
            "envFrom": [{"prefix": "AZP_", "secretRef": {"name": "pat"}}],
            "env": [
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "pat", "key": "token", "optional": false}}},
                {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
            ],
            "resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "1Gi"}},
            "volumeMounts": [{"name": "work", "mountPath": "/work", "readOnly": true}],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
            "securityContext": {
                "runAsUser": 0, "runAsNonRoot": false, "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "stdin": true, "tty": true,
        })
    );
}

#[test]
fn pod_fields_kube_sim_does_not_convert_are_refused_by_name() {
    let mut pod = kubectl_run_pod();
    pod.spec.get_or_insert_default().affinity = Some(core::Affinity::default());
    let text = decode_err("v1", "Pod", pod.encode_to_vec());
    assert!(text.starts_with("415"), "{text}");
    assert!(
        text.contains("kube-sim does not decode protobuf field PodSpec.affinity"),
        "{text}"
    );

    let mut pod = kubectl_run_pod();
    pod.spec.get_or_insert_default().ephemeral_containers =
        vec![core::EphemeralContainer::default()];
    let text = decode_err("v1", "Pod", pod.encode_to_vec());
    assert!(text.contains("field PodSpec.ephemeralContainers"), "{text}");

    let mut pod = kubectl_run_pod();
    pod.spec.get_or_insert_default().volumes = vec![core::Volume {
        name: Some("data".into()),
        volume_source: Some(core::VolumeSource {
            nfs: Some(core::NfsVolumeSource::default()),
            ..Default::default()
        }),
    }];
    let text = decode_err("v1", "Pod", pod.encode_to_vec());
    assert!(text.contains("field VolumeSource.nfs"), "{text}");

    let mut pod = kubectl_run_pod();
    pod.status.get_or_insert_default().phase = Some("Running".into());
    let text = decode_err("v1", "Pod", pod.encode_to_vec());
    assert!(text.contains("field PodStatus.phase"), "{text}");
}

fn reference() -> core::ObjectReference {
    core::ObjectReference {
        kind: text("Pod"),
        namespace: text("azp"),
        name: text("agent-0"),
        uid: text("u-1"),
        api_version: text("v1"),
        resource_version: text(""),
        field_path: text(""),
    }
}

/// 2024-05-06T07:08:09.123456789Z
fn instant() -> (Option<i64>, Option<i32>) {
    (Some(1_714_979_289), Some(123_456_789))
}

#[test]
fn a_core_event_is_decoded_with_its_times() {
    let (seconds, nanos) = instant();
    let event = core::Event {
        metadata: Some(meta::ObjectMeta {
            name: text("agent-0.1"),
            namespace: text("azp"),
            ..Default::default()
        }),
        involved_object: Some(reference()),
        reason: text("Started"),
        message: text("agent started"),
        source: Some(core::EventSource {
            component: text("azp-operator"),
            host: text(""),
        }),
        first_timestamp: Some(meta::Time { seconds, nanos }),
        last_timestamp: Some(meta::Time { seconds, nanos }),
        count: Some(1),
        r#type: text("Normal"),
        event_time: Some(meta::MicroTime::default()),
        reporting_component: text("azp-operator"),
        reporting_instance: text(""),
        action: text(""),
        ..Default::default()
    };
    let value = decode(&envelope("v1", "Event", event.encode_to_vec())).expect("event");
    assert_eq!(
        value,
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "agent-0.1", "namespace": "azp"},
            "involvedObject": {"kind": "Pod", "namespace": "azp", "name": "agent-0", "uid": "u-1", "apiVersion": "v1"},
            "reason": "Started", "message": "agent started",
            "source": {"component": "azp-operator"},
            "firstTimestamp": "2024-05-06T07:08:09Z",
            "lastTimestamp": "2024-05-06T07:08:09Z",
            "count": 1, "type": "Normal",
            "reportingComponent": "azp-operator",
        })
    );
}

#[test]
fn an_events_v1_event_is_decoded_with_micro_time() {
    let (seconds, nanos) = instant();
    let event = events::Event {
        metadata: Some(meta::ObjectMeta {
            name: text("agent-0.2"),
            namespace: text("azp"),
            ..Default::default()
        }),
        event_time: Some(meta::MicroTime { seconds, nanos }),
        series: Some(events::EventSeries {
            count: Some(2),
            last_observed_time: Some(meta::MicroTime {
                seconds: seconds.map(|s| s + 60),
                nanos: Some(0),
            }),
        }),
        reporting_controller: text("azp.dev/operator"),
        reporting_instance: text("operator-0"),
        action: text("Scale"),
        reason: text("ScaledUp"),
        regarding: Some(reference()),
        related: None,
        note: text("1 agent"),
        r#type: text("Normal"),
        deprecated_source: Some(core::EventSource::default()),
        deprecated_first_timestamp: Some(meta::Time::default()),
        deprecated_last_timestamp: Some(meta::Time::default()),
        deprecated_count: Some(0),
    };
    let value = decode(&envelope(
        "events.k8s.io/v1",
        "Event",
        event.encode_to_vec(),
    ))
    .expect("event");
    assert_eq!(
        value,
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "agent-0.2", "namespace": "azp"},
            "eventTime": "2024-05-06T07:08:09.123456Z",
            "series": {"count": 2, "lastObservedTime": "2024-05-06T07:09:09.000000Z"},
            "reportingController": "azp.dev/operator", "reportingInstance": "operator-0",
            "action": "Scale", "reason": "ScaledUp",
            "regarding": {"kind": "Pod", "namespace": "azp", "name": "agent-0", "uid": "u-1", "apiVersion": "v1"},
            "note": "1 agent", "type": "Normal",
        })
    );
}

fn round_trip(value: &serde_json::Value) -> serde_json::Value {
    decode(&encode(value).expect("encoded")).expect("decoded")
}

#[test]
fn stored_secrets_config_maps_and_namespaces_round_trip_through_protobuf() {
    let meta = json!({
        "name": "azp-pat", "namespace": "azp", "uid": "0b7e", "resourceVersion": "42",
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "labels": {"team": "ci"}, "annotations": {"note": "x"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "1", "controller": true}],
        "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
            "time": "2026-01-02T03:04:05Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}, "f:token": {}}}}],
    });
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta,
        "data": {"token": "czNjcv9ldA=="}, "type": "Opaque", "immutable": false});
    assert_eq!(round_trip(&secret), secret);
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
        "data": {"level": "debug"}, "binaryData": {"blob": "AAE="}});
    assert_eq!(round_trip(&config_map), config_map);
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "azp", "creationTimestamp": "2026-01-02T03:04:05Z",
            "deletionTimestamp": "2026-01-02T03:05:05Z", "finalizers": ["x"]},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Terminating", "conditions": [{"type": "NamespaceDeletionContentFailure",
            "status": "False", "lastTransitionTime": "2026-01-02T03:05:05Z", "reason": "ContentDeleted",
            "message": "All content successfully deleted"}]}});
    assert_eq!(round_trip(&namespace), namespace);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
    assert_eq!(encode(&pod).expect_err("pod").code, 500);
}

#[test]
fn accept_headers_negotiate_json_protobuf_or_nothing() {
    let kubectl = "application/vnd.kubernetes.protobuf,application/json";
    assert_eq!(negotiate(kubectl), Negotiated::Json);
    assert_eq!(negotiate("*/*"), Negotiated::Json);
    assert_eq!(negotiate(""), Negotiated::Json);
    assert_eq!(
        negotiate("application/vnd.kubernetes.protobuf"),
        Negotiated::Protobuf
    );
    assert_eq!(
        negotiate("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io"),
        Negotiated::NotAcceptable
    );
    assert_eq!(
        negotiate(
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/vnd.kubernetes.protobuf"
        ),
        Negotiated::Protobuf
    );
}
