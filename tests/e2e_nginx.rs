//! The whole path against a real nginx: init, mint, generate the config, serve real requests on
//! 127.0.0.1, then analyze nginx's own logs (pxtrack's format and `combined`, written side by side
//! by the same nginx) and check events.csv and the report.

mod util;

use std::collections::HashMap;

use pxtrack::token::{self, KeyRing, TokenKind};
use util::{Nginx, Work, free_port, raw, read_events, request, token_of, wait_for_lines};

const THUNDERBIRD: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0";
const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const GMAIL: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
const HOSTILE_CAMPAIGN: &str = "<script>alert(1)</script> & \"Q4\"";
const HOSTILE_TARGET: &str = "https://example.com/a$b;c\"d{e}f%g\\h/${uri}?q=ü&x='y'#frag";

struct Minted {
    work: Work,
    port: u16,
    opens: HashMap<String, String>,
    click_hostile: String,
    click_plain: String,
    open_expiring: String,
    stored_target: String,
}

fn mint_everything() -> Minted {
    let work = Work::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    work.ok(&["init", "--dir", ".", "--base-url", &base]);
    work.edit(
        "pxtrack.toml",
        "real_ip_from = []",
        "real_ip_from = [\"127.0.0.1\"]",
    );
    work.edit(
        "pxtrack.toml",
        "internal_networks = []",
        "internal_networks = [\"198.51.100.0/24\"]",
    );
    std::fs::write(
        work.path("list.txt"),
        "ana@example.com\nbob@example.com\ncara@example.com\n",
    )
    .unwrap();
    let urls = work.ok(&[
        "mint",
        "open",
        "--campaign",
        HOSTILE_CAMPAIGN,
        "--recipients",
        "list.txt",
    ]);
    let lines: Vec<&str> = urls.lines().collect();
    assert_eq!(lines.len(), 3, "one URL per recipient: {urls}");
    let opens: HashMap<String, String> = ["ana", "bob", "cara"]
        .iter()
        .zip(&lines)
        .map(|(name, url)| {
            assert!(
                url.starts_with(&format!("{base}/o/")) && url.ends_with(".png"),
                "{url}"
            );
            assert!(
                !url.contains("example.com"),
                "no personal data in a URL: {url}"
            );
            (name.to_string(), token_of(url))
        })
        .collect();
    let html = work.ok(&[
        "mint",
        "open",
        "--campaign",
        HOSTILE_CAMPAIGN,
        "--recipient",
        "dave@example.com",
        "--expires",
        "1s",
        "--html",
    ]);
    assert!(
        html.starts_with("<img src=\"http://127.0.0.1:") && html.contains("style=\"display:none\""),
        "{html}"
    );
    let open_expiring = token_of(html.split('"').nth(1).unwrap());
    let click_hostile = token_of(&work.ok(&[
        "mint",
        "click",
        "--campaign",
        HOSTILE_CAMPAIGN,
        "--recipient",
        "ana@example.com",
        "--label",
        "pricing",
        HOSTILE_TARGET,
    ]));
    let click_plain = token_of(&work.ok(&[
        "mint",
        "click",
        "--campaign",
        HOSTILE_CAMPAIGN,
        "--recipient",
        "bob@example.com",
        "--label",
        "docs",
        "https://example.org/docs",
    ]));
    let rows = pxtrack::manifest::read(&work.path("manifest.csv")).unwrap();
    let stored_target = rows
        .iter()
        .find(|r| r.token == click_hostile)
        .unwrap()
        .target
        .clone();
    assert_eq!(
        stored_target, "https://example.com/a$b;c\"d{e}f%g\\h/${uri}?q=%C3%BC&x='y'#frag",
        "only non-ASCII is percent-encoded"
    );
    // The secret never reaches the manifest.
    let key_text = std::fs::read_to_string(work.path("pxtrack.key")).unwrap();
    let secret = key_text
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap();
    assert!(
        !std::fs::read_to_string(work.path("manifest.csv"))
            .unwrap()
            .contains(secret)
    );
    Minted {
        work,
        port,
        opens,
        click_hostile,
        click_plain,
        open_expiring,
        stored_target,
    }
}

