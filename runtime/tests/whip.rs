//! `transport.whip_url`: every output is published to a WHIP endpoint (here a real loopback
//! WHIP ingest from voxpace-transport), and its Opus packets arrive there.
#![cfg(feature = "webrtc")]

use std::time::Duration;

use voxpace_transport::{PeerSettings, ServerConfig, WhipIngest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_output_is_published_over_whip() {
    let (ingest, mut tracks) = WhipIngest::new(ServerConfig {
        peer: PeerSettings::loopback(),
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ingest_addr = listener.local_addr().unwrap();
    let app = axum::Router::new().nest_service("/whip", ingest.router());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[transport]\nwhip_url = \"http://{ingest_addr}/whip/{{output}}\"\n[server]\nlisten = \"127.0.0.1:0\"\noutputs = [\"alpha\"]\n"
        ),
    )
    .unwrap();
    let config = voxpace_runtime::Config::load(&cfg).unwrap();
    let server = voxpace_runtime::serve::Server::start(config).await.unwrap();

    let mut track = tokio::time::timeout(Duration::from_secs(30), tracks.recv())
        .await
        .expect("the output publishes within 30 s")
        .expect("an ingested track");
    assert_eq!(
        track.stream, "alpha",
        "{{output}} in whip_url is the output id"
    );
    let mut packets = 0;
    while packets < 25 {
        match tokio::time::timeout(Duration::from_secs(10), track.packets.recv()).await {
            Ok(Some(_)) => packets += 1,
            other => panic!("packets stopped after {packets}: {other:?}"),
        }
    }
    server.shutdown().await.unwrap();
}
