//! `cargo xtask bench --against REV`: the core's figures of this tree and of REV, measured
//! side by side in one run, alternating, with the ratio new/old and the load average.
//!
//! REV is checked out in a git worktree under `target/against/<sha>/src` and built there
//! into its own target directory (`target/against/<sha>/target`): release builds of the
//! core frame bench and the capacity example only. Then, for each round, both versions run
//! one after the other (the order swaps every round, so neither always runs on a warmer or
//! quieter machine): the frame bench (criterion; its `estimates.json` files, under a
//! `CRITERION_HOME` per run, are the figures), then the capacity example at each track
//! count (memory per idle track and per track holding 1 s of speech, and real-time tracks
//! on one clock thread). This tree's capacity example writes its figures as JSON lines
//! (`--json`); an older REV's printed lines are parsed instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::bench::loadavg;
use crate::system::{cargo, root, target_dir};

pub const HELP: &str = "\
cargo xtask bench --against REV [--rounds N] [--tracks N,N] [--seconds S]
                  [--memory-tracks N] [--no-frame] [--no-perf] [--realtime PRIORITY]

Builds REV's core frame bench and capacity example in a git worktree under
target/against/<sha>/ (its own target directory) and this tree's, then runs both
alternating, round after round: the frame bench (criterion medians), memory per idle track
and per track holding 1 s of 24 kHz speech, and N tracks on one clock thread (lateness
p99/p99.9/max, missing frames, clock-thread CPU per track-frame, the producer's CPU per
push when the example prints it). Prints every figure of both, the ratio new/old and the
load average at the time of each run.

  --rounds N         rounds of old+new (default 2; the order swaps every round)
  --tracks N,N       track counts for the clock-thread runs (default 12000,20000)
  --seconds S        seconds per clock-thread run (default 5)
  --memory-tracks N  tracks in the memory figure (default 2000)
  --no-frame         skip the criterion frame bench
  --realtime P       this tree's clock thread asks for SCHED_FIFO at priority P
                     (FrameClock::start_with; REV's runs as it always did, so the report
                     says so); whether it was granted is a figure of its own
  --no-perf          do not run the capacity example under `perf record` (by default, when
                     perf is installed, the clock thread's user-space cycles per frame are
                     reported too: they stay comparable when the machine is loaded; without
                     hardware counters perf counts CPU time instead, named so)
";

struct Options {
    rev: String,
    rounds: usize,
    tracks: Vec<usize>,
    seconds: u64,
    memory_tracks: usize,
    frame: bool,
    /// Run the capacity example under `perf record` (when `perf` is installed).
    perf: bool,
    /// This tree's clock thread asks for SCHED_FIFO at this priority.
    realtime: Option<u8>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        rev: String::new(),
        rounds: 2,
        tracks: vec![12_000, 20_000],
        seconds: 5,
        memory_tracks: 2000,
        frame: true,
        perf: Command::new("perf")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        realtime: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value\n\n{HELP}"))
        };
        match a.as_str() {
            "--against" => o.rev = value("--against")?,
            "--rounds" => o.rounds = value("--rounds")?.parse().context("--rounds")?,
            "--seconds" => o.seconds = value("--seconds")?.parse().context("--seconds")?,
            "--memory-tracks" => {
                o.memory_tracks = value("--memory-tracks")?
                    .parse()
                    .context("--memory-tracks")?
            }
            "--tracks" => {
                o.tracks = value("--tracks")?
                    .split(',')
                    .map(|n| n.trim().parse().with_context(|| format!("--tracks: `{n}`")))
                    .collect::<Result<_>>()?
            }
            "--no-frame" => o.frame = false,
            "--no-perf" => o.perf = false,
            "--realtime" => {
                o.realtime = Some(value("--realtime")?.parse().context("--realtime: 1-99")?)
            }
            other => bail!("bench --against: unknown argument `{other}`\n\n{HELP}"),
        }
    }
    if o.rev.is_empty() || o.rounds == 0 {
        bail!("bench --against needs a revision and at least one round\n\n{HELP}");
    }
    Ok(o)
}

