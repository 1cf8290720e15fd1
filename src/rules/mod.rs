//! Classification rules as data: user-agent patterns, IP networks, autonomous systems and timing
//! windows.
//!
//! The built-in rules are `src/rules/builtin.toml`, embedded in the binary. A user file of the same
//! format (named by `[classify] rules` in the config) is checked first, so it can add entries and
//! override built-in ones. Apple's published iCloud Private Relay egress list
//! (`prefix,country,region,city,`) is loaded when the config points at a copy; none is shipped,
//! because a stale copy would pass for a current one.
//!
//! Networks match by longest prefix, via a table of disjoint address ranges. This module only holds
//! and matches rules; [`crate::classify`] decides what a match means.
//!
//! Key types: [`Rules`], [`UaRule`], [`NetRule`], [`Scope`], [`Certainty`], [`Windows`].

mod file;
mod lists;
mod ranges;

use file::*;
pub use lists::{ListCopy, ListFormat, ListInfo, STALE_AFTER_DAYS};
use ranges::*;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ipnet::IpNet;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::HitClass;
use crate::model::HitKind;

/// The built-in rules file.
pub const BUILTIN: &str = include_str!("builtin.toml");

/// How a user-agent rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UaMatch {
    /// The whole user agent equals the pattern.
    Exact,
    /// The user agent starts with it.
    Prefix,
    /// The user agent contains it (case-sensitive).
    Contains,
    /// The user agent contains it, ignoring ASCII case.
    ContainsAnyCase,
    /// The user agent contains the pattern (`@`) between a name and a host whose last label is
    /// letters (`name@example.com`): a contact address, which software that announces itself
    /// gives and browsers do not (`android@85.0.4183.127`, a version, is not one).
    ContainsAddress,
}

impl UaMatch {
    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            UaMatch::Exact => "exact",
            UaMatch::Prefix => "prefix",
            UaMatch::Contains => "contains",
            UaMatch::ContainsAnyCase => "contains-any-case",
            UaMatch::ContainsAddress => "contains-address",
        }
    }
}

/// Which hits a network rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Pixel loads only.
    Opens,
    /// Link clicks only.
    Clicks,
    /// Both.
    Both,
}

impl Scope {
    /// Whether a hit of `kind` is in scope.
    pub fn covers(self, kind: HitKind) -> bool {
        matches!(
            (self, kind),
            (Scope::Both, _) | (Scope::Opens, HitKind::Open) | (Scope::Clicks, HitKind::Click)
        )
    }

    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Opens => "opens",
            Scope::Clicks => "clicks",
            Scope::Both => "both",
        }
    }
}

/// How sure a rule is. A "probable" network decides only within the delivery window (it also
/// carries people); a "probable" user-agent rule decides, and says it may be wrong.
pub use crate::model::Certainty;

/// Which user agents a network rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum UaShape {
    /// Any user agent.
    #[default]
    Any,
    /// Only a bare Apple WebKit user agent (`... AppleWebKit/605.1.15 (KHTML, like Gecko)` with no
    /// browser token), the shape Apple Mail and its privacy proxy send.
    BareWebkit,
}

impl UaShape {
    /// The name in the rules file (`user_agent = "bare-webkit"`).
    pub fn as_str(self) -> &'static str {
        match self {
            UaShape::Any => "any",
            UaShape::BareWebkit => "bare-webkit",
        }
    }

    /// Whether `ua` has this shape.
    pub fn matches(self, ua: &str) -> bool {
        match self {
            UaShape::Any => true,
            UaShape::BareWebkit => is_bare_webkit(ua),
        }
    }
}

/// A user agent that stops at the engine: Apple Mail (and its privacy proxy, and per one
/// maintainer Outlook's image fetcher) send this; browsers add `Version/`, `Safari/`, `Chrome/`.
pub fn is_bare_webkit(ua: &str) -> bool {
    ua.starts_with("Mozilla/5.0 (")
        && ua.contains("AppleWebKit/")
        && ua.contains("(KHTML, like Gecko)")
        && ![
            "Safari/", "Chrome/", "Version/", "Firefox/", "CriOS/", "FxiOS/", "EdgiOS/",
        ]
        .iter()
        .any(|t| ua.contains(t))
}

/// Where a rule came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in file.
    Builtin,
    /// The user's rules file.
    User,
    /// Apple's Private Relay egress list.
    AppleRelay,
}

