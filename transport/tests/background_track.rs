//! The background as a second WebRTC track: viewers that offer two audio sections get the
//! speech and the background apart; a single-section viewer gets the main track only.

mod common;

use std::time::Duration;

use common::*;
use voxpace_core::{BusContext, Format};
use voxpace_transport::{
    split_background, ClientOptions, Publisher, PublisherConfig, WhepServer, WhepViewer,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_goes_out_as_its_own_track() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let (main, main_feed) = publisher(format);
    let (background, bg_feed) = Publisher::new(
        format,
        PublisherConfig {
            label: "background".into(),
            ..PublisherConfig::default()
        },
    )
    .unwrap();
    let server = WhepServer::new(server_config());
    server.publish("agent", vec![main, background]);
    let base = serve(server.router()).await;
    let agent = Agent::start(format, main_feed);
    let hum = |out: &mut [i16], cx: &BusContext| {
        for (i, s) in out.iter_mut().enumerate() {
            let t = (cx.pts + i as u64) as f64 / 24_000.0;
            *s = (3000.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()) as i16;
        }
    };
    agent
        .handle
        .set_background(Some(Box::new(split_background(hum, bg_feed))))
        .unwrap();

    let options = ClientOptions {
        bearer_token: Some(TOKEN.into()),
        peer: fast_peer(),
        ..Default::default()
    };
    let url = format!("{base}/agent");
    let mut both = WhepViewer::connect(&url, 2, options.clone()).await.unwrap();
    let mut a = both.next_track().await.unwrap();
    let mut b = tokio::time::timeout(Duration::from_secs(5), both.next_track())
        .await
        .expect("a second track")
        .unwrap();
    let mut single = WhepViewer::connect(&url, 1, options).await.unwrap();
    let mut only = single.next_track().await.unwrap();

    // No speech yet: one of the two tracks carries the hum, the other is silent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (pa, pb, po) = (
        collect(&mut a, Duration::from_millis(600)).await,
        collect(&mut b, Duration::from_millis(10)).await,
        collect(&mut only, Duration::from_millis(10)).await,
    );
    let (ra, rb, ro) = (
        rms(&decode_timeline(&pa)),
        rms(&decode_timeline(&pb)),
        rms(&decode_timeline(&po)),
    );
    eprintln!("track rms: {ra:.0} / {rb:.0}; single-track viewer {ro:.0}");
    let (bg_rms, main_rms) = if ra > rb { (ra, rb) } else { (rb, ra) };
    assert!(
        bg_rms > 1000.0,
        "the background track carries the hum: {bg_rms:.0}"
    );
    assert!(
        main_rms < 50.0,
        "the main track is not mixed with it: {main_rms:.0}"
    );
    assert!(
        ro < 50.0,
        "a single-track viewer gets the main track: {ro:.0}"
    );
    assert_eq!(server.sessions(Some("agent")).len(), 2);
    both.close().await.unwrap();
    single.close().await.unwrap();
}
