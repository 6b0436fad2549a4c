//! Kubernetes API paths: discovery, list, get, watch and the write verbs.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use super::status::{self, json_response};
use super::{
    AppState, Format, accepts_gzip, client_id, discovery, negotiate, table,
    wants_aggregated_discovery, watch,
};
use crate::emulator::{WriteMode, object_key};
use crate::error::Error;
use crate::object::{StoredObject, type_prefix};
use crate::resources::{self, ResourceId};
use crate::selector::{FieldSelector, LabelSelector};
use crate::shard::{ShardSelector, ShardSelectors};
use crate::stats::Counters;
use crate::surface::Surface;

/// Size of the pieces list responses are streamed in.
const CHUNK: usize = 256 * 1024;

/// Query parameters of list and watch requests.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pub watch: bool,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub limit: usize,
    pub continue_token: Option<String>,
    pub label_selector: String,
    pub field_selector: String,
    pub allow_watch_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub timeout_seconds: Option<u64>,
    pub include_object: Option<String>,
    pub shard_selector: Option<String>,
}

fn parse_bool(v: &str) -> bool {
    matches!(v, "true" | "1" | "True" | "TRUE")
}

impl Params {
    fn parse(uri: &Uri) -> Result<Self, Response> {
        let Query(pairs): Query<Vec<(String, String)>> = Query::try_from_uri(uri)
            .map_err(|e| status::bad_request(&format!("invalid query: {e}")))?;
        let mut p = Params::default();
        for (k, v) in pairs {
            match k.as_str() {
                "watch" => p.watch = parse_bool(&v),
                "resourceVersion" => p.resource_version = Some(v),
                "resourceVersionMatch" => {
                    p.resource_version_match = Some(v).filter(|s| !s.is_empty())
                }
                "limit" => {
                    p.limit = v
                        .parse::<i64>()
                        .map_err(|_| status::bad_request(&format!("invalid limit {v:?}")))?
                        .max(0) as usize
                }
                "continue" => p.continue_token = Some(v).filter(|s| !s.is_empty()),
                "labelSelector" => p.label_selector = v,
                "fieldSelector" => p.field_selector = v,
                "allowWatchBookmarks" => p.allow_watch_bookmarks = parse_bool(&v),
                "sendInitialEvents" => p.send_initial_events = Some(parse_bool(&v)),
                "timeoutSeconds" => p.timeout_seconds = v.parse().ok(),
                "includeObject" => p.include_object = Some(v),
                "shardSelector" => p.shard_selector = Some(v),
                _ => {}
            }
        }
        Ok(p)
    }
}

/// Namespace and selector filter of a list or watch.
pub(crate) struct Matcher {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// The `shardSelector` honoured, with its text (echoed in list metadata).
    pub shard: Option<(ShardSelector, String)>,
}

impl Matcher {
    fn new(
        namespace: Option<String>,
        p: &Params,
        shards: ShardSelectors,
    ) -> Result<Self, Response> {
        let map = |e: Error| status::bad_request(&e.to_string());
        let shard = match (&p.shard_selector, shards) {
            (None, _) | (Some(_), ShardSelectors::Ignored) => None,
            (Some(_), ShardSelectors::Rejected) => {
                return Err(status::bad_request(
                    "shardSelector: unknown query parameter",
                ));
            }
            (Some(text), ShardSelectors::Supported) => {
                let selector = ShardSelector::parse(text)
                    .map_err(|e| status::bad_request(&format!("invalid shardSelector: {e}")))?;
                Some((selector, text.clone()))
            }
        };
        Ok(Self {
            namespace,
            labels: LabelSelector::parse(&p.label_selector).map_err(map)?,
            fields: FieldSelector::parse(&p.field_selector).map_err(map)?,
            shard,
        })
    }

    /// Whether the object is selected.
    pub fn matches(&self, o: &StoredObject) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| *o.namespace == *ns)
            && self.labels.matches(|k| o.label(k))
            && self.fields.matches(|p| o.field(p))
            && self.shard.as_ref().is_none_or(|(s, _)| s.matches(o))
    }
}

/// A parsed `/api/...` or `/apis/...` path.
enum Route {
    CoreVersions,
    Groups,
    Group(String),
    ResourceList(String, String),
    Resource(Target),
}

