//! What a cell's output must be, derived from the script alone, and the checks against it.

use voxpace_core::{Event, Format, Position};

use super::script::{self, Input, Recording, LEAD, PAUSE_AT, RESUME_AT};
use voxpace_test_kit::signal;

/// Findings of one cell: failures (empty = pass) and the figures shown in the table.
#[derive(Debug, Default)]
pub struct Findings {
    pub failures: Vec<String>,
    pub figures: Vec<(&'static str, String)>,
}

impl Findings {
    pub fn fail(&mut self, what: impl Into<String>) {
        self.failures.push(what.into());
    }

    pub fn figure(&mut self, key: &'static str, value: impl Into<String>) {
        self.figures.push((key, value.into()));
    }

    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.failures.push(what());
        }
    }
}

/// Where speech must be in the output, and what was copied to sinks.
#[derive(Debug)]
pub struct Expected {
    /// The speech part of the output (background excluded), every value.
    pub speech: Vec<i16>,
    /// The interrupt frame: values `[start, start + fade)` fade the unfaded `reference`
    /// values out; the rest of the frame is silent.
    pub interrupt_frame: usize,
    pub fade_values: usize,
    pub unfaded: Vec<i16>,
    /// What sinks receive: every reply's samples as played, the interrupt's fade included.
    pub teed: Vec<i16>,
    /// Per reply: samples per channel played.
    pub played: [u64; 3],
    /// The events, one line each.
    pub events: Vec<String>,
}

/// The interrupt fade as `TrackConfig::interrupt_fade` documents it: linear, from full level
/// toward silence, over whole sample frames.
fn linear_fade_out(samples: &[i16], channels: usize) -> Vec<i16> {
    let frames = samples.len() / channels;
    samples
        .chunks_exact(channels)
        .enumerate()
        .flat_map(|(i, frame)| {
            let gain = (frames - i) as i32;
            frame
                .iter()
                .map(move |&s| (s as i32 * gain / (frames as i32 + 1)) as i16)
        })
        .collect()
}

pub fn expected(rec: &Recording, format: Format) -> Expected {
    let fl = format.frame_len();
    let fs = format.frame_samples() as u64;
    let ch = format.channels() as usize;
    let mut speech = vec![0i16; rec.out.len()];
    let mut teed = Vec::new();
    let fade_values = (format.samples_in(script::interrupt_fade()) as usize * ch).min(fl);

    // Reply 1: frames LEAD..PAUSE_AT, then from RESUME_AT on.
    let r1 = &rec.pushed[0];
    let before = ((PAUSE_AT - LEAD) as usize * fl).min(r1.len());
    place(&mut speech, LEAD as usize * fl, &r1[..before]);
    place(&mut speech, RESUME_AT as usize * fl, &r1[before..]);
    let end1 = RESUME_AT + ((r1.len() - before).div_ceil(fl) as u64).max(1) - 1;
    teed.extend_from_slice(r1);

    // Reply 2: from its opening frame to the interrupt, then the fade.
    let r2 = &rec.pushed[1];
    let s2 = rec.opened_at[1] as usize;
    let ia = rec.interrupt_at as usize;
    let played2 = ((ia - s2) * fl).min(r2.len());
    place(&mut speech, s2 * fl, &r2[..played2]);
    teed.extend_from_slice(&r2[..played2]);
    let faded = fade_values.min(r2.len() - played2);
    let unfaded = r2[played2..played2 + faded].to_vec();
    teed.extend(linear_fade_out(&unfaded, ch));

    // Reply 3.
    let r3 = &rec.pushed[2];
    let s3 = rec.opened_at[2] as usize;
    place(&mut speech, s3 * fl, r3);
    let end3 = (s3 + r3.len().div_ceil(fl)).max(s3 + 1) as u64 - 1;
    teed.extend_from_slice(r3);

    let played = [
        (r1.len() / ch) as u64,
        ((played2 + faded) / ch) as u64,
        (r3.len() / ch) as u64,
    ];
    let grace = voxpace_core::TrackConfig::default()
        .grace_period
        .as_millis()
        .div_ceil(format.frame_ms() as u128) as u64;
    let events = vec![
        format!("speech_started 1 @{}", LEAD * fs),
        format!("speaking true @{}", LEAD * fs),
        format!("paused @{}", PAUSE_AT * fs),
        format!("resumed @{}", RESUME_AT * fs),
        finished(1, played[0], false, end1 * fs, format),
        format!("speech_started 2 @{}", s2 as u64 * fs),
        finished(2, played[1], true, ia as u64 * fs, format),
        format!("speech_started 3 @{}", s3 as u64 * fs),
        finished(3, played[2], false, end3 * fs, format),
        format!("speaking false @{}", (end3 + grace) * fs),
    ];
    Expected {
        speech,
        interrupt_frame: ia,
        fade_values: faded,
        unfaded,
        teed,
        played,
        events,
    }
}

