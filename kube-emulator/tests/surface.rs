//! What each Kubernetes minor serves, over HTTP: legacy and aggregated discovery agree with
//! each other and with routing, runtime-config, in-place upgrades, version validation and the
//! aggregated document's shape (apidiscovery.k8s.io/v2 `types.go`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use common::Server;
use kube_emulator::surface::{self, SurfaceError};
use kube_emulator::{Emulator, EmulatorConfig, Error, GeneratedCluster};
use serde_json::{Value, json};

const ADM: &str = "admissionregistration.k8s.io";
const ADM_BETA: &str = "admissionregistration.k8s.io/v1beta1";
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// What kubectl sends for `/api` and `/apis`.
const KUBECTL_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
const ADM_RESOURCES: [&str; 6] = [
    "mutatingwebhookconfigurations",
    "validatingwebhookconfigurations",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "mutatingadmissionpolicies",
    "mutatingadmissionpolicybindings",
];
/// The body of the apiserver's not-found handler for an unknown group/version/resource.
fn not_found_status() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": "the server could not find the requested resource",
           "reason": "NotFound", "code": 404})
}

type Served = BTreeSet<(String, String)>;

async fn server(version: &str, runtime_config: &[(&str, bool)]) -> Server {
    Server::with_config(EmulatorConfig {
        kubernetes_version: version.into(),
        runtime_config: runtime_config
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        ..EmulatorConfig::default()
    })
    .await
}

/// GET with an `Accept`, returning status, Content-Type and body.
async fn get_accept(s: &Server, path: &str, accept: &str) -> (u16, String, Value) {
    let resp = s
        .http
        .get(s.url(path))
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.bytes().await.unwrap();
    (code, ctype, serde_json::from_slice(&body).unwrap())
}

