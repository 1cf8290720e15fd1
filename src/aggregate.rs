//! Aggregation: classified events into the figures the report shows.
//!
//! What counts: a hit whose class is `human` or `proxy` is a *counted* open or click (a proxy
//! open is the only open Gmail and Yahoo give). `scanner` and `bot` are machine traffic;
//! `duplicate`, `internal` and `invalid` are shown but never counted. Unique figures count
//! distinct recipients, never addresses (proxies share them).
//!
//! The *estimated human* figures count a recipient when a person is likely behind at least one
//! hit: a human-looking open, a proxy open that a reader triggers (Gmail, Yahoo), or a
//! human-looking click. Delivery-time fetches (Apple Mail Privacy Protection, Gmail's prefetch)
//! are opens, but machine opens. A click implies an open: image-blocking clients never load the
//! pixel, so a recipient who clicked is counted as having opened.
//!
//! Key types: [`Classified`], [`Stats`], [`CampaignStats`], [`LinkStats`], [`RecipientStats`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::classify::{HitClass, Verdict};
use crate::hit::{Event, HitKind};
use crate::manifest::Manifest;
use crate::token::TokenKind;

/// An event with its verdict and the client that made it.
#[derive(Debug, Clone)]
pub struct Classified {
    /// The event.
    pub event: Event,
    /// Its class, detail and reason.
    pub verdict: Verdict,
    /// Email client or browser, OS and device.
    pub client: std::sync::Arc<crate::enrich::ClientInfo>,
}

/// Counts per class, indexed by [`HitClass::index`].
pub type ClassCounts = [u64; 7];

/// True for the classes that count as an open or click.
pub fn counts(class: HitClass) -> bool {
    matches!(class, HitClass::Human | HitClass::Proxy)
}

/// Figures for one campaign.
#[derive(Debug, Clone, Default)]
pub struct CampaignStats {
    /// The campaign name (from the manifest; hostile in HTML).
    pub name: String,
    /// Open tokens minted.
    pub open_tokens: u64,
    /// Click tokens minted.
    pub click_tokens: u64,
    /// Distinct recipients in the manifest.
    pub recipients: u64,
    /// Open hits by class.
    pub opens: ClassCounts,
    /// Click hits by class.
    pub clicks: ClassCounts,
    /// Recipients with a counted open, or a counted click (a click implies an open).
    pub unique_opens: u64,
    /// Of `unique_opens`, recipients whose only sign of an open is a click.
    pub opens_implied_by_click: u64,
    /// Estimated human opens: recipients with a human-looking open, a reader-triggered proxy open
    /// or a human-looking click.
    pub unique_human_opens: u64,
    /// Delivery-time proxy fetches plus scanner and bot pixel loads.
    pub machine_opens: u64,
    /// Recipients with a human-looking click.
    pub unique_human_clicks: u64,
    /// Recipients with a counted click.
    pub unique_clicks: u64,
    /// Time of the first counted hit, ms.
    pub first_activity_ms: Option<i64>,
    /// Time of the last counted hit, ms.
    pub last_activity_ms: Option<i64>,
    /// Per tracked link.
    pub links: Vec<LinkStats>,
    /// Per recipient, in manifest order.
    pub recipient_stats: Vec<RecipientStats>,
    /// Indices of this campaign's events, in time order.
    pub events: Vec<usize>,
    /// Counted hits by email client or browser (proxies show as such).
    pub clients: BTreeMap<std::sync::Arc<str>, u64>,
    /// Human-looking hits by operating system.
    pub oses: BTreeMap<std::sync::Arc<str>, u64>,
    /// Human-looking hits by device type.
    pub devices: BTreeMap<&'static str, u64>,
    /// Human-looking hits by country (GeoIP); proxies' and scanners' locations are theirs, not
    /// the reader's, so they are left out.
    pub countries: BTreeMap<String, u64>,
}

impl CampaignStats {
    /// Counted opens (human + proxy).
    pub fn total_opens(&self) -> u64 {
        self.opens[HitClass::Human.index()] + self.opens[HitClass::Proxy.index()]
    }

    /// Counted clicks (human + proxy).
    pub fn total_clicks(&self) -> u64 {
        self.clicks[HitClass::Human.index()] + self.clicks[HitClass::Proxy.index()]
    }

