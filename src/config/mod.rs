//! `pxtrack.toml`: where the key, the manifest and the logs are, and the tracking base URL.
//!
//! Relative paths in the file are relative to the file's own directory, so a config works from any
//! working directory. This module only parses and validates; finding the file (`--config`,
//! `PXTRACK_CONFIG`, `./pxtrack.toml`) is the command layer's job.
//!
//! Key types: [`Config`], [`BaseUrl`], [`NginxSettings`], [`AnalyzeSettings`].

mod errors;

pub use errors::describe_toml_error;

use ipnet::IpNet;
use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The file name `init` writes and commands look for in the working directory.
pub const FILE_NAME: &str = "pxtrack.toml";

/// A parsed and validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config file is; relative paths were resolved against its directory.
    pub path: PathBuf,
    /// The public base of every tracking URL.
    pub base_url: BaseUrl,
    /// The secret key file.
    pub key_file: PathBuf,
    /// The manifest CSV.
    pub manifest: PathBuf,
    /// The send snapshot, `sends.csv` (beside the manifest by default).
    pub sends: PathBuf,
    /// What `pxtrack nginx` writes.
    pub nginx: NginxSettings,
    /// How `pxtrack analyze` reads and classifies.
    pub analyze: AnalyzeSettings,
    /// Extra classification data.
    pub classify: ClassifySettings,
    /// What the report may show.
    pub privacy: Privacy,
    /// GeoIP databases.
    pub geoip: GeoipSettings,
    /// What `pxtrack rewrite` tracks.
    pub rewrite: crate::rewrite::Settings,
    /// How the report shows things.
    pub report: ReportSettings,
}

/// Settings for the report's pages.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportSettings {
    /// The zone the pages show times in (`[report] timezone`, an IANA name; UTC by default).
    pub timezone: crate::time::Zone,
}

/// Privacy switches for the report and its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Privacy {
    /// Show IPv4 addresses as their /24 and IPv6 addresses as their /48 (as GoAccess's
    /// `--anonymize-ip` does); rejected lines are then listed without their text.
    pub anonymize_ip: bool,
    /// Show who opened and clicked; when false the report and `events.csv` keep no
    /// per-recipient detail, only campaign and link figures.
    pub recipient_detail: bool,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            anonymize_ip: false,
            recipient_detail: true,
        }
    }
}

impl Privacy {
    /// An address as the report may show it.
    pub fn show_ip(&self, ip: std::net::IpAddr) -> String {
        let mut out = String::new();
        self.push_ip(&mut out, ip);
        out
    }

    /// Appends [`Privacy::show_ip`] to `out` (hit rows call it once each).
    pub fn push_ip(&self, out: &mut String, ip: std::net::IpAddr) {
        use std::fmt::Write as _;
        if !self.anonymize_ip {
            let _ = write!(out, "{ip}");
            return;
        }
        let len = if ip.is_ipv4() { 24 } else { 48 };
        if let Ok(net) = IpNet::new(ip, len) {
            let _ = write!(out, "{}", net.trunc());
        }
    }
}

/// GeoIP databases named by the config; when absent, the usual directories are searched.
#[derive(Debug, Clone, Default)]
pub struct GeoipSettings {
    /// A City or Country MaxMind DB file.
    pub location: Option<PathBuf>,
    /// An ASN MaxMind DB file.
    pub asn: Option<PathBuf>,
}

/// Extra classification data named by the config.
#[derive(Debug, Clone, Default)]
pub struct ClassifySettings {
    /// A rules file checked before the built-in rules (same format as `src/rules/builtin.toml`).
    pub rules: Option<PathBuf>,
    /// A copy of Apple's iCloud Private Relay `egress-ip-ranges.csv`.
    pub apple_relay_egress: Option<PathBuf>,
    /// `[classify.lists]`: fresher copies of the published provider lists, by list name (see
    /// `pxtrack rules`), each read in its publisher's format instead of the built-in copy.
    pub lists: std::collections::BTreeMap<String, PathBuf>,
}

/// The tracking base URL, split into what URLs and nginx need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `https://t.example.com/prefix`, without a trailing slash.
    pub url: String,
    /// The host name, for nginx's `server_name`.
    pub host: String,
    /// The path prefix, `""` or `/prefix` (no trailing slash).
    pub path_prefix: String,
}

