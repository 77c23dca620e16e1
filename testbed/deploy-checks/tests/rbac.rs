//! The chart's RBAC grants exactly what the operator calls: no missing verb, nothing extra, no `*`.
//!
//! What the operator needs comes from a documented scan of `operator/src` (test modules cut off at
//! `#[cfg(test)]`):
//! 1. every Kubernetes call site — a line with `.list(`, `.get_opt(`, `.get(&`, `.create(&PostParams`,
//!    `.replace(`, `.patch(`, `.patch_status(`, `.patch_metadata(`, `.delete(`, `.delete_collection(`,
//!    `.replace_status(`, `.evict(`, `.create_token_request(`, `watcher(`, `Recorder::new(` or `block_owner_deletion: Some(true)` —
//!    must be explained by a row of [`CALL_SITES`] (file + pattern → the permissions it needs);
//! 2. every row of [`CALL_SITES`] must still match the code (a stale row means the chart grants too much);
//! 3. every `Api<Kind>` in the code must be a kind the table knows.
//!
//! Then the chart is rendered in both modes (one watched namespace, all namespaces) and its
//! Roles/ClusterRoles, as bound to the operator's ServiceAccount, must equal the derived set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use regex::Regex;

/// Where a permission applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// The namespaces whose AgentPools are reconciled.
    Watched,
    /// The operator's own namespace (the leader Lease).
    Operator,
}

