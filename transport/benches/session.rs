//! The whole cost of a session (issue 21): N agent outputs in one release `voxpace serve`,
//! each with one real WHEP listener (a webrtc-rs peer in this process, so the server's
//! process CPU is the server's alone), measured twice:
//!
//! - **speaking**: every output plays streamed replies back to back over the HTTP API (a
//!   TTS-like client per output posting `runtime/assets/speech.wav` as 24 kHz 16-bit chunks
//!   of 100 ms, 1 s ahead of real time) over a looping background file;
//! - **silent**: the listening state, no reply and no background (digital silence, which
//!   the publisher's `SilenceGate` does not encode).
//!
//! The figure is the server's CPU (utime + stime of every thread, `/proc/<pid>/stat`) per
//! session per 20 ms frame, set beside a bare libopus encode at the same settings (the same
//! `OpusEncoder`, 24 kHz mono, 32 kbit/s, complexity 5, no FEC: the server's defaults) of
//! the same kind of audio (the speech mixed over the music at the configured gain), measured
//! on this thread's CPU clock (`/proc/thread-self/schedstat`) right before and right after
//! each server window. Goals: speaking <= 1.25x libopus, silent <= 0.2x speaking. Every
//! listener counts its packets by RTP sequence (lost must be 0, or the figure flatters) and
//! by RTP timestamp (missing-by-time: also packets the server did not send it, which keep
//! the sequence consecutive).
//! Beside the total, the server's own `voxpace_encode_seconds_total` (`/metrics`, read
//! before and after the window) per session-frame: libopus inside the server, so what a
//! session costs beyond encoding is the difference (the counter is the encoding thread's CPU
//! time around each libopus call; before 2026-12-08 it was wall-clock time and read high
//! under load, so an older server's figure is not comparable). And the server's
//! context switches per session-frame (`/proc/<pid>/task/*/status`): its wake-ups.
//!
//! `cargo bench -p voxpace-transport --bench session` with:
//! - `VOXPACE_SERVE_BIN`: the server (default: this workspace's release `voxpace`; `cargo
//!   xtask bench` builds it and passes it);
//! - `VOXPACE_SESSION_COUNTS` (default `10,50`), `VOXPACE_SESSION_SECS` (seconds per window,
//!   default 10); `cargo xtask bench --quick` runs `2` for 3 s;
//! - `VOXPACE_SESSION_PERF=DIR`: record each window with `perf record -g -p <server>` into
//!   `DIR/<mode>-<N>.data` (for profiling: perf's own cost then inflates the figures).
//!
//! Each figure is one line, `session key=value ...`, which `cargo xtask bench` reads.

mod kit;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kit::swarm::Join;
use kit::{context_switches, loadavg, CpuMeter, Serve, Swarm, Totals};
use voxpace_transport::{OpusConfig, OpusEncoder};

const RATE: u32 = 24_000;
const FRAME: usize = 480;
/// The background's level in the server's configuration and in the reference mix.
const MUSIC_GAIN_DB: f64 = -14.0;
/// The server's Opus settings (`[transport.opus]` defaults), for the reference encode.
fn opus() -> OpusConfig {
    OpusConfig {
        bitrate: 32_000,
        complexity: 5,
        fec: false,
        ..OpusConfig::default()
    }
}

fn config(sessions: usize, speaking: bool) -> String {
    let outputs: Vec<String> = (0..sessions).map(|i| format!("\"s{i}\"")).collect();
    let background = if speaking {
        format!(
            "[background]\nfile = \"{}\"\ngain_db = {MUSIC_GAIN_DB}\nloop = true\n",
            kit::serve::asset("music.wav").display()
        )
    } else {
        String::new()
    };
    format!(
        "[server]\noutputs = [{}]\nmax_outputs = {}\n\n[transport]\nwhep = true\n\n{background}",
        outputs.join(", "),
        sessions.max(16)
    )
}

/// 24 kHz mono 16-bit samples of an asset, decoded by ffmpeg.
fn asset_pcm(name: &str) -> Vec<i16> {
    voxpace_test_kit::ffmpeg::decode_f32_at(&kit::serve::asset(name), RATE, 1)
        .iter()
        .map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// This thread's CPU time so far (the scheduler's nanoseconds on CPU).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text.split_whitespace().next().and_then(|v| v.parse().ok());
    Duration::from_nanos(ns.unwrap_or(0))
}

