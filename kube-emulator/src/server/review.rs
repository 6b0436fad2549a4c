//! `POST .../tokenreviews` and `.../subjectaccessreviews`: created, never stored (the
//! apiserver answers 201 with the review and its status).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::AppState;
use super::status::{self, json_response};
use crate::review::Refused;

fn answer(
    body: &Bytes,
    api_version: &str,
    kind: &str,
    review: impl FnOnce(Value) -> Result<Value, Refused>,
) -> Response {
    let mut object: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return status::bad_request("the body is not a JSON object"),
    };
    object["apiVersion"] = api_version.into();
    object["kind"] = kind.into();
    if object["metadata"].is_null() {
        object["metadata"] = serde_json::json!({"creationTimestamp": null});
    }
    match review(object) {
        Ok(reviewed) => json_response(
            StatusCode::CREATED,
            serde_json::to_vec(&reviewed).unwrap_or_default(),
        ),
        Err(Refused::BadRequest(message)) => status::bad_request(&message),
        Err(Refused::Invalid(message)) => status::status(
            422,
            "Invalid",
            &format!(
                "{kind}.{} \"\" is invalid: {message}",
                api_version.split('/').next().unwrap_or_default()
            ),
            None,
        ),
    }
}

pub(crate) async fn token_review(State(st): State<AppState>, body: Bytes) -> Response {
    answer(&body, "authentication.k8s.io/v1", "TokenReview", |r| {
        st.emu.token_review(r)
    })
}

pub(crate) async fn subject_access_review(State(st): State<AppState>, body: Bytes) -> Response {
    answer(
        &body,
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        |r| st.emu.subject_access_review(r),
    )
}
