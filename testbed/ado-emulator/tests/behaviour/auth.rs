//! PAT / bearer authentication, agent-scoped tokens and OAuth assertion checks.

use azp_ado_emulator::testing::AgentKey;
use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{DEFAULT_POOL, Emu, Exchange as _, LINUX_POOL, PAT, config};

#[tokio::test]
async fn missing_or_wrong_credentials_get_a_401_challenge() {
    let emu = Emu::default().await;
    let url = emu.api("distributedtask/pools");
    for request in [
        emu.http.get(&url),
        emu.http.get(&url).basic_auth("", Some("wrong")),
        emu.http.get(&url).bearer_auth("nope"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer authorization_uri=https://login.microsoftonline.com/"),
            "{challenge}"
        );
        assert!(
            challenge.contains(&format!("Basic realm=\"{}/\"", emu.emu.base_url()))
                && challenge.ends_with("TFS-Federated"),
            "{challenge}"
        );
    }
    // connectionData answers anonymously (the agent's first call), but not with a wrong PAT.
    assert_eq!(
        emu.http.get(emu.api("connectionData")).fetch_status().await,
        StatusCode::OK
    );
    let wrong = emu
        .http
        .get(emu.api("connectionData"))
        .basic_auth("", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // Any user name works with the PAT.
    let ok = emu
        .http
        .get(&url)
        .basic_auth("", Some(PAT))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn configured_static_bearer_token_acts_like_the_pat() {
    let emu = Emu::start(azp_ado_emulator::EmulatorConfig {
        bearer_token: Some("entra-token".to_owned()),
        ..config()
    })
    .await;
    let response = emu
        .http
        .get(emu.api("distributedtask/pools"))
        .bearer_auth("entra-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn agent_tokens_are_scoped_to_their_agent_and_pool() {
    let emu = Emu::default().await;
    let a = emu.register(DEFAULT_POOL, "a", json!({})).await;
    let b = emu.register(DEFAULT_POOL, "b", json!({})).await;
    let other_pool = emu.register(LINUX_POOL, "c", json!({})).await;

    let own = emu
        .as_agent(
            &a,
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/agents/{}", a.id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    let jobs = emu
        .as_agent(
            &a,
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/jobrequests"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(jobs.status(), StatusCode::OK);

    let forbidden = [
        emu.as_agent(
            &a,
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/agents/{}", b.id),
        ),
        emu.as_agent(
            &a,
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/agents"),
        ),
        emu.as_agent(&a, Method::GET, "distributedtask/pools"),
        emu.as_agent(
            &a,
            Method::GET,
            &format!("distributedtask/pools/{LINUX_POOL}/jobrequests"),
        ),
        emu.as_agent(
            &a,
            Method::DELETE,
            &format!("distributedtask/pools/{DEFAULT_POOL}/agents/{}", b.id),
        ),
        emu.as_agent(
            &a,
            Method::POST,
            &format!("distributedtask/pools/{DEFAULT_POOL}/sessions"),
        )
        .json(&json!({"agent": {"id": b.id}})),
        emu.as_agent(
            &a,
            Method::POST,
            &format!("distributedtask/pools/{LINUX_POOL}/sessions"),
        )
        .json(&json!({"agent": {"id": other_pool.id}})),
    ];
    for request in forbidden {
        assert_eq!(
            request.fetch_type_key().await,
            (StatusCode::FORBIDDEN, "AccessDeniedException".to_owned())
        );
    }

    // Another agent cannot renew or finish a job reserved for `a`.
    let session = emu.session(&a).await;
    let id = emu.queue(json!({"pool": "Default"})).await;
    emu.wait_state(id, "assigned").await;
    let (status, body) = emu.patch_job(&b, id, json!({"result": "succeeded"})).await;
    assert_eq!(
        (status, body["typeKey"].as_str()),
        (StatusCode::FORBIDDEN, Some("AccessDeniedException"))
    );
    let (status, _) = emu.poll(&b, &session, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "b cannot read a's session");
    let (status, _) = emu.patch_job(&a, id, json!({"result": "succeeded"})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn oauth_assertions_are_verified() {
    let emu = Emu::default().await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    assert_eq!(
        agent.authorization_url,
        format!("{}/_apis/oauth2/token", emu.emu.org_url())
    );
    let now = Utc::now().timestamp();
    let good = agent
        .key
        .sign_assertion(&agent.client_id, &agent.authorization_url, now, now + 300)
        .unwrap();
    assert!(emu.fetch_token(&agent, &good).await.is_ok());

    let other_key = AgentKey::generate().unwrap();
    let cases = [
        (
            "wrong key",
            other_key
                .sign_assertion(&agent.client_id, &agent.authorization_url, now, now + 300)
                .unwrap(),
        ),
        (
            "expired",
            agent
                .key
                .sign_assertion(
                    &agent.client_id,
                    &agent.authorization_url,
                    now - 900,
                    now - 600,
                )
                .unwrap(),
        ),
        (
            "not yet valid",
            agent
                .key
                .sign_assertion(
                    &agent.client_id,
                    &agent.authorization_url,
                    now + 900,
                    now + 1200,
                )
                .unwrap(),
        ),
        (
            "wrong aud",
            agent
                .key
                .sign_assertion(
                    &agent.client_id,
                    "https://elsewhere/_apis/oauth2/token",
                    now,
                    now + 300,
                )
                .unwrap(),
        ),
        (
            "unknown client",
            agent
                .key
                .sign_assertion(
                    &uuid::Uuid::new_v4().to_string(),
                    &agent.authorization_url,
                    now,
                    now + 300,
                )
                .unwrap(),
        ),
        ("garbage", "a.b.c".to_owned()),
    ];
    for (what, assertion) in cases {
        let (status, body) = emu.fetch_token(&agent, &assertion).await.expect_err(what);
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_client")),
            "{what}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}"
        );
    }
    // Within the 5-minute skew is fine.
    let skewed = agent
        .key
        .sign_assertion(
            &agent.client_id,
            &agent.authorization_url,
            now + 120,
            now - 60,
        )
        .unwrap();
    assert!(emu.fetch_token(&agent, &skewed).await.is_ok());
}

#[tokio::test]
async fn replacing_the_key_revokes_the_old_agent_tokens() {
    let emu = Emu::default().await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    let path = format!("distributedtask/pools/{DEFAULT_POOL}/agents/{}", agent.id);
    assert_eq!(
        emu.as_agent(&agent, Method::GET, &path)
            .fetch_status()
            .await,
        StatusCode::OK
    );
    let new_key = AgentKey::generate().unwrap();
    let replaced = emu
        .admin(Method::PUT, &path)
        .json(&json!({"id": agent.id, "name": "worker", "version": "4.262.0", "authorization": {"publicKey": new_key.public_key_json()}}))
        .send().await.unwrap();
    assert_eq!(replaced.status(), StatusCode::OK);
    let replaced: serde_json::Value = replaced.json().await.unwrap();
    assert_eq!(
        (
            replaced["id"].as_i64(),
            replaced["authorization"]["clientId"].as_str()
        ),
        (Some(i64::from(agent.id)), Some(agent.client_id.as_str()))
    );
    assert_eq!(
        emu.as_agent(&agent, Method::GET, &path)
            .fetch_status()
            .await,
        StatusCode::UNAUTHORIZED
    );
    let old = agent
        .key
        .fresh_assertion(&agent.client_id, &agent.authorization_url)
        .unwrap();
    assert!(
        emu.fetch_token(&agent, &old).await.is_err(),
        "the old key no longer signs in"
    );
    let new = new_key
        .fresh_assertion(&agent.client_id, &agent.authorization_url)
        .unwrap();
    assert!(emu.fetch_token(&agent, &new).await.is_ok());
}
