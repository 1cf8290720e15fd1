//! Classification: every event gets a class, a detail and the reason that decided it. Nothing is
//! dropped; the report counts by class.
//!
//! The rules, in order of precedence (the tables behind them are data, see [`crate::rules`]):
//! 1. a request with no token, or a token that is forged, expired or unknown: `invalid`;
//! 2. a client in one of the configured internal networks: `internal`;
//! 3. a network rule that decides always (`window = "always"`, the default for certain ones)
//!    covering the hit's kind (Exchange Online Protection, Barracuda gateways, Google's
//!    fetchers, Apple's relay for bare-WebKit pixel loads): its class. Security gateways use
//!    stock browser user agents, so the network has to speak first;
//! 4. no user agent at all: `bot`; else the first matching user-agent rule for the hit's kind:
//!    `proxy`, `scanner`, `bot` (the honest machines name themselves);
//! 5. a network or autonomous system that decides near delivery (Azure, Exchange Online,
//!    Proofpoint, Mimecast, the clouds) within the delivery window of the message's send or
//!    first request: its class;
//! 6. a bare Apple WebKit pixel load within the delivery window of its send: `proxy`
//!    (`apple-mpp`, probable: Apple's privacy proxy loads images on arrival);
//! 7. any method but GET, a HEAD request, or a `Sec-Purpose`/`Purpose` prefetch: `bot`; a click
//!    right after a forged or mutated click from the same address: `scanner` (`link-probe`,
//!    Safe Links' habit); a click within the instant window of its send: `scanner`
//!    (`at-delivery`, probable);
//! 8. the same token from the same address and user agent within the duplicate window of that
//!    client's previous request: `duplicate` (only for what would otherwise count);
//! 9. everything else: `human`, meaning human-looking, not proven;
//! 10. two or more different links of one message clicked from one address within the burst
//!     window become `scanner` (`click-burst`), including the clicks before the one that showed it
//!     ([`Stream`] holds events for that window).
//!
//! Every verdict is `certain` or `probable` ([`Certainty`]): probable when the signal that
//! decided can come from a person too, and for every human-looking hit.
//!
//! Events must be fed in time order. User-agent verdicts are cached per distinct agent; network
//! rules are a table of address ranges, fast enough to ask for every hit.
//!
//! Key types: [`HitClass`], [`Verdict`], [`Classifier`], [`Stream`].

mod fixed;
mod stream;

use fixed::Fixed;
pub use stream::Stream;

use crate::model::HitClass;
use foldhash::{HashMap, HashMapExt as _};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::hit::Event;

use crate::fast::prefetch;

use crate::manifest::Manifest;
use crate::model::{AgentKey, Headers, HitKind, TokenStatus};
use crate::rules::{Certainty, NetRule, NetWindow, Outcome, Rules};
use crate::token::Forgery;

/// A class, the detail that names the source, and the rule that decided it, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The class.
    pub class: HitClass,
    /// Which source or rule: `gmail`, `curl`, `head-request`, `bad-signature`, ...
    pub detail: Arc<str>,
    /// Why, in words, for the report and the `reason` column.
    pub reason: Arc<str>,
    /// For proxy opens: fetched without a reader (Apple MPP, Gmail's delivery-time prefetch), so
    /// an open but not a human one.
    pub machine_open: bool,
    /// Whether the signal that decided is enough by itself (`certain`) or points one way while
    /// people can send it too (`probable`): every human-looking hit is probable.
    pub certainty: Certainty,
}

impl Verdict {
    fn new(class: HitClass, detail: Arc<str>, reason: impl Into<Arc<str>>) -> Self {
        Verdict {
            class,
            detail,
            reason: reason.into(),
            machine_open: false,
            certainty: Certainty::Certain,
        }
    }

    /// The same verdict, marked probable.
    fn probable(self) -> Self {
        Verdict {
            certainty: Certainty::Probable,
            ..self
        }
    }

    fn from_outcome(o: &Outcome, reason: String) -> Self {
        Verdict {
            class: o.class,
            detail: o.detail.clone(),
            reason: reason.into(),
            machine_open: o.machine_open,
            certainty: o.certainty,
        }
    }
}

