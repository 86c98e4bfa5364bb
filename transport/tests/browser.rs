//! A real browser (Debian's Chromium, driven through chromedriver) opens the WHEP server's
//! player page, plays the stream and decodes audio with energy in it; Stop sends DELETE.
//!
//! The browser must see only loopback (the project's network rule), so the test re-runs
//! itself inside a fresh network namespace whose only interface is `lo`
//! (`unshare --net`, root). Needs `chromium`, `chromium-driver` and `util-linux`/`iproute2`.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use voxpace_core::Format;
use voxpace_transport::WhepServer;

const INSIDE: &str = "VOXPACE_TRANSPORT_IN_NETNS";

#[test]
fn chromium_plays_the_whep_stream() {
    if std::env::var_os(INSIDE).is_some() {
        return inside_namespace();
    }
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
        .args([
            "chromium_plays_the_whep_stream",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INSIDE, "1")
        .status()
        .expect("running unshare (util-linux) as root");
    assert!(
        status.success(),
        "the browser test inside the namespace failed: {status}"
    );
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// WebDriver speaks JSON both ways.
async fn post_json(request: reqwest::RequestBuilder, body: &Value) -> Value {
    let text = request
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("WebDriver answered {text:?}: {e}"))
}

struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
}

impl Driver {
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let v = post_json(self.http.request(method, url), &body).await;
        v["value"].clone()
    }

    async fn script(&self, js: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": js, "args": []}),
        )
        .await
    }
}

fn inside_namespace() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let format = Format::new(24_000, 1, 20).unwrap();
        let (publisher, feed) = publisher(format);
        let server = WhepServer::new(server_config());
        server.publish("agent", vec![publisher]);
        let base = serve(axum::Router::new().nest("/whep", server.router())).await;
        let agent = Agent::start(format, feed);
        drop(agent.say(speech_clip(24_000, 60.0)));

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let _driver = Kill(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver (Debian package chromium-driver)"),
        );
        let http = reqwest::Client::new();
        let driver_url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while http.get(format!("{driver_url}/status")).send().await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("voxpace-chromium-{}", std::process::id()));
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--autoplay-policy=no-user-gesture-required",
                     "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     "--allow-loopback-in-peer-connection",
                     format!("--user-data-dir={}", profile.display())]}}}});
        let created = post_json(http.post(format!("{driver_url}/session")), &caps).await;
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        let d = Driver {
            http: http.clone(),
            base: driver_url,
            session,
        };

        d.call(
            reqwest::Method::POST,
            "/url",
            json!({"url": format!("{base}/whep/agent#token={TOKEN}")}),
        )
        .await;
        // Chromium offers loopback candidates only while the page holds a media permission.
        let started = d
            .script(
                "const done = arguments[arguments.length - 1];
                 navigator.mediaDevices.getUserMedia({audio: true})
                   .then(m => { window.mic = m; return play(); })
                   .then(() => done('ok'), e => done('error: ' + e));",
            )
            .await;
        assert_eq!(started, "ok", "the player started");

        let stats_js = "const done = arguments[arguments.length - 1];
            pc.getStats().then(s => { let r = {packets: 0, energy: 0};
              s.forEach(x => { if (x.type === 'inbound-rtp') r = {packets: x.packetsReceived,
                energy: x.totalAudioEnergy || 0}; });
              r.state = pc.connectionState; r.text = document.getElementById('state').textContent;
              done(r); });";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let stats = loop {
            let s = d.script(stats_js).await;
            if s["packets"].as_u64().unwrap_or(0) > 100 && s["energy"].as_f64().unwrap_or(0.0) > 0.01 {
                break s;
            }
            assert!(tokio::time::Instant::now() < deadline, "browser did not play: {s}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        eprintln!("browser: {stats}");
        assert_eq!(stats["state"], "connected");
        assert_eq!(server.sessions(Some("agent")).len(), 1);

        // Stop: the page DELETEs its resource and the server ends the session.
        let stopped = d
            .script("const done = arguments[arguments.length - 1]; stop().then(() => done('ok'), e => done('error: ' + e));")
            .await;
        assert_eq!(stopped, "ok");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !server.sessions(None).is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "session not ended by DELETE");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = http
            .delete(format!("{}/session/{}", d.base, d.session))
            .send()
            .await;
        let _ = std::fs::remove_dir_all(profile);
    });
}
