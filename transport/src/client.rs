//! The offering side of WHIP and WHEP: publish tracks to a WHIP endpoint (RFC 9725), or play
//! a WHEP stream. Both build a peer connection, gather every candidate, POST the complete
//! offer, apply the answer and DELETE the resource when closed.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState, RTCSessionDescription};

use crate::error::with_causes;
use crate::goodbye::peer_gone;
use crate::listeners::Listening;
use crate::media::{attach, is_audio, spawn_reader, Outgoing, RtpAudioPacket};
use crate::peer::{
    build_peer, local_audio_track, random_u64, set_local_and_gather, wait_connected, LiveCounter,
    Media, PeerEvents,
};
use crate::{Error, PeerSettings, Publisher};

/// Options of a WHIP publisher or WHEP viewer.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Sent as `Authorization: Bearer <token>` on POST and DELETE.
    pub bearer_token: Option<String>,
    /// Network and ICE settings.
    pub peer: PeerSettings,
    /// Longest wait for the POST of the offer (connect, send, answer).
    pub post_timeout: Duration,
    /// Longest wait for the DELETE of the resource when closing; the peer connection is
    /// closed after it either way.
    pub delete_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            bearer_token: None,
            peer: PeerSettings::default(),
            post_timeout: Duration::from_secs(5),
            delete_timeout: Duration::from_secs(2),
        }
    }
}

/// A signalling resource created by a POST (its `Location`).
#[derive(Debug)]
struct Resource {
    http: reqwest::Client,
    url: reqwest::Url,
    token: Option<String>,
    delete_timeout: Duration,
}

/// Check a signalling URL before anything is built for it.
pub(crate) fn parse_endpoint(endpoint: &str) -> Result<reqwest::Url, Error> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: endpoint.to_owned(),
        reason,
    };
    let url = reqwest::Url::parse(endpoint).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "the scheme must be http or https, not {:?}",
            url.scheme()
        )));
    }
    Ok(url)
}

impl Resource {
    async fn create(
        endpoint: &str,
        options: &ClientOptions,
        offer: String,
    ) -> Result<(Resource, String), Error> {
        let http_err = |reason: String| Error::Http {
            url: endpoint.to_owned(),
            reason,
        };
        let url = parse_endpoint(endpoint)?;
        let http = reqwest::Client::builder()
            .connect_timeout(options.post_timeout)
            .build()
            .map_err(|e| http_err(with_causes(&e)))?;
        let mut request = http
            .post(url.clone())
            .timeout(options.post_timeout)
            .header(CONTENT_TYPE, "application/sdp")
            .body(offer);
        let token = options.bearer_token.as_deref();
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request
            .send()
            .await
            .map_err(|e| http_err(with_causes(&e)))?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| http_err(with_causes(&e)))?;
        if status != reqwest::StatusCode::CREATED {
            return Err(Error::Rejected {
                url: endpoint.to_owned(),
                status: status.as_u16(),
                message: body.trim().to_owned(),
                retry_after,
            });
        }
        let location =
            location.ok_or_else(|| http_err("201 Created without a Location header".into()))?;
        let url = url.join(&location).map_err(|e| Error::InvalidUrl {
            url: location.clone(),
            reason: format!("the Location header of the answer does not resolve: {e}"),
        })?;
        Ok((
            Resource {
                http,
                url,
                token: token.map(str::to_owned),
                delete_timeout: options.delete_timeout,
            },
            body,
        ))
    }

    /// DELETE the resource, waiting at most `delete_timeout`.
    async fn delete(&self) -> Result<(), Error> {
        delete_url(
            &self.http,
            self.url.clone(),
            self.token.as_deref(),
            self.delete_timeout,
        )
        .await
    }
}

/// The `Retry-After` of a response, when it is in delta-seconds.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// DELETE `url`, waiting at most `timeout`; 2xx is done, anything else an error.
async fn delete_url(
    http: &reqwest::Client,
    url: reqwest::Url,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(), Error> {
    let mut request = http.delete(url.clone()).timeout(timeout);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = request.send().await.map_err(|e| Error::Http {
        url: url.to_string(),
        reason: with_causes(&e),
    })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(Error::Rejected {
            url: url.to_string(),
            status: status.as_u16(),
            retry_after: retry_after(&response),
            message: response.text().await.unwrap_or_default().trim().to_owned(),
        })
    }
}

