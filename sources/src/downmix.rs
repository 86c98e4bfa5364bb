//! The one channel fold-down every path uses: background files, clips and replies (files,
//! raw PCM and streamed bodies) all go through [`Downmix`], so the same audio plays at the
//! same level whichever way it arrives.
//!
//! The gains are ITU-R BS.775's (front left/right at unity, centre and surrounds at -3 dB
//! into their side, LFE dropped), then **normalised** so that each output channel's gains
//! sum to at most 1: a full-scale signal in every input channel stays full scale, nothing
//! clips, and a 5.1 file plays at the level of its stereo fold-down as ffmpeg writes it to
//! 16-bit (`ffmpeg -i in.flac -ac 2 out.wav` uses the same matrix). Mono out is the mean
//! of the stereo fold-down; mono in is copied to both sides at unity.
//!
//! Audio that carries only a channel count (raw PCM, a WAV without a channel mask) gets the
//! default layout of that count (the WAVE/ffmpeg order): 3 = L R C, 4 = L R BL BR,
//! 5 = L R C BL BR, 6 = 5.1 (L R C LFE BL BR), 7 = 6.1, 8 = 7.1.

use symphonia::core::audio::{Channels, Position};

const HALF_POWER: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// A fold-down from one channel layout into mono or stereo: `out × in` gains, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Downmix {
    in_channels: usize,
    out_channels: usize,
    matrix: Vec<f32>,
    identity: bool,
}

impl Downmix {
    /// The fold-down of `layout` into `out_channels` (1 or 2).
    pub(crate) fn new(layout: &Channels, out_channels: usize) -> Self {
        let n = layout.count().max(1);
        let stereo = match layout {
            Channels::Positioned(positions) => {
                let mut gains = Vec::with_capacity(n);
                for bit in 0..64 {
                    if let Some(p) = Position::from_bits(1u64 << bit) {
                        if positions.contains(p) {
                            gains.push(position_gains(p));
                        }
                    }
                }
                gains
            }
            _ => default_gains(n),
        };
        let stereo = if n == 1 {
            vec![(1.0, 1.0)]
        } else {
            normalise(stereo)
        };
        let matrix: Vec<f32> = if out_channels == 1 {
            stereo.iter().map(|(l, r)| (l + r) / 2.0).collect()
        } else {
            let mut m: Vec<f32> = stereo.iter().map(|(l, _)| *l).collect();
            m.extend(stereo.iter().map(|(_, r)| *r));
            m
        };
        let identity = n == out_channels
            && matrix
                .iter()
                .enumerate()
                .all(|(i, g)| *g == if i / n == i % n { 1.0 } else { 0.0 });
        Self {
            in_channels: n,
            out_channels,
            matrix,
            identity,
        }
    }

    /// The fold-down for audio that only says how many channels it has.
    pub(crate) fn for_count(in_channels: usize, out_channels: usize) -> Self {
        Self::new(&Channels::Discrete(in_channels as u16), out_channels)
    }

    /// Fold interleaved `input` (whole frames of `in_channels`) down, appending to `out`.
    pub(crate) fn apply(&self, input: &[f32], out: &mut Vec<f32>) {
        if self.identity {
            out.extend_from_slice(input);
            return;
        }
        let n = self.in_channels;
        out.reserve(input.len() / n * self.out_channels);
        for frame in input.chunks_exact(n) {
            for row in self.matrix.chunks_exact(n) {
                out.push(row.iter().zip(frame).map(|(g, x)| g * x).sum());
            }
        }
    }
}

/// Scale every gain so that neither side's gains sum to more than 1.
fn normalise(stereo: Vec<(f32, f32)>) -> Vec<(f32, f32)> {
    let left: f32 = stereo.iter().map(|(l, _)| l).sum();
    let right: f32 = stereo.iter().map(|(_, r)| r).sum();
    let peak = left.max(right);
    if peak <= 1.0 {
        return stereo;
    }
    stereo
        .into_iter()
        .map(|(l, r)| (l / peak, r / peak))
        .collect()
}