/// One request and what the analysis must say about it.
struct Case {
    method: &'static str,
    path: String,
    ua: &'static str,
    client: &'static str,
    status: u16,
    kind: &'static str,
    token_status: &'static str,
    class: &'static str,
    detail: &'static str,
}

/// Writes the nginx files for the work dir's manifest, serving on `port` and logging to
/// `logs/access.log` in pxtrack's format and, so that the analyzer's reading of the stock format
/// is checked too, to `combined` in `combined`. Returns what `pxtrack nginx` printed and the
/// config to include.
fn serve_in_both_formats(
    w: &Work,
    port: u16,
    combined: &std::path::Path,
) -> (String, std::path::PathBuf) {
    let out = w.ok(&[
        "nginx",
        "--out",
        "nginx",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--access-log",
        "logs/access.log",
    ]);
    std::fs::create_dir_all(w.path("logs")).unwrap();
    std::fs::create_dir_all(combined.parent().unwrap()).unwrap();
    let conf = w.path("nginx/pxtrack.conf");
    let text = std::fs::read_to_string(&conf).unwrap().replacen(
        "    access_log ",
        &format!(
            "    access_log \"{}\" combined;\n    access_log ",
            combined.display()
        ),
        1,
    );
    std::fs::write(&conf, text).unwrap();
    (out, conf)
}

