//! Each output's background bus, from `voxpace-sources`: the configured music (looped,
//! ducked under speech, at `relative_lu` below the speech target when set), its live gain,
//! and one-shot clips.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use voxpace_core::{Format, Source, TrackHandle};
use voxpace_sources::{
    Background, BackgroundConfig as MixerConfig, BackgroundMixer, Ducking, Looping, Play,
    SourceEvent, SourceId,
};

use crate::config::{BackgroundConfig, ClipConfig, Config};
use crate::Error;

/// How fast the music fades out when turned off.
pub const STOP_FADE: Duration = Duration::from_millis(200);

/// A track's background: the sources crate's mixer in the track's background slot, and
/// the state the API reports: whether the music is wanted (`enabled`), whether it really
/// plays (`playing`: false once a file played once has ended, or failed), and its gain.
#[derive(Debug)]
pub struct Bus {
    /// The control handle.
    pub background: Background,
    config: Option<BackgroundConfig>,
    /// The music's loudness (LUFS) when `relative_lu` sets it: speech target + relative.
    music_lufs: Option<f32>,
    on: AtomicBool,
    gain_db: AtomicU32,
    /// The music source playing now, if any.
    music: Mutex<Option<SourceId>>,
}

fn play_for(b: &BackgroundConfig, gain_db: f32, music_lufs: Option<f32>) -> Play {
    Play::music()
        .gain_db(gain_db)
        .normalised(music_lufs)
        .looping(if b.looped {
            Looping::Gapless
        } else {
            Looping::Once
        })
        .ducked(b.ducking.is_some())
}

/// The sources crate's error, its kind kept (a missing file is invalid input, a full
/// command queue retryable, a gone mixer fatal).
fn to_err(e: voxpace_sources::Error) -> Error {
    Error::Source(e)
}

impl Bus {
    /// Put a mixer into `handle`'s background slot and start the configured music.
    /// `buffer` is the decoded audio kept ready per file (`None`: the sources default);
    /// rendering faster than real time wants seconds, since decoders top up in bursts.
    pub fn start(
        config: &Config,
        handle: &TrackHandle,
        buffer: Option<Duration>,
    ) -> Result<Bus, Error> {
        Self::start_with(config, handle, buffer, |mixer| Box::new(mixer))
    }

    /// [`Bus::start`], with the mixer wrapped by `wrap` before it goes into the track (how
    /// `render` records the bus for its loudness plot).
    pub fn start_with(
        config: &Config,
        handle: &TrackHandle,
        buffer: Option<Duration>,
        wrap: impl FnOnce(BackgroundMixer) -> Box<dyn Source>,
    ) -> Result<Bus, Error> {
        let b = config.background.clone();
        let ducking = b
            .as_ref()
            .and_then(|b| b.ducking)
            .map_or(Ducking::OFF, |d| Ducking {
                depth_db: -d.depth_db,
                attack: d.attack,
                hold: d.hold,
                release: d.release,
            });
        let (mixer, background) = BackgroundMixer::new(
            config.format,
            MixerConfig {
                ducking,
                buffer: buffer.unwrap_or(MixerConfig::default().buffer),
            },
        )
        .map_err(to_err)?;
        handle.set_background(Some(wrap(mixer)))?;
        let gain = b.as_ref().map_or(0.0, |b| b.gain_db);
        let target = config.loudness.and_then(|l| l.target_lufs);
        let music_lufs = b
            .as_ref()
            .and_then(|b| b.relative_lu)
            .and_then(|r| target.map(|t| t + r));
        let bus = Bus {
            background,
            music_lufs,
            on: AtomicBool::new(false),
            gain_db: AtomicU32::new(gain.to_bits()),
            config: b,
            music: Mutex::new(None),
        };
        if bus.config.is_some() {
            bus.set_enabled(true)?;
        }
        Ok(bus)
    }

    /// Play (from the start) or stop the configured music.
    pub fn set_enabled(&self, on: bool) -> Result<(), Error> {
        match (&self.config, on) {
            (Some(b), true) => {
                let id = self
                    .background
                    .play(&b.file, play_for(b, self.gain_db(), self.music_lufs))
                    .map_err(to_err)?;
                self.set_music(Some(id));
            }
            (None, true) => {
                return Err(Error::Audio {
                    path: Default::default(),
                    reason: "the configuration has no [background] to play".into(),
                })
            }
            (_, false) => {
                self.background.stop(STOP_FADE).map_err(to_err)?;
                self.set_music(None);
            }
        }
        self.on.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Play another file as the music (crossfading), with the configured options.
    pub fn play_file(&self, file: &std::path::Path) -> Result<(), Error> {
        let b = self.config.clone().unwrap_or(BackgroundConfig {
            file: file.to_path_buf(),
            gain_db: self.gain_db(),
            relative_lu: None,
            looped: true,
            ducking: None,
        });
        let id = self
            .background
            .play(file, play_for(&b, self.gain_db(), self.music_lufs))
            .map_err(to_err)?;
        self.set_music(Some(id));
        self.on.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn set_music(&self, id: Option<SourceId>) {
        *self.music.lock().unwrap_or_else(|e| e.into_inner()) = id;
    }

    /// Follow the sources' events: the music stops playing when its source finishes or
    /// fails (a replaced source's end is not the music's).
    pub fn observe(&self, event: &SourceEvent) {
        let ended = match event {
            SourceEvent::Failed { id, .. } | SourceEvent::Finished { id, .. } => *id,
            _ => return,
        };
        let mut music = self.music.lock().unwrap_or_else(|e| e.into_inner());
        if *music == Some(ended) {
            *music = None;
        }
    }

    /// Is music actually playing (not only wanted)?
    pub fn is_playing(&self) -> bool {
        self.music
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Change the music's level (ramped).
    pub fn set_gain_db(&self, db: f32) -> Result<(), Error> {
        self.gain_db.store(db.to_bits(), Ordering::Relaxed);
        if self.is_enabled() {
            self.background.set_gain_db(None, db).map_err(to_err)?;
        }
        Ok(())
    }

    /// Fire a clip on top.
    pub fn clip(&self, clip: &ClipConfig) -> Result<(), Error> {
        self.background
            .play_clip(&clip.file, Play::clip().gain_db(clip.gain_db))
            .map(drop)
            .map_err(to_err)
    }

    /// Is the music wanted (switched on by the configuration or the API)?
    pub fn is_enabled(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// The music's level in dB.
    pub fn gain_db(&self) -> f32 {
        f32::from_bits(self.gain_db.load(Ordering::Relaxed))
    }

    /// For rendering faster than real time: wait until every source has two frames decoded
    /// (a new source starts mixing only once it has two, so less would make its start
    /// depend on thread timing).
    pub fn wait_buffered(&self, format: Format) -> bool {
        self.background
            .wait_buffered(format.frame_duration() * 2, Duration::from_secs(10))
    }
}
