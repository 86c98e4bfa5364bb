//! `cargo xtask bench [--quick] [--no-python]`: runs the workspace's benchmarks and the
//! Python reference's harness in the same run, and prints one report with ratios.
//!
//! Sources of each figure:
//! - CPU per frame (plain, idle, mixing, tee; loudness: true-peak limiter, output meter,
//!   reply normalisation per push): `cargo bench -p voxpace-core --bench frame`
//!   (criterion); Opus: `cargo bench -p voxpace-transport --bench publish`.
//! - WHEP connect time on loopback (p50/p99 over 50 sessions, goal p99 <= 100 ms):
//!   `cargo bench -p voxpace-transport --bench connect`.
//! - Whole sessions, speaking and silent (server CPU per session per frame against a bare
//!   libopus encode, and silent against speaking): `cargo bench -p voxpace-transport
//!   --bench session` against the release `voxpace` ([`crate::session`]).
//! - WHEP fan-out: a release `voxpace serve`'s CPU per listener per packet, listeners per
//!   core and loss, this tree's and the reference's side by side (`fanout.rs`):
//!   `cargo bench -p voxpace-transport --bench fanout`.
//! - An idle `voxpace serve`: the release binary serving one output that plays nothing, its
//!   process CPU (utime + stime of all its threads, `/proc/<pid>/stat`) over 10 s.
//! - Tracks per core in real time and memory per track:
//!   `cargo run --release -p voxpace-core --example capacity`.
//! - Allocations per frame: `cargo bench -p voxpace-tests --bench allocations` (the test
//!   kit's counting allocator around `Track::render`: plain, with the background mixer
//!   playing a file, with a sink).
//! - Decode cost per format: `cargo bench -p voxpace-sources --bench sources`.
//! - Python: `../shared/bench/seed_baseline/bench_seed.py --mode throughput` and
//!   `--mode memory`, run with `/tmp/seedvenv` (created with its `setup_venv.sh` if missing).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime};

use anyhow::Result;

use crate::system::{cargo, root, target_dir};

const HELP: &str = "\
cargo xtask bench [--quick] [--no-python] [--frame-clock] [--session] [--fanout]
cargo xtask bench --against REV [options]   (`cargo xtask bench --against --help`)

Runs the benchmarks (core frame path, Opus publish path, WebRTC connect time, background
decode, real-time capacity, memory, allocations per frame) and the Python reference's throughput and memory
modes on this machine, then prints one report with Rust/Python ratios side by side.

  --quick      shorter measurements (criterion groups of the sources and transport benches
               are skipped, their summaries kept; fewer capacity points; shorter Python runs)
  --no-python  do not run the Python reference
  --session    only the whole-session figures: N outputs of a release `voxpace serve`, each
               with a WebRTC listener, speaking (streamed replies + background) against a
               bare libopus encode and silent against speaking (N = 10 and 50, 10 s each;
               with --quick N = 2 for 3 s)
  --frame-clock  only the frame clock's figures: the core frame bench (loudness cases
               included), an idle `voxpace serve`, then real-time capacity (with the load
               average at the time of each)
  --fanout     only the WHEP fan-out figures: a release `voxpace serve` with 1 000 listeners
               (--quick: 50) on one output, and beside the reference's (1f8dd08) at 200
               listeners (CPU per listener per packet, listeners per core, loss, load average)
  --against REV  only the core's figures (frame bench, capacity, memory) of this tree and
               of REV, built in a worktree under target/against/, alternating in one run,
               with the ratio new/old (see `cargo xtask bench --against --help`)
";

