//! WHIP publishing of agent outputs, as the control API sees it: one
//! [`voxpace_transport::WhipPublisher`] per output that has a WHIP target, its state in
//! `GET /v1/outputs/{id}`, `/v1/info`, `/metrics` and as `publish_state` events (a client that
//! subscribes late gets the current state first), `/readyz`, and teardown that always sends
//! the DELETE (bounded) before the process exits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::broadcast;
#[cfg(feature = "webrtc")]
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;
#[cfg(feature = "webrtc")]
use tracing::Instrument;
#[cfg(feature = "webrtc")]
use voxpace_core::{Clock, MonotonicClock};
#[cfg(feature = "webrtc")]
use voxpace_transport::{PublishState, PublishStatus, WhipPublisher};

use super::output::{EventMsg, Output};
use super::AppState;

/// One output's WHIP publish.
#[cfg(feature = "webrtc")]
#[derive(Debug)]
pub(crate) struct OutputPublish {
    url: String,
    publisher: Mutex<Option<WhipPublisher>>,
    status: watch::Receiver<PublishStatus>,
    /// The latest `publish_state` event sent; read and written under this lock together
    /// with the broadcast, so a late subscriber gets exactly the state before its first event.
    last_event: Arc<Mutex<Option<Arc<EventMsg>>>>,
    clock: MonotonicClock,
}

#[cfg(feature = "webrtc")]
impl OutputPublish {
    /// Start publishing `track` to `target`; its state changes go out on `events`.
    pub(crate) fn start(
        id: &str,
        target: crate::config::WhipTarget,
        track: voxpace_transport::Publisher,
        config: &crate::Config,
        events: broadcast::Sender<Arc<EventMsg>>,
    ) -> Result<OutputPublish, voxpace_transport::Error> {
        let t = &config.transport;
        let mut peer = super::peer_settings(config.server.listen);
        // A lost SFU is noticed after 3 s without an answer to the 1 s consent checks.
        peer.ice_disconnected_timeout = Duration::from_secs(3);
        peer.ice_keepalive_interval = Duration::from_secs(1);
        let options = voxpace_transport::ClientOptions {
            bearer_token: target.token.clone(),
            peer,
            post_timeout: t.whip_timeout,
            delete_timeout: t.whip_delete_timeout,
        };
        let backoff = voxpace_transport::Backoff {
            initial: t.whip_retry.initial,
            max: t.whip_retry.max,
            jitter: t.whip_retry.jitter,
        };
        let clock = MonotonicClock::new();
        let span = tracing::info_span!("whip", output = %id);
        let publisher = span.in_scope(|| {
            WhipPublisher::start(
                vec![track],
                voxpace_transport::WhipPublisherConfig {
                    endpoint: target.url.clone(),
                    options,
                    backoff,
                },
                clock,
            )
        })?;
        let status = publisher.watch();
        let last_event = Arc::new(Mutex::new(None));
        let publish = OutputPublish {
            url: target.url,
            publisher: Mutex::new(Some(publisher)),
            status: status.clone(),
            last_event: last_event.clone(),
            clock,
        };
        publish.send_state(&events);
        let forward = ForwardStates {
            id: id.to_owned(),
            url: publish.url.clone(),
            status,
            last_event,
            clock,
        };
        tokio::spawn(forward.run(events).instrument(span));
        Ok(publish)
    }

    fn send_state(&self, events: &broadcast::Sender<Arc<EventMsg>>) {
        let status = self.status.borrow().clone();
        send_state(&self.last_event, events, &self.url, &status, &self.clock);
    }

    /// The state as JSON for the API.
    pub(crate) fn json(&self) -> Value {
        status_json(&self.url, &self.status.borrow(), &self.clock)
    }

    /// True while published.
    pub(crate) fn is_up(&self) -> bool {
        self.status.borrow().state == PublishState::Published
    }

    /// The state name and counters for `/metrics`.
    pub(crate) fn status(&self) -> PublishStatus {
        self.status.borrow().clone()
    }

    /// Stop publishing (DELETE the resource); the returned task ends when that is done.
    fn teardown(&self) -> Option<JoinHandle<()>> {
        let publisher = self
            .publisher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()?;
        Some(tokio::spawn(publisher.stop()))
    }
}

/// Forwards every state change of one publisher to the output's event stream.
#[cfg(feature = "webrtc")]
struct ForwardStates {
    id: String,
    url: String,
    status: watch::Receiver<PublishStatus>,
    last_event: Arc<Mutex<Option<Arc<EventMsg>>>>,
    clock: MonotonicClock,
}

