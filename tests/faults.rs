//! API faults the binary recovers from as client-go's reflector does: a watch refused with 429
//! waits the server's `Retry-After` and watches again from where it was (no relist: the kube
//! client retries it); a watch refused otherwise (500) relists, since its resourceVersion may
//! be gone. (That a 410 is
//! not waited for is `watch::retry`'s unit test.)

use std::time::{Duration, Instant};

use kube_emulator::faults::Fault;
use kube_emulator::{Emulator, GeneratedCluster, ServerHandle};
use serde_json::json;

mod harness;
use harness::{Exporter, start_emulator, value, wait_for_within};

async fn ready() -> (ServerHandle, Exporter) {
    let server = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(2, 3, 5))).await;
    let exporter = Exporter::start(&server.url(), &[]);
    exporter.wait_ready().await;
    (server, exporter)
}

/// Successful (or failed) pod lists or watches so far, from the exporter's own telemetry.
async fn calls(exporter: &Exporter, family: &str, result: &str) -> f64 {
    let telemetry = exporter.telemetry().await;
    let result = format!("result=\"{result}\"");
    value(&telemetry, family, &["resource=\"*v1.Pod\"", &result]).unwrap_or(0.0)
}

/// The next pods watch answers `status`.
fn refused_pods_watch(status: u16, retry_after_seconds: Option<u32>) -> Fault {
    Fault {
        resource: "pods".into(),
        verb: "watch".into(),
        status,
        count: 1,
        retry_after_seconds,
    }
}

fn pod(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"}})
}

/// Pods watches fail as `fault` says; the open watches are cut, so the next watch start meets
/// the fault; once it has, a pod is created. Returns how long until the exporter showed it.
async fn fault_then_create(
    server: &ServerHandle,
    exporter: &Exporter,
    fault: Fault,
    name: &str,
) -> Duration {
    let emulator = server.emulator();
    let errors = || emulator.stats().get("exporter", "pods").errors;
    let before = errors();
    emulator.inject_fault(&fault).expect("fault armed");
    emulator.disconnect_watches();
    // The watch is refused before the pod exists, so only a new watch or list can bring it.
    wait_for_within("the watch refused", Duration::from_secs(10), || async {
        errors() > before
    })
    .await;
    let created = Instant::now();
    emulator.apply(pod(name)).expect("pod stored");
    wait_for_pod(exporter, name, Duration::from_secs(60)).await;
    created.elapsed()
}

/// Waits until the exporter reports pod `name`.
async fn wait_for_pod(exporter: &Exporter, name: &str, within: Duration) {
    let line = format!("pod=\"{name}\"");
    wait_for_within(name, within, || async {
        exporter
            .metrics()
            .await
            .lines()
            .any(|l| l.starts_with("kube_pod_info{") && l.contains(&line))
    })
    .await;
}

/// Pod relists counted in the exporter's telemetry (`None` before the first).
async fn pod_relists(exporter: &Exporter) -> Option<f64> {
    let telemetry = exporter.telemetry().await;
    value(
        &telemetry,
        "kube_state_otel_relists_total",
        &["resource=\"*v1.Pod\""],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_refused_with_429_waits_retry_after_and_watches_again_without_relisting() {
    let (server, exporter) = ready().await;
    let lists = calls(&exporter, "kube_state_metrics_list_total", "success").await;
    let fault = refused_pods_watch(429, Some(3));
    let took = fault_then_create(&server, &exporter, fault, "after-429").await;
    // The refusal came at most a poll (100 ms) before the pod was created.
    assert!(
        took >= Duration::from_millis(2800),
        "Retry-After honoured: {took:?}"
    );
    assert_eq!(
        calls(&exporter, "kube_state_metrics_list_total", "success").await,
        lists,
        "watched again from its resourceVersion, not relisted"
    );
    assert_eq!(pod_relists(&exporter).await, None, "no relist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_refused_with_500_relists() {
    let (server, exporter) = ready().await;
    let lists = calls(&exporter, "kube_state_metrics_list_total", "success").await;
    let fault = refused_pods_watch(500, None);
    fault_then_create(&server, &exporter, fault, "after-500").await;
    assert_eq!(
        calls(&exporter, "kube_state_metrics_list_total", "success").await,
        lists + 1.0,
        "relisted once"
    );
    assert_eq!(
        pod_relists(&exporter).await,
        Some(1.0),
        "the relist counted"
    );
}

/// A watch that goes silent (open, no events, no bookmarks, never ended by the server) is given
/// up after `--watch-timeout` plus kube-runtime's 5 s margin and resumed; without that the pod
/// created meanwhile would never arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_watch_is_noticed_and_resumed() {
    let server = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(2, 3, 5))).await;
    let exporter = Exporter::start(&server.url(), &["--watch-timeout", "2s"]);
    exporter.wait_ready().await;
    let emulator = server.emulator();
    assert!(emulator.silence_watches() > 0, "watches were open");
    let silenced = Instant::now();
    // Let the emulator's watch tasks take the silence in before the next event.
    tokio::time::sleep(Duration::from_millis(200)).await;
    emulator.apply(pod("during-silence")).expect("pod stored");
    wait_for_pod(&exporter, "during-silence", Duration::from_secs(30)).await;
    // Not before the silent watch was given up: 2 s + 5 s, less the time it had already run.
    let took = silenced.elapsed();
    assert!(took >= Duration::from_secs(5), "{took:?}");
}
