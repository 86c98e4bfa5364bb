//! The web page in a real headless Chromium (Debian's `chromium` + `chromium-driver`), driven
//! over the WebDriver HTTP API: the page connects over WHEP, audio frames arrive (the
//! browser's own inbound-rtp statistics show samples received and few concealed), the demo
//! button makes speech, the interrupt button silences it.
//!
//! Network rule: loopback only. Chromium also offers the host's LAN address as an ICE
//! candidate, so the test re-runs itself inside a fresh network namespace whose only
//! interface is `lo` (`unshare --net`, needs root) unless it already is in one.
#![cfg(feature = "webrtc")]

use std::time::{Duration, Instant};

use serde_json::json;
use voxpace_test_kit::browser::{in_loopback_namespace, Chromium};

/// What the page shows when a wait times out.
const PAGE_STATE: &str = "const p = window.voxpace && window.voxpace.pc; return {status: document.getElementById('status').textContent, transport: document.getElementById('transport').textContent, events: window.voxpace && window.voxpace.events, pc: p && p.connectionState, ice: p && p.iceConnectionState, gathering: p && p.iceGatheringState, local: p && p.localDescription && p.localDescription.sdp, remote: p && p.remoteDescription && p.remoteDescription.sdp};";

/// The browser's inbound-rtp statistics, as the page reports them.
async fn stats(driver: &Chromium) -> serde_json::Value {
    driver
        .async_script("const done = arguments[arguments.length - 1]; window.voxpace.stats().then(done, () => done(null));")
        .await
}

