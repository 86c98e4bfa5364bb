//! `voxpace serve`: agent outputs behind an HTTP control API.
//!
//! Every output is a core track rendered by one shared [`FrameClock`] thread (many outputs,
//! one timer). The control API (axum) opens replies and streams their PCM in, pauses,
//! resumes, interrupts, changes the background and fires clips; events go out as
//! server-sent events; `/metrics` speaks Prometheus' text format; `/openapi.json` describes
//! it all; `/` is a page to listen and try the buttons. With the `webrtc` feature each
//! output is also published over WHEP (and WHIP when configured).
//!
//! Shutdown (SIGINT/SIGTERM, or [`Server::shutdown`]): new outputs and replies are refused,
//! replies in flight may finish until `server.shutdown_grace_ms`, then every output is
//! interrupted and ended, peers closed, event streams closed, the frame clock stopped.

mod api;
mod auth;
mod body;
mod coded;
mod conn;
pub mod intake;
mod metrics;
mod openapi;
pub mod output;
mod publish;
mod replies;
mod text;
mod wav;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::{broadcast, watch};
use tracing::{info, warn, Instrument};
use voxpace_core::{FrameClock, MonotonicClock, Track};

use crate::background::Bus;
use crate::events::{event_json, event_name};
use crate::{audio, Config};
use output::{EventMsg, FrameSide, Meter, Output, MONITOR_SLOTS};

