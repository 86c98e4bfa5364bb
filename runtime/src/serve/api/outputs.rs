//! The outputs resource: `GET/POST /v1/outputs`, `GET/DELETE /v1/outputs/{id}`.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::shared::{json_body, small_body, St};
use crate::contract::outputs::{CreateOutput, Ended, Level, OutputList, OutputView, Stats};
use crate::serve::error::ApiError;
use crate::serve::output::Output;

pub(super) fn output_view(o: &Output) -> OutputView {
    let s = o.handle.stats();
    OutputView {
        id: o.id.clone(),
        speaking: o.handle.is_speaking(),
        paused: o.handle.is_paused(),
        buffered_ms: o.handle.buffered().as_millis() as u64,
        level: Level {
            peak: o.meter.peak.load(Ordering::Relaxed),
            rms: o.meter.rms.load(Ordering::Relaxed),
        },
        background: super::background::background_view(o),
        stats: Stats {
            frames: s.frames,
            speech_frames: s.speech_frames,
            underruns: s.underruns,
            late_frames: s.late_frames,
            sink_drops: s.sink_drops,
            replies_completed: s.replies_completed,
            replies_interrupted: s.replies_interrupted,
        },
        uptime_ms: o.created.elapsed().as_millis() as u64,
        publish: o.publish_view(),
    }
}

pub(super) async fn list_outputs(State(state): St) -> Json<OutputList> {
    let outputs = state.outputs.read().unwrap_or_else(|e| e.into_inner());
    Json(OutputList {
        outputs: outputs.values().map(|o| output_view(o)).collect(),
    })
}

pub(super) async fn create_output(
    State(state): St,
    body: Body,
) -> Result<(StatusCode, Json<OutputView>), ApiError> {
    let body = small_body(&state, body).await?;
    let req: CreateOutput = json_body(&body, "CreateOutput", "bad_output_id")?;
    let o = state.create_output(&req.id).await?;
    Ok((StatusCode::CREATED, Json(output_view(&o))))
}

pub(super) async fn get_output(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Json<OutputView>, ApiError> {
    let o = state.output(&id)?;
    Ok(Json(output_view(&o)))
}

pub(super) async fn delete_output(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Json<Ended>, ApiError> {
    let o = state.end_output(&id, state.settle_time()).await?;
    Ok(Json(Ended {
        id: o.id.clone(),
        ended: true,
    }))
}
