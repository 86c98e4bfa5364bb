//! `voxpace serve` against careless and hostile clients, on 127.0.0.1:0 with the timeouts
//! set short in each test's own config: slow headers, idle keep-alive connections, more
//! connections than the cap, stalled and trickling reply bodies. Raw TCP where the attack
//! needs it. Real clock: assertions are about what happens and in which order; the bounds
//! are generous and only catch hangs.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use voxpace_runtime::serve::Server;
use voxpace_runtime::Config;
use voxpace_test_kit::sse::{self, names, Events};

/// Longest any step may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(20);

fn config(dir: &Path, server: &str) -> Config {
    let text = format!("[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace_ms = 2000\n{server}");
    let path = dir.join("voxpace.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

/// A response read off a raw connection.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("JSON body: {self:?}"))
    }
}

/// Read one response (Content-Length or until close) from `s`.
async fn read_response(s: &mut TcpStream) -> Raw {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(HANG, s.read(&mut chunk))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head[9..12].parse().unwrap();
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let mut body = buf[head_end..].to_vec();
    loop {
        if length.is_some_and(|n| body.len() >= n) {
            break;
        }
        let n = tokio::time::timeout(HANG, s.read(&mut chunk))
            .await
            .expect("the body in time")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Raw {
        status,
        head,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

/// Wait until the server closes `s` (reads return 0 or fail); what it sent meanwhile.
async fn closed_by_server(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(HANG, async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    got
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_closed_busy_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(
        dir.path(),
        "header_read_timeout_ms = 300\nkeep_alive_timeout_ms = 1000\n",
    ))
    .await
    .unwrap();
    let addr = server.addr();

    // Connects and never sends a byte.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // Sends its headers one byte at a time, slower than the header timeout allows.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let dribble = tokio::spawn(async move {
        for b in
            b"GET /healthz HTTP/1.1\r\nhost: test\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        {
            if slow.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        closed_by_server(&mut slow).await
    });
    assert!(closed_by_server(&mut silent).await.is_empty());
    let answered = dribble.await.unwrap();
    assert!(
        answered.is_empty(),
        "slow headers get no answer: {:?}",
        String::from_utf8_lossy(&answered)
    );

    // Keep-alive: a connection that keeps asking stays open well past the idle timeout ...
    let mut busy = TcpStream::connect(addr).await.unwrap();
    for _ in 0..25 {
        busy.write_all(&get("/healthz")).await.unwrap();
        assert_eq!(read_response(&mut busy).await.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ... and is closed once it stops.
    assert!(closed_by_server(&mut busy).await.is_empty());

    // A well-behaved client is unaffected.
    let r = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_refused_and_the_others_keep_being_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(
        dir.path(),
        "max_connections = 4\nheader_read_timeout_ms = 20000\nkeep_alive_timeout_ms = 20000\n",
    ))
    .await
    .unwrap();
    let addr = server.addr();
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&get("/healthz")).await.unwrap();
        assert_eq!(read_response(&mut s).await.status, 200);
        held.push(s);
    }
    // The fifth is answered at once with a JSON 503 and closed.
    let mut extra = TcpStream::connect(addr).await.unwrap();
    extra.write_all(&get("/healthz")).await.unwrap();
    let refused = read_response(&mut extra).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.json()["error"], "too_many_connections");
    assert!(
        refused.head.to_ascii_lowercase().contains("retry-after"),
        "{refused:?}"
    );
    closed_by_server(&mut extra).await;

    // The connections we have are still served.
    for s in &mut held {
        s.write_all(&get("/v1/outputs/default")).await.unwrap();
        let r = read_response(s).await;
        assert_eq!((r.status, r.json()["id"].as_str()), (200, Some("default")));
    }
    // Once one closes, a newcomer gets in.
    drop(held.pop());
    let admitted = tokio::time::timeout(HANG, async {
        loop {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&get("/healthz")).await.unwrap();
            if read_response(&mut s).await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(admitted.is_ok(), "a freed slot is reused");
    server.shutdown().await.unwrap();
}

/// The output's events, from a real SSE subscription.
async fn events(addr: std::net::SocketAddr) -> Events {
    sse::subscribe(&format!("http://{addr}/v1/outputs/default/events")).await
}

/// Open a chunked reply upload on a raw connection and send `audio` (s16le, 24 kHz mono).
async fn start_upload(addr: std::net::SocketAddr, audio: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = "POST /v1/outputs/default/replies HTTP/1.1\r\nhost: test\r\ncontent-type: audio/L16;rate=24000;channels=1\r\ntransfer-encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(format!("{:x}\r\n", audio.len()).as_bytes())
        .await
        .unwrap();
    s.write_all(audio).await.unwrap();
    s.write_all(b"\r\n").await.unwrap();
    s
}

/// Write `piece` every `period` (`times` times) while reading what the server answers,
/// until it closes the connection or the pieces are all sent; the answer as text.
async fn trickle_and_read(
    mut s: TcpStream,
    piece: &'static [u8],
    period: Duration,
    times: usize,
) -> String {
    let (mut read, mut write) = s.split();
    let sender = async {
        for _ in 0..times {
            if write.write_all(piece).await.is_err() {
                return;
            }
            tokio::time::sleep(period).await;
        }
    };
    let mut got = Vec::new();
    let reader = async {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = read.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::select! { _ = sender => {}, _ = reader => {} }
    String::from_utf8_lossy(&got).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_or_trickling_body_ends_its_reply_as_incomplete_with_408() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), "body_idle_timeout_ms = 400\n"))
        .await
        .unwrap();
    let addr = server.addr();
    let mut rx = events(addr).await;
    assert_eq!(rx.next().await.0, "hello");

    // 100 ms of audio, then nothing: the reply plays it, then the body is cut.
    let audio = vec![0x10u8; 4800];
    let mut stalled = start_upload(addr, &audio).await;
    let r = read_response(&mut stalled).await;
    assert_eq!(r.status, 408, "{r:?}");
    let body = r.json();
    assert_eq!(body["error"], "body_timeout");
    assert_eq!(
        (body["reply"].as_u64(), body["incomplete"].as_bool()),
        (Some(1), Some(true))
    );
    assert!(
        r.head.to_ascii_lowercase().contains("connection: close"),
        "{r:?}"
    );
    closed_by_server(&mut stalled).await;
    let seen = rx.until("playback_finished").await;
    let incomplete = seen.iter().position(|(n, _)| n == "reply_incomplete");
    assert!(
        incomplete.is_some(),
        "a reply_incomplete event: {:?}",
        names(&seen)
    );
    let (_, finished) = seen.last().unwrap();
    assert_eq!(finished["reply"], 1);
    assert_eq!(
        finished["interrupted"], false,
        "what arrived plays to its end"
    );
    assert_eq!(finished["played_samples"], 2400);
    let reply: Value = reqwest::get(format!("http://{addr}/v1/outputs/default/replies/1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (reply["state"].as_str(), reply["incomplete"].as_bool()),
        (Some("played"), Some(true))
    );

    // One byte every 50 ms never stalls outright, but falls ever further behind real time.
    let trickle = start_upload(addr, &[0, 0]).await;
    let writer = tokio::spawn(trickle_and_read(
        trickle,
        b"1\r\n\x01\r\n",
        Duration::from_millis(50),
        400,
    ));
    let answer = tokio::time::timeout(HANG, writer).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"reply\":2"), "{answer}");
    let seen = rx.until("playback_finished").await;
    assert!(
        names(&seen).contains(&"reply_incomplete"),
        "{:?}",
        names(&seen)
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_cuts_a_stalled_upload_and_ends_every_reply_before_output_ended() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(dir.path(), "body_idle_timeout_ms = 60000\n"))
        .await
        .unwrap();
    let addr = server.addr();
    let mut rx = events(addr).await;
    assert_eq!(rx.next().await.0, "hello");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{addr}/v1/outputs/default/replies"))
        .header("content-type", "audio/L16;rate=24000;channels=1")
        .body(vec![0x20u8; 48_000 * 3])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    // Reply 2 streams 100 ms and stalls (well within its body timeout).
    let mut stalled = start_upload(addr, &[0x10u8; 4800]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let r = http
        .delete(format!("http://{addr}/v1/outputs/default"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cut = read_response(&mut stalled).await;
    assert_eq!(
        (cut.status, cut.json()["error"].as_str()),
        (410, Some("output_ended")),
        "{cut:?}"
    );

    let seen = rx.until("output_ended").await;
    let finished: Vec<u64> = seen
        .iter()
        .filter(|(n, _)| n == "playback_finished")
        .map(|(_, v)| v["reply"].as_u64().unwrap())
        .collect();
    assert_eq!(
        finished,
        [1, 2],
        "both replies end before output_ended: {:?}",
        names(&seen)
    );
    assert!(seen
        .iter()
        .filter(|(n, _)| n == "playback_finished")
        .all(|(_, v)| v["interrupted"] == true));
    assert!(
        rx.next_or_end().await.is_none(),
        "the event stream ends after output_ended"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_a_stalled_upload_at_the_grace_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_millis(300);
    let mut config = config(dir.path(), "body_idle_timeout_ms = 60000\n");
    config.server.shutdown_grace = grace;
    let server = Server::start(config).await.unwrap();
    let addr = server.addr();
    let mut rx = events(addr).await;
    assert_eq!(rx.next().await.0, "hello");
    let mut stalled = start_upload(addr, &[0x10u8; 4800]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = std::time::Instant::now();
    let answer = tokio::spawn(async move { read_response(&mut stalled).await });
    server.shutdown().await.unwrap();
    let took = started.elapsed();
    // Generous: a stalled upload used to hold shutdown for grace + 5 s.
    assert!(
        took < grace + Duration::from_secs(3),
        "shutdown took {took:?}"
    );
    let cut = answer.await.unwrap();
    assert_eq!(
        (cut.status, cut.json()["error"].as_str()),
        (410, Some("output_ended")),
        "{cut:?}"
    );
    let seen = rx.until("output_ended").await;
    let finished = seen.iter().position(|(n, _)| n == "playback_finished");
    assert!(
        finished.is_some(),
        "the cut reply's playback_finished comes first: {:?}",
        names(&seen)
    );
    assert_eq!(seen[finished.unwrap()].1["interrupted"], true);
}

/// Every POST and PUT route the server's own OpenAPI document lists (so a route added later
/// is covered without touching this test), the WHEP offer included when built with WebRTC,
/// gets a client writing its body one byte a second, all at once. A route that takes a body
/// answers 408 within the body timeout and closes the connection; a route that takes none
/// answers at once and does not keep the connection waiting for the body either. The server
/// keeps answering others meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickling_one_byte_a_second_is_answered_408_on_every_body_route() {
    const BODY_TIMEOUT: Duration = Duration::from_millis(1500);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(config(
        dir.path(),
        &format!("body_idle_timeout_ms = {}\n", BODY_TIMEOUT.as_millis()),
    ))
    .await
    .unwrap();
    let addr = server.addr();
    let http = reqwest::Client::new();
    // An open reply (id 1) for the routes of a reply.
    let opened = http
        .post(format!(
            "http://{addr}/v1/outputs/default/replies?finish=false"
        ))
        .header("content-type", "audio/L16;rate=24000;channels=1")
        .body(vec![0u8; 480])
        .send()
        .await
        .unwrap();
    assert!(opened.status().is_success(), "{opened:?}");
    let doc = http.get(format!("http://{addr}/openapi.json")).send();
    let doc: Value = doc.await.unwrap().json().await.unwrap();

    let mut with_body = Vec::new();
    let mut without_body = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.starts_with("/whep/") && !cfg!(feature = "webrtc") {
            continue;
        }
        for method in ["post", "put"] {
            let Some(op) = item.get(method) else { continue };
            let target = path
                .replace("{id}", "default")
                .replace("{reply}", "1")
                .replace("{name}", "no_such_clip");
            let Some(content) = op["requestBody"]["content"].as_object() else {
                without_body.push((method.to_uppercase(), target, "application/json".to_owned()));
                continue;
            };
            assert!(
                op["responses"]["408"].is_object(),
                "{method} {path} takes a body: its 408 is documented"
            );
            let ct = ["application/json", "audio/wav"]
                .into_iter()
                .find(|t| content.contains_key(*t))
                .map(str::to_owned)
                .unwrap_or_else(|| content.keys().next().unwrap().clone());
            with_body.push((method.to_uppercase(), target, ct));
        }
    }
    let covered: Vec<_> = with_body
        .iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    eprintln!("with a body: {covered:?}; without: {without_body:?}");
    for must in [
        "POST /v1/outputs",
        "POST /v1/outputs/default/replies",
        "POST /v1/outputs/default/replies/1/audio",
        "POST /v1/outputs/default/replies/1/marks",
        "PUT /v1/outputs/default/background",
    ] {
        assert!(covered.iter().any(|c| c == must), "{must} in {covered:?}");
    }
    if cfg!(feature = "webrtc") {
        assert!(
            covered.iter().any(|c| c == "POST /whep/default"),
            "{covered:?}"
        );
    }

    let trickle = |method: String, path: String, ct: String| {
        tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-type: {ct}\r\ncontent-length: 100\r\n\r\n"
            );
            s.write_all(head.as_bytes()).await.unwrap();
            let started = std::time::Instant::now();
            let answer = trickle_and_read(s, b" ", Duration::from_secs(1), 100).await;
            (format!("{method} {path}"), started.elapsed(), answer)
        })
    };
    let trickles: Vec<_> = with_body
        .into_iter()
        .map(|(m, p, ct)| trickle(m, p, ct))
        .collect();
    // Others are served meanwhile.
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    for t in trickles {
        let (route, took, answer) = tokio::time::timeout(HANG, t).await.unwrap().unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{route}: {answer}");
        assert!(
            answer.contains(r#""error":"body_timeout""#),
            "{route}: the JSON error names it: {answer}"
        );
        assert!(
            took < BODY_TIMEOUT + Duration::from_secs(6),
            "{route}: answered and closed after {took:?}"
        );
    }
    // The routes without a body (interrupt, pause, finish, ...), after the others: they act.
    let trickles: Vec<_> = without_body
        .into_iter()
        .map(|(m, p, ct)| trickle(m, p, ct))
        .collect();
    for t in trickles {
        let (route, took, answer) = tokio::time::timeout(HANG, t).await.unwrap().unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 "),
            "{route}: answered: {answer}"
        );
        assert!(!answer.starts_with("HTTP/1.1 408"), "{route}: {answer}");
        assert!(
            took < BODY_TIMEOUT + Duration::from_secs(6),
            "{route}: answered and closed after {took:?}"
        );
    }
    server.shutdown().await.unwrap();
}
