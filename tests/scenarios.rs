//! Classification scenarios played through a real nginx whose clock is driven by libfaketime, so
//! "an hour later" takes no time. Each asserts the classes and the report's figures.

mod util;

use std::collections::HashMap;

use serde_json::Value;
use util::{Clock, Nginx, Work, free_port, read_events, request};

const START: &str = "2026-11-20 09:00:00";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHROME_OLD: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/72.0.3626.109 Safari/537.36";
const APPLE_MAIL: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)";
const GMAIL: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
const OUTLOOK: &str = "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; ms-office; MSOffice 16)";

struct Scenario {
    w: Work,
    port: u16,
    clock: Clock,
    nginx: Option<Nginx>,
    sent: usize,
}

impl Scenario {
    fn new() -> Self {
        let w = Work::new();
        let port = free_port();
        let clock = Clock::new(w.dir.path(), START);
        let s = Scenario {
            w,
            port,
            clock,
            nginx: None,
            sent: 0,
        };
        s.pxtrack(&[
            "init",
            "--dir",
            ".",
            "--base-url",
            &format!("http://127.0.0.1:{port}"),
        ]);
        s.w.edit(
            "pxtrack.toml",
            "real_ip_from = []",
            "real_ip_from = [\"127.0.0.1\"]",
        );
        s.w.edit(
            "pxtrack.toml",
            "internal_networks = []",
            "internal_networks = [\"198.51.100.0/24\"]",
        );
        s
    }

    /// Runs pxtrack on the scenario's clock.
    fn pxtrack(&self, args: &[&str]) -> String {
        let mut c = self.w.cmd();
        self.clock.apply(&mut c);
        let out = c.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn mint(&self, args: &[&str]) -> String {
        let out = self.pxtrack(args);
        let url = out.lines().next().unwrap();
        url.rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".png")
            .to_string()
    }

    fn serve(&mut self) {
        self.pxtrack(&[
            "nginx",
            "--out",
            "nginx",
            "--listen",
            &format!("127.0.0.1:{}", self.port),
            "--access-log",
            "logs/access.log",
        ]);
        std::fs::create_dir_all(self.w.path("logs")).unwrap();
        self.nginx = Some(Nginx::start_with_clock(
            &self.w.path("prefix"),
            self.port,
            &self.w.path("nginx/pxtrack.conf"),
            "",
            Some(&self.clock),
        ));
    }

    /// Sets the clock to START + `secs` and sends one request.
    fn at(&mut self, secs: i64, method: &str, path: &str, ua: &str, client: &str) -> u16 {
        self.clock.set_offset(START, secs);
        self.sent += 1;
        request(
            self.port,
            method,
            path,
            &[("User-Agent", ua), ("X-Forwarded-For", client)],
        )
        .status
    }

    /// Sets the clock to START + `secs` and sends one request with more headers.
    fn at_with(&mut self, secs: i64, path: &str, headers: &[(&str, &str)]) -> u16 {
        self.clock.set_offset(START, secs);
        self.sent += 1;
        request(self.port, "GET", path, headers).status
    }

    fn open(&mut self, secs: i64, token: &str, ua: &str, client: &str) {
        assert_eq!(
            self.at(secs, "GET", &format!("/o/{token}.png"), ua, client),
            200
        );
    }

    fn click(&mut self, secs: i64, token: &str, ua: &str, client: &str) {
        assert_eq!(
            self.at(secs, "GET", &format!("/c/{token}"), ua, client),
            302
        );
    }

    /// Stops nginx, analyzes its log; returns the events and `summary.json`.
    fn analyze(&mut self) -> (Vec<HashMap<String, String>>, Value) {
        util::wait_for_lines(&self.w.path("logs/access.log"), self.sent);
        self.nginx = None;
        self.pxtrack(&["analyze", "logs", "--out", "report"]);
        let events = read_events(&self.w.path("report/events.csv"));
        assert_eq!(events.len(), self.sent);
        let summary: Value =
            serde_json::from_slice(&std::fs::read(self.w.path("report/summary.json")).unwrap())
                .unwrap();
        (events, summary)
    }
}

