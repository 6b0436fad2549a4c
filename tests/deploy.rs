//! deploy/: the generated files are up to date, every overlay renders with `kubectl kustomize`
//! and validates against the Kubernetes schemas (`kubernetes-validate`, offline), each
//! workload's ClusterRole grants exactly list/watch on the kinds it watches, pods are hardened,
//! and the Dockerfile builds a non-root image.
//!
//! `UPDATE_DEPLOY=1 cargo test --test deploy` regenerates the ClusterRoles and the sidecar's
//! Collector config copy.

use std::collections::BTreeMap;
use std::process::Command;

use kube_state_otel::config::file::ConfigFile;
use kube_state_otel::rbac;
use serde_yaml_ng::Value;

mod manifests;
use manifests::*;

const OVERLAYS: &[&str] = &[
    "single",
    "sharded-by-kind",
    "hash-sharded",
    "pods-daemonset",
    "with-otel-collector",
];

const REGENERATE: &str = "UPDATE_DEPLOY=1 cargo test --test deploy";

/// Which kinds a generated ClusterRole covers.
enum Kinds {
    Default,
    Only(&'static [&'static str]),
    DefaultExcept(&'static [&'static str]),
}

impl Kinds {
    fn resources(&self) -> Vec<&'static str> {
        match self {
            Kinds::Default => rbac::default_resources(),
            Kinds::Only(list) => list.to_vec(),
            Kinds::DefaultExcept(except) => rbac::default_resources()
                .into_iter()
                .filter(|r| !except.contains(r))
                .collect(),
        }
    }
}

/// Every generated ClusterRole: (file, role name, kinds).
const ROLES: &[(&str, &str, Kinds)] = &[
    (
        "deploy/base/clusterrole.yaml",
        "kube-state-otel",
        Kinds::Default,
    ),
    (
        "deploy/overlays/sharded-by-kind/clusterrole-pods.yaml",
        "kube-state-otel-pods",
        Kinds::Only(&["pods"]),
    ),
    (
        "deploy/overlays/sharded-by-kind/clusterrole-nodes.yaml",
        "kube-state-otel-nodes",
        Kinds::Only(&["nodes"]),
    ),
    (
        "deploy/overlays/sharded-by-kind/clusterrole-rest.yaml",
        "kube-state-otel",
        Kinds::DefaultExcept(&["pods", "nodes"]),
    ),
    (
        "deploy/overlays/pods-daemonset/clusterrole-pods.yaml",
        "kube-state-otel-pods",
        Kinds::Only(&["pods"]),
    ),
];

/// Files kept as copies of another: (copy, original).
const COPIES: &[(&str, &str)] = &[(
    "deploy/overlays/with-otel-collector/sidecar.yaml",
    "otel-config/sidecar.yaml",
)];