/// A bare libopus encode of `frames` 20 ms frames of `mix`: CPU µs per frame.
fn libopus_us(mix: &[i16], frames: usize) -> f64 {
    let mut encoder = OpusEncoder::new(RATE, 1, FRAME, &opus()).unwrap();
    let mut packet = vec![0u8; 1500];
    let chunks: Vec<&[i16]> = mix.chunks_exact(FRAME).collect();
    let started = thread_cpu();
    for i in 0..frames {
        let n = encoder
            .encode(chunks[i % chunks.len()], &mut packet)
            .unwrap();
        std::hint::black_box(n);
    }
    (thread_cpu() - started).as_secs_f64() * 1e6 / frames as f64
}

/// A TTS-like client of one output: replies of `speech` back to back, each posted in 100 ms
/// chunks (`audio/L16`) 1 s ahead of real time, until the task is aborted.
async fn speak(http: reqwest::Client, base: String, output: String, speech: Arc<Vec<i16>>) {
    const CHUNK: usize = RATE as usize / 10;
    const LEAD: Duration = Duration::from_secs(1);
    let kind = "audio/L16;rate=24000;channels=1";
    let chunks: Vec<Vec<u8>> = speech
        .chunks(CHUNK)
        .map(|c| c.iter().flat_map(|s| s.to_le_bytes()).collect())
        .collect();
    let mut due = tokio::time::Instant::now();
    loop {
        let mut reply = None;
        for (k, chunk) in chunks.iter().enumerate() {
            tokio::time::sleep_until(due.checked_sub(LEAD).unwrap_or(due)).await;
            let finish = k + 1 == chunks.len();
            let url = match reply {
                None => format!("{base}/v1/outputs/{output}/replies?finish={finish}"),
                Some(n) => format!("{base}/v1/outputs/{output}/replies/{n}/audio?finish={finish}"),
            };
            let answer = http
                .post(url)
                .header("content-type", kind)
                .body(chunk.clone())
                .send()
                .await;
            let Ok(answer) = answer else { return };
            if !answer.status().is_success() {
                eprintln!(
                    "session: {output}: {} {:?}",
                    answer.status(),
                    answer.text().await
                );
                return;
            }
            if reply.is_none() {
                let text = answer.text().await.unwrap_or_default();
                let view: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                reply = view["reply"].as_u64();
                if reply.is_none() {
                    eprintln!("session: {output}: no reply number in {view}");
                    return;
                }
            }
            due += Duration::from_millis(100);
        }
    }
}

/// What one server window measured.
struct Window {
    sessions: usize,
    /// Server CPU per session per 20 ms frame, µs.
    per_frame_us: f64,
    /// Server CPU, % of a core.
    percent: f64,
    /// The server's own encode time per session per 20 ms frame, µs (`/metrics`).
    encode_us: f64,
    /// The server's context switches per session per 20 ms frame (its threads' wake-ups).
    switches: f64,
    /// The reference before and after the window, µs per frame.
    libopus: (f64, f64),
    seen: Totals,
    expected_packets: f64,
    failures: u64,
    load: String,
}