/// (version, resource) of admissionregistration.k8s.io per the legacy documents, and the
/// group's versions as `/apis/{g}` lists them (preferred first).
async fn legacy_adm(s: &Server) -> (Served, Vec<String>) {
    let (code, group) = s.get(&format!("/apis/{ADM}")).await;
    assert_eq!(code, 200);
    let versions: Vec<String> = group["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(group["preferredVersion"]["version"], versions[0].as_str());
    let (_, list) = s.get("/apis").await;
    let listed = list["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == ADM)
        .unwrap();
    assert_eq!(*listed, {
        let mut g = group.clone();
        g.as_object_mut().unwrap().remove("kind");
        g.as_object_mut().unwrap().remove("apiVersion");
        g
    });
    let mut served = Served::new();
    for v in ["v1", "v1beta1", "v1alpha1"] {
        let (code, list) = s.get(&format!("/apis/{ADM}/{v}")).await;
        if !versions.iter().any(|x| x == v) {
            assert_eq!((code, list), (404, not_found_status()), "{v}");
            continue;
        }
        assert_eq!(code, 200);
        assert_eq!(list["groupVersion"], format!("{ADM}/{v}"));
        for r in list["resources"].as_array().unwrap() {
            served.insert((v.to_string(), r["name"].as_str().unwrap().to_string()));
        }
    }
    (served, versions)
}

/// The same from aggregated discovery, with its versions in order.
async fn aggregated_adm(s: &Server) -> (Served, Vec<String>) {
    let (code, ctype, doc) = get_accept(s, "/apis", KUBECTL_ACCEPT).await;
    assert_eq!((code, ctype.as_str()), (200, AGGREGATED));
    let group = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == ADM)
        .unwrap();
    let mut served = Served::new();
    let mut versions = Vec::new();
    for v in group["versions"].as_array().unwrap() {
        let version = v["version"].as_str().unwrap().to_string();
        for r in v["resources"].as_array().unwrap() {
            served.insert((version.clone(), r["resource"].as_str().unwrap().to_string()));
        }
        versions.push(version);
    }
    (served, versions)
}

/// Legacy and aggregated discovery agree, and listing answers 200 exactly for what they list.
async fn check_adm(s: &Server) -> Served {
    let (legacy, legacy_versions) = legacy_adm(s).await;
    let (aggregated, aggregated_versions) = aggregated_adm(s).await;
    assert_eq!(legacy, aggregated);
    assert_eq!(legacy_versions, aggregated_versions);
    for v in ["v1", "v1beta1", "v1alpha1"] {
        for r in ADM_RESOURCES {
            let (code, body) = s.get(&format!("/apis/{ADM}/{v}/{r}")).await;
            if legacy.contains(&(v.to_string(), r.to_string())) {
                assert_eq!(code, 200, "{v}/{r}");
                assert_eq!(body["apiVersion"], format!("{ADM}/{v}"));
            } else {
                assert_eq!((code, body), (404, not_found_status()), "{v}/{r}");
            }
        }
    }
    legacy
}

fn set(entries: &[(&str, &str)]) -> Served {
    entries
        .iter()
        .map(|(v, r)| (v.to_string(), r.to_string()))
        .collect()
}

const V1_BEFORE_MAP: [(&str, &str); 4] = [
    ("v1", "mutatingwebhookconfigurations"),
    ("v1", "validatingwebhookconfigurations"),
    ("v1", "validatingadmissionpolicies"),
    ("v1", "validatingadmissionpolicybindings"),
];

#[tokio::test]
async fn each_minor_serves_its_admissionregistration_versions() {
    let mut with_map = V1_BEFORE_MAP.to_vec();
    with_map.extend([
        ("v1", "mutatingadmissionpolicies"),
        ("v1", "mutatingadmissionpolicybindings"),
    ]);
    for (version, want) in [
        ("v1.31.0", set(&V1_BEFORE_MAP)),
        ("v1.33.0", set(&V1_BEFORE_MAP)),
        ("1.35", set(&V1_BEFORE_MAP)),
        ("v1.36.0", set(&with_map)),
    ] {
        let s = server(version, &[]).await;
        assert_eq!(check_adm(&s).await, want, "{version}");
        // The library's answer for the minor is the same.
        let minor = surface::parse_minor(version).unwrap();
        let from_lib: Served = surface::served(minor)
            .unwrap()
            .into_iter()
            .filter(|g| g.group == ADM)
            .map(|g| (g.version.to_string(), g.resource.to_string()))
            .collect();
        assert_eq!(from_lib, want, "{version}");
    }
}

#[tokio::test]
async fn runtime_config_enables_mutating_admission_policy_beta() {
    let beta = [
        ("v1beta1", "mutatingadmissionpolicies"),
        ("v1beta1", "mutatingadmissionpolicybindings"),
    ];
    let mut want = V1_BEFORE_MAP.to_vec();
    want.extend(beta);
    for version in ["v1.34.0", "v1.35.0"] {
        let s = server(version, &[(ADM_BETA, true)]).await;
        assert_eq!(check_adm(&s).await, set(&want), "{version}");
        assert_eq!(
            legacy_adm(&s).await.1,
            ["v1", "v1beta1"],
            "v1 stays preferred"
        );
        // The same through the control surface, then back off.
        let s = server(version, &[]).await;
        assert_eq!(check_adm(&s).await, set(&V1_BEFORE_MAP));
        let (code, v) = s
            .put(
                "/_emulator/runtime-config",
                r#"{"admissionregistration.k8s.io/v1beta1": true}"#,
            )
            .await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(
            v,
            json!({"version": version, "runtimeConfig": {"admissionregistration.k8s.io/v1beta1": true}})
        );
        assert_eq!(check_adm(&s).await, set(&want));
        s.emu.set_runtime_config(ADM_BETA, false).unwrap();
        assert_eq!(check_adm(&s).await, set(&V1_BEFORE_MAP));
    }
    // A version the minor does not have cannot be named, and nothing changes.
    let s = server("v1.35.0", &[]).await;
    let (code, v) = s.put(
        "/_emulator/runtime-config",
        r#"{"admissionregistration.k8s.io/v1beta1": true, "admissionregistration.k8s.io/v1beta2": true}"#,
    )
    .await;
    assert_eq!((code, v["reason"].as_str()), (422, Some("Invalid")));
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("v1beta2 does not exist in Kubernetes 1.35"),
        "{v}"
    );
    assert_eq!(check_adm(&s).await, set(&V1_BEFORE_MAP));
    let (code, _) = s.put("/_emulator/runtime-config", "not json").await;
    assert_eq!(code, 400);
    let err = Emulator::with_config(EmulatorConfig {
        kubernetes_version: "1.33".into(),
        runtime_config: BTreeMap::from([("batch/v2".to_string(), true)]),
        ..EmulatorConfig::default()
    })
    .err();
    assert!(
        matches!(err, Some(Error::Surface(SurfaceError::UnknownGroupVersion { ref group_version, minor: 33 })) if group_version == "batch/v2"),
        "{err:?}"
    );
}

