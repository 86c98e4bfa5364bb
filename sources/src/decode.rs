//! Opening and decoding one audio file with symphonia, down-mixed to the track's channels.
//!
//! Runs on the caller's thread for [`probe`] and the first block (so a bad file fails at
//! `play` with a typed error), then on the source's worker thread. Never on the frame path.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use symphonia::core::audio::Channels;
use symphonia::core::codecs::audio::well_known as codec;
use symphonia::core::codecs::audio::{AudioCodecId, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use crate::downmix::Downmix;
use crate::gapless;
use crate::mp3_length;
use crate::Error;

/// Lowest and highest file sample rates accepted.
pub(crate) const FILE_RATES: std::ops::RangeInclusive<u32> = 8_000..=96_000;

/// What [`probe`] found out about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileInfo {
    /// The file.
    pub path: PathBuf,
    /// The codec's short name (`"flac"`, `"mp3"`, `"aac"`, `"vorbis"`, `"pcm_s24le"`, ...).
    pub codec: String,
    /// The file's sample rate in Hz.
    pub sample_rate: u32,
    /// The file's channel count (before down-mixing).
    pub channels: usize,
    /// The length announced by the container, when it announces one.
    pub duration: Option<Duration>,
}

/// Open `path`, check that it is audio this crate can decode, decode its first block and
/// describe it. The same checks [`Background::play`](crate::Background::play) makes.
pub fn probe(path: impl AsRef<Path>) -> Result<FileInfo, Error> {
    FileDecoder::open(path.as_ref(), 1).map(|d| d.info)
}

/// What decoding a whole file found (from [`check_file`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FileCheck {
    /// What the file is.
    pub info: FileInfo,
    /// How much audio decoded.
    pub decoded: Duration,
    /// False when decoding stopped at the limit before the end of the file.
    pub complete: bool,
    /// Damage that was skipped (playback goes on past it, with a glitch): where, and what
    /// ([`Error::Corrupt`]).
    pub damage: Vec<(Duration, Error)>,
}

/// Decode `path` whole, as playing it would (or its first `limit` of audio), and report
/// where it breaks: `Err` when it cannot be played to its end (cut off, unreadable: the
/// error says after how much audio), `Ok` with the damage that playback skips otherwise.
pub fn check_file(path: impl AsRef<Path>, limit: Option<Duration>) -> Result<FileCheck, Error> {
    let mut d = FileDecoder::open(path.as_ref(), 1)?;
    let mut damage = Vec::new();
    let mut block = Vec::new();
    let limit_frames = limit.map(|l| (l.as_secs_f64() * d.sample_rate() as f64) as u64);
    let mut complete = true;
    loop {
        block.clear();
        let more = d.next_block(&mut block);
        damage.extend(d.take_damage().into_iter().map(|x| (x.at, x.error)));
        if !more? {
            break;
        }
        if limit_frames.is_some_and(|l| d.decoded_frames >= l) {
            complete = false;
            break;
        }
    }
    Ok(FileCheck {
        decoded: frames_to_duration(d.decoded_frames, d.sample_rate()),
        info: d.info,
        complete,
        damage,
    })
}

