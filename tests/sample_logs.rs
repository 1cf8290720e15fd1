//! The bundled sample (`sample-logs/`): a check that it still covers every class, and the
//! generator that made it by running the real flow against nginx.
//!
//! Regenerate with `cargo test --test sample_logs -- --ignored regenerate_sample_logs`.

mod util;

use std::collections::BTreeSet;
use std::path::Path;

use util::{Nginx, Work, free_port, raw, read_events, request};

#[test]
fn sample_covers_every_class_and_reconciles() {
    let w = Work::new();
    let out = w.ok(&["analyze", "--demo", "--out", "demo"]);
    let events = read_events(&w.path("demo/events.csv"));
    let classes: BTreeSet<&str> = events.iter().map(|e| e["class"].as_str()).collect();
    for c in [
        "human",
        "proxy",
        "scanner",
        "bot",
        "duplicate",
        "internal",
        "invalid",
    ] {
        assert!(classes.contains(c), "sample lacks class {c}");
    }
    let statuses: BTreeSet<&str> = events.iter().map(|e| e["token_status"].as_str()).collect();
    for s in ["valid", "forged", "expired", "unknown", "none"] {
        assert!(statuses.contains(s), "sample lacks token status {s}");
    }
    let index = std::fs::read_to_string(w.path("demo/index.html")).unwrap();
    assert!(index.contains("The totals reconcile"), "{out}");
    assert!(
        index.contains("id=\"rejected\""),
        "sample shows rejected lines"
    );
    assert!(out.contains("rejected lines"), "{out}");
}

// ------------------------------------------------------------------------------- the generator

const DEMO_KEY_HEADER: &str = "\
# DEMO KEY. It is published in the pxtrack repository and signs only the bundled sample logs.
# Never use it for real mail: run `pxtrack init` for a key of your own.
";

const OUTLOOK: &str = "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; ms-office; MSOffice 16)";
const APPLE_MAIL: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)";
const IOS_MAIL: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const THUNDERBIRD: &str =
    "Mozilla/5.0 (X11; Linux i686; rv:17.0) Gecko/20130330 Thunderbird/17.0.5";
const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
const SAMSUNG_WEBVIEW: &str = "Mozilla/5.0 (Linux; Android 13; SM-S911B; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/132.0.6834.163 Mobile Safari/537.36";
const FIREFOX: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
const GMAIL_PROXY: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
const GMAIL_PREFETCH: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0";
const YAHOO_PROXY: &str =
    "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html";
const BARRACUDA: &str = "Barracuda Sentinel (EE)";
const BINGPREVIEW: &str =
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b";
const SLACKBOT: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";

/// One request of the scenario.
struct Req {
    method: &'static str,
    path: String,
    ua: &'static str,
    client: String,
    extra: Vec<(&'static str, &'static str)>,
}

fn get(path: String, ua: &'static str, client: &str) -> Req {
    Req {
        method: "GET",
        path,
        ua,
        client: client.to_string(),
        extra: vec![],
    }
}

fn send(port: u16, reqs: &[Req]) {
    for r in reqs {
        let mut headers = vec![("User-Agent", r.ua), ("X-Forwarded-For", r.client.as_str())];
        headers.extend(r.extra.iter().copied());
        request(port, r.method, &r.path, &headers);
    }
}

fn tokens(urls: &str) -> Vec<String> {
    urls.lines()
        .map(|u| {
            u.rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".png")
                .to_string()
        })
        .collect()
}

/// Runs nginx with the generated config writing `format` to `log`, sends `reqs`, stops nginx.
fn phase(w: &Work, port: u16, log: &Path, format: &str, reqs: &[Req], junk: bool) {
    let before = std::fs::read(log)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0);
    w.ok(&[
        "nginx",
        "--out",
        "nginx",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--access-log",
        log.to_str().unwrap(),
    ]);
    let conf = w.path("nginx/pxtrack.conf");
    if format != "pxtrack" {
        let text = std::fs::read_to_string(&conf).unwrap();
        std::fs::write(&conf, text.replace("\" pxtrack;", &format!("\" {format};"))).unwrap();
    }
    let nginx = Nginx::start(&w.path("prefix"), port, &conf, "");
    send(port, reqs);
    if junk {
        raw(
            port,
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x8e\x21",
        );
        raw(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    }
    util::wait_for_lines(log, before + reqs.len() + if junk { 2 } else { 0 });
    drop(nginx);
}

