//! What every resource's handlers share: the state extractor and small JSON request bodies.

use std::sync::Arc;

use crate::contract::error::ApiKind;
use crate::serve::error::{Answer, ApiError, Stop};
use crate::serve::state::AppState;
use axum::body::Body;
use axum::extract::State;

/// The shared state, as handlers extract it.
pub(super) type St = State<Arc<AppState>>;

/// A small (JSON) request body, read whole within `server.body_idle_timeout_ms`.
pub(super) async fn small_body(state: &AppState, body: Body) -> Result<bytes::Bytes, ApiError> {
    const LIMIT: usize = 64 * 1024;
    let idle = state.config.server.body_idle_timeout;
    match tokio::time::timeout(idle, axum::body::to_bytes(body, LIMIT)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(ApiError::of(
            Answer::TooLarge,
            ApiKind::InvalidInput,
            "body",
            format!("reading the request body (at most {LIMIT} bytes): {e}"),
        )
        .closing()),
        Err(_) => Err(ApiError::stopped(
            Stop::BodyTimeout,
            format!(
                "the request body did not arrive within {} ms (server.body_idle_timeout_ms)",
                idle.as_millis()
            ),
        )
        .closing()),
    }
}

/// A JSON body read strictly against the document's schema `schema` (see
/// `contract::strict`): a wrong shape or unknown field is `bad_json`, a value past a
/// stated limit is `out_of_range`; both name the field.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    schema: &str,
    out_of_range: &'static str,
) -> Result<T, ApiError> {
    crate::contract::strict::parse(body, schema, "").map_err(|p| {
        let code = if p.out_of_range {
            out_of_range
        } else {
            "bad_json"
        };
        ApiError::bad_request(code, p.to_string())
    })
}
