//! The control API against a real server on 127.0.0.1:0: the happy path, every bad-input
//! case (a clear 4xx that changes nothing else), event order, isolation, shutdown.
//! Real clock: assertions are about order and content, never speed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use voxpace_runtime::serve::Server;
use voxpace_runtime::Config;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

fn config(dir: &Path, extra: &str) -> Config {
    let a = assets();
    let text = format!(
        "[background]\nfile = {bg:?}\ngain_db = -20\n\n[clips.ding]\nfile = {ding:?}\n\n[server]\nlisten = \"127.0.0.1:0\"\noutputs = [\"default\"]\nmax_outputs = 3\nshutdown_grace_ms = 8000\n{extra}",
        bg = a.join("music.wav"),
        ding = a.join("ding.wav"),
    );
    let path = dir.join("voxpace.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(server: &Server) -> Self {
        Self {
            base: format!("http://{}", server.addr()),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        ct: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, ct: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, ct, body).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None, Vec::new())
            .await
    }

    /// Subscribe to an output's events; returns a channel of (event name, JSON).
    async fn events(&self, output: &str) -> tokio::sync::mpsc::UnboundedReceiver<(String, Value)> {
        let resp = self
            .http
            .get(format!("{}/v1/outputs/{output}/events", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut stream = resp.bytes_stream();
            let mut buf = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    let mut name = String::new();
                    let mut data = String::new();
                    for line in block.lines() {
                        if let Some(n) = line.strip_prefix("event: ") {
                            name = n.to_string();
                        } else if let Some(d) = line.strip_prefix("data: ") {
                            data = d.to_string();
                        }
                    }
                    if !name.is_empty() {
                        let _ = tx.send((name, serde_json::from_str(&data).unwrap_or(Value::Null)));
                    }
                }
            }
        });
        rx
    }
}

async fn next_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("an event within 30 s")
        .expect("the stream is open")
}