struct Options {
    quick: bool,
    python: bool,
    /// Only the idle serve and capacity figures.
    frame_clock: bool,
    /// Only the whole-session figures.
    session: bool,
    /// Only the WHEP fan-out figures.
    fanout: bool,
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

/// One output, nothing playing, nobody listening: what an idle deployment costs.
const IDLE_CONFIG: &str = "[server]\noutputs = [\"default\"]\n";

/// `voxpace serve` with one idle output, measured from outside as an operator sees it: the
/// release binary's CPU time (utime + stime of all its threads, from `/proc/<pid>/stat`)
/// over `seconds` after a 2 s warm-up, the threads that used any, and the load average.
fn serve_idle(seconds: u64) -> Ran {
    let what = format!("voxpace serve (release, --features webrtc), one idle output, {seconds} s");
    measured(what, || measure_serve_idle(seconds))
}

/// A measurement made here rather than by a command, as a run of the report.
fn measured(what: String, measure: impl FnOnce() -> Result<String>) -> Ran {
    eprintln!("xtask bench: {what}");
    let start = Instant::now();
    let (stdout, ok) = match measure() {
        Ok(text) => (text, true),
        Err(e) => (format!("{e:#}"), false),
    };
    Ran {
        what,
        text: stdout.clone(),
        stdout,
        ok,
        secs: start.elapsed().as_secs_f64(),
    }
}

fn measure_serve_idle(seconds: u64) -> Result<String> {
    use std::io::{BufRead, BufReader};

    let binary = crate::system::build_release_serve()?;
    let dir = std::env::temp_dir().join(format!("voxpace-bench-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("idle.toml");
    std::fs::write(&config, IDLE_CONFIG)?;
    let log = std::fs::File::create(dir.join("serve.log"))?;
    let mut child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()?;
    let pid = child.id();
    let measured = (|| -> Result<String> {
        // Up once it names its address (a server that dies first closes stdout).
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        BufReader::new(stdout).read_line(&mut line)?;
        anyhow::ensure!(
            line.starts_with("listening on"),
            "voxpace serve did not start: {}",
            std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
        let load0 = loadavg();
        let (before, wall) = (threads_cpu(pid), Instant::now());
        let cpu0 = process_ticks(pid)?;
        std::thread::sleep(std::time::Duration::from_secs(seconds));
        let cpu1 = process_ticks(pid)?;
        let elapsed = wall.elapsed().as_secs_f64();
        let after = threads_cpu(pid);
        let tick = clock_tick();
        let share = (cpu1 - cpu0) as f64 / tick / elapsed * 100.0;
        let mut out = format!(
            "serve-idle outputs=1 process-cpu={share:.2}% of a core over {elapsed:.1} s \
             ({} ticks of 1/{tick:.0} s, /proc/<pid>/stat) load-average={load0} -> {} ok={}\n",
            cpu1 - cpu0,
            loadavg(),
            if share <= 1.0 { "yes" } else { "NO" }
        );
        for (tid, (name, ticks)) in &after {
            let used = ticks - before.get(tid).map_or(0, |b| b.1);
            if used > 0 {
                out += &format!(
                    "  thread {name:<20} {:.2}% of a core\n",
                    used as f64 / tick / elapsed * 100.0
                );
            }
        }
        Ok(out)
    })();
    // Stop only the server this run started, by its pid: SIGTERM, then SIGKILL.
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if child.try_wait()?.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    measured
}

/// utime + stime (clock ticks) from a `/proc/.../stat` text: fields 14 and 15, counted
/// after the parenthesised command name (which may hold spaces).
fn stat_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn process_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    stat_ticks(&stat).ok_or_else(|| anyhow::anyhow!("unreadable /proc/{pid}/stat: {stat}"))
}

/// Each thread of `pid`: (thread id -> (name, CPU ticks so far)).
fn threads_cpu(pid: u32) -> std::collections::BTreeMap<String, (String, u64)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        if let Some(ticks) = stat_ticks(&stat) {
            let tid = task.file_name().to_string_lossy().to_string();
            out.insert(tid, (name.trim().to_string(), ticks));
        }
    }
    out
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when that is unavailable).
fn clock_tick() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
pub(crate) fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join("/")
}

/// Criterion's own figures for the benchmarks a run measured: (benchmark id, time per
/// iteration in µs, the estimate criterion prints as `time:`), in the order it measured
/// them. Read from the `new/benchmark.json` and `new/estimates.json` criterion writes below
/// `dir` (`<target>/criterion`); only those written at or after `since`, so an earlier
/// run's figures are not reported again.
fn criterion_estimates(dir: &Path, since: SystemTime) -> Vec<(String, f64)> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                let estimates = path.join("estimates.json");
                let written = std::fs::metadata(&estimates).and_then(|m| m.modified());
                let Ok(written) = written else { continue };
                let figure = std::fs::read_to_string(path.join("benchmark.json"))
                    .ok()
                    .zip(std::fs::read_to_string(&estimates).ok())
                    .and_then(|(b, e)| criterion_estimate(&b, &e));
                if let (true, Some(figure)) = (written >= since, figure) {
                    found.push((written, figure));
                }
            } else {
                dirs.push(path);
            }
        }
    }
    found.sort_by_key(|(written, _)| *written);
    found.into_iter().map(|(_, figure)| figure).collect()
}

