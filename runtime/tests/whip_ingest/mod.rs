//! A real WHIP ingest from voxpace-transport on loopback, for the tests that publish to one.

use std::net::SocketAddr;

use tokio::sync::mpsc::UnboundedReceiver;
use voxpace_transport::{IngestedTrack, PeerSettings, ServerConfig, WhipIngest};

/// Serve a WHIP ingest under `/whip` on `addr`: the ingest (keep it for as long as the test
/// wants it), the tracks published to it, and the address it listens on.
pub async fn serve(addr: &str) -> (WhipIngest, UnboundedReceiver<IngestedTrack>, SocketAddr) {
    let (ingest, tracks) = WhipIngest::new(ServerConfig {
        peer: PeerSettings::loopback(),
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let bound = listener.local_addr().unwrap();
    let app = axum::Router::new().nest_service("/whip", ingest.router());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (ingest, tracks, bound)
}