/// A resource collection or object.
pub(crate) struct Target {
    pub r: ResourceId,
    pub version: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Old-style `/api/v1/watch/...` path.
    pub watch_path: bool,
}

/// Parses a path against what `surface` serves; None = 404.
fn parse_route(surface: &Surface, path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Some(Route::CoreVersions),
        ["apis"] => return Some(Route::Groups),
        ["apis", g] => return Some(Route::Group(g.to_string())),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    if rest.is_empty() {
        return Some(Route::ResourceList(group.into(), version.into()));
    }
    let (watch_path, rest) = match rest {
        ["watch", tail @ ..] if !tail.is_empty() => (true, tail),
        _ => (false, rest),
    };
    let namespaced = |plural: &str| {
        surface
            .resource(group, version, plural)
            .filter(|r| resources::get(*r).namespaced)
    };
    let (r, namespace, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] if namespaced(plural).is_some() => {
            (namespaced(plural)?, Some(ns.to_string()), tail)
        }
        [plural, tail @ ..] => {
            let r = surface.resource(group, version, plural)?;
            // A namespaced resource's objects are only addressable under /namespaces/{ns}/.
            if resources::get(r).namespaced && !tail.is_empty() {
                return None;
            }
            (r, None, tail)
        }
        [] => return None,
    };
    let (name, subresource) = match tail {
        [] => (None, None),
        [n] => (Some(n.to_string()), None),
        [n, s] => (Some(n.to_string()), Some(s.to_string())),
        _ => return None,
    };
    Some(Route::Resource(Target {
        r,
        version: version.to_string(),
        namespace,
        name,
        subresource,
        watch_path,
    }))
}

/// The fallback handler for everything outside `/_emulator/`.
pub(crate) async fn handle(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_end_matches('/');
    let surface = st.emu.surface();
    match path {
        "/version" => return json_value(&discovery::version(surface.git_version())),
        "/healthz" | "/livez" | "/readyz" => return (StatusCode::OK, "ok").into_response(),
        _ => {}
    }
    let Some(route) = parse_route(&surface, path) else {
        return status::path_not_found();
    };
    let target = match route {
        Route::CoreVersions | Route::Groups
            if st.emu.config().aggregated_discovery && wants_aggregated_discovery(&headers) =>
        {
            let doc = discovery::aggregated(&surface, matches!(route, Route::CoreVersions));
            let mut resp = json_value(&doc);
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(discovery::AGGREGATED_V2),
            );
            return resp;
        }
        Route::CoreVersions => {
            return json_value(&discovery::core_versions(&surface, &st.address));
        }
        Route::Groups => return json_value(&discovery::group_list(&surface)),
        Route::Group(g) => {
            return discovery::group(&surface, &g)
                .map_or_else(status::path_not_found, |v| json_value(&v));
        }
        Route::ResourceList(g, v) => {
            return discovery::resource_list(&surface, &g, &v)
                .map_or_else(status::path_not_found, |v| json_value(&v));
        }
        Route::Resource(t) => t,
    };
    let params = match Params::parse(&uri) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let client = client_id(&headers);
    let counters = st.emu.stats.counters(&client, target.r);
    let verb = match (&method, &target.name) {
        (&Method::GET, _) if target.watch_path || params.watch => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, _) => "delete",
        _ => "unknown",
    };
    if matches!(verb, "create" | "update" | "patch" | "delete") {
        counters.write_request();
    }
    if st.emu.is_forbidden(target.r, verb) {
        counters.error();
        return forbidden(&client, verb, target.r, target.namespace.as_deref());
    }
    if let Some(failure) = st.emu.take_fault(target.r, verb) {
        counters.error();
        return status::injected(failure);
    }
    let format = match negotiate(&headers) {
        Some(Format::Table(_)) => {
            match table::IncludeObject::parse(params.include_object.as_deref()) {
                Ok(include) => Format::Table(include),
                Err(resp) => {
                    counters.error();
                    return resp;
                }
            }
        }
        Some(format) => format,
        None => {
            counters.error();
            return status::status(
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json",
                None,
            );
        }
    };
    let response = match verb {
        "watch" => {
            let mut params = params;
            if let Some(name) = &target.name {
                // `/watch/.../name` is a watch of one object.
                let sel = format!("metadata.name={name}");
                params.field_selector = if params.field_selector.is_empty() {
                    sel
                } else {
                    format!("{},{sel}", params.field_selector)
                };
            }
            match Matcher::new(target.namespace.clone(), &params, st.emu.shard_selectors()) {
                Ok(m) => watch::start(&st, &target, m, &params, format, counters.clone()),
                Err(resp) => resp,
            }
        }
        "list" => {
            let delay = st.emu.list_delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            list(
                &st,
                &target,
                &params,
                format,
                accepts_gzip(&headers),
                &counters,
            )
        }
        "get" => get(&st, &target, format, &counters),
        "create" if target.name.is_none() => {
            write(&st, &target, &headers, &body, WriteMode::Create)
        }
        "update" if target.name.is_some() => {
            write(&st, &target, &headers, &body, WriteMode::Replace)
        }
        "patch" if target.name.is_some() => patch(&st, &target, &headers, &body),
        "delete" if target.name.is_some() => delete(&st, &target),
        _ => status::method_not_supported(),
    };
    if response.status().is_client_error() || response.status().is_server_error() {
        counters.error();
    } else if matches!(verb, "create" | "update" | "patch" | "delete") {
        // A write is answered with the object written (or deleted), whole.
        counters.object_bodies_sent(1);
    }
    response
}

