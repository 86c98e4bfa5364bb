//! The WHEP server (draft-ietf-wish-whep) and the WHIP ingest endpoint (RFC 9725 server
//! side), as axum routers the runtime mounts wherever it likes.

use std::sync::Arc;

use axum::Router;
use tokio::sync::mpsc;

use crate::server::{router, Inner, Role};
use crate::{IngestedTrack, Publisher, ServerConfig};

/// Serves published tracks to WHEP players: `POST {mount}/{stream}` with an SDP offer,
/// `DELETE` the returned `Location` to stop. Several viewers per stream; each gets its own
/// peer connection, SSRC and RTP clock offset, fed from the one shared encoder.
#[derive(Clone)]
pub struct WhepServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WhepServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhepServer")
            .field("sessions", &self.sessions(None).len())
            .finish()
    }
}

impl WhepServer {
    /// A server with no streams yet.
    pub fn new(config: ServerConfig) -> Self {
        Self {
            inner: Inner::new(config, Role::Egress(Default::default())),
        }
    }

    /// The routes: `POST /{stream}` (WHEP offer), `GET /{stream}` (a browser player page),
    /// `DELETE /{stream}/{session}`, `PATCH` (405) and CORS preflight. Mount with
    /// `Router::nest("/whep", server.router())`.
    pub fn router(&self) -> Router {
        router(self.inner.clone())
    }

    /// Serve `tracks` under `stream`: the first is the main (mixed) track; a second, if
    /// given, goes to viewers whose offer has a second audio section (the background).
    /// Replaces an earlier stream of that name and ends its viewers' sessions.
    pub fn publish(&self, stream: &str, tracks: Vec<Publisher>) {
        if let Role::Egress(streams) = &self.inner.role {
            let old = streams
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(stream.to_owned(), tracks);
            if old.is_some() {
                self.inner.remove_stream_sessions(stream, "stream replaced");
            }
        }
    }

    /// Stop serving `stream` and end its viewers' sessions.
    pub fn unpublish(&self, stream: &str) {
        if let Role::Egress(streams) = &self.inner.role {
            streams
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(stream);
        }
        self.inner
            .remove_stream_sessions(stream, "stream unpublished");
    }

    /// Session ids, of one stream or of all.
    pub fn sessions(&self, stream: Option<&str>) -> Vec<String> {
        self.inner.session_ids(stream)
    }

    /// Peer connections still alive (sessions being torn down count until freed).
    pub fn live_peer_connections(&self) -> usize {
        self.inner.live.get()
    }

    /// Sessions not yet connected (offers being answered, peers still in ICE/DTLS): bounded
    /// by `ServerConfig::max_pending_per_stream` and `max_pending_per_client`.
    /// Of one stream, or of all.
    pub fn pending_sessions(&self, stream: Option<&str>) -> usize {
        self.inner.pending(stream)
    }

    /// End one session, as a DELETE would.
    pub fn end_session(&self, session: &str) -> bool {
        self.inner.remove(session, "ended by the server")
    }
}

/// A WHIP endpoint that receives audio: `POST {mount}/{stream}` with a sendonly offer.
/// Each received audio track comes out of the channel returned by [`WhipIngest::new`].
#[derive(Clone)]
pub struct WhipIngest {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WhipIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhipIngest")
            .field("sessions", &self.sessions(None).len())
            .finish()
    }
}

impl WhipIngest {
    /// An endpoint and the channel its received tracks arrive on.
    pub fn new(config: ServerConfig) -> (Self, mpsc::UnboundedReceiver<IngestedTrack>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                inner: Inner::new(config, Role::Ingress(tx)),
            },
            rx,
        )
    }

    /// The routes: `POST /{stream}`, `DELETE /{stream}/{session}`, `PATCH` (405), CORS.
    pub fn router(&self) -> Router {
        router(self.inner.clone())
    }

    /// Session ids, of one stream or of all.
    pub fn sessions(&self, stream: Option<&str>) -> Vec<String> {
        self.inner.session_ids(stream)
    }

    /// Peer connections still alive.
    pub fn live_peer_connections(&self) -> usize {
        self.inner.live.get()
    }
}
