//! `GET /v1/outputs/{id}/audio`: an output's mixed audio, live, as a WAV stream.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::shared::St;
use crate::contract::error::ApiKind;
use crate::serve::error::{Answer, ApiError};
use crate::serve::frame::MONITOR_SLOTS;
use crate::serve::output::MonitorSlot;
use crate::serve::wav::stream_header;

/// How long a request waits for a monitor slot when all are taken: long enough for the
/// connection of a client that just hung up to notice its close (hyper reads the EOF, or the
/// next 20 ms frame's write fails) and free its slot, short enough for a real extra client
/// to get its 429 at once.
const RECONNECT_PATIENCE: Duration = Duration::from_millis(100);

/// The output's mixed audio, live, as a WAV stream (for listeners without WebRTC, and for
/// checking what an output sounds like with curl).
pub(super) async fn monitor(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let o = state.output(&id)?;
    let (rx, slot) = o.monitor_within(RECONNECT_PATIENCE).await.ok_or_else(|| {
        ApiError::of(
            Answer::TooMany,
            ApiKind::Retryable,
            "monitors_busy",
            format!("all {MONITOR_SLOTS} live-audio monitor slots of this output are in use"),
        )
    })?;
    let format = o.handle.format();
    let monitor = Monitor {
        header: Some(stream_header(format.sample_rate(), format.channels())),
        rx,
        _slot: slot,
        stop: state.shutdown.subscribe(),
        alive: o.alive.clone(),
        frame: format.frame_duration(),
    };
    drop(o);
    let body = futures_util::stream::unfold(monitor, |mut m| async move {
        if let Some(h) = m.header.take() {
            return Some((Ok::<_, Infallible>(bytes::Bytes::from(h)), m));
        }
        loop {
            if *m.stop.borrow() {
                return None;
            }
            let n = m.rx.slots();
            if n > 0 {
                let mut out = Vec::with_capacity(n * 2);
                if let Ok(chunk) = m.rx.read_chunk(n) {
                    for s in chunk {
                        out.extend_from_slice(&s.to_le_bytes());
                    }
                }
                return Some((Ok(bytes::Bytes::from(out)), m));
            }
            if !m.alive.load(Ordering::Acquire) {
                return None;
            }
            tokio::time::sleep(m.frame).await;
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// State of one live-audio stream.
struct Monitor {
    header: Option<Vec<u8>>,
    rx: rtrb::Consumer<i16>,
    _slot: MonitorSlot,
    stop: tokio::sync::watch::Receiver<bool>,
    alive: Arc<std::sync::atomic::AtomicBool>,
    frame: Duration,
}
