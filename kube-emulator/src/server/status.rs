//! `meta/v1 Status` responses, shaped as the apiserver sends them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A Status object.
pub fn status_value(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut v = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    v
}

/// A Status response with the HTTP code `code`.
pub fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Response {
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        serde_json::to_vec(&status_value(code, reason, message, details)).unwrap_or_default(),
    )
}

/// A JSON body with `Content-Type: application/json`.
pub fn json_response(code: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (code, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// 404 for a path the server does not serve (an unknown group, version or resource), as
/// the apiserver's not-found handler words it (a Status without details).
pub fn path_not_found() -> Response {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        None,
    )
}

/// 404 for a missing object.
pub fn object_not_found(qualified: &str, name: &str) -> Response {
    let (kind, group) = match qualified.split_once('.') {
        Some((k, g)) => (k, g),
        None => (qualified, ""),
    };
    status(
        404,
        "NotFound",
        &format!("{qualified} \"{name}\" not found"),
        Some(json!({"name": name, "group": group, "kind": kind})),
    )
}

/// 400 Bad Request.
pub fn bad_request(message: &str) -> Response {
    status(400, "BadRequest", message, None)
}

/// 422 Invalid for a bad ListOptions, as the apiserver validates query parameters.
pub fn invalid_list_options(field: &str, message: &str) -> Response {
    status(
        422,
        "Invalid",
        &format!("ListOptions.meta.k8s.io \"\" is invalid: {field}: Forbidden: {message}"),
        Some(json!({"group": "meta.k8s.io", "kind": "ListOptions",
                    "causes": [{"reason": "FieldValueForbidden", "message": format!("Forbidden: {message}"), "field": field}]})),
    )
}

/// 405 for verbs the emulator does not implement.
pub fn method_not_supported() -> Response {
    status(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        None,
    )
}

/// 410 Expired message for a watch from a compacted resourceVersion.
pub fn too_old_message(requested: u64, oldest: u64) -> String {
    format!("too old resource version: {requested} ({oldest})")
}

/// An injected failure, as the apiserver writes it: API Priority and Fairness' 429 is plain text
/// with `Retry-After`; 500 and 503 are Status bodies (503 with `Retry-After` when given).
pub fn injected(failure: crate::faults::Failure) -> Response {
    let mut response = match failure.status {
        429 => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests, please try again later.\n",
        )
            .into_response(),
        503 => status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            None,
        ),
        code => status(
            code,
            "InternalError",
            "Internal error occurred: injected fault",
            None,
        ),
    };
    if let Some(seconds) = failure.retry_after_seconds
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