async fn measure(binary: &Path, sessions: usize, secs: u64, speaking: bool, mix: &[i16]) -> Window {
    let serve = Serve::start(binary, &config(sessions, speaking));
    let mut swarm = Swarm::new();
    for i in 0..sessions {
        swarm
            .grow(&serve.whep_url(&format!("s{i}")), 1, Join::default())
            .await;
    }
    let speech = Arc::new(asset_pcm("speech.wav"));
    let http = reqwest::Client::new();
    let clients: Vec<_> = (0..sessions)
        .filter(|_| speaking)
        .map(|i| {
            let task = speak(
                http.clone(),
                serve.base().to_owned(),
                format!("s{i}"),
                speech.clone(),
            );
            tokio::spawn(task)
        })
        .collect();
    // Settle: connections up, replies queued, the background playing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before_ref = tokio::task::block_in_place(|| libopus_us(mix, 2000));
    let before = swarm.totals();
    let encoded_before = encode_secs(&http, serve.base()).await;
    let switched = context_switches(serve.pid());
    let cpu = CpuMeter::start(serve.pid()).unwrap();
    let load = loadavg();
    let perf = std::env::var_os("VOXPACE_SESSION_PERF").map(|dir| {
        let mode = if speaking { "speaking" } else { "silent" };
        let file = Path::new(&dir).join(format!("{mode}-{sessions}.data"));
        std::process::Command::new("perf")
            .args(["record", "-g", "-q", "-p", &serve.pid().to_string(), "-o"])
            .arg(file)
            .args(["--", "sleep", &secs.to_string()])
            .spawn()
            .expect("perf record")
    });
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let used = cpu.stop().unwrap();
    let switched = context_switches(serve.pid()).saturating_sub(switched);
    let encoded = encode_secs(&http, serve.base()).await - encoded_before;
    if let Some(mut perf) = perf {
        let _ = tokio::task::block_in_place(|| perf.wait());
    }
    let seen = swarm.totals().since(&before);
    let after_ref = tokio::task::block_in_place(|| libopus_us(mix, 2000));
    for c in &clients {
        c.abort();
    }
    let failures = swarm.failures;
    for f in &swarm.first_failures {
        eprintln!("session: a listener failed to connect: {f}");
    }
    swarm.close(16).await;
    let log = serve.stop();
    if failures > 0 || seen.lost() > 0 {
        for line in log.iter().rev().take(10) {
            eprintln!("session: serve: {line}");
        }
    }
    let frames = sessions as f64 * used.wall_secs / 0.02;
    Window {
        sessions,
        per_frame_us: used.cpu_secs / frames * 1e6,
        percent: used.percent_of_core(),
        encode_us: encoded / frames * 1e6,
        switches: switched as f64 / frames,
        libopus: (before_ref, after_ref),
        seen,
        expected_packets: frames,
        failures,
        load,
    }
}

/// The server's encode time so far: `voxpace_encode_seconds_total` of `/metrics`, summed
/// over its outputs (0 if it cannot be read).
async fn encode_secs(http: &reqwest::Client, base: &str) -> f64 {
    let text = match http.get(format!("{base}/metrics")).send().await {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .filter(|l| l.starts_with("voxpace_encode_seconds_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn main() {
    let binary: PathBuf = kit::serve::release_binary();
    let counts: Vec<usize> = std::env::var("VOXPACE_SESSION_COUNTS")
        .unwrap_or_else(|_| "10,50".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let secs: u64 = kit::env_or("VOXPACE_SESSION_SECS", 10);
    // The reference's audio: the speech over the looping music at its configured gain.
    let (speech, music) = (asset_pcm("speech.wav"), asset_pcm("music.wav"));
    let gain = 10f64.powf(MUSIC_GAIN_DB / 20.0);
    let mix: Vec<i16> = speech
        .iter()
        .zip(music.iter().cycle())
        .map(|(&s, &m)| (s as f64 + m as f64 * gain).clamp(-32768.0, 32767.0) as i16)
        .collect();
    kit::runtime().block_on(async move {
        for &n in &counts {
            let speaking = measure(&binary, n, secs, true, &mix).await;
            let silent = measure(&binary, n, secs, false, &mix).await;
            let libopus = (speaking.libopus.0 + speaking.libopus.1) / 2.0;
            print("speaking", &speaking, libopus, 1.25, "libopus");
            print("silent", &silent, speaking.per_frame_us, 0.2, "speaking");
        }
    });
}

/// One line: the figure, its reference and their ratio against the goal, what the
/// listeners heard, and the load average when the window began.
fn print(mode: &str, w: &Window, reference: f64, goal: f64, against: &str) {
    let ratio = w.per_frame_us / reference;
    println!(
        "session mode={mode} sessions={} per-session-frame-us={:.2} {against}-us={:.2} \
         ratio={ratio:.3} goal<={goal} ok={} encode-in-server-us={:.2} beyond-encode-us={:.2} \
         switches-per-session-frame={:.2} server-cpu-percent={:.1} libopus-before-us={:.2} \
         libopus-after-us={:.2} packets={} expected-frames={:.0} lost={} missing-by-time={} \
         connected={} \
         failed={} load-average={}",
        w.sessions,
        w.per_frame_us,
        reference,
        if ratio <= goal { "yes" } else { "NO" },
        w.encode_us,
        w.per_frame_us - w.encode_us,
        w.switches,
        w.percent,
        w.libopus.0,
        w.libopus.1,
        w.seen.received,
        w.expected_packets,
        w.seen.lost(),
        w.seen.skipped(),
        w.seen.connected,
        w.failures,
        w.load,
    );
}
