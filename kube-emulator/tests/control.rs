//! The control surface: apply/delete over HTTP, forbid, byte counters, stats, and the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Server, names};
use kube_emulator::{Emulator, GeneratedCluster, StatsSnapshot};
use serde_json::json;

#[tokio::test]
async fn apply_and_delete_over_http_accept_yaml_lists_and_json() {
    let s = Server::start(Emulator::new()).await;
    let yaml = "\
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team-a
  labels: {app: web}
spec:
  replicas: 2
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c1, namespace: team-a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c2}
";
    let (code, v) = s.post("/_emulator/apply", yaml).await;
    assert_eq!(code, 200, "{v}");
    let applied = v["applied"].as_array().unwrap();
    assert_eq!(applied.len(), 4);
    assert_eq!(applied[1]["resource"], "deployments.apps");
    assert_eq!(applied[1]["event"], "ADDED");
    assert_eq!(
        applied[3]["namespace"], "default",
        "namespace defaults to default"
    );
    let (_, d) = s
        .get("/apis/apps/v1/namespaces/team-a/deployments/web")
        .await;
    assert_eq!(d["spec"]["replicas"], 2);
    let uid = d["metadata"]["uid"].as_str().unwrap().to_string();
    assert!(d["metadata"]["creationTimestamp"].is_string());

    // Re-applying updates in place: same uid, new resourceVersion, MODIFIED.
    let update = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "team-a"}, "spec": {"replicas": 3}});
    let (_, v) = s.post("/_emulator/apply", &update.to_string()).await;
    assert_eq!(v["applied"][0]["event"], "MODIFIED");
    let (_, d2) = s
        .get("/apis/apps/v1/namespaces/team-a/deployments/web")
        .await;
    assert_eq!(d2["metadata"]["uid"], uid.as_str());
    assert_eq!(d2["spec"]["replicas"], 3);

    let (code, v) = s.post("/_emulator/delete", &update.to_string()).await;
    assert_eq!(code, 200);
    assert_eq!(v["deleted"][0]["event"], "DELETED");
    let (code, _) = s
        .get("/apis/apps/v1/namespaces/team-a/deployments/web")
        .await;
    assert_eq!(code, 404);
    let (code, _) = s
        .post(
            "/_emulator/apply",
            r#"{"apiVersion":"v9","kind":"Nope","metadata":{"name":"x"}}"#,
        )
        .await;
    assert_eq!(code, 422);
    let (_, counts) = s.get("/_emulator/counts").await;
    assert_eq!(counts, json!({"configmaps": 2, "namespaces": 1}));
}

#[tokio::test]
async fn forbidden_resources_answer_403_until_allowed() {
    let s = Server::start(Emulator::with_cluster(&GeneratedCluster::new(1, 2, 1))).await;
    let (code, _) = s.post("/_emulator/forbid/secrets", "").await;
    assert_eq!(code, 200);
    s.emu.forbid("deployments.apps").unwrap();
    for path in [
        "/api/v1/secrets",
        "/api/v1/namespaces/default/secrets?watch=true",
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/deployments?watch=1&allowWatchBookmarks=true",
    ] {
        let (code, v) = s.get(path).await;
        assert_eq!(code, 403, "{path}");
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["reason"], "Forbidden");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("is forbidden: User"),
            "{v}"
        );
    }
    let (code, _) = s.get("/api/v1/pods").await;
    assert_eq!(code, 200, "other resources are unaffected");
    let resp = s
        .http
        .delete(s.url("/_emulator/forbid/secrets"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (code, _) = s.get("/api/v1/secrets").await;
    assert_eq!(code, 200);
    let (code, _) = s.post("/_emulator/forbid/frobnicators", "").await;
    assert_eq!(code, 404);
}

/// `grant_only` answers the granted verbs and 403s the others, as a Role granting only those.
#[tokio::test]
async fn granted_verbs_are_answered_and_the_others_forbidden() {
    let s = Server::start(Emulator::new()).await;
    s.emu.grant_only("leases", &["get", "create"]).unwrap();
    let lease = r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
        "metadata":{"name":"l","namespace":"monitoring"},"spec":{"holderIdentity":"a"}}"#;
    let leases = "/apis/coordination.k8s.io/v1/namespaces/monitoring/leases";
    let (code, _) = s.post(leases, lease).await;
    assert_eq!(code, 201, "create is granted");
    let (code, _) = s.get(&format!("{leases}/l")).await;
    assert_eq!(code, 200, "get is granted");
    let (code, v) = s.put(&format!("{leases}/l"), lease).await;
    assert_eq!(code, 403, "update is not: {v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("cannot update resource \"leases\""),
        "{v}"
    );
    let (code, _) = s.get(leases).await;
    assert_eq!(code, 403, "nor list");
    s.emu.allow("leases").unwrap();
    let (code, _) = s.get(leases).await;
    assert_eq!(code, 200, "allow undoes it");
}

