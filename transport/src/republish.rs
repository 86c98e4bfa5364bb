//! Publishing that survives the network: a [`WhipPublisher`] keeps one track set published
//! to a WHIP endpoint for as long as it lives.
//!
//! ```text
//!   connecting ──201 + ICE/DTLS up──▶ published ──connection lost──┐
//!      ▲  │                                                        │ DELETE the old resource
//!      │  └─POST refused / unreachable / timeout / ICE failed──┐   │
//!      │                                                       ▼   ▼
//!      └──────────── backoff (0.5 s doubling to 10 s, jitter) ── retrying
//!   stop() or the tracks close, in any state: DELETE (bounded) ──▶ stopped
//! ```
//!
//! Every failed attempt is logged once at warn with its whole cause chain; the current
//! [`PublishStatus`] is readable at any time and observable as a `watch` channel. The retry
//! decision follows [`Error::kind`]: retryable errors back off exponentially, a request the
//! server calls wrong (a 4xx other than 403/408/409/425/429) is retried at the slowest pace
//! (someone may fix the server side), anything else (a URL that does not parse) gives up.
//! Waiting runs on an injected [`Clock`], so the policy is tested on the virtual clock.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn, Instrument};
use voxpace_core::{Clock, ErrorKind};

use crate::client::{answers, delete_stale, parse_endpoint};
use crate::peer::random_u64;
use crate::{ClientOptions, Error, Publisher, WhipSession};

/// Capped exponential backoff with jitter: the n-th consecutive failure waits
/// `min(initial · 2ⁿ⁻¹, max)`, shortened by a random fraction of at most `jitter`, so that
/// many agents cut off by one SFU restart do not come back in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Fraction (0 to 1) by which each wait is randomly shortened.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures (1 for the first), with `unit` a
    /// random number in `[0, 1)` choosing how much of the jitter applies.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let base = self.initial.saturating_mul(1u32 << doublings).min(self.max);
        base.mul_f64(1.0 - self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0))
    }

    /// Check the settings; the error names the one out of range.
    pub fn validate(&self) -> Result<(), Error> {
        if self.initial.is_zero() {
            return Err(Error::InvalidConfig(
                "backoff initial delay must be more than 0".into(),
            ));
        }
        if self.max < self.initial {
            return Err(Error::InvalidConfig(format!(
                "backoff max ({} ms) must be at least the initial delay ({} ms)",
                self.max.as_millis(),
                self.initial.as_millis()
            )));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(Error::InvalidConfig(format!(
                "backoff jitter {} must be between 0 and 1",
                self.jitter
            )));
        }
        Ok(())
    }
}

/// Where a publish stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PublishState {
    /// An attempt is in flight (gathering, POST, ICE/DTLS).
    Connecting,
    /// Connected: the SFU receives the audio.
    Published,
    /// The last attempt failed or the connection was lost; the next attempt waits for the
    /// backoff.
    Retrying,
    /// Gave up: the failure cannot go away by retrying (see [`PublishStatus::last_error`]).
    Failed,
    /// Stopped on request or because the tracks ended; the resource was deleted.
    Stopped,
}

