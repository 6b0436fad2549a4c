//! CustomResourceDefinitions: what the apiextensions-apiserver does to a CRD when it is
//! written, done at once instead of by controllers a moment later, and the custom resource
//! type a CRD defines.
//!
//! On every write ([`prepare`]) the CRD is validated (a subset of `ValidateCustomResourceDefinition`),
//! defaulted (`SetDefaults_CustomResourceDefinitionSpec`), given `generation` and
//! `status.storedVersions` as the registry strategy does (`PrepareForCreate`/`PrepareForUpdate`),
//! and accepted and established as the naming and establishing controllers do (NamesAccepted
//! and Established True, `acceptedNames` = the spec's names). The emulator then serves the
//! custom resource ([`crate::surface::Surface`]); deleting the CRD first deletes its objects,
//! as the `customresourcecleanup.apiextensions.k8s.io` finalizer does
//! (`Emulator::delete_stored`).
//!
//! Not emulated: name conflicts between CRDs of a group (NamesAccepted False), schema
//! validation and pruning, conversion webhooks (every version serves the same stored object,
//! conversion strategy None), `additionalPrinterColumns` in Tables, and the `listKind` of list
//! responses (always `<kind>List`).

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::resources::{self, ApiVersion, CustomType, ResourceId};
use crate::util::{now_unix, rfc3339};

/// Group of CustomResourceDefinitions.
const GROUP: &str = "apiextensions.k8s.io";

/// Whether `r` is `customresourcedefinitions.apiextensions.k8s.io`.
pub(crate) fn is_crd(r: ResourceId) -> bool {
    let rt = resources::get(r);
    rt.group == GROUP && rt.plural == "customresourcedefinitions"
}

/// Validates and completes a CRD about to be stored (`old`: the stored one, for an update)
/// and returns the custom resource type it defines.
pub(crate) fn prepare(crd: &mut Value, old: Option<&Value>) -> Result<CustomType> {
    let name = crd["metadata"]["name"].as_str().unwrap_or("").to_string();
    let invalid = |field: &str, message: &str| {
        Error::InvalidObject(format!(
            "CustomResourceDefinition.{GROUP} {name:?} is invalid: {field}: {message}"
        ))
    };
    let spec = crd
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| invalid("spec", "Required value"))?;
    default_spec(spec);
    let text = |v: &Value, path: &str| -> Result<String> {
        let s = v.as_str().unwrap_or("");
        if s.is_empty() {
            return Err(invalid(path, "Required value"));
        }
        Ok(s.to_string())
    };
    let group = text(&spec["group"], "spec.group")?;
    let names = &spec["names"];
    let plural = text(&names["plural"], "spec.names.plural")?;
    let kind = text(&names["kind"], "spec.names.kind")?;
    let singular = text(&names["singular"], "spec.names.singular")?;
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            "metadata.name",
            &format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let namespaced = match spec["scope"].as_str() {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        other => {
            return Err(invalid(
                "spec.scope",
                &format!(
                    "Unsupported value: {:?}: supported values: \"Cluster\", \"Namespaced\"",
                    other.unwrap_or("")
                ),
            ));
        }
    };
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        return Err(invalid(
            "spec.versions",
            "Required value: must have exactly one version marked as storage version",
        ));
    }
    let mut parsed: Vec<ApiVersion> = Vec::new();
    for v in &versions {
        let version = text(&v["name"], "spec.versions[].name")?;
        if parsed.iter().any(|p| p.name == version) {
            return Err(invalid(
                "spec.versions",
                &format!("Invalid value: {version:?}: must contain unique version names"),
            ));
        }
        parsed.push(ApiVersion {
            name: resources::intern(&version),
            since: 0,
            removed: None,
            enabled_by_default: v["served"].as_bool().unwrap_or(false),
        });
    }
    let storage: Vec<&str> = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .filter_map(|v| v["name"].as_str())
        .collect();
    let [storage] = storage.as_slice() else {
        return Err(invalid(
            "spec.versions",
            &format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                storage.len()
            ),
        ));
    };
    let storage = storage.to_string();
    if let Some(old) = old {
        // `ValidateCustomResourceDefinitionSpecUpdate`: group and plural make the name;
        // scope and kind are fixed once established, which a CRD here is from its creation.
        let old_spec = &old["spec"];
        for (path, new, was) in [
            ("spec.group", &spec["group"], &old_spec["group"]),
            (
                "spec.names.plural",
                &names["plural"],
                &old_spec["names"]["plural"],
            ),
            ("spec.scope", &spec["scope"], &old_spec["scope"]),
            (
                "spec.names.kind",
                &names["kind"],
                &old_spec["names"]["kind"],
            ),
        ] {
            if new != was {
                return Err(invalid(
                    path,
                    &format!("Invalid value: {new}: field is immutable"),
                ));
            }
        }
    }
    let strings = |v: &Value| -> Vec<&'static str> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(resources::intern)
                    .collect()
            })
            .unwrap_or_default()
    };
    let custom = CustomType {
        group: resources::intern(&group),
        versions: {
            // Discovery and the preferred version order versions kube-aware, like every group's.
            parsed.sort_by_key(|v| resources::version_priority(v.name));
            parsed
        },
        plural: resources::intern(&plural),
        singular: resources::intern(&singular),
        kind: resources::intern(&kind),
        namespaced,
        short_names: strings(&names["shortNames"]),
        categories: strings(&names["categories"]),
    };
    let names = names.clone();
    let spec_changed = old.is_some_and(|o| o["spec"] != crd["spec"]);
    set_status(crd, old, names, &storage, spec_changed);
    Ok(custom)
}

