//! The background bus of one agent output: a replaceable background source with a live gain
//! and ducking, plus one-shot clips, mixed as one [`Source`] the track calls per frame.
//!
//! The track has a single background slot; the runtime puts a [`Bus`] there once and steers
//! it through a [`BusControl`]. Commands reach the frame path through a lock-free queue that
//! `fill` drains at the start of a frame, so a change takes effect on exactly the next frame
//! (which is what makes `render` reproducible). Replaced sources and finished clips go back
//! through a second queue so the frame path never frees memory.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use voxpace_core::{BusContext, Source};

use crate::audio::db_to_gain;

const COMMAND_SLOTS: usize = 16;
const CLIP_SLOTS: usize = 8;
/// Room for everything that can be handed back between two control calls.
const TRASH_SLOTS: usize = COMMAND_SLOTS + CLIP_SLOTS + 8;

/// Decoded audio held in memory, played once or looped.
#[derive(Debug, Clone)]
pub struct MemorySource {
    samples: Arc<[i16]>,
    pos: usize,
    looped: bool,
}

impl MemorySource {
    /// Play `samples` (in the track's format).
    pub fn new(samples: Arc<[i16]>, looped: bool) -> Self {
        Self {
            samples,
            pos: 0,
            looped,
        }
    }
}

impl Source for MemorySource {
    fn fill(&mut self, out: &mut [i16], _cx: &BusContext) {
        let mut written = 0;
        while written < out.len() && !self.samples.is_empty() {
            if self.pos == self.samples.len() {
                if !self.looped {
                    break;
                }
                self.pos = 0;
            }
            let n = (out.len() - written).min(self.samples.len() - self.pos);
            out[written..written + n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
            written += n;
            self.pos += n;
        }
    }
}

/// How the background gives way to speech.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ducking {
    /// Linear gain under speech (0..1).
    pub depth: f32,
    /// Time to go down.
    pub attack: Duration,
    /// Time to come back.
    pub release: Duration,
}

enum Command {
    Background(Option<Box<dyn Source>>),
    Clip(Arc<[i16]>, f32),
}

enum Trash {
    // Held only to be dropped on the control side.
    #[allow(dead_code)]
    Source(Box<dyn Source>),
    #[allow(dead_code)]
    Clip(Arc<[i16]>),
}

#[derive(Debug)]
struct Shared {
    /// Target background gain (linear, f32 bits).
    gain: AtomicU32,
    /// Peak of the last mixed bus frame (0..32767), for meters.
    peak: AtomicU32,
}

/// A clip being played: its samples, the read position and its linear gain.
type PlayingClip = (Arc<[i16]>, usize, f32);

/// The frame side: put it in the track's background slot.
pub struct Bus {
    background: Option<Box<dyn Source>>,
    commands: rtrb::Consumer<Command>,
    trash: rtrb::Producer<Trash>,
    clips: [Option<PlayingClip>; CLIP_SLOTS],
    shared: Arc<Shared>,
    ducking: Option<Ducking>,
    gain_now: f32,
    duck_now: f32,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("has_background", &self.background.is_some())
            .field("gain_now", &self.gain_now)
            .finish_non_exhaustive()
    }
}

/// The control side of a [`Bus`]: cheap to share, usable from any thread.
pub struct BusControl {
    commands: Mutex<rtrb::Producer<Command>>,
    trash: Mutex<rtrb::Consumer<Trash>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BusControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusControl")
            .field("gain_db", &self.gain_db())
            .finish_non_exhaustive()
    }
}

/// The bus's command queue is full: nothing is rendering frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the background bus is not being rendered (its command queue is full)")]
pub struct BusBusy;

impl Bus {
    /// A bus with no background, at `gain_db`, optionally ducking under speech.
    pub fn new(gain_db: f32, ducking: Option<Ducking>) -> (Bus, BusControl) {
        let (ctx, crx) = rtrb::RingBuffer::new(COMMAND_SLOTS);
        let (ttx, trx) = rtrb::RingBuffer::new(TRASH_SLOTS);
        let gain = db_to_gain(gain_db);
        let shared = Arc::new(Shared {
            gain: AtomicU32::new(gain.to_bits()),
            peak: AtomicU32::new(0),
        });
        (
            Bus {
                background: None,
                commands: crx,
                trash: ttx,
                clips: Default::default(),
                shared: shared.clone(),
                ducking,
                gain_now: gain,
                duck_now: 1.0,
            },
            BusControl {
                commands: Mutex::new(ctx),
                trash: Mutex::new(trx),
                shared,
            },
        )
    }

    fn discard(&mut self, t: Trash) {
        // If the control side has not emptied the queue, freeing here is the lesser evil.
        let _ = self.trash.push(t);
    }

    fn apply_commands(&mut self) {
        while let Ok(c) = self.commands.pop() {
            match c {
                Command::Background(src) => {
                    if let Some(old) = std::mem::replace(&mut self.background, src) {
                        self.discard(Trash::Source(old));
                    }
                }
                Command::Clip(samples, gain) => {
                    match self.clips.iter().position(|c| c.is_none()) {
                        Some(i) => self.clips[i] = Some((samples, 0, gain)),
                        // All slots busy: the oldest-started clip keeps playing, this one is
                        // skipped (the API reports slots in use before firing).
                        None => self.discard(Trash::Clip(samples)),
                    }
                }
            }
        }
    }
}

