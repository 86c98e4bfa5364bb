//! `/metrics` in Prometheus' text exposition format.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::output::Output;
use super::state::AppState;

/// One metric family: help, type, and one sample per output.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// Reads one figure of an output.
type Getter = dyn Fn(&Output) -> f64;

pub(crate) fn render(state: &AppState) -> String {
    let outputs = state.outputs.read().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    family(
        &mut out,
        "voxpace_outputs",
        "gauge",
        "Agent outputs running.",
        &[(String::new(), outputs.len() as f64)],
    );
    family(
        &mut out,
        "voxpace_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        &[(String::new(), state.started.elapsed().as_secs_f64())],
    );
    let per_output = |f: &dyn Fn(&Output) -> f64| -> Vec<(String, f64)> {
        outputs
            .values()
            .map(|o| (format!("{{output=\"{}\"}}", o.id), f(o)))
            .collect()
    };
    let counters: [(&str, &str, &Getter); 10] = [
        ("voxpace_frames_total", "Frames sent by the output.", &|o| {
            o.meter.frames.load(Ordering::Relaxed) as f64
        }),
        (
            "voxpace_speech_frames_total",
            "Frames that carried speech.",
            &|o| o.handle.stats().speech_frames as f64,
        ),
        (
            "voxpace_late_frames_total",
            "Frames handed out more than 5 ms after their due time.",
            &|o| o.handle.stats().late_frames as f64,
        ),
        (
            "voxpace_underruns_total",
            "Frames inside a started reply that ran short of audio.",
            &|o| o.handle.stats().underruns as f64,
        ),
        (
            "voxpace_sink_drops_total",
            "Frames of speech dropped because a sink's queue was full.",
            &|o| o.handle.stats().sink_drops as f64,
        ),
        (
            "voxpace_events_dropped_total",
            "Track events dropped because the event forwarder lagged.",
            &|o| o.handle.stats().events_dropped as f64,
        ),
        (
            "voxpace_replies_completed_total",
            "Replies played to the end.",
            &|o| o.handle.stats().replies_completed as f64,
        ),
        (
            "voxpace_replies_interrupted_total",
            "Replies ended by interrupt.",
            &|o| o.handle.stats().replies_interrupted as f64,
        ),
        (
            "voxpace_monitor_drops_total",
            "Frames a live-audio monitor missed.",
            &|o| o.meter.monitor_drops.load(Ordering::Relaxed) as f64,
        ),
        (
            "voxpace_publish_drops_total",
            "Frames the WebRTC publisher's queue refused.",
            &|o| o.meter.publish_drops.load(Ordering::Relaxed) as f64,
        ),
    ];
    for (name, help, f) in counters {
        family(&mut out, name, "counter", help, &per_output(f));
    }
    family(
        &mut out,
        "voxpace_speaking",
        "gauge",
        "1 while the output is speaking.",
        &per_output(&|o| o.handle.is_speaking() as u8 as f64),
    );
    family(
        &mut out,
        "voxpace_buffered_seconds",
        "gauge",
        "Speech buffered and not yet played.",
        &per_output(&|o| o.handle.buffered().as_secs_f64()),
    );
    // Only outputs with `[output.loudness]` meter, and only while they are not silent.
    let loudness: Vec<(String, f64)> = outputs
        .values()
        .filter_map(|o| {
            let l = o.handle.output_loudness()?;
            Some((format!("{{output=\"{}\"}}", o.id), l as f64))
        })
        .collect();
    family(
        &mut out,
        "voxpace_output_momentary_lufs",
        "gauge",
        "Momentary loudness of the output (ITU-R BS.1770, last 400 ms), in LUFS.",
        &loudness,
    );
    #[cfg(feature = "webrtc")]
    {
        let publ = |f: &dyn Fn(&voxpace_transport::PublisherStats) -> f64| -> Vec<(String, f64)> {
            outputs
                .values()
                .filter_map(|o| {
                    o.publisher
                        .as_ref()
                        .map(|p| (format!("{{output=\"{}\"}}", o.id), f(&p.stats())))
                })
                .collect()
        };
        family(
            &mut out,
            "voxpace_encode_seconds_total",
            "counter",
            "CPU time spent encoding Opus (the encoding thread's CPU clock).",
            &publ(&|s| s.encode_nanos as f64 / 1e9),
        );
        family(
            &mut out,
            "voxpace_encoded_frames_total",
            "counter",
            "Frames encoded and sent to peers.",
            &publ(&|s| s.frames_sent as f64),
        );
        family(
            &mut out,
            "voxpace_encoded_bytes_total",
            "counter",
            "Opus bytes produced.",
            &publ(&|s| s.bytes as f64),
        );
        family(
            &mut out,
            "voxpace_listener_packets_skipped_total",
            "counter",
            "Packets a WebRTC listener did not get because its connection's queue was full.",
            &publ(&|s| s.packets_skipped as f64),
        );
        let peers: Vec<(String, f64)> = outputs
            .values()
            .filter_map(|o| {
                o.publisher
                    .as_ref()
                    .map(|p| (format!("{{output=\"{}\"}}", o.id), p.peers() as f64))
            })
            .collect();
        family(
            &mut out,
            "voxpace_peers",
            "gauge",
            "WebRTC peers listening.",
            &peers,
        );
        // Offers being answered and listeners not yet connected (bounded per output and per
        // client address: `transport.whep_max_pending_per_*`).
        if let Some(whep) = &state.whep {
            let pending: Vec<(String, f64)> = outputs
                .values()
                .map(|o| {
                    (
                        format!("{{output=\"{}\"}}", o.id),
                        whep.pending_sessions(Some(&o.id)) as f64,
                    )
                })
                .collect();
            family(
                &mut out,
                "voxpace_whep_pending",
                "gauge",
                "WHEP listeners not yet connected (offers being answered, ICE/DTLS under way).",
                &pending,
            );
        }
        let whip = |f: &dyn Fn(&voxpace_transport::PublishStatus) -> f64| -> Vec<(String, f64)> {
            outputs
                .values()
                .filter_map(|o| {
                    o.whip
                        .as_ref()
                        .map(|p| (format!("{{output=\"{}\"}}", o.id), f(&p.status())))
                })
                .collect()
        };
        family(
            &mut out,
            "voxpace_publish_up",
            "gauge",
            "1 while the output is published over WHIP.",
            &whip(&|s| (s.state == voxpace_transport::PublishState::Published) as u8 as f64),
        );
        family(
            &mut out,
            "voxpace_publish_attempts_total",
            "counter",
            "WHIP publish attempts.",
            &whip(&|s| s.attempts as f64),
        );
        family(
            &mut out,
            "voxpace_publishes_total",
            "counter",
            "Successful WHIP publishes (more than 1: republished).",
            &whip(&|s| s.publishes as f64),
        );
    }
    drop(outputs);
    if let Some(clock) = state
        .clock
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        let s = clock.stats();
        let q: Vec<(String, f64)> = [0.5, 0.99, 0.999]
            .iter()
            .map(|q| {
                (
                    format!("{{quantile=\"{q}\"}}"),
                    s.lateness_quantile(*q).as_secs_f64(),
                )
            })
            .collect();
        family(
            &mut out,
            "voxpace_frame_lateness_seconds",
            "summary",
            "How late the frame clock hands frames to outputs.",
            &q,
        );
        family(
            &mut out,
            "voxpace_frame_lateness_max_seconds",
            "gauge",
            "The largest frame lateness seen.",
            &[(String::new(), s.max_lateness.as_secs_f64())],
        );
        family(
            &mut out,
            "voxpace_frame_clock_realtime",
            "gauge",
            "1 when the frame clock thread runs under SCHED_FIFO (server.realtime_priority).",
            &[(String::new(), f64::from(u8::from(s.realtime)))],
        );
        family(
            &mut out,
            "voxpace_clock_frames_total",
            "counter",
            "Frames rendered by the frame clock.",
            &[(String::new(), s.frames as f64)],
        );
    }
    out
}
