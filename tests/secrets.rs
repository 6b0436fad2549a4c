//! Secrets are read as server-side Tables: the real binary against the emulator gives the
//! same kube_secret_* series as whole Secrets give through the same generators, follows
//! adds, changes and deletes, and no Secret is ever sent whole (the emulator counts what it
//! sends).

use std::time::Duration;

use kube_emulator::Emulator;
use kube_state_otel::kinds::AnyKind;
use kube_state_otel::metric::{AllowList, KindOptions};
use kube_state_otel::pipeline::all_kinds;
use serde_json::{Value, json};

mod harness;
use harness::{Exporter, noise, render_objects, start_emulator, value, wait_for};

const TYPES: [&str; 3] = [
    "Opaque",
    "kubernetes.io/tls",
    "kubernetes.io/dockerconfigjson",
];
const DATA_BYTES: usize = 8 * 1024;

fn secret(i: u64, ty: &str, app: &str) -> Value {
    let mut s = json!({
        "apiVersion": "v1", "kind": "Secret", "type": ty,
        "metadata": {"name": format!("s{i}"), "namespace": "vault", "uid": format!("uid-s{i}"),
                     "labels": {"app": app, "index": i.to_string()},
                     "annotations": {"note": format!("n{i}"), "hidden": "x"},
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "data": {"payload": noise(i, DATA_BYTES)}
    });
    if i.is_multiple_of(2) {
        s["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment",
            "name": format!("d{i}"), "uid": format!("uid-d{i}"), "controller": true}]);
    }
    s
}

/// The kube_secret_* lines of a scrape (headers too), sorted.
fn secret_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("kube_secret_")
                || l.starts_with("# HELP kube_secret_")
                || l.starts_with("# TYPE kube_secret_")
        })
        .collect();
    lines.sort_unstable();
    lines
}

/// What the emulator's Secrets, whole, give through the generators with the exporter's
/// options.
fn expected(e: &Emulator) -> String {
    let kind: &dyn AnyKind = all_kinds()
        .into_iter()
        .find(|k| k.resource() == "secrets")
        .expect("the secrets kind");
    let options = KindOptions {
        allow_labels: AllowList::new(["*"]),
        allow_annotations: AllowList::new(["note"]),
        ..KindOptions::default()
    };
    let secrets = e.list("secrets").expect("secrets listed");
    assert!(
        secrets.iter().all(|s| s["data"].is_object()),
        "the comparison is made with whole Secrets, data included"
    );
    render_objects(kind, secrets, &options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_read_as_tables_with_the_same_series_and_their_data_is_never_sent() {
    let emulator = start_emulator(Emulator::new()).await;
    let e = emulator.emulator();
    e.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "vault"}}))
        .expect("namespace applied");
    for i in 0..12 {
        e.apply(secret(i, TYPES[i as usize % 3], "a"))
            .expect("secret applied");
    }
    // Bookmarks come in Tables too.
    e.set_bookmark_interval(Duration::from_millis(100));
    e.reset_stats();
    let exporter = Exporter::start_as(
        &emulator.url(),
        "secret-reader",
        &[
            "--resources",
            "secrets",
            "--metric-labels-allowlist",
            "secrets=[*]",
            "--metric-annotations-allowlist",
            "secrets=[note]",
            // Several pages, each a Table.
            "--list-page-size",
            "5",
        ],
    );
    exporter.wait_ready().await;
    let want = expected(e);
    let m = exporter.metrics().await;
    assert_eq!(secret_lines(&m), secret_lines(&want), "{}", exporter.log());
    assert_eq!(
        value(
            &m,
            "kube_secret_type",
            &["secret=\"s1\"", "type=\"kubernetes.io/tls\""]
        ),
        Some(1.0)
    );

    // The watch follows an add, a change of type and labels, and a delete.
    e.apply(secret(20, "kubernetes.io/basic-auth", "new"))
        .expect("secret added");
    e.apply(secret(0, "kubernetes.io/ssh-auth", "changed"))
        .expect("secret changed");
    e.delete("secrets", Some("vault"), "s1")
        .expect("secret deleted");
    wait_for("the watched changes", || async {
        let m = exporter.metrics().await;
        value(
            &m,
            "kube_secret_type",
            &["secret=\"s0\"", "type=\"kubernetes.io/ssh-auth\""],
        ) == Some(1.0)
            && value(&m, "kube_secret_info", &["secret=\"s20\""]) == Some(1.0)
            && value(&m, "kube_secret_info", &["secret=\"s1\""]).is_none()
    })
    .await;
    let m = exporter.metrics().await;
    assert_eq!(secret_lines(&m), secret_lines(&expected(e)));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let stats = e.stats().get("secret-reader", "secrets");
    assert!(stats.list_requests >= 3, "paged lists: {stats:?}");
    // One watch, never restarted: its events and bookmarks all read as Tables.
    assert_eq!(stats.watch_requests, 1, "{stats:?}");
    assert!(stats.watch_events >= 6, "changes and bookmarks: {stats:?}");
    assert_eq!(stats.object_bodies, 0, "a Secret was sent whole: {stats:?}");
    // 13 Secrets' data is over 100 KiB; their Tables are a fraction of it.
    let sent = stats.list_bytes + stats.watch_bytes;
    assert!(
        sent < (DATA_BYTES * 4) as u64,
        "{sent} bytes sent for Secrets"
    );
    let telemetry = exporter.telemetry().await;
    assert!(
        !telemetry.contains("kube_state_otel_decode_failed_objects_total{resource=\"*v1.Secret\""),
        "{telemetry}"
    );
}
