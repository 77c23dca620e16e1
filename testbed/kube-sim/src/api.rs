//! The cluster: shared request types, reads (get, list) and start-up state. Writes live in `write.rs`, `commit.rs` and `delete.rs`.
use std::sync::{RwLock, RwLockReadGuard};

use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::KubeSimConfig;
use crate::error::ApiError;
use crate::meta;
use crate::registry::{Registry, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{ObjectKey, Store, StoreState};

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource.
    Main,
    /// The `/status` subresource.
    Status,
}

/// Options common to writes.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// `fieldManager` (or one derived from the User-Agent).
    pub field_manager: String,
    /// `force` for server-side apply.
    pub force: bool,
    /// `fieldValidation`.
    pub field_validation: crate::typed::FieldValidation,
}

/// `DeleteOptions` (body or query).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    /// Seconds of grace (pods).
    pub grace_period_seconds: Option<i64>,
    /// `Background` (default), `Foreground` or `Orphan`.
    pub propagation_policy: Option<String>,
    /// Deprecated spelling of `Orphan`.
    pub orphan_dependents: Option<bool>,
    /// uid / resourceVersion preconditions.
    pub preconditions: Option<Preconditions>,
    /// `["All"]` for a dry run.
    pub dry_run: Option<Vec<String>>,
}

/// `DeleteOptions.preconditions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    /// Required uid.
    pub uid: Option<String>,
    /// Required resourceVersion.
    pub resource_version: Option<String>,
}

/// List parameters.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0: no limit).
    pub limit: usize,
    /// `continue` token from a previous page.
    pub continue_token: Option<String>,
}

/// The whole simulated cluster state.
#[derive(Debug)]
pub struct Cluster {
    registry: RwLock<Registry>,
    /// Objects and watch history.
    pub store: Store,
    /// Start-up configuration.
    pub config: KubeSimConfig,
    /// Cancelled on shutdown: ends open watches.
    pub stopping: tokio_util::sync::CancellationToken,
    /// Injected failures (tests).
    pub faults: crate::faults::Faults,
    /// Requests recorded for tests (nothing until a test asks).
    pub journal: crate::journal::Journal,
    /// Cancelled (and replaced) to end every open watch at once.
    watch_epoch: std::sync::Mutex<tokio_util::sync::CancellationToken>,
}

pub(crate) fn object_key(rt: &ResourceType, namespace: Option<&str>, name: &str) -> ObjectKey {
    let (group, resource) = rt.storage();
    ObjectKey {
        group: group.to_string(),
        resource: resource.to_string(),
        namespace: if rt.namespaced {
            namespace.unwrap_or("").to_string()
        } else {
            String::new()
        },
        name: name.to_string(),
    }
}

pub(crate) fn namespace_key(ns: &str) -> ObjectKey {
    ObjectKey {
        group: String::new(),
        resource: "namespaces".into(),
        namespace: String::new(),
        name: ns.into(),
    }
}

/// Copies an object for a reader of `rt`'s version (CRD conversion strategy `None`; Events
/// converted between their two API versions).
pub fn present(obj: Value, rt: &ResourceType) -> Value {
    let mut obj = crate::event_convert::for_reader(rt, obj);
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(rt.api_version()));
        m.insert("kind".into(), Value::String(rt.kind.clone()));
    }
    obj
}

impl Cluster {
    /// A cluster with the built-in kinds and the standard namespaces.
    pub fn new(config: KubeSimConfig) -> Self {
        let store = Store::new(config.event_history);
        let cluster = Self {
            registry: RwLock::new(Registry::with_builtins()),
            store,
            config,
            stopping: tokio_util::sync::CancellationToken::new(),
            faults: Default::default(),
            journal: Default::default(),
            watch_epoch: Default::default(),
        };
        let mut names: Vec<String> = ["default", "kube-system", "kube-public", "kube-node-lease"]
            .map(String::from)
            .to_vec();
        names.extend(cluster.config.extra_namespaces.iter().cloned());
        {
            let mut st = cluster.store.lock();
            for ns in names {
                let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                    "name": ns, "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": meta::timestamp(chrono::Utc::now()),
                    "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
                st.put(namespace_key(&ns), obj);
            }
        }
        cluster
    }

