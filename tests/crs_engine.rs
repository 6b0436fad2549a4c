//! The Custom Resource State engine against kube-state-metrics v2.20, without a server: every
//! case of `../shared/conformance/crs/` (see its README). The CRDs of a case say which
//! versions are served; each configured entry is evaluated on every object of each served
//! group/version/kind it covers, rendered as KSM's text (HELP/TYPE only for a resource with
//! objects, `gauge` for every type) and compared with KSM's output as the README says:
//! families, HELP/TYPE lines, samples as multisets, values within 1e-9 relative.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use kube_state_otel::crs::{CrsConfig, CrsResource};
use kube_state_otel::metric::{Samples, format_go_float, interleave};
use serde::Deserialize;
use serde_json::Value;

mod crs_cases;
use crs_cases::{case_dirs, compare, name};

/// The objects an API server would serve: CRDs and custom resources.
#[derive(Default)]
struct Cluster {
    crds: Vec<Value>,
    objects: Vec<Value>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// An object's identity: group, kind, namespace, name (`metadata` or, in deletions, top level).
fn identity(v: &Value) -> (String, String, String, String) {
    let field = |k: &str| {
        let at = str_at(v, &["metadata", k]);
        if at.is_empty() { str_at(v, &[k]) } else { at }.to_string()
    };
    (
        group_of(str_at(v, &["apiVersion"])).to_string(),
        str_at(v, &["kind"]).to_string(),
        field("namespace"),
        field("name"),
    )
}

impl Cluster {
    fn load(dir: &Path) -> Cluster {
        let mut files: Vec<_> = fs::read_dir(dir.join("objects"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut cluster = Cluster::default();
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            for document in serde_yaml_ng::Deserializer::from_str(&text) {
                let object = Value::deserialize(document).unwrap();
                if !object.is_null() {
                    cluster.apply(object);
                }
            }
        }
        cluster
    }

    fn apply(&mut self, object: Value) {
        let list = if str_at(&object, &["kind"]) == "CustomResourceDefinition" {
            &mut self.crds
        } else {
            &mut self.objects
        };
        let id = identity(&object);
        match list.iter_mut().find(|o| identity(o) == id) {
            Some(existing) => *existing = object,
            None => list.push(object),
        }
    }

    fn delete(&mut self, object: &Value) {
        let id = identity(object);
        self.objects.retain(|o| identity(o) != id);
        self.crds.retain(|o| identity(o) != id);
    }

    /// Applies `change.json` as its `change-endpoint.txt` says.
    fn change(&mut self, dir: &Path) {
        let endpoint = fs::read_to_string(dir.join("change-endpoint.txt")).unwrap();
        let change: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("change.json")).unwrap()).unwrap();
        let objects = match change {
            Value::Array(items) => items,
            single => vec![single],
        };
        for object in objects {
            match endpoint.trim() {
                "apply" => self.apply(object),
                "delete" => self.delete(&object),
                other => panic!("unknown change endpoint {other:?}"),
            }
        }
    }

    /// The served group/version/kind/plural of every CRD.
    fn served(&self) -> Vec<(String, String, String, String)> {
        let mut served = Vec::new();
        for crd in &self.crds {
            let group = str_at(crd, &["spec", "group"]);
            let kind = str_at(crd, &["spec", "names", "kind"]);
            let plural = str_at(crd, &["spec", "names", "plural"]);
            let versions = crd["spec"]["versions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for version in versions {
                if version["served"].as_bool() == Some(true) {
                    let name = str_at(&version, &["name"]);
                    served.push((group.into(), name.into(), kind.into(), plural.into()));
                }
            }
        }
        served
    }
}

