//! What the control side sends the frame side besides audio: rare commands (a new intake
//! ring, the background, an event subscriber, sinks), through a lock-free mailbox that the
//! frame side checks once per frame (see `mailbox.rs`). Each carries what it installs,
//! allocated off the frame path.

use crate::events::Emitted;
use crate::intake::IntakeReader;
use crate::sink_tap::PacedTap;
use crate::{SinkId, Source};

pub(crate) enum Command {
    Intake(Box<IntakeReader>),
    Background(Option<Box<Bus>>),
    Events(Box<rtrb::Producer<Emitted>>),
    AttachSink(Box<PacedTap>),
    DetachSink(SinkId),
}

/// The background source and the frame buffer it fills.
pub(crate) struct Bus {
    pub(crate) source: Box<dyn Source>,
    pub(crate) buffer: Box<[i16]>,
}

impl Bus {
    pub(crate) fn new(source: Box<dyn Source>, frame_len: usize) -> Box<Self> {
        Box::new(Self {
            source,
            buffer: vec![0i16; frame_len].into_boxed_slice(),
        })
    }
}
