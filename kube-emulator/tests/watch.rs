//! Watch streams: event order, bookmarks, 410 after compaction, streaming lists, selectors,
//! disconnects and timeouts.

mod common;

use std::time::Duration;

use common::{Server, names, pod};
use kube_emulator::{Emulator, EmulatorConfig};
use serde_json::json;

fn cm(name: &str, value: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "ns"}, "data": {"v": value}})
}

fn rv_of(e: &serde_json::Value) -> u64 {
    e["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn watch_from_resource_version_delivers_changes_in_order() {
    let s = Server::start(Emulator::new()).await;
    s.emu.apply(cm("before", "0")).unwrap();
    let (_, list) = s.get("/api/v1/configmaps").await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut w = s
        .watch(&format!(
            "/api/v1/namespaces/ns/configmaps?watch=true&resourceVersion={rv}"
        ))
        .await;
    assert_eq!(w.status, 200);
    s.emu.apply(cm("a", "1")).unwrap();
    s.emu.apply(cm("a", "2")).unwrap();
    s.emu.apply(cm("b", "1")).unwrap();
    s.emu
        .delete("configmaps", Some("ns"), "a")
        .unwrap()
        .unwrap();
    let mut seen = Vec::new();
    let mut last = 0;
    for _ in 0..4 {
        let e = w.next().await;
        assert_eq!(e["object"]["kind"], "ConfigMap");
        assert_eq!(e["object"]["apiVersion"], "v1");
        let r = rv_of(&e);
        assert!(r > last, "resourceVersions increase");
        last = r;
        seen.push(format!(
            "{} {} {}",
            e["type"].as_str().unwrap(),
            e["object"]["metadata"]["name"].as_str().unwrap(),
            e["object"]["data"]["v"].as_str().unwrap()
        ));
    }
    assert_eq!(
        seen,
        ["ADDED a 1", "MODIFIED a 2", "ADDED b 1", "DELETED a 2"]
    );
    // The DELETED event carries the deletion's resourceVersion.
    assert_eq!(last, s.emu.resource_version());

    // Replaying from the list's resourceVersion gives the same history.
    let mut replay = s
        .watch(&format!("/api/v1/configmaps?watch=1&resourceVersion={rv}"))
        .await;
    let types: Vec<String> = futures_collect(&mut replay, 4).await;
    assert_eq!(types, ["ADDED", "MODIFIED", "ADDED", "DELETED"]);
}

async fn futures_collect(w: &mut common::Watch, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(w.next().await["type"].as_str().unwrap().to_string());
    }
    out
}

#[tokio::test]
async fn watch_without_resource_version_starts_with_current_state() {
    let s = Server::start(Emulator::new()).await;
    s.emu.apply(cm("x", "1")).unwrap();
    s.emu.apply(cm("y", "1")).unwrap();
    let mut w = s.watch("/api/v1/configmaps?watch=true").await;
    let a = w.next().await;
    let b = w.next().await;
    assert_eq!(
        (a["type"].as_str(), b["type"].as_str()),
        (Some("ADDED"), Some("ADDED"))
    );
    assert_eq!(a["object"]["metadata"]["name"], "x");
    s.emu.apply(cm("x", "2")).unwrap();
    assert_eq!(w.next().await["type"], "MODIFIED");
}

#[tokio::test]
async fn bookmarks_are_periodic_and_only_when_allowed() {
    let s = Server::with_config(EmulatorConfig {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    s.emu.apply(cm("x", "1")).unwrap();
    let rv = s.emu.resource_version();
    let mut w = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion={rv}"
        ))
        .await;
    // Another resource's change moves the bookmark forward (resourceVersions are global).
    s.emu.apply(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"}})).unwrap();
    let e = w.next().await;
    assert_eq!(e["type"], "BOOKMARK");
    assert_eq!(e["object"]["kind"], "ConfigMap");
    assert_eq!(e["object"]["apiVersion"], "v1");
    assert_eq!(rv_of(&e), s.emu.resource_version());
    assert_eq!(w.next().await["type"], "BOOKMARK");

    let mut quiet = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={rv}"
        ))
        .await;
    assert!(
        quiet
            .next_within(Duration::from_millis(700))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn compaction_makes_old_watches_and_continue_tokens_gone() {
    let s = Server::start(Emulator::new()).await;
    for i in 0..5 {
        s.emu.apply(cm(&format!("c{i}"), "1")).unwrap();
    }
    let old_rv = s.emu.resource_version() - 2;
    let (_, page) = s.get("/api/v1/configmaps?limit=2").await;
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    // Before compaction both work.
    let mut w = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={old_rv}"
        ))
        .await;
    assert_eq!(w.next().await["type"], "ADDED");
    let (code, _) = s
        .get(&format!("/api/v1/configmaps?limit=2&continue={token}"))
        .await;
    assert_eq!(code, 200);

    let compacted = s.emu.compact();
    let mut w = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={old_rv}"
        ))
        .await;
    assert_eq!(
        w.status, 200,
        "the apiserver reports Gone inside the stream"
    );
    let e = w.next().await;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["kind"], "Status");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    assert!(w.ends_within(Duration::from_secs(2)).await);

    let (code, v) = s
        .get(&format!("/api/v1/configmaps?limit=2&continue={token}"))
        .await;
    assert_eq!(code, 410);
    assert_eq!(v["reason"], "Expired");
    // Watching from the compaction point is fine.
    let mut w = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={compacted}"
        ))
        .await;
    s.emu.apply(cm("after", "1")).unwrap();
    assert_eq!(w.next().await["object"]["metadata"]["name"], "after");
}

