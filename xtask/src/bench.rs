//! `cargo xtask bench [--quick] [--no-python]`: runs the workspace's benchmarks and the
//! Python reference's harness in the same run, and prints one report with ratios.
//!
//! Sources of each figure:
//! - CPU per frame (plain, idle, mixing, tee; loudness: true-peak limiter, output meter,
//!   reply normalisation per push): `cargo bench -p voxpace-core --bench frame`
//!   (criterion); Opus: `cargo bench -p voxpace-transport --bench publish`.
//! - WHEP connect time on loopback (p50/p99 over 50 sessions, goal p99 <= 100 ms):
//!   `cargo bench -p voxpace-transport --bench connect`.
//! - Tracks per core in real time and memory per track:
//!   `cargo run --release -p voxpace-core --example capacity`.
//! - Allocations per frame: `cargo bench -p voxpace-tests --bench allocations` (the test
//!   kit's counting allocator around `Track::render`: plain, with the background mixer
//!   playing a file, with a sink).
//! - Decode cost per format: `cargo bench -p voxpace-sources --bench sources`.
//! - Python: `../shared/bench/seed_baseline/bench_seed.py --mode throughput` and
//!   `--mode memory`, run with `/tmp/seedvenv` (created with its `setup_venv.sh` if missing).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Result;

use crate::system::{cargo, root};

const HELP: &str = "\
cargo xtask bench [--quick] [--no-python]

Runs the benchmarks (core frame path, Opus publish path, WebRTC connect time, background
decode, real-time capacity, memory, allocations per frame) and the Python reference's throughput and memory
modes on this machine, then prints one report with Rust/Python ratios side by side.

  --quick      shorter measurements (criterion groups of the sources and transport benches
               are skipped, their summaries kept; fewer capacity points; shorter Python runs)
  --no-python  do not run the Python reference
";

struct Options {
    quick: bool,
    python: bool,
}

/// Output of one benchmark command (stdout and stderr together) and how long it took.
struct Ran {
    what: String,
    /// Standard output alone (the figures).
    stdout: String,
    /// Standard output, then standard error (shown when the command failed).
    text: String,
    ok: bool,
    secs: f64,
}

fn capture(mut cmd: Command, what: &str) -> Ran {
    eprintln!("xtask bench: {what}");
    let start = Instant::now();
    let out = cmd.stdin(Stdio::null()).output();
    let secs = start.elapsed().as_secs_f64();
    match out {
        Ok(o) => Ran {
            what: what.into(),
            stdout: String::from_utf8_lossy(&o.stdout).to_string(),
            text: String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr),
            ok: o.status.success(),
            secs,
        },
        Err(e) => Ran {
            what: what.into(),
            stdout: String::new(),
            text: format!("could not start: {e}"),
            ok: false,
            secs,
        },
    }
}

/// Criterion results: (benchmark id, median time in µs).
fn criterion_times(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.contains("time:") {
            name = line.trim().to_string();
        }
        let Some(rest) = line.split("time:").nth(1) else {
            continue;
        };
        if line
            .split("time:")
            .next()
            .is_some_and(|n| !n.trim().is_empty())
        {
            name = line.split("time:").next().unwrap_or("").trim().to_string();
        }
        // time:   [1.2 µs 1.3 µs 1.4 µs]: the middle one is the estimate.
        let parts: Vec<&str> = rest
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split_whitespace()
            .collect();
        if parts.len() >= 4 {
            if let Ok(v) = parts[2].parse::<f64>() {
                let scale = match parts[3] {
                    "ns" => 1e-3,
                    "µs" | "us" => 1.0,
                    "ms" => 1e3,
                    "s" => 1e6,
                    _ => continue,
                };
                out.push((name.clone(), v * scale));
            }
        }
    }
    out
}

/// The allocations bench's output: the frames counted, and (case, allocations per frame)
/// as printed.
fn allocations(text: &str) -> (Option<u64>, Vec<(String, String)>) {
    let frames = text
        .lines()
        .find_map(|l| l.strip_prefix("frames ")?.trim().parse().ok());
    let cases = text
        .lines()
        .filter_map(|l| {
            let (case, n) = l
                .strip_prefix("allocations per frame: ")?
                .rsplit_once(": ")?;
            Some((case.to_string(), n.trim().to_string()))
        })
        .collect();
    (frames, cases)
}

/// One line of the Python harness's throughput mode.
#[derive(Debug, PartialEq)]
struct PyFrame {
    track: String,
    scenario: String,
    /// µs per frame, pushing and rendering (best of the repeats).
    total: f64,
    /// µs per frame in `recv()` alone: the frame path.
    recv: f64,
}

