//! A real browser for the dashboard test: Debian's `chromium`, driven headless through
//! `chromedriver` over the W3C WebDriver protocol (plain JSON over HTTP, so no driver crate).
//! Both are installed by `.ci/run`; without them the test fails and says what to install.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The element reference key of W3C WebDriver.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one headless Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session in a new profile.
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run chromedriver ({e}): apt-get install -y chromium chromium-driver")
            });
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(reply) = ready
                && let Ok(text) = reply.text().await
                && let Ok(status) = serde_json::from_str::<Value>(&text)
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1400,1100".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let created = send(http.post(format!("{base}/session")), &capabilities).await;
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    async fn command(&self, method: http::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let reply = send(self.http.request(method, url), &body).await;
        if let Some(error) = reply["value"].get("error") {
            panic!("WebDriver {path}: {error} {}", reply["value"]["message"]);
        }
        reply["value"].clone()
    }

    pub async fn open(&self, url: &str) {
        self.command(http::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .command(
                http::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(
            http::Method::POST,
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command(
            http::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub async fn run(&self, script: &str) -> Value {
        self.command(
            http::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Runs `script` until it returns something other than `null` or `false`; fails past
    /// `deadline`.
    pub async fn wait_for(&self, script: &str, deadline: Duration) -> Value {
        let started = Instant::now();
        loop {
            let value = self.run(script).await;
            if !(value.is_null() || value == false) {
                return value;
            }
            assert!(
                started.elapsed() < deadline,
                "the page never showed it: {script}\n{}",
                self.run("return document.body.innerText").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self
            .command(http::Method::GET, "/screenshot", Value::Null)
            .await;
        aws_smithy_types::base64::decode(encoded.as_str().unwrap()).unwrap()
    }
}

impl Browser {
    /// Ends the session (Chromium exits), then the driver.
    pub async fn close(self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = self.http.delete(url).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Sends a WebDriver command with `body` (none when null) and reads its JSON answer.
async fn send(request: reqwest::RequestBuilder, body: &Value) -> Value {
    let request = if body.is_null() {
        request
    } else {
        request
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    let text = request.send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("WebDriver answered {e}: {text}"))
}
