//! The semconv side of the kind tables against the OpenTelemetry model files
//! (`../shared/semconv/`, semantic conventions v1.44): every metric of the model is reported
//! with its name, unit, instrument, number type and attributes, or listed in `kinds::semconv::NOT_REPORTED`
//! with a reason; entity attributes are the model's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use kube_state_otel::kinds::semconv::NOT_REPORTED;
use kube_state_otel::metric::semconv::is_resource_attribute;
use kube_state_otel::pipeline::all_kinds;
use serde_yaml_ng::Value;

fn model(file: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/semconv")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} readable: {e}", path.display()));
    let doc: Value = serde_yaml_ng::from_str(&text).expect("model is YAML");
    doc["groups"].as_sequence().expect("groups").clone()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

struct ModelMetric {
    unit: String,
    brief: String,
    instrument: String,
    /// `metric_value_type`: `int` or `double` (double where the model does not say).
    value_type: String,
    /// Its own attributes and those of the entities it is associated with.
    attributes: BTreeSet<String>,
}

/// `ref`s of a group's attributes.
fn refs(group: &Value) -> impl Iterator<Item = String> + '_ {
    group["attributes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|a| text(&a["ref"]).to_string())
}

fn entities() -> Vec<Value> {
    model("semconv_k8s_entities.yaml")
}

fn model_metrics() -> BTreeMap<String, ModelMetric> {
    let entities = entities();
    model("semconv_k8s_metrics.yaml")
        .iter()
        .filter(|g| text(&g["type"]) == "metric")
        .map(|g| {
            let associated = g["entity_associations"].as_sequence().cloned();
            let mut attributes: BTreeSet<String> = refs(g).collect();
            for entity in associated.unwrap_or_default() {
                let group = entities.iter().find(|e| e["name"] == entity);
                attributes.extend(group.into_iter().flat_map(refs));
            }
            (
                text(&g["metric_name"]).to_string(),
                ModelMetric {
                    unit: text(&g["unit"]).to_string(),
                    brief: text(&g["brief"])
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                    instrument: text(&g["instrument"]).to_string(),
                    value_type: g["annotations"]["code_generation"]["metric_value_type"]
                        .as_str()
                        .unwrap_or("double")
                        .to_string(),
                    attributes,
                },
            )
        })
        .collect()
}

