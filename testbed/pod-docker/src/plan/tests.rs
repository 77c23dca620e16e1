use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

struct Host(BTreeMap<String, PathBuf>);

impl VolumeHost for Host {
    fn host_path(&self, name: &str) -> Option<&Path> {
        self.0.get(name).map(PathBuf::as_path)
    }
    fn always_read_only(&self, name: &str) -> bool {
        name == "pat"
    }
}

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p1", "namespace": "ns", "uid": "u-1"},
        "spec": spec,
    }))
    .unwrap()
}

fn plans(pod: &Pod) -> Vec<ContainerPlan> {
    let host = Host(BTreeMap::from([
        ("pat".to_owned(), PathBuf::from("/h/pat")),
        ("work".to_owned(), PathBuf::from("/h/work")),
    ]));
    plan_pod(pod, &host, Path::new("/h/term"), "p1-x").unwrap()
}

fn has_pair(args: &[String], flag: &str, value: &str) -> bool {
    args.windows(2).any(|w| w[0] == flag && w[1] == value)
}

#[test]
fn order_kinds_and_security_flags_follow_the_pod() {
    let pod = pod(serde_json::json!({
        "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
                            "supplementalGroups": [5], "runAsNonRoot": true,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [
            {"name": "register", "image": "a", "args": ["register"],
             "volumeMounts": [{"name": "pat", "mountPath": "/s"}],
             "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                 "capabilities": {"drop": ["ALL"]}}},
            {"name": "sidecar", "image": "b", "restartPolicy": "Always",
             "securityContext": {"runAsUser": 7, "seccompProfile": {"type": "Unconfined"},
                                 "appArmorProfile": {"type": "Unconfined"}},
             "startupProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 30}}
        ],
        "containers": [{"name": "agent", "image": "a", "command": ["/bin/x", "-v"], "args": ["run"],
                        "volumeMounts": [{"name": "work", "mountPath": "/w", "subPath": "sub"}],
                        "terminationMessagePath": "/dev/msg"}]
    }));
    let plans = plans(&pod);
    let kinds: Vec<_> = plans.iter().map(|p| (p.name.as_str(), p.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("register", ContainerKind::Init),
            ("sidecar", ContainerKind::Sidecar),
            ("agent", ContainerKind::Main)
        ]
    );
    let register = &plans[0].create_args;
    assert!(has_pair(register, "--user", "1000:1000"));
    assert!(has_pair(register, "--group-add", "1000"));
    assert!(has_pair(register, "--group-add", "5"));
    assert!(has_pair(register, "--cap-drop", "ALL"));
    assert!(has_pair(register, "--security-opt", "no-new-privileges"));
    assert!(register.contains(&"--read-only".to_owned()));
    assert!(has_pair(
        register,
        "--mount",
        "type=bind,source=/h/pat,target=/s,readonly"
    ));
    assert!(has_pair(
        register,
        "--mount",
        "type=bind,source=/h/term/register,target=/dev/termination-log"
    ));
    assert!(!register.iter().any(|a| a.starts_with("seccomp=")));
    assert_eq!(&register[register.len() - 2..], ["a", "register"]);

    let sidecar = &plans[1];
    assert!(has_pair(&sidecar.create_args, "--user", "7:1000"));
    assert!(has_pair(
        &sidecar.create_args,
        "--security-opt",
        "seccomp=unconfined"
    ));
    assert!(has_pair(
        &sidecar.create_args,
        "--security-opt",
        "apparmor=unconfined"
    ));
    assert!(!sidecar.create_args.contains(&"--cap-drop".to_owned()));
    let probe = sidecar.startup_probe.as_ref().unwrap();
    assert_eq!(probe.command, ["true"]);
    assert_eq!(probe.failure_threshold, 30);

    let agent = &plans[2].create_args;
    assert!(has_pair(agent, "--entrypoint", "/bin/x"));
    assert_eq!(&agent[agent.len() - 3..], ["a", "-v", "run"]);
    assert!(has_pair(
        agent,
        "--mount",
        "type=bind,source=/h/work/sub,target=/w"
    ));
    assert!(has_pair(
        agent,
        "--mount",
        "type=bind,source=/h/term/agent,target=/dev/msg"
    ));
}

#[test]
fn env_field_refs_and_expansion_are_resolved() {
    let pod = pod(serde_json::json!({
        "containers": [{"name": "c", "image": "i",
            "env": [
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "AGENT", "value": "$(NS).$(POD)"},
                {"name": "LITERAL", "value": "$$(POD) $(MISSING)"}
            ],
            "args": ["--name", "$(AGENT)"]}]
    }));
    let args = &plans(&pod)[0].create_args;
    assert!(has_pair(args, "--env", "POD=p1"));
    assert!(has_pair(args, "--env", "AGENT=ns.p1"));
    assert!(has_pair(args, "--env", "LITERAL=$(POD) $(MISSING)"));
    assert_eq!(&args[args.len() - 3..], ["i", "--name", "ns.p1"]);
    // No seccomp profile anywhere: a default kubelet runs the container Unconfined.
    assert!(has_pair(args, "--security-opt", "seccomp=unconfined"));
}

#[test]
fn what_is_not_emulated_is_refused_not_ignored() {
    for spec in [
        serde_json::json!({"containers": [{"name": "c", "image": "i",
            "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}),
        serde_json::json!({"containers": [{"name": "c", "image": "i",
            "startupProbe": {"httpGet": {"port": 80}}}]}),
        serde_json::json!({"containers": [{"name": "c", "image": "i",
            "envFrom": [{"secretRef": {"name": "s"}}]}]}),
        serde_json::json!({"containers": [{"name": "c", "image": "i",
            "securityContext": {"runAsUser": 0, "runAsNonRoot": true}}]}),
    ] {
        let pod = pod(spec);
        let host = Host(BTreeMap::new());
        assert!(
            plan_pod(&pod, &host, Path::new("/t"), "x").is_err(),
            "{pod:?}"
        );
    }
}

#[test]
fn quantities_become_docker_limits() {
    assert_eq!(cpus("500m").unwrap(), "0.5");
    assert_eq!(cpus("2").unwrap(), "2");
    assert_eq!(bytes("512Mi").unwrap(), 512 << 20);
    assert_eq!(bytes("1G").unwrap(), 1_000_000_000);
    assert!(bytes("lots").is_err());
}
