//! Every bad signalling request gets the right status and a clear message, and the server
//! keeps serving real viewers afterwards.

mod common;

use std::time::Duration;

use common::*;
use voxpace_core::Format;
use voxpace_transport::{ClientOptions, Error, WhepServer, WhepViewer};

struct Reply {
    status: u16,
    body: String,
    headers: reqwest::header::HeaderMap,
}

async fn post(url: &str, token: Option<&str>, content_type: Option<&str>, body: String) -> Reply {
    let mut req = reqwest::Client::new().post(url).body(body);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    Reply {
        status,
        body: r.text().await.unwrap(),
        headers,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_right_status_and_the_server_keeps_serving() {
    let format = Format::new(48_000, 1, 20).unwrap();
    let (publisher, feed) = publisher(format);
    let server = WhepServer::new(voxpace_transport::ServerConfig {
        bearer_tokens: vec!["first-token".into(), TOKEN.into()],
        ..server_config()
    });
    server.publish("agent", vec![publisher]);
    let base = serve(axum::Router::new().nest("/whep", server.router())).await;
    let agent = Agent::start(format, feed);
    let url = format!("{base}/whep/agent");
    let good = offer("audio", "rtpmap:111 opus/48000/2", "recvonly");
    // Every configured token is accepted, not only the first (TOKEN is the second).
    let sdp = Some("application/sdp");

    let cases: Vec<(&str, Reply, u16, &str)> = vec![
        (
            "no token",
            post(&url, None, sdp, good.clone()).await,
            401,
            "missing bearer token",
        ),
        (
            "wrong token",
            post(&url, Some("nope"), sdp, good.clone()).await,
            401,
            "invalid bearer token",
        ),
        (
            "wrong content type",
            post(&url, Some(TOKEN), Some("application/json"), good.clone()).await,
            415,
            "application/sdp",
        ),
        (
            "no content type",
            post(&url, Some(TOKEN), None, good.clone()).await,
            415,
            "got none",
        ),
        (
            "body over the limit",
            post(
                &url,
                Some(TOKEN),
                sdp,
                format!("{good}{}", "a=x:y\r\n".repeat(4000)),
            )
            .await,
            413,
            "16384-byte limit",
        ),
        (
            "not SDP",
            post(&url, Some(TOKEN), sdp, "hello".into()).await,
            400,
            "not an SDP offer",
        ),
        (
            "broken SDP",
            post(&url, Some(TOKEN), sdp, "v=0\r\no=broken\r\nm=\r\n".into()).await,
            400,
            "does not parse",
        ),
        (
            "no audio",
            post(
                &url,
                Some(TOKEN),
                sdp,
                offer("video", "rtpmap:96 VP8/90000", "recvonly"),
            )
            .await,
            422,
            "no audio section",
        ),
        (
            "no opus",
            post(
                &url,
                Some(TOKEN),
                sdp,
                offer("audio", "rtpmap:0 PCMU/8000", "recvonly"),
            )
            .await,
            422,
            "does not include Opus",
        ),
        (
            "sendonly offer",
            post(
                &url,
                Some(TOKEN),
                sdp,
                offer("audio", "rtpmap:111 opus/48000/2", "sendonly"),
            )
            .await,
            422,
            "recvonly",
        ),
        (
            "no ICE password",
            post(
                &url,
                Some(TOKEN),
                sdp,
                good.replace("a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", ""),
            )
            .await,
            400,
            "no ICE password (a=ice-pwd)",
        ),
        (
            "no ICE username fragment",
            post(
                &url,
                Some(TOKEN),
                sdp,
                good.replace("a=ice-ufrag:abcd\r\n", ""),
            )
            .await,
            400,
            "no ICE username fragment",
        ),
        (
            "no fingerprint",
            post(
                &url,
                Some(TOKEN),
                sdp,
                good.lines()
                    .filter(|l| !l.starts_with("a=fingerprint"))
                    .map(|l| format!("{l}\r\n"))
                    .collect(),
            )
            .await,
            400,
            "no DTLS fingerprint",
        ),
        (
            "unknown stream",
            post(
                &format!("{base}/whep/nobody"),
                Some(TOKEN),
                sdp,
                good.clone(),
            )
            .await,
            404,
            "no stream named \"nobody\"",
        ),
    ];
    for (what, reply, status, needle) in &cases {
        assert_eq!(reply.status, *status, "{what}: {}", reply.body);
        assert!(
            reply.body.contains(needle),
            "{what}: {:?} lacks {needle:?}",
            reply.body
        );
    }
    let challenge = cases[0].1.headers.get("www-authenticate").unwrap();
    assert!(challenge.to_str().unwrap().starts_with("Bearer"));
    assert!(cases[1]
        .1
        .headers
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    let client = reqwest::Client::new();
    // DELETE of an unknown session, with and without the token.
    let r = client
        .delete(format!("{url}/0123"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = client.delete(format!("{url}/0123")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Trickle ICE is not supported.
    let r = client
        .patch(format!("{url}/0123"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/trickle-ice-sdpfrag")
        .body("a=end-of-candidates\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert!(r.text().await.unwrap().contains("trickle ICE"));

    // CORS: a page on another origin may POST with a token and read the Location.
    let r = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "http://player.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "preflight: {}", r.status());
    let allow = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
    };
    assert_eq!(allow("access-control-allow-origin").as_deref(), Some("*"));
    assert!(allow("access-control-allow-methods")
        .unwrap()
        .contains("post"));
    assert!(allow("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    let r = post(&url, None, sdp, good.clone()).await;
    assert_eq!(r.status, 401);
    // Even refusals carry CORS headers so the page can read the message.
    let r = client
        .post(&url)
        .header("Origin", "http://player.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("access-control-allow-origin").unwrap(), "*");

    // GET serves a browser player for the stream.
    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("RTCPeerConnection"));
    // ... and 404 for a stream that is not published, as its POST gets.
    let unknown = client
        .get(url.replace("/agent", "/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    // After all that, a real viewer still gets audio.
    assert!(
        server.sessions(None).is_empty(),
        "no refused offer left a session"
    );
    let options = ClientOptions {
        bearer_token: Some(TOKEN.into()),
        peer: fast_peer(),
        ..Default::default()
    };
    let mut viewer = WhepViewer::connect(&url, 1, options.clone())
        .await
        .expect("viewer connects");
    let mut rx = viewer.next_track().await.unwrap();
    // Speech, so that packets flow (a silent output sends only a keep-alive every 400 ms).
    let _speech = agent.say(speech_clip(48_000, 1.0));
    let packets = collect(&mut rx, Duration::from_millis(400)).await;
    assert!(packets.len() > 5, "{} packets", packets.len());
    assert_eq!(server.sessions(Some("agent")).len(), 1);
    viewer.close().await.unwrap();

    // And the client reports a refusal with the server's explanation.
    let wrong = ClientOptions {
        bearer_token: Some("nope".into()),
        ..options
    };
    match WhepViewer::connect(&url, 1, wrong).await {
        Err(Error::Rejected {
            status, message, ..
        }) => {
            assert_eq!(status, 401);
            assert!(message.contains("invalid bearer token"), "{message}");
        }
        other => panic!("expected a 401 rejection, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_can_be_limited_to_listed_origins() {
    let config = voxpace_transport::ServerConfig {
        allowed_origins: vec!["https://player.example".into()],
        ..server_config()
    };
    let server = WhepServer::new(config);
    let base = serve(server.router()).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{base}/agent"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let ok = preflight("https://player.example").await.unwrap();
    assert_eq!(
        ok.headers().get("access-control-allow-origin").unwrap(),
        "https://player.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_beyond_the_session_limit_get_503() {
    let format = Format::new(24_000, 1, 20).unwrap();
    let (publisher, feed) = publisher(format);
    let config = voxpace_transport::ServerConfig {
        max_sessions: 1,
        ..server_config()
    };
    let server = WhepServer::new(config);
    server.publish("agent", vec![publisher]);
    let base = serve(server.router()).await;
    let _agent = Agent::start(format, feed);
    let url = format!("{base}/agent");
    let options = ClientOptions {
        bearer_token: Some(TOKEN.into()),
        peer: fast_peer(),
        ..Default::default()
    };
    let first = WhepViewer::connect(&url, 1, options.clone()).await.unwrap();
    match WhepViewer::connect(&url, 1, options.clone()).await {
        Err(Error::Rejected {
            status, message, ..
        }) => {
            assert_eq!(status, 503);
            assert!(
                message.contains("limit of 1 connected sessions"),
                "{message}"
            );
        }
        other => panic!("expected 503, got {other:?}"),
    }
    // Once the first viewer leaves, there is room again.
    first.close().await.unwrap();
    let again = WhepViewer::connect(&url, 1, options)
        .await
        .expect("room again");
    again.close().await.unwrap();
}
