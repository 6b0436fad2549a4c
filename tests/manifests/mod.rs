//! Helpers shared by the manifest tests (kustomize overlays, Helm chart).

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use kube_state_otel::config::Cli;
use kube_state_otel::config::file::ConfigFile;
use kube_state_otel::leader::{LEASE_VERBS, LeaderConfig};
use kube_state_otel::rbac;
use serde_yaml_ng::Value;

/// The kinds of object that run the exporter.
pub const WORKLOADS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];

/// The Prometheus Operator's kinds shipped: not in the Kubernetes schemas, checked apart.
pub const CUSTOM_KINDS: &[&str] = &["ServiceMonitor", "PrometheusRule"];

/// The exporter's own alerts, which the PrometheusRules ship.
pub const RULES: &str = "deploy/monitoring/kube-state-otel.rules.yaml";

/// The exporter's Grafana dashboard, shipped in ConfigMaps by the base and the chart.
pub const DASHBOARD: &str = "deploy/monitoring/kube-state-otel.dashboard.json";

/// One PrometheusRule among `docs`, labelled as the ServiceMonitor, with exactly the groups of
/// [`RULES`].
pub fn check_prometheus_rules(path: &str, docs: &[Value]) {
    let rules: Vec<&Value> = docs
        .iter()
        .filter(|d| kind(d) == "PrometheusRule")
        .collect();
    assert_eq!(rules.len(), 1, "{path}: one PrometheusRule");
    let rule = rules[0];
    assert_eq!(s(rule, &["apiVersion"]), Some("monitoring.coreos.com/v1"));
    assert_eq!(
        s(rule, &["metadata", "labels", "app.kubernetes.io/part-of"]),
        Some("kube-state-otel"),
        "{path}"
    );
    let text = std::fs::read_to_string(root().join(RULES)).expect(RULES);
    let want: Value = serde_yaml_ng::from_str(&text).expect("the rules are YAML");
    assert!(
        get(rule, &["spec", "groups"]) == get(&want, &["groups"]),
        "{path}: the PrometheusRule's groups are {RULES}'s"
    );
}

/// One ConfigMap among `docs` that Grafana's dashboard sidecar loads (labelled
/// `grafana_dashboard: "1"`, kube-prometheus-stack's default), holding exactly [`DASHBOARD`].
pub fn check_dashboard(path: &str, docs: &[Value]) {
    let maps: Vec<&Value> = docs
        .iter()
        .filter(|d| kind(d) == "ConfigMap")
        .filter(|d| s(d, &["metadata", "labels", "grafana_dashboard"]) == Some("1"))
        .collect();
    assert_eq!(maps.len(), 1, "{path}: one dashboard ConfigMap");
    let data = get(maps[0], &["data"]).and_then(Value::as_mapping);
    let files: Vec<&str> = data
        .into_iter()
        .flat_map(|d| d.keys())
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(files, ["kube-state-otel.json"], "{path}");
    let text = std::fs::read_to_string(root().join(DASHBOARD)).expect(DASHBOARD);
    let want: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let have = s(maps[0], &["data", "kube-state-otel.json"]).unwrap_or_default();
    let have: serde_json::Value =
        serde_json::from_str(have).unwrap_or_else(|e| panic!("{path}: the dashboard: {e}"));
    assert!(
        have == want,
        "{path}: the ConfigMap's dashboard is {DASHBOARD}"
    );
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

pub fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(*key))
}

pub fn kind(doc: &Value) -> &str {
    s(doc, &["kind"]).unwrap_or_default()
}

pub fn name(doc: &Value) -> &str {
    s(doc, &["metadata", "name"]).unwrap_or_default()
}

