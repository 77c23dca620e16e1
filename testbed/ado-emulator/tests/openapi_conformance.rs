//! Holds the emulator's answers to the official OpenAPI spec (`taskAgent-7.1.json`).
//!
//! Each answer is validated against the schema of its operation's 200 response, with `$ref`s
//! resolved into the spec's `definitions`. The spec is used as published except for three
//! narrow, documented rewrites where it describes .NET types rather than the wire:
//!
//! 1. `byte[]` fields are written as arrays of `string/byte`; Newtonsoft puts a base64 *string* on
//!    the wire (ado-protocol.md §0). Only schemas exactly `{"type":"array","items":{"type":"string","format":"byte"}}`
//!    are rewritten to `{"type":"string","format":"byte"}`.
//! 2. `TaskAgentJobRequest.demands` items are `Demand` objects in the spec but plain strings on the
//!    wire (`"java -equals /usr/bin/java"`, KEDA decodes `[]string`).
//! 3. `ReferenceLinks` describes the .NET class (`{links:{...}}`); the wire `_links` is the
//!    dictionary itself (`{"self":{"href"}}`), so it is left open.
//!
//! To catch misspelt field names (which the spec alone would allow, having no
//! `additionalProperties: false`), every other object definition is closed: `allOf` parents are
//! merged into the definition and unknown properties are rejected.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use azp_ado_emulator::testing::AgentKey;
use azp_ado_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::{Map, Value, json};

const PAT: &str = "conformance-pat";

/// Microsoft's spec as `make peers` provides it (`$AZP_PEERS_DIR/ado-spec/`); tests read peers from
/// nowhere else, so a clone anywhere runs them once `make peers` has found the file.
fn spec_path() -> PathBuf {
    let peers = std::env::var_os("AZP_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/peers"));
    peers.join("ado-spec/taskAgent-7.1.json")
}

fn load_spec() -> Value {
    let path = spec_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (run `make peers`; it says where it looks for the file)",
            path.display()
        )
    });
    // The published file starts with a UTF-8 BOM.
    serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap()
}

fn is_byte_array(schema: &Value) -> bool {
    schema.get("type") == Some(&json!("array"))
        && schema.get("items") == Some(&json!({"type": "string", "format": "byte"}))
}

/// Quirk 1, applied recursively; returns how many schemas were rewritten.
fn rewrite_byte_arrays(schema: &mut Value) -> usize {
    if is_byte_array(schema) {
        let description = schema.get("description").cloned();
        *schema = json!({"type": "string", "format": "byte"});
        if let Some(d) = description {
            schema["description"] = d;
        }
        return 1;
    }
    match schema {
        Value::Object(map) => map.values_mut().map(rewrite_byte_arrays).sum(),
        Value::Array(items) => items.iter_mut().map(rewrite_byte_arrays).sum(),
        _ => 0,
    }
}

/// Properties of a definition including its `allOf` parents.
fn all_properties(definitions: &Map<String, Value>, name: &str) -> Map<String, Value> {
    let def = &definitions[name];
    let mut properties = Map::new();
    for parent in def
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let parent_name = parent["$ref"]
            .as_str()
            .unwrap()
            .trim_start_matches("#/definitions/");
        properties.extend(all_properties(definitions, parent_name));
    }
    if let Some(own) = def.get("properties").and_then(Value::as_object) {
        properties.extend(own.clone());
    }
    properties
}

/// The spec's definitions with the documented rewrites applied and object definitions closed.
fn prepared_definitions(spec: &Value) -> Value {
    let mut definitions = spec["definitions"].as_object().unwrap().clone();
    let rewritten: usize = definitions.values_mut().map(rewrite_byte_arrays).sum();
    assert!(
        rewritten >= 3,
        "expected the publicKey/encryptionKey/iv byte arrays, rewrote {rewritten}"
    );
    let demands = &mut definitions["TaskAgentJobRequest"]["properties"]["demands"];
    assert_eq!(
        demands["items"],
        json!({"$ref": "#/definitions/Demand"}),
        "spec changed: revisit quirk 2"
    );
    demands["items"] = json!({"type": "string"});

    let open = ["ReferenceLinks", "PropertiesCollection", "JObject"];
    let names: Vec<String> = definitions.keys().cloned().collect();
    let mut closed = Map::new();
    for name in names {
        let mut def = definitions[&name].clone();
        let has_properties = def.get("properties").is_some() || def.get("allOf").is_some();
        if has_properties
            && !open.contains(&name.as_str())
            && def.get("additionalProperties").is_none()
        {
            let properties = all_properties(&definitions, &name);
            let map = def.as_object_mut().unwrap();
            map.remove("allOf");
            map.insert("type".to_owned(), json!("object"));
            map.insert("properties".to_owned(), Value::Object(properties));
            map.insert("additionalProperties".to_owned(), json!(false));
        }
        closed.insert(name, def);
    }
    Value::Object(closed)
}

