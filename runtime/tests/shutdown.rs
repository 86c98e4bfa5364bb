//! `voxpace serve` as a process: it prints its address, and on SIGTERM it refuses new work,
//! lets the reply in flight finish, closes the event stream and exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_reply_in_flight_finish_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace_ms = 10000\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxpace"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("first line names the address")
        .to_string();
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
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
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

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    for l in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|_| panic!("--log-format json: {l}"));
        assert!(v["level"].is_string(), "{l}");
    }
    assert!(logs.contains("voxpace stopped"), "{logs}");
}