fn json_value(v: &Value) -> Response {
    json_response(StatusCode::OK, serde_json::to_vec(v).unwrap_or_default())
}

/// 403 worded like the apiserver's RBAC denial.
fn forbidden(client: &str, verb: &str, r: ResourceId, namespace: Option<&str>) -> Response {
    let rt = resources::get(r);
    let scope = match namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".into(),
    };
    status::status(
        403,
        "Forbidden",
        &format!(
            "{} is forbidden: User \"{client}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
            rt.qualified_name(),
            rt.plural,
            rt.group
        ),
        Some(json!({"group": rt.group, "kind": rt.plural})),
    )
}

/// Continue tokens look like the apiserver's: base64 of `{"v","rv","start"}`.
fn encode_continue(rv: u64, key: &str) -> String {
    let v = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{key}\u{0}")});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_continue(token: &str) -> Option<(u64, String)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let rv = v["rv"].as_u64()?;
    let start = v["start"].as_str()?.trim_end_matches('\u{0}').to_string();
    Some((rv, start))
}

fn too_large(requested: u64, current: u64) -> Response {
    status::status(
        504,
        "Timeout",
        &format!("Too large resource version: {requested}, current: {current}"),
        Some(
            json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
        ),
    )
}

fn list(
    st: &AppState,
    t: &Target,
    p: &Params,
    format: Format,
    gzip: bool,
    counters: &Arc<Counters>,
) -> Response {
    let started = Instant::now();
    counters.list_request();
    let store = &st.emu.store;
    let current = store.current_rv();
    let (start_after, at) = if let Some(token) = &p.continue_token {
        if p.resource_version
            .as_deref()
            .is_some_and(|rv| !rv.is_empty() && rv != "0")
        {
            return status::bad_request(
                "specifying resource version is not allowed when using continue",
            );
        }
        match decode_continue(token) {
            Some((rv, key)) => (Some(key), Some(rv)),
            None => return status::bad_request("continue key is not valid: malformed token"),
        }
    } else {
        let rv = match p.resource_version.as_deref() {
            None | Some("") => None,
            Some(s) => match s.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => return status::bad_request(&format!("invalid resource version {s:?}")),
            },
        };
        match (rv, p.resource_version_match.as_deref()) {
            (None, Some(_)) if p.resource_version.is_none() => {
                return status::invalid_list_options(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                );
            }
            (Some(0), Some("Exact")) => {
                return status::invalid_list_options(
                    "resourceVersionMatch",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                );
            }
            (Some(n), Some("Exact")) => {
                if n > current {
                    return too_large(n, current);
                }
                (None, Some(n))
            }
            (Some(n), None | Some("NotOlderThan")) => {
                if n > current {
                    return too_large(n, current);
                }
                (None, None)
            }
            (_, Some(m)) if !matches!(m, "Exact" | "NotOlderThan") => {
                return status::invalid_list_options(
                    "resourceVersionMatch",
                    &format!("{m:?} is not a valid resourceVersionMatch"),
                );
            }
            _ => (None, None),
        }
    };
    let matcher = match Matcher::new(t.namespace.clone(), p, st.emu.shard_selectors()) {
        Ok(m) => m,
        Err(resp) => return resp,
    };
    let page = match store.list(
        t.r,
        t.namespace.as_deref(),
        start_after.as_deref(),
        at,
        p.limit,
        &|o| matcher.matches(o),
    ) {
        Ok(page) => page,
        Err(gone) => {
            let message = if p.continue_token.is_some() {
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".to_string()
            } else {
                status::too_old_message(gone.requested, gone.oldest)
            };
            return status::status(410, "Expired", &message, None);
        }
    };
    let cont = page
        .next_key
        .as_deref()
        .map(|k| encode_continue(page.rv, k));
    let rt = resources::get(t.r);
    if let Format::Table(include) = format {
        let body = table::table(
            t.r,
            &t.version,
            &page.items,
            Some((page.rv, cont.as_deref())),
            include,
            true,
        );
        counters.object_bodies_sent(include.bodies(page.items.len()));
        counters.list_sent(body.len(), started.elapsed());
        return json_response(StatusCode::OK, body);
    }
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &cont {
        meta["continue"] = json!(c);
    }
    if let Some((_, selector)) = &matcher.shard {
        meta["shardInfo"] = json!({ "selector": selector });
    }
    let metadata_only = matches!(format, Format::Metadata);
    let (kind, api_version, item_prefix) = if metadata_only {
        (
            "PartialObjectMetadataList".to_string(),
            "meta.k8s.io/v1".to_string(),
            Some(type_prefix("PartialObjectMetadata", "meta.k8s.io/v1")),
        )
    } else {
        let api_version = rt.api_version(&t.version);
        // Items of built-in lists carry no kind/apiVersion; custom resources' items do (the
        // apiserver lists them as unstructured objects), in the version asked for.
        let typed = resources::is_custom(t.r).then(|| type_prefix(rt.kind, &api_version));
        (format!("{}List", rt.kind), api_version, typed)
    };
    let mut header = type_prefix(&kind, &api_version);
    header.extend_from_slice(b"\"metadata\":");
    header.extend_from_slice(meta.to_string().as_bytes());
    header.extend_from_slice(b",\"items\":[");
    let item_len = |o: &StoredObject| match &item_prefix {
        Some(pre) if metadata_only => pre.len() + o.meta_len + 2,
        Some(pre) => pre.len() + o.body.len() + 2,
        None => o.body.len() + 3,
    };
    let estimate = header.len() + page.items.iter().map(|o| item_len(o)).sum::<usize>() + 2;
    let gzip = gzip && estimate >= st.emu.config().gzip_min_bytes;
    let mut stream = ListStream {
        header: Some(header),
        items: page.items.into_iter(),
        item_prefix,
        metadata_only,
        first: true,
        done: false,
        gz: gzip.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
        counters: counters.clone(),
        setup: started.elapsed(),
    };
    let body = if estimate <= CHUNK && !gzip {
        // Small responses go out in one piece with a Content-Length.
        Body::from(stream.next_chunk().unwrap_or_default())
    } else {
        Body::from_stream(futures::stream::unfold(stream, |mut s| async move {
            s.next_chunk()
                .map(|c| (Ok::<_, std::convert::Infallible>(c), s))
        }))
    };
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if gzip {
        resp.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

/// Produces a list response piece by piece so a 150k-object list never sits in memory twice.
struct ListStream {
    header: Option<Vec<u8>>,
    items: std::vec::IntoIter<Arc<StoredObject>>,
    /// `{"kind":..,"apiVersion":..,` of each item, if items carry them.
    item_prefix: Option<Vec<u8>>,
    /// Items are PartialObjectMetadata: `item_prefix` and the metadata member.
    metadata_only: bool,
    first: bool,
    done: bool,
    gz: Option<GzEncoder<Vec<u8>>>,
    counters: Arc<Counters>,
    setup: Duration,
}

impl ListStream {
    fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let t = Instant::now();
        let mut buf = Vec::with_capacity(CHUNK + 16 * 1024);
        if let Some(h) = self.header.take() {
            buf.extend_from_slice(&h);
        }
        while buf.len() < CHUNK {
            let Some(o) = self.items.next() else {
                buf.extend_from_slice(b"]}");
                self.done = true;
                break;
            };
            if !self.first {
                buf.push(b',');
            }
            self.first = false;
            match &self.item_prefix {
                Some(pre) if self.metadata_only => {
                    buf.extend_from_slice(pre);
                    buf.extend_from_slice(o.metadata_member());
                }
                Some(pre) => {
                    buf.extend_from_slice(pre);
                    buf.extend_from_slice(&o.body);
                    self.counters.object_bodies_sent(1);
                }
                None => {
                    buf.push(b'{');
                    buf.extend_from_slice(&o.body);
                    self.counters.object_bodies_sent(1);
                }
            }
            buf.push(b'}');
        }
        let out = match &mut self.gz {
            Some(gz) => {
                // Writing into a Vec cannot fail; a failure would only truncate the body.
                let _ = gz.write_all(&buf);
                if self.done {
                    self.gz
                        .take()
                        .and_then(|g| g.finish().ok())
                        .unwrap_or_default()
                } else {
                    let _ = gz.flush();
                    std::mem::take(gz.get_mut())
                }
            }
            None => buf,
        };
        let setup = std::mem::take(&mut self.setup);
        self.counters.list_sent(out.len(), t.elapsed() + setup);
        Some(Bytes::from(out))
    }
}

