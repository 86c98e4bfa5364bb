//! [`PluginSink`]: a loaded plugin instance as a [`voxpace_core::Sink`]. Every event is
//! converted to its `#[repr(C)]` form and forwarded; playback reports come back through the
//! host vtable into [`SinkContext::report_playback`].

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use voxpace_core::{
    Delivery, ErrorKind, Playout, ReplyId, Sink, SinkContext, SinkError, SinkEvent, SinkInfo,
};
use voxpace_sink_abi::compat::{v1_1, v1_2};
use voxpace_sink_abi::host::{ROption, WithMetadata};
use voxpace_sink_abi::{
    AbiVersion, DeliveryKind, EventKind, HostVtable, HostVtableRef, PlaybackReport, RawError,
    RawEvent, RawHost, RawInfo, RawPlayout, SinkBox, StreamFormat,
};

use crate::Error;

/// A plugin instance attached (or ready to attach) to a track.
pub struct PluginSink {
    path: PathBuf,
    object: Object,
    abi: AbiVersion,
    info: SinkInfo,
    /// The text of a `Text` event as UTF-16 code units, reused from call to call.
    text: Vec<i16>,
}

/// A plugin instance, by the layout of the ABI minor it was built against.
pub(crate) enum Object {
    /// ABI 1.0 and 1.1 (the frozen object; its host vtable lacks the 1.2 functions).
    V1_1(v1_1::SinkBox),
    /// ABI 1.2 (the frozen object: no `handle_event`, every error fatal).
    V1_2(v1_2::SinkBox),
    /// This host's minor or a newer one.
    Current(SinkBox),
}

impl Object {
    fn info(&self) -> Result<RawInfo, String> {
        match self {
            Object::V1_1(o) => o.info(),
            Object::V1_2(o) => o.info(),
            Object::Current(o) => o.info(),
        }
        .into_result()
        .map_err(|e| e.into_string())
    }
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

    pub(crate) fn new(path: PathBuf, object: Object, abi: AbiVersion) -> Result<Self, Error> {
        let raw = object.info().map_err(|reason| Error::PluginFailed {
            path: path.clone(),
            reason,
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
        Ok(Self {
            path,
            object,
            abi,
            info,
            text: Vec::new(),
        })
    }

    /// The ABI version the plugin was built against.
    pub fn abi(&self) -> AbiVersion {
        self.abi
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
        let raw = match event {
            // ABI 1.2: the text as UTF-16 code units in `samples` (buffer reused).
            SinkEvent::Text {
                reply,
                offset,
                pts,
                text,
            } => {
                self.text.clear();
                self.text.extend(text.encode_utf16().map(|u| u as i16));
                RawEvent {
                    reply: reply.0,
                    offset,
                    pts: pts.into(),
                    samples: self.text.as_slice().into(),
                    ..RawEvent::new(EventKind::TEXT)
                }
            }
            _ => match to_raw(&event) {
                Some(raw) => raw,
                None => return Ok(()),
            },
        };
        let call = Call {
            cx,
            playout: cx.playout().map(raw_playout),
            now: Some(raw_playout(cx.now())),
        };
        let ctx = (&call as *const Call<'_>).cast();
        let host = || RawHost {
            ctx,
            vtable: HostVtableRef(HOST_VTABLE.static_as_prefix()),
            _call: PhantomData,
        };
        let result = match &mut self.object {
            Object::V1_1(o) => o
                .handle(
                    raw,
                    v1_1::RawHost {
                        ctx,
                        vtable: v1_1::HostVtableRef(HOST_VTABLE_1_1.static_as_prefix()),
                        _call: PhantomData,
                    },
                )
                .map_err(fatal),
            Object::V1_2(o) => o.handle(raw, host()).map_err(fatal),
            Object::Current(o) => o.handle_event(raw, host()),
        };
        result.into_result().map_err(|e| {
            Box::new(voxpace_core::Error::SinkFailed {
                kind: kind(e.kind),
                reason: e.message.into_string(),
            }) as SinkError
        })
    }
}

/// An error of a plugin older than ABI 1.3: every one detaches it.
fn fatal(message: voxpace_sink_abi::host::RString) -> RawError {
    RawError {
        kind: voxpace_sink_abi::ErrorKind::Fatal,
        message,
    }
}

/// The ABI's error kind as the track's: the one place they meet.
fn kind(kind: voxpace_sink_abi::ErrorKind) -> ErrorKind {
    use voxpace_sink_abi::ErrorKind as Abi;
    match kind {
        Abi::Fatal => ErrorKind::Fatal,
        Abi::Retryable => ErrorKind::Retryable,
        Abi::ReplyTerminal => ErrorKind::ReplyTerminal,
        Abi::InvalidInput => ErrorKind::InvalidInput,
    }
}

/// What the host functions see during one call into the plugin (the `ctx` of its
/// `RawHost`).
struct Call<'a> {
    cx: &'a SinkContext,
    playout: Option<RawPlayout>,
    now: Option<RawPlayout>,
}

fn raw_playout(p: Playout) -> RawPlayout {
    RawPlayout {
        pts: p.pts,
        due_ns: u64::try_from(p.due.as_nanos()).unwrap_or(u64::MAX),
        reply: p.reply.map_or(0, |r| r.0),
        offset: p.offset,
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

/// The call a host function was called from.
///
/// # Safety
/// `ctx` must be the `ctx` of a `RawHost` that `PluginSink::handle` made: a `&Call` that
/// lives for that call, and a `RawHost` is valid only during the call.
unsafe fn call<'a>(ctx: *const ()) -> &'a Call<'a> {
    // SAFETY: the caller's promise.
    unsafe { &*ctx.cast::<Call<'a>>() }
}

/// Called by a plugin, during `handle`.
extern "C" fn report_playback(ctx: *const (), report: PlaybackReport) -> bool {
    // SAFETY: plugins get this function only in the `RawHost` of a call.
    let call = unsafe { call(ctx) };
    call.cx.report_playback(voxpace_core::PlaybackReport {
        reply: ReplyId(report.reply),
        played_samples: report.played_samples,
        interrupted: report.interrupted,
    })
}

/// ABI 1.2: called by a plugin, during `handle`.
extern "C" fn playout(ctx: *const ()) -> ROption<RawPlayout> {
    // SAFETY: plugins get this function only in the `RawHost` of a call.
    unsafe { call(ctx) }.playout.into()
}

/// ABI 1.2: called by a plugin, during `handle`.
extern "C" fn now(ctx: *const ()) -> ROption<RawPlayout> {
    // SAFETY: plugins get this function only in the `RawHost` of a call.
    unsafe { call(ctx) }.now.into()
}

const HOST_VTABLE: &WithMetadata<HostVtable> = &WithMetadata::new(HostVtable {
    report_playback,
    playout,
    now,
});

/// What plugins built against ABI 1.0 and 1.1 get.
const HOST_VTABLE_1_1: &WithMetadata<v1_1::HostVtable> =
    &WithMetadata::new(v1_1::HostVtable { report_playback });
