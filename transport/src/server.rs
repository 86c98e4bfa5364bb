//! The HTTP signalling shared by the WHEP server and the WHIP ingest endpoint: one POST of an
//! SDP offer creates a session (201, `Location`, SDP answer), DELETE of that location ends
//! it, and a session whose peer fails, vanishes or never connects is torn down on its own.
//!
//! Every refusal is a plain-text explanation with the status the drafts and RFC 9725 use:
//! 401 (bearer token missing/wrong, with `WWW-Authenticate: Bearer`), 404 (no such stream or
//! session), 405 (PATCH: trickle ICE and ICE restarts are not supported), 413 (body over the
//! limit), 408 (the offer body did not arrive within `body_timeout`), 415 (not
//! `application/sdp`), 400 (not SDP), 422 (SDP without usable Opus audio), 503 (session
//! limit reached, or too many sessions of this client still connecting: see `admission.rs`),
//! 500 (the WebRTC stack failed).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Extension, Router};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;
use webrtc::peer_connection::PeerConnection;

use crate::admission::{Limits, Refused, Seat, Seats};
use crate::goodbye::peer_gone;
use crate::listeners::Listening;
use crate::media::{add_tracks, attach, is_audio, spawn_reader, RtpAudioPacket};
use crate::peer::{
    build_peer, random_u64, set_local_and_gather, wait_connected, LiveCounter, Media,
};
use crate::sdp::{check_offer, OfferProblem, Wants};
use crate::{Error, PeerSettings, Publisher};

/// Settings of a WHEP server or WHIP ingest endpoint.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Accepted `Authorization: Bearer` tokens (any of them); empty accepts everyone.
    pub bearer_tokens: Vec<String>,
    /// Largest accepted offer body in bytes (a typical offer is 1 to 6 KiB).
    pub max_body_bytes: usize,
    /// Most connected sessions across all streams; further offers get 503.
    pub max_sessions: usize,
    /// Most sessions of one stream not yet connected (being answered or waiting for ICE);
    /// a further offer evicts the oldest of them.
    pub max_pending_per_stream: usize,
    /// Most sessions of one client address not yet connected, across streams; further
    /// offers from that address get 503 with `Retry-After`. Needs the client address as
    /// axum's `ConnectInfo<SocketAddr>` extension; without it only the per-stream bound
    /// applies.
    pub max_pending_per_client: usize,
    /// The whole offer body must arrive within this long after its headers, or 408.
    pub body_timeout: Duration,
    /// Origins allowed by CORS (e.g. `https://player.example`); empty allows any origin.
    pub allowed_origins: Vec<String>,
    /// Network and ICE settings of the server's peer connections.
    pub peer: PeerSettings,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bearer_tokens: Vec::new(),
            max_body_bytes: 64 * 1024,
            max_sessions: 256,
            max_pending_per_stream: 32,
            max_pending_per_client: 8,
            body_timeout: Duration::from_secs(10),
            allowed_origins: Vec::new(),
            peer: PeerSettings::default(),
        }
    }
}

/// A received audio track from a WHIP publisher.
#[derive(Debug)]
pub struct IngestedTrack {
    /// The stream name the publisher posted to.
    pub stream: String,
    /// The session (last path segment of its `Location`).
    pub session: String,
    /// Its RTP packets, in arrival order; closed when the session ends.
    pub packets: mpsc::Receiver<RtpAudioPacket>,
}

pub(crate) enum Role {
    /// WHEP: viewers receive published tracks (main first, background second).
    Egress(Mutex<HashMap<String, Vec<Publisher>>>),
    /// WHIP ingest: publishers send tracks, handed out through the channel.
    Ingress(mpsc::UnboundedSender<IngestedTrack>),
}

struct Session {
    stream: String,
    /// Its place in admission: client address, order, connected yet.
    seat: Seat,
    /// The span the session's tasks run in.
    span: tracing::Span,
    pc: Arc<dyn PeerConnection>,
    tasks: Vec<JoinHandle<()>>,
    /// Its tracks, written by the publishers' encoder tasks until this is dropped.
    listeners: Vec<Listening>,
}

pub(crate) struct Inner {
    config: ServerConfig,
    pub(crate) role: Role,
    sessions: Mutex<Book>,
    pub(crate) live: LiveCounter,
}

