//! A real browser for the back-office tests: `chromedriver` started on a
//! free port, driving headless Chromium through WebDriver (fantoccini).
//! Both are Debian's `chromium` and `chromium-driver` (.ci/run installs
//! them). Without them the tests fail and say so; MKOBA_SKIP_BROWSER=1
//! skips them on a machine that cannot have a browser.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the page may take to show what a step waits for. Generous: a
/// loaded CI machine is slow; a page that never shows it fails the test.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct Browser {
    pub client: Client,
    driver: Child,
}

/// Whether this run has chosen to go without a browser.
pub fn skipped() -> bool {
    std::env::var("MKOBA_SKIP_BROWSER").is_ok_and(|v| v == "1")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_string())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a laptop-sized window.
    pub async fn start() -> Browser {
        let driver_bin = program("MKOBA_CHROMEDRIVER", "chromedriver");
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            // Its own process group, which Chromium joins: a failed test
            // ends both with one signal to the group (see Drop).
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {driver_bin} ({e}): install Debian's chromium and chromium-driver (.ci/run does), or set MKOBA_SKIP_BROWSER=1")
            });
        let browser = Browser { client: connect(port).await, driver };
        browser.client.set_window_size(1366, 900).await.expect("window size");
        browser
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("open page");
    }

    /// The value of a JavaScript expression evaluated in the page.
    pub async fn eval(&self, expression: &str) -> Value {
        let script = format!("return ({expression});");
        self.client.execute(&script, vec![]).await.unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
    }

    /// Waits until `expression` is truthy in the page; panics naming `what`
    /// and showing `shown` (another expression) when it never is.
    pub async fn wait_for(&self, what: &str, expression: &str, shown: &str) {
        let start = Instant::now();
        loop {
            if truthy(&self.eval(expression).await) {
                return;
            }
            if start.elapsed() > PATIENCE {
                panic!("the page never showed {what}; it shows: {}", self.eval(shown).await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the element's text contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) {
        let text = format!("(document.querySelector({}) || {{}}).textContent || ''", json!(css));
        let expression = format!("({text}).includes({})", json!(needle));
        self.wait_for(&format!("{needle:?} in {css}"), &expression, &text).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let text = self.eval(&format!("(document.querySelector({}) || {{}}).textContent || ''", json!(css))).await;
        text.as_str().unwrap_or_default().to_string()
    }

    pub async fn count(&self, css: &str) -> u64 {
        self.eval(&format!("document.querySelectorAll({}).length", json!(css))).await.as_u64().unwrap_or(0)
    }

    /// Clears a field and types into it, as a person would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.client.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await.expect(css);
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        let element = self.client.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await.expect(css);
        element.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    pub async fn enabled(&self, css: &str) -> bool {
        let element = self.client.find(Locator::Css(css)).await.expect(css);
        element.is_enabled().await.expect("enabled")
    }

    pub async fn select(&self, css: &str, value: &str) {
        let element = self.client.find(Locator::Css(css)).await.expect(css);
        element.select_by_value(value).await.expect("select");
    }

    /// True when a JavaScript alert, confirm or prompt is open.
    pub async fn dialog_open(&self) -> bool {
        self.client.get_alert_text().await.is_ok()
    }

    /// Saves a PNG of the whole page (the window stretched to its height)
    /// under the target dir's test-output folder.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let height = self.eval("document.documentElement.scrollHeight").await.as_u64().unwrap_or(900);
        let height = u32::try_from(height).unwrap_or(900).clamp(900, 4000);
        self.client.set_window_size(1366, height + 140).await.expect("window size");
        let png = self.client.screenshot().await.expect("screenshot");
        self.client.set_window_size(1366, 900).await.expect("window size");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").join("test-output");
        std::fs::create_dir_all(&dir).expect("test-output dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        println!("screenshot: {}", path.display());
        path
    }

    /// Ends the WebDriver session (Chromium quits); Drop ends chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test must leave neither chromedriver nor its Chromium
        // behind: end the process group this Browser started.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false)) && value != &json!(0) && value != &json!("")
}

async fn connect(port: u16) -> Client {
    let chromium = program("MKOBA_CHROMIUM", "/usr/bin/chromium");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,900", "--lang=en-GB", "--no-first-run"],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await {
            Ok(client) => return client,
            // chromedriver takes a moment to listen.
            Err(e) if start.elapsed() < PATIENCE => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no WebDriver session from chromedriver on port {port}: {e}"),
        }
    }
}
