//! A streaming, delay-compensated wrapper around rubato's FFT resampler.
//!
//! Input arrives in blocks of any size; output is emitted as soon as a resampler chunk is
//! complete. The resampler's own delay is dropped from the start of the output and made up
//! with silence in [`StreamResampler::flush`], so `n` input frames become exactly
//! `round(n × out_rate / in_rate)` output frames, aligned with the input. All buffers are
//! allocated in `new`; `push` and `flush` do not allocate.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::Error;

pub(crate) struct StreamResampler {
    channels: usize,
    /// `None` when the rates are equal: samples pass straight through.
    fft: Option<Fft<f32>>,
    /// Input frames per resampler call.
    chunk: usize,
    input: Vec<f32>,
    output: Vec<f32>,
    out_capacity: usize,
    delay: usize,
    /// Output frames still to drop at the start (the resampler's delay).
    skip: usize,
    in_rate: u64,
    out_rate: u64,
    in_frames: u64,
    out_frames: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("in_rate", &self.in_rate)
            .field("out_rate", &self.out_rate)
            .field("channels", &self.channels)
            .field("chunk", &self.chunk)
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `in_rate` to `out_rate` for interleaved `channels`, processing
    /// about `chunk` input frames at a time (the latency/efficiency trade-off).
    pub(crate) fn new(
        in_rate: u32,
        out_rate: u32,
        channels: usize,
        chunk: usize,
    ) -> Result<Self, Error> {
        if in_rate == 0 || out_rate == 0 || channels == 0 {
            return Err(Error::InvalidArgument(format!(
                "cannot resample {in_rate} Hz to {out_rate} Hz with {channels} channels"
            )));
        }
        let (fft, chunk, out_capacity, delay) = if in_rate == out_rate {
            (None, chunk, 0, 0)
        } else {
            let fft = Fft::<f32>::new(
                in_rate as usize,
                out_rate as usize,
                chunk.max(1),
                channels,
                FixedSync::Both,
            )
            .map_err(|e| {
                Error::InvalidArgument(format!(
                    "cannot resample {in_rate} Hz to {out_rate} Hz: {e}"
                ))
            })?;
            let chunk = fft.input_frames_next();
            let out_capacity = fft.output_frames_max();
            let delay = fft.output_delay();
            (Some(fft), chunk, out_capacity, delay)
        };
        Ok(Self {
            channels,
            fft,
            chunk,
            input: Vec::with_capacity(chunk * channels),
            output: vec![0.0; out_capacity * channels],
            out_capacity,
            delay,
            skip: delay,
            in_rate: in_rate as u64,
            out_rate: out_rate as u64,
            in_frames: 0,
            out_frames: 0,
        })
    }

    /// Frames of input the resampler holds before it can emit (its latency, in input frames,
    /// including the filter delay).
    pub(crate) fn latency_frames(&self) -> usize {
        if self.fft.is_none() {
            return 0;
        }
        self.chunk + (self.delay as u64 * self.in_rate / self.out_rate) as usize
    }

    /// Feed interleaved `input` (a whole number of frames); `emit` receives output as it
    /// becomes available.
    pub(crate) fn push(&mut self, mut input: &[f32], emit: &mut dyn FnMut(&[f32])) {
        debug_assert_eq!(input.len() % self.channels, 0);
        self.in_frames += (input.len() / self.channels) as u64;
        if self.fft.is_none() {
            self.out_frames += (input.len() / self.channels) as u64;
            emit(input);
            return;
        }
        let full = self.chunk * self.channels;
        while !input.is_empty() {
            let take = (full - self.input.len()).min(input.len());
            self.input.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.input.len() == full {
                self.process(None, emit);
                self.input.clear();
            }
        }
    }

    /// Emit everything still inside the resampler, ending the output exactly where the input
    /// ended, then get ready for a new, unrelated stream.
    pub(crate) fn flush(&mut self, emit: &mut dyn FnMut(&[f32])) {
        if self.fft.is_some() {
            let target = (self.in_frames * self.out_rate + self.in_rate / 2) / self.in_rate;
            let mut partial = self.input.len() / self.channels;
            // Zero chunks push the tail (held back by the filter delay) out.
            while self.out_frames < target {
                let before = self.out_frames;
                self.process(Some((partial, target)), emit);
                partial = 0;
                if self.out_frames == before && self.skip == 0 {
                    break;
                }
            }
        }
        self.reset();
    }