/// One version's built binaries.
struct Side {
    name: &'static str,
    label: String,
    frame: PathBuf,
    capacity: PathBuf,
    /// Scratch directory for this side's criterion output and JSON figures.
    scratch: PathBuf,
}

/// One figure measured once, with the load average when its run started.
#[derive(Clone)]
struct Sample {
    value: f64,
    load: String,
}

/// Figures by name, per side ("old", "new"), one sample per run.
type Figures = BTreeMap<String, BTreeMap<&'static str, Vec<Sample>>>;

pub fn run_against(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let sha = git(&["rev-parse", "--short=12", &format!("{}^{{commit}}", o.rev)])?;
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    let base = target_dir().join("against").join(&sha);
    let old = build_rev(&sha, &base).with_context(|| format!("building {}", o.rev))?;
    let new = build_here(&head)?;
    let sides = [old, new];
    let mut figures = Figures::new();
    for round in 0..o.rounds {
        // Swap the order every round.
        let order: [&Side; 2] = if round % 2 == 0 {
            [&sides[0], &sides[1]]
        } else {
            [&sides[1], &sides[0]]
        };
        if o.frame {
            for side in order {
                frame_bench(side, round, &mut figures)?;
            }
        }
        for &n in &o.tracks {
            for side in order {
                capacity_run(side, round, n, &o, &mut figures)?;
            }
        }
    }
    report(&o, &sides, &figures);
    Ok(())
}

pub(crate) fn git(args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(root())
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A git worktree of `sha` at `base/src` (created on first use); its path.
pub(crate) fn worktree(sha: &str, base: &Path) -> Result<PathBuf> {
    let src = base.join("src");
    if !src.join("Cargo.toml").exists() {
        std::fs::create_dir_all(base)?;
        let status = Command::new("git")
            .current_dir(root())
            .args(["worktree", "add", "--detach"])
            .arg(&src)
            .arg(sha)
            .status()?;
        if !status.success() {
            bail!("git worktree add {} {sha} failed", src.display());
        }
    }
    Ok(src)
}

/// REV's binaries, built in its worktree under `base` (created on first use).
fn build_rev(sha: &str, base: &Path) -> Result<Side> {
    let src = worktree(sha, base)?;
    let mut build = cargo();
    build
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", base.join("target"));
    let (frame, capacity) = build_binaries(build, &format!("{sha} (target/against)"))?;
    Ok(Side {
        name: "old",
        label: sha.to_string(),
        frame,
        capacity,
        scratch: base.join("runs-old"),
    })
}

fn build_here(head: &str) -> Result<Side> {
    let (frame, capacity) = build_binaries(cargo(), "this tree")?;
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty();
    Ok(Side {
        name: "new",
        label: format!("{head}{}", if dirty { "+changes" } else { "" }),
        frame,
        capacity,
        scratch: target_dir().join("against").join("runs-new"),
    })
}

/// Release build of the core frame bench and capacity example; their executables.
fn build_binaries(mut cmd: Command, what: &str) -> Result<(PathBuf, PathBuf)> {
    eprintln!(
        "xtask bench --against: release build of the core frame bench and capacity example, {what}"
    );
    cmd.args([
        "build",
        "--release",
        "-p",
        "voxpace-core",
        "--bench",
        "frame",
        "--example",
        "capacity",
        "--message-format=json-render-diagnostics",
    ])
    .stderr(Stdio::inherit());
    let out = cmd.output().context("running cargo build")?;
    if !out.status.success() {
        bail!("release build of {what} failed");
    }
    let (mut frame, mut capacity) = (None, None);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        match msg["target"]["name"].as_str() {
            Some("frame") => frame = Some(PathBuf::from(exe)),
            Some("capacity") => capacity = Some(PathBuf::from(exe)),
            _ => {}
        }
    }
    match (frame, capacity) {
        (Some(f), Some(c)) => Ok((f, c)),
        _ => bail!("the build of {what} named no frame bench or capacity executable"),
    }
}