fn get(st: &AppState, t: &Target, format: Format, counters: &Counters) -> Response {
    let rt = resources::get(t.r);
    let name = t.name.as_deref().unwrap_or("");
    if t.subresource.as_deref().is_some_and(|s| s != "status") {
        return status::path_not_found();
    }
    let Some(o) = st
        .emu
        .store
        .get(t.r, &object_key(t.r, t.namespace.as_deref(), name))
    else {
        return status::object_not_found(&rt.qualified_name(), name);
    };
    let body = match format {
        Format::Full => {
            counters.object_bodies_sent(1);
            o.wrapped(&t.version)
        }
        Format::Metadata => {
            let mut b = type_prefix("PartialObjectMetadata", "meta.k8s.io/v1");
            b.extend_from_slice(o.metadata_member());
            b.push(b'}');
            b
        }
        Format::Table(include) => {
            counters.object_bodies_sent(include.bodies(1));
            table::table(t.r, &t.version, &[o], None, include, true)
        }
    };
    counters.get_sent(body.len());
    json_response(StatusCode::OK, body)
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Response> {
    let yaml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("yaml"));
    let parsed: Result<Value, String> = if yaml {
        serde_yaml_ng::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        status::bad_request(&format!(
            "the body of the request was in an unknown format: {e}"
        ))
    })
}

