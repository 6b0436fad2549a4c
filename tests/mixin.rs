//! The kubernetes-mixin alerts and recording rules (`../shared/mixin/`) over the binary's real
//! output, unchanged except that their `for:` clauses are removed:
//!
//! - a live Prometheus scrapes the binary (`job="kube-state-metrics"`, as kube-prometheus
//!   names it) while the emulated cluster is healthy and then broken in known ways, and the
//!   alerts the mixin defines for those breakages must fire with the right labels;
//! - `promtool test rules` fires `KubePodCrashLooping` from a captured scrape, offline;
//! - every metric, label and label value the rules read is in a scrape;
//! - hostile objects of every kind leave the binary up and its scrape valid.
//!
//! Prometheus and promtool come from the Debian package `prometheus`; scripts/test.sh installs
//! it. Without them these tests fail (they never skip).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube_emulator::{Emulator, GeneratedCluster};
use serde_json::{Value, json};

mod harness;
use harness::prometheus::Prometheus;
use harness::{Exporter, newest_emulator, start_emulator, wait_for_within, which};

mod ksm;

mod scenarios;
use scenarios::{
    Alert, Group, SCENARIOS, meta, mixin_dir, namespace, now_unix, pod, rfc3339, rules_without_for,
};

/// The vector selectors of a PromQL expression (`name{matchers}` as written, or `name`),
/// found lexically: comments and string literals out, grouping label lists and durations
/// skipped, and identifiers that are functions, keywords or numbers ignored.
fn selectors(expr: &str) -> BTreeSet<String> {
    // Comments and strings out; `{…}` kept whole (its strings included), `[…]` emptied.
    let mut plain = String::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                plain.push('\n');
            }
            '"' | '\'' => {
                while let Some(s) = chars.next() {
                    if s == '\\' {
                        chars.next();
                    } else if s == c {
                        break;
                    }
                }
                plain.push_str("\"\"");
            }
            '{' => {
                plain.push('{');
                let mut quote = None;
                while let Some(m) = chars.next() {
                    plain.push(m);
                    match (quote, m) {
                        (Some(_), '\\') => plain.extend(chars.next()),
                        (Some(q), m) if m == q => quote = None,
                        (None, '"' | '\'') => quote = Some(m),
                        (None, '}') => break,
                        _ => {}
                    }
                }
            }
            '[' => {
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
                plain.push_str("[]");
            }
            _ => plain.push(c),
        }
    }
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "NaN",
        "Inf",
        "inf",
        "nan",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let bytes = plain.as_bytes();
    let mut found = BTreeSet::new();
    let mut i = 0;
    let ident_start = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b == b':';
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'{' {
            // A matcher list not after a name (after a name it was taken with the name).
            i += plain[i..].find('}').map_or(plain.len() - i, |p| p + 1);
            continue;
        }
        if b.is_ascii_digit() || b == b'.' {
            // A number (1e3, 0.95): skip it whole.
            while i < bytes.len() && (ident(bytes[i]) || bytes[i] == b'.') {
                i += 1;
            }
            continue;
        }
        if !ident_start(b) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && ident(bytes[i]) {
            i += 1;
        }
        let word = &plain[start..i];
        let rest = plain[i..].trim_start();
        if LABEL_LISTS.contains(&word) && rest.starts_with('(') {
            i = plain[i..].find(')').map_or(plain.len(), |p| i + p + 1);
            continue;
        }
        let modifier = ["by", "without"].iter().any(|m| {
            rest.strip_prefix(m)
                .is_some_and(|r| r.trim_start().starts_with('('))
        });
        if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
            || rest.starts_with('(')
            || modifier
        {
            // A keyword, a function, or an aggregation with its `by (…)` first.
            continue;
        }
        if rest.starts_with('{') {
            let open = plain.len() - rest.len();
            let close = plain[open..]
                .find('}')
                .map_or(plain.len(), |p| open + p + 1);
            let matchers: String = plain[open..close]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            found.insert(format!("{word}{matchers}"));
            i = close;
        } else {
            found.insert(word.to_string());
        }
    }
    found
}

/// The metric name of a selector.
fn selector_name(selector: &str) -> &str {
    selector.split('{').next().unwrap_or(selector)
}

// ---- Prometheus ----

/// Prometheus' alerts, read.
async fn alerts_of(prometheus: &Prometheus) -> Vec<Alert> {
    prometheus
        .alerts_json()
        .await
        .iter()
        .map(Alert::from_json)
        .collect()
}

/// The sum of a counter family over all its series in Prometheus' own metrics.
fn own_total(text: &str, family: &str) -> f64 {
    let values: Vec<f64> = harness::samples(text, family)
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(!values.is_empty(), "prometheus reports {family}");
    values.iter().sum()
}

// ---- Exposition text ----

#[derive(Clone, Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: String,
}

impl Sample {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one sample line of the text format (`name{a="x",…} value`), unescaping values.
fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=')?;
            let key = rest[..eq].trim_start_matches(',').to_string();
            let mut chars = rest[eq + 1..].strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break i,
                    c => value.push(c),
                }
            };
            labels.push((key, value));
            rest = &rest[eq + 1..][1 + end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let value = rest.strip_prefix(' ')?.to_string();
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Every sample of a scrape; panics on a line that does not parse.
fn parse_scrape(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_sample(l).unwrap_or_else(|| panic!("unparsable sample line: {l:?}")))
        .collect()
}

/// A label value as PromQL and promtool's series notation write it.
fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---- Objects ----

fn owned(mut object: Value, kind: &str, owner: &str) -> Value {
    let api = match kind {
        "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Deployment" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        _ => "v1",
    };
    object["metadata"]["ownerReferences"] = json!([{"apiVersion": api, "kind": kind,
        "name": owner, "uid": format!("uid-owner-{owner}"), "controller": true}]);
    object
}

fn deployment(namespace: &str, name: &str, spec: u32, available: u32, updated: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(namespace, name),
        "spec": {"replicas": spec, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                     {"name": "app", "image": "registry.example/app:1"}]}}},
        "status": {"observedGeneration": 1, "replicas": spec, "updatedReplicas": updated,
                   "readyReplicas": available, "availableReplicas": available,
                   "unavailableReplicas": spec - available.min(spec),
                   "conditions": [
                       {"type": "Available", "status": if available >= spec { "True" } else { "False" }},
                       {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    })
}

fn replicaset(namespace: &str, name: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta(namespace, name),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                     {"name": "app", "image": "registry.example/app:1"}]}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                   "availableReplicas": replicas, "fullyLabeledReplicas": replicas}
    })
}

fn statefulset(
    namespace: &str,
    name: &str,
    replicas: u32,
    ready: u32,
    updated: u32,
    revisions: (&str, &str),
) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(namespace, name),
        "spec": {"replicas": replicas, "serviceName": name,
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                     {"name": "app", "image": "registry.example/db:1"}]}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": ready,
                   "currentReplicas": replicas, "updatedReplicas": updated,
                   "availableReplicas": ready,
                   "currentRevision": revisions.0, "updateRevision": revisions.1}
    })
}

/// A DaemonSet: (desired, current, updated, available, misscheduled).
fn daemonset(namespace: &str, name: &str, counts: (u32, u32, u32, u32, u32)) -> Value {
    let (desired, current, updated, available, misscheduled) = counts;
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta(namespace, name),
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                     {"name": "agent", "image": "registry.example/agent:1"}]}}},
        "status": {"observedGeneration": 1, "desiredNumberScheduled": desired,
                   "currentNumberScheduled": current, "updatedNumberScheduled": updated,
                   "numberAvailable": available, "numberReady": available,
                   "numberMisscheduled": misscheduled,
                   "numberUnavailable": desired.saturating_sub(available)}
    })
}

/// A Job with the given status members.
fn job(namespace: &str, name: &str, status: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": meta(namespace, name),
        "spec": {"parallelism": 1, "completions": 1, "backoffLimit": 2,
                 "template": {"spec": {"restartPolicy": "Never", "containers": [
                     {"name": "task", "image": "registry.example/task:1"}]}}},
        "status": status
    })
}