/// A streaming decoder of one file: each call to [`FileDecoder::next_block`] decodes one
/// packet and appends it, down-mixed to `out_channels` and as `f32`, to a buffer.
///
/// Damage the decoder can resynchronise past (a packet that fails to decode, data the
/// demuxer skips) is recorded in [`FileDecoder::take_damage`] and decoding goes on; only a
/// file that cannot go on (cut off, unreadable) ends with an error.
pub(crate) struct FileDecoder {
    pub(crate) info: FileInfo,
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    out_channels: usize,
    /// The fold-down of the current layout; rebuilt if the layout changes.
    downmix: Option<Downmix>,
    layout: Option<Channels>,
    scratch: Vec<f32>,
    decoded_frames: u64,
    expected_frames: Option<u64>,
    /// Where the next packet should start, in the track's time base.
    next_pts: Option<i64>,
    /// The track's time base as (numerator, denominator) seconds per tick.
    time_base: Option<(u64, u64)>,
    /// The frames the container says are real (MP4 edit list / iTunSMPB), in frames from
    /// the first decoded one: everything outside is encoder delay or padding.
    window: Option<gapless::Window>,
    /// Damage skipped since the last `take_damage`.
    damage: Vec<Damage>,
    /// Damaged packets in a row (a stream that never resynchronises is given up on).
    errors_in_row: u32,
    /// Where the last decoded packet ended, in frames of the file (before trimming), and
    /// whether packets were lost since: the next good packet is placed where its timestamp
    /// says, after silence for what was lost, so the file keeps its length and timing (a
    /// reply's text marks, a loop's tempo).
    played_to: Option<u64>,
    lost_since: bool,
    /// The first block, decoded by `open` to validate the file, handed out first.
    first: Vec<f32>,
    /// The open file, for [`FileDecoder::rewind`] (sources opened from a file).
    file: Option<SharedFile>,
    /// Whether the file holds every byte its header declares (MP3's Xing/Info tag); `None`
    /// when that is not known. A file that does, yet ends short of its announced length,
    /// lost frames to damage (skipped by the demuxer), not to a cut.
    all_bytes_present: Option<bool>,
}

/// Damage the decoder skipped and went on from.
#[derive(Debug, Clone)]
pub(crate) struct Damage {
    /// Decoded audio (file time) before the damage.
    pub(crate) at: Duration,
    /// What was wrong ([`Error::Corrupt`]).
    pub(crate) error: Error,
}

/// Damaged packets in a row after which a stream is taken as unrecoverable.
const MAX_ERRORS_IN_ROW: u32 = 64;
/// The longest loss filled with silence, in seconds (a longer jump is played as a jump).
const MAX_FILL_S: u64 = 2;
/// Damage reports kept per pass (more are counted into the last one's message).
const MAX_DAMAGE_REPORTS: usize = 16;

impl std::fmt::Debug for FileDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDecoder")
            .field("info", &self.info)
            .finish()
    }
}

impl FileDecoder {
    /// Open and validate `path`; output will be down-mixed to `out_channels` (1 or 2).
    pub(crate) fn open(path: &Path, out_channels: usize) -> Result<Self, Error> {
        let path_buf = path.to_path_buf();
        let io_err = |e: std::io::Error| match e.kind() {
            ErrorKind::NotFound => Error::NotFound {
                path: path_buf.clone(),
            },
            _ => Error::Io {
                path: path_buf.clone(),
                message: e.to_string(),
            },
        };
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if !meta.is_file() {
            return Err(Error::Io {
                path: path_buf,
                message: "not a regular file".into(),
            });
        }
        let file = SharedFile::new(File::open(path).map_err(io_err)?, meta.len());
        let ext = path.extension().and_then(|e| e.to_str());
        let mut decoder = Self::from_source(path, Box::new(file.rewound()), ext, out_channels)?;
        decoder.file = Some(file);
        Ok(decoder)
    }

    /// A decoder at the start of the same file, for the next pass of a loop. It reads the
    /// file this one opened rather than opening it again, so a looping source keeps playing
    /// when the process is out of file descriptors or the file was moved or deleted.
    pub(crate) fn rewind(&self) -> Result<Self, Error> {
        let Some(file) = &self.file else {
            return Self::open(&self.info.path, self.out_channels);
        };
        let path = self.info.path.clone();
        let ext = path.extension().and_then(|e| e.to_str());
        let mut decoder =
            Self::from_source(&path, Box::new(file.rewound()), ext, self.out_channels)?;
        decoder.file = Some(file.rewound());
        Ok(decoder)
    }

