//! An output's background and clips: `GET/PUT .../background` (level, on/off) and
//! `POST .../clips/{name}`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{small_body, St};
use crate::serve::error::ApiError;
use crate::serve::output::Output;
use crate::serve::state::blocking;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackgroundChange {
    /// Background level in dB (-90 to +12).
    gain_db: Option<f32>,
    /// Play (true) or stop (false) the configured background.
    enabled: Option<bool>,
}

/// `enabled`: the music is wanted; `playing`: it really plays (a file played once has ended,
/// or it failed, when `enabled` is true but `playing` false).
pub(super) fn background_json(o: &Output) -> Value {
    json!({ "enabled": o.bus.is_enabled(), "playing": o.bus.is_playing(), "gain_db": o.bus.gain_db() })
}

pub(super) async fn get_background(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    Ok(Json(background_json(&o)))
}

pub(super) async fn put_background(
    State(state): St,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let o = state.output(&id)?;
    let body = small_body(&state, body).await?;
    let change: BackgroundChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!("expected {{\"gain_db\": -12.0, \"enabled\": true}}: {e}"),
        )
    })?;
    if let Some(g) = change.gain_db {
        if !(g.is_finite() && (-90.0..=12.0).contains(&g)) {
            return Err(ApiError::bad_request(
                "bad_gain",
                format!("gain_db {g}: expected -90 to +12 dB"),
            ));
        }
    }
    let busy = |e: crate::Error| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "background", e.to_string())
    };
    if change.enabled == Some(true) && state.config.background.is_none() {
        return Err(ApiError::conflict(
            "no_background",
            "the configuration has no [background] to enable",
        ));
    }
    // Playing the music opens and probes its file: off the async workers.
    let bus = o.clone();
    blocking(move || {
        if let Some(g) = change.gain_db {
            bus.bus.set_gain_db(g).map_err(busy)?;
        }
        if let Some(on) = change.enabled {
            if on != bus.bus.is_enabled() {
                bus.bus.set_enabled(on).map_err(busy)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(Json(background_json(&o)))
}

pub(super) async fn fire_clip(
    State(state): St,
    Path((id, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
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
    blocking(move || {
        o.bus
            .clip(&clip)
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()))
    })
    .await?;
    Ok(Json(json!({ "output": id, "clip": name })))
}