fn place(dst: &mut [i16], at: usize, values: &[i16]) {
    let end = (at + values.len()).min(dst.len());
    dst[at..end].copy_from_slice(&values[..end - at]);
}

fn finished(reply: u64, played: u64, interrupted: bool, pts: u64, format: Format) -> String {
    format!(
        "finished {reply} played={played} ({:.1} ms) interrupted={interrupted} exact @{pts}",
        format.duration_of(played).as_secs_f64() * 1000.0
    )
}

/// One line per event, in the vocabulary of [`Expected::events`].
pub fn describe(event: &Event, format: Format) -> String {
    match event {
        Event::SpeechStarted { reply, pts } => format!("speech_started {} @{pts}", reply.0),
        Event::SpeakingChanged { speaking, pts } => format!("speaking {speaking} @{pts}"),
        Event::Paused { pts } => format!("paused @{pts}"),
        Event::Resumed { pts } => format!("resumed @{pts}"),
        Event::PlaybackFinished(o) => {
            let mut s = finished(o.reply.0, o.played_samples, o.interrupted, o.pts, format);
            if o.position != Position::Exact {
                s = s.replace(" exact ", &format!(" {:?} ", o.position));
            }
            if o.played != format.duration_of(o.played_samples) {
                s.push_str(&format!(" (played {:?} disagrees)", o.played));
            }
            s
        }
        Event::SinkDetached { name, reason, .. } => format!("sink_detached {name}: {reason}"),
        other => format!("{other:?}"),
    }
}

/// Events in order, the push refused after the interrupt, and the track's counters.
pub fn check_events(rec: &Recording, exp: &Expected, format: Format, f: &mut Findings) {
    let got: Vec<String> = rec.events.iter().map(|e| describe(e, format)).collect();
    if got != exp.events {
        let first = got
            .iter()
            .zip(&exp.events)
            .position(|(g, e)| g != e)
            .unwrap_or(got.len().min(exp.events.len()));
        f.fail(format!(
            "events differ at #{first}: got {:?}, expected {:?}",
            got.get(first),
            exp.events.get(first)
        ));
    }
    f.figure(
        "played ms",
        format!(
            "{:.0}/{:.0}/{:.0}",
            format.duration_of(exp.played[0]).as_secs_f64() * 1000.0,
            format.duration_of(exp.played[1]).as_secs_f64() * 1000.0,
            format.duration_of(exp.played[2]).as_secs_f64() * 1000.0
        ),
    );
    match &rec.push_after_interrupt {
        Some(e) if !e.starts_with("unexpected") => {}
        Some(e) => f.fail(format!("push after interrupt: {e}")),
        None => f.fail("a push after the interrupt was accepted"),
    }
}