impl Source for Bus {
    fn fill(&mut self, out: &mut [i16], cx: &BusContext) {
        self.apply_commands();
        let frame_ms = cx.format.frame_ms() as f32;
        let target_gain = f32::from_bits(self.shared.gain.load(Ordering::Relaxed));
        let target_duck = match (&self.ducking, cx.speech_active) {
            (Some(d), true) => d.depth,
            _ => 1.0,
        };
        let duck_next = match &self.ducking {
            Some(d) => {
                let time = if target_duck < self.duck_now {
                    d.attack
                } else {
                    d.release
                };
                let step = (1.0 - d.depth) * frame_ms / (time.as_millis().max(1) as f32);
                if self.duck_now < target_duck {
                    (self.duck_now + step).min(target_duck)
                } else {
                    (self.duck_now - step).max(target_duck)
                }
            }
            None => 1.0,
        };
        if let Some(bg) = self.background.as_mut() {
            bg.fill(out, cx);
            // Ramp gain and ducking across the frame so changes never click.
            let from = self.gain_now * self.duck_now;
            let to = target_gain * duck_next;
            let ch = cx.format.channels() as usize;
            let n = (out.len() / ch).max(1) as f32;
            for (i, frame) in out.chunks_exact_mut(ch).enumerate() {
                let g = from + (to - from) * (i as f32 + 1.0) / n;
                for s in frame {
                    *s = (*s as f32 * g).round().clamp(-32768.0, 32767.0) as i16;
                }
            }
        }
        self.gain_now = target_gain;
        self.duck_now = duck_next;
        for slot in self.clips.iter_mut() {
            let Some((samples, pos, gain)) = slot else {
                continue;
            };
            let n = out.len().min(samples.len() - *pos);
            for (o, s) in out.iter_mut().zip(&samples[*pos..*pos + n]) {
                *o = o.saturating_add((*s as f32 * *gain).round() as i16);
            }
            *pos += n;
            if *pos >= samples.len() {
                if let Some((done, _, _)) = slot.take() {
                    let _ = self.trash.push(Trash::Clip(done));
                }
            }
        }
        let peak = out
            .iter()
            .map(|s| s.unsigned_abs() as u32)
            .max()
            .unwrap_or(0);
        self.shared.peak.store(peak, Ordering::Relaxed);
    }
}

impl BusControl {
    fn send(&self, c: Command) -> Result<(), BusBusy> {
        if let Ok(mut t) = self.trash.lock() {
            while t.pop().is_ok() {}
        }
        let mut q = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        q.push(c).map_err(|_| BusBusy)
    }

    /// Replace the background (from the next frame on); `None` removes it.
    pub fn set_background(&self, source: Option<Box<dyn Source>>) -> Result<(), BusBusy> {
        self.send(Command::Background(source))
    }

    /// Play a clip (in the track's format) once over the background, at `gain_db`.
    pub fn fire_clip(&self, samples: Arc<[i16]>, gain_db: f32) -> Result<(), BusBusy> {
        self.send(Command::Clip(samples, db_to_gain(gain_db)))
    }

    /// Change the background gain; it ramps over the next frame.
    pub fn set_gain_db(&self, gain_db: f32) {
        self.shared
            .gain
            .store(db_to_gain(gain_db).to_bits(), Ordering::Relaxed);
    }

    /// The background gain in dB.
    pub fn gain_db(&self) -> f32 {
        20.0 * f32::from_bits(self.shared.gain.load(Ordering::Relaxed)).log10()
    }

    /// Peak of the last bus frame, 0..=32767.
    pub fn peak(&self) -> u32 {
        self.shared.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxpace_core::Format;

    fn cx(speech: bool) -> BusContext {
        BusContext {
            format: Format::default(),
            pts: 0,
            speech_active: speech,
        }
    }

    #[test]
    fn loops_gains_and_clips() {
        let (mut bus, ctl) = Bus::new(0.0, None);
        let mut out = vec![0i16; 480];
        bus.fill(&mut out, &cx(false));
        assert!(out.iter().all(|&s| s == 0), "no background yet");
        let loop_ = Arc::<[i16]>::from(vec![1000i16; 100]);
        ctl.set_background(Some(Box::new(MemorySource::new(loop_, true))))
            .unwrap();
        ctl.fire_clip(Arc::from(vec![10i16; 500]), 0.0).unwrap();
        out.fill(0);
        bus.fill(&mut out, &cx(false));
        assert!(out.iter().all(|&s| s == 1010), "looped + clip");
        out.fill(0);
        bus.fill(&mut out, &cx(false));
        assert_eq!(&out[..20], &[1010; 20], "last 20 clip samples");
        assert_eq!(out[20], 1000, "clip over");
        ctl.set_gain_db(-6.0206);
        out.fill(0);
        bus.fill(&mut out, &cx(false));
        assert_eq!(out[479], 500, "ramped to half by the end of the frame");
    }

    #[test]
    fn ducks_under_speech_and_releases() {
        let duck = Ducking {
            depth: 0.25,
            attack: Duration::from_millis(40),
            release: Duration::from_millis(40),
        };
        let (mut bus, ctl) = Bus::new(0.0, Some(duck));
        ctl.set_background(Some(Box::new(MemorySource::new(
            Arc::from(vec![4000i16; 480]),
            true,
        ))))
        .unwrap();
        let mut out = vec![0i16; 480];
        let mut ends = Vec::new();
        for speech in [true, true, true, false, false] {
            out.fill(0);
            bus.fill(&mut out, &cx(speech));
            ends.push(out[479]);
        }
        assert_eq!(ends, vec![2500, 1000, 1000, 2500, 4000]);
    }
}
