//! Watches as kube-rs runs them: resume, 410 Gone and relist, bookmarks, Controller `.owns()`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use azp_kube_sim::KubeSimConfig;
use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use serde_json::json;

fn cm(name: &str, label: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": label}}})).unwrap()
}

#[tokio::test]
async fn watch_from_a_compacted_resource_version_gets_410_error_event() {
    let (sim, client) = start_with(KubeSimConfig {
        event_history: 5,
        ..Default::default()
    })
    .await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let old_rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..10 {
        cms.create(&PostParams::default(), &cm(&format!("c{i}"), "noise"))
            .await
            .unwrap();
    }
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &old_rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => {
            assert_eq!(e.code, 410);
            assert!(
                e.message.contains("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }

    // A recent resourceVersion replays exactly the later events.
    let recent = cms
        .get("c8")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(5), &recent)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Added(c)) => assert_eq!(c.metadata.name.as_deref(), Some("c9")),
        other => panic!("expected ADDED c9, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn watcher_relists_after_410_and_sees_changes_made_meanwhile() {
    let (sim, client) = start_with(KubeSimConfig {
        event_history: 3,
        ..Default::default()
    })
    .await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("watched-1", "watched"))
        .await
        .unwrap();

    // Label-filtered, no bookmarks, 1 s watch timeout: when a watch ends, the watcher resumes from the
    // last event it saw; the noise after it pushes that out of the 3-event history → 410 → relist.
    let cfg = watcher::Config::default()
        .labels("app=watched")
        .timeout(1)
        .disable_bookmarks();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watched = cms.clone();
    let task = tokio::spawn(async move {
        let mut events = watcher(watched, cfg).boxed();
        while let Some(ev) = events.next().await {
            let _ = tx.send(ev.map_err(|e| e.to_string()));
        }
    });
    let mut log = Vec::new();
    let mut next = async || {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("watcher event")
            .expect("open");
        match &ev {
            Ok(watcher::Event::Init) => "Init".to_string(),
            Ok(watcher::Event::InitDone) => "InitDone".to_string(),
            Ok(watcher::Event::InitApply(c)) => {
                format!("InitApply {}", c.metadata.name.clone().unwrap_or_default())
            }
            Ok(watcher::Event::Apply(c)) => {
                format!("Apply {}", c.metadata.name.clone().unwrap_or_default())
            }
            Ok(watcher::Event::Delete(c)) => {
                format!("Delete {}", c.metadata.name.clone().unwrap_or_default())
            }
            Err(e) => format!("Err {e}"),
        }
    };
    while next().await != "InitDone" {}
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("noise-a{i}"), "noise"))
            .await
            .unwrap();
    }
    cms.create(&PostParams::default(), &cm("watched-2", "watched"))
        .await
        .unwrap();
    loop {
        let e = next().await;
        log.push(e.clone());
        if e == "Apply watched-2" {
            break;
        }
    }
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("noise-b{i}"), "noise"))
            .await
            .unwrap();
    }
    // The watch times out after 1 s, resumes from watched-2's resourceVersion (compacted) and relists.
    loop {
        let e = next().await;
        log.push(e.clone());
        if e == "InitDone" {
            break;
        }
    }
    let relist_start = log.iter().rposition(|e| e == "Init").expect("a relist");
    assert!(
        log[..relist_start]
            .iter()
            .any(|e| e.starts_with("Err") && e.contains("too old resource version")),
        "log: {log:?}"
    );
    let relisted: Vec<&String> = log[relist_start..]
        .iter()
        .filter(|e| e.starts_with("InitApply"))
        .collect();
    assert_eq!(
        relisted,
        ["InitApply watched-1", "InitApply watched-2"],
        "log: {log:?}"
    );
    task.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn bookmarks_arrive_and_carry_a_resource_version() {
    let cfg = KubeSimConfig {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let (sim, client) = start_with(cfg).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let params = WatchParams {
        bookmarks: true,
        ..WatchParams::default().labels("app=none").timeout(5)
    };
    let mut stream = cms.watch(&params, &rv).await.unwrap().boxed();
    cms.create(&PostParams::default(), &cm("unrelated", "other"))
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(3), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    match ev {
        Some(WatchEvent::Bookmark(b)) => {
            let bookmark_rv: u64 = b.metadata.resource_version.parse().unwrap();
            assert!(
                bookmark_rv > rv.parse::<u64>().unwrap(),
                "bookmark advances past filtered-out events"
            );
        }
        other => panic!("expected a BOOKMARK, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn label_filtered_watch_turns_stop_matching_into_deleted() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("m", "watched"))
        .await
        .unwrap();
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(
            &WatchParams::default().labels("app=watched").timeout(5),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "m",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "gone"}}})),
    )
    .await
    .unwrap();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Deleted(c)) => assert_eq!(c.metadata.name.as_deref(), Some("m")),
        other => panic!("expected DELETED, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn controller_owning_pods_sees_create_update_and_delete() {
    let (sim, client) = start().await;
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let w = widgets
        .create(&PostParams::default(), &widget("owner", 0, 2))
        .await
        .unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let ctx = Arc::new(tx);
    async fn reconcile(
        obj: Arc<Widget>,
        ctx: Arc<tokio::sync::mpsc::UnboundedSender<String>>,
    ) -> Result<Action, kube::Error> {
        let _ = ctx.send(obj.metadata.name.clone().unwrap_or_default());
        Ok(Action::await_change())
    }
    fn error_policy(
        _: Arc<Widget>,
        _: &kube::Error,
        _: Arc<tokio::sync::mpsc::UnboundedSender<String>>,
    ) -> Action {
        Action::requeue(Duration::from_secs(1))
    }
    let controller = Controller::new(widgets.clone(), watcher::Config::default())
        .owns(pods.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    let task = tokio::spawn(controller);

    assert_eq!(next_reconcile(&mut rx).await, "owner", "initial reconcile");
    // Drain anything queued by the initial sync.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while rx.try_recv().is_ok() {}

    let mut pod: Pod = serde_json::from_value(pod_json("owned")).unwrap();
    pod.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "test.azp.dev/v1", "kind": "Widget", "name": "owner", "uid": w.metadata.uid, "controller": true}))
    .unwrap()]);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(
        next_reconcile(&mut rx).await,
        "owner",
        "reconcile on owned pod create"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    while rx.try_recv().is_ok() {}

    pods.patch_status(
        "owned",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    assert_eq!(
        next_reconcile(&mut rx).await,
        "owner",
        "reconcile on owned pod update"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    while rx.try_recv().is_ok() {}

    pods.delete("owned", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        next_reconcile(&mut rx).await,
        "owner",
        "reconcile on owned pod delete"
    );
    task.abort();
    sim.shutdown().await;
}

async fn next_reconcile(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a reconcile")
        .expect("open")
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_then_changes() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("before", "s"))
        .await
        .unwrap();
    let mut events = watcher(cms.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(c) => initial.push(c.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, ["before"]);
    cms.create(&PostParams::default(), &cm("after", "s"))
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        watcher::Event::Apply(c) => assert_eq!(c.metadata.name.as_deref(), Some("after")),
        other => panic!("expected Apply(after), got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn ending_watches_after_compaction_makes_watchers_relist() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("kept", "x"))
        .await
        .unwrap();
    let mut events = watcher(cms.clone(), watcher::Config::default()).boxed();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("event")
            .expect("open")
    };
    while !matches!(next().await, Ok(watcher::Event::InitDone)) {}

    // An "upgrade": history compacted and every watch cut. The watcher resumes, gets 410, relists.
    sim.compact_history();
    sim.end_watches();
    let mut saw_gone = false;
    loop {
        match next().await {
            Err(e) => saw_gone |= e.to_string().contains("too old resource version"),
            Ok(watcher::Event::Init) => break,
            Ok(_) => {}
        }
    }
    assert!(saw_gone, "the resumed watch got 410 Gone");
    match next().await {
        Ok(watcher::Event::InitApply(c)) => assert_eq!(c.metadata.name.as_deref(), Some("kept")),
        other => panic!("expected the relist to return the object, got {other:?}"),
    }
    sim.shutdown().await;
}
