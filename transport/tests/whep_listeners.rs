//! The encoder task writes each packet to every listener itself: listeners that stop
//! reading, end their session or vanish mid-stream never cost a healthy listener a packet,
//! and the publisher's peer count follows them.

mod common;

use std::time::Duration;

use common::*;
use voxpace_core::Format;
use voxpace_transport::{Publisher, PublisherConfig, RtpAudioPacket, WhepServer};

/// Wait (generously) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every packet of the window, in order: consecutive sequence numbers and timestamps
/// exactly one frame apart (every frame is encoded here, silence too, so any gap is loss).
fn assert_every_packet(packets: &[RtpAudioPacket], who: &str) {
    assert_continuous(packets, 960);
    let gaps: Vec<(u16, u32)> = packets
        .windows(2)
        .map(|w| (w[0].sequence, w[1].timestamp.wrapping_sub(w[0].timestamp)))
        .filter(|&(_, step)| step != 960)
        .collect();
    assert!(
        gaps.is_empty(),
        "{who}: frames missing after (seq, step) {gaps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_listener_gets_every_packet_while_others_stall_leave_or_vanish() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let every_frame = PublisherConfig {
        skip_silence: false,
        ..PublisherConfig::default()
    };
    let (publisher, feed) = Publisher::new(format, every_frame).unwrap();
    let server = WhepServer::new(server_config());
    server.publish("agent", vec![publisher.clone()]);
    let base = serve(axum::Router::new().nest("/whep", server.router())).await;
    let url = format!("{base}/whep/agent");
    let agent = Agent::start(format, feed);
    drop(agent.say(speech_clip(24_000, 30.0)));

    let (healthy, mut healthy_rx) = viewer(&url).await;
    let (stalled, stalled_rx) = viewer(&url).await;
    let (leaving, mut leaving_rx) = viewer(&url).await;
    assert_eq!(
        publisher.peers(),
        3,
        "each negotiated track is one listener"
    );

    // The vanishing viewer goes silent without a goodbye: writes to it go on until the
    // server notices (ICE disconnected), then its listener is removed.
    let vanished = vanishing_viewer(&url);

    // The stalled viewer stays connected but nobody reads its packets any more.
    drop(stalled_rx);
    let before = collect(&mut healthy_rx, Duration::from_millis(400)).await;
    assert!(
        !collect(&mut leaving_rx, Duration::from_millis(10))
            .await
            .is_empty(),
        "the leaving viewer was receiving"
    );
    leaving.close().await.expect("DELETE answered 200");
    let vanished = tokio::task::spawn_blocking(move || vanished.join().unwrap());
    assert!(
        vanished.await.unwrap() > 5,
        "the vanishing viewer was receiving"
    );
    let after = collect(&mut healthy_rx, Duration::from_millis(1500)).await;
    eventually("the vanished viewer's listener is removed", || {
        publisher.peers() == 2
    })
    .await;
    let last = collect(&mut healthy_rx, Duration::from_millis(300)).await;

    let all: Vec<RtpAudioPacket> = before.into_iter().chain(after).chain(last).collect();
    assert_every_packet(&all, "the healthy listener");
    assert!(
        all.iter().filter(|p| p.payload.len() > 20).count() > 20,
        "the healthy listener hears speech"
    );

    stalled.close().await.expect("DELETE answered 200");
    assert_eq!(publisher.peers(), 1, "only the healthy listener is left");
    healthy.close().await.expect("DELETE answered 200");
    assert_eq!(publisher.peers(), 0);
    assert_eq!(
        publisher.stats().packets_skipped,
        0,
        "no listener's queue was ever full on loopback"
    );
}
