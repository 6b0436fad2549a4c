//! The `/_emulator/` control surface, for tests that drive a separate emulator process.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::AppState;
use super::status::{self, json_response};
use crate::error::Error;
use crate::faults::Fault;
use crate::load::parse_objects;
use crate::resources;
use crate::shard::ShardSelectors;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/apply", post(apply))
        .route("/delete", post(delete))
        .route("/disconnect", post(disconnect))
        .route("/compact", post(compact))
        .route("/forbid/{resource}", post(forbid).delete(allow))
        .route("/faults", post(inject_fault).delete(clear_faults))
        .route("/silence", post(silence))
        .route("/stats", get(stats).delete(reset_stats))
        .route("/stats/reset", post(reset_stats))
        .route("/streaming-lists", post(streaming_lists))
        .route("/bookmark-interval", post(bookmark_interval))
        .route("/list-delay", post(list_delay))
        .route("/shard-selectors", post(shard_selectors))
        .route("/counts", get(counts))
        .route("/tokens", post(add_token))
        .route("/reviews", get(reviews))
        .route("/version", get(surface).put(set_version))
        .route("/runtime-config", get(surface).put(set_runtime_config))
}

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, serde_json::to_vec(&v).unwrap_or_default())
}

fn text(body: &Bytes) -> Result<&str, Response> {
    std::str::from_utf8(body).map_err(|_| status::bad_request("body is not UTF-8"))
}

async fn apply(State(st): State<AppState>, body: Bytes) -> Response {
    let text = match text(&body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    match st.emu.apply_text(text) {
        Ok(applied) => ok(json!({ "applied": applied })),
        // A custom resource without its CRD: 404, as a write to its unrouted path gets.
        Err(e @ Error::NoMatch { .. }) => status::status(404, "NotFound", &e.to_string(), None),
        Err(e) => status::status(422, "Invalid", &e.to_string(), None),
    }
}

async fn delete(State(st): State<AppState>, body: Bytes) -> Response {
    let text = match text(&body) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let objects = match parse_objects(text) {
        Ok(o) => o,
        Err(e) => return status::bad_request(&e.to_string()),
    };
    let mut deleted = Vec::new();
    let mut missing = Vec::new();
    for o in &objects {
        match st.emu.delete_object(o) {
            Ok(Some(a)) => deleted.push(a),
            Ok(None) => missing.push(o["metadata"]["name"].clone()),
            Err(e) => return status::status(422, "Invalid", &e.to_string(), None),
        }
    }
    ok(json!({ "deleted": deleted, "notFound": missing }))
}

async fn disconnect(State(st): State<AppState>) -> Response {
    ok(json!({ "disconnected": st.emu.disconnect_watches() }))
}

async fn compact(State(st): State<AppState>) -> Response {
    ok(json!({ "resourceVersion": st.emu.compact().to_string() }))
}

async fn inject_fault(State(st): State<AppState>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(fault) => fault,
        Err(e) => return status::status(400, "BadRequest", &e.to_string(), None),
    };
    match st.emu.inject_fault(&fault) {
        Ok(()) => ok(json!({ "armed": fault })),
        Err(e) => status::status(400, "BadRequest", &e.to_string(), None),
    }
}

async fn silence(State(st): State<AppState>) -> Response {
    ok(json!({ "silenced": st.emu.silence_watches() }))
}

async fn clear_faults(State(st): State<AppState>) -> Response {
    st.emu.clear_faults();
    ok(json!({ "faults": [] }))
}

async fn forbid(State(st): State<AppState>, Path(resource): Path<String>) -> Response {
    match st.emu.forbid(&resource) {
        Ok(()) => ok(json!({ "forbidden": resource })),
        Err(e) => status::status(404, "NotFound", &e.to_string(), None),
    }
}

async fn allow(State(st): State<AppState>, Path(resource): Path<String>) -> Response {
    match st.emu.allow(&resource) {
        Ok(()) => ok(json!({ "allowed": resource })),
        Err(e) => status::status(404, "NotFound", &e.to_string(), None),
    }
}

async fn stats(State(st): State<AppState>) -> Response {
    ok(serde_json::to_value(st.emu.stats()).unwrap_or_default())
}

