//! Routing, api-version handling, input strictness, pools and agent CRUD details.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{DEFAULT_POOL, Emu, Exchange as _, LINUX_POOL, type_key};

#[tokio::test]
async fn api_version_is_accepted_in_query_header_or_not_at_all() {
    let emu = Emu::default().await;
    let requests = [
        emu.admin(Method::GET, "distributedtask/pools?api-version=7.1"),
        emu.admin(Method::GET, "distributedtask/pools")
            .header("Accept", "application/json; api-version=6.0-preview.2"),
        emu.admin(Method::GET, "distributedtask/pools?poolID=10&whatever=1"),
        emu.admin(Method::GET, "DistributedTask/Pools"),
    ];
    for request in requests {
        let body: Value = request.fetch_json().await;
        assert_eq!(body["count"], 2, "{body}");
    }
}

#[tokio::test]
async fn pools_filter_by_name_type_and_ids() {
    let emu = Emu::default().await;
    let names = |body: Value| {
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let get = |path: &str| emu.admin(Method::GET, path);
    assert_eq!(
        names(
            get("distributedtask/pools?poolName=linux&poolType=Automation")
                .fetch_json()
                .await
        ),
        ["Linux"]
    );
    assert_eq!(
        names(get("distributedtask/pools?poolName=Lin").fetch_json().await),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            get("distributedtask/pools?poolType=deployment")
                .fetch_json()
                .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            get("distributedtask/pools?poolIds=11,99")
                .fetch_json()
                .await
        ),
        ["Linux"]
    );
    let one: Value = get(&format!("distributedtask/pools/{LINUX_POOL}"))
        .fetch_json()
        .await;
    assert_eq!(
        (one["id"].as_i64(), one["name"].as_str()),
        (Some(11), Some("Linux"))
    );
    assert_eq!(
        get("distributedtask/pools/1").fetch_type_key().await,
        (
            StatusCode::NOT_FOUND,
            "TaskAgentPoolNotFoundException".to_owned()
        )
    );
    assert_eq!(
        get("distributedtask/pools/abc").fetch_status().await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get("distributedtask/pools?poolType=weird")
            .fetch_status()
            .await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn unknown_routes_404_and_wrong_methods_405_with_wrapped_exceptions() {
    let emu = Emu::default().await;
    assert_eq!(
        emu.admin(Method::GET, "distributedtask/nothing")
            .fetch_type_key()
            .await,
        (
            StatusCode::NOT_FOUND,
            "VssResourceNotFoundException".to_owned()
        )
    );
    assert_eq!(
        emu.admin(Method::DELETE, "distributedtask/pools")
            .fetch_type_key()
            .await,
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "VssMethodNotAllowedException".to_owned()
        )
    );
    let other_org = emu
        .http
        .get(format!(
            "{}/fabrikam/_apis/distributedtask/pools",
            emu.emu.base_url()
        ))
        .basic_auth("", Some(crate::common::PAT))
        .send()
        .await
        .unwrap();
    assert_eq!(other_org.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn location_data_lists_the_agent_routes() {
    let emu = Emu::default().await;
    let options: Value = emu.admin(Method::OPTIONS, "").fetch_json().await;
    let ids: Vec<&str> = options["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    for id in [
        "a8c47e17-4d56-4a56-92bb-de7ea7dc65be",
        "e298ef32-5878-4cab-993c-043836571f42",
        "134e239e-2df3-4794-a6f6-24f1f19ec8dc",
        "c3a054f6-7a8a-49c0-944e-3a8e5d7adfd7",
        "fc825784-c92a-4299-9221-998a02d1b54f",
    ] {
        assert!(ids.contains(&id), "{id} missing from OPTIONS _apis");
    }
    let data: Value = emu
        .http
        .get(emu.api("connectionData?connectOptions=1&lastChangeId=-1&lastChangeId64=-1"))
        .fetch_json()
        .await;
    assert_eq!(data["deploymentType"], "onPremises");
    assert!(data["locationServiceData"].get("serviceOwner").is_none());
    assert_eq!(
        data["locationServiceData"]["serviceDefinitions"]
            .as_array()
            .unwrap()
            .len(),
        ids.len()
    );
    let again: Value = emu.http.get(emu.api("connectiondata")).fetch_json().await;
    assert_eq!(
        again["instanceId"], data["instanceId"],
        "instanceId is stable"
    );
    let flag: Value = emu
        .admin(Method::GET, "FeatureFlags/DistributedTask.Agent.UseCng")
        .fetch_json()
        .await;
    assert_eq!(flag["effectiveState"], "Off");
    let areas: Value = emu.admin(Method::GET, "ResourceAreas").fetch_json().await;
    assert_eq!(areas, json!({"count": 0, "value": []}));
    let telemetry = emu
        .admin(Method::POST, "customerintelligence/Events")
        .json(&json!([{"area": "x"}]))
        .send()
        .await
        .unwrap();
    assert!(telemetry.status().is_success());
}

#[tokio::test]
async fn agent_bodies_are_parsed_strictly() {
    let emu = Emu::default().await;
    let agents = format!("distributedtask/pools/{DEFAULT_POOL}/agents");
    let bad_bodies = [
        emu.admin(Method::POST, &agents).header("Content-Type", "application/json").body("{not json"),
        emu.admin(Method::POST, &agents).json(&json!({"name": "x", "enabled": "yes"})),
        emu.admin(Method::POST, &agents).json(&json!({"version": "1"})),
        emu.admin(Method::POST, &agents).json(&json!({"name": "x", "authorization": {"publicKey": {"exponent": "AQAB", "modulus": "AAAA"}}})),
    ];
    for request in bad_bodies {
        assert_eq!(
            request.fetch_type_key().await,
            (StatusCode::BAD_REQUEST, "ArgumentException".to_owned())
        );
    }
    let id = emu
        .register_placeholder(DEFAULT_POOL, "p1", json!({}))
        .await;
    let mismatch = emu
        .admin(Method::PATCH, &format!("{agents}/{id}"))
        .json(&json!({"id": id + 1, "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST);
    let missing = emu
        .admin(Method::PATCH, &format!("{agents}/777"))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        type_key(missing).await,
        (
            StatusCode::NOT_FOUND,
            "TaskAgentNotFoundException".to_owned()
        )
    );
}

#[tokio::test]
async fn agent_listing_honours_name_and_include_flags_and_ids_are_never_reused() {
    let emu = Emu::default().await;
    let agents = format!("distributedtask/pools/{DEFAULT_POOL}/agents");
    let first = emu
        .register_placeholder(DEFAULT_POOL, "template", json!({"java": "1"}))
        .await;
    assert_eq!(
        emu.admin(Method::POST, &agents)
            .json(&json!({"name": "TEMPLATE"}))
            .fetch_type_key()
            .await,
        (StatusCode::CONFLICT, "TaskAgentExistsException".to_owned())
    );
    let listed: Value = emu
        .admin(
            Method::GET,
            &format!("{agents}?agentName=Template&includeCapabilities=False"),
        )
        .fetch_json()
        .await;
    assert_eq!(listed["count"], 1);
    assert!(listed["value"][0].get("systemCapabilities").is_none());
    let with_caps: Value = emu
        .admin(
            Method::GET,
            &format!("{agents}?agentName=template&includeCapabilities=True"),
        )
        .fetch_json()
        .await;
    assert_eq!(with_caps["value"][0]["systemCapabilities"]["java"], "1");
    assert_eq!(
        emu.admin(Method::GET, &format!("{agents}?includeCapabilities=maybe"))
            .fetch_status()
            .await,
        StatusCode::BAD_REQUEST
    );

    assert_eq!(
        emu.admin(Method::DELETE, &format!("{agents}/{first}"))
            .fetch_status()
            .await,
        StatusCode::NO_CONTENT
    );
    let second = emu
        .register_placeholder(DEFAULT_POOL, "template", json!({}))
        .await;
    assert!(
        second > first,
        "agent ids are never reused ({first} then {second})"
    );
    let pool: Value = emu
        .admin(
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}"),
        )
        .fetch_json()
        .await;
    assert_eq!(pool["size"], 1);
}

#[tokio::test]
async fn api_versions_are_negotiated_like_the_service() {
    let emu = Emu::default().await;
    let pat = |rb: reqwest::RequestBuilder| rb.basic_auth("", Some(crate::common::PAT));
    let jobs = emu.api(&format!("distributedtask/pools/{DEFAULT_POOL}/jobrequests"));
    // Unreleased resource: a plain version needs -preview; none at all is fine for a GET (KEDA).
    assert_eq!(
        pat(emu.http.get(format!("{jobs}?api-version=7.1")))
            .fetch_type_key()
            .await,
        (
            StatusCode::BAD_REQUEST,
            "VssInvalidPreviewVersionException".to_owned()
        )
    );
    assert_eq!(
        pat(emu.http.get(format!("{jobs}?api-version=7.1-preview.1")))
            .fetch_status()
            .await,
        StatusCode::OK
    );
    assert_eq!(
        pat(emu.http.get(&jobs)).fetch_status().await,
        StatusCode::OK
    );
    // Newer than the server.
    assert_eq!(
        pat(emu
            .http
            .get(emu.api("distributedtask/pools?api-version=8.0")))
        .fetch_type_key()
        .await,
        (
            StatusCode::BAD_REQUEST,
            "VssVersionOutOfRangeException".to_owned()
        )
    );
    // Writes must name a version.
    let agents = emu.api(&format!("distributedtask/pools/{DEFAULT_POOL}/agents"));
    assert_eq!(
        pat(emu.http.post(&agents))
            .json(&json!({"name": "a"}))
            .fetch_type_key()
            .await,
        (
            StatusCode::BAD_REQUEST,
            "VssVersionNotSpecifiedException".to_owned()
        )
    );
    let ok = pat(emu.http.post(format!("{agents}?api-version=7.1")))
        .json(&json!({"name": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // connectionData: the agent's 1.0 works, a plain 7.1 does not (as live organizations answer).
    assert_eq!(
        emu.http
            .get(emu.api("connectionData?api-version=1.0"))
            .fetch_status()
            .await,
        StatusCode::OK
    );
    assert_eq!(
        emu.http
            .get(emu.api("connectionData?api-version=7.1"))
            .fetch_type_key()
            .await,
        (
            StatusCode::BAD_REQUEST,
            "VssInvalidPreviewVersionException".to_owned()
        )
    );
}