fn classes(events: &[HashMap<String, String>]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e["class"].clone(), e["detail"].clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn figure(summary: &Value, campaign: &str, name: &str) -> u64 {
    summary["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == campaign)
        .unwrap_or_else(|| panic!("no campaign {campaign}"))[name]
        .as_u64()
        .unwrap()
}

#[test]
fn scanner_burst_at_delivery_then_a_real_click_an_hour_later() {
    let mut s = Scenario::new();
    let open = s.mint(&[
        "mint",
        "open",
        "--campaign",
        "launch",
        "--recipient",
        "ana@example.com",
    ]);
    let pricing = s.mint(&[
        "mint",
        "click",
        "--campaign",
        "launch",
        "--recipient",
        "ana@example.com",
        "--label",
        "pricing",
        "https://example.com/pricing",
    ]);
    let docs = s.mint(&[
        "mint",
        "click",
        "--campaign",
        "launch",
        "--recipient",
        "ana@example.com",
        "--label",
        "docs",
        "https://example.com/docs",
    ]);
    s.serve();
    // Delivery: Exchange Online Protection fetches the pixel and both links with a stock Chrome.
    s.open(20, &open, CHROME_OLD, "40.107.235.17");
    s.click(21, &pricing, CHROME_OLD, "40.107.235.17");
    s.click(21, &docs, CHROME_OLD, "40.107.235.17");
    // A gateway on no list sweeps both links within a second.
    s.click(40, &pricing, CHROME, "203.0.113.200");
    s.click(40, &docs, CHROME, "203.0.113.200");
    // An hour later the recipient reads the message and clicks one link.
    s.open(3600, &open, OUTLOOK, "192.0.2.44");
    s.click(3660, &pricing, CHROME, "192.0.2.44");
    let (events, summary) = s.analyze();
    assert_eq!(
        classes(&events),
        pairs(&[
            ("scanner", "microsoft-defender"),
            ("scanner", "microsoft-defender"),
            ("scanner", "microsoft-defender"),
            ("scanner", "click-burst"),
            ("scanner", "click-burst"),
            ("human", "direct"),
            ("human", "direct"),
        ])
    );
    assert_eq!(
        events[5]["time"], "2026-11-20T10:00:00.000Z",
        "nginx ran on the scenario's clock"
    );
    assert_eq!(figure(&summary, "launch", "unique_human_opens"), 1);
    assert_eq!(figure(&summary, "launch", "unique_human_clicks"), 1);
    assert_eq!(figure(&summary, "launch", "total_clicks"), 1);
    assert_eq!(figure(&summary, "launch", "machine_opens"), 1);
    assert_eq!(figure(&summary, "launch", "machine_hits"), 5);
}

#[test]
fn apple_mpp_prefetch_then_a_real_open() {
    let mut s = Scenario::new();
    std::fs::write(
        s.w.path("egress.csv"),
        "172.224.226.0/27,GB,GB-EN,London,\n",
    )
    .unwrap();
    s.w.edit(
        "pxtrack.toml",
        "# apple_relay_egress = \"egress-ip-ranges.csv\"",
        "apple_relay_egress = \"egress.csv\"",
    );
    let ana = s.mint(&[
        "mint",
        "open",
        "--campaign",
        "news",
        "--recipient",
        "ana@example.com",
    ]);
    let bo = s.mint(&[
        "mint",
        "open",
        "--campaign",
        "news",
        "--recipient",
        "bo@example.com",
    ]);
    let cy = s.mint(&[
        "mint",
        "open",
        "--campaign",
        "news",
        "--recipient",
        "cy@example.com",
    ]);
    s.serve();
    // Mail Privacy Protection fetches at delivery, with its bare user agent or from the relay.
    s.open(5, &ana, "Mozilla/5.0", "172.224.226.3");
    s.open(6, &bo, APPLE_MAIL, "172.224.226.4");
    s.open(7, &cy, APPLE_MAIL, "203.0.113.7");
    // Three hours later Ana opens it for real, directly.
    s.open(3 * 3600, &ana, APPLE_MAIL, "192.0.2.81");
    let (events, summary) = s.analyze();
    assert_eq!(
        classes(&events),
        pairs(&[
            ("proxy", "apple-mpp"),
            ("proxy", "apple-mpp"),
            ("human", "direct"),
            ("human", "direct"),
        ])
    );
    // Raw: three recipients opened. Estimated human: Ana (her later open) and Cy (Apple Mail
    // fetching directly, MPP off). Bo's only open is the prefetch.
    assert_eq!(figure(&summary, "news", "unique_opens"), 3);
    assert_eq!(figure(&summary, "news", "unique_human_opens"), 2);
    assert_eq!(figure(&summary, "news", "machine_opens"), 2);
    assert_eq!(figure(&summary, "news", "total_opens"), 4);
    // Bo's answer says what fetched the image, and that it cannot tell whether anyone looked.
    let page = util::campaign_page(&s.w.path("report"));
    assert!(page.contains("Apple Mail Privacy Protection fetched the image at delivery"));
    assert!(page.contains("sure-cannot-tell"));
}

#[test]
fn gmail_proxy_opens_with_repeats() {
    let mut s = Scenario::new();
    let t = s.mint(&[
        "mint",
        "open",
        "--campaign",
        "digest",
        "--recipient",
        "dee@gmail.example",
    ]);
    s.serve();
    s.open(120, &t, GMAIL, "66.249.93.40");
    s.open(122, &t, GMAIL, "66.249.93.40");
    s.open(130, &t, GMAIL, "66.249.93.40");
    // The next day she opens it again: a new proxy fetch, a second open.
    s.open(86_400, &t, GMAIL, "66.249.93.41");
    let (events, summary) = s.analyze();
    assert_eq!(
        classes(&events),
        pairs(&[
            ("proxy", "gmail"),
            ("duplicate", "gmail"),
            ("duplicate", "gmail"),
            ("proxy", "gmail")
        ])
    );
    assert_eq!(figure(&summary, "digest", "unique_opens"), 1);
    assert_eq!(
        figure(&summary, "digest", "unique_human_opens"),
        1,
        "a Gmail proxy open is a reader"
    );
    assert_eq!(figure(&summary, "digest", "total_opens"), 2);
    assert_eq!(figure(&summary, "digest", "machine_opens"), 0);
}

#[test]
fn internal_test_send() {
    let mut s = Scenario::new();
    let t = s.mint(&[
        "mint",
        "open",
        "--campaign",
        "promo",
        "--recipient",
        "me@example.com",
    ]);
    let l = s.mint(&[
        "mint",
        "click",
        "--campaign",
        "promo",
        "--recipient",
        "me@example.com",
        "https://example.com/",
    ]);
    s.serve();
    s.open(10, &t, OUTLOOK, "198.51.100.7");
    s.click(30, &l, CHROME, "198.51.100.7");
    let (events, summary) = s.analyze();
    assert_eq!(
        classes(&events),
        pairs(&[
            ("internal", "internal-network"),
            ("internal", "internal-network")
        ])
    );
    assert_eq!(figure(&summary, "promo", "unique_opens"), 0);
    assert_eq!(figure(&summary, "promo", "total_clicks"), 0);
}

#[test]
fn a_mutated_probe_then_the_real_url_is_a_scanner() {
    let mut s = Scenario::new();
    let l = s.mint(&[
        "mint",
        "click",
        "--campaign",
        "c",
        "--recipient",
        "r@example.com",
        "https://example.com/",
    ]);
    s.serve();
    // gophish/gophish#973: the scanner first requests a mutated URL, then the real one.
    assert_eq!(
        s.at(
            50,
            "GET",
            &format!("/c/{l}%27/"),
            CHROME_OLD,
            "203.0.113.90"
        ),
        404
    );
    s.click(50, &l, CHROME_OLD, "203.0.113.90");
    let (events, _) = s.analyze();
    assert_eq!(
        classes(&events),
        pairs(&[("invalid", "forged"), ("scanner", "link-probe")])
    );
}

#[test]
fn a_forwarded_message_clicked_from_another_country() {
    use pxtrack::enrich::mmdb::{MmdbWriter, Value};
    let mut s = Scenario::new();
    let place = |cc: &str| Value::map([("country", Value::map([("iso_code", Value::str(cc))]))]);
    let mut db = MmdbWriter::new("test-Country");
    db.insert("192.0.2.0/24".parse().unwrap(), place("DE"));
    db.insert("2001:db8::/32".parse().unwrap(), place("JP"));
    std::fs::write(s.w.path("country.mmdb"), db.to_bytes()).unwrap();
    s.w.edit(
        "pxtrack.toml",
        "# location = \"/var/lib/GeoIP/GeoLite2-City.mmdb\"",
        "location = \"country.mmdb\"",
    );
    let open = s.mint(&[
        "mint",
        "open",
        "--campaign",
        "offer",
        "--recipient",
        "ana@example.com",
    ]);
    let link = s.mint(&[
        "mint",
        "click",
        "--campaign",
        "offer",
        "--recipient",
        "ana@example.com",
        "https://example.com/offer",
    ]);
    s.serve();
    s.open(600, &open, OUTLOOK, "192.0.2.44");
    s.click(700, &link, CHROME, "192.0.2.44");
    // Two days later someone in Japan clicks: Ana forwarded it, or is travelling.
    s.click(2 * 86_400, &link, CHROME, "2001:db8::9");
    let (events, summary) = s.analyze();
    assert_eq!(
        classes(&events),
        pairs(&[
            ("human", "direct"),
            ("human", "direct"),
            ("human", "new-country")
        ])
    );
    assert!(events[2]["reason"].contains("from JP") && events[2]["reason"].contains("DE"));
    // Still counted: labelled, never dropped.
    assert_eq!(figure(&summary, "offer", "total_clicks"), 2);
    assert_eq!(figure(&summary, "offer", "unique_human_clicks"), 1);
    let page = util::campaign_page(&s.w.path("report"));
    assert!(
        page.contains("<td>DE</td>") && page.contains("<td>JP</td>"),
        "countries panel"
    );
}

#[test]
fn a_gmail_proxy_load_right_after_the_send_is_the_senders_copy() {
    let mut s = Scenario::new();
    std::fs::write(
        s.w.path("t.html"),
        "<html><body><p>Hi</p><a href=\"https://example.com/a\">A</a></body></html>",
    )
    .unwrap();
    // Prepared and stamped as sent at START.
    s.pxtrack(&[
        "rewrite",
        "t.html",
        "--campaign",
        "launch",
        "--recipient",
        "dee@gmail.example",
        "--out",
        "outbox",
        "--sent-at",
        "2026-11-20T09:00:00Z",
    ]);
    let copy = std::fs::read_to_string(s.w.path("outbox/0001-dee-gmail.example.html")).unwrap();
    let pixel = copy
        .split("/o/")
        .nth(1)
        .unwrap()
        .split(".png")
        .next()
        .unwrap()
        .to_string();
    s.serve();
    // 20 s after the send: the sender's Sent copy through Gmail's proxy.
    s.open(20, &pixel, GMAIL, "66.249.93.40");
    // An hour later: the recipient, through the same proxy.
    s.open(3_600, &pixel, GMAIL, "66.249.93.41");
    let (events, summary) = s.analyze();
    assert_eq!(
        classes(&events),
        pairs(&[("proxy", "sent-copy"), ("proxy", "gmail")])
    );
    assert!(
        events[0]["reason"].contains("20 s after the message was sent (send window 60 s)"),
        "{}",
        events[0]["reason"]
    );
    assert_eq!(figure(&summary, "launch", "unique_human_opens"), 1);
    assert_eq!(
        figure(&summary, "launch", "machine_opens"),
        1,
        "the load at the send is not the recipient's"
    );
    // The campaign page shows the send snapshot.
    let page = util::campaign_page(&s.w.path("report"));
    assert!(
        page.contains(
            "1 prepared by <code>pxtrack rewrite</code>, 1 sent at 2026-11-20 09:00:00 UTC"
        ),
        "{page}"
    );
    assert!(
        page.contains("<dt>Template</dt><dd>t.html (sha256 "),
        "{page}"
    );
}

/// Mints an open and two links for one recipient: (open, pricing, docs).
fn message(s: &Scenario, campaign: &str, recipient: &str) -> (String, String, String) {
    let link = |label: &str| {
        s.mint(&[
            "mint",
            "click",
            "--campaign",
            campaign,
            "--recipient",
            recipient,
            "--label",
            label,
            &format!("https://example.com/{label}"),
        ])
    };
    let open = s.mint(&[
        "mint",
        "open",
        "--campaign",
        campaign,
        "--recipient",
        recipient,
    ]);
    (open, link("pricing"), link("docs"))
}

#[test]
fn a_gateway_on_cloud_machines_outside_the_mail_protection_ranges() {
    let mut s = Scenario::new();
    // The operator downloaded Amazon's ip-ranges.json (here, a small file of the same format)
    // and named it: EC2 machines clicking near delivery are then scanners.
    std::fs::write(
        s.w.path("ip-ranges.json"),
        r#"{"syncToken": "1764547987", "createDate": "2026-11-30-21-13-07", "prefixes": [
            {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "AMAZON", "network_border_group": "ap-northeast-2"},
            {"ip_prefix": "18.196.0.0/15", "region": "eu-central-1", "service": "EC2", "network_border_group": "eu-central-1"}],
          "ipv6_prefixes": [{"ipv6_prefix": "2a05:d014::/36", "region": "eu-central-1", "service": "EC2", "network_border_group": "eu-central-1"}]}"#,
    )
    .unwrap();
    s.w.edit(
        "pxtrack.toml",
        "[classify]\n",
        "[classify.lists]\naws = \"ip-ranges.json\"\n\n[classify]\n",
    );
    let (open, pricing, docs) = message(&s, "launch", "ana@example.com");
    s.serve();
    // At delivery a gateway's sandbox on EC2 follows both links, three seconds apart (too slow
    // for the burst rule), with a stock browser; then Exchange Online's own servers check one.
    s.click(25, &pricing, CHROME, "18.197.40.2");
    s.click(28, &docs, CHROME, "18.197.40.3");
    s.click(31, &pricing, CHROME_OLD, "52.96.40.12");
    // An hour later Ana reads it and clicks.
    s.open(3600, &open, OUTLOOK, "192.0.2.44");
    s.click(3630, &docs, CHROME, "192.0.2.44");
    let (events, summary) = s.analyze();
    assert_eq!(
        classes(&events),
        pairs(&[
            ("scanner", "cloud-network"),
            ("scanner", "cloud-network"),
            ("scanner", "microsoft-exchange-online"),
            ("human", "direct"),
            ("human", "direct"),
        ])
    );
    let certainty: Vec<&str> = events.iter().map(|e| e["certainty"].as_str()).collect();
    assert_eq!(
        certainty,
        ["probable", "probable", "probable", "probable", "probable"]
    );
    assert!(
        events[0]["reason"].contains("delivery window"),
        "{}",
        events[0]["reason"]
    );
    assert_eq!(figure(&summary, "launch", "unique_human_clicks"), 1);
    assert_eq!(figure(&summary, "launch", "total_clicks"), 1);
    assert_eq!(figure(&summary, "launch", "machine_hits"), 3);
    // The report shows the verdict's certainty beside its reason.
    let page = util::campaign_page(&s.w.path("report"));
    assert!(
        page.contains("(probable)</span>"),
        "no certainty on the campaign page"
    );
}

