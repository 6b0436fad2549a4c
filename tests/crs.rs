//! Custom Resource State end to end: the binary with kube-state-metrics' CRS flags against the
//! emulator serving each recorded case's CRDs and custom resources, scraped and compared with
//! what kube-state-metrics v2.20 printed (`../shared/conformance/crs/`), through the watch
//! steps; CRDs deleted and created at run time.

use std::path::Path;
use std::time::Duration;

use kube_emulator::Emulator;

mod harness;
use harness::prometheus::Prometheus;
use harness::{
    ConfigMapVolume, Exporter, newest_emulator, poll_within, samples, start_emulator, value,
};

mod rotel;
use rotel::Rotel;

mod crs_cases;
use crs_cases::{case_dirs, cases_dir, differences, load, name, parse};

fn crs_exporter(server: &str, dir: &Path) -> Exporter {
    crs_exporter_with(server, dir, &[])
}

fn crs_exporter_with(server: &str, dir: &Path, extra: &[&str]) -> Exporter {
    let config = dir.join("config.yaml");
    let mut args = vec![
        "--custom-resource-state-only",
        "--custom-resource-state-config-file",
        config.to_str().expect("utf-8"),
    ];
    args.extend(extra);
    Exporter::start(server, &args)
}

/// Waits until the exporter's `/metrics` is what KSM printed; panics with the differences
/// left after 20 s.
async fn wait_for_ksm_output(exporter: &Exporter, case: &str, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = differences(&exporter.metrics().await, want);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{case}:\n{}\n{}",
            left.join("\n"),
            exporter.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The emulator serving case `dir`'s objects and the exporter on its config, once the
/// exporter prints what KSM printed; with that output.
async fn run_case(dir: &Path, case: &str) -> (kube_emulator::ServerHandle, Exporter, String) {
    let emulator = newest_emulator();
    load(&emulator, dir);
    let server = start_emulator(emulator).await;
    let exporter = crs_exporter(&server.url(), dir);
    exporter.wait_ready().await;
    let want = std::fs::read_to_string(dir.join("expected.prom")).expect("expected.prom");
    wait_for_ksm_output(&exporter, case, &want).await;
    (server, exporter, want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_what_ksm_printed_through_watch_changes() {
    let mut checked = 0;
    for dir in case_dirs() {
        if dir.join("expected-error.txt").exists() {
            continue;
        }
        let case = name(&dir);
        let (server, exporter, _) = run_case(&dir, &case).await;
        checked += 1;
        if dir.join("change.json").exists() {
            let change = kube_emulator::parse_objects(
                &std::fs::read_to_string(dir.join("change.json")).expect("change"),
            )
            .expect("change.json parses");
            let endpoint =
                std::fs::read_to_string(dir.join("change-endpoint.txt")).expect("endpoint");
            let emu = server.emulator();
            for object in change {
                match endpoint.trim() {
                    "apply" => {
                        emu.apply(object).expect("applied");
                    }
                    // A reference: apiVersion, kind, namespace and name at the top.
                    "delete" => {
                        let reference = serde_json::json!({
                            "apiVersion": object["apiVersion"],
                            "kind": object["kind"],
                            "metadata": {"name": object["name"], "namespace": object["namespace"]},
                        });
                        let deleted = emu.delete_object(&reference).expect("deleted");
                        assert!(deleted.is_some(), "{case}: {object} not found");
                    }
                    other => panic!("{case}: unknown change endpoint {other}"),
                }
            }
            let after = std::fs::read_to_string(dir.join("expected-after.prom")).expect("after");
            wait_for_ksm_output(&exporter, &format!("{case} after the change"), &after).await;
            checked += 1;
        }
    }
    // 15 cases KSM starts on, 3 of them with a watch step.
    assert_eq!(checked, 18);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_crd_takes_its_series_and_a_new_one_brings_them_back() {
    let (server, dir) = case_01(|_| {}).await;
    let exporter = crs_exporter(&server.url(), &dir);
    exporter.wait_ready().await;
    let want = std::fs::read_to_string(dir.join("expected.prom")).expect("expected.prom");
    wait_for_ksm_output(&exporter, "01 at start", &want).await;
    // The custom resource's lists and watches are counted under its label, as a built-in
    // kind's are (kube-state-metrics' list/watch alerts and the sync's bytes read them).
    let resource = "resource=\"foos.myteam.io/v1\"";
    let counted = |text: &str, family: &str| value(text, family, &[resource]).unwrap_or(0.0);
    let telemetry = exporter.telemetry().await;
    for family in [
        "kube_state_metrics_list_total",
        "kube_state_metrics_watch_total",
        "kube_state_otel_list_bytes_total",
    ] {
        assert!(counted(&telemetry, family) > 0.0, "{family}:\n{telemetry}");
    }
    let lists = counted(&telemetry, "kube_state_metrics_list_total");

    let crd_text = std::fs::read_to_string(dir.join("objects/00-crd-foos.yaml")).expect("crd");
    let crds = kube_emulator::parse_objects(&crd_text).expect("crd parses");
    for crd in &crds {
        server.emulator().delete_object(crd).expect("deleted");
    }
    let gone = poll_within(Duration::from_secs(20), || async {
        !exporter.metrics().await.contains("kube_customresource_")
    })
    .await;
    assert!(
        gone,
        "series left after the CRD went:\n{}",
        exporter.metrics().await
    );

    // Created again, with its objects: watched again without a restart.
    load(server.emulator(), &dir);
    wait_for_ksm_output(&exporter, "01 after the CRD came back", &want).await;
    let telemetry = exporter.telemetry().await;
    assert!(
        counted(&telemetry, "kube_state_metrics_list_total") > lists,
        "listed again:\n{telemetry}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metric_denylist_applies_to_custom_resource_families() {
    let (server, dir) = case_01(|_| {}).await;
    let denied = "kube_customresource_spec_replicas";
    let exporter = crs_exporter_with(
        &server.url(),
        &dir,
        &["--metric-denylist", "^kube_customresource_spec_replicas$"],
    );
    exporter.wait_ready().await;
    let want = std::fs::read_to_string(dir.join("expected.prom")).expect("expected.prom");
    // KSM's output without the denied family.
    let want: String = want
        .lines()
        .filter(|l| !l.contains(&format!("{denied} ")) && !l.contains(&format!("{denied}{{")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(want.contains("kube_customresource_spec_negative"), "{want}");
    wait_for_ksm_output(&exporter, "01 with the denylist", &want).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resource_families_go_over_otlp_in_a_scope_of_their_own() {
    let (server, dir) = case_01(|_| {}).await;
    let rotel = Rotel::start(true).await;
    let endpoint = rotel.endpoint("grpc");
    let exporter = crs_exporter_with(
        &server.url(),
        &dir,
        &["--otlp-endpoint", &endpoint, "--otlp-interval", "1s"],
    );
    exporter.wait_ready().await;
    let wanted = [
        "InstrumentationScope foos.myteam.io/v1",
        "-> Name: kube_customresource_spec_replicas\n",
        "-> customresource_kind: Str(Foo)",
        "-> name: Str(alpha)",
    ];
    let arrived = poll_within(Duration::from_secs(20), || async {
        let output = rotel.output();
        wanted.iter().all(|w| output.contains(w))
    })
    .await;
    assert!(arrived, "not at Rotel: {wanted:?}\n{}", rotel.output());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_the_exporter_may_not_list_do_not_hold_readiness() {
    let (server, dir) = case_01(|emulator| {
        emulator
            .forbid("customresourcedefinitions")
            .expect("forbidden");
    })
    .await;
    let exporter = crs_exporter(&server.url(), &dir);
    // Ready (as with a forbidden built-in kind), with nothing to report.
    exporter.wait_ready().await;
    assert!(!exporter.metrics().await.contains("kube_customresource_"));
    assert!(
        exporter
            .log()
            .contains("watching CustomResourceDefinitions failed"),
        "{}",
        exporter.log()
    );
    // Allowed again: picked up without a restart.
    server
        .emulator()
        .allow("customresourcedefinitions")
        .expect("allowed");
    let want = std::fs::read_to_string(dir.join("expected.prom")).expect("expected.prom");
    wait_for_ksm_output(&exporter, "01 once CRDs may be listed", &want).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_config_adds_a_metric_without_relisting_pods_and_a_broken_one_is_refused() {
    let (server, dir) = case_01(|emulator| {
        emulator.load_generated(&kube_emulator::GeneratedCluster::new(2, 3, 1));
    })
    .await;
    let config = std::fs::read_to_string(dir.join("config.yaml")).expect("config");
    let mut volume = ConfigMapVolume::new(&config);
    let path = volume.path();
    let exporter = Exporter::start(
        &server.url(),
        &[
            "--resources",
            "pods",
            "--custom-resource-state-config-file",
            path.to_str().expect("utf-8"),
        ],
    );
    exporter.wait_ready().await;
    let filename = format!("filename=\"{}\"", path.display());
    let hash = |telemetry: &str| {
        harness::value(
            telemetry,
            "kube_state_metrics_config_hash",
            &["type=\"customresourceconfig\"", &filename],
        )
    };
    let reloaded = |telemetry: &str| {
        harness::value(
            telemetry,
            "kube_state_metrics_last_config_reload_successful",
            &["type=\"customresourceconfig\"", &filename],
        )
    };
    let first = exporter.telemetry().await;
    assert_eq!(reloaded(&first), Some(1.0), "{first}");
    let first_hash = hash(&first).expect("a hash");
    let pods = || server.emulator().stats().get("exporter", "pods");
    let before = pods();
    assert!(before.list_requests >= 1);
    assert!(
        !exporter
            .metrics()
            .await
            .contains("kube_customresource_spec_replicas_again")
    );

    // A metric added to the Foo entry.
    let added = config.replacen(
        "      metrics:\n",
        "      metrics:\n        - name: spec_replicas_again\n          help: \"int, again\"\n          each: {type: Gauge, gauge: {path: [spec, replicas]}}\n",
        1,
    );
    assert_ne!(added, config, "the config has a metrics list");
    volume.update(&added);
    let appeared = poll_within(Duration::from_secs(20), || async {
        exporter
            .metrics()
            .await
            .contains("kube_customresource_spec_replicas_again{")
    })
    .await;
    assert!(
        appeared,
        "the added metric never appeared:\n{}",
        exporter.log()
    );
    // The pods were neither listed nor watched again.
    let after = pods();
    assert_eq!(after.list_requests, before.list_requests, "pods relisted");
    assert_eq!(
        after.watch_requests, before.watch_requests,
        "pods rewatched"
    );
    let second = exporter.telemetry().await;
    assert_eq!(reloaded(&second), Some(1.0));
    let second_hash = hash(&second).expect("a hash");
    assert_ne!(second_hash, first_hash, "the hash follows the file");

    // A broken config: refused, the running one stays.
    volume.update("spec: [not: {a, config\n");
    let refused = poll_within(Duration::from_secs(20), || async {
        reloaded(&exporter.telemetry().await) == Some(0.0)
    })
    .await;
    assert!(refused, "{}", exporter.log());
    let third = exporter.telemetry().await;
    assert_eq!(
        hash(&third),
        Some(second_hash),
        "the hash of the config in force"
    );
    assert!(
        exporter
            .metrics()
            .await
            .contains("kube_customresource_spec_replicas_again{")
    );
    assert!(
        exporter
            .log()
            .contains("custom resource state config not reloaded")
    );
}

#[test]
fn an_invalid_config_stops_the_start_as_ksm_does() {
    for dir in case_dirs() {
        if !dir.join("expected-error.txt").exists() {
            continue;
        }
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kube-state-otel"))
            .args([
                "--kubeconfig",
                "/nonexistent",
                "--custom-resource-state-config-file",
            ])
            .arg(dir.join("config.yaml"))
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{}: {stderr}", name(&dir));
        assert!(
            stderr.contains("Error reading Custom resource configuration file"),
            "{}: {stderr}",
            name(&dir)
        );
    }
}

fn harness_case(case: &str) -> std::path::PathBuf {
    crs_cases::cases_dir().join(case)
}

/// Case 01's objects served by a fresh emulator (`setup` may change it first), and the case's
/// directory.
async fn case_01(
    setup: impl FnOnce(&Emulator),
) -> (kube_emulator::ServerHandle, std::path::PathBuf) {
    let dir = harness_case("01-gauge-value-types");
    let emulator = newest_emulator();
    load(&emulator, &dir);
    setup(&emulator);
    (start_emulator(emulator).await, dir)
}

/// OpenMetrics declares `info` and `stateset` where the text format says `gauge`, as
/// kube-state-metrics does; a real Prometheus, which asks for OpenMetrics first, ingests them
/// (the OpenMetrics parser of Prometheus takes those types without `_info` names or a state label
/// named after the family).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_declares_info_and_stateset_and_prometheus_ingests_them() {
    for case in ["07-stateset", "08-info"] {
        let dir = cases_dir().join(case);
        let (_server, exporter, _) = run_case(&dir, case).await;

        let config = std::fs::read_to_string(dir.join("config.yaml")).expect("config");
        let config = kube_state_otel::crs::CrsConfig::parse(&config).expect("valid config");
        let declared: Vec<(String, &str)> = config
            .resources
            .iter()
            .flat_map(|r| &r.families)
            .map(|f| {
                let openmetrics = match f.metric_type {
                    kube_state_otel::crs::CrsMetricType::Gauge => "gauge",
                    kube_state_otel::crs::CrsMetricType::Info => "info",
                    kube_state_otel::crs::CrsMetricType::StateSet => "stateset",
                };
                (f.name.clone(), openmetrics)
            })
            .collect();
        assert!(
            declared.iter().any(|(_, t)| *t != "gauge"),
            "{case} has Info or StateSet families"
        );
        let response = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}/metrics", exporter.port))
            .header("Accept", "application/openmetrics-text; version=1.0.0")
            .send()
            .await
            .expect("scraped");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .is_ok_and(|t| t.starts_with("application/openmetrics-text")),
            "{:?}",
            response.headers()
        );
        let openmetrics = response.text().await.expect("body");
        assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
        let text = exporter.metrics().await;
        let (om, plain) = (parse(&openmetrics.replace("# EOF\n", "")), parse(&text));
        for (name, openmetrics_type) in &declared {
            let Some(family) = plain.get(name) else {
                continue;
            };
            assert_eq!(
                family.metric_type.as_deref(),
                Some("gauge"),
                "{case} {name}"
            );
            let family_om = om.get(name).expect("the same families");
            assert_eq!(
                family_om.metric_type.as_deref(),
                Some(*openmetrics_type),
                "{case} {name}"
            );
            assert_eq!(family_om.samples, family.samples, "{case} {name}");
        }

        // Prometheus 2.x asks for OpenMetrics first: every sample is ingested.
        let samples: usize = plain.values().map(|f| f.samples.len()).sum();
        let mut prometheus = Prometheus::start(&[exporter.port], &[]);
        prometheus.wait_ready().await;
        let query = "count({__name__=~\"kube_customresource_.+\"})";
        let ingested = poll_within(Duration::from_secs(30), || async {
            prometheus.scalar(query).await == Some(samples as f64)
        })
        .await;
        assert!(
            ingested,
            "{case}: {:?} of {samples} samples ingested; targets {:?}\n{}",
            prometheus.scalar(query).await,
            prometheus.targets().await,
            prometheus.log()
        );
        let targets = prometheus.targets().await;
        assert!(
            targets
                .iter()
                .all(|t| t["health"] == "up" && t["lastError"] == ""),
            "{targets:?}"
        );
    }
}

/// Under the semconv schema each custom resource object is a resource over OTLP
/// (`k8s.namespace.name`, `k8s.customresource.name`, `k8s.customresource.uid`, in the
/// resource's scope with the semconv schema URL); `/metrics` carries them as labels. Under
/// `both`, `/metrics` is still exactly what kube-state-metrics printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semconv_makes_each_custom_resource_object_a_resource() {
    let (server, dir) = case_01(|_| {}).await;
    let foos = server.emulator().list("foos").expect("foos listed");
    let alpha = foos
        .iter()
        .find(|f| f["metadata"]["name"] == "alpha")
        .expect("alpha");
    let uid = alpha["metadata"]["uid"].as_str().expect("a uid");
    let namespace = alpha["metadata"]["namespace"].as_str().expect("namespaced");

    let rotel = Rotel::start(true).await;
    let endpoint = rotel.endpoint("grpc");
    let otlp = ["--otlp-endpoint", &endpoint, "--otlp-interval", "1s"];
    let both = crs_exporter_with(
        &server.url(),
        &dir,
        &[&["--schema", "both"][..], &otlp].concat(),
    );
    both.wait_ready().await;
    let want = std::fs::read_to_string(dir.join("expected.prom")).expect("expected.prom");
    wait_for_ksm_output(&both, "01 under --schema both", &want).await;
    let (valid, problems) = harness::promtool_check_metrics(&both.metrics().await);
    assert!(valid, "{problems}");

    let wanted = [
        "InstrumentationScope foos.myteam.io/v1".to_string(),
        format!("-> k8s.namespace.name: Str({namespace})"),
        "-> k8s.customresource.name: Str(alpha)".to_string(),
        format!("-> k8s.customresource.uid: Str({uid})"),
        "-> Name: kube_customresource_spec_replicas\n".to_string(),
        "-> customresource_kind: Str(Foo)".to_string(),
    ];
    let arrived = poll_within(Duration::from_secs(20), || async {
        rotel.output().split("ResourceMetrics #").any(|resource| {
            wanted.iter().all(|w| resource.contains(w.as_str()))
                // One object per resource.
                && resource.matches("-> k8s.customresource.name:").count() == 1
        })
    })
    .await;
    assert!(arrived, "not at Rotel: {wanted:?}\n{}", rotel.output());
    let output = rotel.output();
    assert!(
        output.contains("SchemaURL: https://opentelemetry.io/schemas/"),
        "the semconv scope carries its schema URL:\n{output}"
    );
    drop(both);

    let semconv = crs_exporter_with(&server.url(), &dir, &["--schema", "semconv"]);
    semconv.wait_ready().await;
    let metrics = semconv.metrics().await;
    let replicas = samples(&metrics, "kube_customresource_spec_replicas");
    assert!(
        replicas
            .iter()
            .any(|s| s.contains("k8s_customresource_name=\"alpha\"")
                && s.contains(&format!("k8s_namespace_name=\"{namespace}\""))
                && s.contains(&format!("k8s_customresource_uid=\"{uid}\""))),
        "{metrics}"
    );
    let (valid, problems) = harness::promtool_check_metrics(&metrics);
    assert!(valid, "{problems}");
}
