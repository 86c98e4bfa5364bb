//! [`Stage`]: a track driven through a scripted conversation, frame by frame, with what it
//! rendered and every event kept for checking. The plugin check runs on it at real time;
//! tests (the sinks' own, the integration matrix) run the same driver on the virtual clock,
//! where frames render back to back and media time alone counts.

use std::time::{Duration, Instant};

use voxpace_core::{
    Error, Event, EventStream, Format, FrameInfo, ReplyId, ReplyOutcome, ReplyWriter, Track,
    TrackHandle,
};

/// How frames are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Back to back: media time only (the virtual clock).
    Virtual,
    /// One frame period apart on the monotonic clock, as a real output plays.
    RealTime,
    /// A fixed pause after each frame (sinks on real threads keep up without real time).
    Every(Duration),
}

/// A track, its control handle, and everything it rendered and told.
#[derive(Debug)]
pub struct Stage {
    track: Track,
    handle: TrackHandle,
    events: EventStream,
    pacing: Pacing,
    next_due: Option<Instant>,
    frame: Vec<i16>,
    /// Every frame's metadata, in order.
    pub frames: Vec<FrameInfo>,
    /// Every rendered sample, frame after frame.
    pub samples: Vec<i16>,
    /// Every event, in order.
    pub events_seen: Vec<Event>,
}

impl Stage {
    /// Drive `track` with `pacing`.
    pub fn new(track: Track, pacing: Pacing) -> Self {
        let handle = track.handle();
        let events = handle.events();
        let frame = vec![0; track.format().frame_len()];
        Self {
            track,
            handle,
            events,
            pacing,
            next_due: None,
            frame,
            frames: Vec::new(),
            samples: Vec::new(),
            events_seen: Vec::new(),
        }
    }

    /// The track's control handle.
    pub fn handle(&self) -> &TrackHandle {
        &self.handle
    }

    /// How frames are paced now.
    pub fn pacing(&self) -> Pacing {
        self.pacing
    }

    /// Change how the next frames are paced.
    pub fn set_pacing(&mut self, pacing: Pacing) {
        self.pacing = pacing;
        self.next_due = None;
    }

    /// The track's format.
    pub fn format(&self) -> Format {
        self.track.format()
    }

    /// How many frames have been rendered (the index of the next one).
    pub fn rendered(&self) -> u64 {
        self.frames.len() as u64
    }

    /// Render one frame (waiting first as `pacing` says), keep it and collect the events it
    /// produced.
    pub fn render_frame(&mut self) -> FrameInfo {
        match self.pacing {
            Pacing::Virtual | Pacing::Every(_) => {}
            Pacing::RealTime => {
                let due = *self.next_due.get_or_insert_with(Instant::now);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                self.next_due = Some(due + self.format().frame_duration());
            }
        }
        let info = self.track.render(&mut self.frame);
        self.frames.push(info);
        self.samples.extend_from_slice(&self.frame);
        while let Some(e) = self.events.try_next() {
            self.events_seen.push(e);
        }
        if let Pacing::Every(pause) = self.pacing {
            std::thread::sleep(pause);
        }
        info
    }

    /// Render `n` frames.
    pub fn render(&mut self, n: u64) {
        for _ in 0..n {
            self.render_frame();
        }
    }

    /// Render until `frame` frames have been rendered.
    pub fn render_until(&mut self, frame: u64) {
        while self.rendered() < frame {
            self.render_frame();
        }
    }

    /// The samples of frame `index`.
    pub fn frame_samples(&self, index: usize) -> &[i16] {
        let len = self.frame.len();
        &self.samples[index * len..(index + 1) * len]
    }

    /// Open a reply, push `samples` in chunks of `chunk` values, finish it.
    pub fn say(&mut self, samples: &[i16], chunk: usize) -> Result<ReplyId, Error> {
        let mut reply = self.handle.open_reply()?;
        let id = reply.id();
        for piece in samples.chunks(chunk.max(1)) {
            push_now(&mut reply, piece)?;
        }
        reply.finish()?;
        Ok(id)
    }

    /// How `reply` ended, once it has.
    pub fn outcome(&self, reply: ReplyId) -> Option<ReplyOutcome> {
        self.events_seen.iter().find_map(|e| match e {
            Event::PlaybackFinished(o) if o.reply == reply => Some(o.clone()),
            _ => None,
        })
    }

    /// Render until `reply` has ended, at most `limit` frames; how it ended.
    pub fn until_finished(&mut self, reply: ReplyId, limit: u64) -> Option<ReplyOutcome> {
        for _ in 0..limit {
            if let Some(o) = self.outcome(reply) {
                return Some(o);
            }
            self.render_frame();
        }
        self.outcome(reply)
    }

    /// The pts of every frame that carried `reply`'s speech, in order.
    pub fn speech_pts(&self, reply: ReplyId) -> Vec<u64> {
        self.frames
            .iter()
            .filter(|i| i.reply == Some(reply) && i.speech)
            .map(|i| i.pts)
            .collect()
    }
}

/// Push `samples` into `reply` without waiting. A script queues far less than the track
/// buffers, and nobody renders while it pushes, so a push that would wait would wait
/// forever: what does not fit is refused with `Error::IntakeFull` instead (the prefix that
/// fitted stays accepted).
pub fn push_now(reply: &mut ReplyWriter, samples: &[i16]) -> Result<(), Error> {
    let taken = reply.try_push_samples(samples)?;
    if taken < samples.len() {
        return Err(Error::IntakeFull);
    }
    Ok(())
}
