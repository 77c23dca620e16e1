//! The HTTP front: routing, query parsing, verbs → `Cluster` operations.
pub mod discovery;
pub mod event_table;
pub mod openapi;
pub mod protobuf;
pub mod render;
pub mod route;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::api::{Cluster, DeleteOptions, ListQuery, Part, WriteOptions, dry_run_of};
use crate::error::ApiError;
use crate::patch::PatchKind;
use crate::selector::{FieldSelector, LabelSelector};
use route::{ResourcePath, Route};

/// Shared state of the HTTP layer.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// `host:port` the server listens on (for `/api` discovery).
    pub address: String,
    /// Signs service-account tokens (TokenRequest) and publishes the JWKS.
    pub tokens: Arc<crate::sa_tokens::TokenIssuer>,
}

impl AppState {
    /// The service-account issuer (`iss`): this server's own URL, as on a cluster whose
    /// `--service-account-issuer` is the API server's address.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// The router: every request goes through one dispatcher, like the real server's handler chain.
pub fn router(state: AppState) -> Router {
    // The real server accepts request bodies up to 3 MiB (CRDs with embedded pod templates are large).
    Router::new()
        .fallback(dispatch)
        .layer(axum::extract::DefaultBodyLimit::max(3 * 1024 * 1024))
        .with_state(state)
}

struct Query(Vec<(String, String)>);

impl Query {
    fn parse(uri: &Uri) -> Self {
        Self(
            url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

fn json_response(code: u16, v: &Value) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

async fn dispatch(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let result = match app.cluster.faults.check(method.as_str(), &path) {
        Some(injected) => Err(injected),
        None => handle(&app, &method, &uri, &headers, body).await,
    };
    let response = match result {
        Ok(resp) => {
            tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
            resp
        }
        Err(e) => {
            tracing::debug!(%method, %path, code = e.code, reason = e.reason, message = %e.message, "request failed");
            e.into_response()
        }
    };
    app.cluster
        .journal
        .answered(method.as_str(), &path, response.status().as_u16());
    response
}

async fn handle(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let path = uri.path();
    let cluster = &app.cluster;
    let get_only = |v: Option<Value>| -> Result<Response, ApiError> {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed(method.as_str(), path));
        }
        v.map(|v| json_response(200, &v))
            .ok_or_else(|| ApiError::unknown_path(path))
    };
    match route::parse(path) {
        Route::Version => get_only(Some(discovery::version())),
        Route::Health => {
            if method != Method::GET {
                return Err(ApiError::method_not_allowed(method.as_str(), path));
            }
            Ok((StatusCode::OK, "ok").into_response())
        }
        Route::CoreVersions => get_only(Some(discovery::core_versions(&app.address))),
        Route::Groups => get_only(Some(discovery::group_list(&cluster.registry()))),
        Route::Group(g) => get_only(discovery::group(&cluster.registry(), &g)),
        Route::GroupVersion { group, version } => get_only(discovery::resource_list(
            &cluster.registry(),
            &group,
            &version,
        )),
        Route::OpenApiRoot => get_only(Some(openapi::root(&cluster.registry()))),
        Route::OpenApiGroupVersion { group, version } => get_only(openapi::group_version(
            &cluster.registry(),
            &group,
            &version,
        )),
        Route::OidcDiscovery => get_only(Some(crate::sa_tokens::discovery(&app.issuer()))),
        Route::Jwks => get_only(Some(app.tokens.jwks())),
        Route::Resource(rp) => negotiated(app, method, uri, headers, body, rp).await,
        Route::Unknown => Err(ApiError::unknown_path(path)),
    }
}

fn field_manager(q: &Query, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(m) = q.get("fieldManager") {
        if m.len() > 128 {
            return Err(ApiError::bad_request(
                "fieldManager: Too long: may not be longer than 128",
            ));
        }
        return Ok(m.to_string());
    }
    // The real server derives a default manager from the User-Agent's product token.
    let ua = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    Ok(ua.split('/').next().unwrap_or("unknown").to_string())
}

/// `kind` is `Kind` or `Kind.group` (field selectors differ between the two Event APIs).
fn list_query(q: &Query, kind: &str) -> Result<ListQuery, ApiError> {
    Ok(ListQuery {
        labels: LabelSelector::parse(q.get("labelSelector").unwrap_or(""))?,
        fields: FieldSelector::parse(q.get("fieldSelector").unwrap_or(""), kind)?,
        limit: match q.get("limit") {
            Some(l) if !l.is_empty() => l
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
            _ => 0,
        },
        continue_token: q
            .get("continue")
            .filter(|c| !c.is_empty())
            .map(String::from),
    })
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let base = content_type.split(';').next().unwrap_or("").trim();
    if base == protobuf::MEDIA_TYPE {
        // kubectl sends built-in types as protobuf (`kubectl create secret generic …`).
        return protobuf::decode(body);
    }
    if !matches!(base, "application/json" | "application/yaml" | "" | "*/*") {
        // CBOR is not implemented: say so (clients then retry with JSON) instead of guessing.
        return Err(ApiError::unsupported_body_type(content_type));
    }
    // kubectl and kube-rs send JSON; YAML is accepted as the real server does for some clients.
    serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
}

fn delete_options(q: &Query, body: &Bytes) -> Result<DeleteOptions, ApiError> {
    let mut opts: DeleteOptions = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    if let Some(g) = q.get("gracePeriodSeconds") {
        opts.grace_period_seconds = Some(
            g.parse()
                .map_err(|_| ApiError::bad_request("invalid gracePeriodSeconds"))?,
        );
    }
    if let Some(p) = q.get("propagationPolicy") {
        opts.propagation_policy = Some(p.to_string());
    }
    let dry = q.all("dryRun");
    if !dry.is_empty() {
        opts.dry_run = Some(dry);
    }
    Ok(opts)
}

/// A resource request answered in the media type its `Accept` allows: JSON whenever JSON is
/// acceptable; protobuf for a single object of a kind `protobuf::encode` handles when only
/// protobuf is; 406, before anything is done, otherwise (lists, watches, tables, deletes,
/// other kinds), like the real server's negotiation.
async fn negotiated(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    rp: ResourcePath,
) -> Result<Response, ApiError> {
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let negotiated = protobuf::negotiate(accept);
    if negotiated == protobuf::Negotiated::Json {
        return resource(app, method, uri, headers, body, rp).await;
    }
    let single = match (rp.name.is_some(), rp.subresource.as_deref()) {
        (false, _) => *method == Method::POST,
        (true, None | Some("status")) => {
            matches!(*method, Method::GET | Method::PUT | Method::PATCH)
        }
        (true, Some(_)) => false,
    };
    let Some(rt) = app.cluster.resolve(&rp.group, &rp.version, &rp.plural) else {
        // An unknown resource is 404 whatever the client accepts.
        return resource(app, method, uri, headers, body, rp).await;
    };
    let encodable = protobuf::encodable(&rt.api_version(), &rt.kind);
    if negotiated != protobuf::Negotiated::Protobuf || !single || !encodable {
        return Err(ApiError::not_acceptable(&format!(
            "kube-sim answers {} only for a single {}",
            protobuf::MEDIA_TYPE,
            protobuf::names(protobuf::encode::ENCODED)
        )));
    }
    let response = resource(app, method, uri, headers, body, rp).await?;
    let (mut parts, json) = response.into_parts();
    let json = axum::body::to_bytes(json, usize::MAX)
        .await
        .map_err(|e| ApiError::internal(format!("reading the answer: {e}")))?;
    let object: Value = serde_json::from_slice(&json)
        .map_err(|e| ApiError::internal(format!("re-reading the answer: {e}")))?;
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(protobuf::MEDIA_TYPE),
    );
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Ok(Response::from_parts(
        parts,
        axum::body::Body::from(protobuf::encode(&object)?),
    ))
}

async fn resource(
    app: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    rp: ResourcePath,
) -> Result<Response, ApiError> {
    let path = uri.path();
    let cluster = &app.cluster;
    let rt = cluster
        .resolve(&rp.group, &rp.version, &rp.plural)
        .ok_or_else(|| ApiError::unknown_path(path))?;
    if !rt.namespaced && rp.namespace.is_some() {
        return Err(ApiError::unknown_path(path));
    }
    let ns = rp.namespace.as_deref();
    let q = Query::parse(uri);
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let view = render::view_from(accept, q.get("includeObject"));
    let not_allowed = || ApiError::method_not_allowed(method.as_str(), path);
    let write_opts = || -> Result<WriteOptions, ApiError> {
        Ok(WriteOptions {
            dry_run: dry_run_of(Some(&q.all("dryRun")))?,
            field_manager: field_manager(&q, headers)?,
            force: q.flag("force"),
            field_validation: crate::typed::FieldValidation::parse(q.get("fieldValidation"))?,
        })
    };
    match (rp.name.as_deref(), rp.subresource.as_deref()) {
        (None, _) => match *method {
            Method::GET => {
                let lq = list_query(&q, &rt.kind_group())?;
                if q.flag("watch") {
                    let params =
                        watch::WatchParams {
                            namespace: ns.map(String::from),
                            resource_version: q.get("resourceVersion").unwrap_or("").to_string(),
                            bookmarks: q.flag("allowWatchBookmarks"),
                            send_initial_events: q.flag("sendInitialEvents"),
                            timeout: match q.get("timeoutSeconds") {
                                Some(t) => Some(Duration::from_secs(t.parse().map_err(|_| {
                                    ApiError::bad_request("invalid timeoutSeconds")
                                })?)),
                                None => None,
                            },
                            labels: lq.labels,
                            fields: lq.fields,
                            view,
                        };
                    if params.send_initial_events && !params.bookmarks {
                        return Err(ApiError::invalid("ListOptions", "", &[("sendInitialEvents".into(), "Forbidden: sendInitialEvents requires setting allowWatchBookmarks=true".into())]));
                    }
                    return watch::watch(cluster.clone(), rt, params);
                }
                Ok(json_response(
                    200,
                    &render::list(view, &rt, cluster.list(&rt, ns, &lq)?),
                ))
            }
            Method::POST => {
                if rt.namespaced && ns.is_none() {
                    return Err(not_allowed());
                }
                let (obj, code) =
                    cluster.create(&rt, ns, parse_body(headers, &body)?, &write_opts()?)?;
                Ok(json_response(code, &obj))
            }
            Method::DELETE => {
                // Like the real server: no cross-namespace deletecollection route exists.
                if rt.namespaced && ns.is_none() {
                    return Err(not_allowed());
                }
                let lq = list_query(&q, &rt.kind_group())?;
                Ok(json_response(
                    200,
                    &cluster.delete_collection(&rt, ns, &lq, &delete_options(&q, &body)?)?,
                ))
            }
            _ => Err(not_allowed()),
        },
        (Some(name), None) => match *method {
            Method::GET => Ok(json_response(
                200,
                &render::object(view, &rt, cluster.get(&rt, ns, name)?),
            )),
            Method::PUT => Ok(json_response(
                200,
                &cluster.replace(
                    &rt,
                    ns,
                    name,
                    Part::Main,
                    parse_body(headers, &body)?,
                    &write_opts()?,
                )?,
            )),
            Method::PATCH => patch(
                app,
                headers,
                &rt,
                ns,
                name,
                Part::Main,
                &body,
                &write_opts()?,
            ),
            Method::DELETE => Ok(json_response(
                200,
                &cluster.delete(&rt, ns, name, &delete_options(&q, &body)?)?,
            )),
            _ => Err(not_allowed()),
        },
        (Some(name), Some("status")) if rt.has_status => match *method {
            Method::GET => Ok(json_response(
                200,
                &render::object(view, &rt, cluster.get(&rt, ns, name)?),
            )),
            Method::PUT => Ok(json_response(
                200,
                &cluster.replace(
                    &rt,
                    ns,
                    name,
                    Part::Status,
                    parse_body(headers, &body)?,
                    &write_opts()?,
                )?,
            )),
            Method::PATCH => patch(
                app,
                headers,
                &rt,
                ns,
                name,
                Part::Status,
                &body,
                &write_opts()?,
            ),
            _ => Err(not_allowed()),
        },
        (Some(name), Some("token")) if rt.group.is_empty() && rt.plural == "serviceaccounts" => {
            match *method {
                Method::POST => token_request(app, &rt, ns.unwrap_or(""), name, headers, &body),
                _ => Err(not_allowed()),
            }
        }
        (Some(name), Some("binding")) if rt.group.is_empty() && rt.plural == "pods" => {
            match *method {
                Method::POST => Ok(json_response(
                    201,
                    &cluster.bind_pod(ns.unwrap_or(""), name, &parse_body(headers, &body)?)?,
                )),
                _ => Err(not_allowed()),
            }
        }
        _ => Err(ApiError::unknown_path(path)),
    }
}

/// `POST serviceaccounts/{name}/token`: a signed token for an existing service account
/// (404 for an unknown one, like the real server).
fn token_request(
    app: &AppState,
    rt: &crate::registry::ResourceType,
    namespace: &str,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let account = app.cluster.get(rt, Some(namespace), name)?;
    let request = parse_body(headers, body)?;
    let issuer = app.issuer();
    let (audiences, expiration_seconds) = crate::sa_tokens::parse_request(&request, &issuer)?;
    let uid = account
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (token, expires) = app.tokens.issue(
        &issuer,
        &crate::sa_tokens::TokenFor {
            namespace,
            name,
            uid,
            audiences: audiences.clone(),
            expiration_seconds,
        },
        chrono::Utc::now(),
    )?;
    let mut answer = serde_json::json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": {"audiences": audiences, "expirationSeconds": expiration_seconds, "boundObjectRef": null},
        "status": {"token": token, "expirationTimestamp": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)},
    });
    if let Some(bound) = request.pointer("/spec/boundObjectRef") {
        answer["spec"]["boundObjectRef"] = bound.clone();
    }
    Ok(json_response(201, &answer))
}

#[allow(clippy::too_many_arguments)]
fn patch(
    app: &AppState,
    headers: &HeaderMap,
    rt: &crate::registry::ResourceType,
    ns: Option<&str>,
    name: &str,
    part: Part,
    body: &Bytes,
    opts: &WriteOptions,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let kind = PatchKind::from_content_type(content_type)?;
    if kind != PatchKind::Apply && opts.force {
        return Err(ApiError::bad_request(
            "force: Forbidden: may not be specified for non-apply patch",
        ));
    }
    let (obj, code) = app.cluster.patch(rt, ns, name, part, kind, body, opts)?;
    Ok(json_response(code, &obj))
}