#[tokio::test]
async fn upgrade_in_place_serves_mutating_admission_policy_v1_and_keeps_objects() {
    let s = server("v1.35.0", &[]).await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}});
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"}});
    let map = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
                     "metadata": {"name": "p"}, "spec": {"failurePolicy": "Fail"}});
    s.emu.apply_all([cm, deploy]).unwrap();
    let cm_before = s.get("/api/v1/namespaces/ns/configmaps/c").await.1;
    let deploy_before = s.get("/apis/apps/v1/namespaces/ns/deployments/d").await.1;
    // Not served: applying it is an error, over HTTP and in the library.
    let (code, v) = s.post("/_emulator/apply", &map.to_string()).await;
    assert_eq!(code, 422);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Kubernetes v1.35.0 does not serve it"),
        "{v}"
    );
    assert!(matches!(
        s.emu.apply(map.clone()),
        Err(Error::NotServed { .. })
    ));
    let (code, _) = s
        .get(&format!("/apis/{ADM}/v1/mutatingadmissionpolicies"))
        .await;
    assert_eq!(code, 404);
    let mut cm_watch = s
        .watch("/api/v1/configmaps?watch=true&resourceVersion=0")
        .await;
    assert_eq!(cm_watch.status, 200);

    let (code, v) = s
        .put("/_emulator/version", r#"{"version":"v1.36.0"}"#)
        .await;
    assert_eq!(
        (code, v),
        (200, json!({"version": "v1.36.0", "runtimeConfig": {}}))
    );
    assert_eq!(s.get("/version").await.1["gitVersion"], "v1.36.0");
    let served = check_adm(&s).await;
    assert!(served.contains(&("v1".into(), "mutatingadmissionpolicies".into())));
    assert!(served.contains(&("v1".into(), "mutatingadmissionpolicybindings".into())));
    let (code, list) = s
        .get(&format!("/apis/{ADM}/v1/mutatingadmissionpolicies"))
        .await;
    assert_eq!(
        (code, list["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (code, v) = s.post("/_emulator/apply", &map.to_string()).await;
    assert_eq!(code, 200, "{v}");
    let (_, list) = s
        .get(&format!("/apis/{ADM}/v1/mutatingadmissionpolicies"))
        .await;
    assert_eq!(common::names(&list), ["p"]);
    // Objects and their resourceVersions are untouched; watches of versions still served go on.
    assert_eq!(
        s.get("/api/v1/namespaces/ns/configmaps/c").await.1,
        cm_before
    );
    assert_eq!(
        s.get("/apis/apps/v1/namespaces/ns/deployments/d").await.1,
        deploy_before
    );
    assert_eq!(cm_watch.next().await["type"], "ADDED");
    assert!(
        cm_watch
            .next_within(Duration::from_millis(300))
            .await
            .is_none()
    );
    assert!(!cm_watch.ended);
}

#[tokio::test]
async fn a_version_that_stops_being_served_ends_its_watches() {
    let s = server("v1.35.0", &[(ADM_BETA, true)]).await;
    let mut beta = s
        .watch(&format!(
            "/apis/{ADM}/v1beta1/mutatingadmissionpolicies?watch=true"
        ))
        .await;
    let mut pods = s.watch("/api/v1/pods?watch=true").await;
    assert_eq!((beta.status, pods.status), (200, 200));
    // Upgrading keeps v1beta1 (still enabled): the watch goes on.
    s.emu.set_kubernetes_version("v1.36.0").unwrap();
    assert!(!beta.ends_within(Duration::from_millis(300)).await);
    s.emu.set_runtime_config(ADM_BETA, false).unwrap();
    assert!(beta.ends_within(Duration::from_secs(5)).await);
    assert!(!pods.ends_within(Duration::from_millis(300)).await);
}

#[tokio::test]
async fn unsupported_versions_are_rejected() {
    for (version, minor) in [("v1.30.0", 30), ("1.37", 37)] {
        let err = Emulator::with_config(EmulatorConfig {
            kubernetes_version: version.into(),
            ..EmulatorConfig::default()
        })
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                format!(
                    "Kubernetes 1.{minor} is not emulated: supported versions are 1.31 to 1.36"
                )
                .as_str()
            )
        );
    }
    assert!(matches!(
        Emulator::new().set_kubernetes_version("latest"),
        Err(Error::Surface(SurfaceError::InvalidVersion(_)))
    ));
    let s = server("v1.33.0", &[]).await;
    let (code, v) = s
        .put("/_emulator/version", r#"{"version":"v1.37.0"}"#)
        .await;
    assert_eq!((code, v["reason"].as_str()), (422, Some("Invalid")));
    assert!(
        v["message"].as_str().unwrap().contains("1.31 to 1.36"),
        "{v}"
    );
    let (code, _) = s.put("/_emulator/version", r#"{"v":"1.34"}"#).await;
    assert_eq!(code, 400);
    let (_, v) = s.get("/_emulator/version").await;
    assert_eq!(v, json!({"version": "v1.33.0", "runtimeConfig": {}}));

    cli_fails(
        &["--k8s-version", "v1.30.0"],
        "supported versions are 1.31 to 1.36",
    );
    cli_fails(
        &["--k8s-version", "1.33", "--runtime-config", "batch/v2=true"],
        "batch/v2 does not exist in Kubernetes 1.33",
    );
}

/// The emulator binary with `args` exits unsuccessfully, saying `message`.
fn cli_fails(args: &[&str], message: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-emulator"))
        .args(["--port", "0"])
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(message), "{stderr}");
}

#[tokio::test]
async fn generated_clusters_skip_kinds_not_served() {
    let emu = Emulator::with_config(EmulatorConfig {
        runtime_config: BTreeMap::from([("apps/v1".to_string(), false)]),
        ..EmulatorConfig::default()
    })
    .unwrap();
    let cluster = GeneratedCluster::new(2, 3, 1);
    let stored = emu.load_generated(&cluster);
    assert_eq!(emu.count("deployments").unwrap(), 0);
    assert_eq!(emu.count("replicasets").unwrap(), 0);
    assert_eq!(emu.count("pods").unwrap(), 6);
    let apps = cluster
        .objects()
        .iter()
        .filter(|o| o["apiVersion"] == "apps/v1")
        .count();
    assert!(apps > 0);
    assert_eq!(stored, cluster.objects().len() - apps);
}

/// Checks that `v` has exactly the `required` keys plus some of `optional`.
fn keys(v: &Value, required: &[&str], optional: &[&str]) {
    let got: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in required {
        assert!(got.contains(k), "{k} missing in {v}");
    }
    for k in &got {
        assert!(
            required.contains(k) || optional.contains(k),
            "unexpected {k} in {v}"
        );
    }
}

#[tokio::test]
async fn aggregated_discovery_has_the_upstream_shape() {
    let s = server("v1.35.0", &[(ADM_BETA, true)]).await;
    for (path, core) in [("/api", true), ("/apis", false)] {
        let (code, ctype, doc) = get_accept(&s, path, AGGREGATED).await;
        assert_eq!((code, ctype.as_str()), (200, AGGREGATED));
        // APIGroupDiscoveryList: TypeMeta, ListMeta, items.
        keys(&doc, &["kind", "apiVersion", "metadata", "items"], &[]);
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        let items = doc["items"].as_array().unwrap();
        if core {
            assert_eq!(items.len(), 1);
        }
        let (_, legacy) = s.get(path).await;
        for group in items {
            // APIGroupDiscovery: ObjectMeta (name only) and versions.
            keys(group, &["metadata", "versions"], &[]);
            let name = group["metadata"]["name"].as_str().unwrap();
            assert_eq!(group["metadata"], json!({ "name": name }));
            assert_eq!(name.is_empty(), core);
            let versions: Vec<&str> = group["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["version"].as_str().unwrap())
                .collect();
            // Versions in the order of preference the legacy documents give.
            let legacy_versions: Vec<&str> = if core {
                legacy["versions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect()
            } else {
                let g = legacy["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|g| g["name"] == name)
                    .unwrap();
                assert_eq!(g["preferredVersion"]["version"], versions[0]);
                g["versions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["version"].as_str().unwrap())
                    .collect()
            };
            assert_eq!(versions, legacy_versions, "{name}");
            for version in group["versions"].as_array().unwrap() {
                // APIVersionDiscovery: version, resources, freshness.
                keys(version, &["version", "resources", "freshness"], &[]);
                assert_eq!(version["freshness"], "Current");
                let v = version["version"].as_str().unwrap();
                let legacy_path = if core {
                    format!("/api/{v}")
                } else {
                    format!("/apis/{name}/{v}")
                };
                let (_, legacy_list) = s.get(&legacy_path).await;
                let legacy_resources = legacy_list["resources"].as_array().unwrap();
                let resources = version["resources"].as_array().unwrap();
                assert_eq!(resources.len(), legacy_resources.len(), "{legacy_path}");
                for (r, l) in resources.iter().zip(legacy_resources) {
                    // APIResourceDiscovery.
                    keys(
                        r,
                        &[
                            "resource",
                            "responseKind",
                            "scope",
                            "singularResource",
                            "verbs",
                        ],
                        &["shortNames", "categories"],
                    );
                    assert_eq!(r["resource"], l["name"]);
                    assert_eq!(
                        r["responseKind"],
                        json!({"group": name, "version": v, "kind": l["kind"]})
                    );
                    let scope = if l["namespaced"] == true {
                        "Namespaced"
                    } else {
                        "Cluster"
                    };
                    assert_eq!(r["scope"], scope);
                    assert_eq!(r["singularResource"], l["singularName"]);
                    assert_eq!(r["verbs"], l["verbs"]);
                    assert_eq!(r["shortNames"], l["shortNames"]);
                    assert_eq!(r["categories"], l["categories"]);
                }
            }
        }
    }
    let (_, _, core) = get_accept(&s, "/api", AGGREGATED).await;
    let pods = core["items"][0]["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "pods")
        .unwrap();
    assert_eq!(
        *pods,
        json!({"resource": "pods", "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
               "scope": "Namespaced", "singularResource": "pod",
               "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
               "shortNames": ["po"], "categories": ["all"]})
    );
    // Without the aggregated type first, the legacy documents come back.
    let (_, ctype, legacy) = get_accept(&s, "/apis", "application/json").await;
    assert_eq!(
        (ctype.as_str(), legacy["kind"].as_str()),
        ("application/json", Some("APIGroupList"))
    );
}
