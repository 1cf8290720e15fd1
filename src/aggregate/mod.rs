//! Aggregation: classified events into the figures the report shows, one event at a time.
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
//! The [`Aggregator`] sees each event once and keeps no event list: its memory grows with the
//! manifest, the distinct minutes of activity and a bounded sample of hits per campaign, link
//! and token (the rows the pages show), never with the length of the log. Every event is in
//! `events.csv`, which is written as the events stream past.
//!
//! Key types: [`Classified`], [`Aggregator`], [`Stats`], [`CampaignStats`], [`LinkStats`],
//! [`RecipientStats`], [`Sample`], [`TimeCounts`].

mod samples;
mod tally;
mod timeline;

pub use samples::{Sample, Samples, TextId};
use tally::*;
pub use timeline::TimeCounts;

use foldhash::HashMap;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::classify::Verdict;

use crate::enrich::ClientInfo;
use crate::fast::{ArcMap, prefetch, prefetch_value};
use crate::hit::{Event, Source};
use crate::manifest::Manifest;
use crate::model::GeoInfo;
use crate::model::HitClass;
use crate::model::{Headers, HitKind, TokenStatus};
use crate::token::TokenKind;

/// Hits kept per campaign for its page; the rest are in `events.csv`.
pub const CAMPAIGN_SAMPLE: usize = 500;

/// Hits kept per tracked link for its page.
pub const LINK_SAMPLE: usize = 100;

/// Hits kept per token for its section. Small, because the sample is held per token: this is
/// what keeps memory flat when the same tokens are hit for months.
pub const TOKEN_SAMPLE: usize = 5;

/// Hits on forged or unknown tokens kept for the overview.
pub const UNATTRIBUTED_SAMPLE: usize = 1000;

/// An event with its verdict and the client that made it.
#[derive(Debug, Clone)]
pub struct Classified {
    /// The event.
    pub event: Event,
    /// Its class, detail and reason.
    pub verdict: Verdict,
    /// Email client or browser, OS and device.
    pub client: Arc<ClientInfo>,
}

/// True for the classes that count as an open or click.
/// Counts per class, indexed by [`HitClass::index`].
pub type ClassCounts = [u64; 7];

pub fn counts(class: HitClass) -> bool {
    matches!(class, HitClass::Human | HitClass::Proxy)
}

/// One token's hits in a recipient's section.
#[derive(Debug, Clone)]
pub struct TokenHits {
    /// Manifest row of the token.
    pub row: usize,
    /// Kept hits (indices into [`Stats::samples`]), the first [`TOKEN_SAMPLE`].
    pub hits: Vec<u32>,
    /// All hits on the token.
    pub total: u64,
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
    /// Of `unique_opens`, recipients whose counted opens all came through a mail provider's
    /// proxy (none human-looking): Gmail, Yahoo, Apple Mail Privacy Protection.
    pub opened_only_via_proxy: u64,
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
    /// Time of the first and last hit of any class, ms.
    pub first_hit_ms: Option<i64>,
    /// See `first_hit_ms`.
    pub last_hit_ms: Option<i64>,
    /// Per tracked link.
    pub links: Vec<LinkStats>,
    /// Per recipient, in manifest order.
    pub recipient_stats: Vec<RecipientStats>,
    /// Hits of any class on this campaign's tokens.
    pub hit_count: u64,
    /// The first [`CAMPAIGN_SAMPLE`] of them (indices into [`Stats::samples`]).
    pub hits: Vec<u32>,
    /// Opens and clicks by class over time.
    pub timeline: TimeCounts,
    /// Counted hits by email client or browser (proxies show as such).
    pub clients: BTreeMap<Arc<str>, u64>,
    /// Human-looking hits by operating system.
    pub oses: BTreeMap<Arc<str>, u64>,
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
    /// Hits of any class on the link's tokens.
    pub hit_count: u64,
    /// The first [`LINK_SAMPLE`] of them (indices into [`Stats::samples`]).
    pub hits: Vec<u32>,
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
    /// Human-looking opens (class `human`: straight from a mail client).
    pub human_opens: u64,
    /// Opens a person is likely behind: human-looking ones and proxy fetches a reader
    /// triggered (Gmail, Yahoo).
    pub estimated_human_opens: u64,
    /// Pixel loads no person triggered: delivery-time proxy fetches (Apple MPP, Gmail
    /// prefetch), scanner and bot pixel loads.
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
    /// The recipient's tokens with hits, in first-hit order.
    pub tokens: Vec<TokenHits>,
}

