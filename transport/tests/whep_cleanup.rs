//! Viewers that leave (DELETE mid-speech), vanish (UDP just stops, no DTLS close) or never
//! connect (ICE fails) are cleaned up: their session ends, their peer connection is freed,
//! and the other viewers keep hearing the agent without a gap.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use voxpace_core::Format;
use voxpace_transport::{ClientOptions, RtpAudioPacket, WhepServer, WhepViewer};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState,
};

struct Setup {
    server: WhepServer,
    url: String,
    agent: Agent,
}

async fn setup() -> Setup {
    let format = Format::new(24_000, 1, 20).unwrap();
    let (publisher, feed) = publisher(format);
    let server = WhepServer::new(server_config());
    server.publish("agent", vec![publisher]);
    let base = serve(axum::Router::new().nest("/whep", server.router())).await;
    let agent = Agent::start(format, feed);
    // The agent talks for the whole test.
    drop(agent.say(speech_clip(24_000, 30.0)));
    Setup {
        server,
        url: format!("{base}/whep/agent"),
        agent,
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        bearer_token: Some(TOKEN.into()),
        peer: fast_peer(),
        ..Default::default()
    }
}

async fn viewer(url: &str) -> (WhepViewer, tokio::sync::mpsc::Receiver<RtpAudioPacket>) {
    let mut v = WhepViewer::connect(url, 1, options())
        .await
        .expect("viewer connects");
    let rx = tokio::time::timeout(Duration::from_secs(5), v.next_track())
        .await
        .unwrap()
        .unwrap();
    (v, rx)
}

/// Wait (generously) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(30);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{what}: after {:?}", started.elapsed());
}

/// The staying viewer still receives continuous audio after `packets` were already taken.
async fn still_hears(rx: &mut tokio::sync::mpsc::Receiver<RtpAudioPacket>) {
    let packets = collect(rx, Duration::from_millis(500)).await;
    assert_continuous(&packets, 960);
    assert!(
        packets.iter().any(|p| p.payload.len() > 20),
        "speech packets keep arriving"
    );
}

/// The other viewer's session ends, its peer connection is freed, and the staying viewer
/// keeps hearing the agent.
async fn only_the_stayer_remains(
    server: &WhepServer,
    stay_rx: &mut tokio::sync::mpsc::Receiver<RtpAudioPacket>,
    who: &str,
) {
    eventually(&format!("{who}: session ends"), || {
        server.sessions(None).len() == 1
    })
    .await;
    eventually(&format!("{who}: peer connection freed"), || {
        server.live_peer_connections() == 1
    })
    .await;
    still_hears(stay_rx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_mid_speech_ends_only_that_session() {
    let s = setup().await;
    let (_stay, mut stay_rx) = viewer(&s.url).await;
    let (leave, mut leave_rx) = viewer(&s.url).await;
    assert_eq!(s.server.sessions(None).len(), 2);
    assert!(s.agent.handle.is_speaking());
    let _ = collect(&mut leave_rx, Duration::from_millis(200)).await;
    let _ = collect(&mut stay_rx, Duration::from_millis(10)).await;

    leave.close().await.expect("DELETE answered 200");
    assert_eq!(s.server.sessions(None).len(), 1, "session removed at once");
    eventually("the deleted peer connection is freed", || {
        s.server.live_peer_connections() == 1
    })
    .await;
    still_hears(&mut stay_rx).await;
    // The deleted viewer's packet stream ends.
    let _ = collect(&mut leave_rx, Duration::from_millis(300)).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(5), leave_rx.recv())
            .await
            .expect("stream ends")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_vanishes_is_cleaned_up() {
    let s = setup().await;
    let (_stay, mut stay_rx) = viewer(&s.url).await;

    // The vanishing viewer lives on its own runtime; dropping that runtime stops its UDP
    // without a DELETE, an RTCP BYE or a DTLS close.
    let url = s.url.clone();
    let got = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let n = rt.block_on(async move {
            let (v, mut rx) = viewer(&url).await;
            let n = collect(&mut rx, Duration::from_millis(300)).await.len();
            std::mem::forget(v);
            std::mem::forget(rx);
            n
        });
        rt.shutdown_background();
        n
    })
    .join()
    .unwrap();
    assert!(got > 5, "the vanished viewer was receiving ({got} packets)");
    assert_eq!(s.server.sessions(None).len(), 2);

    only_the_stayer_remains(&s.server, &mut stay_rx, "the vanished viewer").await;
}

struct Gathered(tokio::sync::watch::Sender<bool>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Gathered {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.0.send(true);
        }
    }
}

/// An offer from a peer that is closed before the answer comes back: its candidates point
/// at sockets that no longer exist, so ICE can never succeed.
async fn dead_offer() -> String {
    let mut media = MediaEngine::default();
    media.register_default_codecs().unwrap();
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let settings = webrtc::peer_connection::SettingEngineBuilder::new()
        .with_include_loopback_candidate(true)
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_handler(Arc::new(Gathered(tx)))
        .with_udp_addrs(vec!["127.0.0.1:0"])
        .build()
        .await
        .unwrap();
    pc.add_transceiver_from_kind(
        rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Audio,
        Some(rtc::rtp_transceiver::RTCRtpTransceiverInit {
            direction: rtc::rtp_transceiver::RTCRtpTransceiverDirection::Recvonly,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let offer = pc.create_offer(None).await.unwrap();
    pc.set_local_description(offer).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|d| *d)).await;
    let sdp = pc.local_description().await.unwrap().sdp;
    pc.close().await.unwrap();
    assert!(sdp.contains(MIME_TYPE_OPUS.trim_start_matches("audio/")));
    sdp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_failure_ends_the_session() {
    let s = setup().await;
    let (_stay, mut stay_rx) = viewer(&s.url).await;

    let response = reqwest::Client::new()
        .post(&s.url)
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/sdp")
        .body(dead_offer().await)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "the offer itself is fine");
    assert_eq!(s.server.sessions(None).len(), 2);

    only_the_stayer_remains(&s.server, &mut stay_rx, "the viewer whose ICE failed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_notices_when_the_server_ends_its_session() {
    let s = setup().await;
    let (mut v, _rx) = viewer(&s.url).await;
    let id = v.resource_url().rsplit('/').next().unwrap().to_owned();
    assert!(s.server.end_session(&id));
    let why = tokio::time::timeout(Duration::from_secs(30), v.ended())
        .await
        .expect("the viewer notices");
    assert!(why.starts_with("connection"), "{why}");
    assert!(!v.is_connected());
    assert!(s.server.sessions(None).is_empty());
}
