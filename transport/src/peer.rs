//! Building webrtc-rs peer connections the way every part of this crate needs them: audio
//! only, Opus only, non-trickle (the SDP is exchanged once ICE gathering has completed, as
//! WHIP/WHEP clients without trickle expect), no multicast DNS, and the connection state
//! observable through `watch` channels instead of callbacks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{SenderReportBuilder, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceGatheringState, RTCIceServer,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
};

use crate::goodbye::{ByeWatch, BYE_WATCH_SLOT};
use crate::traced::Traced;
use crate::Error;

/// The Opus payload type we offer; answers use whatever the offer chose.
const OPUS_PAYLOAD_TYPE: u8 = 111;

/// A STUN or TURN server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host:port` or `turn:host:port?transport=udp` URLs.
    pub urls: Vec<String>,
    /// TURN username (empty for STUN).
    pub username: String,
    /// TURN credential (empty for STUN).
    pub credential: String,
}

/// Network and ICE settings shared by the WHEP server, the WHIP client and the ingest side.
#[derive(Debug, Clone)]
pub struct PeerSettings {
    /// UDP addresses to bind media sockets to (port 0 picks a free port). The default binds
    /// every interface; tests and single-host setups use [`PeerSettings::loopback`].
    pub udp_addrs: Vec<SocketAddr>,
    /// Offer 127.0.0.1 candidates (needed when both peers are on one host).
    pub include_loopback: bool,
    /// STUN/TURN servers handed to ICE (none by default).
    pub ice_servers: Vec<IceServer>,
    /// Interval between ICE connectivity checks; `None` keeps webrtc-rs' 200 ms.
    pub ice_check_interval: Option<Duration>,
    /// Silence on the transport after which the connection counts as disconnected.
    pub ice_disconnected_timeout: Duration,
    /// Further silence after which it has failed and is torn down.
    pub ice_failed_timeout: Duration,
    /// How often ICE keepalives are sent while idle.
    pub ice_keepalive_interval: Duration,
    /// Longest wait for ICE gathering before an SDP is sent anyway.
    pub gather_timeout: Duration,
    /// A peer that has not connected this long after signalling is dropped.
    pub connect_timeout: Duration,
}

impl Default for PeerSettings {
    fn default() -> Self {
        Self {
            udp_addrs: vec![SocketAddr::from(([0, 0, 0, 0], 0))],
            include_loopback: false,
            ice_servers: Vec::new(),
            ice_check_interval: None,
            ice_disconnected_timeout: Duration::from_secs(5),
            ice_failed_timeout: Duration::from_secs(10),
            ice_keepalive_interval: Duration::from_secs(2),
            gather_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(15),
        }
    }
}

impl PeerSettings {
    /// Loopback only: bind 127.0.0.1, offer loopback candidates and check ICE pairs every
    /// 20 ms so that local peers connect in tens of milliseconds.
    pub fn loopback() -> Self {
        Self {
            udp_addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            include_loopback: true,
            ice_check_interval: Some(Duration::from_millis(20)),
            ..Self::default()
        }
    }
}

/// The Opus codec as negotiated for WebRTC audio (48 kHz RTP clock, 2 channels in SDP as
/// RFC 7587 requires, in-band FEC advertised).
pub(crate) fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// A local track for one published audio stream, with its own SSRC.
pub(crate) fn local_audio_track(stream: &str, label: &str, ssrc: u32) -> Arc<TrackLocalStaticRTP> {
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        stream.to_owned(),
        format!("{label}-{ssrc:08x}"),
        label.to_owned(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: opus_codec(),
            ..Default::default()
        }],
    )))
}

/// A random value from the standard library's per-process random hasher keys.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// Everything a peer connection reports, as channels.
pub(crate) struct PeerEvents {
    pub state: watch::Receiver<RTCPeerConnectionState>,
    pub gathered: watch::Receiver<bool>,
    pub tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
    /// Raised when the peer sends an RTCP BYE.
    pub bye: watch::Receiver<bool>,
}

/// Counts live peer connections: the handler is owned by the connection's driver, so it is
/// dropped only once the connection's tasks and buffers are gone.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveCounter(Arc<AtomicUsize>);

