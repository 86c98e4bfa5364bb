//! The plain data that crosses the boundary. Every type here is `#[repr(C)]` and checked by
//! abi_stable's layout check when the host loads a plugin.

use std::marker::PhantomData;

use abi_stable::std_types::{ROption, RSlice, RString};
use abi_stable::StableAbi;

/// An ABI version: `major.minor` of the `voxpace-sink-abi` crate a plugin was built against.
///
/// See the crate docs ("Versioning") for what may change in a minor and what needs a major.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbiVersion {
    /// Incompatible changes bump this; a host loads only plugins of its own major.
    pub major: u16,
    /// Appended, compatible additions bump this.
    pub minor: u16,
}

impl AbiVersion {
    /// True when a host speaking `self` can load a plugin built against `plugin`: same major
    /// (the minor may be older or newer; appended fields are optional on both sides).
    pub const fn can_load(self, plugin: AbiVersion) -> bool {
        self.major == plugin.major
    }
}

impl std::fmt::Display for AbiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The audio format of every `Audio` event, sent with `Start`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamFormat {
    /// Samples per second per channel (8000, 16000, 24000 or 48000).
    pub sample_rate: u32,
    /// 1 (mono) or 2 (interleaved stereo).
    pub channels: u16,
    /// The track's frame length in milliseconds (10, 20, 40 or 60).
    pub frame_ms: u32,
    /// Samples per channel in one frame.
    pub frame_samples: u32,
}

impl StreamFormat {
    /// Samples per channel in `ms` milliseconds.
    pub const fn samples_in_ms(&self, ms: u64) -> u64 {
        ms * self.sample_rate as u64 / 1000
    }
}

/// How a plugin wants its audio delivered (see [`crate::Delivery`]).
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryKind(pub u8);

impl DeliveryKind {
    /// Each frame at its play-out time, with its pts.
    pub const PACED: Self = Self(0);
    /// As soon as the speech is accepted, at most `max_lead_ms` ahead of play-out.
    pub const AHEAD: Self = Self(1);
}

/// What a plugin instance declares about itself, after it accepted its configuration.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct RawInfo {
    /// Name for logs and events.
    pub name: RString,
    /// True when the plugin publishes the audio itself (the host then silences its own
    /// output while the plugin is attached) and reports playback.
    pub owns_playback: bool,
    /// [`DeliveryKind::PACED`] or [`DeliveryKind::AHEAD`].
    pub delivery: DeliveryKind,
    /// For ahead delivery: how far ahead of play-out audio may arrive.
    pub max_lead_ms: u32,
    /// How much audio the host queues for this plugin before dropping (counted).
    pub queue_ms: u32,
}

/// Which event a [`RawEvent`] is. New kinds may be added in a minor version; a plugin
/// ignores kinds it does not know.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventKind(pub u8);

impl EventKind {
    /// First event: `format` is set.
    pub const START: Self = Self(0);
    /// A reply begins: `reply` is set.
    pub const REPLY_STARTED: Self = Self(1);
    /// Speech: `reply`, `offset`, `pts` (paced delivery only) and `samples` are set.
    pub const AUDIO: Self = Self(2);
    /// A reply's audio is complete or it was interrupted: `reply`, `interrupted`.
    pub const REPLY_ENDED: Self = Self(3);
    /// Barge-in: drop everything queued for `reply` and earlier, stop now.
    pub const INTERRUPTED: Self = Self(4);
    /// Hold what is queued.
    pub const PAUSED: Self = Self(5);
    /// Continue.
    pub const RESUMED: Self = Self(6);
    /// Last event: flush and close.
    pub const STOP: Self = Self(7);
    /// ABI 1.2: a text mark, a piece of the reply's text heard from sample `offset` of
    /// `reply`; `pts` is that sample's presentation timestamp (paced delivery only), and
    /// `samples` holds the text as UTF-16 code units (each `i16` is one `u16` unit).
    pub const TEXT: Self = Self(8);
}

/// One event as it crosses the boundary; plugins see it as [`crate::Event`]. Fields a
/// kind does not use are zero.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct RawEvent<'a> {
    /// Which event.
    pub kind: EventKind,
    /// The reply the event is about.
    pub reply: u64,
    /// `AUDIO`: position of the first sample within the reply, in samples per channel.
    pub offset: u64,
    /// `AUDIO`: presentation timestamp of the first sample (paced delivery only).
    pub pts: ROption<u64>,
    /// `REPLY_ENDED`: true when the reply ended by interrupt.
    pub interrupted: bool,
    /// `AUDIO`: interleaved samples, valid only during the call.
    pub samples: RSlice<'a, i16>,
    /// `START`: the stream format.
    pub format: StreamFormat,
}

impl<'a> RawEvent<'a> {
    /// An event of `kind` with every field zero.
    pub const fn new(kind: EventKind) -> Self {
        Self {
            kind,
            reply: 0,
            offset: 0,
            pts: ROption::RNone,
            interrupted: false,
            samples: RSlice::from_slice(&[]),
            format: StreamFormat {
                sample_rate: 0,
                channels: 0,
                frame_ms: 0,
                frame_samples: 0,
            },
        }
    }
}

/// What a plugin that owns playback reports about a reply.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlaybackReport {
    /// The reply.
    pub reply: u64,
    /// Samples per channel actually played out.
    pub played_samples: u64,
    /// True when playback stopped because of an interrupt.
    pub interrupted: bool,
}

/// ABI 1.2: when something plays out, on the track's timeline and its play-out clock.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawPlayout {
    /// Track time in samples per channel (the `pts` of paced audio).
    pub pts: u64,
    /// The same moment on the host's play-out clock, in nanoseconds (see
    /// [`crate::Playout::due`]).
    pub due_ns: u64,
    /// The reply playing at that moment (0: none).
    pub reply: u64,
    /// Position within that reply, in samples per channel.
    pub offset: u64,
}

/// The host's functions a plugin may call during `handle`. A prefix type: new host
/// functions are appended in minor versions and are `None` on older hosts.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostVtableRef)))]
#[sabi(missing_field(option))]
pub struct HostVtable {
    /// Report how much of a reply was played; false when the host could not take it.
    #[sabi(last_prefix_field)]
    pub report_playback: extern "C" fn(ctx: *const (), report: PlaybackReport) -> bool,
    /// ABI 1.2: when the event being handled plays out (see [`crate::Host::playout`]).
    pub playout: extern "C" fn(ctx: *const ()) -> ROption<RawPlayout>,
    /// ABI 1.2: what is playing now (see [`crate::Host::now`]).
    pub now: extern "C" fn(ctx: *const ()) -> ROption<RawPlayout>,
}

impl std::fmt::Debug for HostVtable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostVtable").finish_non_exhaustive()
    }
}

/// The host, as handed to one `handle` call: valid only during that call.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct RawHost<'a> {
    /// The host's own state; only the host's functions interpret it.
    pub ctx: *const (),
    /// The host's functions.
    pub vtable: HostVtableRef,
    /// Ties the host to the call.
    pub _call: PhantomData<&'a ()>,
}

impl std::fmt::Debug for RawHost<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawHost").finish_non_exhaustive()
    }
}