/// An HPA: (min, max, current, desired).
fn hpa(namespace: &str, name: &str, replicas: (u32, u32, u32, u32)) -> Value {
    let (min, max, current, desired) = replicas;
    json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": meta(namespace, name),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                 "minReplicas": min, "maxReplicas": max,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                     "target": {"type": "Utilization", "averageUtilization": 80}}}]},
        "status": {"currentReplicas": current, "desiredReplicas": desired,
                   "conditions": [{"type": "AbleToScale", "status": "True"}]}
    })
}

fn persistent_volume(name: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "uid": format!("uid-pv-{name}"),
                     "creationTimestamp": rfc3339(now_unix() - 86_400)},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard",
                 "hostPath": {"path": "/data"}},
        "status": {"phase": phase}
    })
}

fn claim(namespace: &str, name: &str, mode: &str, labels: Value) -> Value {
    let mut metadata = meta(namespace, name);
    metadata["labels"] = labels;
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
        "spec": {"accessModes": [mode], "storageClassName": "standard",
                 "resources": {"requests": {"storage": "1Gi"}}, "volumeName": "pv-bound"},
        "status": {"phase": "Bound", "accessModes": [mode], "capacity": {"storage": "1Gi"}}
    })
}

fn pdb(namespace: &str, name: &str, desired: u32, current: u32) -> Value {
    json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(namespace, name),
        "spec": {"minAvailable": desired, "selector": {"matchLabels": {"app": name}}},
        "status": {"observedGeneration": 1, "currentHealthy": current, "desiredHealthy": desired,
                   "disruptionsAllowed": current.saturating_sub(desired), "expectedPods": current}
    })
}

fn quota(namespace: &str, name: &str, hard: Value, used: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta(namespace, name),
        "spec": {"hard": hard.clone()},
        "status": {"hard": hard, "used": used}
    })
}

/// A worker node; `conditions` override the healthy ones by type.
fn node(name: &str, conditions: &[(&str, &str)], taints: Value) -> Value {
    let mut all = [
        ("MemoryPressure", "False"),
        ("DiskPressure", "False"),
        ("PIDPressure", "False"),
        ("Ready", "True"),
    ];
    for (t, s) in conditions {
        all.iter_mut()
            .filter(|(have, _)| have == t)
            .for_each(|c| c.1 = s);
    }
    let conditions: Vec<Value> = all
        .iter()
        .map(|(t, s)| json!({"type": t, "status": s, "reason": format!("{t}{s}")}))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": format!("uid-node-{name}"),
                     "creationTimestamp": rfc3339(now_unix() - 86_400),
                     "labels": {"kubernetes.io/hostname": name,
                                "node-role.kubernetes.io/worker": ""}},
        "spec": {"taints": taints, "providerID": format!("test:///{name}")},
        "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                   "allocatable": {"cpu": "3900m", "memory": "15Gi", "pods": "110"},
                   "conditions": conditions,
                   "addresses": [{"type": "InternalIP", "address": "10.0.9.9"}],
                   "nodeInfo": {"kubeletVersion": "v1.33.1", "kernelVersion": "6.1.0",
                                "osImage": "Debian GNU/Linux 12", "containerRuntimeVersion": "containerd://1.7.0",
                                "kubeProxyVersion": "v1.33.1", "systemUUID": "0", "bootID": "0",
                                "machineID": "0", "operatingSystem": "linux", "architecture": "amd64"}}
    })
}

/// A generated cluster with nothing wrong: no crash-looping or pending pods (the generator
/// makes ~2% and ~0.5% by default).
fn healthy_generated() -> GeneratedCluster {
    let mut cluster = GeneratedCluster::new(4, 5, 11);
    cluster.crashloop_ratio = 0.0;
    cluster.pending_ratio = 0.0;
    cluster
}

/// One healthy object of each kind the scenarios break, plus the pods of the workload kinds,
/// in namespace `healthy`: the alerts must stay quiet over them.
fn healthy_objects(node: &str) -> Vec<Value> {
    let ns = "healthy";
    let now = now_unix();
    let running = |name: &str, kind: &str, owner: &str| {
        owned(pod(ns, name, node, "Running", true, None), kind, owner)
    };
    let mut job_pod = owned(
        pod(ns, "nightly-29000000-x7k2p", node, "Succeeded", false, None),
        "Job",
        "nightly-29000000",
    );
    job_pod["status"]["containerStatuses"][0]["state"] =
        json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
    let completed = |name: &str| {
        job(
            ns,
            name,
            json!({"startTime": rfc3339(now - 3600), "completionTime": rfc3339(now - 3000),
                   "succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
        )
    };
    let mut migrate_pod = owned(
        pod(ns, "migrate-5kq2w", node, "Succeeded", false, None),
        "Job",
        "migrate",
    );
    migrate_pod["status"]["containerStatuses"][0]["state"] =
        json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
    let mut static_pod = owned(
        pod(
            "kube-system",
            &format!("kube-apiserver-{node}"),
            node,
            "Running",
            true,
            None,
        ),
        "Node",
        node,
    );
    static_pod["metadata"]["uid"] = json!("uid-static-kube-apiserver");
    vec![
        namespace(ns),
        // Every kind of pod owner the pod-owner recording rules tell apart.
        replicaset(ns, "bare-rs", 1),
        running("bare-rs-9sd8f", "ReplicaSet", "bare-rs"),
        owned(replicaset(ns, "canary-7d9f8", 1), "Rollout", "canary"),
        running("canary-7d9f8-2kx9c", "ReplicaSet", "canary-7d9f8"),
        running("etl-step-1", "Workflow", "etl"),
        static_pod,
        completed("migrate"),
        migrate_pod,
        claim(
            ns,
            "scratch",
            "ReadWriteOnce",
            json!({"excluded_from_alerts": "true"}),
        ),
        claim(ns, "shared", "ReadOnlyMany", json!({"app": "web"})),
        deployment(ns, "web", 2, 2, 2),
        statefulset(ns, "db", 2, 2, 2, ("db-1", "db-1")),
        running("db-0", "StatefulSet", "db"),
        running("db-1", "StatefulSet", "db"),
        daemonset(ns, "agent", (1, 1, 1, 1, 0)),
        running("agent-q8x4z", "DaemonSet", "agent"),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(ns, "nightly"),
               "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                   "restartPolicy": "Never",
                   "containers": [{"name": "task", "image": "registry.example/task:1"}]}}}}},
               "status": {"lastScheduleTime": rfc3339(now - 3600),
                          "lastSuccessfulTime": rfc3339(now - 3000)}}),
        owned(completed("nightly-29000000"), "CronJob", "nightly"),
        job_pod,
        hpa(ns, "web", (1, 5, 2, 2)),
        persistent_volume("pv-bound", "Bound"),
        claim(ns, "data", "ReadWriteOnce", json!({"app": "db"})),
        pdb(ns, "db", 1, 2),
        quota(
            ns,
            "compute",
            json!({"pods": "20", "requests.cpu": "4", "requests.memory": "8Gi"}),
            json!({"pods": "6", "requests.cpu": "600m", "requests.memory": "384Mi"}),
        ),
    ]
}

/// An alert that must fire, identified by these labels (a subset of its labels).
struct Expected {
    alert: &'static str,
    labels: Vec<(&'static str, &'static str)>,
}

fn expect(alert: &'static str, labels: &[(&'static str, &'static str)]) -> Expected {
    Expected {
        alert,
        labels: labels.to_vec(),
    }
}

