//! # voxpace-sources: background audio from files, and TTS audio of any rate
//!
//! Everything a voice agent mixes under (or feeds into) its speech track that does not come
//! ready in the track's format:
//!
//! - [`BackgroundMixer`] + [`Background`]: the background bus. The mixer is the
//!   [`voxpace_core::Source`] the track calls every frame; the handle plays files on it.
//!   - [`Background::play`]: background music from a file, with [`Play`] options: looping
//!     ([`Looping`]: once, gapless, or crossfaded at the seam), gain in dB, fade-in, and a
//!     crossfade when it replaces the current music. [`Background::stop`] fades it out.
//!   - [`Background::play_clip`] / [`Background::cancel`]: one-shot clips on top (a chime,
//!     a "thinking" loop while the LLM works).
//!   - [`Play::normalised`]: the file plays at a set loudness (LUFS, ITU-R BS.1770), measured
//!     on its worker thread before it starts, whatever its own level.
//!   - [`Ducking`]: the music drops by a set depth while the agent speaks (attack, hold,
//!     release), from `BusContext::speech_active`.
//!   - [`SourceEvents`] / [`SourceEvent`]: a file that breaks mid-stream fades out and is
//!     reported; the speech track keeps running. [`BackgroundStats`]: underruns and more.
//! - [`decode_stream`]: reply audio in any of these formats decoded while it arrives (an
//!   HTTP body), on a thread of its own, with back-pressure from the track to the bytes
//!   ([`StreamInput`] / [`StreamOutput`]); [`decode_file`] decodes a reply file whole; [`decode_reply`]
//!   also keeps what decoded before a break, and measures and normalises the file in
//!   floats before it becomes 16-bit (a true-peak limiter, not a clip, for what exceeds full
//!   scale).
//! - [`TtsResampler`]: a reply's PCM at 16, 22.05, 44.1 kHz or any rate, mono or stereo,
//!   converted to the track's format chunk by chunk, without seams.
//! - [`probe`] / [`FileInfo`]: check a file and read its rate, channels, codec, length.
//! - [`Error`]: typed errors that name the file (missing, not audio, unsupported, truncated,
//!   corrupt).
//!
//! ```no_run
//! use std::time::Duration;
//! use voxpace_core::{Format, Track, TrackConfig};
//! use voxpace_sources::{BackgroundConfig, BackgroundMixer, Play};
//!
//! let format = Format::new(24_000, 1, 20)?;
//! let track = Track::new(format, TrackConfig::default())?;
//! let (mixer, background) = BackgroundMixer::new(format, BackgroundConfig::default())?;
//! track.handle().set_background(Some(Box::new(mixer)))?;
//! background.play("music/lobby.mp3", Play::music().gain_db(-18.0))?;
//! let chime = background.play_clip("sounds/chime.wav", Play::clip())?;
//! background.stop(Duration::from_secs(2))?;
//! # let _ = chime;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Formats
//! Decoded with symphonia 0.6: WAV (PCM 16/24/32-bit integer and 32-bit float), FLAC, MP3,
//! Ogg Vorbis, AAC in MP4/M4A; 8 to 96 kHz; mono, stereo or more channels, folded down to
//! the track's layout by one matrix on every path (background, clip, [`decode_file`],
//! [`TtsResampler`]): ITU-R BS.775 gains (centre and surrounds at -3 dB, LFE dropped),
//! normalised so a side's gains sum to 1, so a 5.1 file plays at the level of its stereo
//! fold-down as ffmpeg writes it to 16-bit. MP4 encoder delay and padding are trimmed as the
//! container's edit list (`elst`) or `iTunSMPB` says, the edit's length (in movie ticks,
//! whole milliseconds from ffmpeg) made exact by the track's own sample table: AAC loops are
//! sample-exact against the same WAV, gapless, and start on time. Ogg/Opus is decoded by libopus with the `opus` feature (pre-skip and end trim
//! applied, 48 kHz); without it, and for ALAC, [`Error::Unsupported`] names the codec (and
//! the feature to build with).
//!
//! ## Damage
//! A packet that fails to decode (or data the demuxer resynchronises past) is skipped and
//! reported as [`SourceEvent::Damaged`]; where the container's timestamps say how much was
//! lost, that much silence takes its place (up to 2 s), so the file keeps its length. An MP3
//! that ends short of its announced length while holding every byte its Xing/Info tag
//! declares lost frames to damage (reported, skipped), not to a cut. A file that cannot go
//! on ends with
//! [`SourceEvent::Failed`]; a looping file that breaks restarts from the top up to
//! [`MAX_RESTARTS`] times in a row. Each event carries the track pts at which it was heard.
//! [`check_file`] decodes a whole file and says where it breaks.
//!
//! ## Real time
//! Each playing file has a worker thread that decodes, down-mixes and resamples (rubato
//! FFT resampler) into a bounded lock-free ring (rtrb); `fill` only reads the rings and
//! applies gains. A ring that runs dry plays silence for the background and counts an
//! underrun; speech is never held up. A worker parks once its ring is full and `fill` wakes
//! it when the ring is down to half; retired sources are freed (and reports sent) by one
//! janitor thread for the process, which `fill` wakes only when there is such work. No
//! thread wakes on a timer: a steady looping source costs 5 wake-ups a second (400 ms
//! buffer) and the janitor none ([`BackgroundStats`] counts both).
//!
//! ## Memory per playing source
//! Long files are streamed, never decoded whole. Per source: the ring,
//! `buffer × rate × channels × 4` bytes (default 400 ms: 38 KB at 24 kHz mono, 154 KB at
//! 48 kHz stereo), plus the decoder's packet and block buffers, symphonia's 64 KiB read
//! buffer and the resampler's FFT state. Measured with a counting allocator
//! (`tests/memory.rs`, one looping source, 48 kHz stereo track, 400 ms buffer): WAV
//! 372 KiB, MP3 422 KiB, AAC/M4A 466–531 KiB, FLAC 583 KiB, Ogg Vorbis 1.9 MiB (its
//! decoder's codebook tables); the same after 1 s and after 12 s of play, whatever the
//! file's length. Plus one worker thread (its stack is mapped lazily).
//!
//! ## Reply streams
//! [`decode_stream`] decodes a reply that is still arriving (an HTTP body, a TTS service's
//! MP3 or Ogg/Opus stream) on a thread of its own: bytes go in through a bounded pipe
//! (8 × 4 KiB) that symphonia reads as a non-seekable source, decoded blocks (down-mixed,
//! resampled, 16-bit, about a packet each) come out through a bounded channel (4 blocks).
//! Whoever pushes the blocks into a `ReplyWriter` therefore reads its input no faster than
//! the track plays: with nobody taking the output, the decoder holds about 96 KiB of input
//! (the pipe and symphonia's 64 KiB read-ahead) and stops reading. An MP4 must have its
//! `moov` box first (streamable MP4); its first ≤ 1 MiB is kept to read the gapless window,
//! then replayed to the demuxer. The samples equal [`decode_file`]'s of the same bytes.