#[test]
#[ignore = "writes sample-logs/; run by hand to regenerate the bundled sample"]
fn regenerate_sample_logs() {
    use base64::Engine as _;
    use sha2::Digest as _;

    let w = Work::new();
    let port = free_port();
    w.ok(&[
        "init",
        "--dir",
        ".",
        "--base-url",
        &format!("http://127.0.0.1:{port}"),
    ]);
    // A fixed, public demo key, so regenerating keeps the sample verifiable with the same file.
    let secret = sha2::Sha256::digest(b"pxtrack demo key: public, for the bundled sample only");
    let key_text = format!(
        "{DEMO_KEY_HEADER}1 {}\n",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    std::fs::write(w.path("pxtrack.key"), &key_text).unwrap();
    w.edit(
        "pxtrack.toml",
        "real_ip_from = []",
        "real_ip_from = [\"127.0.0.1\"]",
    );
    w.edit(
        "pxtrack.toml",
        "internal_networks = []",
        "internal_networks = [\"198.51.100.0/24\"]",
    );

    // Campaign 1: a product launch to 8 people, logged in nginx's stock `combined` format.
    let launch: Vec<String> = (1..=8)
        .map(|i| format!("customer{i}@example.com"))
        .collect();
    std::fs::write(w.path("launch.txt"), launch.join("\n")).unwrap();
    let l_open = tokens(&w.ok(&[
        "mint",
        "open",
        "--campaign",
        "product-launch",
        "--recipients",
        "launch.txt",
    ]));
    let l_buy = tokens(&w.ok(&[
        "mint",
        "click",
        "--campaign",
        "product-launch",
        "--recipients",
        "launch.txt",
        "--label",
        "buy",
        "https://shop.example.com/new?ref=mail",
    ]));
    let l_expiring = tokens(&w.ok(&[
        "mint",
        "open",
        "--campaign",
        "product-launch",
        "--recipient",
        "late@example.com",
        "--expires",
        "1s",
    ]));

    // Campaign 2: an autumn newsletter to 20 people, logged in pxtrack's format.
    let news: Vec<String> = [
        "ana", "bruno", "chen", "dara", "emil", "fatima", "gus", "hana", "ivo", "jo", "kemal",
        "lea", "marta", "nils", "olu", "pia", "quentin", "rosa", "sven", "tara",
    ]
    .iter()
    .map(|n| format!("{n}@example.org"))
    .collect();
    std::fs::write(w.path("news.txt"), news.join("\n")).unwrap();
    let n_open = tokens(&w.ok(&[
        "mint",
        "open",
        "--campaign",
        "autumn-newsletter",
        "--recipients",
        "news.txt",
    ]));
    let n_read = tokens(&w.ok(&[
        "mint",
        "click",
        "--campaign",
        "autumn-newsletter",
        "--recipients",
        "news.txt",
        "--label",
        "article",
        "https://blog.example.org/autumn?utm_source=newsletter&utm_medium=email",
    ]));
    let n_event = tokens(&w.ok(&[
        "mint",
        "click",
        "--campaign",
        "autumn-newsletter",
        "--recipients",
        "news.txt",
        "--label",
        "event",
        "https://events.example.org/register/42",
    ]));
    let keys = pxtrack::token::KeyRing::parse(&key_text, "demo").unwrap();
    let stray = pxtrack::token::mint(pxtrack::token::TokenKind::Open, keys.active(), None);
    std::thread::sleep(std::time::Duration::from_millis(2100));

    let o = |t: &str| format!("/o/{t}.png");
    let c = |t: &str| format!("/c/{t}");
    std::fs::create_dir_all(w.path("logs")).unwrap();

    // Phase 1 (oldest, rotated and gzipped later): product-launch, combined format.
    let mut p1 = vec![];
    for (i, t) in l_open.iter().enumerate() {
        let ip = format!("203.0.113.{}", 20 + i);
        match i % 4 {
            0 => p1.push(get(o(t), OUTLOOK, &ip)),
            1 => {
                p1.push(get(o(t), GMAIL_PREFETCH, "108.177.2.33"));
                p1.push(get(o(t), GMAIL_PROXY, "66.249.93.12"));
            }
            2 => p1.push(get(o(t), "Mozilla/5.0", &format!("172.224.226.{}", 10 + i))),
            _ => {}
        }
    }
    for (i, t) in l_buy.iter().enumerate() {
        if i % 3 == 0 {
            p1.push(Req {
                method: "HEAD",
                ..get(c(t), BARRACUDA, "209.222.82.17")
            });
            p1.push(get(c(t), BARRACUDA, "209.222.82.17"));
        }
        if i % 2 == 0 {
            p1.push(get(c(t), SAFARI, &format!("203.0.113.{}", 20 + i)));
        }
    }
    p1.push(get(o(&l_expiring[0]), FIREFOX, "203.0.113.90"));
    p1.push(get(c(&l_buy[1]), SLACKBOT, "192.0.2.77"));
    phase(
        &w,
        port,
        &w.path("logs/access.log.2"),
        "combined",
        &p1,
        false,
    );

    // Phase 2: the newsletter goes out; proxies, scanners and the first readers.
    let mut p2 = vec![get(o(&n_open[0]), OUTLOOK, "198.51.100.7")]; // the sender's own test view
    for (i, t) in n_open.iter().enumerate() {
        let ip = format!("203.0.113.{}", 100 + i);
        match i % 5 {
            0 => {
                p2.push(get(o(t), "Mozilla/5.0", &format!("172.224.227.{}", i)));
                p2.push(get(o(t), APPLE_MAIL, &ip));
            }
            1 => {
                p2.push(get(o(t), GMAIL_PROXY, "66.249.93.40"));
                p2.push(get(o(t), GMAIL_PROXY, "66.249.93.40"));
            }
            2 => p2.push(get(o(t), THUNDERBIRD, &ip)),
            3 => {
                for _ in 0..3 {
                    p2.push(get(o(t), YAHOO_PROXY, "98.136.0.21"));
                }
            }
            _ => {}
        }
    }
    for i in [4usize, 9] {
        p2.push(get(c(&n_read[i]), BINGPREVIEW, "40.77.167.5"));
        p2.push(get(c(&n_event[i]), BINGPREVIEW, "40.77.167.5"));
    }
    phase(
        &w,
        port,
        &w.path("logs/access.log.1"),
        "pxtrack",
        &p2,
        false,
    );

    // Phase 3 (current log): clicks, a reader on a Samsung phone, prefetches, probes and junk.
    let mut p3 = vec![];
    for (i, t) in n_read.iter().enumerate() {
        let ip = format!("203.0.113.{}", 100 + i);
        match i % 5 {
            1 => p3.push(get(c(t), CHROME_ANDROID, &ip)),
            2 => {
                p3.push(get(c(t), FIREFOX, &ip));
                p3.push(get(c(&n_event[i]), FIREFOX, &ip));
            }
            _ => {}
        }
    }
    p3.push(Req {
        extra: vec![
            ("X-Requested-With", "com.samsung.android.email.provider"),
            ("Accept-Language", "de-DE,de;q=0.9"),
        ],
        ..get(o(&n_open[7]), SAMSUNG_WEBVIEW, "203.0.113.150")
    });
    p3.push(get(o(&n_open[10]), IOS_MAIL, "203.0.113.151"));
    p3.push(Req {
        extra: vec![("Sec-Purpose", "prefetch")],
        ..get(c(&n_read[12]), CHROME_ANDROID, "203.0.113.152")
    });
    p3.push(get(c(&n_read[12]), CHROME_ANDROID, "203.0.113.152"));
    p3.push(get(o(&n_open[13]), "curl/8.5.0", "192.0.2.10"));
    p3.push(get(o(&n_open[13]), "python-requests/2.31.0", "192.0.2.11"));
    // Forged, unknown and wrong-kind tokens, and requests that are not for tracked URLs at all.
    let mut forged = n_read[3].clone().into_bytes();
    forged[25] = if forged[25] == b'x' { b'y' } else { b'x' };
    p3.push(get(
        c(&String::from_utf8(forged).unwrap()),
        FIREFOX,
        "192.0.2.20",
    ));
    p3.push(get(c(&n_open[3]), FIREFOX, "192.0.2.20"));
    p3.push(get(
        o("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        FIREFOX,
        "192.0.2.21",
    ));
    p3.push(get(o(&stray), FIREFOX, "192.0.2.22"));
    p3.push(get("/favicon.ico".into(), SAFARI, "203.0.113.101"));
    p3.push(get(
        "/wp-login.php".into(),
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; http://nmap.org/book/nse.html)",
        "192.0.2.30",
    ));
    p3.push(get("/.env".into(), "", "192.0.2.31"));
    p3.push(get(
        "/?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E".into(),
        "<script>alert(\"ua\")</script>",
        "192.0.2.32",
    ));
    phase(&w, port, &w.path("logs/access.log"), "pxtrack", &p3, true);

    // logrotate's delaycompress leaves .1 plain and compresses older files.
    let p1_bytes = std::fs::read(w.path("logs/access.log.2")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &p1_bytes).unwrap();
    // Lines that are not access-log lines: a write cut short by a full disk, and an error-log
    // line that a misconfigured logger sent to the same file.
    let mut current = std::fs::read(w.path("logs/access.log")).unwrap();
    current.extend_from_slice(b"203.0.113.5 - - [23/Nov/2026:09:14:0\n");
    current.extend_from_slice(b"2026/11/23 09:14:07 [error] 1234#1234: *1 open() \"/srv/www/favicon.ico\" failed (2: No such file or directory)\n");

    let dest = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let logs = dest.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("access.log.2.gz"), gz.finish().unwrap()).unwrap();
    std::fs::copy(w.path("logs/access.log.1"), logs.join("access.log.1")).unwrap();
    std::fs::write(logs.join("access.log"), current).unwrap();
    std::fs::copy(w.path("manifest.csv"), dest.join("manifest.csv")).unwrap();
    std::fs::write(dest.join("pxtrack.key"), key_text).unwrap();
    let config = std::fs::read_to_string(w.path("pxtrack.toml"))
        .unwrap()
        .replace(&format!("http://127.0.0.1:{port}"), "https://t.example.com")
        .replace(
            "server_name = \"127.0.0.1\"",
            "server_name = \"t.example.com\"",
        )
        .replace(
            "logs = [\"/var/log/nginx/pxtrack.access.log\"]",
            "logs = [\"logs/access.log\"]",
        );
    std::fs::write(dest.join("pxtrack.toml"), config).unwrap();
}