    /// The token open watches end on (see [`Cluster::end_watches`]).
    pub fn watch_token(&self) -> tokio_util::sync::CancellationToken {
        self.watch_epoch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Ends every open watch (like an API server restart); clients resume from their last resourceVersion.
    pub fn end_watches(&self) {
        let mut epoch = self.watch_epoch.lock().unwrap_or_else(|p| p.into_inner());
        epoch.cancel();
        *epoch = tokio_util::sync::CancellationToken::new();
    }

    /// Forgets the whole event history (like an etcd compaction): resuming watches get 410 Gone.
    pub fn compact_history(&self) {
        self.store.lock().compact();
    }

    /// Read access to the served types.
    pub fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds a served type.
    pub fn resolve(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.registry().find(group, version, plural).cloned()
    }

    /// Registers a CRD (used at start for `--crds DIR`; the API path goes through `create`).
    pub fn install_crd(&self, crd: Value) -> Result<Value, ApiError> {
        let rt = self
            .resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .ok_or_else(|| ApiError::internal("CRD type missing"))?;
        let opts = WriteOptions {
            dry_run: false,
            field_manager: "kube-sim".into(),
            force: false,
            field_validation: Default::default(),
        };
        self.create(&rt, None, crd, &opts).map(|(v, _)| v)
    }

    /// GET one object.
    pub fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        let st = self.store.lock();
        st.get(&object_key(rt, ns, name))
            .cloned()
            .map(|o| present(o, rt))
            .ok_or_else(|| ApiError::not_found(&rt.plural, &rt.group, name))
    }

    /// LIST objects (always from the latest state; `resourceVersion` parameters are not needed for that).
    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        q: &ListQuery,
    ) -> Result<Value, ApiError> {
        let st = self.store.lock();
        let after = match &q.continue_token {
            Some(t) => Some(decode_continue(t)?),
            None => None,
        };
        let (group, resource) = rt.storage();
        // Selectors apply to the object as this API version shows it (core Events'
        // `involvedObject.*` are `regarding.*` in storage).
        let matching: Vec<(&ObjectKey, Value)> = st
            .list(group, resource, ns)
            .into_iter()
            .filter(|(k, _)| {
                after
                    .as_ref()
                    .is_none_or(|(ans, aname)| (&k.namespace, &k.name) > (ans, aname))
            })
            .map(|(k, o)| (k, present(o.clone(), rt)))
            .filter(|(_, o)| q.labels.matches(o) && q.fields.matches(o))
            .collect();
        let total = matching.len();
        let take = if q.limit == 0 {
            total
        } else {
            q.limit.min(total)
        };
        let items: Vec<Value> = matching[..take].iter().map(|(_, o)| o.clone()).collect();
        let mut list_meta = json!({"resourceVersion": st.current_rv().to_string()});
        if take < total
            && let Some((k, _)) = matching.get(take.saturating_sub(1))
        {
            list_meta["continue"] = Value::String(encode_continue(&k.namespace, &k.name));
            list_meta["remainingItemCount"] = json!(total - take);
        }
        Ok(
            json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": list_meta, "items": items}),
        )
    }

    pub(crate) fn check_namespace(
        &self,
        st: &StoreState,
        rt: &ResourceType,
        ns: Option<&str>,
    ) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        let ns = ns.ok_or_else(|| {
            ApiError::bad_request("a namespace is required for namespaced resources")
        })?;
        match st.get(&namespace_key(ns)) {
            None => Err(ApiError::not_found("namespaces", "", ns)),
            Some(n) if meta::is_deleting(n) => Err(ApiError::forbidden(format!(
                "{} \"\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                rt.plural
            ))),
            Some(_) => Ok(()),
        }
    }
}

/// Parses `dryRun`: absent → false, `All` → true, anything else → 400.
pub fn dry_run_of(values: Option<&[String]>) -> Result<bool, ApiError> {
    match values {
        None | Some([]) => Ok(false),
        Some([v]) if v == "All" => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "dryRun: Unsupported value: {other:?}: supported values: \"All\""
        ))),
    }
}

fn encode_continue(ns: &str, name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!([ns, name]).to_string())
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let (ns, name): (String, String) = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((ns, name))
}
