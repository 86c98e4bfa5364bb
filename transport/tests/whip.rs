//! Publishing over WHIP (RFC 9725) to a WHIP endpoint that is a separate webrtc-rs peer on
//! loopback: the endpoint decodes what it receives and compares it with the local Opus
//! round trip of exactly what the track rendered.

mod common;

use std::time::Duration;

use common::*;
use voxpace_core::{Event, Format};
use voxpace_transport::{ClientOptions, Error, OpusConfig, WhipIngest, WhipSession};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16k_track_published_over_whip_arrives_intact() {
    let format = Format::new(16_000, 1, 20).unwrap();
    let (publisher, feed) = publisher(format);
    let (ingest, mut tracks) = WhipIngest::new(server_config());
    let base = serve(axum::Router::new().nest("/whip", ingest.router())).await;
    let agent = Agent::start(format, feed);
    let mut events = agent.handle.events();

    let options = ClientOptions {
        bearer_token: Some(TOKEN.into()),
        peer: fast_peer(),
        ..Default::default()
    };
    let url = format!("{base}/whip/room-1");

    // A wrong token is refused with the server's reason.
    let bad = ClientOptions {
        bearer_token: Some("wrong".into()),
        ..options.clone()
    };
    match WhipSession::publish(&url, std::slice::from_ref(&publisher), bad).await {
        Err(Error::Rejected { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }

    let session = WhipSession::publish(&url, std::slice::from_ref(&publisher), options)
        .await
        .expect("published");
    assert!(session.is_connected());
    assert!(session.resource_url().starts_with(&format!("{url}/")));
    let mut track = tokio::time::timeout(Duration::from_secs(5), tracks.recv())
        .await
        .expect("the endpoint receives a track")
        .unwrap();
    assert_eq!(track.stream, "room-1");
    assert_eq!(ingest.sessions(Some("room-1")), vec![track.session.clone()]);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let done = agent.say(speech_clip(16_000, 1.5));
    let outcome = tokio::time::timeout(Duration::from_secs(5), done)
        .await
        .unwrap()
        .unwrap();
    assert!(!outcome.interrupted);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let packets = collect(&mut track.packets, Duration::from_millis(200)).await;
    let n = assert_continuous(&packets, 960);

    let speech_pts = loop {
        match events.next().await {
            Some(Event::SpeechStarted { pts, .. }) => break pts,
            Some(_) => continue,
            None => panic!("no speech event"),
        }
    };
    let rendered = agent.rendered.lock().unwrap().clone();
    let reference = local_codec(&rendered, format, &OpusConfig::default());
    let received = decode_timeline(&packets);
    let at = speech_pts as usize * 3; // 16 kHz pts -> 48 kHz
    let (_, corr) = align(&received, &reference, 960, at, 48_000);
    eprintln!("whip: {n} packets, correlation {corr:.3}");
    assert!(corr > 0.9, "correlation {corr:.3}");

    session.close().await.expect("DELETE answered 200");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(ingest.sessions(None).is_empty() && ingest.live_peer_connections() == 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ingest session not cleaned up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A stand-in WHIP server that answers the first POST `503` with `Retry-After: 2` (as an
/// SFU at capacity would) and then lets the real ingest endpoint behind it answer: the
/// publisher waits the 2 s it was told, not its 0.5 s first backoff step, then publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_with_retry_after_is_retried_when_the_server_said() {
    use std::sync::{Arc, Mutex};
    use voxpace_core::MonotonicClock;
    use voxpace_transport::{Backoff, PublishState, WhipPublisher, WhipPublisherConfig};

    let format = Format::new(16_000, 1, 20).unwrap();
    let (publisher, feed) = publisher(format);
    let (ingest, mut tracks) = WhipIngest::new(server_config());
    let posts: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
    let seen = posts.clone();
    let stand_in =
        axum::Router::new()
            .nest("/whip", ingest.router())
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let seen = seen.clone();
                    async move {
                        use axum::response::IntoResponse;
                        if req.method() == axum::http::Method::POST {
                            let first = {
                                let mut posts = seen.lock().unwrap();
                                posts.push(std::time::Instant::now());
                                posts.len() == 1
                            };
                            if first {
                                return (
                                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                    [(axum::http::header::RETRY_AFTER, "2")],
                                    "at capacity",
                                )
                                    .into_response();
                            }
                        }
                        next.run(req).await
                    }
                },
            ));
    let base = serve(stand_in).await;
    let _agent = Agent::start(format, feed);
    let whip = WhipPublisher::start(
        vec![publisher],
        WhipPublisherConfig {
            endpoint: format!("{base}/whip/room-1"),
            options: ClientOptions {
                bearer_token: Some(TOKEN.into()),
                peer: fast_peer(),
                ..Default::default()
            },
            backoff: Backoff::default(),
        },
        MonotonicClock::new(),
    )
    .unwrap();
    let mut status = whip.watch();
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| s.state == PublishState::Published),
    )
    .await
    .expect("published after the wait the server asked for")
    .unwrap();
    tokio::time::timeout(Duration::from_secs(5), tracks.recv())
        .await
        .expect("the endpoint receives the track")
        .unwrap();
    let posts = posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 2, "one refused POST, one that published");
    let waited = posts[1] - posts[0];
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(4),
        "the second POST came {waited:?} after the 503 (Retry-After: 2)"
    );
    assert!(whip
        .status()
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("503")));
    whip.stop().await;
}