impl BaseUrl {
    /// Validates a base URL: absolute http(s), a host, no query or fragment, and a path of plain
    /// characters only (it ends up in nginx `location` patterns).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        if let Some(hint) = scheme_hint(text) {
            return Err(format!(
                "base URL {text:?} has no scheme: did you mean {hint}?"
            ));
        }
        let parsed =
            url::Url::parse(text).map_err(|e| format!("base URL {text:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "base URL {text:?} must start with http:// or https://"
            ));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("base URL {text:?} has no host"))?
            .to_string();
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(format!(
                "base URL {text:?} must not have a query or fragment"
            ));
        }
        let path = parsed.path().trim_end_matches('/');
        if path.contains("//") {
            return Err(format!(
                "base URL path {path:?} has an empty segment (\"//\"); nginx merges slashes, so \
                 write it with single slashes"
            ));
        }
        if !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
        {
            return Err(format!(
                "base URL path {path:?} may only use letters, digits, '/', '-', '_' and '.'"
            ));
        }
        let url = format!("{}{}", parsed.origin().ascii_serialization(), path);
        Ok(BaseUrl {
            url,
            host,
            path_prefix: path.to_string(),
        })
    }

    /// The pixel URL for an open token.
    pub fn open_url(&self, token: &str) -> String {
        format!("{}/o/{token}.png", self.url)
    }

    /// The tracked URL for a click token.
    pub fn click_url(&self, token: &str) -> String {
        format!("{}/c/{token}", self.url)
    }
}

/// For a URL written without its scheme (`t.example.com/x`), the https URL that was likely
/// meant; `None` when the text has a scheme or does not look like a host.
pub fn scheme_hint(text: &str) -> Option<String> {
    let t = text.trim();
    if t.contains("://") || t.starts_with('/') || t.is_empty() {
        return None;
    }
    let host = t.split(['/', '?', '#']).next().unwrap_or("");
    let looks_like_host = host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    looks_like_host.then(|| format!("https://{}", t.trim_start_matches("//")))
}

/// Settings for the generated nginx configuration. Paths here are paths on the server that runs
/// nginx, which need not be the machine that runs `pxtrack nginx`.
#[derive(Debug, Clone, Default)]
pub struct NginxSettings {
    /// Plain-HTTP `listen` values, one directive each. With TLS, the server on these ports only
    /// answers certbot's challenge and redirects to https.
    pub listen: Vec<String>,
    /// TLS `listen` values, used when [`NginxSettings::tls_certificate`] is set.
    pub tls_listen: Vec<String>,
    /// The `server_name`; defaults to the base URL's host.
    pub server_name: String,
    /// Where nginx writes the pxtrack access log.
    pub access_log: PathBuf,
    /// Addresses of load balancers whose `X-Forwarded-For` nginx may trust (`set_real_ip_from`).
    pub real_ip_from: Vec<IpNet>,
    /// The certificate chain nginx serves (`ssl_certificate`), such as certbot's `fullchain.pem`.
    pub tls_certificate: Option<PathBuf>,
    /// Its private key (`ssl_certificate_key`).
    pub tls_certificate_key: Option<PathBuf>,
    /// The directory certbot's `--webroot` writes its HTTP-01 challenges into; port 80 serves
    /// `/.well-known/acme-challenge/` from it.
    pub acme_webroot: Option<PathBuf>,
    /// The name of this pxtrack in nginx: its log format, variables and maps derive from it, so
    /// that two pxtrack configs can live in one nginx.
    pub instance: String,
    /// How many days the logrotate file keeps rotated logs; `None`: never deleted.
    pub keep_logs_days: Option<u32>,
    /// A proxy, CDN or load balancer in front of nginx answers the base URL (and terminates
    /// TLS), so the base URL's scheme and port need not be nginx's own.
    pub behind_proxy: bool,
}

