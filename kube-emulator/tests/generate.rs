//! Generated clusters are deterministic and realistic, seen over HTTP.

mod common;

use common::Server;
use kube_emulator::{Emulator, GeneratedCluster};

async fn list_bytes(s: &Server, path: &str) -> bytes::Bytes {
    s.http
        .get(s.url(path))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
}

#[tokio::test]
async fn same_seed_gives_byte_identical_objects() {
    let a = Server::start(Emulator::with_cluster(&GeneratedCluster::new(5, 8, 42))).await;
    let b = Server::start(Emulator::with_cluster(&GeneratedCluster::new(5, 8, 42))).await;
    let c = Server::start(Emulator::with_cluster(&GeneratedCluster::new(5, 8, 43))).await;
    for path in [
        "/api/v1/pods",
        "/api/v1/nodes",
        "/apis/apps/v1/replicasets",
        "/apis/apps/v1/deployments",
        "/api/v1/namespaces",
    ] {
        let (x, y, z) = (
            list_bytes(&a, path).await,
            list_bytes(&b, path).await,
            list_bytes(&c, path).await,
        );
        assert_eq!(x, y, "{path}");
        assert_ne!(x, z, "{path}");
    }
    assert_eq!(
        GeneratedCluster::new(5, 8, 42).objects(),
        GeneratedCluster::new(5, 8, 42).objects()
    );
}

#[tokio::test]
async fn generated_pods_look_real() {
    let cluster = GeneratedCluster {
        crashloop_ratio: 0.1,
        pending_ratio: 0.05,
        ..GeneratedCluster::new(10, 20, 7)
    };
    let s = Server::start(Emulator::with_cluster(&cluster)).await;
    let (_, pods) = s.get("/api/v1/pods").await;
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 200);
    let bytes = list_bytes(&s, "/api/v1/pods").await.len();
    let avg = bytes / items.len();
    assert!(
        (3000..=6500).contains(&avg),
        "average pod JSON is {avg} bytes"
    );
    let crash = items
        .iter()
        .filter(|p| {
            p["status"]["containerStatuses"]
                .as_array()
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
                            && c["lastState"]["terminated"]["exitCode"] == 1
                            && c["restartCount"].as_u64().unwrap() > 0
                    })
                })
        })
        .count();
    let pending = items
        .iter()
        .filter(|p| p["status"]["phase"] == "Pending")
        .count();
    assert!(crash > 5 && crash < 45, "crash-looping: {crash}");
    assert!(pending > 0 && pending < 30, "pending: {pending}");
    for p in items.iter().filter(|p| p["status"]["phase"] == "Running") {
        let st = &p["status"];
        assert!(p["spec"]["nodeName"].is_string());
        assert!(st["podIP"].is_string() && st["hostIP"].is_string() && st["startTime"].is_string());
        let conds: Vec<&str> = st["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        for t in ["Ready", "ContainersReady", "Initialized", "PodScheduled"] {
            assert!(conds.contains(&t), "{conds:?}");
        }
        for c in st["containerStatuses"].as_array().unwrap() {
            assert!(c["imageID"].as_str().unwrap().contains("@sha256:"));
            assert!(
                c["containerID"]
                    .as_str()
                    .unwrap()
                    .starts_with("containerd://")
            );
        }
        assert!(["Guaranteed", "Burstable"].contains(&st["qosClass"].as_str().unwrap()));
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["controller"].as_bool()),
            (Some("ReplicaSet"), Some(true))
        );
    }
    // Nodes: control plane, capacity, conditions.
    let (_, nodes) = s.get("/api/v1/nodes").await;
    let nodes = nodes["items"].as_array().unwrap();
    let cp = nodes
        .iter()
        .filter(|n| {
            n["metadata"]["labels"]
                .get("node-role.kubernetes.io/control-plane")
                .is_some()
        })
        .count();
    assert_eq!(cp, 3);
    for n in nodes {
        for k in ["cpu", "memory", "pods", "ephemeral-storage"] {
            assert!(
                n["status"]["capacity"][k].is_string() && n["status"]["allocatable"][k].is_string()
            );
        }
        let conds: Vec<&str> = n["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            conds,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        assert!(n["spec"]["providerID"].is_string() && n["spec"]["podCIDRs"].is_array());
    }
    // Deployments own replicasets which own the pods; replica counts add up.
    let (_, deps) = s.get("/apis/apps/v1/deployments").await;
    let total: u64 = deps["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["spec"]["replicas"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 200);
    let (_, rss) = s.get("/apis/apps/v1/replicasets").await;
    for rs in rss["items"].as_array().unwrap() {
        assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
        assert!(rs["metadata"]["labels"]["pod-template-hash"].is_string());
    }
}