async fn reset_stats(State(st): State<AppState>) -> Response {
    st.emu.reset_stats();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Enabled {
    enabled: bool,
}

async fn streaming_lists(State(st): State<AppState>, Query(q): Query<Enabled>) -> Response {
    st.emu.set_streaming_lists(q.enabled);
    ok(json!({ "streamingLists": q.enabled }))
}

#[derive(Deserialize)]
struct ShardMode {
    mode: ShardSelectors,
}

async fn shard_selectors(State(st): State<AppState>, Query(q): Query<ShardMode>) -> Response {
    st.emu.set_shard_selectors(q.mode);
    ok(json!({ "shardSelectors": q.mode }))
}

#[derive(Deserialize)]
struct Interval {
    seconds: f64,
}

async fn bookmark_interval(State(st): State<AppState>, Query(q): Query<Interval>) -> Response {
    if !(q.seconds.is_finite() && q.seconds > 0.0) {
        return status::bad_request("seconds must be positive");
    }
    st.emu
        .set_bookmark_interval(Duration::from_secs_f64(q.seconds));
    ok(json!({ "bookmarkIntervalSeconds": q.seconds }))
}

/// `?seconds=S`: each list request waits S seconds (0 = off).
async fn list_delay(State(st): State<AppState>, Query(q): Query<Interval>) -> Response {
    if !(q.seconds.is_finite() && q.seconds >= 0.0 && q.seconds <= 3600.0) {
        return status::bad_request("seconds must be between 0 and 3600");
    }
    st.emu.set_list_delay(Duration::from_secs_f64(q.seconds));
    ok(json!({ "listDelaySeconds": q.seconds }))
}

/// A JSON body, or a 400 Status naming what is wrong with it.
fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| status::bad_request(&format!("invalid body: {e}")))
}

/// `{"version":"v1.36.0","runtimeConfig":{"admissionregistration.k8s.io/v1beta1":true}}`.
async fn surface(State(st): State<AppState>) -> Response {
    let s = st.emu.surface();
    ok(json!({ "version": s.git_version(), "runtimeConfig": s.runtime_config() }))
}

#[derive(Deserialize)]
struct Version {
    version: String,
}

async fn set_version(State(st): State<AppState>, body: Bytes) -> Response {
    let changed = json_body::<Version>(&body)
        .and_then(|v| st.emu.set_kubernetes_version(&v.version).map_err(invalid));
    match changed {
        Ok(()) => surface(State(st)).await,
        Err(r) => r,
    }
}

/// Body: `group/version` → enabled; applied all together or not at all.
async fn set_runtime_config(State(st): State<AppState>, body: Bytes) -> Response {
    let changed = json_body::<BTreeMap<String, bool>>(&body).and_then(|entries| {
        st.emu
            .update_surface(|s| {
                s.with_runtime_config(entries.iter().map(|(k, v)| (k.as_str(), *v)))
            })
            .map_err(invalid)
    });
    match changed {
        Ok(()) => surface(State(st)).await,
        Err(r) => r,
    }
}

fn invalid(e: crate::error::Error) -> Response {
    status::status(422, "Invalid", &e.to_string(), None)
}

async fn counts(State(st): State<AppState>) -> Response {
    let m: serde_json::Map<String, Value> = st
        .emu
        .store
        .counts()
        .into_iter()
        .map(|(r, n)| (resources::get(r).qualified_name(), json!(n)))
        .collect();
    ok(Value::Object(m))
}

/// `{"token": "...", "user": {"username", "uid", "groups", "extra"}}`: the token authenticates
/// as the user in TokenReviews.
async fn add_token(State(st): State<AppState>, body: Bytes) -> Response {
    #[derive(Deserialize)]
    struct Token {
        token: String,
        user: Value,
    }
    match serde_json::from_slice::<Token>(&body) {
        Ok(t) if !t.token.is_empty() && t.user.is_object() => {
            st.emu.add_token(&t.token, t.user);
            ok(json!({}))
        }
        _ => status::bad_request("expected {\"token\": \"...\", \"user\": {...}}"),
    }
}

/// Reviews answered so far.
async fn reviews(State(st): State<AppState>) -> Response {
    let (tokens, access) = st.emu.review_counts();
    ok(json!({"tokenreviews": tokens, "subjectaccessreviews": access}))
}
