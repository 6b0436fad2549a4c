//! API faults the binary recovers from as client-go's reflector does: a watch refused with 429
//! waits the server's `Retry-After` and watches again from where it was (no relist: the
//! client retries it, counted); a watch refused otherwise (500) relists, since its resourceVersion may
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

/// Pod relists counted in the exporter's telemetry (0 from the watcher's start).
async fn pod_relists(exporter: &Exporter) -> Option<f64> {
    let telemetry = exporter.telemetry().await;
    value(
        &telemetry,
        "kube_state_otel_relists_total",
        &["resource=\"*v1.Pod\""],
    )
}

/// Pod requests sent again because the API server answered `code` with `Retry-After`.
async fn pod_retries(exporter: &Exporter, code: u16) -> Option<f64> {
    let telemetry = exporter.telemetry().await;
    let code = format!("code=\"{code}\"");
    value(
        &telemetry,
        "kube_state_otel_api_retries_total",
        &["resource=\"*v1.Pod\"", &code],
    )
}

/// Everything the exporter's lists have answered with an error so far, over all resources.
async fn list_errors(exporter: &Exporter) -> f64 {
    let telemetry = exporter.telemetry().await;
    telemetry
        .lines()
        .filter(|l| {
            l.starts_with("kube_state_metrics_list_total{") && l.contains("result=\"error\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
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
    assert_eq!(pod_relists(&exporter).await, Some(0.0), "no relist");
    assert_eq!(
        pod_retries(&exporter, 429).await,
        Some(1.0),
        "the wait counted"
    );
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
    // Each watch ends after 2 s and is started again: cut them all and silence the new ones
    // early in their 2 s, so the pods watch cannot be between two watches when it happens.
    emulator.disconnect_watches();
    tokio::time::sleep(Duration::from_millis(500)).await;
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

/// A relist's pages answered 503 with `Retry-After` are sent again after the wait, by the
/// client (counted per code), as client-go's request retry does: the list is not failed, so
/// the watcher neither backs off nor starts over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_answered_503_with_retry_after_are_sent_again_after_the_wait() {
    let server = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(2, 3, 5))).await;
    let exporter = Exporter::start(&server.url(), &["--list-page-size", "2"]);
    exporter.wait_ready().await;
    let emulator = server.emulator();
    let errors = list_errors(&exporter).await;
    emulator
        .inject_fault(&Fault {
            resource: "pods".into(),
            verb: "list".into(),
            status: 503,
            count: 3,
            retry_after_seconds: Some(1),
        })
        .expect("fault armed");
    // History gone and watches cut: the pods watcher must relist, into the 503s.
    emulator.compact();
    emulator.disconnect_watches();
    wait_for_within("three retries", Duration::from_secs(30), || async {
        pod_retries(&exporter, 503).await == Some(3.0)
    })
    .await;
    emulator.apply(pod("after-503")).expect("pod stored");
    wait_for_pod(&exporter, "after-503", Duration::from_secs(30)).await;
    assert_eq!(
        list_errors(&exporter).await,
        errors,
        "the retried pages are not failed lists"
    );
}

/// A slow paginated list whose history is compacted between two pages gets 410 for its
/// `continue` token; the watcher starts the list over at once and ends up with every object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_continue_token_mid_list_starts_the_list_over() {
    let server = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(2, 3, 5))).await;
    let exporter = Exporter::start(&server.url(), &["--list-page-size", "2"]);
    exporter.wait_ready().await;
    let emulator = server.emulator();
    let errors = list_errors(&exporter).await;
    let relists = pod_relists(&exporter).await.unwrap_or(0.0);
    emulator.set_list_delay(Duration::from_secs(1));
    emulator.apply(pod("mid-list")).expect("pod stored");
    emulator.compact();
    emulator.disconnect_watches();
    // The first pages are answered after 1 s; the second pages wait until 2 s, and their
    // tokens expire meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    emulator.compact();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    emulator.set_list_delay(Duration::ZERO);
    wait_for_pod(&exporter, "mid-list", Duration::from_secs(30)).await;
    assert!(
        list_errors(&exporter).await > errors,
        "the expired pages were counted as failed lists"
    );
    assert!(
        pod_relists(&exporter).await.unwrap_or(0.0) >= relists + 2.0,
        "the list after the 410 and the list started over"
    );
}

/// The API server restarts (down 2 s, back on the same address without event history): every
/// watcher notices, relists on the 410 and comes back with what changed while it was down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_is_recovered_by_relisting() {
    let (mut server, exporter) = ready().await;
    let relists = pod_relists(&exporter).await.unwrap_or(0.0);
    let emulator = server.emulator().clone();
    let restart = async {
        server
            .restart(Duration::from_secs(2))
            .await
            .expect("the emulator restarts");
    };
    let change = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        emulator.apply(pod("while-down")).expect("pod stored");
    };
    tokio::join!(restart, change);
    wait_for_pod(&exporter, "while-down", Duration::from_secs(30)).await;
    assert!(
        pod_relists(&exporter).await.unwrap_or(0.0) > relists,
        "relisted after the restart"
    );
    assert!(exporter.metrics().await.contains("kube_node_info{"));
}
