//! Real-time capacity and memory of tracks, printed for `cargo xtask bench`.
//!
//! `cargo run --release -p voxpace-core --example capacity -- [--tracks N,N,..] [--seconds S]
//! [--idle-seconds S] [--memory-tracks N] [--json PATH] [--realtime PRIORITY]`
//!
//! First the cost of one idle output: the process's CPU time (getrusage) over a few seconds
//! with one silent track on a frame clock. Then, for each N: N tracks on one [`FrameClock`]
//! thread (the measured core), each speaking a reply that a producer thread keeps 100-200 ms
//! ahead with 100 ms pushes, as the Python reference's harness does. Reports frame lateness
//! (p50/p99/p99.9/max), frames missing from the window, underruns, the clock thread's CPU and
//! the producer's CPU per push (its own thread's CPU time over the pushes: the core the
//! clock thread competes for). Then memory per idle track and per track holding 1 s of
//! 24 kHz mono speech, from the process's resident set.
//!
//! With `--json PATH`, each figure is also appended to PATH as one JSON object per line
//! (`{"kind":"memory"|"capacity"|"idle",...}`), which `cargo xtask bench --against` reads.
//! `--idle-seconds 0` skips the idle figure. `--realtime PRIORITY` asks for the capacity
//! runs' clock thread to be scheduled `SCHED_FIFO` (granted or not is printed).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use voxpace_core::{
    Format, FrameClock, MonotonicClock, ReplyWriter, Scheduling, Track, TrackConfig,
};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The 1-minute load average (the machine is shared: every figure is printed beside it).
fn load() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().unwrap_or("?").to_string()
}

/// CPU time (user + system) of the thread named `voxpace-frame-c…`, from /proc.
fn clock_thread_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("voxpace-frame") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
            + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
        return Duration::from_millis(ticks * 10);
    }
    Duration::ZERO
}

/// CPU time (user + system) of the calling thread so far.
fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime only writes the struct it is given.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Where `--json` figures go (one JSON object per line), if anywhere.
struct Json(Option<std::fs::File>);

impl Json {
    fn open(path: Option<String>) -> Self {
        Self(path.map(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .unwrap_or_else(|e| panic!("--json {p}: {e}"))
        }))
    }

    /// Append one object of `fields` (values already JSON: numbers, `true`, quoted strings).
    fn write(&mut self, kind: &str, fields: &[(&str, String)]) {
        let Some(file) = self.0.as_mut() else {
            return;
        };
        let mut line = format!("{{\"kind\":\"{kind}\"");
        for (k, v) in fields {
            line += &format!(",\"{k}\":{v}");
        }
        line += "}\n";
        file.write_all(line.as_bytes())
            .expect("--json file writable");
    }
}