/// An API error: status, a stable code and a sentence for people, as JSON.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// The request body was left unread: close the connection after answering.
    pub close: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            close: false,
        }
    }

    /// Close the connection after this answer (its request body was not read to the end).
    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Every 503 here is transient (a queue that frames will drain): say when to retry.
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if self.close {
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

impl From<voxpace_core::Error> for ApiError {
    fn from(e: voxpace_core::Error) -> Self {
        use voxpace_core::{Error as E, ErrorKind as K};
        // The status follows the kind alone; the code names the variant for clients.
        let code = match &e {
            E::ReplyInterrupted(_) => "reply_interrupted",
            E::ReplyFinished(_) => "reply_finished",
            E::IntakeClosed => "intake_closed",
            E::PartialSample { .. } => "partial_sample",
            E::PushSplitsSample { .. } => "split_sample",
            E::MarkBehindAudio { .. } | E::MarkOutOfOrder { .. } | E::TooManyMarks { .. } => {
                "bad_marks"
            }
            E::TrackClosed => "output_ended",
            E::IntakeFull => "busy",
            E::InvalidFormat(_) | E::InvalidConfig(_) => "invalid_config",
            E::SinkThread { .. } => "sink_thread",
            // A variant newer than this mapping: its kind still decides the status.
            _ => match e.kind() {
                K::InvalidInput => "invalid_input",
                K::Retryable => "busy",
                K::ReplyTerminal => "reply_ended",
                K::Fatal => "internal",
            },
        };
        let status = match e.kind() {
            K::InvalidInput => StatusCode::BAD_REQUEST,
            K::Retryable => StatusCode::SERVICE_UNAVAILABLE,
            K::ReplyTerminal => StatusCode::CONFLICT,
            // The output is gone for good; anything else fatal is the server's fault.
            K::Fatal if matches!(e, E::TrackClosed) => StatusCode::GONE,
            K::Fatal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, code, e.to_string())
    }
}

/// Audio decoded once at start and shared by every output.
#[derive(Debug)]
struct Media {
    demo: Arc<[i16]>,
}

/// How long shutdown waits, past its grace period, for the interrupted replies' outcomes.
const SHUTDOWN_SETTLE: Duration = Duration::from_millis(300);

/// The example speech, built into the binary for the web page's "demo reply" button.
const DEMO_WAV: &[u8] = include_bytes!("../../assets/speech.wav");

/// Everything the handlers share.
pub(crate) struct AppState {
    config: Config,
    outputs: RwLock<BTreeMap<String, Arc<Output>>>,
    clock: Mutex<Option<FrameClock>>,
    media: Media,
    accepting: AtomicBool,
    shutdown: watch::Sender<bool>,
    started: Instant,
    #[cfg(feature = "webrtc")]
    whep: Option<voxpace_transport::WhepServer>,
    /// WHIP DELETEs of ended outputs, awaited at shutdown.
    teardowns: publish::Teardowns,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    fn output(&self, id: &str) -> Result<Arc<Output>, ApiError> {
        self.outputs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("unknown_output", format!("no agent output {id:?}")))
    }

    fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    fn outputs_snapshot(&self) -> Vec<Arc<Output>> {
        self.outputs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn check_accepting(&self) -> Result<(), ApiError> {
        if self.accepting.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the server is shutting down and takes no new work",
            ))
        }
    }

    /// Create and start an agent output.
    fn create_output(&self, id: &str) -> Result<Arc<Output>, ApiError> {
        self.check_accepting()?;
        if !crate::config::valid_output_id(id) {
            return Err(ApiError::bad_request(
                "bad_output_id",
                format!("{id:?} is not a valid output id: 1 to 64 characters from a-z, A-Z, 0-9, '-', '_'"),
            ));
        }
        // Plugin instances first: their `new` may take time, and must not hold up the
        // outputs lock (every API call reads it).
        let sinks = crate::plugins::instances(&self.config.sinks).map_err(|reason| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "sink_failed", reason)
        })?;
        let mut outputs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        if outputs.contains_key(id) {
            return Err(ApiError::conflict(
                "output_exists",
                format!("agent output {id:?} already exists"),
            ));
        }
        if outputs.len() >= self.config.server.max_outputs {
            return Err(ApiError::conflict(
                "output_limit",
                format!(
                    "{} agent outputs are running, the configured maximum (server.max_outputs)",
                    outputs.len()
                ),
            ));
        }
        let span = tracing::info_span!("output", id = %id);
        let (format, track_config) = self.config.track_parts();
        let track = Track::new(format, track_config)?;
        let handle = track.handle();
        let bus = Bus::start(&self.config, &handle, None).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "background",
                e.to_string(),
            )
        })?;
        let (events_tx, _) = broadcast::channel(1024);
        let (closing, _) = watch::channel(false);
        let (ended_tx, ended) = watch::channel(false);
        let alive = Arc::new(AtomicBool::new(true));
        let meter = Arc::new(Meter::default());
        // Room for a slot's old monitor still in hand-over when its successor arrives.
        let (monitor_tx, monitor_rx) = rtrb::RingBuffer::new(MONITOR_SLOTS * 2);

        #[cfg(feature = "webrtc")]
        let (publisher, feed) = match self.start_publisher(id, format) {
            Ok(Some((p, f))) => (Some(p), Some(f)),
            Ok(None) => (None, None),
            Err(e) => return Err(e),
        };
        #[cfg(feature = "webrtc")]
        let whip = match (&publisher, self.config.transport.whip_for(id)) {
            (Some(p), Some(target)) => Some(
                publish::OutputPublish::start(
                    id,
                    target,
                    p.clone(),
                    &self.config,
                    events_tx.clone(),
                )
                .map_err(|e| {
                    p.close();
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "transport",
                        e.to_string(),
                    )
                })?,
            ),
            _ => None,
        };

        let mut frame_side = FrameSide {
            alive: alive.clone(),
            meter: meter.clone(),
            new_monitors: monitor_rx,
            monitors: Vec::with_capacity(MONITOR_SLOTS),
            #[cfg(feature = "webrtc")]
            feed,
        };
        let output = Arc::new(Output {
            id: id.to_string(),
            handle: handle.clone(),
            bus,
            events: events_tx.clone(),
            meter,
            created: Instant::now(),
            span: span.clone(),
            replies: Mutex::new(BTreeMap::new()),
            alive,
            closing,
            ended,
            monitors: Mutex::new(monitor_tx),
            monitors_open: Default::default(),
            #[cfg(feature = "webrtc")]
            publisher,
            #[cfg(feature = "webrtc")]
            whip,
        });
        // Events: one forwarder per output serialises each event once for all subscribers.
        // The track's stream ends when the frame clock drops the track, after its last
        // event: `output_ended` follows every reply's `playback_finished`.
        let mut stream = handle.events();
        let rate = format.sample_rate();
        let output_id = id.to_string();
        tokio::spawn(
            async move {
                let mut seq = 0;
                while let Some(event) = stream.next().await {
                    seq += 1;
                    let json = event_json(&event, rate);
                    tracing::debug!(event = %json, "track event");
                    if let voxpace_core::Event::SinkDetached { name, reason, .. } = &event {
                        warn!(sink = %name, %reason, "sink detached");
                    }
                    let _ = events_tx.send(Arc::new(EventMsg {
                        seq,
                        name: event_name(&event),
                        data: json.to_string(),
                    }));
                }
                let _ = events_tx.send(Arc::new(EventMsg {
                    seq: u64::MAX,
                    name: "output_ended",
                    data: serde_json::json!({ "type": "output_ended", "output": output_id })
                        .to_string(),
                }));
                let _ = ended_tx.send(true);
            }
            .instrument(span.clone()),
        );
        forward_source_events(&output);
        Self::attach_sinks(&output, sinks)?;
        if let Some(clock) = self
            .clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            clock.add(track, move |info, samples| {
                frame_side.on_frame(info, samples)
            });
        }
        outputs.insert(id.to_string(), output.clone());
        span.in_scope(|| info!(format = %format, "agent output started"));
        Ok(output)
    }

    fn attach_sinks(
        output: &Output,
        sinks: Vec<Box<dyn voxpace_core::Sink>>,
    ) -> Result<(), ApiError> {
        for sink in sinks {
            let name = sink.info().name;
            if let Err(e) = output.handle.attach_sink(sink) {
                output.end();
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "sink_failed",
                    format!("sink {name:?}: {e}"),
                ));
            }
        }
        Ok(())
    }

    #[cfg(feature = "webrtc")]
    fn start_publisher(
        &self,
        id: &str,
        format: voxpace_core::Format,
    ) -> Result<Option<(voxpace_transport::Publisher, voxpace_transport::FrameFeed)>, ApiError>
    {
        if self.whep.is_none() && !self.config.transport.publishes() {
            return Ok(None);
        }
        let t = &self.config.transport;
        let config = voxpace_transport::PublisherConfig {
            opus: voxpace_transport::OpusConfig {
                bitrate: t.opus.bitrate,
                complexity: t.opus.complexity,
                fec: t.opus.fec,
                ..Default::default()
            },
            label: id.to_string(),
            ..Default::default()
        };
        let (publisher, feed) = voxpace_transport::Publisher::new(format, config).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "transport",
                e.to_string(),
            )
        })?;
        if let Some(whep) = &self.whep {
            whep.publish(id, vec![publisher.clone()]);
        }
        Ok(Some((publisher, feed)))
    }

    /// End an output: cut uploads still streaming into it, interrupt what plays, let the
    /// frame side end every reply (`playback_finished`) for at most `settle`, then stop
    /// rendering and close its peers and streams (`output_ended` comes last).
    async fn end_output(&self, id: &str, settle: Duration) -> Result<Arc<Output>, ApiError> {
        let output = self
            .outputs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
            .ok_or_else(|| {
                ApiError::not_found("unknown_output", format!("no agent output {id:?}"))
            })?;
        let _ = output.closing.send(true);
        output.handle.interrupt();
        let frame = self.config.format.frame_duration();
        let deadline = Instant::now() + settle;
        while output.unsettled_replies() > 0 && Instant::now() < deadline {
            tokio::time::sleep(frame).await;
        }
        if output.unsettled_replies() > 0 {
            output.span.in_scope(|| {
                warn!(
                    replies = output.unsettled_replies(),
                    "ending the output before every reply's outcome was known"
                )
            });
        }
        output.end();
        self.teardowns.start(&output);
        #[cfg(feature = "webrtc")]
        if let Some(whep) = &self.whep {
            whep.unpublish(id);
        }
        let mut ended = output.ended.clone();
        // The frame clock drops the track within a frame (or at once when it has stopped).
        let _ = tokio::time::timeout(
            frame * 10 + Duration::from_millis(200),
            ended.wait_for(|e| *e),
        )
        .await;
        output.span.in_scope(|| info!("agent output ended"));
        Ok(output)
    }

    /// How long ending an output waits for its replies' outcomes: an owning sink may take
    /// up to `output.report_timeout_ms` to report.
    fn settle_time(&self) -> Duration {
        self.config.track.report_timeout + self.config.format.frame_duration() * 5
    }
}

