//! CustomResourceDefinitions and their custom resources: a CRD's lifecycle (served and
//! discovered while it exists, in its served versions only), its objects in every served
//! version, cleanup on delete, and the recorded CRS conformance objects.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Server, names};
use kube_emulator::{Emulator, EmulatorConfig, Error, StoreConfig};
use serde_json::{Value, json};

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `widgets.example.com`: v1 (storage) and v1beta1 served, v1alpha1 not, unless `served`
/// says otherwise for (v1, v1beta1, v1alpha1).
fn widget_crd(served: [bool; 3]) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [
                {"name": "v1alpha1", "served": served[2], "storage": false},
                {"name": "v1beta1", "served": served[1], "storage": false},
                {"name": "v1", "served": served[0], "storage": true}
            ]
        }
    })
}

fn widget(version: &str, name: &str) -> Value {
    json!({"apiVersion": format!("example.com/{version}"), "kind": "Widget",
           "metadata": {"name": name, "namespace": "ns"}, "spec": {"size": name.len()}})
}

async fn delete(s: &Server, path: &str) -> u16 {
    let resp = s.http.delete(s.url(path)).send().await.unwrap();
    resp.status().as_u16()
}

/// The versions `/apis` lists for `group`, or None when it is not there.
async fn discovered(s: &Server, group: &str) -> Option<Vec<String>> {
    let (_, apis) = s.get("/apis").await;
    let (_, aggregated) = s.get_as("/apis", "t", Some(AGGREGATED)).await;
    let legacy = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == group);
    let agg = aggregated["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == group);
    assert_eq!(
        legacy.is_some(),
        agg.is_some(),
        "legacy and aggregated agree on {group}"
    );
    let versions = |g: &Value, key: &str| -> Vec<String> {
        g["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[key].as_str().unwrap().to_string())
            .collect()
    };
    let (legacy, agg) = (legacy?, agg?);
    assert_eq!(versions(legacy, "version"), versions(agg, "version"));
    assert_eq!(
        legacy["preferredVersion"]["version"],
        versions(legacy, "version")[0]
    );
    Some(versions(legacy, "version"))
}

#[tokio::test]
async fn crd_lifecycle() {
    let s = Server::start(Emulator::new()).await;
    assert_eq!(discovered(&s, "example.com").await, None);
    assert_eq!(s.get("/apis/example.com/v1/widgets").await.0, 404);

    // Create: accepted, established and served at once.
    let (code, crd) = s
        .post(CRDS, &widget_crd([true, true, false]).to_string())
        .await;
    assert_eq!(code, 201, "{crd}");
    let conditions: Vec<(&str, &str)> = crd["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        conditions,
        [("NamesAccepted", "True"), ("Established", "True")]
    );
    assert_eq!(crd["status"]["acceptedNames"]["listKind"], "WidgetList");
    assert_eq!(crd["status"]["acceptedNames"]["singular"], "widget");
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    assert_eq!(
        discovered(&s, "example.com").await.unwrap(),
        ["v1", "v1beta1"],
        "served versions, GA first"
    );
    let (code, list) = s.get("/apis/example.com/v1beta1").await;
    assert_eq!(code, 200);
    assert_eq!(list["resources"][0]["name"], "widgets");
    assert_eq!(list["resources"][0]["shortNames"], json!(["wd"]));
    assert_eq!(s.get("/apis/example.com/v1alpha1").await.0, 404);
    assert_eq!(s.get("/apis/example.com/v1alpha1/widgets").await.0, 404);

    // Objects written in one version are served in every served version.
    let (code, created) = s
        .post(
            "/apis/example.com/v1beta1/namespaces/ns/widgets",
            &widget("v1beta1", "a").to_string(),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["apiVersion"], "example.com/v1beta1");
    s.emu.apply(widget("v1", "bb")).unwrap();
    for version in ["v1", "v1beta1"] {
        let (code, got) = s
            .get(&format!(
                "/apis/example.com/{version}/namespaces/ns/widgets/a"
            ))
            .await;
        assert_eq!(code, 200);
        assert_eq!(got["apiVersion"], format!("example.com/{version}"));
        assert_eq!(got["kind"], "Widget");
        let (_, list) = s.get(&format!("/apis/example.com/{version}/widgets")).await;
        assert_eq!(list["kind"], "WidgetList");
        assert_eq!(names(&list), ["a", "bb"]);
        for item in list["items"].as_array().unwrap() {
            assert_eq!(item["apiVersion"], format!("example.com/{version}"));
        }
    }
    assert_eq!(
        s.get("/apis/example.com/v1alpha1/namespaces/ns/widgets/a")
            .await
            .0,
        404
    );
    let (_, selected) = s
        .get("/apis/example.com/v1/widgets?fieldSelector=metadata.name%3Dbb")
        .await;
    assert_eq!(names(&selected), ["bb"]);
    let err = s.emu.apply(widget("v1alpha1", "c")).unwrap_err();
    assert!(matches!(err, Error::NoMatch { .. }), "{err}");
    assert!(
        err.to_string().contains("does not serve version v1alpha1"),
        "{err}"
    );

    // Update: v1alpha1 served, v1beta1 no longer; a v1beta1 watch ends, a v1 watch does not.
    let mut beta = s
        .watch("/apis/example.com/v1beta1/widgets?watch=true")
        .await;
    let mut ga = s
        .watch("/apis/example.com/v1/namespaces/ns/widgets?watch=true&allowWatchBookmarks=true")
        .await;
    for w in [&mut beta, &mut ga] {
        assert_eq!(w.status, 200);
        assert_eq!(w.next().await["type"], "ADDED");
        assert_eq!(w.next().await["type"], "ADDED");
    }
    let mut update = widget_crd([true, false, true]);
    update["metadata"]["resourceVersion"] = crd["metadata"]["resourceVersion"].clone();
    let (code, updated) = s
        .put(&format!("{CRDS}/widgets.example.com"), &update.to_string())
        .await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["metadata"]["generation"], 2);
    assert!(
        beta.ends_within(Duration::from_secs(5)).await,
        "v1beta1 watch ended"
    );
    assert_eq!(
        discovered(&s, "example.com").await.unwrap(),
        ["v1", "v1alpha1"]
    );
    assert_eq!(s.get("/apis/example.com/v1beta1/widgets").await.0, 404);
    let (_, alpha) = s.get("/apis/example.com/v1alpha1/widgets").await;
    assert_eq!(alpha["apiVersion"], "example.com/v1alpha1");
    assert_eq!(names(&alpha), ["a", "bb"]);

    // Delete: every object gets a DELETED event, then the resource is no longer served.
    assert_eq!(
        delete(&s, &format!("{CRDS}/widgets.example.com")).await,
        200
    );
    let mut deleted = Vec::new();
    while deleted.len() < 2 {
        let e = ga.next_non_bookmark().await;
        assert_eq!(e["type"], "DELETED", "{e}");
        assert_eq!(e["object"]["apiVersion"], "example.com/v1");
        deleted.push(
            e["object"]["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(deleted, ["a", "bb"]);
    assert!(
        ga.ends_within(Duration::from_secs(5)).await,
        "v1 watch ended"
    );
    assert_eq!(s.get("/apis/example.com/v1/widgets").await.0, 404);
    assert_eq!(s.get("/apis/example.com").await.0, 404);
    assert_eq!(discovered(&s, "example.com").await, None);
    let (_, crds) = s.get(CRDS).await;
    assert_eq!(names(&crds), Vec::<String>::new());

    // Without its CRD a custom resource cannot be applied; the control surface says 404.
    let err = s.emu.apply(widget("v1", "d")).unwrap_err();
    assert!(
        err.to_string().contains("no matches for kind \"Widget\""),
        "{err}"
    );
    let (code, status) = s
        .post("/_emulator/apply", &widget("v1", "d").to_string())
        .await;
    assert_eq!(code, 404, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("ensure CRDs are installed first")
    );

    // Created again, it is served again, empty.
    s.emu.apply(widget_crd([true, false, false])).unwrap();
    let (code, list) = s.get("/apis/example.com/v1/widgets").await;
    assert_eq!((code, names(&list)), (200, Vec::<String>::new()));
}

#[tokio::test]
async fn crd_writes_are_validated_and_completed() {
    let emu = Emulator::new();
    emu.apply(widget_crd([true, true, false])).unwrap();
    let crd = || {
        emu.get("crds", None, "widgets.example.com")
            .unwrap()
            .unwrap()
    };
    assert_eq!(crd()["spec"]["conversion"]["strategy"], "None");
    assert_eq!(crd()["metadata"]["generation"], 1);
    // A new storage version joins storedVersions; the spec change bumps the generation.
    let mut moved = widget_crd([true, true, false]);
    moved["spec"]["versions"][1]["storage"] = json!(true);
    moved["spec"]["versions"][2]["storage"] = json!(false);
    emu.apply(moved).unwrap();
    assert_eq!(crd()["status"]["storedVersions"], json!(["v1", "v1beta1"]));
    assert_eq!(crd()["metadata"]["generation"], 2);
    let invalid = |field: &str, change: &dyn Fn(&mut Value)| {
        let mut v = widget_crd([true, true, false]);
        change(&mut v);
        let err = emu.apply(v).unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    };
    invalid(
        "spec.scope: Invalid value: \"Cluster\": field is immutable",
        &|v| v["spec"]["scope"] = json!("Cluster"),
    );
    invalid("spec.names.kind", &|v| {
        v["spec"]["names"]["kind"] = json!("Gadget")
    });
    invalid("metadata.name", &|v| {
        v["metadata"]["name"] = json!("gadgets.example.com")
    });
    invalid("must have exactly one version marked as storage", &|v| {
        v["spec"]["versions"][0]["storage"] = json!(true)
    });
    invalid("spec.scope: Unsupported value", &|v| {
        v["spec"]["scope"] = json!("Global")
    });
    invalid("spec.versions", &|v| v["spec"]["versions"] = json!([]));
    // Every emulated minor serves CRDs.
    for minor in kube_emulator::OLDEST_MINOR..=kube_emulator::NEWEST_MINOR {
        let served = kube_emulator::surface::served(minor).unwrap();
        assert!(
            served
                .iter()
                .any(|g| g.group == "apiextensions.k8s.io"
                    && g.resource == "customresourcedefinitions"),
            "1.{minor}"
        );
    }
}

#[tokio::test]
async fn custom_resources_page_and_expire() {
    let s = Server::with_config(EmulatorConfig {
        store: StoreConfig {
            history_capacity: 100,
            watch_buffer: 64,
        },
        ..EmulatorConfig::default()
    })
    .await;
    s.emu.apply(widget_crd([true, true, false])).unwrap();
    for i in 0..5 {
        s.emu.apply(widget("v1", &format!("w{i}"))).unwrap();
    }
    let path = "/apis/example.com/v1beta1/namespaces/ns/widgets";
    let (_, first) = s.get(&format!("{path}?limit=2")).await;
    assert_eq!(names(&first), ["w0", "w1"]);
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    let rv = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    s.emu
        .delete("widgets.example.com", Some("ns"), "w3")
        .unwrap()
        .unwrap();
    let (_, second) = s.get(&format!("{path}?limit=10&continue={token}")).await;
    assert_eq!(
        names(&second),
        ["w2", "w3", "w4"],
        "the snapshot of the first page"
    );
    s.emu.compact();
    let (code, gone) = s.get(&format!("{path}?limit=2&continue={token}")).await;
    assert_eq!((code, gone["reason"].as_str()), (410, Some("Expired")));
    let mut w = s
        .watch(&format!("{path}?watch=true&resourceVersion={rv}"))
        .await;
    let e = w.next().await;
    assert_eq!(
        (e["type"].as_str(), e["object"]["code"].as_i64()),
        (Some("ERROR"), Some(410))
    );

    // Metadata-only and Table views, forbid windows and stats apply as to any kind.
    let (_, meta) = s
        .get_as(
            path,
            "t",
            Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
        )
        .await;
    assert_eq!(meta["kind"], "PartialObjectMetadataList");
    assert_eq!(meta["items"][0]["kind"], "PartialObjectMetadata");
    let (_, table) = s
        .get_as(
            path,
            "t",
            Some("application/json;as=Table;g=meta.k8s.io;v=v1"),
        )
        .await;
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "w0");
    s.emu.forbid("widgets.example.com").unwrap();
    assert_eq!(s.get(path).await.0, 403);
    s.emu.allow("wd").unwrap();
    assert_eq!(s.get_as(path, "counted", None).await.0, 200);
    let stats = s.emu.stats();
    assert!(stats.clients["counted"].contains_key("widgets.example.com"));
}

#[tokio::test]
async fn cluster_scoped_custom_resources() {
    let s = Server::start(Emulator::new()).await;
    let mut crd = widget_crd([true, false, false]);
    crd["spec"]["scope"] = json!("Cluster");
    s.emu.apply(crd).unwrap();
    s.emu
        .apply(json!({"apiVersion": "example.com/v1", "kind": "Widget",
                      "metadata": {"name": "global", "namespace": "ignored"}}))
        .unwrap();
    let (code, got) = s.get("/apis/example.com/v1/widgets/global").await;
    assert_eq!(code, 200);
    assert_eq!(got["metadata"].get("namespace"), None);
    assert_eq!(
        s.get("/apis/example.com/v1/namespaces/ns/widgets").await.0,
        404
    );
    let (_, doc) = s.get("/apis/example.com/v1").await;
    assert_eq!(doc["resources"][0]["namespaced"], false);
}

/// `/work/shared/conformance/crs`: the recorded Custom Resource State cases.
fn crs_cases() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/crs")
}

#[tokio::test]
async fn conformance_objects_load_and_list_back() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(crs_cases())
        .expect("the CRS conformance cases")
        .map(|e| e.unwrap().path().join("objects"))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 17, "{cases:?}");
    for objects in cases {
        let emu = Emulator::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&objects)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        // `00-crd-*` first, as the cases' README asks.
        files.sort();
        let mut expected: Vec<(String, String)> = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let applied = emu
                .apply_text(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            for a in applied {
                expected.push((a.resource, a.name));
            }
        }
        let crds = emu.list("customresourcedefinitions").unwrap();
        assert!(!crds.is_empty(), "{}", objects.display());
        for crd in &crds {
            let crd_name = crd["metadata"]["name"].as_str().unwrap();
            let mut want: Vec<&str> = expected
                .iter()
                .filter(|(r, _)| r == crd_name)
                .map(|(_, n)| n.as_str())
                .collect();
            want.sort();
            let listed = emu.list(crd_name).unwrap();
            let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
            let mut got: Vec<&str> = listed
                .iter()
                .inspect(|o| assert_eq!(o["kind"], kind))
                .map(|o| o["metadata"]["name"].as_str().unwrap())
                .collect();
            got.sort();
            assert_eq!(got, want, "{}: {crd_name}", objects.display());
        }
    }
}