fn python_throughput(text: &str) -> Vec<PyFrame> {
    let value = |l: &str, key: &str| -> Option<f64> {
        l.split(key).nth(1)?.split_whitespace().next()?.parse().ok()
    };
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(PyFrame {
                track: w.next()?.into(),
                scenario: w.next()?.into(),
                total: value(l, "total=")?,
                recv: value(l, "recv=")?,
            })
        })
        .collect()
}

/// The Python harness's memory table: (track, state, method) -> bytes per track.
fn python_memory(text: &str) -> Vec<(String, String, String, f64)> {
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            if cells.len() != 4 {
                return None;
            }
            Some((
                cells[0].into(),
                cells[1].into(),
                cells[2].into(),
                cells[3].parse().ok()?,
            ))
        })
        .collect()
}

fn python() -> Result<PathBuf> {
    let py = PathBuf::from("/tmp/seedvenv/bin/python");
    if !py.exists() {
        let setup = seed_dir().join("setup_venv.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(&setup);
        crate::system::run(
            cmd,
            "create /tmp/seedvenv (pip install videosdk-agents==1.0.30)",
        )?;
    }
    Ok(py)
}

fn seed_dir() -> PathBuf {
    root().join("../shared/bench/seed_baseline")
}

fn ratio(python: Option<f64>, rust: Option<f64>) -> String {
    match (python, rust) {
        (Some(p), Some(r)) if r > 0.0 => format!("{:.1}×", p / r),
        _ => "-".into(),
    }
}

fn fmt_opt(v: Option<f64>, unit: &str, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$} {unit}"))
}

