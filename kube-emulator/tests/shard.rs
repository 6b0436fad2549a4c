//! Server-side sharding (`shardSelector`, KEP-5866) on lists and watches, in the three
//! behaviours a client can meet: supported, ignored, rejected.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Server, names, pod};
use kube_emulator::{Emulator, EmulatorConfig, ShardSelectors};
use serde_json::{Value, json};

/// The two halves of the hash space, as a 2-shard client sends them.
const HALVES: [&str; 2] = [
    "shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000')",
    "shardRange(object.metadata.uid, '0x8000000000000000', '0x10000000000000000')",
];

fn query(selector: &str) -> String {
    selector
        .replace(' ', "%20")
        .replace('\'', "%27")
        .replace(',', "%2C")
        .replace('|', "%7C")
}

/// A pod with a chosen UID: FNV-1a 64 of `uid-pod-1` is 0x7adb… (lower half), of `a`
/// 0xaf63… (upper half).
fn pod_with_uid(name: &str, uid: &str) -> Value {
    let mut p = pod("ns", name, json!({}), "n1", "Running");
    p["metadata"]["uid"] = json!(uid);
    p
}

async fn server(mode: ShardSelectors, pods: usize) -> Server {
    let emu = Emulator::with_config(EmulatorConfig {
        shard_selectors: mode,
        ..EmulatorConfig::default()
    })
    .expect("valid config");
    for i in 0..pods {
        emu.apply(pod("ns", &format!("p{i:02}"), json!({}), "n1", "Running"))
            .unwrap();
    }
    Server::start(emu).await
}

#[tokio::test]
async fn supported_shards_partition_lists_and_echo_the_selector_on_every_page() {
    let s = server(ShardSelectors::Supported, 40).await;
    let (_, all) = s.get("/api/v1/pods").await;
    assert!(all["metadata"].get("shardInfo").is_none());
    let all: BTreeSet<String> = names(&all).into_iter().collect();
    let mut parts = Vec::new();
    for selector in HALVES {
        let (code, v) = s
            .get(&format!("/api/v1/pods?shardSelector={}", query(selector)))
            .await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["metadata"]["shardInfo"]["selector"], selector);
        let part: BTreeSet<String> = names(&v).into_iter().collect();
        // Paginated, with the selector on every page, the shard is the same.
        let mut paged = BTreeSet::new();
        let mut cont = String::new();
        loop {
            let (code, page) = s
                .get(&format!(
                    "/api/v1/pods?limit=7&shardSelector={}{cont}",
                    query(selector)
                ))
                .await;
            assert_eq!(code, 200);
            assert_eq!(page["metadata"]["shardInfo"]["selector"], selector);
            paged.extend(names(&page));
            match page["metadata"]["continue"].as_str() {
                Some(c) => cont = format!("&continue={c}"),
                None => break,
            }
        }
        assert_eq!(paged, part);
        parts.push(part);
    }
    assert!(!parts[0].is_empty() && !parts[1].is_empty(), "{parts:?}");
    assert!(parts[0].is_disjoint(&parts[1]));
    assert_eq!(&parts[0] | &parts[1], all);
    // A selector the apiserver would not parse is a 400, never an unfiltered list.
    let bad = "shardRange(object.metadata.uid, '0x0', '0x8000000000000000')";
    let (code, v) = s
        .get(&format!("/api/v1/pods?shardSelector={}", query(bad)))
        .await;
    assert_eq!((code, v["reason"].as_str()), (400, Some("BadRequest")));
}

#[tokio::test]
async fn supported_shards_filter_watch_events_and_keep_bookmarks() {
    let s = server(ShardSelectors::Supported, 0).await;
    s.emu.set_bookmark_interval(Duration::from_millis(200));
    let rv = s.emu.resource_version();
    let mut low = s
        .watch(&format!(
            "/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion={rv}&shardSelector={}",
            query(HALVES[0])
        ))
        .await;
    assert_eq!(low.status, 200);
    s.emu.apply(pod_with_uid("upper", "a")).unwrap();
    s.emu.apply(pod_with_uid("lower", "uid-pod-1")).unwrap();
    let e = low.next_non_bookmark().await;
    assert_eq!(
        (&e["type"], &e["object"]["metadata"]["name"]),
        (&json!("ADDED"), &json!("lower"))
    );
    // Bookmarks still come, carrying the latest resourceVersion (also past other shards'
    // events).
    let b = loop {
        let e = low.next().await;
        if e["type"] == "BOOKMARK" {
            break e;
        }
    };
    let rv: u64 = b["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rv, s.emu.resource_version());
    s.emu.delete("pods", Some("ns"), "upper").unwrap();
    s.emu.delete("pods", Some("ns"), "lower").unwrap();
    let e = low.next_non_bookmark().await;
    assert_eq!(
        (&e["type"], &e["object"]["metadata"]["name"]),
        (&json!("DELETED"), &json!("lower"))
    );
}

#[tokio::test]
async fn ignoring_servers_send_everything_without_shard_info() {
    let s = server(ShardSelectors::Ignored, 10).await;
    let (code, v) = s
        .get(&format!("/api/v1/pods?shardSelector={}", query(HALVES[0])))
        .await;
    assert_eq!(code, 200);
    assert_eq!(names(&v).len(), 10);
    assert!(
        v["metadata"].get("shardInfo").is_none(),
        "{}",
        v["metadata"]
    );
    let rv = s.emu.resource_version();
    let mut w = s
        .watch(&format!(
            "/api/v1/pods?watch=true&resourceVersion={rv}&shardSelector={}",
            query(HALVES[0])
        ))
        .await;
    s.emu.apply(pod_with_uid("upper", "a")).unwrap();
    assert_eq!(w.next().await["object"]["metadata"]["name"], "upper");
}

#[tokio::test]
async fn rejecting_servers_answer_400_and_can_be_switched_over_http() {
    let s = server(ShardSelectors::Rejected, 3).await;
    let path = format!("/api/v1/pods?shardSelector={}", query(HALVES[1]));
    let (code, v) = s.get(&path).await;
    assert_eq!((code, v["reason"].as_str()), (400, Some("BadRequest")));
    let (code, _) = s
        .get(&format!(
            "/api/v1/pods?watch=true&shardSelector={}",
            query(HALVES[1])
        ))
        .await;
    assert_eq!(code, 400);
    // Without the parameter the same server lists normally.
    assert_eq!(names(&s.get("/api/v1/pods").await.1).len(), 3);
    let (code, v) = s
        .post("/_emulator/shard-selectors?mode=supported", "")
        .await;
    assert_eq!((code, &v["shardSelectors"]), (200, &json!("supported")));
    assert_eq!(s.emu.shard_selectors(), ShardSelectors::Supported);
    assert_eq!(s.get(&path).await.0, 200);
    let (code, _) = s.post("/_emulator/shard-selectors?mode=maybe", "").await;
    assert_eq!(code, 400);
}