#[test]
fn prefetch_proxies_fetch_the_link_before_the_reader() {
    let mut s = Scenario::new();
    let (open, pricing, _) = message(&s, "digest", "bo@example.com");
    s.serve();
    // Chrome's private prefetch proxy checks the site's traffic advice, then fetches the link
    // from a Google fetcher address, marked as a prefetch.
    assert_eq!(
        s.at(
            600,
            "GET",
            "/.well-known/traffic-advice",
            "Chrome Privacy Preserving Prefetch Proxy",
            "74.125.208.13"
        ),
        404
    );
    let path = format!("/c/{pricing}");
    let status = s.at_with(
        601,
        &path,
        &[
            ("User-Agent", CHROME),
            ("X-Forwarded-For", "74.125.208.14"),
            ("Sec-Purpose", "prefetch;anonymous-client-ip"),
        ],
    );
    assert_eq!(status, 302);
    // Firefox prefetches the same link from the reader's own address.
    let firefox =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:116.0) Gecko/20100101 Firefox/116.0";
    let status = s.at_with(
        602,
        &path,
        &[
            ("User-Agent", firefox),
            ("X-Forwarded-For", "192.0.2.60"),
            ("Sec-Purpose", "prefetch"),
        ],
    );
    assert_eq!(status, 302);
    // Safari's preview and an older Firefox's prefetch mark themselves with headers of their
    // own, which nginx logs in the purpose field when Purpose is absent.
    let safari = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, \
                  like Gecko) Version/17.0 Safari/605.1.15";
    let old_firefox =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:91.0) Gecko/20100101 Firefox/91.0";
    for (secs, ua, header, value) in [
        (603, safari, "X-Purpose", "preview"),
        (604, old_firefox, "X-Moz", "prefetch"),
    ] {
        let status = s.at_with(
            secs,
            &path,
            &[
                ("User-Agent", ua),
                ("X-Forwarded-For", "192.0.2.61"),
                (header, value),
            ],
        );
        assert_eq!(status, 302);
    }
    // Then Bo opens the message and follows the link himself.
    s.open(900, &open, OUTLOOK, "192.0.2.60");
    s.click(910, &pricing, firefox, "192.0.2.60");
    let (events, summary) = s.analyze();
    assert_eq!(
        classes(&events),
        pairs(&[
            ("invalid", "no-token"),
            ("bot", "google-fetcher"),
            ("bot", "prefetch"),
            ("bot", "prefetch"),
            ("bot", "prefetch"),
            ("human", "direct"),
            ("human", "direct"),
        ])
    );
    assert_eq!(events[1]["purpose"], "prefetch;anonymous-client-ip");
    assert_eq!(events[1]["certainty"], "certain");
    assert_eq!(events[3]["purpose"], "preview");
    assert_eq!(events[4]["purpose"], "prefetch");
    assert_eq!(figure(&summary, "digest", "total_clicks"), 1);
    assert_eq!(figure(&summary, "digest", "unique_human_clicks"), 1);
    assert_eq!(figure(&summary, "digest", "machine_hits"), 4);
}
