//! WHEP listeners of `voxpace serve`, as `/metrics` counts them (`voxpace_peers`): one that
//! leaves by DELETE stops counting at once, and one that vanishes (its UDP just stops) stops
//! counting after `transport.whep_peer_timeout_ms` of silence, well before the connection
//! would fail on its own. (Listeners that close with DTLS close_notify or say RTCP BYE:
//! transport/tests/whep_cleanup.rs.)
#![cfg(feature = "webrtc")]

use std::time::Duration;

use voxpace_transport::{ClientOptions, PeerSettings, WhepViewer};

async fn start(peer_timeout_ms: u64) -> (voxpace_runtime::serve::Server, String) {
    start_with(&format!("whep_peer_timeout_ms = {peer_timeout_ms}\n")).await
}

/// A server with one output, `transport` lines added to its `[transport]` table.
async fn start_with(transport: &str) -> (voxpace_runtime::serve::Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[transport]\nwhep = true\n{transport}\
             [server]\nlisten = \"127.0.0.1:0\"\noutputs = [\"alpha\"]\n"
        ),
    )
    .unwrap();
    let config = voxpace_runtime::Config::load(&cfg).unwrap();
    let server = voxpace_runtime::serve::Server::start(config).await.unwrap();
    let base = format!("http://{}", server.addr());
    (server, base)
}

/// `voxpace_peers{output="alpha"}` from `/metrics`.
async fn peers(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("voxpace_peers{output=\"alpha\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Wait until `/metrics` counts `n` listeners, at most `bound`.
async fn until_peers(base: &str, n: u64, bound: Duration, what: &str) {
    let started = tokio::time::Instant::now();
    while peers(base).await != n {
        assert!(
            started.elapsed() < bound,
            "{what}: still {} listeners after {bound:?}",
            peers(base).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{what}: after {:?}", started.elapsed());
}

async fn listen(
    url: &str,
) -> (
    WhepViewer,
    tokio::sync::mpsc::Receiver<voxpace_transport::RtpAudioPacket>,
) {
    let options = ClientOptions {
        peer: PeerSettings::loopback(),
        ..Default::default()
    };
    let mut viewer = WhepViewer::connect(url, 1, options)
        .await
        .expect("connects");
    let mut rx = tokio::time::timeout(Duration::from_secs(10), viewer.next_track())
        .await
        .unwrap()
        .unwrap();
    for _ in 0..5 {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("RTP arrives")
            .unwrap();
    }
    (viewer, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_vanishes_is_dropped_after_the_configured_peer_timeout() {
    // 1.5 s of silence; the connection itself would only fail 10 s later.
    let (server, base) = start(1_500).await;
    let url = format!("{base}/whep/alpha");
    let (_stay, mut stay_rx) = listen(&url).await;

    // This listener lives on its own runtime; dropping the runtime stops its UDP without a
    // DELETE, an RTCP BYE or a DTLS close.
    let vanishing = url.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (viewer, rx) = listen(&vanishing).await;
            std::mem::forget(viewer);
            std::mem::forget(rx);
        });
        rt.shutdown_background();
    })
    .join()
    .unwrap();
    assert_eq!(peers(&base).await, 2);
    until_peers(
        &base,
        1,
        Duration::from_secs(8),
        "the vanished listener is dropped (whep_peer_timeout_ms = 1500)",
    )
    .await;
    // The one that stayed still hears the output.
    while stay_rx.try_recv().is_ok() {}
    tokio::time::timeout(Duration::from_secs(5), stay_rx.recv())
        .await
        .expect("the staying listener still receives")
        .unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_deletes_is_dropped_at_once() {
    let (server, base) = start(30_000).await;
    let (viewer, _rx) = listen(&format!("{base}/whep/alpha")).await;
    assert_eq!(peers(&base).await, 1);
    viewer.close().await.expect("DELETE answered");
    until_peers(
        &base,
        0,
        Duration::from_secs(5),
        "the deleted listener is dropped",
    )
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_beyond_whep_max_listeners_are_refused() {
    let (server, base) = start_with("whep_max_listeners = 1\n").await;
    let url = format!("{base}/whep/alpha");
    let (_first, _rx) = listen(&url).await;
    let options = ClientOptions {
        peer: PeerSettings::loopback(),
        ..Default::default()
    };
    match WhepViewer::connect(&url, 1, options).await {
        Err(voxpace_transport::Error::Rejected { status, .. }) => assert_eq!(status, 503),
        other => panic!("a second listener over the limit of 1: {other:?}"),
    }
    assert_eq!(peers(&base).await, 1);
    server.shutdown().await.unwrap();
}