/// One benchmark's figure from criterion's `benchmark.json` (its `full_id`) and
/// `estimates.json` (the slope where criterion fitted one, else the mean; in ns).
fn criterion_estimate(benchmark: &str, estimates: &str) -> Option<(String, f64)> {
    let benchmark: serde_json::Value = serde_json::from_str(benchmark).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(estimates).ok()?;
    let ns = estimates["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| estimates["mean"]["point_estimate"].as_f64())?;
    Some((benchmark["full_id"].as_str()?.to_string(), ns / 1e3))
}

/// The JSON the allocations bench writes (`VOXPACE_BENCH_JSON`): the frames counted, and
/// (case, allocations per frame to three places); nothing where the file is not that JSON.
fn allocations(json: &str) -> (Option<u64>, Vec<(String, String)>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return (None, Vec::new());
    };
    let cases = v["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let n = c["allocations_per_frame"].as_f64()?;
            Some((c["case"].as_str()?.to_string(), format!("{n:.3}")))
        })
        .collect();
    (v["frames"].as_u64(), cases)
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
    if args.iter().any(|a| a == "--against") {
        if args.iter().any(|a| a == "-h" || a == "--help") {
            print!("{}", crate::against::HELP);
            return Ok(());
        }
        return crate::against::run_against(args);
    }
    let mut o = Options {
        quick: false,
        python: true,
        frame_clock: false,
        session: false,
        fanout: false,
    };
    for a in args {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--no-python" => o.python = false,
            "--frame-clock" => o.frame_clock = true,
            "--session" => o.session = true,
            "--fanout" => o.fanout = true,
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => anyhow::bail!("bench: unknown argument `{other}`\n\n{HELP}"),
        }
    }
    let start = Instant::now();
    if o.frame_clock {
        return frame_clock_only(&o, start);
    }
    if o.session {
        let session = sessions(&o)?;
        println!();
        for l in crate::session::report(&session.stdout) {
            println!("{l}");
        }
        println!();
        return summary(&[session], start);
    }
    if o.fanout {
        let fanout = fanout(&o);
        println!();
        report_fanout(&fanout);
        return summary(&[fanout], start);
    }
    // Allocations first, while the machine is otherwise idle of our own builds.
    let figures = target_dir().join("xtask-bench");
    std::fs::create_dir_all(&figures)?;
    let allocs_json = figures.join("allocations.json");
    let _ = std::fs::remove_file(&allocs_json);
    let mut allocs = cargo();
    allocs.args(["bench", "-p", "voxpace-tests", "--bench", "allocations"]);
    allocs.env("VOXPACE_BENCH_JSON", &allocs_json);
    let allocs = capture(allocs, "cargo bench -p voxpace-tests --bench allocations");

    let mut runs = Vec::new();
    let criterion = target_dir().join("criterion");
    let since = SystemTime::now();
    let mut frame = cargo();
    frame.args(["bench", "-p", "voxpace-core", "--bench", "frame"]);
    let frame = capture(frame, "cargo bench -p voxpace-core --bench frame");
    let ft = criterion_estimates(&criterion, since);

    // Quick: a filter that matches no criterion benchmark keeps only the printed summaries.
    let skip_criterion = ["--", "xtask-quick-no-criterion-groups"];
    let mut opus = cargo();
    opus.args(["bench", "-p", "voxpace-transport", "--bench", "publish"]);
    if o.quick {
        opus.args(skip_criterion).env("VOXPACE_BENCH_SECS", "2");
    }
    let since = SystemTime::now();
    let opus = capture(opus, "cargo bench -p voxpace-transport --bench publish");
    let ot = criterion_estimates(&criterion, since);
    let mut connect = cargo();
    connect.args(["bench", "-p", "voxpace-transport", "--bench", "connect"]);
    if o.quick {
        connect.env("VOXPACE_BENCH_SESSIONS", "20");
    }
    let connect = capture(connect, "cargo bench -p voxpace-transport --bench connect");
    let fanout = fanout(&o);

    let mut decode = cargo();
    decode.args(["bench", "-p", "voxpace-sources", "--bench", "sources"]);
    if o.quick {
        decode.args(skip_criterion);
    }
    let decode = capture(decode, "cargo bench -p voxpace-sources --bench sources");

    // The idle server first, so that the capacity run's threads are gone.
    let idle = serve_idle(IDLE_SECONDS);
    let session = sessions(&o)?;
    let capacity = capacity(&o);

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
    report_loudness(&ft);
    println!();
    let opus_lines: Vec<&str> = opus
        .text
        .lines()
        .filter(|l| l.starts_with("cpu per frame") || l.starts_with("realtime"))
        .collect();
    for l in &opus_lines {
        println!("opus: {l}");
    }
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
    for l in crate::session::report(&session.stdout) {
        println!("{l}");
    }

    let best_ok = report_frame_clock(&idle, &capacity);
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
    let (alloc_frames, alloc_cases) = std::fs::read_to_string(&allocs_json)
        .map(|json| allocations(&json))
        .unwrap_or_default();
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
    report_fanout(&fanout);

    println!();
    runs.push(allocs);
    runs.push(frame);
    runs.push(opus);
    runs.push(connect);
    runs.push(fanout);
    runs.push(decode);
    runs.push(idle);
    runs.push(session);
    runs.push(capacity);
    runs.extend(py_tp);
    runs.extend(py_mem);
    summary(&runs, start)
}

