//! `GET /v1/outputs/{id}/events`: an output's live events as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::shared::St;
use crate::contract::events::{Hello, Lagged, StreamEvent};
use crate::serve::error::ApiError;

/// Live events as server-sent events. Ends when the output ends or the server shuts down.
pub(super) async fn events(
    State(state): St,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let o = state.output(&id)?;
    // A late subscriber hears the current publish state first.
    let (rx, publish_state) = o.subscribe_events();
    let stop = state.shutdown.subscribe();
    drop(o);
    let hello = StreamEvent::Hello(Hello { output: id });
    let hello = SseEvent::default()
        .event(hello.name())
        .data(hello.to_json());
    let stream =
        futures_util::stream::unfold((rx, stop, false), |(mut rx, mut stop, ended)| async move {
            if ended {
                return None;
            }
            // On shutdown, deliver what is already queued (e.g. output_ended), then end.
            let next = if *stop.borrow() {
                rx.try_recv().ok().map(Ok)?
            } else {
                tokio::select! {
                    biased;
                    r = rx.recv() => r,
                    _ = stop.wait_for(|s| *s) => rx.try_recv().ok().map(Ok)?,
                }
            };
            match next {
                Ok(msg) => {
                    let mut ev = SseEvent::default().event(msg.name).data(msg.data.clone());
                    if msg.seq != u64::MAX {
                        ev = ev.id(msg.seq.to_string());
                    }
                    let end = msg.name == "output_ended";
                    Some((Ok(ev), (rx, stop, end)))
                }
                Err(RecvError::Lagged(missed)) => {
                    let lagged = StreamEvent::Lagged(Lagged { missed });
                    let ev = SseEvent::default()
                        .event(lagged.name())
                        .data(lagged.to_json());
                    Some((Ok(ev), (rx, stop, false)))
                }
                Err(RecvError::Closed) => None,
            }
        });
    let publish_state = publish_state.map(|m| {
        Ok(SseEvent::default()
            .event(m.name)
            .data(m.data.clone())
            .id(m.seq.to_string()))
    });
    let stream =
        futures_util::stream::iter(std::iter::once(Ok(hello)).chain(publish_state)).chain(stream);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
