//! Deletes: graceful pod deletion, finalizers, propagation policies, namespaces, CRDs.
use crate::api::DeleteOptions;
use crate::api::dry_run_of;
use serde_json::{Value, json};

use crate::api::{Cluster, ListQuery, object_key, present};
use crate::error::ApiError;
use crate::meta;
use crate::registry::ResourceType;
use crate::store::{ObjectKey, StoreState};

impl Cluster {
    /// Removes an object from storage, with the side effects of its kind (CRDs drop their resources).
    pub(crate) fn remove_now(&self, st: &mut StoreState, key: &ObjectKey) -> Option<Value> {
        let removed = st.remove(key)?;
        if key.group == "apiextensions.k8s.io" && key.resource == "customresourcedefinitions" {
            let group = removed
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let plural = removed
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let keys: Vec<ObjectKey> = st
                .list(&group, &plural, None)
                .into_iter()
                .map(|(k, _)| k.clone())
                .collect();
            for k in keys {
                st.remove(&k);
            }
            self.registry_mut().unregister_custom(&group, &plural);
        }
        Some(removed)
    }

    /// DELETE one object.
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let dry_run = dry_run_of(opts.dry_run.as_deref())?;
        let mut st = self.store.lock();
        let key = object_key(rt, ns, name);
        let result = self.delete_in(&mut st, &key, opts, dry_run)?;
        if !dry_run {
            self.collect_garbage(&mut st);
        }
        Ok(present(result, rt))
    }

    /// Deletes under the lock: preconditions, propagation finalizers, pod grace, namespace content.
    pub(crate) fn delete_in(
        &self,
        st: &mut StoreState,
        key: &ObjectKey,
        opts: &DeleteOptions,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let obj = st
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&key.resource, &key.group, &key.name))?;
        if let Some(p) = &opts.preconditions {
            if let Some(uid) = &p.uid
                && uid != meta::uid(&obj)
            {
                return Err(ApiError::conflict(
                    &key.resource,
                    &key.group,
                    &key.name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta::uid(&obj)
                    ),
                ));
            }
            if let Some(rv) = &p.resource_version
                && rv != meta::resource_version(&obj)
            {
                return Err(ApiError::conflict(
                    &key.resource,
                    &key.group,
                    &key.name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        meta::resource_version(&obj)
                    ),
                ));
            }
        }
        let is_pod = key.group.is_empty() && key.resource == "pods";
        let mut new = obj.clone();
        let grace = if is_pod {
            let requested = opts
                .grace_period_seconds
                .or_else(|| {
                    obj.pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(30)
                .max(0);
            let unscheduled = obj
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            let phase = obj
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("");
            if unscheduled || matches!(phase, "Succeeded" | "Failed") {
                0
            } else {
                requested
            }
        } else {
            0
        };
        if meta::is_deleting(&obj) {
            // A second delete may only shorten a pod's grace period.
            let current = obj
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if is_pod && grace < current {
                let m = meta::meta_mut(&mut new);
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                m.insert(
                    "deletionTimestamp".into(),
                    json!(meta::timestamp(
                        chrono::Utc::now() + chrono::Duration::seconds(grace)
                    )),
                );
                if dry_run {
                    return Ok(new);
                }
                if grace == 0 && meta::finalizers(&new).is_empty() {
                    st.put(key.clone(), new);
                    return self
                        .remove_now(st, key)
                        .ok_or_else(|| ApiError::internal("object vanished"));
                }
                return Ok(st.put(key.clone(), new));
            }
            return Ok(obj);
        }
        let policy = match (opts.propagation_policy.as_deref(), opts.orphan_dependents) {
            (Some(p), _) => p.to_string(),
            (None, Some(true)) => "Orphan".into(),
            _ => "Background".into(),
        };
        let mut finalizers = meta::finalizers(&obj);
        match policy.as_str() {
            "Background" => {}
            "Foreground" => finalizers.push("foregroundDeletion".into()),
            "Orphan" => finalizers.push("orphan".into()),
            other => {
                return Err(ApiError::invalid(
                    "DeleteOptions",
                    "",
                    &[(
                        "propagationPolicy".into(),
                        format!(
                            "Unsupported value: {other:?}: supported values: \"Orphan\", \"Background\", \"Foreground\""
                        ),
                    )],
                ));
            }
        }
        finalizers.dedup();
        let is_namespace = key.group.is_empty() && key.resource == "namespaces";
        if is_namespace {
            finalizers.push("kubernetes".into());
        }
        if dry_run {
            return Ok(obj);
        }
        if finalizers.is_empty() && grace == 0 {
            return self
                .remove_now(st, key)
                .ok_or_else(|| ApiError::internal("object vanished"));
        }
        let m = meta::meta_mut(&mut new);
        m.insert(
            "deletionTimestamp".into(),
            json!(meta::timestamp(
                chrono::Utc::now() + chrono::Duration::seconds(grace)
            )),
        );
        m.insert("deletionGracePeriodSeconds".into(), json!(grace));
        if is_namespace {
            finalizers.retain(|f| f != "kubernetes");
            new["status"]["phase"] = json!("Terminating");
        }
        meta::set_finalizers(&mut new, finalizers);
        let stored = st.put(key.clone(), new);
        if is_namespace {
            let contents: Vec<ObjectKey> = st
                .all()
                .filter(|(k, _)| k.namespace == key.name)
                .map(|(k, _)| k.clone())
                .collect();
            for k in contents {
                // Best effort, like the namespace controller: objects with finalizers stay until released.
                let _ = self.delete_in(st, &k, &DeleteOptions::default(), false);
            }
        }
        Ok(stored)
    }

    /// DELETE on a collection (`deletecollection`), honouring label and field selectors.
    pub fn delete_collection(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        q: &ListQuery,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let dry_run = dry_run_of(opts.dry_run.as_deref())?;
        let mut st = self.store.lock();
        let (group, resource) = rt.storage();
        let keys: Vec<ObjectKey> = st
            .list(group, resource, ns)
            .into_iter()
            .filter(|(_, o)| {
                let shown = present((*o).clone(), rt);
                q.labels.matches(&shown) && q.fields.matches(&shown)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut items = Vec::new();
        for k in keys {
            items.push(present(self.delete_in(&mut st, &k, opts, dry_run)?, rt));
        }
        if !dry_run {
            self.collect_garbage(&mut st);
        }
        Ok(
            json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
                  "metadata": {"resourceVersion": st.current_rv().to_string()}, "items": items}),
        )
    }
}
