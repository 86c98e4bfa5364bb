//! RTP in and out of a peer connection: attaching a negotiated track to a publisher (whose
//! encoder task then writes RTP to it), and the reader that turns a remote track into packets.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::Instrument;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use crate::listeners::{Listener, Listening};
use crate::peer::random_u64;
use crate::publisher::Publisher;
use crate::Error;

/// One received RTP packet of an audio track.
#[derive(Debug, Clone)]
pub struct RtpAudioPacket {
    /// RTP sequence number.
    pub sequence: u16,
    /// RTP timestamp (48 kHz for Opus).
    pub timestamp: u32,
    /// Marker bit: first packet of a talkspurt or after a gap.
    pub marker: bool,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Payload type.
    pub payload_type: u8,
    /// The Opus packet.
    pub payload: Bytes,
    /// When it arrived.
    pub received: Instant,
}

/// A local track added to a peer connection, waiting for negotiation to finish.
pub(crate) struct Outgoing {
    pub track: Arc<TrackLocalStaticRTP>,
    pub sender: Arc<dyn RtpSender>,
    pub ssrc: u32,
}

/// Add one Opus track per stream to `pc` (before the answer or offer is created).
pub(crate) async fn add_tracks(
    pc: &Arc<dyn PeerConnection>,
    stream: &str,
    labels: &[&str],
) -> Result<Vec<Outgoing>, Error> {
    let mut out = Vec::with_capacity(labels.len());
    for label in labels {
        let ssrc = random_u64() as u32;
        let track = crate::peer::local_audio_track(stream, label, ssrc);
        let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        out.push(Outgoing {
            track,
            sender,
            ssrc,
        });
    }
    Ok(out)
}

/// Start sending `publisher`'s frames on a negotiated track: its encoder task writes them
/// to the track from now on (see [`crate::listeners`]) until the returned guard is dropped.
pub(crate) async fn attach(out: &Outgoing, publisher: &Publisher) -> Result<Listening, Error> {
    let params = out.sender.get_parameters().await?;
    let payload_type = params
        .rtp_parameters
        .codecs
        .first()
        .map(|c| c.payload_type)
        .ok_or_else(|| Error::Sdp("no codec was negotiated for the audio track".into()))?;
    Ok(publisher.attach(Listener::new(out.track.clone(), out.ssrc, payload_type)))
}

/// Forward a remote audio track's RTP packets into `tx` until the track ends.
pub(crate) fn spawn_reader(
    track: Arc<dyn TrackRemote>,
    tx: mpsc::Sender<RtpAudioPacket>,
) -> tokio::task::JoinHandle<()> {
    let reader = async move {
        while let Some(event) = track.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(p) => {
                    let packet = RtpAudioPacket {
                        sequence: p.header.sequence_number,
                        timestamp: p.header.timestamp,
                        marker: p.header.marker,
                        ssrc: p.header.ssrc,
                        payload_type: p.header.payload_type,
                        payload: p.payload,
                        received: Instant::now(),
                    };
                    // A consumer that does not keep up loses packets, like a real network.
                    if tx.try_send(packet).is_err() && tx.is_closed() {
                        break;
                    }
                }
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
        let _ = track.stop().await;
    };
    tokio::spawn(reader.instrument(tracing::Span::current()))
}

/// Whether a track is audio (a remote peer might add something else).
pub(crate) async fn is_audio(track: &Arc<dyn TrackRemote>) -> bool {
    track.kind().await == rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Audio
}
