//! Enrichment: where a hit came from (GeoIP: country, city, autonomous system) and what made it
//! (email client or browser, operating system, device type).
//!
//! GeoIP reads MaxMind DB files through `maxminddb`: a City or Country database and an ASN
//! database, named in the config or found in `/usr/share/GeoIP/` and `/var/lib/GeoIP/`. Without
//! one, geo is simply off. The location of a proxy or scanner hit is the machine's, never the
//! reader's: the report shows countries of human-looking hits only.
//!
//! Client detection is an ordered table of rules as data ([`CLIENT_RULES`]): mail clients and
//! mail proxies first (Outlook, Apple Mail, Thunderbird, the Gmail app, Samsung Email through
//! `X-Requested-With`, ...), then browsers, then the operating system and device from the
//! platform tokens. Results are cached per distinct (user agent, `X-Requested-With`) pair.
//!
//! Key types: [`GeoDb`], [`GeoInfo`], [`ClientInfo`], [`ClientDetector`].

pub mod mmdb;

use crate::model::GeoInfo;
use foldhash::{HashMap, HashMapExt as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::fast::LogBytes;
use crate::model::{AgentKey, Headers};

// ------------------------------------------------------------------------------------ GeoIP

#[derive(Deserialize)]
struct LocationRecord {
    country: Option<CountryRecord>,
    city: Option<CityRecord>,
}

#[derive(Deserialize)]
struct CountryRecord {
    iso_code: Option<String>,
}

#[derive(Deserialize)]
struct CityRecord {
    names: Option<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct AsnRecord {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
}

/// Where GeoIP databases usually live on Debian (geoipupdate and the geoip packages).
pub const GEOIP_DIRS: [&str; 2] = ["/usr/share/GeoIP", "/var/lib/GeoIP"];

const LOCATION_FILES: [&str; 6] = [
    "GeoLite2-City.mmdb",
    "GeoIP2-City.mmdb",
    "GeoLite2-Country.mmdb",
    "GeoIP2-Country.mmdb",
    "dbip-city-lite.mmdb",
    "dbip-country-lite.mmdb",
];
const ASN_FILES: [&str; 3] = ["GeoLite2-ASN.mmdb", "GeoIP2-ASN.mmdb", "dbip-asn-lite.mmdb"];

/// Open GeoIP databases with a per-address cache.
pub struct GeoDb {
    location: Option<(PathBuf, maxminddb::Reader<Vec<u8>>)>,
    asn: Option<(PathBuf, maxminddb::Reader<Vec<u8>>)>,
    cache: HashMap<IpAddr, Arc<GeoInfo>>,
}

fn open_db(path: &Path, want: &[&str]) -> Result<maxminddb::Reader<Vec<u8>>> {
    let bad = |message: String| Error::DataFile {
        path: path.to_path_buf(),
        line: None,
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let reader = maxminddb::Reader::from_source(bytes)
        .map_err(|e| bad(format!("not a MaxMind DB file: {e}")))?;
    let kind = &reader.metadata().database_type;
    if !want.iter().any(|w| kind.contains(w)) {
        return Err(bad(format!(
            "is a {kind:?} database; expected one whose type mentions {}",
            want.join(" or ")
        )));
    }
    Ok(reader)
}

impl GeoDb {
    /// Opens the databases given. A file that is missing, not an MMDB, or of the wrong kind is an
    /// error naming it.
    pub fn open(location: Option<&Path>, asn: Option<&Path>) -> Result<Self> {
        Ok(GeoDb {
            location: location
                .map(|p| open_db(p, &["City", "Country"]).map(|r| (p.to_path_buf(), r)))
                .transpose()?,
            asn: asn
                .map(|p| open_db(p, &["ASN"]).map(|r| (p.to_path_buf(), r)))
                .transpose()?,
            cache: HashMap::new(),
        })
    }

    /// The configured databases, else the first found in the usual directories; `None` when there
    /// is none at all (geo is off; nothing fails).
    pub fn discover(location: Option<&Path>, asn: Option<&Path>) -> Result<Option<Self>> {
        Self::discover_in(location, asn, &GEOIP_DIRS.map(PathBuf::from))
    }

    /// [`GeoDb::discover`] over given directories.
    pub fn discover_in(
        location: Option<&Path>,
        asn: Option<&Path>,
        dirs: &[PathBuf],
    ) -> Result<Option<Self>> {
        let find = |names: &[&str]| {
            dirs.iter()
                .flat_map(|d| names.iter().map(move |n| d.join(n)))
                .find(|p| p.is_file())
        };
        let location = location
            .map(Path::to_path_buf)
            .or_else(|| find(&LOCATION_FILES));
        let asn = asn.map(Path::to_path_buf).or_else(|| find(&ASN_FILES));
        if location.is_none() && asn.is_none() {
            return Ok(None);
        }
        Self::open(location.as_deref(), asn.as_deref()).map(Some)
    }

    /// What the databases say about `ip`. Misses, and IPv6 lookups in IPv4-only databases, are
    /// simply unknown.
    pub fn lookup(&mut self, ip: IpAddr) -> Arc<GeoInfo> {
        if let Some(hit) = self.cache.get(&ip) {
            return hit.clone();
        }
        let mut info = GeoInfo::default();
        if let Some((_, r)) = &self.location
            && let Ok(res) = r.lookup(ip)
            && let Ok(Some(rec)) = res.decode::<LocationRecord>()
        {
            info.country = rec.country.and_then(|c| c.iso_code);
            info.city = rec
                .city
                .and_then(|c| c.names)
                .and_then(|mut n| n.remove("en"));
        }
        if let Some((_, r)) = &self.asn
            && let Ok(res) = r.lookup(ip)
            && let Ok(Some(rec)) = res.decode::<AsnRecord>()
        {
            info.asn = rec.autonomous_system_number;
            info.org = rec.autonomous_system_organization;
        }
        let info = Arc::new(info);
        // Addresses come from logs: the cache starts over when full, so memory stays bounded
        // while a long log keeps its recent addresses cached.
        if self.cache.len() >= 200_000 {
            self.cache.clear();
        }
        self.cache.insert(ip, info.clone());
        info
    }

    /// The databases in use, for the report: "GeoLite2-City (built 2026-11-18), ...".
    pub fn describe(&self) -> String {
        [&self.location, &self.asn]
            .into_iter()
            .flatten()
            .map(|(path, r)| {
                let built = chrono::DateTime::from_timestamp(r.metadata().build_epoch as i64, 0)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                format!(
                    "{} (built {built}, {})",
                    r.metadata().database_type,
                    path.display()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

// ------------------------------------------------------------------------------------ clients

/// What kind of software made a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// A mail client.
    EmailClient,
    /// A web browser.
    Browser,
    /// A mail provider's image proxy.
    MailProxy,
    /// Software that is none of these (libraries, crawlers).
    Other,
}

impl ClientKind {
    /// A short name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::EmailClient => "email client",
            ClientKind::Browser => "browser",
            ClientKind::MailProxy => "mail proxy",
            ClientKind::Other => "other",
        }
    }
}

/// The client, OS and device of a user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// "Apple Mail", "Outlook", "Chrome", "Gmail image proxy", "Unknown".
    pub client: Arc<str>,
    /// What kind of client.
    pub kind: ClientKind,
    /// "Windows", "macOS", "iOS", "Android", "Linux", "Unknown", ...
    pub os: Arc<str>,
    /// "desktop", "mobile", "tablet", "unknown".
    pub device: &'static str,
}

/// uap-core's browser and OS patterns (Apache-2.0), vendored as JSON: see
/// `src/enrich/uap/README.md`.
const UAP_REGEXES: &str = include_str!("enrich/uap/regexes.json");

/// The ua-parser extractor, built on first use (it compiles a few hundred patterns, about a
/// tenth of a second) and shared by every thread.
fn uap() -> Option<&'static ua_parser::Extractor<'static>> {
    static EXTRACTOR: std::sync::OnceLock<Option<ua_parser::Extractor<'static>>> =
        std::sync::OnceLock::new();
    EXTRACTOR
        .get_or_init(|| {
            let regexes: ua_parser::Regexes<'static> = serde_json::from_str(UAP_REGEXES).ok()?;
            ua_parser::Extractor::try_from(regexes).ok()
        })
        .as_ref()
}

/// How a client rule matches.
#[derive(Debug, Clone, Copy)]
pub enum ClientMatch {
    /// The user agent contains this.
    Ua(&'static str),
    /// The user agent is exactly this.
    UaExact(&'static str),
    /// `X-Requested-With` is exactly this Android package.
    App(&'static str),
    /// A bare Apple WebKit user agent (no browser token): Apple Mail and its relatives.
    BareWebkit,
}

/// One client rule: first match wins.
#[derive(Debug, Clone, Copy)]
pub struct ClientRule {
    /// The pattern.
    pub pattern: ClientMatch,
    /// The client it names.
    pub client: &'static str,
    /// Its kind.
    pub kind: ClientKind,
}

const fn cr(pattern: ClientMatch, client: &'static str, kind: ClientKind) -> ClientRule {
    ClientRule {
        pattern,
        client,
        kind,
    }
}

use ClientKind::{Browser, EmailClient, MailProxy, Other};
use ClientMatch::{App, BareWebkit, Ua, UaExact};

/// Client rules, in order, checked before uap-core's browser patterns: many mail clients embed a
/// browser engine and carry its tokens, and uap-core knows few mail clients. Sources:
/// device-detector `regexes/client/pim.yml` and `hints/apps.yml`, uap-core, as collected in the
/// reference notes.
pub const CLIENT_RULES: &[ClientRule] = &[
    cr(Ua("GoogleImageProxy"), "Gmail image proxy", MailProxy),
    cr(Ua("YahooMailProxy"), "Yahoo image proxy", MailProxy),
    cr(
        UaExact("Mozilla/5.0"),
        "Apple Mail Privacy Protection",
        MailProxy,
    ),
    cr(Ua("Edge/12.246 Mozilla/5.0"), "Gmail prefetch", MailProxy),
    cr(
        App("com.samsung.android.email.provider"),
        "Samsung Email",
        EmailClient,
    ),
    cr(
        App("com.microsoft.office.outlook"),
        "Outlook for Android",
        EmailClient,
    ),
    cr(App("com.google.android.gm"), "Gmail app", EmailClient),
    cr(
        App("com.yahoo.mobile.client.android.mail"),
        "Yahoo Mail app",
        EmailClient,
    ),
    cr(App("de.gmx.mobile.android.mail"), "GMX Mail", EmailClient),
    cr(
        App("de.web.mobile.android.mail"),
        "WEB.DE Mail",
        EmailClient,
    ),
    cr(Ua("Outlook-iOS/"), "Outlook for iOS", EmailClient),
    cr(Ua("MacOutlook/"), "Outlook for Mac", EmailClient),
    cr(Ua("Microsoft Outlook"), "Outlook", EmailClient),
    cr(Ua("ms-office"), "Outlook", EmailClient),
    cr(Ua("WindowsMail/"), "Windows Mail", EmailClient),
    cr(Ua("Thunderbird/"), "Thunderbird", EmailClient),
    cr(Ua("Android-Gmail/"), "Gmail app", EmailClient),
    cr(Ua("YahooMobileMail/"), "Yahoo Mail app", EmailClient),
    cr(Ua("Yahoo%20Mail/"), "Yahoo Mail app", EmailClient),
    cr(Ua("Airmail"), "Airmail", EmailClient),
    cr(Ua("Postbox/"), "Postbox", EmailClient),
    cr(Ua("Mailbird/"), "Mailbird", EmailClient),
    cr(Ua("BlueMail/"), "BlueMail", EmailClient),
    cr(Ua("Foxmail/"), "Foxmail", EmailClient),
    cr(BareWebkit, "Apple Mail", EmailClient),
    cr(Ua("Teams/"), "Microsoft Teams", Browser),
    cr(Ua("; wv)"), "Android WebView", Browser),
];

/// Operating systems by platform token, in order.
const OS_RULES: &[(&str, &str)] = &[
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Outlook-iOS", "iOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("ms-office", "Windows"),
    ("Microsoft Outlook", "Windows"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Darwin", "macOS"),
    ("Linux", "Linux"),
    ("X11", "Linux"),
];

impl ClientRule {
    fn matches(&self, ua: &str, requested_with: &str) -> bool {
        match self.pattern {
            Ua(s) => ua.contains(s),
            UaExact(s) => ua == s,
            App(s) => requested_with == s,
            BareWebkit => crate::rules::is_bare_webkit(ua),
        }
    }
}

/// Detects clients with a cache per distinct (user agent, `X-Requested-With`), the agent found
/// by its [`AgentKey`]. Lookups borrow: the per-event path allocates nothing once a pair has
/// been seen.
#[derive(Default)]
pub struct ClientDetector {
    /// Agent -> the `X-Requested-With` values seen with it (one or two, from real clients; at
    /// most [`MAX_APPS_PER_AGENT`]) and what they detect as.
    cache: HashMap<AgentKey, AppClients>,
    entries: usize,
    /// In front of `cache`: the last answer for a set of headers, by the address of its shared
    /// value (the parsing workers share one value among every hit that sent the same headers),
    /// direct-mapped. The slot holds the headers themselves, so that their address cannot be
    /// reused by another set while the slot names it.
    recent: Vec<Option<(Arc<Headers>, Arc<ClientInfo>)>>,
}

/// Slots of [`ClientDetector`]'s table by address, as a power of two.
const RECENT_BITS: u32 = 12;

/// `X-Requested-With` values and the clients they detect as, for one user agent.
type AppClients = Vec<(Box<str>, Arc<ClientInfo>)>;

/// `X-Requested-With` values remembered per user agent: the list is searched in order, and a
/// log may send a new value with every request.
const MAX_APPS_PER_AGENT: usize = 16;

impl ClientDetector {
    /// An empty detector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client, OS and device of a request.
    pub fn detect(&mut self, headers: &Arc<Headers>) -> Arc<ClientInfo> {
        let addr = Arc::as_ptr(headers) as usize as u64;
        let at = (addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - RECENT_BITS)) as usize;
        if let Some(Some((h, info))) = self.recent.get(at)
            && Arc::ptr_eq(h, headers)
        {
            return info.clone();
        }
        let info = self.detect_cached(headers);
        if self.recent.is_empty() {
            self.recent.resize(1 << RECENT_BITS, None);
        }
        self.recent[at] = Some((headers.clone(), info.clone()));
        info
    }

    /// [`ClientDetector::detect`] past the table by address.
    fn detect_cached(&mut self, headers: &Headers) -> Arc<ClientInfo> {
        let requested_with = headers.requested_with();
        if let Some((_, hit)) = self.cache.get(&headers.agent_key()).and_then(|apps| {
            apps.iter()
                .find(|(app, _)| LogBytes(app.as_bytes()) == LogBytes(requested_with.as_bytes()))
        }) {
            return hit.clone();
        }
        let info = Arc::new(detect(headers.user_agent(), requested_with));
        // Keys come from logs: the cache starts over at 200,000 pairs.
        if self.entries >= 200_000 {
            self.entries = 0;
            self.cache.clear();
        }
        self.entries += 1;
        let apps = self.cache.entry(headers.agent_key()).or_default();
        if apps.len() >= MAX_APPS_PER_AGENT {
            apps.clear();
        }
        apps.push((Box::from(requested_with), info.clone()));
        info
    }
}

/// Detects without a cache: the client rules first, then uap-core's browser and OS families,
/// then pxtrack's own platform tokens for what uap-core leaves as "Other".
pub fn detect(ua: &str, requested_with: &str) -> ClientInfo {
    let rule = CLIENT_RULES.iter().find(|r| r.matches(ua, requested_with));
    if let Some(r) = rule.filter(|r| r.kind == MailProxy) {
        // A proxy's request says nothing about the reader's system.
        return ClientInfo {
            client: Arc::from(r.client),
            kind: r.kind,
            os: Arc::from("Unknown"),
            device: "unknown",
        };
    }
    let parsed = uap().map(|x| (x.ua.extract(ua), x.os.extract(ua)));
    let (client, kind): (Arc<str>, ClientKind) = match (rule, &parsed) {
        (Some(r), _) => (Arc::from(r.client), r.kind),
        (None, Some((Some(b), _))) if b.family != "Other" => {
            (Arc::from(b.family.as_ref()), Browser)
        }
        _ => (Arc::from("Unknown"), Other),
    };
    let os: Arc<str> = match parsed.as_ref().and_then(|(_, o)| o.as_ref()) {
        Some(o) if o.os != "Other" => Arc::from(match o.os.as_ref() {
            "Mac OS X" => "macOS",
            "Chrome OS" => "ChromeOS",
            other => other,
        }),
        _ => Arc::from(
            OS_RULES
                .iter()
                .find(|(t, _)| ua.contains(t))
                .map_or("Unknown", |(_, os)| *os),
        ),
    };
    let desktop_os = [
        "Windows", "macOS", "Linux", "ChromeOS", "Ubuntu", "Fedora", "Debian",
    ]
    .iter()
    .any(|d| os.starts_with(d));
    let device = if ua.contains("iPad") || (os.as_ref() == "Android" && !ua.contains("Mobile")) {
        "tablet"
    } else if ua.contains("iPhone")
        || ua.contains("Mobile")
        || matches!(os.as_ref(), "Android" | "iOS")
    {
        "mobile"
    } else if desktop_os {
        "desktop"
    } else {
        "unknown"
    };
    ClientInfo {
        client,
        kind,
        os,
        device,
    }
}

#[cfg(test)]
mod tests {
    use super::mmdb::{MmdbWriter, Value};
    use super::*;
    use crate::model::HeaderFields;

    fn city_db() -> Vec<u8> {
        let mut w = MmdbWriter::new("GeoLite2-City");
        let city = |cc: &str, name: &str| {
            Value::map([
                ("country", Value::map([("iso_code", Value::str(cc))])),
                (
                    "city",
                    Value::map([("names", Value::map([("en", Value::str(name))]))]),
                ),
            ])
        };
        w.insert("203.0.113.0/24".parse().unwrap(), city("DE", "Berlin"));
        w.insert("2001:db8::/32".parse().unwrap(), city("JP", "Tokyo"));
        w.to_bytes()
    }

    fn asn_db() -> Vec<u8> {
        let mut w = MmdbWriter::new("GeoLite2-ASN");
        w.insert(
            "20.64.0.0/10".parse().unwrap(),
            Value::map([
                ("autonomous_system_number", Value::U32(8075)),
                (
                    "autonomous_system_organization",
                    Value::str("MICROSOFT-CORP-MSN-AS-BLOCK"),
                ),
            ]),
        );
        w.to_bytes()
    }

    #[test]
    fn geo_lookups() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("GeoLite2-City.mmdb"), city_db()).unwrap();
        std::fs::write(d.path().join("GeoLite2-ASN.mmdb"), asn_db()).unwrap();
        let mut g = GeoDb::discover_in(None, None, &[d.path().to_path_buf()])
            .unwrap()
            .unwrap();
        let berlin = g.lookup("203.0.113.9".parse().unwrap());
        assert_eq!(berlin.country.as_deref(), Some("DE"));
        assert_eq!(berlin.city.as_deref(), Some("Berlin"));
        assert_eq!(
            g.lookup("2001:db8::1".parse().unwrap()).country.as_deref(),
            Some("JP")
        );
        let azure = g.lookup("20.72.100.79".parse().unwrap());
        assert_eq!((azure.asn, azure.country.as_deref()), (Some(8075), None));
        assert_eq!(
            *g.lookup("198.51.100.1".parse().unwrap()),
            GeoInfo::default()
        );
        assert!(Arc::ptr_eq(
            &berlin,
            &g.lookup("203.0.113.9".parse().unwrap())
        ));
        assert!(
            g.describe().contains("GeoLite2-City (built "),
            "{}",
            g.describe()
        );
    }

    #[test]
    fn geo_is_off_without_databases_and_wrong_kinds_are_errors() {
        let d = tempfile::tempdir().unwrap();
        assert!(
            GeoDb::discover_in(None, None, &[d.path().to_path_buf()])
                .unwrap()
                .is_none()
        );
        let p = d.path().join("asn.mmdb");
        std::fs::write(&p, asn_db()).unwrap();
        let e = GeoDb::open(Some(&p), None).err().unwrap().to_string();
        assert!(e.contains("asn.mmdb") && e.contains("GeoLite2-ASN"), "{e}");
        let junk = d.path().join("junk.mmdb");
        std::fs::write(&junk, b"not a database").unwrap();
        assert!(GeoDb::open(Some(&junk), None).is_err());
    }

    #[test]
    fn clients() {
        // Real user agents, from the sources in the reference notes.
        let cases = [
            (
                "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
                "",
                "Outlook",
                "Windows",
                "desktop",
            ),
            (
                "MacOutlook/16.46.21021202 (Intelx64 Mac OS X 11.2.2 (Build 20D80))",
                "",
                "Outlook for Mac",
                "macOS",
                "desktop",
            ),
            (
                "Outlook-iOS/709.2042344.prod.iphone (3.21.0)",
                "",
                "Outlook for iOS",
                "iOS",
                "mobile",
            ),
            (
                "Mozilla/5.0 (X11; Linux i686; rv:17.0) Gecko/20130330 Thunderbird/17.0.5",
                "",
                "Thunderbird",
                "Linux",
                "desktop",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_5) AppleWebKit/605.1.15 (KHTML, like Gecko)",
                "",
                "Apple Mail",
                "macOS",
                "desktop",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
                "",
                "Apple Mail",
                "iOS",
                "mobile",
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; SM-S911B; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/132.0.6834.163 Mobile Safari/537.36",
                "com.samsung.android.email.provider",
                "Samsung Email",
                "Android",
                "mobile",
            ),
            (
                "Android-Gmail/64562652 (sw411dp; 420dpi) (r7 TP1A.220624.014)",
                "",
                "Gmail app",
                "Android",
                "tablet",
            ),
            (
                "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
                "",
                "Gmail image proxy",
                "Unknown",
                "unknown",
            ),
            (
                "Mozilla/5.0",
                "",
                "Apple Mail Privacy Protection",
                "Unknown",
                "unknown",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36 Edg/147.0.0.0 Teams/26106.2110.4675.2592 (50)",
                "",
                "Microsoft Teams",
                "Windows",
                "desktop",
            ),
            ("", "", "Unknown", "Unknown", "unknown"),
        ];
        for (ua, xrw, client, os, device) in cases {
            let c = detect(ua, xrw);
            assert_eq!(
                (c.client.as_ref(), c.os.as_ref(), c.device),
                (client, os, device),
                "{ua}"
            );
        }
        let hostile = format!("<script>{}", "A".repeat(10_000));
        assert_eq!(detect(&hostile, "").client.as_ref(), "Unknown");
    }

    #[test]
    fn client_cache_shares_results() {
        let mut d = ClientDetector::new();
        let curl = |requested_with| {
            Arc::new(Headers::new(HeaderFields {
                user_agent: "curl/8",
                requested_with,
                ..HeaderFields::default()
            }))
        };
        let (a, b) = (curl(""), curl(""));
        assert!(Arc::ptr_eq(&d.detect(&a), &d.detect(&b)));
        assert!(!Arc::ptr_eq(
            &d.detect(&a),
            &d.detect(&curl("com.example.mail"))
        ));
        // Headers freed and made again (at whatever address) are never answered for another set.
        for i in 0..20_000 {
            let app = if i % 2 == 0 { "" } else { "com.example.mail" };
            let h = curl(app);
            let info = d.detect(&h);
            assert_eq!(info.client.as_ref(), detect("curl/8", app).client.as_ref());
            assert!(Arc::ptr_eq(&info, &d.detect(&h)));
        }
    }
}
