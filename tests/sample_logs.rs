//! The bundled sample (`sample-logs/`): a check that it still covers every class, and the
//! generator that made it by running the real flow against nginx.
//!
//! Regenerate with `cargo test --test sample_logs -- --ignored regenerate_sample_logs`.

mod util;

use std::collections::BTreeSet;
use std::path::Path;

use util::{Clock, Nginx, Work, free_port, raw, read_events, request};

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

/// One request of the scenario, at a time of the sample's week (`YYYY-MM-DD HH:MM:SS`, UTC).
struct Req {
    at: String,
    method: &'static str,
    path: String,
    ua: &'static str,
    client: String,
    extra: Vec<(&'static str, &'static str)>,
}

/// `2026-11-DD HH:MM:SS` plus `secs`.
fn at(day: u32, hh: u32, mm: u32, secs: i64) -> String {
    let t = chrono::NaiveDate::from_ymd_opt(2026, 11, day)
        .unwrap()
        .and_hms_opt(hh, mm, 0)
        .unwrap()
        + chrono::Duration::seconds(secs);
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn get(at: String, path: String, ua: &'static str, client: &str) -> Req {
    Req {
        at,
        method: "GET",
        path,
        ua,
        client: client.to_string(),
        extra: vec![],
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

/// Runs pxtrack on the sample's clock.
fn px(w: &Work, clock: &Clock, args: &[&str]) -> String {
    let mut c = w.cmd();
    clock.apply(&mut c);
    let out = c.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs nginx on the sample's clock writing `format` to `log`, sends `reqs` in time order (moving
/// the clock before each), optionally junk on the wire, and stops nginx.
fn phase(
    w: &Work,
    clock: &Clock,
    port: u16,
    log: &Path,
    format: &str,
    mut reqs: Vec<Req>,
    junk: Option<String>,
) {
    px(
        w,
        clock,
        &[
            "nginx",
            "--out",
            "nginx",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--access-log",
            log.to_str().unwrap(),
        ],
    );
    let conf = w.path("nginx/pxtrack.conf");
    if format != "pxtrack" {
        let text = std::fs::read_to_string(&conf).unwrap();
        std::fs::write(&conf, text.replace("\" pxtrack;", &format!("\" {format};"))).unwrap();
    }
    reqs.sort_by(|a, b| a.at.cmp(&b.at));
    let nginx = Nginx::start_with_clock(&w.path("prefix"), port, &conf, "", Some(clock));
    for r in &reqs {
        clock.set(&r.at);
        let mut headers = vec![("User-Agent", r.ua), ("X-Forwarded-For", r.client.as_str())];
        headers.extend(r.extra.iter().copied());
        request(port, r.method, &r.path, &headers);
    }
    if let Some(t) = &junk {
        clock.set(t);
        raw(
            port,
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x8e\x21",
        );
        raw(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    }
    util::wait_for_lines(log, reqs.len() + if junk.is_some() { 2 } else { 0 });
    drop(nginx);
}

#[test]
#[ignore = "writes sample-logs/; run by hand (needs nginx and faketime) to regenerate the sample"]
fn regenerate_sample_logs() {
    use base64::Engine as _;
    use sha2::Digest as _;

    let w = Work::new();
    let port = free_port();
    let clock = Clock::new(w.dir.path(), &at(16, 8, 40, 0));
    px(
        &w,
        &clock,
        &[
            "init",
            "--dir",
            ".",
            "--base-url",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
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

    // Campaign 1, Monday 16 November: a product launch to 8 customers, logged in nginx's stock
    // `combined` format (before pxtrack's own format was set up).
    let launch: Vec<String> = (1..=8)
        .map(|i| format!("customer{i}@example.com"))
        .collect();
    std::fs::write(w.path("launch.txt"), launch.join("\n")).unwrap();
    let l_open = tokens(&px(
        &w,
        &clock,
        &[
            "mint",
            "open",
            "--campaign",
            "product-launch",
            "--recipients",
            "launch.txt",
        ],
    ));
    let l_buy = tokens(&px(
        &w,
        &clock,
        &[
            "mint",
            "click",
            "--campaign",
            "product-launch",
            "--recipients",
            "launch.txt",
            "--label",
            "buy",
            "https://shop.example.com/new?ref=mail",
        ],
    ));
    let l_expiring = tokens(&px(
        &w,
        &clock,
        &[
            "mint",
            "open",
            "--campaign",
            "product-launch",
            "--recipient",
            "late@example.com",
            "--expires",
            "1d",
        ],
    ));

    // Campaign 2, Wednesday 18 November: an autumn newsletter to 20 people.
    clock.set(&at(18, 7, 30, 0));
    let news: Vec<String> = [
        "ana", "bruno", "chen", "dara", "emil", "fatima", "gus", "hana", "ivo", "jo", "kemal",
        "lea", "marta", "nils", "olu", "pia", "quentin", "rosa", "sven", "tara",
    ]
    .iter()
    .map(|n| format!("{n}@example.org"))
    .collect();
    std::fs::write(w.path("news.txt"), news.join("\n")).unwrap();
    let n_open = tokens(&px(
        &w,
        &clock,
        &[
            "mint",
            "open",
            "--campaign",
            "autumn-newsletter",
            "--recipients",
            "news.txt",
        ],
    ));
    let n_read = tokens(&px(
        &w,
        &clock,
        &[
            "mint",
            "click",
            "--campaign",
            "autumn-newsletter",
            "--recipients",
            "news.txt",
            "--label",
            "article",
            "https://blog.example.org/autumn?utm_source=newsletter&utm_medium=email",
        ],
    ));
    let n_event = tokens(&px(
        &w,
        &clock,
        &[
            "mint",
            "click",
            "--campaign",
            "autumn-newsletter",
            "--recipients",
            "news.txt",
            "--label",
            "event",
            "https://events.example.org/register/42",
        ],
    ));
    let keys = pxtrack::token::KeyRing::parse(&key_text, "demo").unwrap();
    let stray = pxtrack::token::mint(pxtrack::token::TokenKind::Open, keys.active(), None);

    let o = |t: &str| format!("/o/{t}.png");
    let c = |t: &str| format!("/c/{t}");
    std::fs::create_dir_all(w.path("logs")).unwrap();

    // Phase 1: the launch goes out at 09:00 on the 16th. Rotated and gzipped later.
    let mut p1 = vec![];
    for (i, t) in l_open.iter().enumerate() {
        let i64i = i as i64;
        let ip = format!("203.0.113.{}", 20 + i);
        match i % 4 {
            0 => p1.push(get(at(16, 9, 0, 1800 + 2400 * i64i), o(t), OUTLOOK, &ip)),
            1 => {
                p1.push(get(
                    at(16, 9, 0, 8 + i64i),
                    o(t),
                    GMAIL_PREFETCH,
                    "108.177.2.33",
                ));
                p1.push(get(
                    at(16, 9, 0, 5400 + 900 * i64i),
                    o(t),
                    GMAIL_PROXY,
                    "66.249.93.12",
                ));
            }
            2 => p1.push(get(
                at(16, 9, 0, 20 + i64i),
                o(t),
                "Mozilla/5.0",
                &format!("172.224.226.{}", 10 + i),
            )),
            _ => {}
        }
    }
    for (i, t) in l_buy.iter().enumerate() {
        let i64i = i as i64;
        if i % 3 == 0 {
            p1.push(Req {
                method: "HEAD",
                ..get(at(16, 9, 0, 30 + i64i), c(t), BARRACUDA, "209.222.82.17")
            });
            p1.push(get(
                at(16, 9, 0, 31 + i64i),
                c(t),
                BARRACUDA,
                "209.222.82.17",
            ));
        }
        if i % 2 == 0 {
            p1.push(get(
                at(16, 9, 0, 2400 + 2400 * i64i),
                c(t),
                SAFARI,
                &format!("203.0.113.{}", 20 + i),
            ));
        }
    }
    p1.push(get(
        at(17, 20, 15, 0),
        o(&l_expiring[0]),
        FIREFOX,
        "203.0.113.90",
    ));
    p1.push(get(at(16, 14, 2, 0), c(&l_buy[1]), SLACKBOT, "192.0.2.77"));
    phase(
        &w,
        &clock,
        port,
        &w.path("logs/access.log.2"),
        "combined",
        p1,
        None,
    );

    // Phase 2: the newsletter goes out at 08:00 on the 18th: the sender's test view, proxies,
    // a link preview, and the first readers that day.
    let mut p2 = vec![get(
        at(18, 7, 45, 0),
        o(&n_open[0]),
        OUTLOOK,
        "198.51.100.7",
    )];
    for (i, t) in n_open.iter().enumerate() {
        let i64i = i as i64;
        let ip = format!("203.0.113.{}", 100 + i);
        match i % 5 {
            0 => {
                p2.push(get(
                    at(18, 8, 0, 5 + i64i),
                    o(t),
                    "Mozilla/5.0",
                    &format!("172.224.227.{i}"),
                ));
                p2.push(get(
                    at(18, 8, 0, 3 * 3600 + 600 * i64i),
                    o(t),
                    APPLE_MAIL,
                    &ip,
                ));
            }
            1 => {
                p2.push(get(
                    at(18, 8, 0, 1200 + 300 * i64i),
                    o(t),
                    GMAIL_PROXY,
                    "66.249.93.40",
                ));
                p2.push(get(
                    at(18, 8, 0, 1203 + 300 * i64i),
                    o(t),
                    GMAIL_PROXY,
                    "66.249.93.40",
                ));
            }
            2 => p2.push(get(
                at(18, 8, 0, 2 * 3600 + 400 * i64i),
                o(t),
                THUNDERBIRD,
                &ip,
            )),
            3 => {
                for k in 0..3 {
                    p2.push(get(
                        at(18, 8, 0, 900 + 60 * i64i + 2 * k),
                        o(t),
                        YAHOO_PROXY,
                        "98.136.0.21",
                    ));
                }
            }
            _ => {}
        }
    }
    for i in [4usize, 9] {
        p2.push(get(
            at(18, 8, 3, i as i64),
            c(&n_read[i]),
            BINGPREVIEW,
            "40.77.167.5",
        ));
        p2.push(get(
            at(18, 8, 3, i as i64),
            c(&n_event[i]),
            BINGPREVIEW,
            "40.77.167.5",
        ));
    }
    phase(
        &w,
        &clock,
        port,
        &w.path("logs/access.log.1"),
        "pxtrack",
        p2,
        None,
    );

    // Phase 3, the 19th and 20th: clicks, a reader on a Samsung phone, prefetches, probes, junk.
    let mut p3 = vec![];
    for (i, t) in n_read.iter().enumerate() {
        let i64i = i as i64;
        let ip = format!("203.0.113.{}", 100 + i);
        match i % 5 {
            1 => p3.push(get(at(19, 7, 30, 1500 * i64i), c(t), CHROME_ANDROID, &ip)),
            2 => {
                p3.push(get(at(19, 12, 10, 900 * i64i), c(t), FIREFOX, &ip));
                p3.push(get(
                    at(19, 12, 14, 900 * i64i),
                    c(&n_event[i]),
                    FIREFOX,
                    &ip,
                ));
            }
            _ => {}
        }
    }
    p3.push(Req {
        extra: vec![
            ("X-Requested-With", "com.samsung.android.email.provider"),
            ("Accept-Language", "de-DE,de;q=0.9"),
        ],
        ..get(
            at(19, 18, 22, 0),
            o(&n_open[7]),
            SAMSUNG_WEBVIEW,
            "203.0.113.150",
        )
    });
    p3.push(get(
        at(19, 21, 5, 0),
        o(&n_open[10]),
        IOS_MAIL,
        "203.0.113.151",
    ));
    p3.push(Req {
        extra: vec![("Sec-Purpose", "prefetch")],
        ..get(
            at(20, 8, 12, 0),
            c(&n_read[12]),
            CHROME_ANDROID,
            "203.0.113.152",
        )
    });
    p3.push(get(
        at(20, 8, 12, 40),
        c(&n_read[12]),
        CHROME_ANDROID,
        "203.0.113.152",
    ));
    p3.push(get(
        at(19, 3, 17, 0),
        o(&n_open[13]),
        "curl/8.5.0",
        "192.0.2.10",
    ));
    p3.push(get(
        at(19, 3, 17, 5),
        o(&n_open[13]),
        "python-requests/2.31.0",
        "192.0.2.11",
    ));
    // Forged, unknown and wrong-kind tokens, and requests that are not for tracked URLs at all.
    let mut forged = n_read[3].clone().into_bytes();
    forged[25] = if forged[25] == b'x' { b'y' } else { b'x' };
    p3.push(get(
        at(19, 10, 0, 0),
        c(&String::from_utf8(forged).unwrap()),
        FIREFOX,
        "192.0.2.20",
    ));
    p3.push(get(at(19, 10, 0, 30), c(&n_open[3]), FIREFOX, "192.0.2.20"));
    p3.push(get(
        at(19, 10, 5, 0),
        o("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        FIREFOX,
        "192.0.2.21",
    ));
    p3.push(get(at(19, 10, 6, 0), o(&stray), FIREFOX, "192.0.2.22"));
    p3.push(get(
        at(19, 12, 10, 2),
        "/favicon.ico".into(),
        SAFARI,
        "203.0.113.101",
    ));
    p3.push(get(
        at(20, 2, 44, 0),
        "/wp-login.php".into(),
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; http://nmap.org/book/nse.html)",
        "192.0.2.30",
    ));
    p3.push(get(at(20, 2, 44, 9), "/.env".into(), "", "192.0.2.31"));
    p3.push(get(
        at(20, 5, 1, 0),
        "/?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E".into(),
        "<script>alert(\"ua\")</script>",
        "192.0.2.32",
    ));
    phase(
        &w,
        &clock,
        port,
        &w.path("logs/access.log"),
        "pxtrack",
        p3,
        Some(at(20, 9, 30, 0)),
    );

    // logrotate's delaycompress leaves .1 plain and compresses older files.
    let p1_bytes = std::fs::read(w.path("logs/access.log.2")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &p1_bytes).unwrap();
    // Lines that are not access-log lines: a write cut short by a full disk, and an error-log
    // line that a misconfigured logger sent to the same file.
    let mut current = std::fs::read(w.path("logs/access.log")).unwrap();
    current.extend_from_slice(b"203.0.113.5 - - [20/Nov/2026:09:14:0\n");
    current.extend_from_slice(b"2026/11/20 09:14:07 [error] 1234#1234: *1 open() \"/srv/www/favicon.ico\" failed (2: No such file or directory)\n");

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
            "logs = [\"/var/log/pxtrack/access.log\"]",
            "logs = [\"logs/access.log\"]",
        )
        // The https deployment: certbot's paths for the demo host.
        .replace("# tls_", "tls_")
        .replace("# acme_webroot", "acme_webroot")
        .replace("/live/127.0.0.1/", "/live/t.example.com/");
    std::fs::write(dest.join("pxtrack.toml"), config).unwrap();
    write_demo_geoip(&dest.join("geoip"));
    let config = std::fs::read_to_string(dest.join("pxtrack.toml")).unwrap().replace(
        "# location = \"/var/lib/GeoIP/GeoLite2-City.mmdb\"\n# asn = \"/var/lib/GeoIP/GeoLite2-ASN.mmdb\"",
        "location = \"geoip/demo-City.mmdb\"\nasn = \"geoip/demo-ASN.mmdb\"",
    );
    std::fs::write(dest.join("pxtrack.toml"), config).unwrap();
}

/// Two small GeoIP databases for the demo, written with pxtrack's MMDB writer over the
/// documentation ranges the sample uses (and the providers' networks its machines come from).
/// They are made up for the demo: real databases come from MaxMind or DB-IP.
fn write_demo_geoip(dir: &Path) {
    use pxtrack::enrich::mmdb::{MmdbWriter, Value};
    std::fs::create_dir_all(dir).unwrap();
    let place = |cc: &str, city: &str| {
        Value::map([
            ("country", Value::map([("iso_code", Value::str(cc))])),
            (
                "city",
                Value::map([("names", Value::map([("en", Value::str(city))]))]),
            ),
        ])
    };
    let mut city = MmdbWriter::new("pxtrack-demo-City");
    for (net, cc, name) in [
        ("203.0.113.0/26", "DE", "Berlin"),
        ("203.0.113.64/26", "FR", "Lyon"),
        ("203.0.113.128/26", "US", "Portland"),
        ("203.0.113.192/26", "JP", "Osaka"),
        ("192.0.2.0/24", "NL", "Amsterdam"),
        ("198.51.100.0/24", "GB", "London"),
        ("66.249.64.0/19", "US", "Mountain View"),
        ("172.224.224.0/19", "GB", "London"),
        ("98.136.0.0/16", "US", "Sunnyvale"),
        ("40.77.0.0/16", "US", "Boydton"),
        ("209.222.82.0/24", "US", "Campbell"),
        ("108.177.0.0/17", "US", "Mountain View"),
    ] {
        city.insert(net.parse().unwrap(), place(cc, name));
    }
    std::fs::write(dir.join("demo-City.mmdb"), city.to_bytes()).unwrap();
    let mut asn = MmdbWriter::new("pxtrack-demo-ASN");
    for (net, n, org) in [
        ("66.249.64.0/19", 15169, "GOOGLE"),
        ("108.177.0.0/17", 15169, "GOOGLE"),
        ("172.224.224.0/19", 36183, "AKAMAI-AS"),
        ("98.136.0.0/16", 36647, "YAHOO-GQ1"),
        ("40.77.0.0/16", 8075, "MICROSOFT-CORP-MSN-AS-BLOCK"),
        ("209.222.82.0/24", 15324, "BARRACUDA"),
    ] {
        asn.insert(
            net.parse().unwrap(),
            Value::map([
                ("autonomous_system_number", Value::U32(n)),
                ("autonomous_system_organization", Value::str(org)),
            ]),
        );
    }
    std::fs::write(dir.join("demo-ASN.mmdb"), asn.to_bytes()).unwrap();
}
