//! A real headless Chromium (Debian's `chromium` + `chromium-driver`), driven over the
//! WebDriver HTTP API, and the network namespace it runs in.
//!
//! Network rule: tests talk only to loopback. Chromium also offers the host's LAN address
//! as an ICE candidate, so a browser test re-runs itself inside a fresh network namespace
//! whose only interface is `lo` (`unshare --net`, needs root):
//!
//! ```ignore
//! #[test]
//! fn the_page_plays() {
//!     if !voxpace_test_kit::browser::in_loopback_namespace("the_page_plays") {
//!         return; // ran (and passed) in the namespace
//!     }
//!     // ... start the server on 127.0.0.1, then Chromium::start(...)
//! }
//! ```

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Set in the re-run, so a namespace that is somehow not isolated fails instead of looping.
const RERUN: &str = "VOXPACE_NETNS";

/// True when the only network interface of this process's namespace is loopback
/// (`/proc/net/dev` is per network namespace; `/sys/class/net` is not).
pub fn isolated() -> bool {
    std::fs::read_to_string("/proc/net/dev")
        .map(|t| {
            t.lines()
                .skip(2)
                .filter_map(|l| l.split(':').next())
                .all(|name| name.trim() == "lo")
        })
        .unwrap_or(false)
}

/// Whether the caller is the copy of test `test` that runs in a loopback-only namespace.
/// If this process is not isolated yet, re-runs this test binary with only `test` inside
/// `unshare --net` (loopback brought up), asserts that the re-run passed and returns
/// false: the caller returns at once. Inside the namespace it returns true.
pub fn in_loopback_namespace(test: &str) -> bool {
    if isolated() {
        return true;
    }
    assert!(
        std::env::var_os(RERUN).is_none(),
        "inside unshare --net but still not isolated: {:?}",
        std::fs::read_to_string("/proc/net/dev")
    );
    let exe = std::env::current_exe().expect("the test binary's path");
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
        .env(RERUN, "1")
        .status()
        .expect("running unshare (util-linux; needs root) to isolate the browser's network");
    assert!(
        status.success(),
        "{test} failed inside its loopback-only network namespace ({status}; output above)"
    );
    false
}

/// One chromedriver process with one headless Chromium session; both end on drop.
#[derive(Debug)]
pub struct Chromium {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Chromium {
    /// Start chromedriver on a free loopback port and open a session of a headless Chromium
    /// with its profile in `profile`: autoplay allowed, a fake microphone granted without
    /// asking (Chromium offers loopback ICE candidates only while a page holds a media
    /// permission), and no background traffic.
    pub async fn start(profile: &Path) -> Chromium {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
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
        let mut args: Vec<String> = [
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
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let mut chromium = Chromium {
            driver,
            base,
            session: String::new(),
            http,
        };
        let created = chromium
            .request(reqwest::Method::POST, "/session".into(), caps)
            .await;
        chromium.session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        chromium
    }

    async fn request(&self, method: reqwest::Method, path: String, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let text = self
            .http
            .request(method, url)
            .json(&body)
            .send()
            .await
            .expect("chromedriver answers")
            .text()
            .await
            .expect("chromedriver's answer");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("WebDriver answered {text:?}: {e}"))
    }

    /// One WebDriver command on the session (`path` after `/session/{id}`); its `value`.
    pub async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.request(method, path, body).await["value"].clone()
    }

    /// Navigate to `url`.
    pub async fn open(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    /// Run `js` in the page (synchronously); what it returned.
    pub async fn script(&self, js: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": js, "args": []}),
        )
        .await
    }

    /// Run `js` in the page; it ends by calling `arguments[arguments.length - 1]` with its
    /// result.
    pub async fn async_script(&self, js: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": js, "args": []}),
        )
        .await
    }

    /// Click the first element matching `css`.
    pub async fn click(&self, css: &str) {
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
            .unwrap_or_else(|| panic!("no element {css}: {el}"))
            .to_string();
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    /// Run `js` every 100 ms until it returns something other than `false`/`null`, at most
    /// `secs`; then that value. On timeout, panics with the last value and what `describe`
    /// (a script returning page state) says.
    pub async fn wait_for(&self, what: &str, js: &str, secs: u64, describe: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.script(js).await;
            if !v.is_null() && v != json!(false) {
                return v;
            }
            if Instant::now() >= deadline {
                let page = self.script(describe).await;
                panic!("timed out waiting for {what} (last value {v}); page: {page:#}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// End the session (the browser quits); chromedriver ends on drop.
    pub async fn quit(&self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}