/// Objects with known faults, in namespace `scenarios` (and cluster-scoped ones named after
/// their fault), and every alert they must fire — exactly: for these alert names no other
/// instance may fire. `node` is a generated node for the pods.
fn broken_objects(node_name: &str) -> (Vec<Value>, Vec<Expected>) {
    let ns = SCENARIOS;
    let now = now_unix();
    let mut rolled_back = deployment(ns, "rolled-back", 1, 1, 1);
    rolled_back["metadata"]["generation"] = json!(3);
    rolled_back["status"]["observedGeneration"] = json!(2);
    let mut stuck = deployment(ns, "stuck", 1, 1, 1);
    stuck["status"]["conditions"][1] = json!({"type": "Progressing", "status": "False",
        "reason": "ProgressDeadlineExceeded"});
    let mut sts_generation = statefulset(ns, "sts-generation", 1, 1, 1, ("g-1", "g-1"));
    sts_generation["metadata"]["generation"] = json!(2);
    let mut hog = pod(ns, "hog", node_name, "Running", true, None);
    hog["spec"]["containers"][0]["resources"]["requests"] = json!({"cpu": "100k", "memory": "1Pi"});
    let mut evicted = pod(ns, "evicted", node_name, "Failed", false, None);
    evicted["status"]["reason"] = json!("Evicted");
    evicted["status"]["containerStatuses"][0]["state"] =
        json!({"terminated": {"exitCode": 137, "reason": "Error"}});
    let objects = vec![
        namespace(ns),
        // Pods (bare: the mixin reads an empty owner_kind as a bare pod).
        pod(
            ns,
            "crashloop",
            node_name,
            "Running",
            false,
            Some("CrashLoopBackOff"),
        ),
        pod(
            ns,
            "creating",
            node_name,
            "Pending",
            false,
            Some("ContainerCreating"),
        ),
        pod(ns, "unready", node_name, "Running", false, None),
        hog,
        evicted,
        // Workloads.
        deployment(ns, "unavailable", 3, 1, 3),
        rolled_back,
        stuck,
        statefulset(ns, "sts-short", 3, 1, 3, ("s-1", "s-1")),
        sts_generation,
        statefulset(ns, "sts-rollout", 3, 3, 1, ("r-1", "r-2")),
        daemonset(ns, "ds-stuck", (3, 3, 1, 3, 0)),
        daemonset(ns, "ds-unscheduled", (3, 2, 2, 2, 0)),
        daemonset(ns, "ds-misscheduled", (3, 3, 3, 3, 1)),
        job(
            ns,
            "failed",
            json!({"startTime": rfc3339(now - 600), "failed": 3,
                   "conditions": [{"type": "Failed", "status": "True",
                                   "reason": "BackoffLimitExceeded"}]}),
        ),
        job(
            ns,
            "slow",
            json!({"startTime": rfc3339(now - 13 * 3600), "active": 1}),
        ),
        hpa(ns, "maxed", (1, 4, 4, 4)),
        hpa(ns, "mismatch", (1, 10, 3, 5)),
        pdb(ns, "pdb-short", 3, 1),
        // Quotas: 120%, 100% and 95% used; and quotas beyond the cluster's capacity.
        quota(ns, "over", json!({"pods": "10"}), json!({"pods": "12"})),
        quota(ns, "full", json!({"pods": "10"}), json!({"pods": "10"})),
        quota(ns, "almost", json!({"pods": "100"}), json!({"pods": "95"})),
        quota(
            ns,
            "huge",
            json!({"requests.cpu": "100k", "requests.memory": "1Pi"}),
            json!({"requests.cpu": "0", "requests.memory": "0"}),
        ),
        // Nodes and volumes.
        node("node-notready", &[("Ready", "False")], json!([])),
        node("node-pressure", &[("MemoryPressure", "True")], json!([])),
        node(
            "node-unreachable",
            &[],
            json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}]),
        ),
        node("node-flapping", &[], json!([])),
        // Unreachable but being removed by the autoscaler: KubeNodeUnreachable skips it.
        node(
            "node-autoscaled",
            &[],
            json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
                   {"key": "ToBeDeletedByClusterAutoscaler", "value": "1750000000",
                    "effect": "NoSchedule"}]),
        ),
        persistent_volume("pv-failed", "Failed"),
    ];
    let pod_labels = |pod: &'static str| [("namespace", ns), ("pod", pod)];
    let expected = vec![
        // The six of the issue.
        expect(
            "KubePodCrashLooping",
            &[
                ("namespace", ns),
                ("pod", "crashloop"),
                ("container", "app"),
                ("reason", "CrashLoopBackOff"),
                ("uid", "uid-scenarios-crashloop"),
                ("job", "kube-state-metrics"),
                ("severity", "warning"),
            ],
        ),
        expect(
            "KubeDeploymentReplicasMismatch",
            &[
                ("namespace", ns),
                ("deployment", "unavailable"),
                ("severity", "warning"),
            ],
        ),
        expect(
            "KubeNodeNotReady",
            &[("node", "node-notready"), ("severity", "warning")],
        ),
        expect(
            "KubeJobFailed",
            &[
                ("namespace", ns),
                ("job_name", "failed"),
                ("condition", "true"),
                ("severity", "warning"),
            ],
        ),
        expect(
            "KubeHpaMaxedOut",
            &[
                ("namespace", ns),
                ("horizontalpodautoscaler", "maxed"),
                ("severity", "warning"),
            ],
        ),
        expect(
            "KubePersistentVolumeErrors",
            &[
                ("persistentvolume", "pv-failed"),
                ("phase", "Failed"),
                ("severity", "critical"),
            ],
        ),
        // The rest of what kube-state-metrics' data alone can fire.
        expect("KubePodNotReady", &pod_labels("crashloop")),
        expect("KubePodNotReady", &pod_labels("creating")),
        expect("KubePodNotReady", &pod_labels("unready")),
        expect(
            "KubeContainerWaiting",
            &[
                ("namespace", ns),
                ("pod", "creating"),
                ("container", "app"),
                ("reason", "ContainerCreating"),
            ],
        ),
        expect(
            "KubeDeploymentGenerationMismatch",
            &[("namespace", ns), ("deployment", "rolled-back")],
        ),
        expect(
            "KubeDeploymentRolloutStuck",
            &[("namespace", ns), ("deployment", "stuck")],
        ),
        expect(
            "KubeStatefulSetReplicasMismatch",
            &[("namespace", ns), ("statefulset", "sts-short")],
        ),
        expect(
            "KubeStatefulSetGenerationMismatch",
            &[("namespace", ns), ("statefulset", "sts-generation")],
        ),
        expect(
            "KubeStatefulSetUpdateNotRolledOut",
            &[("namespace", ns), ("statefulset", "sts-rollout")],
        ),
        expect(
            "KubeDaemonSetRolloutStuck",
            &[("namespace", ns), ("daemonset", "ds-stuck")],
        ),
        expect(
            "KubeDaemonSetRolloutStuck",
            &[("namespace", ns), ("daemonset", "ds-unscheduled")],
        ),
        expect(
            "KubeDaemonSetRolloutStuck",
            &[("namespace", ns), ("daemonset", "ds-misscheduled")],
        ),
        expect(
            "KubeDaemonSetNotScheduled",
            &[("namespace", ns), ("daemonset", "ds-unscheduled")],
        ),
        expect(
            "KubeDaemonSetMisScheduled",
            &[("namespace", ns), ("daemonset", "ds-misscheduled")],
        ),
        expect(
            "KubeJobNotCompleted",
            &[("namespace", ns), ("job_name", "slow")],
        ),
        expect(
            "KubeHpaReplicasMismatch",
            &[("namespace", ns), ("horizontalpodautoscaler", "mismatch")],
        ),
        expect(
            "KubePdbNotEnoughHealthyPods",
            &[("namespace", ns), ("poddisruptionbudget", "pdb-short")],
        ),
        expect(
            "KubeQuotaExceeded",
            &[
                ("namespace", ns),
                ("resourcequota", "over"),
                ("resource", "pods"),
            ],
        ),
        expect(
            "KubeQuotaFullyUsed",
            &[
                ("namespace", ns),
                ("resourcequota", "full"),
                ("resource", "pods"),
            ],
        ),
        expect(
            "KubeQuotaAlmostFull",
            &[
                ("namespace", ns),
                ("resourcequota", "almost"),
                ("resource", "pods"),
            ],
        ),
        expect("KubeCPUQuotaOvercommit", &[]),
        expect("KubeMemoryQuotaOvercommit", &[]),
        expect("KubeCPUOvercommit", &[]),
        expect("KubeMemoryOvercommit", &[]),
        expect(
            "KubeNodePressure",
            &[("node", "node-pressure"), ("condition", "MemoryPressure")],
        ),
        expect("KubeNodeUnreachable", &[("node", "node-unreachable")]),
        // The exporter's own errors: a kind it may no longer watch (see the test).
        expect("KubeStateMetricsWatchErrors", &[("severity", "critical")]),
    ];
    (objects, expected)
}