/// The sessions and the offers being answered, under one lock so that counting and
/// admitting are one step.
#[derive(Default)]
struct Book {
    sessions: HashMap<String, Session>,
    seats: Seats,
}

impl Book {
    fn limits(config: &ServerConfig) -> Limits {
        Limits {
            max_sessions: config.max_sessions,
            max_pending_per_stream: config.max_pending_per_stream,
            max_pending_per_client: config.max_pending_per_client,
        }
    }
}

/// Session bookkeeping shared by both roles.
impl Inner {
    pub(crate) fn new(config: ServerConfig, role: Role) -> Arc<Self> {
        Arc::new(Self {
            config,
            role,
            sessions: Mutex::new(Book::default()),
            live: LiveCounter::default(),
        })
    }

    fn lock_book(&self) -> std::sync::MutexGuard<'_, Book> {
        // The book stays consistent even if a holder panicked: every update is one insert
        // or remove.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sessions not yet connected, and offers being answered (of one stream, or all).
    pub(crate) fn pending(&self, stream: Option<&str>) -> usize {
        let book = self.lock_book();
        let waiting = book
            .sessions
            .values()
            .filter(|s| !s.seat.connected && stream.is_none_or(|n| s.stream == n))
            .count();
        book.seats.answering(stream) + waiting
    }

    pub(crate) fn session_ids(&self, stream: Option<&str>) -> Vec<String> {
        self.lock_book()
            .sessions
            .iter()
            .filter(|(_, s)| stream.is_none_or(|n| s.stream == n))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// End a session: stop its tasks and close its peer connection. Idempotent.
    pub(crate) fn remove(&self, id: &str, why: &str) -> bool {
        let Some(session) = self.lock_book().sessions.remove(id) else {
            return false;
        };
        // Packets its peer connection could not take at once (a slow driver): 0 normally.
        let skipped: u64 = session.listeners.iter().map(Listening::skipped).sum();
        session
            .span
            .in_scope(|| tracing::info!(session = id, why, skipped, "session ended"));
        for task in &session.tasks {
            task.abort();
        }
        // The last session of a flood that never connected: its memory goes back once closed.
        let last_pending = !session.seat.connected && self.pending(None) == 0;
        let pc = session.pc;
        tokio::spawn(
            async move {
                let _ = pc.close().await;
                drop(pc);
                if last_pending {
                    crate::admission::return_freed_memory();
                }
            }
            .instrument(session.span),
        );
        true
    }

    pub(crate) fn remove_stream_sessions(&self, stream: &str, why: &str) {
        for id in self.session_ids(Some(stream)) {
            self.remove(&id, why);
        }
    }

    /// The session's peer connected: it leaves the pending ones. `false` (and the session
    /// is ended) when `max_sessions` listeners were connected meanwhile.
    fn connected(&self, id: &str) -> bool {
        let mut book = self.lock_book();
        let others = book.sessions.values().filter(|s| s.seat.connected).count();
        let full = others >= self.config.max_sessions;
        if let Some(s) = book.sessions.get_mut(id) {
            s.seat.connected = !full;
        }
        drop(book);
        if full {
            self.remove(
                id,
                &format!(
                    "the server reached its limit of {} connected sessions",
                    self.config.max_sessions
                ),
            );
        }
        !full
    }

    fn add_task(&self, id: &str, task: JoinHandle<()>) {
        match self.lock_book().sessions.get_mut(id) {
            Some(s) => s.tasks.push(task),
            None => task.abort(),
        }
    }

    /// Keep a listener attached while the session lives (dropped at once if it has ended).
    fn add_listener(&self, id: &str, listener: Listening) {
        if let Some(s) = self.lock_book().sessions.get_mut(id) {
            s.listeners.push(listener);
        }
    }
}

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    let cors = CorsLayer::new()
        .allow_methods([Method::POST, Method::DELETE, Method::PATCH, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::IF_MATCH,
        ])
        .expose_headers([header::LOCATION, header::ETAG, header::LINK])
        .allow_origin(if inner.config.allowed_origins.is_empty() {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                inner
                    .config
                    .allowed_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        });
    let offers = match inner.role {
        // WHEP streams also serve a small browser player on GET.
        Role::Egress(_) => post(post_offer).get(player_page),
        Role::Ingress(_) => post(post_offer),
    };
    Router::new()
        .route("/{stream}", offers)
        .route(
            "/{stream}/{session}",
            delete(delete_session).patch(patch_session),
        )
        .layer(cors)
        .with_state(inner)
}

