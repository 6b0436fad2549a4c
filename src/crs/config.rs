//! The config file's shape, decoded as leniently as kube-state-metrics decodes it, and its
//! compilation into [`CrsResource`]s.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::eval::{CommonValue, CompiledFamily, Each, ErrorLog, Gauge, Info, LabelPaths, StateSet};
use super::path::Path;
use super::{CrsError, CrsFamily, CrsMetricType, CrsResource};
use crate::kinds::common::sanitize_label_name;
use crate::metric::{Text, intern};

/// Unknown fields (`kind`, …) are ignored, as kube-state-metrics ignores them.
#[derive(Deserialize)]
pub(super) struct RawConfig {
    spec: Option<RawSpec>,
}

#[derive(Deserialize)]
struct RawSpec {
    resources: Option<Vec<RawResource>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawResource {
    group_version_kind: Option<RawGvk>,
    common_labels: Option<UniqueMap<String>>,
    labels_from_path: Option<UniqueMap<Vec<String>>>,
    metric_name_prefix: Option<String>,
    resource_plural: Option<String>,
    error_log_v: Option<u32>,
    metrics: Option<Vec<RawGenerator>>,
}

#[derive(Deserialize)]
struct RawGvk {
    group: Option<String>,
    version: Option<String>,
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGenerator {
    name: Option<String>,
    help: Option<String>,
    common_labels: Option<UniqueMap<String>>,
    labels_from_path: Option<UniqueMap<Vec<String>>>,
    error_log_v: Option<u32>,
    each: Option<RawEach>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEach {
    #[serde(rename = "type")]
    metric_type: Option<String>,
    gauge: Option<RawGauge>,
    state_set: Option<RawStateSet>,
    info: Option<RawInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGauge {
    path: Option<Vec<String>>,
    labels_from_path: Option<UniqueMap<Vec<String>>>,
    value_from: Option<Vec<String>>,
    nil_is_zero: Option<bool>,
    label_from_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInfo {
    path: Option<Vec<String>>,
    labels_from_path: Option<UniqueMap<Vec<String>>>,
    label_from_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStateSet {
    path: Option<Vec<String>>,
    labels_from_path: Option<UniqueMap<Vec<String>>>,
    value_from: Option<Vec<String>>,
    label_name: Option<String>,
    list: Option<Vec<String>>,
}

/// A mapping that rejects a key given twice, as kube-state-metrics' YAML decoder does (serde
/// maps keep the last silently).
struct UniqueMap<V>(BTreeMap<String, V>);

impl<V> Default for UniqueMap<V> {
    fn default() -> Self {
        UniqueMap(BTreeMap::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = UniqueMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((key, value)) = access.next_entry::<String, V>()? {
                    if map.contains_key(&key) {
                        return Err(de::Error::custom(format!(
                            "mapping key {key:?} already defined"
                        )));
                    }
                    map.insert(key, value);
                }
                Ok(UniqueMap(map))
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

/// Where an error is: the resource entry, and within it the field.
struct Entry {
    name: String,
}

impl Entry {
    fn error(&self, field: impl Into<String>, message: impl Into<String>) -> CrsError {
        CrsError::Invalid {
            entry: self.name.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn path(&self, field: &str, segments: &[String]) -> Result<Path, CrsError> {
        Path::compile(segments).map_err(|e| self.error(field, e.to_string()))
    }

    /// `path` and `labelsFromPath` of the `each` block at `field`.
    fn meta(
        &self,
        field: &str,
        path: Option<Vec<String>>,
        labels: Option<UniqueMap<Vec<String>>>,
    ) -> Result<(Path, LabelPaths), CrsError> {
        let path = self.path(&format!("{field}.path"), &path.unwrap_or_default())?;
        let labels = self.label_paths(
            &format!("{field}.labelsFromPath"),
            labels.unwrap_or_default().0,
        )?;
        Ok((path, labels))
    }

    fn value_from(&self, field: &str, segments: Option<Vec<String>>) -> Result<Path, CrsError> {
        self.path(&format!("{field}.valueFrom"), &segments.unwrap_or_default())
    }

    fn label_paths(
        &self,
        field: &str,
        paths: BTreeMap<String, Vec<String>>,
    ) -> Result<LabelPaths, CrsError> {
        let compiled = paths
            .into_iter()
            .map(|(name, segments)| {
                let path = self.path(&format!("{field}.{name}"), &segments)?;
                Ok((name, path))
            })
            .collect::<Result<Vec<_>, CrsError>>()?;
        Ok(LabelPaths::new(compiled))
    }
}

/// `labelFromKey`; empty is unset, as in kube-state-metrics.
fn key_label(name: Option<String>) -> Option<Text> {
    name.filter(|n| !n.is_empty()).map(|n| intern(&n))
}

/// The label names kube-state-metrics adds to every custom resource sample.
const GROUP_LABEL: &str = "customresource_group";
const VERSION_LABEL: &str = "customresource_version";
const KIND_LABEL: &str = "customresource_kind";

/// Compiles every entry, then rejects entries that would serve the same group/version/kind.
pub(super) fn compile(raw: RawConfig) -> Result<Vec<CrsResource>, CrsError> {
    let raw_resources = raw.spec.and_then(|s| s.resources).unwrap_or_default();
    let mut resources = Vec::with_capacity(raw_resources.len());
    for (index, raw) in raw_resources.into_iter().enumerate() {
        let resource = compile_resource(index, raw)?;
        if let Some((first, _)) = resources
            .iter()
            .enumerate()
            .find(|(_, r): &(usize, &CrsResource)| r.overlaps(&resource))
        {
            return Err(CrsError::Duplicate {
                first: entry_name(first, &resources[first]),
                second: entry_name(index, &resource),
            });
        }
        resources.push(resource);
    }
    Ok(resources)
}

fn entry_name(index: usize, r: &CrsResource) -> String {
    format!(
        "spec.resources[{index}] (group {:?}, version {:?}, kind {:?})",
        r.group, r.version, r.kind
    )
}

fn compile_resource(index: usize, raw: RawResource) -> Result<CrsResource, CrsError> {
    let gvk = raw.group_version_kind.unwrap_or(RawGvk {
        group: None,
        version: None,
        kind: None,
    });
    let (group, version, kind) = (
        gvk.group.unwrap_or_default(),
        gvk.version.unwrap_or_default(),
        gvk.kind.unwrap_or_default(),
    );
    let entry = Entry {
        name: format!(
            "spec.resources[{index}] (group {group:?}, version {version:?}, kind {kind:?})"
        ),
    };
    for (field, value) in [("group", &group), ("version", &version), ("kind", &kind)] {
        if value.is_empty() {
            return Err(entry.error(format!("groupVersionKind.{field}"), "missing"));
        }
    }
    // An absent or null prefix is kube-state-metrics' default; "" means none.
    let prefix = raw
        .metric_name_prefix
        .unwrap_or_else(|| "kube_customresource".to_string());
    let resource_common = raw.common_labels.unwrap_or_default().0;
    let resource_paths = raw.labels_from_path.unwrap_or_default().0;

    let metrics = raw.metrics.unwrap_or_default();
    let mut families = Vec::with_capacity(metrics.len());
    let mut compiled = Vec::with_capacity(metrics.len());
    for (i, metric) in metrics.into_iter().enumerate() {
        let name = metric.name.unwrap_or_default();
        let at = format!("metrics[{i}] ({name:?})");
        if name.is_empty() {
            return Err(entry.error(format!("metrics[{i}].name"), "missing"));
        }
        let (metric_type, each) = compile_each(&entry, &at, metric.each)?;

        // Group/version/kind replace resource-level labels of the same name; metric-level
        // labels replace them in turn.
        let mut common = BTreeMap::new();
        for (label, value) in &resource_common {
            common.insert(
                sanitize_label_name(label),
                CommonValue::Fixed(intern(value)),
            );
        }
        common.insert(GROUP_LABEL.to_string(), CommonValue::Group);
        common.insert(VERSION_LABEL.to_string(), CommonValue::Version);
        common.insert(KIND_LABEL.to_string(), CommonValue::Kind);
        for (label, value) in metric.common_labels.unwrap_or_default().0 {
            common.insert(
                sanitize_label_name(&label),
                CommonValue::Fixed(intern(&value)),
            );
        }
        let mut paths = resource_paths.clone();
        paths.extend(metric.labels_from_path.unwrap_or_default().0);

        // A metric's own level wins when it is not zero, as in kube-state-metrics.
        let error_log_v = metric
            .error_log_v
            .filter(|&v| v != 0)
            .or(raw.error_log_v)
            .unwrap_or(0);
        compiled.push(CompiledFamily {
            error_log: ErrorLog::at(error_log_v),
            common: common
                .into_iter()
                .map(|(label, value)| (intern(&label), value))
                .collect(),
            labels: entry.label_paths(&format!("{at}.labelsFromPath"), paths)?,
            each,
        });
        families.push(CrsFamily {
            name: if prefix.is_empty() {
                name
            } else {
                format!("{prefix}_{name}")
            },
            help: metric.help.unwrap_or_default(),
            metric_type,
        });
    }
    Ok(CrsResource {
        group,
        version,
        kind,
        resource_plural: raw.resource_plural.filter(|p| !p.is_empty()),
        families,
        compiled,
    })
}

fn compile_each(
    entry: &Entry,
    at: &str,
    each: Option<RawEach>,
) -> Result<(CrsMetricType, Each), CrsError> {
    let Some(each) = each else {
        return Err(entry.error(format!("{at}.each"), "missing"));
    };
    let metric_type = each.metric_type.unwrap_or_default();
    // The type is matched in any case, as kube-state-metrics lowercases it.
    match metric_type.to_ascii_lowercase().as_str() {
        "gauge" => {
            let field = format!("{at}.each.gauge");
            let g = each
                .gauge
                .ok_or_else(|| entry.error(&field, "missing for type Gauge"))?;
            let (path, labels) = entry.meta(&field, g.path, g.labels_from_path)?;
            let gauge = Gauge {
                path,
                labels,
                value_from: entry.value_from(&field, g.value_from)?,
                nil_is_zero: g.nil_is_zero.unwrap_or(false),
                label_from_key: key_label(g.label_from_key),
            };
            Ok((CrsMetricType::Gauge, Each::Gauge(gauge)))
        }
        "info" => {
            let field = format!("{at}.each.info");
            let i = each
                .info
                .ok_or_else(|| entry.error(&field, "missing for type Info"))?;
            let (path, labels) = entry.meta(&field, i.path, i.labels_from_path)?;
            let info = Info {
                path,
                labels,
                label_from_key: key_label(i.label_from_key),
            };
            Ok((CrsMetricType::Info, Each::Info(info)))
        }
        "stateset" => {
            let field = format!("{at}.each.stateSet");
            let s = each
                .state_set
                .ok_or_else(|| entry.error(&field, "missing for type StateSet"))?;
            let label_name = s.label_name.unwrap_or_default();
            if label_name.is_empty() {
                return Err(entry.error(format!("{field}.labelName"), "missing"));
            }
            let (path, labels) = entry.meta(&field, s.path, s.labels_from_path)?;
            let set = StateSet {
                path,
                labels,
                value_from: entry.value_from(&field, s.value_from)?,
                label_name: intern(&label_name),
                list: s
                    .list
                    .unwrap_or_default()
                    .iter()
                    .map(|v| intern(v))
                    .collect(),
            };
            Ok((CrsMetricType::StateSet, Each::StateSet(set)))
        }
        _ => Err(entry.error(
            format!("{at}.each.type"),
            format!("unknown metric type {metric_type:?}: expected Gauge, StateSet or Info"),
        )),
    }
}