/// Alerts that fire in any cluster these tests build, because the targets they watch for
/// (kubelets, control-plane components) are not scraped here.
const MISSING_TARGET_ALERTS: &[&str] = &[
    "KubeletDown",
    "KubeAPIDown",
    "KubeSchedulerDown",
    "KubeControllerManagerDown",
    "KubeProxyDown",
];

fn firing<'a>(alerts: &'a [Alert], name: &str) -> Vec<&'a Alert> {
    alerts
        .iter()
        .filter(|a| a.name() == name && a.state == "firing")
        .collect()
}

fn describe(alerts: &[&Alert]) -> String {
    alerts
        .iter()
        .map(|a| format!("  {} {:?}\n", a.state, a.labels))
        .collect()
}

// ---- 1. Live Prometheus ----

/// The storage alerts skip claims labelled `excluded_from_alerts=true`, which they read from
/// `kube_persistentvolumeclaim_labels`: empty unless the allowlist names the key (as with
/// kube-state-metrics).
const EXPORTER_FLAGS: &[&str] = &[
    "--metric-labels-allowlist",
    "persistentvolumeclaims=[excluded_from_alerts]",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixin_alerts_fire_in_a_live_prometheus() {
    let t0 = Instant::now();
    let rules_dir = tempfile::tempdir().expect("temp dir");
    let (rule_files, groups) = rules_without_for(rules_dir.path());

    let emulator = start_emulator(Emulator::with_cluster(&healthy_generated())).await;
    let e = emulator.emulator();
    let node_name = e.list("nodes").expect("nodes")[0]["metadata"]["name"]
        .as_str()
        .expect("node name")
        .to_string();
    e.apply_all(healthy_objects(&node_name))
        .expect("healthy objects applied");
    let mut exporter = Exporter::start(&emulator.url(), EXPORTER_FLAGS);
    exporter.wait_ready().await;
    let mut prometheus = Prometheus::start(&[exporter.port, exporter.telemetry_port], &rule_files);
    prometheus.wait_ready().await;
    let main_instance = format!("127.0.0.1:{}", exporter.port);

    // The healthy cluster is in Prometheus, and every rule group has evaluated over it.
    let pods = e.count("pods").expect("pods counted");
    let prom = &prometheus;
    wait_for_within(
        "both targets up and every pod in Prometheus",
        Duration::from_secs(30),
        || async move {
            prom.scalar(r#"count(up{job="kube-state-metrics"} == 1)"#)
                .await
                == Some(2.0)
                && prom
                    .scalar(r#"count(kube_pod_info{job="kube-state-metrics"})"#)
                    .await
                    == Some(pods as f64)
        },
    )
    .await;
    wait_evaluated(prom, &groups).await;
    let healthy_at = t0.elapsed();

    assert_rules_healthy(prom, &groups).await;
    // No duplicate or dropped series: per family, Prometheus holds exactly the scrape's series.
    let scrape = exporter.metrics().await;
    let mut in_scrape: BTreeMap<String, usize> = BTreeMap::new();
    for s in parse_scrape(&scrape) {
        *in_scrape.entry(s.name).or_default() += 1;
    }
    let recorded: BTreeSet<&str> = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| !r.alert)
        .map(|r| r.name.as_str())
        .collect();
    // Besides the scraped series, the target has Prometheus' own `up` and `scrape_*`, and
    // recording rules keep `job` and `instance`.
    let in_prometheus: BTreeMap<String, usize> = prom
        .query(&format!(
            r#"count by (__name__) ({{job="kube-state-metrics",instance="{main_instance}"}})"#
        ))
        .await
        .iter()
        .map(|r| {
            (
                r["metric"]["__name__"].as_str().expect("name").to_string(),
                r["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .expect("count") as usize,
            )
        })
        .filter(|(name, _)| {
            !recorded.contains(name.as_str()) && name != "up" && !name.starts_with("scrape_")
        })
        .collect();
    assert_eq!(
        in_prometheus, in_scrape,
        "series per family: Prometheus vs a scrape"
    );

    let (broken, expected) = broken_objects(&node_name);
    let scenario_alerts: BTreeSet<&str> = expected.iter().map(|x| x.alert).collect();
    let all_alerts: BTreeSet<&str> = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| r.alert)
        .map(|r| r.name.as_str())
        .collect();
    for alert in scenario_alerts.iter().chain(MISSING_TARGET_ALERTS) {
        assert!(all_alerts.contains(alert), "{alert} is a mixin alert");
    }
    // Healthy: nothing fired but the alerts about targets not scraped here (ALERTS covers
    // every evaluation so far, pending ones included).
    let ever: BTreeSet<String> = prom
        .query("group by (alertname) (max_over_time(ALERTS[10m]))")
        .await
        .iter()
        .map(|r| {
            r["metric"]["alertname"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let unexpected: Vec<&String> = ever
        .iter()
        .filter(|a| !MISSING_TARGET_ALERTS.contains(&a.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "alerts on a healthy cluster: {unexpected:?}\n{}",
        describe(&alerts_of(prom).await.iter().collect::<Vec<_>>())
    );
    eprintln!(
        "healthy cluster evaluated after {healthy_at:?}; firing only: {ever:?} (no kubelet, \
         apiserver, scheduler, controller-manager or kube-proxy targets here)"
    );

    // Break things: each expected alert fires, with its labels.
    let applied = Instant::now();
    e.apply_all(broken).expect("broken objects applied");
    // A kind the exporter may no longer read, and its watches dropped: resuming the watch is
    // forbidden, which counts watch errors (the watcher retries the watch; it relists only
    // after 410 Gone).
    e.forbid("leases").expect("leases forbidden");
    e.disconnect_watches();
    let mut fired_after: Vec<Option<Duration>> = vec![None; expected.len()];
    let deadline = applied + Duration::from_secs(60);
    loop {
        let alerts = alerts_of(prom).await;
        for (x, when) in expected.iter().zip(fired_after.iter_mut()) {
            if when.is_none() && firing(&alerts, x.alert).iter().any(|a| a.has(&x.labels)) {
                *when = Some(applied.elapsed());
            }
        }
        if fired_after.iter().all(Option::is_some) {
            break;
        }
        if Instant::now() > deadline {
            let missing: Vec<String> = expected
                .iter()
                .zip(&fired_after)
                .filter(|(_, w)| w.is_none())
                .map(|(x, _)| {
                    format!(
                        "{} {:?}; active now:\n{}",
                        x.alert,
                        x.labels,
                        describe(&firing(&alerts, x.alert))
                    )
                })
                .collect();
            panic!("not fired within 60 s:\n{}", missing.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all_fired = applied.elapsed();
    let mut timings: Vec<String> = expected
        .iter()
        .zip(&fired_after)
        .map(|(x, w)| {
            let what: Vec<&str> = x.labels.iter().map(|(_, v)| *v).take(2).collect();
            format!(
                "{:>6.1}s {} {}",
                w.unwrap_or_default().as_secs_f64(),
                x.alert,
                what.join("/")
            )
        })
        .collect();
    timings.sort();

    // Readiness flapping: three transitions of Ready that Prometheus sees.
    let flap_start = Instant::now();
    for ready in ["False", "True", "False"] {
        let flapped = node("node-flapping", &[("Ready", ready)], json!([]));
        e.apply(flapped).expect("node flapped");
        let want = if ready == "True" { 1.0 } else { 0.0 };
        wait_for_within("a readiness flap in Prometheus", Duration::from_secs(20), || async move {
            prom.scalar(
                r#"kube_node_status_condition{node="node-flapping",condition="Ready",status="true"}"#,
            )
            .await
                == Some(want)
        })
        .await;
    }
    wait_for_within(
        "KubeNodeReadinessFlapping",
        Duration::from_secs(20),
        || async move {
            alerts_of(prom).await.iter().any(|a| {
                a.name() == "KubeNodeReadinessFlapping"
                    && a.state == "firing"
                    && a.has(&[("node", "node-flapping")])
            })
        },
    )
    .await;
    let flapping_fired = flap_start.elapsed();

    // Exactly the expected instances fire (the flapping node, now NotReady, adds one).
    let mut expected = expected;
    expected.push(expect("KubeNodeNotReady", &[("node", "node-flapping")]));
    expected.push(expect(
        "KubeNodeReadinessFlapping",
        &[("node", "node-flapping")],
    ));
    let alerts = alerts_of(prom).await;
    let scenario_alerts: BTreeSet<&str> = expected.iter().map(|x| x.alert).collect();
    for name in &scenario_alerts {
        let active: Vec<&Alert> = alerts.iter().filter(|a| a.name() == *name).collect();
        let wanted: Vec<&Expected> = expected.iter().filter(|x| x.alert == *name).collect();
        let stray: Vec<&Alert> = active
            .iter()
            .copied()
            .filter(|a| !wanted.iter().any(|x| a.has(&x.labels)))
            .collect();
        assert!(
            stray.is_empty() && active.len() == wanted.len(),
            "{name}: {} expected, active:\n{}",
            wanted.len(),
            describe(&active)
        );
    }

    // List errors happen when a kind cannot be listed at start: the exporter restarted in
    // place, with leases still forbidden, retries their list with backoff.
    let restart = Instant::now();
    let ports = (exporter.port, exporter.telemetry_port);
    drop(exporter);
    exporter = Exporter::start_on(&emulator.url(), ports, EXPORTER_FLAGS);
    exporter.wait_ready().await;
    wait_for_within(
        "KubeStateMetricsListErrors",
        Duration::from_secs(30),
        || async move { !firing(&alerts_of(prom).await, "KubeStateMetricsListErrors").is_empty() },
    )
    .await;
    let list_errors_after = restart.elapsed();
    wait_for_within(
        "both targets up again",
        Duration::from_secs(10),
        || async move {
            prom.scalar(r#"count(up{job="kube-state-metrics"} == 1)"#)
                .await
                == Some(2.0)
        },
    )
    .await;
    assert!(exporter.running(), "the exporter is still running");

    // After all that, still: every rule healthy, no duplicate or out-of-order samples, no
    // failed evaluations.
    assert_rules_healthy(prom, &groups).await;
    let own = prom.own_metrics().await;
    for counter in [
        "prometheus_target_scrapes_sample_duplicate_timestamp_total",
        "prometheus_target_scrapes_sample_out_of_order_total",
        "prometheus_target_scrapes_sample_out_of_bounds_total",
        "prometheus_target_scrapes_exceeded_sample_limit_total",
        "prometheus_rule_evaluation_failures_total",
    ] {
        assert_eq!(own_total(&own, counter), 0.0, "{counter}");
    }

    // Which selectors ever had input (in the last 10 minutes: the whole test).
    let mut present: BTreeSet<String> = BTreeSet::new();
    let all_selectors: BTreeSet<String> = groups
        .iter()
        .flat_map(|g| &g.rules)
        .flat_map(|r| selectors(&r.expr))
        .collect();
    for selector in &all_selectors {
        if prom
            .scalar(&format!("count(last_over_time({selector}[10m]))"))
            .await
            .is_some_and(|n| n > 0.0)
        {
            present.insert(selector.clone());
        }
    }
    // Every selector of a kube_* metric matches series — but one the mixin has that
    // kube-state-metrics v2.20 never satisfies either: it bounds `kube_pod_status_reason` to
    // a fixed reason list without SchedulingGated (see its test vectors), so the
    // `unless … reason="SchedulingGated"` clause of KubePodNotReady is inert with both.
    let never: Vec<&String> = all_selectors
        .iter()
        .filter(|s| s.starts_with("kube_") && !present.contains(*s))
        .filter(|s| !s.contains(r#"reason="SchedulingGated""#))
        .collect();
    assert!(
        never.is_empty(),
        "kube_* selectors of the rules that never matched a series: {never:#?}"
    );
    let (mut empty_groups, mut partial_groups) = (Vec::new(), Vec::new());
    for g in &groups {
        let own: BTreeSet<String> = g.rules.iter().flat_map(|r| selectors(&r.expr)).collect();
        let seen = own.iter().filter(|s| present.contains(*s)).count();
        let label = format!("{} ({})", g.name, g.file);
        if seen == 0 {
            assert!(
                !own.iter().any(|s| selector_name(s).starts_with("kube_")),
                "group {label} reads kube_* metrics but saw no input"
            );
            empty_groups.push(label);
        } else if seen < own.len() {
            let missing: BTreeSet<&str> = own
                .iter()
                .filter(|s| !present.contains(*s))
                .map(|s| selector_name(s))
                .collect();
            partial_groups.push(format!("{label}: no {missing:?}"));
        }
    }
    // Every workload type the pod-owner recording rules tell apart, from our labels.
    let workload_types: BTreeSet<String> = prom
        .query(
            "count by (workload_type) \
             (last_over_time(namespace_workload_pod:kube_pod_owner:relabel[10m]))",
        )
        .await
        .iter()
        .map(|r| {
            r["metric"]["workload_type"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let want: BTreeSet<String> = [
        "barepod",
        "CronJob",
        "daemonset",
        "deployment",
        "job",
        "replicaset",
        "Rollout",
        "staticpod",
        "statefulset",
        "Workflow",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        workload_types, want,
        "namespace_workload_pod:kube_pod_owner:relabel"
    );
    eprintln!(
        "after applying the broken objects, all {} expected alerts firing in {all_fired:?}:\n{}\n\
         readiness flapping (3 transitions) fired after {flapping_fired:?}; \
         KubeStateMetricsListErrors {list_errors_after:?} after a restart",
        timings.len(),
        timings.join("\n")
    );
    eprintln!(
        "rule groups that only ever saw empty input ({}): {empty_groups:#?}\n\
         rule groups that saw some input, and what they never got ({}): {partial_groups:#?}",
        empty_groups.len(),
        partial_groups.len()
    );
    eprintln!("live Prometheus test: {:?}", t0.elapsed());
    drop(prometheus);
}

/// Waits until every rule group has been evaluated twice since now (but a group with an
/// interval of its own: the apiserver availability rules run every 3 minutes, first at an
/// offset into that, so they may never run in this test; they read no kube_* metric).
async fn wait_evaluated(prom: &Prometheus, groups: &[Group]) {
    let slow: BTreeSet<&str> = groups
        .iter()
        .filter(|g| g.interval.is_some())
        .map(|g| g.name.as_str())
        .collect();
    let iterations = |text: &str| -> BTreeMap<String, f64> {
        harness::samples(text, "prometheus_rule_group_iterations_total")
            .iter()
            .filter_map(|l| {
                let s = parse_sample(l)?;
                Some((s.label("rule_group")?.to_string(), s.value.parse().ok()?))
            })
            .collect()
    };
    let before = iterations(&prom.own_metrics().await);
    assert_eq!(
        before.len(),
        groups.len(),
        "rule groups running: {before:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = iterations(&prom.own_metrics().await);
        let behind: Vec<(&String, f64)> = before
            .iter()
            .filter(|(g, b)| {
                let n = now.get(*g).copied().unwrap_or(0.0);
                let name = g.rsplit(';').next().unwrap_or_default();
                !(n - *b >= 2.0 || slow.contains(name))
            })
            .map(|(g, b)| (g, now.get(g).copied().unwrap_or(0.0) - b))
            .collect();
        if behind.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rule groups not evaluated twice in 30 s (group, evaluations): {behind:#?}\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every rule of every group evaluated without error (not yet evaluated is accepted only in a
/// group with an interval of its own, see [`wait_evaluated`]).
async fn assert_rules_healthy(prom: &Prometheus, groups: &[Group]) {
    let slow: BTreeSet<&str> = groups
        .iter()
        .filter(|g| g.interval.is_some())
        .map(|g| g.name.as_str())
        .collect();
    let data = prom.api("rules", &[]).await;
    let loaded = data["groups"].as_array().expect("rule groups");
    assert_eq!(loaded.len(), groups.len(), "every rule group loaded");
    let rules: usize = groups.iter().map(|g| g.rules.len()).sum();
    let mut seen = 0;
    let mut bad = Vec::new();
    for group in loaded {
        for rule in group["rules"].as_array().expect("rules") {
            seen += 1;
            let not_yet = rule["health"] == "unknown"
                && group["name"].as_str().is_some_and(|g| slow.contains(g));
            if (rule["health"] != "ok" && !not_yet)
                || rule.get("lastError").is_some_and(|e| e != "")
            {
                bad.push(format!(
                    "{} / {}: {} {}",
                    group["name"], rule["name"], rule["health"], rule["lastError"]
                ));
            }
        }
    }
    assert_eq!(seen, rules, "every rule loaded");
    assert!(bad.is_empty(), "rules not healthy:\n{}", bad.join("\n"));
}

// ---- 2. Offline: promtool test rules over a captured scrape ----

/// Expands the `{{ $labels.x }}` references of an alert annotation (the only template
/// construct the annotations tested here use).
fn render(template: &str, labels: &BTreeMap<String, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in labels {
        for form in [
            format!("{{{{ $labels.{k} }}}}"),
            format!("{{{{$labels.{k}}}}}"),
        ] {
            out = out.replace(&form, v);
        }
    }
    assert!(!out.contains("{{"), "unrendered template in {out:?}");
    out
}

/// Runs `tool`; returns its exit code and its stdout and stderr.
fn run(tool: &Path, args: &[&str], dir: &Path, stdin: Option<&str>) -> (Option<i32>, String) {
    let mut child = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} runs: {e}", tool.display()));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("input written");
    }
    let out = child.wait_with_output().expect("tool finishes");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_fires_kube_pod_crash_looping_from_a_captured_scrape() {
    let t0 = Instant::now();
    let promtool = which("promtool");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, groups) = rules_without_for(dir.path());
    let alerts_file = "kubernetes-mixin_prometheus_alerts.yaml";
    let crash_rule = groups
        .iter()
        .filter(|g| g.file == alerts_file)
        .flat_map(|g| &g.rules)
        .find(|r| r.name == "KubePodCrashLooping")
        .expect("KubePodCrashLooping in the alerts");

    let mut cluster = GeneratedCluster::new(2, 3, 5);
    cluster.crashloop_ratio = 0.0;
    cluster.pending_ratio = 0.0;
    let emulator = start_emulator(Emulator::with_cluster(&cluster)).await;
    let e = emulator.emulator();
    let node_name = e.list("nodes").expect("nodes")[0]["metadata"]["name"]
        .as_str()
        .expect("node name")
        .to_string();
    e.apply_all([
        namespace(SCENARIOS),
        pod(
            SCENARIOS,
            "crashloop",
            &node_name,
            "Running",
            false,
            Some("CrashLoopBackOff"),
        ),
    ])
    .expect("crash-looping pod applied");
    let exporter = Exporter::start(&emulator.url(), &[]);
    exporter.wait_ready().await;
    let scrape = exporter.metrics().await;
    let scrape_path = dir.path().join("scrape.prom");
    std::fs::write(&scrape_path, &scrape).expect("scrape captured");

    // Each series of the capture as a constant input series, with the job label Prometheus
    // would add.
    let samples = parse_scrape(&std::fs::read_to_string(&scrape_path).expect("capture"));
    let mut input_series = Vec::new();
    for s in &samples {
        assert!(s.label("job").is_none(), "no job label of our own: {s:?}");
        let labels: Vec<String> = std::iter::once(("job", "kube-state-metrics"))
            .chain(s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        let v: f64 = s.value.parse().expect("a numeric value");
        let values = if v.is_finite() {
            format!("{}x10", s.value)
        } else {
            [s.value.as_str(); 11].join(" ")
        };
        input_series.push(json!({
            "series": format!("{}{{{}}}", s.name, labels.join(",")),
            "values": values,
        }));
    }
    let crashing: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == "kube_pod_container_status_waiting_reason"
                && s.label("reason") == Some("CrashLoopBackOff")
        })
        .collect();
    assert_eq!(
        crashing.len(),
        1,
        "one crash-looping container: {crashing:?}"
    );
    let exp_alerts: Vec<Value> = crashing
        .iter()
        .map(|s| {
            let mut labels: BTreeMap<String, String> = s.labels.iter().cloned().collect();
            labels.insert("job".into(), "kube-state-metrics".into());
            let annotations: BTreeMap<String, String> = crash_rule
                .annotations
                .iter()
                .map(|(k, t)| (k.clone(), render(t, &labels)))
                .collect();
            labels.extend(crash_rule.labels.clone());
            json!({"exp_labels": labels, "exp_annotations": annotations})
        })
        .collect();
    let keys: Vec<&String> = exp_alerts[0]["exp_labels"]
        .as_object()
        .expect("labels")
        .keys()
        .collect();
    assert_eq!(
        keys,
        [
            "container",
            "job",
            "namespace",
            "pod",
            "reason",
            "severity",
            "uid"
        ],
        "the alert's labels: KSM's for kube_pod_container_status_waiting_reason, job, severity"
    );
    assert_eq!(exp_alerts[0]["exp_labels"]["pod"], "crashloop");
    let test = json!({
        "rule_files": [alerts_file],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": input_series,
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": "KubePodCrashLooping", "exp_alerts": exp_alerts},
            ],
        }],
    });
    let test_path = dir.path().join("crashlooping_test.yaml");
    std::fs::write(
        &test_path,
        serde_yaml_ng::to_string(&test).expect("test file YAML"),
    )
    .expect("test file written");
    let (code, report) = run(
        &promtool,
        &["test", "rules", "crashlooping_test.yaml"],
        dir.path(),
        None,
    );
    assert_eq!(code, Some(0), "promtool test rules failed:\n{report}");
    assert!(report.contains("SUCCESS"), "{report}");
    eprintln!(
        "promtool test rules: KubePodCrashLooping fired from {} captured series in {:?}",
        input_series.len(),
        t0.elapsed()
    );
}

// ---- 3. Coverage: what the rules read is exported ----

/// Labels `kube_metrics_used.txt` lists that no exporter provides: `cluster` and `job` come
/// from Prometheus (external labels, relabelling), `workload` and `workload_type` are made by
/// `label_replace`/`label_join` in the pod-owner recording rules.
const NOT_EXPORTED: &[&str] = &["cluster", "job", "workload", "workload_type"];

/// Per metric, labels the file lists because its columns are a union over every selector of
/// a rule, though this metric is not where they come from.
const OTHER_SIDE: &[(&str, &str, &str)] = &[
    (
        "kube_pod_owner",
        "replicaset",
        "label_replace from owner_name",
    ),
    ("kube_pod_owner", "job_name", "label_join from owner_name"),
    (
        "kube_replicaset_owner",
        "pod",
        "from kube_pod_owner, joined on replicaset",
    ),
    (
        "kube_job_owner",
        "pod",
        "from kube_pod_owner, joined on job_name",
    ),
    (
        "kube_node_spec_unschedulable",
        "condition",
        "from kube_node_status_condition, the left side of `and`",
    ),
];

/// One matcher of a selector: label, operator, value (unquoted).
fn parse_matchers(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let op_at = rest.find(['=', '!']).expect("a matcher operator");
        let label = rest[..op_at].trim().to_string();
        let op_len = rest[op_at..].find('"').expect("a quoted matcher value");
        let op = rest[op_at..op_at + op_len].to_string();
        let value_start = op_at + op_len + 1;
        let value_end = value_start + rest[value_start..].find('"').expect("closing quote");
        out.push((label, op, rest[value_start..value_end].to_string()));
        rest = rest[value_end + 1..].trim_start_matches([',', ' ']);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_label_and_value_the_mixin_reads_is_exported() {
    let t0 = Instant::now();
    // A generated cluster (crash-looping and pending pods included), one of every workload
    // shape the rules tell apart, and every broken object of the live test.
    let emulator = start_emulator(Emulator::with_cluster(&GeneratedCluster::new(6, 10, 3))).await;
    let e = emulator.emulator();
    let node_name = e.list("nodes").expect("nodes")[0]["metadata"]["name"]
        .as_str()
        .expect("node name")
        .to_string();
    e.apply_all(healthy_objects(&node_name))
        .expect("healthy objects");
    e.apply_all(broken_objects(&node_name).0)
        .expect("broken objects");
    // List errors (a kind forbidden from the start) and watch errors (one forbidden later).
    e.forbid("limitranges").expect("limitranges forbidden");
    let exporter = Exporter::start(&emulator.url(), EXPORTER_FLAGS);
    exporter.wait_ready().await;
    e.forbid("leases").expect("leases forbidden");
    e.disconnect_watches();
    wait_for_within(
        "list and watch errors counted",
        Duration::from_secs(30),
        || async {
            let t = exporter.telemetry().await;
            harness::value(&t, "kube_state_metrics_list_total", &["result=\"error\""]).is_some()
                && harness::value(&t, "kube_state_metrics_watch_total", &["result=\"error\""])
                    .is_some()
        },
    )
    .await;
    let text = format!("{}{}", exporter.metrics().await, exporter.telemetry().await);
    let mut by_name: HashMap<String, Vec<Sample>> = HashMap::new();
    for s in parse_scrape(&text) {
        by_name.entry(s.name.clone()).or_default().push(s);
    }

    let used = std::fs::read_to_string(mixin_dir().join("kube_metrics_used.txt"))
        .expect("kube_metrics_used.txt");
    let mut problems = Vec::new();
    let mut checked = (0, 0, 0);
    for line in used.lines() {
        if line.is_empty() {
            // The recording-rule section follows the first blank line.
            break;
        }
        if line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 7, "a metric line of 7 columns: {line}");
        let (metric, matchers) = (cols[0], cols[1]);
        let Some(series) = by_name.get(metric) else {
            problems.push(format!("{metric}: not exported"));
            continue;
        };
        checked.0 += 1;
        // Labels relied on and read by annotations.
        let labels: BTreeSet<&str> = [cols[2], cols[3]]
            .iter()
            .flat_map(|c| c.split(", "))
            .filter(|l| *l != "-" && !NOT_EXPORTED.contains(l))
            .filter(|l| !OTHER_SIDE.iter().any(|(m, o, _)| *m == metric && o == l))
            .collect();
        for label in labels {
            checked.1 += 1;
            if !series
                .iter()
                .any(|s| s.label(label).is_some_and(|v| !v.is_empty()))
            {
                problems.push(format!("{metric}: no series with label {label}"));
            }
        }
        // Label values the selectors match on.
        for (label, op, value) in parse_matchers(matchers) {
            let have = |s: &Sample| s.label(&label).unwrap_or_default().to_string();
            let ok = match op.as_str() {
                _ if label == "job" => continue,
                "=" => series.iter().any(|s| have(s) == value),
                "=~" => {
                    let alternatives: Vec<&str> = value
                        .trim_start_matches('(')
                        .trim_end_matches(')')
                        .split('|')
                        .collect();
                    assert!(
                        value
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._-/|()".contains(c)),
                        "only alternations of literals are supported: {value}"
                    );
                    series
                        .iter()
                        .any(|s| alternatives.contains(&have(s).as_str()))
                }
                _ => continue,
            };
            checked.2 += 1;
            let inert = metric == "kube_pod_status_reason" && value == "SchedulingGated";
            if !(ok || inert) {
                problems.push(format!(
                    "{metric}: no series matching {label}{op}\"{value}\""
                ));
            }
        }
        // Metrics matched one-to-one must have the same label names.
        for other in cols[4].split(", ").filter(|o| *o != "-") {
            let names = |m: &str| -> BTreeSet<Vec<String>> {
                by_name
                    .get(m)
                    .into_iter()
                    .flatten()
                    .map(|s| s.labels.iter().map(|(k, _)| k.clone()).collect())
                    .collect()
            };
            if names(metric) != names(other) {
                problems.push(format!(
                    "{metric} and {other} are matched one-to-one but have label sets {:?} and {:?}",
                    names(metric),
                    names(other)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "what the mixin reads but the exporter does not give:\n{}",
        problems.join("\n")
    );
    assert_eq!(
        checked.0, 52,
        "every metric of kube_metrics_used.txt checked"
    );
    eprintln!(
        "coverage: {} metrics, {} label columns, {} matcher values present in {:?} \
         (kube_pod_status_reason{{reason=\"SchedulingGated\"}} excepted: KSM v2.20 never \
         emits it either)",
        checked.0,
        checked.1,
        checked.2,
        t0.elapsed()
    );
}

// ---- 4. Bad input ----

const WEIRD: &str = "ü-☃-\"q\"-\\b\\-\n-\t-{}=,";

/// Every string leaf through `f`, but metadata's name, namespace and uid.
fn map_strings(v: &mut Value, path: &str, f: &dyn Fn(&str) -> String) {
    match v {
        Value::String(_)
            if matches!(
                path,
                "/metadata/name"
                    | "/metadata/namespace"
                    | "/metadata/uid"
                    | "/apiVersion"
                    | "/kind"
            ) => {}
        Value::String(s) => *s = f(s),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                map_strings(item, &format!("{path}/{i}"), f);
            }
        }
        Value::Object(members) => {
            // Keys of labels and annotations too.
            let keyed = path.ends_with("/labels") || path.ends_with("/annotations");
            let taken = std::mem::take(members);
            for (k, mut item) in taken {
                let key = if keyed { f(&k) } else { k.clone() };
                map_strings(&mut item, &format!("{path}/{k}"), f);
                members.insert(key, item);
            }
        }
        _ => {}
    }
}

/// Variants of a KSM test vector's object, renamed to `name` (and `namespace` where
/// namespaced): with only the identity left, with every string emptied, with every string
/// made hostile (timestamps and quantities too, but for one variant), and with 500 labels and
/// annotations.
fn hostile_variants(object: &Value, name: &str, namespace: &str) -> Vec<(String, Value)> {
    let namespaced = object["metadata"].get("namespace").is_some();
    let renamed = |variant: &str, mut o: Value| {
        let n = format!("{variant}-{name}");
        o["metadata"]["name"] = json!(n);
        o["metadata"]["uid"] = json!(format!("uid-{n}"));
        if namespaced {
            o["metadata"]["namespace"] = json!(namespace);
        }
        (n, o)
    };
    let minimal = json!({"apiVersion": object["apiVersion"], "kind": object["kind"],
                         "metadata": {"name": ""}});
    let mut emptied = object.clone();
    map_strings(&mut emptied, "", &|_| String::new());
    let mut hostile = object.clone();
    map_strings(&mut hostile, "", &|s| format!("{s}{WEIRD}"));
    // Hostile text but valid timestamps and quantities (which start with a digit).
    let mut texts = object.clone();
    map_strings(&mut texts, "", &|s| {
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            s.to_string()
        } else {
            format!("{s}{WEIRD}")
        }
    });
    let mut huge = object.clone();
    let mut labels = serde_json::Map::new();
    for i in 0..500 {
        labels.insert(format!("bulk_{i}"), json!(format!("v{i}{WEIRD}")));
    }
    // Keys that sanitise to the same label name.
    for k in ["team-a", "team_a", "team.a", "Team/A", "ü", "9lives", ""] {
        labels.insert(k.to_string(), json!(k));
    }
    huge["metadata"]["labels"] = Value::Object(labels.clone());
    huge["metadata"]["annotations"] = Value::Object(labels);
    vec![
        renamed("minimal", minimal),
        renamed("emptied", emptied),
        renamed("hostile", hostile),
        renamed("texts", texts),
        renamed("huge", huge),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_objects_of_every_kind_leave_the_binary_up_and_the_scrape_valid() {
    let t0 = Instant::now();
    let promtool = which("promtool");
    let table = ksm::ksm_table();
    let resources: BTreeSet<&str> = table.iter().map(|r| r["resource"].as_str()).collect();
    let opt_in: Vec<&str> = table
        .iter()
        .filter(|r| r["opt_in"] != "no")
        .map(|r| r["metric_name"].as_str())
        .collect();
    let everything: Vec<String> = resources.iter().map(|r| format!("{r}=[*]")).collect();
    let everything = everything.join(",");
    let resources = resources.into_iter().collect::<Vec<_>>().join(",");
    let opt_in = opt_in.join(",");

    // Every vector object of every kind, in hostile variants; half before the exporter
    // starts (its lists), half after (its watches).
    let ns = format!("ns-{WEIRD}");
    let mut before = vec![namespace(&ns)];
    let mut after = Vec::new();
    let mut kinds = 0;
    let mut entries: Vec<_> = std::fs::read_dir(ksm::vectors_dir())
        .expect("vectors")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let vectors: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("vector file"))
                .expect("vector JSON");
        kinds += 1;
        let stem = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .to_string();
        for (i, vector) in vectors.as_array().expect("vectors").iter().enumerate() {
            let name = format!("{stem}-{i}-{WEIRD}");
            for (j, (_, object)) in hostile_variants(&vector["object"], &name, &ns)
                .into_iter()
                .enumerate()
            {
                if (i + j) % 2 == 0 {
                    before.push(object);
                } else {
                    after.push(object);
                }
            }
        }
    }
    assert_eq!(kinds, 39, "vectors of every kind");
    let emulator = start_emulator(newest_emulator()).await;
    let e = emulator.emulator();
    let objects = before.len() + after.len();
    e.apply_all(before).expect("hostile objects stored");
    let mut exporter = Exporter::start(
        &emulator.url(),
        &[
            "--resources",
            &resources,
            "--metric-opt-in-list",
            &opt_in,
            "--metric-labels-allowlist",
            &everything,
            "--metric-annotations-allowlist",
            &everything,
        ],
    );
    exporter.wait_ready().await;
    e.apply_all(after.clone()).expect("hostile objects stored");
    let stored = e.stats().resource_version;
    // Every object arrived: per resource, the exporter stores what the emulator has.
    wait_stores_match(
        &exporter,
        e,
        "every hostile object in the exporter's stores",
    )
    .await;
    let scrape = exporter.metrics().await;
    assert!(exporter.running(), "the exporter is still running");
    assert!(
        matches!(
            exporter.get(exporter.port, "/healthz").await,
            Some((200, _))
        ),
        "/healthz answers"
    );
    let log = exporter.log();
    assert!(
        !log.contains("panic"),
        "no panic in the exporter's log:\n{log}"
    );

    // Valid exposition: promtool parses it; its lint findings are only about names.
    let (code, report) = run(
        &promtool,
        &["check", "metrics"],
        Path::new("."),
        Some(&scrape),
    );
    // 0: clean; 3: lint findings only; 1: a parse error ("error while linting: text format
    // parsing error …").
    assert!(
        code == Some(0) || code == Some(3),
        "promtool check metrics: {code:?}\n{report}"
    );
    let findings: BTreeSet<&str> = report.lines().filter(|l| !l.trim().is_empty()).collect();
    let not_naming: Vec<&&str> = findings
        .iter()
        .filter(|l| !LINT_NAMING.iter().any(|known| l.contains(known)))
        .collect();
    assert!(
        not_naming.is_empty(),
        "promtool check metrics found more than naming lint: {not_naming:#?}"
    );
    // Our own reading: every line parses, no label twice on a line, no series twice.
    let samples = parse_scrape(&scrape);
    let mut seen = BTreeSet::new();
    let mut duplicates = Vec::new();
    for s in &samples {
        let names: BTreeSet<&String> = s.labels.iter().map(|(k, _)| k).collect();
        assert_eq!(names.len(), s.labels.len(), "a label twice: {s:?}");
        let mut key = s.labels.clone();
        key.sort();
        if !seen.insert((s.name.clone(), key)) {
            duplicates.push((s.name.clone(), s.labels.clone()));
        }
    }
    // Repeated series come only from objects whose lists were emptied into identical
    // entries (two conditions of type "", two endpoints of address ""): one series per list
    // entry, as kube-state-metrics emits them.
    let (emptied, other): (Vec<_>, Vec<_>) = duplicates
        .iter()
        .partition(|(_, labels)| labels.iter().any(|(_, v)| v.starts_with("emptied-")));
    assert!(other.is_empty(), "duplicate series: {other:#?}");
    let emptied_families: BTreeSet<&str> = emptied.iter().map(|(n, _)| n.as_str()).collect();
    // Hostile text survives the round trip: the 500-label object of each kind, by its name,
    // with its last label and annotation as given.
    let mut round_trips = 0;
    for row in &table {
        let family = row["metric_name"].as_str();
        let label = if family.ends_with("_labels") {
            "label_bulk_499"
        } else if family.ends_with("_annotations") {
            "annotation_bulk_499"
        } else {
            continue;
        };
        let name = format!("huge-{}-0-{WEIRD}", row["kind"]);
        let wanted = format!("v499{WEIRD}");
        let found = samples.iter().any(|s| {
            s.name == family
                && s.labels.iter().any(|(_, v)| *v == name)
                && s.label(label) == Some(wanted.as_str())
        });
        assert!(found, "{family}: {label}={wanted:?} for {name:?}");
        round_trips += 1;
    }

    // Deleting the hostile objects the watches brought takes their series away.
    for object in &after {
        e.delete_object(object).expect("deleted");
    }
    wait_stores_match(
        &exporter,
        e,
        "the deleted objects out of the exporter's stores",
    )
    .await;
    let remaining = parse_scrape(&exporter.metrics().await);
    let gone: Vec<&Sample> = remaining
        .iter()
        .filter(|s| {
            after.iter().any(|o| {
                let n = o["metadata"]["name"].as_str().unwrap_or_default();
                s.labels.iter().any(|(_, v)| v == n)
            })
        })
        .collect();
    assert!(gone.is_empty(), "series of deleted objects: {gone:#?}");
    assert!(exporter.running(), "the exporter is still running");
    assert!(
        !exporter.log().contains("panic"),
        "no panic in the exporter's log"
    );
    let dropped = harness::samples(
        &exporter.telemetry().await,
        "kube_state_otel_decode_dropped_fields_total",
    )
    .len();
    eprintln!(
        "hostile input: {objects} objects of 39 kinds (resourceVersion {stored}), scrape of {} \
         samples / {} bytes valid; {round_trips} label/annotation round trips; resources \
         with fields left out as undecodable: {dropped}; {} repeated series from emptied lists in \
         {emptied_families:?}; promtool lint: {findings:#?}; in {:?}",
        samples.len(),
        scrape.len(),
        emptied.len(),
        t0.elapsed()
    );
}

/// Waits until, for every resource, the exporter's store holds as many objects as the
/// emulator; panics after 60 s with the resources that differ.
async fn wait_stores_match(exporter: &Exporter, emulator: &Emulator, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = exporter.telemetry().await;
        let differ: Vec<String> = harness::samples(&t, "kube_state_otel_store_objects")
            .iter()
            .filter_map(|l| {
                let s = parse_sample(l)?;
                let resource = s.label("resource")?.to_string();
                let stored: f64 = s.value.parse().ok()?;
                let have = emulator.count(&resource).unwrap_or(0);
                (stored as usize != have).then(|| format!("{resource}: {stored} of {have}"))
            })
            .collect();
        if differ.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {differ:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// promtool's lint findings about metric names, which kube-state-metrics' own names draw too.
const LINT_NAMING: &[&str] = &[
    "counter metrics should have \"_total\" suffix",
    "non-counter metrics should not have \"_total\" suffix",
    "non-histogram and non-summary metrics should not have \"_count\" suffix",
    "non-histogram and non-summary metrics should not have \"_sum\" suffix",
    "use base unit",
];