pub fn seq(v: Option<&Value>) -> Vec<&Value> {
    v.and_then(Value::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

pub fn strings(v: Option<&Value>) -> Vec<String> {
    seq(v)
        .into_iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

pub fn check_service_monitor(path: &str, monitor: &Value, docs: &[Value]) {
    assert_eq!(
        s(monitor, &["apiVersion"]),
        Some("monitoring.coreos.com/v1")
    );
    assert!(s(monitor, &["metadata", "namespace"]).is_some(), "{path}");
    let selector = get(monitor, &["spec", "selector", "matchLabels"])
        .and_then(Value::as_mapping)
        .expect("spec.selector.matchLabels");
    let services: Vec<&Value> = docs.iter().filter(|d| kind(d) == "Service").collect();
    let selected: Vec<&&Value> = services
        .iter()
        .filter(|svc| {
            selector
                .iter()
                .all(|(k, v)| get(svc, &["metadata", "labels"]).and_then(|l| l.get(k)) == Some(v))
        })
        .collect();
    assert_eq!(
        selected.len(),
        1,
        "{path}: the ServiceMonitor selects one Service"
    );
    let service = selected[0];
    let service_ports: BTreeSet<&str> = seq(get(service, &["spec", "ports"]))
        .into_iter()
        .filter_map(|p| s(p, &["name"]))
        .collect();
    let endpoints = seq(get(monitor, &["spec", "endpoints"]));
    let ports: BTreeSet<&str> = endpoints.iter().filter_map(|e| s(e, &["port"])).collect();
    assert_eq!(
        ports,
        BTreeSet::from(["http-metrics", "telemetry"]),
        "{path}: ServiceMonitor endpoints"
    );
    assert!(ports.is_subset(&service_ports), "{path}");
    for endpoint in &endpoints {
        let allowed = [
            "port",
            "interval",
            "scrapeTimeout",
            "honorLabels",
            "scheme",
            "path",
            "tlsConfig",
            "bearerTokenFile",
            "authorization",
            "basicAuth",
        ];
        for key in endpoint.as_mapping().unwrap().keys() {
            assert!(
                allowed.contains(&key.as_str().unwrap()),
                "{path}: endpoint field {key:?}"
            );
        }
    }
    let metrics = endpoints
        .iter()
        .find(|e| s(e, &["port"]) == Some("http-metrics"))
        .unwrap();
    assert_eq!(
        get(metrics, &["honorLabels"]).and_then(Value::as_bool),
        Some(true),
        "{path}: the exported namespace/pod labels win over the target's"
    );
    for key in monitor.as_mapping().unwrap().keys() {
        assert!(
            ["apiVersion", "kind", "metadata", "spec"].contains(&key.as_str().unwrap()),
            "{path}: {key:?}"
        );
    }
    check_scrape_security(path, monitor, service, docs);
}

/// The kinds a container's `--resources` flag names, or the default set; none with
/// `--custom-resource-state-only`.
pub fn watched(args: &[String]) -> BTreeSet<String> {
    if args.iter().any(|a| a == "--custom-resource-state-only") {
        return BTreeSet::new();
    }
    let flag = args.iter().find_map(|a| a.strip_prefix("--resources="));
    match flag {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect(),
        None => rbac::default_resources()
            .into_iter()
            .map(String::from)
            .collect(),
    }
}

pub fn exporter_container(workload: &Value) -> &Value {
    seq(get(workload, &["spec", "template", "spec", "containers"]))
        .into_iter()
        .find(|c| s(c, &["name"]) == Some("kube-state-otel"))
        .expect("a kube-state-otel container")
}

/// `$(VAR)` in a container's args as the kubelet expands it from the container's `env`: the
/// downward API's `metadata.namespace` is the workload's namespace, `metadata.name` a pod of it,
/// `spec.nodeName` a node. A variable the env does not define would reach the binary as the
/// literal `$(VAR)`: that fails here.
pub fn expand(what: &str, workload: &Value, arg: &str) -> String {
    let env = seq(get(exporter_container(workload), &["env"]));
    let mut out = arg.to_string();
    while let Some(start) = out.find("$(") {
        let end = start + out[start..].find(')').expect("$(VAR) closed");
        let var = &out[start + 2..end];
        let entry = env
            .iter()
            .find(|e| s(e, &["name"]) == Some(var))
            .unwrap_or_else(|| panic!("{what}: {arg}: {var} is not in the container's env"));
        let value = match (
            s(entry, &["value"]),
            s(entry, &["valueFrom", "fieldRef", "fieldPath"]),
        ) {
            (Some(value), _) => value.to_string(),
            (_, Some("metadata.namespace")) => s(workload, &["metadata", "namespace"])
                .expect("namespace")
                .to_string(),
            (_, Some("metadata.name")) => format!("{}-0", name(workload)),
            (_, Some("spec.nodeName")) => "node-0".to_string(),
            other => panic!("{what}: {var}: no value this test knows: {other:?}"),
        };
        out.replace_range(start..=end, &value);
    }
    out
}

/// What a workload's exporter runs: each pipeline's name and effective flags, as the binary
/// computes them from the container's args and the `--config` file its pod mounts.
pub fn effective(what: &str, workload: &Value, docs: &[Value]) -> Vec<(Option<String>, Cli)> {
    let container = exporter_container(workload);
    let args: Vec<String> = strings(get(container, &["args"]))
        .iter()
        .map(|a| expand(what, workload, a))
        .collect();
    let matches = Cli::command()
        .try_get_matches_from(std::iter::once("kube-state-otel".to_string()).chain(args))
        .unwrap_or_else(|e| panic!("{what}: args: {e}"));
    let cli = Cli::from_arg_matches(&matches).expect("flags");
    let Some(path) = cli.config.clone() else {
        return vec![(None, cli)];
    };
    // The ConfigMap mounted where --config points.
    let dir = path.parent().and_then(Path::to_str).expect("--config dir");
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .expect("--config file");
    let mount = seq(get(container, &["volumeMounts"]))
        .into_iter()
        .find(|m| s(m, &["mountPath"]) == Some(dir))
        .unwrap_or_else(|| panic!("{what}: nothing mounted at {dir}"));
    let volume = seq(get(workload, &["spec", "template", "spec", "volumes"]))
        .into_iter()
        .find(|v| s(v, &["name"]) == s(mount, &["name"]))
        .expect("the mounted volume");
    let config_map = s(volume, &["configMap", "name"]).expect("a ConfigMap volume");
    let text = docs
        .iter()
        .find(|d| kind(d) == "ConfigMap" && name(d) == config_map)
        .and_then(|d| s(d, &["data", file]))
        .unwrap_or_else(|| panic!("{what}: ConfigMap {config_map} with {file}"));
    let shown = path.display().to_string();
    let pipelines = ConfigFile::parse(&shown, text)
        .and_then(|f| f.select(&shown, cli.pipeline.as_deref()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    pipelines
        .into_iter()
        .map(|pipeline| {
            let mut flags = cli.clone();
            // As main.rs: a flag given on the command line or by environment wins.
            pipeline.apply(&mut flags, |id| {
                matches!(
                    matches.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            });
            (Some(pipeline.name), flags)
        })
        .collect()
}

/// The Leases a workload's pipelines elect on (none without leader election), as the binary
/// names them; the default namespace is the service account's, the pod's own.
pub fn leases(what: &str, workload: &Value, docs: &[Value]) -> Vec<LeaderConfig> {
    let namespace = s(workload, &["metadata", "namespace"]).expect("namespace");
    effective(what, workload, docs)
        .into_iter()
        .filter(|(_, cli)| cli.leader_election)
        .map(|(pipeline, cli)| {
            // Hash shards elect per shard; automated sharding's count is known at run time only.
            let shard = (cli.total_shards > 1).then_some((cli.shard, cli.total_shards));
            LeaderConfig::from_cli(&cli, pipeline.as_deref(), shard, namespace)
        })
        .collect()
}

/// Whether a workload runs kube-state-metrics' automated sharding (`--pod` and
/// `--pod-namespace`, in flags or config).
pub fn autoshards(what: &str, workload: &Value, docs: &[Value]) -> bool {
    effective(what, workload, docs).iter().any(|(_, cli)| {
        [&cli.pod, &cli.pod_namespace]
            .iter()
            .all(|v| v.as_deref().is_some_and(|v| !v.is_empty()))
    })
}

/// The Custom Resource State config a workload's exporter reads: `--custom-resource-state-config`
/// (which wins, as in the binary), or the file `--custom-resource-state-config-file` names in the
/// ConfigMap mounted there (which must be among `docs`); None without either flag.
pub fn custom_resource_config(what: &str, workload: &Value, docs: &[Value]) -> Option<String> {
    let args = strings(get(exporter_container(workload), &["args"]));
    if let Some(inline) = flag_value(&args, "custom-resource-state-config") {
        return Some(inline.to_string());
    }
    let path = flag_value(&args, "custom-resource-state-config-file")?;
    let (dir, volume) =
        mount_of(workload, path).unwrap_or_else(|| panic!("{what}: nothing mounted at {path}"));
    assert!(
        s(volume, &["configMap", "name"]).is_some(),
        "{what}: the config at {path} comes from a ConfigMap"
    );
    let files = volume_files(volume, docs).expect("a ConfigMap of the manifests");
    let file = &path[dir.len() + 1..];
    let text = files
        .get(file)
        .unwrap_or_else(|| panic!("{what}: {file} is not in the ConfigMap mounted at {dir}"));
    Some(text.clone())
}

/// (API group, resource) a Custom Resource State config needs list/watch on: the CRDs, and per
/// group the entries' `resourcePlural`s, or `*` when an entry of the group gives none (the
/// config names a kind, the CRD the plural) or its kind is `*`. The config must parse as the
/// binary parses it.
pub fn custom_resource_grants(what: &str, config: &str) -> BTreeSet<(String, String)> {
    let config = kube_state_otel::crs::CrsConfig::parse(config)
        .unwrap_or_else(|e| panic!("{what}: the custom resource state config: {e}"));
    let mut by_group: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in &config.resources {
        let plural = match &entry.resource_plural {
            Some(plural) if entry.kind != "*" => plural.clone(),
            _ => "*".to_string(),
        };
        by_group
            .entry(entry.group.clone())
            .or_default()
            .insert(plural);
    }
    let mut grants = BTreeSet::from([(
        "apiextensions.k8s.io".to_string(),
        "customresourcedefinitions".to_string(),
    )]);
    for (group, plurals) in by_group {
        if plurals.contains("*") {
            grants.insert((group, "*".to_string()));
        } else {
            grants.extend(plurals.into_iter().map(|p| (group.clone(), p)));
        }
    }
    grants
}

/// Whether `selector` (`matchLabels`) selects the pods of `workload`.
fn selects(selector: Option<&Value>, workload: &Value) -> bool {
    let labels = get(workload, &["spec", "template", "metadata", "labels"]);
    selector.and_then(Value::as_mapping).is_some_and(|m| {
        !m.is_empty()
            && m.iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    })
}

/// Workloads that elect a leader have a standby and keep it: a Deployment (a DaemonSet's pods
/// each watch their own node, and automated sharding's replicas are each their own shard, so
/// one Lease would silence all but one of them), at least two replicas, a PodDisruptionBudget
/// keeping one, anti-affinity spreading them over nodes, and a Lease no other workload elects
/// on. Returns how many workloads elect.
pub fn check_leader_election(label: &str, docs: &[Value]) -> usize {
    let mut taken: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut electing = 0;
    for workload in docs.iter().filter(|d| WORKLOADS.contains(&kind(d))) {
        let what = format!("{label}: {} {}", kind(workload), name(workload));
        let leases = leases(&what, workload, docs);
        if leases.is_empty() {
            continue;
        }
        electing += 1;
        assert_eq!(
            kind(workload),
            "Deployment",
            "{what}: elects, so a Deployment"
        );
        assert!(!autoshards(&what, workload, docs), "{what}");
        let replicas = get(workload, &["spec", "replicas"]).and_then(Value::as_u64);
        assert!(
            replicas >= Some(2),
            "{what}: a standby: replicas {replicas:?}"
        );
        let budgets: Vec<&Value> = docs
            .iter()
            .filter(|d| kind(d) == "PodDisruptionBudget")
            .filter(|d| selects(get(d, &["spec", "selector", "matchLabels"]), workload))
            .collect();
        assert_eq!(budgets.len(), 1, "{what}: one PodDisruptionBudget");
        assert_eq!(
            get(budgets[0], &["spec", "minAvailable"]).and_then(Value::as_u64),
            Some(1),
            "{what}: PodDisruptionBudget minAvailable"
        );
        assert_eq!(
            s(budgets[0], &["metadata", "namespace"]),
            s(workload, &["metadata", "namespace"]),
            "{what}"
        );
        let spread = seq(get(
            workload,
            &[
                "spec",
                "template",
                "spec",
                "affinity",
                "podAntiAffinity",
                "preferredDuringSchedulingIgnoredDuringExecution",
            ],
        ))
        .into_iter()
        .any(|term| {
            s(term, &["podAffinityTerm", "topologyKey"]) == Some("kubernetes.io/hostname")
                && selects(
                    get(term, &["podAffinityTerm", "labelSelector", "matchLabels"]),
                    workload,
                )
        });
        assert!(
            spread,
            "{what}: preferred anti-affinity of its pods by hostname"
        );
        for lease in leases {
            let key = (lease.namespace, lease.lease_name);
            if let Some(other) = taken.insert(key.clone(), what.clone()) {
                panic!("{what} and {other} elect on the same Lease {key:?}");
            }
        }
    }
    electing
}

/// Each workload's account is bound to one ClusterRole granting exactly list/watch on the kinds
/// of its `--resources` (or the default set; none with `--custom-resource-state-only`) and,
/// with a Custom Resource State config, on what [`custom_resource_grants`] says (the only
/// place a `*` may be); namespaced grants are only what automated
/// sharding reads (when it runs) and what leader election needs in its Lease's namespace (when
/// it elects): exactly [`LEASE_VERBS`] on leases; together the workloads watch every default
/// kind.
pub fn check_workload_rbac(label: &str, docs: &[Value]) {
    let workloads: Vec<&Value> = docs
        .iter()
        .filter(|d| WORKLOADS.contains(&kind(d)))
        .collect();
    assert!(!workloads.is_empty(), "{label}");
    let mut all_watched = BTreeSet::new();
    let mut custom_only = 0;
    for workload in &workloads {
        let what = format!("{label}: {} {}", kind(workload), name(workload));
        let args = strings(get(exporter_container(workload), &["args"]));
        let kinds = watched(&args);
        all_watched.extend(kinds.clone());
        let mut want: BTreeSet<(String, String)> =
            rbac::group_resources(&kinds.iter().map(String::as_str).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("{what}: {e}"))
                .into_iter()
                .map(|(g, r)| (g.to_string(), r.to_string()))
                .collect();
        let custom = custom_resource_config(&what, workload, docs)
            .map(|config| custom_resource_grants(&what, &config))
            .unwrap_or_default();
        if args.iter().any(|a| a == "--custom-resource-state-only") {
            assert!(!custom.is_empty(), "{what}: CRS only, without a CRS config");
            custom_only += 1;
        }
        want.extend(custom.iter().cloned());
        let account = s(
            workload,
            &["spec", "template", "spec", "serviceAccountName"],
        )
        .unwrap_or_else(|| panic!("{what}: serviceAccountName"));
        let namespace = s(workload, &["metadata", "namespace"]).expect("namespace");
        assert!(
            docs.iter().any(|d| kind(d) == "ServiceAccount"
                && name(d) == account
                && s(d, &["metadata", "namespace"]) == Some(namespace)),
            "{what}: ServiceAccount {account}"
        );
        // Cluster-wide grants to the account: its ClusterRoleBindings' ClusterRoles: list and
        // watch of its kinds in one, and with --auth-filter create on the two reviews.
        let mut granted: BTreeSet<(String, String)> = BTreeSet::new();
        let mut reviews: BTreeSet<(String, String)> = BTreeSet::new();
        let mut roles = 0;
        for binding in docs.iter().filter(|d| kind(d) == "ClusterRoleBinding") {
            let binds = seq(get(binding, &["subjects"])).into_iter().any(|sub| {
                s(sub, &["kind"]) == Some("ServiceAccount")
                    && s(sub, &["name"]) == Some(account)
                    && s(sub, &["namespace"]) == Some(namespace)
            });
            if !binds {
                continue;
            }
            assert_eq!(s(binding, &["roleRef", "kind"]), Some("ClusterRole"));
            let role_name = s(binding, &["roleRef", "name"]).unwrap();
            let role = docs
                .iter()
                .find(|d| kind(d) == "ClusterRole" && name(d) == role_name)
                .unwrap_or_else(|| panic!("{what}: ClusterRole {role_name} missing"));
            let mut lists = false;
            for rule in seq(get(role, &["rules"])) {
                let rule_map = rule.as_mapping().unwrap();
                for key in rule_map.keys() {
                    assert!(
                        ["apiGroups", "resources", "verbs"].contains(&key.as_str().unwrap()),
                        "{what}: rule field {key:?} in {role_name}"
                    );
                }
                let verbs: BTreeSet<String> = strings(get(rule, &["verbs"])).into_iter().collect();
                let into = if verbs == BTreeSet::from(["create".to_string()]) {
                    &mut reviews
                } else {
                    assert_eq!(
                        verbs,
                        BTreeSet::from(["list".to_string(), "watch".to_string()]),
                        "{what}: {role_name} verbs"
                    );
                    lists = true;
                    &mut granted
                };
                for group in strings(get(rule, &["apiGroups"])) {
                    for resource in strings(get(rule, &["resources"])) {
                        let grant = (group.clone(), resource);
                        assert!(
                            !group.contains('*')
                                && (!grant.1.contains('*') || custom.contains(&grant)),
                            "{what}: {role_name} grants {grant:?}"
                        );
                        into.insert(grant);
                    }
                }
            }
            roles += usize::from(lists);
        }
        assert_eq!(
            roles, 1,
            "{what}: one ClusterRole of kinds bound to {account}"
        );
        assert_eq!(granted, want, "{what}: ClusterRole grants vs --resources");
        let auth_filter = args.contains(&"--auth-filter".to_string());
        let want_reviews: BTreeSet<(String, String)> = AUTH_FILTER_GRANTS
            .iter()
            .filter(|_| auth_filter)
            .map(|(g, r)| (g.to_string(), r.to_string()))
            .collect();
        assert_eq!(
            reviews, want_reviews,
            "{what}: create grants vs --auth-filter"
        );
        // A scraper of --auth-filter's /metrics needs get on it: the ClusterRole for that.
        let reader = docs.iter().any(|d| {
            kind(d) == "ClusterRole"
                && get(d, &["rules"])
                    == Some(
                        &serde_yaml_ng::from_str("[{nonResourceURLs: [/metrics], verbs: [get]}]")
                            .unwrap(),
                    )
        });
        assert!(
            reader || !auth_filter,
            "{what}: no ClusterRole for scrapers of /metrics"
        );
        // Namespaced grants: the account's RoleBindings in any namespace, each to a Role there.
        let autoshard = autoshards(&what, workload, docs);
        let lease_namespaces: BTreeSet<String> = leases(&what, workload, docs)
            .into_iter()
            .map(|l| l.namespace)
            .collect();
        let mut lease_grants: BTreeMap<String, usize> = BTreeMap::new();
        for binding in docs.iter().filter(|d| kind(d) == "RoleBinding") {
            let binds = seq(get(binding, &["subjects"])).into_iter().any(|sub| {
                s(sub, &["kind"]) == Some("ServiceAccount")
                    && s(sub, &["name"]) == Some(account)
                    && s(sub, &["namespace"]) == Some(namespace)
            });
            if !binds {
                continue;
            }
            let role_namespace = s(binding, &["metadata", "namespace"]).expect("namespace");
            assert_eq!(s(binding, &["roleRef", "kind"]), Some("Role"), "{what}");
            let role_name = s(binding, &["roleRef", "name"]).unwrap();
            let role = docs
                .iter()
                .find(|d| {
                    kind(d) == "Role"
                        && name(d) == role_name
                        && s(d, &["metadata", "namespace"]) == Some(role_namespace)
                })
                .unwrap_or_else(|| panic!("{what}: Role {role_namespace}/{role_name} missing"));
            for rule in seq(get(role, &["rules"])) {
                let verbs: BTreeSet<String> = strings(get(rule, &["verbs"])).into_iter().collect();
                let resources = strings(get(rule, &["resources"]));
                if resources.iter().any(|r| r == "leases") {
                    // Leader election: exactly its verbs on leases, where its Lease is.
                    assert_eq!(
                        strings(get(rule, &["apiGroups"])),
                        vec!["coordination.k8s.io"],
                        "{what}: {role_name}"
                    );
                    assert_eq!(resources, vec!["leases"], "{what}: {role_name}");
                    // RBAC cannot limit create by name: resourceNames would forbid it.
                    assert!(
                        get(rule, &["resourceNames"]).is_none(),
                        "{what}: {role_name}: resourceNames on leases"
                    );
                    let want: BTreeSet<String> =
                        LEASE_VERBS.iter().map(|v| v.to_string()).collect();
                    assert_eq!(verbs, want, "{what}: {role_name} verbs on leases");
                    assert!(
                        lease_namespaces.contains(role_namespace),
                        "{what}: {role_name} grants leases in {role_namespace}, where it elects \
                         on none (its Leases: {lease_namespaces:?})"
                    );
                    *lease_grants.entry(role_namespace.to_string()).or_default() += 1;
                    continue;
                }
                // Automated sharding reads its pod and StatefulSet.
                assert!(
                    autoshard,
                    "{what}: {role_name} grants {resources:?} without --pod"
                );
                assert_eq!(verbs, BTreeSet::from(["get".to_string()]), "{what}");
                for resource in resources {
                    assert!(
                        ["pods", "statefulsets"].contains(&resource.as_str()),
                        "{what}: {role_name} grants {resource}"
                    );
                }
            }
        }
        let want: BTreeMap<String, usize> = lease_namespaces.into_iter().map(|n| (n, 1)).collect();
        assert_eq!(
            lease_grants, want,
            "{what}: one Role granting leases in each namespace it elects in, none elsewhere"
        );
    }
    // Together the workloads cover the default set (pods-daemonset: the Deployment), unless
    // they report custom resources only.
    if custom_only == workloads.len() {
        return;
    }
    for kind in rbac::default_resources() {
        assert!(all_watched.contains(kind), "{label}: nobody watches {kind}");
    }
}

/// Every verb each (API group, resource) is granted by the Roles and ClusterRoles bound to
/// `account` in `namespace`, namespaces aside, as (group, resource, verbs); `*` as written.
fn granted_verbs(
    docs: &[Value],
    account: &str,
    namespace: &str,
) -> Vec<(String, String, Vec<String>)> {
    let mut granted = Vec::new();
    for binding in docs
        .iter()
        .filter(|d| ["RoleBinding", "ClusterRoleBinding"].contains(&kind(d)))
    {
        let binds = seq(get(binding, &["subjects"])).into_iter().any(|sub| {
            s(sub, &["name"]) == Some(account) && s(sub, &["namespace"]) == Some(namespace)
        });
        if !binds {
            continue;
        }
        let role_kind = s(binding, &["roleRef", "kind"]).unwrap();
        let role_name = s(binding, &["roleRef", "name"]).unwrap();
        let role = docs
            .iter()
            .find(|d| kind(d) == role_kind && name(d) == role_name)
            .expect("the bound role");
        for rule in seq(get(role, &["rules"])) {
            for group in strings(get(rule, &["apiGroups"])) {
                for resource in strings(get(rule, &["resources"])) {
                    granted.push((group.clone(), resource, strings(get(rule, &["verbs"]))));
                }
            }
        }
    }
    granted
}

/// Makes `emulator` answer `account` (in `namespace`) as the RBAC of `docs` would, namespaces
/// aside: every resource it serves now (built-in, and custom of the CRDs loaded so far) allows
/// exactly the verbs granted on it (a rule's `*` covers every resource of its group) and
/// answers 403 Forbidden to every other verb.
pub fn enforce_rbac(
    emulator: &kube_emulator::Emulator,
    docs: &[Value],
    account: &str,
    namespace: &str,
) {
    let granted = granted_verbs(docs, account, namespace);
    let served: BTreeSet<(&str, &str)> = emulator
        .surface()
        .served()
        .into_iter()
        .map(|gvr| (gvr.group, gvr.resource))
        .collect();
    for (group, resource) in served {
        let mut verbs: Vec<&str> = granted
            .iter()
            .filter(|(g, r, _)| g == group && (r == resource || r == "*"))
            .flat_map(|(_, _, verbs)| verbs.iter().map(String::as_str))
            .collect();
        verbs.sort_unstable();
        verbs.dedup();
        // `plural.group`, `pods.` for the core group (`pods` alone could name another group's).
        let name = format!("{resource}.{group}");
        emulator
            .grant_only(&name, &verbs)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

// ---- Secure endpoints: the web config, what the pod mounts, how it is probed and scraped ----

/// exporter-toolkit's `client_auth_type`s under which every connection must show a certificate.
pub const REQUIRES_CLIENT_CERT: &[&str] = &["RequireAnyClientCert", "RequireAndVerifyClientCert"];

/// The Kubernetes API calls of `--auth-filter` (TokenReview, SubjectAccessReview), as
/// (API group, resource), each with verb create only.
pub const AUTH_FILTER_GRANTS: &[(&str, &str)] = &[
    ("authentication.k8s.io", "tokenreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
];

/// The value of `--{flag}=` among `args`.
pub fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("--{flag}=")))
}

/// The exporter's volume mounted at the deepest mountPath holding `path`, that mountPath, and
/// the volume.
fn mount_of<'a>(workload: &'a Value, path: &str) -> Option<(&'a str, &'a Value)> {
    let mount = seq(get(exporter_container(workload), &["volumeMounts"]))
        .into_iter()
        .filter_map(|m| Some((s(m, &["mountPath"])?, s(m, &["name"])?)))
        .filter(|(dir, _)| path.starts_with(&format!("{dir}/")))
        .max_by_key(|(dir, _)| dir.len())?;
    let volume = seq(get(workload, &["spec", "template", "spec", "volumes"]))
        .into_iter()
        .find(|v| s(v, &["name"]) == Some(mount.1))?;
    Some((mount.0, volume))
}

/// The files of a ConfigMap or Secret volume as the pod sees them; None for a Secret that is
/// not among `docs` (made outside the manifests: cert-manager's, the user's).
fn volume_files(volume: &Value, docs: &[Value]) -> Option<BTreeMap<String, String>> {
    let (object_kind, object) = match (
        s(volume, &["configMap", "name"]),
        s(volume, &["secret", "secretName"]),
    ) {
        (Some(name), _) => ("ConfigMap", name),
        (_, Some(name)) => ("Secret", name),
        _ => panic!("{volume:?}: neither a ConfigMap nor a Secret"),
    };
    let doc = docs
        .iter()
        .find(|d| kind(d) == object_kind && name(d) == object);
    let Some(doc) = doc else {
        assert_eq!(
            object_kind, "Secret",
            "ConfigMap {object} is not in the manifests"
        );
        return None;
    };
    let mut files = BTreeMap::new();
    for (field, encoded) in [("data", object_kind == "Secret"), ("stringData", false)] {
        let Some(map) = get(doc, &[field]).and_then(Value::as_mapping) else {
            continue;
        };
        for (key, value) in map {
            let value = value.as_str().expect("a string value");
            let text = if encoded {
                decode_secret_value(&format!("{object_kind} {object}: {key:?}"), value)
            } else {
                value.to_string()
            };
            files.insert(key.as_str().unwrap().to_string(), text);
        }
    }
    Some(files)
}

/// A Secret's `data` value, base64-decoded.
pub fn decode_secret_value(what: &str, value: &str) -> String {
    use base64::Engine;
    // Long values may come folded over lines.
    let value: String = value.split_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    String::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The web config the exporter's `--tls-config` names, parsed, from the Secret or ConfigMap
/// mounted there (which must be among `docs`); None without the flag.
pub fn web_config(what: &str, workload: &Value, docs: &[Value]) -> Option<Value> {
    let args = strings(get(exporter_container(workload), &["args"]));
    let path = flag_value(&args, "tls-config")?;
    let (dir, volume) =
        mount_of(workload, path).unwrap_or_else(|| panic!("{what}: nothing mounted at {path}"));
    let files = volume_files(volume, docs)
        .unwrap_or_else(|| panic!("{what}: the web config's Secret is not in the manifests"));
    let file = &path[dir.len() + 1..];
    let text = files
        .get(file)
        .unwrap_or_else(|| panic!("{what}: {file} is not in the volume mounted at {dir}"));
    Some(serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{what}: {path}: {e}")))
}

/// Whether every request needs credentials the kubelet's probes cannot give: basic auth, or a
/// client certificate.
fn wants_credentials(config: &Value) -> bool {
    let basic = get(config, &["basic_auth_users"])
        .and_then(Value::as_mapping)
        .is_some_and(|users| !users.is_empty());
    let auth_type = s(config, &["tls_server_config", "client_auth_type"]).unwrap_or_default();
    basic || REQUIRES_CLIENT_CERT.contains(&auth_type)
}

/// A test CA with a server certificate for the Service's DNS name and 127.0.0.1, and a client
/// certificate: what cert-manager would put in the Secrets the manifests mount but do not
/// make.
pub struct TestPki {
    pub ca: rcgen::Certificate,
    server: (String, String),
    client: (String, String),
}

/// The name the ServiceMonitors verify the serving certificate against.
pub const SERVER_NAME: &str = "kube-state-otel.monitoring.svc";

impl TestPki {
    pub fn new() -> TestPki {
        let ca = crate::pki::TestCa::new();
        let pem = |issued: crate::pki::Issued| (issued.cert_pem(), issued.key_pem());
        TestPki {
            server: pem(ca.issue(&[SERVER_NAME, "127.0.0.1"])),
            client: pem(ca.issue(&["prometheus"])),
            ca: ca.cert,
        }
    }

    /// A kubernetes.io/tls Secret's files as cert-manager writes them.
    fn secret_files(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("tls.crt".to_string(), self.server.0.clone()),
            ("tls.key".to_string(), self.server.1.clone()),
            ("ca.crt".to_string(), self.ca.pem()),
        ])
    }

    /// The client certificate and key, PEM.
    pub fn client(&self) -> &(String, String) {
        &self.client
    }
}

/// The exporter container's volumes written out under a temporary root, as the kubelet mounts
/// them: ConfigMaps and Secrets of the manifests as they are, Secrets made outside them as
/// [`TestPki`]'s certificate files. Each in the kubelet's layout (its AtomicWriter): the files
/// in a versioned hidden directory, `..data` a symlink to it, and each file a symlink through
/// `..data`, so that [`Mounts::update`] swaps them as the kubelet applies an edited ConfigMap.
/// No mount may use `subPath`: the kubelet never updates those, and the binary re-reads every
/// file it is given when it changes.
pub struct Mounts {
    pub root: tempfile::TempDir,
}

impl Mounts {
    pub fn new(what: &str, workload: &Value, docs: &[Value], pki: &TestPki) -> Mounts {
        let root = tempfile::tempdir().expect("temp dir");
        for mount in seq(get(exporter_container(workload), &["volumeMounts"])) {
            let dir = s(mount, &["mountPath"]).expect("mountPath");
            let volume = seq(get(workload, &["spec", "template", "spec", "volumes"]))
                .into_iter()
                .find(|v| s(v, &["name"]) == s(mount, &["name"]))
                .unwrap_or_else(|| panic!("{what}: no volume for the mount at {dir}"));
            assert!(
                get(mount, &["subPath"]).is_none(),
                "{what}: subPath at {dir}: the kubelet never updates it, so nothing there reloads"
            );
            let files = volume_files(volume, docs).unwrap_or_else(|| pki.secret_files());
            let local = root.path().join(dir.trim_start_matches('/'));
            std::fs::create_dir_all(&local).unwrap();
            write_volume(&local, &files);
        }
        Mounts { root }
    }

    /// Replaces `file` of the volume mounted at the pod's `dir` with `text`, as the kubelet
    /// does when the ConfigMap changes: a new version directory, then one atomic rename of the
    /// `..data` symlink.
    pub fn update(&self, dir: &str, file: &str, text: &str) {
        let local = self.root.path().join(dir.trim_start_matches('/'));
        let data = local.join("..data");
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(&data).expect("..data") {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            files.insert(name, std::fs::read_to_string(&path).unwrap());
        }
        assert!(files.contains_key(file), "no {file} at {dir}");
        files.insert(file.to_string(), text.to_string());
        write_volume(&local, &files);
    }

    /// Where the pod's absolute `path` is here; panics when no volume provides that file.
    pub fn path(&self, what: &str, path: &str) -> PathBuf {
        let local = self.root.path().join(path.trim_start_matches('/'));
        assert!(local.is_file(), "{what}: no mounted file at {path}");
        local
    }

    /// A copy of the web config at the pod's `path` whose file paths point here (the only
    /// change), for promtool and the binary to read outside the pod.
    pub fn web_config(&self, what: &str, path: &str) -> PathBuf {
        let text = std::fs::read_to_string(self.path(what, path)).unwrap();
        let mut config: Value = serde_yaml_ng::from_str(&text).expect("web config YAML");
        if let Some(server) = config.get_mut("tls_server_config") {
            for key in ["cert_file", "key_file", "client_ca_file"] {
                if let Some(Value::String(file)) = server.get_mut(key) {
                    *file = self.path(what, file).display().to_string();
                }
            }
        }
        let local = self.root.path().join("web-config.local.yaml");
        std::fs::write(&local, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
        local
    }

    /// The exporter's args with each file it names (`--flag=/absolute/path`) pointed here; the
    /// web config as [`Mounts::web_config`].
    pub fn args(&self, what: &str, args: &[String]) -> Vec<String> {
        args.iter()
            .map(|arg| match arg.split_once("=/") {
                Some(("--tls-config", path)) => format!(
                    "--tls-config={}",
                    self.web_config(what, &format!("/{path}")).display()
                ),
                Some((flag, path)) => {
                    format!("{flag}={}", self.path(what, &format!("/{path}")).display())
                }
                None => arg.clone(),
            })
            .collect()
    }
}

/// Writes `files` into the volume directory `local` as the kubelet's AtomicWriter does:
/// `..<version>/<file>`, `..data` → `..<version>` (swapped with a rename), `<file>` →
/// `..data/<file>`.
fn write_volume(local: &Path, files: &BTreeMap<String, String>) {
    let version = std::fs::read_dir(local)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("..v")
        })
        .count();
    let versioned = format!("..v{version}");
    std::fs::create_dir(local.join(&versioned)).unwrap();
    for (file, text) in files {
        std::fs::write(local.join(&versioned).join(file), text).unwrap();
    }
    let tmp = local.join("..data_tmp");
    std::os::unix::fs::symlink(&versioned, &tmp).unwrap();
    std::fs::rename(&tmp, local.join("..data")).unwrap();
    for file in files.keys() {
        let link = local.join(file);
        if link.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(format!("..data/{file}"), &link).unwrap();
        }
    }
}

/// `promtool check web-config` on the web config the exporter's `--tls-config` names, with
/// the files it names where the pod mounts them; returns whether there was one.
pub fn check_web_config_with_promtool(what: &str, workload: &Value, docs: &[Value]) -> bool {
    let args = strings(get(exporter_container(workload), &["args"]));
    let Some(path) = flag_value(&args, "tls-config") else {
        return false;
    };
    let pki = TestPki::new();
    let mounts = Mounts::new(what, workload, docs, &pki);
    let local = mounts.web_config(what, path);
    check_tool_passes(
        &format!("{what}: promtool check web-config {path}"),
        std::process::Command::new("promtool")
            .args(["check", "web-config"])
            .arg(&local),
        "promtool (Debian: prometheus)",
    );
    true
}

/// The pod runs as kube-state-metrics' manifests run it (non-root 65534, read-only root,
/// no privilege escalation or capabilities, RuntimeDefault seccomp), every container has
/// requests, a memory limit and probes, and the exporter serves http-metrics 8080 and
/// telemetry 8081, probed as [`check_probes`] says.
pub fn check_pod(what: &str, workload: &Value, docs: &[Value]) {
    let pod = get(workload, &["spec", "template", "spec"]).unwrap();
    let pod_sc = get(pod, &["securityContext"]).expect("pod securityContext");
    assert_eq!(
        get(pod_sc, &["runAsNonRoot"]).and_then(Value::as_bool),
        Some(true),
        "{what}"
    );
    for id in ["runAsUser", "runAsGroup", "fsGroup"] {
        assert_eq!(
            get(pod_sc, &[id]).and_then(Value::as_u64),
            Some(65534),
            "{what}: {id}"
        );
    }
    assert_eq!(
        s(pod_sc, &["seccompProfile", "type"]),
        Some("RuntimeDefault"),
        "{what}"
    );
    for container in seq(get(pod, &["containers"])) {
        let c = format!("{what} container {}", s(container, &["name"]).unwrap());
        let sc = get(container, &["securityContext"]).expect("securityContext");
        for (key, want) in [
            ("allowPrivilegeEscalation", false),
            ("readOnlyRootFilesystem", true),
            ("runAsNonRoot", true),
        ] {
            assert_eq!(
                get(sc, &[key]).and_then(Value::as_bool),
                Some(want),
                "{c}: {key}"
            );
        }
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
    // Secrets (keys) are mounted readable by the pod's group (fsGroup) only.
    for volume in seq(get(pod, &["volumes"])) {
        if let Some(secret) = get(volume, &["secret"]) {
            let mode = get(secret, &["defaultMode"]).and_then(Value::as_u64);
            assert_eq!(mode, Some(0o440), "{what}: {volume:?}");
        }
    }
    check_ports(
        what,
        get(exporter_container(workload), &["ports"]),
        "containerPort",
    );
    check_probes(what, workload, docs);
}

/// `ports` (a container's or a Service's, `number` naming the port's field) are exactly
/// http-metrics 8080 and telemetry 8081.
pub fn check_ports(what: &str, ports: Option<&Value>, number: &str) {
    let ports: BTreeMap<&str, u64> = seq(ports)
        .into_iter()
        .map(|p| {
            (
                s(p, &["name"]).unwrap(),
                get(p, &[number]).and_then(Value::as_u64).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        BTreeMap::from([("http-metrics", 8080), ("telemetry", 8081)]),
        "{what}"
    );
}

/// Runs `command`, a checking tool, and fails with its output unless it passes; a missing tool
/// fails too (`tool` names it and its package: scripts/test.sh installs it).
pub fn check_tool_passes(what: &str, command: &mut std::process::Command, tool: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{tool} must be installed ({e}): scripts/test.sh does"));
    assert!(
        output.status.success(),
        "{what}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The exporter's probes: `/livez` and `/readyz` on http-metrics, over HTTPS when the web
/// config serves TLS (the kubelet does not verify the certificate); a TCP check when every
/// request needs credentials the kubelet cannot give.
pub fn check_probes(what: &str, workload: &Value, docs: &[Value]) {
    let config = web_config(what, workload, docs);
    let tls = config
        .as_ref()
        .is_some_and(|c| get(c, &["tls_server_config"]).is_some());
    let tcp = config.as_ref().is_some_and(wants_credentials);
    let exporter = exporter_container(workload);
    for (probe, path) in [("livenessProbe", "/livez"), ("readinessProbe", "/readyz")] {
        let probe = get(exporter, &[probe]).unwrap();
        if tcp {
            assert_eq!(
                s(probe, &["tcpSocket", "port"]),
                Some("http-metrics"),
                "{what}"
            );
            assert!(get(probe, &["httpGet"]).is_none(), "{what}: {path}");
            continue;
        }
        assert_eq!(s(probe, &["httpGet", "path"]), Some(path), "{what}");
        assert_eq!(
            s(probe, &["httpGet", "port"]),
            Some("http-metrics"),
            "{what}"
        );
        let scheme = s(probe, &["httpGet", "scheme"]).unwrap_or("HTTP");
        assert_eq!(scheme, if tls { "HTTPS" } else { "HTTP" }, "{what}: {path}");
    }
}

/// The ServiceMonitor scrapes as the exporters serve: https with the serving certificate's CA
/// and the Service's DNS name when the web config serves TLS (and a client certificate when it
/// requires one), a bearer token with `--auth-filter`, basic auth with `basic_auth_users`.
fn check_scrape_security(path: &str, monitor: &Value, service: &Value, docs: &[Value]) {
    let mut served = docs
        .iter()
        .filter(|d| WORKLOADS.contains(&kind(d)))
        .map(|w| {
            let what = format!("{path}: {} {}", kind(w), name(w));
            let args = strings(get(exporter_container(w), &["args"]));
            let config = web_config(&what, w, docs);
            // The Secret the serving certificate comes from.
            let cert_secret = config
                .as_ref()
                .and_then(|c| s(c, &["tls_server_config", "cert_file"]))
                .map(|file| {
                    let (_, volume) = mount_of(w, file)
                        .unwrap_or_else(|| panic!("{what}: nothing mounted at {file}"));
                    s(volume, &["secret", "secretName"])
                        .expect("a Secret")
                        .to_string()
                });
            (
                config,
                args.contains(&"--auth-filter".to_string()),
                cert_secret,
            )
        })
        .collect::<Vec<_>>();
    served.dedup();
    assert_eq!(
        served.len(),
        1,
        "{path}: one ServiceMonitor, one way to scrape every workload"
    );
    let (config, auth_filter, cert_secret) = served.pop().unwrap();
    let tls = config.as_ref().and_then(|c| get(c, &["tls_server_config"]));
    let basic = config
        .as_ref()
        .and_then(|c| get(c, &["basic_auth_users"]))
        .and_then(Value::as_mapping)
        .is_some_and(|users| !users.is_empty());
    let server_name = format!(
        "{}.{}.svc",
        name(service),
        s(service, &["metadata", "namespace"]).expect("namespace")
    );
    for endpoint in seq(get(monitor, &["spec", "endpoints"])) {
        let port = s(endpoint, &["port"]).unwrap();
        let what = format!("{path}: ServiceMonitor endpoint {port}");
        let scheme = s(endpoint, &["scheme"]);
        let tls_config = get(endpoint, &["tlsConfig"]);
        match tls {
            Some(server) => {
                assert_eq!(scheme, Some("https"), "{what}");
                let tls_config = tls_config.unwrap_or_else(|| panic!("{what}: tlsConfig"));
                assert_eq!(
                    s(tls_config, &["serverName"]),
                    Some(server_name.as_str()),
                    "{what}"
                );
                assert_eq!(
                    s(tls_config, &["ca", "secret", "name"]),
                    cert_secret.as_deref(),
                    "{what}: the CA of the serving certificate's Secret"
                );
                assert!(s(tls_config, &["ca", "secret", "key"]).is_some(), "{what}");
                let auth_type = s(server, &["client_auth_type"]).unwrap_or_default();
                if REQUIRES_CLIENT_CERT.contains(&auth_type) {
                    assert!(
                        s(tls_config, &["cert", "secret", "name"]).is_some()
                            && s(tls_config, &["keySecret", "name"]).is_some(),
                        "{what}: {auth_type} needs Prometheus' client certificate"
                    );
                }
            }
            None => {
                assert_eq!(scheme, Some("http"), "{what}");
                assert!(tls_config.is_none(), "{what}");
            }
        }
        let token = [
            get(endpoint, &["bearerTokenFile"]).is_some(),
            get(endpoint, &["authorization", "credentials", "name"]).is_some(),
        ];
        assert_eq!(
            token.iter().filter(|t| **t).count(),
            usize::from(auth_filter),
            "{what}: a bearer token (file or authorization) exactly with --auth-filter"
        );
        let basic_auth = get(endpoint, &["basicAuth"]);
        assert_eq!(basic_auth.is_some(), basic, "{what}: basicAuth");
        if let Some(credentials) = basic_auth {
            for part in ["username", "password"] {
                assert!(
                    s(credentials, &[part, "name"]).is_some()
                        && s(credentials, &[part, "key"]).is_some(),
                    "{what}: basicAuth.{part} from a Secret"
                );
            }
        }
    }
}
