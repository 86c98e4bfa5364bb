//! What the server says about itself: `/v1/info`, `/metrics` (Prometheus text) and
//! `/readyz`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::shared::St;

pub(super) async fn info(State(state): St) -> Json<Value> {
    let c = &state.config;
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "format": { "sample_rate": c.format.sample_rate(), "channels": c.format.channels(), "frame_ms": c.format.frame_ms() },
        "outputs": state.outputs.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect::<Vec<_>>(),
        "clips": c.clips.keys().collect::<Vec<_>>(),
        "whep": cfg!(feature = "webrtc") && c.transport.whep,
        "auth": !c.server.tokens.is_empty(),
        "publish": state.outputs_snapshot().iter()
            .filter(|o| !o.publish_json().is_null())
            .map(|o| (o.id.clone(), o.publish_json()))
            .collect::<serde_json::Map<_, _>>(),
    }))
}

pub(super) async fn metrics(State(state): St) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::serve::metrics::render(&state),
    )
}

/// `GET /readyz`: 200 when the server takes work and every configured WHIP publish is up,
/// 503 with the outputs that are not (and why) otherwise. `/healthz` stays about the process.
pub(super) async fn readyz(State(state): St) -> Response {
    if !state.is_accepting() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "ready": false, "reason": "shutting down" })),
        )
            .into_response();
    }
    let outputs = state.outputs_snapshot();
    let waiting: serde_json::Map<String, Value> = outputs
        .iter()
        .filter(|o| !o.publish_json().is_null() && !o.publish_is_up())
        .map(|o| (o.id.clone(), o.publish_json()))
        .collect();
    if waiting.is_empty() {
        (StatusCode::OK, axum::Json(json!({ "ready": true }))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "ready": false, "reason": "not every output is published", "outputs": waiting })),
        )
            .into_response()
    }
}
