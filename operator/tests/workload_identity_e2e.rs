//! Microsoft Entra workload identity end to end, with no PAT anywhere: the real operator
//! binary asks kube-sim's TokenRequest API for its service account's token, exchanges it at
//! the emulator's Entra endpoint (which checks it against kube-sim's OIDC keys and the
//! application's federated credential) and drives Azure DevOps with the access token;
//! kube-sim's process kubelet runs the real `azp-agent` with the stand-in agent.
//!
//! And what a user sees when the Azure side is set up wrong: a wrong federated subject, an
//! expired assertion, a service principal without pool rights each give a condition (and a
//! Warning Event) naming the problem and its fix, and no agent pod.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::agents::kubelet;
use common::{Harness, NAMESPACE, eventually};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0d9c2a5e-3c4b-4e7a-9f1d-6b2a8c3e5f70";
const ACCOUNT: &str = "azp-operator";
const WAIT: Duration = Duration::from_secs(60);

struct Azure<'a> {
    h: &'a Harness,
    http: reqwest::Client,
}

impl Azure<'_> {
    /// The app registration with one federated credential for `subject` on kube-sim's issuer.
    async fn application(&self, subject: &str, member: bool, admin: bool) {
        let response = self
            .http
            .post(format!(
                "{}/_emulator/entra/applications",
                self.h.emu.base_url()
            ))
            .json(&json!({
                "tenantId": TENANT,
                "clientId": CLIENT,
                "federatedCredentials": [{"issuer": self.h.sim.url(), "subject": subject}],
                "organizationMember": member,
                "poolAdministrator": admin,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    async fn clock(&self, offset_seconds: i64) {
        let response = self
            .http
            .post(format!("{}/_emulator/entra/clock", self.h.emu.base_url()))
            .json(&json!({"offsetSeconds": offset_seconds}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
}

fn subject() -> String {
    format!("system:serviceaccount:{NAMESPACE}:{ACCOUNT}")
}

/// kube-sim and the emulator, the service account, and an AgentPool authenticating with it.
async fn world() -> Harness {
    let h = Harness::start(&["Linux"]).await;
    Api::<ServiceAccount>::namespaced(h.client.clone(), NAMESPACE)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ACCOUNT}})).unwrap(),
        )
        .await
        .unwrap();
    h.agent_pool(
        "linux",
        "Linux",
        json!({
            "auth": {"workloadIdentity": {"tenantId": TENANT, "clientId": CLIENT, "serviceAccountName": ACCOUNT}},
            "scaling": {"maxAgents": 2, "pollInterval": "5s"},
        }),
    )
    .await;
    h
}

async fn start_operator(h: &mut Harness) {
    let authority = h.emu.base_url();
    h.start_operator(&["--entra-authority", &authority]).await;
}

/// Everything a user could read: the AgentPool (status included), Events and the logs.
async fn visible_text(h: &Harness) -> String {
    let pool = serde_json::to_string(&h.pools().get("linux").await.unwrap()).unwrap();
    let events: Api<Event> = Api::namespaced(h.client.clone(), NAMESPACE);
    let events = serde_json::to_string(&events.list(&Default::default()).await.unwrap()).unwrap();
    let logs = h.operators[0].logs.lock().unwrap().clone();
    format!("{pool}\n{events}\n{logs}")
}

/// A JWT (service-account token or access token) starts with the base64url of `{"`.
fn assert_no_token(text: &str) {
    assert!(!text.contains("eyJ"), "a token is visible:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_identity_pool_runs_a_job_and_no_pat_exists_anywhere() {
    let mut h = world().await;
    let azure = Azure {
        h: &h,
        http: reqwest::Client::new(),
    };
    azure.application(&subject(), true, true).await;
    let agents = tempfile::tempdir().unwrap();
    let kubelet = kubelet(&h, agents.path());
    start_operator(&mut h).await;
    h.wait_for_placeholder("linux").await;
    let job = h.queue("Linux", &[]);
    eventually("job succeeded", Duration::from_secs(90), || async {
        h.emu.job(job).and_then(|j| {
            (j.state == "finished").then(|| assert_eq!(j.result.as_deref(), Some("succeeded")))
        })
    })
    .await;
    let ran_on = h.emu.job(job).unwrap().agent_name.unwrap();
    assert!(
        ran_on.starts_with(&format!("{NAMESPACE}.linux-")),
        "{ran_on}"
    );

    // While the pod lives, its registration Secret is the only Secret in the namespace.
    let secrets = Api::<Secret>::namespaced(h.client.clone(), NAMESPACE);
    let names: Vec<String> = secrets
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    assert!(
        names.iter().all(|n| n.ends_with("-registration")),
        "{names:?}"
    );
    // The operator removes the pod and, with its Entra token, the registration; no Secret is
    // left, and the emulator's PAT was never given to anything.
    eventually("pod and registration gone", WAIT, || async {
        let agents: Vec<String> = h.emu.agents().into_iter().map(|a| a.name).collect();
        let left = secrets.list(&Default::default()).await.ok()?.items.len();
        (h.pods().await.is_empty()
            && left == 0
            && agents == [format!("{NAMESPACE}.linux.placeholder")])
        .then_some(())
    })
    .await;
    let text = visible_text(&h).await;
    assert!(!text.contains(common::PAT));
    // Every poll, the placeholder, the registration and its removal used one cached token.
    let exchanges = text
        .matches("obtained a Microsoft Entra access token")
        .count();
    assert_eq!(exchanges, 1, "the access token was not reused");
    assert_no_token(&text);
    let pool = h.pools().get("linux").await.unwrap();
    let ready = pool
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "True", "{ready:?}");
    kubelet.shutdown().await.unwrap();
}

/// Waits for the Ready condition to carry `reason`, checks the message, the Warning Event,
/// that jobs get no pod, and that no token shows.
async fn assert_refused(h: &Harness, reason: &str, message_parts: &[&str]) {
    let ready = eventually(reason, WAIT, || async {
        let status = h.pools().get("linux").await.ok()?.status?;
        status
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.reason == reason)
    })
    .await;
    assert_eq!(ready.status, "False");
    for part in message_parts {
        assert!(
            ready.message.contains(part),
            "{part:?} not in {}",
            ready.message
        );
    }
    let events: Api<Event> = Api::namespaced(h.client.clone(), NAMESPACE);
    let warning = eventually("Warning Event", WAIT, || async {
        events
            .list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some(reason))
    })
    .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let note = warning.note.unwrap_or_default();
    assert!(
        note.contains("fix:"),
        "the Event does not say what to do: {note}"
    );

    // A job waits, and stays without a pod for two poll intervals.
    h.queue("Linux", &[]);
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(11) {
        assert!(h.pods().await.is_empty(), "a pod was created");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_no_token(&visible_text(h).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_federated_subject_is_reported_with_aadsts700213_and_no_pod() {
    let mut h = world().await;
    let azure = Azure {
        h: &h,
        http: reqwest::Client::new(),
    };
    azure
        .application("system:serviceaccount:default:someone-else", true, true)
        .await;
    start_operator(&mut h).await;
    assert_refused(
        &h,
        "AADSTS700213",
        &[
            "No matching federated identity record",
            &format!(
                "fix: add a federated credential to application {CLIENT} with subject \"{}\"",
                subject()
            ),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_assertion_is_reported_with_aadsts700024_and_no_pod() {
    let mut h = world().await;
    let azure = Azure {
        h: &h,
        http: reqwest::Client::new(),
    };
    azure.application(&subject(), true, true).await;
    // Entra's clock two hours ahead: the ten-minute service-account token arrives expired.
    azure.clock(2 * 3600).await;
    start_operator(&mut h).await;
    assert_refused(
        &h,
        "AADSTS700024",
        &["not within its valid time range", "check the clocks"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_principal_without_pool_rights_is_reported_and_gets_no_pod() {
    let mut h = world().await;
    let azure = Azure {
        h: &h,
        http: reqwest::Client::new(),
    };
    azure.application(&subject(), true, false).await;
    start_operator(&mut h).await;
    assert_refused(
        &h,
        "AccessDenied",
        &[
            "needs Manage permissions",
            "Administrator of agent pool \"Linux\"",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_principal_outside_the_organization_is_reported_and_gets_no_pod() {
    let mut h = world().await;
    let azure = Azure {
        h: &h,
        http: reqwest::Client::new(),
    };
    azure.application(&subject(), false, false).await;
    start_operator(&mut h).await;
    assert_refused(
        &h,
        "BadCredentials",
        &["HTTP 401", "add the service principal of application"],
    )
    .await;
}