impl PublishState {
    /// The lower-case name used in APIs and metrics (`"published"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PublishState::Connecting => "connecting",
            PublishState::Published => "published",
            PublishState::Retrying => "retrying",
            PublishState::Failed => "failed",
            PublishState::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for PublishState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of a [`WhipPublisher`].
#[derive(Debug, Clone, PartialEq)]
pub struct PublishStatus {
    /// The current state.
    pub state: PublishState,
    /// Attempts started so far (each is one offer POSTed, or about to be).
    pub attempts: u64,
    /// Consecutive failures since the last successful publish.
    pub failures: u32,
    /// Successful publishes so far (more than 1: it republished).
    pub publishes: u64,
    /// The latest failure, with its cause chain (kept after a later success).
    pub last_error: Option<String>,
    /// The WHIP resource URL while published.
    pub resource: Option<String>,
    /// While retrying: how long this wait is.
    pub retry_in: Option<Duration>,
    /// Clock time at which the state was entered.
    pub since: Duration,
}

impl PublishStatus {
    fn new(now: Duration) -> Self {
        Self {
            state: PublishState::Connecting,
            attempts: 0,
            failures: 0,
            publishes: 0,
            last_error: None,
            resource: None,
            retry_in: None,
            since: now,
        }
    }
}

/// Settings of a [`WhipPublisher`].
#[derive(Debug, Clone)]
pub struct WhipPublisherConfig {
    /// The WHIP endpoint URL.
    pub endpoint: String,
    /// Token, timeouts and ICE settings of each attempt.
    pub options: ClientOptions,
    /// Waits between attempts.
    pub backoff: Backoff,
}

/// Keeps tracks published to a WHIP endpoint while it lives: retries, republishes after a
/// lost connection, and DELETEs the resource on [`WhipPublisher::stop`] or when the
/// tracks close. Dropping it stops it too, without waiting for the DELETE.
pub struct WhipPublisher {
    status: watch::Receiver<PublishStatus>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    now: Arc<dyn Fn() -> Duration + Send + Sync>,
}

impl std::fmt::Debug for WhipPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhipPublisher")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl WhipPublisher {
    /// Start publishing `tracks` (main track first) on the current tokio runtime, waiting on
    /// `clock` between attempts. Logs go to the current tracing span (give it the output id).
    /// Fails at once only for settings no retry can fix (empty tracks, a bad URL, backoff
    /// out of range).
    pub fn start<C: Clock>(
        tracks: Vec<Publisher>,
        config: WhipPublisherConfig,
        clock: C,
    ) -> Result<WhipPublisher, Error> {
        if tracks.is_empty() {
            return Err(Error::InvalidConfig(
                "WHIP publish needs at least one track".into(),
            ));
        }
        parse_endpoint(&config.endpoint)?;
        config.backoff.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::InvalidConfig(
                "WhipPublisher::start must be called inside a tokio runtime".into(),
            )
        })?;
        let closed_tracks = tracks.clone();
        let link = WhipLink {
            endpoint: config.endpoint,
            tracks,
            options: config.options,
        };
        let tracks_closed = async move {
            // Any closed track ends the publish: the session carries them together.
            let waits = closed_tracks.iter().map(|t| Box::pin(t.closed()));
            futures_select_all(waits).await;
        };
        Ok(Self::spawn(
            &runtime,
            clock,
            link,
            config.backoff,
            tracks_closed,
        ))
    }

    fn spawn<C: Clock, L: Link>(
        runtime: &tokio::runtime::Handle,
        clock: C,
        link: L,
        backoff: Backoff,
        tracks_closed: impl Future<Output = ()> + Send + 'static,
    ) -> WhipPublisher {
        let (status_tx, status) = watch::channel(PublishStatus::new(clock.now()));
        let (stop, stop_rx) = watch::channel(false);
        let now = {
            let clock = clock.clone();
            Arc::new(move || clock.now()) as Arc<dyn Fn() -> Duration + Send + Sync>
        };
        let supervisor = Supervisor {
            clock,
            link,
            backoff,
            status: status_tx,
            unit: || (random_u64() >> 11) as f64 / (1u64 << 53) as f64,
            stale: None,
        };
        let task = runtime.spawn(
            supervisor
                .run(stop_rx, tracks_closed)
                .instrument(tracing::Span::current()),
        );
        WhipPublisher {
            status,
            stop,
            task: Some(task),
            now,
        }
    }

    /// The current status.
    pub fn status(&self) -> PublishStatus {
        self.status.borrow().clone()
    }

    /// How long the publisher has been in its current state.
    pub fn in_state_for(&self) -> Duration {
        (self.now)().saturating_sub(self.status.borrow().since)
    }

    /// Every status change (the current one is marked seen when subscribing).
    pub fn watch(&self) -> watch::Receiver<PublishStatus> {
        let mut rx = self.status.clone();
        rx.mark_unchanged();
        rx
    }

    /// Stop: the session (or an attempt in flight) is closed and its resource DELETEd,
    /// bounded by the options' `delete_timeout` (twice, for an attempt in flight that
    /// first has to finish). Resolves once done.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for WhipPublisher {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Resolve when the first of `futures` does (none: never).
