//! `voxpace serve` as a process: it prints its address, and on SIGTERM it refuses new work,
//! lets the reply in flight finish, closes the event stream and exits 0.

use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use voxpace_test_kit::process::listening;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_reply_in_flight_finish_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace_ms = 10000\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_voxpace"));
    command
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&cfg);
    let mut served = listening(command);
    let base = served.base.clone();
    let http = reqwest::Client::new();

    let events = http
        .get(format!("{base}/v1/outputs/default/events"))
        .send()
        .await
        .unwrap();
    let collector = tokio::spawn(async move {
        let mut text = String::new();
        let mut s = events.bytes_stream();
        while let Some(Ok(c)) = s.next().await {
            text.push_str(&String::from_utf8_lossy(&c));
        }
        text // the stream ends when the server shuts down
    });
    // A 1.5 s reply, then SIGTERM while it plays.
    let pcm: Vec<u8> = (0..36_000)
        .flat_map(|i: i32| (((i % 200) - 100) as i16 * 50).to_le_bytes())
        .collect();
    let r = http
        .post(format!("{base}/v1/outputs/default/replies"))
        .header("content-type", "audio/L16;rate=24000;channels=1")
        .body(pcm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    tokio::time::sleep(Duration::from_millis(200)).await;
    served.terminate();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New work is refused while the reply finishes.
    let r = http
        .post(format!("{base}/v1/outputs/default/replies"))
        .header("content-type", "audio/L16;rate=24000;channels=1")
        .body(vec![0u8; 960])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);

    let status = tokio::task::block_in_place(|| served.exited_within(Duration::from_secs(30)));
    assert!(status.success(), "exit status {status}");
    let text = tokio::time::timeout(Duration::from_secs(10), collector)
        .await
        .unwrap()
        .unwrap();
    let finished = text
        .lines()
        .find(|l| l.contains("\"type\":\"playback_finished\""))
        .expect(&text);
    assert!(
        finished.contains("\"interrupted\":false"),
        "the reply played to the end: {finished}"
    );
    assert!(finished.contains("\"played_samples\":36000"), "{finished}");
    assert!(text.contains("event: output_ended"), "{text}");
    let logs = served.log().join("\n");
    for l in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|_| panic!("--log-format json: {l}"));
        assert!(v["level"].is_string(), "{l}");
    }
    assert!(logs.contains("voxpace stopped"), "{logs}");
}