impl RecipientStats {
    /// A one-phrase status that never claims a person read anything.
    pub fn status(&self) -> &'static str {
        if self.human_clicks > 0 {
            "clicked"
        } else if self.estimated_human_opens > 0 {
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
    /// The first [`UNATTRIBUTED_SAMPLE`] of them (indices into `samples`).
    pub unattributed_hits: Vec<u32>,
    /// Open hits by class, over all campaigns and unattributed ones.
    pub opens_by_class: ClassCounts,
    /// Click hits by class.
    pub clicks_by_class: ClassCounts,
    /// Hits of valid tokens that nginx answered 404: its maps were older than the tokens (minted
    /// after the last `pxtrack nginx`). Counted like any hit; the reader saw no pixel or link.
    pub valid_not_served: u64,
    /// Events seen.
    pub events: u64,
    /// Time of the first and last event, ms.
    pub first_ms: Option<i64>,
    /// See `first_ms`.
    pub last_ms: Option<i64>,
    /// The hits the pages show; every list of hits above indexes into it.
    pub samples: Samples,
}

fn min_opt(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn max_opt(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// Builds [`Stats`] from classified events fed in time order.
pub struct Aggregator {
    /// Per manifest row: where it counts and what its hits add up to so far.
    rows: Vec<RowTally>,
    /// Per campaign, per recipient: `OPENED | CLICKED | ...`, filled in by `finish`.
    seen: Vec<Vec<u8>>,
    /// Per campaign: hits by client (one entry per distinct detection result, keyed by its
    /// address: the detector hands out one shared value per user agent), folded into the
    /// name-keyed panels at the end: comparing names per hit would cost a tenth of this stage.
    client_tally: Vec<ArcMap<ClientInfo, ClientTally>>,
    /// Per campaign: human-looking hits by GeoIP result, likewise.
    geo_tally: Vec<ArcMap<GeoInfo, u64>>,
    stats: Stats,
}

impl Aggregator {
    /// An aggregator over the rows of `manifest`, every campaign, link and recipient registered
    /// (with zero figures) in manifest order.
    pub fn new(manifest: &Manifest) -> Self {
        let mut names: Vec<&str> = manifest.rows.iter().map(|r| r.campaign.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        // The index maps over every manifest row hash with foldhash: SipHash was a fifth of the
        // setup before the logs are read.
        let campaign_ix: HashMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, i as u32))
            .collect();
        let mut campaigns: Vec<CampaignStats> = names
            .iter()
            .map(|n| CampaignStats {
                name: (*n).to_string(),
                ..Default::default()
            })
            .collect();
        let mut recipient_ix: Vec<HashMap<&str, u32>> = vec![Default::default(); names.len()];
        // Links by label and shared target: the per-recipient links of one message (an
        // unsubscribe URL per person) are one link.
        let mut link_ix: Vec<HashMap<(&str, String), u32>> = vec![Default::default(); names.len()];
        let mut rows = Vec::with_capacity(manifest.rows.len());
        for row in &manifest.rows {
            let ci = campaign_ix[row.campaign.as_str()];
            let c = &mut campaigns[ci as usize];
            match row.kind {
                TokenKind::Open => c.open_tokens += 1,
                TokenKind::Click => c.click_tokens += 1,
            }
            let rix = &mut recipient_ix[ci as usize];
            let recipient = *rix.entry(row.recipient.as_str()).or_insert_with(|| {
                c.recipient_stats.push(RecipientStats {
                    recipient: row.recipient.clone(),
                    ..Default::default()
                });
                (c.recipient_stats.len() - 1) as u32
            });
            let link = (row.kind == TokenKind::Click).then(|| {
                let lix = &mut link_ix[ci as usize];
                let key = (row.label.as_str(), row.shared_target().into_owned());
                let l = match lix.get(&key) {
                    Some(&l) => l,
                    None => {
                        c.links.push(LinkStats {
                            label: row.label.clone(),
                            target: key.1.clone(),
                            ..Default::default()
                        });
                        let l = (c.links.len() - 1) as u32;
                        lix.insert(key, l);
                        l
                    }
                };
                c.links[l as usize].tokens += 1;
                l
            });
            rows.push(RowTally::new(Place {
                campaign: ci,
                recipient,
                link: link.unwrap_or(Place::NO_LINK),
            }));
        }
        let seen = campaigns
            .iter()
            .map(|c| vec![0u8; c.recipient_stats.len()])
            .collect();
        for c in &mut campaigns {
            c.recipients = c.recipient_stats.len() as u64;
        }
        Aggregator {
            rows,
            seen,
            client_tally: (0..campaigns.len()).map(|_| Default::default()).collect(),
            geo_tally: (0..campaigns.len()).map(|_| Default::default()).collect(),
            stats: Stats {
                campaigns,
                ..Default::default()
            },
        }
    }

    /// Keeps a copy of a hit for the pages, once however many lists show it.
    fn keep(samples: &mut Samples, kept: &mut Option<u32>, c: &Classified) -> u32 {
        *kept.get_or_insert_with(|| samples.push(c))
    }

    /// Takes a batch of classified events, in order.
    ///
    /// With tens of thousands of tokens, the row's tally that [`Aggregator::add`] updates is
    /// rarely in cache: here the tallies of the hits a few places ahead are asked for early,
    /// so the loads overlap.
    ///
    /// Then, in steps, what the tally leads to: the recipient's figures, and while a token's
    /// first hits are kept, its sample list (each was a cache miss on most hits).
    pub fn add_batch(&mut self, batch: &[Classified]) {
        const AHEAD: usize = 12;
        let row_at = |i: usize| batch.get(i).and_then(|c| c.event.row);
        for (i, c) in batch.iter().enumerate() {
            if let Some(row) = row_at(i + AHEAD) {
                prefetch(&self.rows[row]);
            }
            if let Some((_, rs)) = row_at(i + AHEAD * 2 / 3).and_then(|r| self.recipient_of(r)) {
                prefetch_value(rs);
            }
            if let Some((tally, rs)) = row_at(i + AHEAD / 3).and_then(|r| self.recipient_of(r))
                && (tally.hits as usize) < TOKEN_SAMPLE
                && tally.slot != u32::MAX
            {
                prefetch(rs.tokens.as_ptr().wrapping_add(tally.slot as usize));
            }
            self.add(c);
        }
    }

    /// Manifest row `row`'s tally and its recipient's figures.
    fn recipient_of(&self, row: usize) -> Option<(&RowTally, &RecipientStats)> {
        let tally = self.rows.get(row)?;
        let camp = self.stats.campaigns.get(tally.place.campaign as usize)?;
        Some((
            tally,
            camp.recipient_stats.get(tally.place.recipient as usize)?,
        ))
    }

    /// Takes one classified event.
    pub fn add(&mut self, c: &Classified) {
        let ev = &c.event;
        let class = c.verdict.class;
        // Past their caches, the detectors hand out a new value per hit: fold early then, so
        // that hostile user agents cannot grow the tallies.
        if let Some(row) = ev.row {
            let ci = self.rows[row].place.campaign as usize;
            if self.client_tally[ci].len() + self.geo_tally[ci].len() > 50_000 {
                self.fold_tallies(ci);
            }
        }
        let stats = &mut self.stats;
        stats.events += 1;
        stats.first_ms = min_opt(stats.first_ms, ev.time_ms);
        stats.last_ms = max_opt(stats.last_ms, ev.time_ms);
        match ev.kind {
            HitKind::Open => stats.opens_by_class[class.index()] += 1,
            HitKind::Click => stats.clicks_by_class[class.index()] += 1,
            HitKind::Other => {}
        }
        if ev.status == 404 && ev.token_status == TokenStatus::Valid {
            stats.valid_not_served += 1;
        }
        let mut kept = None;
        let Some(row_i) = ev.row else {
            if ev.kind != HitKind::Other {
                stats.unattributed[usize::from(ev.kind == HitKind::Click)] += 1;
                if stats.unattributed_hits.len() < UNATTRIBUTED_SAMPLE {
                    let s = Self::keep(&mut stats.samples, &mut kept, c);
                    stats.unattributed_hits.push(s);
                }
            }
            return;
        };
        let tally = &mut self.rows[row_i];
        let place = tally.place;
        let camp = &mut stats.campaigns[place.campaign as usize];
        camp.hit_count += 1;
        camp.first_hit_ms = min_opt(camp.first_hit_ms, ev.time_ms);
        camp.last_hit_ms = max_opt(camp.last_hit_ms, ev.time_ms);
        if camp.hits.len() < CAMPAIGN_SAMPLE {
            let s = Self::keep(&mut stats.samples, &mut kept, c);
            camp.hits.push(s);
        }
        let r = place.recipient as usize;
        let counted = counts(class);
        let machine = matches!(class, HitClass::Scanner | HitClass::Bot);
        // A person is likely behind it: a human-looking hit or a reader-triggered proxy fetch.
        let personal =
            class == HitClass::Human || (class == HitClass::Proxy && !c.verdict.machine_open);
        let panel_count = counted && ev.kind != HitKind::Other;
        if panel_count || class == HitClass::Human {
            let t = self.client_tally[place.campaign as usize]
                .get_or_insert_with(&c.client, ClientTally::default);
            t.counted += u64::from(panel_count);
            t.human += u64::from(class == HitClass::Human);
        }
        if class == HitClass::Human
            && let Some(g) = &ev.geo
        {
            *self.geo_tally[place.campaign as usize].get_or_insert_with(g, || 0) += 1;
        }

        if tally.hits == u32::MAX {
            // Every counter is at most `hits`: none can overflow before it does.
            tally.add_to(
                &mut camp.recipient_stats[r],
                &mut self.seen[place.campaign as usize][r],
            );
        }
        tally.hits += 1;
        if tally.slot == u32::MAX {
            let rs = &mut camp.recipient_stats[r];
            tally.slot = rs.tokens.len() as u32;
            rs.tokens.push(TokenHits {
                row: row_i,
                hits: Vec::with_capacity(TOKEN_SAMPLE),
                total: 0,
            });
        }
        // Only a token's first hits are kept: its record is read only then.
        if tally.hits as usize <= TOKEN_SAMPLE {
            let token = &mut camp.recipient_stats[r].tokens[tally.slot as usize];
            if token.hits.len() < TOKEN_SAMPLE {
                let s = Self::keep(&mut stats.samples, &mut kept, c);
                token.hits.push(s);
            }
        }
        tally.count(&HitFacts {
            kind: ev.kind,
            counted,
            direct: class == HitClass::Human,
            personal,
            machine,
            has_link: place.link().is_some(),
            time_ms: ev.time_ms,
        });
        if counted {
            camp.first_activity_ms = min_opt(camp.first_activity_ms, ev.time_ms);
            camp.last_activity_ms = max_opt(camp.last_activity_ms, ev.time_ms);
        }
        match ev.kind {
            HitKind::Open => {
                camp.timeline.add(ev.time_ms, 0, class);
                camp.opens[class.index()] += 1;
                if machine || (class == HitClass::Proxy && c.verdict.machine_open) {
                    camp.machine_opens += 1;
                }
            }
            HitKind::Click => {
                camp.timeline.add(ev.time_ms, 1, class);
                camp.clicks[class.index()] += 1;
                // A click token's row always has a link; a row whose kind disagrees with the URL
                // never resolves (see hit::Resolver).
                let Some(l) = place.link() else { return };
                let link = &mut camp.links[l as usize];
                link.hit_count += 1;
                if link.hits.len() < LINK_SAMPLE {
                    let s = Self::keep(&mut stats.samples, &mut kept, c);
                    link.hits.push(s);
                }
                if machine {
                    link.machine_clicks += 1;
                }
                if counted {
                    link.total_clicks += 1;
                    link.first_click_ms = min_opt(link.first_click_ms, ev.time_ms);
                    link.last_click_ms = max_opt(link.last_click_ms, ev.time_ms);
                }
            }
            HitKind::Other => {}
        }
    }

    /// Moves a campaign's tallies into its name-keyed panels.
    fn fold_tallies(&mut self, ci: usize) {
        let c = &mut self.stats.campaigns[ci];
        for (info, t) in self.client_tally[ci].drain() {
            if t.counted > 0 {
                *c.clients.entry(info.client.clone()).or_default() += t.counted;
            }
            if t.human > 0 {
                *c.oses.entry(info.os.clone()).or_default() += t.human;
                *c.devices.entry(info.device).or_default() += t.human;
            }
        }
        for (g, n) in self.geo_tally[ci].drain() {
            if let Some(cc) = &g.country {
                *c.countries.entry(cc.clone()).or_default() += n;
            }
        }
    }

    /// The figures, with the unique counts worked out.
    pub fn finish(mut self) -> Stats {
        for tally in &mut self.rows {
            let p = tally.place;
            tally.add_to(
                &mut self.stats.campaigns[p.campaign as usize].recipient_stats
                    [p.recipient as usize],
                &mut self.seen[p.campaign as usize][p.recipient as usize],
            );
        }
        for (ci, c) in self.stats.campaigns.iter_mut().enumerate() {
            let flags = &self.seen[ci];
            let has = |f: u8| flags.iter().filter(|&&s| s & f != 0).count() as u64;
            c.unique_opens = flags
                .iter()
                .filter(|&&s| s & (OPENED | CLICKED) != 0)
                .count() as u64;
            c.opens_implied_by_click = flags
                .iter()
                .filter(|&&s| s & CLICKED != 0 && s & OPENED == 0)
                .count() as u64;
            c.opened_only_via_proxy = flags
                .iter()
                .filter(|&&s| s & OPENED != 0 && s & DIRECT_OPENED == 0)
                .count() as u64;
            c.unique_human_opens = flags
                .iter()
                .filter(|&&s| s & (HUMAN_OPENED | HUMAN_CLICKED) != 0)
                .count() as u64;
            c.unique_clicks = has(CLICKED);
            c.unique_human_clicks = has(HUMAN_CLICKED);
        }
        for ci in 0..self.stats.campaigns.len() {
            self.fold_tallies(ci);
        }
        // Unique clickers per link: a recipient may have several tokens for one link.
        let clickers: foldhash::HashSet<(u32, u32, u32)> = self
            .rows
            .iter()
            .filter(|t| t.seen & CLICKED != 0)
            .filter_map(|t| Some((t.place.campaign, t.place.link()?, t.place.recipient)))
            .collect();
        for (ci, l, _) in clickers {
            self.stats.campaigns[ci as usize].links[l as usize].unique_clicks += 1;
        }
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestRow;

    /// Campaign `c`: an open token for `r1`, two click tokens of one link for `r1`, one for
    /// `r2`.
    fn manifest() -> Manifest {
        let row = |token: &str, kind, recipient: &str| {
            let click = kind == TokenKind::Click;
            ManifestRow {
                recipient: recipient.into(),
                label: if click { "l".into() } else { String::new() },
                target: if click {
                    "https://example.com/".into()
                } else {
                    String::new()
                },
                ..ManifestRow::example(kind, token)
            }
        };
        Manifest::new(vec![
            row("o1", TokenKind::Open, "r1"),
            row("c1", TokenKind::Click, "r1"),
            row("c2", TokenKind::Click, "r1"),
            row("c3", TokenKind::Click, "r2"),
        ])
    }

    /// A human-looking hit on manifest row `row` at second `t`.
    fn hit(row: usize, kind: HitKind, t: i64) -> Classified {
        Classified {
            event: Event {
                kind,
                row: Some(row),
                ..Event::test_open(t * 1000, "Mozilla/5.0")
            },
            verdict: Verdict {
                class: HitClass::Human,
                detail: "direct".into(),
                reason: "test".into(),
                machine_open: false,
                certainty: crate::model::Certainty::Probable,
            },
            client: Arc::new(crate::enrich::detect("Mozilla/5.0", "")),
        }
    }

    #[test]
    fn a_tally_about_to_overflow_is_added_out_and_nothing_is_lost() {
        let mut agg = Aggregator::new(&manifest());
        agg.add(&hit(0, HitKind::Open, 1));
        // As if four billion hits had gone before.
        agg.rows[0].hits = u32::MAX - 1;
        agg.rows[0].counted = u32::MAX - 1;
        for t in 2..=4 {
            agg.add(&hit(0, HitKind::Open, t));
        }
        let stats = agg.finish();
        let rs = &stats.campaigns[0].recipient_stats[0];
        let expected = u64::from(u32::MAX) - 1 + 3;
        assert_eq!((rs.hits, rs.opens, rs.human_opens), (expected, expected, 4));
        assert_eq!(rs.tokens.len(), 1);
        assert_eq!(rs.tokens[0].total, expected);
        assert_eq!(
            (rs.first_open_ms, rs.last_activity_ms),
            (Some(1000), Some(4000))
        );
        assert_eq!(stats.campaigns[0].unique_human_opens, 1);
    }

    #[test]
    fn a_link_counts_each_recipient_once_however_many_tokens_they_clicked() {
        let mut agg = Aggregator::new(&manifest());
        for (row, t) in [(1, 1), (2, 2), (1, 3), (3, 4)] {
            agg.add(&hit(row, HitKind::Click, t));
        }
        let stats = agg.finish();
        let c = &stats.campaigns[0];
        assert_eq!(c.links.len(), 1);
        assert_eq!((c.links[0].total_clicks, c.links[0].unique_clicks), (4, 2));
        assert_eq!(c.unique_clicks, 2);
        // r1's tokens in the order they were first hit.
        let rows: Vec<usize> = c.recipient_stats[0].tokens.iter().map(|t| t.row).collect();
        assert_eq!(rows, [1, 2]);
    }

    fn as_class(mut c: Classified, class: HitClass, machine_open: bool) -> Classified {
        c.verdict.class = class;
        c.verdict.machine_open = machine_open;
        c
    }

    #[test]
    fn a_recipients_figures_add_up_to_the_campaigns() {
        let mut agg = Aggregator::new(&manifest());
        // r1: two reader-triggered proxy opens, two direct ones, an Apple MPP fetch and a
        // scanner's pixel load; r2 only a scanner click.
        for (t, class, machine_open) in [
            (1, HitClass::Proxy, false),
            (2, HitClass::Proxy, false),
            (3, HitClass::Human, false),
            (4, HitClass::Human, false),
            (5, HitClass::Proxy, true),
            (6, HitClass::Scanner, false),
        ] {
            agg.add(&as_class(hit(0, HitKind::Open, t), class, machine_open));
        }
        agg.add(&as_class(
            hit(3, HitKind::Click, 7),
            HitClass::Scanner,
            false,
        ));
        let stats = agg.finish();
        let c = &stats.campaigns[0];
        let r1 = &c.recipient_stats[0];
        let r2 = &c.recipient_stats[1];
        assert_eq!(
            (
                r1.opens,
                r1.human_opens,
                r1.estimated_human_opens,
                r1.machine_opens
            ),
            (5, 2, 4, 2)
        );
        assert_eq!((r2.opens, r2.machine_opens, r2.machine_hits), (0, 0, 1));
        assert_eq!(r2.status(), "machine activity only");
        assert_eq!(c.total_opens(), r1.opens + r2.opens);
        assert_eq!(c.opens[HitClass::Human.index()], r1.human_opens);
        assert_eq!(c.machine_opens, r1.machine_opens + r2.machine_opens);
        assert_eq!(c.machine_hits(), r1.machine_hits + r2.machine_hits);
    }
}
