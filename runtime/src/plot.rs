//! The waveform picture `render` writes: the mix as min/max columns (speech frames in blue,
//! background in grey), a tick per second along the bottom, and the events as coloured
//! vertical lines:
//!
//! | colour | meaning |
//! |---|---|
//! | green | speech started |
//! | blue | reply played to the end |
//! | red | reply interrupted |
//! | orange | paused / resumed |
//! | black (top) | a script step |
//! | purple (top) | a clip fired |
//!
//! Pure integer drawing with a fixed PNG encoder setup, so the same input gives the same bytes.

use std::path::Path;

use voxpace_core::Format;

/// What a marker shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// First speech of a reply.
    SpeechStarted,
    /// A reply completed.
    Finished,
    /// A reply was interrupted.
    Interrupted,
    /// Paused or resumed.
    Pause,
    /// A script step.
    Step,
    /// A clip.
    Clip,
}

/// An event at a pts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// Where, in samples per channel.
    pub pts: u64,
    /// What.
    pub kind: Kind,
}

const WIDTH: usize = 1600;
const HEIGHT: usize = 320;

type Rgb = [u8; 3];

fn color(kind: Kind) -> (Rgb, bool) {
    match kind {
        Kind::SpeechStarted => ([0, 160, 60], true),
        Kind::Finished => ([20, 60, 220], true),
        Kind::Interrupted => ([220, 20, 20], true),
        Kind::Pause => ([240, 140, 0], true),
        Kind::Step => ([0, 0, 0], false),
        Kind::Clip => ([150, 40, 170], false),
    }
}

struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn set(&mut self, x: usize, y: usize, c: Rgb) {
        if x < WIDTH && y < HEIGHT {
            let i = (y * WIDTH + x) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn vline(&mut self, x: usize, y0: usize, y1: usize, c: Rgb) {
        for y in y0..y1.min(HEIGHT) {
            self.set(x, y, c);
        }
    }
}

/// Draw the picture of `mix` (interleaved, `format`) with `speech` flags per frame.
pub fn draw(
    path: &Path,
    format: Format,
    mix: &[i16],
    speech: &[bool],
    markers: &[Marker],
) -> Result<(), String> {
    let mut c = Canvas {
        px: vec![255; WIDTH * HEIGHT * 3],
    };
    let ch = format.channels() as usize;
    let total = (mix.len() / ch).max(1) as u64;
    let frame_samples = format.frame_samples() as u64;
    let x_of = |pts: u64| ((pts.min(total) * (WIDTH as u64 - 1)) / total) as usize;
    let plot_h = HEIGHT - 20;
    let mid = plot_h / 2;
    for x in 0..WIDTH {
        c.set(x, mid, [225, 225, 225]);
    }
    // One column per pixel: the min and max of every channel over the samples it covers.
    for x in 0..WIDTH {
        let from = total * x as u64 / WIDTH as u64;
        let to = (total * (x as u64 + 1) / WIDTH as u64)
            .max(from + 1)
            .min(total);
        let (mut lo, mut hi) = (0i32, 0i32);
        let mut has_speech = false;
        for i in from..to {
            for k in 0..ch {
                let v = mix.get(i as usize * ch + k).copied().unwrap_or(0) as i32;
                lo = lo.min(v);
                hi = hi.max(v);
            }
            has_speech |= speech
                .get((i / frame_samples) as usize)
                .copied()
                .unwrap_or(false);
        }
        let y = |v: i32| (mid as i32 - v * (mid as i32 - 2) / 32768) as usize;
        let colour = if has_speech {
            [40, 90, 170]
        } else {
            [150, 150, 150]
        };
        c.vline(x, y(hi), y(lo) + 1, colour);
    }
    // A tick per second, a longer one per ten seconds.
    let rate = format.sample_rate() as u64;
    let mut second = 0;
    while second * rate <= total {
        let len = if second % 10 == 0 { 12 } else { 6 };
        c.vline(x_of(second * rate), HEIGHT - len, HEIGHT, [60, 60, 60]);
        second += 1;
    }
    for x in 0..WIDTH {
        c.set(x, plot_h, [200, 200, 200]);
    }
    for m in markers {
        let (colour, full) = color(m.kind);
        let x = x_of(m.pts);
        if full {
            c.vline(x, 0, plot_h, colour);
        } else {
            c.vline(x, 0, plot_h / 6, colour);
            c.vline(x + 1, 0, plot_h / 6, colour);
        }
    }
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), WIDTH as u32, HEIGHT as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&c.px).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())
}
