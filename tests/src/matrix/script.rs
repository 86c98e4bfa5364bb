//! The scripted conversation every cell runs, on the virtual clock: `Track::render` is
//! called directly, one frame after another, with no sleeping.
//!
//! ```text
//! frame 0 ........ LEAD: silence (background only: its fade-in completes)
//! LEAD             reply 1 (0.6 s) pushed in 37 ms chunks, finished
//! LEAD+10..+15     paused for 5 frames, then resumed
//! end of reply 1 + GAP: reply 2 (1 s) streams: 100 ms at once, then 30 ms per frame
//! reply 2 + 20     interrupt (barge-in); the next push must be refused
//! reply 2 + 25     reply 3 (0.3 s) pushed at once, finished
//! end of reply 3 + TAIL frames: speaking must have ended (grace period 500 ms)
//! ```

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use voxpace_core::{
    Error as CoreError, Event, FrameInfo, ReplyId, ReplyWriter, Track, TrackHandle, TrackStats,
};
use voxpace_sinks::conversation::{push_now, Pacing, Stage};
use voxpace_sources::TtsResampler;

use voxpace_test_kit::signal;

pub const LEAD: u64 = 25;
pub const PAUSE_AT: u64 = LEAD + 10;
pub const RESUME_AT: u64 = LEAD + 15;
/// Frames between reply 1's last frame and reply 2's first.
pub const GAP: u64 = 4;
/// Reply 2 is interrupted this many frames after it starts.
pub const INTERRUPT_AFTER: u64 = 20;
/// Reply 3 is opened this many frames after reply 2 starts.
pub const REPLY3_AFTER: u64 = 25;
/// Frames rendered after reply 3 ends.
pub const TAIL: u64 = 40;
pub const REPLY_SECONDS: [f64; 3] = [0.6, 1.0, 0.3];
/// Input chunk lengths: reply 1 and 3 in irregular 37 ms chunks, reply 2 streamed.
const CHUNK_MS: u32 = 37;
const STREAM_FIRST_MS: u32 = 100;
const STREAM_MS: u32 = 30;

/// What the speech provider sends: its rate and channels.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub rate: u32,
    pub channels: u16,
}

/// Everything a run produced, for the checks.
#[derive(Debug, Default)]
pub struct Recording {
    /// Every output sample, frame after frame.
    pub out: Vec<i16>,
    pub frames: Vec<FrameInfo>,
    pub events: Vec<Event>,
    /// What was pushed into each reply, in the track's format (after the TTS resampler).
    pub pushed: [Vec<i16>; 3],
    /// The frame each reply was opened on.
    pub opened_at: [u64; 3],
    pub interrupt_at: u64,
    /// The error the first push after the interrupt returned.
    pub push_after_interrupt: Option<String>,
    /// The track's counters at the end.
    pub stats: TrackStats,
}

/// Hooks the cell gives the run: called before and after each frame.
pub trait Hooks {
    /// Before frame `index` is rendered (e.g. wait until the background is decoded ahead).
    fn before_frame(&mut self, index: u64) -> Result<()>;
    /// After the frame (e.g. wait until sinks have caught up); `teed_pts` is the frame's
    /// pts when its speech was copied to sinks.
    fn after_frame(&mut self, info: &FrameInfo, teed_pts: Option<u64>) -> Result<()>;
    /// At the end: detach sinks (one more frame is rendered so the track applies it).
    fn detach(&mut self, handle: &TrackHandle) -> Result<()>;
    /// After that frame: wait until the sinks have handled `Stop`.
    fn stopped(&mut self) -> Result<()>;
}

/// Converts a reply's input to the track's format: the real TTS resampler when the rate or
/// the channels differ, a plain copy when they match (then the path must be sample-exact).
struct Converter {
    tts: Option<TtsResampler>,
}

impl Converter {
    fn convert(&mut self, chunk: &[i16]) -> Vec<i16> {
        match self.tts.as_mut() {
            Some(t) => t.process(chunk).to_vec(),
            None => chunk.to_vec(),
        }
    }

    fn flush(&mut self) -> Vec<i16> {
        self.tts
            .as_mut()
            .map(|t| t.flush().to_vec())
            .unwrap_or_default()
    }
}

/// The conversation driver (`voxpace_sinks::conversation`) on the virtual clock, with the
/// cell's hooks around each frame.
struct Run<'a, H: Hooks> {
    stage: Stage,
    hooks: &'a mut H,
    rec: Recording,
}

impl<H: Hooks> Run<'_, H> {
    fn index(&self) -> u64 {
        self.stage.rendered()
    }

    fn render(&mut self) -> Result<()> {
        let index = self.index();
        self.hooks.before_frame(index)?;
        let info = self.stage.render_frame();
        // Sinks get every frame that plays speech, the interrupt's fade included.
        self.hooks
            .after_frame(&info, info.speech.then_some(info.pts))?;
        Ok(())
    }

    fn render_until(&mut self, frame: u64) -> Result<()> {
        while self.index() < frame {
            self.render()?;
        }
        Ok(())
    }

    /// Render until reply `id` has finished playing (bounded).
    fn render_until_finished(&mut self, id: u64, limit: u64) -> Result<()> {
        while self.stage.outcome(ReplyId(id)).is_none() {
            if self.index() >= limit {
                bail!("reply {id} did not finish by frame {limit}");
            }
            self.render()?;
        }
        Ok(())
    }

    fn push(&mut self, reply: usize, writer: &mut ReplyWriter, samples: Vec<i16>) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        push_now(writer, &samples).map_err(|e| anyhow!("push into reply: {e}"))?;
        self.rec.pushed[reply].extend_from_slice(&samples);
        Ok(())
    }
}