/// (scope, apiGroup, resource, verb)
type Permission = (Scope, &'static str, &'static str, &'static str);

/// One kind of call site in the operator and the permissions it needs.
struct CallSite {
    file: &'static str,
    pattern: &'static str,
    needs: &'static [(Scope, &'static str, &'static str, &'static [&'static str])],
}

use Scope::{Operator, Watched};

const CALL_SITES: &[CallSite] = &[
    CallSite {
        file: "controller/mod.rs",
        pattern: r"\.list\(",
        needs: &[(Watched, "azp.dev", "agentpools", &["list"])],
    },
    CallSite {
        file: "inventory.rs",
        pattern: r"\.list\(&params\)",
        needs: &[(Watched, "", "pods", &["list"])],
    },
    CallSite {
        file: "wake.rs",
        pattern: r"watcher\(",
        needs: &[
            (Watched, "azp.dev", "agentpools", &["list", "watch"]),
            (Watched, "", "pods", &["list", "watch"]),
        ],
    },
    CallSite {
        file: "apply.rs",
        pattern: r"target\.pods\.create\(",
        needs: &[(Watched, "", "pods", &["create"])],
    },
    CallSite {
        file: "apply.rs",
        pattern: r"\.patch\(pod,",
        needs: &[(Watched, "", "pods", &["patch"])],
    },
    CallSite {
        file: "apply.rs",
        pattern: r"\.patch\(&pool\.name_any\(\)",
        needs: &[(Watched, "azp.dev", "agentpools", &["patch"])],
    },
    CallSite {
        file: "apply.rs",
        pattern: r"api\.delete\(pod,",
        needs: &[(Watched, "", "pods", &["delete"])],
    },
    CallSite {
        file: "status.rs",
        pattern: r"\.patch_status\(",
        needs: &[(Watched, "azp.dev", "agentpools/status", &["patch"])],
    },
    // Pods carry a controller owner reference with blockOwnerDeletion: true; with the
    // OwnerReferencesPermissionEnforcement admission plugin that needs update on the owner's finalizers.
    CallSite {
        file: "render/mod.rs",
        pattern: r"block_owner_deletion: Some\(true\)",
        needs: &[(Watched, "azp.dev", "agentpools/finalizers", &["update"])],
    },
    CallSite {
        file: "secrets.rs",
        pattern: r"\.get_opt\(",
        needs: &[(Watched, "", "secrets", &["get"])],
    },
    // spec.caBundle: the operator's own client trusts the bundle the agents get.
    CallSite {
        file: "ca_bundle.rs",
        pattern: r"secrets\.get_opt\(",
        needs: &[(Watched, "", "secrets", &["get"])],
    },
    CallSite {
        file: "ca_bundle.rs",
        pattern: r"config_maps\.get_opt\(",
        needs: &[(Watched, "", "configmaps", &["get"])],
    },
    // Operator-minted registrations: the pod, then its registration Secret. The Secret is
    // owned by the pod (no blockOwnerDeletion) and removed by the garbage collector, so the
    // operator never deletes Secrets.
    CallSite {
        file: "mint/mod.rs",
        pattern: r"target\.pods\.create\(",
        needs: &[(Watched, "", "pods", &["create"])],
    },
    CallSite {
        file: "mint/mod.rs",
        pattern: r"secrets\.create\(&PostParams",
        needs: &[(Watched, "", "secrets", &["create"])],
    },
    // spec.auth.workloadIdentity: a short-lived token of the AgentPool's service account for
    // Entra's token exchange (TokenRequest).
    CallSite {
        file: "entra/service_account_token.rs",
        pattern: r"\.create_token_request\(",
        needs: &[(Watched, "", "serviceaccounts/token", &["create"])],
    },
    // kube-runtime's Recorder writes events.k8s.io/v1 Events: create, then patch for a series.
    CallSite {
        file: "events.rs",
        pattern: r"Recorder::new\(",
        needs: &[(Watched, "events.k8s.io", "events", &["create", "patch"])],
    },
    // Events that name a pod are created directly (they never become a series).
    CallSite {
        file: "events.rs",
        pattern: r"\.create\(&PostParams::default\(\), &event\)",
        needs: &[(Watched, "events.k8s.io", "events", &["create"])],
    },
    CallSite {
        file: "leader.rs",
        pattern: r"\.get_opt\(",
        needs: &[(Operator, "coordination.k8s.io", "leases", &["get"])],
    },
    CallSite {
        file: "leader.rs",
        pattern: r"\.create\(&PostParams",
        needs: &[(Operator, "coordination.k8s.io", "leases", &["create"])],
    },
    CallSite {
        file: "leader.rs",
        pattern: r"\.replace\(",
        needs: &[(Operator, "coordination.k8s.io", "leases", &["update"])],
    },
];

/// Kinds the table covers (`Api<Kind>` in the code).
const KNOWN_KINDS: &[&str] = &[
    "AgentPool",
    "Pod",
    "Secret",
    "ConfigMap",
    "Lease",
    "ServiceAccount",
];

/// A line that talks to the Kubernetes API.
const CALL_PATTERN: &str = r"\.(list|get_opt|create|create_token_request|replace|patch|patch_status|patch_metadata|delete|delete_collection|replace_status|evict)\(|\.get\(&|\bwatcher\(|Recorder::new\(|block_owner_deletion: Some\(true\)";

/// Non-test source of the operator, by path relative to `operator/src`.
fn operator_sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if relative.ends_with("tests.rs") {
                    continue;
                }
                let source = std::fs::read_to_string(&path).unwrap();
                let code = source.split("#[cfg(test)]").next().unwrap().to_owned();
                out.insert(relative, code);
            }
        }
    }
    let root = workspace().join("operator/src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

fn required() -> BTreeSet<Permission> {
    let mut set = BTreeSet::new();
    for site in CALL_SITES {
        for (scope, group, resource, verbs) in site.needs {
            for verb in *verbs {
                set.insert((*scope, *group, *resource, *verb));
            }
        }
    }
    set
}

#[test]
fn every_kubernetes_call_in_the_operator_is_in_the_permission_table() {
    let sources = operator_sources();
    assert!(
        sources.contains_key("controller/mod.rs"),
        "operator/src not found"
    );
    let call = Regex::new(CALL_PATTERN).unwrap();
    let mut unexplained = Vec::new();
    for (file, code) in &sources {
        let sites: Vec<Regex> = CALL_SITES
            .iter()
            .filter(|s| s.file == file)
            .map(|s| Regex::new(s.pattern).unwrap())
            .collect();
        for (number, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") || !call.is_match(line) {
                continue;
            }
            // Map/JSON lookups (`.get(&key)`) are not API calls unless an Api is the receiver.
            if line.contains(".get(&") && !line.contains("api.get(&") {
                continue;
            }
            if !sites.iter().any(|site| site.is_match(line)) {
                unexplained.push(format!(
                    "operator/src/{file}:{}: {}",
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "Kubernetes calls not in CALL_SITES (add a row, then the verb to charts/azp-operator/templates/rbac.yaml; \
         or refine CALL_PATTERN if it is not an API call):\n{}",
        unexplained.join("\n")
    );
}

#[test]
fn every_permission_table_row_still_matches_the_operator() {
    let sources = operator_sources();
    let stale: Vec<String> = CALL_SITES
        .iter()
        .filter(|site| {
            let pattern = Regex::new(site.pattern).unwrap();
            !sources
                .get(site.file)
                .is_some_and(|code| pattern.is_match(code))
        })
        .map(|site| format!("{} /{}/", site.file, site.pattern))
        .collect();
    assert!(
        stale.is_empty(),
        "rows no longer backed by code (the chart may grant too much): {stale:?}"
    );
}

#[test]
fn every_api_kind_the_operator_uses_is_known() {
    // A generic helper's `Api<K>` (one upper-case letter) is not a kind: its callers name theirs.
    let kind = Regex::new(r"Api<(\w\w+)>").unwrap();
    let mut unknown = BTreeSet::new();
    for (file, code) in operator_sources() {
        for capture in kind.captures_iter(&code) {
            if !KNOWN_KINDS.contains(&&capture[1]) {
                unknown.insert(format!("{file}: Api<{}>", &capture[1]));
            }
        }
    }
    assert!(unknown.is_empty(), "kinds without RBAC rows: {unknown:?}");
}

/// The permissions the rendered chart grants the operator's ServiceAccount, by scope.
fn granted(
    rendered: &str,
    watched_namespace: Option<&str>,
) -> BTreeSet<(Scope, String, String, String)> {
    let docs = documents(rendered);
    let account = of_kind(&docs, "ServiceAccount")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut set = BTreeSet::new();
    for binding_kind in ["RoleBinding", "ClusterRoleBinding"] {
        for binding in of_kind(&docs, binding_kind) {
            let bound = binding["subjects"].as_array().unwrap().iter().any(|s| {
                s["kind"] == "ServiceAccount"
                    && s["name"] == account.as_str()
                    && s["namespace"] == "azp-system"
            });
            if !bound {
                continue;
            }
            let role_kind = binding["roleRef"]["kind"].as_str().unwrap();
            let role_name = &binding["roleRef"]["name"];
            let role_namespace = &binding["metadata"]["namespace"];
            let role = docs
                .iter()
                .find(|d| {
                    d["kind"] == role_kind
                        && &d["metadata"]["name"] == role_name
                        && (role_kind == "ClusterRole"
                            || &d["metadata"]["namespace"] == role_namespace)
                })
                .unwrap_or_else(|| {
                    panic!("{binding_kind} refers to a missing {role_kind} {role_name}")
                });
            let scope = match (binding_kind, role_namespace.as_str()) {
                ("ClusterRoleBinding", _) => Scope::Watched,
                (_, Some("azp-system")) if watched_namespace != Some("azp-system") => {
                    Scope::Operator
                }
                (_, Some(ns)) if Some(ns) == watched_namespace => {
                    // Release namespace == watched namespace: tell the two Roles apart by name.
                    if role_name.as_str().unwrap().ends_with("leader-election") {
                        Scope::Operator
                    } else {
                        Scope::Watched
                    }
                }
                (_, other) => panic!("RoleBinding in unexpected namespace {other:?}"),
            };
            for rule in role["rules"].as_array().unwrap() {
                for field in ["apiGroups", "resources", "verbs"] {
                    let values = rule[field].as_array().unwrap();
                    assert!(
                        !values.iter().any(|v| v.as_str().unwrap().contains('*')),
                        "wildcard in {role_kind} {role_name}: {rule}"
                    );
                }
                for group in rule["apiGroups"].as_array().unwrap() {
                    for resource in rule["resources"].as_array().unwrap() {
                        for verb in rule["verbs"].as_array().unwrap() {
                            set.insert((
                                scope,
                                group.as_str().unwrap().to_owned(),
                                resource.as_str().unwrap().to_owned(),
                                verb.as_str().unwrap().to_owned(),
                            ));
                        }
                    }
                }
            }
        }
    }
    set
}

/// The grant only AgentPools with `spec.auth.workloadIdentity` need; the chart adds it with
/// `workloadIdentity.enabled=true`.
const WORKLOAD_IDENTITY_ONLY: (&str, &str, &str) = ("", "serviceaccounts/token", "create");

fn assert_chart_grants_exactly_what_is_required(rendered: &str, watched: Option<&str>, mode: &str) {
    assert_chart_grants(rendered, watched, mode, false);
}

fn assert_chart_grants(rendered: &str, watched: Option<&str>, mode: &str, workload_identity: bool) {
    let want: BTreeSet<(Scope, String, String, String)> = required()
        .into_iter()
        .filter(|(_, g, r, v)| workload_identity || (*g, *r, *v) != WORKLOAD_IDENTITY_ONLY)
        .map(|(s, g, r, v)| (s, g.to_owned(), r.to_owned(), v.to_owned()))
        .collect();
    let have = granted(rendered, watched);
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(missing.is_empty(), "{mode}: the chart lacks {missing:?}");
    assert!(
        extra.is_empty(),
        "{mode}: the chart grants more than the operator uses: {extra:?}"
    );
}

#[test]
fn namespaced_chart_grants_exactly_the_operators_calls() {
    let helm = Helm::new();
    let rendered = helm.render(&[], &["watch.namespace=azp"]);
    let docs = documents(&rendered);
    assert!(
        of_kind(&docs, "ClusterRole").is_empty(),
        "namespaced mode must not create a ClusterRole"
    );
    assert!(of_kind(&docs, "ClusterRoleBinding").is_empty());
    assert_chart_grants_exactly_what_is_required(&rendered, Some("azp"), "namespaced (azp)");
    // Watching the release namespace itself.
    let rendered = helm.render(&[], &[]);
    assert_chart_grants_exactly_what_is_required(
        &rendered,
        Some("azp-system"),
        "namespaced (release namespace)",
    );
}

#[test]
fn all_namespaces_chart_grants_exactly_the_operators_calls() {
    let helm = Helm::new();
    let rendered = helm.render(&[], &["watch.allNamespaces=true"]);
    let docs = documents(&rendered);
    assert_eq!(of_kind(&docs, "ClusterRole").len(), 1);
    let args = of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        .to_string();
    assert!(args.contains("--all-namespaces"), "{args}");
    assert_chart_grants_exactly_what_is_required(&rendered, None, "all namespaces");
}

#[test]
fn workload_identity_adds_exactly_the_service_account_token_grant() {
    let helm = Helm::new();
    let rendered = helm.render(
        &[],
        &["watch.namespace=azp", "workloadIdentity.enabled=true"],
    );
    assert_chart_grants(
        &rendered,
        Some("azp"),
        "namespaced, workload identity",
        true,
    );
    let rendered = helm.render(
        &[],
        &["watch.allNamespaces=true", "workloadIdentity.enabled=true"],
    );
    assert_chart_grants(&rendered, None, "all namespaces, workload identity", true);
}

#[test]
fn the_comparison_notices_a_missing_verb() {
    // Guards the comparison itself: dropping one verb from the rendered Role must be reported.
    let helm = Helm::new();
    let rendered = helm.render(&[], &["watch.namespace=azp"]);
    let broken = rendered.replacen(
        r#"verbs: ["list", "watch", "create", "patch", "delete"]"#,
        r#"verbs: ["list", "watch", "create", "patch"]"#,
        1,
    );
    assert_ne!(
        broken, rendered,
        "rbac.yaml changed shape; update this test"
    );
    let result = std::panic::catch_unwind(|| {
        assert_chart_grants_exactly_what_is_required(&broken, Some("azp"), "broken")
    });
    assert!(result.is_err());
}