fn record(figures: &mut Figures, side: &Side, name: &str, value: f64, load: &str) {
    figures
        .entry(name.to_string())
        .or_default()
        .entry(side.name)
        .or_default()
        .push(Sample {
            value,
            load: load.to_string(),
        });
}

/// The criterion frame bench once; its medians from criterion's own JSON.
fn frame_bench(side: &Side, round: usize, figures: &mut Figures) -> Result<()> {
    let home = side.scratch.join(format!("criterion-{round}"));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home)?;
    let load = loadavg();
    eprintln!(
        "xtask bench --against: round {} {} ({}): frame bench, load {load}",
        round + 1,
        side.name,
        side.label
    );
    let out = Command::new(&side.frame)
        .args(["--bench", "--noplot"])
        .env("CRITERION_HOME", &home)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("running the frame bench")?;
    if !out.status.success() {
        bail!("{} frame bench failed", side.name);
    }
    for (id, ns) in criterion_medians(&home)? {
        record(figures, side, &format!("frame: {id} (ns)"), ns, &load);
    }
    Ok(())
}

/// (benchmark id, median in ns) of every `new/estimates.json` under `dir`.
fn criterion_medians(dir: &Path) -> Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)?.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let (bench, estimates) = (path.join("benchmark.json"), path.join("estimates.json"));
            if path.ends_with("new") && bench.exists() && estimates.exists() {
                let bench: Value = serde_json::from_str(&std::fs::read_to_string(bench)?)?;
                let est: Value = serde_json::from_str(&std::fs::read_to_string(estimates)?)?;
                let id = bench["full_id"].as_str().unwrap_or("?").to_string();
                if let Some(ns) = est["median"]["point_estimate"].as_f64() {
                    out.push((id, ns));
                }
            } else {
                stack.push(path);
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The capacity example once at `n` tracks (with its memory figure).
fn capacity_run(
    side: &Side,
    round: usize,
    n: usize,
    o: &Options,
    figures: &mut Figures,
) -> Result<()> {
    std::fs::create_dir_all(&side.scratch)?;
    let json = side.scratch.join(format!("capacity-{round}-{n}.jsonl"));
    let _ = std::fs::remove_file(&json);
    let load = loadavg();
    eprintln!(
        "xtask bench --against: round {} {} ({}): capacity {n} tracks, {} s, load {load}",
        round + 1,
        side.name,
        side.label,
        o.seconds
    );
    // Under `perf record` when it is installed: the clock thread's user-space cycles count
    // only while it runs, so they stay comparable on a loaded machine where its CPU time
    // (and whether it keeps up) does not.
    let perf_data = side.scratch.join(format!("perf-{round}-{n}.data"));
    let perf = o.perf;
    let mut cmd = if perf {
        let mut c = Command::new("perf");
        c.args([
            "record",
            "-q",
            "-e",
            "cycles:u",
            "-c",
            &PERF_PERIOD.to_string(),
            "-o",
        ])
        .arg(&perf_data)
        .arg("--")
        .arg(&side.capacity);
        c
    } else {
        Command::new(&side.capacity)
    };
    let out = cmd
        .args(["--tracks", &n.to_string()])
        .args(["--seconds", &o.seconds.to_string()])
        .args(["--memory-tracks", &o.memory_tracks.to_string()])
        .args(["--idle-seconds", "0"])
        // Only this tree's example knows the option (REV's would ignore it anyway).
        .args(match (o.realtime, side.name) {
            (Some(p), "new") => vec!["--realtime".to_string(), p.to_string()],
            _ => vec![],
        })
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .output()
        .context("running the capacity example")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!(
            "{} capacity example failed: {}",
            side.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let lines = match std::fs::read_to_string(&json) {
        Ok(j) => j
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect(),
        // A REV from before `--json`: its printed lines.
        Err(_) => text.lines().filter_map(parse_text_line).collect::<Vec<_>>(),
    };
    let clock_cycles = perf.then(|| clock_thread_cycles(&perf_data)).flatten();
    for v in lines {
        match v["kind"].as_str() {
            Some("memory") => {
                let idle = v["idle_bytes_per_track"].as_f64();
                let held = v["holding_1s_bytes_per_track"].as_f64();
                if let Some(idle) = idle {
                    record(figures, side, "memory: idle track (B)", idle, &load);
                }
                if let Some(held) = held {
                    record(figures, side, "memory: track holding 1 s (B)", held, &load);
                }
            }
            Some("capacity") => {
                let key = |what: &str| format!("clock {n:>6} tracks: {what}");
                for (field, what) in [
                    ("p50_ms", "p50 lateness (ms)"),
                    ("p99_ms", "p99 lateness (ms)"),
                    ("p999_ms", "p99.9 lateness (ms)"),
                    ("max_ms", "max lateness (ms)"),
                    ("missing", "missing frames"),
                    ("underruns", "underruns"),
                ] {
                    if let Some(x) = v[field].as_f64() {
                        record(figures, side, &key(what), x, &load);
                    }
                }
                if let Some(cpu) = v["clock_thread_cpu"].as_f64() {
                    record(
                        figures,
                        side,
                        &key("clock-thread CPU (%)"),
                        cpu * 100.0,
                        &load,
                    );
                    // CPU time per frame rendered (on a loaded machine the thread may
                    // render fewer than one per track per 20 ms). The window is what the
                    // example counts frames over: `expected` frames of 20 ms per track.
                    let (frames, expected) = (v["frames"].as_f64(), v["expected"].as_f64());
                    if let (Some(frames), Some(expected)) = (frames, expected) {
                        let seconds = expected / n as f64 * 0.020;
                        if frames > 0.0 {
                            let per = cpu * seconds * 1e9 / frames;
                            record(figures, side, &key("CPU per track-frame (ns)"), per, &load);
                        }
                    }
                }
                if let (Some((count, unit)), Some(frames)) = (&clock_cycles, v["frames"].as_f64()) {
                    if frames > 0.0 {
                        let per = count / frames;
                        let what = format!("clock-thread {unit} per track-frame (perf)");
                        record(figures, side, &key(&what), per, &load);
                    }
                }
                // The producer thread's CPU per 100 ms push (what the clock thread competes
                // with for the cores); absent from an example that does not print it.
                if let Some(ns) = v["producer_ns_per_push"].as_f64() {
                    record(figures, side, &key("producer CPU per push (ns)"), ns, &load);
                }
                if let Some(rt) = v["realtime"].as_bool() {
                    let what = key("real-time clock thread (1 = granted)");
                    record(figures, side, &what, rt as u8 as f64, &load);
                }
                let ok = v["ok"].as_bool().unwrap_or(false);
                record(
                    figures,
                    side,
                    &key("pass (1 = yes)"),
                    ok as u8 as f64,
                    &load,
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// Events per sample of `perf record -c` in the capacity runs.
const PERF_PERIOD: u64 = 1_000_000;

/// The user-space cycles of the clock thread (named `voxpace-frame-c…`) in a `perf record`
/// file: its sample count (from `perf report --sort comm -n`) times the period, and their
/// unit. A machine without hardware counters (a VM) records `cpu-clock` instead, whose
/// period is nanoseconds of CPU time: the figure is then named so.
fn clock_thread_cycles(data: &Path) -> Option<(f64, &'static str)> {
    let out = Command::new("perf")
        .args(["report", "--stdio", "--sort", "comm", "-n", "-i"])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_file(data);
    let unit = perf_unit(&text);
    perf_comm_samples(&text, "voxpace-frame").map(|n| (n * PERF_PERIOD as f64, unit))
}

/// What a `perf report` counted, from its `# Samples: … of event '…'` line: user cycles,
/// or (perf's fallback without hardware counters) CPU nanoseconds.
fn perf_unit(text: &str) -> &'static str {
    let event = text
        .lines()
        .find_map(|l| l.split("of event '").nth(1))
        .unwrap_or("");
    if event.starts_with("cpu-clock") || event.starts_with("task-clock") {
        "user CPU ns"
    } else {
        "cycles"
    }
}

/// Samples of the threads whose name starts with `comm` in `perf report --sort comm -n`
/// output (`  12.34%  567  name`).
fn perf_comm_samples(text: &str, comm: &str) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 3 && w[0].ends_with('%') && w[2].starts_with(comm) {
            *total.get_or_insert(0.0) += w[1].parse::<f64>().ok()?;
        }
    }
    total
}

/// A `memory ...` or `capacity ...` line of a capacity example from before `--json`, as the
/// JSON object the current one writes.
fn parse_text_line(line: &str) -> Option<Value> {
    let field = |key: &str| -> Option<f64> {
        let rest = line.split(&format!(" {key}=")).nth(1)?;
        let v: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        v.parse().ok()
    };
    if line.starts_with("memory ") {
        return Some(serde_json::json!({
            "kind": "memory",
            "idle_bytes_per_track": field("idle")?,
            "holding_1s_bytes_per_track": field("holding-1s-24k-mono")?,
        }));
    }
    if line.starts_with("capacity ") {
        let cpu = field("clock-thread-cpu")? / 100.0;
        // Old lines print frames=GOT/EXPECTED and no missing count: derive it as the
        // current example does (each track may join one tick late).
        let frames = line.split(" frames=").nth(1)?.split_whitespace().next()?;
        let (got, expected) = frames.split_once('/')?;
        let (got, expected): (f64, f64) = (got.parse().ok()?, expected.parse().ok()?);
        let tracks = field("tracks")?;
        let mut v = serde_json::json!({
            "kind": "capacity",
            "frames": got,
            "expected": expected,
            "p50_ms": field("p50")?,
            "p99_ms": field("p99")?,
            "max_ms": field("max")?,
            "missing": (expected - got - tracks).max(0.0),
            "underruns": field("underruns")?,
            "clock_thread_cpu": cpu,
            "ok": line.contains("ok=yes"),
        });
        if let Some(p999) = field("p99.9") {
            v["p999_ms"] = p999.into();
        }
        if let Some(ns) = field("producer") {
            v["producer_ns_per_push"] = ns.into();
        }
        return Some(v);
    }
    None
}

fn median(samples: &[Sample]) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().map(|s| s.value).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

fn report(o: &Options, sides: &[Side; 2], figures: &Figures) {
    println!();
    println!("==================== voxpace core: new against old, same run ====================");
    println!(
        "old = {} ({}), new = {} (this tree); {} round(s), order swapped each round; \
         machine: {} cores; load average (1/5/15 min) now {}",
        sides[0].label,
        o.rev,
        sides[1].label,
        o.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    if let Some(p) = o.realtime {
        println!(
            "new's clock thread asked for SCHED_FIFO priority {p} (--realtime); old's ran as an \
             ordinary thread"
        );
    }
    println!(
        "each cell: the median over rounds, then every run's value [load average when it started]"
    );
    println!();
    println!(
        "{:<58} {:>12} {:>12} {:>9}",
        "figure", "old", "new", "new/old"
    );
    for (name, by_side) in figures {
        let empty = Vec::new();
        let (old, new) = (
            by_side.get("old").unwrap_or(&empty),
            by_side.get("new").unwrap_or(&empty),
        );
        let (mo, mn) = (median(old), median(new));
        let fmt = |m: Option<f64>| m.map_or("-".into(), |m| format!("{m:.3}"));
        let ratio = match (mo, mn) {
            (Some(a), Some(b)) if a > 0.0 => format!("{:.3}", b / a),
            _ => "-".into(),
        };
        println!("{name:<58} {:>12} {:>12} {ratio:>9}", fmt(mo), fmt(mn));
        for (side, samples) in [("old", old), ("new", new)] {
            let runs: Vec<String> = samples
                .iter()
                .map(|s| format!("{:.3} [{}]", s.value, s.load))
                .collect();
            if !runs.is_empty() {
                println!("    {side}: {}", runs.join(", "));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_is_asked_for_this_tree_only_with_a_priority() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = parse(&args(&["--against", "f2b3165", "--realtime", "10"])).unwrap();
        assert_eq!(o.realtime, Some(10));
        assert_eq!(
            parse(&args(&["--against", "f2b3165"])).unwrap().realtime,
            None
        );
        let e = parse(&args(&["--against", "x", "--realtime", "high"]))
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("--realtime"), "{e:#}");
    }

    #[test]
    fn parses_an_old_capacity_examples_lines() {
        let mem = "memory tracks=2000 idle=634 B/track holding-1s-24k-mono=52185 B/track (raw PCM 48000 B, +8.7%)";
        let v = parse_text_line(mem).unwrap();
        assert_eq!(v["idle_bytes_per_track"].as_f64(), Some(634.0));
        assert_eq!(v["holding_1s_bytes_per_track"].as_f64(), Some(52185.0));
        let cap = "capacity tracks= 12000 frames=  2988000/3000000   p50= 0.120ms p99= 0.560ms max=  2.100ms underruns=0     clock-thread-cpu= 59.5% ok=yes";
        let v = parse_text_line(cap).unwrap();
        assert_eq!(v["p99_ms"].as_f64(), Some(0.56));
        assert_eq!(v["max_ms"].as_f64(), Some(2.1));
        assert_eq!(v["missing"].as_f64(), Some(0.0));
        assert!((v["clock_thread_cpu"].as_f64().unwrap() - 0.595).abs() < 1e-9);
        assert_eq!(v["ok"].as_bool(), Some(true));
        assert!(v.get("p999_ms").is_none());
        assert_eq!(v["frames"].as_f64(), Some(2_988_000.0));
        let new = "capacity tracks= 12000 frames=  2988000/3000000   missing=0      p50= 0.120ms p99= 0.560ms p99.9= 0.800ms max=  2.100ms underruns=0     clock-thread-cpu= 59.5% load=9.1 ok=NO";
        let v = parse_text_line(new).unwrap();
        assert_eq!(v["p999_ms"].as_f64(), Some(0.8));
        assert_eq!(v["ok"].as_bool(), Some(false));
        assert!(parse_text_line("idle tracks=1 process-cpu=0.1%").is_none());
        let perf = "# Samples: 2K of event 'cycles:u'\n#\n    63.00%          1300  voxpace-frame-c\n    37.00%           700  capacity\n";
        assert_eq!(perf_comm_samples(perf, "voxpace-frame"), Some(1300.0));
        assert_eq!(perf_comm_samples(perf, "nothing"), None);
        assert_eq!(perf_unit(perf), "cycles");
        let vm = "# Samples: 36  of event 'cpu-clock:uH'\n    69.44%  25  voxpace-frame-c\n";
        assert_eq!(perf_unit(vm), "user CPU ns");
        let producer = "capacity tracks= 20000 frames=  3110563/3000000   p50= 0.370ms p99= 3.640ms max=  7.105ms underruns=1761  clock-thread-cpu= 85.7% producer=994ns/push ok=NO";
        let v = parse_text_line(producer).unwrap();
        assert_eq!(v["producer_ns_per_push"].as_f64(), Some(994.0));
        assert!(parse_text_line(cap)
            .unwrap()
            .get("producer_ns_per_push")
            .is_none());
    }
}