fn chunks(input: &[i16], channels: u16, rate: u32, ms: u32) -> Vec<&[i16]> {
    let len = (rate * ms / 1000) as usize * channels as usize;
    input.chunks(len).collect()
}

/// Run the conversation on `track` with speech from `input`.
pub fn run<H: Hooks>(track: Track, input: Input, hooks: &mut H) -> Result<Recording> {
    let handle = track.handle();
    let format = track.format();
    let tts = if input.rate != format.sample_rate() || input.channels != format.channels() {
        Some(TtsResampler::new(input.rate, input.channels, format)?)
    } else {
        None
    };
    let mut conv = Converter { tts };
    let mut run = Run {
        stage: Stage::new(track, Pacing::Virtual),
        hooks,
        rec: Recording {
            interrupt_at: u64::MAX,
            ..Recording::default()
        },
    };
    let speech: Vec<Vec<i16>> = (0..3)
        .map(|r| signal::speech(r, input.rate, input.channels, REPLY_SECONDS[r]))
        .collect();

    // Reply 1: pushed at once in irregular chunks, paused and resumed in the middle.
    run.render_until(LEAD)?;
    let mut w = handle.open_reply()?;
    run.rec.opened_at[0] = run.index();
    for c in chunks(&speech[0], input.channels, input.rate, CHUNK_MS) {
        let out = conv.convert(c);
        run.push(0, &mut w, out)?;
    }
    let tail = conv.flush();
    run.push(0, &mut w, tail)?;
    w.finish()?;
    run.render_until(PAUSE_AT)?;
    handle.pause();
    run.render_until(RESUME_AT)?;
    handle.resume();
    run.render_until_finished(1, RESUME_AT + 200)?;

    // Reply 2: streamed, interrupted mid-way.
    let start2 = run.index() + GAP - 1;
    run.render_until(start2)?;
    let mut w = handle.open_reply()?;
    run.rec.opened_at[1] = start2;
    let first = (input.rate * STREAM_FIRST_MS / 1000) as usize * input.channels as usize;
    let (head, rest) = speech[1].split_at(first.min(speech[1].len()));
    let out = conv.convert(head);
    run.push(1, &mut w, out)?;
    let mut stream = chunks(rest, input.channels, input.rate, STREAM_MS).into_iter();
    run.rec.interrupt_at = start2 + INTERRUPT_AFTER;
    while run.index() < run.rec.interrupt_at {
        run.render()?;
        if let Some(c) = stream.next() {
            let out = conv.convert(c);
            run.push(1, &mut w, out)?;
        }
    }
    handle.interrupt();
    if let Some(tts) = conv.tts.as_mut() {
        tts.reset();
    }
    // The agent's TTS is still sending: the next push must be refused.
    let next = stream
        .next()
        .unwrap_or(&speech[1][..2 * input.channels as usize]);
    match push_now(&mut w, next) {
        Err(e @ CoreError::ReplyInterrupted(_)) => {
            run.rec.push_after_interrupt = Some(e.to_string())
        }
        Err(e) => run.rec.push_after_interrupt = Some(format!("unexpected error: {e}")),
        Ok(()) => run.rec.push_after_interrupt = None,
    }
    drop(w);

    // Reply 3: after the barge-in, a short answer.
    run.render_until(start2 + REPLY3_AFTER)?;
    let mut w = handle.open_reply()?;
    run.rec.opened_at[2] = run.index();
    for c in chunks(&speech[2], input.channels, input.rate, CHUNK_MS) {
        let out = conv.convert(c);
        run.push(2, &mut w, out)?;
    }
    let tail = conv.flush();
    run.push(2, &mut w, tail)?;
    w.finish()?;
    let limit = run.index() + 200;
    run.render_until_finished(3, limit)?;
    let end = run.index() + TAIL;
    run.render_until(end)?;
    run.hooks.detach(&handle)?;
    run.render()?;
    run.hooks.stopped()?;
    run.rec.stats = handle.stats();
    let Run { stage, mut rec, .. } = run;
    rec.out = stage.samples;
    rec.frames = stage.frames;
    rec.events = stage.events_seen;
    Ok(rec)
}

impl Recording {
    /// The frame length in values.
    pub fn frame_len(&self) -> usize {
        self.out.len() / self.frames.len().max(1)
    }
}

/// How long the track fades speech out on an interrupt (core's default).
pub fn interrupt_fade() -> Duration {
    voxpace_core::TrackConfig::default().interrupt_fade
}
