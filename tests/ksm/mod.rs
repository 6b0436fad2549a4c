//! kube-state-metrics' reference data in `../shared/conformance/`, shared by the tests.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

/// Where the KSM test vectors are.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/ksm")
}

/// Where the project's own KSM vectors are: same format, cases KSM's unit tests leave out.
pub fn project_vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ksm/vectors")
}

/// kube-state-metrics' kinds and families, from `ksm_metrics.tsv`: (kind, family columns).
pub fn ksm_table() -> Vec<HashMap<String, String>> {
    let path = vectors_dir().join("../ksm_metrics.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("tsv header").split('\t').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The resource (plural) of a KSM kind name (`ingressclass` → `ingressclasses`).
pub fn resource_of(kind: &str) -> String {
    ksm_table()
        .into_iter()
        .find(|row| row["kind"] == kind)
        .map(|row| row["resource"].clone())
        .unwrap_or_else(|| panic!("{kind} is not a kube-state-metrics kind"))
}

/// The KSM kind name (vector file stem) of a resource (`ingressclasses` → `ingressclass`).
pub fn kind_of(resource: &str) -> Option<String> {
    ksm_table()
        .into_iter()
        .find(|row| row["resource"] == resource)
        .map(|row| row["kind"].clone())
}