/// Classifies events fed in time order (see the module docs for the rules' order).
pub struct Classifier<'r> {
    rules: &'r Rules,
    internal: Vec<IpNet>,
    duplicate_ms: i64,
    delivery_ms: i64,
    instant_ms: i64,
    probe_ms: i64,
    /// User agent -> the verdict of the first user-agent rule it matches, if any, for a pixel
    /// load and for a click (a rule may cover only one).
    ua_cache: HashMap<AgentKey, [Option<Verdict>; 2]>,
    /// The reason of a duplicate, by seconds since the previous request (a few dozen values).
    duplicate_reasons: HashMap<i64, Arc<str>>,
    /// The reasons of the timing rules (Apple's proxy on arrival, a click on arrival), by rule
    /// and seconds since the send: built once each, not once per hit.
    timed_reasons: HashMap<(Timed, i64), Arc<str>>,
    /// Last request time per (manifest row, client, user agent), for duplicates.
    last_seen: HashMap<(usize, IpAddr, AgentKey), i64>,
    /// Manifest row -> message (campaign and recipient).
    message_of_row: Vec<u32>,
    /// Manifest row -> when its token was minted, ms: a hit long before that is impossible.
    minted_ms: Vec<i64>,
    /// Message -> when it was sent, when `sends.csv` says so.
    sent_ms: Vec<Option<i64>>,
    /// A Gmail proxy load within this long of the send is the sender's Sent copy or a
    /// provider's prefetch, not the recipient's open.
    send_window_ms: i64,
    /// Message -> time of its first request, the best estimate of its delivery (its send time,
    /// when known).
    /// A vector indexed by message, not a map: this lookup runs for every hit, and a map's
    /// probe was two cache misses where the vector has one. `i64::MIN`: none yet.
    first_activity: Vec<i64>,
    /// Client -> time of its last click with a forged or unknown token.
    last_bad_click: HashMap<IpAddr, i64>,
    /// Message -> countries of its human-looking hits so far.
    countries: HashMap<u32, Vec<Arc<str>>>,
    human: Verdict,
    /// The verdicts whose words never change, built once: by the address and length of their
    /// reason (a string constant), which spares hashing and comparing its text for every hit.
    fixed: Vec<Verdict>,
    /// The reason of a hit from a certain network, by (rule, address): it names the address, so
    /// it is built once per address rather than once per hit.
    net_reasons: HashMap<(usize, IpAddr), Arc<str>>,
    /// When to run [`Classifier::prune`].
    prune: PruneClock,
    /// The details of the verdicts made per hit.
    details: Details,
}

/// The details of the verdicts the classifier makes hit by hit (the others are the rules' own or
/// built once), made once: a verdict then allocates nothing for its detail, and the exports'
/// caches, which know a text by the address it is shared at, find it (a detail made anew for
/// every Apple Mail Privacy Protection open of a run with `sends.csv` was a new text to each).
struct Details {
    internal: Arc<str>,
    link_probe: Arc<str>,
    at_delivery: Arc<str>,
    apple_mpp: Arc<str>,
    sent_copy: Arc<str>,
    new_country: Arc<str>,
    click_burst: Arc<str>,
}

impl Default for Details {
    fn default() -> Self {
        Details {
            internal: Arc::from("internal-network"),
            link_probe: Arc::from("link-probe"),
            at_delivery: Arc::from("at-delivery"),
            apple_mpp: Arc::from("apple-mpp"),
            sent_copy: Arc::from("sent-copy"),
            new_country: Arc::from("new-country"),
            click_burst: Arc::from("click-burst"),
        }
    }
}

/// How long before its token's minting a hit may be dated and still count: clocks of the
/// laptop that minted and the server that logged may disagree by minutes, not by hours.
pub const BEFORE_MINT_SLACK_MS: i64 = 3_600_000;

/// Gives each manifest row the index of its message: one campaign sent to one recipient.
pub fn messages_of(manifest: &Manifest) -> Vec<u32> {
    let mut ids: HashMap<(&str, &str), u32> = HashMap::new();
    manifest
        .rows
        .iter()
        .map(|r| {
            let n = ids.len() as u32;
            *ids.entry((r.campaign.as_str(), r.recipient.as_str()))
                .or_insert(n)
        })
        .collect()
}

impl<'r> Classifier<'r> {
    /// A classifier over `rules` for the rows of `manifest`.
    pub fn new(
        rules: &'r Rules,
        manifest: &Manifest,
        internal: Vec<IpNet>,
        duplicate_window_secs: u32,
    ) -> Self {
        let message_of_row = messages_of(manifest);
        let messages = message_of_row.iter().max().map_or(0, |&m| m as usize + 1);
        Classifier {
            rules,
            internal,
            duplicate_ms: i64::from(duplicate_window_secs) * 1000,
            delivery_ms: i64::from(rules.windows.delivery_secs) * 1000,
            instant_ms: i64::from(rules.windows.instant_secs) * 1000,
            probe_ms: i64::from(rules.windows.probe_secs) * 1000,
            ua_cache: HashMap::new(),
            duplicate_reasons: HashMap::new(),
            timed_reasons: HashMap::new(),
            last_seen: HashMap::new(),
            message_of_row,
            minted_ms: manifest
                .rows
                .iter()
                .map(|r| r.created.timestamp_millis())
                .collect(),
            first_activity: vec![i64::MIN; messages],
            sent_ms: vec![None; messages],
            send_window_ms: 0,
            last_bad_click: HashMap::new(),
            countries: HashMap::new(),
            fixed: Fixed::ALL
                .iter()
                .map(|&f| {
                    let (class, detail, reason) = f.verdict();
                    Verdict::new(class, Arc::from(detail), reason)
                })
                .collect(),
            net_reasons: HashMap::new(),
            prune: PruneClock::default(),
            details: Details::default(),
            human: Verdict::new(
                HitClass::Human,
                Arc::from("direct"),
                "no machine signal: user agent, method, headers, address and timing look like a \
                 person's",
            )
            .probable(),
        }
    }

