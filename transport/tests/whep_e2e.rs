//! End to end over loopback: a real core track paced on the real clock, a WHEP server, and a
//! separate webrtc-rs peer that plays the stream, decodes the Opus it receives and compares
//! it with the same audio encoded and decoded locally.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use voxpace_core::{Event, Format};
use voxpace_transport::{ClientOptions, OpusConfig, WhepServer, WhepViewer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_hears_the_speech_interrupt_silences_and_timestamps_stay_continuous() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let (publisher, feed) = publisher(format);
    let server = WhepServer::new(server_config());
    server.publish("agent", vec![publisher.clone()]);
    let base = serve(axum::Router::new().nest("/whep", server.router())).await;
    let agent = Agent::start(format, feed);

    let events = Arc::new(Mutex::new(Vec::new()));
    let mut stream = agent.handle.events();
    let log = events.clone();
    tokio::spawn(async move {
        while let Some(e) = stream.next().await {
            log.lock().unwrap().push(e);
        }
    });

    let options = ClientOptions {
        bearer_token: Some(TOKEN.into()),
        peer: fast_peer(),
        ..Default::default()
    };
    let mut viewer = WhepViewer::connect(&format!("{base}/whep/agent"), 1, options)
        .await
        .expect("viewer connects");
    assert!(viewer
        .resource_url()
        .starts_with(&format!("{base}/whep/agent/")));
    let mut rx = tokio::time::timeout(Duration::from_secs(5), viewer.next_track())
        .await
        .expect("a track arrives")
        .expect("track");

    // Silence first, then speech with a pause in it, then a barge-in.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let clip = speech_clip(24_000, 4.0);
    let playing = agent.say(clip);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    agent.handle.pause();
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.handle.resume();
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.handle.interrupt();
    let outcome = tokio::time::timeout(Duration::from_secs(5), playing)
        .await
        .expect("playback ends")
        .unwrap();
    assert!(outcome.interrupted);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let packets = collect(&mut rx, Duration::from_millis(200)).await;
    viewer.close().await.expect("DELETE succeeds");

    // RTP: one packet per 20 ms frame, timestamps exactly 960 ticks apart, through speech,
    // pause, resume and interrupt; digital silence (the pause, after the interrupt) is not
    // sent past its hangover, and the next packet's timestamp jumps by exactly that time.
    let n = assert_continuous(&packets, 960);
    assert!(n > 60, "{n} packets");

    let events = events.lock().unwrap().clone();
    let speech_pts = events
        .iter()
        .find_map(|e| match e {
            Event::SpeechStarted { pts, .. } => Some(*pts),
            _ => None,
        })
        .expect("speech started");
    let (paused, resumed) = (
        events.iter().find_map(|e| match e {
            Event::Paused { pts } => Some(*pts),
            _ => None,
        }),
        events.iter().find_map(|e| match e {
            Event::Resumed { pts } => Some(*pts),
            _ => None,
        }),
    );
    let (paused, resumed) = (paused.expect("paused"), resumed.expect("resumed"));

    // Align the received stream with the locally encoded+decoded render, frame by frame.
    let rendered = agent.rendered.lock().unwrap().clone();
    let reference = local_codec(&rendered, format, &OpusConfig::default());
    let received = decode_timeline(&packets);
    let at = |pts: u64| pts as usize * 2; // 24 kHz pts -> 48 kHz index
    let speech_len = at(paused - speech_pts) - 960;
    let (lag, corr) = align(&received, &reference, 960, at(speech_pts), speech_len);
    assert!(
        corr > 0.9,
        "received speech matches the local Opus round trip: correlation {corr:.3}"
    );
    // The comparison can fail: one frame off, the same audio no longer matches.
    let r0 = at(speech_pts) - lag;
    let off = correlation(
        &received[r0 + 960..r0 + 960 + speech_len],
        &reference[at(speech_pts)..at(speech_pts) + speech_len],
    );
    assert!(
        off < corr - 0.2,
        "misaligned correlation {off:.3} vs {corr:.3}"
    );

    let rx_at = |pts: u64| at(pts) - lag;
    let speech_rms = rms(&received[r0..r0 + speech_len]);
    // Paused: silence from one frame after the pause took effect until resume.
    let pause_rms = rms(&received[rx_at(paused) + 960..rx_at(resumed)]);
    assert!(
        pause_rms < speech_rms * 0.02,
        "pause is silent: {pause_rms:.1} vs {speech_rms:.1}"
    );
    // Interrupted: speech right before the interrupt frame, silence one frame after it.
    let before = rms(&received[rx_at(outcome.pts) - 4800..rx_at(outcome.pts)]);
    assert!(
        before > speech_rms * 0.2,
        "still speaking before the interrupt: {before:.1}"
    );
    // What was not sent past the silence hangover is silence: the timeline ends there.
    let end = rx_at(outcome.pts) + 960 + 14_400;
    let mut received = received;
    if received.len() < end {
        received.resize(end, 0);
    }
    let after = &received[rx_at(outcome.pts) + 960..end];
    let after_rms = rms(after);
    assert!(
        after_rms < speech_rms * 0.02,
        "silent within one frame of the interrupt: {after_rms:.1} vs {speech_rms:.1}"
    );
    eprintln!(
        "packets {n}, correlation {corr:.3} (one frame off: {off:.3}), speech rms {speech_rms:.0}, \
         pause rms {pause_rms:.1}, before interrupt {before:.0}, after {after_rms:.1}"
    );
    let stats = publisher.stats();
    assert_eq!(stats.frames_stale, 0);
    assert!(stats.frames_sent as usize >= n);
}