#[test]
fn the_page_plays_the_agent_over_webrtc_and_interrupt_silences_it() {
    if !in_loopback_namespace("the_page_plays_the_agent_over_webrtc_and_interrupt_silences_it") {
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    // No background: after an interrupt the output must be silent.
    std::fs::write(&cfg, "[server]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let config = voxpace_runtime::Config::load(&cfg).unwrap();
    let server = voxpace_runtime::serve::Server::start(config).await.unwrap();
    let page = format!("http://{}/?loopback=1&autoconnect=1", server.addr());
    let driver = Chromium::start(&dir.path().join("profile")).await;
    driver.open(&page).await;

    driver
        .wait_for("the WebRTC connection", "return !!(window.voxpace && window.voxpace.pc && window.voxpace.pc.connectionState === 'connected');", 40, PAGE_STATE)
        .await;
    driver
        .wait_for(
            "the hello event",
            "return window.voxpace.events.some(e => e.type === 'hello');",
            20,
            PAGE_STATE,
        )
        .await;

    // Frames arrive: samples received grow at about real time, nothing is lost, and the
    // silent output is heard as silence. (Digital silence is not sent, bar a keep-alive
    // frame every 400 ms: the transport's silence gate. The browser conceals the gaps,
    // so its concealment counters grow by design; what is heard stays silent.)
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let s = stats(&driver).await;
        if s["totalSamplesReceived"].as_u64().unwrap_or(0) > 0 {
            break s;
        }
        assert!(Instant::now() < deadline, "no audio samples received: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut loudest = 0.0f64;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        loudest = loudest.max(stats(&driver).await["audioLevel"].as_f64().unwrap_or(1.0));
    }
    let second = stats(&driver).await;
    let received = second["totalSamplesReceived"].as_u64().unwrap()
        - first["totalSamplesReceived"].as_u64().unwrap();
    assert!(
        received > 48_000,
        "2 s of 48 kHz audio should bring ~96000 samples, got {received}: {second}"
    );
    assert_eq!(
        second["packetsLost"].as_i64(),
        Some(0),
        "nothing lost: {second}"
    );
    assert!(
        loudest < 0.001,
        "the silent output is heard as silence: level {loudest}"
    );

    // The demo button speaks: the page sees speech_started and hears a level.
    driver.click("#demo").await;
    driver
        .wait_for(
            "speech_started",
            "return window.voxpace.events.some(e => e.type === 'speech_started');",
            20,
            PAGE_STATE,
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = stats(&driver).await;
        if s["audioLevel"].as_f64().unwrap_or(0.0) > 0.01 {
            break;
        }
        assert!(Instant::now() < deadline, "no speech level heard: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The interrupt button silences it.
    driver.click("#interrupt").await;
    driver
        .wait_for("the interrupted playback", "return window.voxpace.events.some(e => e.type === 'playback_finished' && e.interrupted);", 20, PAGE_STATE)
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = stats(&driver).await;
        if s["audioLevel"].as_f64().unwrap_or(1.0) < 0.001 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still audible after interrupt: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    heard_text_shows_live(&driver).await;
    driver.quit().await;
    drop(driver);
    server.shutdown().await.unwrap();
}

/// The demo reply carries text marks: the page's "Heard" line grows mark by mark as the
/// audio plays, and ends with exactly what was heard (a prefix when interrupted).
async fn heard_text_shows_live(driver: &Chromium) {
    const FULL: &str = "Hello! I am your voice agent. You can interrupt me at any time.";
    // What the page shows for a reply: its line's text and tags (read from the DOM).
    let line = |reply: u32| {
        format!("const h = window.voxpace.heard[{reply}]; if (!h) return null; return {{ text: h.el.querySelector('.heard-text').textContent, tags: Array.from(h.el.querySelectorAll('.heard-tag')).map(t => t.textContent), done: h.done }};")
    };
    // The reply interrupted above: what was heard before the barge-in, marked interrupted.
    driver
        .wait_for(
            "the interrupted reply's heard text",
            "const h = window.voxpace.heard[1]; return !!(h && h.done);",
            20,
            PAGE_STATE,
        )
        .await;
    let first = driver.script(&line(1)).await;
    let text = first["text"].as_str().unwrap();
    assert!(
        text.starts_with("Hello!") && FULL.starts_with(text) && text != FULL,
        "heard before the interrupt: {first}"
    );
    assert_eq!(first["tags"], json!(["interrupted"]), "{first}");
    // A reply played to the end: the line grows while it plays.
    driver.click("#demo").await;
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = driver.script(&line(2)).await;
        if let Some(t) = v["text"].as_str() {
            if seen.last().map(String::as_str) != Some(t) {
                seen.push(t.to_string());
            }
        }
        if v["done"] == json!(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second reply never ended: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.last().map(String::as_str), Some(FULL), "{seen:?}");
    assert!(
        seen.len() >= 3,
        "the heard text grew live, mark by mark: {seen:?}"
    );
    for w in seen.windows(2) {
        assert!(w[1].starts_with(&w[0]), "only ever grows: {seen:?}");
    }
}

#[test]
fn the_page_reports_a_webrtc_failure_offers_the_wav_stream_stops_and_switches_outputs() {
    if !in_loopback_namespace(
        "the_page_reports_a_webrtc_failure_offers_the_wav_stream_stops_and_switches_outputs",
    ) {
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(failure_stop_switch());
}

/// What the page shows, read from the DOM.
const SHOWN: &str = "const $ = (id) => document.getElementById(id); return {status: $('status').textContent, problem: $('problem').hidden ? null : $('problem-text').textContent, stop: !$('stop').disabled, listen: !$('connect').disabled, output: window.voxpace.output, listening: window.voxpace.listening, pc: window.voxpace.pc && window.voxpace.pc.connectionState, playing: !$('player').paused, time: $('player').currentTime, lines: $('events').children.length};";

async fn failure_stop_switch() {
    let dir = tempfile::tempdir().unwrap();
    let start = |extra: &str| {
        let cfg = dir.path().join("c.toml");
        std::fs::write(
            &cfg,
            format!("{extra}[server]\nlisten = \"127.0.0.1:0\"\noutputs = [\"a\", \"b\"]\n"),
        )
        .unwrap();
        voxpace_runtime::Config::load(&cfg).unwrap()
    };
    // An ICE failure made on purpose: this server drops every WebRTC session 1 ms after
    // its answer (`whep_connect_timeout_ms`), so the browser's connectivity checks find
    // nobody. The page says WebRTC did not connect and offers the WAV stream.
    let failing =
        voxpace_runtime::serve::Server::start(start("[transport]\nwhep_connect_timeout_ms = 1\n"))
            .await
            .unwrap();
    let driver = Chromium::start(&dir.path().join("profile")).await;
    driver
        .open(&format!(
            "http://{}/?loopback=1&autoconnect=1&connect_timeout_ms=4000",
            failing.addr()
        ))
        .await;
    let icon = driver
        .script("const l = document.querySelector('link[rel=icon]'); return l && l.href;")
        .await;
    assert!(
        icon.as_str()
            .is_some_and(|h| h.starts_with("data:image/svg+xml")),
        "an inline favicon, so no /favicon.ico request fails: {icon}"
    );
    let failed = driver
        .wait_for(
            "the page to say WebRTC cannot connect",
            "const p = document.getElementById('problem'); return !p.hidden;",
            30,
            SHOWN,
        )
        .await;
    let shown = driver.script(SHOWN).await;
    let problem = shown["problem"].as_str().unwrap_or_default().to_owned();
    assert!(
        problem.contains("WebRTC") && problem.contains("WAV stream"),
        "{shown} ({failed})"
    );
    assert_eq!(shown["status"], "not connected", "{shown}");
    assert_eq!(shown["listen"], true, "Listen can be tried again: {shown}");

    // The fallback plays the live WAV stream.
    driver.click("#fallback").await;
    driver
        .wait_for(
            "the WAV stream to play",
            "const p = document.getElementById('player'); return !p.paused && p.currentTime > 0.5;",
            20,
            SHOWN,
        )
        .await;
    let shown = driver.script(SHOWN).await;
    assert_eq!(shown["status"], "listening (HTTP audio stream)", "{shown}");
    assert_eq!(shown["problem"], serde_json::Value::Null, "{shown}");

    // Stop silences it and frees the monitor.
    driver.click("#stop").await;
    let shown = driver.script(SHOWN).await;
    assert_eq!(shown["status"], "stopped", "{shown}");
    assert_eq!(shown["playing"], false, "{shown}");
    assert_eq!(shown["stop"], false, "{shown}");
    failing.shutdown().await.unwrap();

    // Over WebRTC: connect to "a", then switch to "b": the page ends a's session and
    // plays b.
    let server = voxpace_runtime::serve::Server::start(start(""))
        .await
        .unwrap();
    driver
        .open(&format!(
            "http://{}/?loopback=1&autoconnect=1",
            server.addr()
        ))
        .await;
    driver
        .wait_for("WebRTC to a", "return !!(window.voxpace && window.voxpace.pc && window.voxpace.pc.connectionState === 'connected');", 40, SHOWN)
        .await;
    assert_eq!(driver.script(SHOWN).await["status"], "listening (WebRTC)");
    driver
        .script("const s = document.getElementById('output'); s.value = 'b'; s.dispatchEvent(new Event('change')); return null;")
        .await;
    driver
        .wait_for("WebRTC to b", "return window.voxpace.output === 'b' && !!window.voxpace.pc && window.voxpace.pc.connectionState === 'connected';", 40, SHOWN)
        .await;
    driver
        .wait_for(
            "b's hello event",
            "return window.voxpace.events.some(e => e.type === 'hello' && e.output === 'b');",
            20,
            SHOWN,
        )
        .await;
    // a's session ended on switching (the page DELETEd it); b's is the one listener.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = reqwest::get(format!("http://{}/metrics", server.addr()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("voxpace_peers{output=\"a\"} 0")
            && metrics.contains("voxpace_peers{output=\"b\"} 1")
        {
            break;
        }
        assert!(Instant::now() < deadline, "after the switch: {metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every event type the server sends has a listener on the page.
    let names = driver.script("return window.voxpace.subscribed;").await;
    for n in [
        "publish_state",
        "source_damaged",
        "source_finished",
        "source_failed",
        "sink_detached",
        "output_ended",
    ] {
        assert!(
            names.as_array().unwrap().iter().any(|v| v == n),
            "{n} is shown: {names}"
        );
    }
    driver.quit().await;
    drop(driver);
    server.shutdown().await.unwrap();
}