    /// Classifies all events (in time order), including the rules that need to see several
    /// events at once (click bursts).
    pub fn classify_all(self, events: &[Event]) -> Vec<Verdict> {
        let mut stream = Stream::new(self);
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            stream.push(e.clone(), |_, v| out.push(v));
        }
        stream.finish(|_, v| out.push(v));
        out
    }

    /// A verdict whose class, detail and reason are constants, built once per classifier.
    fn fixed(&self, f: Fixed) -> Verdict {
        self.fixed[f as usize].clone()
    }

    /// The verdict of the first user-agent rule `ua` matches for a hit of `kind`, built once
    /// per distinct agent.
    fn user_agent_verdict(&mut self, headers: &Headers, kind: HitKind) -> Option<Verdict> {
        let slot = usize::from(kind == HitKind::Click);
        if let Some(v) = self.ua_cache.get(&headers.agent_key()) {
            return v[slot].clone();
        }
        let ua = headers.user_agent();
        let rules = self.rules;
        let first = |kind: HitKind| {
            rules
                .user_agents
                .iter()
                .find(|r| r.scope.covers(kind) && r.matches(ua))
                .map(|r| Verdict::from_outcome(&r.outcome, r.describe()))
        };
        let found = [first(HitKind::Open), first(HitKind::Click)];
        let verdict = found[slot].clone();
        // User agents come from logs: the cache starts over when full.
        if self.ua_cache.len() >= 100_000 {
            self.ua_cache.clear();
        }
        self.ua_cache.insert(headers.agent_key(), found);
        verdict
    }

    fn network_rule(&self, ev: &Event) -> Option<usize> {
        let by_ip = self.rules.match_ip(ev.client).map(|(i, _)| i);
        by_ip.or_else(|| ev.asn.and_then(|a| self.rules.match_asn(a)).map(|(i, _)| i))
    }

    /// Tells the classifier when messages were sent (`sent(campaign, recipient)`, epoch ms): each
    /// message's delivery window then starts at its send, and a Gmail proxy load within
    /// `send_window_secs` of it is labelled as the sender's Sent copy or a prefetch, not counted
    /// as the recipient's open.
    pub fn with_send_times(
        mut self,
        manifest: &Manifest,
        sent: impl Fn(&str, &str) -> Option<i64>,
        send_window_secs: u32,
    ) -> Self {
        self.send_window_ms = i64::from(send_window_secs) * 1000;
        for (row, &m) in manifest.rows.iter().zip(&self.message_of_row) {
            if let Some(at) = sent(&row.campaign, &row.recipient) {
                self.sent_ms[m as usize] = Some(at);
                self.first_activity[m as usize] = at;
            }
        }
        self
    }

    /// Classifies one event. Call in time order.
    pub fn classify(&mut self, ev: &Event) -> Verdict {
        if self
            .prune
            .due(ev.time_ms, self.duplicate_ms.max(self.probe_ms))
        {
            self.prune(ev.time_ms);
        }
        let message = ev.row.and_then(|r| self.message_of_row.get(r).copied());
        let first = message.map(|m| {
            let first = &mut self.first_activity[m as usize];
            if *first == i64::MIN {
                *first = ev.time_ms;
            }
            *first
        });
        let sent = message.and_then(|m| self.sent_ms[m as usize]);
        let mut base = self.base_verdict(ev, first, sent);
        if base.class == HitClass::Proxy
            && &*base.detail == "gmail"
            && ev.kind == HitKind::Open
            && let Some(sent) = message.and_then(|m| self.sent_ms[m as usize])
            && (0..=self.send_window_ms).contains(&(ev.time_ms - sent))
        {
            base = Verdict {
                class: HitClass::Proxy,
                detail: self.details.sent_copy.clone(),
                reason: format!(
                    "loaded through Gmail's image proxy {} s after the message was sent (send \
                     window {} s): most likely the sender looking at their Sent copy, or a \
                     provider's prefetch; not counted as the recipient's open",
                    (ev.time_ms - sent) / 1000,
                    self.send_window_ms / 1000
                )
                .into(),
                machine_open: true,
                certainty: Certainty::Probable,
            };
        }
        if ev.kind == HitKind::Click && ev.token_status != TokenStatus::Valid {
            self.last_bad_click.insert(ev.client, ev.time_ms);
        }
        if !matches!(base.class, HitClass::Human | HitClass::Proxy) {
            return base;
        }
        let base = match message {
            Some(m) if base.class == HitClass::Human => self.note_country(m, ev, base),
            _ => base,
        };
        let Some(row) = ev.row else { return base };
        let key = (row, ev.client, ev.headers.agent_key());
        let previous = self.last_seen.insert(key, ev.time_ms);
        match previous {
            Some(prev) if ev.time_ms - prev <= self.duplicate_ms => {
                let secs = (ev.time_ms - prev) / 1000;
                let window = self.duplicate_ms / 1000;
                let reason = self.duplicate_reasons.entry(secs).or_insert_with(|| {
                    format!(
                        "same token, address and user agent {secs} s after the previous request \
                         (window {window} s)"
                    )
                    .into()
                });
                Verdict {
                    class: HitClass::Duplicate,
                    detail: base.detail.clone(),
                    reason: reason.clone(),
                    machine_open: base.machine_open,
                    certainty: Certainty::Certain,
                }
            }
            _ => base,
        }
    }

    /// Forgets what no later event can match: requests older than the duplicate window and
    /// forged clicks older than the probe window. This keeps memory flat over a long log.
    fn prune(&mut self, now_ms: i64) {
        let (dup, probe) = (self.duplicate_ms, self.probe_ms);
        self.last_seen.retain(|_, t| now_ms - *t <= dup);
        self.last_bad_click.retain(|_, t| now_ms - *t <= probe);
    }

    /// A human-looking hit from a country none of the message's earlier human hits came from is
    /// still counted, but marked: it may be a forward, or travel.
    fn note_country(&mut self, message: u32, ev: &Event, base: Verdict) -> Verdict {
        let Some(country) = ev.geo.as_ref().and_then(|g| g.country.as_deref()) else {
            return base;
        };
        let seen = self.countries.entry(message).or_default();
        if seen.iter().any(|c| c.as_ref() == country) {
            return base;
        }
        let before = seen
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        seen.push(Arc::from(country));
        if before.is_empty() {
            return base;
        }
        Verdict {
            detail: self.details.new_country.clone(),
            reason: format!(
                "human-looking, but from {country} while this message's earlier human hits came \
                 from {before}: perhaps forwarded"
            )
            .into(),
            ..base
        }
    }

    fn base_verdict(
        &mut self,
        ev: &Event,
        first_activity: Option<i64>,
        sent: Option<i64>,
    ) -> Verdict {
        match ev.token_status {
            TokenStatus::Valid
                if ev
                    .row
                    .and_then(|r| self.minted_ms.get(r))
                    .is_some_and(|&m| ev.time_ms < m.saturating_sub(BEFORE_MINT_SLACK_MS)) =>
            {
                return self.fixed(Fixed::BeforeMint);
            }
            TokenStatus::Valid => {}
            TokenStatus::None => {
                return self.fixed(Fixed::NoToken);
            }
            TokenStatus::Forged => {
                return self.fixed(match ev.forgery {
                    None => Fixed::Forged,
                    Some(Forgery::Malformed) => Fixed::ForgedMalformed,
                    Some(Forgery::UnknownKey) => Fixed::ForgedUnknownKey,
                    Some(Forgery::BadSignature) => Fixed::ForgedBadSignature,
                });
            }
            TokenStatus::Expired => {
                return self.fixed(Fixed::Expired);
            }
            TokenStatus::Unknown => {
                return self.fixed(Fixed::Unknown);
            }
        }
        if let Some(net) = self.internal.iter().find(|n| n.contains(&ev.client)) {
            return Verdict::new(
                HitClass::Internal,
                self.details.internal.clone(),
                format!("client address is in the internal network {net}"),
            );
        }
        let rules = self.rules;
        let net_i = self.network_rule(ev).filter(|&i| {
            let n = &rules.nets[i];
            n.scope.covers(ev.kind) && n.user_agent.matches(ev.headers.user_agent())
        });
        let net = net_i.map(|i| &rules.nets[i]);
        let net_reason = |n: &NetRule, extra: &str| {
            format!(
                "address {}{} is in a {} network ({}, {}){extra}",
                ev.client,
                ev.asn.map(|a| format!(" (AS{a})")).unwrap_or_default(),
                n.outcome.detail,
                n.outcome.class.as_str(),
                n.certainty.as_str(),
            )
        };
        // Networks identify the machines that hide behind browser user agents.
        if let Some(i) = net_i.filter(|&i| rules.nets[i].window == NetWindow::Always) {
            let n = &rules.nets[i];
            // Addresses come from logs: the cache starts over when full.
            if self.net_reasons.len() >= 1 << 16 {
                self.net_reasons.clear();
            }
            let reason = self
                .net_reasons
                .entry((i, ev.client))
                .or_insert_with(|| net_reason(n, "").into())
                .clone();
            return Verdict {
                class: n.outcome.class,
                detail: n.outcome.detail.clone(),
                reason,
                machine_open: n.outcome.machine_open,
                certainty: n.outcome.certainty,
            };
        }
        if ev.headers.user_agent().is_empty() {
            return self.fixed(Fixed::NoUserAgent);
        }
        if let Some(v) = self.user_agent_verdict(&ev.headers, ev.kind) {
            return v;
        }
        if let Some(n) = net.filter(|n| n.window == NetWindow::Delivery)
            && let Some(first) = first_activity
            && ev.time_ms - first <= self.delivery_ms
        {
            let extra = format!(
                ", {} s after the message's first request (delivery window {} s)",
                (ev.time_ms - first) / 1000,
                self.delivery_ms / 1000
            );
            return Verdict::from_outcome(&n.outcome, net_reason(n, &extra)).probable();
        }
        let since_send = sent.map(|s| ev.time_ms - s).filter(|d| *d >= 0);
        // Apple Mail Privacy Protection without Apple's relay list: its proxy sends Apple Mail's
        // bare WebKit user agent and fetches the images when the message arrives, read or not.
        if ev.kind == HitKind::Open
            && let Some(d) = since_send.filter(|&d| d <= self.delivery_ms)
            && crate::rules::is_bare_webkit(ev.headers.user_agent())
        {
            return Verdict {
                class: HitClass::Proxy,
                detail: self.details.apple_mpp.clone(),
                reason: self.timed_reason(Timed::AppleOnArrival, d / 1000),
                machine_open: true,
                certainty: Certainty::Probable,
            };
        }
        if !matches!(ev.headers.method(), "GET" | "HEAD") {
            return self.fixed(Fixed::UnexpectedMethod);
        }
        if ev.headers.method() == "HEAD" {
            return self.fixed(Fixed::HeadRequest);
        }
        if !ev.headers.purpose().is_empty() && {
            let purpose = ev.headers.purpose().to_ascii_lowercase();
            ["prefetch", "preview", "prerender"]
                .iter()
                .any(|p| purpose.contains(p))
        } {
            return self.fixed(Fixed::Prefetch);
        }
        if ev.kind == HitKind::Click
            && let Some(&bad) = self.last_bad_click.get(&ev.client)
            && ev.time_ms - bad <= self.probe_ms
        {
            return Verdict::new(
                HitClass::Scanner,
                self.details.link_probe.clone(),
                format!(
                    "a forged or mutated click from the same address {} ms before: the probe \
                     link scanners such as Safe Links send first",
                    ev.time_ms - bad
                ),
            )
            .probable();
        }
        if ev.kind == HitKind::Click
            && let Some(d) = since_send.filter(|&d| d <= self.instant_ms)
        {
            let reason = self.timed_reason(Timed::ClickOnArrival, d / 1000);
            let detail = self.details.at_delivery.clone();
            return Verdict::new(HitClass::Scanner, detail, reason).probable();
        }
        self.human.clone()
    }
}