/// DELETE a resource left behind by a lost session (its first DELETE failed). 404 counts
/// as done: the server has already forgotten it.
pub(crate) async fn delete_stale(resource: &str, options: &ClientOptions) -> Result<(), Error> {
    let url = parse_endpoint(resource)?;
    let http = reqwest::Client::builder()
        .connect_timeout(options.delete_timeout)
        .build()
        .map_err(|e| Error::Http {
            url: resource.to_owned(),
            reason: with_causes(&e),
        })?;
    match delete_url(
        &http,
        url,
        options.bearer_token.as_deref(),
        options.delete_timeout,
    )
    .await
    {
        Err(Error::Rejected { status: 404, .. }) => Ok(()),
        other => other,
    }
}

/// Does anything answer HTTP at `endpoint` (any status), within `timeout`? A cheap OPTIONS
/// while backing off, to come back soon after an unreachable server answers again.
pub(crate) async fn answers(endpoint: &str, timeout: Duration) -> bool {
    let Ok(url) = parse_endpoint(endpoint) else {
        return false;
    };
    let Ok(http) = reqwest::Client::builder().connect_timeout(timeout).build() else {
        return false;
    };
    http.request(reqwest::Method::OPTIONS, url)
        .timeout(timeout)
        .send()
        .await
        .is_ok()
}

/// Offer, POST, answer, connect: the part WHIP and WHEP clients share.
async fn negotiate(
    pc: &Arc<dyn PeerConnection>,
    events: &mut PeerEvents,
    endpoint: &str,
    options: &ClientOptions,
) -> Result<Resource, Error> {
    let offer = pc.create_offer(None).await?;
    let offer = set_local_and_gather(pc, events, offer, options.peer.gather_timeout).await?;
    let (resource, answer) = Resource::create(endpoint, options, offer).await?;
    let applied = async {
        let answer = RTCSessionDescription::answer(answer)
            .map_err(|e| Error::Sdp(format!("the answer from {endpoint} does not parse: {e}")))?;
        pc.set_remote_description(answer).await?;
        wait_connected(&mut events.state, options.peer.connect_timeout).await
    }
    .await;
    if let Err(e) = applied {
        let _ = resource.delete().await;
        return Err(e);
    }
    Ok(resource)
}

/// A track published to a WHIP endpoint. Dropping it without [`WhipSession::close`] leaves
/// the remote resource to time out; close it to end the session cleanly.
#[derive(Debug)]
pub struct WhipSession {
    inner: ClientSession,
}

/// A WHEP stream being played.
#[derive(Debug)]
pub struct WhepViewer {
    inner: ClientSession,
    tracks: mpsc::UnboundedReceiver<mpsc::Receiver<RtpAudioPacket>>,
}

struct ClientSession {
    pc: Arc<dyn PeerConnection>,
    resource: Resource,
    /// `Some(reason)` once the peer has gone (see [`peer_gone`]), set by a watcher task.
    gone: watch::Receiver<Option<String>>,
    tasks: Vec<JoinHandle<()>>,
    /// Its tracks, written by the publishers' encoder tasks until the session is dropped.
    listeners: Vec<Listening>,
    /// The span it was created in: closing logs there too, wherever it is called from.
    span: tracing::Span,
    _live: LiveCounter,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("resource", &self.resource.url.as_str())
            .field("gone", &*self.gone.borrow())
            .finish()
    }
}

impl ClientSession {
    /// A connected session; a watcher task notices when the peer goes.
    fn new(
        pc: Arc<dyn PeerConnection>,
        resource: Resource,
        mut state: watch::Receiver<RTCPeerConnectionState>,
        mut bye: watch::Receiver<bool>,
        mut tasks: Vec<JoinHandle<()>>,
        listeners: Vec<Listening>,
        live: LiveCounter,
    ) -> Self {
        let (tx, gone) = watch::channel(None);
        let watched = pc.clone();
        let watcher = async move {
            let why = peer_gone(&watched, &mut state, &mut bye).await;
            tx.send_replace(Some(why));
        };
        tasks.push(tokio::spawn(watcher.instrument(tracing::Span::current())));
        Self {
            pc,
            resource,
            gone,
            tasks,
            listeners,
            span: tracing::Span::current(),
            _live: live,
        }
    }

    fn is_connected(&self) -> bool {
        self.gone.borrow().is_none()
    }

    async fn ended(&mut self) -> String {
        match self.gone.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => "peer connection dropped".to_owned(),
        }
    }

    async fn close(mut self) -> Result<(), Error> {
        let span = self.span.clone();
        async move {
            for task in &self.tasks {
                task.abort();
            }
            // Stop sending before saying goodbye.
            self.listeners.clear();
            let deleted = self.resource.delete().await;
            // Closing sends DTLS close_notify; a peer that is already gone must not hold us up.
            let _ = tokio::time::timeout(self.resource.delete_timeout, self.pc.close()).await;
            deleted
        }
        .instrument(span)
        .await
    }
}