    /// Scanner and bot hits, opens and clicks together.
    pub fn machine_hits(&self) -> u64 {
        [HitClass::Scanner, HitClass::Bot]
            .iter()
            .map(|c| self.opens[c.index()] + self.clicks[c.index()])
            .sum()
    }
}

/// Figures for one tracked link (label and target) of a campaign.
#[derive(Debug, Clone, Default)]
pub struct LinkStats {
    /// The label given at mint time.
    pub label: String,
    /// The target URL.
    pub target: String,
    /// Click tokens minted for it.
    pub tokens: u64,
    /// Recipients with a counted click.
    pub unique_clicks: u64,
    /// Counted clicks.
    pub total_clicks: u64,
    /// Scanner and bot clicks.
    pub machine_clicks: u64,
    /// First counted click, ms.
    pub first_click_ms: Option<i64>,
    /// Last counted click, ms.
    pub last_click_ms: Option<i64>,
}

/// Figures for one recipient of a campaign.
#[derive(Debug, Clone, Default)]
pub struct RecipientStats {
    /// The recipient as minted.
    pub recipient: String,
    /// Requests of any class for this recipient's tokens.
    pub hits: u64,
    /// Counted opens.
    pub opens: u64,
    /// Human-looking opens and reader-triggered proxy opens.
    pub human_opens: u64,
    /// Delivery-time proxy fetches (Apple MPP, Gmail prefetch).
    pub machine_opens: u64,
    /// Counted clicks.
    pub clicks: u64,
    /// Human-looking clicks.
    pub human_clicks: u64,
    /// Scanner and bot hits.
    pub machine_hits: u64,
    /// First counted open, ms.
    pub first_open_ms: Option<i64>,
    /// Last counted hit, ms.
    pub last_activity_ms: Option<i64>,
}

impl RecipientStats {
    /// A one-phrase status that never claims a person read anything.
    pub fn status(&self) -> &'static str {
        if self.human_clicks > 0 {
            "clicked"
        } else if self.human_opens > 0 {
            "opened"
        } else if self.opens > 0 || self.clicks > 0 {
            "opened (proxy only)"
        } else if self.machine_hits > 0 {
            "machine activity only"
        } else {
            "no activity"
        }
    }
}

/// All figures.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Per campaign, sorted by name.
    pub campaigns: Vec<CampaignStats>,
    /// Hits on pixel and link URLs that name no manifest row (forged or unknown tokens), by kind:
    /// index 0 opens, 1 clicks.
    pub unattributed: [u64; 2],
    /// All events by class.
    pub by_class: ClassCounts,
}