/// The timing rules whose reason names the seconds since the send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Timed {
    AppleOnArrival,
    ClickOnArrival,
}

impl Classifier<'_> {
    /// The reason of a timing rule that decided `secs` after the send, built once per value.
    fn timed_reason(&mut self, rule: Timed, secs: i64) -> Arc<str> {
        let (delivery, instant) = (self.delivery_ms / 1000, self.instant_ms / 1000);
        self.timed_reasons
            .entry((rule, secs))
            .or_insert_with(|| {
                match rule {
                    Timed::AppleOnArrival => format!(
                        "bare Apple WebKit user agent {secs} s after the message was sent \
                         (delivery window {delivery} s): Apple Mail Privacy Protection loads \
                         images on arrival; probable, since Apple Mail with the protection off \
                         sends the same agent (name Apple's relay list as [classify] \
                         apple_relay_egress to be sure)"
                    ),
                    Timed::ClickOnArrival => format!(
                        "clicked {secs} s after the message was sent (instant window {instant} \
                         s): security gateways follow links on arrival, before a person could \
                         read the message"
                    ),
                }
                .into()
            })
            .clone()
    }
}

/// When to forget what has left a window: once the log's time has moved on by the window
/// since the last time, and at least [`PruneClock::MIN_EVENTS`] events later (each pruning
/// reads the whole table); and at the latest every [`PruneClock::MAX_EVENTS`] events.
///
/// Pruning by count alone (every 65,536 events) would keep hours of a quiet log in the tables
/// for windows of seconds: tens of thousands of entries, each lookup a cache miss.
#[derive(Debug, Default)]
struct PruneClock {
    events: u32,
    at_ms: i64,
}