    /// Open audio from any byte source; `path` only names it in errors. A seekable source
    /// has its MP4 gapless window read first. A panic inside the decoder library (malformed
    /// input it does not guard against) becomes [`Error::Corrupt`] instead of unwinding into
    /// the caller.
    pub(crate) fn from_source(
        path: &Path,
        source: Box<dyn MediaSource>,
        ext: Option<&str>,
        out_channels: usize,
    ) -> Result<Self, Error> {
        let mut source = source;
        let (window, all_bytes_present) = if source.is_seekable() {
            let present = match (mp3_length::declared(&mut source), source.byte_len()) {
                (Some((bytes, from)), Some(len)) => Some(len >= from.saturating_add(bytes)),
                _ => None,
            };
            (gapless::read_mp4(&mut source), present)
        } else {
            (None, None)
        };
        let mut decoder = Self::open_stream(path, source, ext, out_channels, window)?;
        decoder.all_bytes_present = all_bytes_present;
        Ok(decoder)
    }

    /// Open audio from `source` (seekable or not) whose MP4 gapless window, if any, the
    /// caller has read already; panics inside the decoder library become errors.
    pub(crate) fn open_stream(
        path: &Path,
        source: Box<dyn MediaSource>,
        ext: Option<&str>,
        out_channels: usize,
        window: Option<gapless::Window>,
    ) -> Result<Self, Error> {
        let guarded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::open_with_window(path, source, ext, out_channels, window)
        }));
        guarded.unwrap_or_else(|_| {
            Err(Error::Corrupt {
                path: path.to_path_buf(),
                decoded_ms: 0,
                detail: "the decoder library crashed on this data".into(),
            })
        })
    }

    fn open_with_window(
        path: &Path,
        source: Box<dyn MediaSource>,
        ext: Option<&str>,
        out_channels: usize,
        window: Option<gapless::Window>,
    ) -> Result<Self, Error> {
        let path_buf = path.to_path_buf();
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = ext {
            hint.with_extension(ext);
        }
        let not_audio = |reason: &str| Error::NotAudio {
            path: path_buf.clone(),
            reason: reason.to_string(),
        };
        let reader = symphonia::default::get_probe()
            .probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymError::Unsupported(why) if why.contains("moov") => not_audio(
                    "an MP4 whose moov box follows its media data cannot be read as a stream (write it with `-movflags +faststart`, or as fragmented MP4)",
                ),
                SymError::Unsupported(_) => not_audio("no known audio container format"),
                SymError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
                    not_audio("too short to hold audio")
                }
                SymError::IoError(io) => Error::Io {
                    path: path_buf.clone(),
                    message: io.to_string(),
                },
                other => not_audio(&format!("unreadable container: {other}")),
            })?;
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| not_audio("the container holds no audio track"))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| not_audio("the container holds no audio track"))?
            .clone();
        let track_id = track.id;
        let expected_frames = track.num_frames;
        let time_base = track
            .time_base
            .map(|tb| (tb.numer.get() as u64, tb.denom.get() as u64));
        if let Some(rate) = params.sample_rate {
            check_rate(path, rate)?;
        }
        let decoder = crate::codecs::registry()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(why)
                    if crate::codecs::registry()
                        .get_audio_decoder(params.codec)
                        .is_some() =>
                {
                    Error::Unsupported {
                        path: path_buf.clone(),
                        what: format!("this {} stream ({why})", codec_name(params.codec)),
                    }
                }
                SymError::Unsupported(_) => Error::Unsupported {
                    path: path_buf.clone(),
                    what: format!(
                        "the {} codec{}",
                        codec_name(params.codec),
                        crate::codecs::missing_hint(params.codec)
                    ),
                },
                other => Error::Corrupt {
                    path: path_buf.clone(),
                    decoded_ms: 0,
                    detail: format!("bad codec parameters: {other}"),
                },
            })?;
        let info = FileInfo {
            path: path_buf.clone(),
            codec: decoder.codec_info().short_name.to_string(),
            sample_rate: params.sample_rate.unwrap_or(0),
            channels: params.channels.as_ref().map_or(0, |c| c.count()),
            duration: None,
        };
        let mut this = Self {
            info,
            reader,
            decoder,
            track_id,
            out_channels,
            downmix: None,
            layout: None,
            scratch: Vec::new(),
            decoded_frames: 0,
            expected_frames,
            next_pts: None,
            time_base,
            window,
            damage: Vec::new(),
            errors_in_row: 0,
            played_to: None,
            lost_since: false,
            first: Vec::new(),
            file: None,
            all_bytes_present: None,
        };
        let mut first = Vec::new();
        if !this.decode_packet(&mut first)? {
            return Err(not_audio("the audio track holds no samples"));
        }
        this.first = first;
        // The container's count includes encoder delay and padding where it marks them.
        let real_frames = match (window.and_then(|w| w.len), time_base) {
            (Some(len), Some((numer, denom))) => {
                Some(ticks_to_frames(len, numer, denom, this.info.sample_rate))
            }
            _ => expected_frames,
        };
        this.info.duration = real_frames.map(|n| frames_to_duration(n, this.info.sample_rate));
        Ok(this)
    }

    /// The file's sample rate (known after `open`).
    pub(crate) fn sample_rate(&self) -> u32 {
        self.info.sample_rate
    }

    /// Decode the next block and append it to `out` (interleaved, `out_channels`).
    /// `Ok(false)` at the end of the file; a damaged or cut-off file is an error.
    pub(crate) fn next_block(&mut self, out: &mut Vec<f32>) -> Result<bool, Error> {
        if !self.first.is_empty() {
            out.append(&mut self.first);
            return Ok(true);
        }
        let guarded =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.decode_packet(out)));
        guarded.unwrap_or_else(|_| {
            Err(self.corrupt("the decoder library crashed on this data".into()))
        })
    }

    fn decoded_ms(&self) -> u64 {
        frames_to_duration(self.decoded_frames, self.info.sample_rate).as_millis() as u64
    }

    fn truncated(&self) -> Error {
        Error::Truncated {
            path: self.info.path.clone(),
            decoded_ms: self.decoded_ms(),
            expected_ms: self
                .expected_frames
                .map(|n| frames_to_duration(n, self.info.sample_rate).as_millis() as u64),
        }
    }

    fn corrupt(&self, detail: String) -> Error {
        Error::Corrupt {
            path: self.info.path.clone(),
            decoded_ms: self.decoded_ms(),
            detail,
        }
    }

    /// Record damage that was skipped; decoding goes on.
    fn skipped(&mut self, detail: String) -> Result<(), Error> {
        self.errors_in_row += 1;
        let error = self.corrupt(detail);
        if self.errors_in_row > MAX_ERRORS_IN_ROW {
            return Err(error);
        }
        if self.damage.len() < MAX_DAMAGE_REPORTS {
            self.damage.push(Damage {
                at: frames_to_duration(self.decoded_frames, self.info.sample_rate),
                error,
            });
        }
        Ok(())
    }

    /// Damage skipped since the last call (oldest first).
    pub(crate) fn take_damage(&mut self) -> Vec<Damage> {
        std::mem::take(&mut self.damage)
    }

    fn decode_packet(&mut self, out: &mut Vec<f32>) -> Result<bool, Error> {
        loop {
            let packet = match self.reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => return self.at_end(),
                Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                    return Err(self.truncated())
                }
                Err(SymError::IoError(e)) => {
                    return Err(Error::Io {
                        path: self.info.path.clone(),
                        message: e.to_string(),
                    })
                }
                Err(SymError::ResetRequired) => {
                    return Err(Error::Unsupported {
                        path: self.info.path.clone(),
                        what: "a stream whose track layout changes mid-file".into(),
                    })
                }
                // The demuxer lost sync on damaged data; its next call looks for the next
                // packet (bounded by MAX_ERRORS_IN_ROW).
                Err(SymError::DecodeError(what)) => {
                    self.skipped(format!("damaged container data skipped ({what})"))?;
                    continue;
                }
                Err(other) => return Err(self.corrupt(other.to_string())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            // Demuxers resynchronise past damaged data silently; a jump in the timestamps
            // is that damage: report it and play on. Half a packet of slack: one lost packet
            // (a FLAC frame whose checksum failed) is a jump of exactly one packet.
            let (pts, dur) = (packet.pts.get(), packet.block_dur().get() as i64);
            if let Some(expected) = self.next_pts {
                if pts > expected + (dur / 2).max(1) {
                    self.skipped(format!(
                        "damaged data skipped by the demuxer (timestamps jump from {expected} to {pts})"
                    ))?;
                    self.lost_since = true;
                }
            }
            self.next_pts = Some(pts + dur);
            let buf = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                // A packet that does not decode: skip it, the next one decodes on its own.
                // The packet is whole in memory, so an I/O error from the decoder is its
                // bitstream running out inside the packet (symphonia's "unexpected end of
                // bitstream" when damaged side information points past the frame), never
                // the file's end: a cut-off file is told by the demuxer and by `at_end`.
                Err(SymError::DecodeError(what)) => {
                    self.skipped(format!("a damaged packet was skipped ({what})"))?;
                    self.lost_since = true;
                    continue;
                }
                Err(SymError::IoError(e)) => {
                    self.skipped(format!("a damaged packet was skipped ({e})"))?;
                    self.lost_since = true;
                    continue;
                }
                // Past the first packet the stream is known to decode: a packet claiming a
                // feature the decoder lacks is damage too (an AAC bit flip that reads as a
                // program config element).
                Err(SymError::Unsupported(what)) if self.played_to.is_some() => {
                    self.skipped(format!("a damaged packet was skipped ({what})"))?;
                    self.lost_since = true;
                    continue;
                }
                Err(other) => return Err(self.corrupt(other.to_string())),
            };
            self.errors_in_row = 0;
            let frames = buf.frames();
            if frames == 0 {
                continue;
            }
            let spec = buf.spec();
            let rate = spec.rate();
            if self.info.sample_rate == 0 {
                check_rate(&self.info.path, rate)?;
                self.info.sample_rate = rate;
            } else if rate != self.info.sample_rate {
                return Err(Error::Unsupported {
                    path: self.info.path.clone(),
                    what: format!(
                        "a sample rate change mid-stream ({} Hz to {rate} Hz)",
                        self.info.sample_rate
                    ),
                });
            }
            if self.layout.as_ref() != Some(spec.channels()) {
                let layout = spec.channels().clone();
                if layout.count() == 0 {
                    return Err(self.corrupt("a block with no channels".into()));
                }
                self.info.channels = layout.count();
                self.downmix = Some(Downmix::new(&layout, self.out_channels));
                self.layout = Some(layout);
            }
            buf.copy_to_vec_interleaved(&mut self.scratch);
            let in_channels = self.info.channels;
            let to_frames = |t: u64| match self.time_base {
                Some((numer, denom)) => ticks_to_frames(t, numer, denom, rate),
                None => t,
            };
            let first_frame = to_frames(pts.max(0) as u64);
            // Encoder delay and padding the container marks (MP4 edit list, iTunSMPB):
            // keep only the frames of this packet that are inside the real audio.
            let keep = |first: u64, n: u64| match (&self.window, self.time_base) {
                (Some(w), Some(_)) => w.keep(first, n, to_frames),
                _ => (0, n as usize),
            };
            let (keep_from, keep_to) = keep(first_frame, frames as u64);
            // Silence for the packets lost since the last good one (at most MAX_FILL_S).
            let lost = match self.played_to {
                Some(to) if self.lost_since && self.time_base.is_some() => {
                    let gap = first_frame.saturating_sub(to);
                    if gap <= rate as u64 * MAX_FILL_S {
                        let (a, b) = keep(to, gap);
                        b - a
                    } else {
                        0
                    }
                }
                _ => 0,
            };
            self.played_to = Some(first_frame + frames as u64);
            self.lost_since = false;
            out.resize(out.len() + lost * self.out_channels, 0.0);
            self.decoded_frames += lost as u64;
            if keep_to <= keep_from {
                continue;
            }
            let kept = &mut self.scratch[keep_from * in_channels..keep_to * in_channels];
            // Float files can hold NaN, infinities or absurd values (damaged or hostile);
            // they would poison the resampler's FFT. Anything beyond ±8 (+18 dBFS) is junk.
            for x in kept.iter_mut() {
                *x = if x.is_finite() {
                    x.clamp(-8.0, 8.0)
                } else {
                    0.0
                };
            }
            self.downmix
                .as_ref()
                .expect("set with the layout")
                .apply(kept, out);
            self.decoded_frames += (keep_to - keep_from) as u64;
            return Ok(true);
        }
    }

    /// End of stream: a file that stops well short of its announced length was cut off.
    fn at_end(&mut self) -> Result<bool, Error> {
        if let Some(expected) = self.expected_frames {
            // Codec delay and padding make the count differ by a few packets at most.
            // Damage skipped on the way counts as reached (the timestamps say how far).
            let slack = (expected / 100).max(4_096);
            let reached = match (self.next_pts, self.time_base) {
                (Some(pts), Some((numer, denom))) => {
                    ticks_to_frames(pts.max(0) as u64, numer, denom, self.info.sample_rate)
                }
                _ => 0,
            };
            let reached = self.decoded_frames.max(reached);
            if reached + slack < expected {
                if self.all_bytes_present != Some(true) {
                    return Err(self.truncated());
                }
                // Every byte is there: the missing audio is frames the demuxer skipped as
                // damaged (an MP3 frame whose header was hit resynchronises silently).
                let missing = frames_to_duration(expected - reached, self.info.sample_rate);
                self.errors_in_row = 0;
                self.skipped(format!(
                    "damaged frames skipped by the demuxer ({} ms of the announced length missing)",
                    missing.as_millis()
                ))?;
            }
        }
        Ok(false)
    }
}

