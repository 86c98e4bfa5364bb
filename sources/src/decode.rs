//! Opening and decoding one audio file with symphonia, down-mixed to the track's channels.
//!
//! Runs on the caller's thread for [`probe`] and the first block (so a bad file fails at
//! `play` with a typed error), then on the source's worker thread. Never on the frame path.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::well_known as codec;
use symphonia::core::codecs::audio::{AudioCodecId, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

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

/// A streaming decoder of one file: each call to [`FileDecoder::next_block`] decodes one
/// packet and appends it, down-mixed to `out_channels` and as `f32`, to a buffer.
pub(crate) struct FileDecoder {
    pub(crate) info: FileInfo,
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    out_channels: usize,
    /// `out_channels × in_channels` gains, row-major; rebuilt if the layout changes.
    matrix: Vec<f32>,
    in_channels: usize,
    layout: Option<Channels>,
    scratch: Vec<f32>,
    decoded_frames: u64,
    expected_frames: Option<u64>,
    /// Where the next packet should start, in the track's time base.
    next_pts: Option<i64>,
    /// The first block, decoded by `open` to validate the file, handed out first.
    first: Vec<f32>,
    /// The open file, for [`FileDecoder::rewind`] (sources opened from a file).
    file: Option<SharedFile>,
}

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

    /// Open audio from any byte source; `path` only names it in errors. A panic inside
    /// the decoder library (malformed input it does not guard against) becomes
    /// [`Error::Corrupt`] instead of unwinding into the caller.
    pub(crate) fn from_source(
        path: &Path,
        source: Box<dyn MediaSource>,
        ext: Option<&str>,
        out_channels: usize,
    ) -> Result<Self, Error> {
        let guarded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Self::open_source(path, source, ext, out_channels)
        }));
        guarded.unwrap_or_else(|_| {
            Err(Error::Corrupt {
                path: path.to_path_buf(),
                decoded_ms: 0,
                detail: "the decoder library crashed on this data".into(),
            })
        })
    }

    fn open_source(
        path: &Path,
        source: Box<dyn MediaSource>,
        ext: Option<&str>,
        out_channels: usize,
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
        if let Some(rate) = params.sample_rate {
            check_rate(path, rate)?;
        }
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(_) => Error::Unsupported {
                    path: path_buf.clone(),
                    what: format!("the {} codec", codec_name(params.codec)),
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
            matrix: Vec::new(),
            in_channels: 0,
            layout: None,
            scratch: Vec::new(),
            decoded_frames: 0,
            expected_frames,
            next_pts: None,
            first: Vec::new(),
            file: None,
        };
        let mut first = Vec::new();
        if !this.decode_packet(&mut first)? {
            return Err(not_audio("the audio track holds no samples"));
        }
        this.first = first;
        this.info.duration = expected_frames.map(|n| frames_to_duration(n, this.info.sample_rate));
        Ok(this)
    }

    /// What was found when the file was opened.
    pub(crate) fn info(&self) -> &FileInfo {
        &self.info
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
                Err(other) => return Err(self.corrupt(other.to_string())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            // Demuxers resynchronise past damaged data silently; a jump in the timestamps
            // by more than a packet is that damage (playing on would click).
            let (pts, dur) = (packet.pts.get(), packet.dur.get() as i64);
            if let Some(expected) = self.next_pts {
                if pts > expected + dur.max(1) {
                    return Err(self.corrupt(format!(
                        "damaged data skipped by the demuxer (timestamps jump from {expected} to {pts})"
                    )));
                }
            }
            self.next_pts = Some(pts + dur);
            let buf = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                    let err = self.truncated();
                    return Err(err);
                }
                Err(other) => {
                    let err = self.corrupt(other.to_string());
                    return Err(err);
                }
            };
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
                self.in_channels = layout.count();
                if self.in_channels == 0 {
                    return Err(self.corrupt("a block with no channels".into()));
                }
                self.info.channels = self.in_channels;
                self.matrix = downmix_matrix(&layout, self.out_channels);
                self.layout = Some(layout);
            }
            buf.copy_to_vec_interleaved(&mut self.scratch);
            // Float files can hold NaN, infinities or absurd values (damaged or hostile);
            // they would poison the resampler's FFT. Anything beyond ±8 (+18 dBFS) is junk.
            for x in &mut self.scratch {
                *x = if x.is_finite() {
                    x.clamp(-8.0, 8.0)
                } else {
                    0.0
                };
            }
            mix_down(&self.scratch, self.in_channels, &self.matrix, out);
            self.decoded_frames += frames as u64;
            return Ok(true);
        }
    }

    /// End of stream: a file that stops well short of its announced length was cut off.
    fn at_end(&mut self) -> Result<bool, Error> {
        if let Some(expected) = self.expected_frames {
            // Codec delay and padding make the count differ by a few packets at most.
            let slack = (expected / 100).max(4_096);
            if self.decoded_frames + slack < expected {
                return Err(self.truncated());
            }
        }
        Ok(false)
    }
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