async fn futures_select_all<F: Future<Output = ()> + Unpin>(futures: impl Iterator<Item = F>) {
    let mut futures: Vec<F> = futures.collect();
    if futures.is_empty() {
        return std::future::pending().await;
    }
    std::future::poll_fn(move |cx| {
        for f in futures.iter_mut() {
            if std::pin::Pin::new(f).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// One way of being published, so that the supervisor can be tested without a network.
#[async_trait::async_trait]
trait Link: Send + Sync + 'static {
    type Session: Send;
    /// One attempt: offer, POST, answer, connect.
    async fn publish(&mut self) -> Result<Self::Session, Error>;
    /// The resource URL of a session.
    fn resource(session: &Self::Session) -> String;
    /// Resolves with a reason when the session's connection is lost.
    async fn lost(session: &mut Self::Session) -> String;
    /// DELETE the resource and close (bounded by the link's own timeouts).
    async fn close(session: Self::Session) -> Result<(), Error>;
    /// DELETE a resource left behind (2xx or 404: done).
    async fn delete(&self, resource: &str) -> Result<(), Error>;
    /// Does the endpoint answer HTTP at all (cheap, bounded)?
    async fn probe(&self) -> bool;
    /// The bound for an attempt in flight to finish when stopping.
    fn stop_bound(&self) -> Duration;
    /// The endpoint, for logs.
    fn endpoint(&self) -> &str;
}

struct WhipLink {
    endpoint: String,
    tracks: Vec<Publisher>,
    options: ClientOptions,
}

#[async_trait::async_trait]
impl Link for WhipLink {
    type Session = WhipSession;

    async fn publish(&mut self) -> Result<WhipSession, Error> {
        WhipSession::publish(&self.endpoint, &self.tracks, self.options.clone()).await
    }

    fn resource(session: &WhipSession) -> String {
        session.resource_url().to_owned()
    }

    async fn lost(session: &mut WhipSession) -> String {
        session.ended().await
    }

    async fn close(session: WhipSession) -> Result<(), Error> {
        session.close().await
    }

    async fn delete(&self, resource: &str) -> Result<(), Error> {
        delete_stale(resource, &self.options).await
    }

    async fn probe(&self) -> bool {
        answers(&self.endpoint, PROBE_PERIOD).await
    }

    fn stop_bound(&self) -> Duration {
        self.options.delete_timeout
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

struct Supervisor<C, L, R> {
    clock: C,
    link: L,
    backoff: Backoff,
    status: watch::Sender<PublishStatus>,
    unit: R,
    /// A resource whose DELETE failed after a lost session, until a DELETE gets 2xx/404.
    stale: Option<String>,
}

/// How often an unreachable endpoint is probed while backing off.
const PROBE_PERIOD: Duration = Duration::from_secs(1);

impl<C: Clock, L: Link, R: FnMut() -> f64 + Send + 'static> Supervisor<C, L, R> {
    /// Update the status; watchers are woken only when the state changes (one
    /// `publish_state` event per state), readers always see the latest figures.
    fn set(&self, change: impl FnOnce(&mut PublishStatus)) {
        let now = self.clock.now();
        self.status.send_if_modified(|s| {
            let before = s.state;
            change(s);
            let changed = s.state != before;
            if changed {
                s.since = now;
            }
            changed
        });
    }

    async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        tracks_closed: impl Future<Output = ()> + Send,
    ) {
        let stopping = async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                _ = tracks_closed => {}
            }
        };
        tokio::pin!(stopping);
        let mut failures = 0u32;
        loop {
            // A resource a lost session left behind holds the endpoint "in use": free it
            // before offering again.
            self.delete_stale().await;
            self.set(|s| {
                s.state = PublishState::Connecting;
                s.attempts += 1;
                s.retry_in = None;
            });
            let bound = self.link.stop_bound();
            let result = {
                let clock = &self.clock;
                let attempt = self.link.publish();
                tokio::pin!(attempt);
                tokio::select! {
                    r = &mut attempt => Some(r),
                    _ = &mut stopping => {
                        // Let a POST in flight finish (bounded), so that a resource it
                        // created is deleted rather than left "in use" on the server.
                        let deadline = clock.now() + bound;
                        tokio::select! {
                            r = &mut attempt => if let Ok(session) = r { let _ = L::close(session).await; },
                            _ = clock.sleep_until(deadline) => {}
                        }
                        None
                    }
                }
            };
            let Some(result) = result else {
                return self.stopped().await;
            };
            let (delay, error, probe) = match result {
                Ok(mut session) => {
                    let resource = L::resource(&session);
                    info!(endpoint = self.link.endpoint(), %resource, "published over WHIP");
                    self.set(|s| {
                        s.state = PublishState::Published;
                        s.failures = 0;
                        s.publishes += 1;
                        s.resource = Some(resource.clone());
                    });
                    let lost = tokio::select! {
                        reason = L::lost(&mut session) => Some(reason),
                        _ = &mut stopping => None,
                    };
                    // Free the resource either way: after a loss the server may still hold
                    // it and refuse the republish as "in use". A DELETE that fails (the
                    // network is down) is kept and retried before each new POST.
                    if let Err(e) = L::close(session).await {
                        warn!(%resource, error = %e, "WHIP resource DELETE failed; retrying it before the next POST");
                        self.stale = Some(resource);
                    }
                    let Some(reason) = lost else {
                        return self.stopped().await;
                    };
                    failures = 1;
                    let error = format!("connection lost: {reason}");
                    warn!(endpoint = self.link.endpoint(), %error, "WHIP session lost; republishing");
                    (
                        Some(self.backoff.delay(failures, (self.unit)())),
                        error,
                        false,
                    )
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = match e.kind() {
                        ErrorKind::Retryable => Some(self.backoff.delay(failures, (self.unit)())),
                        ErrorKind::InvalidInput if matches!(e, Error::Rejected { .. }) => {
                            Some(self.backoff.delay(u32::MAX, (self.unit)()))
                        }
                        _ => None,
                    };
                    // The server says when to come back: no sooner, and never later than
                    // the slowest pace.
                    let delay = match &e {
                        Error::Rejected {
                            retry_after: Some(after),
                            ..
                        } => delay.map(|d| d.max(*after).min(self.backoff.max)),
                        _ => delay,
                    };
                    // "In use" because of the resource a lost session left: delete it now
                    // and come back at the first step.
                    let delay = match &e {
                        Error::Rejected { status: 403, .. } if self.stale.is_some() => {
                            self.delete_stale().await;
                            delay.map(|d| {
                                if self.stale.is_none() {
                                    self.backoff.initial
                                } else {
                                    d
                                }
                            })
                        }
                        _ => delay,
                    };
                    let attempt = self.status.borrow().attempts;
                    match delay {
                        Some(delay) => warn!(
                            endpoint = self.link.endpoint(),
                            attempt,
                            retry_in_ms = delay.as_millis() as u64,
                            error = %e,
                            "WHIP publish failed"
                        ),
                        None => warn!(
                            endpoint = self.link.endpoint(),
                            attempt,
                            error = %e,
                            "WHIP publish failed; not retrying"
                        ),
                    }
                    // Nothing answered: probe while waiting, to come back as soon as the
                    // server does.
                    let probe = matches!(e, Error::Http { .. });
                    (delay, e.to_string(), probe)
                }
            };
            // One status change (one `publish_state` event) per state change.
            let Some(delay) = delay else {
                self.set(|s| {
                    s.state = PublishState::Failed;
                    s.last_error = Some(error);
                    s.failures = failures;
                    s.resource = None;
                });
                stopping.as_mut().await;
                return self.stopped().await;
            };
            self.set(|s| {
                s.state = PublishState::Retrying;
                s.last_error = Some(error);
                s.failures = failures;
                s.resource = None;
                s.retry_in = Some(delay);
            });
            // Wait for the delay; while nothing answered, probe every `PROBE_PERIOD` and
            // end the wait as soon as the endpoint answers again.
            let deadline = self.clock.now() + delay;
            loop {
                let wake = if probe {
                    (self.clock.now() + PROBE_PERIOD).min(deadline)
                } else {
                    deadline
                };
                tokio::select! {
                    _ = self.clock.sleep_until(wake) => {}
                    _ = &mut stopping => return self.stopped().await,
                }
                if self.clock.now() >= deadline {
                    break;
                }
                let answers = tokio::select! {
                    a = self.link.probe() => a,
                    _ = &mut stopping => return self.stopped().await,
                };
                if answers {
                    info!(
                        endpoint = self.link.endpoint(),
                        "WHIP endpoint answers again; retrying now"
                    );
                    break;
                }
            }
        }
    }

    /// Try the DELETE of a resource a lost session left behind; kept on failure (logged
    /// once per failure), forgotten on 2xx or 404.
    async fn delete_stale(&mut self) {
        let Some(resource) = self.stale.clone() else {
            return;
        };
        match self.link.delete(&resource).await {
            Ok(()) => {
                info!(%resource, "stale WHIP resource deleted");
                self.stale = None;
            }
            Err(e) => {
                warn!(%resource, error = %e, "DELETE of the stale WHIP resource failed; retrying it before the next POST")
            }
        }
    }

    async fn stopped(&mut self) {
        // Bounded by the link's DELETE timeout.
        self.delete_stale().await;
        self.set(|s| {
            s.state = PublishState::Stopped;
            s.resource = None;
            s.retry_in = None;
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use voxpace_core::VirtualClock;

    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_jitter_only_shortens() {
        let b = Backoff::default();
        let ms = |d: Duration| d.as_millis() as u64;
        let plain: Vec<u64> = (1..=8).map(|n| ms(b.delay(n, 0.0))).collect();
        assert_eq!(plain, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
        assert_eq!(ms(b.delay(u32::MAX, 0.0)), 10_000);
        assert_eq!(ms(b.delay(1, 1.0)), 400, "at most 20% shorter");
        assert_eq!(ms(b.delay(3, 0.5)), 1800);
        assert!(Backoff { jitter: 1.5, ..b }.validate().is_err());
        assert!(Backoff {
            max: Duration::from_millis(100),
            ..b
        }
        .validate()
        .is_err());
    }

    /// A scripted link: each attempt takes the next result; the first session is lost after
    /// `lifetime` of clock time (never if `None`), later ones live until stopped. (On an
    /// auto-advancing clock, sleeps never yield: a session lost every minute would spin.)
    struct FakeLink {
        clock: VirtualClock,
        script: Vec<Result<(), Error>>,
        attempts_at: Arc<Mutex<Vec<Duration>>>,
        closed: Arc<Mutex<Vec<Duration>>>,
        lifetime: Option<Duration>,
        attempt_takes: Duration,
        /// The network is down over this span of clock time: nothing answers (no POST,
        /// DELETE or probe). A probe answers only once it is over (never without one).
        outage: std::ops::Range<Duration>,
        /// The server still holds a resource (a session not deleted): POSTs get 403.
        held: Arc<Mutex<bool>>,
        deletes: Arc<Mutex<Vec<Duration>>>,
    }

    struct FakeSession {
        clock: VirtualClock,
        lifetime: Option<Duration>,
        closed: Arc<Mutex<Vec<Duration>>>,
        outage: std::ops::Range<Duration>,
        held: Arc<Mutex<bool>>,
    }

    #[async_trait::async_trait]
    impl Link for FakeLink {
        type Session = FakeSession;

        async fn publish(&mut self) -> Result<FakeSession, Error> {
            self.attempts_at.lock().unwrap().push(self.clock.now());
            let done = self.clock.now() + self.attempt_takes;
            self.clock.sleep_until(done).await;
            if self.outage.contains(&self.clock.now()) {
                return Err(refused());
            }
            if *self.held.lock().unwrap() {
                return Err(Error::Rejected {
                    url: "http://sfu/whip/endpoint/1".into(),
                    status: 403,
                    message: "Endpoint ID already in use".into(),
                    retry_after: None,
                });
            }
            let next = if self.script.is_empty() {
                Ok(())
            } else {
                self.script.remove(0)
            };
            next.map(|()| {
                *self.held.lock().unwrap() = true;
                FakeSession {
                    clock: self.clock.clone(),
                    lifetime: self.lifetime.take(),
                    closed: self.closed.clone(),
                    outage: self.outage.clone(),
                    held: self.held.clone(),
                }
            })
        }

        fn resource(_: &FakeSession) -> String {
            "http://sfu/whip/resource/1".into()
        }

        async fn lost(session: &mut FakeSession) -> String {
            match session.lifetime {
                Some(l) => {
                    let at = session.clock.now() + l;
                    session.clock.sleep_until(at).await;
                    "connection failed".into()
                }
                None => std::future::pending().await,
            }
        }

        async fn close(session: FakeSession) -> Result<(), Error> {
            session.closed.lock().unwrap().push(session.clock.now());
            if session.outage.contains(&session.clock.now()) {
                return Err(refused());
            }
            *session.held.lock().unwrap() = false;
            Ok(())
        }

        async fn delete(&self, _resource: &str) -> Result<(), Error> {
            self.deletes.lock().unwrap().push(self.clock.now());
            if self.outage.contains(&self.clock.now()) {
                return Err(refused());
            }
            *self.held.lock().unwrap() = false;
            Ok(())
        }

        async fn probe(&self) -> bool {
            !self.outage.is_empty() && self.clock.now() >= self.outage.end
        }

        fn stop_bound(&self) -> Duration {
            Duration::from_secs(2)
        }

        fn endpoint(&self) -> &str {
            "http://sfu/whip/endpoint/1"
        }
    }

    fn refused() -> Error {
        Error::Http {
            url: "http://sfu/whip/endpoint/1".into(),
            reason: "tcp connect error: Connection refused (os error 111)".into(),
        }
    }

    struct Run {
        clock: VirtualClock,
        deletes: Arc<Mutex<Vec<Duration>>>,
        attempts_at: Arc<Mutex<Vec<Duration>>>,
        closed: Arc<Mutex<Vec<Duration>>>,
        status: watch::Receiver<PublishStatus>,
        stop: watch::Sender<bool>,
        task: JoinHandle<()>,
    }

    fn run(
        clock: VirtualClock,
        script: Vec<Result<(), Error>>,
        lifetime: Option<Duration>,
        attempt_takes: Duration,
    ) -> Run {
        run_with_outage(
            clock,
            script,
            lifetime,
            attempt_takes,
            Duration::ZERO..Duration::ZERO,
        )
    }

    fn run_with_outage(
        clock: VirtualClock,
        script: Vec<Result<(), Error>>,
        lifetime: Option<Duration>,
        attempt_takes: Duration,
        outage: std::ops::Range<Duration>,
    ) -> Run {
        let deletes = Arc::new(Mutex::new(Vec::new()));
        let attempts_at = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(Mutex::new(Vec::new()));
        let link = FakeLink {
            clock: clock.clone(),
            script,
            attempts_at: attempts_at.clone(),
            closed: closed.clone(),
            lifetime,
            attempt_takes,
            outage,
            held: Arc::default(),
            deletes: deletes.clone(),
        };
        let (status_tx, status) = watch::channel(PublishStatus::new(clock.now()));
        let (stop, stop_rx) = watch::channel(false);
        let supervisor = Supervisor {
            clock: clock.clone(),
            link,
            backoff: Backoff::default(),
            status: status_tx,
            unit: || 0.0,
            stale: None,
        };
        let task = tokio::spawn(supervisor.run(stop_rx, std::future::pending()));
        Run {
            clock,
            deletes,
            attempts_at,
            closed,
            status,
            stop,
            task,
        }
    }

    fn secs(v: &[Duration]) -> Vec<f64> {
        v.iter().map(|d| d.as_secs_f64()).collect()
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_retried_with_capped_backoff_until_it_answers() {
        let script = (0..7).map(|_| Err(refused())).collect();
        let mut r = run(VirtualClock::auto_advance(), script, None, Duration::ZERO);
        r.status
            .wait_for(|s| s.state == PublishState::Published)
            .await
            .unwrap();
        // 0.5, 1, 2, 4, 8, then the 10 s cap.
        assert_eq!(
            secs(&r.attempts_at.lock().unwrap()),
            [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 25.5, 35.5]
        );
        let s = r.status.borrow().clone();
        assert_eq!((s.attempts, s.failures, s.publishes), (8, 0, 1));
        assert!(
            s.last_error
                .as_deref()
                .unwrap()
                .contains("Connection refused"),
            "{s:?}"
        );
        assert_eq!(s.resource.as_deref(), Some("http://sfu/whip/resource/1"));
        assert_eq!(s.since, Duration::from_secs_f64(35.5));
        r.stop.send_replace(true);
        r.task.await.unwrap();
        assert_eq!(r.status.borrow().state, PublishState::Stopped);
        assert_eq!(secs(&r.closed.lock().unwrap()), [35.5], "DELETE on stop");
    }

    #[tokio::test]
    async fn a_lost_session_is_deleted_and_republished_after_the_first_backoff_step() {
        let script = vec![
            Err(refused()),
            Err(refused()),
            Err(refused()),
            Ok(()),
            Err(refused()),
        ];
        let mut r = run(
            VirtualClock::auto_advance(),
            script,
            Some(Duration::from_secs(60)),
            Duration::ZERO,
        );
        r.status
            .wait_for(|s| s.publishes == 2 && s.state == PublishState::Published)
            .await
            .unwrap();
        // Fails at 0, 0.5, 1.5; published at 3.5; lost at 63.5 (deleted then), retried at
        // 64.0 (refused: the failure count restarted), published at 65.0.
        assert_eq!(
            secs(&r.attempts_at.lock().unwrap()),
            [0.0, 0.5, 1.5, 3.5, 64.0, 65.0]
        );
        assert_eq!(secs(&r.closed.lock().unwrap()), [63.5]);
        assert_eq!(
            r.status.borrow().last_error.as_deref(),
            Some("http request to http://sfu/whip/endpoint/1 failed: tcp connect error: Connection refused (os error 111)")
        );
        r.stop.send_replace(true);
        r.task.await.unwrap();
    }

    #[tokio::test]
    async fn a_request_the_server_calls_wrong_is_retried_at_the_slowest_pace_and_a_bad_url_not_at_all(
    ) {
        let unauthorized = || Error::Rejected {
            url: "http://sfu/whip/endpoint/1".into(),
            status: 401,
            message: "Unauthorized".into(),
            retry_after: None,
        };
        let script = vec![
            Err(unauthorized()),
            Err(unauthorized()),
            Err(Error::Rejected {
                url: "http://sfu/whip/endpoint/1".into(),
                status: 403,
                message: "Endpoint ID already in use".into(),
                retry_after: None,
            }),
            Ok(()),
        ];
        let mut r = run(VirtualClock::auto_advance(), script, None, Duration::ZERO);
        r.status
            .wait_for(|s| s.state == PublishState::Published)
            .await
            .unwrap();
        // 401: the 10 s cap each time; the 403 that follows is the third consecutive
        // failure: 2 s.
        assert_eq!(
            secs(&r.attempts_at.lock().unwrap()),
            [0.0, 10.0, 20.0, 22.0]
        );
        r.stop.send_replace(true);
        r.task.await.unwrap();

        let bad = Error::InvalidUrl {
            url: "htp:/x".into(),
            reason: "relative URL without a base".into(),
        };
        let mut r = run(
            VirtualClock::auto_advance(),
            vec![Err(bad)],
            None,
            Duration::ZERO,
        );
        r.status
            .wait_for(|s| s.state == PublishState::Failed)
            .await
            .unwrap();
        assert!(r
            .status
            .borrow()
            .last_error
            .as_deref()
            .unwrap()
            .contains("htp:/x"));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(r.attempts_at.lock().unwrap().len(), 1, "no retry");
        r.stop.send_replace(true);
        r.task.await.unwrap();
        assert_eq!(r.status.borrow().state, PublishState::Stopped);
    }

    #[tokio::test]
    async fn stopping_during_an_attempt_deletes_what_it_created() {
        let clock = VirtualClock::new();
        let mut r = run(clock.clone(), vec![], None, Duration::from_millis(300));
        r.status
            .wait_for(|s| s.state == PublishState::Connecting)
            .await
            .unwrap();
        tokio::task::yield_now().await;
        r.stop.send_replace(true);
        tokio::task::yield_now().await;
        assert!(!r.task.is_finished(), "waits for the attempt in flight");
        r.clock.advance(Duration::from_millis(300));
        r.task.await.unwrap();
        assert_eq!(secs(&r.closed.lock().unwrap()), [0.3]);
        assert_eq!(r.status.borrow().state, PublishState::Stopped);
        let _ = &r.attempts_at;
    }

    #[tokio::test]
    async fn after_a_network_loss_the_failed_delete_is_retried_and_the_publish_is_back_within_a_probe_period(
    ) {
        // Published at 0, lost at 60 with the network down until 100: the DELETE fails,
        // POSTs find nobody; the server still holds the old resource.
        let mut r = run_with_outage(
            VirtualClock::auto_advance(),
            vec![],
            Some(Duration::from_secs(60)),
            Duration::ZERO,
            Duration::from_secs(60)..Duration::from_secs(100),
        );
        r.status
            .wait_for(|s| s.publishes == 2 && s.state == PublishState::Published)
            .await
            .unwrap();
        let attempts = secs(&r.attempts_at.lock().unwrap());
        let deletes = secs(&r.deletes.lock().unwrap());
        assert_eq!(
            secs(&r.closed.lock().unwrap()),
            [60.0],
            "the session's own DELETE"
        );
        // The backoff reached its 10 s cap during the outage, yet the probe brings the
        // republish back within a probe period of the network.
        let last = *attempts.last().unwrap();
        assert!(
            (100.0..=101.0).contains(&last),
            "republished at {last}: {attempts:?}"
        );
        // The stale DELETE was retried before every POST after the loss, and not after it
        // succeeded.
        let after_loss: Vec<f64> = attempts.iter().copied().filter(|t| *t > 60.0).collect();
        assert_eq!(deletes, after_loss, "one DELETE before each POST");
        r.stop.send_replace(true);
        r.task.await.unwrap();
        assert_eq!(
            r.deletes.lock().unwrap().len(),
            after_loss.len(),
            "nothing stale left"
        );
    }

    #[tokio::test]
    async fn retry_after_is_honoured_up_to_the_slowest_pace() {
        let busy = |secs| {
            Err(Error::Rejected {
                url: "http://sfu/whip/endpoint/1".into(),
                status: 503,
                message: "busy".into(),
                retry_after: Some(Duration::from_secs(secs)),
            })
        };
        let mut r = run(
            VirtualClock::auto_advance(),
            vec![busy(7), busy(60), Ok(())],
            None,
            Duration::ZERO,
        );
        r.status
            .wait_for(|s| s.state == PublishState::Published)
            .await
            .unwrap();
        assert_eq!(secs(&r.attempts_at.lock().unwrap()), [0.0, 7.0, 17.0]);
        r.stop.send_replace(true);
        r.task.await.unwrap();
    }

    #[tokio::test]
    async fn watchers_are_woken_once_per_state_change() {
        let clock = VirtualClock::new();
        let mut r = run(
            clock.clone(),
            vec![Err(refused())],
            None,
            Duration::from_millis(300),
        );
        // The first attempt starts: the figures change, the state (connecting) does not.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(r.status.borrow().attempts, 1);
        assert!(
            !r.status.has_changed().unwrap(),
            "no event without a new state"
        );
        // It fails: one change, to retrying, carrying the error and the wait together.
        r.clock.advance(Duration::from_millis(300));
        r.status.changed().await.unwrap();
        let s = r.status.borrow_and_update().clone();
        assert_eq!(s.state, PublishState::Retrying);
        assert!(s.last_error.is_some() && s.retry_in.is_some(), "{s:?}");
        r.stop.send_replace(true);
        r.task.await.unwrap();
        let _ = (&r.attempts_at, &r.closed, &r.deletes);
    }
}
