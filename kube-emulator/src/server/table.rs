//! meta.k8s.io/v1 `Table` responses (`kubectl get`, and clients that read a kind's printed
//! columns instead of its objects, as kube-state-otel reads Secrets).
//!
//! Columns follow the apiserver's printers (`pkg/printers/internalversion/printers.go`) for the
//! kinds people look at most (pods, nodes, deployments, replicasets, namespaces, secrets);
//! every other kind, and every custom resource, gets NAME and AGE (a CRD's default columns;
//! its `additionalPrinterColumns` are not shown). As the apiserver's `asTable` and `TableConvertor` do:
//! every column is sent (`Wide`), a single object's Table carries the object's
//! resourceVersion, and each row's `object` follows `includeObject`.

use std::sync::Arc;

use axum::response::Response;
use serde_json::{Value, json};

use super::status;

use crate::object::{StoredObject, type_prefix};
use crate::resources::{self, ResourceId};
use crate::util::{human_age, now_unix};

struct Column {
    name: &'static str,
    ty: &'static str,
    priority: u8,
}

const fn col(name: &'static str, ty: &'static str, priority: u8) -> Column {
    Column { name, ty, priority }
}

fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "Pod" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "integer", 0),
            col("Age", "string", 0),
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ],
        "Node" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Roles", "string", 0),
            col("Age", "string", 0),
            col("Version", "string", 0),
            col("Internal-IP", "string", 1),
            col("External-IP", "string", 1),
            col("OS-Image", "string", 1),
            col("Kernel-Version", "string", 1),
            col("Container-Runtime", "string", 1),
        ],
        "Deployment" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        "ReplicaSet" => vec![
            col("Name", "string", 0),
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        "Namespace" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Age", "string", 0),
        ],
        // printSecret: DATA is the number of keys, an integer cell under a "string" column.
        "Secret" => vec![
            col("Name", "string", 0),
            col("Type", "string", 0),
            col("Data", "string", 0),
            col("Age", "string", 0),
        ],
        _ => vec![col("Name", "string", 0), col("Age", "string", 0)],
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
}

