//! Shared by the plugin tests: build the plugin libraries (once per test binary, with the
//! same cargo and target directory as the tests) and find them by path; drive a track with
//! the conversation driver the plugin check uses.

#![allow(dead_code)] // each test binary uses part of this

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use voxpace_core::{Format, ReplyId, ReplyOutcome, Track, TrackConfig, TrackHandle};
use voxpace_sinks::conversation::{self, Pacing};

/// Every plugin crate the tests load, by directory name under `plugins/`.
pub const PLUGINS: &[&str] = &[
    "avatar",
    "speaker",
    "recorder",
    "template",
    "faulty-panic",
    "faulty-block",
    "faulty-kinds",
    "faulty-rejects-config",
    "faulty-abi-major",
    "abi-previous-minor",
    "abi-1-1",
    "abi-1-2",
];

/// `target/<profile>` of this test binary (`target/<profile>/deps/<test>-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Build every plugin with `cargo build -p ...` into this test binary's target directory.
/// `cargo test` from a fresh clone therefore works; prebuilt plugins are simply up to date.
fn build_plugins() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = profile_dir();
            let target = dir.parent().expect("target dir").to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
            let mut cmd = Command::new(cargo);
            cmd.current_dir(workspace)
                .arg("build")
                .arg("--quiet")
                .arg("--target-dir")
                .arg(&target);
            if dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            for p in PLUGINS {
                cmd.arg("-p").arg(format!("voxpace-plugin-{p}"));
            }
            let status = cmd.status().expect("run cargo build for the plugins");
            assert!(status.success(), "building the plugins failed: {cmd:?}");
            dir
        })
        .clone()
}

/// The built `.so` of plugin `name` (a directory under `plugins/`).
pub fn plugin(name: &str) -> PathBuf {
    assert!(PLUGINS.contains(&name), "unknown plugin {name}");
    let dir = build_plugins();
    let path = dir.join(format!("libvoxpace_plugin_{}.so", name.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// The target directory this test binary was built in.
pub fn target_dir() -> PathBuf {
    profile_dir().parent().expect("target dir").to_path_buf()
}

/// A scratch directory unique to one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("voxpace-sinks-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The conversation driver `plugin check` runs on, paced a little faster than real time
/// (sinks are real threads), with panicking shorthands for the tests.
pub struct Stage {
    pub handle: TrackHandle,
    inner: conversation::Stage,
}

impl Deref for Stage {
    type Target = conversation::Stage;
    fn deref(&self) -> &conversation::Stage {
        &self.inner
    }
}

impl DerefMut for Stage {
    fn deref_mut(&mut self) -> &mut conversation::Stage {
        &mut self.inner
    }
}

impl Stage {
    /// A 24 kHz mono track with `config`; 2 ms between frames.
    pub fn new(config: TrackConfig) -> Self {
        let format = Format::new(24_000, 1, 20).unwrap();
        let track = Track::new(format, config).unwrap();
        let inner = conversation::Stage::new(track, Pacing::Every(Duration::from_millis(2)));
        Self {
            handle: inner.handle().clone(),
            inner,
        }
    }

    /// Open a reply, push `samples` in 40 ms chunks, finish it.
    pub fn say(&mut self, samples: &[i16]) -> ReplyId {
        self.say_marked(samples, &[])
    }

    /// [`Stage::say`] with text marks `(offset, text)`, given before the audio.
    pub fn say_marked(&mut self, samples: &[i16], marks: &[(u64, &str)]) -> ReplyId {
        let mut reply = self.handle.open_reply().unwrap();
        for (offset, text) in marks {
            reply.mark(*offset, text).unwrap();
        }
        let id = reply.id();
        for chunk in samples.chunks(960) {
            conversation::push_now(&mut reply, chunk).unwrap();
        }
        reply.finish().unwrap();
        id
    }

    /// Render `n` frames as fast as the sinks allow: after each frame, wait until every
    /// sink handled what it got (the virtual-clock lockstep `voxpace render` uses).
    pub fn render_settled(&mut self, n: usize) {
        let pacing = self.inner.pacing();
        self.inner.set_pacing(Pacing::Virtual);
        for _ in 0..n {
            self.inner.render_frame();
            assert!(
                self.handle.wait_for_sinks(Duration::from_secs(20)),
                "a sink did not keep up"
            );
        }
        self.inner.set_pacing(pacing);
    }

    /// Like `until_finished`, in lockstep with the sinks.
    pub fn until_finished_settled(&mut self, reply: ReplyId, limit: usize) -> ReplyOutcome {
        for _ in 0..limit {
            if let Some(o) = self.outcome(reply) {
                return o;
            }
            self.render_settled(1);
        }
        self.outcome(reply)
            .unwrap_or_else(|| panic!("reply {reply:?} did not finish in {limit} frames"))
    }

    /// Open a reply, push `samples` in chunks of `chunk` values, finish it.
    pub fn say_in(&mut self, samples: &[i16], chunk: usize) -> ReplyId {
        self.inner.say(samples, chunk).unwrap()
    }

    /// Render until `reply` finished (at most `limit` frames); its outcome.
    pub fn until_finished(&mut self, reply: ReplyId, limit: u64) -> ReplyOutcome {
        self.inner
            .until_finished(reply, limit)
            .unwrap_or_else(|| panic!("reply {reply:?} did not finish in {limit} frames"))
    }

    /// The samples of every frame that carried speech, in order.
    pub fn speech_samples(&self) -> Vec<i16> {
        (0..self.frames.len())
            .filter(|&k| self.frames[k].speech)
            .flat_map(|k| self.frame_samples(k).iter().copied())
            .collect()
    }
}

/// Recognisable speech: no zero samples, different in every frame.
pub fn pattern(len: usize, seed: i32) -> Vec<i16> {
    (0..len as i32)
        .map(|i| {
            let t = i as f32 / 24_000.0;
            let tone = (2.0 * std::f32::consts::PI * 220.0 * t).sin() * 8000.0;
            let v = tone as i32 + (i * 7 + seed) % 97 + 1;
            if v == 0 {
                1
            } else {
                v as i16
            }
        })
        .collect()
}

/// The samples of a finalised WAV file (None while it is not finalised yet).
pub fn wav_samples(path: &Path, expect_at_least: usize) -> Option<Vec<i16>> {
    let reader = hound::WavReader::open(path).ok()?;
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .ok()?;
    (samples.len() >= expect_at_least).then_some(samples)
}
