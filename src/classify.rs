//! Classification: every event gets a class, a detail and the reason that decided it. Nothing is
//! dropped; the report counts by class.
//!
//! The rules, in order of precedence:
//! 1. a request with no token, or a token that is forged, expired or unknown: `invalid`;
//! 2. a client in one of the configured internal networks: `internal`;
//! 3. the first matching entry of [`USER_AGENT_RULES`]: `proxy`, `scanner` or `bot`;
//! 4. a `HEAD` request, or any method but `GET`: `bot` (link checkers send HEAD; a person's mail
//!    client or browser sends GET);
//! 5. a `Sec-Purpose`/`Purpose` header saying prefetch, preview or prerender: `bot`;
//! 6. the same token from the same address and user agent within the duplicate window of that
//!    client's previous request: `duplicate` (only for what would otherwise count: human or proxy);
//! 7. everything else: `human`, meaning human-looking, not proven.
//!
//! Events must be fed in time order for rule 6. Verdicts on user agents are cached per distinct
//! string.
//!
//! Key types: [`HitClass`], [`Verdict`], [`Classifier`], [`UaRule`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::hit::{Event, TokenStatus};

/// The class of a hit. Names are part of the `events.csv` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HitClass {
    /// Looks like a person's mail client or browser.
    Human,
    /// A mail provider's image proxy fetching on the reader's behalf (Gmail, Yahoo, Apple MPP).
    Proxy,
    /// A security gateway or link checker fetching every link.
    Scanner,
    /// Software: HTTP libraries, crawlers, unfurlers, prefetchers, HEAD requests.
    Bot,
    /// A repeat of a hit just counted.
    Duplicate,
    /// From your own network.
    Internal,
    /// No token, or a forged, expired or unknown one.
    Invalid,
}

impl HitClass {
    /// Every class, in report order.
    pub const ALL: [HitClass; 7] = [
        HitClass::Human,
        HitClass::Proxy,
        HitClass::Scanner,
        HitClass::Bot,
        HitClass::Duplicate,
        HitClass::Internal,
        HitClass::Invalid,
    ];

    /// The name in `events.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            HitClass::Human => "human",
            HitClass::Proxy => "proxy",
            HitClass::Scanner => "scanner",
            HitClass::Bot => "bot",
            HitClass::Duplicate => "duplicate",
            HitClass::Internal => "internal",
            HitClass::Invalid => "invalid",
        }
    }

    /// Position in [`HitClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How a user-agent rule matches.
