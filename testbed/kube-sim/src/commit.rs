//! The common write path every create, update and patch goes through.
use crate::fields::Shape;
use crate::managed::{self, Writer};
use crate::{builtin, crd};
use serde_json::{Value, json};

use crate::api::{Cluster, Part, WriteOptions};
use crate::error::ApiError;
use crate::meta;
use crate::registry::ResourceType;
use crate::store::{ObjectKey, StoreState};

impl Cluster {
    /// The common write path: immutable metadata, status/spec split, generation, validation,
    /// managedFields, no-op detection, finalization, storing, garbage collection.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn commit(
        &self,
        st: &mut StoreState,
        rt: &ResourceType,
        key: ObjectKey,
        old: Option<&Value>,
        mut new: Value,
        part: Part,
        writer: &Writer<'_>,
        opts: &WriteOptions,
        applied: bool,
    ) -> Result<Value, ApiError> {
        let name = key.name.clone();
        match old {
            Some(old) => {
                let sent_uid = meta::uid(&new);
                if !sent_uid.is_empty() && sent_uid != meta::uid(old) {
                    return Err(ApiError::conflict(
                        &rt.plural,
                        &rt.group,
                        &name,
                        &format!(
                            "Precondition failed: UID in precondition: {sent_uid}, UID in object meta: {}",
                            meta::uid(old)
                        ),
                    ));
                }
                let sent_rv = meta::resource_version(&new).to_string();
                if !sent_rv.is_empty() && sent_rv != meta::resource_version(old) {
                    return Err(ApiError::conflict(
                        &rt.plural,
                        &rt.group,
                        &name,
                        "the object has been modified; please apply your changes to the latest version and try again",
                    ));
                }
                if part == Part::Status {
                    let status = new.get("status").cloned();
                    let mut only_status = old.clone();
                    match status {
                        Some(s) => only_status["status"] = s,
                        None => {
                            if let Some(m) = only_status.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                    if applied {
                        // A server-side apply of status computed its managedFields (with the
                        // `status` subresource entry) in `new`: keep them, as kube-apiserver
                        // does, so a later apply that omits a status field removes it.
                        if let Some(fields) = new.pointer("/metadata/managedFields").cloned() {
                            only_status["metadata"]["managedFields"] = fields;
                        }
                    }
                    // Otherwise managedFields are computed below from the old object.
                    new = only_status;
                } else if rt.has_status {
                    match old.get("status") {
                        Some(s) => new["status"] = s.clone(),
                        None => {
                            if let Some(m) = new.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
                let old_meta = old.get("metadata").cloned().unwrap_or_default();
                let m = meta::meta_mut(&mut new);
                for f in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                ] {
                    match old_meta.get(f) {
                        Some(v) => m.insert(f.into(), v.clone()),
                        None => m.remove(f),
                    };
                }
                m.insert(
                    "resourceVersion".into(),
                    Value::String(meta::resource_version(old).into()),
                );
                if meta::is_deleting(old) {
                    let before = meta::finalizers(old);
                    if let Some(added) = meta::finalizers(&new)
                        .into_iter()
                        .find(|f| !before.contains(f))
                    {
                        return Err(ApiError::invalid(
                            &rt.kind_group(),
                            &name,
                            &[(
                                "metadata.finalizers".into(),
                                format!(
                                    "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers [\"{added}\"]"
                                ),
                            )],
                        ));
                    }
                }
                if rt.bumps_generation && spec_part(&new) != spec_part(old) {
                    let generation = old
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    meta::meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
                }
            }
            None => {
                let m = meta::meta_mut(&mut new);
                m.insert(
                    "uid".into(),
                    Value::String(uuid::Uuid::new_v4().to_string()),
                );
                m.insert(
                    "creationTimestamp".into(),
                    Value::String(meta::timestamp(chrono::Utc::now())),
                );
                for f in [
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "resourceVersion",
                    "selfLink",
                ] {
                    m.remove(f);
                }
                if rt.bumps_generation {
                    m.insert("generation".into(), json!(1));
                } else {
                    m.remove("generation");
                }
                if rt.has_status
                    && rt.is_custom()
                    && let Some(o) = new.as_object_mut()
                {
                    o.remove("status");
                }
            }
        }

        let label = !rt.namespaced && rt.plural == "namespaces";
        if let Err(msg) = meta::validate_name(&name, label) {
            return Err(ApiError::invalid(
                &rt.kind_group(),
                &name,
                &[("metadata.name".into(), msg)],
            ));
        }
        crate::typed::decode(rt, &mut new, opts.field_validation)?;
        let meta_problems = crate::objectmeta::problems(&new);
        if !meta_problems.is_empty() {
            return Err(ApiError::invalid(&rt.kind_group(), &name, &meta_problems));
        }
        builtin::normalize(rt, old, &mut new)?;

        if let Some(schema) = &rt.schema {
            let sent = new.clone();
            crate::validation::validate_custom_resource(schema, &mut new, old)
                .map_err(|invalid| ApiError::from_invalid(&rt.kind_group(), &name, &invalid))?;
            crate::typed::check_unknown(&sent, &new, opts.field_validation)?;
        }
        if rt.group == "apiextensions.k8s.io" {
            let causes = crd::check(&new);
            if !causes.is_empty() {
                return Err(ApiError::invalid(&rt.kind_group(), &name, &causes));
            }
            new["status"] = crd::established_status(&new);
        }
        if !applied {
            managed::record_update(old, &mut new, writer, Shape::root(rt.schema.as_ref()));
        }
        // Stored in one form whichever Event API wrote it (see event_convert.rs); a write is a
        // no-op when the stored form would not change.
        let new = crate::event_convert::for_storage(rt, new);
        if let Some(old) = old
            && without_volatile(&crate::event_convert::for_storage(rt, old.clone()))
                == without_volatile(&new)
        {
            return Ok(old.clone());
        }
        if opts.dry_run {
            return Ok(new);
        }
        let grace_done = new
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            == 0;
        if meta::is_deleting(&new) && meta::finalizers(&new).is_empty() && grace_done {
            st.put(key.clone(), new);
            let removed = self.remove_now(st, &key);
            self.collect_garbage(st);
            return removed.ok_or_else(|| ApiError::internal("object vanished"));
        }
        if rt.group == "apiextensions.k8s.io" {
            self.registry_mut()
                .register_custom(crd::resource_types(&new));
        }
        let stored = st.put(key, new);
        self.collect_garbage(st);
        Ok(stored)
    }
}

fn without_volatile(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        // Ownership changes are real changes (an apply that takes over fields must be stored); timestamps are not.
        if let Some(entries) = m.get_mut("managedFields").and_then(Value::as_array_mut) {
            for e in entries.iter_mut().filter_map(Value::as_object_mut) {
                e.remove("time");
            }
        }
    }
    o
}

fn spec_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    o
}