const HALF_POWER: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// The gains that fold a channel layout into mono or stereo, `out × in`, row-major.
///
/// Positioned layouts follow ITU-R BS.775: front left/right at unity, centre and surrounds
/// at -3 dB into their side(s), LFE dropped (it carries nothing a listener of background
/// music misses, and adding it muddies the mix). Mono input is duplicated at unity; mono
/// output is the mean of the stereo fold-down. Unlabelled (discrete) channels alternate
/// left/right.
pub(crate) fn downmix_matrix(layout: &Channels, out_channels: usize) -> Vec<f32> {
    let n = layout.count();
    let mut stereo: Vec<(f32, f32)> = Vec::with_capacity(n);
    match layout {
        _ if n == 1 => stereo.push((1.0, 1.0)),
        Channels::Positioned(positions) => {
            for bit in 0..64 {
                let Some(p) = Position::from_bits(1u64 << bit) else {
                    continue;
                };
                if positions.contains(p) {
                    stereo.push(position_gains(p));
                }
            }
        }
        _ if n == 2 => stereo.extend([(1.0, 0.0), (0.0, 1.0)]),
        _ => {
            // Discrete/unknown: even channels left, odd right, scaled so a full-scale signal
            // in every channel stays full scale.
            let per_side = n.div_ceil(2) as f32;
            for i in 0..n {
                stereo.push(if i % 2 == 0 {
                    (1.0 / per_side, 0.0)
                } else {
                    (0.0, 1.0 / per_side)
                });
            }
        }
    }
    if out_channels == 1 {
        stereo.iter().map(|(l, r)| (l + r) / 2.0).collect()
    } else {
        let mut m: Vec<f32> = stereo.iter().map(|(l, _)| *l).collect();
        m.extend(stereo.iter().map(|(_, r)| *r));
        m
    }
}

fn position_gains(p: Position) -> (f32, f32) {
    const H: f32 = HALF_POWER;
    match p {
        Position::FRONT_LEFT => (1.0, 0.0),
        Position::FRONT_RIGHT => (0.0, 1.0),
        Position::FRONT_CENTER => (H, H),
        Position::LFE1 | Position::LFE2 => (0.0, 0.0),
        Position::REAR_LEFT
        | Position::SIDE_LEFT
        | Position::FRONT_LEFT_CENTER
        | Position::FRONT_LEFT_WIDE
        | Position::TOP_FRONT_LEFT
        | Position::TOP_REAR_LEFT
        | Position::TOP_SIDE_LEFT
        | Position::BOTTOM_FRONT_LEFT => (H, 0.0),
        Position::REAR_RIGHT
        | Position::SIDE_RIGHT
        | Position::FRONT_RIGHT_CENTER
        | Position::FRONT_RIGHT_WIDE
        | Position::TOP_FRONT_RIGHT
        | Position::TOP_REAR_RIGHT
        | Position::TOP_SIDE_RIGHT
        | Position::BOTTOM_FRONT_RIGHT => (0.0, H),
        _ => (0.5, 0.5),
    }
}

/// Apply `matrix` (`out × in`) to interleaved `input`, appending to `out`.
pub(crate) fn mix_down(input: &[f32], in_channels: usize, matrix: &[f32], out: &mut Vec<f32>) {
    let out_channels = matrix.len() / in_channels;
    if in_channels == out_channels && matrix_is_identity(matrix, in_channels) {
        out.extend_from_slice(input);
        return;
    }
    out.reserve(input.len() / in_channels * out_channels);
    for frame in input.chunks_exact(in_channels) {
        for row in matrix.chunks_exact(in_channels) {
            out.push(row.iter().zip(frame).map(|(g, x)| g * x).sum());
        }
    }
}

fn matrix_is_identity(matrix: &[f32], n: usize) -> bool {
    matrix
        .iter()
        .enumerate()
        .all(|(i, g)| *g == if i / n == i % n { 1.0 } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_one_folds_centre_at_minus_3_db_and_drops_lfe() {
        let layout = Channels::Positioned(
            Position::FRONT_LEFT
                | Position::FRONT_RIGHT
                | Position::FRONT_CENTER
                | Position::LFE1
                | Position::SIDE_LEFT
                | Position::SIDE_RIGHT,
        );
        let m = downmix_matrix(&layout, 2);
        assert_eq!(m.len(), 12);
        // Input order: FL FR FC LFE SL SR.
        let mut out = Vec::new();
        mix_down(&[0.0, 0.0, 1.0, 1.0, 0.0, 0.0], 6, &m, &mut out);
        assert!((out[0] - HALF_POWER).abs() < 1e-6 && (out[1] - HALF_POWER).abs() < 1e-6);
        out.clear();
        mix_down(&[0.5, -0.5, 0.0, 0.0, 0.0, 0.0], 6, &m, &mut out);
        assert_eq!(out, vec![0.5, -0.5]);
        let mono = downmix_matrix(&layout, 1);
        out.clear();
        mix_down(&[0.0, 0.0, 1.0, 1.0, 0.0, 0.0], 6, &mono, &mut out);
        assert!((out[0] - HALF_POWER).abs() < 1e-6);
    }

    #[test]
    fn mono_is_duplicated_and_stereo_averaged() {
        let mut out = Vec::new();
        mix_down(
            &[0.25],
            1,
            &downmix_matrix(&Channels::Discrete(1), 2),
            &mut out,
        );
        assert_eq!(out, vec![0.25, 0.25]);
        out.clear();
        mix_down(
            &[0.5, 0.25],
            2,
            &downmix_matrix(&Channels::Discrete(2), 1),
            &mut out,
        );
        assert_eq!(out, vec![0.375]);
    }
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