#[tokio::test]
async fn bounded_history_expires_old_resource_versions() {
    let s = Server::with_config(EmulatorConfig {
        store: kube_emulator::StoreConfig {
            history_capacity: 4,
            watch_buffer: 64,
        },
        ..Default::default()
    })
    .await;
    for i in 0..10 {
        s.emu.apply(cm("c", &i.to_string())).unwrap();
    }
    let mut w = s
        .watch("/api/v1/configmaps?watch=true&resourceVersion=2")
        .await;
    assert_eq!(w.next().await["object"]["code"], 410);
    let mut w = s
        .watch("/api/v1/configmaps?watch=true&resourceVersion=7")
        .await;
    assert_eq!(w.next().await["object"]["data"]["v"], "7");
}

#[tokio::test]
async fn streaming_list_ends_initial_events_with_annotated_bookmark() {
    let s = Server::start(Emulator::new()).await;
    for i in 0..3 {
        s.emu.apply(cm(&format!("c{i}"), "1")).unwrap();
    }
    let path = "/api/v1/configmaps?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=0";
    let mut w = s.watch(path).await;
    assert_eq!(w.status, 200);
    for i in 0..3 {
        let e = w.next().await;
        assert_eq!(e["type"], "ADDED");
        assert_eq!(e["object"]["metadata"]["name"], format!("c{i}"));
    }
    let b = w.next().await;
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(
        b["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(rv_of(&b), s.emu.resource_version());
    s.emu.apply(cm("c9", "1")).unwrap();
    let e = w.next_non_bookmark().await;
    assert_eq!(
        (e["type"].as_str(), e["object"]["metadata"]["name"].as_str()),
        (Some("ADDED"), Some("c9"))
    );

    // Parameter validation as the apiserver does it.
    let (code, _) = s
        .get("/api/v1/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan")
        .await;
    assert_eq!(code, 422, "sendInitialEvents needs allowWatchBookmarks");
    let (code, _) = s
        .get("/api/v1/configmaps?watch=true&resourceVersionMatch=NotOlderThan")
        .await;
    assert_eq!(code, 422);

    // An old server rejects streaming lists; plain watches still work.
    s.emu.set_streaming_lists(false);
    let (code, v) = s.get(path).await;
    assert_eq!(code, 422);
    assert_eq!(v["reason"], "Invalid");
    let mut w = s.watch("/api/v1/configmaps?watch=true").await;
    assert_eq!(w.next().await["type"], "ADDED");
}

#[tokio::test]
async fn watch_selectors_follow_objects_in_and_out() {
    let s = Server::start(Emulator::new()).await;
    let rv = s.emu.resource_version();
    let mut w = s
        .watch(&format!("/api/v1/pods?watch=true&resourceVersion={rv}&labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1"))
        .await;
    s.emu
        .apply(pod("a", "p1", json!({"app": "web"}), "n1", "Running"))
        .unwrap();
    s.emu
        .apply(pod("a", "other", json!({"app": "db"}), "n1", "Running"))
        .unwrap();
    s.emu
        .apply(pod(
            "a",
            "p1",
            json!({"app": "web", "v": "2"}),
            "n1",
            "Running",
        ))
        .unwrap();
    s.emu
        .apply(pod("a", "p1", json!({"app": "db"}), "n1", "Running"))
        .unwrap();
    s.emu
        .apply(pod("a", "other", json!({"app": "web"}), "n1", "Running"))
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let e = w.next().await;
        seen.push(format!(
            "{} {}",
            e["type"].as_str().unwrap(),
            e["object"]["metadata"]["name"].as_str().unwrap()
        ));
    }
    assert_eq!(
        seen,
        ["ADDED p1", "MODIFIED p1", "DELETED p1", "ADDED other"]
    );
    // Namespaced watch only sees its namespace.
    let mut nsw = s.watch("/api/v1/namespaces/b/pods?watch=true").await;
    s.emu
        .apply(pod("a", "x", json!({}), "n1", "Running"))
        .unwrap();
    s.emu
        .apply(pod("b", "y", json!({}), "n1", "Running"))
        .unwrap();
    assert_eq!(nsw.next().await["object"]["metadata"]["name"], "y");
}

#[tokio::test]
async fn metadata_only_watch_events() {
    let s = Server::start(Emulator::new()).await;
    s.emu.apply(cm("m", "1")).unwrap();
    let mut w = s
        .watch_as(
            "/api/v1/configmaps?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
            "t",
            Some("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"),
        )
        .await;
    let e = w.next().await;
    assert_eq!(e["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(e["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(e["object"]["metadata"]["name"], "m");
    assert!(e["object"].get("data").is_none());
    let b = w.next().await;
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(b["object"]["kind"], "PartialObjectMetadata");
}

#[tokio::test]
async fn disconnect_ends_watches_and_clients_can_resume() {
    let s = Server::start(Emulator::new()).await;
    s.emu.apply(cm("a", "1")).unwrap();
    let rv = s.emu.resource_version();
    let mut w1 = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={rv}"
        ))
        .await;
    let mut w2 = s.watch("/apis/apps/v1/deployments?watch=true").await;
    // Let both watches register before disconnecting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.emu.stats().active_watches, 2);
    let (code, v) = s.post("/_emulator/disconnect", "").await;
    assert_eq!(code, 200);
    assert_eq!(v["disconnected"], 2);
    assert!(w1.ends_within(Duration::from_secs(2)).await);
    assert!(w2.ends_within(Duration::from_secs(2)).await);
    s.emu.apply(cm("b", "1")).unwrap();
    let mut w = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={rv}"
        ))
        .await;
    assert_eq!(w.next().await["object"]["metadata"]["name"], "b");
}