/// The methods every client session has, delegated to its [`ClientSession`].
macro_rules! session_methods {
    ($close_doc:literal) => {
        /// The URL of the session resource on the server (its `Location`).
        pub fn resource_url(&self) -> &str {
            self.inner.resource.url.as_str()
        }

        /// True until the connection is lost (see `ended`).
        pub fn is_connected(&self) -> bool {
            self.inner.is_connected()
        }

        /// Resolves when the connection is lost, with the reason: the server said goodbye
        /// (DTLS close_notify or RTCP BYE: it ended the session), or the connection is
        /// disconnected (nothing heard for `ice_disconnected_timeout`), failed or closed. Republish or reconnect after it.
        pub async fn ended(&mut self) -> String {
            self.inner.ended().await
        }

        #[doc = $close_doc]
        pub async fn close(self) -> Result<(), Error> {
            self.inner.close().await
        }
    };
}

impl WhipSession {
    /// Publish `tracks` (the main track first, then optionally the background) to the WHIP
    /// endpoint at `endpoint`, and start sending once connected.
    pub async fn publish(
        endpoint: &str,
        tracks: &[Publisher],
        options: ClientOptions,
    ) -> Result<WhipSession, Error> {
        if tracks.is_empty() {
            return Err(Error::InvalidConfig(
                "WHIP publish needs at least one track".into(),
            ));
        }
        let live = LiveCounter::default();
        let (pc, mut events) = build_peer(&options.peer, &live, Media::Any).await?;
        let result = async {
            let mut outgoing = Vec::new();
            for publisher in tracks {
                let ssrc = random_u64() as u32;
                let track = local_audio_track("voxpace", publisher.label(), ssrc);
                let transceiver = pc
                    .add_transceiver_from_track(
                        track.clone() as Arc<dyn TrackLocal>,
                        Some(RTCRtpTransceiverInit {
                            direction: RTCRtpTransceiverDirection::Sendonly,
                            ..Default::default()
                        }),
                    )
                    .await?;
                let sender = transceiver
                    .sender()
                    .await?
                    .ok_or_else(|| Error::WebRtc("transceiver without a sender".into()))?;
                outgoing.push(Outgoing {
                    track,
                    sender,
                    ssrc,
                });
            }
            let resource = negotiate(&pc, &mut events, endpoint, &options).await?;
            let mut listeners = Vec::new();
            for (out, publisher) in outgoing.iter().zip(tracks) {
                listeners.push(attach(out, publisher).await?);
            }
            Ok::<_, Error>((resource, listeners))
        }
        .await;
        match result {
            Ok((resource, listeners)) => Ok(WhipSession {
                inner: ClientSession::new(
                    pc,
                    resource,
                    events.state,
                    events.bye,
                    Vec::new(),
                    listeners,
                    live,
                ),
            }),
            Err(e) => {
                let _ = pc.close().await;
                Err(e)
            }
        }
    }

    session_methods!("Stop sending, DELETE the resource and close the peer connection.");
}

impl WhepViewer {
    /// Play the WHEP stream at `endpoint`, offering to receive `audio_tracks` audio tracks
    /// (1 for the mixed track, 2 to also receive a separate background track).
    pub async fn connect(
        endpoint: &str,
        audio_tracks: usize,
        options: ClientOptions,
    ) -> Result<WhepViewer, Error> {
        let live = LiveCounter::default();
        let (pc, mut events) = build_peer(&options.peer, &live, Media::Any).await?;
        let result = async {
            for _ in 0..audio_tracks.max(1) {
                pc.add_transceiver_from_kind(
                    RtpCodecKind::Audio,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        ..Default::default()
                    }),
                )
                .await?;
            }
            negotiate(&pc, &mut events, endpoint, &options).await
        }
        .await;
        let resource = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = pc.close().await;
                return Err(e);
            }
        };
        let (tx, tracks) = mpsc::unbounded_channel();
        let mut remote = events.tracks;
        let forward = async move {
            while let Some(track) = remote.recv().await {
                if !is_audio(&track).await {
                    continue;
                }
                let (ptx, prx) = mpsc::channel(1024);
                spawn_reader(track, ptx);
                if tx.send(prx).is_err() {
                    break;
                }
            }
        };
        let forward = tokio::spawn(forward.instrument(tracing::Span::current()));
        Ok(WhepViewer {
            inner: ClientSession::new(
                pc,
                resource,
                events.state,
                events.bye,
                vec![forward],
                Vec::new(),
                live,
            ),
            tracks,
        })
    }

    /// The next remote audio track's packets, in the order the server's tracks arrive.
    pub async fn next_track(&mut self) -> Option<mpsc::Receiver<RtpAudioPacket>> {
        self.tracks.recv().await
    }

    session_methods!("DELETE the resource and close the peer connection.");
}