/// Background files that fail mid-stream (or finish) become `source_failed` /
/// `source_finished` events on the output's stream; a thread waits on them until the output
/// ends.
fn forward_source_events(output: &Arc<Output>) {
    let events = output.bus.background.subscribe();
    let rate = output.bus.background.format().sample_rate();
    let output = output.clone();
    std::thread::Builder::new()
        .name("voxpace-source-events".into())
        .spawn(move || {
            let (tx, span) = (&output.events, &output.span);
            while output.alive.load(Ordering::Acquire) {
                let Some(ev) = events.next_timeout(Duration::from_millis(200)) else {
                    continue;
                };
                output.bus.observe(&ev);
                let Some((name, data)) = crate::events::source_event_json(&ev, rate, false) else {
                    continue;
                };
                match &ev {
                    voxpace_sources::SourceEvent::Failed { path, error, .. } => {
                        span.in_scope(|| warn!(file = %path.display(), %error, t_ms = data["t_ms"].as_f64(), "background source failed"));
                    }
                    voxpace_sources::SourceEvent::Damaged { path, error, .. } => {
                        span.in_scope(|| warn!(file = %path.display(), %error, t_ms = data["t_ms"].as_f64(), recovery = %data["recovery"], "background source damaged"));
                    }
                    _ => {}
                }
                let _ = tx.send(Arc::new(EventMsg { seq: 0, name, data: data.to_string() }));
            }
        })
        .map(drop)
        .unwrap_or_else(|e| warn!(error = %e, "could not start the source event thread"));
}

