//! The HTTP routes of `voxpace serve` (described by the document `crate::contract`
//! generates from the types the handlers take and answer): the router, the layers every
//! listener gets (tokens, the JSON error shape) and one file per resource.

mod audio;
mod background;
mod control;
mod events;
mod info;
mod marks;
mod outputs;
mod replies;
mod shared;

use std::sync::Arc;

use axum::body::Body;
use axum::http::header;
use axum::middleware;
use axum::response::{Html, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::error::ApiError;
use super::state::AppState;
use crate::contract::error::ErrorBody;

const PAGE: &str = include_str!("../../../web/index.html");

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route(
            "/v1/outputs",
            get(outputs::list_outputs).post(outputs::create_output),
        )
        .route(
            "/v1/outputs/{id}",
            get(outputs::get_output).delete(outputs::delete_output),
        )
        .route("/v1/outputs/{id}/replies", post(replies::open_reply))
        .route("/v1/outputs/{id}/replies/{reply}", get(replies::get_reply))
        .route(
            "/v1/outputs/{id}/replies/{reply}/audio",
            post(replies::append_audio),
        )
        .route(
            "/v1/outputs/{id}/replies/{reply}/finish",
            post(replies::finish_reply),
        )
        .route(
            "/v1/outputs/{id}/replies/{reply}/marks",
            post(marks::add_marks),
        )
        .route("/v1/outputs/{id}/interrupt", post(control::interrupt))
        .route("/v1/outputs/{id}/pause", post(control::pause))
        .route("/v1/outputs/{id}/resume", post(control::resume))
        .route("/v1/outputs/{id}/enable-input", post(control::enable_input))
        .route(
            "/v1/outputs/{id}/background",
            get(background::get_background).put(background::put_background),
        )
        .route("/v1/outputs/{id}/clips/{name}", post(background::fire_clip))
        .route("/v1/outputs/{id}/demo", post(replies::demo_reply))
        .route("/v1/outputs/{id}/events", get(events::events))
        .route("/v1/outputs/{id}/audio", get(audio::monitor));
    #[allow(unused_mut)]
    let mut app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(info::readyz))
        .route(
            "/openapi.json",
            get(|| async { Json(crate::contract::document()) }),
        )
        .route("/metrics", get(info::metrics))
        .route("/v1/info", get(info::info))
        .merge(api);
    #[cfg(feature = "webrtc")]
    if let (Some(whep), None) = (&state.whep, state.config.transport.whep_listen) {
        app = app.nest_service("/whep", whep.router());
    }
    guarded(app.fallback(no_route), state)
}

/// The layers every listener's routes get: the token rule (`auth`) and the JSON error shape.
pub(crate) fn guarded(app: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    app.layer(middleware::from_fn_with_state(
        state.clone(),
        super::auth::check,
    ))
    .layer(middleware::map_response(json_errors))
    .with_state(state)
}

async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(
        "not_found",
        format!("no route {method} {}; see /openapi.json", uri.path()),
    )
}

/// Every 4xx/5xx answers `{error, message, kind}`: what axum's extractors (a bad path or
/// query), its method router (405) or a nested service (WHEP) answered otherwise is
/// wrapped, its text kept as the message and its kind read from its status.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let (error, kind) = super::error::foreign(status);
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let body = ErrorBody {
        error: error.to_owned(),
        message,
        kind,
    };
    let body = serde_json::to_string(&body).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}