#[cfg(feature = "webrtc")]
impl ForwardStates {
    async fn run(mut self, events: broadcast::Sender<Arc<EventMsg>>) {
        while self.status.changed().await.is_ok() {
            let status = self.status.borrow_and_update().clone();
            tracing::debug!(output = %self.id, state = %status.state, "publish state");
            send_state(&self.last_event, &events, &self.url, &status, &self.clock);
        }
    }
}

#[cfg(feature = "webrtc")]
fn send_state(
    last: &Mutex<Option<Arc<EventMsg>>>,
    events: &broadcast::Sender<Arc<EventMsg>>,
    url: &str,
    status: &PublishStatus,
    clock: &MonotonicClock,
) {
    let mut data = status_json(url, status, clock);
    data["type"] = json!("publish_state");
    let msg = Arc::new(EventMsg {
        seq: 0,
        name: "publish_state",
        data: data.to_string(),
    });
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    let _ = events.send(msg.clone());
    *last = Some(msg);
}

#[cfg(feature = "webrtc")]
fn status_json(url: &str, s: &PublishStatus, clock: &MonotonicClock) -> Value {
    json!({
        "url": url,
        "state": s.state.as_str(),
        "attempts": s.attempts,
        "failures": s.failures,
        "publishes": s.publishes,
        "last_error": s.last_error,
        "resource": s.resource,
        "retry_in_ms": s.retry_in.map(|d| d.as_millis() as u64),
        "since_ms": clock.now().saturating_sub(s.since).as_millis() as u64,
    })
}

impl Output {
    /// Subscribe to the output's events, with the current publish state to send first
    /// (consistent with the subscription: every later change arrives as an event).
    pub(crate) fn subscribe_events(
        &self,
    ) -> (broadcast::Receiver<Arc<EventMsg>>, Option<Arc<EventMsg>>) {
        #[cfg(feature = "webrtc")]
        if let Some(p) = &self.whip {
            let last = p.last_event.lock().unwrap_or_else(|e| e.into_inner());
            return (self.events.subscribe(), last.clone());
        }
        (self.events.subscribe(), None)
    }

    /// The publish state as JSON (`null` when the output does not publish over WHIP).
    pub(crate) fn publish_json(&self) -> Value {
        #[cfg(feature = "webrtc")]
        if let Some(p) = &self.whip {
            return p.json();
        }
        Value::Null
    }
}

/// WHIP DELETEs in flight, awaited before the process exits.
#[derive(Debug, Default)]
pub(crate) struct Teardowns {
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Teardowns {
    /// Stop `output`'s publish in the background (on DELETE of the output, or its end).
    pub(crate) fn start(&self, output: &Output) {
        #[cfg(feature = "webrtc")]
        if let Some(task) = output.whip.as_ref().and_then(|p| p.teardown()) {
            let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
        #[cfg(not(feature = "webrtc"))]
        let _ = output;
    }

    /// Wait for every teardown, at most `bound`.
    pub(crate) async fn finish(&self, bound: Duration) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        if tasks.is_empty() {
            return;
        }
        let all = futures_util::future::join_all(tasks);
        if tokio::time::timeout(bound, all).await.is_err() {
            warn!(
                bound_ms = bound.as_millis() as u64,
                "WHIP teardown did not finish in time; exiting anyway"
            );
        }
    }
}

/// `GET /readyz`: 200 when the server takes work and every configured WHIP publish is up,
/// 503 with the outputs that are not (and why) otherwise. `/healthz` stays about the process.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if !state.is_accepting() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "ready": false, "reason": "shutting down" })),
        )
            .into_response();
    }
    let outputs = state.outputs_snapshot();
    let waiting: serde_json::Map<String, Value> = outputs
        .iter()
        .filter(|o| !o.publish_json().is_null() && !o.publish_is_up())
        .map(|o| (o.id.clone(), o.publish_json()))
        .collect();
    if waiting.is_empty() {
        (StatusCode::OK, axum::Json(json!({ "ready": true }))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "ready": false, "reason": "not every output is published", "outputs": waiting })),
        )
            .into_response()
    }
}

impl Output {
    fn publish_is_up(&self) -> bool {
        #[cfg(feature = "webrtc")]
        if let Some(p) = &self.whip {
            return p.is_up();
        }
        true
    }
}
