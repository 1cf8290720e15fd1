//! The report in real headless Chromium, driven over WebDriver (Debian's chromium-driver): every
//! page kind of the sample report and of a 1M-line report, at 390 and 1280 CSS pixels, is never
//! wider than the viewport, prints nothing to the console and has no failed request. The
//! full-page screenshots are kept under the test output (`target/tmp/browser-screenshots/`).

mod util;

#[path = "../examples/genlogs.rs"]
#[allow(dead_code)]
mod genlogs;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use util::Work;

fn chromedriver() -> PathBuf {
    for p in ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "chromedriver is not installed: the browser tests need Debian's chromium-driver \
         (`apt-get install chromium chromium-driver`, or run scripts/test, which installs them)"
    );
}

fn chromium() -> &'static str {
    for p in ["/usr/bin/chromium", "/usr/lib/chromium/chromium"] {
        if Path::new(p).is_file() {
            return p;
        }
    }
    panic!("Chromium is not installed (`apt-get install chromium`, or run scripts/test)");
}

/// One HTTP/1.1 exchange with the driver; returns the JSON `value`.
fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("chromedriver listens");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let mut length = None;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let mut bytes = Vec::new();
    match length {
        Some(n) => {
            bytes.resize(n, 0);
            r.read_exact(&mut bytes).unwrap();
        }
        None => {
            r.read_to_end(&mut bytes).unwrap();
        }
    }
    let v: Value =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{method} {path}: {status} {e}"));
    assert!(
        status.contains(" 200 "),
        "{method} {path}: {status} {}",
        v["value"]
    );
    v["value"].clone()
}

/// A Chromium session.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let port = util::free_port();
        let driver = Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        }}});
        let v = call(port, "POST", "/session", Some(&caps));
        let session = v["sessionId"].as_str().expect("a session").to_string();
        Browser {
            driver,
            port,
            session,
            _profile: profile,
        }
    }

    fn post(&self, what: &str, body: Value) -> Value {
        call(
            self.port,
            "POST",
            &format!("/session/{}/{what}", self.session),
            Some(&body),
        )
    }

    fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("goog/cdp/execute", json!({"cmd": cmd, "params": params}))
    }

    fn script(&self, js: &str) -> Value {
        self.post("execute/sync", json!({"script": js, "args": []}))
    }

    /// Log entries of a kind since the last call.
    fn log(&self, kind: &str) -> Vec<Value> {
        self.post("se/log", json!({"type": kind}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Opens `page` in a viewport `width` CSS pixels wide and checks it; saves a full-page
    /// screenshot to `shot`.
    fn check(&self, page: &Path, width: u32, shot: &Path) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}),
        );
        self.log("browser");
        self.log("performance");
        self.post("url", json!({"url": format!("file://{}", page.display())}));
        let what = format!("{} at {width}px", page.display());
        let m = self.script(
            "const d = document.documentElement; \
             const wide = [...document.querySelectorAll('body *')] \
               .filter(e => e.getBoundingClientRect().right > d.clientWidth + 1 \
                 && !e.closest('.table-wrap, .panel, svg.defs')) \
               .slice(0, 5).map(e => e.tagName + '.' + e.className + ': ' + \
                 (e.textContent || '').slice(0, 60)); \
             return {scroll: d.scrollWidth, client: d.clientWidth, inner: window.innerWidth, \
                     height: d.scrollHeight, wide: wide, \
                     failed: performance.getEntriesByType('resource') \
                       .filter(e => e.transferSize === 0 && e.decodedBodySize === 0 \
                         && !e.name.startsWith('file:')).map(e => e.name)};",
        );
        assert_eq!(
            m["inner"].as_u64(),
            Some(u64::from(width)),
            "{what}: viewport {m}"
        );
        assert!(
            m["scroll"].as_u64() <= m["client"].as_u64(),
            "{what}: the document is wider than the viewport: {m}"
        );
        assert_eq!(m["wide"], json!([]), "{what}: elements past the right edge");
        assert_eq!(m["failed"], json!([]), "{what}: failed requests");
        let console = self.log("browser");
        assert!(console.is_empty(), "{what}: console: {console:?}");
        let failed: Vec<String> = self
            .log("performance")
            .iter()
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.contains("Network.loadingFailed"))
            .map(str::to_string)
            .collect();
        assert!(failed.is_empty(), "{what}: failed requests: {failed:?}");
        let height = m["height"].as_u64().unwrap_or(900).clamp(1, 16_000);
        let png = self.cdp(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}),
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png["data"].as_str().expect("screenshot data"))
            .unwrap();
        std::fs::write(shot, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            call(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                None,
            )
        });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One page of each kind in a report directory.
fn page_kinds(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html"))
        .collect();
    names.sort();
    [
        "index",
        "campaign-",
        "link-",
        "recipients-",
        "rejected",
        "about",
    ]
    .iter()
    .map(|prefix| {
        let name = names
            .iter()
            .find(|n| n.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} page in {}", dir.display()));
        (prefix.trim_end_matches('-').to_string(), dir.join(name))
    })
    .collect()
}

fn screenshots(site: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("browser-screenshots")
        .join(site);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn check_site(browser: &Browser, dir: &Path, site: &str) {
    let shots = screenshots(site);
    for (kind, page) in page_kinds(dir) {
        for width in [390, 1280] {
            browser.check(&page, width, &shots.join(format!("{kind}-{width}.png")));
        }
    }
}

#[test]
fn every_page_kind_fits_phone_and_laptop_widths() {
    let browser = Browser::start();
    let w = Work::new();
    w.ok(&["analyze", "--demo", "--out", "sample"]);
    check_site(&browser, &w.path("sample"), "sample");

    // A million lines over 2,000 recipients of five campaigns: long tables, full hit logs.
    genlogs::generate(&w.path("big"), 1_000_000, false, 2_000).unwrap();
    let out = w
        .cmd()
        .current_dir(w.path("big"))
        .env("PXTRACK_CONFIG", w.path("big/pxtrack.toml"))
        .args(["analyze", "--out", "report"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_site(&browser, &w.path("big/report"), "1m-lines");
}
