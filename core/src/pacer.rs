//! One track's frames, paced against a [`Clock`], with a defined catch-up policy.

use std::time::Duration;

use crate::{Clock, FrameInfo, Track};

/// What a pacer does when its consumer falls behind.
///
/// Frames are due at `anchor + k · frame_duration`. A consumer that asks late gets the due
/// frames back to back, but at most `max_burst` of them: if it is further behind, the
/// schedule is re-anchored so that the remaining delay is absorbed rather than burst out.
/// Either way `pts` stays continuous and no speech sample is dropped or reordered: the media
/// timeline slips against real time instead. Frames handed out later than `late_after`
/// past their deadline are counted as late in [`crate::TrackStats::late_frames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    /// Most frames handed out back to back to catch up.
    pub max_burst: u32,
    /// Lateness from which a frame counts as late.
    pub late_after: Duration,
}

impl Default for CatchUp {
    fn default() -> Self {
        Self {
            max_burst: 3,
            late_after: Duration::from_millis(5),
        }
    }
}

/// A rendered frame: metadata and interleaved samples.
#[derive(Debug, Clone)]
pub struct Frame {
    info: FrameInfo,
    samples: Box<[i16]>,
}

impl Frame {
    /// pts, time base, speech flag, reply.
    pub fn info(&self) -> &FrameInfo {
        &self.info
    }

    /// Presentation timestamp in samples per channel.
    pub fn pts(&self) -> u64 {
        self.info.pts
    }

    /// The interleaved samples of the frame.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }
}

/// Pacing figures since the pacer started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacerStats {
    /// Frames handed out.
    pub frames: u64,
    /// Frames handed out more than `late_after` past their deadline.
    pub late_frames: u64,
    /// Times the schedule was re-anchored because the consumer was too far behind.
    pub resyncs: u64,
    /// The largest lateness seen.
    pub max_lateness: Duration,
}

/// Hands out one track's frames, one per frame period, against `C`.
#[derive(Debug)]
pub struct Pacer<C: Clock> {
    track: Track,
    clock: C,
    frame: Frame,
    period: Duration,
    next_due: Option<Duration>,
    catch_up: CatchUp,
    stats: PacerStats,
}

impl<C: Clock> Pacer<C> {
    /// Pace `track` against `clock` with the default [`CatchUp`] policy.
    pub fn new(track: Track, clock: C) -> Self {
        Self::with_catch_up(track, clock, CatchUp::default())
    }

    /// Pace `track` against `clock` with a given catch-up policy.
    pub fn with_catch_up(track: Track, clock: C, catch_up: CatchUp) -> Self {
        let format = track.format();
        Self {
            frame: Frame {
                info: FrameInfo {
                    pts: 0,
                    sample_rate: format.sample_rate(),
                    channels: format.channels(),
                    speech: false,
                    reply: None,
                },
                samples: vec![0; format.frame_len()].into_boxed_slice(),
            },
            period: format.frame_duration(),
            track,
            clock,
            next_due: None,
            catch_up,
            stats: PacerStats::default(),
        }
    }

    /// Wait until the next frame is due, render it and hand it out. The first frame is due
    /// at once and anchors the schedule.
    pub async fn next_frame(&mut self) -> &Frame {
        let now = self.clock.now();
        let due = match self.next_due {
            None => now,
            Some(due) if due > now => {
                self.clock.sleep_until(due).await;
                due
            }
            Some(due) => {
                let behind = (now - due).as_nanos() / self.period.as_nanos().max(1);
                if behind >= self.catch_up.max_burst as u128 {
                    // Too far behind: keep at most `max_burst` frames of burst.
                    self.stats.resyncs += 1;
                    now.saturating_sub(self.period * (self.catch_up.max_burst - 1))
                } else {
                    due
                }
            }
        };
        let lateness = self.clock.now().saturating_sub(due);
        self.stats.max_lateness = self.stats.max_lateness.max(lateness);
        if lateness > self.catch_up.late_after {
            self.stats.late_frames += 1;
            self.track.count_late();
        }
        self.next_due = Some(due + self.period);
        self.frame.info = self.track.render(&mut self.frame.samples);
        self.stats.frames += 1;
        &self.frame
    }

    /// Pacing figures so far.
    pub fn stats(&self) -> PacerStats {
        self.stats
    }

    /// The paced track.
    pub fn track(&self) -> &Track {
        &self.track
    }

    /// The paced track, mutably (for example to render outside the schedule in tests).
    pub fn track_mut(&mut self) -> &mut Track {
        &mut self.track
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Stop pacing and get the track back.
    pub fn into_track(self) -> Track {
        self.track
    }
}
