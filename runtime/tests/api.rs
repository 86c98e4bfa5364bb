//! The control API against a real server on 127.0.0.1:0: the happy path, every bad-input
//! case (a clear 4xx that changes nothing else), event order, isolation, shutdown.
//! Real clock: assertions are about order and content, never speed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use voxpace_runtime::serve::Server;
use voxpace_runtime::Config;
use voxpace_test_kit::sse::{self, Events};

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

/// A server on `config(dir, extra)` in a new directory (kept as long as the returned
/// guard), and a client for it.
async fn serve(extra: &str) -> (tempfile::TempDir, Server, Api) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), extra)).await.unwrap();
    let api = Api::new(&server);
    (dir, server, api)
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

    /// The `/metrics` page.
    async fn metrics(&self) -> String {
        let resp = self.http.get(format!("{}/metrics", self.base)).send();
        resp.await.unwrap().text().await.unwrap()
    }

    /// Subscribe to an output's events.
    async fn events(&self, output: &str) -> Events {
        sse::subscribe_with(
            self.http
                .get(format!("{}/v1/outputs/{output}/events", self.base)),
        )
        .await
    }
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
    let (_dir, server, api) = serve("").await;
    let mut events = api.events("default").await;
    assert_eq!(events.next().await.0, "hello");

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
            v.push(events.next().await);
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
    let (_dir, server, api) = serve("").await;
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
    // A rate the resampler cannot take is refused, with the real range, not played wrong.
    let (s, e) = api
        .post(
            "/v1/outputs/default/replies",
            Some("audio/L16;rate=2000;channels=1"),
            tone(2_000, 100),
        )
        .await;
    assert_eq!(s, 415, "rate=2000: {e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("between 4000 and 192000 Hz"),
        "{e}"
    );
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
    let (_dir, server, api) = serve("").await;
    let (s, _) = api
        .post(
            "/v1/outputs",
            Some("application/json"),
            br#"{"id": "other"}"#.to_vec(),
        )
        .await;
    assert_eq!(s, 201);
    let mut other_events = api.events("other").await;
    assert_eq!(other_events.next().await.0, "hello");
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
    let quiet = other_events.within(Duration::from_millis(300)).await;
    assert!(quiet.is_none(), "no events on other: {quiet:?}");
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
    let (_dir, server, api) = serve("").await;
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
    let mut got = Vec::new();
    let mut samples: Vec<i16> = Vec::new();
    // Decode only what is new: a full rescan per chunk falls behind the stream on a loaded
    // machine (and never yields to the timeout).
    let mut read_more = async |got: &mut Vec<u8>, samples: &mut Vec<i16>| -> bool {
        let Some(Ok(chunk)) = stream.next().await else {
            return false;
        };
        got.extend_from_slice(&chunk);
        let whole = 44 + got.len().saturating_sub(44) / 2 * 2;
        let decoded = 44 + samples.len() * 2;
        if whole > decoded {
            samples.extend(
                got[decoded..whole]
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]])),
            );
        }
        true
    };
    // The music fades out over 200 ms: wait for 300 ms of silence before the reply.
    let quiet = tokio::time::timeout(Duration::from_secs(20), async {
        while samples.len() < 7200 || samples[samples.len() - 7200..].iter().any(|s| *s != 0) {
            assert!(read_more(&mut got, &mut samples).await, "the stream ended");
        }
    })
    .await;
    assert!(quiet.is_ok(), "the background goes quiet");
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
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        let mut searched = samples.len();
        while read_more(&mut got, &mut samples).await {
            let from = searched.saturating_sub(expected.len());
            if samples[from..]
                .windows(expected.len())
                .any(|w| w == &expected[..])
            {
                return true;
            }
            searched = samples.len();
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
    let (_dir, server, api) = serve("").await;
    let (s, doc) = api.get("/openapi.json").await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 15);
    for (path, method) in [("/whep/{id}", "post"), ("/whep/{id}/{session}", "delete")] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} documented"
        );
    }
    let open = &doc["paths"]["/v1/outputs/{id}/replies"]["post"]["responses"];
    for code in [
        "201", "400", "401", "404", "408", "409", "410", "415", "503",
    ] {
        assert!(
            open[code].is_object(),
            "open reply documents {code}: {open}"
        );
    }
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            for (code, r) in methods[method]["responses"].as_object().unwrap() {
                if code.starts_with('4') || code.starts_with('5') {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/Error",
                        "{method} {path} {code}"
                    );
                }
            }
            if path.ends_with("/events") || path.ends_with("/audio") && method == "get" {
                continue; // endless streams: covered by their own tests
            }
            if path.starts_with("/whep") {
                continue; // WebRTC (feature webrtc): the browser and transport tests
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
    let text = api.metrics().await;
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
    let (_dir, server, api) = serve("tokens = [\"s3cret\"]\n").await;
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

/// GET `path` with an optional `Authorization` value; the status.
async fn status_of(api: &Api, path: &str, authorization: Option<&str>) -> u16 {
    let mut req = api.http.get(format!("{}{path}", api.base));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_rule_for_every_endpoint() {
    // A control token with characters the web page percent-encodes, and a listener token.
    let (dir, server, api) =
        serve("tokens = [\"c+t/l=\"]\n[transport]\ntokens = [\"listen\"]\n").await;
    for public in ["/healthz", "/openapi.json", "/"] {
        assert_eq!(
            status_of(&api, public, None).await,
            200,
            "{public} is public"
        );
    }
    for control in ["/v1/outputs", "/v1/info", "/metrics"] {
        let r = api
            .http
            .get(format!("{}{control}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{control} needs a token");
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "unauthorized");
        // A valid token without the right: RFC 6750 §3.1's 403 insufficient_scope.
        let r = api
            .http
            .get(format!("{}{control}", api.base))
            .header("authorization", "Bearer listen")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            403,
            "{control}: a listener token is not a control token"
        );
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\""));
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "insufficient_scope", "{e}");
        // An empty credential never matches.
        for empty in ["?access_token=", "?access_token", "?access_token=%20"] {
            let path = format!("{control}{empty}");
            assert_eq!(status_of(&api, &path, None).await, 401, "{path}");
        }
        for scheme in ["Bearer c+t/l=", "bearer c+t/l=", "BEARER  c+t/l="] {
            assert_eq!(
                status_of(&api, control, Some(scheme)).await,
                200,
                "{control} with {scheme:?}"
            );
        }
        let query = format!("{control}?access_token=c%2Bt%2Fl%3D");
        assert_eq!(status_of(&api, &query, None).await, 200, "{query}");
    }
    assert_eq!(
        status_of(&api, "/v1/outputs", Some("Bearer c+t/l")).await,
        401,
        "a prefix is not the token"
    );
    // Live audio: listener or control tokens, never none (the streams are dropped at once).
    let audio = "/v1/outputs/default/audio";
    assert_eq!(status_of(&api, audio, None).await, 401);
    assert_eq!(status_of(&api, audio, Some("Bearer listen")).await, 200);
    assert_eq!(status_of(&api, audio, Some("Bearer c+t/l=")).await, 200);
    // access_token works on POST endpoints too, beside their own query parameters.
    let (s, r) = api
        .post(
            "/v1/outputs/default/replies?finish=true&access_token=c%2Bt%2Fl%3D&wait=true",
            Some("audio/L16;rate=24000;channels=1"),
            tone(24_000, 100),
        )
        .await;
    assert_eq!((s, r["state"].as_str()), (201, Some("played")), "{r}");
    server.shutdown().await.unwrap();

    // Opened groups; listener tokens alone leave the control API open.
    let server = Server::start(config(
        dir.path(),
        "public = [\"metrics\", \"info\"]\n[transport]\ntokens = [\"listen\"]\n",
    ))
    .await
    .unwrap();
    let api = Api::new(&server);
    assert_eq!(status_of(&api, "/metrics", None).await, 200);
    assert_eq!(status_of(&api, "/v1/info", None).await, 200);
    assert_eq!(status_of(&api, "/v1/outputs", None).await, 200);
    assert_eq!(
        status_of(&api, audio, None).await,
        401,
        "listening needs the listener token"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_beyond_the_limit_get_429_at_once_and_a_freed_slot_carries_audio() {
    let (_dir, server, api) = serve("").await;
    let url = format!("{}/v1/outputs/default/audio", api.base);
    let mut open = Vec::new();
    for _ in 0..4 {
        let r = api.http.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        open.push(r);
    }
    for _ in 0..4 {
        let r = api.http.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 429, "never a silent 200");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "monitors_busy");
    }
    drop(open.pop());
    let again = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let r = api.http.get(&url).send().await.unwrap();
            if r.status().as_u16() == 200 {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the freed slot is reused");
    drop(read_audio(again, 44 + 4800).await);
    server.shutdown().await.unwrap();
}

