//! The garbage collector and the finalizers the control plane itself removes
//! (`foregroundDeletion`, `orphan`, and namespace `kubernetes`).
use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::api::{Cluster, DeleteOptions};
use crate::meta;
use crate::store::{ObjectKey, StoreState};

/// One thing the collector has to do; found by a read-only scan, then applied.
enum Action {
    /// All owners are gone: delete (with this propagation policy).
    Delete(ObjectKey, &'static str),
    /// Some owners are gone: keep only references to live owners.
    KeepOwners(ObjectKey, HashSet<String>),
    /// The owner is deleted with `orphan`: strip references to it from dependents, drop the finalizer.
    Orphan(ObjectKey, String),
    /// A control-plane finalizer has nothing left to wait for.
    DropFinalizer(ObjectKey, &'static str),
    /// A terminating namespace is empty.
    FinishNamespace(ObjectKey),
}

fn owner_uid_refs(obj: &Value) -> impl Iterator<Item = &str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

fn has_finalizer(obj: &Value, name: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|f| f.as_str() == Some(name)))
}

impl Cluster {
    /// Runs GC passes until nothing changes. Called after every write, under the store lock, so
    /// dependents disappear in the same request that removed their owner (the real GC is asynchronous).
    pub(crate) fn collect_garbage(&self, st: &mut StoreState) {
        for _ in 0..10_000 {
            match next_action(st) {
                Some(action) => self.apply_action(st, action),
                None => return,
            }
        }
        tracing::warn!("garbage collector did not settle");
    }

    fn apply_action(&self, st: &mut StoreState, action: Action) {
        match action {
            Action::Delete(key, policy) => {
                let opts = DeleteOptions {
                    propagation_policy: Some(policy.into()),
                    ..Default::default()
                };
                if let Err(e) = self.delete_in(st, &key, &opts, false) {
                    tracing::warn!(?key, error = %e, "garbage collector could not delete a dependent");
                }
            }
            Action::KeepOwners(key, alive) => {
                if let Some(mut obj) = st.get(&key).cloned() {
                    if let Some(refs) = obj
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    {
                        refs.retain(|r| {
                            r.get("uid")
                                .and_then(Value::as_str)
                                .is_some_and(|u| alive.contains(u))
                        });
                    }
                    st.put(key, obj);
                }
            }
            Action::Orphan(key, uid) => {
                let dependents: Vec<ObjectKey> = st
                    .all()
                    .filter(|(_, o)| owner_uid_refs(o).any(|u| u == uid))
                    .map(|(k, _)| k.clone())
                    .collect();
                for dk in dependents {
                    if let Some(mut dep) = st.get(&dk).cloned() {
                        if let Some(refs) = dep
                            .pointer_mut("/metadata/ownerReferences")
                            .and_then(Value::as_array_mut)
                        {
                            refs.retain(|r| {
                                r.get("uid").and_then(Value::as_str) != Some(uid.as_str())
                            });
                        }
                        st.put(dk, dep);
                    }
                }
                self.drop_finalizer(st, &key, "orphan");
            }
            Action::DropFinalizer(key, finalizer) => self.drop_finalizer(st, &key, finalizer),
            Action::FinishNamespace(key) => {
                if let Some(mut ns) = st.get(&key).cloned() {
                    ns["spec"]["finalizers"] = json!([]);
                    let release = meta::finalizers(&ns).is_empty();
                    st.put(key.clone(), ns);
                    if release {
                        self.remove_now(st, &key);
                    }
                }
            }
        }
    }

    fn drop_finalizer(&self, st: &mut StoreState, key: &ObjectKey, finalizer: &str) {
        let Some(mut updated) = st.get(key).cloned() else {
            return;
        };
        let remaining: Vec<String> = meta::finalizers(&updated)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        meta::set_finalizers(&mut updated, remaining.clone());
        let grace = updated
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        st.put(key.clone(), updated);
        if remaining.is_empty() && grace == 0 {
            self.remove_now(st, key);
        }
    }
}

/// Scans the store once (no copies) for the next thing to collect.
fn next_action(st: &StoreState) -> Option<Action> {
    let mut by_uid: HashMap<&str, (&ObjectKey, &Value)> = HashMap::new();
    let mut referenced: HashSet<&str> = HashSet::new();
    let mut used_namespaces: HashSet<&str> = HashSet::new();
    for (k, v) in st.all() {
        by_uid.insert(meta::uid(v), (k, v));
        referenced.extend(owner_uid_refs(v));
        if !k.namespace.is_empty() {
            used_namespaces.insert(k.namespace.as_str());
        }
    }
    for (key, obj) in st.all() {
        let deleting = meta::is_deleting(obj);
        let mut owners = 0;
        let mut alive: HashSet<String> = HashSet::new();
        let mut owner_in_foreground = false;
        let refs = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array);
        for r in refs.into_iter().flatten() {
            let Some(u) = r.get("uid").and_then(Value::as_str) else {
                continue;
            };
            owners += 1;
            // Like the real GC: an owner must be cluster-scoped or in the dependent's namespace, and
            // be of the referenced kind; otherwise the reference counts as dangling.
            let owner = by_uid.get(u).filter(|(owner_key, owner)| {
                (owner_key.namespace.is_empty() || owner_key.namespace == key.namespace)
                    && owner.get("kind") == r.get("kind")
            });
            if let Some((_, owner)) = owner {
                alive.insert(u.to_string());
                owner_in_foreground |=
                    meta::is_deleting(owner) && has_finalizer(owner, "foregroundDeletion");
            }
        }
        if owners > 0 {
            if alive.is_empty() && !deleting {
                return Some(Action::Delete(key.clone(), "Background"));
            }
            if !alive.is_empty() && alive.len() < owners {
                return Some(Action::KeepOwners(key.clone(), alive));
            }
            if owner_in_foreground && !deleting {
                return Some(Action::Delete(key.clone(), "Foreground"));
            }
        }
        if deleting {
            let uid = meta::uid(obj);
            if has_finalizer(obj, "orphan") {
                return Some(Action::Orphan(key.clone(), uid.to_string()));
            }
            if has_finalizer(obj, "foregroundDeletion") && !referenced.contains(uid) {
                return Some(Action::DropFinalizer(key.clone(), "foregroundDeletion"));
            }
            let is_namespace = key.group.is_empty() && key.resource == "namespaces";
            let spec_finalizers = obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            if is_namespace && spec_finalizers && !used_namespaces.contains(key.name.as_str()) {
                return Some(Action::FinishNamespace(key.clone()));
            }
        }
    }
    None
}
