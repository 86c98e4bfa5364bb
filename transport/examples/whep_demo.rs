//! Serve a talking agent over WHEP: open the printed URL in a browser and press Play.
//!
//! ```text
//! cargo run -p voxpace-transport --example whep_demo -- [--addr 127.0.0.1:8080] [--token T] [--all-interfaces]
//! ```
//!
//! The agent (a real core track paced on the real clock) says a synthetic phrase every four
//! seconds over a quiet hum. By default media binds to loopback only; `--all-interfaces`
//! binds every interface so other machines can play.

use std::time::Duration;

use voxpace_core::{BusContext, Format, MonotonicClock, Pacer, Track, TrackConfig};
use voxpace_transport::{PeerSettings, Publisher, PublisherConfig, ServerConfig, WhepServer};

fn phrase(rate: u32) -> Vec<i16> {
    let n = rate as usize * 3 / 2;
    (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let f0 = 140.0 + 30.0 * (2.0 * std::f64::consts::PI * 0.8 * t).sin();
            let syllable = (0.5 - 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).cos()).powf(0.7);
            let v: f64 = (1..12)
                .map(|h| {
                    let f = h as f64 * f0;
                    (-((f - 600.0) / 400.0).powi(2)).exp()
                        * (2.0 * std::f64::consts::PI * f * t).sin()
                })
                .sum();
            (v * syllable * 9000.0) as i16
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut token = None;
    let mut peer = PeerSettings::loopback();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            "--token" => token = Some(args.next().ok_or("--token needs a value")?),
            "--all-interfaces" => peer = PeerSettings::default(),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }

    let format = Format::new(24_000, 1, 20)?;
    let (publisher, mut feed) = Publisher::new(format, PublisherConfig::default())?;
    let server = WhepServer::new(ServerConfig {
        bearer_tokens: token.iter().cloned().collect(),
        peer,
        ..ServerConfig::default()
    });
    server.publish("agent", vec![publisher]);
    let app = axum::Router::new().nest("/whep", server.router());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let fragment = token.map(|t| format!("#token={t}")).unwrap_or_default();
    println!(
        "player: http://{}/whep/agent{fragment}",
        listener.local_addr()?
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let track = Track::new(format, TrackConfig::default())?;
    let handle = track.handle();
    handle.set_background(Some(Box::new(|out: &mut [i16], cx: &BusContext| {
        for (i, s) in out.iter_mut().enumerate() {
            let t = (cx.pts + i as u64) as f64 / 24_000.0;
            *s = (400.0 * (2.0 * std::f64::consts::PI * 110.0 * t).sin()) as i16;
        }
    })))?;
    tokio::spawn(async move {
        let mut pacer = Pacer::new(track, MonotonicClock::new());
        loop {
            let frame = pacer.next_frame().await;
            feed.push(frame.info(), frame.samples());
        }
    });
    let clip = phrase(24_000);
    loop {
        let mut reply = handle.open_reply()?;
        reply.push_samples(&clip).await?;
        let played = reply.finish()?.await;
        if let Some(outcome) = played {
            println!(
                "said {:?} ({} viewers)",
                outcome.played,
                server.sessions(None).len()
            );
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
    }
}