fn error_response(e: &Error) -> Response {
    match e {
        Error::AlreadyExists(m) => status::status(409, "AlreadyExists", m, None),
        Error::Conflict(m) => status::status(409, "Conflict", m, None),
        Error::NotFound(m) => status::status(404, "NotFound", m, None),
        Error::NoMatch { .. } => status::status(404, "NotFound", &e.to_string(), None),
        Error::UnknownKind { .. } | Error::InvalidObject(_) => {
            status::status(422, "Invalid", &e.to_string(), None)
        }
        _ => status::bad_request(&e.to_string()),
    }
}

/// Checks the body's kind, namespace and name against the URL and fills in what is missing.
fn align_with_target(t: &Target, v: &mut Value) -> Result<(), Response> {
    let rt = resources::get(t.r);
    let Some(obj) = v.as_object_mut() else {
        return Err(status::bad_request("the body is not a JSON object"));
    };
    if let Some(kind) = obj.get("kind").and_then(Value::as_str)
        && kind != rt.kind
    {
        return Err(status::bad_request(&format!(
            "the kind of the object ({kind}) does not match the URL ({})",
            rt.kind
        )));
    }
    obj.insert("kind".into(), json!(rt.kind));
    obj.insert("apiVersion".into(), json!(rt.api_version(&t.version)));
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    let Some(meta) = meta.as_object_mut() else {
        return Err(status::bad_request("metadata is not an object"));
    };
    if let Some(ns) = &t.namespace {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(b) if !b.is_empty() && b != ns => {
                return Err(status::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                meta.insert("namespace".into(), json!(ns));
            }
        }
    }
    if let Some(name) = &t.name {
        match meta.get("name").and_then(Value::as_str) {
            Some(b) if !b.is_empty() && b != name => {
                return Err(status::bad_request(
                    "the name of the object does not match the name on the URL",
                ));
            }
            _ => {
                meta.insert("name".into(), json!(name));
            }
        }
    }
    Ok(())
}