pub fn run_bench(args: &[String]) -> Result<()> {
    let mut o = Options {
        quick: false,
        python: true,
    };
    for a in args {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--no-python" => o.python = false,
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => anyhow::bail!("bench: unknown argument `{other}`\n\n{HELP}"),
        }
    }
    let start = Instant::now();
    // Allocations first, while the machine is otherwise idle of our own builds.
    let mut allocs = cargo();
    allocs.args(["bench", "-p", "voxpace-tests", "--bench", "allocations"]);
    let allocs = capture(allocs, "cargo bench -p voxpace-tests --bench allocations");

    let mut runs = Vec::new();
    let mut frame = cargo();
    frame.args(["bench", "-p", "voxpace-core", "--bench", "frame"]);
    let frame = capture(frame, "cargo bench -p voxpace-core --bench frame");

    // Quick: a filter that matches no criterion benchmark keeps only the printed summaries.
    let skip_criterion = ["--", "xtask-quick-no-criterion-groups"];
    let mut opus = cargo();
    opus.args(["bench", "-p", "voxpace-transport", "--bench", "publish"]);
    if o.quick {
        opus.args(skip_criterion).env("VOXPACE_BENCH_SECS", "2");
    }
    let opus = capture(opus, "cargo bench -p voxpace-transport --bench publish");
    let mut connect = cargo();
    connect.args(["bench", "-p", "voxpace-transport", "--bench", "connect"]);
    if o.quick {
        connect.env("VOXPACE_BENCH_SESSIONS", "20");
    }
    let connect = capture(connect, "cargo bench -p voxpace-transport --bench connect");

    let mut decode = cargo();
    decode.args(["bench", "-p", "voxpace-sources", "--bench", "sources"]);
    if o.quick {
        decode.args(skip_criterion);
    }
    let decode = capture(decode, "cargo bench -p voxpace-sources --bench sources");

    let mut capacity = cargo();
    capacity.args([
        "run",
        "--release",
        "-q",
        "-p",
        "voxpace-core",
        "--example",
        "capacity",
        "--",
    ]);
    if o.quick {
        capacity.args([
            "--tracks",
            "1000,20000",
            "--seconds",
            "3",
            "--memory-tracks",
            "1000",
        ]);
    }
    let capacity = capture(
        capacity,
        "cargo run --release -p voxpace-core --example capacity",
    );

    let (py_tp, py_mem) = if o.python {
        let py = python()?;
        let mut tp = Command::new(&py);
        tp.current_dir(seed_dir()).args([
            "bench_seed.py",
            "--mode",
            "throughput",
            "--quiet-pct",
            "0",
        ]);
        if o.quick {
            tp.args(["--frames", "5000", "--repeats", "2"]);
        }
        let tp = capture(tp, "python bench_seed.py --mode throughput");
        let mut mem = Command::new(&py);
        mem.current_dir(seed_dir())
            .args(["bench_seed.py", "--mode", "memory", "--quiet-pct", "0"]);
        if o.quick {
            mem.args(["--n", "300"]);
        }
        let mem = capture(mem, "python bench_seed.py --mode memory");
        (Some(tp), Some(mem))
    } else {
        (None, None)
    };

    // ---- the report ----
    let ft = criterion_times(&frame.text);
    let rust_frame = |key: &str| ft.iter().find(|(n, _)| n.contains(key)).map(|(_, v)| *v);
    let pt = py_tp
        .as_ref()
        .map(|r| python_throughput(&r.text))
        .unwrap_or_default();
    let py = |track: &str, sc: &str| pt.iter().find(|p| p.track == track && p.scenario == sc);
    let py_frame = |track: &str, sc: &str| py(track, sc).map(|p| p.recv);
    println!();
    println!("==================== voxpace benchmark report ====================");
    println!(
        "machine: {} cores; Rust release builds; Python {} (videosdk-agents 1.0.30), same run",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if o.python { "3.11 venv" } else { "not run" }
    );
    println!();
    println!("CPU per 20 ms frame at 24 kHz mono (one core; lower is better)");
    println!(
        "  Rust: Track::render (criterion median); Python: recv() (best of repeats); both the"
    );
    println!("  frame path alone. Python incl. pushing (add_new_bytes) in the last column.");
    println!(
        "{:<34} {:>12} {:>12} {:>10} {:>18} {:>14}",
        "case", "Rust", "Python", "Py/Rust", "Rust frames/CPU-s", "Py push+recv"
    );
    let rows = [
        ("plain: speech", "plain speech", ("plain", "steady")),
        ("plain: idle silence", "idle silence", ("plain", "silence")),
        (
            "mixing: speech + background",
            "speech + background",
            ("mixing", "steady_bg"),
        ),
        ("tee: speech + 1 sink", "speech + 1 sink", ("tee", "sink")),
    ];
    for (label, key, (pk, ps)) in rows {
        let r = rust_frame(key);
        let p = py_frame(pk, ps);
        println!(
            "{:<34} {:>12} {:>12} {:>10} {:>18} {:>14}",
            label,
            fmt_opt(r, "µs", 3),
            fmt_opt(p, "µs", 2),
            ratio(p, r),
            r.map_or("-".into(), |r| format!("{:.0}", 1e6 / r)),
            fmt_opt(py(pk, ps).map(|p| p.total), "µs", 2)
        );
    }
    println!();
    println!("Loudness (same bench; the push rows are the producer side, per 20 ms pushed)");
    for (name, us) in ft.iter().filter(|(n, _)| n.contains("loudness: ")) {
        let name = name.trim_start_matches("frame/loudness: ");
        println!("  {name:<58} {us:>9.3} µs");
    }
    println!();
    let opus_lines: Vec<&str> = opus
        .text
        .lines()
        .filter(|l| l.starts_with("cpu per frame") || l.starts_with("realtime"))
        .collect();
    for l in &opus_lines {
        println!("opus: {l}");
    }
    let ot = criterion_times(&opus.text);
    for (n, v) in ot.iter().take(8) {
        println!("opus (criterion): {n}: {v:.1} µs");
    }
    println!("(Python: the reference does not encode Opus itself; no figure to compare.)");
    println!();
    println!("WebRTC connect time, loopback (POST of the offer to connected; goal p99 <= 100 ms)");
    match connect
        .stdout
        .lines()
        .find(|l| l.starts_with("whep_connect_loopback"))
    {
        Some(l) => println!("  {l}"),
        None => println!("  (the connect bench printed no figures)"),
    }

    println!();
    println!("Idle output (one silent track on the frame clock, real clock)");
    let idle_line = capacity.text.lines().find(|l| l.starts_with("idle"));
    println!(
        "  rust {}",
        idle_line.unwrap_or("(capacity example printed no idle line)")
    );

    println!();
    println!("Real-time tracks per core (lateness p99, p99.9, max; missing frames)");
    let cap_lines: Vec<&str> = capacity
        .text
        .lines()
        .filter(|l| l.starts_with("capacity"))
        .collect();
    for l in &cap_lines {
        println!("  rust {l}");
    }
    let best_ok = cap_lines
        .iter()
        .filter(|l| l.contains("ok=yes"))
        .filter_map(|l| {
            l.split("tracks=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let rust_tp = rust_frame("plain speech").map(|us| 20_000.0 / us);
    let py_tp_streams = py("plain", "steady").map(|p| 20_000.0 / p.total);
    println!(
        "  throughput bound (20 ms / CPU per frame, plain; Python incl. pushing): Rust {} vs Python {} -> {}",
        fmt_opt(rust_tp, "streams", 0),
        fmt_opt(py_tp_streams, "streams", 0),
        ratio(rust_tp, py_tp_streams).replace('×', "× more in Rust")
    );
    println!(
        "  paced, one clock thread, p99 lateness < 1 ms: Rust largest passing N = {} (of those tried); \
         Python (README, capacity mode, not rerun here: ~6 min): 500 plain, 300 mixing -> {}",
        best_ok.map_or("none".into(), |n| format!("{n:.0}")),
        ratio(best_ok, Some(500.0)).replace('×', "× Python's plain")
    );

    println!();
    println!("Memory per track");
    let mem_line = capacity.text.lines().find(|l| l.starts_with("memory"));
    println!(
        "  rust {}",
        mem_line.unwrap_or("(capacity example printed no memory line)")
    );
    let field = |key: &str| -> Option<f64> {
        mem_line?
            .split(key)
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let (r_idle, r_held) = (field("idle="), field("holding-1s-24k-mono="));
    let pm = py_mem
        .as_ref()
        .map(|r| python_memory(&r.text))
        .unwrap_or_default();
    let py_m = |track: &str, state: &str| {
        pm.iter()
            .find(|(t, s, m, _)| t == track && s == state && m == "rss")
            .map(|(_, _, _, v)| *v)
    };
    println!(
        "  idle track:             Rust {:>10}  Python (plain, rss) {:>10}  Py/Rust {}",
        fmt_opt(r_idle, "B", 0),
        fmt_opt(py_m("plain", "idle"), "B", 0),
        ratio(py_m("plain", "idle"), r_idle)
    );
    println!(
        "  holding 1 s of speech:  Rust {:>10}  Python (plain, rss) {:>10}  Py/Rust {}",
        fmt_opt(r_held, "B", 0),
        fmt_opt(py_m("plain", "buffered1s"), "B", 0),
        ratio(py_m("plain", "buffered1s"), r_held)
    );

    println!();
    let (alloc_frames, alloc_cases) = allocations(&allocs.stdout);
    println!(
        "Allocations per frame (Track::render, counted in-process over {} frames)",
        alloc_frames.map_or("?".into(), |n| n.to_string())
    );
    for (case, n) in &alloc_cases {
        println!("  {case:<40} {n}");
    }
    if alloc_cases.is_empty() {
        println!("  (the allocations bench printed no figures)");
    }
    println!("  (Python: every frame builds new bytes and av.AudioFrame objects; not counted.)");

    println!();
    println!("Background decode cost per format (decode + resample to the track format)");
    let mut in_summary = false;
    for l in decode.stdout.lines() {
        if l.starts_with("Background cost") {
            in_summary = true;
        }
        if in_summary && !l.trim().is_empty() {
            println!("  {l}");
        }
    }
    if !in_summary {
        println!("  (the sources bench printed no summary)");
    }
    println!(
        "  (Python: the reference takes background audio as raw PCM only; no decoder to compare.)"
    );

    println!();
    runs.push(allocs);
    runs.push(frame);
    runs.push(opus);
    runs.push(connect);
    runs.push(decode);
    runs.push(capacity);
    runs.extend(py_tp);
    runs.extend(py_mem);
    let mut failed = 0;
    for r in &runs {
        let status = if r.ok { "ok" } else { "FAILED" };
        println!("  {status:6} {:>6.0} s  {}", r.secs, r.what);
        if !r.ok {
            failed += 1;
            let tail: Vec<&str> = r.text.lines().rev().take(15).collect();
            for l in tail.iter().rev() {
                println!("         | {l}");
            }
        }
    }
    println!(
        "bench: {} commands, {failed} failed, in {:.0} s",
        runs.len(),
        start.elapsed().as_secs_f64()
    );
    if failed > 0 {
        anyhow::bail!("{failed} benchmark commands failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criterion_and_python_output() {
        let text = "frame/plain speech 24k mono\n                        time:   [1.0000 µs 1.2000 µs 1.4000 µs]\n\
                    frame/idle silence 24k mono  time:   [90.0 ns 95.5 ns 99.0 ns]\n";
        let t = criterion_times(text);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].0, "frame/plain speech 24k mono");
        assert!((t[0].1 - 1.2).abs() < 1e-9);
        assert!((t[1].1 - 0.0955).abs() < 1e-9);
        let py = "plain      steady         frames= 20000 total=    6.17 us/frame (median     6.38)  add=    4.61  recv=    1.39  -> 1 frames/CPU-s\n";
        assert_eq!(
            python_throughput(py),
            vec![PyFrame {
                track: "plain".into(),
                scenario: "steady".into(),
                total: 6.17,
                recv: 1.39
            }]
        );
        let mem = "| track | state | method | bytes per track (N=300) |\n|---|---|---|---:|\n| plain | idle | rss | 4096 |\n";
        let m = python_memory(mem);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].3, 4096.0);
        assert_eq!(ratio(Some(10.0), Some(2.0)), "5.0×");
        let allocs = "frames 2000\nallocations per frame: tee: speech + 1 sink: 0.000\n";
        assert_eq!(
            allocations(allocs),
            (
                Some(2000),
                vec![("tee: speech + 1 sink".into(), "0.000".into())]
            )
        );
    }
}