#[tokio::test]
async fn timeout_seconds_ends_the_stream() {
    let s = Server::start(Emulator::new()).await;
    let mut w = s
        .watch("/api/v1/configmaps?watch=true&timeoutSeconds=1")
        .await;
    assert!(w.ends_within(Duration::from_secs(3)).await);
}

#[tokio::test]
async fn lagging_watchers_are_dropped_without_stalling_others() {
    let s = Server::with_config(EmulatorConfig {
        store: kube_emulator::StoreConfig {
            history_capacity: 100_000,
            watch_buffer: 16,
        },
        ..Default::default()
    })
    .await;
    let rv = s.emu.resource_version();
    // This watcher never reads.
    let _slow = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={rv}"
        ))
        .await;
    let mut fast = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={rv}"
        ))
        .await;
    let big = "x".repeat(20_000);
    let emu = s.emu.clone();
    let writer = tokio::spawn(async move {
        for i in 0..2000 {
            emu.apply(cm(&format!("c{i}"), &big)).unwrap();
            if i % 50 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let mut n = 0;
    let mut resumed_from = rv;
    // The fast reader keeps up, or re-watches from its last resourceVersion when dropped.
    while n < 2000 {
        match fast.next_within(Duration::from_secs(10)).await {
            Some(e) => {
                assert_eq!(e["type"], "ADDED");
                resumed_from = rv_of(&e);
                n += 1;
            }
            None => {
                assert!(fast.ended, "stalled");
                fast = s
                    .watch(&format!(
                        "/api/v1/configmaps?watch=true&resourceVersion={resumed_from}"
                    ))
                    .await;
            }
        }
    }
    writer.await.unwrap();
    let (_, list) = s.get("/api/v1/configmaps?limit=1").await;
    assert_eq!(names(&list).len(), 1);
    drop(fast);
    // The stuck watcher was dropped by the server although its client is still connected.
    let mut active = u64::MAX;
    for _ in 0..50 {
        active = s.emu.stats().active_watches;
        if active == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(active, 0);
}

#[tokio::test]
async fn watch_from_a_future_resource_version_skips_up_to_it() {
    let s = Server::start(Emulator::new()).await;
    let future = s.emu.resource_version() + 2;
    let mut w = s
        .watch(&format!(
            "/api/v1/configmaps?watch=true&resourceVersion={future}"
        ))
        .await;
    for name in ["one", "two", "three"] {
        s.emu.apply(cm(name, "1")).unwrap();
    }
    let e = w.next().await;
    assert_eq!(e["object"]["metadata"]["name"], "three");
    assert_eq!(rv_of(&e), future + 1);
}
