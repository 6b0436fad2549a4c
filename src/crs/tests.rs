//! kube-state-metrics' own unit tests of the engine (`registry_factory_test.go`,
//! `config_test.go`), ported, and the conversions and config errors around them.

use serde_json::{Value, json};

use super::eval::{Each, EachValue, ErrorLog, Evaluating, LabelPaths, Labels};
use super::path::{Got, Path};
use super::value::{GoDisplay, string_to_float64, to_float64};
use super::*;
use crate::metric::intern;

/// The object of `registry_factory_test.go`.
fn cr() -> Value {
    json!({
        "spec": {
            "replicas": 1,
            "version": "v0.0.0",
            "order": [{"id": 1, "value": true}, {"id": 3, "value": false}],
        },
        "status": {
            "active": {"type-a": 1, "type-b": 3},
            "phase": "foo",
            "sub": {
                "type-a": {"active": 1, "ready": 2},
                "type-b": {"active": 3, "ready": 4},
            },
            "uptime": 43.21,
            "quantity_milli": "250m",
            "quantity_binarySI": "5Gi",
            "percentage": "28%",
            "condition_values": [{"name": "a", "value": 45}, {"name": "b", "value": 66}],
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Provisioned", "status": "False"},
            ],
        },
        "metadata": {
            "name": "foo",
            "labels": {"foo": "bar"},
            "annotations": {"qux": "quxx", "bar": "baz"},
            "percentage": "39%",
            "creationTimestamp": "2022-06-28T00:00:00Z",
        },
    })
}

/// A config of one resource whose metrics are `metrics` (YAML list items).
fn config(metrics: &str) -> String {
    format!(
        "spec:\n  resources:\n  - groupVersionKind: {{group: myteam.io, version: v1, kind: Foo}}\n    metrics:\n{}",
        metrics
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    )
}

/// The `each` block of a one-metric config.
fn each(block: &str) -> Each {
    let yaml = config(&format!("- name: m\n  each: {block}"));
    let mut config = CrsConfig::parse(&yaml).unwrap();
    config.resources.remove(0).compiled.remove(0).each
}

fn value(v: f64, labels: &[(&str, &str)]) -> EachValue {
    let mut set = Labels::default();
    for (name, text) in labels {
        set.set(intern(name), intern(text));
    }
    set.0.sort();
    EachValue {
        labels: set,
        value: v,
    }
}

