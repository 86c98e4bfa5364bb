//! WHEP connect time on loopback: 50 sessions, one after another, each from `POST` of the
//! offer to the peer connection being connected (ICE + DTLS), against a `WhepServer` serving
//! a live track. Prints p50, p99 and the slowest.
//!
//! `cargo bench -p voxpace-transport --bench connect` (`VOXPACE_BENCH_SESSIONS` sets the
//! count). The goal is p99 ≤ 100 ms: no 500 ms stall from an unanswered nominating ICE check
//! (fixed by the rtc-ice patch in `patches/rtc-ice`).

use std::time::{Duration, Instant};

use voxpace_core::Format;
use voxpace_transport::{
    ClientOptions, PeerSettings, Publisher, PublisherConfig, ServerConfig, WhepServer, WhepViewer,
};

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter this bench ignores.
    let sessions: usize = std::env::var("VOXPACE_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let format = Format::new(48_000, 1, 20).unwrap();
        let (publisher, mut feed) = Publisher::new(format, PublisherConfig::default()).unwrap();
        let server = WhepServer::new(ServerConfig {
            peer: PeerSettings::loopback(),
            ..Default::default()
        });
        server.publish("agent", vec![publisher.clone()]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().nest("/whep", server.router());
        tokio::spawn(async move { axum::serve(listener, app).await });
        // A live track: frames every 20 ms, as in production.
        tokio::spawn(async move {
            let frame = vec![0i16; format.frame_len()];
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut pts = 0;
            loop {
                tick.tick().await;
                feed.push_pcm(pts, false, &frame);
                pts += format.frame_samples() as u64;
            }
        });
        let url = format!("http://{addr}/whep/agent");
        let mut times = Vec::with_capacity(sessions);
        for _ in 0..sessions {
            let started = Instant::now();
            let viewer = WhepViewer::connect(
                &url,
                1,
                ClientOptions {
                    peer: PeerSettings::loopback(),
                    ..Default::default()
                },
            )
            .await
            .expect("connects");
            times.push(started.elapsed());
            viewer.close().await.unwrap();
        }
        times.sort();
        let q =
            |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
        println!(
            "whep_connect_loopback: {} sessions, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            times.len(),
            q(0.5).as_secs_f64() * 1e3,
            q(0.99).as_secs_f64() * 1e3,
            times.last().unwrap().as_secs_f64() * 1e3,
        );
    });
}
