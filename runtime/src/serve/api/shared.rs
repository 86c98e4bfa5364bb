//! What every resource's handlers share: the state extractor and small JSON request bodies.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;

use crate::serve::error::ApiError;
use crate::serve::state::AppState;
use crate::serve::stream::BODY_TIMEOUT;

/// The shared state, as handlers extract it.
pub(super) type St = State<Arc<AppState>>;

/// A small (JSON) request body, read whole within `server.body_idle_timeout_ms`.
pub(super) async fn small_body(state: &AppState, body: Body) -> Result<bytes::Bytes, ApiError> {
    const LIMIT: usize = 64 * 1024;
    let idle = state.config.server.body_idle_timeout;
    match tokio::time::timeout(idle, axum::body::to_bytes(body, LIMIT)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            format!("reading the request body (at most {LIMIT} bytes): {e}"),
        )
        .closing()),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            BODY_TIMEOUT,
            format!(
                "the request body did not arrive within {} ms (server.body_idle_timeout_ms)",
                idle.as_millis()
            ),
        )
        .closing()),
    }
}
