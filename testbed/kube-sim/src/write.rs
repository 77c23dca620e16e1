//! Writes: create (POST), replace (PUT), the four patch types, and `pods/binding`.
use crate::fields::Shape;
use crate::managed::{self, Writer};
use crate::patch::{self, PatchKind};
use serde_json::{Value, json};

use crate::api::{Cluster, Part, WriteOptions, object_key, present};
use crate::error::ApiError;
use crate::meta;
use crate::registry::ResourceType;

impl Cluster {
    /// POST: create. Returns the object and the HTTP code (201, or 200 for a dry run).
    pub fn create(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<(Value, u16), ApiError> {
        meta::require_object(&body)?;
        check_type_and_namespace(rt, ns, &mut body)?;
        let m = meta::meta_mut(&mut body);
        if m.get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let name = match m
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(n) => n.to_string(),
            None => match m
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                Some(prefix) => format!("{prefix}{}", meta::random_suffix()),
                None => {
                    return Err(ApiError::invalid(
                        &rt.kind_group(),
                        "",
                        &[(
                            "metadata.name".into(),
                            "Required value: name or generateName is required".into(),
                        )],
                    ));
                }
            },
        };
        m.insert("name".into(), Value::String(name.clone()));
        let mut st = self.store.lock();
        self.check_namespace(&st, rt, ns)?;
        let key = object_key(rt, ns, &name);
        if st.get(&key).is_some() {
            return Err(ApiError::already_exists(&rt.plural, &rt.group, &name));
        }
        let writer = Writer {
            manager: &opts.field_manager,
            api_version: &rt.api_version(),
            subresource: "",
        };
        let stored = self.commit(
            &mut st,
            rt,
            key,
            None,
            body,
            Part::Main,
            &writer,
            opts,
            false,
        )?;
        Ok((present(stored, rt), if opts.dry_run { 200 } else { 201 }))
    }

    /// PUT: replace the main resource or its status.
    pub fn replace(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        part: Part,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        meta::require_object(&body)?;
        check_type_and_namespace(rt, ns, &mut body)?;
        check_name(&mut body, name)?;
        let mut st = self.store.lock();
        let key = object_key(rt, ns, name);
        let old = st
            .get(&key)
            .cloned()
            .map(|o| crate::event_convert::for_reader(rt, o))
            .ok_or_else(|| ApiError::not_found(&rt.plural, &rt.group, name))?;
        let writer = Writer {
            manager: &opts.field_manager,
            api_version: &rt.api_version(),
            subresource: sub_name(part),
        };
        self.commit(
            &mut st,
            rt,
            key,
            Some(&old),
            body,
            part,
            &writer,
            opts,
            false,
        )
        .map(|v| present(v, rt))
    }

    /// PATCH with any of the four patch types. Server-side apply may create (201).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        part: Part,
        kind: PatchKind,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<(Value, u16), ApiError> {
        let mut st = self.store.lock();
        let key = object_key(rt, ns, name);
        // Patches apply to the object as the request's API version shows it.
        let old = st
            .get(&key)
            .cloned()
            .map(|o| crate::event_convert::for_reader(rt, o));
        let api_version = rt.api_version();
        let writer = Writer {
            manager: &opts.field_manager,
            api_version: &api_version,
            subresource: sub_name(part),
        };
        if kind == PatchKind::Apply {
            let mut applied: Value = serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            meta::require_object(&applied)?;
            if opts.field_manager.is_empty() {
                return Err(ApiError::bad_request(
                    "PATCH, application/apply-patch+yaml requires fieldManager to be set",
                ));
            }
            let missing = |f: &str| {
                applied
                    .get(f)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            };
            if missing("apiVersion") || missing("kind") {
                return Err(ApiError::bad_request(
                    "invalid object type: apiVersion and kind must be set in an applied configuration",
                ));
            }
            check_type_and_namespace(rt, ns, &mut applied)?;
            check_name(&mut applied, name)?;
            if applied.pointer("/metadata/managedFields").is_some() {
                return Err(ApiError::bad_request("metadata.managedFields must be nil"));
            }
            // Only the addressed part is applied: status for /status, everything but status otherwise
            // (for kinds with a status subresource).
            if rt.has_status {
                let m = applied
                    .as_object_mut()
                    .ok_or_else(|| ApiError::bad_request("bad apply body"))?;
                match part {
                    Part::Main => {
                        m.remove("status");
                    }
                    Part::Status => {
                        m.retain(|k, _| {
                            matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                        });
                        // A status apply owns status fields only; metadata just identifies the object.
                        if let Some(Value::Object(md)) = m.get_mut("metadata") {
                            md.retain(|k, _| {
                                matches!(k.as_str(), "name" | "namespace" | "resourceVersion")
                            });
                        }
                    }
                }
            }
            let shape = Shape::root(rt.schema.as_ref());
            match old {
                Some(old) => {
                    let merged = managed::apply(Some(&old), &applied, &writer, opts.force, shape)?;
                    self.commit(
                        &mut st,
                        rt,
                        key,
                        Some(&old),
                        merged,
                        part,
                        &writer,
                        opts,
                        true,
                    )
                    .map(|v| (present(v, rt), 200))
                }
                None => {
                    if part == Part::Status {
                        return Err(ApiError::not_found(&rt.plural, &rt.group, name));
                    }
                    self.check_namespace(&st, rt, ns)?;
                    let created = managed::apply(None, &applied, &writer, opts.force, shape)?;
                    let stored =
                        self.commit(&mut st, rt, key, None, created, part, &writer, opts, true)?;
                    Ok((present(stored, rt), if opts.dry_run { 200 } else { 201 }))
                }
            }
        } else {
            let old = old.ok_or_else(|| ApiError::not_found(&rt.plural, &rt.group, name))?;
            let patch_body: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut new = old.clone();
            match kind {
                PatchKind::Merge => patch::merge_patch(&mut new, &patch_body)?,
                PatchKind::Json => patch::json_patch(&mut new, &patch_body)?,
                PatchKind::Strategic => {
                    if rt.is_custom() {
                        return Err(ApiError::unsupported_media_type(
                            "application/strategic-merge-patch+json (not supported for custom resources)",
                        ));
                    }
                    patch::strategic_merge_patch(&mut new, &patch_body)?
                }
                PatchKind::Apply => unreachable!("handled above"),
            }
            check_type_and_namespace(rt, ns, &mut new)?;
            check_name(&mut new, name)?;
            self.commit(
                &mut st,
                rt,
                key,
                Some(&old),
                new,
                part,
                &writer,
                opts,
                false,
            )
            .map(|v| (present(v, rt), 200))
        }
    }

    /// `pods/{name}/binding`: what the scheduler does (sets `spec.nodeName`, once).
    pub fn bind_pod(&self, ns: &str, name: &str, binding: &Value) -> Result<Value, ApiError> {
        let node = binding
            .pointer("/target/name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    "Binding",
                    name,
                    &[("target.name".into(), "Required value".into())],
                )
            })?;
        let rt = self
            .resolve("", "v1", "pods")
            .ok_or_else(|| ApiError::internal("pods type missing"))?;
        let mut st = self.store.lock();
        let key = object_key(&rt, Some(ns), name);
        let mut pod = st
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found("pods", "", name))?;
        if pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
        {
            return Err(ApiError::conflict(
                "pods",
                "",
                name,
                "pod is already assigned to a node",
            ));
        }
        if meta::is_deleting(&pod) {
            return Err(ApiError::conflict(
                "pods",
                "",
                name,
                "pod is being deleted, cannot be assigned to a host",
            ));
        }
        pod["spec"]["nodeName"] = json!(node);
        st.put(key, pod);
        Ok(
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        )
    }
}

