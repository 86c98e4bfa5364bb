//! [`PluginSink`]: a loaded plugin instance as a [`voxpace_core::Sink`]. Every event is
//! converted to its `#[repr(C)]` form and forwarded; playback reports come back through the
//! host vtable into [`SinkContext::report_playback`].

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use voxpace_core::{Delivery, ReplyId, Sink, SinkContext, SinkError, SinkEvent, SinkInfo};
use voxpace_sink_abi::host::WithMetadata;
use voxpace_sink_abi::{
    DeliveryKind, EventKind, HostVtable, HostVtableRef, PlaybackReport, RawEvent, RawHost, SinkBox,
    StreamFormat,
};

use crate::Error;

/// A plugin instance attached (or ready to attach) to a track.
pub struct PluginSink {
    path: PathBuf,
    object: SinkBox,
    info: SinkInfo,
}

impl std::fmt::Debug for PluginSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSink")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl PluginSink {
    /// Load the plugin at `path` and make an instance from `config` in one step.
    pub fn load(path: impl AsRef<Path>, config: &str) -> Result<Self, Error> {
        crate::Plugin::load(path)?.instantiate(config)
    }

    pub(crate) fn new(path: PathBuf, object: SinkBox) -> Result<Self, Error> {
        let raw = object
            .info()
            .into_result()
            .map_err(|reason| Error::PluginFailed {
                path: path.clone(),
                reason: reason.into_string(),
            })?;
        let delivery = match raw.delivery {
            DeliveryKind::AHEAD => Delivery::Ahead {
                max_lead: Duration::from_millis(raw.max_lead_ms.into()),
            },
            // Paced, or a kind from a newer minor this host does not know: paced is the
            // safe reading (the plugin gets every frame at its play-out time).
            _ => Delivery::Paced,
        };
        let info = SinkInfo {
            name: raw.name.into_string(),
            owns_playback: raw.owns_playback,
            delivery,
            queue: Duration::from_millis(raw.queue_ms.max(1).into()),
        };
        Ok(Self { path, object, info })
    }

    /// The file the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Override the name the plugin declared (the host's configuration names sinks).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.info.name = name.into();
        self
    }

    /// Override the delivery mode the plugin declared.
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.info.delivery = delivery;
        self
    }

    /// Override the queue bound the plugin declared.
    pub fn with_queue(mut self, queue: Duration) -> Self {
        self.info.queue = queue;
        self
    }
}

impl Sink for PluginSink {
    fn info(&self) -> SinkInfo {
        self.info.clone()
    }

    fn handle(&mut self, event: SinkEvent<'_>, cx: &SinkContext) -> Result<(), SinkError> {
        let Some(raw) = to_raw(&event) else {
            return Ok(());
        };
        let host = RawHost {
            ctx: (cx as *const SinkContext).cast(),
            vtable: host_vtable(),
            _call: PhantomData,
        };
        self.object
            .handle(raw, host)
            .into_result()
            .map_err(|e| e.into_string().into())
    }
}

/// The ABI form of a core event; `None` for an event kind the ABI does not carry.
fn to_raw<'a>(event: &SinkEvent<'a>) -> Option<RawEvent<'a>> {
    let raw = match *event {
        SinkEvent::Start { format } => RawEvent {
            format: StreamFormat {
                sample_rate: format.sample_rate(),
                channels: format.channels(),
                frame_ms: format.frame_ms(),
                frame_samples: format.frame_samples() as u32,
            },
            ..RawEvent::new(EventKind::START)
        },
        SinkEvent::ReplyStarted { reply } => RawEvent {
            reply: reply.0,
            ..RawEvent::new(EventKind::REPLY_STARTED)
        },
        SinkEvent::Audio {
            reply,
            offset,
            pts,
            samples,
        } => RawEvent {
            reply: reply.0,
            offset,
            pts: pts.into(),
            samples: samples.into(),
            ..RawEvent::new(EventKind::AUDIO)
        },
        SinkEvent::ReplyEnded { reply, interrupted } => RawEvent {
            reply: reply.0,
            interrupted,
            ..RawEvent::new(EventKind::REPLY_ENDED)
        },
        SinkEvent::Interrupted { reply } => RawEvent {
            reply: reply.0,
            ..RawEvent::new(EventKind::INTERRUPTED)
        },
        SinkEvent::Paused => RawEvent::new(EventKind::PAUSED),
        SinkEvent::Resumed => RawEvent::new(EventKind::RESUMED),
        SinkEvent::Stop => RawEvent::new(EventKind::STOP),
        _ => return None,
    };
    Some(raw)
}

/// Called by a plugin, during `handle`, with the `SinkContext` of that call as `ctx`.
extern "C" fn report_playback(ctx: *const (), report: PlaybackReport) -> bool {
    // SAFETY: `ctx` is the `&SinkContext` that `PluginSink::handle` put in the `RawHost` it
    // passed to the plugin, and a `RawHost` is valid only during that call.
    let cx = unsafe { &*ctx.cast::<SinkContext>() };
    cx.report_playback(voxpace_core::PlaybackReport {
        reply: ReplyId(report.reply),
        played_samples: report.played_samples,
        interrupted: report.interrupted,
    })
}

const HOST_VTABLE: &WithMetadata<HostVtable> = &WithMetadata::new(HostVtable { report_playback });

fn host_vtable() -> HostVtableRef {
    HostVtableRef(HOST_VTABLE.static_as_prefix())
}
