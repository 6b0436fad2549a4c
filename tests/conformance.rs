//! kube-state-metrics v2.20 conformance: every vector in `../shared/conformance/ksm/<kind>.json`
//! for the kinds this build implements, and the project's own vectors in
//! `tests/ksm/vectors/<kind>.json` (cases KSM's unit tests leave out, each derived from KSM's
//! code), rendered through the real store → meter → text path and compared as KSM's own harness
//! compares (see `../shared/README.md`).

use std::path::Path;

use kube_state_otel::kinds::AnyKind;
use kube_state_otel::metric::{AllowList, KindOptions, Stability};
use kube_state_otel::pipeline::all_kinds;
use serde_json::Value;

mod harness;
use harness::render_objects;

mod ksm;
use ksm::{ksm_table, project_vectors_dir, resource_of, vectors_dir};

/// Trims, drops empty lines, sorts the label pairs of sample lines, sorts the lines.
fn normalise(text: &str, names: Option<&[String]>) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| names.is_none_or(|names| names.iter().any(|n| l.contains(n.as_str()))))
        .map(sort_label_pairs)
        .collect();
    lines.sort();
    lines
}

fn sort_label_pairs(line: &str) -> String {
    if line.starts_with('#') {
        return line.to_string();
    }
    let (Some(open), Some(close)) = (line.find('{'), line.rfind('}')) else {
        return line.to_string();
    };
    let mut pairs = split_pairs(&line[open + 1..close]);
    pairs.sort();
    format!(
        "{}{{{}}}{}",
        &line[..open],
        pairs.join(","),
        &line[close + 1..]
    )
}

/// Splits `a="x",b="y"` on the commas outside quotes.
fn split_pairs(labels: &str) -> Vec<String> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in labels.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                pairs.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.is_empty() {
        pairs.push(current);
    }
    pairs
}

fn options(vector: &Value) -> KindOptions {
    let list = |key: &str| {
        AllowList::new(
            vector["options"][key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect::<Vec<String>>()
                })
                .unwrap_or_default(),
        )
    };
    KindOptions {
        allow_labels: list("allow_labels"),
        allow_annotations: list("allow_annotations"),
        ..KindOptions::default()
    }
}

/// Runs every vector of `<dir>/<file>.json`; all mismatches are reported together.
fn check_kind(dir: &Path, file: &str) -> Result<usize, String> {
    let resource = resource_of(file);
    let kind: &dyn AnyKind = all_kinds()
        .into_iter()
        .find(|k| k.resource() == resource)
        .ok_or_else(|| format!("no kind for resource {resource}"))?;
    let path = dir.join(format!("{file}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let vectors: Vec<Value> = serde_json::from_str(&text).expect("vector file is JSON");
    assert!(!vectors.is_empty(), "{} has no vectors", path.display());
    let mut failures = Vec::new();
    for vector in &vectors {
        let names: Option<Vec<String>> = vector["metric_names"].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        });
        let compare_headers = vector["options"]["compare_headers"]
            .as_bool()
            .unwrap_or(true);
        let got = render_objects(kind, [vector["object"].clone()], &options(vector));
        let keep = |lines: Vec<String>| -> Vec<String> {
            lines
                .into_iter()
                .filter(|l| compare_headers || !l.starts_with('#'))
                .collect()
        };
        let want = keep(normalise(
            vector["want"].as_str().unwrap_or_default(),
            names.as_deref(),
        ));
        let got = keep(normalise(&got, names.as_deref()));
        if want != got {
            let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
            let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
            failures.push(format!(
                "{}:\n  missing: {missing:#?}\n  unexpected: {extra:#?}",
                vector["name"]
            ));
        }
    }
    if failures.is_empty() {
        Ok(vectors.len())
    } else {
        Err(format!(
            "{} of {} vectors of {} differ:\n{}",
            failures.len(),
            vectors.len(),
            path.display(),
            failures.join("\n")
        ))
    }
}

/// KSM kind names (vector file stems) of the kinds this build implements.
fn implemented_kinds() -> Vec<String> {
    let resources: Vec<&str> = all_kinds().iter().map(|k| k.resource()).collect();
    let mut kinds: Vec<String> = ksm_table()
        .into_iter()
        .filter(|row| resources.contains(&row["resource"].as_str()))
        .map(|row| row["kind"].clone())
        .collect();
    kinds.dedup();
    kinds
}

#[test]
fn every_vector_of_every_implemented_kind_passes() {
    let kinds = implemented_kinds();
    assert_eq!(
        kinds.len(),
        all_kinds().len(),
        "every kind maps to a KSM kind"
    );
    let mut passed = 0;
    let mut failures = Vec::new();
    for kind in &kinds {
        match check_kind(&vectors_dir(), kind) {
            Ok(n) => passed += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(passed > 0);
    eprintln!("{passed} vectors of {} kinds pass", kinds.len());
}

/// The project's own vectors: every file names an implemented kind, and every vector passes.
#[test]
fn every_project_vector_passes() {
    let dir = project_vectors_dir();
    let implemented = implemented_kinds();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "json").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no vector files", dir.display());
    let mut passed = 0;
    let mut failures = Vec::new();
    for file in &files {
        assert!(
            implemented.contains(file),
            "{file}.json does not name an implemented kind"
        );
        match check_kind(&dir, file) {
            Ok(n) => passed += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!("{passed} project vectors of {} kinds pass", files.len());
}

/// Each implemented kind's table carries exactly KSM's families: names, types, HELP text,
/// stability and opt-in status.
#[test]
fn kind_tables_match_kube_state_metrics_families() {
    let table = ksm_table();
    let mut problems = Vec::new();
    for kind in all_kinds() {
        let rows: Vec<_> = table
            .iter()
            .filter(|row| row["resource"] == kind.resource())
            .collect();
        let families = kind.families();
        for row in &rows {
            let Some(family) = families.iter().find(|f| f.desc.name == row["metric_name"]) else {
                problems.push(format!(
                    "{}: missing {}",
                    kind.resource(),
                    row["metric_name"]
                ));
                continue;
            };
            let help = row["help_line_as_emitted"]
                .strip_prefix(&format!("# HELP {} ", row["metric_name"]))
                .unwrap_or_default();
            // The code's stability decides the HELP prefix (KSM's docs differ for two families).
            let stable = row["code_stability"] == "STABLE";
            let checks = [
                ("HELP", family.desc.help_line == help),
                (
                    "type",
                    family.desc.metric_type.prometheus_name() == row["type"],
                ),
                (
                    "stability",
                    (family.stability == Stability::Stable) == stable,
                ),
                ("opt-in", family.opt_in == (row["opt_in"] == "yes")),
            ];
            for (what, ok) in checks {
                if !ok {
                    problems.push(format!("{}: {what} differs", row["metric_name"]));
                }
            }
        }
        for family in families.iter().filter(|f| f.desc.ksm) {
            if !rows
                .iter()
                .any(|row| row["metric_name"] == family.desc.name)
            {
                problems.push(format!(
                    "{}: {} is not a KSM family",
                    kind.resource(),
                    family.desc.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
