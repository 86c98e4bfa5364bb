//! [`TtsResampler`]: TTS audio at whatever rate and layout the provider emits, converted to
//! the track's format chunk by chunk.

use std::time::Duration;

use voxpace_core::Format;

use crate::downmix::Downmix;
use crate::reply::push_i16;
use crate::resample::StreamResampler;
use crate::Error;

/// Input frames per resampler call: 10 ms of input keeps the added latency low.
const TTS_CHUNK_MS: u32 = 10;

/// Converts a reply's PCM (signed 16-bit, any rate from 4 to 192 kHz, any channel count) to
/// a track's format, in streaming fashion.
///
/// Feed each chunk the provider delivers to [`process`](Self::process) (or
/// [`process_bytes`](Self::process_bytes) for raw little-endian bytes) and push what it
/// returns into the reply's `ReplyWriter`; at the end of the reply push what
/// [`flush`](Self::flush) returns. Chunks may be any size, even odd byte counts or partial
/// stereo frames: the resampler's state carries across calls, so the output is the same
/// as converting the whole reply at once and has no seams at chunk boundaries. `n` input
/// frames become exactly `round(n × out_rate / in_rate)` output frames in total.
///
/// ```
/// # use voxpace_core::Format;
/// # use voxpace_sources::TtsResampler;
/// let format = Format::new(24_000, 1, 20)?;
/// let mut tts = TtsResampler::new(22_050, 1, format)?;
/// let mut out = Vec::new();
/// for chunk in [vec![0i16; 2205], vec![0i16; 1000]] {
///     out.extend_from_slice(tts.process(&chunk)); // reply.push_samples(...).await? here
/// }
/// out.extend_from_slice(tts.flush());
/// assert_eq!(out.len(), 3488); // 3205 frames at 22.05 kHz = 3488.4 frames at 24 kHz
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TtsResampler {
    in_rate: u32,
    in_channels: usize,
    format: Format,
    downmix: Downmix,
    resampler: StreamResampler,
    /// Samples of an incomplete input frame, carried to the next call.
    partial: Vec<i16>,
    odd_byte: Option<u8>,
    samples: Vec<i16>,
    input: Vec<f32>,
    mixed: Vec<f32>,
    out: Vec<i16>,
}

impl std::fmt::Debug for TtsResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtsResampler")
            .field("in_rate", &self.in_rate)
            .field("in_channels", &self.in_channels)
            .field("format", &self.format)
            .finish()
    }
}

/// The input sample rates [`TtsResampler`] takes, in Hz.
pub const TTS_RATES: std::ops::RangeInclusive<u32> = 4_000..=192_000;

impl TtsResampler {
    /// A converter from `in_rate` Hz with `in_channels` interleaved channels to `format`.
    pub fn new(in_rate: u32, in_channels: u16, format: Format) -> Result<Self, Error> {
        if !TTS_RATES.contains(&in_rate) {
            return Err(Error::InvalidArgument(format!(
                "TTS sample rate {in_rate} Hz is not in {}..={} Hz",
                TTS_RATES.start(),
                TTS_RATES.end()
            )));
        }
        if !(1..=8).contains(&in_channels) {
            return Err(Error::InvalidArgument(format!(
                "TTS audio with {in_channels} channels is not supported (1 to 8)"
            )));
        }
        let out_channels = format.channels() as usize;
        let chunk = (in_rate * TTS_CHUNK_MS / 1000) as usize;
        Ok(Self {
            in_rate,
            in_channels: in_channels as usize,
            format,
            downmix: Downmix::for_count(in_channels as usize, out_channels),
            resampler: StreamResampler::new(in_rate, format.sample_rate(), out_channels, chunk)?,
            partial: Vec::new(),
            odd_byte: None,
            samples: Vec::new(),
            input: Vec::new(),
            mixed: Vec::new(),
            out: Vec::new(),
        })
    }

    /// The format of what comes out.
    pub fn output_format(&self) -> Format {
        self.format
    }

    /// How long audio stays inside the converter before it comes out (0 when only the
    /// channel layout changes).
    pub fn latency(&self) -> Duration {
        let frames = self.resampler.latency_frames() as u64;
        Duration::from_micros(frames * 1_000_000 / self.in_rate as u64)
    }

    /// Convert the next chunk of interleaved samples; returns the converted samples ready
    /// now (possibly none: the resampler collects about 10 ms before it emits).
    pub fn process(&mut self, samples: &[i16]) -> &[i16] {
        self.out.clear();
        self.convert(samples);
        &self.out
    }

    /// [`process`](Self::process) for raw signed 16-bit little-endian bytes; an odd byte is
    /// kept for the next call.
    pub fn process_bytes(&mut self, bytes: &[u8]) -> &[i16] {
        let mut samples = std::mem::take(&mut self.samples);
        samples.clear();
        let mut rest = bytes;
        if let (Some(lo), Some((&hi, tail))) = (self.odd_byte, rest.split_first()) {
            samples.push(i16::from_le_bytes([lo, hi]));
            self.odd_byte = None;
            rest = tail;
        }
        let pairs = rest.chunks_exact(2);
        if let [b] = pairs.remainder() {
            self.odd_byte = Some(*b);
        }
        samples.extend(pairs.map(|p| i16::from_le_bytes([p[0], p[1]])));
        self.out.clear();
        self.convert(&samples);
        self.samples = samples;
        &self.out
    }

    /// End of the reply: returns the rest of the converted audio and resets the converter
    /// for the next reply. An incomplete trailing frame or odd byte is dropped.
    pub fn flush(&mut self) -> &[i16] {
        self.out.clear();
        let out = &mut self.out;
        self.resampler.flush(&mut |o| push_i16(out, o));
        self.partial.clear();
        self.odd_byte = None;
        &self.out
    }

    /// Forget everything buffered without output (the reply was interrupted).
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.partial.clear();
        self.odd_byte = None;
        self.out.clear();
    }

    fn convert(&mut self, samples: &[i16]) {
        let ch = self.in_channels;
        self.input.clear();
        let mut rest = samples;
        if !self.partial.is_empty() {
            let need = (ch - self.partial.len()).min(rest.len());
            self.partial.extend_from_slice(&rest[..need]);
            rest = &rest[need..];
            if self.partial.len() < ch {
                return;
            }
            self.input
                .extend(self.partial.iter().map(|s| *s as f32 / 32_768.0));
            self.partial.clear();
        }
        let whole = rest.len() - rest.len() % ch;
        self.partial.extend_from_slice(&rest[whole..]);
        self.input
            .extend(rest[..whole].iter().map(|s| *s as f32 / 32_768.0));
        self.mixed.clear();
        self.downmix.apply(&self.input, &mut self.mixed);
        let out = &mut self.out;
        self.resampler.push(&self.mixed, &mut |o| push_i16(out, o));
    }
}