/// A refused request: status, plain-text explanation, and an optional extra header.
struct Refusal {
    status: StatusCode,
    message: String,
    header: Option<(header::HeaderName, HeaderValue)>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            header: None,
        }
    }

    fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.header = Some((name, value));
        self
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut body = self.message;
        body.push('\n');
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response();
        if let Some((name, value)) = self.header {
            r.headers_mut().insert(name, value);
        }
        r
    }
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    Refusal::new(status, message).into_response()
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn check_auth(config: &ServerConfig, headers: &HeaderMap) -> Result<(), Refusal> {
    if config.bearer_tokens.is_empty() {
        return Ok(());
    }
    let deny = |msg: &str, error: &str| {
        let challenge = HeaderValue::from_str(&format!("Bearer error=\"{error}\""))
            .unwrap_or(HeaderValue::from_static("Bearer"));
        Err(Refusal::new(StatusCode::UNAUTHORIZED, msg)
            .with_header(header::WWW_AUTHENTICATE, challenge))
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return deny(
            "missing bearer token: send \"Authorization: Bearer <token>\"",
            "invalid_request",
        );
    };
    let value = value.to_str().unwrap_or("");
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return deny(
                "Authorization header is not a bearer token (expected \"Bearer <token>\")",
                "invalid_request",
            )
        }
    };
    // Every token is compared, each without an early exit, so the time taken reveals
    // neither a matching prefix nor which token matched.
    let same = config.bearer_tokens.iter().fold(false, |any, expected| {
        any | constant_time_eq(token, expected)
    });
    if same {
        Ok(())
    } else {
        deny("invalid bearer token", "invalid_token")
    }
}

async fn read_offer(
    config: &ServerConfig,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/sdp") {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the offer must be sent with Content-Type: application/sdp (got {})",
                if content_type.is_empty() {
                    "none"
                } else {
                    content_type
                }
            ),
        ));
    }
    let limit = config.max_body_bytes;
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the offer is larger than the {limit}-byte limit"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // Bounded in size and in time: a client that stalls or trickles its offer is answered
    // 408 and its connection closed, so it cannot hold a request slot.
    let bytes =
        match tokio::time::timeout(config.body_timeout, axum::body::to_bytes(body, limit)).await {
            Ok(read) => read.map_err(|_| too_large())?,
            Err(_) => {
                return Err(Refusal::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the offer body did not arrive within {} ms",
                        config.body_timeout.as_millis()
                    ),
                )
                .with_header(header::CONNECTION, HeaderValue::from_static("close")))
            }
        };
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Refusal::new(StatusCode::BAD_REQUEST, "the offer is not UTF-8 text"))
}

async fn post_offer(
    State(inner): State<Arc<Inner>>,
    OriginalUri(uri): OriginalUri,
    Path(stream): Path<String>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let client = client.map(|Extension(ConnectInfo(addr))| addr.ip());
    if let Err(r) = check_auth(&inner.config, &headers) {
        return r.into_response();
    }
    let publishers = match &inner.role {
        Role::Egress(streams) => {
            let streams = streams.lock().unwrap_or_else(|e| e.into_inner());
            match streams.get(&stream) {
                Some(p) => Some(p.clone()),
                None => {
                    return text(
                        StatusCode::NOT_FOUND,
                        format!("no stream named \"{stream}\" is published here"),
                    )
                }
            }
        }
        Role::Ingress(_) => None,
    };
    let offer = match read_offer(&inner.config, &headers, body).await {
        Ok(o) => o,
        Err(r) => return r.into_response(),
    };
    let wants = if publishers.is_some() {
        Wants::Receive
    } else {
        Wants::Send
    };
    let checked = match check_offer(&offer, wants) {
        Ok(c) => c,
        Err(OfferProblem::Malformed(m)) => return text(StatusCode::BAD_REQUEST, m),
        Err(OfferProblem::Unusable(m)) => return text(StatusCode::UNPROCESSABLE_ENTITY, m),
    };
    let slot = match Slot::reserve(&inner, &stream, client) {
        Ok(slot) => slot,
        Err(refused) => return busy(&inner.config, refused),
    };
    // Every line this session logs (webrtc-rs' own included, see `traced.rs`) carries the
    // stream: the runtime names WHEP streams after its output ids.
    let span = match inner.role {
        Role::Egress(_) => tracing::info_span!("whep", output = %stream),
        Role::Ingress(_) => tracing::info_span!("whip_ingest", stream = %stream),
    };
    match create_session(&inner, slot, checked, publishers)
        .instrument(span)
        .await
    {
        Ok((id, answer)) => {
            let location = format!("{}/{}", uri.path().trim_end_matches('/'), id);
            (
                StatusCode::CREATED,
                [
                    (header::CONTENT_TYPE, "application/sdp".to_owned()),
                    (header::LOCATION, location),
                ],
                answer,
            )
                .into_response()
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not answer the offer: {e}"),
        ),
    }
}