impl PruneClock {
    const MIN_EVENTS: u32 = 1 << 10;
    const MAX_EVENTS: u32 = 1 << 16;

    /// Counts an event at `now_ms`; says whether to prune now.
    fn due(&mut self, now_ms: i64, window_ms: i64) -> bool {
        self.events += 1;
        let due = self.events >= Self::MAX_EVENTS
            || (self.events >= Self::MIN_EVENTS && now_ms - self.at_ms >= window_ms);
        if due {
            self.events = 0;
            self.at_ms = now_ms;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestRow;
    use crate::model::HeaderFields;
    use crate::token::TokenKind;

    fn manifest() -> Manifest {
        let row = |token: &str, kind| ManifestRow::example(kind, token);
        Manifest::new(vec![
            row("o", TokenKind::Open),
            row("c1", TokenKind::Click),
            row("c2", TokenKind::Click),
        ])
    }

    fn ev(ua: &str, method: &str, t_secs: i64) -> Event {
        let mut e = Event::test_open(t_secs * 1000, ua);
        e.headers = Arc::new(Headers::new(HeaderFields {
            method,
            user_agent: ua,
            ..HeaderFields::default()
        }));
        e
    }

    fn click(row: usize, ip: &str, t_ms: i64) -> Event {
        let mut e = ev(FIREFOX, "GET", 0);
        e.kind = HitKind::Click;
        e.row = Some(row);
        e.client = ip.parse().unwrap();
        e.time_ms = t_ms;
        e
    }

    const FIREFOX: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

    fn class_of(ua: &str, method: &str) -> (HitClass, String) {
        let rules = Rules::builtin();
        let v = Classifier::new(&rules, &manifest(), vec![], 60).classify(&ev(ua, method, 0));
        (v.class, v.detail.to_string())
    }

    #[test]
    fn a_hit_long_before_its_token_was_minted_is_invalid() {
        let rules = Rules::builtin();
        let mut m = manifest();
        m.rows[0].created = chrono::DateTime::from_timestamp(10_000, 0).unwrap();
        let mut c = Classifier::new(&rules, &m, vec![], 60);
        let early = c.classify(&ev(FIREFOX, "GET", 10_000 - 3_601));
        assert_eq!(
            (early.class, early.detail.as_ref()),
            (HitClass::Invalid, "before-mint")
        );
        // Within the hour, clocks may simply disagree.
        let close = c.classify(&ev(FIREFOX, "GET", 10_000 - 3_599));
        assert_eq!(close.class, HitClass::Human);
    }

    const BARE_WEBKIT: &str =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)";

    /// A classifier that knows the messages were sent at `sent_secs`.
    fn sent_at(rules: &Rules, sent_secs: i64) -> Classifier<'_> {
        Classifier::new(rules, &manifest(), vec![], 60).with_send_times(
            &manifest(),
            |_, _| Some(sent_secs * 1000),
            60,
        )
    }