/// A float as JSON (non-finite values are not JSON: null).
fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn capacity(n: usize, seconds: u64, scheduling: Scheduling, json: &mut Json) {
    let format = Format::default();
    let clock = FrameClock::start_with(MonotonicClock::new(), format.frame_duration(), scheduling);
    let delivered = Arc::new(AtomicU64::new(0));
    let mut writers: Vec<ReplyWriter> = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    let chunk: Vec<i16> = (0..2400).map(|i| (i % 2000) as i16 + 1).collect();
    for _ in 0..n {
        let track = Track::new(format, TrackConfig::default()).unwrap();
        let h = track.handle();
        let mut w = h.open_reply().unwrap();
        assert_eq!(
            w.try_push_samples(&chunk).unwrap(),
            chunk.len(),
            "the buffer had room"
        );
        assert_eq!(
            w.try_push_samples(&chunk).unwrap(),
            chunk.len(),
            "the buffer had room"
        );
        writers.push(w);
        handles.push(h);
        let delivered = delivered.clone();
        clock.add(track, move |_, _| {
            delivered.fetch_add(1, Ordering::Relaxed);
            true
        });
    }
    // Producer: every 100 ms, 100 ms more for every track (real time, 100-200 ms lead).
    let start = Instant::now();
    let cpu0 = clock_thread_cpu();
    let mut next = start;
    // The producer's own CPU time over its pushes (not its sleeps): what one push costs the
    // core the clock thread competes for.
    let (mut producer_cpu, mut pushes) = (Duration::ZERO, 0u64);
    while start.elapsed() < Duration::from_secs(seconds) {
        next += Duration::from_millis(100);
        let before = thread_cpu();
        pushes += writers.len() as u64;
        for w in &mut writers {
            assert_eq!(
                w.try_push_samples(&chunk).unwrap(),
                chunk.len(),
                "the buffer had room"
            );
        }
        producer_cpu += thread_cpu().saturating_sub(before);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let elapsed = start.elapsed();
    let cpu = clock_thread_cpu().saturating_sub(cpu0);
    let stats = clock.stats();
    let underruns: u64 = handles.iter().map(|h| h.stats().underruns).sum();
    let expected = (elapsed.as_millis() as u64 / 20) * n as u64;
    let got = delivered.load(Ordering::Relaxed);
    let p50 = stats.lateness_quantile(0.50);
    let p99 = stats.lateness_quantile(0.99);
    let p999 = stats.lateness_quantile(0.999);
    // Each track may join one tick after the window opened: that frame is not missing.
    let missing = expected.saturating_sub(got + n as u64);
    let ok = p99 < Duration::from_millis(1) && missing == 0 && underruns == 0;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let cpu_share = cpu.as_secs_f64() / elapsed.as_secs_f64();
    let push_ns = producer_cpu.as_secs_f64() * 1e9 / pushes.max(1) as f64;
    json.write(
        "capacity",
        &[
            ("tracks", n.to_string()),
            ("seconds", num(elapsed.as_secs_f64())),
            ("frames", got.to_string()),
            ("expected", expected.to_string()),
            ("missing", missing.to_string()),
            ("p50_ms", num(ms(p50))),
            ("p99_ms", num(ms(p99))),
            ("p999_ms", num(ms(p999))),
            ("max_ms", num(ms(stats.max_lateness))),
            ("underruns", underruns.to_string()),
            ("clock_thread_cpu", num(cpu_share)),
            ("producer_ns_per_push", num(push_ns)),
            ("realtime", stats.realtime.to_string()),
            ("load", format!("\"{}\"", load())),
            ("ok", ok.to_string()),
        ],
    );
    println!(
        "capacity tracks={n:>6} frames={got:>9}/{expected:<9} missing={missing:<6} p50={:>6.3}ms p99={:>6.3}ms p99.9={:>6.3}ms max={:>7.3}ms underruns={underruns:<5} clock-thread-cpu={:>5.1}% producer={push_ns:.0}ns/push realtime={} load={} ok={}",
        ms(p50),
        ms(p99),
        ms(p999),
        ms(stats.max_lateness),
        cpu_share * 100.0,
        if stats.realtime { "yes" } else { "no" },
        load(),
        if ok { "yes" } else { "NO" }
    );
    drop(writers);
    clock.stop();
}

/// CPU time (user + system) of the whole process so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// What one idle output costs: the process's CPU over `seconds` with one silent track on
/// a frame clock (real clock), as a share of one core.
fn idle(seconds: u64, json: &mut Json) {
    let format = Format::default();
    let clock = FrameClock::start(MonotonicClock::new(), format.frame_duration());
    let track = Track::new(format, TrackConfig::default()).unwrap();
    let handle = track.handle();
    clock.add(track, |_, _| true);
    std::thread::sleep(Duration::from_millis(500));
    let (cpu0, start) = (process_cpu(), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu, elapsed) = (process_cpu().saturating_sub(cpu0), start.elapsed());
    let share = cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0;
    let stats = clock.stats();
    json.write(
        "idle",
        &[
            ("process_cpu", num(share / 100.0)),
            ("seconds", num(elapsed.as_secs_f64())),
            ("load", format!("\"{}\"", load())),
        ],
    );
    println!(
        "idle tracks=1 process-cpu={share:.2}% of a core over {:.1} s (getrusage) frames={} p99={:.3}ms load={} ok={}",
        elapsed.as_secs_f64(),
        handle.stats().frames,
        stats.lateness_quantile(0.99).as_secs_f64() * 1e3,
        load(),
        if share <= 1.0 { "yes" } else { "NO" }
    );
    clock.stop();
}

fn memory(n: usize, json: &mut Json) {
    let format = Format::default();
    let base = rss_bytes();
    let tracks: Vec<Track> = (0..n)
        .map(|_| Track::new(format, TrackConfig::default()).unwrap())
        .collect();
    let idle = rss_bytes().saturating_sub(base);
    let second: Vec<i16> = (0..24_000).map(|i| (i % 2000) as i16 + 1).collect();
    let mut writers = Vec::with_capacity(n);
    let before = rss_bytes();
    for t in &tracks {
        let mut w = t.handle().open_reply().unwrap();
        for c in second.chunks(2400) {
            assert_eq!(
                w.try_push_samples(c).unwrap(),
                c.len(),
                "the buffer had room"
            );
        }
        writers.push(w);
    }
    let held = rss_bytes().saturating_sub(before);
    json.write(
        "memory",
        &[
            ("tracks", n.to_string()),
            ("idle_bytes_per_track", (idle / n as u64).to_string()),
            (
                "holding_1s_bytes_per_track",
                ((idle + held) / n as u64).to_string(),
            ),
            ("raw_pcm_bytes", "48000".into()),
            ("load", format!("\"{}\"", load())),
        ],
    );
    println!(
        "memory tracks={n} idle={} B/track holding-1s-24k-mono={} B/track (raw PCM 48000 B, +{:.1}%)",
        idle / n as u64,
        (idle + held) / n as u64,
        ((idle + held) as f64 / n as f64 / 48_000.0 - 1.0) * 100.0
    );
    drop(writers);
    drop(tracks);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let ns: Vec<usize> = arg("--tracks")
        .unwrap_or_else(|| "100,1000,4000,12000,20000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|n| *n > 0)
        .collect();
    let seconds: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10);
    let mut json = Json::open(arg("--json"));
    let idle_seconds = arg("--idle-seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    if idle_seconds > 0 {
        idle(idle_seconds, &mut json);
    }
    memory(
        arg("--memory-tracks")
            .and_then(|s| s.parse().ok())
            .unwrap_or(2000),
        &mut json,
    );
    let scheduling = match arg("--realtime").map(|p| p.parse::<u8>()) {
        None => Scheduling::Normal,
        Some(Ok(priority)) => Scheduling::Realtime(priority),
        Some(Err(e)) => panic!("--realtime: a priority 1-99: {e}"),
    };
    for n in ns {
        capacity(n, seconds, scheduling, &mut json);
    }
}
