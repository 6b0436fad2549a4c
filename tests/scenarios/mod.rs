//! What the mixin tests share: the kubernetes-mixin rule files (`../shared/mixin/`) with their
//! `for:` clauses removed, the alerts a rule engine reports, and builders of the objects of
//! the scenarios that make them fire.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

pub fn mixin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/mixin")
}

// ---- The rule files ----

/// A rule of the mixin.
pub struct Rule {
    /// The alert name or the recorded metric.
    pub name: String,
    pub alert: bool,
    pub expr: String,
    pub annotations: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

pub struct Group {
    pub file: String,
    pub name: String,
    /// The group's own evaluation interval, if it has one.
    pub interval: Option<String>,
    pub rules: Vec<Rule>,
}

/// Every rule file in `../shared/mixin/`, each rule without its `for:` and `keep_firing_for:`
/// (nothing else changes), written into `dir`. Returns the paths and the parsed groups.
pub fn rules_without_for(dir: &Path) -> (Vec<PathBuf>, Vec<Group>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(mixin_dir())
        .expect("../shared/mixin is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "the mixin's alert and rule files: {files:?}"
    );
    let (paths, groups, removed) = without_for(&files, dir);
    assert!(
        removed > 50,
        "the mixin's `for:` clauses were removed ({removed})"
    );
    (paths, groups)
}

/// `files` with their rules' `for:` and `keep_firing_for:` removed (nothing else changes),
/// written into `dir`: the paths, the parsed groups, and how many clauses were removed.
pub fn without_for(files: &[PathBuf], dir: &Path) -> (Vec<PathBuf>, Vec<Group>, usize) {
    let (mut paths, mut groups, mut removed) = (Vec::new(), Vec::new(), 0);
    for file in files {
        let text = std::fs::read_to_string(file).expect("rule file readable");
        let mut doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", file.display()));
        let file_name = file.file_name().expect("file name").to_string_lossy();
        for group in doc["groups"]
            .as_sequence_mut()
            .expect("a groups list")
            .iter_mut()
        {
            let mut rules = Vec::new();
            for rule in group["rules"]
                .as_sequence_mut()
                .expect("a rules list")
                .iter_mut()
            {
                let rule = rule.as_mapping_mut().expect("a rule is a mapping");
                for clause in ["for", "keep_firing_for"] {
                    removed += usize::from(rule.remove(clause).is_some());
                }
                let text_of = |key: &str| rule.get(key).and_then(|v| v.as_str()).map(String::from);
                let map_of = |key: &str| -> BTreeMap<String, String> {
                    rule.get(key)
                        .and_then(|v| v.as_mapping())
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| {
                                    (
                                        k.as_str().expect("string key").to_string(),
                                        v.as_str().expect("string value").to_string(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let (name, alert) = match (text_of("alert"), text_of("record")) {
                    (Some(a), _) => (a, true),
                    (None, Some(r)) => (r, false),
                    (None, None) => panic!("{file_name}: a rule with neither alert nor record"),
                };
                rules.push(Rule {
                    name,
                    alert,
                    expr: text_of("expr").expect("every rule has an expr"),
                    annotations: map_of("annotations"),
                    labels: map_of("labels"),
                });
            }
            groups.push(Group {
                file: file_name.to_string(),
                name: group["name"].as_str().expect("group name").to_string(),
                interval: group["interval"].as_str().map(String::from),
                rules,
            });
        }
        let out = dir.join(&*file_name);
        let written = serde_yaml_ng::to_string(&doc).expect("YAML out");
        let reread: serde_yaml_ng::Value = serde_yaml_ng::from_str(&written).expect("YAML in");
        assert_eq!(reread, doc, "{file_name} rewritten faithfully");
        std::fs::write(&out, written).expect("rule file written");
        paths.push(out);
    }
    (paths, groups, removed)
}

#[derive(Clone, Debug)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub state: String,
}

impl Alert {
    /// An alert of `/api/v1/alerts` (Prometheus and vmalert answer alike).
    pub fn from_json(alert: &Value) -> Alert {
        Alert {
            labels: string_map(&alert["labels"]),
            state: alert["state"].as_str().unwrap_or_default().to_string(),
        }
    }

    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    pub fn has(&self, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(k, v)| self.labels.get(*k).is_some_and(|have| have == v))
    }
}

pub fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

// ---- Objects ----

pub const SCENARIOS: &str = "scenarios";

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// RFC 3339 in UTC, as Kubernetes writes timestamps.
pub fn rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
           "status": {"phase": "Active"}})
}

pub fn meta(namespace: &str, name: &str) -> Value {
    json!({"name": name, "namespace": namespace, "uid": format!("uid-{namespace}-{name}"),
           "creationTimestamp": rfc3339(now_unix() - 86_400), "generation": 1})
}

/// A pod on `node` in `phase`; `ready` sets the Ready condition and every container's
/// readiness; `waiting` puts the container in a waiting state with that reason.
pub fn pod(
    namespace: &str,
    name: &str,
    node: &str,
    phase: &str,
    ready: bool,
    waiting: Option<&str>,
) -> Value {
    let state = match waiting {
        Some(reason) => json!({"waiting": {"reason": reason, "message": "back-off"}}),
        None => json!({"running": {"startedAt": rfc3339(now_unix() - 3600)}}),
    };
    let restarts = if waiting == Some("CrashLoopBackOff") {
        7
    } else {
        0
    };
    let status = if ready { "True" } else { "False" };
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": meta(namespace, name),
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.example/app:1",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": "200m", "memory": "128Mi"}}}]},
        "status": {
            "phase": phase, "hostIP": "10.0.0.1", "podIP": "10.1.0.1", "qosClass": "Burstable",
            "startTime": rfc3339(now_unix() - 3600),
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": status},
                {"type": "Ready", "status": status},
            ],
            "containerStatuses": [{"name": "app", "image": "registry.example/app:1",
                "imageID": "registry.example/app@sha256:00", "containerID": "containerd://00",
                "ready": ready, "started": waiting.is_none(), "restartCount": restarts,
                "state": state}]
        }
    })
}