fn path(segments: &[&str]) -> Path {
    Path::compile(&segments.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

/// `Test_values`, every row.
#[test]
fn values() {
    let cases: Vec<(&str, &str, Vec<EachValue>)> = vec![
        (
            "single",
            "{type: Gauge, gauge: {path: [spec, replicas]}}",
            vec![value(1.0, &[])],
        ),
        (
            "obj",
            "{type: Gauge, gauge: {path: [status, active], labelFromKey: type}}",
            vec![
                value(1.0, &[("type", "type-a")]),
                value(3.0, &[("type", "type-b")]),
            ],
        ),
        (
            "deep obj",
            "{type: Gauge, gauge: {path: [status, sub], labelFromKey: type, labelsFromPath: {active: [active]}, valueFrom: [ready]}}",
            vec![
                value(2.0, &[("type", "type-a"), ("active", "1")]),
                value(4.0, &[("type", "type-b"), ("active", "3")]),
            ],
        ),
        (
            "path-relative valueFrom value",
            "{type: Gauge, gauge: {path: [metadata], labelsFromPath: {name: [name]}, valueFrom: [creationTimestamp]}}",
            vec![value(1.6563744e9, &[("name", "foo")])],
        ),
        (
            "non-existent path",
            "{type: Gauge, gauge: {path: [foo], labelsFromPath: {name: [name]}, valueFrom: [creationTimestamp]}}",
            vec![],
        ),
        (
            "exist path but valueFrom path is non-existent single",
            "{type: Gauge, gauge: {path: [spec, replicas], valueFrom: [non-existent]}}",
            vec![],
        ),
        (
            "exist path but valueFrom path non-existent array",
            "{type: Gauge, gauge: {path: [status, condition_values], labelsFromPath: {name: [name]}, valueFrom: [non-existent]}}",
            vec![],
        ),
        (
            "array",
            "{type: Gauge, gauge: {path: [status, condition_values], labelsFromPath: {name: [name]}, valueFrom: [value]}}",
            vec![value(45.0, &[("name", "a")]), value(66.0, &[("name", "b")])],
        ),
        (
            "timestamp",
            "{type: Gauge, gauge: {path: [metadata, creationTimestamp]}}",
            vec![value(1656374400.0, &[])],
        ),
        (
            "quantity_milli",
            "{type: Gauge, gauge: {path: [status, quantity_milli]}}",
            vec![value(0.25, &[])],
        ),
        (
            "quantity_binarySI",
            "{type: Gauge, gauge: {path: [status, quantity_binarySI]}}",
            vec![value(5.36870912e9, &[])],
        ),
        (
            "percentage",
            "{type: Gauge, gauge: {path: [status, percentage]}}",
            vec![value(0.28, &[])],
        ),
        (
            "path-relative valueFrom percentage",
            "{type: Gauge, gauge: {path: [metadata], labelsFromPath: {name: [name]}, valueFrom: [percentage]}}",
            vec![value(0.39, &[("name", "foo")])],
        ),
        (
            "boolean_string",
            "{type: Gauge, gauge: {path: [spec, paused], nilIsZero: true}}",
            vec![value(0.0, &[])],
        ),
        (
            "info",
            "{type: Info, info: {labelsFromPath: {version: [spec, version]}}}",
            vec![value(1.0, &[("version", "v0.0.0")])],
        ),
        (
            "info nil path",
            "{type: Info, info: {path: [does, not, exist]}}",
            vec![],
        ),
        (
            "info label from key",
            "{type: Info, info: {path: [status, active], labelFromKey: type}}",
            vec![
                value(1.0, &[("type", "type-a")]),
                value(1.0, &[("type", "type-b")]),
            ],
        ),
        (
            "info label from path",
            "{type: Info, info: {path: [status, sub], labelsFromPath: {active: [active]}}}",
            vec![
                value(1.0, &[("active", "1")]),
                value(1.0, &[("active", "3")]),
            ],
        ),
        (
            "stateset",
            "{type: StateSet, stateSet: {path: [status, phase], labelName: phase, list: [foo, bar]}}",
            vec![
                value(0.0, &[("phase", "bar")]),
                value(1.0, &[("phase", "foo")]),
            ],
        ),
        (
            "status_conditions",
            "{type: Gauge, gauge: {path: [status, conditions, \"[type=Ready]\", status]}}",
            vec![value(1.0, &[])],
        ),
        (
            "status_conditions_all",
            "{type: Gauge, gauge: {path: [status, conditions], labelsFromPath: {type: [type]}, valueFrom: [status]}}",
            vec![
                value(0.0, &[("type", "Provisioned")]),
                value(1.0, &[("type", "Ready")]),
            ],
        ),
        (
            "= expression matching",
            "{type: Info, info: {labelsFromPath: {bar: [metadata, annotations, \"bar=baz\"]}}}",
            vec![value(1.0, &[("bar", "baz")])],
        ),
    ];
    let object = cr();
    for (name, block, want) in cases {
        let mut got = Vec::new();
        let family = Evaluating {
            family: name,
            log: ErrorLog::Warn,
        };
        each(block).values(Got::Value(&object), family, &mut got);
        assert_eq!(got, want, "{name}");
    }
}

/// `Test_valuePath_Get`.
#[test]
fn path_get() {
    let object = cr();
    let cases: &[(&[&str], Value)] = &[
        (&["spec", "replicas"], json!(1)),
        (
            &["status", "condition_values", "[name=b]", "value"],
            json!(66),
        ),
        (&["spec", "order", "0", "value"], json!(true)),
        (&["metadata", "labels", "foo"], json!("bar")),
        (&["spec", "order", "[id=3]", "value"], json!(false)),
        (&["spec", "order", "[value=false]", "id"], json!(3)),
    ];
    for (segments, want) in cases {
        match path(segments).get(Got::Value(&object)) {
            Got::Value(got) => assert_eq!(got, want, "{segments:?}"),
            other => panic!("{segments:?}: {other:?}"),
        }
    }
}

/// Indexes from either end, out of range, and the error value it resolves to.
#[test]
fn path_indexes_and_lookups() {
    let object = json!({"a": [10, 20, 30], "m": {"engine": "pg"}, "s": [{"k": "1"}, {"k": 2}]});
    let at = Got::Value(&object);
    let text = |segments: &[&str]| GoDisplay(path(segments).get(at)).to_string();
    assert_eq!(text(&["a", "0"]), "10");
    assert_eq!(text(&["a", "-1"]), "30");
    assert_eq!(text(&["a", "+1"]), "20");
    assert_eq!(text(&["a", "3"]), "list index out of range: 3");
    assert_eq!(text(&["a", "-4"]), "list index out of range: -4");
    assert!(path(&["a", "9", "x"]).get(at).is_nil());
    assert!(path(&["a", "x"]).get(at).is_nil());
    assert_eq!(text(&["m", "engine=pg"]), "pg");
    assert!(path(&["m", "engine=mysql"]).get(at).is_nil());
    // `[k=1]` matches the string "1" first, then numbers converted as KSM converts them.
    assert_eq!(text(&["s", "[k=1]", "k"]), "1");
    assert_eq!(text(&["s", "[k=2]", "k"]), "2");
    assert_eq!(text(&["s", "[k=2.0]", "k"]), "2");
    assert!(path(&["s", "[k=3]"]).get(at).is_nil());
    assert!(!path(&[]).get(at).is_nil());
    assert_eq!(
        Path::compile(&["[type]".to_string()]).unwrap_err().0,
        "[type]"
    );
    assert_eq!(path(&["status", "[a=b]"]).to_string(), "[status,[a=b]]");
}

/// `Test_addPathLabels`.
#[test]
fn add_path_labels() {
    let object = cr();
    let labels = |paths: &[(&str, &[&str])]| {
        let compiled = LabelPaths::new(
            paths
                .iter()
                .map(|(name, segments)| (name.to_string(), path(segments)))
                .collect(),
        );
        let mut set = Labels::default();
        compiled.add(Got::Value(&object), &mut set);
        set.0.sort();
        set.0
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let pairs = |p: &[(&str, &str)]| {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        labels(&[
            ("bool", &["spec", "order", "-1", "value"]),
            ("number", &["spec", "replicas"]),
            ("string", &["metadata", "labels", "foo"]),
        ]),
        pairs(&[("bool", "false"), ("number", "1"), ("string", "bar")])
    );
    assert_eq!(
        labels(&[
            ("*1", &["metadata", "annotations"]),
            ("bar", &["metadata", "labels", "foo"]),
            ("label_object_*", &["metadata", "annotations"]),
        ]),
        pairs(&[
            ("bar", "bar"),
            ("label_object_bar", "baz"),
            ("label_object_qux", "quxx"),
            ("qux", "quxx"),
        ])
    );
    // Names are sanitised; "**" keeps its first star as a prefix.
    assert_eq!(
        labels(&[
            ("**", &["metadata", "annotations"]),
            ("a.b", &["spec", "version"])
        ]),
        pairs(&[("_bar", "baz"), ("_qux", "quxx"), ("a_b", "v0.0.0")])
    );
}

/// Samples of a config's first resource for `object`, per family, as `(labels, value)`.
fn samples_of(yaml: &str, object: &Value) -> Vec<Vec<(String, f64)>> {
    let config = CrsConfig::parse(yaml).unwrap();
    let resource = &config.resources[0];
    let mut samples = Samples::default();
    resource.samples(object, "myteam.io", "v1", "Foo", &mut samples);
    let compact = samples.finish();
    (0..compact.family_count())
        .map(|f| {
            compact
                .family(f)
                .map(|(labels, v)| {
                    let text = labels
                        .iter()
                        .map(|(n, v)| format!("{n}={v}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    (text, v)
                })
                .collect()
        })
        .collect()
}

/// `Test_compiledFamily_BaseLabels`, `Test_eachValue_DefaultLabels`, `Test_eachValue_ToMetric`:
/// constant and path labels under the value's own, sorted by name, group/version/kind added.
#[test]
fn base_labels_default_under_own_labels_sorted() {
    let yaml = "spec:
  resources:
  - groupVersionKind: {group: myteam.io, version: v1, kind: Foo}
    commonLabels: {hello: world, foo: baz, baz: quxx, customresource_kind: Replaced}
    labelsFromPath:
      ann: [metadata, annotations, bar]
    metrics:
    - name: m
      each: {type: Info, info: {labelsFromPath: {foo: [metadata, labels, foo]}}}
";
    assert_eq!(
        samples_of(yaml, &cr()),
        vec![vec![(
            "ann=baz,baz=quxx,customresource_group=myteam.io,customresource_kind=Foo,\
             customresource_version=v1,foo=bar,hello=world"
                .to_string(),
            1.0
        )]]
    );
}

/// The labels every sample of a resource has with one value: group/version/kind and the
/// resource's `commonLabels`, less those an enabled family sets otherwise.
#[test]
fn kind_labels_are_the_constants_of_every_enabled_family() {
    let yaml = "spec:
  resources:
  - groupVersionKind: {group: myteam.io, version: v1, kind: Foo}
    commonLabels: {team: a, tier: web}
    labelsFromPath:
      name: [metadata, name]
    metrics:
    - name: one
      each: {type: Gauge, gauge: {path: [spec, replicas]}}
    - name: two
      commonLabels: {tier: db}
      each: {type: Gauge, gauge: {path: [spec, replicas]}}
";
    let config = CrsConfig::parse(yaml).unwrap();
    let kind_labels = |enabled: &[usize]| -> Vec<String> {
        let labels = config.resources[0].kind_labels(enabled, "myteam.io", "v1", "Foo");
        labels.iter().map(|(n, v)| format!("{n}={v}")).collect()
    };
    let mut want = vec![
        "customresource_group=myteam.io",
        "customresource_kind=Foo",
        "customresource_version=v1",
        "team=a",
    ];
    assert_eq!(kind_labels(&[0, 1]), want);
    want.push("tier=web");
    assert_eq!(kind_labels(&[0]), want);
    assert!(kind_labels(&[]).is_empty());
}

/// `Test_fullName`: the prefix rule, null and absent alike.
#[test]
fn full_names() {
    for (prefix, want) in [
        ("", "kube_customresource_count"),
        ("metricNamePrefix: null\n    ", "kube_customresource_count"),
        ("metricNamePrefix: \"\"\n    ", "count"),
        ("metricNamePrefix: bar_baz\n    ", "bar_baz_count"),
    ] {
        let yaml = format!(
            "spec:
  resources:
  - groupVersionKind: {{group: apps, version: v1, kind: Deployment}}
    {prefix}metrics:
    - name: count
      help: Count
      each: {{type: gauge, gauge: {{path: [spec, replicas]}}}}
"
        );
        let config = CrsConfig::parse(&yaml).unwrap();
        assert_eq!(
            config.resources[0].families,
            vec![CrsFamily {
                name: want.to_string(),
                help: "Count".to_string(),
                metric_type: CrsMetricType::Gauge,
            }],
            "{prefix:?}"
        );
    }
}

const EXAMPLE_CONFIG: &str = include_str!("testdata/example_config.yaml");

/// `Test_Metrics_deserialization` on KSM's example config. The example's `'[*]'` and
/// `'[detail]'` are malformed lookups, which we reject where KSM exports nothing at all.
#[test]
fn example_config() {
    let error = CrsConfig::parse(EXAMPLE_CONFIG).unwrap_err().to_string();
    assert!(
        error.contains("spec.resources[0] (group \"myteam.io\", version \"v1\", kind \"Foo\")")
            && error.contains("metrics[2] (\"other_count_array_deep\").each.gauge.path")
            && error.contains("\"[*]\""),
        "{error}"
    );

    // Without the two metrics with malformed lookups.
    let start = EXAMPLE_CONFIG
        .find("        - name: \"other_count_array_deep\"")
        .unwrap();
    let end = EXAMPLE_CONFIG.find("        - name: \"info\"").unwrap();
    let fixed = format!("{}{}", &EXAMPLE_CONFIG[..start], &EXAMPLE_CONFIG[end..]);
    let config = CrsConfig::parse(&fixed).unwrap();
    let resource = &config.resources[0];
    assert_eq!(
        (
            resource.group.as_str(),
            resource.version.as_str(),
            resource.kind.as_str()
        ),
        ("myteam.io", "v1", "Foo")
    );
    assert_eq!(resource.resource_plural, None);
    let names: Vec<_> = resource.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kube_customresource_active_count",
            "kube_customresource_other_count",
            "kube_customresource_info",
            "kube_customresource_phase"
        ]
    );
    let types: Vec<_> = resource.families.iter().map(|f| f.metric_type).collect();
    assert_eq!(
        types,
        [
            CrsMetricType::Gauge,
            CrsMetricType::Gauge,
            CrsMetricType::Info,
            CrsMetricType::StateSet
        ]
    );
    // Labels are merged: the resource's labelsFromPath reach other_count.
    assert_eq!(
        resource.compiled[1].labels,
        LabelPaths::new(vec![("name".to_string(), path(&["metadata", "name"]))])
    );
    assert!(matches!(&resource.compiled[0].each, Each::Gauge(_)));
}

/// Strings to values, in KSM's order of attempts (and `Test_values`' conversions).
#[test]
fn string_conversions() {
    let cases: &[(&str, Option<f64>)] = &[
        ("true", Some(1.0)),
        ("TRUE", Some(1.0)),
        ("Yes", Some(1.0)),
        ("false", Some(0.0)),
        ("No", Some(0.0)),
        ("Unknown", Some(0.0)),
        ("2022-06-28T00:00:00Z", Some(1656374400.0)),
        ("2025-03-01T12:30:45.750Z", Some(1740832245.0)),
        ("2025-03-01T14:30:45+02:00", Some(1740832245.0)),
        ("1969-12-31T23:59:59.5Z", Some(-1.0)),
        ("2024-02-29T00:00:00Z", Some(1709164800.0)),
        ("2023-02-29T00:00:00Z", None),
        ("2025-03-01T24:00:00Z", None),
        ("2025-03-01 12:30:45Z", None),
        ("2025-03-01T12:30:45", None),
        ("250m", Some(0.25)),
        ("5Gi", Some(5368709120.0)),
        ("1.5T", Some(1.5e12)),
        ("2k", Some(2000.0)),
        ("1e3", Some(1000.0)),
        ("-12", Some(-12.0)),
        ("2.71", Some(2.71)),
        ("85%", Some(0.85)),
        ("0%", Some(0.0)),
        ("12.5%", None),
        ("-5%", None),
        ("1.5e-3", Some(0.0015)),
        ("Inf", Some(f64::INFINITY)),
        ("not-a-number", None),
        ("", None),
    ];
    for (s, want) in cases {
        assert_eq!(string_to_float64(s), *want, "{s:?}");
    }
    assert!(string_to_float64("NaN").is_some_and(f64::is_nan));
}

#[test]
fn value_conversions() {
    let object = json!({"b": true, "f": 0.5, "i": -3, "l": [1], "m": {}, "n": null});
    let at = |key: &str| Got::of(object.get(key));
    assert_eq!(to_float64(at("b"), false), Some(1.0));
    assert_eq!(to_float64(at("f"), false), Some(0.5));
    assert_eq!(to_float64(at("i"), false), Some(-3.0));
    assert_eq!(to_float64(at("l"), false), None);
    assert_eq!(to_float64(at("m"), false), None);
    assert_eq!(to_float64(at("n"), false), None);
    assert_eq!(to_float64(at("n"), true), Some(0.0));
    assert_eq!(to_float64(at("missing"), true), Some(0.0));
    assert_eq!(to_float64(Got::OutOfRange("9"), true), None);
}

/// Label values as Go's `%v`.
#[test]
fn go_value_text() {
    for (value, want) in [
        (json!(100), "100"),
        (json!(0.5), "0.5"),
        (json!(12345678.5), "1.23456785e+07"),
        (json!(1e21), "1e+21"),
        (json!(2.0), "2"),
        (json!(u64::MAX), "1.8446744073709552e+19"),
        (json!(true), "true"),
        (json!(["red", "blue"]), "[red blue]"),
        (
            json!({"team": "lab", "oncall": "bob"}),
            "map[oncall:bob team:lab]",
        ),
        (json!([{"a": null}, 1.5]), "[map[a:<nil>] 1.5]"),
    ] {
        assert_eq!(GoDisplay(Got::Value(&value)).to_string(), want);
    }
}

fn error(yaml: &str) -> String {
    CrsConfig::parse(yaml).unwrap_err().to_string()
}

/// The config errors we raise where KSM runs on without CRS metrics (README of the
/// conformance cases), each naming the entry and field.
#[test]
fn stricter_errors_name_the_entry() {
    let entry = "spec.resources[0] (group \"myteam.io\", version \"v1\", kind \"Foo\")";
    let cases = [
        (
            "- name: m\n  each: {type: Counter, gauge: {path: [a]}}",
            "metrics[0] (\"m\").each.type: unknown metric type \"Counter\"",
        ),
        (
            "- name: m\n  each: {type: Gauge, info: {path: [a]}}",
            "metrics[0] (\"m\").each.gauge: missing for type Gauge",
        ),
        (
            "- name: m\n  each: {type: Info}",
            "metrics[0] (\"m\").each.info: missing for type Info",
        ),
        (
            "- name: m\n  each: {type: StateSet, stateSet: {path: [a], list: [x]}}",
            "metrics[0] (\"m\").each.stateSet.labelName: missing",
        ),
        (
            "- name: m\n  each: {type: Gauge, gauge: {path: [a, \"[b]\"]}}",
            "metrics[0] (\"m\").each.gauge.path: invalid list lookup \"[b]\"",
        ),
        (
            "- name: m\n  each: {type: Gauge, gauge: {path: [a], valueFrom: [\"[]\"]}}",
            "metrics[0] (\"m\").each.gauge.valueFrom: invalid list lookup \"[]\"",
        ),
        (
            "- name: m\n  labelsFromPath: {x: [\"[y]\"]}\n  each: {type: Gauge, gauge: {path: [a]}}",
            "metrics[0] (\"m\").labelsFromPath.x: invalid list lookup",
        ),
        (
            "- name: m\n  each: {type: Info, info: {labelsFromPath: {x: [\"[y]\"]}}}",
            "metrics[0] (\"m\").each.info.labelsFromPath.x: invalid list lookup",
        ),
        ("- each: {type: Info, info: {}}", "metrics[0].name: missing"),
        ("- name: m", "metrics[0] (\"m\").each: missing"),
    ];
    for (metrics, want) in cases {
        let got = error(&config(metrics));
        assert!(
            got.contains(entry) && got.contains(want),
            "{got}\nwant {want}"
        );
    }

    let missing_group = "spec:\n  resources:\n  - groupVersionKind: {version: v1, kind: Foo}\n";
    assert!(
        error(missing_group).contains("spec.resources[0] (group \"\", version \"v1\", kind \"Foo\"): groupVersionKind.group: missing"),
        "{}",
        error(missing_group)
    );
    assert!(
        error("spec:\n  resources:\n  - metrics: []\n").contains("groupVersionKind.group: missing")
    );
}

#[test]
fn duplicate_entries_are_rejected_naming_both() {
    let resources = |entries: &[(&str, &str)]| {
        let mut yaml = "spec:\n  resources:\n".to_string();
        for (version, kind) in entries {
            yaml.push_str(&format!(
                "  - groupVersionKind: {{group: myteam.io, version: \"{version}\", kind: \"{kind}\"}}\n"
            ));
        }
        yaml
    };
    let got = error(&resources(&[("v1", "Foo"), ("v1", "Bar"), ("v1", "Foo")]));
    assert!(
        got.contains("spec.resources[0] (group \"myteam.io\", version \"v1\", kind \"Foo\") and spec.resources[2] (group \"myteam.io\", version \"v1\", kind \"Foo\")"),
        "{got}"
    );
    assert!(error(&resources(&[("*", "Foo"), ("v2", "Foo")])).contains("spec.resources[1]"));
    assert!(error(&resources(&[("v1", "*"), ("v1", "Foo")])).contains("spec.resources[1]"));
    // Other versions or kinds of the group are separate resources.
    let config =
        CrsConfig::parse(&resources(&[("v1", "Foo"), ("v2", "Foo"), ("v1", "Bar")])).unwrap();
    assert_eq!(config.resources.len(), 3);
}

/// Decoding as lenient as KSM's, except for keys given twice.
#[test]
fn lenient_decoding() {
    let yaml = "# no kind
spec:
  resources:
  - groupVersionKind: {group: myteam.io, version: v1, kind: Foo}
    resourcePlural: foozes
    errorLogV: 3
    commonLabels: {team.name: a, ratio: 1.50, flag: yes, on: true}
    metrics:
    - name: m
      unknownField: 1
      each: {type: INFO, info: {labelsFromPath: {idx: [spec, list, 0]}}}
---
this: is ignored
";
    let config = CrsConfig::parse(yaml).unwrap();
    assert_eq!(
        config.resources[0].resource_plural.as_deref(),
        Some("foozes")
    );
    assert_eq!(
        config.resources[0].families[0].metric_type,
        CrsMetricType::Info
    );
    let object = json!({"spec": {"list": ["first"]}});
    assert_eq!(
        samples_of(yaml, &object),
        vec![vec![(
            "customresource_group=myteam.io,customresource_kind=Foo,customresource_version=v1,\
             flag=yes,idx=first,on=true,ratio=1.50,team_name=a"
                .to_string(),
            1.0
        )]]
    );

    let twice = "spec:\n  resources:\n  - groupVersionKind: {group: g, version: v1, kind: K}\n    metrics: []\n    metrics: []\n";
    let got = error(twice);
    assert!(
        got.contains("spec.resources[0]") && got.contains("duplicate field `metrics`"),
        "{got}"
    );
    let twice_label = "spec:\n  resources:\n  - groupVersionKind: {group: g, version: v1, kind: K}\n    commonLabels: {a: x, a: y}\n";
    assert!(error(twice_label).contains("mapping key \"a\" already defined"));
    assert!(error("spec: [unclosed\n").contains("custom resource state config"));
    assert!(error("").contains("empty"));
    assert!(error("# only a comment\n").contains("empty"));
    assert!(
        CrsConfig::parse("kind: CustomResourceStateMetrics\n")
            .unwrap()
            .resources
            .is_empty()
    );
}

#[test]
fn serves_wildcards() {
    let yaml = "spec:\n  resources:\n  - groupVersionKind: {group: g, version: \"*\", kind: K}\n  - groupVersionKind: {group: g, version: v1, kind: \"*\"}\n  - groupVersionKind: {group: h, version: v1, kind: K}\n";
    let config = CrsConfig::parse(yaml).unwrap_err().to_string();
    assert!(config.contains("spec.resources[0]") && config.contains("spec.resources[1]"));
    let yaml = "spec:\n  resources:\n  - groupVersionKind: {group: g, version: \"*\", kind: K}\n  - groupVersionKind: {group: h, version: v1, kind: \"*\"}\n";
    let config = CrsConfig::parse(yaml).unwrap();
    let [star_version, star_kind] = &config.resources[..] else {
        panic!()
    };
    assert!(star_version.serves("g", "v1", "K") && star_version.serves("g", "v2", "K"));
    assert!(!star_version.serves("g", "v1", "L") && !star_version.serves("h", "v1", "K"));
    assert!(star_kind.serves("h", "v1", "Anything") && !star_kind.serves("h", "v2", "K"));
}

/// Every family is begun, in order, samples or not.
#[test]
fn one_family_per_metric_in_order() {
    let yaml = config(
        "- name: a\n  each: {type: Gauge, gauge: {path: [missing]}}\n- name: b\n  each: {type: Gauge, gauge: {path: [spec, replicas]}}",
    );
    let families = samples_of(&yaml, &cr());
    assert_eq!(families.len(), 2);
    assert!(families[0].is_empty());
    assert_eq!(families[1].len(), 1);
}

/// `errorLogV` at the resource and at the metric, as KSM reads them: a metric's own non-zero
/// level wins; 0 (the default) logs evaluation errors where they are seen.
#[test]
fn error_log_verbosity() {
    let yaml = "spec:
  resources:
  - groupVersionKind: {group: myteam.io, version: v1, kind: Foo}
    errorLogV: 3
    metrics:
    - {name: inherits, each: {type: Gauge, gauge: {path: [spec, n]}}}
    - {name: zero_inherits, errorLogV: 0, each: {type: Gauge, gauge: {path: [spec, n]}}}
  - groupVersionKind: {group: myteam.io, version: v1, kind: Bar}
    metrics:
    - {name: default, each: {type: Gauge, gauge: {path: [spec, n]}}}
    - {name: own, errorLogV: 2, each: {type: Gauge, gauge: {path: [spec, n]}}}
";
    let config = CrsConfig::parse(yaml).unwrap();
    let levels: Vec<Vec<ErrorLog>> = config
        .resources
        .iter()
        .map(|r| r.compiled.iter().map(|c| c.error_log).collect())
        .collect();
    assert_eq!(
        levels,
        [
            vec![ErrorLog::Debug, ErrorLog::Debug],
            vec![ErrorLog::Warn, ErrorLog::Debug]
        ]
    );
}