#[test]
fn mint_serve_and_analyze_through_real_nginx() {
    let m = mint_everything();
    let w = &m.work;
    let port = m.port;

    let combined_log = w.path("combined/access.log");
    let (out, conf) = serve_in_both_formats(w, port, &combined_log);
    assert!(
        out.starts_with("include \"") && out.trim_end().ends_with("pxtrack.conf\";"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(w.path("nginx/pixel.png")).unwrap(),
        pxtrack::nginx::PIXEL_PNG
    );

    let nginx = Nginx::start(&w.path("prefix"), port, &conf, "");

    // A token signed with the right key that the manifest does not know.
    let keys = KeyRing::parse(
        &std::fs::read_to_string(w.path("pxtrack.key")).unwrap(),
        "key",
    )
    .unwrap();
    let stray = token::mint(TokenKind::Open, keys.active(), None);
    let mut tampered = m.click_hostile.clone().into_bytes();
    tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let o = |who: &str| format!("/o/{}.png", m.opens[who]);

    // Let the 1-second token expire before it is requested.
    std::thread::sleep(std::time::Duration::from_millis(2100));

    let cases = vec![
        Case {
            method: "GET",
            path: o("ana"),
            ua: THUNDERBIRD,
            client: "203.0.113.10",
            status: 200,
            kind: "open",
            token_status: "valid",
            class: "human",
            detail: "direct",
        },
        Case {
            method: "GET",
            path: o("ana"),
            ua: THUNDERBIRD,
            client: "203.0.113.10",
            status: 200,
            kind: "open",
            token_status: "valid",
            class: "duplicate",
            detail: "direct",
        },
        Case {
            method: "GET",
            path: o("bob"),
            ua: GMAIL,
            client: "66.249.93.1",
            status: 200,
            kind: "open",
            token_status: "valid",
            class: "proxy",
            detail: "gmail",
        },
        Case {
            method: "GET",
            path: o("bob"),
            ua: THUNDERBIRD,
            client: "2001:db8::5",
            status: 200,
            kind: "open",
            token_status: "valid",
            class: "human",
            detail: "direct",
        },
        Case {
            method: "GET",
            path: o("cara"),
            ua: "Mozilla/5.0",
            client: "172.224.226.9",
            status: 200,
            kind: "open",
            token_status: "valid",
            class: "proxy",
            detail: "apple-mpp",
        },
        Case {
            method: "HEAD",
            path: o("bob"),
            ua: FIREFOX,
            client: "192.0.2.70",
            status: 200,
            kind: "open",
            token_status: "valid",
            class: "bot",
            detail: "head-request",
        },
        Case {
            method: "GET",
            path: o("cara"),
            ua: "curl/8.5.0",
            client: "192.0.2.50",
            status: 200,
            kind: "open",
            token_status: "valid",
            class: "bot",
            detail: "curl",
        },
        Case {
            method: "GET",
            path: o("ana"),
            ua: FIREFOX,
            client: "198.51.100.7",
            status: 200,
            kind: "open",
            token_status: "valid",
            class: "internal",
            detail: "internal-network",
        },
        Case {
            method: "GET",
            path: format!("/o/{}.png", m.open_expiring),
            ua: FIREFOX,
            client: "203.0.113.11",
            // The map was written while the token was live: nginx stops serving it from the
            // next `pxtrack nginx`, analyze from the second it expired.
            status: 200,
            kind: "open",
            token_status: "expired",
            class: "invalid",
            detail: "expired",
        },
        Case {
            method: "GET",
            path: format!("/o/{stray}.png"),
            ua: FIREFOX,
            client: "203.0.113.12",
            // Genuinely signed, never minted into this manifest: not served.
            status: 404,
            kind: "open",
            token_status: "unknown",
            class: "invalid",
            detail: "unknown",
        },
        Case {
            method: "GET",
            path: format!("/c/{}", m.click_hostile),
            ua: FIREFOX,
            client: "203.0.113.10",
            status: 302,
            kind: "click",
            token_status: "valid",
            class: "human",
            detail: "direct",
        },
        Case {
            method: "GET",
            path: format!("/c/{}?utm_source=x", m.click_plain),
            ua: "python-requests/2.31.0",
            client: "192.0.2.60",
            status: 302,
            kind: "click",
            token_status: "valid",
            class: "bot",
            detail: "python-requests",
        },
        Case {
            method: "GET",
            path: format!("/c/{tampered}"),
            ua: FIREFOX,
            client: "203.0.113.13",
            status: 404,
            kind: "click",
            token_status: "forged",
            class: "invalid",
            detail: "forged",
        },
        Case {
            method: "GET",
            path: format!("/c/{}", m.opens["ana"]),
            ua: FIREFOX,
            client: "203.0.113.13",
            status: 404,
            kind: "click",
            token_status: "forged",
            class: "invalid",
            detail: "forged",
        },
        Case {
            method: "GET",
            path: "/favicon.ico".into(),
            ua: FIREFOX,
            client: "203.0.113.14",
            status: 404,
            kind: "other",
            token_status: "none",
            class: "invalid",
            detail: "no-token",
        },
        Case {
            method: "POST",
            path: o("bob"),
            ua: FIREFOX,
            client: "203.0.113.15",
            status: 403,
            kind: "open",
            token_status: "valid",
            class: "bot",
            detail: "unexpected-method",
        },
    ];

    for c in &cases {
        let r = request(
            port,
            c.method,
            &c.path,
            &[("User-Agent", c.ua), ("X-Forwarded-For", c.client)],
        );
        assert_eq!(r.status, c.status, "{} {}", c.method, c.path);
        if c.kind == "open" && c.status == 200 {
            assert_eq!(r.header_str("Content-Type").as_deref(), Some("image/png"));
            assert_eq!(
                r.header_str("Cache-Control").as_deref(),
                Some("no-store, no-cache, must-revalidate, private")
            );
            assert_eq!(r.header_str("Expires").as_deref(), Some("0"));
            if c.method == "GET" {
                assert_eq!(r.body, pxtrack::nginx::PIXEL_PNG);
            }
        }
        if c.path.starts_with(&format!("/c/{}", m.click_hostile)) {
            // Byte for byte the URL that was minted: no variable expanded, nothing re-encoded.
            assert_eq!(r.header("Location"), Some(m.stored_target.as_bytes()));
        }
        if c.path.starts_with(&format!("/c/{}", m.click_plain)) {
            assert_eq!(
                r.header_str("Location").as_deref(),
                Some("https://example.org/docs")
            );
        }
        if c.status == 404 {
            assert!(r.header("Location").is_none(), "never an open redirect");
        }
    }
    // Junk on the wire: a TLS hello, an HTTP/2 preface. nginx answers 400 and logs them.
    let tls = raw(port, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03hello");
    assert!(
        tls.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&tls)
    );
    raw(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    util::wait_for_lines(&w.path("logs/access.log"), cases.len() + 2);
    util::wait_for_lines(&combined_log, cases.len() + 2);
    drop(nginx);

    // A line that is not a log line at all, in a rotated, gzipped file of the same directory.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"this is not an access log line\n").unwrap();
    std::fs::write(w.path("logs/access.log.1.gz"), gz.finish().unwrap()).unwrap();

    // A file with no access-log line in it makes the run incomplete: the report is written,
    // and the exit status is 1.
    let out = w.run(&["analyze", "logs", "--out", "report"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("logs/access.log.1.gz: none of its 1 line(s) is an nginx access-log line"),
        "{err}"
    );
    let summary = String::from_utf8(out.stdout).unwrap();
    let events = read_events(&w.path("report/events.csv"));
    let n = cases.len();
    assert_eq!(
        events.len(),
        n + 2,
        "every request, plus two junk lines: {summary}"
    );
    for (c, e) in cases.iter().zip(&events) {
        let got = (
            e["kind"].as_str(),
            e["token_status"].as_str(),
            e["class"].as_str(),
            e["detail"].as_str(),
        );
        assert_eq!(
            got,
            (c.kind, c.token_status, c.class, c.detail),
            "{} {} from {}",
            c.method,
            c.path,
            c.client
        );
        assert_eq!(e["ip"], c.client);
        assert_eq!(e["method"], c.method);
        assert_eq!(e["status"], c.status.to_string());
        assert_eq!(e["user_agent"], c.ua);
        assert!(
            e["time"].ends_with('Z') && e["time"].contains('T'),
            "{}",
            e["time"]
        );
        if c.token_status == "valid" || c.token_status == "expired" {
            assert_eq!(e["campaign"], HOSTILE_CAMPAIGN);
        }
    }
    for e in &events[n..] {
        assert_eq!(
            (
                e["kind"].as_str(),
                e["class"].as_str(),
                e["status"].as_str()
            ),
            ("other", "invalid", "400")
        );
    }
    assert_eq!(events[10]["target"], m.stored_target);
    assert_eq!(events[0]["recipient"], "ana@example.com");
    assert!(
        summary.contains(&format!(
            "{} lines: {} hits, 3 other requests, 1 rejected line",
            n + 3,
            n - 1
        )),
        "{summary}"
    );
    // In people: ana, bob (via Gmail, then directly over IPv6) and cara (only via Apple's
    // proxy) opened; ana clicked; dave's token had expired. The bots are not counted.
    assert!(
        summary.contains(
            "<script>alert(1)</script> & \"Q4\": 3 of 4 opened (1 only through mail proxies), 1 clicked; "
        ),
        "{summary}"
    );

    let index = std::fs::read_to_string(w.path("report/index.html")).unwrap();
    assert!(
        !index.contains("<script>alert"),
        "campaign name must be escaped"
    );
    assert!(index.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; &quot;Q4&quot;"));
    assert!(index.contains("The totals reconcile"));
    let rejected = std::fs::read_to_string(w.path("report/rejected.html")).unwrap();
    assert!(
        rejected.contains("this is not an access log line"),
        "rejected example shown"
    );
    let page = util::campaign_page(&w.path("report"));
    assert!(
        page.contains("Thunderbird/128.3.0") && page.contains("66.249.93.1"),
        "the hit log lists raw hits"
    );
    assert!(!page.contains("<script>alert"));
    // The campaign's headline figures: ana (human), bob (Gmail proxy, then human over IPv6) and
    // cara (Apple MPP) opened; dave's only open came after his token expired.
    for (n, figure) in [
        (4, "recipients"),
        (3, "unique_opens"),
        (2, "unique_human_opens"),
        (4, "machine_opens"),
        (1, "unique_clicks"),
        (1, "total_clicks"),
        (4, "total_opens"),
        (2, "human_opens"),
        (2, "proxy_opens"),
    ] {
        let shown = format!("data-figure=\"{figure}\">{n}<");
        assert!(page.contains(&shown), "campaign page lacks {shown:?}");
    }
    // People first: the page opens with the answer, person by person.
    assert!(
        page.contains("3 of 4\nrecipients opened")
            || page.contains(">3</span> of <span data-figure=\"recipients\">4</span>")
    );
    assert!(page.find("id=\"people\"") < page.find("id=\"figures\""));

    // The same nginx's `combined` log gives the same classes (it lacks only the extra headers).
    let summary = w.ok(&["analyze", "combined", "--out", "report-combined"]);
    let combined = read_events(&w.path("report-combined/events.csv"));
    assert_eq!(combined.len(), events.len(), "{summary}");
    for (a, b) in events.iter().zip(&combined).take(n) {
        assert_eq!(
            (&a["class"], &a["detail"], &a["ip"]),
            (&b["class"], &b["detail"], &b["ip"])
        );
    }
}

#[test]
fn nginx_config_survives_hostile_targets_and_labels() {
    // Every character nginx gives meaning to, in one target; nginx -t must accept the config and
    // the redirect must carry the target unchanged.
    let m = mint_everything();
    let w = &m.work;
    let weird = "https://example.com/;}{$host$1${x}\\\\\"'%00%zz#;include/etc/passwd;";
    let t = token_of(&w.ok(&[
        "mint",
        "click",
        "--campaign",
        "c;}{",
        "--recipient",
        "r",
        "--label",
        "l\"}",
        weird,
    ]));
    let port = m.port;
    w.ok(&[
        "nginx",
        "--out",
        "nginx",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--access-log",
        "access.log",
    ]);
    let _nginx = Nginx::start(&w.path("prefix"), port, &w.path("nginx/pxtrack.conf"), "");
    let r = request(port, "GET", &format!("/c/{t}"), &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some(weird.as_bytes()));
}

#[test]
fn mint_refuses_bad_targets_and_writes_nothing() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com"]);
    let before = std::fs::read(w.path("manifest.csv")).unwrap();
    for bad in [
        "ftp://example.com/",
        "example.com/x",
        "https://example.com/a b",
        "https://example.com/\u{7}",
        "javascript:alert(1)",
    ] {
        let out = w.run(&["mint", "click", "--campaign", "c", "--recipient", "r", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("target URL"), "{err}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(std::fs::read(w.path("manifest.csv")).unwrap(), before);
}

#[test]
fn nginx_conf_example_passes_nginx_t() {
    // The example at the repository root, with its paths pointed at a scratch directory.
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com"]);
    let out_dir = w.path("etc-pxtrack");
    let port = free_port();
    w.ok(&[
        "nginx",
        "--out",
        out_dir.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--access-log",
        "access.log",
    ]);
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/nginx.conf.example"))
            .unwrap();
    let prefix = w.path("prefix");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let conf = example
        .replace("/etc/pxtrack/nginx", out_dir.to_str().unwrap())
        .replace("/var/log/nginx", prefix.join("logs").to_str().unwrap())
        .replace("/run/nginx.pid", prefix.join("nginx.pid").to_str().unwrap())
        .replace("user www-data;", "")
        // Dynamic modules load relative to the prefix; pxtrack needs none of them.
        .replace("include /etc/nginx/modules-enabled/*.conf;", "");
    let conf_path = w.path("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let out = std::process::Command::new(util::nginx_binary())
        .arg("-t")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .output()
        .unwrap();
    util::succeeded(out);
}

/// Whatever a client puts into the fields nginx logs (an Authorization user with spaces,
/// brackets and quotes, a target with a space, quotes and backslashes and non-ASCII bytes in
/// headers, a junk request line), every line the real nginx writes, in pxtrack's format and in
/// `combined`, is read as a log line: none is rejected.
#[test]
fn every_line_nginx_writes_for_hostile_requests_is_a_log_line() {
    use base64::Engine as _;
    let w = Work::new();
    let port = free_port();
    w.ok(&["init", "--base-url", &format!("http://127.0.0.1:{port}")]);
    let pixel = format!("/o/{}.png", util::mint_pixel(&w));
    let pixel = pixel.as_str();
    let (_, conf) = serve_in_both_formats(&w, port, &w.path("logs/combined.log"));
    let nginx = Nginx::start(&w.path("prefix"), port, &conf, "");

    let basic = |user: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:secret"))
        )
    };
    let host = format!("Host: 127.0.0.1:{port}\r\nConnection: close\r\n");
    let mut requests: Vec<Vec<u8>> = vec![
        format!(
            "GET {pixel} HTTP/1.1\r\n{host}Authorization: {}\r\n\r\n",
            basic("a b] [c\"d\\e - [01/Jan/2020:00:00:00 +0000] \"")
        )
        .into_bytes(),
        format!("GET {pixel}?q=a b HTTP/1.1\r\n{host}\r\n").into_bytes(),
        format!("GET /o/x y.png HTTP/1.1\r\n{host}\r\n").into_bytes(),
        format!(
            "GET {pixel} HTTP/1.1\r\n{host}User-Agent: Mozilla/5.0 \"quoted\" \\back\\ [x] \t tab\r\n\
             Referer: http://example.com/\"><script>\r\n\r\n"
        )
        .into_bytes(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: ".to_vec(),
    ];
    // Non-ASCII bytes in a header value.
    let mut latin = format!("GET {pixel} HTTP/1.1\r\n{host}User-Agent: caf").into_bytes();
    latin.extend_from_slice(b"\xe9 \xff\xfe\r\nX-Requested-With: \xc3\xa9\r\n\r\n");
    requests.push(latin);
    // A user of the Authorization header that is not valid base64, and one with a tab.
    requests.push(
        format!("GET {pixel} HTTP/1.1\r\n{host}Authorization: Basic !!!\r\n\r\n").into_bytes(),
    );
    requests.push(
        format!(
            "GET {pixel} HTTP/1.1\r\n{host}Authorization: {}\r\n\r\n",
            basic("tab\there")
        )
        .into_bytes(),
    );
    for r in &requests {
        let _ = raw(port, r);
    }
    let n = requests.len();
    wait_for_lines(&w.path("logs/access.log"), n);
    wait_for_lines(&w.path("logs/combined.log"), n);
    drop(nginx);
    // The hostile user did reach the log as nginx's $remote_user (up to its first colon, as
    // Basic authentication splits user and password), spaces, brackets and a fake time and all.
    let combined =
        String::from_utf8_lossy(&std::fs::read(w.path("logs/combined.log")).unwrap()).into_owned();
    assert!(
        combined.contains(" - a b] [c\\x22d\\x5Ce - [01/Jan/2020 ["),
        "{combined}"
    );

    for log in ["logs/access.log", "logs/combined.log"] {
        let out = w.ok(&["analyze", log, "--out", "report", "--quiet"]);
        assert_eq!(out, "");
        let summary = std::fs::read_to_string(w.path("report/summary.json")).unwrap();
        let lines = std::fs::read_to_string(w.path(log)).unwrap_or_else(|_| {
            String::from_utf8_lossy(&std::fs::read(w.path(log)).unwrap()).into_owned()
        });
        assert!(
            summary.contains("\"rejected\": 0,"),
            "{log} has rejected lines:\n{lines}\n{summary}"
        );
        assert!(summary.contains(&format!("\"lines\": {n},")), "{summary}");
    }
}