#[derive(Debug, Clone, Copy)]
pub enum UaMatch {
    /// The whole user agent equals this.
    Exact(&'static str),
    /// The user agent starts with this.
    Prefix(&'static str),
    /// The user agent contains this (case-sensitive).
    Contains(&'static str),
    /// The user agent contains this, ignoring ASCII case.
    ContainsNoCase(&'static str),
}

/// One user-agent rule: a pattern and the verdict it gives.
#[derive(Debug, Clone, Copy)]
pub struct UaRule {
    /// The pattern.
    pub pattern: UaMatch,
    /// The class it gives.
    pub class: HitClass,
    /// The detail it gives.
    pub detail: &'static str,
}

const fn rule(pattern: UaMatch, class: HitClass, detail: &'static str) -> UaRule {
    UaRule {
        pattern,
        class,
        detail,
    }
}

use HitClass::{Bot, Proxy, Scanner};
use UaMatch::{Contains, ContainsNoCase, Exact, Prefix};

/// The user-agent rules, first match wins. Sources for each are in
/// `../shared/reference/fingerprints.md` (device-detector fixtures, uap-core, operators' docs).
pub const USER_AGENT_RULES: &[UaRule] = &[
    // Mail providers' image proxies: a proxy open is still an open.
    rule(
        Exact(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0",
        ),
        Proxy,
        "gmail-prefetch",
    ),
    rule(Contains("GoogleImageProxy"), Proxy, "gmail"),
    rule(Contains("YahooMailProxy"), Proxy, "yahoo"),
    rule(Exact("Mozilla/5.0"), Proxy, "apple-mpp"),
    rule(Contains("SeznamEmailProxy"), Proxy, "seznam"),
    rule(Contains("ImageProxy/"), Proxy, "rambler"),
    rule(Contains("mail.ukr.net proxy"), Proxy, "ukr-net"),
    // Security gateways and link checkers.
    rule(Contains("Barracuda Sentinel"), Scanner, "barracuda"),
    rule(Contains("BingPreview"), Scanner, "outlook-bingpreview"),
    rule(Contains("Google-Safety"), Scanner, "google-safety"),
    rule(Contains("virustotalcloud"), Scanner, "virustotal"),
    rule(
        Contains("Yahoo Link Preview"),
        Scanner,
        "yahoo-link-preview",
    ),
    // Unfurlers, previews and Office's link pre-check.
    rule(
        Contains("Microsoft Office Existence Discovery"),
        Bot,
        "ms-office-discovery",
    ),
    rule(Contains("MicrosoftPreview"), Bot, "microsoft-preview"),
    rule(Contains("SkypeUriPreview"), Bot, "skype-preview"),
    rule(Contains("Slackbot"), Bot, "slack"),
    rule(Contains("Slack-ImgProxy"), Bot, "slack"),
    rule(Contains("Discordbot"), Bot, "discord"),
    rule(Contains("TelegramBot"), Bot, "telegram"),
    rule(Prefix("WhatsApp/"), Bot, "whatsapp"),
    rule(Contains("LinkedInBot"), Bot, "linkedin"),
    rule(Contains("facebookexternalhit"), Bot, "facebook"),
    rule(Contains("Twitterbot"), Bot, "twitter"),
    // HTTP libraries and command-line tools.
    rule(Prefix("curl/"), Bot, "curl"),
    rule(Prefix("Wget/"), Bot, "wget"),
    rule(Prefix("python-requests/"), Bot, "python-requests"),
    rule(Prefix("Python-urllib/"), Bot, "python-urllib"),
    rule(Contains("aiohttp/"), Bot, "python-aiohttp"),
    rule(Prefix("python-httpx/"), Bot, "python-httpx"),
    rule(Prefix("Go-http-client/"), Bot, "go-http-client"),
    rule(Prefix("okhttp/"), Bot, "okhttp"),
    rule(Prefix("axios/"), Bot, "axios"),
    rule(Prefix("node-fetch/"), Bot, "node-fetch"),
    rule(Prefix("Java/"), Bot, "java"),
    rule(Prefix("Apache-HttpClient/"), Bot, "apache-httpclient"),
    rule(Prefix("libwww-perl/"), Bot, "libwww-perl"),
    rule(Prefix("PostmanRuntime/"), Bot, "postman"),
    rule(Prefix("GuzzleHttp/"), Bot, "guzzle"),
    // Headless browsers and attack tools.
    rule(Contains("HeadlessChrome"), Bot, "headless-chrome"),
    rule(Contains("PhantomJS"), Bot, "phantomjs"),
    rule(Contains("Nmap Scripting Engine"), Bot, "nmap"),
    rule(Prefix("sqlmap/"), Bot, "sqlmap"),
    rule(Contains("Jorgee"), Bot, "jorgee"),
    // Anything that calls itself a crawler.
    rule(ContainsNoCase("bot"), Bot, "crawler"),
    rule(ContainsNoCase("crawler"), Bot, "crawler"),
    rule(ContainsNoCase("spider"), Bot, "crawler"),
];

impl UaMatch {
    fn matches(self, ua: &str) -> bool {
        match self {
            Exact(s) => ua == s,
            Prefix(s) => ua.starts_with(s),
            Contains(s) => ua.contains(s),
            ContainsNoCase(s) => ua
                .as_bytes()
                .windows(s.len())
                .any(|w| w.eq_ignore_ascii_case(s.as_bytes())),
        }
    }

    fn describe(self) -> String {
        match self {
            Exact(s) => format!("user agent is exactly {s:?}"),
            Prefix(s) => format!("user agent starts with {s:?}"),
            Contains(s) => format!("user agent contains {s:?}"),
            ContainsNoCase(s) => format!("user agent contains {s:?} (any case)"),
        }
    }
}

/// A class, the detail that names the source, and the rule that decided it, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The class.
    pub class: HitClass,
    /// Which source or rule: `gmail`, `curl`, `head-request`, `bad-signature`, ...
    pub detail: Arc<str>,
    /// Why, in words, for the report and the `reason` column.
    pub reason: Arc<str>,
}

impl Verdict {
    fn new(class: HitClass, detail: &str, reason: impl Into<Arc<str>>) -> Self {
        Verdict {
            class,
            detail: Arc::from(detail),
            reason: reason.into(),
        }
    }
}

/// Classifies events fed in time order.
pub struct Classifier {
    internal: Vec<IpNet>,
    window_ms: i64,
    ua_cache: HashMap<Arc<str>, Option<Verdict>>,
    /// Last request time per (manifest row, client, user agent), for duplicates.
    last_seen: HashMap<(usize, IpAddr, Arc<str>), i64>,
    human: Verdict,
}

impl Classifier {
    /// A classifier with these internal networks and duplicate window.
    pub fn new(internal: Vec<IpNet>, duplicate_window_secs: u32) -> Self {
        Classifier {
            internal,
            window_ms: i64::from(duplicate_window_secs) * 1000,
            ua_cache: HashMap::new(),
            last_seen: HashMap::new(),
            human: Verdict::new(
                HitClass::Human,
                "direct",
                "no machine signal: user agent, method, headers and address look like a person's",
            ),
        }
    }

    fn user_agent_verdict(&mut self, ua: &Arc<str>) -> Option<Verdict> {
        if let Some(v) = self.ua_cache.get(ua) {
            return v.clone();
        }
        let v = if ua.is_empty() {
            Some(Verdict::new(
                HitClass::Bot,
                "no-user-agent",
                "no user agent: no mail client or browser omits it",
            ))
        } else {
            USER_AGENT_RULES
                .iter()
                .find(|r| r.pattern.matches(ua))
                .map(|r| Verdict::new(r.class, r.detail, r.pattern.describe()))
        };
        self.ua_cache.insert(ua.clone(), v.clone());
        v
    }

    /// Classifies one event. Call in time order.
    pub fn classify(&mut self, ev: &Event) -> Verdict {
        let base = self.base_verdict(ev);
        if !matches!(base.class, HitClass::Human | HitClass::Proxy) {
            return base;
        }
        let Some(row) = ev.row else { return base };
        let key = (row, ev.client, ev.user_agent.clone());
        let previous = self.last_seen.insert(key, ev.time_ms);
        match previous {
            Some(prev) if ev.time_ms - prev <= self.window_ms => Verdict::new(
                HitClass::Duplicate,
                &base.detail,
                format!(
                    "same token, address and user agent {} s after the previous request \
                     (window {} s)",
                    (ev.time_ms - prev) / 1000,
                    self.window_ms / 1000
                ),
            ),
            _ => base,
        }
    }

    fn base_verdict(&mut self, ev: &Event) -> Verdict {
        match ev.token_status {
            TokenStatus::Valid => {}
            TokenStatus::None => {
                return Verdict::new(
                    HitClass::Invalid,
                    "no-token",
                    "not a pixel or tracked-link URL",
                );
            }
            TokenStatus::Forged => {
                let why = ev.forgery.map(|f| f.as_str()).unwrap_or("forged");
                return Verdict::new(
                    HitClass::Invalid,
                    "forged",
                    format!("token does not verify ({why})"),
                );
            }
            TokenStatus::Expired => {
                return Verdict::new(
                    HitClass::Invalid,
                    "expired",
                    "token verified but was requested after its expiry",
                );
            }
            TokenStatus::Unknown => {
                return Verdict::new(
                    HitClass::Invalid,
                    "unknown",
                    "token verified but is not in the manifest",
                );
            }
        }
        if let Some(net) = self.internal.iter().find(|n| n.contains(&ev.client)) {
            return Verdict::new(
                HitClass::Internal,
                "internal-network",
                format!("client address is in the internal network {net}"),
            );
        }
        if let Some(v) = self.user_agent_verdict(&ev.user_agent) {
            return v;
        }
        if !matches!(ev.method.as_ref(), "GET" | "HEAD") {
            return Verdict::new(
                HitClass::Bot,
                "unexpected-method",
                "neither GET nor HEAD: mail clients and browsers fetch pixels and links with GET",
            );
        }
        if ev.method.as_ref() == "HEAD" {
            return Verdict::new(
                HitClass::Bot,
                "head-request",
                "HEAD request: link checkers send them, mail clients and browsers do not",
            );
        }
        let purpose = ev.purpose.to_ascii_lowercase();
        if ["prefetch", "preview", "prerender"]
            .iter()
            .any(|p| purpose.contains(p))
        {
            return Verdict::new(
                HitClass::Bot,
                "prefetch",
                "Sec-Purpose/Purpose header marks a speculative load",
            );
        }
        self.human.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hit::{HitKind, Source};

    fn ev(ua: &str, method: &str, t_secs: i64) -> Event {
        Event {
            time_ms: t_secs * 1000,
            kind: HitKind::Open,
            token_status: TokenStatus::Valid,
            forgery: None,
            row: Some(0),
            token: "t".into(),
            client: "192.0.2.1".parse().unwrap(),
            method: method.into(),
            uri: "/o/t.png".into(),
            status: 200,
            bytes_sent: 67,
            user_agent: Arc::from(ua),
            referer: "".into(),
            requested_with: "".into(),
            purpose: "".into(),
            accept_language: "".into(),
            source: Source { file: 0, line: 1 },
        }
    }

    fn class_of(ua: &str, method: &str) -> (HitClass, String) {
        let v = Classifier::new(vec![], 60).classify(&ev(ua, method, 0));
        (v.class, v.detail.to_string())
    }

    #[test]
    fn table_of_cases() {
        // One row per case: user agent, method, expected class and detail.
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
                "GET",
                HitClass::Proxy,
                "gmail",
            ),
            (
                "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
                "GET",
                HitClass::Proxy,
                "yahoo",
            ),
            ("Mozilla/5.0", "GET", HitClass::Proxy, "apple-mpp"),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0",
                "GET",
                HitClass::Proxy,
                "gmail-prefetch",
            ),
            (
                "Barracuda Sentinel (EE)",
                "GET",
                HitClass::Scanner,
                "barracuda",
            ),
            ("curl/8.5.0", "GET", HitClass::Bot, "curl"),
            (
                "python-requests/2.31.0",
                "GET",
                HitClass::Bot,
                "python-requests",
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                "GET",
                HitClass::Bot,
                "crawler",
            ),
            ("", "GET", HitClass::Bot, "no-user-agent"),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0",
                "HEAD",
                HitClass::Bot,
                "head-request",
            ),
            (
                "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
                "GET",
                HitClass::Human,
                "direct",
            ),
        ];
        for (ua, method, class, detail) in cases {
            assert_eq!(class_of(ua, method), (class, detail.to_string()), "{ua}");
        }
    }

