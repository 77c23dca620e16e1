//! Sessions, long-polls and message peek/delete semantics.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{DEFAULT_POOL, Emu, Exchange as _, config, message_body, type_key};

#[tokio::test]
async fn a_second_live_session_conflicts_until_the_first_is_deleted() {
    let emu = Emu::default().await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    let first = emu.session(&agent).await;
    let (status, key) = type_key(emu.create_session(&agent).await).await;
    assert_eq!(
        (status, key.as_str()),
        (StatusCode::CONFLICT, "TaskAgentSessionConflictException")
    );

    let online: Value = emu
        .admin(
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/agents/{}", agent.id),
        )
        .fetch_json()
        .await;
    assert_eq!(online["status"], "online");

    let deleted = emu
        .as_agent(
            &agent,
            Method::DELETE,
            &format!("distributedtask/pools/{DEFAULT_POOL}/sessions/{first}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let offline: Value = emu
        .admin(
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/agents/{}", agent.id),
        )
        .fetch_json()
        .await;
    assert_eq!(offline["status"], "offline");
    emu.session(&agent).await;
}

#[tokio::test]
async fn session_for_an_unknown_agent_is_refused() {
    let emu = Emu::default().await;
    let body = json!({"ownerName": "x", "agent": {"id": 4242, "name": "ghost"}});
    assert_eq!(
        emu.admin(
            Method::POST,
            &format!("distributedtask/pools/{DEFAULT_POOL}/sessions"),
        )
        .json(&body)
        .fetch_type_key()
        .await,
        (
            StatusCode::NOT_FOUND,
            "TaskAgentNotFoundException".to_owned()
        )
    );
    assert_eq!(
        emu.admin(Method::POST, "distributedtask/pools/99/sessions")
            .json(&body)
            .fetch_type_key()
            .await,
        (
            StatusCode::NOT_FOUND,
            "TaskAgentPoolNotFoundException".to_owned()
        )
    );
}

#[tokio::test]
async fn idle_long_poll_answers_202_after_the_hold() {
    let emu = Emu::default().await; // long_poll = 400 ms
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    let session = emu.session(&agent).await;
    let started = Instant::now();
    let (status, body) = emu.poll(&agent, &session, None).await;
    let held = started.elapsed();
    assert_eq!((status, body), (StatusCode::ACCEPTED, Value::Null));
    assert!(
        held >= Duration::from_millis(350) && held < Duration::from_secs(3),
        "held {held:?}"
    );
}

#[tokio::test]
async fn long_poll_returns_as_soon_as_a_job_is_assigned() {
    let emu = Emu::start(azp_ado_emulator::EmulatorConfig {
        long_poll: Duration::from_secs(10),
        ..config()
    })
    .await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    let session = emu.session(&agent).await;
    let started = Instant::now();
    let (poll, id) = tokio::join!(emu.poll(&agent, &session, None), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        emu.queue(json!({"pool": "Default"})).await
    });
    assert_eq!(poll.0, StatusCode::OK);
    assert_eq!(message_body(&poll.1)["requestId"], id);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "returned after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn messages_stay_until_deleted_and_last_message_id_filters() {
    let emu = Emu::default().await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    let session = emu.session(&agent).await;
    emu.queue(json!({"pool": "Default"})).await;
    let (_, first) = emu.poll(&agent, &session, None).await;
    let id = first["messageId"].as_i64().unwrap();
    // A keep-alive poll (no lastMessageId) sees the same message again.
    let (status, again) = emu.poll(&agent, &session, None).await;
    assert_eq!(
        (status, again["messageId"].as_i64()),
        (StatusCode::OK, Some(id))
    );
    // With lastMessageId it is filtered out.
    let (status, _) = emu.poll(&agent, &session, Some(id)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        emu.delete_message(&agent, &session, id).await,
        StatusCode::NO_CONTENT
    );
    let (status, _) = emu.poll(&agent, &session, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "deleted messages are gone");
}

#[tokio::test]
async fn unknown_session_is_reported_expired() {
    let emu = Emu::default().await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    let (status, body) = emu
        .poll(&agent, "6f1e2d3c-0000-4000-8000-000000000001", None)
        .await;
    assert_eq!(
        (status, body["typeKey"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("TaskAgentSessionExpiredException")
        )
    );
    let response = emu
        .as_agent(
            &agent,
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/messages"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "sessionId is required"
    );
}

#[tokio::test]
async fn unpolled_session_expires_and_the_agent_goes_offline() {
    let emu = Emu::start(azp_ado_emulator::EmulatorConfig {
        session_idle_timeout: Duration::from_millis(500),
        ..config()
    })
    .await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    let session = emu.session(&agent).await;
    // Polling keeps it alive past the idle timeout.
    for _ in 0..2 {
        assert_eq!(
            emu.poll(&agent, &session, None).await.0,
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(emu.emu.agents()[0].status, "online");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(emu.emu.agents()[0].status, "offline");
    let (status, body) = emu.poll(&agent, &session, None).await;
    assert_eq!(
        (status, body["typeKey"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("TaskAgentSessionExpiredException")
        )
    );
    emu.session(&agent).await;
}

#[tokio::test]
async fn a_poll_abandoned_by_a_dead_agent_does_not_keep_it_online() {
    // A killed agent drops its long poll mid-hold; the server cancels the request. The session
    // must still expire, or the agent shows online forever and its registration is never
    // cleaned up (the operator removes only offline agents).
    let emu = Emu::start(azp_ado_emulator::EmulatorConfig {
        long_poll: Duration::from_secs(30),
        session_idle_timeout: Duration::from_millis(500),
        ..config()
    })
    .await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    let session = emu.session(&agent).await;
    let abandoned =
        tokio::time::timeout(Duration::from_millis(300), emu.poll(&agent, &session, None)).await;
    assert!(abandoned.is_err(), "the poll should still be held");
    assert_eq!(emu.emu.agents()[0].status, "online");
    let deadline = Instant::now() + Duration::from_secs(5);
    while emu.emu.agents()[0].status == "online" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(emu.emu.agents()[0].status, "offline");
}

#[tokio::test]
async fn agent_refresh_reaches_the_session() {
    let emu = Emu::default().await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    let session = emu.session(&agent).await;
    let response = emu
        .post_control(
            &format!("agents/{}/refresh", agent.id),
            &json!({"targetVersion": "4.262.0"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, message) = emu.poll(&agent, &session, None).await;
    assert_eq!(message["messageType"], "AgentRefresh");
    let body = message_body(&message);
    assert_eq!(
        (body["agentId"].as_i64(), body["targetVersion"].as_str()),
        (Some(i64::from(agent.id)), Some("4.262.0"))
    );
}
