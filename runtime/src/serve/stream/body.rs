//! Reading a reply's request body against real time (`BodyReader`), shared by the PCM/WAV
//! path (`api.rs`) and the compressed path (`coded.rs`).

use std::time::Duration;

use axum::body::Body;
use futures_util::StreamExt;

use crate::serve::error::{ApiError, Stop};
use crate::serve::output::Output;
use crate::serve::state::AppState;

/// Reply audio from a request body, judged against real time: the body may fall at most
/// `server.body_idle_timeout_ms` behind what the output will have played by then (the
/// audio queued before it plus what it sent), so a stalled or trickling body ends with 408
/// instead of holding its reply open (speaking, underrunning) forever. A paused output plays
/// nothing, so its bodies are not held to the clock. Ends early (410) when the output is
/// ended (DELETE, shutdown).
pub(crate) struct BodyReader {
    stream: axum::body::BodyDataStream,
    deadline: tokio::time::Instant,
    idle: Duration,
    rate: f64,
    closing: tokio::sync::watch::Receiver<bool>,
}

impl BodyReader {
    pub(crate) fn new(state: &AppState, output: &Output, body: Body) -> Self {
        let idle = state.config.server.body_idle_timeout;
        Self {
            stream: body.into_data_stream(),
            deadline: tokio::time::Instant::now() + output.handle.buffered() + idle,
            idle,
            rate: output.handle.format().sample_rate() as f64,
            closing: output.closing.subscribe(),
        }
    }

    /// `frames` samples per channel were accepted: they buy their duration of time.
    pub(crate) fn credit(&mut self, frames: u64) {
        self.deadline += Duration::from_secs_f64(frames as f64 / self.rate);
    }

    /// The next chunk of the body; `None` at its end.
    pub(crate) async fn next(&mut self, output: &Output) -> Result<Option<bytes::Bytes>, ApiError> {
        loop {
            tokio::select! {
                biased;
                _ = self.closing.wait_for(|c| *c) => {
                    return Err(ApiError::stopped(
                        Stop::OutputEnded,
                        "the agent output was ended while this request was sending audio",
                    )
                    .closing());
                }
                next = tokio::time::timeout_at(self.deadline, self.stream.next()) => {
                    return match next {
                        Ok(None) => Ok(None),
                        Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
                        Ok(Some(Err(e))) => Err(ApiError::bad_request(
                            "body",
                            format!("reading the request body: {e}"),
                        )
                        .closing()),
                        Err(_) if output.handle.is_paused() => {
                            self.deadline = tokio::time::Instant::now() + self.idle;
                            continue;
                        }
                        Err(_) => Err(ApiError::stopped(
                            Stop::BodyTimeout,
                            format!(
                                "the request body fell more than {} ms behind real time (server.body_idle_timeout_ms); the reply ends with the audio that arrived",
                                self.idle.as_millis()
                            ),
                        )
                        .closing()),
                    };
                }
            }
        }
    }
}
