//! The whole cost of a session in `cargo xtask bench` (issue 21): runs
//! `cargo bench -p voxpace-transport --bench session` against the release `voxpace`
//! (built first) and prints its figures, each beside its reference, the ratio, the goal and
//! the load average when it was measured.
//!
//! The bench prints one line per figure, `session mode=speaking|silent sessions=N
//! per-session-frame-us=X libopus-us=Y|speaking-us=Y ratio=R goal<=G ok=yes|NO
//! encode-in-server-us=E beyond-encode-us=B ... lost=L load-average=a/b/c`; this module only
//! reads those lines back. E is libopus inside the server (its `/metrics` encode counter),
//! so B shows what a session costs beyond encoding.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::Result;

use crate::system::cargo;

/// Session counts and seconds per window: quick mode is 2 sessions for 3 s.
pub(crate) fn command(quick: bool) -> Result<Command> {
    let binary = crate::system::build_release_serve()?;
    let mut bench = cargo();
    bench
        .args(["bench", "-p", "voxpace-transport", "--bench", "session"])
        .env("VOXPACE_SERVE_BIN", binary);
    if quick {
        bench
            .env("VOXPACE_SESSION_COUNTS", "2")
            .env("VOXPACE_SESSION_SECS", "3");
    }
    Ok(bench)
}

/// One `session ...` line as key -> value.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

/// The report's section, from the bench's standard output.
pub(crate) fn report(stdout: &str) -> Vec<String> {
    let mut out = vec![
        "Whole sessions: N outputs in one `voxpace serve` (release), one WebRTC listener each \
         (webrtc-rs, loopback); server CPU (all threads) per session per 20 ms frame"
            .to_string(),
    ];
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("session "))
        .collect();
    if lines.is_empty() {
        out.push("  (the session bench printed no figures)".into());
    }
    for l in lines {
        let f = fields(l);
        let get = |k: &str| f.get(k).copied().unwrap_or("?");
        let (what, against) = match get("mode") {
            "speaking" => (
                "speaking (streamed replies over HTTP + background)",
                format!("libopus alone {} µs", get("libopus-us")),
            ),
            _ => (
                "silent (listening: no reply, no background)",
                format!("a speaking session {} µs", get("speaking-us")),
            ),
        };
        out.push(format!(
            "  N={:<3} {what}: {} µs vs {against} -> {}× (goal <= {}×) ok={}; \
             of it libopus inside the server {} µs, beyond it {} µs; \
             {} context switches; \
             packets {} of {} frames, lost {}, missing by timestamp {}; load average {}",
            get("sessions"),
            get("per-session-frame-us"),
            get("ratio"),
            get("goal<"),
            get("ok"),
            get("encode-in-server-us"),
            get("beyond-encode-us"),
            get("switches-per-session-frame"),
            get("packets"),
            get("expected-frames"),
            get("lost"),
            get("missing-by-time"),
            get("load-average"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bench_lines_back() {
        let stdout = "noise\n\
            session mode=speaking sessions=10 per-session-frame-us=150.00 libopus-us=130.00 \
            ratio=1.154 goal<=1.25 ok=yes encode-in-server-us=120.00 beyond-encode-us=30.00 \
            server-cpu-percent=75.0 packets=5000 \
            expected-frames=5000 lost=0 missing-by-time=0 connected=10 failed=0 \
            load-average=3.1/2.0/1.0\n\
            session mode=silent sessions=10 per-session-frame-us=6.00 speaking-us=150.00 \
            ratio=0.040 goal<=0.2 ok=yes packets=250 expected-frames=5000 lost=0 \
            load-average=3.0/2.0/1.0\n";
        let r = report(stdout);
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r[1].contains("N=10") && r[1].contains("150.00 µs vs libopus alone 130.00 µs"));
        assert!(r[1].contains("1.154× (goal <= 1.25×) ok=yes"), "{}", r[1]);
        assert!(
            r[1].contains("libopus inside the server 120.00 µs, beyond it 30.00 µs"),
            "{}",
            r[1]
        );
        assert!(
            r[1].contains("lost 0, missing by timestamp 0; load average 3.1/2.0/1.0"),
            "{}",
            r[1]
        );
        assert!(r[2].contains("a speaking session 150.00 µs -> 0.040× (goal <= 0.2×)"));
        assert_eq!(
            report("nothing\n")[1],
            "  (the session bench printed no figures)"
        );
    }
}
