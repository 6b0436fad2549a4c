//! kube-rs against the emulator: Api::list, watcher (list-watch and streaming lists, full and
//! metadata-only), recovery after disconnects and compaction, discovery (legacy and
//! aggregated), through a written kubeconfig.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Server, pod};
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DynamicObject, GroupVersionKind, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::discovery::{Discovery, Scope};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::watcher;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Config, ResourceExt};
use kube_emulator::{Emulator, EmulatorConfig, GeneratedCluster, write_kubeconfig};
use serde_json::json;

async fn client(s: &Server, token: &str) -> Client {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    write_kubeconfig(&path, &s.handle.url(), token).unwrap();
    let kc = Kubeconfig::read_from(&path).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// Pulls events until the initial listing is complete; returns the names seen.
async fn initial_names<K: ResourceExt>(
    stream: &mut (impl Stream<Item = Result<Event<K>, watcher::Error>> + Unpin),
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("watcher stalled")
            .expect("stream ended")
            .expect("watcher error");
        match ev {
            Event::Init => names.clear(),
            Event::InitApply(o) => {
                names.insert(o.name_any());
            }
            Event::InitDone => return names,
            other => panic!(
                "unexpected event before InitDone: {:?}",
                std::mem::discriminant(&other)
            ),
        }
    }
}

async fn next_event<K>(
    stream: &mut (impl Stream<Item = Result<Event<K>, watcher::Error>> + Unpin),
) -> Event<K> {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("watcher stalled")
        .expect("stream ended")
        .expect("watcher error")
}

#[tokio::test]
async fn api_list_parses_typed_objects_with_pagination() {
    let s = Server::start(Emulator::with_cluster(&GeneratedCluster::new(3, 10, 2))).await;
    let c = client(&s, "lister").await;
    let pods: Api<Pod> = Api::all(c.clone());
    let mut all = Vec::new();
    let mut lp = ListParams::default().limit(7);
    loop {
        let page = pods.list(&lp).await.unwrap();
        all.extend(page.items);
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => lp = lp.continue_token(&t),
            _ => break,
        }
    }
    assert_eq!(all.len(), 30);
    // Unpaged, the list is over the 128 KiB gzip threshold: kube's gzip feature decodes it.
    let before = s.emu.stats().get("lister", "pods").list_bytes;
    let whole = pods.list(&ListParams::default()).await.unwrap();
    assert_eq!(whole.items.len(), 30);
    let wire = s.emu.stats().get("lister", "pods").list_bytes - before;
    assert!(
        wire < 64 * 1024,
        "the unpaged list went out gzipped: {wire} bytes"
    );
    let p = &all[0];
    assert!(p.spec.as_ref().unwrap().containers[0].resources.is_some());
    let status = p.status.as_ref().unwrap();
    assert!(
        status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready")
    );
    let nodes: Api<Node> = Api::all(c.clone());
    let n = nodes.list(&ListParams::default()).await.unwrap();
    assert_eq!(n.items.len(), 3);
    assert!(
        n.items[0]
            .status
            .as_ref()
            .unwrap()
            .capacity
            .as_ref()
            .unwrap()
            .contains_key("cpu")
    );
    let deploys: Api<Deployment> = Api::all(c);
    let d = deploys.list(&ListParams::default()).await.unwrap();
    assert!(!d.items.is_empty());
    assert!(
        d.items
            .iter()
            .all(|d| d.status.as_ref().unwrap().replicas.is_some())
    );
    let st = s.emu.stats().get("lister", "pods");
    assert_eq!(st.list_requests, 6);
    assert!(
        st.list_bytes < 600_000,
        "the unpaged list went out gzipped: {st:?}"
    );
}

