//! The outputs resource: `GET/POST /v1/outputs`, `GET/DELETE /v1/outputs/{id}`.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{small_body, St};
use crate::serve::error::ApiError;
use crate::serve::output::Output;

pub(super) fn output_json(o: &Output) -> Value {
    let s = o.handle.stats();
    json!({
        "id": o.id,
        "speaking": o.handle.is_speaking(),
        "paused": o.handle.is_paused(),
        "buffered_ms": o.handle.buffered().as_millis() as u64,
        "level": { "peak": o.meter.peak.load(Ordering::Relaxed), "rms": o.meter.rms.load(Ordering::Relaxed) },
        "background": super::background::background_json(o),
        "stats": {
            "frames": s.frames, "speech_frames": s.speech_frames, "underruns": s.underruns,
            "late_frames": s.late_frames, "sink_drops": s.sink_drops,
            "replies_completed": s.replies_completed, "replies_interrupted": s.replies_interrupted,
        },
        "uptime_ms": o.created.elapsed().as_millis() as u64,
        "publish": o.publish_json(),
    })
}

pub(super) async fn list_outputs(State(state): St) -> Json<Value> {
    let outputs = state.outputs.read().unwrap_or_else(|e| e.into_inner());
    Json(json!({ "outputs": outputs.values().map(|o| output_json(o)).collect::<Vec<_>>() }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateOutput {
    id: String,
}

pub(super) async fn create_output(State(state): St, body: Body) -> Result<Response, ApiError> {
    let body = small_body(&state, body).await?;
    let req: CreateOutput = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("bad_json", format!("expected {{\"id\": \"name\"}}: {e}"))
    })?;
    let o = state.create_output(&req.id).await?;
    Ok((StatusCode::CREATED, Json(output_json(&o))).into_response())
}

pub(super) async fn get_output(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    Ok(Json(output_json(&o)))
}

pub(super) async fn delete_output(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let o = state.end_output(&id, state.settle_time()).await?;
    Ok(Json(json!({ "id": o.id, "ended": true })))
}
