//! Offers shaped like common WHEP players': audio and video recvonly with every default
//! codec (the video section is rejected, the audio plays), and a sendrecv audio section;
//! and such a player through the listening state: silence, speech, silence, speech, with
//! digital silence not sent (`SilenceGate`), heard sample for sample.

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
use voxpace_transport::{OpusConfig, OpusDecoder, OpusEncoder, SilenceGate, WhepServer};
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

/// A player built directly on webrtc-rs with all default codecs, offering `sections`;
/// returns it once it played 20 packets (or gave up), with the answer and the count.
async fn play(
    url: &str,
    sections: &[(RtpCodecKind, RTCRtpTransceiverDirection)],
) -> (impl PeerConnection, String, usize) {
    let (pc, answer, track) = connect(url, sections).await;
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

/// The player connected: its peer connection, the server's answer and the audio track.
async fn connect(
    url: &str,
    sections: &[(RtpCodecKind, RTCRtpTransceiverDirection)],
) -> (impl PeerConnection, String, Arc<dyn TrackRemote>) {
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
    (pc, answer, track)
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

/// The listening state, as a player hears it: it connects to a silent agent, which then
/// says a clip, falls silent, says another and falls silent again. Digital silence is not
/// sent (a keep-alive frame every 400 ms), and yet the player, decoding just the packets it
/// gets, hears every frame the publisher encoded sample for sample (the same packets as a
/// local encoder fed the same frames through the same gate), each talkspurt complete, at
/// its exact media time, and on time on the wall clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_hears_silence_speech_silence_speech_sample_exact() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let (publisher, feed) = publisher(format);
    let server = WhepServer::new(server_config());
    server.publish("agent", vec![publisher.clone()]);
    let base = serve(server.router()).await;
    let agent = Agent::start(format, feed);
    let mut events = agent.handle.events();

    use RTCRtpTransceiverDirection::Recvonly;
    let (pc, _, track) =
        connect(&format!("{base}/agent"), &[(RtpCodecKind::Audio, Recvonly)]).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        while let Some(event) = track.poll().await {
            if let TrackRemoteEvent::OnRtpPacket(p) = event {
                let _ = tx.send((p, std::time::Instant::now()));
            }
        }
    });
    for clip_secs in [1.0, 0.7] {
        // Long enough for the hangover and a keep-alive or two.
        tokio::time::sleep(Duration::from_millis(900)).await;
        let said = agent.say(speech_clip(24_000, clip_secs));
        let outcome = tokio::time::timeout(Duration::from_secs(5), said)
            .await
            .expect("the clip plays")
            .unwrap();
        assert!(!outcome.interrupted);
    }
    tokio::time::sleep(Duration::from_millis(900)).await;
    let rendered = agent.rendered.lock().unwrap().clone();
    let mut packets = Vec::new();
    while let Ok(p) = rx.try_recv() {
        packets.push(p);
    }
    reader.abort();
    pc.close().await.unwrap();

    // The frames the publisher encoded for this player, in 20 ms frames of the render.
    let frame = format.frame_len();
    let frames: Vec<&[i16]> = rendered.chunks_exact(frame).collect();
    let spurts: Vec<usize> = (1..frames.len())
        .filter(|&i| frames[i].iter().any(|&s| s != 0) && frames[i - 1].iter().all(|&s| s == 0))
        .collect();
    assert_eq!(spurts.len(), 2, "two talkspurts rendered");
    let mut starts = Vec::new();
    while let Some(e) = events.try_next() {
        if let voxpace_core::Event::SpeechStarted { pts, .. } = e {
            starts.push(pts as usize / format.frame_samples());
        }
    }
    assert_eq!(
        starts, spurts,
        "speech starts where the render turns non-zero"
    );

    // RTP: consecutive sequence numbers; timestamps in whole frames, marker after each gap.
    assert_continuous_packets(&packets);
    let ts0 = packets[0].0.header.timestamp;
    let index = |p: &rtc::rtp::Packet| (p.header.timestamp.wrapping_sub(ts0) / 960) as usize;
    let first_spurt = packets
        .iter()
        .find(|(p, _)| p.payload.len() > 20)
        .map(|(p, _)| index(p))
        .expect("speech arrived");
    // The packet of frame `spurts[0]` is the first with speech: that fixes the player's
    // first frame in the render.
    let first = spurts[0] - first_spurt;

    // What a local encoder fed the same frames through the same gate sends.
    let opus = OpusConfig::default();
    let mut gate = SilenceGate::new(format);
    let mut encoder = OpusEncoder::new(24_000, 1, format.frame_samples(), &opus).unwrap();
    let mut out = vec![0u8; 1500];
    let mut expected = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if gate.admit(f) && i >= first {
            let n = encoder.encode(f, &mut out).unwrap();
            expected.push((i - first, out[..n].to_vec()));
        }
    }
    let received: Vec<(usize, Vec<u8>)> = packets
        .iter()
        .map(|(p, _)| (index(p), p.payload.to_vec()))
        .collect();
    // The render goes on after the last packet was taken: compare up to it.
    let last = received.last().unwrap().0;
    expected.retain(|(i, _)| *i <= last);
    assert_eq!(
        received.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        expected.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        "every frame the gate admits arrives, and no other"
    );
    assert!(
        received == expected,
        "the packets are the local encoder's, byte for byte"
    );
    for spurt in &spurts {
        let speech = frames[*spurt..]
            .iter()
            .take_while(|f| f.iter().any(|&s| s != 0))
            .count();
        let heard = received
            .iter()
            .filter(|(i, _)| (spurt - first..spurt - first + speech).contains(i))
            .count();
        assert_eq!(
            heard, speech,
            "the talkspurt at frame {spurt} arrives complete"
        );
    }

    // Heard: the player's decoder, given just these packets in order, against the same
    // packets decoded locally with the silence in between left silent.
    let mut decoder = OpusDecoder::new(48_000, 1).unwrap();
    let mut heard = vec![0i16; (last + 1) * 960];
    for (i, payload) in &received {
        heard[i * 960..(i + 1) * 960].copy_from_slice(decoder.decode(payload).unwrap());
    }
    let reference = local_codec_from(&rendered, format, &opus, first);
    assert!(
        heard[..] == reference[first * 960..(first + last + 1) * 960],
        "the player hears the local round trip sample for sample"
    );
    let speech_rms = rms(&heard[(spurts[1] - first) * 960..(spurts[1] - first + 20) * 960]);
    assert!(
        speech_rms > 500.0,
        "the second talkspurt is speech: rms {speech_rms:.0}"
    );

    // On time: each packet arrives when its media time says, give or take scheduling.
    let t0 = packets[0].1;
    let late = packets
        .iter()
        .map(|(p, at)| {
            let media = Duration::from_micros(index(p) as u64 * 20_000);
            at.duration_since(t0).as_secs_f64() - media.as_secs_f64()
        })
        .fold(0.0f64, |m, d| m.max(d.abs()));
    assert!(
        late < 0.25,
        "a packet arrived {late:.3} s off its media time"
    );
    eprintln!(
        "{} packets for {} frames of render from frame {first}; talkspurts at {spurts:?}; \
         largest arrival offset {:.1} ms",
        packets.len(),
        last + 1,
        late * 1e3
    );
}

/// Consecutive sequence numbers, timestamps in whole 20 ms frames at 48 kHz, the marker bit
/// exactly on the first packet after a gap.
fn assert_continuous_packets(packets: &[(rtc::rtp::Packet, std::time::Instant)]) {
    assert!(packets.len() > 50, "too few packets: {}", packets.len());
    for w in packets.windows(2) {
        let (a, b) = (&w[0].0.header, &w[1].0.header);
        assert_eq!(b.sequence_number, a.sequence_number.wrapping_add(1));
        let step = b.timestamp.wrapping_sub(a.timestamp);
        assert!(
            step >= 960 && step.is_multiple_of(960) && step < 48_000 * 60,
            "step {step}"
        );
        assert_eq!(b.marker, step > 960, "marker after a gap (step {step})");
    }
}
