//! An output's background and clips: `GET/PUT .../background` (level, on/off) and
//! `POST .../clips/{name}`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::Json;

use super::shared::{json_body, small_body, St};
use crate::contract::control::ClipFired;
use crate::contract::error::ApiKind;
use crate::contract::outputs::{BackgroundChange, BackgroundView};
use crate::serve::error::ApiError;
use crate::serve::output::Output;
use crate::serve::state::blocking;

/// `enabled`: the music is wanted; `playing`: it really plays (a file played once has ended,
/// or it failed, when `enabled` is true but `playing` false).
pub(super) fn background_view(o: &Output) -> BackgroundView {
    BackgroundView {
        enabled: o.bus.is_enabled(),
        playing: o.bus.is_playing(),
        gain_db: o.bus.gain_db(),
    }
}

pub(super) async fn get_background(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Json<BackgroundView>, ApiError> {
    let o = state.output(&id)?;
    Ok(Json(background_view(&o)))
}

pub(super) async fn put_background(
    State(state): St,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<BackgroundView>, ApiError> {
    let o = state.output(&id)?;
    let body = small_body(&state, body).await?;
    let change: BackgroundChange = json_body(&body, "BackgroundChange", "bad_gain")?;
    if let Some(g) = change.gain_db {
        // The document's bounds, and not a NaN (which JSON cannot carry, but f32 parsing can).
        if !g.is_finite() {
            return Err(ApiError::bad_request(
                "bad_gain",
                format!("gain_db {g}: expected -90 to +12 dB"),
            ));
        }
    }
    if change.enabled == Some(true) && state.config.background.is_none() {
        return Err(ApiError::conflict(
            ApiKind::InvalidInput,
            "no_background",
            "the configuration has no [background] to enable",
        ));
    }
    // Playing the music opens and probes its file: off the async workers.
    let bus = o.clone();
    blocking(move || {
        if let Some(g) = change.gain_db {
            bus.bus.set_gain_db(g)?;
        }
        if let Some(on) = change.enabled {
            if on != bus.bus.is_enabled() {
                bus.bus.set_enabled(on)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(Json(background_view(&o)))
}

pub(super) async fn fire_clip(
    State(state): St,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<ClipFired>, ApiError> {
    let o = state.output(&id)?;
    let clip = state.config.clips.get(&name).ok_or_else(|| {
        ApiError::not_found(
            "unknown_clip",
            format!(
                "no clip {name:?}; configured: {}",
                state
                    .config
                    .clips
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    // Opening and probing the clip's file: off the async workers.
    let clip = clip.clone();
    blocking(move || o.bus.clip(&clip).map_err(ApiError::from)).await?;
    Ok(Json(ClipFired {
        output: id,
        clip: name,
    }))
}