impl Origin {
    /// A short name for `pxtrack rules`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Builtin => "built-in",
            Origin::User => "user",
            Origin::AppleRelay => "apple-relay",
        }
    }
}

/// What any rule decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The class.
    pub class: HitClass,
    /// The detail.
    pub detail: Arc<str>,
    /// For proxies: the fetch happens without a reader (delivery-time prefetch).
    pub machine_open: bool,
    /// How sure a match is.
    pub certainty: Certainty,
    /// Where the knowledge comes from.
    pub source: String,
    /// Which file the rule came from.
    pub origin: Origin,
}

/// A user-agent rule.
#[derive(Debug, Clone)]
pub struct UaRule {
    /// How it matches.
    pub kind: UaMatch,
    /// The pattern.
    pub pattern: String,
    /// Which hits it applies to (an app's own link preview is a machine, its pixel loads are
    /// the reader's).
    pub scope: Scope,
    /// What a match decides.
    pub outcome: Outcome,
}

impl UaRule {
    /// Whether `ua` matches.
    pub fn matches(&self, ua: &str) -> bool {
        let p = self.pattern.as_str();
        match self.kind {
            UaMatch::Exact => ua == p,
            UaMatch::Prefix => ua.starts_with(p),
            UaMatch::Contains => ua.contains(p),
            UaMatch::ContainsAnyCase => ua
                .as_bytes()
                .windows(p.len().max(1))
                .any(|w| w.eq_ignore_ascii_case(p.as_bytes())),
            UaMatch::ContainsAddress => ua.match_indices(p).any(|(at, _)| {
                let name_ok = ua[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric());
                let host: &str = ua[at + p.len()..]
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                    .next()
                    .unwrap_or("");
                let tld = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
                name_ok
                    && host.contains('.')
                    && tld.len() >= 2
                    && tld.chars().all(|c| c.is_ascii_alphabetic())
            }),
        }
    }

    /// The rule in words, for the `reason` column.
    pub fn describe(&self) -> String {
        let p = &self.pattern;
        match self.kind {
            UaMatch::Exact => format!("user agent is exactly {p:?}"),
            UaMatch::Prefix => format!("user agent starts with {p:?}"),
            UaMatch::Contains => format!("user agent contains {p:?}"),
            UaMatch::ContainsAnyCase => format!("user agent contains {p:?} (any case)"),
            UaMatch::ContainsAddress => "user agent gives a contact address".to_string(),
        }
    }
}

/// A network or autonomous-system rule.
#[derive(Debug, Clone)]
pub struct NetRule {
    /// The networks, or `AS` numbers in words, for display.
    pub matches: String,
    /// Which hits it applies to.
    pub scope: Scope,
    /// How sure it is.
    pub certainty: Certainty,
    /// Which user agents it applies to.
    pub user_agent: UaShape,
    /// When a match decides.
    pub window: NetWindow,
    /// What a match decides.
    pub outcome: Outcome,
    /// The published list its networks come from, if any.
    pub list: Option<ListInfo>,
}

/// When a network rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetWindow {
    /// Whenever it matches, before the user-agent rules (the default for `certain` rules).
    Always,
    /// Only within the delivery window of the message's send or first request, after the
    /// user-agent rules (the default for `probable` rules: the network also carries people).
    Delivery,
}

impl NetWindow {
    /// The default for a rule of `certainty`.
    pub fn default_for(certainty: Certainty) -> Self {
        match certainty {
            Certainty::Certain => NetWindow::Always,
            Certainty::Probable => NetWindow::Delivery,
        }
    }

    /// The name in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            NetWindow::Always => "always",
            NetWindow::Delivery => "delivery",
        }
    }
}

/// Timing windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    /// Seconds after a message's first activity in which "probable" networks decide.
    pub delivery_secs: u32,
    /// Two or more links of one message clicked from one address within this: a scanner sweep.
    pub burst_secs: u32,
    /// A bad click token then a valid click from one address within this: Safe Links' probe.
    pub probe_secs: u32,
    /// A click within this long of its message's send (when `sends.csv` says when) is probably
    /// a gateway following the link at delivery; 0 turns the rule off.
    pub instant_secs: u32,
}