fn write(st: &AppState, t: &Target, headers: &HeaderMap, body: &[u8], mode: WriteMode) -> Response {
    if t.subresource.as_deref().is_some_and(|s| s != "status") {
        return status::path_not_found();
    }
    let mut v = match parse_body(headers, body) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if let Err(resp) = align_with_target(t, &mut v) {
        return resp;
    }
    match st.emu.write_resource(t.r, v, mode) {
        Ok(applied) => respond_object(
            st,
            t,
            applied.namespace.as_deref(),
            &applied.name,
            mode == WriteMode::Create,
        ),
        Err(e) => error_response(&e),
    }
}

fn respond_object(
    st: &AppState,
    t: &Target,
    ns: Option<&str>,
    name: &str,
    created: bool,
) -> Response {
    match st.emu.store.get(t.r, &object_key(t.r, ns, name)) {
        Some(o) => json_response(
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            o.wrapped(&t.version),
        ),
        None => status::object_not_found(&resources::get(t.r).qualified_name(), name),
    }
}

/// JSON merge patch (RFC 7386). Strategic merge patches are applied the same way, which is
/// exact for the maps kubectl label/annotate/scale touch (lists are replaced, not merged).
fn patch(st: &AppState, t: &Target, headers: &HeaderMap, body: &[u8]) -> Response {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ctype.starts_with("application/json-patch+json") {
        return status::status(
            415,
            "UnsupportedMediaType",
            "json-patch is not supported by the emulator",
            None,
        );
    }
    let patch = match parse_body(headers, body) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let name = t.name.as_deref().unwrap_or("");
    let key = object_key(t.r, t.namespace.as_deref(), name);
    let mut current = match st.emu.store.get(t.r, &key) {
        Some(o) => match o.to_value(&t.version) {
            Ok(v) => v,
            Err(e) => return error_response(&e),
        },
        // Server-side apply creates missing objects.
        None if ctype.starts_with("application/apply-patch") => json!({}),
        None => return status::object_not_found(&resources::get(t.r).qualified_name(), name),
    };
    merge_patch(&mut current, &patch);
    // The stored resourceVersion is replaced on write; a stale one in the patch is ignored.
    if let Err(resp) = align_with_target(t, &mut current) {
        return resp;
    }
    match st.emu.write_resource(t.r, current, WriteMode::Upsert) {
        Ok(a) => respond_object(st, t, a.namespace.as_deref(), &a.name, false),
        Err(e) => error_response(&e),
    }
}

fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn delete(st: &AppState, t: &Target) -> Response {
    let name = t.name.as_deref().unwrap_or("");
    match st.emu.delete_stored(t.r, t.namespace.as_deref(), name) {
        // The apiserver answers an immediate delete with the deleted object.
        Some(o) => json_response(StatusCode::OK, o.wrapped(&t.version)),
        None => status::object_not_found(&resources::get(t.r).qualified_name(), name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let surface = Surface::default();
        let parse_route = |path| parse_route(&surface, path);
        let Some(Route::Resource(t)) = parse_route("/api/v1/namespaces/ns1/pods/p1") else {
            panic!()
        };
        assert_eq!(resources::get(t.r).plural, "pods");
        assert_eq!(t.namespace.as_deref(), Some("ns1"));
        assert_eq!(t.name.as_deref(), Some("p1"));
        let Some(Route::Resource(t)) = parse_route("/api/v1/namespaces/ns1") else {
            panic!()
        };
        assert_eq!(resources::get(t.r).plural, "namespaces");
        assert_eq!(t.name.as_deref(), Some("ns1"));
        let Some(Route::Resource(t)) = parse_route("/apis/apps/v1/watch/deployments") else {
            panic!()
        };
        assert!(t.watch_path && t.name.is_none());
        assert!(parse_route("/api/v1/pods/x").is_none());
        assert!(parse_route("/apis/apps/v2/deployments").is_none());
        assert!(matches!(
            parse_route("/apis/apps/v1"),
            Some(Route::ResourceList(..))
        ));
    }

    #[test]
    fn continue_tokens() {
        let t = encode_continue(42, "ns/name");
        assert_eq!(decode_continue(&t), Some((42, "ns/name".to_string())));
        assert_eq!(decode_continue("!!"), None);
    }

    #[test]
    fn merge_patches() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut v, &json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(v, json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }
}