/// Read at least `bytes` of a monitor's WAV stream; the stream, still open.
async fn read_audio(
    response: reqwest::Response,
    bytes: usize,
) -> impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> {
    let mut stream = Box::pin(response.bytes_stream());
    let mut got = 0;
    while got < bytes {
        let chunk = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("audio arrives")
            .unwrap()
            .unwrap();
        got += chunk.len();
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_the_json_shape() {
    let (_dir, server, api) = serve("").await;
    let cases = [
        (reqwest::Method::GET, "/v1/outputs/default/replies/abc", 400),
        (reqwest::Method::GET, "/v1/outputs/default/replies/-1", 400),
        (
            reqwest::Method::POST,
            "/v1/outputs/default/replies?bogus=1",
            400,
        ),
        (reqwest::Method::GET, "/no/such/route", 404),
        (reqwest::Method::DELETE, "/v1/outputs/default/pause", 405),
    ];
    for (method, path, status) in cases {
        let (s, e) = api.send(method.clone(), path, None, vec![]).await;
        assert_eq!(s, status, "{method} {path}: {e}");
        assert!(
            e["error"].is_string() && e["message"].is_string(),
            "{method} {path}: {e}"
        );
    }
    server.shutdown().await.unwrap();
}

/// A 24 kHz mono 16-bit WAV: the `fmt ` body as given, the samples, then `trailer`.
fn wav_bytes(fmt: &[u8], samples: &[i16], trailer: &[u8]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut b = b"RIFF".to_vec();
    let riff = 4 + 8 + fmt.len() + 8 + data.len() + trailer.len();
    b.extend_from_slice(&(riff as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    b.extend_from_slice(fmt);
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    b.extend_from_slice(trailer);
    b
}

/// A `fmt ` chunk body: `tag` 1 (PCM) or 0xFFFE (EXTENSIBLE, with `subformat`).
fn fmt_chunk(tag: u16, subformat: Option<u16>) -> Vec<u8> {
    let mut f = Vec::new();
    for v in [tag, 1] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    f.extend_from_slice(&24_000u32.to_le_bytes());
    f.extend_from_slice(&48_000u32.to_le_bytes());
    for v in [2u16, 16] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    if let Some(sub) = subformat {
        for v in [22u16, 16] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&4u32.to_le_bytes()); // front centre
        f.extend_from_slice(&sub.to_le_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]);
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wav_replies_play_exactly_their_data_chunk() {
    let (_dir, server, api) = serve("").await;
    let samples: Vec<i16> = (0..2400).map(|i| (i % 100) as i16 * 100).collect();
    // Metadata after the audio: 4 KiB of LIST that must not play as noise.
    let mut list = b"LIST".to_vec();
    list.extend_from_slice(&4096u32.to_le_bytes());
    list.extend(std::iter::repeat_n(0x7Fu8, 4096));
    let url = "/v1/outputs/default/replies?wait=true";
    for (what, body) in [
        (
            "PCM with a LIST after the data",
            wav_bytes(&fmt_chunk(1, None), &samples, &list),
        ),
        (
            "WAVE_FORMAT_EXTENSIBLE PCM",
            wav_bytes(&fmt_chunk(0xFFFE, Some(1)), &samples, &[]),
        ),
    ] {
        let (s, r) = api.post(url, Some("audio/wav"), body).await;
        assert_eq!(
            (s, r["state"].as_str()),
            (201, Some("played")),
            "{what}: {r}"
        );
        assert_eq!(r["outcome"]["played_samples"], 2400, "{what}: {r}");
    }
    let float = wav_bytes(&fmt_chunk(0xFFFE, Some(3)), &samples, &[]);
    let (s, e) = api.post(url, Some("audio/wav"), float).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("bad_audio")),
        "float subformat: {e}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_keeps_its_file_and_reports_what_really_plays() {
    let dir = tempfile::tempdir().unwrap();
    let looped = dir.path().join("loop.wav");
    std::fs::write(
        &looped,
        wav_bytes(&fmt_chunk(1, None), &[3000i16; 7200], &[]),
    )
    .unwrap();
    let once = dir.path().join("once.wav");
    std::fs::write(&once, wav_bytes(&fmt_chunk(1, None), &[3000i16; 2400], &[])).unwrap();
    let load = |name: &str, file: &Path, looped: bool| {
        let path = dir.path().join(name);
        let text = format!(
            "[background]\nfile = {file:?}\nloop = {looped}\n[server]\nlisten = \"127.0.0.1:0\"\n"
        );
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    };
    // 300 ms of music, looped: deleting the file does not stop it (it is never reopened).
    let server = Server::start(load("a.toml", &looped, true)).await.unwrap();
    let api = Api::new(&server);
    let mut events = api.events("default").await;
    assert_eq!(events.next().await.0, "hello");
    std::fs::remove_file(&looped).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // several loops
    let (_, b) = api.get("/v1/outputs/default/background").await;
    assert_eq!(
        (b["enabled"].as_bool(), b["playing"].as_bool()),
        (Some(true), Some(true)),
        "{b}"
    );
    let quiet = events.within(Duration::from_millis(100)).await;
    assert!(quiet.is_none(), "no source_failed: {quiet:?}");
    server.shutdown().await.unwrap();

    // Played once: still enabled, no longer playing.
    let server = Server::start(load("b.toml", &once, false)).await.unwrap();
    let api = Api::new(&server);
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (_, b) = api.get("/v1/outputs/default/background").await;
            if b["playing"] == false {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the file ends");
    assert_eq!(ended["enabled"], true, "{ended}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_marks_sent_with_a_reply_come_back_as_what_was_heard() {
    let (_dir, server, api) = serve("").await;
    let mut events = api.events("default").await;
    assert_eq!(events.next().await.0, "hello");
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
        let (name, v) = events.next().await;
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

/// A second WAV body posted into an open reply is a WAV file of its own: its header is
/// parsed (not played as 22 samples of noise) and its samples appended (not dropped because
/// the first declared its data length).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_wav_body_continues_the_reply() {
    let (_dir, server, api) = serve("").await;
    let first: Vec<i16> = (0..2400).map(|i| (i % 100) as i16 * 100).collect();
    let second: Vec<i16> = (0..3600).map(|i| (i % 50) as i16 * 200).collect();
    let (s, r) = api
        .post(
            "/v1/outputs/default/replies?finish=false",
            Some("audio/wav"),
            wav_bytes(&fmt_chunk(1, None), &first, &[]),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let (s, r) = api
        .post(
            "/v1/outputs/default/replies/1/audio?finish=true&wait=true",
            Some("audio/wav"),
            wav_bytes(&fmt_chunk(1, None), &second, &[]),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["state"], "played", "{r}");
    assert_eq!(
        r["outcome"]["played_samples"], 6000,
        "both files' samples, no header played: {r}"
    );
    server.shutdown().await.unwrap();
}

/// A monitor's slot is free as soon as its client hangs up: closing and reconnecting at once
/// gets 200 every time, even with every other slot taken; a real extra client still gets 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_monitors_slot_is_free_for_an_immediate_reconnect() {
    let (_dir, server, api) = serve("").await;
    let url = format!("{}/v1/outputs/default/audio", api.base);
    // Hold all slots but one, so the one left behaves as a limit of 1.
    let mut held = Vec::new();
    loop {
        let r = api.http.get(&url).send().await.unwrap();
        if r.status().as_u16() != 200 {
            break;
        }
        held.push(r);
    }
    let last = held.pop().expect("at least one slot");
    drop(last);
    for attempt in 0..50 {
        let r = api.http.get(&url).send().await.unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "reconnect {attempt} right after a close"
        );
        drop(read_audio(r, 44 + 960).await); // the client hangs up
    }
    let r = api.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let second = api.http.get(&url).send().await.unwrap();
    assert_eq!(second.status().as_u16(), 429, "a real second client");
    let e: Value = second.json().await.unwrap();
    assert_eq!(e["error"], "monitors_busy");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{}", held.len() + 1)),
        "the message names the limit: {message}"
    );
    drop(r);
    drop(held);
    server.shutdown().await.unwrap();
}

/// One raw server-sent event: its id, name and data.
type RawEvent = (Option<u64>, String, Value);

/// A response's server-sent events, parsed one at a time.
struct SseStream<S> {
    bytes: S,
    text: String,
}

fn sse_stream(
    response: reqwest::Response,
) -> SseStream<impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>>> {
    SseStream {
        bytes: Box::pin(response.bytes_stream()),
        text: String::new(),
    }
}

impl<S: futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin> SseStream<S> {
    async fn next_event(&mut self) -> RawEvent {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (None, String::new(), Value::Null);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = serde_json::from_str(v.trim()).unwrap_or(Value::Null);
                    }
                }
                if !name.is_empty() {
                    return (id, name, data);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.bytes.next())
                .await
                .expect("the next event in time")
                .expect("the stream goes on")
                .unwrap();
            self.text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// The server-sent events of `response` until `until` holds for those read.
async fn raw_events(
    response: reqwest::Response,
    until: impl Fn(&[RawEvent]) -> bool,
) -> Vec<RawEvent> {
    let mut stream = sse_stream(response);
    let mut events = Vec::new();
    while !until(&events) {
        events.push(stream.next_event().await);
    }
    events
}

/// A client that reconnects with `Last-Event-ID` gets exactly the events it missed, in
/// order, after `hello`; one whose id is older than the history is told how many it missed
/// (`lagged`); an id that is not a number is refused, naming the header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_last_event_id_gets_the_events_it_missed() {
    let (_dir, server, api) = serve("").await;
    let url = format!("{}/v1/outputs/default/events", api.base);
    let toggle = |what: &'static str| {
        let http = api.http.clone();
        let url = format!("{}/v1/outputs/default/{what}", api.base);
        async move { assert!(http.post(url).send().await.unwrap().status().is_success()) }
    };
    let named =
        |name: &'static str| move |e: &[RawEvent]| e.last().is_some_and(|(_, n, _)| n == name);
    // An observer stays connected throughout; the client drops after seeing the pause.
    let mut observer = sse_stream(api.http.get(&url).send().await.unwrap());
    let client = api.http.get(&url).send().await.unwrap();
    toggle("pause").await;
    let seen = raw_events(client, named("paused")).await;
    assert_eq!(seen[0].1, "hello");
    assert_eq!(seen[0].0, None, "hello has no id");
    let last_id = seen.last().unwrap().0.expect("events carry their number");
    // Missed while away (each seen by the observer before the next is asked for).
    let mut all = vec![observer.next_event().await, observer.next_event().await];
    for (what, event) in [
        ("resume", "resumed"),
        ("pause", "paused"),
        ("resume", "resumed"),
    ] {
        toggle(what).await;
        let e = observer.next_event().await;
        assert_eq!(e.1, event);
        all.push(e);
    }
    assert_eq!((all[0].1.as_str(), all[1].1.as_str()), ("hello", "paused"));
    assert_eq!(
        all[1].0,
        Some(last_id),
        "one numbering for every subscriber"
    );
    let back = api
        .http
        .get(&url)
        .header("last-event-id", last_id.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(back.status().as_u16(), 200);
    let got = raw_events(back, |e| e.len() >= 4).await;
    assert_eq!(got[0].1, "hello");
    assert_eq!(&got[1..], &all[2..], "exactly what it missed, in order");

    let bad = api
        .http
        .get(&url)
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let e: Value = bad.json().await.unwrap();
    assert_eq!(e["error"], "bad_last_event_id");
    assert!(
        e["message"].as_str().unwrap().contains("Last-Event-ID"),
        "{e}"
    );
    server.shutdown().await.unwrap();
}

/// The frame clock threads of this process: (scheduling policy, real-time priority), from
/// `/proc/self/task/*/stat` (fields 41 and 40).
fn frame_clock_threads() -> Vec<(u32, u32)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with("(voxpace-frame-c") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields[n - 3].parse::<u32>().unwrap();
        found.push((field(41), field(40)));
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realtime_frame_clock_is_granted_or_refused_and_metrics_say_which() {
    // Priority 7: no other test asks for one, so a SCHED_FIFO clock at 7 is this server's.
    let (_dir, _server, api) = serve("realtime_priority = 7\n").await;
    let text = api.metrics().await;
    let line = text
        .lines()
        .find(|l| l.starts_with("voxpace_frame_clock_realtime "))
        .unwrap_or_else(|| panic!("no voxpace_frame_clock_realtime in\n{text}"));
    let said = line.ends_with(" 1");
    const SCHED_FIFO: u32 = 1;
    let is = frame_clock_threads().contains(&(SCHED_FIFO, 7));
    assert_eq!(
        said,
        is,
        "{line}; clock threads {:?}",
        frame_clock_threads()
    );
    // Whatever was granted, the clock runs.
    let (code, _) = api.get("/v1/outputs/default").await;
    assert_eq!(code, 200);
}
