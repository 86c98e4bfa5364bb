//! Viewers that leave (DELETE mid-speech, DTLS close_notify, RTCP BYE), vanish (UDP just
//! stops, no DTLS close) or never connect (ICE fails) are cleaned up: their session ends,
//! their peer connection is freed, and the other viewers keep hearing the agent without a gap.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use voxpace_core::Format;
use voxpace_transport::{RtpAudioPacket, ServerConfig, WhepServer};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCSessionDescription,
};

struct Setup {
    server: WhepServer,
    url: String,
    agent: Agent,
}

async fn setup() -> Setup {
    setup_with(server_config()).await
}

async fn setup_with(config: ServerConfig) -> Setup {
    let format = Format::new(24_000, 1, 20).unwrap();
    let (publisher, feed) = publisher(format);
    let server = WhepServer::new(config);
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

/// Wait (generously) until `cond` holds.
async fn eventually(what: &str, cond: impl FnMut() -> bool) {
    eventually_within(what, Duration::from_secs(30), cond).await;
}

/// Wait until `cond` holds, at most `bound`; returns how long it took.
async fn eventually_within(
    what: &str,
    bound: Duration,
    mut cond: impl FnMut() -> bool,
) -> Duration {
    let started = tokio::time::Instant::now();
    let deadline = started + bound;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{what}: after {:?}", started.elapsed());
    started.elapsed()
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

    let got = vanishing_viewer(&s.url).join().unwrap();
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

/// Add one receive-only audio section to `pc`, set its offer locally and return the offer
/// once ICE gathering is complete (or after 5 s), candidates included.
async fn recvonly_offer(
    pc: &dyn PeerConnection,
    gathered: &mut tokio::sync::watch::Receiver<bool>,
) -> String {
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
    let _ = tokio::time::timeout(Duration::from_secs(5), gathered.wait_for(|d| *d)).await;
    pc.local_description().await.unwrap().sdp
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
    let sdp = recvonly_offer(&pc, &mut rx).await;
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
    // The server's goodbye (DTLS close_notify), not the silence after it.
    assert!(why.contains("close_notify"), "{why}");
    assert!(!v.is_connected());
    assert!(s.server.sessions(None).is_empty());
}

/// Server-side ICE timeouts far longer than any bound below: a session that ends within the
/// bound ended because of what its peer said, not because the peer went quiet.
fn patient_server() -> ServerConfig {
    let mut config = server_config();
    config.peer.ice_disconnected_timeout = Duration::from_secs(30);
    config.peer.ice_failed_timeout = Duration::from_secs(30);
    config
}

/// Well inside the 30 s of [`patient_server`], and generous for a loaded machine.
const SIGNAL_BOUND: Duration = Duration::from_secs(10);

/// A listener that is a plain webrtc-rs peer connection, so that the test decides how it
/// leaves: `pc.close()` (DTLS close_notify, as a browser's `RTCPeerConnection.close()`),
/// an RTCP BYE, or nothing. It never sends DELETE.
struct Listener {
    pc: Arc<dyn PeerConnection>,
    track: Arc<dyn TrackRemote>,
    rtp: tokio::sync::mpsc::UnboundedReceiver<()>,
}

struct ListenerEvents {
    gathered: tokio::sync::watch::Sender<bool>,
    tracks: tokio::sync::mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ListenerEvents {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

impl Listener {
    /// Offer, POST, answer, and wait for the first RTP packets.
    async fn join(url: &str) -> Listener {
        let mut media = MediaEngine::default();
        media.register_default_codecs().unwrap();
        let (gathered, mut gathered_rx) = tokio::sync::watch::channel(false);
        let (tracks, mut tracks_rx) = tokio::sync::mpsc::unbounded_channel();
        let settings = webrtc::peer_connection::SettingEngineBuilder::new()
            .with_include_loopback_candidate(true)
            .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
            .build();
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_media_engine(media)
                .with_setting_engine(settings)
                .with_handler(Arc::new(ListenerEvents { gathered, tracks }))
                .with_udp_addrs(vec!["127.0.0.1:0"])
                .build()
                .await
                .unwrap(),
        );
        let offer = recvonly_offer(&*pc, &mut gathered_rx).await;
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/sdp")
            .body(offer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let answer = response.text().await.unwrap();
        pc.set_remote_description(RTCSessionDescription::answer(answer).unwrap())
            .await
            .unwrap();
        let track = tokio::time::timeout(Duration::from_secs(10), tracks_rx.recv())
            .await
            .expect("the server's track arrives")
            .unwrap();
        let (tx, mut rtp) = tokio::sync::mpsc::unbounded_channel();
        let reader = track.clone();
        tokio::spawn(async move {
            while let Some(event) = reader.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(_) = event {
                    if tx.send(()).is_err() {
                        break;
                    }
                }
            }
        });
        for _ in 0..5 {
            tokio::time::timeout(Duration::from_secs(10), rtp.recv())
                .await
                .expect("RTP arrives")
                .unwrap();
        }
        Listener { pc, track, rtp }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_closes_is_dropped_on_its_close_notify() {
    let s = setup_with(patient_server()).await;
    let (_stay, mut stay_rx) = viewer(&s.url).await;
    let listener = Listener::join(&s.url).await;
    assert_eq!(s.server.sessions(None).len(), 2);

    // What a browser's RTCPeerConnection.close() does: DTLS close_notify, no DELETE.
    listener.pc.close().await.unwrap();
    eventually_within(
        "the closed listener's session ends (by its close_notify, not the 30 s timeout)",
        SIGNAL_BOUND,
        || s.server.sessions(None).len() == 1,
    )
    .await;
    eventually("its peer connection is freed", || {
        s.server.live_peer_connections() == 1
    })
    .await;
    still_hears(&mut stay_rx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_says_bye_is_dropped_and_gets_no_more_rtp() {
    let s = setup_with(patient_server()).await;
    let (_stay, mut stay_rx) = viewer(&s.url).await;
    let mut listener = Listener::join(&s.url).await;

    let bye = rtc::rtcp::goodbye::Goodbye {
        sources: vec![0x5EED_0001],
        reason: "leaving".into(),
    };
    listener
        .track
        .write_rtcp(vec![Box::new(bye)])
        .await
        .unwrap();
    eventually_within(
        "the listener's session ends on its RTCP BYE (not the 30 s timeout)",
        SIGNAL_BOUND,
        || s.server.sessions(None).len() == 1,
    )
    .await;
    // Packets already on their way drain; after that nothing more comes, though this peer
    // connection is still open and would accept it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while listener.rtp.try_recv().is_ok() {}
    let late = tokio::time::timeout(Duration::from_secs(1), listener.rtp.recv()).await;
    assert!(
        !matches!(late, Ok(Some(()))),
        "RTP still sent to a listener that said BYE"
    );
    eventually("its peer connection is freed", || {
        s.server.live_peer_connections() == 1
    })
    .await;
    still_hears(&mut stay_rx).await;
    listener.pc.close().await.unwrap();
}