#[test]
fn generated_files_are_up_to_date() {
    let update = std::env::var_os("UPDATE_DEPLOY").is_some();
    let mut expected: Vec<(&str, String)> = ROLES
        .iter()
        .map(|(path, name, kinds)| {
            (
                *path,
                rbac::cluster_role(name, &kinds.resources()).expect("known resources"),
            )
        })
        .collect();
    for (copy, original) in COPIES {
        let text = std::fs::read_to_string(root().join(original)).expect(original);
        expected.push((copy, text));
    }
    let mut stale = Vec::new();
    for (path, want) in expected {
        let full = root().join(path);
        let have = std::fs::read_to_string(&full).unwrap_or_default();
        if have != want {
            if update {
                std::fs::write(&full, want).expect(path);
            } else {
                stale.push(path);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "out of date: {stale:?}; regenerate with `{REGENERATE}`"
    );
}

/// `kubectl kustomize` of `dir`, as YAML documents.
fn render(dir: &str) -> (String, Vec<Value>) {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(root().join(dir))
        .output()
        .expect("kubectl (Debian: kubernetes-client) must be installed: scripts/test.sh does");
    assert!(
        output.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let docs = text
        .split("\n---\n")
        .map(|doc| serde_yaml_ng::from_str::<Value>(doc).expect("rendered YAML"))
        .filter(|doc| !doc.is_null())
        .collect();
    (text, docs)
}

#[test]
fn overlays_validate_against_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap();
    for overlay in std::iter::once("base").chain(OVERLAYS.iter().copied()) {
        let path = if overlay == "base" {
            "deploy/base".to_string()
        } else {
            format!("deploy/overlays/{overlay}")
        };
        let (_, docs) = render(&path);
        // Custom resources are not in the bundled schemas: checked structurally below.
        let builtin: Vec<&Value> = docs
            .iter()
            .filter(|d| kind(d) != "ServiceMonitor")
            .collect();
        let mut text = String::new();
        for doc in &builtin {
            text.push_str("---\n");
            text.push_str(&serde_yaml_ng::to_string(doc).unwrap());
        }
        let file = dir.path().join(format!("{overlay}.yaml"));
        std::fs::write(&file, text).unwrap();
        let output = Command::new("kubernetes-validate")
            .args(["-k", "1.33.0", "--strict", "--quiet"])
            .arg(&file)
            .output()
            .expect("kubernetes-validate (PyPI) must be installed: scripts/test.sh does");
        assert!(
            output.status.success(),
            "{path} does not validate:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let monitors: Vec<&Value> = docs
            .iter()
            .filter(|d| kind(d) == "ServiceMonitor")
            .collect();
        assert_eq!(monitors.len(), 1, "{path}: one ServiceMonitor");
        check_service_monitor(&path, monitors[0], &docs);
    }
}

#[test]
fn each_workload_may_list_and_watch_exactly_its_kinds() {
    for overlay in OVERLAYS {
        let path = format!("deploy/overlays/{overlay}");
        let (_, docs) = render(&path);
        check_workload_rbac(&path, &docs);
    }
}

#[test]
fn pods_are_hardened_probed_and_sized() {
    for overlay in OVERLAYS {
        let path = format!("deploy/overlays/{overlay}");
        let (_, docs) = render(&path);
        for workload in docs.iter().filter(|d| WORKLOADS.contains(&kind(d))) {
            let what = format!("{path}: {} {}", kind(workload), name(workload));
            let pod = get(workload, &["spec", "template", "spec"]).unwrap();
            let pod_sc = get(pod, &["securityContext"]).expect("pod securityContext");
            assert_eq!(
                get(pod_sc, &["runAsNonRoot"]).and_then(Value::as_bool),
                Some(true),
                "{what}"
            );
            assert_eq!(
                get(pod_sc, &["runAsUser"]).and_then(Value::as_u64),
                Some(65534),
                "{what}"
            );
            assert_eq!(
                s(pod_sc, &["seccompProfile", "type"]),
                Some("RuntimeDefault"),
                "{what}"
            );
            let containers = seq(get(pod, &["containers"]));
            for container in containers {
                let c = format!("{what} container {}", s(container, &["name"]).unwrap());
                let sc = get(container, &["securityContext"]).expect("securityContext");
                assert_eq!(
                    get(sc, &["allowPrivilegeEscalation"]).and_then(Value::as_bool),
                    Some(false),
                    "{c}"
                );
                assert_eq!(
                    get(sc, &["readOnlyRootFilesystem"]).and_then(Value::as_bool),
                    Some(true),
                    "{c}"
                );
                assert!(get(sc, &["privileged"]).and_then(Value::as_bool) != Some(true));
                assert_eq!(
                    strings(get(sc, &["capabilities", "drop"])),
                    vec!["ALL"],
                    "{c}"
                );
                assert!(get(sc, &["capabilities", "add"]).is_none(), "{c}");
                assert!(
                    s(container, &["resources", "requests", "cpu"]).is_some()
                        && s(container, &["resources", "requests", "memory"]).is_some()
                        && s(container, &["resources", "limits", "memory"]).is_some(),
                    "{c}: requests and a memory limit"
                );
                assert!(get(container, &["livenessProbe"]).is_some(), "{c}");
                assert!(get(container, &["readinessProbe"]).is_some(), "{c}");
            }
            let exporter = exporter_container(workload);
            assert_eq!(
                s(exporter, &["livenessProbe", "httpGet", "path"]),
                Some("/livez"),
                "{what}"
            );
            assert_eq!(
                s(exporter, &["readinessProbe", "httpGet", "path"]),
                Some("/readyz"),
                "{what}"
            );
            let ports: BTreeMap<&str, u64> = seq(get(exporter, &["ports"]))
                .into_iter()
                .map(|p| {
                    (
                        s(p, &["name"]).unwrap(),
                        get(p, &["containerPort"]).and_then(Value::as_u64).unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                ports,
                BTreeMap::from([("http-metrics", 8080), ("telemetry", 8081)]),
                "{what}"
            );
            // Every flag is one the binary documents, or a sharding flag being added (issue 5).
            let flags = std::fs::read_to_string(root().join("docs/flags.md")).unwrap();
            let sharding = [
                "--shard",
                "--total-shards",
                "--pod",
                "--pod-namespace",
                "--node",
                "--track-unscheduled-pods",
                "--config",
                "--pipeline",
            ];
            for arg in strings(get(exporter, &["args"])) {
                let flag = arg.split('=').next().unwrap();
                assert!(
                    sharding.contains(&flag) || flags.contains(&format!("{flag} ")),
                    "{what}: unknown flag {flag}"
                );
            }
        }
        // The Service kube-prometheus selects as job="kube-state-metrics".
        let services: Vec<&Value> = docs.iter().filter(|d| kind(d) == "Service").collect();
        assert_eq!(services.len(), 1, "{path}");
        assert_eq!(
            s(
                services[0],
                &["metadata", "labels", "app.kubernetes.io/name"]
            ),
            Some("kube-state-metrics"),
            "{path}"
        );
        let ports: BTreeMap<&str, u64> = seq(get(services[0], &["spec", "ports"]))
            .into_iter()
            .map(|p| {
                (
                    s(p, &["name"]).unwrap(),
                    get(p, &["port"]).and_then(Value::as_u64).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ports,
            BTreeMap::from([("http-metrics", 8080), ("telemetry", 8081)]),
            "{path}"
        );
    }
}

#[test]
fn overlay_specifics() {
    let args_of = |docs: &[Value], kind_name: &str, workload: &str| -> Vec<String> {
        let w = docs
            .iter()
            .find(|d| kind(d) == kind_name && name(d) == workload)
            .unwrap_or_else(|| panic!("{kind_name} {workload}"));
        strings(get(exporter_container(w), &["args"]))
    };

    // The pipeline config parses as the binary reads it (unknown keys are errors).
    let (_, docs) = render("deploy/overlays/single");
    let config_map = docs
        .iter()
        .find(|d| kind(d) == "ConfigMap" && name(d) == "kube-state-otel-config")
        .expect("the pipeline ConfigMap");
    let config = s(config_map, &["data", "config.yaml"]).unwrap();
    ConfigFile::parse("config.yaml", config)
        .and_then(|file| file.select("config.yaml", None))
        .unwrap_or_else(|e| panic!("deploy/base/configmap.yaml: {e}"));

    let (_, docs) = render("deploy/overlays/hash-sharded");
    assert!(!docs.iter().any(|d| kind(d) == "Deployment"));
    let args = args_of(&docs, "StatefulSet", "kube-state-otel");
    assert!(args.contains(&"--pod=$(POD_NAME)".to_string()), "{args:?}");
    assert!(
        args.contains(&"--pod-namespace=$(POD_NAMESPACE)".to_string()),
        "{args:?}"
    );

    let (_, docs) = render("deploy/overlays/pods-daemonset");
    let args = args_of(&docs, "DaemonSet", "kube-state-otel-pods");
    assert!(
        args.contains(&"--node=$(NODE_NAME)".to_string()),
        "{args:?}"
    );
    assert!(args.contains(&"--resources=pods".to_string()), "{args:?}");
    let ds = docs.iter().find(|d| kind(d) == "DaemonSet").unwrap();
    let env = seq(get(exporter_container(ds), &["env"]));
    assert!(env.iter().any(|e| s(e, &["name"]) == Some("NODE_NAME")
        && s(e, &["valueFrom", "fieldRef", "fieldPath"]) == Some("spec.nodeName")));
    let args = args_of(&docs, "Deployment", "kube-state-otel");
    assert!(args.contains(&"--track-unscheduled-pods".to_string()));

    let (_, docs) = render("deploy/overlays/with-otel-collector");
    let args = args_of(&docs, "Deployment", "kube-state-otel");
    assert!(args.contains(&"--otlp-endpoint=http://localhost:4317".to_string()));
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    let containers = seq(get(deployment, &["spec", "template", "spec", "containers"]));
    let collector = containers
        .iter()
        .find(|c| s(c, &["name"]) == Some("otel-collector"))
        .expect("a Collector sidecar");
    let config_map = docs
        .iter()
        .find(|d| kind(d) == "ConfigMap" && name(d).starts_with("otel-collector-sidecar"))
        .expect("the sidecar's ConfigMap");
    let config = s(config_map, &["data", "sidecar.yaml"]).unwrap();
    let original = std::fs::read_to_string(root().join("otel-config/sidecar.yaml")).unwrap();
    assert_eq!(config, original);
    assert!(config.contains("endpoint: localhost:4317"));
    let volumes = seq(get(deployment, &["spec", "template", "spec", "volumes"]));
    assert!(
        volumes
            .iter()
            .any(|v| s(v, &["configMap", "name"]) == Some(name(config_map)))
    );
    assert!(
        strings(get(collector, &["args"]))
            .iter()
            .any(|a| a.starts_with("--config=") && a.ends_with("/sidecar.yaml"))
    );
}

#[test]
fn dockerfile_builds_a_non_root_image() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let lines: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .copied()
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    assert!(
        froms[0].starts_with("FROM rust:1-bookworm AS "),
        "{froms:?}"
    );
    assert!(
        froms[1].starts_with("FROM gcr.io/distroless/cc-debian12:nonroot"),
        "distroless (has /usr/share/zoneinfo for cronjob time zones): {froms:?}"
    );
    let runtime = lines
        .iter()
        .position(|l| l.starts_with("FROM gcr.io/distroless"))
        .unwrap();
    let stage = &lines[runtime..];
    let user: Vec<&&str> = stage.iter().filter(|l| l.starts_with("USER ")).collect();
    assert_eq!(user.len(), 1, "one USER in the runtime stage");
    assert!(
        [
            "USER nonroot",
            "USER 65534",
            "USER nonroot:nonroot",
            "USER 65532:65532"
        ]
        .contains(user[0]),
        "{user:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("USER root") || *l == "USER 0")
    );
    assert!(
        stage
            .iter()
            .any(|l| l.starts_with("COPY --from=") && l.contains("kube-state-otel"))
    );
    assert!(
        stage
            .iter()
            .any(|l| l.starts_with("ENTRYPOINT [\"/usr/local/bin/kube-state-otel\"]"))
    );
    for port in ["8080", "8081"] {
        assert!(
            stage
                .iter()
                .any(|l| l.starts_with("EXPOSE") && l.contains(port))
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("cargo build")
            && l.contains("--release")
            && l.contains("--locked"))
    );
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    for entry in ["target", ".git"] {
        assert!(
            ignore.lines().any(|l| l.trim_matches('/') == entry),
            ".dockerignore: {entry}"
        );
    }
}
