//! deploy/: the generated files are up to date, every overlay renders with `kubectl kustomize`
//! and validates against the Kubernetes schemas (`kubernetes-validate`, offline), each
//! workload's ClusterRole grants exactly list/watch on the kinds it watches (and a Role exactly
//! what leader election needs, where it elects, and what `--auth-filter` asks), pods are
//! hardened, the shipped web configs pass `promtool check web-config`, the workloads become
//! ready on every supported minor (over HTTPS where they serve it), the ha overlay's replicas
//! elect one leader with only their RBAC, the custom-resources overlay reports cert-manager's
//! objects as kube-state-metrics does with only its RBAC and reloads its edited ConfigMap, and
//! the Dockerfile builds a non-root image.
//!
//! `UPDATE_DEPLOY=1 cargo test --test deploy` regenerates the ClusterRoles and the copies (the
//! sidecar's Collector config, the example Custom Resource State config).

use std::collections::BTreeSet;
use std::process::Command;

use kube_state_otel::config::file::ConfigFile;
use kube_state_otel::rbac;
use serde_yaml_ng::Value;

mod crs_cases;
mod harness;
mod manifests;
mod pki;
use manifests::*;

const OVERLAYS: &[&str] = &[
    "single",
    "sharded-by-kind",
    "hash-sharded",
    "pods-daemonset",
    "with-otel-collector",
    "ha",
    "secure",
    "custom-resources",
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
const COPIES: &[(&str, &str)] = &[
    // The chart's PrometheusRule and dashboard ConfigMap read them from its own files.
    (
        "deploy/helm/kube-state-otel/files/kube-state-otel.rules.yaml",
        RULES,
    ),
    (
        "deploy/helm/kube-state-otel/files/kube-state-otel.dashboard.json",
        DASHBOARD,
    ),
    (
        "deploy/overlays/with-otel-collector/sidecar.yaml",
        "otel-config/sidecar.yaml",
    ),
    // cert-manager's public config, as kube-state-metrics was recorded on it.
    (
        "deploy/overlays/custom-resources/custom-resource-state.yaml",
        "../shared/conformance/crs/13-cert-manager/config.yaml",
    ),
];

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
    expected.push(("deploy/base/prometheusrule.yaml", prometheus_rule()));
    expected.push(("deploy/base/grafana-dashboard.yaml", dashboard_config_map()));
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

/// The base's PrometheusRule: the rules file, as it is, under `spec`.
fn prometheus_rule() -> String {
    let rules = std::fs::read_to_string(root().join(RULES)).expect(RULES);
    let groups = &rules[rules.find("groups:").expect("the rules' groups")..];
    let mut out = format!(
        "# Generated from {RULES} by `{REGENERATE}`; do not edit.\n\
         # kube-state-otel's own alerts for the Prometheus Operator (its comments say which).\n\
         apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  \
         name: kube-state-otel\n  labels:\n    app.kubernetes.io/name: kube-state-metrics\n    \
         app.kubernetes.io/part-of: kube-state-otel\nspec:\n"
    );
    for line in groups.lines() {
        if !line.is_empty() {
            out.push_str("  ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The base's dashboard ConfigMap: the dashboard, as it is, for Grafana's dashboard sidecar.
fn dashboard_config_map() -> String {
    let dashboard = std::fs::read_to_string(root().join(DASHBOARD)).expect(DASHBOARD);
    let mut out = format!(
        "# Generated from {DASHBOARD} by `{REGENERATE}`; do not edit.\n\
         # kube-state-otel's Grafana dashboard, for Grafana's dashboard sidecar (kube-prometheus-stack\n\
         # loads ConfigMaps labelled grafana_dashboard: \"1\").\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kube-state-otel-dashboard\n  \
         labels:\n    app.kubernetes.io/name: kube-state-metrics\n    \
         app.kubernetes.io/part-of: kube-state-otel\n    grafana_dashboard: \"1\"\n\
         data:\n  kube-state-otel.json: |-\n"
    );
    for line in dashboard.lines() {
        if !line.is_empty() {
            out.push_str("    ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
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
            .filter(|d| !CUSTOM_KINDS.contains(&kind(d)))
            .collect();
        let mut text = String::new();
        for doc in &builtin {
            text.push_str("---\n");
            text.push_str(&serde_yaml_ng::to_string(doc).unwrap());
        }
        let file = dir.path().join(format!("{overlay}.yaml"));
        std::fs::write(&file, text).unwrap();
        check_tool_passes(
            &format!("{path} does not validate"),
            Command::new("kubernetes-validate")
                .args(["-k", "1.33.0", "--strict", "--quiet"])
                .arg(&file),
            "kubernetes-validate (PyPI)",
        );
        let monitors: Vec<&Value> = docs
            .iter()
            .filter(|d| kind(d) == "ServiceMonitor")
            .collect();
        assert_eq!(monitors.len(), 1, "{path}: one ServiceMonitor");
        check_service_monitor(&path, monitors[0], &docs);
        check_prometheus_rules(&path, &docs);
        check_dashboard(&path, &docs);
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
            check_pod(&what, workload, &docs);
            let exporter = exporter_container(workload);
            // Every flag is one the binary documents (its `--help`, in docs/flags.md).
            let help = std::fs::read_to_string(root().join("docs/flags.md")).unwrap();
            let documented: Vec<&str> = help
                .lines()
                .filter_map(|l| l.trim_start().strip_prefix("-h, ").or(Some(l.trim_start())))
                .filter(|l| l.starts_with("--"))
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            assert!(documented.contains(&"--leader-election"), "{documented:?}");
            for arg in strings(get(exporter, &["args"])) {
                let flag = arg.split('=').next().unwrap();
                assert!(documented.contains(&flag), "{what}: unknown flag {flag}");
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
        check_ports(&path, get(services[0], &["spec", "ports"]), "port");
    }
}

/// Only the ha overlay elects a leader, and its Deployment has a standby
/// ([`check_leader_election`]).
#[test]
fn workloads_that_elect_have_a_standby() {
    for overlay in OVERLAYS {
        let path = format!("deploy/overlays/{overlay}");
        let (_, docs) = render(&path);
        let electing = check_leader_election(&path, &docs);
        assert_eq!(electing, usize::from(*overlay == "ha"), "{path}");
    }
}

/// The RBAC check fails on the ways a lease grant goes wrong, so its passing means something.
#[test]
fn the_rbac_check_rejects_wrong_lease_grants() {
    let (_, docs) = render("deploy/overlays/ha");
    fn lease_rule(docs: &mut [Value]) -> &mut Value {
        docs.iter_mut()
            .find(|d| kind(d) == "Role")
            .and_then(|role| role.get_mut("rules"))
            .and_then(|rules| rules.get_mut(0))
            .expect("the lease Role's rule")
    }
    let fails = |what: &str, edit: &dyn Fn(&mut Vec<Value>)| {
        let mut docs = docs.clone();
        edit(&mut docs);
        let caught = std::panic::catch_unwind(|| check_workload_rbac(what, &docs));
        assert!(caught.is_err(), "{what}: the check passed");
    };
    fails("no Role", &|docs| docs.retain(|d| kind(d) != "Role"));
    fails("no RoleBinding", &|docs| {
        docs.retain(|d| kind(d) != "RoleBinding")
    });
    fails("patch too", &|docs| {
        lease_rule(docs)["verbs"] =
            serde_yaml_ng::from_str("[get, create, update, patch]").unwrap();
    });
    fails("without update", &|docs| {
        lease_rule(docs)["verbs"] = serde_yaml_ng::from_str("[get, create]").unwrap();
    });
    fails("limited by name", &|docs| {
        lease_rule(docs)["resourceNames"] = serde_yaml_ng::from_str("[kube-state-otel]").unwrap();
    });
    fails("in another namespace", &|docs| {
        for doc in docs
            .iter_mut()
            .filter(|d| ["Role", "RoleBinding"].contains(&kind(d)))
        {
            doc["metadata"]["namespace"] = Value::from("default");
        }
    });
    fails("without --leader-election", &|docs| {
        let deployment = docs.iter_mut().find(|d| kind(d) == "Deployment").unwrap();
        let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_sequence_mut()
            .unwrap();
        args.retain(|a| a.as_str() != Some("--leader-election"));
    });
    check_workload_rbac("unedited", &docs);
}

/// The checks of secure endpoints fail on the ways the secure overlay could go wrong.
#[test]
fn the_secure_checks_reject_what_would_not_work() {
    let (_, docs) = render("deploy/overlays/secure");
    let check = |docs: &[Value]| {
        check_workload_rbac("secure", docs);
        let monitor = docs.iter().find(|d| kind(d) == "ServiceMonitor").unwrap();
        check_service_monitor("secure", monitor, docs);
        let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
        check_pod("secure", deployment, docs);
        check_web_config_with_promtool("secure", deployment, docs);
    };
    let fails = |what: &str, edit: &dyn Fn(&mut Vec<Value>)| {
        let mut docs = docs.clone();
        edit(&mut docs);
        let caught = std::panic::catch_unwind(|| check(&docs));
        assert!(caught.is_err(), "{what}: the checks passed");
    };
    let named = |docs: &mut Vec<Value>, k: &str, n: &str| -> Value {
        docs.iter()
            .position(|d| kind(d) == k && name(d) == n)
            .map(|i| docs.remove(i))
            .unwrap_or_else(|| panic!("{k} {n}"))
    };
    let edit = |docs: &mut Vec<Value>, k: &str, n: &str, f: &dyn Fn(&mut Value)| {
        let mut doc = named(docs, k, n);
        f(&mut doc);
        docs.push(doc);
    };
    fails("no review grants", &|docs| {
        named(docs, "ClusterRoleBinding", "kube-state-otel-auth-filter");
    });
    fails("reviews readable too", &|docs| {
        edit(
            docs,
            "ClusterRole",
            "kube-state-otel-auth-filter",
            &|role| {
                role["rules"][0]["verbs"] = serde_yaml_ng::from_str("[create, get]").unwrap();
            },
        );
    });
    fails("no ClusterRole for scrapers", &|docs| {
        named(docs, "ClusterRole", "kube-state-otel-metrics-reader");
    });
    fails("scraped over http", &|docs| {
        edit(docs, "ServiceMonitor", "kube-state-otel", &|m| {
            m["spec"]["endpoints"][1]["scheme"] = Value::from("http");
        });
    });
    fails("another serverName", &|docs| {
        edit(docs, "ServiceMonitor", "kube-state-otel", &|m| {
            m["spec"]["endpoints"][0]["tlsConfig"]["serverName"] = Value::from("kso.default.svc");
        });
    });
    fails("scraped without a token", &|docs| {
        edit(docs, "ServiceMonitor", "kube-state-otel", &|m| {
            let endpoint = m["spec"]["endpoints"][0].as_mapping_mut().unwrap();
            endpoint.remove("bearerTokenFile");
        });
    });
    let containers = |d: &mut Value| d["spec"]["template"]["spec"]["containers"][0].clone();
    fails("probed over http", &|docs| {
        edit(docs, "Deployment", "kube-state-otel", &|d| {
            let mut c = containers(d);
            c["readinessProbe"]["httpGet"]["scheme"] = Value::from("HTTP");
            d["spec"]["template"]["spec"]["containers"][0] = c;
        });
    });
    fails("a certificate where nothing is mounted", &|docs| {
        edit(docs, "Secret", "kube-state-otel-web-config", &|secret| {
            use base64::Engine;
            let config = "tls_server_config: {cert_file: /etc/tls/tls.crt, \
                          key_file: /etc/kube-state-otel-tls/tls.key}";
            secret["data"]["web-config.yaml"] =
                Value::from(base64::engine::general_purpose::STANDARD.encode(config));
        });
    });
    fails("a key readable by all", &|docs| {
        edit(docs, "Deployment", "kube-state-otel", &|d| {
            for volume in d["spec"]["template"]["spec"]["volumes"]
                .as_sequence_mut()
                .unwrap()
            {
                if let Some(secret) = volume.get_mut("secret") {
                    secret["defaultMode"] = Value::from(0o444);
                }
            }
        });
    });
    check(&docs);
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

    // ha: elects on its own Lease in the pod's namespace, without automated sharding (which
    // --pod would turn on and a Deployment cannot run).
    let (_, docs) = render("deploy/overlays/ha");
    let args = args_of(&docs, "Deployment", "kube-state-otel");
    for flag in ["--leader-election", "--metrics-leader-only"] {
        assert!(args.contains(&flag.to_string()), "{args:?}");
    }
    assert!(!args.iter().any(|a| a.starts_with("--pod")), "{args:?}");
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    let leases: Vec<(String, String)> = leases("ha", deployment, &docs)
        .into_iter()
        .map(|l| (l.namespace, l.lease_name))
        .collect();
    assert_eq!(
        leases,
        vec![(
            "monitoring".to_string(),
            "kube-state-otel-default".to_string()
        )]
    );
    assert!(!autoshards("ha", deployment, &docs));

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

    // custom-resources: the shipped config, unchanged, in a ConfigMap mounted as a directory
    // (read-only, no subPath) where the flag points; the built-in kinds still watched.
    let (_, docs) = render("deploy/overlays/custom-resources");
    let args = args_of(&docs, "Deployment", "kube-state-otel");
    let path = flag_value(&args, "custom-resource-state-config-file").expect("the flag");
    assert_eq!(path, "/etc/kube-state-otel-crs/config.yaml");
    assert!(
        !args.contains(&"--custom-resource-state-only".to_string()),
        "{args:?}"
    );
    assert_eq!(watched(&args).len(), rbac::default_resources().len());
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    let shipped = std::fs::read_to_string(
        root().join("deploy/overlays/custom-resources/custom-resource-state.yaml"),
    )
    .unwrap();
    assert_eq!(
        custom_resource_config("custom-resources", deployment, &docs).as_deref(),
        Some(shipped.as_str())
    );
    let mount = seq(get(exporter_container(deployment), &["volumeMounts"]))
        .into_iter()
        .find(|m| s(m, &["mountPath"]) == Some("/etc/kube-state-otel-crs"))
        .expect("the config's mount");
    assert!(get(mount, &["subPath"]).is_none(), "{mount:?}");
    assert_eq!(
        get(mount, &["readOnly"]).and_then(Value::as_bool),
        Some(true)
    );
    // Named without a content hash: edited in place, reloaded, not rolled out.
    assert!(
        docs.iter()
            .any(|d| kind(d) == "ConfigMap" && name(d) == "kube-state-otel-custom-resource-state")
    );
    // cert-manager's config names kinds, not plurals: all of cert-manager.io.
    assert_eq!(
        custom_resource_grants("custom-resources", &shipped),
        BTreeSet::from([
            (
                "apiextensions.k8s.io".to_string(),
                "customresourcedefinitions".to_string()
            ),
            ("cert-manager.io".to_string(), "*".to_string()),
        ])
    );
}

/// The RBAC check fails on the ways custom resource grants go wrong, so its passing means
/// something.
#[test]
fn the_rbac_check_rejects_wrong_custom_resource_grants() {
    let (_, docs) = render("deploy/overlays/custom-resources");
    fn rules(docs: &mut [Value]) -> &mut Vec<Value> {
        docs.iter_mut()
            .find(|d| kind(d) == "ClusterRole")
            .and_then(|role| role.get_mut("rules"))
            .and_then(Value::as_sequence_mut)
            .expect("the ClusterRole's rules")
    }
    fn args(docs: &mut [Value]) -> &mut Vec<Value> {
        let deployment = docs.iter_mut().find(|d| kind(d) == "Deployment").unwrap();
        deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_sequence_mut()
            .unwrap()
    }
    let group_of = |rule: &Value| strings(get(rule, &["apiGroups"]));
    let fails = |what: &str, edit: &dyn Fn(&mut Vec<Value>)| {
        let mut docs = docs.clone();
        edit(&mut docs);
        let caught = std::panic::catch_unwind(|| check_workload_rbac(what, &docs));
        assert!(caught.is_err(), "{what}: the check passed");
    };
    fails("no CRDs", &|docs| {
        rules(docs).retain(|r| group_of(r) != ["apiextensions.k8s.io"]);
    });
    fails("no cert-manager.io", &|docs| {
        rules(docs).retain(|r| group_of(r) != ["cert-manager.io"]);
    });
    fails("certificates only", &|docs| {
        let rule = rules(docs)
            .iter_mut()
            .find(|r| group_of(r) == ["cert-manager.io"])
            .unwrap();
        rule["resources"] = serde_yaml_ng::from_str("[certificates]").unwrap();
    });
    fails("get too", &|docs| {
        let rule = rules(docs)
            .iter_mut()
            .find(|r| group_of(r) == ["cert-manager.io"])
            .unwrap();
        rule["verbs"] = serde_yaml_ng::from_str("[get, list, watch]").unwrap();
    });
    fails("* of every group", &|docs| {
        let rule = rules(docs)
            .iter_mut()
            .find(|r| group_of(r) == ["cert-manager.io"])
            .unwrap();
        rule["apiGroups"] = serde_yaml_ng::from_str("['*']").unwrap();
    });
    fails("grants without the config", &|docs| {
        args(docs).retain(|a| {
            !a.as_str()
                .unwrap()
                .starts_with("--custom-resource-state-config-file")
        });
    });
    fails("custom resources only, built-in kinds granted", &|docs| {
        args(docs).push(Value::from("--custom-resource-state-only"));
    });
    check_workload_rbac("unedited", &docs);
}

/// Every web config under deploy/ is one an overlay mounts, and each one an overlay mounts
/// passes `promtool check web-config` with its certificate files where the pod mounts them.
#[test]
fn shipped_web_configs_pass_promtool() {
    let mut checked: Vec<Value> = Vec::new();
    for overlay in OVERLAYS {
        let path = format!("deploy/overlays/{overlay}");
        let (_, docs) = render(&path);
        for workload in docs.iter().filter(|d| WORKLOADS.contains(&kind(d))) {
            let what = format!("{path}: {} {}", kind(workload), name(workload));
            if check_web_config_with_promtool(&what, workload, &docs) {
                checked.push(web_config(&what, workload, &docs).unwrap());
            }
        }
    }
    assert!(!checked.is_empty(), "no overlay mounts a web config");
    fn web_configs(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                web_configs(&path, out);
            } else if file.contains("web-config") && file.ends_with(".yaml") {
                out.push(path);
            }
        }
    }
    let mut shipped = Vec::new();
    web_configs(&root().join("deploy"), &mut shipped);
    assert!(!shipped.is_empty());
    for file in shipped {
        let text = std::fs::read_to_string(&file).unwrap();
        let config: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert!(
            checked.contains(&config),
            "{}: no overlay mounts it, so nothing checks it",
            file.display()
        );
    }
}

/// The secure overlay's exporter as its pod runs it: TLS on both ports with the mounted
/// certificate (verified for the ServiceMonitor's serverName), no plain HTTP, the probes'
/// paths open, and /metrics on both ports refused without a bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_overlay_serves_tls_and_wants_a_token() {
    let (_, docs) = render("deploy/overlays/secure");
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    let pki = TestPki::new();
    let run = pod_run("secure", &docs, deployment, &[], &pki);
    assert!(run.https, "{}: HTTPS probes", run.what);
    let server = harness::start_emulator(harness::newest_emulator()).await;
    let args: Vec<&str> = run.args.iter().map(String::as_str).collect();
    let exporter = harness::Exporter::start_with_args(&server.url(), run.ports, &args);
    let ready = harness::poll_within(std::time::Duration::from_secs(30), || async {
        matches!(
            https_get(&pki, run.ports.0, "/readyz").await,
            Some((200, _))
        )
    })
    .await;
    assert!(
        ready,
        "{}: /readyz over HTTPS\n{}",
        run.what,
        exporter.log()
    );
    let live = https_get(&pki, run.ports.0, "/livez").await;
    assert_eq!(live.map(|r| r.0), Some(200), "{}", run.what);
    for port in [run.ports.0, run.ports.1] {
        let metrics = https_get(&pki, port, "/metrics").await;
        assert_eq!(
            metrics.as_ref().map(|r| r.0),
            Some(401),
            "{}: /metrics on {port} without a token: {metrics:?}",
            run.what
        );
        let plain = exporter.get(port, "/metrics").await;
        assert!(
            !matches!(plain, Some((200, _))),
            "{}: plain HTTP on {port}: {plain:?}",
            run.what
        );
    }
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
    // nobody, the user and group the manifests run as (check_pod); numeric, so the kubelet
    // can check runAsNonRoot on the image alone.
    assert_eq!(*user[0], "USER 65534:65534", "{user:?}");
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

/// A workload's exporter as its pod runs it: the container's args with `$(VAR)` from the
/// downward API filled in, its volumes written out (test certificates for the Secrets made
/// outside the manifests), and free local ports in place of the container ports.
struct PodRun {
    what: String,
    args: Vec<String>,
    ports: (u16, u16),
    /// The readiness probe's scheme is HTTPS.
    https: bool,
    mounts: Mounts,
}

fn pod_run(
    overlay: &str,
    docs: &[Value],
    workload: &Value,
    env: &[(&str, &str)],
    pki: &TestPki,
) -> PodRun {
    let what = format!("{overlay}: {} {}", kind(workload), name(workload));
    let mounts = Mounts::new(&what, workload, docs, pki);
    let ports = (harness::free_port(), harness::free_port());
    let args = strings(get(exporter_container(workload), &["args"]))
        .into_iter()
        .map(|arg| {
            let (flag, value) = arg.split_once('=').unwrap_or((&arg, ""));
            let value = env.iter().fold(value.to_string(), |v, (name, with)| {
                v.replace(&format!("$({name})"), with)
            });
            match flag {
                "--port" => format!("--port={}", ports.0),
                "--telemetry-port" => format!("--telemetry-port={}", ports.1),
                _ if value.is_empty() => flag.to_string(),
                _ => format!("{flag}={value}"),
            }
        })
        .chain([
            "--host=127.0.0.1".into(),
            "--telemetry-host=127.0.0.1".into(),
        ])
        .collect::<Vec<_>>();
    let https = s(
        exporter_container(workload),
        &["readinessProbe", "httpGet", "scheme"],
    ) == Some("HTTPS");
    PodRun {
        args: mounts.args(&what, &args),
        what,
        ports,
        https,
        mounts,
    }
}

impl PodRun {
    /// GET `path` on `port` as the kubelet's probe would, over HTTPS where it uses it (here
    /// also verifying the certificate against the test CA, for the ServiceMonitor's
    /// serverName).
    async fn get(
        &self,
        exporter: &harness::Exporter,
        pki: &TestPki,
        port: u16,
        path: &str,
    ) -> Option<(u16, String)> {
        if self.https {
            https_get(pki, port, path).await
        } else {
            exporter.get(port, path).await
        }
    }
}

/// An HTTP/1.1 GET over TLS to 127.0.0.1:`port`, verifying the server's certificate against
/// `pki`'s CA for [`SERVER_NAME`]: the status and the raw body.
async fn https_get(pki: &TestPki, port: u16, path: &str) -> Option<(u16, String)> {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server = rustls::pki_types::ServerName::try_from(SERVER_NAME).unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server, tcp)
        .await
        .ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    // A server closing without close_notify ends the read with an error after the response.
    let _ = tls.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The readiness probe every workload of every overlay declares (`/readyz` on http-metrics)
/// passes against each supported Kubernetes minor, serving exactly that minor's API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_probes_pass_on_every_supported_minor() {
    let rendered: Vec<(&str, Vec<Value>)> = OVERLAYS
        .iter()
        .map(|o| (*o, render(&format!("deploy/overlays/{o}")).1))
        .collect();
    let pki = TestPki::new();
    for minor in kube_emulator::OLDEST_MINOR..=kube_emulator::NEWEST_MINOR {
        let emulator = kube_emulator::Emulator::with_config(kube_emulator::EmulatorConfig {
            kubernetes_version: format!("v1.{minor}.0"),
            ..kube_emulator::EmulatorConfig::default()
        })
        .expect("a supported minor");
        emulator.load_generated(&kube_emulator::GeneratedCluster::new(2, 3, 7));
        let server = harness::start_emulator(emulator).await;
        let mut runs = Vec::new();
        for (overlay, docs) in &rendered {
            for workload in docs.iter().filter(|d| WORKLOADS.contains(&kind(d))) {
                // Automated sharding reads the pod and its StatefulSet: both exist, as in the
                // cluster the StatefulSet runs in.
                let pod_name = format!("{}-0", name(workload));
                if kind(workload) == "StatefulSet" {
                    let statefulset = serde_json::to_value(workload).expect("JSON");
                    let namespace = statefulset["metadata"]["namespace"].clone();
                    let pod = serde_json::json!({
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": pod_name, "namespace": namespace,
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                "name": name(workload), "uid": "sts-uid", "controller": true}]},
                    });
                    server
                        .emulator()
                        .apply_all([statefulset, pod])
                        .expect("the StatefulSet and its pod");
                }
                let env = [
                    ("POD_NAME", pod_name.as_str()),
                    ("POD_NAMESPACE", "monitoring"),
                    ("NODE_NAME", "node-0"),
                ];
                runs.push(pod_run(overlay, docs, workload, &env, &pki));
            }
        }
        let exporters: Vec<harness::Exporter> = runs
            .iter()
            .map(|run| {
                let args: Vec<&str> = run.args.iter().map(String::as_str).collect();
                harness::Exporter::start_with_args(&server.url(), run.ports, &args)
            })
            .collect();
        for (run, exporter) in runs.iter().zip(&exporters) {
            let probed = harness::poll_within(std::time::Duration::from_secs(30), || async {
                matches!(
                    run.get(exporter, &pki, run.ports.0, "/readyz").await,
                    Some((200, _))
                )
            })
            .await;
            assert!(
                probed,
                "1.{minor}, {}: /readyz never answered 200: {:?}\n{}",
                run.what,
                run.get(exporter, &pki, run.ports.0, "/readyz").await,
                exporter.log()
            );
        }
    }
}

/// The ha overlay as a cluster runs it: its replicas, each with its pod's HOSTNAME, against an
/// API server that answers only what the overlay's RBAC grants. One becomes leader (its Lease
/// in the pod's namespace, held by a pod's name), all are ready, only the leader's /metrics
/// has series; terminated, it releases the Lease (get and update) and a follower takes over
/// without waiting out the lease duration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ha_replicas_elect_one_leader_with_only_their_rbac() {
    let (_, docs) = render("deploy/overlays/ha");
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    let replicas = get(deployment, &["spec", "replicas"])
        .and_then(Value::as_u64)
        .unwrap();
    let account = s(
        deployment,
        &["spec", "template", "spec", "serviceAccountName"],
    )
    .unwrap();
    let emulator =
        kube_emulator::Emulator::with_cluster(&kube_emulator::GeneratedCluster::new(2, 3, 7));
    enforce_rbac(&emulator, &docs, account, "monitoring");
    let server = harness::start_emulator(emulator).await;
    let env = [("POD_NAMESPACE", "monitoring")];
    let pki = TestPki::new();
    let mut pods: Vec<(String, PodRun, harness::Exporter)> = (0..replicas)
        .map(|i| {
            let hostname = format!("kube-state-otel-7d9c5b-{i}");
            let run = pod_run("ha", &docs, deployment, &env, &pki);
            let args: Vec<&str> = run.args.iter().map(String::as_str).collect();
            let exporter = harness::Exporter::start_with_args_env(
                &server.url(),
                run.ports,
                &args,
                &[("HOSTNAME", &hostname)],
            );
            (hostname, run, exporter)
        })
        .collect();
    let holder = || {
        server
            .emulator()
            .get("leases", Some("monitoring"), "kube-state-otel-default")
            .expect("leases")
            .and_then(|lease| lease["spec"]["holderIdentity"].as_str().map(String::from))
            .filter(|h| !h.is_empty())
    };
    let leader_of = |holder: &str| {
        pods.iter()
            .position(|(hostname, _, _)| holder.starts_with(&format!("{hostname}_")))
            .unwrap_or_else(|| panic!("the Lease is held by {holder}, not a pod"))
    };
    for (_, run, exporter) in &pods {
        let ready = harness::poll_within(std::time::Duration::from_secs(30), || async {
            matches!(exporter.get(run.ports.0, "/readyz").await, Some((200, _)))
        })
        .await;
        assert!(ready, "{}: not ready\n{}", run.what, exporter.log());
    }
    harness::wait_for("a leader", || async { holder().is_some() }).await;
    let leader = leader_of(&holder().unwrap());
    // Each pod answers as what the Lease says it is (a follower learns the holder on its next
    // retry).
    for (i, (hostname, run, exporter)) in pods.iter().enumerate() {
        let role = if i == leader { "leader" } else { "follower" };
        harness::wait_for(&format!("{hostname} reports {role}"), || async {
            exporter
                .get(run.ports.0, "/readyz")
                .await
                .is_some_and(|(_, body)| body.contains(&format!(": {role}, held by")))
        })
        .await;
        let metrics = exporter
            .get(run.ports.0, "/metrics")
            .await
            .expect("/metrics");
        assert_eq!(metrics.0, 200, "{hostname}");
        let series = harness::samples(&metrics.1, "kube_pod_info").len();
        assert_eq!(
            series > 0,
            i == leader,
            "{hostname} ({role}): {series} kube_pod_info"
        );
    }
    let released = std::time::Instant::now();
    pods[leader].2.signal("TERM");
    pods[leader]
        .2
        .wait_exit(std::time::Duration::from_secs(10))
        .await
        .expect("the leader exits on SIGTERM");
    let old = pods[leader].0.clone();
    // Released, the Lease is taken within a few retry periods (2 s), long before the 15 s a
    // lease left to expire would take.
    harness::wait_for_within(
        "a follower takes the released Lease",
        std::time::Duration::from_secs(10),
        || async { holder().is_some_and(|h| !h.starts_with(&format!("{old}_"))) },
    )
    .await;
    assert!(released.elapsed() < std::time::Duration::from_secs(10));
    for (hostname, _, exporter) in &pods {
        let log = exporter.log();
        assert!(!log.contains("Forbidden"), "{hostname} was refused:\n{log}");
    }
}

/// `text`'s lines of the families in `families` (HELP, TYPE and samples).
fn only_families(text: &str, families: &BTreeSet<String>) -> String {
    text.lines()
        .filter(|line| {
            let family = match line.strip_prefix("# ") {
                Some(comment) => comment.split_whitespace().nth(1).unwrap_or_default(),
                None => line.split(['{', ' ']).next().unwrap_or_default(),
            };
            families.contains(family)
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The custom-resources overlay as a cluster runs it, against an API server that answers only
/// what the overlay's RBAC grants and serves cert-manager's CRDs and objects as kube-state-metrics
/// v2.20 was recorded on them (`../shared/conformance/crs/13-cert-manager`): ready, refused
/// nothing, reports the built-in kinds and the custom resources, the latter as KSM did; and an
/// edit of the ConfigMap, swapped in as the kubelet does (`..data`), takes effect without a
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_overlay_reports_them_with_only_its_rbac_and_reloads() {
    let (_, docs) = render("deploy/overlays/custom-resources");
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    let account = s(
        deployment,
        &["spec", "template", "spec", "serviceAccountName"],
    )
    .unwrap();
    let case = crs_cases::cases_dir().join("13-cert-manager");
    let emulator =
        kube_emulator::Emulator::with_cluster(&kube_emulator::GeneratedCluster::new(2, 3, 7));
    crs_cases::load(&emulator, &case);
    // After the CRDs, so that their custom resources are enforced too.
    enforce_rbac(&emulator, &docs, account, "monitoring");
    let server = harness::start_emulator(emulator).await;
    let pki = TestPki::new();
    let run = pod_run("custom-resources", &docs, deployment, &[], &pki);
    let args: Vec<&str> = run.args.iter().map(String::as_str).collect();
    let exporter = harness::Exporter::start_with_args(&server.url(), run.ports, &args);
    let ready = harness::poll_within(std::time::Duration::from_secs(30), || async {
        matches!(exporter.get(run.ports.0, "/readyz").await, Some((200, _)))
    })
    .await;
    assert!(ready, "{}: not ready\n{}", run.what, exporter.log());

    let want = std::fs::read_to_string(case.join("expected.prom")).expect("expected.prom");
    let families: BTreeSet<String> = crs_cases::parse(&want).into_keys().collect();
    assert!(families.len() >= 4, "{families:?}");
    let scrape = || async {
        exporter
            .get(run.ports.0, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default()
    };
    let as_ksm = harness::poll_within(std::time::Duration::from_secs(20), || async {
        crs_cases::differences(&only_families(&scrape().await, &families), &want).is_empty()
    })
    .await;
    assert!(
        as_ksm,
        "{}: not what kube-state-metrics printed:\n{}\n{}",
        run.what,
        crs_cases::differences(&only_families(&scrape().await, &families), &want).join("\n"),
        exporter.log()
    );
    assert!(
        !harness::samples(&scrape().await, "kube_pod_info").is_empty(),
        "the built-in kinds too"
    );

    // The ConfigMap edited: the kubelet swaps the volume's ..data, the binary re-reads the file.
    let container_args = strings(get(exporter_container(deployment), &["args"]));
    let path = flag_value(&container_args, "custom-resource-state-config-file").unwrap();
    let (dir, file) = path.rsplit_once('/').unwrap();
    let config = custom_resource_config("custom-resources", deployment, &docs).unwrap();
    // KSM's self-metrics on the telemetry port: the file's hash, and whether it was reloaded.
    let (telemetry_of, telemetry_port) = (&exporter, run.ports.1);
    let self_metric = |family: &'static str| async move {
        let telemetry = telemetry_of
            .get(telemetry_port, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default();
        harness::value(&telemetry, family, &["type=\"customresourceconfig\""])
    };
    let hash = self_metric("kube_state_metrics_config_hash").await;
    assert!(hash.is_some(), "no kube_state_metrics_config_hash");
    let edited = config.replace("Current status of the issuer", "Conditions of the issuer");
    assert_ne!(edited, config);
    run.mounts.update(dir, file, &edited);
    let help = "# HELP kube_customresource_issuer_transition_info Conditions of the issuer";
    let reloaded = harness::poll_within(std::time::Duration::from_secs(20), || async {
        scrape().await.contains(help)
    })
    .await;
    assert!(reloaded, "{help} never served\n{}", exporter.log());
    assert_ne!(self_metric("kube_state_metrics_config_hash").await, hash);
    assert_eq!(
        self_metric("kube_state_metrics_last_config_reload_successful").await,
        Some(1.0)
    );
    let log = exporter.log();
    assert!(!log.contains("Forbidden"), "refused:\n{log}");
}