#[tokio::test]
async fn byte_counters_are_kept_per_token_and_resource() {
    let s = Server::start(Emulator::with_cluster(&GeneratedCluster::new(2, 5, 4))).await;
    // alice lists pods and nodes; bob lists pods in pages and watches configmaps.
    let a1 = s
        .http
        .get(s.url("/api/v1/pods"))
        .bearer_auth("alice")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let a2 = s
        .http
        .get(s.url("/api/v1/nodes"))
        .bearer_auth("alice")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut bob_bytes = 0;
    let mut path = "/api/v1/pods?limit=3".to_string();
    let mut pages = 0;
    loop {
        let b = s
            .http
            .get(s.url(&path))
            .bearer_auth("bob")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        bob_bytes += b.len();
        pages += 1;
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        match v["metadata"]["continue"].as_str() {
            Some(c) => path = format!("/api/v1/pods?limit=3&continue={c}"),
            None => break,
        }
    }
    let mut w = s
        .watch_as("/api/v1/configmaps?watch=true", "bob", None)
        .await;
    let mut watched = 0;
    while let Some(e) = w.next_within(Duration::from_millis(500)).await {
        watched += serde_json::to_vec(&e).unwrap().len() + 1;
    }
    let _ = s
        .http
        .get(s.url("/api/v1/pods"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    let (code, v) = s.get("/_emulator/stats").await;
    assert_eq!(code, 200);
    let stats: StatsSnapshot = serde_json::from_value(v).unwrap();
    let alice = stats.get("alice", "pods");
    assert_eq!(alice.list_requests, 1);
    assert_eq!(alice.list_bytes, a1.len() as u64);
    assert_eq!(stats.get("alice", "nodes").list_bytes, a2.len() as u64);
    let bob = stats.get("bob", "pods");
    assert_eq!(bob.list_requests, pages);
    assert_eq!(bob.list_bytes, bob_bytes as u64);
    assert!(bob.list_serve_ns > 0, "serving time is reported");
    let bob_cm = stats.get("bob", "configmaps");
    assert_eq!(bob_cm.watch_requests, 1);
    let namespaces = s.emu.count("namespaces").unwrap() as u64;
    assert_eq!(
        bob_cm.watch_events, namespaces,
        "one kube-root-ca.crt per namespace"
    );
    // Serialization differs from the wire only in key order, not length.
    assert_eq!(bob_cm.watch_bytes, watched as u64);
    assert_eq!(stats.get("anonymous", "pods").list_requests, 1);
    assert_eq!(stats.get("alice", "configmaps"), Default::default());
    assert_eq!(
        stats.client_total("alice").list_bytes,
        (a1.len() + a2.len()) as u64
    );

    let resp = s
        .http
        .post(s.url("/_emulator/stats/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let stats = s.emu.stats();
    assert_eq!(stats.totals, Default::default());
    assert!(stats.clients.is_empty());
}

#[tokio::test]
async fn control_switches_over_http() {
    let s = Server::start(Emulator::new()).await;
    let (code, _) = s.post("/_emulator/streaming-lists?enabled=false", "").await;
    assert_eq!(code, 200);
    assert!(!s.emu.streaming_lists());
    let (code, _) = s
        .post("/_emulator/bookmark-interval?seconds=0.25", "")
        .await;
    assert_eq!(code, 200);
    assert_eq!(s.emu.bookmark_interval(), Duration::from_millis(250));
    let (code, v) = s.post("/_emulator/compact", "").await;
    assert_eq!(code, 200);
    assert_eq!(v["resourceVersion"], "1");
    let (code, _) = s.get("/_emulator/nope").await;
    assert_eq!(code, 404);
}

/// Runs the real binary, as tests of other crates will.
/// The `kube-emulator` binary started by `command`, and the URL it printed.
async fn spawn_binary(mut command: Command) -> (std::process::Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line.trim().to_string()
    })
    .await
    .unwrap();
    (child, url)
}

#[tokio::test]
async fn binary_serves_generated_cluster_and_writes_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let objects = dir.path().join("extra.yaml");
    std::fs::write(
        &objects,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: extra, namespace: default}\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_kube-emulator"));
    command
        .args(["--port", "0", "--nodes", "3", "--pods-per-node", "4"])
        .args(["--seed", "5", "--bookmark-interval", "1"])
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .arg("--load")
        .arg(&objects);
    let (mut child, url) = spawn_binary(command).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let http = reqwest::Client::new();
    let pods: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{url}/api/v1/pods"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pods["items"].as_array().unwrap().len(), 12);
    let secrets: serde_json::Value = serde_json::from_slice(
        &http
            .get(format!("{url}/api/v1/secrets"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(names(&secrets), ["extra"]);
    let kc = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(kc.contains(&url), "{kc}");
    assert!(kc.contains("token: \"kube-emulator\""));
    child.kill().unwrap();
    let _ = child.wait();
}

/// `--showcase` adds the demo's objects of every kind beside the generated cluster and changes
/// them every `--churn-interval`.
#[tokio::test]
async fn binary_serves_the_showcase_and_changes_it() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kube-emulator"));
    command
        .args(["--port", "0", "--nodes", "3", "--pods-per-node", "2"])
        .args(["--showcase", "--churn-interval", "0.2"]);
    let (mut child, url) = spawn_binary(command).await;
    let http = reqwest::Client::new();
    let list = |path: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let body = http.get(format!("{url}{path}")).send().await.unwrap();
            serde_json::from_slice::<serde_json::Value>(&body.bytes().await.unwrap()).unwrap()
        }
    };
    // Kinds the generated cluster does not have.
    for path in [
        "/apis/batch/v1/cronjobs",
        "/apis/apps/v1/daemonsets",
        "/apis/autoscaling/v2/horizontalpodautoscalers",
        "/api/v1/persistentvolumes",
    ] {
        let items = list(path).await["items"].as_array().unwrap().len();
        assert!(items > 0, "{path}: no objects");
    }
    let version = |list: serde_json::Value| -> u64 {
        list["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let before = version(list("/api/v1/pods").await);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while version(list("/apis/coordination.k8s.io/v1/leases").await) <= before {
        assert!(std::time::Instant::now() < deadline, "nothing changed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn shutdown_ends_watches_and_stops_serving() {
    let s = Server::start(Emulator::new()).await;
    let url = s.handle.url();
    let _ = s.get("/api/v1/pods").await; // leaves a keep-alive connection open
    let mut w = s.watch("/api/v1/pods?watch=true").await;
    tokio::time::timeout(Duration::from_secs(5), s.handle.shutdown())
        .await
        .expect("shutdown completes");
    assert!(w.ends_within(Duration::from_secs(2)).await);
    let fresh = reqwest::Client::new();
    assert!(fresh.get(format!("{url}/version")).send().await.is_err());
}

/// Injected faults answer as the apiserver does: APF's 429 is plain text with Retry-After, 500
/// and 503 are Status bodies; they count down, match only their resource and verb, and a
/// status the apiserver would not send is refused.
#[tokio::test]
async fn injected_faults_answer_as_the_apiserver_and_count_down() {
    let s = Server::start(Emulator::new()).await;
    let arm = |body: serde_json::Value| {
        let s = &s;
        async move { s.post("/_emulator/faults", &body.to_string()).await.0 }
    };
    let pods = || s.http.get(s.url("/api/v1/pods")).send();
    assert_eq!(
        arm(json!({"resource": "pods", "verb": "list", "status": 429, "count": 1, "retryAfterSeconds": 2}))
            .await,
        200
    );
    assert_eq!(
        arm(json!({"resource": "pods", "verb": "list", "status": 500, "count": 1})).await,
        200
    );
    let throttled = pods().await.unwrap();
    assert_eq!(throttled.status().as_u16(), 429);
    assert_eq!(throttled.headers()["retry-after"], "2");
    assert!(
        throttled
            .text()
            .await
            .unwrap()
            .starts_with("Too many requests")
    );
    let failed = pods().await.unwrap();
    assert_eq!(failed.status().as_u16(), 500);
    let status: serde_json::Value = serde_json::from_str(&failed.text().await.unwrap()).unwrap();
    assert_eq!(status["reason"], "InternalError");
    assert_eq!(pods().await.unwrap().status().as_u16(), 200);
    // Another verb or resource is not affected.
    assert_eq!(
        arm(json!({"resource": "pods", "verb": "watch", "status": 503, "count": 1})).await,
        200
    );
    assert_eq!(pods().await.unwrap().status().as_u16(), 200);
    let (code, _) = s.get("/api/v1/namespaces").await;
    assert_eq!(code, 200);
    assert_eq!(
        arm(json!({"resource": "pods", "verb": "list", "status": 418, "count": 1})).await,
        400
    );
    s.emu.clear_faults();
}
