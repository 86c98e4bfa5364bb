//! `GET /v1/outputs/{id}/events`: an output's live events as server-sent events. Every event
//! but `hello` carries its number within the output as the SSE `id`; a client reconnecting
//! with `Last-Event-ID` gets the events after it from the output's recent history (the last
//! [`HISTORY`]), preceded by `lagged` when some of them are no longer there.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::shared::St;
use crate::contract::error::ApiKind;
use crate::contract::events::{Hello, Lagged, StreamEvent};
use crate::serve::error::{Answer, ApiError};
use crate::serve::event::{EventMsg, HISTORY};

/// Live events as server-sent events. Ends when the output ends or the server shuts down.
pub(super) async fn events(
    State(state): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let after = last_event_id(&headers)?;
    let o = state.output(&id)?;
    // A late subscriber hears the current publish state first (unless it resumes).
    let (sub, publish_state) = o.subscribe_events(after);
    let stop = state.shutdown.subscribe();
    drop(o);
    let mut first = vec![unnumbered(&StreamEvent::Hello(Hello { output: id }))];
    if sub.missed > 0 {
        first.push(unnumbered(&StreamEvent::Lagged(Lagged {
            missed: sub.missed,
        })));
    }
    let replayed_to = sub.replay.last().map(|m| m.seq);
    let catch_up = publish_state.filter(|_| !sub.resumed);
    first.extend(catch_up.iter().chain(&sub.replay).map(numbered));
    let rx = sub.live;
    let stream = futures_util::stream::unfold(
        (rx, stop, false, replayed_to),
        |(mut rx, mut stop, ended, replayed_to)| async move {
            if ended {
                return None;
            }
            loop {
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
                return match next {
                    // Already sent from the history.
                    Ok(msg) if replayed_to.is_some_and(|r| msg.seq <= r) => continue,
                    Ok(msg) => {
                        let end = msg.name == "output_ended";
                        Some((Ok(numbered(&msg)), (rx, stop, end, replayed_to)))
                    }
                    Err(RecvError::Lagged(missed)) => {
                        let ev = unnumbered(&StreamEvent::Lagged(Lagged { missed }));
                        Some((Ok(ev), (rx, stop, false, replayed_to)))
                    }
                    Err(RecvError::Closed) => None,
                };
            }
        },
    );
    let stream = futures_util::stream::iter(first.into_iter().map(Ok)).chain(stream);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// An event outside the output's numbering (`hello`, `lagged`): no SSE `id`.
fn unnumbered(e: &StreamEvent) -> SseEvent {
    SseEvent::default().event(e.name()).data(e.to_json())
}

/// An event as sent, with its number as the SSE `id`.
fn numbered(msg: &Arc<EventMsg>) -> SseEvent {
    SseEvent::default()
        .event(msg.name)
        .data(msg.data.clone())
        .id(msg.seq.to_string())
}

/// The client's `Last-Event-ID` (an id this server sent: a number), if any.
fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        ApiError::of(
            Answer::ByKind,
            ApiKind::InvalidInput,
            "bad_last_event_id",
            format!(
                "Last-Event-ID {text:?} is not an event id of this server (a number; the last {HISTORY} events of an output can be sent again)"
            ),
        )
    })
}
