//! WHIP publishing of agent outputs, as the control API sees it: one
//! [`voxpace_transport::WhipPublisher`] per output that has a WHIP target, its state in
//! `GET /v1/outputs/{id}`, `/v1/info`, `/metrics` and as `publish_state` events (a client that
//! subscribes late gets the current state first), `/readyz` (`api/info.rs`), and teardown that always sends
//! the DELETE (bounded) before the process exits.

#[cfg(feature = "webrtc")]
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

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

#[cfg(feature = "webrtc")]
use super::event::{EventLog, EventMsg, Subscription};
#[cfg(feature = "webrtc")]
use crate::contract::events::StreamEvent;
#[cfg(feature = "webrtc")]
use crate::contract::outputs::PublishView;

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
        events: Arc<EventLog>,
    ) -> Result<OutputPublish, voxpace_transport::Error> {
        let t = &config.transport;
        let mut peer = peer_settings(config.server.listen);
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

    fn send_state(&self, events: &EventLog) {
        let status = self.status.borrow().clone();
        send_state(&self.last_event, events, &self.url, &status, &self.clock);
    }

    /// The state as the API shows it.
    pub(crate) fn view(&self) -> PublishView {
        status_view(&self.url, &self.status.borrow(), &self.clock)
    }

    /// True while published.
    pub(crate) fn is_up(&self) -> bool {
        self.status.borrow().state == PublishState::Published
    }

    /// The state name and counters for `/metrics`.
    pub(crate) fn status(&self) -> PublishStatus {
        self.status.borrow().clone()
    }

    /// Subscribe to `events` (after `after`) with the publish state to send first, under
    /// the lock that orders it with the broadcast: every later change arrives as an event.
    pub(crate) fn subscribe(
        &self,
        events: &EventLog,
        after: Option<u64>,
    ) -> (Subscription, Option<Arc<EventMsg>>) {
        let last = self.last_event.lock().unwrap_or_else(|e| e.into_inner());
        (events.subscribe(after), last.clone())
    }

    /// Stop publishing (DELETE the resource); the returned task ends when that is done.
    pub(crate) fn teardown(&self) -> Option<JoinHandle<()>> {
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
    async fn run(mut self, events: Arc<EventLog>) {
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
    events: &EventLog,
    url: &str,
    status: &PublishStatus,
    clock: &MonotonicClock,
) {
    let event = StreamEvent::PublishState(status_view(url, status, clock));
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    *last = Some(events.send(&event));
}

#[cfg(feature = "webrtc")]
fn status_view(url: &str, s: &PublishStatus, clock: &MonotonicClock) -> PublishView {
    PublishView {
        url: url.to_owned(),
        state: s.state.as_str().to_owned(),
        attempts: s.attempts,
        failures: s.failures.into(),
        publishes: s.publishes,
        last_error: s.last_error.clone(),
        resource: s.resource.clone(),
        retry_in_ms: s.retry_in.map(|d| d.as_millis() as u64),
        since_ms: clock.now().saturating_sub(s.since).as_millis() as u64,
    }
}

/// WHIP DELETEs in flight, awaited before the process exits.
#[derive(Debug, Default)]
pub(crate) struct Teardowns {
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Teardowns {
    /// Keep an output's publish teardown (`Output::stop_publish`, on DELETE of the output
    /// or its end) to await at shutdown.
    pub(crate) fn start(&self, task: Option<JoinHandle<()>>) {
        if let Some(task) = task {
            let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
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

/// ICE settings: loopback candidates (and fast checks) when serving on a loopback address.
#[cfg(feature = "webrtc")]
pub(crate) fn peer_settings(addr: std::net::SocketAddr) -> voxpace_transport::PeerSettings {
    if addr.ip().is_loopback() {
        voxpace_transport::PeerSettings::loopback()
    } else {
        voxpace_transport::PeerSettings::default()
    }
}
