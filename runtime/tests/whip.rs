//! `transport.whip_url`: every output is published to a WHIP endpoint (here a real loopback
//! WHIP ingest from voxpace-transport), and its Opus packets arrive there.
#![cfg(feature = "webrtc")]

mod whip_ingest;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_output_is_published_over_whip() {
    let (_ingest, mut tracks, ingest_addr) = whip_ingest::serve("127.0.0.1:0").await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let toml = format!(
        "[transport]\nwhip_url = \"http://{ingest_addr}/whip/{{output}}\"\n[server]\nlisten = \"127.0.0.1:0\"\noutputs = [\"alpha\"]\n"
    );
    std::fs::write(&cfg, toml).unwrap();
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

async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The WHIP endpoint is down when the output starts: the publish retries (visible as
/// `retrying` with the cause, `/readyz` 503), is published soon after the endpoint comes up,
/// a late event subscriber hears the current state first, and deleting the output DELETEs
/// the WHIP resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_retries_until_the_endpoint_is_up_and_its_state_is_visible() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[transport]\nwhep = false\nwhip_url = \"http://127.0.0.1:{port}/whip/{{output}}\"\n\
             [transport.whip_retry]\ninitial_ms = 100\nmax_ms = 400\n\
             [server]\nlisten = \"127.0.0.1:0\"\noutputs = [\"alpha\"]\n"
        ),
    )
    .unwrap();
    let config = voxpace_runtime::Config::load(&cfg).unwrap();
    let server = voxpace_runtime::serve::Server::start(config).await.unwrap();
    let base = format!("http://{}", server.addr());

    // Down: retrying, with the cause of the failure.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let publish = loop {
        let (_, o) = get_json(&format!("{base}/v1/outputs/alpha")).await;
        if o["publish"]["state"] == "retrying" && o["publish"]["attempts"].as_u64() >= Some(2) {
            break o["publish"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never retrying: {o}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let error = publish["last_error"].as_str().unwrap();
    assert!(
        error.contains(&format!("127.0.0.1:{port}"))
            && error.to_lowercase().contains("connection refused"),
        "{error}"
    );
    let (status, ready) = get_json(&format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["outputs"]["alpha"]["state"], "retrying");
    let (_, info) = get_json(&format!("{base}/v1/info")).await;
    assert_eq!(info["publish"]["alpha"]["state"], "retrying");

    // Up: published within a few backoff steps (400 ms at most apart).
    let (ingest, mut tracks, _) = whip_ingest::serve(&format!("127.0.0.1:{port}")).await;
    let track = tokio::time::timeout(Duration::from_secs(20), tracks.recv())
        .await
        .expect("published once the endpoint is up")
        .unwrap();
    assert_eq!(track.stream, "alpha");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, ready) = get_json(&format!("{base}/readyz")).await;
        if status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, o) = get_json(&format!("{base}/v1/outputs/alpha")).await;
    assert_eq!(o["publish"]["state"], "published", "{o}");
    assert_eq!(o["publish"]["publishes"], 1);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("voxpace_publish_up{output=\"alpha\"} 1"),
        "{metrics}"
    );

    // A subscriber that comes now hears the state first.
    let resp = reqwest::get(format!("{base}/v1/outputs/alpha/events"))
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    use futures_util::StreamExt;
    while text.matches("\n\n").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("events arrive")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events: Vec<&str> = text.split("\n\n").collect();
    assert!(events[0].contains("event: hello"), "{text}");
    assert!(events[1].contains("event: publish_state"), "{text}");
    assert!(events[1].contains("\"state\":\"published\""), "{text}");

    // Deleting the output deletes the WHIP resource.
    let r = reqwest::Client::new()
        .delete(format!("{base}/v1/outputs/alpha"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !ingest.sessions(None).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the WHIP resource was not deleted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await.unwrap();
}
