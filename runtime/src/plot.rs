//! The picture `render` writes, drawn with plotters (bitmap backend, the bundled DejaVu Sans
//! font, so it needs no system fonts): two panels over one time axis in seconds.
//!
//! - **Loudness** (top): the momentary loudness (ITU-R BS.1770, 400 ms) of the speech, of the
//!   background and of the output, against the target (dashed) when `[output.loudness]`
//!   sets one; the events as vertical lines, each kind in its colour, named in the legend.
//! - **Waveform** (bottom): the mix as min/max columns, blue where a frame carries speech,
//!   grey elsewhere.
//!
//! Plain drawing into a buffer and a fixed PNG encoder setup: the same input gives the same
//! bytes.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
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

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::SpeechStarted,
        Kind::Finished,
        Kind::Interrupted,
        Kind::Pause,
        Kind::Step,
        Kind::Clip,
    ];

    fn colour(self) -> RGBColor {
        match self {
            Kind::SpeechStarted => RGBColor(0, 160, 60),
            Kind::Finished => RGBColor(20, 60, 220),
            Kind::Interrupted => RGBColor(220, 20, 20),
            Kind::Pause => RGBColor(240, 140, 0),
            Kind::Step => RGBColor(90, 90, 90),
            Kind::Clip => RGBColor(150, 40, 170),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::SpeechStarted => "speech started",
            Kind::Finished => "reply finished",
            Kind::Interrupted => "reply interrupted",
            Kind::Pause => "paused / resumed",
            Kind::Step => "script step",
            Kind::Clip => "clip",
        }
    }
}

/// An event at a pts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// Where, in samples per channel.
    pub pts: u64,
    /// What.
    pub kind: Kind,
}

/// Loudness traces, one point per `step` seconds (`None`, or below -70 LUFS: silence, drawn
/// as a gap).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Levels {
    /// Seconds between points.
    pub step: f64,
    /// Momentary loudness of the speech (LUFS).
    pub speech: Vec<Option<f32>>,
    /// Momentary loudness of the background bus (LUFS).
    pub background: Vec<Option<f32>>,
    /// Momentary loudness of the output (LUFS).
    pub output: Vec<Option<f32>>,
    /// The speech target, when set.
    pub target: Option<f32>,
}

const WIDTH: u32 = 1600;
const HEIGHT: u32 = 640;
const FLOOR_LUFS: f64 = -70.0;
const FONT: &str = "sans-serif";

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled font is a valid TTF; a failure here would only lose the text.
        let _ = register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Draw the picture of `mix` (interleaved, `format`) with `speech` flags per frame, the
/// events and the loudness traces.
pub fn draw(
    path: &Path,
    format: Format,
    mix: &[i16],
    speech: &[bool],
    markers: &[Marker],
    levels: &Levels,
) -> Result<(), String> {
    fonts();
    let mut px = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut px, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, bottom) = root.split_vertically(HEIGHT * 62 / 100);
        let ch = format.channels() as usize;
        let seconds = (mix.len() / ch) as f64 / format.sample_rate() as f64;
        let seconds = seconds.max(0.1);
        loudness_panel(&top, seconds, format, markers, levels).map_err(|e| e.to_string())?;
        waveform_panel(&bottom, seconds, format, mix, speech).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&px).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error + 'static>>;

fn loudness_panel(
    area: &Area<'_>,
    seconds: f64,
    format: Format,
    markers: &[Marker],
    levels: &Levels,
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .caption("Loudness (momentary, 400 ms)", (FONT, 20))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..seconds, FLOOR_LUFS..0f64)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("LUFS")
        .label_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let rate = format.sample_rate() as f64;
    for kind in Kind::ALL {
        let xs: Vec<f64> = markers
            .iter()
            .filter(|m| m.kind == kind)
            .map(|m| m.pts as f64 / rate)
            .collect();
        if xs.is_empty() {
            continue;
        }
        let colour = kind.colour();
        // Script steps and clips are ticks along the top; events span the panel.
        let (from, to, width) = if matches!(kind, Kind::Step | Kind::Clip) {
            (-6.0, 0.0, 3)
        } else {
            (FLOOR_LUFS, 0.0, 1)
        };
        let style = ShapeStyle::from(&colour).stroke_width(width);
        chart
            .draw_series(
                xs.iter()
                    .map(|x| PathElement::new(vec![(*x, from), (*x, to)], style)),
            )?
            .label(kind.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    if let Some(target) = levels.target {
        let style = ShapeStyle::from(&RGBColor(200, 0, 0)).stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, target as f64), (seconds, target as f64)],
                8,
                6,
                style,
            ))?
            .label(format!("speech target {target} LUFS"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    let traces = [
        (&levels.background, RGBColor(120, 170, 120), "background"),
        (&levels.speech, RGBColor(40, 90, 170), "speech"),
        (&levels.output, RGBColor(0, 0, 0), "output"),
    ];
    for (trace, colour, label) in traces {
        if trace.iter().all(Option::is_none) {
            continue;
        }
        let style = ShapeStyle::from(&colour).stroke_width(2);
        let mut first = true;
        for run in runs(trace, levels.step) {
            let series = chart.draw_series(LineSeries::new(run, style))?;
            if first {
                series
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
                first = false;
            }
        }
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

/// The stretches of a trace without gaps, as (seconds, LUFS) points.
fn runs(trace: &[Option<f32>], step: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for (i, v) in trace.iter().enumerate() {
        match v.filter(|l| *l as f64 > FLOOR_LUFS) {
            Some(l) => out
                .last_mut()
                .expect("never empty")
                .push(((i + 1) as f64 * step, l as f64)),
            None if out.last().is_some_and(|r| !r.is_empty()) => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

fn waveform_panel(
    area: &Area<'_>,
    seconds: f64,
    format: Format,
    mix: &[i16],
    speech: &[bool],
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .caption("Waveform (blue: speech frames)", (FONT, 18))
        .margin(12)
        .x_label_area_size(34)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..seconds, -1f64..1f64)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("full scale")
        .label_style((FONT, 14))
        .y_labels(5)
        .light_line_style(RGBColor(240, 240, 240))
        .draw()?;
    let ch = format.channels() as usize;
    let total = (mix.len() / ch).max(1);
    let frame = format.frame_samples();
    let columns = 1400usize;
    let mut bars = Vec::with_capacity(columns);
    for x in 0..columns {
        let from = total * x / columns;
        let to = (total * (x + 1) / columns).max(from + 1).min(total);
        let (mut lo, mut hi) = (0i16, 0i16);
        let mut has_speech = false;
        for i in from..to {
            for k in 0..ch {
                let v = mix.get(i * ch + k).copied().unwrap_or(0);
                lo = lo.min(v);
                hi = hi.max(v);
            }
            has_speech |= speech.get(i / frame).copied().unwrap_or(false);
        }
        let t = from as f64 / format.sample_rate() as f64;
        let colour = if has_speech {
            RGBColor(40, 90, 170)
        } else {
            RGBColor(150, 150, 150)
        };
        bars.push(PathElement::new(
            vec![(t, lo as f64 / 32_768.0), (t, hi as f64 / 32_768.0)],
            ShapeStyle::from(&colour).stroke_width(1),
        ));
    }
    chart.draw_series(bars)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_split_a_trace() {
        let runs = runs(&[Some(-20.0), None, None, Some(-18.0), Some(-17.0)], 0.1);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1].len(), 2);
        assert!((runs[1][0].0 - 0.4).abs() < 1e-9);
    }
}