//! ## Resampling quality
//! rubato's synchronous FFT resampler (fixed ratio, Blackman-Harris window), delay
//! compensated so output is sample-aligned with the input. A 1 kHz tone at -6 dBFS comes
//! out with an SNR (tone power over everything else, including the 16-bit output
//! quantisation, whose floor for this tone is about 92 dB) of **92–94 dB** from lossless
//! files at 8, 22.05, 44.1, 48 and 96 kHz into 8–48 kHz tracks, and **88–89 dB** through
//! [`TtsResampler`] (22.05 kHz into 8–48 kHz; its input is 16-bit too, so two rounding
//! floors add up to ~89 dB: the resampler itself is below both); frequency within 0.01 Hz, level within
//! 0.05 dB. `tests/formats.rs` and `tests/tts.rs` assert ≥ 85 dB. No listener hears that.

//! ## Cost
//! `cargo bench -p voxpace-sources` (release, one core of a shared 2-core machine, 48 kHz
//! stereo track): decode + resample takes 0.7–1.8 ms of CPU per second of audio (WAV
//! 0.7–1.5, Vorbis 1.4, FLAC/MP3/AAC 1.7–1.8) and mixing 0.25 ms per source per second, so
//! one core sustains roughly 500 compressed or 1000 PCM background sources in real time;
//! the frame path itself costs about 5 µs per source per 20 ms frame. Idle threads cost
//! nothing: in `voxpace serve` with 50 outputs looping a 24 kHz WAV under speech
//! (`cargo bench -p voxpace-transport --bench session`, N=50, per-thread
//! `/proc/<pid>/task/*/{schedstat,status}`), the 50 decoders woke about 5 times a second
//! each and used 0.23–0.26 s of CPU in ~22 s (1.1–1.3 s with the former 2–20 ms polling),
//! and the janitor woke once (about 5 000 times a second, 1.4–1.5 s, before).

mod codecs;
mod decode;
mod downmix;
mod dsp;
mod error;
mod events;
mod gapless;
mod janitor;
mod loudness;
mod mixer;
mod mp3_length;
#[cfg(feature = "opus")]
mod opus;
mod reply;
mod resample;
mod stream;
mod tts;
mod worker;

#[doc(hidden)]
pub mod fuzzing;

pub use codecs::OPUS;
pub use decode::{check_file, probe, FileCheck, FileInfo};
pub use dsp::Ducking;
pub use error::Error;
pub use events::{FinishReason, Recovery, SourceEvent, SourceEvents, SourceId};
pub use mixer::{
    Background, BackgroundConfig, BackgroundMixer, BackgroundStats, Looping, Play, MAX_VOICES,
};
pub use reply::{decode_file, decode_reply, ReplyAudio, ReplyLevel};
pub use stream::{decode_stream, Container, Decoded, StreamInput, StreamOutput};
pub use tts::{TtsResampler, TTS_RATES};
pub use worker::MAX_RESTARTS;
