//! Discovery, lists, pagination, selectors, content negotiation and write verbs over HTTP.

mod common;

use std::collections::HashSet;
use std::io::Read;

use common::{Server, names, pod};
use kube_emulator::{Emulator, GeneratedCluster};
use serde_json::json;

const META_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
const META: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

#[tokio::test]
async fn discovery_documents() {
    let s = Server::start(Emulator::new()).await;
    let (code, v) = s.get("/version").await;
    assert_eq!(code, 200);
    assert_eq!(
        v["gitVersion"],
        kube_emulator::surface::DEFAULT_KUBERNETES_VERSION
    );
    let (_, v) = s.get("/api").await;
    assert_eq!(v["kind"], "APIVersions");
    assert_eq!(v["versions"], json!(["v1"]));
    let (_, v) = s.get("/api/v1").await;
    let pods = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods")
        .unwrap();
    assert_eq!(pods["kind"], "Pod");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert!(pods["verbs"].as_array().unwrap().contains(&json!("watch")));
    let (_, v) = s.get("/apis").await;
    let groups: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for g in [
        "apps",
        "batch",
        "autoscaling",
        "networking.k8s.io",
        "policy",
        "storage.k8s.io",
    ] {
        assert!(groups.contains(&g), "{g} missing from {groups:?}");
    }
    let (_, v) = s.get("/apis/autoscaling/v2").await;
    assert_eq!(v["resources"][0]["kind"], "HorizontalPodAutoscaler");
    let (_, v) = s.get("/apis/admissionregistration.k8s.io").await;
    assert_eq!(v["preferredVersion"]["version"], "v1");
    // Alpha versions are off by default (see tests/surface.rs for runtime-config).
    let (code, _) = s.get("/apis/admissionregistration.k8s.io/v1alpha1").await;
    assert_eq!(code, 404);
    // Unknown paths and objects answer 404 Status like the apiserver.
    let (code, v) = s.get("/apis/nope.example.com/v1").await;
    assert_eq!((code, v["kind"].as_str()), (404, Some("Status")));
    let (code, v) = s.get("/api/v1/namespaces/default/pods/missing").await;
    assert_eq!(code, 404);
    assert_eq!(v["reason"], "NotFound");
    assert_eq!(v["message"], "pods \"missing\" not found");
    let (code, _) = s.get("/api/v1/frobs").await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn list_shape_and_pagination_are_complete_and_consistent() {
    let cluster = GeneratedCluster::new(7, 13, 3);
    let s = Server::start(Emulator::with_cluster(&cluster)).await;
    let (code, all) = s.get("/api/v1/pods").await;
    assert_eq!(code, 200);
    assert_eq!(all["kind"], "PodList");
    assert_eq!(all["apiVersion"], "v1");
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 91);
    assert!(
        items
            .iter()
            .all(|i| i.get("kind").is_none() && i.get("apiVersion").is_none())
    );
    let list_rv: u64 = all["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(list_rv, s.emu.resource_version());
    assert!(all["metadata"].get("continue").is_none());

    // Page through with limit 10 while objects change between pages: the pages must still
    // form the snapshot of the first page's resourceVersion.
    let expected = names(&all);
    let mut got = Vec::new();
    let mut path = "/api/v1/pods?limit=10".to_string();
    let mut pages = 0;
    let mut first_rv = None;
    loop {
        let (code, page) = s.get(&path).await;
        assert_eq!(code, 200, "{page}");
        pages += 1;
        let rv = page["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            *first_rv.get_or_insert(rv.clone()),
            rv,
            "pages share one snapshot"
        );
        assert!(page["items"].as_array().unwrap().len() <= 10);
        got.extend(names(&page));
        if pages == 2 {
            // Delete an object not yet listed and add a new one; neither shows in later pages.
            let victim = &expected[50];
            let ns = all["items"][50]["metadata"]["namespace"].as_str().unwrap();
            s.emu.delete("pods", Some(ns), victim).unwrap().unwrap();
            s.emu
                .apply(pod("zzz", "late-pod", json!({}), "n1", "Running"))
                .unwrap();
        }
        match page["metadata"]["continue"].as_str() {
            Some(c) => path = format!("/api/v1/pods?limit=10&continue={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 10);
    assert_eq!(got, expected);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len());
    // A fresh list sees the changes.
    let (_, now) = s.get("/api/v1/pods").await;
    assert_eq!(now["items"].as_array().unwrap().len(), 91);
    assert!(names(&now).contains(&"late-pod".to_string()));

    // Namespaced list, and resourceVersion=0 / NotOlderThan / Exact semantics.
    let ns = all["items"][0]["metadata"]["namespace"].as_str().unwrap();
    let (_, nsl) = s.get(&format!("/api/v1/namespaces/{ns}/pods")).await;
    assert!(
        nsl["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["metadata"]["namespace"] == ns)
    );
    let (code, _) = s.get("/api/v1/pods?resourceVersion=0").await;
    assert_eq!(code, 200);
    let (code, v) = s
        .get(&format!(
            "/api/v1/pods?resourceVersion={list_rv}&resourceVersionMatch=Exact"
        ))
        .await;
    assert_eq!(code, 200);
    assert_eq!(names(&v), expected, "Exact returns the old snapshot");
    let (code, v) = s
        .get("/api/v1/pods?resourceVersion=999999&resourceVersionMatch=NotOlderThan")
        .await;
    assert_eq!(code, 504, "{v}");
    let (code, _) = s.get("/api/v1/pods?resourceVersionMatch=Exact").await;
    assert_eq!(code, 422);
    let (code, _) = s.get("/api/v1/pods?limit=5&continue=garbage").await;
    assert_eq!(code, 400);

    // Other generated kinds.
    let (_, nodes) = s.get("/api/v1/nodes").await;
    assert_eq!(nodes["kind"], "NodeList");
    assert_eq!(nodes["items"].as_array().unwrap().len(), 7);
    let (_, deps) = s.get("/apis/apps/v1/deployments").await;
    assert_eq!(deps["kind"], "DeploymentList");
    assert_eq!(deps["apiVersion"], "apps/v1");
}

#[tokio::test]
async fn selectors_filter_lists() {
    let emu = Emulator::new();
    emu.apply(pod(
        "a",
        "p1",
        json!({"app": "web", "tier": "front"}),
        "n1",
        "Running",
    ))
    .unwrap();
    emu.apply(pod("a", "p2", json!({"app": "db"}), "n2", "Pending"))
        .unwrap();
    emu.apply(pod("b", "p3", json!({"app": "web"}), "n1", "Running"))
        .unwrap();
    emu.apply(pod("b", "p4", json!({}), "n2", "Succeeded"))
        .unwrap();
    let s = Server::start(emu).await;
    let q = |sel: &str| format!("/api/v1/pods?{sel}");
    let cases = [
        ("labelSelector=app%3Dweb", vec!["p1", "p3"]),
        ("labelSelector=app%3D%3Dweb", vec!["p1", "p3"]),
        ("labelSelector=app%21%3Dweb", vec!["p2", "p4"]),
        ("labelSelector=app+in+(web,db)", vec!["p1", "p2", "p3"]),
        ("labelSelector=app+notin+(web)", vec!["p2", "p4"]),
        ("labelSelector=tier", vec!["p1"]),
        ("labelSelector=%21app", vec!["p4"]),
        ("labelSelector=app%3Dweb,tier", vec!["p1"]),
        ("fieldSelector=spec.nodeName%3Dn1", vec!["p1", "p3"]),
        ("fieldSelector=status.phase%21%3DRunning", vec!["p2", "p4"]),
        ("fieldSelector=metadata.name%3D%3Dp2", vec!["p2"]),
        ("fieldSelector=metadata.namespace%3Db", vec!["p3", "p4"]),
        ("fieldSelector=spec.containers.0.name%3Dc", vec![]),
        (
            "fieldSelector=spec.nodeName%3Dn2&labelSelector=app",
            vec!["p2"],
        ),
    ];
    for (sel, want) in cases {
        let (code, v) = s.get(&q(sel)).await;
        assert_eq!(code, 200, "{sel}: {v}");
        assert_eq!(names(&v), want, "{sel}");
    }
    // Selectors combine with pagination.
    let (_, v) = s.get("/api/v1/pods?labelSelector=app%3Dweb&limit=1").await;
    assert_eq!(names(&v), ["p1"]);
    let c = v["metadata"]["continue"].as_str().unwrap();
    let (_, v) = s
        .get(&format!(
            "/api/v1/pods?labelSelector=app%3Dweb&limit=1&continue={c}"
        ))
        .await;
    assert_eq!(names(&v), ["p3"]);
    let (code, _) = s.get("/api/v1/pods?labelSelector=app+in+web").await;
    assert_eq!(code, 400);
    let (code, _) = s.get("/api/v1/pods?fieldSelector=nonsense").await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn metadata_only_and_table_negotiation() {
    let s = Server::start(Emulator::with_cluster(&GeneratedCluster::new(2, 3, 9))).await;
    let (code, v) = s.get_as("/api/v1/pods", "t", Some(META_LIST)).await;
    assert_eq!(code, 200);
    assert_eq!(v["kind"], "PartialObjectMetadataList");
    assert_eq!(v["apiVersion"], "meta.k8s.io/v1");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    for i in items {
        assert_eq!(i["kind"], "PartialObjectMetadata");
        assert_eq!(i["apiVersion"], "meta.k8s.io/v1");
        assert!(i["metadata"]["uid"].is_string());
        assert!(i["metadata"]["labels"]["pod-template-hash"].is_string());
        assert!(i.get("spec").is_none() && i.get("status").is_none());
    }
    let name = items[0]["metadata"]["name"].as_str().unwrap();
    let ns = items[0]["metadata"]["namespace"].as_str().unwrap();
    let (_, one) = s
        .get_as(
            &format!("/api/v1/namespaces/{ns}/pods/{name}"),
            "t",
            Some(META),
        )
        .await;
    assert_eq!(one["kind"], "PartialObjectMetadata");
    assert_eq!(one["metadata"]["name"], name);
    let (_, full) = s.get(&format!("/api/v1/namespaces/{ns}/pods/{name}")).await;
    assert_eq!(full["kind"], "Pod");
    assert_eq!(full["apiVersion"], "v1");
    assert!(full["spec"]["containers"].is_array());

    let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let (_, t) = s.get_as("/api/v1/pods?limit=500", "t", Some(table)).await;
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(&cols[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(t["rows"].as_array().unwrap().len(), 6);
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    let (code, _) = s
        .get_as(
            "/api/v1/pods",
            "t",
            Some("application/vnd.kubernetes.protobuf"),
        )
        .await;
    assert_eq!(code, 406);
}

#[tokio::test]
async fn large_lists_are_gzipped_for_clients_that_ask() {
    let s = Server::start(Emulator::with_cluster(&GeneratedCluster::new(4, 30, 1))).await;
    let plain = s.http.get(s.url("/api/v1/pods")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    assert!(plain.len() > 128 * 1024);
    let gz = s
        .http
        .get(s.url("/api/v1/pods"))
        .header("Accept-Encoding", "gzip")
        .bearer_auth("zipper")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let wire = gz.bytes().await.unwrap();
    assert!(
        wire.len() * 4 < plain.len(),
        "{} vs {}",
        wire.len(),
        plain.len()
    );
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&wire[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain);
    // Counters count the bytes on the wire.
    assert_eq!(
        s.emu.stats().get("zipper", "pods").list_bytes,
        wire.len() as u64
    );
}

#[tokio::test]
async fn write_verbs_create_replace_patch_delete() {
    let s = Server::start(Emulator::new()).await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"a": "1"}});
    let post = |body: serde_json::Value| {
        s.http
            .post(s.url("/api/v1/namespaces/ns1/configmaps"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
    };
    let r = post(cm.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let created: serde_json::Value = r.json_or_panic().await;
    assert_eq!(created["metadata"]["namespace"], "ns1");
    assert!(created["metadata"]["uid"].is_string());
    assert!(created["metadata"]["creationTimestamp"].is_string());
    assert_eq!(post(cm.clone()).await.unwrap().status().as_u16(), 409);

    let mut replaced = created.clone();
    replaced["data"]["a"] = json!("2");
    let r = s
        .http
        .put(s.url("/api/v1/namespaces/ns1/configmaps/c1"))
        .body(replaced.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let after: serde_json::Value = r.json_or_panic().await;
    assert_eq!(after["data"]["a"], "2");
    assert_eq!(after["metadata"]["uid"], created["metadata"]["uid"]);
    assert_ne!(
        after["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    let r = s
        .http
        .patch(s.url("/api/v1/namespaces/ns1/configmaps/c1"))
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"metadata": {"labels": {"x": "y"}}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, got) = s.get("/api/v1/namespaces/ns1/configmaps/c1").await;
    assert_eq!(got["metadata"]["labels"]["x"], "y");
    assert_eq!(got["data"]["a"], "2");

    let r = s
        .http
        .delete(s.url("/api/v1/namespaces/ns1/configmaps/c1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .http
        .delete(s.url("/api/v1/namespaces/ns1/configmaps/c1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // Cluster-scoped create.
    let r = s
        .http
        .post(s.url("/api/v1/namespaces"))
        .body(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(s.emu.count("namespaces").unwrap(), 1);
}

trait JsonOrPanic {
    async fn json_or_panic(self) -> serde_json::Value;
}

impl JsonOrPanic for reqwest::Response {
    async fn json_or_panic(self) -> serde_json::Value {
        let b = self.bytes().await.unwrap();
        serde_json::from_slice(&b).unwrap()
    }
}

/// Optimistic concurrency, as leader election relies on it: of two updates read from the same
/// version, the second is a 409 Conflict; creating what exists is a 409 AlreadyExists; an
/// update without a resourceVersion is unconditional.
#[tokio::test]
async fn updates_with_a_stale_resource_version_conflict() {
    let s = Server::start(Emulator::new()).await;
    let path = "/apis/coordination.k8s.io/v1/namespaces/monitoring/leases";
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "kube-state-otel"}, "spec": {"holderIdentity": "a"}});
    let (code, created) = s.post(path, &lease.to_string()).await;
    assert_eq!(code, 201, "{created}");
    let (code, exists) = s.post(path, &lease.to_string()).await;
    assert_eq!(
        (code, exists["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );

    let one = format!("{path}/kube-state-otel");
    let mut by_b = created.clone();
    by_b["spec"]["holderIdentity"] = json!("b");
    let mut by_c = created.clone();
    by_c["spec"]["holderIdentity"] = json!("c");
    let (code, won) = s.put(&one, &by_b.to_string()).await;
    assert_eq!(code, 200, "{won}");
    let (code, lost) = s.put(&one, &by_c.to_string()).await;
    assert_eq!(
        (code, lost["reason"].as_str()),
        (409, Some("Conflict")),
        "{lost}"
    );
    assert!(
        lost["message"]
            .as_str()
            .is_some_and(|m| m.contains("the object has been modified")),
        "{lost}"
    );
    let (_, now) = s.get(&one).await;
    assert_eq!(now["spec"]["holderIdentity"], "b");

    by_c["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("resourceVersion");
    let (code, forced) = s.put(&one, &by_c.to_string()).await;
    assert_eq!(code, 200, "{forced}");
    assert_eq!(forced["spec"]["holderIdentity"], "c");
    // Two creates and three updates, the refused ones too.
    let stats = s.emu.stats().get("anonymous", "leases.coordination.k8s.io");
    assert_eq!(stats.write_requests, 5);
}