    #[test]
    fn apple_privacy_proxy_without_its_list_by_address_family_or_by_arrival() {
        let rules = Rules::builtin();
        // From the relay operators' address families: probable, whenever it comes.
        let mut e = ev(BARE_WEBKIT, "GET", 90_000);
        e.client = "172.224.226.5".parse().unwrap();
        let v = sent_at(&rules, 0).classify(&e);
        assert_eq!(
            (v.class, v.detail.as_ref(), v.certainty, v.machine_open),
            (HitClass::Proxy, "apple-mpp", Certainty::Probable, true)
        );
        // From anywhere, at arrival: probable, and the reason says which signal decided.
        let v = sent_at(&rules, 1_000).classify(&ev(BARE_WEBKIT, "GET", 1_030));
        assert_eq!(
            (v.class, v.certainty),
            (HitClass::Proxy, Certainty::Probable)
        );
        assert!(
            v.reason.contains("30 s after the message was sent"),
            "{}",
            v.reason
        );
        // Later, from a home address: Apple Mail with the protection off, a person.
        let v = sent_at(&rules, 1_000).classify(&ev(BARE_WEBKIT, "GET", 5_000));
        assert_eq!(
            (v.class, v.certainty),
            (HitClass::Human, Certainty::Probable)
        );
        // A Safari click through Private Relay is a person browsing.
        let safari = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_6) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/15.6 Safari/605.1.15";
        let mut e = click(1, "172.224.226.43", 90_000_000);
        e.headers = Arc::new(Headers::new(HeaderFields {
            method: "GET",
            user_agent: safari,
            ..HeaderFields::default()
        }));
        assert_eq!(sent_at(&rules, 0).classify(&e).class, HitClass::Human);
    }

    #[test]
    fn a_click_on_arrival_is_a_probable_scanner_and_a_later_one_a_person() {
        let rules = Rules::builtin();
        let v = sent_at(&rules, 1_000).classify(&click(1, "198.51.100.9", 1_020_000));
        assert_eq!(
            (v.class, v.detail.as_ref(), v.certainty),
            (HitClass::Scanner, "at-delivery", Certainty::Probable)
        );
        let v = sent_at(&rules, 1_000).classify(&click(1, "198.51.100.9", 1_200_000));
        assert_eq!(v.class, HitClass::Human);
        // Without a send time, timing alone decides nothing.
        let mut c = Classifier::new(&rules, &manifest(), vec![], 60);
        assert_eq!(
            c.classify(&click(1, "198.51.100.9", 1_020_000)).class,
            HitClass::Human
        );
    }

    #[test]
    fn microsoft_mail_servers_clicking_near_delivery_are_scanners_their_pixel_loads_are_not() {
        let rules = Rules::builtin();
        let v = sent_at(&rules, 0).classify(&click(1, "52.96.40.12", 200_000));
        assert_eq!(
            (v.class, v.detail.as_ref(), v.certainty),
            (
                HitClass::Scanner,
                "microsoft-exchange-online",
                Certainty::Probable
            )
        );
        let mut open = ev(FIREFOX, "GET", 200);
        open.client = "52.96.40.12".parse().unwrap();
        assert_eq!(sent_at(&rules, 0).classify(&open).class, HitClass::Human);
        // Google's user-triggered fetchers (the prefetch proxy among them) follow links for
        // people; they are not the people.
        let v = sent_at(&rules, 0).classify(&click(1, "74.125.208.13", 90_000_000));
        assert_eq!(
            (v.class, v.detail.as_ref(), v.certainty),
            (HitClass::Bot, "google-fetcher", Certainty::Certain)
        );
    }

    #[test]
    fn a_user_agent_rule_can_cover_clicks_only() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("mine.toml");
        std::fs::write(
            &file,
            "[[user_agent]]\nmatch = \"contains\"\npattern = \"Firefox/133\"\nclass = \"scanner\"\n\
             detail = \"our-gateway\"\nscope = \"clicks\"\n",
        )
        .unwrap();
        let rules = Rules::load(Some(&file), None).unwrap();
        let mut c = Classifier::new(&rules, &manifest(), vec![], 60);
        assert_eq!(c.classify(&ev(FIREFOX, "GET", 0)).class, HitClass::Human);
        assert_eq!(
            c.classify(&click(1, "198.51.100.9", 10_000_000)).class,
            HitClass::Scanner
        );
    }

    #[test]
    fn certainty_follows_the_signal() {
        let rules = Rules::builtin();
        let certainty = |ua: &str, method: &str| {
            Classifier::new(&rules, &manifest(), vec![], 60)
                .classify(&ev(ua, method, 0))
                .certainty
        };
        assert_eq!(certainty("curl/8.5.0", "GET"), Certainty::Certain);
        assert_eq!(certainty(FIREFOX, "HEAD"), Certainty::Certain);
        assert_eq!(certainty("Mozilla/5.0", "GET"), Certainty::Probable);
        assert_eq!(certainty(FIREFOX, "GET"), Certainty::Probable);
        assert_eq!(
            certainty("SomeTool/1.0 (+https://example.com/bot)", "GET"),
            Certainty::Probable
        );
        // A version after an @ is not a contact address.
        let ecosia = "Mozilla/5.0 (Linux; Android 10; SM-G975U) AppleWebKit/537.36 (KHTML, like \
                      Gecko) Chrome/85.0.4183.127 Mobile Safari/537.36 (Ecosia android@85.0.4183.127)";
        assert_eq!(class_of(ecosia, "GET").0, HitClass::Human);
        assert_eq!(
            class_of("Fetcher/2 (ops@example.com)", "GET").0,
            HitClass::Bot
        );
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
    fn machine_opens_are_flagged() {
        let rules = Rules::builtin();
        let mut c = Classifier::new(&rules, &manifest(), vec![], 60);
        assert!(c.classify(&ev("Mozilla/5.0", "GET", 0)).machine_open);
        let gmail = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
        assert!(!c.classify(&ev(gmail, "GET", 0)).machine_open);
    }

    #[test]
    fn pruning_waits_for_the_window_and_a_thousand_events() {
        let mut clock = PruneClock::default();
        let due = |c: &mut PruneClock, n: u32, t: i64| (0..n).filter(|_| c.due(t, 60_000)).count();
        // The log's time has not moved on by the window: only the cap prunes.
        assert_eq!(due(&mut clock, PruneClock::MAX_EVENTS - 1, 1_000), 0);
        assert_eq!(due(&mut clock, 1, 1_000), 1);
        // A minute later, once a thousand events have passed.
        assert_eq!(due(&mut clock, PruneClock::MIN_EVENTS - 1, 61_000), 0);
        assert_eq!(due(&mut clock, 1, 61_000), 1);
        assert_eq!(due(&mut clock, PruneClock::MIN_EVENTS, 100_000), 0);
        assert_eq!(due(&mut clock, PruneClock::MIN_EVENTS, 121_000), 1);
    }

    #[test]
    fn duplicates_within_window_only() {
        let rules = Rules::builtin();
        let mut c = Classifier::new(&rules, &manifest(), vec![], 60);
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
        let rules = Rules::builtin();
        let mut c = Classifier::new(
            &rules,
            &manifest(),
            vec!["192.0.2.0/24".parse().unwrap()],
            60,
        );
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
        let mut e = ev("", "GET", 0);
        e.headers = Arc::new(Headers::new(HeaderFields {
            method: "GET",
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
            purpose: "prefetch;prerender",
            ..HeaderFields::default()
        }));
        let rules = Rules::builtin();
        let v = Classifier::new(&rules, &manifest(), vec![], 60).classify(&e);
        assert_eq!((v.class, v.detail.as_ref()), (HitClass::Bot, "prefetch"));
    }

    #[test]
    fn scanner_network_behind_a_browser_user_agent() {
        let rules = Rules::builtin();
        let mut c = Classifier::new(&rules, &manifest(), vec![], 60);
        let e = click(1, "40.107.218.12", 0);
        let v = c.classify(&e);
        assert_eq!(
            (v.class, v.detail.as_ref()),
            (HitClass::Scanner, "microsoft-defender")
        );
        assert!(v.reason.contains("40.107.218.12"), "{}", v.reason);
    }

    #[test]
    fn probable_networks_decide_only_in_the_delivery_window() {
        let rules = Rules::builtin();
        let mut c = Classifier::new(&rules, &manifest(), vec![], 60);
        // The message's first request, from a person.
        assert_eq!(c.classify(&ev(FIREFOX, "GET", 0)).class, HitClass::Human);
        let mut azure = click(1, "20.72.100.79", 10_000);
        azure.asn = Some(8075);
        let v = c.classify(&azure);
        assert_eq!(
            (v.class, v.detail.as_ref()),
            (HitClass::Scanner, "microsoft-azure")
        );
        // An hour later the same network is a person, perhaps on a cloud desktop.
        azure.time_ms = 3_600_000;
        azure.row = Some(2);
        assert_eq!(c.classify(&azure).class, HitClass::Human);
    }

    #[test]
    fn a_burst_of_links_is_a_scanner_and_a_later_click_is_not() {
        let rules = Rules::builtin();
        let m = manifest();
        let c = Classifier::new(&rules, &m, vec![], 60);
        let events = vec![
            click(1, "203.0.113.9", 1_000),
            click(2, "203.0.113.9", 1_400),
            click(1, "203.0.113.50", 3_600_000),
        ];
        let v = c.classify_all(&events);
        assert_eq!(v[0].detail.as_ref(), "click-burst");
        assert_eq!(v[1].class, HitClass::Scanner);
        assert_eq!(v[2].class, HitClass::Human);
    }

    #[test]
    fn a_mutated_probe_marks_the_next_click() {
        let rules = Rules::builtin();
        let mut c = Classifier::new(&rules, &manifest(), vec![], 60);
        let mut probe = click(1, "203.0.113.9", 1_000);
        probe.token_status = TokenStatus::Forged;
        probe.row = None;
        assert_eq!(c.classify(&probe).class, HitClass::Invalid);
        let v = c.classify(&click(1, "203.0.113.9", 1_300));
        assert_eq!(
            (v.class, v.detail.as_ref()),
            (HitClass::Scanner, "link-probe")
        );
    }
}