    #[test]
    fn duplicates_within_window_only() {
        let mut c = Classifier::new(vec![], 60);
        let ua = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko)";
        assert_eq!(c.classify(&ev(ua, "GET", 0)).class, HitClass::Human);
        let d = c.classify(&ev(ua, "GET", 30));
        assert_eq!(d.class, HitClass::Duplicate);
        assert!(d.reason.contains("30 s"), "{}", d.reason);
        // The window slides from the previous request.
        assert_eq!(c.classify(&ev(ua, "GET", 89)).class, HitClass::Duplicate);
        assert_eq!(c.classify(&ev(ua, "GET", 200)).class, HitClass::Human);
        // Bots are never "duplicates": they do not count either way.
        assert_eq!(c.classify(&ev("curl/8", "GET", 201)).class, HitClass::Bot);
        assert_eq!(c.classify(&ev("curl/8", "GET", 202)).class, HitClass::Bot);
    }

    #[test]
    fn internal_and_invalid_take_precedence() {
        let mut c = Classifier::new(vec!["192.0.2.0/24".parse().unwrap()], 60);
        assert_eq!(
            c.classify(&ev("curl/8", "GET", 0)).class,
            HitClass::Internal
        );
        let mut forged = ev("curl/8", "GET", 0);
        forged.token_status = TokenStatus::Forged;
        assert_eq!(c.classify(&forged).class, HitClass::Invalid);
        assert_eq!(c.classify(&forged).detail.as_ref(), "forged");
    }

    #[test]
    fn prefetch_header() {
        let mut e = ev(
            "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
            "GET",
            0,
        );
        e.purpose = "prefetch;prerender".into();
        let v = Classifier::new(vec![], 60).classify(&e);
        assert_eq!((v.class, v.detail.as_ref()), (HitClass::Bot, "prefetch"));
    }
}