/// All rules in force.
#[derive(Debug, Clone)]
pub struct Rules {
    /// User-agent rules, first match wins.
    pub user_agents: Vec<UaRule>,
    /// Network and AS rules (indexed by the tables below).
    pub nets: Vec<NetRule>,
    /// Network -> rule index; the first registered wins for a network listed twice.
    registered: HashMap<IpNet, usize>,
    /// The registered IPv4 networks as ranges, each with its longest prefix's rule.
    v4: RangeTable<u32>,
    /// The same for IPv6.
    v6: RangeTable<u128>,
    /// AS number -> rule index.
    by_asn: HashMap<u32, usize>,
    /// Timing windows.
    pub windows: Windows,
    /// How many networks the tables hold.
    pub network_count: usize,
}

impl Rules {
    /// The built-in rules alone.
    pub fn builtin() -> Self {
        Rules::load(None, None).expect("the embedded rules file is valid (checked by a unit test)")
    }

    fn empty() -> Self {
        Rules {
            user_agents: Vec::new(),
            nets: Vec::new(),
            registered: HashMap::new(),
            v4: RangeTable::default(),
            v6: RangeTable::default(),
            by_asn: HashMap::new(),
            windows: Windows {
                delivery_secs: 300,
                burst_secs: 2,
                probe_secs: 2,
                instant_secs: 60,
            },
            network_count: 0,
        }
    }

    /// The rules in force: the user's file first (each window it sets replaces the built-in
    /// one; those it leaves out keep theirs), then the built-in rules, then Apple's relay list
    /// when given.
    pub fn load(user: Option<&Path>, apple_relay: Option<&Path>) -> Result<Self> {
        Rules::load_with_lists(user, apple_relay, &BTreeMap::new())
    }

    /// [`Rules::load`], with fresher copies of published lists: list name (`[classify.lists]`)
    /// -> a file in its publisher's format, read in place of the built-in copy.
    pub fn load_with_lists(
        user: Option<&Path>,
        apple_relay: Option<&Path>,
        lists: &BTreeMap<String, PathBuf>,
    ) -> Result<Self> {
        let mut r = Rules::empty();
        let mut user_windows = None;
        if let Some(path) = user {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            user_windows = r.add_file(&text, path, Origin::User, lists)?;
        }
        let builtin_windows =
            r.add_file(BUILTIN, Path::new("builtin.toml"), Origin::Builtin, lists)?;
        let known: Vec<&str> = r
            .nets
            .iter()
            .filter_map(|n| n.list.as_ref().map(|l| l.name.as_str()))
            .collect();
        if let Some((name, path)) = lists.iter().find(|(n, _)| !known.contains(&n.as_str())) {
            return Err(Error::DataFile {
                path: path.clone(),
                line: None,
                message: format!(
                    "[classify.lists] names {name:?}, which is not a list pxtrack knows; the \
                     lists are: {}",
                    known.join(", ")
                ),
            });
        }
        for w in [builtin_windows, user_windows].into_iter().flatten() {
            r.windows = w.over(r.windows);
        }
        if let Some(path) = apple_relay {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            r.add_apple_relay(&text, path)?;
        }
        Ok(r)
    }

