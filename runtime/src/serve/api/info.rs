//! What the server says about itself: `/v1/info`, `/metrics` (Prometheus text) and
//! `/readyz`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::shared::St;
use crate::contract::error::{ApiKind, ErrorBody};
use crate::contract::info::{FormatView, Info, NotReady, Ready};

pub(super) async fn info(State(state): St) -> Json<Info> {
    let c = &state.config;
    Json(Info {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        format: FormatView {
            sample_rate: c.format.sample_rate(),
            channels: c.format.channels(),
            frame_ms: c.format.frame_ms(),
        },
        outputs: state
            .outputs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect(),
        clips: c.clips.keys().cloned().collect(),
        whep: cfg!(feature = "webrtc") && c.transport.whep,
        auth: !c.server.tokens.is_empty(),
        publish: state
            .outputs_snapshot()
            .iter()
            .filter_map(|o| Some((o.id.clone(), o.publish_view()?)))
            .collect(),
    })
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
    let not_ready = |message: &str, outputs| {
        let body = NotReady {
            error: ErrorBody {
                error: "not_ready".into(),
                message: message.into(),
                kind: ApiKind::Retryable,
            },
            ready: false,
            reason: message.into(),
            outputs,
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    };
    if !state.is_accepting() {
        return not_ready("shutting down", Default::default());
    }
    let waiting: std::collections::BTreeMap<_, _> = state
        .outputs_snapshot()
        .iter()
        .filter(|o| !o.publish_is_up())
        .filter_map(|o| Some((o.id.clone(), o.publish_view()?)))
        .collect();
    if waiting.is_empty() {
        (StatusCode::OK, Json(Ready { ready: true })).into_response()
    } else {
        not_ready("not every output is published", waiting)
    }
}
