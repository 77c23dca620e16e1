//! Job request state machine, locks, demands, fail-fast, cancellation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{DEFAULT_POOL, Emu, Exchange as _, config, message_body};

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn job_runs_from_queued_to_finished_through_lock_renewals() {
    let emu = Emu::default().await;
    let agent = emu
        .register(DEFAULT_POOL, "worker-1", json!({"java": "/usr/bin/java"}))
        .await;
    let id = emu
        .queue(json!({"pool": "Default", "demands": ["java"], "durationSeconds": 3, "result": "failed", "script": "echo hi", "name": "build"}))
        .await;
    assert_eq!(emu.job(id).await["state"], "queued");

    let session = emu.session(&agent).await;
    let (status, message) = emu.poll(&agent, &session, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(message["messageType"], "PipelineAgentJobRequest");
    assert!(message.get("iv").is_none());
    let body = message_body(&message);
    assert_eq!(body["requestId"], id);
    assert_eq!(body["plan"]["version"], 7);
    assert_eq!(
        body["variables"]["azp.emulator.durationSeconds"]["value"],
        "3"
    );
    assert_eq!(body["variables"]["azp.emulator.result"]["value"], "failed");
    assert_eq!(body["steps"][0]["script"], "echo hi");
    let assigned = emu.job(id).await;
    assert_eq!(assigned["state"], "assigned");
    assert_eq!(assigned["agentId"], agent.id);
    assert!(assigned.get("receiveTime").is_none());

    let before = Utc::now();
    let (status, renewed) = emu.patch_job(&agent, id, json!({"requestId": id})).await;
    assert_eq!(status, StatusCode::OK);
    let locked_until = time(&renewed["lockedUntil"]);
    let ahead = locked_until - before;
    assert!(
        ahead > chrono::Duration::minutes(9)
            && ahead <= chrono::Duration::minutes(10) + chrono::Duration::seconds(1),
        "{ahead}"
    );
    let receive_time = time(&renewed["receiveTime"]);
    assert_eq!(emu.job(id).await["state"], "running");

    tokio::time::sleep(Duration::from_millis(20)).await;
    let (_, renewed_again) = emu
        .patch_job(&agent, id, json!({"requestId": id, "lockedUntil": null}))
        .await;
    assert!(
        time(&renewed_again["lockedUntil"]) > locked_until,
        "every renewal moves the lock"
    );
    assert_eq!(
        time(&renewed_again["receiveTime"]),
        receive_time,
        "receiveTime is set once"
    );

    let listed: Value = emu
        .admin(
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/jobrequests?completedRequestCount=0"),
        )
        .fetch_json()
        .await;
    assert_eq!(listed["value"][0]["reservedAgent"]["id"], agent.id);

    let (status, finished) = emu
        .patch_job(
            &agent,
            id,
            json!({"requestId": id, "result": "failed", "finishTime": Utc::now().to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(finished["result"], "failed");
    let job = emu.job(id).await;
    assert_eq!(
        (job["state"].as_str(), job["result"].as_str()),
        (Some("finished"), Some("failed"))
    );

    let (status, body) = emu.patch_job(&agent, id, json!({"requestId": id})).await;
    assert_eq!(
        (status, body["typeKey"].as_str()),
        (StatusCode::NOT_FOUND, Some("TaskAgentJobNotFoundException"))
    );

    let unfinished: Value = emu
        .admin(
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/jobrequests?completedRequestCount=0"),
        )
        .fetch_json()
        .await;
    assert_eq!(unfinished["count"], 0);
    let paged: Value = emu
        .admin(
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/jobrequests?$top=10"),
        )
        .fetch_json()
        .await;
    assert_eq!(paged["value"][0]["result"], "failed");
    assert!(
        paged["value"][0].get("matchedAgents").is_none(),
        "$top drops matchedAgents"
    );

    let with_last: Value = emu
        .admin(Method::GET, &format!("distributedtask/pools/{DEFAULT_POOL}/agents/{}?includeLastCompletedRequest=true&includeAssignedRequest=true", agent.id))
        .fetch_json().await;
    assert_eq!(with_last["lastCompletedRequest"]["requestId"], id);
    assert!(with_last.get("assignedRequest").is_none());
}

#[tokio::test]
async fn unrenewed_or_unreceived_locks_are_abandoned() {
    let emu = Emu::start(azp_ado_emulator::EmulatorConfig {
        lock_duration: Duration::from_millis(1000),
        ..config()
    })
    .await;
    let agent = emu.register(DEFAULT_POOL, "worker-1", json!({})).await;
    let session = emu.session(&agent).await;

    // Assigned but never received.
    let never_received = emu.queue(json!({"pool": "Default"})).await;
    let (_, message) = emu.poll(&agent, &session, None).await;
    assert_eq!(message_body(&message)["requestId"], never_received);
    assert_eq!(
        emu.wait_state(never_received, "finished").await["result"],
        "abandoned"
    );

    // Received, renewed for a while, then the renewals stop.
    let renewed = emu.queue(json!({"pool": "Default"})).await;
    emu.wait_state(renewed, "assigned").await;
    for _ in 0..4 {
        let (status, _) = emu
            .patch_job(&agent, renewed, json!({"requestId": renewed}))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "renewing within the lock keeps the job alive"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(emu.job(renewed).await["state"], "running");
    assert_eq!(
        emu.wait_state(renewed, "finished").await["result"],
        "abandoned"
    );
}

#[tokio::test]
async fn demands_route_jobs_to_the_agent_that_satisfies_them() {
    let emu = Emu::default().await;
    let system = emu
        .register(
            DEFAULT_POOL,
            "system-java",
            json!({"java": "/usr/bin/java", "Agent.Version": "4.261.0"}),
        )
        .await;
    let custom = emu
        .register(
            DEFAULT_POOL,
            "custom-java",
            json!({"java": "/opt/java", "docker": "1", "Agent.Version": "2.100.0"}),
        )
        .await;
    emu.session(&system).await;
    emu.session(&custom).await;

    let equals = emu
        .queue(json!({"pool": "Default", "demands": ["java -equals /opt/java"]}))
        .await;
    assert_eq!(
        emu.wait_state(equals, "assigned").await["agentName"],
        "custom-java"
    );
    let version = emu
        .queue(json!({"pool": "Default", "demands": ["java", "Agent.Version -gtVersion 3.0.0"]}))
        .await;
    assert_eq!(
        emu.wait_state(version, "assigned").await["agentName"],
        "system-java"
    );

    // Both agents are busy now: a matching job waits, FIFO.
    let waiting = emu
        .queue(json!({"pool": "Default", "demands": ["docker"]}))
        .await;
    assert_eq!(emu.job(waiting).await["state"], "queued");
    let (status, _) = emu
        .patch_job(&custom, equals, json!({"result": "succeeded"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        emu.wait_state(waiting, "assigned").await["agentName"],
        "custom-java"
    );
}

#[tokio::test]
async fn job_fails_at_once_when_no_registered_agent_matches() {
    let emu = Emu::default().await;
    emu.register_placeholder(DEFAULT_POOL, "template", json!({"java": "/usr/bin/java"}))
        .await;
    let id = emu
        .queue(json!({"pool": "Default", "demands": ["maven", "java"]}))
        .await;
    let job = emu.job(id).await;
    assert_eq!(
        (job["state"].as_str(), job["result"].as_str()),
        (Some("finished"), Some("failed"))
    );
    assert_eq!(
        job["statusMessage"],
        "No agent found in pool Default which satisfies the specified demands: maven, java"
    );
}

#[tokio::test]
async fn job_stays_queued_while_only_an_offline_agent_matches() {
    let emu = Emu::default().await;
    let placeholder = emu
        .register_placeholder(DEFAULT_POOL, "template", json!({"java": "/usr/bin/java"}))
        .await;
    let id = emu
        .queue(json!({"pool": "Default", "demands": ["java"]}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(emu.job(id).await["state"], "queued");
    let listed: Value = emu
        .admin(
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/jobrequests"),
        )
        .fetch_json()
        .await;
    let matched = &listed["value"][0]["matchedAgents"];
    assert_eq!(
        (matched[0]["id"].as_i64(), matched[0]["status"].as_str()),
        (Some(i64::from(placeholder)), Some("offline"))
    );

    // A disabled agent does not count as a match.
    let disabled = emu
        .admin(
            Method::PATCH,
            &format!("distributedtask/pools/{DEFAULT_POOL}/agents/{placeholder}"),
        )
        .json(&json!({"id": placeholder, "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    let second = emu
        .queue(json!({"pool": "Default", "demands": ["java"]}))
        .await;
    assert_eq!(emu.job(second).await["result"], "failed");

    // An online matching agent picks up the first job.
    let agent = emu
        .register(DEFAULT_POOL, "real", json!({"java": "/usr/bin/java"}))
        .await;
    emu.session(&agent).await;
    assert_eq!(emu.wait_state(id, "assigned").await["agentId"], agent.id);
}

#[tokio::test]
async fn disabled_agents_get_no_jobs_until_enabled() {
    let emu = Emu::default().await;
    // An offline placeholder keeps the job from failing fast while the only online agent is disabled.
    emu.register_placeholder(DEFAULT_POOL, "template", json!({}))
        .await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    emu.session(&agent).await;
    let patch = |enabled: bool| {
        emu.admin(
            Method::PATCH,
            &format!("distributedtask/pools/{DEFAULT_POOL}/agents/{}", agent.id),
        )
        .json(&json!({"enabled": enabled}))
        .send()
    };
    assert_eq!(patch(false).await.unwrap().status(), StatusCode::OK);
    let id = emu.queue(json!({"pool": "Default"})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(emu.job(id).await["state"], "queued");
    assert_eq!(patch(true).await.unwrap().status(), StatusCode::OK);
    emu.wait_state(id, "assigned").await;
}

#[tokio::test]
async fn cancel_finishes_queued_jobs_and_notifies_running_ones() {
    let emu = Emu::default().await;
    emu.register_placeholder(DEFAULT_POOL, "template", json!({}))
        .await;
    let queued = emu.queue(json!({"pool": "Default"})).await;
    let response = emu
        .http
        .post(emu.control(&format!("jobs/{queued}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(emu.job(queued).await["result"], "canceled");

    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    let session = emu.session(&agent).await;
    let running = emu.queue(json!({"pool": "Default"})).await;
    let (_, job_message) = emu.poll(&agent, &session, None).await;
    let job_id = message_body(&job_message)["jobId"].clone();
    emu.patch_job(&agent, running, json!({})).await;
    emu.http
        .post(emu.control(&format!("jobs/{running}/cancel")))
        .send()
        .await
        .unwrap();
    let (_, cancel) = emu
        .poll(&agent, &session, job_message["messageId"].as_i64())
        .await;
    assert_eq!(cancel["messageType"], "JobCancellation");
    assert_eq!(
        message_body(&cancel),
        json!({"jobId": job_id, "timeout": "00:05:00"})
    );
    assert_eq!(
        emu.job(running).await["state"],
        "running",
        "the agent reports the cancellation"
    );
    assert_eq!(emu.job(running).await["cancelRequested"], true);
    emu.patch_job(&agent, running, json!({"result": "canceled"}))
        .await;
    assert_eq!(emu.job(running).await["result"], "canceled");
}

#[tokio::test]
async fn agent_holding_a_job_cannot_be_deleted() {
    let emu = Emu::default().await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    emu.session(&agent).await;
    let id = emu.queue(json!({"pool": "Default"})).await;
    emu.wait_state(id, "assigned").await;
    let path = format!("distributedtask/pools/{DEFAULT_POOL}/agents/{}", agent.id);
    assert_eq!(
        emu.admin(Method::DELETE, &path).fetch_type_key().await,
        (
            StatusCode::BAD_REQUEST,
            "TaskAgentJobStillRunningException".to_owned()
        )
    );
    emu.patch_job(&agent, id, json!({"result": "succeeded"}))
        .await;
    assert_eq!(
        emu.admin(Method::DELETE, &path).fetch_status().await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        emu.admin(Method::DELETE, &path).fetch_type_key().await,
        (
            StatusCode::NOT_FOUND,
            "TaskAgentNotFoundException".to_owned()
        )
    );
}

#[tokio::test]
async fn control_api_rejects_bad_job_requests() {
    let emu = Emu::default().await;
    for body in [
        json!({"pool": "Nope"}),
        json!({"pool": "Default", "bogus": 1}),
        json!({"pool": "Default", "result": "abandoned"}),
    ] {
        let response = emu.post_control("jobs", &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let missing = emu
        .http
        .get(emu.control("jobs/999999"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stand_in_log_upload_shows_in_the_job_view() {
    let emu = Emu::default().await;
    emu.register_placeholder(DEFAULT_POOL, "template", json!({}))
        .await;
    let id = emu
        .queue(json!({"pool": "Default", "script": "echo hi"}))
        .await;
    for chunk in ["hi\n", "done\n"] {
        let response = emu
            .http
            .post(emu.control(&format!("jobs/{id}/log")))
            .header("Content-Type", "text/plain")
            .body(chunk)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(emu.job(id).await["log"], "hi\ndone\n");
}

#[tokio::test]
async fn paged_list_is_newest_first_and_capped_at_200() {
    let emu = Emu::default().await;
    // No agents: every job fails at once, so all of them are finished.
    let ids: Vec<i64> = (0..205)
        .map(|_| {
            emu.emu
                .queue_job(azp_ado_emulator::QueueJob {
                    pool: "Default".to_owned(),
                    ..Default::default()
                })
                .unwrap()
        })
        .collect();
    let list = |query: &str| {
        emu.admin(
            Method::GET,
            &format!("distributedtask/pools/{DEFAULT_POOL}/jobrequests?{query}"),
        )
        .send()
    };
    let paged: Value = list("$top=250").await.unwrap().json().await.unwrap();
    assert_eq!(paged["count"], 200);
    assert_eq!(paged["value"][0]["requestId"], *ids.last().unwrap());
    let few: Value = list("$top=3").await.unwrap().json().await.unwrap();
    assert_eq!(few["count"], 3);
    let with_completed: Value = list("completedRequestCount=2")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<i64> = with_completed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requestId"].as_i64().unwrap())
        .collect();
    assert_eq!(
        listed,
        ids[203..].to_vec(),
        "the two most recent finished requests"
    );
    let unfinished: Value = list("completedRequestCount=0")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unfinished["count"], 0);
}