/// A 440 Hz tone as s16le bytes.
fn tone(rate: u32, ms: u32) -> Vec<u8> {
    let n = rate * ms / 1000;
    (0..n)
        .flat_map(|i| {
            let v =
                (8000.0 * (i as f64 * 440.0 * std::f64::consts::TAU / rate as f64).sin()) as i16;
            v.to_le_bytes()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_streamed_in_plays_and_events_arrive_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), "")).await.unwrap();
    let api = Api::new(&server);
    let mut events = api.events("default").await;
    assert_eq!(next_event(&mut events).await.0, "hello");

    // 600 ms of 16 kHz mono, chunked, converted to the output's 24 kHz.
    let body = tone(16_000, 600);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(999).map(|c| Ok(c.to_vec())).collect();
    let resp = api
        .http
        .post(format!("{}/v1/outputs/default/replies?wait=true", api.base))
        .header("content-type", "audio/L16;rate=16000;channels=1")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let reply: Value = resp.json().await.unwrap();
    assert_eq!(reply["reply"], 1);
    assert_eq!(reply["state"], "played");
    assert_eq!(reply["outcome"]["interrupted"], false);
    assert_eq!(
        reply["outcome"]["played_samples"], 14_400,
        "600 ms at 24 kHz"
    );

    let names: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(next_event(&mut events).await);
        }
        v.iter().map(|(n, _)| n.clone()).collect()
    };
    assert_eq!(
        names,
        [
            "speech_started",
            "speaking_changed",
            "playback_finished",
            "speaking_changed"
        ]
    );

    // A WAV body works too, and a second reply gets the next id.
    let wav = std::fs::read(assets().join("ding.wav")).unwrap();
    let (status, r) = api
        .post(
            "/v1/outputs/default/replies?wait=true",
            Some("audio/wav"),
            wav,
        )
        .await;
    assert_eq!(
        (status, r["reply"].as_u64(), r["state"].as_str()),
        (201, Some(2), Some("played"))
    );
    let (status, o) = api.get("/v1/outputs/default").await;
    assert_eq!(status, 200);
    assert_eq!(o["stats"]["replies_completed"], 2);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_a_clear_4xx_and_changes_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), "")).await.unwrap();
    let api = Api::new(&server);
    let pcm = "audio/L16;rate=24000;channels=1";

    let (s, e) = api
        .post("/v1/outputs/nobody/replies", Some(pcm), tone(24_000, 100))
        .await;
    assert_eq!((s, e["error"].as_str()), (404, Some("unknown_output")));
    let (s, e) = api
        .post(
            "/v1/outputs/default/replies",
            Some("text/plain"),
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (s, e) = api
        .post("/v1/outputs/default/replies", None, tone(24_000, 100))
        .await;
    assert_eq!(s, 415, "audio without a content type: {e}");
    let (s, e) = api
        .post(
            "/v1/outputs/default/replies",
            Some("audio/L16;channels=1"),
            tone(24_000, 100),
        )
        .await;
    assert_eq!(s, 415, "no rate: {e}");
    let mut odd = tone(24_000, 100);
    odd.push(7);
    let (s, e) = api
        .post("/v1/outputs/default/replies", Some(pcm), odd)
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("partial_sample")));
    let (s, e) = api
        .post(
            "/v1/outputs/default/replies",
            Some("audio/wav"),
            b"RIFF0000WAVEjunk".to_vec(),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    // None of that opened a reply (the WAV one opened #1 and refused its audio).
    let (_, o) = api.get("/v1/outputs/default").await;
    assert_eq!(
        o["stats"]["speech_frames"], 0,
        "no bad input played anything: {o}"
    );

    // Pushing after finish, and after interrupt.
    let (s, r) = api
        .post(
            "/v1/outputs/default/replies?finish=false",
            Some(pcm),
            tone(24_000, 200),
        )
        .await;
    assert_eq!(s, 201);
    let id = r["reply"].as_u64().unwrap();
    assert_eq!(r["state"], "open");
    let (s, _) = api
        .post(
            &format!("/v1/outputs/default/replies/{id}/finish"),
            None,
            vec![],
        )
        .await;
    assert_eq!(s, 200);
    let (s, e) = api
        .post(
            &format!("/v1/outputs/default/replies/{id}/audio"),
            Some(pcm),
            tone(24_000, 100),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("reply_finished")));
    let (s, e) = api
        .post(
            &format!("/v1/outputs/default/replies/{id}/finish"),
            None,
            vec![],
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("reply_finished")));

    let (_, r) = api
        .post(
            "/v1/outputs/default/replies?finish=false",
            Some(pcm),
            tone(24_000, 3000),
        )
        .await;
    let id = r["reply"].as_u64().unwrap();
    let (s, i) = api
        .post("/v1/outputs/default/interrupt", None, vec![])
        .await;
    assert_eq!((s, i["interrupted_through"].as_u64()), (200, Some(id)));
    let (s, e) = api
        .post(
            &format!("/v1/outputs/default/replies/{id}/audio"),
            Some(pcm),
            tone(24_000, 100),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("reply_interrupted")));
    let (_, r) = api.get(&format!("/v1/outputs/default/replies/{id}")).await;
    for _ in 0..100 {
        if r["state"] == "interrupted" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, r) = api.get(&format!("/v1/outputs/default/replies/{id}")).await;
    assert_eq!(r["state"], "interrupted", "{r}");

    let (s, e) = api.get("/v1/outputs/default/replies/999").await;
    assert_eq!((s, e["error"].as_str()), (404, Some("unknown_reply")));
    let (s, e) = api
        .post("/v1/outputs/default/clips/nope", None, vec![])
        .await;
    assert_eq!((s, e["error"].as_str()), (404, Some("unknown_clip")));
    let (s, _) = api
        .post("/v1/outputs/default/clips/ding", None, vec![])
        .await;
    assert_eq!(s, 200);
    let (s, e) = api
        .send(
            reqwest::Method::PUT,
            "/v1/outputs/default/background",
            Some("application/json"),
            br#"{"gain_db": 40}"#.to_vec(),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("bad_gain")));
    let (s, _) = api
        .send(
            reqwest::Method::PUT,
            "/v1/outputs/default/background",
            Some("application/json"),
            br#"{"volume": 1}"#.to_vec(),
        )
        .await;
    assert_eq!(s, 400, "unknown field");
    let (_, b) = api.get("/v1/outputs/default/background").await;
    assert_eq!(
        b["gain_db"].as_f64().unwrap().round(),
        -20.0,
        "unchanged by the bad requests"
    );
    let (s, b) = api
        .send(
            reqwest::Method::PUT,
            "/v1/outputs/default/background",
            Some("application/json"),
            br#"{"gain_db": -6, "enabled": false}"#.to_vec(),
        )
        .await;
    assert_eq!((s, b["enabled"].as_bool()), (200, Some(false)));

    let (s, e) = api
        .post(
            "/v1/outputs",
            Some("application/json"),
            br#"{"id": "bad id!"}"#.to_vec(),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("bad_output_id")));
    let (s, e) = api
        .post(
            "/v1/outputs",
            Some("application/json"),
            br#"{"id": "default"}"#.to_vec(),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("output_exists")));
    let (s, _) = api
        .post(
            "/v1/outputs",
            Some("application/json"),
            br#"{"name": "x"}"#.to_vec(),
        )
        .await;
    assert_eq!(s, 400);
    for id in ["b", "c"] {
        let (s, _) = api
            .post(
                "/v1/outputs",
                Some("application/json"),
                format!("{{\"id\": \"{id}\"}}").into_bytes(),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (s, e) = api
        .post(
            "/v1/outputs",
            Some("application/json"),
            br#"{"id": "d"}"#.to_vec(),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("output_limit")));
    let (s, _) = api
        .send(reqwest::Method::DELETE, "/v1/outputs/c", None, vec![])
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .send(reqwest::Method::DELETE, "/v1/outputs/c", None, vec![])
        .await;
    assert_eq!(s, 404);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), "")).await.unwrap();
    let api = Api::new(&server);
    let (s, _) = api
        .post(
            "/v1/outputs",
            Some("application/json"),
            br#"{"id": "other"}"#.to_vec(),
        )
        .await;
    assert_eq!(s, 201);
    let mut other_events = api.events("other").await;
    assert_eq!(next_event(&mut other_events).await.0, "hello");
    // Bad input, an interrupt and a reply on "default" ...
    let _ = api
        .post(
            "/v1/outputs/default/replies",
            Some("audio/L16;rate=24000"),
            vec![1, 2, 3],
        )
        .await;
    let (s, _) = api
        .post(
            "/v1/outputs/default/replies?wait=true",
            Some("audio/L16;rate=24000"),
            tone(24_000, 300),
        )
        .await;
    assert_eq!(s, 201);
    let _ = api
        .post("/v1/outputs/default/interrupt", None, vec![])
        .await;
    // ... leave "other" untouched: no events, no speech, still rendering.
    let (_, o) = api.get("/v1/outputs/other").await;
    let frames = o["stats"]["frames"].as_u64().unwrap();
    assert_eq!(o["stats"]["speech_frames"], 0);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other_events.recv())
            .await
            .is_err(),
        "no events on other"
    );
    let (_, o) = api.get("/v1/outputs/other").await;
    assert!(
        o["stats"]["frames"].as_u64().unwrap() > frames,
        "still rendering"
    );
    // And a reply on "other" plays with its own ids.
    let (s, r) = api
        .post(
            "/v1/outputs/other/replies?wait=true",
            Some("audio/L16;rate=24000"),
            tone(24_000, 200),
        )
        .await;
    assert_eq!(
        (s, r["reply"].as_u64(), r["state"].as_str()),
        (201, Some(1), Some("played"))
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_audio_monitor_carries_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), "")).await.unwrap();
    let api = Api::new(&server);
    let (_, b) = api
        .send(
            reqwest::Method::PUT,
            "/v1/outputs/default/background",
            Some("application/json"),
            br#"{"enabled": false}"#.to_vec(),
        )
        .await;
    assert_eq!(b["enabled"], false);
    let resp = api
        .http
        .get(format!("{}/v1/outputs/default/audio", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    let mut stream = resp.bytes_stream();
    let tone_bytes = tone(24_000, 400);
    let expected: Vec<i16> = tone_bytes
        .chunks(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let (s, _) = api
        .post(
            "/v1/outputs/default/replies",
            Some("audio/L16;rate=24000;channels=1"),
            tone_bytes,
        )
        .await;
    assert_eq!(s, 201);
    let mut got = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(chunk)) = stream.next().await {
            got.extend_from_slice(&chunk);
            let samples: Vec<i16> = got[44..]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            if samples.windows(expected.len()).any(|w| w == &expected[..]) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(&got[..4], b"RIFF");
    assert_eq!(
        found,
        Ok(true),
        "the reply's samples arrive unchanged on the monitor"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_answers_and_metrics_are_exposed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), "")).await.unwrap();
    let api = Api::new(&server);
    let (s, doc) = api.get("/openapi.json").await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 15);
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            if path.ends_with("/events") || path.ends_with("/audio") && method == "get" {
                continue; // endless streams: covered by their own tests
            }
            let url = path
                .replace("{id}", "default")
                .replace("{reply}", "1")
                .replace("{name}", "ding");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            if method == "delete" {
                continue; // ending the output is tested elsewhere
            }
            let resp = api
                .http
                .request(m, format!("{}{url}", api.base))
                .send()
                .await
                .unwrap();
            let code = resp.status().as_u16();
            assert!(
                code != 405 && (code != 404 || url.contains("/replies/1")),
                "{method} {url}: {code}"
            );
        }
    }
    let text = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "voxpace_frames_total{output=\"default\"}",
        "voxpace_late_frames_total",
        "voxpace_underruns_total",
        "voxpace_sink_drops_total",
        "voxpace_frame_lateness_seconds{quantile=\"0.99\"}",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    let page = api
        .http
        .get(&api.base)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<html") || page.contains("<!doctype html"),
        "the web page"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_guard_the_control_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), "tokens = [\"s3cret\"]\n"))
        .await
        .unwrap();
    let api = Api::new(&server);
    let (s, e) = api.get("/v1/outputs").await;
    assert_eq!((s, e["error"].as_str()), (401, Some("unauthorized")));
    let ok = api
        .http
        .get(format!("{}/v1/outputs", api.base))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let ok = api
        .http
        .get(format!("{}/v1/outputs?access_token=s3cret", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let (s, _) = api.get("/healthz").await;
    assert_eq!(s, 200, "health stays open");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_input_closes_intake_after_an_interrupt_until_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), "");
    config.track.manual_input = true;
    let server = Server::start(config).await.unwrap();
    let api = Api::new(&server);
    let pcm = "audio/L16;rate=24000;channels=1";
    let (s, _) = api
        .post("/v1/outputs/default/replies", Some(pcm), tone(24_000, 500))
        .await;
    assert_eq!(s, 201);
    let (s, _) = api
        .post("/v1/outputs/default/interrupt", None, vec![])
        .await;
    assert_eq!(s, 200);
    let (s, e) = api
        .post("/v1/outputs/default/replies", Some(pcm), tone(24_000, 100))
        .await;
    assert_eq!((s, e["error"].as_str()), (409, Some("intake_closed")));
    let (s, _) = api
        .post("/v1/outputs/default/enable-input", None, vec![])
        .await;
    assert_eq!(s, 200);
    let (s, r) = api
        .post(
            "/v1/outputs/default/replies?wait=true",
            Some(pcm),
            tone(24_000, 100),
        )
        .await;
    assert_eq!((s, r["state"].as_str()), (201, Some("played")));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_marks_sent_with_a_reply_come_back_as_what_was_heard() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), "")).await.unwrap();
    let api = Api::new(&server);
    let mut events = api.events("default").await;
    assert_eq!(next_event(&mut events).await.0, "hello");
    let json = Some("application/json");
    let (s, r) = api
        .post("/v1/outputs/default/replies?finish=false", None, vec![])
        .await;
    assert_eq!(s, 201, "{r}");
    let n = r["reply"].as_u64().unwrap();
    let marks = format!("/v1/outputs/default/replies/{n}/marks");
    // Marks first (as a TTS alignment arrives with its chunk), at_ms or samples at 16 kHz.
    let body = br#"{"rate": 16000, "marks": [{"at_ms": 0, "text": "Hello"}, {"at_samples": 8000, "text": " world"}]}"#;
    let (s, r) = api.post(&marks, json, body.to_vec()).await;
    assert_eq!(s, 200, "{r}");
    // Bad marks are refused whole, each problem named; nothing is added.
    let (s, e) = api
        .post(
            &marks,
            json,
            br#"[{"at_ms": 900, "text": "a"}, {"at_ms": 800, "text": ""}]"#.to_vec(),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("bad_marks")), "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("marks[1].at_ms") && msg.contains("marks[1].text"),
        "{msg}"
    );
    let (s, e) = api.post(&marks, json, b"{\"marks\": 3}".to_vec()).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("bad_json")), "{e}");
    let (s, e) = api
        .post("/v1/outputs/default/replies/99/marks", json, b"[]".to_vec())
        .await;
    assert_eq!((s, e["error"].as_str()), (404, Some("unknown_reply")));
    // 1 s of 16 kHz audio in two requests, resampled to the output's 24 kHz: the marks
    // keep their media time.
    let audio = format!("/v1/outputs/default/replies/{n}/audio");
    let pcm16 = Some("audio/L16;rate=16000;channels=1");
    let (s, r) = api.post(&audio, pcm16, tone(16_000, 400)).await;
    assert_eq!(s, 200, "{r}");
    // A mark behind the audio already accepted is refused: it could not travel with it.
    let (s, e) = api
        .post(
            &marks,
            json,
            br#"[{"at_ms": 100, "text": "late"}]"#.to_vec(),
        )
        .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("bad_marks")), "{e}");
    let (s, r) = api
        .post(
            &format!("{audio}?finish=true&wait=true"),
            pcm16,
            tone(16_000, 600),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["outcome"]["heard_text"], "Hello world", "{r}");
    assert_eq!(r["outcome"]["marks_played"], 2, "{r}");
    let (s, e) = api
        .post(
            &marks,
            json,
            br#"[{"at_ms": 2000, "text": "more"}]"#.to_vec(),
        )
        .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (409, Some("reply_finished")),
        "{e}"
    );
    let mut played = Vec::new();
    let finished = loop {
        let (name, v) = next_event(&mut events).await;
        match name.as_str() {
            "text_played" => played.push((v["text"].clone(), v["offset"].clone())),
            "playback_finished" => break v,
            _ => {}
        }
    };
    assert_eq!(
        played,
        vec![
            (Value::from("Hello"), Value::from(0)),
            (Value::from(" world"), Value::from(12_000))
        ]
    );
    assert_eq!(finished["heard_text"], "Hello world");
    assert_eq!(finished["marks_played"], 2);
    assert_eq!(finished["text_timing"], "marks");

    // The whole text without timings: an estimate, flagged as such.
    let (s, r) = api
        .post(
            "/v1/outputs/default/replies?wait=true&text=Sure.%20Here%20is%20the%20weather.",
            Some("audio/L16;rate=24000;channels=1"),
            tone(24_000, 300),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["outcome"]["heard_text"], "Sure. Here is the weather.");
    assert_eq!(r["outcome"]["text_timing"], "estimated");
    server.shutdown().await.unwrap();
}
