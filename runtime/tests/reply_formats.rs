//! Replies in every format the sources decode, through a real `voxpace serve` on
//! 127.0.0.1:0: an MP3 and (with the `opus` feature) an Ogg/Opus body posted in 500-byte
//! chunks with pauses play as ffmpeg decodes them (heard on the live-audio monitor); a long
//! body is read no faster than it plays; unsupported or broken bodies get clear errors and change nothing; a body that
//! breaks mid-stream plays what arrived and says so. And `voxpace render` plays script
//! replies in each format.
//!
//! Fixtures are made by ffmpeg at test time (installed by `cargo xtask ci`; tests only).
//! Real clock: assertions are about order and content, with generous bounds, never speed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use voxpace_runtime::serve::Server;
use voxpace_runtime::Config;
use voxpace_test_kit::ffmpeg::{decode_f32_at, ffmpeg};
use voxpace_test_kit::signal::{correlation, rms_db_f64};
use voxpace_test_kit::sse::{subscribe, Events};

const RATE: u32 = 24_000;

/// Speech-like material: a moving pitch with a moving level (alignment is unambiguous).
fn material(seconds: f64) -> String {
    format!("aevalsrc=0.3*sin(2*PI*(300+200*sin(2*PI*0.7*t))*t)*(0.6+0.4*sin(2*PI*1.3*t))+0.05*sin(2*PI*2500*t):d={seconds}")
}

/// Encode `seconds` of the material at `rate` into `dir/name`; returns its bytes.
fn encode(dir: &Path, name: &str, seconds: f64, rate: u32, codec: &[&str]) -> (PathBuf, Vec<u8>) {
    let file = dir.join(name);
    let (m, r) = (material(seconds), rate.to_string());
    let mut args = vec!["-f", "lavfi", "-i", &m, "-ar", &r, "-ac", "1"];
    args.extend_from_slice(codec);
    args.push(file.to_str().unwrap());
    ffmpeg(&args);
    let bytes = std::fs::read(&file).unwrap();
    (file, bytes)
}

/// ffmpeg's decode of `file` at the output's rate, mono, full scale ±1.
fn reference(file: &Path) -> Vec<f64> {
    decode_f32_at(file, RATE, 1)
        .into_iter()
        .map(f64::from)
        .collect()
}

/// A server with one output, 24 kHz mono, no background, `extra` appended to `[output]`.
async fn server(dir: &Path, output_extra: &str) -> Server {
    let text = format!(
        "[output]\nsample_rate = {RATE}\nchannels = 1\n{output_extra}\n\n[server]\nlisten = \"127.0.0.1:0\"\noutputs = [\"default\"]\nshutdown_grace_ms = 2000\n"
    );
    let path = dir.join("voxpace.toml");
    std::fs::write(&path, text).unwrap();
    Server::start(Config::load(&path).unwrap()).await.unwrap()
}

/// The output's event stream.
async fn events(base: &str) -> Events {
    subscribe(&format!("{base}/v1/outputs/default/events")).await
}

