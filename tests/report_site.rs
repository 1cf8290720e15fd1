//! The report as a site: every internal link resolves, a rebuild is byte-for-byte the same but
//! for its generated-at line, and a site built from hostile logs and manifest text runs no script
//! in real headless Chromium (its screenshots are kept under the test output directory). Every
//! page kind at phone and laptop widths is measured in tests/browser.rs.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use util::Work;

/// Every `attr="value"` in an HTML text.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        if let Some(end) = rest.find('"') {
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

fn html_files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

fn demo_site(w: &Work, out: &str) -> PathBuf {
    w.ok(&["analyze", "--demo", "--out", out, "--quiet"]);
    w.path(out)
}

#[test]
fn every_internal_link_and_anchor_resolves() {
    let w = Work::new();
    let dir = demo_site(&w, "site");
    let pages = html_files(&dir);
    assert!(pages.len() >= 8, "{} pages", pages.len());
    let ids: BTreeMap<&str, BTreeSet<String>> = pages
        .iter()
        .map(|(name, html)| (name.as_str(), attr_values(html, "id").into_iter().collect()))
        .collect();
    let mut checked = 0;
    for (name, html) in &pages {
        // url() only ever names a pattern of the page itself.
        for (at, _) in html.match_indices("url(") {
            let rest = &html[at + 4..];
            let end = rest.find(')').unwrap_or(rest.len());
            let target = &rest[..end];
            assert!(
                target
                    .strip_prefix('#')
                    .is_some_and(|id| ids[name.as_str()].contains(id)),
                "{name}: url({target}) is not a pattern of this page"
            );
        }
        // Subresources are the site's own files, never anything from elsewhere.
        for src in attr_values(html, "src") {
            assert!(
                !src.contains(':') && !src.starts_with("//"),
                "{name}: {src:?} is not local"
            );
            assert!(dir.join(&src).is_file(), "{name}: {src:?} is missing");
        }
        for href in attr_values(html, "href") {
            assert!(
                !href.contains("://")
                    && !href.starts_with("//")
                    && !href.starts_with("javascript:"),
                "{name}: link {href:?} leaves the site"
            );
            let (file, anchor) = href.split_once('#').unwrap_or((&href, ""));
            let target = if file.is_empty() { name.as_str() } else { file };
            assert!(
                dir.join(target).is_file(),
                "{name}: {href:?} points to a missing file"
            );
            if !anchor.is_empty() {
                let page_ids = ids
                    .get(target)
                    .unwrap_or_else(|| panic!("{target} is no page"));
                assert!(
                    page_ids.contains(anchor),
                    "{name}: {href:?} names a missing anchor"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} links checked");
}

/// A file's lines without the one that says when it was built.
fn without_build_time(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("generated_at") && !l.contains("Built by pxtrack"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn rebuilding_gives_the_same_bytes_but_the_build_time() {
    let w = Work::new();
    let a = demo_site(&w, "a");
    let b = demo_site(&w, "b");
    let names = |d: &Path| -> BTreeSet<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&a), names(&b));
    for name in names(&a) {
        let x = std::fs::read_to_string(a.join(&name)).unwrap();
        let y = std::fs::read_to_string(b.join(&name)).unwrap();
        assert_eq!(
            without_build_time(&x),
            without_build_time(&y),
            "{name} differs"
        );
    }
}

// ------------------------------------------------------------------------------------ browser

fn chromium() -> PathBuf {
    for p in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "Chromium is not installed: the report tests need Debian's chromium \
         (`apt-get install chromium`, or run scripts/test, which installs it)"
    );
}

/// Loads a page headless, takes a screenshot, and returns what the page printed to its console.
fn load(page: &Path, width: u32, screenshot: &Path) -> Vec<String> {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},1400"))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        screenshot.is_file(),
        "no screenshot of {}: {stderr}",
        page.display()
    );
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
}

/// One page of each kind.
fn page_kinds(dir: &Path) -> Vec<(String, PathBuf)> {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut kinds = Vec::new();
    for prefix in [
        "index",
        "campaign-",
        "link-",
        "recipients-",
        "rejected",
        "about",
    ] {
        let mut found: Vec<&String> = names
            .iter()
            .filter(|n| n.starts_with(prefix) && n.ends_with(".html"))
            .collect();
        found.sort();
        let name = found.first().unwrap_or_else(|| panic!("no {prefix} page"));
        kinds.push((prefix.trim_end_matches('-').to_string(), dir.join(name)));
    }
    kinds
}

fn screenshot_dir(site: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report-screenshots")
        .join(site);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn hostile_logs_and_manifest_run_no_script() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com"]);
    let evil = |what: &str| {
        format!(
            "<script>console.log('PWNED-{what}')</script><img src=x onerror=\"console.log('PWNED-{what}-img')\">"
        )
    };
    let campaign = evil("campaign");
    let recipient = format!("{}@example.com", evil("recipient"));
    let label = format!("<svg onload=console.log('PWNED-label')>{}", evil("label"));
    let open = w.ok(&[
        "mint",
        "open",
        "--campaign",
        &campaign,
        "--recipient",
        &recipient,
        "--label",
        &label,
    ]);
    let click = w.ok(&[
        "mint",
        "click",
        "--campaign",
        &campaign,
        "--recipient",
        &recipient,
        "--label",
        &label,
        "https://example.com/\"><script>console.log('PWNED-target')</script>",
    ]);
    let token = |url: &str| {
        url.trim()
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".png")
            .to_string()
    };
    // What nginx would log for hostile headers: quotes and backslashes as \xHH, the rest as sent.
    let ua = "<script>console.log(\\x22PWNED-ua\\x22)</script><img src=x onerror=console.log('PWNED-ua-img')>";
    let referer = "javascript:console.log('PWNED-referer')";
    let mut log = String::new();
    for (i, path) in [
        format!("/o/{}.png", token(&open)),
        format!("/c/{}", token(&click)),
        "/<script>console.log('PWNED-uri')</script>".into(),
    ]
    .iter()
    .enumerate()
    {
        log.push_str(&format!(
            "pxt1\t1795338000.{i:03}\t203.0.113.9\t-\tGET\t{path}\tHTTP/1.1\t200\t67\t0.000\t{referer}\t{ua}\t-\t-\t-\t-\n"
        ));
    }
    log.push_str("<script>console.log('PWNED-rejected')</script>\n");
    std::fs::write(w.path("access.log"), log).unwrap();
    w.ok(&["analyze", "access.log", "--out", "site"]);
    let dir = w.path("site");
    for (name, html) in html_files(&dir) {
        assert_eq!(
            html.matches("<script").count(),
            1,
            "{name}: only pxtrack.js may be a script"
        );
        assert!(
            !html.contains("<script>console"),
            "{name} carries a live script tag"
        );
        assert!(
            !html.contains("<img src=x"),
            "{name} carries a live img tag"
        );
    }
    let shots = screenshot_dir("hostile");
    for (kind, page) in page_kinds(&dir) {
        let console = load(&page, 1280, &shots.join(format!("{kind}-1280.png")));
        assert!(console.is_empty(), "{kind} ran something: {console:?}");
    }
    // CSV exports cannot run formulas either.
    let events = std::fs::read_to_string(dir.join("events.csv")).unwrap();
    assert!(!events.contains(",=") && !events.contains(",+") && !events.contains(",@"));
}