/// `SetDefaults_CustomResourceDefinitionSpec`: singular, listKind and the conversion strategy.
fn default_spec(spec: &mut Map<String, Value>) {
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let missing = |names: &Map<String, Value>, key: &str| {
            names
                .get(key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        };
        if missing(names, "singular") {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if missing(names, "listKind") && !kind.is_empty() {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    spec.entry("conversion")
        .or_insert_with(|| json!({"strategy": "None"}));
}

/// `generation` and `status` as the strategy and the naming and establishing controllers leave
/// them: a create starts from an empty status, an update keeps the stored one; the storage
/// version joins `storedVersions`; the conditions keep their first transition time.
fn set_status(
    crd: &mut Value,
    old: Option<&Value>,
    names: Value,
    storage: &str,
    spec_changed: bool,
) {
    let mut status = old
        .map(|o| o["status"].clone())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let generation = match old {
        None => 1,
        Some(o) => o["metadata"]["generation"].as_i64().unwrap_or(1) + i64::from(spec_changed),
    };
    crd["metadata"]["generation"] = json!(generation);
    let mut stored = status["storedVersions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !stored.iter().any(|v| v == storage) {
        stored.push(json!(storage));
    }
    status["storedVersions"] = Value::Array(stored);
    status["acceptedNames"] = names;
    let now = rfc3339(now_unix());
    let condition = |status: &Value, kind: &str, reason: &str, message: &str| {
        let since = status["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
            .map_or_else(|| json!(now), |c| c["lastTransitionTime"].clone());
        json!({"type": kind, "status": "True", "lastTransitionTime": since,
               "reason": reason, "message": message})
    };
    // The naming controller's and the establishing controller's words
    // (apiextensions-apiserver `pkg/controller/status`, `pkg/controller/establish`).
    let conditions = vec![
        condition(
            &status,
            "NamesAccepted",
            "NoConflicts",
            "no conflicts found",
        ),
        condition(
            &status,
            "Established",
            "InitialNamesAccepted",
            "the initial names have been accepted",
        ),
    ];
    status["conditions"] = Value::Array(conditions);
    crd["status"] = status;
}