    /// Adds a rules file's entries after those already present; returns its windows, if any.
    fn add_file(
        &mut self,
        text: &str,
        path: &Path,
        origin: Origin,
        lists: &BTreeMap<String, PathBuf>,
    ) -> Result<Option<RawWindows>> {
        let err = |message: String| Error::Config {
            path: path.to_path_buf(),
            line: None,
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let (line, message) = crate::config::describe_toml_error(text, &e);
            Error::Config {
                path: path.to_path_buf(),
                line,
                message,
            }
        })?;
        for u in raw.user_agent {
            if u.pattern.is_empty() {
                return Err(err("a user_agent rule has an empty pattern".into()));
            }
            self.user_agents.push(UaRule {
                kind: u.kind,
                pattern: u.pattern,
                scope: u.scope,
                outcome: Outcome {
                    class: parse_class(&u.class).map_err(err)?,
                    detail: Arc::from(u.detail.as_str()),
                    machine_open: u.machine_open,
                    certainty: u.certainty,
                    source: u.source,
                    origin: origin.clone(),
                },
            });
        }
        for n in raw.network {
            let mut nets = n
                .cidr
                .iter()
                .map(|c| crate::config::parse_net(c).map_err(|m| err(format!("network: {m}"))))
                .collect::<Result<Vec<_>>>()?;
            let mut matches = n.cidr.join(" ");
            let list = match &n.list {
                None if nets.is_empty() => {
                    return Err(err(format!(
                        "network rule {:?} has no cidr and names no list",
                        n.detail
                    )));
                }
                None => None,
                Some(name) => {
                    let (Some(url), Some(format)) = (&n.url, n.format) else {
                        return Err(err(format!(
                            "list {name:?} needs the url it is published at and its format \
                             (cidr, google-ipranges, microsoft-endpoints or aws-ip-ranges)"
                        )));
                    };
                    let mut taken = match &n.taken {
                        Some(t) => Some(lists::date_prefix(t).ok_or_else(|| {
                            err(format!(
                                "list {name:?}: taken = {t:?} is not a YYYY-MM-DD date"
                            ))
                        })?),
                        None if nets.is_empty() => None,
                        None => {
                            return Err(err(format!(
                                "list {name:?} ships networks but no taken = \"YYYY-MM-DD\" date"
                            )));
                        }
                    };
                    let mut copy = ListCopy::Builtin;
                    if let Some(file) = lists.get(name) {
                        let (read, date) = lists::read_list(file, format, &n.select)?;
                        nets = read;
                        taken = date;
                        copy = ListCopy::File(file.clone());
                        matches = format!("{} networks from {}", nets.len(), file.display());
                    } else if nets.is_empty() {
                        matches = format!(
                            "none shipped: name a copy of {url} as [classify.lists] {name}"
                        );
                    } else if nets.len() > 10 {
                        matches = format!("{} networks of the list {name}", nets.len());
                    }
                    Some(ListInfo {
                        name: name.clone(),
                        url: url.clone(),
                        format,
                        select: n.select.clone(),
                        taken,
                        copy,
                        networks: nets.len(),
                    })
                }
            };
            let idx = self.nets.len();
            self.nets.push(NetRule {
                matches,
                list,
                scope: n.scope,
                certainty: n.certainty,
                user_agent: n.user_agent,
                window: n.window.unwrap_or(NetWindow::default_for(n.certainty)),
                outcome: Outcome {
                    class: parse_class(&n.class).map_err(err)?,
                    detail: Arc::from(n.detail.as_str()),
                    machine_open: n.machine_open,
                    certainty: n.certainty,
                    source: n.source,
                    origin: origin.clone(),
                },
            });
            for net in nets {
                self.insert_net(net, idx);
            }
        }
        for a in raw.asn {
            let idx = self.nets.len();
            self.nets.push(NetRule {
                matches: a
                    .asn
                    .iter()
                    .map(|n| format!("AS{n}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                scope: a.scope,
                certainty: a.certainty,
                user_agent: a.user_agent,
                window: a.window.unwrap_or(NetWindow::default_for(a.certainty)),
                list: None,
                outcome: Outcome {
                    class: parse_class(&a.class).map_err(err)?,
                    detail: Arc::from(a.detail.as_str()),
                    machine_open: false,
                    certainty: a.certainty,
                    source: a.source,
                    origin: origin.clone(),
                },
            });
            for n in a.asn {
                self.by_asn.entry(n).or_insert(idx);
            }
        }
        self.index_networks();
        Ok(raw.windows)
    }

    fn insert_net(&mut self, net: IpNet, idx: usize) {
        let inserted = self.registered.entry(net.trunc()).or_insert(idx);
        if *inserted == idx {
            self.network_count += 1;
        }
    }

    /// Rebuilds the range tables from the registered networks, after a file of rules.
    fn index_networks(&mut self) {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (net, &i) in &self.registered {
            let rule = u32::try_from(i).expect("under 4 billion rules");
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()), rule)),
                IpNet::V6(n) => {
                    v6.push((u128::from(n.network()), u128::from(n.broadcast()), rule));
                }
            }
        }
        self.v4 = RangeTable::new(v4);
        self.v6 = RangeTable::new(v6);
    }

    /// Loads Apple's Private Relay egress list: every prefix becomes a rule saying that a pixel
    /// load with a bare Apple WebKit user agent from there is Apple Mail Privacy Protection.
    /// Clicks from relay addresses are people browsing with Private Relay, so they are left alone.
    pub fn add_apple_relay(&mut self, text: &str, path: &Path) -> Result<()> {
        let idx = self.nets.len();
        self.nets.push(NetRule {
            matches: format!("Apple Private Relay egress ({})", path.display()),
            scope: Scope::Opens,
            certainty: Certainty::Certain,
            user_agent: UaShape::BareWebkit,
            window: NetWindow::Always,
            list: Some(ListInfo {
                name: "apple-relay".into(),
                url: "https://mask-api.icloud.com/egress-ip-ranges.csv".into(),
                format: ListFormat::Cidr,
                select: String::new(),
                taken: lists::file_date(path),
                copy: ListCopy::File(path.to_path_buf()),
                networks: 0,
            }),
            outcome: Outcome {
                class: HitClass::Proxy,
                detail: Arc::from("apple-mpp"),
                machine_open: true,
                certainty: Certainty::Certain,
                source: "Apple's iCloud Private Relay egress-ip-ranges.csv".into(),
                origin: Origin::AppleRelay,
            },
        });
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let prefix = line.split(',').next().unwrap_or("");
            let net = prefix.parse::<IpNet>().map_err(|_| Error::DataFile {
                path: path.to_path_buf(),
                line: Some(i as u64 + 1),
                message: format!("expected a CIDR prefix as the first field, found {prefix:?}"),
            })?;
            self.insert_net(net.trunc(), idx);
            if let Some(l) = self.nets[idx].list.as_mut() {
                l.networks += 1;
            }
        }
        self.index_networks();
        Ok(())
    }

    /// The published lists behind the network rules, in the order the rules are checked.
    pub fn lists(&self) -> impl Iterator<Item = &ListInfo> {
        self.nets.iter().filter_map(|n| n.list.as_ref())
    }

    /// The first user-agent rule that matches.
    pub fn match_user_agent(&self, ua: &str) -> Option<&UaRule> {
        self.user_agents.iter().find(|r| r.matches(ua))
    }

    /// The rule of the longest network prefix containing `ip`.
    pub fn match_ip(&self, ip: IpAddr) -> Option<(usize, &NetRule)> {
        let rule = match ip {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => self.v6.get(u128::from(a)),
        }?;
        Some((rule as usize, &self.nets[rule as usize]))
    }

    /// The rule for an autonomous system number.
    pub fn match_asn(&self, asn: u32) -> Option<(usize, &NetRule)> {
        self.by_asn.get(&asn).map(|&i| (i, &self.nets[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest registered prefix containing `ip`, by trying every network: what the range
    /// tables must agree with.
    fn longest_prefix(r: &Rules, ip: IpAddr) -> Option<usize> {
        r.registered
            .iter()
            .filter(|(net, _)| net.contains(&ip))
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|(_, &i)| i)
    }

    /// The addresses where a range table's answer can change: each network's first and last
    /// address and their neighbours.
    fn edges(r: &Rules) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for net in r.registered.keys() {
            match net {
                IpNet::V4(n) => {
                    let (a, b) = (u32::from(n.network()), u32::from(n.broadcast()));
                    for x in [a.checked_sub(1), Some(a), Some(b), b.checked_add(1)] {
                        out.extend(x.map(|x| IpAddr::from(std::net::Ipv4Addr::from(x))));
                    }
                }
                IpNet::V6(n) => {
                    let (a, b) = (u128::from(n.network()), u128::from(n.broadcast()));
                    for x in [a.checked_sub(1), Some(a), Some(b), b.checked_add(1)] {
                        out.extend(x.map(|x| IpAddr::from(std::net::Ipv6Addr::from(x))));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn builtin_networks_match_by_longest_prefix_at_every_edge() {
        let r = Rules::builtin();
        let edges = edges(&r);
        assert!(edges.len() > 50);
        for ip in edges {
            assert_eq!(r.match_ip(ip).map(|m| m.0), longest_prefix(&r, ip), "{ip}");
        }
    }

    proptest::proptest! {
        #[test]
        fn range_tables_agree_with_longest_prefix(
            nets in proptest::collection::vec((0u32..64, 0u8..=32, 0usize..5), 0..40),
            v6 in proptest::collection::vec((proptest::prelude::any::<u128>(), 0u8..=128), 0..10),
            probes in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..50),
        ) {
            // Networks crowded into a few /8s, so that they nest, share first addresses and
            // repeat with other rules.
            let mut r = Rules::empty();
            r.nets = vec![Rules::builtin().nets[0].clone(); 5];
            for (top, len, rule) in nets {
                let ip = std::net::Ipv4Addr::from(top << 26 | (rule as u32) << 20);
                r.insert_net(IpNet::new(ip.into(), len).unwrap(), rule);
            }
            for (ip, len) in v6 {
                let ip = std::net::Ipv6Addr::from(ip);
                r.insert_net(IpNet::new(ip.into(), len).unwrap(), 0);
            }
            r.index_networks();
            let mut ips = edges(&r);
            ips.extend(probes.into_iter().map(|p| IpAddr::from(std::net::Ipv4Addr::from(p))));
            for ip in ips {
                proptest::prop_assert_eq!(r.match_ip(ip).map(|m| m.0), longest_prefix(&r, ip));
            }
        }
    }

    #[test]
    fn builtin_rules_load() {
        let r = Rules::builtin();
        assert!(r.user_agents.len() > 40);
        assert_eq!(r.windows.burst_secs, 2);
        let (_, eop) = r.match_ip("40.107.218.12".parse().unwrap()).unwrap();
        assert_eq!(eop.outcome.detail.as_ref(), "microsoft-defender");
        assert!(r.match_ip("203.0.113.1".parse().unwrap()).is_none());
        assert_eq!(r.match_asn(8075).unwrap().1.certainty, Certainty::Probable);
        let gmail = r
            .match_user_agent("Mozilla/5.0 (via ggpht.com GoogleImageProxy)")
            .unwrap();
        assert_eq!(gmail.outcome.class, HitClass::Proxy);
    }

    #[test]
    fn user_rules_come_first_and_longest_prefix_wins() {
        let d = tempfile::tempdir().unwrap();
        let user = d.path().join("mine.toml");
        std::fs::write(
            &user,
            r#"
[windows]
delivery_secs = 60
burst_secs = 1
probe_secs = 1

[[user_agent]]
match = "prefix"
pattern = "curl/"
class = "internal"
detail = "our-monitoring"

[[network]]
cidr = ["40.107.218.0/24"]
class = "human"
detail = "partner-office"
scope = "both"
certainty = "certain"
"#,
        )
        .unwrap();
        let relay = d.path().join("egress.csv");
        std::fs::write(
            &relay,
            "172.224.226.0/27,GB,GB-EN,London,\n2a02:26f7::/48,US,US-CA,,\n",
        )
        .unwrap();
        let r = Rules::load(Some(&user), Some(&relay)).unwrap();
        assert_eq!(r.windows.delivery_secs, 60);
        // A file that sets one window keeps the built-in values of the others.
        let some = d.path().join("some.toml");
        std::fs::write(&some, "[windows]\nburst_secs = 5\n").unwrap();
        let w = Rules::load(Some(&some), None).unwrap().windows;
        let builtin = Rules::builtin().windows;
        assert_eq!(
            (w.delivery_secs, w.burst_secs, w.probe_secs),
            (builtin.delivery_secs, 5, builtin.probe_secs)
        );
        assert_eq!(
            r.match_user_agent("curl/8")
                .unwrap()
                .outcome
                .detail
                .as_ref(),
            "our-monitoring"
        );
        let (_, n) = r.match_ip("40.107.218.12".parse().unwrap()).unwrap();
        assert_eq!(n.outcome.detail.as_ref(), "partner-office");
        let (_, n) = r.match_ip("40.107.1.1".parse().unwrap()).unwrap();
        assert_eq!(n.outcome.detail.as_ref(), "microsoft-defender");
        let (_, n) = r.match_ip("172.224.226.5".parse().unwrap()).unwrap();
        assert_eq!(
            (n.outcome.detail.as_ref(), n.user_agent),
            ("apple-mpp", UaShape::BareWebkit)
        );
        assert!(r.match_ip("2a02:26f7::1".parse().unwrap()).is_some());
    }

    #[test]
    fn bad_files_name_the_problem() {
        let d = tempfile::tempdir().unwrap();
        let user = d.path().join("bad.toml");
        std::fs::write(
            &user,
            "[[user_agent]]\nmatch = \"regex\"\npattern = \"x\"\nclass = \"bot\"\ndetail = \"x\"\n",
        )
        .unwrap();
        let e = Rules::load(Some(&user), None).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("regex"), "{e}");
        let relay = d.path().join("egress.csv");
        std::fs::write(&relay, "172.224.226.0/27,GB\nnot-a-prefix,US\n").unwrap();
        let e = Rules::load(None, Some(&relay)).unwrap_err().to_string();
        assert!(e.contains("egress.csv:2"), "{e}");
    }

    #[test]
    fn bare_webkit_shape() {
        assert!(is_bare_webkit(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        ));
        assert!(is_bare_webkit(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
        ));
        assert!(!is_bare_webkit(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
        ));
    }
}
