//! A real browser (Debian's Chromium, driven through chromedriver) opens the WHEP server's
//! player page, plays the stream and decodes audio with energy in it; Stop sends DELETE.
//!
//! The browser must see only loopback (the project's network rule), so the test re-runs
//! itself inside a fresh network namespace whose only interface is `lo`
//! (`unshare --net`, root; the kit's `browser` module). Needs `chromium`, `chromium-driver`
//! and `util-linux`/`iproute2`.

mod common;

use std::time::Duration;

use common::*;
use voxpace_core::Format;
use voxpace_test_kit::browser::{in_loopback_namespace, Chromium};
use voxpace_transport::WhepServer;

#[test]
fn chromium_plays_the_whep_stream() {
    if in_loopback_namespace("chromium_plays_the_whep_stream") {
        inside_namespace();
    }
}

fn inside_namespace() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let format = Format::new(24_000, 1, 20).unwrap();
        let (publisher, feed) = publisher(format);
        let server = WhepServer::new(server_config());
        server.publish("agent", vec![publisher]);
        let base = serve(axum::Router::new().nest("/whep", server.router())).await;
        let agent = Agent::start(format, feed);
        drop(agent.say(speech_clip(24_000, 60.0)));

        let profile = std::env::temp_dir().join(format!("voxpace-chromium-{}", std::process::id()));
        let d = Chromium::start(&profile).await;
        d.open(&format!("{base}/whep/agent#token={TOKEN}")).await;
        // Chromium offers loopback candidates only while the page holds a media permission.
        let started = d
            .async_script(
                "const done = arguments[arguments.length - 1];
                 navigator.mediaDevices.getUserMedia({audio: true})
                   .then(m => { window.mic = m; return play(); })
                   .then(() => done('ok'), e => done('error: ' + e));",
            )
            .await;
        assert_eq!(started, "ok", "the player started");

        let stats_js = "const done = arguments[arguments.length - 1];
            pc.getStats().then(s => { let r = {packets: 0, energy: 0};
              s.forEach(x => { if (x.type === 'inbound-rtp') r = {packets: x.packetsReceived,
                energy: x.totalAudioEnergy || 0}; });
              r.state = pc.connectionState; r.text = document.getElementById('state').textContent;
              done(r); });";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let stats = loop {
            let s = d.async_script(stats_js).await;
            if s["packets"].as_u64().unwrap_or(0) > 100 && s["energy"].as_f64().unwrap_or(0.0) > 0.01 {
                break s;
            }
            assert!(tokio::time::Instant::now() < deadline, "browser did not play: {s}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        eprintln!("browser: {stats}");
        assert_eq!(stats["state"], "connected");
        assert_eq!(server.sessions(Some("agent")).len(), 1);

        // Stop: the page DELETEs its resource and the server ends the session.
        let stopped = d
            .async_script("const done = arguments[arguments.length - 1]; stop().then(() => done('ok'), e => done('error: ' + e));")
            .await;
        assert_eq!(stopped, "ok");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !server.sessions(None).is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "session not ended by DELETE");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        d.quit().await;
        drop(d);
        let _ = std::fs::remove_dir_all(profile);
    });
}
