//! `cargo xtask bench`'s WHEP fan-out figures (issue 21): what one listener costs a release
//! `voxpace serve`, this tree's and the reference's side by side in one run.
//!
//! The reference (`REFERENCE`, the serve before the fan-out work) is checked out in a git
//! worktree under `target/fanout-ref/src` and built there into its own target directory
//! (`target/fanout-ref/target`: a cold release build, once; a shared one does not work,
//! as cargo finds both trees' crates under the same names and judges one tree's build
//! fresh by the other's newer files); its binary is kept as
//! `target/fanout-ref/voxpace-<sha>`. Then `cargo bench -p voxpace-transport --bench fanout` runs
//! both, alternating at `compare` listeners (the reference has a fixed limit of 256
//! listeners), and this tree's alone at `listeners`; the listeners run in the bench's own
//! process, so each server's process CPU is its own. Its `fanout ...` lines are the figures.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::against::git;
use crate::bench::loadavg;
use crate::system::{cargo, target_dir};

/// The serve the figures are compared against: main before the per-listener work.
pub const REFERENCE: &str = "1f8dd08";

/// How big a run is.
pub struct Size {
    /// Listeners of this tree's run.
    pub listeners: usize,
    /// Listeners of the side-by-side runs.
    pub compare: usize,
    /// Seconds per measured window.
    pub secs: u64,
    /// Rounds of reference + this tree.
    pub rounds: usize,
}

impl Size {
    pub fn new(quick: bool) -> Size {
        if quick {
            Size {
                listeners: 50,
                compare: 50,
                secs: 3,
                rounds: 1,
            }
        } else {
            Size {
                listeners: 1000,
                compare: 200,
                secs: 10,
                rounds: 2,
            }
        }
    }
}

/// The reference's release `voxpace`, built on first use.
fn reference_binary() -> Result<PathBuf> {
    let sha = git(&["rev-parse", "--short", &format!("{REFERENCE}^{{commit}}")])?;
    let base = target_dir().join("fanout-ref");
    let binary = base.join(format!("voxpace-{sha}"));
    if binary.exists() {
        return Ok(binary);
    }
    let src = crate::against::worktree(&sha, &base)?;
    let mut build = cargo();
    build
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", base.join("target"));
    crate::system::build_release_serve_with(build, &format!("{sha} (target/fanout-ref)"))?;
    std::fs::copy(base.join("target/release/voxpace"), &binary)
        .context("copying the reference's voxpace")?;
    Ok(binary)
}

/// Build both servers, run the bench, return its figures and a summary.
pub fn measure(size: &Size) -> Result<String> {
    let old = reference_binary()?;
    let new = crate::system::build_release_serve()?;
    let mut bench = cargo();
    bench
        .args([
            "bench",
            "-q",
            "-p",
            "voxpace-transport",
            "--bench",
            "fanout",
        ])
        .env("VOXPACE_SERVE_BIN", &new)
        .env("VOXPACE_SERVE_OLD_BIN", &old)
        .env("VOXPACE_FANOUT_LISTENERS", size.listeners.to_string())
        .env("VOXPACE_FANOUT_COMPARE", size.compare.to_string())
        .env("VOXPACE_FANOUT_SECS", size.secs.to_string())
        .env("VOXPACE_FANOUT_ROUNDS", size.rounds.to_string());
    eprintln!("xtask bench: cargo bench -p voxpace-transport --bench fanout");
    let out = bench.output().context("running the fanout bench")?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!(
            "the fanout bench failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(report(&stdout))
}

/// One `fanout key=value ...` line as (key, value) pairs.
fn fields(line: &str) -> Vec<(&str, &str)> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn field<'a>(fields: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The bench's lines, then per listener count the median per-listener cost of each server
/// and the ratio this tree / reference.
fn report(stdout: &str) -> String {
    let lines: Vec<Vec<(&str, &str)>> = stdout
        .lines()
        .filter(|l| l.starts_with("fanout "))
        .map(fields)
        .collect();
    let mut out = String::new();
    for l in &lines {
        let f = |key: &str| field(l, key).unwrap_or("?");
        out += &format!(
            "  {:<3} {:>5} listeners ({} connected, {} failed): {:>6} µs CPU per listener per packet, \
             {} listeners per core; server {}% of a core ({}% with one listener); \
             {} packets heard, {} lost, {} skipped; listeners' process {}% ; load {}\n",
            f("server"),
            f("listeners"),
            f("connected"),
            f("failed"),
            f("per-listener-per-packet-us"),
            f("listeners-per-core"),
            f("server-cpu-percent"),
            f("one-listener-percent"),
            f("packets"),
            f("lost"),
            f("skipped"),
            f("swarm-cpu-percent"),
            f("load-average"),
        );
    }
    let median = |server: &str, listeners: &str| -> Option<f64> {
        let mut v: Vec<f64> = lines
            .iter()
            .filter(|l| {
                field(l, "server") == Some(server) && field(l, "listeners") == Some(listeners)
            })
            .filter_map(|l| field(l, "per-listener-per-packet-us")?.parse().ok())
            .collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    };
    let compared: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| field(l, "server") == Some("old"))
        .filter_map(|l| field(l, "listeners"))
        .collect();
    for n in compared {
        if let (Some(old), Some(new)) = (median("old", n), median("new", n)) {
            out += &format!(
                "  at {n} listeners: {new:.2} µs (this tree) vs {old:.2} µs ({REFERENCE}) per \
                 listener per packet -> ratio new/old {:.2}\n",
                new / old
            );
        }
    }
    if lines.is_empty() {
        out += "  (the fanout bench printed no figures)\n";
    }
    out += &format!("  load average at the end: {}\n", loadavg());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_each_run_and_the_ratio_of_medians() {
        let stdout = "\
fanout server=old listeners=200 connected=200 failed=0 per-listener-per-packet-us=30.00 per-listener-core-percent=0.15 listeners-per-core=667 server-cpu-percent=35.0 one-listener-percent=5.0 packets=100000 lost=0 skipped=0 swarm-cpu-percent=80.0 load-average=3.1/2.0/1.0
fanout server=new listeners=200 connected=200 failed=0 per-listener-per-packet-us=15.00 per-listener-core-percent=0.075 listeners-per-core=1333 server-cpu-percent=20.0 one-listener-percent=5.0 packets=100000 lost=0 skipped=0 swarm-cpu-percent=80.0 load-average=3.0/2.0/1.0
fanout server=new listeners=1000 connected=1000 failed=0 per-listener-per-packet-us=14.00 per-listener-core-percent=0.07 listeners-per-core=1428 server-cpu-percent=75.0 one-listener-percent=5.0 packets=500000 lost=0 skipped=0 swarm-cpu-percent=150.0 load-average=4.0/2.0/1.0
";
        let r = report(stdout);
        assert_eq!(r.lines().filter(|l| l.contains("listeners (")).count(), 3);
        assert!(r.contains("ratio new/old 0.50"), "{r}");
        assert!(!r.contains("at 1000 listeners:"), "{r}");
    }
}