/// 503 for an offer admission refused, with `Retry-After`: a busy client may try again
/// once its pending sessions have connected or timed out.
fn busy(config: &ServerConfig, refused: Refused) -> Response {
    let (message, retry) = match refused {
        Refused::Full => (
            format!(
                "the server is at its limit of {} connected sessions; try again later",
                config.max_sessions
            ),
            5,
        ),
        Refused::ClientBusy => (
            format!(
                "this address already has {} sessions that have not connected yet (transport.whep_max_pending_per_client); try again once they connect or time out",
                config.max_pending_per_client
            ),
            config.peer.connect_timeout.as_secs().max(1),
        ),
        Refused::StreamBusy => (
            format!(
                "{} offers for this stream are being answered right now; try again shortly",
                config.max_pending_per_stream
            ),
            1,
        ),
    };
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry));
    r
}

/// An admitted offer while it is answered; its seat becomes the session's, or is released
/// when dropped.
struct Slot<'a> {
    inner: &'a Inner,
    stream: String,
    ticket: u64,
}

impl<'a> Slot<'a> {
    fn reserve(
        inner: &'a Inner,
        stream: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<Self, Refused> {
        let mut guard = inner.lock_book();
        let book = &mut *guard;
        let admitted = book.seats.admit(
            book.sessions.iter().map(|(id, s)| (id, &s.seat)),
            stream,
            client,
            Book::limits(&inner.config),
        )?;
        let slot = Slot {
            inner,
            stream: stream.to_owned(),
            ticket: admitted.ticket,
        };
        if let Some(oldest) = admitted.evict {
            // `remove` takes the lock again.
            drop(guard);
            inner.remove(
                &oldest,
                "evicted: a newer offer arrived while this stream had its limit of sessions not yet connected",
            );
        }
        Ok(slot)
    }

    /// Turn the seat into a session's (a slot's seat is released only here or on drop).
    fn seat(&self, book: &mut Book) -> Seat {
        book.seats.release(self.ticket).unwrap_or_else(|| Seat {
            stream: self.stream.clone(),
            client: None,
            order: self.ticket,
            connected: false,
        })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.inner.lock_book().seats.release(self.ticket);
    }
}

async fn create_session(
    inner: &Arc<Inner>,
    slot: Slot<'_>,
    checked: crate::sdp::CheckedOffer,
    publishers: Option<Vec<Publisher>>,
) -> Result<(String, String), Error> {
    let stream = slot.stream.as_str();
    let settings = &inner.config.peer;
    // A WHEP listener's connection only sends; a WHIP ingest's receives.
    let media = if publishers.is_some() {
        Media::SendOnly
    } else {
        Media::Any
    };
    let (pc, mut events) = build_peer(settings, &inner.live, media).await?;
    let result = async {
        let outgoing = match &publishers {
            Some(publishers) => {
                let n = checked.audio_sections.min(publishers.len());
                let labels: Vec<&str> = publishers[..n].iter().map(|p| p.label()).collect();
                add_tracks(&pc, stream, &labels).await?
            }
            None => Vec::new(),
        };
        pc.set_remote_description(checked.desc).await?;
        let answer = pc.create_answer(None).await?;
        let sdp = set_local_and_gather(&pc, &mut events, answer, settings.gather_timeout).await?;
        Ok::<_, Error>((outgoing, sdp))
    }
    .await;
    let (outgoing, answer) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = pc.close().await;
            return Err(e);
        }
    };

    let id = format!("{:016x}{:016x}", random_u64(), random_u64());
    {
        let mut book = inner.lock_book();
        let seat = slot.seat(&mut book);
        book.sessions.insert(
            id.clone(),
            Session {
                stream: stream.to_owned(),
                seat,
                span: tracing::Span::current(),
                pc: pc.clone(),
                tasks: Vec::new(),
                listeners: Vec::new(),
            },
        );
    }
    tracing::info!(session = %id, "session created");

    if let Role::Ingress(tx) = &inner.role {
        let tx = tx.clone();
        let (stream, session) = (stream.to_owned(), id.clone());
        let mut tracks = events.tracks;
        inner.add_task(
            &id,
            tokio::spawn(
                async move {
                    while let Some(track) = tracks.recv().await {
                        if !is_audio(&track).await {
                            continue;
                        }
                        let (ptx, packets) = mpsc::channel(1024);
                        spawn_reader(track, ptx);
                        let _ = tx.send(IngestedTrack {
                            stream: stream.clone(),
                            session: session.clone(),
                            packets,
                        });
                    }
                }
                .instrument(tracing::Span::current()),
            ),
        );
    }

    // The watcher: start media once connected, end the session when the peer fails, closes,
    // vanishes (consent freshness expires into `failed`) or never connects.
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let mut state = events.state;
    let mut bye = events.bye;
    let connect_timeout = settings.connect_timeout;
    let session = id.clone();
    let watcher = async move {
        if let Err(e) = wait_connected(&mut state, connect_timeout).await {
            if let Some(inner) = weak.upgrade() {
                inner.remove(&session, &e.to_string());
            }
            return;
        }
        if !weak
            .upgrade()
            .is_some_and(|inner| inner.connected(&session))
        {
            return;
        }
        if let (Some(inner), Some(publishers)) = (weak.upgrade(), &publishers) {
            for (out, publisher) in outgoing.iter().zip(publishers) {
                match attach(out, publisher).await {
                    Ok(listener) => inner.add_listener(&session, listener),
                    Err(e) => tracing::warn!(error = %e, "could not start sending"),
                }
            }
        }
        // The peer left: it said so (RTCP BYE, DTLS close_notify) or went silent for
        // `ice_disconnected_timeout` (it vanished). No RTP is sent to it from then on.
        let ended = peer_gone(&pc, &mut state, &mut bye).await;
        if let Some(inner) = weak.upgrade() {
            inner.remove(&session, &ended);
        }
    }
    .instrument(tracing::Span::current());
    inner.add_task(&id, tokio::spawn(watcher));
    Ok((id, answer))
}