/// A running server (the library face of `voxpace serve`, used by tests too).
#[derive(Debug)]
pub struct Server {
    state: Arc<AppState>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Decode the media, bind the listener, create the configured outputs and start serving.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let format = config.format;
        let demo = demo_speech(format)?;
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .map_err(|e| config.bind_error("server.listen", config.server.listen, e))?;
        let addr = listener.local_addr()?;
        let (shutdown, _) = watch::channel(false);
        let clock = FrameClock::start(MonotonicClock::new(), format.frame_duration());
        #[cfg(feature = "webrtc")]
        let whep = config.transport.whep.then(|| {
            voxpace_transport::WhepServer::new(voxpace_transport::ServerConfig {
                // serve::auth checks every listener (and control) token in front of it.
                bearer_tokens: Vec::new(),
                // A listener that goes silent this long is dropped; our keepalive checks
                // (answered by every live peer) come often enough that a live one never is.
                peer: voxpace_transport::PeerSettings {
                    ice_disconnected_timeout: config.transport.whep_peer_timeout,
                    ice_keepalive_interval: (config.transport.whep_peer_timeout / 3)
                        .min(Duration::from_secs(2)),
                    ..peer_settings(config.transport.whep_listen.unwrap_or(addr))
                },
                ..Default::default()
            })
        });
        let state = Arc::new(AppState {
            outputs: RwLock::new(BTreeMap::new()),
            clock: Mutex::new(Some(clock)),
            media: Media { demo },
            accepting: AtomicBool::new(true),
            shutdown,
            started: Instant::now(),
            #[cfg(feature = "webrtc")]
            whep,
            teardowns: publish::Teardowns::default(),
            config,
        });
        for id in state.config.server.outputs.clone() {
            state
                .create_output(&id)
                .map_err(|e| anyhow::anyhow!("creating output {id:?}: {}", e.message))?;
        }
        let app = api::router(state.clone());
        let s = &state.config.server;
        let limits = conn::Limits {
            header_read: s.header_read_timeout,
            keep_alive: s.keep_alive_timeout,
            max_connections: s.max_connections,
        };
        let task = tokio::spawn(conn::serve(
            listener,
            app,
            limits,
            state.shutdown.subscribe(),
        ));
        #[cfg(feature = "webrtc")]
        if let (Some(whep_addr), Some(whep)) = (state.config.transport.whep_listen, &state.whep) {
            let l = tokio::net::TcpListener::bind(whep_addr)
                .await
                .map_err(|e| {
                    state
                        .config
                        .bind_error("transport.whep_listen", whep_addr, e)
                })?;
            let app = api::guarded(
                axum::Router::new().nest_service("/whep", whep.router()),
                state.clone(),
            );
            info!(addr = %l.local_addr()?, "WHEP on its own address");
            tokio::spawn(conn::serve(l, app, limits, state.shutdown.subscribe()));
        }
        info!(%addr, "voxpace serving");
        Ok(Server { state, addr, task })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Graceful shutdown: refuse new work, let replies in flight finish up to the grace
    /// period, then end every output, close streams and peers, stop the frame clock.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let state = self.state;
        state.accepting.store(false, Ordering::Release);
        let grace = state.config.server.shutdown_grace;
        let deadline = Instant::now() + grace;
        info!(
            grace_ms = grace.as_millis() as u64,
            "shutting down: letting replies in flight finish"
        );
        loop {
            let busy: Vec<String> = state
                .outputs
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .filter(|o| o.open_replies() > 0 || o.handle.is_speaking() && !o.handle.is_paused())
                .map(|o| o.id.clone())
                .collect();
            if busy.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                warn!(outputs = ?busy, "shutdown grace period over: interrupting replies still playing");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ids: Vec<String> = state
            .outputs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        // Past the grace period the replies' outcomes get a moment, not the full report
        // timeout: shutdown ends within about a second of its deadline.
        let settle = state.settle_time().min(SHUTDOWN_SETTLE);
        futures_util::future::join_all(ids.iter().map(|id| state.end_output(id, settle))).await;
        // The WHIP DELETEs must reach the SFUs before the process exits, or the endpoints
        // stay "in use" for the next start.
        let t = &state.config.transport;
        state
            .teardowns
            .finish(t.whip_delete_timeout * 2 + Duration::from_secs(1))
            .await;
        let _ = state.shutdown.send(true);
        let clock = state.clock.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(clock) = clock {
            tokio::task::spawn_blocking(move || clock.stop()).await?;
        }
        let mut task = self.task;
        // The front door drains its connections for at most half a second itself.
        if tokio::time::timeout(Duration::from_secs(2), &mut task)
            .await
            .is_err()
        {
            warn!("HTTP connections did not close; dropping them");
            task.abort();
        }
        info!("voxpace stopped");
        Ok(())
    }
}

