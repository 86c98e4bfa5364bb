//! Offers shaped like common WHEP players': audio and video recvonly with every default
//! codec (the video section is rejected, the audio plays), and a sendrecv audio section.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, watch};
use voxpace_core::Format;
use voxpace_transport::WhepServer;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCSessionDescription, SettingEngineBuilder,
};

struct Player {
    gathered: watch::Sender<bool>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Player {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

/// A player built directly on webrtc-rs with all default codecs, offering `sections`.
async fn play(
    url: &str,
    sections: &[(RtpCodecKind, RTCRtpTransceiverDirection)],
) -> (impl PeerConnection, String, usize) {
    let mut media = MediaEngine::default();
    media.register_default_codecs().unwrap();
    let (gathered, mut gathered_rx) = watch::channel(false);
    let (tracks, mut tracks_rx) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_setting_engine(
            SettingEngineBuilder::new()
                .with_include_loopback_candidate(true)
                .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
                .build(),
        )
        .with_handler(Arc::new(Player { gathered, tracks }))
        .with_udp_addrs(vec!["127.0.0.1:0"])
        .build()
        .await
        .unwrap();
    for (kind, direction) in sections {
        if *direction == RTCRtpTransceiverDirection::Sendrecv {
            // Like a browser page that also sends its microphone.
            let mic = TrackLocalStaticRTP::new(MediaStreamTrack::new(
                "page".into(),
                "mic".into(),
                "mic".into(),
                *kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(4242),
                        ..Default::default()
                    },
                    codec: RTCRtpCodec {
                        mime_type: MIME_TYPE_OPUS.to_owned(),
                        clock_rate: 48_000,
                        channels: 2,
                        sdp_fmtp_line: String::new(),
                        rtcp_feedback: vec![],
                    },
                    ..Default::default()
                }],
            ));
            pc.add_track(Arc::new(mic) as Arc<dyn TrackLocal>)
                .await
                .unwrap();
            continue;
        }
        pc.add_transceiver_from_kind(
            *kind,
            Some(RTCRtpTransceiverInit {
                direction: *direction,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    }
    let offer = pc.create_offer(None).await.unwrap();
    pc.set_local_description(offer).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), gathered_rx.wait_for(|d| *d)).await;
    let offer = pc.local_description().await.unwrap().sdp;
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/sdp")
        .body(offer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "offer accepted");
    let answer = response.text().await.unwrap();
    pc.set_remote_description(RTCSessionDescription::answer(answer.clone()).unwrap())
        .await
        .unwrap();
    let track = tokio::time::timeout(Duration::from_secs(10), tracks_rx.recv())
        .await
        .expect("an audio track arrives")
        .unwrap();
    assert_eq!(track.kind().await, RtpCodecKind::Audio);
    let mut packets = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while packets < 20 {
        match tokio::time::timeout_at(deadline, track.poll()).await {
            Ok(Some(TrackRemoteEvent::OnRtpPacket(_))) => packets += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    (pc, answer, packets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_offering_video_or_sendrecv_still_get_audio() {
    let format = Format::new(48_000, 1, 20).unwrap();
    let (publisher, feed) = publisher(format);
    let server = WhepServer::new(server_config());
    server.publish("agent", vec![publisher]);
    let base = serve(server.router()).await;
    let _agent = Agent::start(format, feed);
    let url = format!("{base}/agent");

    use RTCRtpTransceiverDirection::{Recvonly, Sendrecv};
    let (pc, answer, packets) = play(
        &url,
        &[
            (RtpCodecKind::Video, Recvonly),
            (RtpCodecKind::Audio, Recvonly),
        ],
    )
    .await;
    assert!(
        packets >= 20,
        "audio flows next to a rejected video section ({packets} packets)"
    );
    assert!(
        answer.contains("m=video 0 "),
        "the video section is rejected:\n{answer}"
    );
    pc.close().await.unwrap();

    let (pc, _, packets) = play(&url, &[(RtpCodecKind::Audio, Sendrecv)]).await;
    assert!(
        packets >= 20,
        "a sendrecv audio offer gets audio ({packets} packets)"
    );
    pc.close().await.unwrap();
}