/// The 200-response schema of an operation, looked up by `operationId` in `paths` and `x-ms-paths`.
fn response_schema(spec: &Value, operation_id: &str) -> Option<Value> {
    ["paths", "x-ms-paths"]
        .iter()
        .flat_map(|section| spec[section].as_object().unwrap().values())
        .flat_map(|path| path.as_object().unwrap().values())
        .find(|op| op.get("operationId").and_then(Value::as_str) == Some(operation_id))
        .map(|op| {
            op["responses"]["200"]
                .get("schema")
                .cloned()
                .unwrap_or(Value::Null)
        })
}

struct Checker {
    spec: Value,
    definitions: Value,
}

impl Checker {
    fn new() -> Self {
        let spec = load_spec();
        let definitions = prepared_definitions(&spec);
        Self { spec, definitions }
    }

    fn validate_schema(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let mut root = schema.clone();
        root["definitions"] = self.definitions.clone();
        let validator = jsonschema::draft4::new(&root).map_err(|e| format!("bad schema: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Validates a body against an operation's 200 schema; array schemas apply to the
    /// `{count,value}` wrapper's `value` (the spec omits the wrapper the wire always has).
    fn operation(&self, operation_id: &str, body: &Value) -> Result<(), String> {
        let schema = response_schema(&self.spec, operation_id)
            .unwrap_or_else(|| panic!("no operation {operation_id}"));
        if schema.get("type") == Some(&json!("array")) {
            let value = body
                .get("value")
                .ok_or("list answers need the {count,value} wrapper")?;
            if body.get("count").and_then(Value::as_u64) != value.as_array().map(|v| v.len() as u64)
            {
                return Err("count does not match value".to_owned());
            }
            self.validate_schema(&schema, value)
        } else {
            self.validate_schema(&schema, body)
        }
    }

    /// Validates against a definition (for routes the spec has no path for).
    fn definition(&self, name: &str, body: &Value) -> Result<(), String> {
        self.validate_schema(&json!({"$ref": format!("#/definitions/{name}")}), body)
    }
}

struct Client {
    http: reqwest::Client,
    org_url: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/_apis/{path}", self.org_url))
            .header("Accept", "application/json; api-version=7.1-preview.1");
        request = match bearer {
            Some(token) => request.bearer_auth(token),
            None => request.basic_auth("", Some(PAT)),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let text = response.text().await.unwrap();
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }
}

#[tokio::test]
async fn emulator_answers_conform_to_the_official_spec() {
    let checker = Checker::new();
    let cfg = EmulatorConfig {
        pat: PAT.to_owned(),
        pools: vec!["Default".to_owned(), "Linux".to_owned()],
        ..EmulatorConfig::default()
    };
    let emu = RunningEmulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = Client {
        http: reqwest::Client::new(),
        org_url: emu.org_url(),
    };
    use reqwest::Method as M;
    let check = |op: &str, body: &Value| {
        checker
            .operation(op, body)
            .unwrap_or_else(|e| panic!("{op}: {e}\n{body:#}"))
    };
    let check_def = |def: &str, body: &Value| {
        checker
            .definition(def, body)
            .unwrap_or_else(|e| panic!("{def}: {e}\n{body:#}"))
    };

    check(
        "Pools_Get Agent Pools",
        &client
            .call(
                M::GET,
                "distributedtask/pools?poolName=Default&poolType=automation",
                None,
                None,
            )
            .await,
    );
    check(
        "Pools_Get Agent Pools By Ids",
        &client
            .call(M::GET, "distributedtask/pools?poolIds=10,11", None, None)
            .await,
    );
    check(
        "Pools_Get",
        &client
            .call(M::GET, "distributedtask/pools/10", None, None)
            .await,
    );

    let key = AgentKey::generate().unwrap();
    let registration = json!({
        "name": "conformance", "version": "4.261.0", "osDescription": "Linux", "maxParallelism": 1,
        "provisioningState": "Provisioned", "systemCapabilities": {"java": "/usr/bin/java", "Agent.Version": "4.261.0"},
        "authorization": {"publicKey": key.public_key_json()},
    });
    let added = client
        .call(
            M::POST,
            "distributedtask/pools/10/agents",
            Some(registration),
            None,
        )
        .await;
    check("Agents_Add", &added);
    let agent_id = added["id"].as_i64().unwrap();
    let client_id = added["authorization"]["clientId"].as_str().unwrap();
    let auth_url = added["authorization"]["authorizationUrl"].as_str().unwrap();

    // Put a running job on the agent so assignedRequest / lastCompletedRequest are populated.
    let token_response = client
        .http
        .post(auth_url)
        .body(format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
            key.fresh_assertion(client_id, auth_url).unwrap()
        ))
        .send()
        .await
        .unwrap();
    let token: Value = token_response.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let session = client
        .call(M::POST, "distributedtask/pools/10/sessions", Some(json!({"ownerName": "pod", "agent": {"id": agent_id, "name": "conformance"}, "systemCapabilities": {"java": "/usr/bin/java"}})), Some(&token))
        .await;
    check_def("TaskAgentSession", &session);
    let session_id = session["sessionId"].as_str().unwrap();
    let first = emu
        .queue_job(azp_ado_emulator::QueueJob {
            pool: "Default".to_owned(),
            demands: vec!["java".to_owned()],
            ..Default::default()
        })
        .unwrap();
    let message = client
        .call(
            M::GET,
            &format!("distributedtask/pools/10/messages?sessionId={session_id}"),
            None,
            Some(&token),
        )
        .await;
    check_def("TaskAgentMessage", &message);
    let renewed = client.call(M::PATCH, &format!("distributedtask/pools/10/jobrequests/{first}?lockToken=00000000-0000-0000-0000-000000000000"), Some(json!({"requestId": first})), Some(&token)).await;
    check_def("TaskAgentJobRequest", &renewed);
    client.call(M::PATCH, &format!("distributedtask/pools/10/jobrequests/{first}?lockToken=00000000-0000-0000-0000-000000000000"), Some(json!({"requestId": first, "result": "succeeded"})), Some(&token)).await;
    let second = emu
        .queue_job(azp_ado_emulator::QueueJob {
            pool: "Default".to_owned(),
            demands: vec!["java -equals /usr/bin/java".to_owned()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(emu.job(second).unwrap().state, "assigned");

    let include =
        "includeCapabilities=true&includeAssignedRequest=true&includeLastCompletedRequest=true";
    let listed = client
        .call(
            M::GET,
            &format!("distributedtask/pools/10/agents?{include}"),
            None,
            None,
        )
        .await;
    assert!(
        listed["value"][0]["assignedRequest"].is_object()
            && listed["value"][0]["lastCompletedRequest"].is_object()
    );
    check("Agents_List", &listed);
    check(
        "Agents_Get Agent",
        &client
            .call(
                M::GET,
                &format!("distributedtask/pools/10/agents/{agent_id}?{include}"),
                None,
                None,
            )
            .await,
    );
    for request in client
        .call(M::GET, "distributedtask/pools/10/jobrequests", None, None)
        .await["value"]
        .as_array()
        .unwrap()
    {
        check_def("TaskAgentJobRequest", request);
    }
    client.call(M::PATCH, &format!("distributedtask/pools/10/jobrequests/{second}?lockToken=00000000-0000-0000-0000-000000000000"), Some(json!({"result": "succeeded"})), Some(&token)).await;

    check(
        "Agents_Update",
        &client
            .call(
                M::PATCH,
                &format!("distributedtask/pools/10/agents/{agent_id}"),
                Some(json!({"id": agent_id, "enabled": false})),
                None,
            )
            .await,
    );
    let new_key = AgentKey::generate().unwrap();
    let replaced = client
        .call(M::PUT, &format!("distributedtask/pools/10/agents/{agent_id}"), Some(json!({"id": agent_id, "name": "conformance", "version": "4.262.0", "authorization": {"publicKey": new_key.public_key_json()}})), None)
        .await;
    check("Agents_Replace Agent", &replaced);
    let placeholder = client
        .call(
            M::POST,
            "distributedtask/pools/11/agents",
            Some(json!({"name": "template", "version": "99.999.9", "status": "offline"})),
            None,
        )
        .await;
    check("Agents_Add", &placeholder);
    let deleted = client
        .call(
            M::DELETE,
            &format!("distributedtask/pools/10/agents/{agent_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(deleted, Value::Null, "Agents_Delete has no response body");
    emu.shutdown().await;
}

#[test]
fn wrong_bodies_fail_validation() {
    let checker = Checker::new();
    let pool = json!({"id": 10, "name": "Default", "poolType": "automation", "isHosted": false});
    assert!(checker.operation("Pools_Get", &pool).is_ok());
    let wrong_type = json!({"id": "x", "name": "Default"});
    assert!(
        checker.operation("Pools_Get", &wrong_type).is_err(),
        "a string id must fail"
    );
    let unwrapped_list = json!([pool]);
    assert!(
        checker
            .operation("Pools_Get Agent Pools", &unwrapped_list)
            .is_err(),
        "lists need the wrapper"
    );
    let misspelt = json!({"id": 1, "name": "a", "osDescripton": "Linux"});
    assert!(
        checker.operation("Agents_Get Agent", &misspelt).is_err(),
        "unknown fields must fail"
    );
    let nested =
        json!({"id": 1, "name": "a", "assignedRequest": {"requestId": 1, "reservedAgnet": {}}});
    assert!(
        checker.operation("Agents_Get Agent", &nested).is_err(),
        "nested definitions are closed too"
    );
    let bad_enum = json!({"id": 1, "name": "a", "status": "busy"});
    assert!(
        checker.operation("Agents_Get Agent", &bad_enum).is_err(),
        "busy exists only in GitHub's fork"
    );
    let bad_date = json!({"requestId": 1, "queueTime": "yesterday"});
    assert!(
        checker
            .definition("TaskAgentJobRequest", &bad_date)
            .is_err(),
        "date-time format is checked"
    );
    let key_as_array = json!({"id": 1, "name": "a", "authorization": {"publicKey": {"exponent": ["AQAB"], "modulus": "AAAA"}}});
    assert!(
        checker
            .operation("Agents_Get Agent", &key_as_array)
            .is_err(),
        "byte arrays are base64 strings on the wire"
    );
}