/// HELP as KSM prints it: escaped, and without trailing blanks (case 10 writes
/// `help: "status condition "`, KSM prints `status condition`). That is the exporter's part.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .trim_end_matches([' ', '\t'])
        .to_string()
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// KSM's `/metrics` for the config's families, in KSM's writer order (GVR strings sorted).
/// A family's HELP/TYPE come once, from the first resource with objects that defines it.
fn render(config: &CrsConfig, cluster: &Cluster) -> String {
    let mut blocks: Vec<(String, &CrsResource, (String, String, String))> = Vec::new();
    for resource in &config.resources {
        for (group, version, kind, plural) in cluster.served() {
            if resource.serves(&group, &version, &kind) {
                let gvr = format!("{group}/{version}, Resource={plural}");
                blocks.push((gvr, resource, (group, version, kind)));
            }
        }
    }
    blocks.sort_by(|a, b| a.0.cmp(&b.0));

    let mut families: Vec<(String, String)> = Vec::new();
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, resource, (group, version, kind)) in blocks {
        let objects: Vec<&Value> = cluster
            .objects
            .iter()
            .filter(|o| identity(o).0 == group && identity(o).1 == kind)
            .collect();
        if objects.is_empty() {
            continue;
        }
        for family in &resource.families {
            if !families.iter().any(|(name, _)| *name == family.name) {
                families.push((family.name.clone(), family.help.clone()));
            }
        }
        for object in objects {
            // The API server serves every object in the version asked for.
            let mut object = object.clone();
            object["apiVersion"] = Value::String(format!("{group}/{version}"));
            // Stored as the exporter stores it: common labels once, put back here.
            let mut samples = Samples::default();
            let all: Vec<usize> = (0..resource.families.len()).collect();
            samples.share_common_labels(&resource.kind_labels(&all, &group, &version, &kind));
            resource.samples(&object, &group, &version, &kind, &mut samples);
            let compact = samples.finish();
            assert_eq!(compact.family_count(), resource.families.len());
            let common: Vec<_> = compact.common_labels().collect();
            for (index, family) in resource.families.iter().enumerate() {
                for (labels, order, value) in compact.family_with_common(index) {
                    let labels: Vec<String> = interleave(order, common.iter().copied(), labels)
                        .map(|(n, v)| format!("{n}=\"{}\"", escape_label(v)))
                        .collect();
                    lines.entry(family.name.clone()).or_default().push(format!(
                        "{}{{{}}} {}",
                        family.name,
                        labels.join(","),
                        format_go_float(value)
                    ));
                }
            }
        }
    }
    let mut text = String::new();
    for (name, help) in families {
        text.push_str(&format!(
            "# HELP {name} {}\n# TYPE {name} gauge\n",
            escape_help(&help)
        ));
        for line in lines.remove(&name).unwrap_or_default() {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

#[test]
fn all_cases_are_run() {
    let names: Vec<_> = case_dirs().iter().map(|d| name(d)).collect();
    assert_eq!(names.len(), 17, "{names:?}");
}

/// The cases KSM starts on: output, and after the watch step where there is one.
#[test]
fn cases_match_ksm() {
    let mut states = 0;
    for dir in case_dirs() {
        if dir.join("expected-error.txt").exists() {
            continue;
        }
        let case = name(&dir);
        let config = CrsConfig::parse(&fs::read_to_string(dir.join("config.yaml")).unwrap())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let mut cluster = Cluster::load(&dir);
        let want = fs::read_to_string(dir.join("expected.prom")).unwrap();
        compare(&case, &render(&config, &cluster), &want);
        states += 1;
        if dir.join("change.json").exists() {
            cluster.change(&dir);
            let want = fs::read_to_string(dir.join("expected-after.prom")).unwrap();
            compare(
                &format!("{case} after the change"),
                &render(&config, &cluster),
                &want,
            );
            states += 1;
        }
    }
    // 15 cases KSM starts on, 3 of them with a watch step.
    assert_eq!(states, 18);
}

/// The cases KSM refuses to start on: ours refuse too, saying where.
#[test]
fn startup_errors() {
    let wants = [
        ("e1-yaml-syntax", "did not find expected ',' or ']'"),
        (
            "e2-duplicate-key",
            "spec.resources[0]: duplicate field `metrics`",
        ),
    ];
    let errors: Vec<_> = case_dirs()
        .into_iter()
        .filter(|d| d.join("expected-error.txt").exists())
        .collect();
    assert_eq!(errors.len(), wants.len());
    for (dir, (case, want)) in errors.iter().zip(wants) {
        assert_eq!(name(dir), case);
        let recorded = fs::read_to_string(dir.join("expected-error.txt")).unwrap();
        assert!(recorded.contains("exit_code: 1"), "{case}: {recorded}");
        let error = CrsConfig::parse(&fs::read_to_string(dir.join("config.yaml")).unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains(want), "{case}: {error}");
    }
}