    /// Forget all state without emitting anything (an interrupted stream).
    pub(crate) fn reset(&mut self) {
        if let Some(fft) = self.fft.as_mut() {
            fft.reset();
        }
        self.input.clear();
        self.skip = self.delay;
        self.in_frames = 0;
        self.out_frames = 0;
    }

    /// One resampler call on `self.input`; `partial` = (valid input frames, output limit)
    /// while flushing.
    fn process(&mut self, partial: Option<(usize, u64)>, emit: &mut dyn FnMut(&[f32])) {
        let Some(fft) = self.fft.as_mut() else {
            return;
        };
        let ch = self.channels;
        let full = self.chunk * ch;
        // The adapter wants a whole chunk of input even when only part of it is valid.
        let valid = self.input.len();
        self.input.resize(full, 0.0);
        let indexing = partial.map(|(n, _)| Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: Some(n),
            active_channels_mask: None,
        });
        let produced = {
            let Ok(inp) = InterleavedSlice::new(&self.input[..], ch, self.chunk) else {
                return;
            };
            let Ok(mut out) =
                InterleavedSlice::new_mut(&mut self.output[..], ch, self.out_capacity)
            else {
                return;
            };
            match fft.process_into_buffer(&inp, &mut out, indexing.as_ref()) {
                Ok((_, produced)) => produced,
                // Cannot happen with buffers sized from the resampler's own maxima; dropping
                // the chunk is the only non-panicking answer.
                Err(_) => 0,
            }
        };
        self.input.truncate(valid);
        let mut start = 0;
        if self.skip > 0 {
            start = self.skip.min(produced);
            self.skip -= start;
        }
        let mut end = produced;
        if let Some((_, target)) = partial {
            let room = target.saturating_sub(self.out_frames) as usize;
            end = end.min(start + room);
        }
        if end > start {
            self.out_frames += (end - start) as u64;
            emit(&self.output[start * ch..end * ch]);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Resample a whole signal through the streaming path in blocks of `block` frames.
    pub(crate) fn run(r: &mut StreamResampler, input: &[f32], block: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for piece in input.chunks(block * r.channels) {
            r.push(piece, &mut |o| out.extend_from_slice(o));
        }
        r.flush(&mut |o| out.extend_from_slice(o));
        out
    }

    #[test]
    fn output_length_is_exact_and_aligned() {
        for (i, o) in [
            (44_100, 24_000),
            (22_050, 48_000),
            (16_000, 24_000),
            (48_000, 8_000),
        ] {
            let n = i as usize / 3 + 17;
            let input: Vec<f32> = (0..n)
                .map(|k| (2.0 * std::f32::consts::PI * 500.0 * k as f32 / i as f32).sin())
                .collect();
            let mut r = StreamResampler::new(i, o, 1, 512).unwrap();
            let out = run(&mut r, &input, 333);
            let want = ((n as u64 * o as u64 + i as u64 / 2) / i as u64) as usize;
            assert_eq!(out.len(), want, "{i}->{o}");
            // Aligned: the zero crossing at input frame 0 stays at output frame 0 and the
            // tone's phase matches the ideal resampled tone mid-signal.
            let mid = want / 2;
            let best = (-20i32..=20)
                .min_by(|a, b| {
                    let err = |d: i32| {
                        (mid - 200..mid + 200)
                            .map(|k| {
                                let ideal = (2.0 * std::f32::consts::PI * 500.0 * k as f32
                                    / o as f32)
                                    .sin();
                                (out[(k as i32 + d) as usize] - ideal).powi(2)
                            })
                            .sum::<f32>()
                    };
                    err(*a).total_cmp(&err(*b))
                })
                .unwrap();
            assert_eq!(best, 0, "{i}->{o}: output is shifted by {best} frames");
            let ideal = (2.0 * std::f32::consts::PI * 500.0 * mid as f32 / o as f32).sin();
            assert!(
                (out[mid] - ideal).abs() < 0.02,
                "{i}->{o}: {} vs {ideal}",
                out[mid]
            );
            // Reusable after flush.
            let again = run(&mut r, &input, 1000);
            assert_eq!(again.len(), want);
        }
    }
}
