//! Discovery documents, built from the emulator's current [`Surface`]: the legacy ones
//! (`/api`, `/apis`, `/apis/{g}`, `/api/v1`, `/apis/{g}/{v}`) and aggregated discovery
//! (apidiscovery.k8s.io/v2 `APIGroupDiscoveryList` at `/api` and `/apis`, GA since 1.30).

use serde_json::{Value, json};

use crate::resources::{ResourceType, VERBS, group_version};
use crate::surface::Surface;

/// `Content-Type` (and the `Accept` entry asking for it) of aggregated discovery.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `/version`.
pub fn version(git_version: &str) -> Value {
    let trimmed = git_version.trim_start_matches('v');
    let mut parts = trimmed.split('.');
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("0");
    json!({
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-05-15T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn core_versions(surface: &Surface, server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": surface.group_versions(""),
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

fn group_value(name: &str, versions: &[&str]) -> Value {
    let gv = |v: &str| json!({"groupVersion": group_version(name, v), "version": v});
    json!({
        "name": name,
        "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
        "preferredVersion": gv(versions.first().copied().unwrap_or("v1")),
    })
}

/// `/apis`.
pub fn group_list(surface: &Surface) -> Value {
    let groups: Vec<Value> = surface
        .groups()
        .into_iter()
        .map(|g| group_value(g, &surface.group_versions(g)))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`, if the group has a served version.
pub fn group(surface: &Surface, name: &str) -> Option<Value> {
    let versions = surface.group_versions(name);
    if name.is_empty() || versions.is_empty() {
        return None;
    }
    let mut v = group_value(name, &versions);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Some(v)
}

/// `/api/v1` or `/apis/{group}/{version}`, if served.
pub fn resource_list(surface: &Surface, group: &str, version: &str) -> Option<Value> {
    let served = surface.resources_of(group, version);
    if served.is_empty() {
        return None;
    }
    let resources: Vec<Value> = served
        .into_iter()
        .map(|r| {
            let rt = surface.resource_type(r);
            let mut v = json!({
                "name": rt.plural,
                "singularName": rt.singular,
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": VERBS,
            });
            add_names(&mut v, rt);
            v
        })
        .collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    }))
}

/// `shortNames` and `categories`, omitted when empty as the apiserver omits them.
fn add_names(v: &mut Value, rt: &ResourceType) {
    if !rt.short_names.is_empty() {
        v["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        v["categories"] = json!(rt.categories);
    }
}

/// Aggregated discovery: the core group alone for `/api` (`core`), every other group for
/// `/apis`. Groups in the order of `/apis`, versions most preferred first.
pub fn aggregated(surface: &Surface, core: bool) -> Value {
    let groups = if core { vec![""] } else { surface.groups() };
    let items: Vec<Value> = groups
        .into_iter()
        .map(|g| (g, surface.group_versions(g)))
        .filter(|(_, versions)| !versions.is_empty())
        .map(|(g, versions)| {
            let versions: Vec<Value> = versions
                .into_iter()
                .map(|v| {
                    let resources: Vec<Value> = surface
                        .resources_of(g, v)
                        .into_iter()
                        .map(|r| resource_discovery(surface.resource_type(r), v))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g}, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

/// One `APIResourceDiscovery`.
fn resource_discovery(rt: &ResourceType, version: &str) -> Value {
    let mut v = json!({
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": version, "kind": rt.kind},
        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": rt.singular,
        "verbs": VERBS,
    });
    add_names(&mut v, rt);
    v
}