/// A page that plays the stream with the browser's own WebRTC (a WHEP client in 40 lines);
/// 404 for a stream that is not published, as a POST would get.
async fn player_page(State(inner): State<Arc<Inner>>, Path(stream): Path<String>) -> Response {
    if let Role::Egress(streams) = &inner.role {
        if !streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&stream)
        {
            return text(
                StatusCode::NOT_FOUND,
                format!("no stream named \"{stream}\" is published here"),
            );
        }
    }
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../assets/player.html"),
    )
        .into_response()
}

async fn delete_session(
    State(inner): State<Arc<Inner>>,
    Path((stream, session)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_auth(&inner.config, &headers) {
        return r.into_response();
    }
    let known = inner
        .lock_book()
        .sessions
        .get(&session)
        .is_some_and(|s| s.stream == stream);
    if known && inner.remove(&session, "DELETE by the client") {
        text(StatusCode::OK, "session ended")
    } else {
        text(
            StatusCode::NOT_FOUND,
            format!("no session \"{session}\" on stream \"{stream}\""),
        )
    }
}

async fn patch_session(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if let Err(r) = check_auth(&inner.config, &headers) {
        return r.into_response();
    }
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "trickle ICE and ICE restarts are not supported: the answer already carries every candidate; to restart, DELETE this session and POST a new offer",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("DELETE, OPTIONS"));
    r
}