impl LiveCounter {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

struct Handler {
    state: watch::Sender<RTCPeerConnectionState>,
    gathered: watch::Sender<bool>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
    live: LiveCounter,
}

impl Drop for Handler {
    fn drop(&mut self) {
        self.live.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(%state, "peer connection state");
        let _ = self.state.send(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

/// What a peer connection does with media, which decides the interceptors it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    /// Only sends audio (a WHEP listener's connection on the server): RTCP sender reports
    /// and the BYE watch, nothing else.
    SendOnly,
    /// Receives (and may send): webrtc-rs' default interceptors and the BYE watch.
    Any,
}

/// The interceptor chain for `media`. Every interceptor sees every packet, so a WHEP
/// listener's connection, which only sends Opus, leaves out what only receivers or video
/// use: the NACK generator and responder (no NACK is negotiated for audio, so the
/// responder only keeps books), TWCC feedback (for media we receive) and receiver
/// reports (likewise). What WebRTC requires of a sender stays: RTCP sender reports.
fn interceptors(
    media: Media,
    engine: &mut MediaEngine,
    bye_watch: ByeWatch,
) -> Result<Registry, Error> {
    let registry = match media {
        Media::SendOnly => {
            Registry::new().with(Slot::SenderReport, SenderReportBuilder::new().build())
        }
        Media::Any => register_default_interceptors(Registry::new(), engine)?,
    };
    Ok(registry.with(BYE_WATCH_SLOT.into(), bye_watch))
}

/// Build an audio-only peer connection.
pub(crate) async fn build_peer(
    settings: &PeerSettings,
    live: &LiveCounter,
    kind: Media,
) -> Result<(Arc<dyn PeerConnection>, PeerEvents), Error> {
    let mut media = MediaEngine::default();
    media.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    let (bye_watch, bye) = ByeWatch::new();
    let registry = interceptors(kind, &mut media, bye_watch)?;

    let setting_engine = SettingEngineBuilder::new()
        .with_include_loopback_candidate(settings.include_loopback)
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_ice_timeouts(
            Some(settings.ice_disconnected_timeout),
            Some(settings.ice_failed_timeout),
            Some(settings.ice_keepalive_interval),
        )
        .with_ice_connection_attempts(settings.ice_check_interval, None)
        .build();

    let ice_servers = settings
        .ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone(),
            credential: s.credential.clone(),
        })
        .collect();
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(ice_servers)
        .build();

    let (state_tx, state_rx) = watch::channel(RTCPeerConnectionState::New);
    let (gathered_tx, gathered_rx) = watch::channel(false);
    let (tracks_tx, tracks_rx) = mpsc::unbounded_channel();
    live.0.fetch_add(1, Ordering::AcqRel);
    let handler = Arc::new(Handler {
        state: state_tx,
        gathered: gathered_tx,
        tracks: tracks_tx,
        live: live.clone(),
    });

    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(setting_engine)
        .with_handler(handler)
        .with_udp_addrs(settings.udp_addrs.clone())
        .with_runtime(Traced::current())
        .build()
        .await?;
    Ok((
        Arc::new(pc),
        PeerEvents {
            state: state_rx,
            gathered: gathered_rx,
            tracks: tracks_rx,
            bye,
        },
    ))
}

/// Set `desc` as the local description and return it with every gathered candidate in it.
pub(crate) async fn set_local_and_gather(
    pc: &Arc<dyn PeerConnection>,
    events: &mut PeerEvents,
    desc: RTCSessionDescription,
    timeout: Duration,
) -> Result<String, Error> {
    pc.set_local_description(desc).await?;
    // Gathering that outlasts the timeout still yields a usable SDP with what was found.
    let _ = tokio::time::timeout(timeout, events.gathered.wait_for(|done| *done)).await;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| Error::WebRtc("no local description after negotiation".into()))
}

/// Wait until the connection is connected; fail on failed/closed or after `timeout`.
pub(crate) async fn wait_connected(
    state: &mut watch::Receiver<RTCPeerConnectionState>,
    timeout: Duration,
) -> Result<(), Error> {
    let waited = tokio::time::timeout(
        timeout,
        state.wait_for(|s| {
            matches!(
                s,
                RTCPeerConnectionState::Connected
                    | RTCPeerConnectionState::Failed
                    | RTCPeerConnectionState::Closed
            )
        }),
    )
    .await;
    match waited {
        Err(_) => Err(Error::NotConnected(format!(
            "not connected after {} ms",
            timeout.as_millis()
        ))),
        Ok(Err(_)) => Err(Error::NotConnected("peer connection is gone".into())),
        Ok(Ok(s)) if *s == RTCPeerConnectionState::Connected => Ok(()),
        Ok(Ok(s)) => Err(Error::NotConnected(format!("connection {}", *s))),
    }
}
