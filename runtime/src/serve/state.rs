//! The shared state of `voxpace serve` and its registry of agent outputs: creating one
//! (track, background bus, WebRTC publisher, plugin sinks, event forwarding, its frame hook
//! on the shared frame clock) and ending one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn, Instrument};
use voxpace_core::{FrameClock, Track};

use super::error::ApiError;
use super::event::EventLog;
use super::frame::{FrameSide, Meter, MONITOR_SLOTS};
use super::output::Output;
#[cfg(feature = "webrtc")]
use super::publish::OutputPublish;
use super::publish::Teardowns;
use crate::background::Bus;
use crate::contract::error::ApiKind;
use crate::contract::events::{OutputEnded, StreamEvent};
use crate::events::track_event;
use crate::{audio, Config};

/// Audio decoded once at start and shared by every output.
#[derive(Debug)]
pub(crate) struct Media {
    pub(crate) demo: Arc<[i16]>,
}

/// The example speech, built into the binary for the web page's "demo reply" button.
const DEMO_WAV: &[u8] = include_bytes!("../../assets/speech.wav");

/// Everything the handlers share.
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) outputs: RwLock<BTreeMap<String, Arc<Output>>>,
    pub(crate) clock: Mutex<Option<FrameClock>>,
    pub(crate) media: Media,
    pub(crate) accepting: AtomicBool,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) started: Instant,
    #[cfg(feature = "webrtc")]
    pub(crate) whep: Option<voxpace_transport::WhepServer>,
    /// WHIP DELETEs of ended outputs, awaited at shutdown.
    pub(crate) teardowns: Teardowns,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    pub(crate) fn output(&self, id: &str) -> Result<Arc<Output>, ApiError> {
        self.outputs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("unknown_output", format!("no agent output {id:?}")))
    }

    pub(crate) fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    pub(crate) fn outputs_snapshot(&self) -> Vec<Arc<Output>> {
        self.outputs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn check_accepting(&self) -> Result<(), ApiError> {
        if self.accepting.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(ApiError::busy(
                "shutting_down",
                "the server is shutting down and takes no new work",
            ))
        }
    }

    /// Create and start an agent output. Loading plugins, making their instances and
    /// opening the background file block, so all of it runs on a blocking thread, never on
    /// an async worker.
    pub(crate) async fn create_output(self: &Arc<Self>, id: &str) -> Result<Arc<Output>, ApiError> {
        let (state, id) = (self.clone(), id.to_string());
        blocking(move || state.create_output_blocking(&id)).await
    }

    /// Is there room for output `id` (a new id, under `server.max_outputs`)?
    fn check_room(
        &self,
        outputs: &BTreeMap<String, Arc<Output>>,
        id: &str,
    ) -> Result<(), ApiError> {
        if outputs.contains_key(id) {
            return Err(ApiError::conflict(
                ApiKind::InvalidInput,
                "output_exists",
                format!("agent output {id:?} already exists"),
            ));
        }
        if outputs.len() >= self.config.server.max_outputs {
            return Err(ApiError::conflict(
                ApiKind::Retryable,
                "output_limit",
                format!(
                    "{} agent outputs are running, the configured maximum (server.max_outputs)",
                    outputs.len()
                ),
            ));
        }
        Ok(())
    }

    /// [`Self::create_output`], on the blocking thread it runs on.
    fn create_output_blocking(&self, id: &str) -> Result<Arc<Output>, ApiError> {
        self.check_accepting()?;
        if !crate::config::valid_output_id(id) {
            return Err(ApiError::bad_request(
                "bad_output_id",
                format!("{id:?} is not a valid output id: 1 to 64 characters from a-z, A-Z, 0-9, '-', '_'"),
            ));
        }
        // Said at once, without waiting for the plugins and files below (checked again
        // under the lock: another request may create the same id meanwhile).
        self.check_room(&self.outputs.read().unwrap_or_else(|e| e.into_inner()), id)?;
        // Plugin instances, the track with its sinks and its background first, with no lock
        // held: a plugin's `new` and `info` and the opening of the background file may take
        // time, and must not hold up the outputs lock (every API call reads it).
        let sinks = crate::plugins::instances(&self.config.sinks)?;
        let span = tracing::info_span!("output", id = %id);
        let (format, track_config) = self.config.track_parts();
        let track = Track::new(format, track_config)?;
        let handle = track.handle();
        // Subscribed before the sinks attach, so the stream sees everything they cause.
        let mut stream = handle.events();
        Self::attach_sinks(&handle, sinks)?;
        let bus = Bus::start(&self.config, &handle, None)?;
        let mut outputs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        self.check_room(&outputs, id)?;
        let events = Arc::new(EventLog::default());
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
                OutputPublish::start(id, target, p.clone(), &self.config, events.clone()).map_err(
                    |e| {
                        p.close();
                        ApiError::from(e)
                    },
                )?,
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
            events: events.clone(),
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
        let rate = format.sample_rate();
        let output_id = id.to_string();
        tokio::spawn(
            async move {
                while let Some(event) = stream.next().await {
                    if let voxpace_core::Event::SinkDetached { name, reason, .. } = &event {
                        warn!(sink = %name, %reason, "sink detached");
                    }
                    let Some(event) = track_event(&event, rate) else {
                        continue;
                    };
                    let msg = events.send(&event);
                    tracing::debug!(event = %msg.data, "track event");
                }
                events.send(&StreamEvent::OutputEnded(OutputEnded { output: output_id }));
                let _ = ended_tx.send(true);
            }
            .instrument(span.clone()),
        );
        forward_source_events(&output);
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

    /// Attach the plugin sinks to a track that is not rendering yet (dropping the track
    /// stops them again).
    fn attach_sinks(
        handle: &voxpace_core::TrackHandle,
        sinks: Vec<Box<dyn voxpace_core::Sink>>,
    ) -> Result<(), ApiError> {
        for sink in sinks {
            let name = sink.info().name;
            if let Err(e) = handle.attach_sink(sink) {
                return Err(ApiError::by_kind(
                    e.kind(),
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
        let (publisher, feed) = voxpace_transport::Publisher::new(format, config)?;
        if let Some(whep) = &self.whep {
            whep.publish(id, vec![publisher.clone()]);
        }
        Ok(Some((publisher, feed)))
    }

    /// End an output: cut uploads still streaming into it, interrupt what plays, let the
    /// frame side end every reply (`playback_finished`) for at most `settle`, then stop
    /// rendering and close its peers and streams (`output_ended` comes last).
    pub(crate) async fn end_output(
        &self,
        id: &str,
        settle: Duration,
    ) -> Result<Arc<Output>, ApiError> {
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
        self.teardowns.start(output.stop_publish());
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
    pub(crate) fn settle_time(&self) -> Duration {
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
                let Some(event) = crate::events::source_event(&ev, rate) else {
                    continue;
                };
                match (&ev, &event) {
                    (voxpace_sources::SourceEvent::Failed { path, error, .. }, StreamEvent::SourceFailed(e)) => {
                        span.in_scope(|| warn!(file = %path.display(), %error, t_ms = e.t_ms, "background source failed"));
                    }
                    (voxpace_sources::SourceEvent::Damaged { path, error, .. }, StreamEvent::SourceDamaged(e)) => {
                        span.in_scope(|| warn!(file = %path.display(), %error, t_ms = e.t_ms, recovery = e.recovery, "background source damaged"));
                    }
                    _ => {}
                }
                tx.send(&event);
            }
        })
        .map(drop)
        .unwrap_or_else(|e| warn!(error = %e, "could not start the source event thread"));
}

pub(crate) fn demo_speech(format: voxpace_core::Format) -> anyhow::Result<Arc<[i16]>> {
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

/// Run `work` (opening files, loading plugins) on tokio's blocking threads, so the async
/// workers go on serving while it waits.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal("internal", format!("a blocking task failed: {e}")))?
}