/// Ticks of a `numer / denom` seconds time base as frames at `rate`.
fn ticks_to_frames(ticks: u64, numer: u64, denom: u64, rate: u32) -> u64 {
    (ticks as u128 * numer as u128 * rate as u128 / denom.max(1) as u128) as u64
}

fn check_rate(path: &Path, rate: u32) -> Result<(), Error> {
    if FILE_RATES.contains(&rate) {
        Ok(())
    } else {
        Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: format!("a sample rate of {rate} Hz (8000 to 96000 Hz are supported)"),
        })
    }
}

fn frames_to_duration(frames: u64, rate: u32) -> Duration {
    if rate == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos((frames as u128 * 1_000_000_000 / rate as u128) as u64)
}

fn codec_name(id: AudioCodecId) -> String {
    let name = match id {
        codec::CODEC_ID_OPUS => "Opus",
        codec::CODEC_ID_ALAC => "ALAC",
        codec::CODEC_ID_WAVPACK => "WavPack",
        codec::CODEC_ID_AC3 => "AC-3",
        codec::CODEC_ID_EAC3 => "E-AC-3",
        codec::CODEC_ID_MP1 => "MPEG-1 Layer I",
        codec::CODEC_ID_MP2 => "MPEG-1 Layer II",
        codec::CODEC_ID_ADPCM_IMA_WAV => "IMA ADPCM",
        _ => return format!("unknown ({id})"),
    };
    name.to_string()
}

/// One open file read by every pass of a looping source, each at its own position
/// (positional reads, so passes never disturb each other and no second descriptor is needed).
#[derive(Debug, Clone)]
struct SharedFile {
    file: std::sync::Arc<File>,
    len: u64,
    pos: u64,
}

impl SharedFile {
    fn new(file: File, len: u64) -> Self {
        Self {
            file: std::sync::Arc::new(file),
            len,
            pos: 0,
        }
    }

    /// The same file, read from its start.
    fn rewound(&self) -> Self {
        Self {
            pos: 0,
            ..self.clone()
        }
    }
}

impl std::io::Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for SharedFile {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(p) => Some(p),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(ErrorKind::InvalidInput, "seek before the start of the file")
        })?;
        Ok(self.pos)
    }
}

impl MediaSource for SharedFile {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}