#[tokio::test]
async fn watcher_list_watch_and_streaming_list_see_changes() {
    let s = Server::start(Emulator::new()).await;
    s.emu.set_bookmark_interval(Duration::from_millis(300));
    s.emu
        .apply(pod("a", "p1", json!({"app": "web"}), "n1", "Running"))
        .unwrap();
    s.emu
        .apply(pod("b", "p2", json!({"app": "web"}), "n1", "Running"))
        .unwrap();
    let c = client(&s, "watcher").await;
    for config in [
        watcher::Config::default().page_size(1),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut w = watcher(Api::<Pod>::all(c.clone()), config).boxed();
        assert_eq!(
            initial_names(&mut w).await,
            ["p1", "p2"].map(String::from).into()
        );
        s.emu
            .apply(pod("a", "p3", json!({}), "n2", "Pending"))
            .unwrap();
        match next_event(&mut w).await {
            Event::Apply(p) => assert_eq!(p.name_any(), "p3"),
            _ => panic!("expected Apply"),
        }
        s.emu.delete("pods", Some("a"), "p3").unwrap();
        match next_event(&mut w).await {
            Event::Delete(p) => assert_eq!(p.name_any(), "p3"),
            _ => panic!("expected Delete"),
        }
    }
    let st = s.emu.stats().get("watcher", "pods");
    assert_eq!(st.list_requests, 2, "page_size 1 lists two pages");
    assert_eq!(st.watch_requests, 2);
    assert!(st.watch_bytes > 0);
}

#[tokio::test]
async fn metadata_watcher_and_label_selectors() {
    let s = Server::start(Emulator::new()).await;
    s.emu
        .apply(pod("a", "web-1", json!({"app": "web"}), "n1", "Running"))
        .unwrap();
    s.emu
        .apply(pod("a", "db-1", json!({"app": "db"}), "n1", "Running"))
        .unwrap();
    let c = client(&s, "meta").await;
    let cfg = watcher::Config::default()
        .labels("app=web")
        .streaming_lists();
    let mut w = watcher(Api::<PartialObjectMeta<Pod>>::all(c.clone()), cfg).boxed();
    assert_eq!(initial_names(&mut w).await, ["web-1".to_string()].into());
    // Moving db-1 into the selection shows up as an Apply.
    s.emu
        .apply(pod("a", "db-1", json!({"app": "web"}), "n1", "Running"))
        .unwrap();
    match next_event(&mut w).await {
        Event::Apply(m) => {
            assert_eq!(m.name_any(), "db-1");
            assert_eq!(m.labels()["app"], "web");
        }
        _ => panic!("expected Apply"),
    }
    let mut w = watcher(
        Api::<PartialObjectMeta<Pod>>::all(c),
        watcher::Config::default(),
    )
    .boxed();
    assert_eq!(initial_names(&mut w).await.len(), 2);
}

#[tokio::test]
async fn watcher_recovers_from_disconnect_and_relists_after_compaction() {
    let s = Server::start(Emulator::new()).await;
    s.emu
        .apply(pod("a", "p1", json!({}), "n1", "Running"))
        .unwrap();
    let c = client(&s, "recover").await;
    let mut w = watcher(Api::<Pod>::all(c), watcher::Config::default())
        .default_backoff()
        .boxed();
    assert_eq!(initial_names(&mut w).await.len(), 1);
    // A disconnect alone: the watcher resumes from its resourceVersion, no relist.
    s.emu.disconnect_watches();
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.emu
        .apply(pod("a", "p2", json!({}), "n1", "Running"))
        .unwrap();
    match next_event(&mut w).await {
        Event::Apply(p) => assert_eq!(p.name_any(), "p2"),
        _ => panic!("expected Apply after re-watch"),
    }
    let lists_before = s.emu.stats().get("recover", "pods").list_requests;
    // Compaction then disconnect: the re-watch gets 410 Expired and the watcher relists.
    s.emu
        .apply(pod("a", "p3", json!({}), "n1", "Running"))
        .unwrap();
    match next_event(&mut w).await {
        Event::Apply(p) => assert_eq!(p.name_any(), "p3"),
        _ => panic!("expected Apply"),
    }
    s.emu.compact();
    s.emu.disconnect_watches();
    let relisted = loop {
        match tokio::time::timeout(Duration::from_secs(20), w.next())
            .await
            .unwrap()
            .unwrap()
        {
            Ok(Event::Init) => break initial_names_after_init(&mut w).await,
            Ok(_) => {}
            Err(e) => assert!(
                e.to_string().contains("410") || format!("{e:?}").contains("Expired"),
                "{e:?}"
            ),
        }
    };
    assert_eq!(relisted, ["p1", "p2", "p3"].map(String::from).into());
    assert_eq!(
        s.emu.stats().get("recover", "pods").list_requests,
        lists_before + 1
    );
}