/// ICE settings: loopback candidates (and fast checks) when serving on a loopback address.
#[cfg(feature = "webrtc")]
fn peer_settings(addr: SocketAddr) -> voxpace_transport::PeerSettings {
    if addr.ip().is_loopback() {
        voxpace_transport::PeerSettings::loopback()
    } else {
        voxpace_transport::PeerSettings::default()
    }
}

fn demo_speech(format: voxpace_core::Format) -> anyhow::Result<Arc<[i16]>> {
    let reader = hound::WavReader::new(std::io::Cursor::new(DEMO_WAV))?;
    let spec = reader.spec();
    let samples: Vec<i16> = reader.into_samples::<i16>().collect::<Result<_, _>>()?;
    Ok(Arc::from(audio::convert_or_fail(
        &samples,
        spec.sample_rate,
        spec.channels,
        format,
    )?))
}

/// `voxpace serve`: start, print the address, run until SIGINT/SIGTERM, shut down.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let server = Server::start(config).await?;
    // The first line on stdout, for scripts and tests that start on port 0.
    println!("listening on http://{}", server.addr());
    wait_for_signal().await;
    info!("signal received; shutting down (a second signal exits at once)");
    tokio::spawn(async {
        wait_for_signal().await;
        warn!("second signal: exiting now");
        std::process::exit(130);
    });
    server.shutdown().await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
