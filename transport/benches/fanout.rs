//! WHEP fan-out: what one listener costs `voxpace serve`. A release server plays a looped
//! background file on one output; a swarm of real webrtc-rs WHEP listeners in this process
//! (so the server's process CPU is the server's alone) listens to it. The server's CPU
//! (utime + stime, all threads) is measured first with one listener (the encoder and the
//! mix running), then with M; the difference per listener per packet sent is the
//! per-listener cost, and 1 / (its share of a core) the listeners one core would carry.
//! The listeners count packets lost (by RTP sequence) and skipped (by RTP timestamp).
//!
//! `cargo bench -p voxpace-transport --bench fanout` with:
//! - `VOXPACE_SERVE_BIN`: the server (default: this workspace's release `voxpace`);
//!   `VOXPACE_SERVE_OLD_BIN`: an older one, measured alternately with it (its config has
//!   no `whep_max_listeners`, so it is measured at `VOXPACE_FANOUT_COMPARE` listeners).
//! - `VOXPACE_FANOUT_LISTENERS` (default 1000), `VOXPACE_FANOUT_COMPARE` (default 200),
//!   `VOXPACE_FANOUT_SECS` (seconds per window, default 10), `VOXPACE_FANOUT_ROUNDS`
//!   (rounds of old+new, default 1).
//! - `VOXPACE_FANOUT_PERF`: a file to write `perf record --call-graph dwarf` of the server's loaded window
//!   to (this tree's largest run only), for `perf report --no-children -i FILE`.
//!
//! Each figure is one line, `fanout key=value ...`, which `cargo xtask bench` reads.

mod kit;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kit::swarm::Join;
use kit::{loadavg, CpuMeter, Serve, Swarm};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One output playing music on a loop; room for `listeners` listeners all connecting from
/// 127.0.0.1. `max_listeners`: whether this server knows `whep_max_listeners`.
fn config(listeners: usize, max_listeners: bool) -> String {
    let music = kit::serve::asset("music.wav");
    let limit = if max_listeners {
        format!("whep_max_listeners = {}\n", listeners.max(1))
    } else {
        String::new()
    };
    format!(
        "[server]\noutputs = [\"agent\"]\nmax_connections = {conns}\n\n\
         [transport]\nwhep = true\nwhep_max_pending_per_output = 1000\n\
         whep_max_pending_per_client = 1000\nwhep_connect_timeout_ms = 60000\n{limit}\n\
         [background]\nfile = \"{music}\"\nloop = true\n",
        conns = (listeners + 64).max(1024),
        music = music.display()
    )
}

/// What one run measured.
struct Run {
    listeners: usize,
    /// Server CPU, % of a core: with one listener, with all.
    base: f64,
    loaded: f64,
    /// This process (the listeners) over the loaded window, % of a core.
    swarm: f64,
    packets: f64,
    lost: u64,
    skipped: u64,
    connected: u64,
    failures: u64,
    load: String,
}

impl Run {
    /// Server CPU per listener per packet, in µs.
    fn per_packet_us(&self) -> f64 {
        let extra = (self.loaded - self.base) / 100.0; // cores
        let listeners = (self.listeners - 1).max(1) as f64;
        // 50 packets per listener per second (20 ms frames).
        extra / listeners / 50.0 * 1e6
    }

    /// A listener's share of a core, %.
    fn per_listener_percent(&self) -> f64 {
        (self.loaded - self.base) / (self.listeners - 1).max(1) as f64
    }
}

async fn measure(binary: &Path, listeners: usize, secs: u64, max_listeners: bool) -> Run {
    let serve = Serve::start(binary, &config(listeners, max_listeners));
    let url = serve.whep_url("agent");
    let mut swarm = Swarm::new();
    let join = Join::default();
    swarm.grow(&url, 1, join).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let serve_pid = serve.pid();
    let window = |secs| async move {
        let cpu = CpuMeter::start(serve_pid).unwrap();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        cpu.stop().unwrap().percent_of_core()
    };
    let base = window(secs).await;
    swarm.grow(&url, listeners - 1, join).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = swarm.totals();
    let own = kit::cpu::own().unwrap();
    let perf = std::env::var_os("VOXPACE_FANOUT_PERF")
        .filter(|_| max_listeners)
        .map(|out| profile(serve_pid, &out));
    let loaded = window(secs).await;
    if let Some(mut perf) = perf {
        // perf writes its file when interrupted.
        let _ = std::process::Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let _ = perf.wait();
    }
    let swarm_cpu = own.stop().unwrap().percent_of_core();
    let load = loadavg();
    let seen = swarm.totals().since(&before);
    let failures = swarm.failures;
    for f in &swarm.first_failures {
        eprintln!("fanout: a listener failed to connect: {f}");
    }
    swarm.close(32).await;
    let log = serve.stop();
    if failures > 0 {
        for line in log.iter().rev().take(10) {
            eprintln!("fanout: serve: {line}");
        }
    }
    Run {
        listeners,
        base,
        loaded,
        swarm: swarm_cpu,
        packets: seen.received as f64,
        lost: seen.lost(),
        skipped: seen.skipped(),
        connected: seen.connected,
        failures,
        load,
    }
}

/// `perf record --call-graph dwarf` (release builds have no frame pointers) of `pid` into `out` until interrupted.
fn profile(pid: u32, out: &std::ffi::OsStr) -> std::process::Child {
    std::process::Command::new("perf")
        .args([
            "record",
            "--call-graph",
            "dwarf,32768",
            "-F",
            "250",
            "-q",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("perf (apt-get install linux-perf)")
}

fn print(which: &str, r: &Run) {
    let per_listener = r.per_listener_percent();
    println!(
        "fanout server={which} listeners={} connected={} failed={} \
         per-listener-per-packet-us={:.2} per-listener-core-percent={:.4} \
         listeners-per-core={:.0} server-cpu-percent={:.1} one-listener-percent={:.1} \
         packets={:.0} lost={} skipped={} swarm-cpu-percent={:.1} load-average={}",
        r.listeners,
        r.connected,
        r.failures,
        r.per_packet_us(),
        per_listener,
        if per_listener > 0.0 {
            100.0 / per_listener
        } else {
            f64::INFINITY
        },
        r.loaded,
        r.base,
        r.packets,
        r.lost,
        r.skipped,
        r.swarm,
        r.load,
    );
}

fn main() {
    let new: PathBuf = kit::serve::release_binary();
    let old: Option<PathBuf> = std::env::var_os("VOXPACE_SERVE_OLD_BIN").map(PathBuf::from);
    let listeners: usize = env("VOXPACE_FANOUT_LISTENERS", 1000);
    let compare: usize = env("VOXPACE_FANOUT_COMPARE", 200);
    let secs: u64 = env("VOXPACE_FANOUT_SECS", 10);
    let rounds: usize = env("VOXPACE_FANOUT_ROUNDS", 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        if let Some(old) = &old {
            for round in 0..rounds {
                // The order swaps every round: neither always runs on a warmer machine.
                let order: [(&str, &Path, bool); 2] = if round % 2 == 0 {
                    [("old", old, false), ("new", &new, true)]
                } else {
                    [("new", &new, true), ("old", old, false)]
                };
                for (which, binary, max) in order {
                    let run = measure(binary, compare, secs, max).await;
                    print(which, &run);
                }
            }
        }
        let run = measure(&new, listeners, secs, true).await;
        print("new", &run);
    });
}