/// Gains for the default layout of `n` channels (see the module docs).
fn default_gains(n: usize) -> Vec<(f32, f32)> {
    // The channel names ffmpeg's layouts use, so each layout reads on one line.
    const FL: Position = Position::FRONT_LEFT;
    const FR: Position = Position::FRONT_RIGHT;
    const FC: Position = Position::FRONT_CENTER;
    const LFE: Position = Position::LFE1;
    const BL: Position = Position::REAR_LEFT;
    const BR: Position = Position::REAR_RIGHT;
    const BC: Position = Position::REAR_CENTER;
    const SL: Position = Position::SIDE_LEFT;
    const SR: Position = Position::SIDE_RIGHT;
    let order: &[Position] = match n {
        1 => &[FC],
        2 => &[FL, FR],
        3 => &[FL, FR, FC],
        4 => &[FL, FR, BL, BR],
        5 => &[FL, FR, FC, BL, BR],
        6 => &[FL, FR, FC, LFE, BL, BR],
        7 => &[FL, FR, FC, LFE, BC, SL, SR],
        8 => &[FL, FR, FC, LFE, BL, BR, SL, SR],
        _ => &[],
    };
    if !order.is_empty() {
        return order.iter().map(|p| position_gains(*p)).collect();
    }
    // More than 8 unlabelled channels: even ones left, odd ones right.
    (0..n)
        .map(|i| if i % 2 == 0 { (1.0, 0.0) } else { (0.0, 1.0) })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn five_one() -> Channels {
        Channels::Positioned(
            Position::FRONT_LEFT
                | Position::FRONT_RIGHT
                | Position::FRONT_CENTER
                | Position::LFE1
                | Position::SIDE_LEFT
                | Position::SIDE_RIGHT,
        )
    }

    #[test]
    fn five_one_folds_itu_gains_normalised_and_drops_lfe() {
        let m = Downmix::new(&five_one(), 2);
        let norm = 1.0 + 2.0 * HALF_POWER;
        let mut out = Vec::new();
        // Input order: FL FR FC LFE SL SR.
        m.apply(&[0.0, 0.0, 1.0, 1.0, 0.0, 0.0], &mut out);
        let c = HALF_POWER / norm;
        assert!(
            (out[0] - c).abs() < 1e-6 && (out[1] - c).abs() < 1e-6,
            "{out:?}"
        );
        out.clear();
        // Full scale everywhere stays full scale (no clipping).
        m.apply(&[1.0; 6], &mut out);
        assert!(
            (out[0] - 1.0).abs() < 1e-6 && (out[1] - 1.0).abs() < 1e-6,
            "{out:?}"
        );
        out.clear();
        m.apply(&[norm, -norm, 0.0, 0.0, 0.0, 0.0], &mut out);
        assert!((out[0] - 1.0).abs() < 1e-6 && (out[1] + 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_bare_channel_count_gets_its_default_layout() {
        // Six unlabelled channels are 5.1: the same fold-down as a labelled 5.1 file.
        let a = Downmix::for_count(6, 2);
        let mut x = Vec::new();
        let mut y = Vec::new();
        let frame = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        a.apply(&frame, &mut x);
        Downmix::new(&five_one(), 2).apply(&frame, &mut y);
        assert_eq!(x, y);
    }

    #[test]
    fn mono_is_duplicated_and_stereo_averaged_and_stereo_passes() {
        let mut out = Vec::new();
        Downmix::for_count(1, 2).apply(&[0.25], &mut out);
        assert_eq!(out, vec![0.25, 0.25]);
        out.clear();
        Downmix::for_count(2, 1).apply(&[0.5, 0.25], &mut out);
        assert_eq!(out, vec![0.375]);
        let s = Downmix::for_count(2, 2);
        assert!(s.identity);
    }
}