/// Settings for analysis.
#[derive(Debug, Clone)]
pub struct AnalyzeSettings {
    /// Logs read when `analyze` is given no path.
    pub logs: Vec<PathBuf>,
    /// Repeats of one token from one client within this many seconds are `duplicate`.
    pub duplicate_window_secs: u32,
    /// Your own networks: hits from them are `internal` (test sends, previews).
    pub internal_networks: Vec<IpNet>,
    /// A Gmail proxy load within this many seconds of a message's send time (from `sends.csv`)
    /// is the sender's Sent copy or a prefetch, not the recipient's open.
    pub send_window_secs: u32,
    /// The per-event export's format (`events = "csv" | "parquet" | "none"`).
    pub events: crate::report::EventsFormat,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    base_url: String,
    #[serde(default = "default_key_file")]
    key_file: PathBuf,
    #[serde(default = "default_manifest")]
    manifest: PathBuf,
    sends: Option<PathBuf>,
    #[serde(default)]
    nginx: RawNginx,
    #[serde(default)]
    analyze: RawAnalyze,
    #[serde(default)]
    classify: RawClassify,
    #[serde(default)]
    privacy: Privacy,
    #[serde(default)]
    geoip: RawGeoip,
    #[serde(default)]
    rewrite: RawRewrite,
    #[serde(default)]
    report: RawReport,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReport {
    timezone: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRewrite {
    #[serde(default)]
    skip: Vec<String>,
    #[serde(default)]
    track_unsubscribe: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGeoip {
    location: Option<PathBuf>,
    asn: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawClassify {
    rules: Option<PathBuf>,
    apple_relay_egress: Option<PathBuf>,
    #[serde(default)]
    lists: std::collections::BTreeMap<String, PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNginx {
    listen: Option<Vec<String>>,
    tls_listen: Option<Vec<String>>,
    server_name: Option<String>,
    access_log: Option<PathBuf>,
    #[serde(default)]
    real_ip_from: Vec<String>,
    tls_certificate: Option<PathBuf>,
    tls_certificate_key: Option<PathBuf>,
    acme_webroot: Option<PathBuf>,
    instance: Option<String>,
    keep_logs_days: Option<u32>,
    #[serde(default)]
    behind_proxy: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAnalyze {
    logs: Option<Vec<PathBuf>>,
    duplicate_window_secs: Option<u32>,
    send_window_secs: Option<u32>,
    #[serde(default)]
    internal_networks: Vec<String>,
    #[serde(default)]
    events: crate::report::EventsFormat,
}

fn default_key_file() -> PathBuf {
    "pxtrack.key".into()
}

fn default_manifest() -> PathBuf {
    "manifest.csv".into()
}

/// The access log nginx writes unless the config says otherwise. Not under `/var/log/nginx/`:
/// Debian's `/etc/logrotate.d/nginx` deletes `/var/log/nginx/*.log` after 14 days, and for
/// pxtrack the log is the database. `pxtrack nginx` writes a logrotate file that keeps it.
pub const DEFAULT_ACCESS_LOG: &str = "/var/log/pxtrack/access.log";

/// The access log earlier versions wrote by default, which Debian's logrotate deletes after 14
/// days; configs that still name it (or any `/var/log/nginx/*.log`) get a warning.
pub const DEBIAN_NGINX_LOG_DIR: &str = "/var/log/nginx/";

/// The directory `init` names for certbot's `--webroot` challenges.
pub const DEFAULT_ACME_WEBROOT: &str = "/var/www/letsencrypt";

/// The default [`NginxSettings::instance`].
pub const DEFAULT_INSTANCE: &str = "pxtrack";

/// certbot's certificate chain and key for `host` (`certbot certonly` writes them there).
pub fn certbot_paths(host: &str) -> (PathBuf, PathBuf) {
    let live = Path::new("/etc/letsencrypt/live").join(host);
    (live.join("fullchain.pem"), live.join("privkey.pem"))
}

impl NginxSettings {
    /// Whether the access log is one Debian's stock logrotate deletes after 14 days.
    pub fn log_deleted_by_debian_logrotate(&self) -> bool {
        let log = self.access_log.to_string_lossy();
        log.starts_with(DEBIAN_NGINX_LOG_DIR)
            && !log[DEBIAN_NGINX_LOG_DIR.len()..].contains('/')
            && log.ends_with(".log")
    }
}

/// The default send window: a Gmail proxy load this soon after the send is the sender's own.
pub const DEFAULT_SEND_WINDOW_SECS: u32 = 60;

/// The default duplicate window: retry storms from proxies land within seconds, while a person
/// opening the same message again a few minutes later is a genuine extra open.
pub const DEFAULT_DUPLICATE_WINDOW_SECS: u32 = 60;

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses config text; `path` locates relative paths and names errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let err = |message: String| Error::Config {
            path: path.to_path_buf(),
            line: None,
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, message) = describe_toml_error(text, &e);
            Error::Config {
                path: path.to_path_buf(),
                line,
                message,
            }
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }
        };
        let base_url = BaseUrl::parse(&raw.base_url).map_err(err)?;
        let nets = |list: &[String], what: &str| -> Result<Vec<IpNet>> {
            list.iter()
                .map(|s| parse_net(s).map_err(|m| err(format!("{what}: {m}"))))
                .collect()
        };
        for (setting, value) in [
            ("nginx.access_log", &raw.nginx.access_log),
            ("nginx.tls_certificate", &raw.nginx.tls_certificate),
            ("nginx.tls_certificate_key", &raw.nginx.tls_certificate_key),
            ("nginx.acme_webroot", &raw.nginx.acme_webroot),
        ] {
            if value.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(err(format!(
                    "{setting} is empty; give a path, or leave the setting out for its default"
                )));
            }
        }
        let nginx = NginxSettings {
            listen: raw
                .nginx
                .listen
                .unwrap_or_else(|| vec!["80".into(), "[::]:80".into()]),
            tls_listen: raw
                .nginx
                .tls_listen
                .unwrap_or_else(|| vec!["443".into(), "[::]:443".into()]),
            server_name: raw
                .nginx
                .server_name
                .unwrap_or_else(|| base_url.host.clone()),
            access_log: resolve(
                &raw.nginx
                    .access_log
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_ACCESS_LOG)),
            ),
            real_ip_from: nets(&raw.nginx.real_ip_from, "nginx.real_ip_from")?,
            acme_webroot: raw.nginx.acme_webroot.as_deref().map(resolve).or_else(|| {
                raw.nginx
                    .tls_certificate
                    .is_some()
                    .then(|| PathBuf::from(DEFAULT_ACME_WEBROOT))
            }),
            tls_certificate: raw.nginx.tls_certificate.as_deref().map(resolve),
            tls_certificate_key: raw.nginx.tls_certificate_key.as_deref().map(resolve),
            instance: raw
                .nginx
                .instance
                .unwrap_or_else(|| DEFAULT_INSTANCE.to_string()),
            keep_logs_days: raw.nginx.keep_logs_days,
            behind_proxy: raw.nginx.behind_proxy,
        };
        match (&nginx.tls_certificate, &nginx.tls_certificate_key) {
            (Some(_), None) => {
                return Err(err(
                    "nginx.tls_certificate is set but nginx.tls_certificate_key is not: nginx \
                     needs both (certbot's are fullchain.pem and privkey.pem, side by side)"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    "nginx.tls_certificate_key is set but nginx.tls_certificate is not: nginx \
                     needs both (certbot's are fullchain.pem and privkey.pem, side by side)"
                        .into(),
                ));
            }
            _ => {}
        }
        if nginx.keep_logs_days == Some(0) {
            return Err(err(
                "nginx.keep_logs_days = 0 would delete every rotated log; leave it out to keep \
                 them all, or give a number of days"
                    .into(),
            ));
        }
        let logs = match raw.analyze.logs {
            Some(list) => list.iter().map(|p| resolve(p)).collect(),
            None => vec![nginx.access_log.clone()],
        };
        let analyze = AnalyzeSettings {
            logs,
            duplicate_window_secs: raw
                .analyze
                .duplicate_window_secs
                .unwrap_or(DEFAULT_DUPLICATE_WINDOW_SECS),
            internal_networks: nets(&raw.analyze.internal_networks, "analyze.internal_networks")?,
            send_window_secs: raw
                .analyze
                .send_window_secs
                .unwrap_or(DEFAULT_SEND_WINDOW_SECS),
            events: raw.analyze.events,
        };
        let classify = ClassifySettings {
            rules: raw.classify.rules.as_deref().map(resolve),
            apple_relay_egress: raw.classify.apple_relay_egress.as_deref().map(resolve),
            lists: raw
                .classify
                .lists
                .iter()
                .map(|(name, path)| (name.clone(), resolve(path)))
                .collect(),
        };
        let timezone = match &raw.report.timezone {
            Some(name) => name
                .parse()
                .map_err(|e: String| err(format!("report.timezone: {e}")))?,
            None => crate::time::Zone::default(),
        };
        Ok(Config {
            report: ReportSettings { timezone },
            path: path.to_path_buf(),
            classify,
            privacy: raw.privacy,
            geoip: GeoipSettings {
                location: raw.geoip.location.as_deref().map(resolve),
                asn: raw.geoip.asn.as_deref().map(resolve),
            },
            rewrite: crate::rewrite::Settings {
                skip: raw.rewrite.skip,
                track_unsubscribe: raw.rewrite.track_unsubscribe,
            },
            base_url,
            key_file: resolve(&raw.key_file),
            sends: match &raw.sends {
                Some(p) => resolve(p),
                None => resolve(&raw.manifest).with_file_name("sends.csv"),
            },
            manifest: resolve(&raw.manifest),
            nginx,
            analyze,
        })
    }

    /// The TLS lines of the template: for an https base URL, certbot's paths for its host (nginx
    /// serves port 80 alone until they exist); for http, the same lines commented out.
    fn template_tls(base_url: &BaseUrl) -> String {
        let https = base_url.url.starts_with("https://");
        let (cert, key) = certbot_paths(&base_url.host);
        let hash = if https { "" } else { "# " };
        format!(
            "# TLS: a certificate for the base URL's host (certbot's paths; until they exist,\n\
             # `pxtrack nginx` writes the port-80 server alone, which answers certbot).\n\
             {hash}tls_certificate = \"{}\"\n\
             {hash}tls_certificate_key = \"{}\"\n\
             # The directory `certbot certonly --webroot -w DIR` writes its challenges into.\n\
             {hash}acme_webroot = \"{DEFAULT_ACME_WEBROOT}\"\n\
             # TLS `listen` values (HTTP/2 is added).\n\
             {hash}tls_listen = [\"443\", \"[::]:443\"]\n",
            cert.display(),
            key.display()
        )
    }

    /// The text `init` writes: every setting, commented, with its default.
    pub fn template(base_url: &BaseUrl) -> String {
        format!(
            r#"# pxtrack configuration. Relative paths are relative to this file.
# Every command finds it by --config FILE, else $PXTRACK_CONFIG, else ./pxtrack.toml.

# The public base of every tracking URL: pixels are BASE/o/<token>.png, links BASE/c/<token>.
base_url = "{url}"

# The secret signing key (mode 0600). PXTRACK_KEY, when set, is used instead.
key_file = "pxtrack.key"

# Every minted token, one CSV row each. No secret is ever written here.
manifest = "manifest.csv"

# One row per message `pxtrack rewrite` prepares: subject, sender, template, sent at.
sends = "sends.csv"

[nginx]
# Everything in this section is about the server that runs nginx (paths are paths there).
# Plain-HTTP `listen` values, one directive each. With a certificate below, this port only
# answers certbot's challenge and redirects everything else to https.
listen = ["80", "[::]:80"]
{tls}# server_name defaults to the base URL's host.
server_name = "{host}"
# Where nginx writes pxtrack's access log. Keep it out of /var/log/nginx/, whose logrotate
# deletes logs after 14 days: `pxtrack nginx` writes a logrotate file that keeps this one.
access_log = "{log}"
# Days the logrotate file keeps rotated logs; unset: never deleted (the log is the database).
# keep_logs_days = 730
# Load balancers or CDNs in front of nginx whose X-Forwarded-For may be trusted.
real_ip_from = []
# true when a proxy or CDN in front of nginx answers the base URL and terminates TLS.
# behind_proxy = false
# The name of this pxtrack in nginx (log format, variables, maps): change it for a second one.
# instance = "pxtrack"

[analyze]
# Logs read when `pxtrack analyze` is given no path (rotated and .gz siblings included).
logs = ["{log}"]
# Repeats of one token from one client within this window are counted as duplicates.
duplicate_window_secs = {window}
# Your own networks (office, VPN): hits from them are internal tests, not recipients.
internal_networks = []
# A Gmail proxy load within this many seconds of a message's send (sends.csv) is the sender's
# Sent copy or a prefetch, not the recipient's open.
send_window_secs = 60

[classify]
# Your own rules, checked before the built-in ones (`pxtrack rules` prints the rules in force).
# rules = "rules.toml"
# A copy of Apple's iCloud Private Relay egress list (egress-ip-ranges.csv), to recognise Apple
# Mail Privacy Protection by address. pxtrack ships none: a stale copy would pass for current.
# apple_relay_egress = "egress-ip-ranges.csv"

# Fresher copies of the providers' published networks (Microsoft's Exchange Online Protection,
# Google's fetchers and crawlers, Barracuda, the clouds), each as downloaded from the address
# `pxtrack rules` shows, by list name. `pxtrack rules` warns when a list in force is over a year old.
# [classify.lists]
# microsoft-eop = "endpoints-worldwide.json"
# google-special-crawlers = "special-crawlers.json"
# aws = "ip-ranges.json"

[geoip]
# MaxMind DB files: a City or Country database for countries, an ASN database for networks.
# Unset, pxtrack looks in /usr/share/GeoIP/ and /var/lib/GeoIP/; with none, geo is simply off.
# location = "/var/lib/GeoIP/GeoLite2-City.mmdb"
# asn = "/var/lib/GeoIP/GeoLite2-ASN.mmdb"

[rewrite]
# URLs `pxtrack rewrite` leaves alone: prefixes ("https://example.com/account/") or domains
# ("example.com", its subdomains too).
skip = []
# Unsubscribe links are left alone unless this is true.
track_unsubscribe = false

[privacy]
# Show IPv4 addresses as /24 and IPv6 as /48 in the report and events.csv.
anonymize_ip = false
# false: the report and events.csv keep no per-recipient detail, only campaign and link figures.
recipient_detail = true
"#,
            url = base_url.url,
            host = base_url.host,
            log = DEFAULT_ACCESS_LOG,
            tls = Self::template_tls(base_url),
            window = DEFAULT_DUPLICATE_WINDOW_SECS,
        )
    }
}

/// Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128).
pub fn parse_net(text: &str) -> std::result::Result<IpNet, String> {
    let t = text.trim();
    t.parse::<IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| format!("expected an address or CIDR network, found {t:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_forms() {
        let b = BaseUrl::parse("https://T.Example.com/").unwrap();
        assert_eq!(b.url, "https://t.example.com");
        assert_eq!(b.path_prefix, "");
        assert_eq!(b.open_url("X"), "https://t.example.com/o/X.png");
        let b = BaseUrl::parse("http://example.com:8080/track/").unwrap();
        assert_eq!(b.url, "http://example.com:8080/track");
        assert_eq!(b.click_url("Y"), "http://example.com:8080/track/c/Y");
        assert!(BaseUrl::parse("ftp://x").is_err());
        assert!(BaseUrl::parse("https://x/?q=1").is_err());
        assert!(BaseUrl::parse("https://x/a$b").is_err());
        assert!(BaseUrl::parse("not a url").is_err());
    }

    #[test]
    fn template_round_trips_and_resolves_paths() {
        let b = BaseUrl::parse("https://t.example.com").unwrap();
        let c = Config::parse(&Config::template(&b), Path::new("/etc/px/pxtrack.toml")).unwrap();
        assert_eq!(c.key_file, Path::new("/etc/px/pxtrack.key"));
        assert_eq!(c.manifest, Path::new("/etc/px/manifest.csv"));
        assert_eq!(c.nginx.server_name, "t.example.com");
        assert_eq!(c.analyze.logs, vec![PathBuf::from(DEFAULT_ACCESS_LOG)]);
    }

    #[test]
    fn unknown_keys_and_bad_networks_are_errors() {
        let p = Path::new("c.toml");
        let e = Config::parse("base_url = \"https://x\"\nbsae = 1\n", p).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = Config::parse(
            "base_url = \"https://x\"\n[analyze]\ninternal_networks = [\"10.0.0.0/33\"]\n",
            p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("analyze.internal_networks"), "{e}");
    }

    #[test]
    fn anonymized_addresses() {
        let p = Privacy {
            anonymize_ip: true,
            recipient_detail: true,
        };
        assert_eq!(p.show_ip("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(
            p.show_ip("2001:db8:1:2::5".parse().unwrap()),
            "2001:db8:1::/48"
        );
        assert_eq!(
            Privacy::default().show_ip("203.0.113.77".parse().unwrap()),
            "203.0.113.77"
        );
    }

    #[test]
    fn bare_addresses_are_host_networks() {
        assert_eq!(parse_net("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(parse_net("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    }
}