/// The output minus `background` (if any) must be exactly the expected speech, except in
/// the interrupt frame, where speech fades out within the fade and is silent after it.
pub fn check_output(rec: &Recording, exp: &Expected, background: Option<&[i16]>, f: &mut Findings) {
    let fl = rec.frame_len();
    let speech = |i: usize| rec.out[i] as i32 - background.map_or(0, |b| b[i] as i32);
    let ia = exp.interrupt_frame * fl;
    let mut mismatches = 0usize;
    let mut first = None;
    for i in 0..rec.out.len() {
        let ok = if (ia..ia + fl).contains(&i) {
            let k = i - ia;
            if k < exp.fade_values {
                let u = exp.unfaded[k] as i32;
                let s = speech(i);
                s.abs() <= u.abs() && (s == 0 || s.signum() == u.signum())
            } else {
                speech(i) == 0
            }
        } else {
            speech(i) == exp.speech[i] as i32
        };
        if !ok {
            mismatches += 1;
            first.get_or_insert(i);
        }
    }
    if let Some(i) = first {
        f.fail(format!(
            "output differs from speech{} in {mismatches} values, first at frame {} value {} (got {}, expected {})",
            if background.is_some() { " + background" } else { "" },
            i / fl,
            i % fl,
            speech(i),
            exp.speech[i]
        ));
    }
    // The fade must actually attenuate: its last quarter well below the unfaded speech.
    let q = exp.fade_values * 3 / 4;
    if exp.fade_values >= 8 {
        let got: Vec<i16> = (ia + q..ia + exp.fade_values)
            .map(|i| speech(i).clamp(-32768, 32767) as i16)
            .collect();
        let level = signal::rms_db(&got);
        let unfaded = signal::rms_db(&exp.unfaded[q..]);
        f.check(level < unfaded - 6.0, || {
            format!("interrupt fade: last quarter at {level:.1} dBFS, unfaded {unfaded:.1}")
        });
    }
}

/// Resampled replies: length as documented, and the same tones as the formula (SNR, lag,
/// level). Same-rate replies: the pushed samples are the input, bit for bit.
pub fn check_resampling(rec: &Recording, input: Input, format: Format, f: &mut Findings) {
    let ch = format.channels() as usize;
    let resampled = input.rate != format.sample_rate() || input.channels != format.channels();
    if !resampled {
        for r in [0, 2] {
            let want = signal::speech(r, input.rate, input.channels, script::REPLY_SECONDS[r]);
            f.check(rec.pushed[r] == want, || {
                format!("reply {}: same-rate input was altered", r + 1)
            });
        }
        f.figure("speech", "exact");
        return;
    }
    let mut worst = (f64::INFINITY, 0.0f64, 0.0f64);
    for r in [0, 2] {
        let n_in = (script::REPLY_SECONDS[r] * input.rate as f64).round();
        let want = (n_in * format.sample_rate() as f64 / input.rate as f64).round() as usize;
        let got = rec.pushed[r].len() / ch;
        f.check(got == want, || {
            format!(
                "reply {}: resampled to {got} samples, expected {want}",
                r + 1
            )
        });
        let edge = format.samples_in(std::time::Duration::from_millis(20)) as usize;
        let (snr, lag, level) = signal::snr_vs_formula(
            &rec.pushed[r],
            format.sample_rate(),
            format.channels(),
            r,
            input.channels == 1,
            edge,
            8,
        );
        if snr < worst.0 {
            worst = (snr, lag, level);
        }
        f.check(snr >= MIN_SNR_DB, || {
            format!(
                "reply {}: resampled speech SNR {snr:.1} dB < {MIN_SNR_DB} dB",
                r + 1
            )
        });
        f.check(lag.abs() <= 1.0, || {
            format!("reply {}: resampled speech is {lag:.2} samples late", r + 1)
        });
        f.check(level.abs() <= 0.5, || {
            format!("reply {}: resampled level off by {level:.2} dB", r + 1)
        });
    }
    f.figure(
        "speech",
        format!("SNR {:.1} dB lag {:.2}", worst.0, worst.1),
    );
}

/// Tones resampled and quantised to 16 bits: anything below this is audible damage.
pub const MIN_SNR_DB: f64 = 40.0;

/// Counters that must be zero in every cell.
pub fn check_stats(stats: voxpace_core::TrackStats, f: &mut Findings) {
    f.check(stats.underruns == 0, || {
        format!("{} underrun frames", stats.underruns)
    });
    f.check(stats.sink_drops == 0, || {
        format!("{} frames dropped at sinks", stats.sink_drops)
    });
    f.check(stats.events_dropped == 0, || {
        format!("{} events dropped", stats.events_dropped)
    });
    f.check(
        stats.replies_completed == 2 && stats.replies_interrupted == 1,
        || {
            format!(
                "replies completed {} interrupted {} (expected 2 and 1)",
                stats.replies_completed, stats.replies_interrupted
            )
        },
    );
}