#[test]
fn every_model_metric_is_reported_or_explained() {
    let model = model_metrics();
    assert!(model.len() > 100, "the model has {} metrics", model.len());
    let mut problems = Vec::new();
    let mut reported = BTreeSet::new();
    for kind in all_kinds() {
        for family in kind.families() {
            for m in family.desc.semconv {
                reported.insert(m.name);
                let Some(want) = model.get(m.name) else {
                    problems.push(format!("{}: not in the model", m.name));
                    continue;
                };
                if m.brief != want.brief {
                    problems.push(format!(
                        "{}: brief {:?} != {:?}",
                        m.name, m.brief, want.brief
                    ));
                }
                if m.unit != want.unit {
                    problems.push(format!("{}: unit {} != {}", m.name, m.unit, want.unit));
                }
                for (what, ours, model) in [
                    ("instrument", m.instrument.model_name(), &want.instrument),
                    ("values", m.value_type.model_name(), &want.value_type),
                ] {
                    if ours != model {
                        problems.push(format!("{}: {what} {ours} != {model}", m.name));
                    }
                }
                for attr in m.attributes {
                    if !want.attributes.contains(attr.name()) {
                        problems.push(format!(
                            "{}: attribute {} not in the model",
                            m.name,
                            attr.name()
                        ));
                    }
                    if is_resource_attribute(attr.name()) {
                        problems.push(format!(
                            "{}: {} would move to the resource",
                            m.name,
                            attr.name()
                        ));
                    }
                }
            }
        }
    }
    for (name, reason) in NOT_REPORTED {
        assert!(!reason.is_empty());
        if reported.contains(name) {
            problems.push(format!("{name}: reported, yet listed as not reported"));
        }
        if !model.contains_key(*name) {
            problems.push(format!("{name}: listed as not reported, not in the model"));
        }
    }
    for name in model.keys() {
        if !reported.contains(name.as_str()) && !NOT_REPORTED.iter().any(|(n, _)| n == name) {
            problems.push(format!("{name}: neither reported nor explained"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A kind's resource attributes are its entity's in the model: the identifying UID and the
/// name (plus the namespace for namespaced kinds), all recognised as resource attributes.
#[test]
fn entities_follow_the_model() {
    let entities: BTreeMap<String, Vec<(String, String)>> = entities()
        .iter()
        .map(|g| {
            let attributes = g["attributes"]
                .as_sequence()
                .map(|a| {
                    a.iter()
                        .map(|a| (text(&a["ref"]).to_string(), text(&a["role"]).to_string()))
                        .collect()
                })
                .unwrap_or_default();
            (text(&g["name"]).to_string(), attributes)
        })
        .collect();
    let mut with_entity = 0;
    for kind in all_kinds() {
        let Some(entity) = kind.entity() else {
            assert!(
                kind.families().iter().all(|f| f.desc.semconv.is_empty()),
                "{} has semconv metrics but no entity",
                kind.resource()
            );
            continue;
        };
        with_entity += 1;
        assert_eq!(entity.identity.len(), kind.identity_labels().len());
        let keys: Vec<&str> = entity.identity.iter().copied().chain(entity.uid).collect();
        let own = keys
            .iter()
            .find(|k| k.ends_with(".name") && **k != "k8s.namespace.name" || keys.len() == 1)
            .expect("a name attribute");
        let entity_name = own.trim_end_matches(".name");
        let model = entities
            .get(entity_name)
            .unwrap_or_else(|| panic!("no entity {entity_name} in the model"));
        for (attribute, role) in model {
            if role == "identifying" {
                assert!(
                    keys.contains(&attribute.as_str()),
                    "{entity_name}: {attribute} missing"
                );
            }
        }
        for key in &keys {
            assert!(is_resource_attribute(key), "{key}");
            let namespace = *key == "k8s.namespace.name";
            assert!(
                namespace || model.iter().any(|(a, _)| a == key),
                "{entity_name}: {key} is not the entity's"
            );
        }
        assert_eq!(
            keys.contains(&"k8s.namespace.name"),
            kind.namespaced() || entity_name == "k8s.namespace"
        );
    }
    assert!(with_entity >= 15, "{with_entity} kinds have an entity");
}

/// Under `semconv` the kinds semconv has nothing for are not watched, unless `--resources`
/// names them; under `both` every default kind is.
#[test]
fn semconv_watches_only_kinds_it_reports() {
    use kube_state_otel::metric::Schema;
    use kube_state_otel::pipeline::{OPTIONAL_RESOURCES, Pipeline, PipelineSettings};
    use kube_state_otel::telemetry::Telemetry;

    let watched = |schema, resources: &[&str]| -> BTreeSet<&'static str> {
        let settings = PipelineSettings {
            schema,
            resources: resources.iter().map(|r| r.to_string()).collect(),
            ..PipelineSettings::default()
        };
        let pipeline = Pipeline::new(settings, Telemetry::new()).expect("valid settings");
        pipeline.status().into_iter().map(|k| k.resource).collect()
    };
    let with_entity: BTreeSet<&'static str> = all_kinds()
        .into_iter()
        .filter(|k| k.entity().is_some() && !OPTIONAL_RESOURCES.contains(&k.resource()))
        .map(|k| k.resource())
        .collect();
    assert!(with_entity.contains("pods") && !with_entity.contains("configmaps"));
    assert_eq!(watched(Schema::Semconv, &[]), with_entity);
    assert!(watched(Schema::Both, &[]).contains("configmaps"));
    assert_eq!(
        watched(Schema::Semconv, &["configmaps", "pods"]),
        BTreeSet::from(["configmaps", "pods"])
    );
}