async fn initial_names_after_init<K: ResourceExt>(
    stream: &mut (impl Stream<Item = Result<Event<K>, watcher::Error>> + Unpin),
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    loop {
        match next_event(stream).await {
            Event::InitApply(o) => {
                names.insert(o.name_any());
            }
            Event::InitDone => return names,
            _ => panic!("unexpected event during relist"),
        }
    }
}

#[tokio::test]
async fn streaming_lists_against_an_old_server_fail_with_422_and_list_watch_works() {
    let s = Server::start(Emulator::new()).await;
    s.emu.set_streaming_lists(false);
    s.emu
        .apply(pod("a", "p1", json!({}), "n1", "Running"))
        .unwrap();
    let c = client(&s, "old").await;
    let mut w = watcher(
        Api::<Pod>::all(c.clone()),
        watcher::Config::default().streaming_lists(),
    )
    .boxed();
    let err = tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    match err {
        watcher::Error::WatchStartFailed(kube::Error::Api(status)) => assert_eq!(status.code, 422),
        other => panic!("unexpected error {other:?}"),
    }
    let mut w = watcher(Api::<Pod>::all(c), watcher::Config::default()).boxed();
    assert_eq!(initial_names(&mut w).await.len(), 1);
}

#[tokio::test]
async fn forbidden_resource_surfaces_as_403_to_kube() {
    let s = Server::start(Emulator::new()).await;
    s.emu.forbid("pods").unwrap();
    let c = client(&s, "rbac").await;
    let err = Api::<Pod>::all(c)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403);
            assert!(status.is_forbidden());
        }
        other => panic!("unexpected error {other:?}"),
    }
}

/// Every (group, preferred version, version, plural, kind, scope) a discovery found.
fn discovered(d: &Discovery) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for g in d.groups() {
        for v in g.versions() {
            for (ar, caps) in g.versioned_resources(v) {
                out.insert(format!(
                    "{} (preferred {:?}) {v} {} {} {:?}",
                    g.name(),
                    g.preferred_version(),
                    ar.plural,
                    ar.kind,
                    caps.scope
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn discovery_legacy_and_aggregated_follow_an_upgrade() {
    let s = Server::with_config(EmulatorConfig {
        kubernetes_version: "v1.35.0".into(),
        ..EmulatorConfig::default()
    })
    .await;
    let c = client(&s, "discovery").await;
    let map = GroupVersionKind::gvk(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingAdmissionPolicy",
    );
    let vap = GroupVersionKind::gvk(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
    );
    for minor in [35, 36] {
        let legacy = Discovery::new(c.clone()).run().await.unwrap();
        let aggregated = Discovery::new(c.clone()).run_aggregated().await.unwrap();
        assert_eq!(discovered(&legacy), discovered(&aggregated), "1.{minor}");
        assert!(aggregated.resolve_gvk(&vap).is_some());
        match aggregated.resolve_gvk(&map) {
            None => assert_eq!(minor, 35),
            Some((ar, caps)) => {
                assert_eq!(minor, 36);
                assert_eq!(ar.plural, "mutatingadmissionpolicies");
                assert_eq!(caps.scope, Scope::Cluster);
                let listed = Api::<DynamicObject>::all_with(c.clone(), &ar)
                    .list(&ListParams::default())
                    .await
                    .unwrap();
                assert!(listed.items.is_empty());
            }
        }
        s.emu.set_kubernetes_version("v1.36.0").unwrap();
    }
}