/// The live-audio monitor, collected in the background.
async fn monitor(base: &str) -> Arc<Mutex<Vec<i16>>> {
    let resp = reqwest::get(format!("{base}/v1/outputs/default/audio"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let out = samples.clone();
    tokio::spawn(async move {
        let mut stream = resp.bytes_stream();
        let (mut header, mut odd) = (44usize, None::<u8>);
        while let Some(Ok(chunk)) = stream.next().await {
            let skip = header.min(chunk.len());
            header -= skip;
            let mut bytes = &chunk[skip..];
            let mut got = out.lock().unwrap();
            if let (Some(lo), Some((&hi, rest))) = (odd, bytes.split_first()) {
                got.push(i16::from_le_bytes([lo, hi]));
                bytes = rest;
            }
            let pairs = bytes.chunks_exact(2);
            odd = pairs.remainder().first().copied();
            got.extend(pairs.map(|p| i16::from_le_bytes([p[0], p[1]])));
        }
    });
    samples
}

/// An HTTP/1.1 request whose body goes out in chunked transfer encoding, `chunk` bytes at a
/// time with `pause` between them; returns the status and JSON answer. A client of its own
/// (not reqwest) so the chunking and the socket's send buffer are the test's.
struct Upload {
    stream: tokio::net::TcpStream,
}

impl Upload {
    async fn start(addr: SocketAddr, path: &str, content_type: &str, small_buffer: bool) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if small_buffer {
            // Keep the kernel's share of the body small, so what was sent shows what the
            // server read.
            socket.set_send_buffer_size(8 * 1024).unwrap();
        }
        let mut stream = socket.connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        Self { stream }
    }

    async fn chunk(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.stream
            .write_all(format!("{:x}\r\n", data.len()).as_bytes())
            .await?;
        self.stream.write_all(data).await?;
        self.stream.write_all(b"\r\n").await
    }

    async fn finish(mut self) -> (u16, Value) {
        self.stream.write_all(b"0\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        self.stream.read_to_end(&mut answer).await.unwrap();
        let text = String::from_utf8_lossy(&answer);
        let status = text[9..12].parse().unwrap();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (
            status,
            serde_json::from_str(body).unwrap_or(Value::String(body.into())),
        )
    }
}

/// Post `bytes` in `chunk`-byte chunks with `pause` between them.
async fn post_chunked(
    addr: SocketAddr,
    path: &str,
    ct: &str,
    bytes: &[u8],
    chunk: usize,
    pause: Duration,
) -> (u16, Value) {
    let mut up = Upload::start(addr, path, ct, false).await;
    for piece in bytes.chunks(chunk) {
        up.chunk(piece).await.unwrap();
        tokio::time::sleep(pause).await;
    }
    up.finish().await
}

/// Where `want` starts in `heard` (whose silence before the reply is exact zeros), its
/// correlation there and the level difference in dB.
fn find(heard: &[i16], want: &[f64]) -> (usize, f64, f64) {
    let heard: Vec<f64> = heard.iter().map(|s| *s as f64 / 32_768.0).collect();
    let first = heard
        .iter()
        .position(|s| *s != 0.0)
        .expect("the reply was heard");
    let (mut best, mut at) = (f64::MIN, first);
    for start in first.saturating_sub(100)..first + 100 {
        let end = (start + want.len()).min(heard.len());
        let c = correlation(&want[..end - start], &heard[start..end]);
        if c > best {
            (best, at) = (c, start);
        }
    }
    let end = (at + want.len()).min(heard.len());
    let level = rms_db_f64(&heard[at..end]) - rms_db_f64(&want[..end - at]);
    (at, best, level)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp3_and_ogg_opus_replies_posted_in_small_chunks_play_as_ffmpeg_decodes_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), "").await;
    let base = format!("http://{}", server.addr());
    let mut rx = events(&base).await;
    let (mp3, mp3_bytes) = encode(
        dir.path(),
        "reply.mp3",
        2.0,
        44_100,
        &["-c:a", "libmp3lame", "-b:a", "64k"],
    );
    let (opus, opus_bytes) = encode(
        dir.path(),
        "reply.opus",
        2.0,
        48_000,
        &["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"],
    );
    let mut cases = vec![("MP3", &mp3, &mp3_bytes, "audio/mpeg")];
    // Opus is decoded by libopus, in builds with the `opus` feature (`webrtc` includes it).
    if cfg!(feature = "opus") {
        cases.push(("Ogg/Opus", &opus, &opus_bytes, "audio/ogg; codecs=opus"));
    }
    for (name, file, bytes, ct) in cases {
        let heard = monitor(&base).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, body) = post_chunked(
            server.addr(),
            "/v1/outputs/default/replies",
            ct,
            bytes,
            500,
            Duration::from_millis(5),
        )
        .await;
        assert_eq!(status, 201, "{name}: {body}");
        let finished = rx.wait_for("playback_finished").await;
        assert_eq!(finished["interrupted"], false, "{name}: {finished}");
        let played = finished["played_ms"].as_f64().unwrap();
        assert!(
            (played - 2000.0).abs() < 30.0,
            "{name}: played {played} ms of 2 s"
        );
        // Let the monitor catch up with the last frames.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let heard = heard.lock().unwrap().clone();
        let want = reference(file);
        let (at, corr, level) = find(&heard, &want);
        eprintln!("{name}: {} bytes in 500-byte chunks; heard at {at}, correlation {corr:.4}, level {level:+.2} dB", bytes.len());
        assert!(
            corr > 0.97,
            "{name}: correlation {corr} with ffmpeg's decode"
        );
        assert!(
            level.abs() < 0.5,
            "{name}: level {level} dB off ffmpeg's decode"
        );
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_reply_body_is_read_no_faster_than_it_plays() {
    let dir = tempfile::tempdir().unwrap();
    // A 1 s intake bound: the server holds little audio ahead of the play position.
    let server = server(dir.path(), "buffer_ms = 1000").await;
    let base = format!("http://{}", server.addr());
    let mut rx = events(&base).await;
    // 40 s at 320 kbps: 1.6 MB, 40 KB per second of audio.
    let (_, bytes) = encode(
        dir.path(),
        "long.mp3",
        40.0,
        44_100,
        &["-c:a", "libmp3lame", "-b:a", "320k"],
    );
    let per_second = bytes.len() as f64 / 40.0;
    let mut up = Upload::start(
        server.addr(),
        "/v1/outputs/default/replies",
        "audio/mpeg",
        true,
    )
    .await;
    let start = Instant::now();
    let mut sent = 0usize;
    // Send as fast as the server takes it, for 4 s of real time.
    let window = Duration::from_secs(4);
    for piece in bytes.chunks(4096) {
        let left = window.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, up.chunk(piece)).await {
            Ok(r) => r.unwrap(),
            Err(_) => break,
        }
        sent += piece.len();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let sent_s = sent as f64 / per_second;
    eprintln!(
        "after {elapsed:.1} s: {sent} of {} bytes sent ({sent_s:.1} s of audio)",
        bytes.len()
    );
    // What the server took of the body: the reply's accepted audio. Playing for ~4 s plus
    // the 1 s intake and the decoder's pipe and read-ahead (~96 KiB, ~2.4 s at 320 kbps):
    // far from the whole body. (What the client managed to send also counts the kernel's
    // socket buffers, which autotune up to megabytes on a loaded machine: not asserted.)
    let reply: Value = reqwest::get(format!("{base}/v1/outputs/default/replies/1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let accepted_s = reply["accepted_ms"].as_f64().expect("accepted_ms") / 1000.0;
    eprintln!("the server accepted {accepted_s:.1} s of audio by then");
    assert!(
        accepted_s < 12.0,
        "the server decoded {accepted_s:.1} s of a 40 s body in {elapsed:.1} s: {reply}"
    );
    assert!(sent_s > 2.0, "the body flowed: {sent_s:.1} s of audio sent");
    let started = rx.wait_for("speech_started").await;
    assert!(started["reply"].as_u64().is_some());
    let (status, _) = reqwest::Client::new()
        .post(format!("{base}/v1/outputs/default/interrupt"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    let finished = rx.wait_for("playback_finished").await;
    assert_eq!(finished["interrupted"], true, "{finished}");
    drop(up);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_or_broken_bodies_are_refused_by_name_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), "").await;
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();
    let post = |ct: &'static str, body: Vec<u8>| {
        let req = http
            .post(format!("{base}/v1/outputs/default/replies"))
            .header("content-type", ct)
            .body(body);
        async move {
            let r = req.send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap())
        }
    };
    for ct in ["audio/x-ms-wma", "video/mp4", "application/octet-stream"] {
        let (s, e) = post(ct, vec![1, 2, 3, 4]).await;
        assert_eq!(s, 415, "{ct}: {e}");
        assert_eq!(e["error"], "unsupported_media_type");
        let m = e["message"].as_str().unwrap();
        for accepted in [
            "audio/L16",
            "audio/wav",
            "audio/mpeg",
            "audio/flac",
            "audio/ogg",
            "audio/aac",
            "audio/mp4",
        ] {
            assert!(
                m.contains(accepted),
                "{ct}: the answer names {accepted}: {m}"
            );
        }
    }
    // Bytes that are not the audio they claim to be: refused before a reply opens.
    let noise: Vec<u8> = (0..30_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    for ct in [
        "audio/mpeg",
        "audio/ogg",
        "audio/flac",
        "audio/mp4",
        "audio/aac",
    ] {
        let (s, e) = post(ct, noise.clone()).await;
        assert_eq!(s, 400, "{ct}: {e}");
        assert_eq!(e["error"], "bad_audio", "{ct}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains("not an audio file"),
            "{ct}: {e}"
        );
    }
    let (s, o) = {
        let r = http
            .get(format!("{base}/v1/outputs/default"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(s, 200);
    assert_eq!(o["speaking"], false, "{o}");
    // No reply was opened by any of that: the first real one is #1.
    let (_, wav) = encode(dir.path(), "ok.flac", 0.3, RATE, &["-c:a", "flac"]);
    let (s, r) = post("audio/flac", wav).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["reply"], 1, "{r}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_breaks_mid_stream_plays_what_arrived_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), "").await;
    let base = format!("http://{}", server.addr());
    let mut rx = events(&base).await;
    // A FLAC stream cut off in the middle of a frame: the header says how long it should be.
    let (_, bytes) = encode(dir.path(), "cut.flac", 2.0, RATE, &["-c:a", "flac"]);
    let cut = &bytes[..bytes.len() / 2 + 101];
    let (status, body) = post_chunked(
        server.addr(),
        "/v1/outputs/default/replies",
        "audio/flac",
        cut,
        2000,
        Duration::ZERO,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "damaged_audio", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("truncated"), "{message}");
    let incomplete = rx.wait_for("reply_incomplete").await;
    assert_eq!(incomplete["reason"], "damaged_audio", "{incomplete}");
    let finished = rx.wait_for("playback_finished").await;
    let played = finished["played_ms"].as_f64().unwrap();
    assert!(
        (800.0..1200.0).contains(&played),
        "about half of 2 s played: {played} ms"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_in_a_body_is_skipped_reported_and_the_rest_plays() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), "").await;
    let base = format!("http://{}", server.addr());
    let mut rx = events(&base).await;
    // FLAC's frame checksums catch a run of flipped bits; the decoder resyncs at the next
    // frame.
    let (_, mut bytes) = encode(dir.path(), "flipped.flac", 2.0, RATE, &["-c:a", "flac"]);
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 600] {
        *b ^= 0x5A;
    }
    let (status, body) = post_chunked(
        server.addr(),
        "/v1/outputs/default/replies",
        "audio/flac",
        &bytes,
        1500,
        Duration::ZERO,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let damaged = rx.wait_for("reply_damaged").await;
    assert_eq!(damaged["reply"], body["reply"], "{damaged}");
    let at = damaged["at_ms"].as_f64().unwrap();
    assert!((600.0..1400.0).contains(&at), "damage at {at} ms of 2 s");
    assert!(
        damaged["reason"].as_str().unwrap().contains("corrupt"),
        "{damaged}"
    );
    let finished = rx.wait_for("playback_finished").await;
    let played = finished["played_ms"].as_f64().unwrap();
    assert!(played > 1700.0, "the rest played: {played} ms");
    server.shutdown().await.unwrap();
}

/// `voxpace render` with a script whose replies are files in every format: each plays in
/// full at its step.
#[test]
fn render_plays_script_replies_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut files = vec![
        encode(
            d,
            "r.mp3",
            0.5,
            44_100,
            &["-c:a", "libmp3lame", "-b:a", "64k"],
        )
        .0,
        encode(d, "r.flac", 0.5, 16_000, &["-c:a", "flac"]).0,
        encode(d, "r.ogg", 0.5, 22_050, &["-c:a", "libvorbis"]).0,
        encode(d, "r.m4a", 0.5, 44_100, &["-c:a", "aac", "-b:a", "64k"]).0,
        encode(d, "r.aac", 0.5, 24_000, &["-c:a", "aac", "-f", "adts"]).0,
    ];
    // Opus is decoded by libopus, in builds with the `opus` feature (`webrtc` includes it).
    if cfg!(feature = "opus") {
        files.push(encode(d, "r.opus", 0.5, 48_000, &["-c:a", "libopus", "-f", "ogg"]).0);
    }
    let mut script = String::from("length_ms = 7000\n");
    for (k, f) in files.iter().enumerate() {
        script.push_str(&format!("[[step]]\nat_ms = {}\nreply = {f:?}\n", k * 1000));
    }
    std::fs::write(d.join("script.toml"), script).unwrap();
    std::fs::write(
        d.join("voxpace.toml"),
        format!("[output]\nsample_rate = {RATE}\nchannels = 1\n"),
    )
    .unwrap();
    let out = d.join("out.wav");
    let run = Command::new(env!("CARGO_BIN_EXE_voxpace"))
        .args(["render", "--quiet", "--config"])
        .arg(d.join("voxpace.toml"))
        .arg("--script")
        .arg(d.join("script.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let log = std::fs::read_to_string(out.with_extension("events.jsonl")).unwrap();
    let finished: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "playback_finished")
        .collect();
    assert_eq!(finished.len(), files.len(), "{log}");
    let wav: Vec<i16> = hound::WavReader::open(&out)
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect();
    for ((f, e), k) in files.iter().zip(&finished).zip(0..) {
        let played = e["played_ms"].as_f64().unwrap();
        // ADTS declares no encoder delay or padding: its priming (1024 frames) and padding play.
        let slack = if f.extension().unwrap() == "aac" {
            60.0
        } else {
            5.0
        };
        assert!((played - 500.0).abs() < slack, "{f:?}: {played} ms");
        let want = reference(f);
        let at = (k * 1000) as usize * RATE as usize / 1000;
        let (_, corr, level) = find(&wav[at..], &want);
        eprintln!("{f:?}: correlation {corr:.4}, level {level:+.2} dB");
        assert!(corr > 0.97 && level.abs() < 0.5, "{f:?}: {corr} {level}");
    }
}