fn containers_and_images(template_spec: &Value) -> (String, String) {
    let cs = template_spec["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<String> = cs.iter().map(|c| s(&c["name"])).collect();
    let images: Vec<String> = cs.iter().map(|c| s(&c["image"])).collect();
    (names.join(","), images.join(","))
}

fn selector_string(sel: &Value) -> String {
    let mut parts: Vec<String> = sel["matchLabels"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", s(v))).collect())
        .unwrap_or_default();
    parts.sort();
    or_none(parts.join(","))
}

fn cells(kind: &str, v: &Value, age: &str) -> Vec<Value> {
    let name = s(&v["metadata"]["name"]);
    match kind {
        "Pod" => {
            let statuses = v["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = v["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses
                .iter()
                .filter(|c| c["ready"] == json!(true))
                .count();
            let restarts: i64 = statuses.iter().map(|c| n(&c["restartCount"])).sum();
            let mut reason = s(&v["status"]["phase"]);
            if !s(&v["status"]["reason"]).is_empty() {
                reason = s(&v["status"]["reason"]);
            }
            for c in &statuses {
                let w = s(&c["state"]["waiting"]["reason"]);
                let t = s(&c["state"]["terminated"]["reason"]);
                if !w.is_empty() {
                    reason = w;
                } else if !t.is_empty() {
                    reason = t;
                }
            }
            if !v["metadata"]["deletionTimestamp"].is_null() {
                reason = "Terminating".into();
            }
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(reason),
                json!(restarts),
                json!(age),
                json!(or_none(s(&v["status"]["podIP"]))),
                json!(or_none(s(&v["spec"]["nodeName"]))),
                json!(or_none(s(&v["status"]["nominatedNodeName"]))),
                json!("<none>"),
            ]
        }
        "Node" => {
            let conds = v["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ready = conds.iter().find(|c| c["type"] == "Ready");
            let mut status = match ready.map(|c| s(&c["status"])) {
                Some(st) if st == "True" => "Ready".to_string(),
                Some(_) => "NotReady".to_string(),
                None => "Unknown".to_string(),
            };
            if v["spec"]["unschedulable"] == json!(true) {
                status.push_str(",SchedulingDisabled");
            }
            let mut roles: Vec<String> = v["metadata"]["labels"]
                .as_object()
                .map(|l| {
                    l.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            let addr = |t: &str| {
                v["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["type"] == t))
                    .map(|x| s(&x["address"]))
                    .unwrap_or_else(|| "<none>".into())
            };
            let info = &v["status"]["nodeInfo"];
            vec![
                json!(name),
                json!(status),
                json!(or_none(roles.join(","))),
                json!(age),
                json!(s(&info["kubeletVersion"])),
                json!(addr("InternalIP")),
                json!(addr("ExternalIP")),
                json!(s(&info["osImage"])),
                json!(s(&info["kernelVersion"])),
                json!(s(&info["containerRuntimeVersion"])),
            ]
        }
        "Deployment" => {
            let st = &v["status"];
            let (c, i) = containers_and_images(&v["spec"]["template"]["spec"]);
            vec![
                json!(name),
                json!(format!(
                    "{}/{}",
                    n(&st["readyReplicas"]),
                    n(&v["spec"]["replicas"])
                )),
                json!(n(&st["updatedReplicas"])),
                json!(n(&st["availableReplicas"])),
                json!(age),
                json!(c),
                json!(i),
                json!(selector_string(&v["spec"]["selector"])),
            ]
        }
        "ReplicaSet" => {
            let st = &v["status"];
            let (c, i) = containers_and_images(&v["spec"]["template"]["spec"]);
            vec![
                json!(name),
                json!(n(&v["spec"]["replicas"])),
                json!(n(&st["replicas"])),
                json!(n(&st["readyReplicas"])),
                json!(age),
                json!(c),
                json!(i),
                json!(selector_string(&v["spec"]["selector"])),
            ]
        }
        "Namespace" => vec![json!(name), json!(s(&v["status"]["phase"])), json!(age)],
        "Secret" => {
            // The apiserver merges stringData into data on write.
            let keys = |field: &str| {
                v[field]
                    .as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            };
            let mut data = keys("data");
            data.extend(keys("stringData"));
            data.sort();
            data.dedup();
            vec![
                json!(name),
                json!(s(&v["type"])),
                json!(data.len()),
                json!(age),
            ]
        }
        _ => vec![json!(name), json!(age)],
    }
}

/// `includeObject` of a Table request (`metav1.IncludeObjectPolicy`): what each row's
/// `object` holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    /// `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
    /// `null`.
    None,
}

impl IncludeObject {
    /// The parameter as `ValidateTableOptions` accepts it; the apiserver checks it only when it
    /// converts to a Table, so other requests ignore it.
    pub(crate) fn parse(value: Option<&str>) -> Result<Self, Response> {
        match value.unwrap_or("") {
            "" | "Metadata" => Ok(Self::Metadata),
            "Object" => Ok(Self::Object),
            "None" => Ok(Self::None),
            other => Err(status::bad_request(&format!(
                "Unable to convert to Table as requested: includeObject: Invalid value: \"{other}\": must be 'Metadata', 'Object', 'None', or empty"
            ))),
        }
    }

    /// How many whole objects `rows` rows carry.
    pub(crate) fn bodies(self, rows: usize) -> usize {
        if self == Self::Object { rows } else { 0 }
    }
}

/// A Table of `items`. `list_meta` is (resourceVersion, continue) for list responses; a single
/// object's Table carries the object's resourceVersion. `headers` is false for the watch
/// events after a stream's first, whose `columnDefinitions` the apiserver leaves null.
pub(crate) fn table(
    r: ResourceId,
    version: &str,
    items: &[Arc<StoredObject>],
    list_meta: Option<(u64, Option<&str>)>,
    include: IncludeObject,
    headers: bool,
) -> Vec<u8> {
    let kind = printed_kind(r);
    let now = now_unix();
    let meta = match (list_meta, items) {
        (Some((rv, cont)), _) => {
            let mut m = json!({"resourceVersion": rv.to_string()});
            if let Some(c) = cont {
                m["continue"] = json!(c);
            }
            m
        }
        (None, [one]) => json!({"resourceVersion": one.resource_version.to_string()}),
        (None, _) => json!({}),
    };
    let mut out = begin(r, &meta, headers);
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Rows need parsed fields; Tables are for humans (kubectl pages of 500), so
        // re-parsing here is cheap enough.
        let v: Value = serde_json::from_slice(&o.item_bytes()).unwrap_or(Value::Null);
        let age = if o.created_unix > 0 {
            human_age(now - o.created_unix)
        } else {
            "<unknown>".into()
        };
        let object = match include {
            IncludeObject::None => None,
            IncludeObject::Object => Some(o.wrapped(version)),
            IncludeObject::Metadata => Some(partial(o.metadata_member())),
        };
        push_row(&mut out, cells(kind, &v, &age), object.as_deref());
    }
    out.extend_from_slice(b"]}");
    out
}

/// A BOOKMARK event's object as a Table: the apiserver converts the bookmark (an empty object
/// carrying only `metadata`) like any other object, so it is one row of empty cells whose
/// `object` holds that metadata — the initial-events-end annotation included — and the
/// Table's own metadata carries the resourceVersion.
pub(crate) fn bookmark(
    r: ResourceId,
    version: &str,
    metadata: &Value,
    include: IncludeObject,
    headers: bool,
) -> Vec<u8> {
    let rt = resources::get(r);
    let meta = json!({"resourceVersion": metadata["resourceVersion"]});
    let mut out = begin(r, &meta, headers);
    let mut member = b"\"metadata\":".to_vec();
    member.extend_from_slice(metadata.to_string().as_bytes());
    let object = match include {
        IncludeObject::None => None,
        IncludeObject::Object => {
            let mut o = type_prefix(rt.kind, &rt.api_version(version));
            o.extend_from_slice(&member);
            o.push(b'}');
            Some(o)
        }
        IncludeObject::Metadata => Some(partial(&member)),
    };
    let empty = json!({ "metadata": metadata });
    push_row(
        &mut out,
        cells(printed_kind(r), &empty, "<unknown>"),
        object.as_deref(),
    );
    out.extend_from_slice(b"]}");
    out
}

/// The kind whose printer columns `r` gets: a custom resource's kind may be named like a
/// built-in one (`Pod`), yet it only has the default columns.
fn printed_kind(r: ResourceId) -> &'static str {
    if resources::is_custom(r) {
        ""
    } else {
        resources::get(r).kind
    }
}

/// A Table up to its first row.
fn begin(r: ResourceId, meta: &Value, headers: bool) -> Vec<u8> {
    let kind = resources::get(r).kind;
    let mut out = type_prefix("Table", "meta.k8s.io/v1");
    out.extend_from_slice(b"\"metadata\":");
    out.extend_from_slice(meta.to_string().as_bytes());
    out.extend_from_slice(b",\"columnDefinitions\":");
    if headers {
        let defs: Vec<Value> = columns(printed_kind(r))
            .iter()
            .map(|c| {
                json!({"name": c.name, "type": c.ty,
                       "format": if c.name == "Name" { "name" } else { "" },
                       "description": format!("{} of the {}", c.name, kind),
                       "priority": c.priority})
            })
            .collect();
        out.extend_from_slice(Value::Array(defs).to_string().as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"rows\":[");
    out
}

/// `PartialObjectMetadata` of a `"metadata":{...}` member.
fn partial(metadata_member: &[u8]) -> Vec<u8> {
    let mut o = type_prefix("PartialObjectMetadata", "meta.k8s.io/v1");
    o.extend_from_slice(metadata_member);
    o.push(b'}');
    o
}

/// One row; a missing `object` is `null`, as the apiserver encodes an empty RawExtension.
fn push_row(out: &mut Vec<u8>, cells: Vec<Value>, object: Option<&[u8]>) {
    out.extend_from_slice(b"{\"cells\":");
    out.extend_from_slice(Value::Array(cells).to_string().as_bytes());
    out.extend_from_slice(b",\"object\":");
    out.extend_from_slice(object.unwrap_or(b"null"));
    out.push(b'}');
}