fn sub_name(part: Part) -> &'static str {
    match part {
        Part::Main => "",
        Part::Status => "status",
    }
}

fn check_type_and_namespace(
    rt: &ResourceType,
    ns: Option<&str>,
    body: &mut Value,
) -> Result<(), ApiError> {
    let api_version = rt.api_version();
    for (field, expected) in [
        ("apiVersion", api_version.as_str()),
        ("kind", rt.kind.as_str()),
    ] {
        match body.get(field).and_then(Value::as_str) {
            Some(v) if !v.is_empty() && v != expected => {
                return Err(ApiError::bad_request(format!(
                    "the {field} in the data ({v}) does not match the expected {field} ({expected})"
                )));
            }
            _ => body[field] = Value::String(expected.to_string()),
        }
    }
    let m = meta::meta_mut(body);
    if rt.namespaced {
        let url_ns = ns.unwrap_or("");
        match m.get("namespace").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                m.insert("namespace".into(), Value::String(url_ns.to_string()));
            }
        }
    } else {
        m.remove("namespace");
    }
    Ok(())
}

fn check_name(body: &mut Value, name: &str) -> Result<(), ApiError> {
    let m = meta::meta_mut(body);
    match m.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && n != name => Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        ))),
        _ => {
            m.insert("name".into(), Value::String(name.to_string()));
            Ok(())
        }
    }
}
