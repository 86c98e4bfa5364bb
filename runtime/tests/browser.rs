//! The web page in a real headless Chromium (Debian's `chromium` + `chromium-driver`), driven
//! over the WebDriver HTTP API: the page connects over WHEP, audio frames arrive (the
//! browser's own inbound-rtp statistics show samples received and few concealed), the demo
//! button makes speech, the interrupt button silences it.
//!
//! Network rule: loopback only. Chromium also offers the host's LAN address as an ICE
//! candidate, so the test re-runs itself inside a fresh network namespace whose only
//! interface is `lo` (`unshare --net`, needs root) unless it already is in one.
#![cfg(feature = "webrtc")]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// True when the only network interface of this process's namespace is loopback
/// (`/proc/net/dev` is per network namespace; `/sys/class/net` is not).
fn isolated() -> bool {
    std::fs::read_to_string("/proc/net/dev")
        .map(|t| {
            t.lines()
                .skip(2)
                .filter_map(|l| l.split(':').next())
                .all(|name| name.trim() == "lo")
        })
        .unwrap_or(false)
}

/// Re-run this one test in a new network namespace with only `lo`; returns its success.
fn rerun_isolated(test: &str) -> bool {
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("VOXPACE_NETNS", "1")
        .status()
        .expect("running unshare (util-linux; needs root) to isolate the browser's network");
    status.success()
}

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start(profile: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
            "--allow-loopback-in-peer-connection",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
        ];
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let resp: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {resp}"))
            .to_string();
        Driver {
            child,
            base,
            session,
            http,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let resp: Value = self
            .http
            .request(method, url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        resp["value"].clone()
    }

    async fn script(&self, js: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": js, "args": []}),
        )
        .await
    }

    async fn async_script(&self, js: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": js, "args": []}),
        )
        .await
    }

    async fn click(&self, css: &str) {
        let el = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        let id = el
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_str())
            .unwrap()
            .to_string();
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    async fn stats(&self) -> Value {
        self.async_script("const done = arguments[arguments.length - 1]; window.voxpace.stats().then(done, () => done(null));").await
    }

    async fn wait_for(&self, what: &str, js: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.script(js).await;
            if v.as_bool() == Some(true)
                || (!v.is_null() && v.as_bool().is_none() && v != json!(false))
            {
                return v;
            }
            if Instant::now() >= deadline {
                let page = self
                    .script("const p = window.voxpace && window.voxpace.pc; return {status: document.getElementById('status').textContent, transport: document.getElementById('transport').textContent, events: window.voxpace && window.voxpace.events, pc: p && p.connectionState, ice: p && p.iceConnectionState, gathering: p && p.iceGatheringState, local: p && p.localDescription && p.localDescription.sdp, remote: p && p.remoteDescription && p.remoteDescription.sdp};")
                    .await;
                panic!("timed out waiting for {what} (last value {v}); page: {page:#}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[test]
fn the_page_plays_the_agent_over_webrtc_and_interrupt_silences_it() {
    if !isolated() {
        assert!(
            std::env::var_os("VOXPACE_NETNS").is_none(),
            "inside unshare --net but still not isolated: {:?}",
            std::fs::read_to_string("/proc/net/dev")
        );
        assert!(
            rerun_isolated("the_page_plays_the_agent_over_webrtc_and_interrupt_silences_it"),
            "the browser test failed inside its network namespace (output above)"
        );
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
    let driver = Driver::start(&dir.path().join("profile")).await;
    driver
        .cmd(reqwest::Method::POST, "/url", json!({"url": page}))
        .await;

    driver
        .wait_for("the WebRTC connection", "return !!(window.voxpace && window.voxpace.pc && window.voxpace.pc.connectionState === 'connected');", 40)
        .await;
    driver
        .wait_for(
            "the hello event",
            "return window.voxpace.events.some(e => e.type === 'hello');",
            20,
        )
        .await;

    // Frames arrive: samples received grow at about real time, few are concealed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let s = driver.stats().await;
        if s["totalSamplesReceived"].as_u64().unwrap_or(0) > 0 {
            break s;
        }
        assert!(Instant::now() < deadline, "no audio samples received: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = driver.stats().await;
    let received = second["totalSamplesReceived"].as_u64().unwrap()
        - first["totalSamplesReceived"].as_u64().unwrap();
    let concealed =
        second["concealedSamples"].as_u64().unwrap() - first["concealedSamples"].as_u64().unwrap();
    assert!(
        received > 48_000,
        "2 s of 48 kHz audio should bring ~96000 samples, got {received}: {second}"
    );
    assert!(
        concealed * 10 < received,
        "few concealed samples: {concealed} of {received}"
    );

    // The demo button speaks: the page sees speech_started and hears a level.
    driver.click("#demo").await;
    driver
        .wait_for(
            "speech_started",
            "return window.voxpace.events.some(e => e.type === 'speech_started');",
            20,
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = driver.stats().await;
        if s["audioLevel"].as_f64().unwrap_or(0.0) > 0.01 {
            break;
        }
        assert!(Instant::now() < deadline, "no speech level heard: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The interrupt button silences it.
    driver.click("#interrupt").await;
    driver
        .wait_for("the interrupted playback", "return window.voxpace.events.some(e => e.type === 'playback_finished' && e.interrupted);", 20)
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = driver.stats().await;
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
    let _ = driver.cmd(reqwest::Method::DELETE, "", json!({})).await;
    drop(driver);
    server.shutdown().await.unwrap();
}

/// The demo reply carries text marks: the page's "Heard" line grows mark by mark as the
/// audio plays, and ends with exactly what was heard (a prefix when interrupted).
async fn heard_text_shows_live(driver: &Driver) {
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