fn min_opt(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn max_opt(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// Builds the figures from events in time order.
pub fn aggregate(manifest: &Manifest, events: &[Classified]) -> Stats {
    let mut campaigns: BTreeMap<&str, CampaignStats> = BTreeMap::new();
    // Per campaign: recipient -> index in recipient_stats; (label, target) -> index in links.
    let mut recipient_ix: HashMap<&str, HashMap<&str, usize>> = HashMap::new();
    let mut link_ix: HashMap<&str, HashMap<(&str, &str), usize>> = HashMap::new();

    for row in &manifest.rows {
        let c = campaigns
            .entry(&row.campaign)
            .or_insert_with(|| CampaignStats {
                name: row.campaign.clone(),
                ..Default::default()
            });
        match row.kind {
            TokenKind::Open => c.open_tokens += 1,
            TokenKind::Click => c.click_tokens += 1,
        }
        let rix = recipient_ix.entry(&row.campaign).or_default();
        if !rix.contains_key(row.recipient.as_str()) {
            rix.insert(&row.recipient, c.recipient_stats.len());
            c.recipient_stats.push(RecipientStats {
                recipient: row.recipient.clone(),
                ..Default::default()
            });
        }
        if row.kind == TokenKind::Click {
            let lix = link_ix.entry(&row.campaign).or_default();
            let key = (row.label.as_str(), row.target.as_str());
            let i = *lix.entry(key).or_insert_with(|| {
                c.links.push(LinkStats {
                    label: row.label.clone(),
                    target: row.target.clone(),
                    ..Default::default()
                });
                c.links.len() - 1
            });
            c.links[i].tokens += 1;
        }
    }

    let mut stats = Stats::default();
    // Distinct recipients per campaign for the unique figures.
    let mut openers: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    let mut human_openers: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    let mut clickers: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    let mut human_clickers: HashMap<&str, BTreeSet<usize>> = HashMap::new();
    let mut link_clickers: HashMap<(&str, usize), BTreeSet<usize>> = HashMap::new();

    for (i, c) in events.iter().enumerate() {
        let class = c.verdict.class;
        stats.by_class[class.index()] += 1;
        let ev = &c.event;
        let Some(row_i) = ev.row else {
            if ev.kind != HitKind::Other {
                stats.unattributed[usize::from(ev.kind == HitKind::Click)] += 1;
            }
            continue;
        };
        let row = &manifest.rows[row_i];
        let camp = campaigns
            .get_mut(row.campaign.as_str())
            .expect("every manifest row's campaign was registered above");
        camp.events.push(i);
        let r = recipient_ix[row.campaign.as_str()][row.recipient.as_str()];
        let counted = counts(class);
        let machine = matches!(class, HitClass::Scanner | HitClass::Bot);
        // A person is likely behind it: a human-looking hit or a reader-triggered proxy fetch.
        let personal =
            class == HitClass::Human || (class == HitClass::Proxy && !c.verdict.machine_open);
        if counted && ev.kind != HitKind::Other {
            *camp.clients.entry(c.client.client.clone()).or_default() += 1;
        }
        if class == HitClass::Human {
            *camp.oses.entry(c.client.os.clone()).or_default() += 1;
            *camp.devices.entry(c.client.device).or_default() += 1;
            if let Some(cc) = ev.geo.as_ref().and_then(|g| g.country.as_ref()) {
                *camp.countries.entry(cc.clone()).or_default() += 1;
            }
        }
        let rs = &mut camp.recipient_stats[r];
        rs.hits += 1;
        if machine {
            rs.machine_hits += 1;
        }
        if counted {
            camp.first_activity_ms = min_opt(camp.first_activity_ms, ev.time_ms);
            camp.last_activity_ms = max_opt(camp.last_activity_ms, ev.time_ms);
            rs.last_activity_ms = max_opt(rs.last_activity_ms, ev.time_ms);
        }
        match ev.kind {
            HitKind::Open => {
                camp.opens[class.index()] += 1;
                if machine || (class == HitClass::Proxy && c.verdict.machine_open) {
                    camp.machine_opens += 1;
                }
                if counted {
                    rs.opens += 1;
                    rs.first_open_ms = min_opt(rs.first_open_ms, ev.time_ms);
                    openers.entry(&row.campaign).or_default().insert(r);
                    if personal {
                        rs.human_opens += 1;
                        human_openers.entry(&row.campaign).or_default().insert(r);
                    } else {
                        rs.machine_opens += 1;
                    }
                }
            }
            HitKind::Click => {
                camp.clicks[class.index()] += 1;
                let l = link_ix[row.campaign.as_str()][&(row.label.as_str(), row.target.as_str())];
                let link = &mut camp.links[l];
                if machine {
                    link.machine_clicks += 1;
                }
                if personal {
                    rs.human_clicks += 1;
                    human_clickers.entry(&row.campaign).or_default().insert(r);
                }
                if counted {
                    rs.clicks += 1;
                    link.total_clicks += 1;
                    link.first_click_ms = min_opt(link.first_click_ms, ev.time_ms);
                    link.last_click_ms = max_opt(link.last_click_ms, ev.time_ms);
                    clickers.entry(&row.campaign).or_default().insert(r);
                    link_clickers
                        .entry((&row.campaign, l))
                        .or_default()
                        .insert(r);
                }
            }
            HitKind::Other => {}
        }
    }

    let empty = BTreeSet::new();
    for (name, c) in campaigns.iter_mut() {
        let opened = openers.get(name).unwrap_or(&empty);
        let clicked = clickers.get(name).unwrap_or(&empty);
        let human_opened = human_openers.get(name).unwrap_or(&empty);
        let human_clicked = human_clickers.get(name).unwrap_or(&empty);
        c.unique_opens = opened.union(clicked).count() as u64;
        c.opens_implied_by_click = clicked.difference(opened).count() as u64;
        c.unique_human_opens = human_opened.union(human_clicked).count() as u64;
        c.unique_clicks = clicked.len() as u64;
        c.unique_human_clicks = human_clicked.len() as u64;
        c.recipients = c.recipient_stats.len() as u64;
        for (l, link) in c.links.iter_mut().enumerate() {
            link.unique_clicks = link_clickers.get(&(*name, l)).map_or(0, |s| s.len() as u64);
        }
    }
    stats.campaigns = campaigns.into_values().collect();
    stats
}