/// The whole-session bench against the release server it builds first.
fn sessions(o: &Options) -> Result<Ran> {
    Ok(capture(
        crate::session::command(o.quick)?,
        "cargo bench -p voxpace-transport --bench session",
    ))
}

/// The WHEP fan-out figures (`fanout.rs`), as a run of the report.
fn fanout(o: &Options) -> Ran {
    let size = crate::fanout::Size::new(o.quick);
    let what = format!(
        "WHEP fan-out: release voxpace serve, {} listeners, and beside {} at {}",
        size.listeners,
        crate::fanout::REFERENCE,
        size.compare
    );
    measured(what, || crate::fanout::measure(&size))
}

fn report_fanout(fanout: &Ran) {
    println!(
        "WHEP fan-out (one output playing a looped file; server CPU per listener per packet = \
         (CPU with N listeners - CPU with one) / (N-1) / 50 packets per second)"
    );
    print!("{}", fanout.text);
}

/// How long the idle server is measured.
const IDLE_SECONDS: u64 = 10;

/// `cargo xtask bench --frame-clock`: the idle server and capacity alone, in one run.
/// With them, the core frame bench (criterion), whose loudness cases are the per-frame
/// costs later work is measured against.
fn frame_clock_only(o: &Options, start: Instant) -> Result<()> {
    let since = SystemTime::now();
    let mut frame = cargo();
    frame.args(["bench", "-p", "voxpace-core", "--bench", "frame"]);
    let frame = capture(frame, "cargo bench -p voxpace-core --bench frame");
    let ft = criterion_estimates(&target_dir().join("criterion"), since);
    let idle = serve_idle(IDLE_SECONDS);
    let capacity = capacity(o);
    println!();
    println!("==================== voxpace frame clock figures ====================");
    println!(
        "machine: {} cores; load average (1/5/15 min) at the end: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    println!();
    println!("CPU per 20 ms frame (Track::render, criterion median)");
    for (name, us) in ft.iter().filter(|(n, _)| !n.contains("loudness: ")) {
        let name = name.trim_start_matches("frame/");
        println!("  {name:<58} {us:>9.3} µs");
    }
    report_loudness(&ft);
    report_frame_clock(&idle, &capacity);
    println!();
    summary(&[frame, idle, capacity], start)
}

/// The loudness rows of the core frame bench.
fn report_loudness(ft: &[(String, f64)]) {
    println!();
    println!("Loudness (same bench; the push rows are the producer side, per 20 ms pushed)");
    for (name, us) in ft.iter().filter(|(n, _)| n.contains("loudness: ")) {
        let name = name.trim_start_matches("frame/loudness: ");
        println!("  {name:<58} {us:>9.3} µs");
    }
}

/// The capacity example: real-time tracks on one clock thread, memory per track, and the
/// frame clock alone with one idle track.
fn capacity(o: &Options) -> Ran {
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
    capture(
        capacity,
        "cargo run --release -p voxpace-core --example capacity",
    )
}

/// The idle and capacity sections of the report; returns the largest track count that
/// passed (p99 lateness < 1 ms, nothing missing).
fn report_frame_clock(idle: &Ran, capacity: &Ran) -> Option<f64> {
    println!();
    println!(
        "Idle output: `voxpace serve` (release), one output, nothing playing, nobody listening"
    );
    let serve_line = idle.stdout.lines().find(|l| l.starts_with("serve-idle"));
    match serve_line {
        Some(l) => println!("  rust {l}"),
        None => println!(
            "  (not measured: {})",
            idle.text.lines().last().unwrap_or("no output")
        ),
    }
    for l in idle.stdout.lines().filter(|l| l.starts_with("  thread")) {
        println!("  {l}");
    }
    let idle_line = capacity.text.lines().find(|l| l.starts_with("idle"));
    println!(
        "  core alone (one silent track on a FrameClock): {}",
        idle_line.unwrap_or("(capacity example printed no idle line)")
    );

    println!();
    println!("Real-time tracks on one clock thread (lateness p99, p99.9, max; missing frames)");
    let cap_lines: Vec<&str> = capacity
        .text
        .lines()
        .filter(|l| l.starts_with("capacity"))
        .collect();
    for l in &cap_lines {
        println!("  rust {l}");
    }
    cap_lines
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
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
}

/// One line per command (ok or FAILED, with the tail of a failure's output); an error if
/// any failed.
fn summary(runs: &[Ran], start: Instant) -> Result<()> {
    let mut failed = 0;
    for r in runs {
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
    fn reads_criterion_estimates_written_since_the_run_began() {
        let dir = std::env::temp_dir().join(format!("xtask-criterion-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let write = |id: &str, sub: &str, estimates: &str| {
            let new = dir.join(sub).join("new");
            std::fs::create_dir_all(&new).unwrap();
            let benchmark = format!(r#"{{"group_id":"frame","full_id":"{id}"}}"#);
            std::fs::write(new.join("benchmark.json"), benchmark).unwrap();
            std::fs::write(new.join("estimates.json"), estimates).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mean_only = r#"{"mean":{"point_estimate":95.5},"slope":null}"#;
        write("frame/old run", "frame/old run", mean_only);
        let since = SystemTime::now();
        // A file's time is the kernel's coarse clock, a few ms behind `now()`; a bench run
        // takes far longer than that before its first figure.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let slope = r#"{"mean":{"point_estimate":1300.0},"slope":{"point_estimate":1200.0}}"#;
        write(
            "frame/plain speech 24k mono",
            "frame/plain speech 24k mono",
            slope,
        );
        write(
            "frame/loudness: push 20 ms",
            "frame/loudness_ push 20 ms",
            mean_only,
        );
        // criterion's report folders and other files are passed over.
        std::fs::create_dir_all(dir.join("frame/report")).unwrap();
        let t = criterion_estimates(&dir, since);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0].0, "frame/plain speech 24k mono");
        assert!((t[0].1 - 1.2).abs() < 1e-9, "the slope, in µs");
        assert_eq!(
            t[1].0, "frame/loudness: push 20 ms",
            "the id, not the folder name"
        );
        assert!((t[1].1 - 0.0955).abs() < 1e-9, "the mean without a slope");
        assert_eq!(criterion_estimate("{}", slope), None);
        assert_eq!(criterion_estimate("not json", slope), None);
    }

    #[test]
    fn parses_python_and_bench_json_output() {
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
        let stat = "4242 (tokio-rt worker) S 1 4242 4242 0 -1 4194560 900 0 0 0 17 5 0 0 20 0 9 0";
        assert_eq!(stat_ticks(stat), Some(22));
        let allocs = r#"{"frames":2000,"cases":[{"case":"tee: speech + 1 sink","allocations_per_frame":0.0}]}"#;
        assert_eq!(
            allocations(allocs),
            (
                Some(2000),
                vec![("tee: speech + 1 sink".into(), "0.000".into())]
            )
        );
        assert_eq!(allocations("frames 2000\n"), (None, Vec::new()));
    }
}
