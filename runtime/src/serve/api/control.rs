//! Playback control of an output: interrupt, pause, resume, and re-opening intake after an
//! interrupt (`output.manual_input`).

use axum::extract::{Path, State};
use axum::Json;

use super::shared::St;
use crate::contract::control::{InputState, Interrupted, PauseState};
use crate::serve::error::ApiError;

pub(super) async fn interrupt(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Json<Interrupted>, ApiError> {
    let o = state.output(&id)?;
    let through = o.handle.interrupt().map(|r| r.0);
    o.span.in_scope(|| tracing::info!(?through, "interrupted"));
    Ok(Json(Interrupted {
        output: id,
        interrupted_through: through,
    }))
}

pub(super) async fn pause(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Json<PauseState>, ApiError> {
    let o = state.output(&id)?;
    o.handle.pause();
    Ok(Json(PauseState {
        output: id,
        paused: true,
    }))
}

pub(super) async fn resume(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Json<PauseState>, ApiError> {
    let o = state.output(&id)?;
    o.handle.resume();
    Ok(Json(PauseState {
        output: id,
        paused: false,
    }))
}

/// Re-open intake after an interrupt when `output.manual_input` is set.
pub(super) async fn enable_input(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Json<InputState>, ApiError> {
    let o = state.output(&id)?;
    o.handle.enable_input(state.config.track.manual_input);
    Ok(Json(InputState {
        output: id,
        input: "open".into(),
    }))
}
