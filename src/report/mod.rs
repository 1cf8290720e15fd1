//! The report site: what the pages and exports show, built from the aggregated figures, and
//! where it is written. One room per concern:
//!
//! - `mod.rs` (here): [`Report`], the overview, campaign, link, recipients and rejected pages'
//!   views, and [`write_pages`], which writes the site into a staging directory
//!   (`crate::outdir`) that replaces the previous report whole.
//! - `views`: the `*View` structs, the only things templates see (never domain types).
//! - `templates`: the embedded templates, and rendering. Autoescaping is on for every template.
//! - `hit_rows`: hit tables written in Rust, the one path outside tera's autoescaping where log
//!   and manifest text reaches HTML, every value through [`push_escaped`].
//! - `site`: file names and anchors. `chart`: the SVG timelines.
//! - `csv_cell`: CSV cells, formula-guarded ([`csv_safe`]) and quoted ([`push_csv_cell`]); every
//!   CSV goes through one of the two. `exports`: `campaigns.csv` and `recipients.csv`.
//! - `events`: `events.csv`, streamed; `export_file`: its file side.
//!
//! Key types: [`Report`], [`OverviewView`], [`CampaignView`], [`EventsCsv`], [`write_pages`].

pub mod chart;
mod csv_cell;
mod events;
pub mod export_file;
mod exports;
pub mod glossary;
mod hit_rows;
mod people;
mod sections;
mod site;
mod templates;
mod views;

use crate::time::Zone;
pub use crate::time::{human_time, push_human_time, rfc3339, rfc3339_fast};
pub use csv_cell::{csv_safe, push_csv_cell};
pub(crate) use csv_cell::{needs_quotes, push_plain_cell};
pub use events::{
    Cell, EVENTS_COLUMNS, EVENTS_HEADER, EventsCsv, EventsFormat, EventsOut, EventsParquet, Group,
    ROW_GROUP_ROWS, parquet_schema,
};
pub use hit_rows::{HitRows, push_escaped};
pub use site::*;
pub(crate) use templates::render;
pub use templates::{ASSETS, TEMPLATES, templates};
pub use views::*;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

pub use crate::outdir::{OutputKind, Staging, process_is_gone};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::aggregate::{CampaignStats, Classified, Sample, Stats, counts};
use crate::config::Privacy;
use crate::error::{Error, Result};
use crate::fast::prefetch;
use crate::hit::{KnownTargets, TargetText};
use crate::ingest::{FileTally, Rejects};
use crate::manifest::{Manifest, ManifestRow};
use crate::model::Headers;
use crate::model::HitClass;
use export_file::{Chunk, ExportWriter, FLUSH_BYTES, Mode, Written};

/// The file that marks a directory as a pxtrack report, safe to replace.
pub const MARKER_FILE: &str = ".pxtrack-report";

/// Rows of a recipients table on one page; the rest are in `recipients.csv`.
pub const MAX_ROWS_PER_TABLE: usize = 2_000;

/// Everything needed to write a report.
pub struct Report<'a> {
    /// The manifest.
    pub manifest: &'a Manifest,
    /// Files read, in order, as shown.
    pub file_names: &'a [String],
    /// Per-file tallies.
    pub files: &'a [FileTally],
    /// Rejected lines.
    pub rejects: &'a Rejects,
    /// Figures.
    pub stats: &'a Stats,
    /// Generation time, ms.
    pub generated_at_ms: i64,
    /// What may be shown.
    pub privacy: Privacy,
    /// The GeoIP databases in use, or `None` when geo is off.
    pub geoip: Option<String>,
    /// Inputs that could not be read whole, or hold no access-log line, in words: shown at the
    /// top of the overview, since the figures then leave something out.
    pub input_problems: &'a [String],
    /// Inputs left out because another input holds the same lines, in words.
    pub input_notes: &'a [String],
    /// The send snapshot (`sends.csv`).
    pub sends: &'a [crate::sends::Send],
    /// The time zone the pages show times in.
    pub zone: Zone,
    /// The per-event export written beside the pages.
    pub events: EventsFormat,
}

impl Report<'_> {
    fn class_rows(opens: &[u64; 7], clicks: &[u64; 7]) -> Vec<ClassRowView> {
        HitClass::ALL
            .iter()
            .map(|c| ClassRowView {
                class: c.as_str(),
                opens: opens[c.index()],
                clicks: clicks[c.index()],
                counted: counts(*c),
            })
            .collect()
    }

    /// What `sends.csv` says of a campaign's messages, if it knows them.
    fn snapshot(&self, campaign: &str) -> Option<SnapshotView> {
        let sends: Vec<&crate::sends::Send> = self
            .sends
            .iter()
            .filter(|s| s.campaign == campaign)
            .collect();
        if sends.is_empty() {
            return None;
        }
        let distinct = |f: &dyn Fn(&crate::sends::Send) -> String| -> Vec<String> {
            let mut v: Vec<String> = sends
                .iter()
                .map(|s| f(s))
                .filter(|t| !t.is_empty())
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let sent: Vec<i64> = sends
            .iter()
            .filter_map(|s| s.sent_at.map(|t| t.timestamp_millis()))
            .collect();
        Some(SnapshotView {
            messages: sends.len(),
            subjects: distinct(&|s| s.subject.clone()),
            senders: distinct(&|s| s.from.clone()),
            templates: distinct(&|s| {
                format!(
                    "{} (sha256 {})",
                    s.template,
                    s.template_sha256.get(..12).unwrap_or(&s.template_sha256)
                )
            }),
            sent_messages: sent.len(),
            first_sent: sent
                .iter()
                .min()
                .map(|&t| self.zone.human(t))
                .unwrap_or_default(),
            last_sent: sent
                .iter()
                .max()
                .map(|&t| self.zone.human(t))
                .unwrap_or_default(),
        })
    }

    /// The overview page's view.
    pub fn overview(&self) -> OverviewView {
        let totals = crate::ingest::sum(self.files);
        let unattributed_hits: Vec<HitView> = self
            .stats
            .unattributed_hits
            .iter()
            .map(|&i| self.hit_view(&self.stats.samples[i as usize], None))
            .collect();
        OverviewView {
            version: env!("CARGO_PKG_VERSION"),
            generated_at: self.zone.human(self.generated_at_ms),
            window_from: self.zone.opt(self.stats.first_ms),
            window_to: self.zone.opt(self.stats.last_ms),
            files: self
                .files
                .iter()
                .zip(self.file_names)
                .map(|(f, name)| FileView {
                    path: name.clone(),
                    lines: f.lines,
                    hits: f.hits,
                    other: f.other,
                    rejected: f.rejected,
                    error: f.error.clone(),
                })
                .collect(),
            lines: totals.lines,
            hits: totals.hits,
            other: totals.other,
            rejected: totals.rejected,
            reconciled: totals.lines == totals.hits + totals.other + totals.rejected,
            rejects: self.rejects_view(),
            campaigns: self
                .stats
                .campaigns
                .iter()
                .map(|c| FiguresView::new(c, self.zone))
                .collect(),
            unattributed_opens: self.stats.unattributed[0],
            unattributed_clicks: self.stats.unattributed[1],
            unattributed_hits,
            classes: Self::class_rows(&self.stats.opens_by_class, &self.stats.clicks_by_class),
            input_problems: self.input_problems.to_vec(),
            input_notes: self.input_notes.to_vec(),
            small_sends: Vec::new(),
        }
    }

    fn rejects_view(&self) -> Vec<RejectView> {
        self.rejects
            .by_reason
            .iter()
            .map(|(reason, (count, examples))| RejectView {
                reason: reason.describe(),
                count: *count,
                examples: examples
                    .iter()
                    .map(|e| RejectExampleView {
                        file: self
                            .file_names
                            .get(e.file as usize)
                            .cloned()
                            .unwrap_or_default(),
                        line: e.line,
                        column: e.offset + 1,
                        text: if self.privacy.anonymize_ip {
                            "(hidden: anonymize_ip is on)".into()
                        } else {
                            e.text.clone()
                        },
                    })
                    .collect(),
            })
            .collect()
    }

    fn timeline(&self, c: &CampaignStats) -> Option<TimelineView> {
        let first = c.first_hit_ms?;
        let last = c.last_hit_ms?;
        let buckets = chart::Bucketing::for_range_in(first, last, self.zone);
        let mut opens = chart::Timeline::new(buckets);
        let mut clicks = chart::Timeline::new(buckets);
        for &(granule, ref by_kind) in &c.timeline.counts {
            // Granules never straddle buckets (see aggregate::TimeCounts); one that starts before
            // the first hit holds it, so it counts at the first hit's time.
            let at = (granule * 1000).max(first);
            opens.add_counts(at, &by_kind[0]);
            clicks.add_counts(at, &by_kind[1]);
        }
        let split = |counts: &[u64; 7]| {
            let counted = counts[HitClass::Human.index()] + counts[HitClass::Proxy.index()];
            (counted, counts.iter().sum::<u64>() - counted)
        };
        let rows = (0..buckets.count)
            .filter_map(|b| {
                let (o, oo) = split(&opens.counts[b]);
                let (k, ko) = split(&clicks.counts[b]);
                (o + oo + k + ko > 0).then(|| BucketView {
                    label: buckets.label(b),
                    opens: o,
                    other_opens: oo,
                    clicks: k,
                    other_clicks: ko,
                })
            })
            .collect();
        Some(TimelineView {
            bucket: buckets.describe(),
            opens_svg: chart::timeline_svg(&opens, "chart-opens", "pixel loads"),
            clicks_svg: chart::timeline_svg(&clicks, "chart-clicks", "link hits"),
            rows,
        })
    }

    /// A campaign page's view.
    pub fn campaign(&self, c: &CampaignStats, book: &RecipientBook<'_>) -> CampaignView {
        let recipients: Vec<RecipientView> = c
            .recipient_stats
            .iter()
            .filter(|_| self.privacy.recipient_detail)
            .take(MAX_ROWS_PER_TABLE)
            .enumerate()
            .map(|(i, r)| self.recipient_view(book, i, r))
            .collect();
        CampaignView {
            people_html: people::people_rows(&recipients),
            panels: vec![
                panel("Email clients and browsers", "counted hits", &c.clients),
                panel("Operating systems", "human-looking hits", &c.oses),
                panel("Devices", "human-looking hits", &c.devices),
                panel("Countries", "human-looking hits", &c.countries),
            ],
            geoip: self.geoip.clone(),
            timeline: self.timeline(c),
            version: env!("CARGO_PKG_VERSION"),
            generated_at: self.zone.human(self.generated_at_ms),
            figures: FiguresView::new(c, self.zone),
            snapshot: self.snapshot(&c.name),
            first_activity: self.zone.opt(c.first_activity_ms),
            classes: Self::class_rows(&c.opens, &c.clicks),
            links: c
                .links
                .iter()
                .map(|l| LinkView {
                    href: link_file(&c.name, &l.label, &l.target),
                    label: l.label.clone(),
                    target: l.target.clone(),
                    tokens: l.tokens,
                    unique_clicks: l.unique_clicks,
                    total_clicks: l.total_clicks,
                    machine_clicks: l.machine_clicks,
                    first_click: self.zone.opt(l.first_click_ms),
                    last_click: self.zone.opt(l.last_click_ms),
                })
                .collect(),
            recipient_detail: self.privacy.recipient_detail,
            recipients,
            hits: self.hit_rows(&c.hits, &[], c.hit_count, Some(book), true),
            recipients_total: c.recipient_stats.len(),
        }
    }

    fn hit_list(
        &self,
        kind: &'static str,
        name: &str,
        campaign: &str,
        facts: Vec<(String, String)>,
        hits: HitRows,
    ) -> HitListView {
        HitListView {
            version: env!("CARGO_PKG_VERSION"),
            generated_at: self.zone.human(self.generated_at_ms),
            kind,
            name: name.to_string(),
            campaign: campaign.to_string(),
            campaign_href: campaign_file(campaign),
            facts,
            hits,
            recipient_detail: self.privacy.recipient_detail,
        }
    }

    /// The page of link `l` of a campaign: (file name, view).
    pub fn link_page(
        &self,
        c: &CampaignStats,
        book: &RecipientBook<'_>,
        l: usize,
    ) -> (String, HitListView) {
        let l = &c.links[l];
        {
            {
                let facts = vec![
                    ("Target".into(), l.target.clone()),
                    ("Unique clicks".into(), l.unique_clicks.to_string()),
                    ("Total clicks".into(), l.total_clicks.to_string()),
                    ("Machine clicks".into(), l.machine_clicks.to_string()),
                ];
                let name = if l.label.is_empty() {
                    &l.target
                } else {
                    &l.label
                };
                (
                    link_file(&c.name, &l.label, &l.target),
                    self.hit_list(
                        "Link",
                        name,
                        &c.name,
                        facts,
                        self.hit_rows(&l.hits, &[], l.hit_count, Some(book), true),
                    ),
                )
            }
        }
    }

    /// Page `p` of a campaign's recipients pages: each recipient with a hit, each of their tokens
    /// with its hits. (file name, view).
    pub fn recipient_page(
        &self,
        c: &CampaignStats,
        book: &RecipientBook<'_>,
        p: usize,
    ) -> (String, RecipientsPageView) {
        let pages = book.pages.len();
        let members = &book.pages[p];
        // Every hit the page shows, in its order, and how many of them are written so far:
        // each token's rows ask for the samples of the rows after them (see hit_rows).
        let order: Vec<u32> = (members.iter())
            .flat_map(|&ri| c.recipient_stats[ri].tokens.iter())
            .flat_map(|t| t.hits.iter().copied())
            .collect();
        let mut shown = 0;
        {
            {
                let recipients = members
                    .iter()
                    .map(|&ri| {
                        let r = &c.recipient_stats[ri];
                        let tokens = r
                            .tokens
                            .iter()
                            .map(|t| {
                                let row = Some(&self.manifest.rows[t.row]);
                                let token = row.map_or("", |x| x.token.as_str());
                                TokenSectionView {
                                    anchor: token_anchor(token),
                                    token: token.to_string(),
                                    kind: row.map_or("", |x| x.kind.as_str()),
                                    label: row.map(|x| x.label.clone()).unwrap_or_default(),
                                    target: row.map(|x| x.target.clone()).unwrap_or_default(),
                                    minted: row
                                        .map(|x| self.zone.human(x.created.timestamp_millis()))
                                        .unwrap_or_default(),
                                    hits: {
                                        shown += t.hits.len();
                                        let upcoming = order.get(shown..).unwrap_or_default();
                                        self.hit_rows(&t.hits, upcoming, t.total, Some(book), false)
                                    },
                                }
                            })
                            .collect();
                        RecipientSectionView {
                            anchor: recipient_anchor(&c.name, &r.recipient),
                            recipient: r.recipient.clone(),
                            facts: vec![
                                ("What was seen".into(), {
                                    let (answer, sure) = book.answer(ri);
                                    format!("{answer} ({})", sure.words())
                                }),
                                ("Status".into(), r.status().to_string()),
                                ("Opens".into(), r.opens.to_string()),
                                ("Clicks".into(), r.clicks.to_string()),
                                ("First open".into(), self.zone.opt(r.first_open_ms)),
                                ("Last activity".into(), self.zone.opt(r.last_activity_ms)),
                            ],
                            tokens,
                        }
                    })
                    .collect();
                let view = RecipientsPageView {
                    version: env!("CARGO_PKG_VERSION"),
                    generated_at: self.zone.human(self.generated_at_ms),
                    campaign: c.name.clone(),
                    campaign_href: campaign_file(&c.name),
                    page: p + 1,
                    pages,
                    prev: (p > 0).then(|| book.page_file(p - 1)),
                    next: (p + 1 < pages).then(|| book.page_file(p + 1)),
                    recipients,
                };
                (book.page_file(p), view)
            }
        }
    }

    /// The rejected-lines page's view.
    pub fn rejected_page(&self, overview: &OverviewView) -> RejectedView {
        RejectedView {
            version: env!("CARGO_PKG_VERSION"),
            generated_at: overview.generated_at.clone(),
            rejects: self.rejects_view(),
            rejected: overview.rejected,
            lines: overview.lines,
        }
    }
}

/// What marks a directory as a report `pxtrack analyze` may replace.
pub const REPORT_DIR: OutputKind = OutputKind {
    marker: MARKER_FILE,
    what: "a pxtrack report",
    legacy: &[],
};

/// A report being built beside `out`; see [`crate::outdir::Staging`].
pub fn staging(out: &Path) -> Result<Staging> {
    Staging::new(out, &REPORT_DIR)
}

/// Checks that `out` may be replaced by a report; see [`crate::outdir::check_replaceable`].
pub fn check_replaceable(out: &Path) -> Result<()> {
    crate::outdir::check_replaceable(out, &REPORT_DIR)
}

/// A page of a campaign.
#[derive(Debug, Clone, Copy)]
enum Page {
    Campaign,
    Link(usize),
    Recipients(usize),
}

/// Writes the pages, assets and small exports (everything but `events.csv`) into `dir`.
pub fn write_pages(report: &Report<'_>, tera: &tera::Tera, dir: &Path) -> Result<()> {
    let globals = templates::Globals {
        zone: report.zone,
        events_file: report.events.file_name(),
    };
    let write = |name: &str, bytes: &[u8]| write_file(&dir.join(name), &[bytes]);
    write(
        MARKER_FILE,
        b"This directory is a pxtrack report. `pxtrack analyze` replaces it as a whole.\n",
    )?;
    for (name, text) in ASSETS {
        write(name, text.as_bytes())?;
    }
    let campaigns = &report.stats.campaigns;
    let books = report.books();
    let mut overview = report.overview();
    overview.small_sends = report.small_sends(&books);
    write(
        "index.html",
        render(tera, "index.html", &overview, globals)?.as_bytes(),
    )?;
    let summary = SummaryView {
        version: overview.version,
        generated_at: &overview.generated_at,
        lines: overview.lines,
        hits: overview.hits,
        other: overview.other,
        rejected: overview.rejected,
        reconciled: overview.reconciled,
        campaigns: &overview.campaigns,
        classes: &overview.classes,
        complete: overview.input_problems.is_empty(),
        input_problems: &overview.input_problems,
        input_notes: &overview.input_notes,
    };
    let mut json = serde_json::to_vec_pretty(&summary).expect("plain data serializes");
    json.push(b'\n');
    write("summary.json", &json)?;
    // Campaign, link and recipients pages are independent: every core renders and writes them,
    // taking the next page from a shared counter.
    let mut jobs: Vec<(usize, Page)> = Vec::new();
    for (ci, c) in campaigns.iter().enumerate() {
        jobs.push((ci, Page::Campaign));
        jobs.extend((0..c.links.len()).map(|l| (ci, Page::Link(l))));
        jobs.extend((0..books[ci].pages.len()).map(|p| (ci, Page::Recipients(p))));
    }
    let fast_recipients = tera
        .get_template_names()
        .any(|n| n == sections::FAST_RECIPIENTS);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || -> Result<()> {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&(ci, page)) = jobs.get(i) else {
                return Ok(());
            };
            let (c, book) = (&campaigns[ci], &books[ci]);
            // A page is written as one text, or (a recipients page whose sections are written
            // in Rust) as the parts sections::render_page gives.
            let (file, parts) = match page {
                Page::Campaign => (
                    campaign_file(&c.name),
                    vec![render(
                        tera,
                        "campaign.html",
                        &report.campaign(c, book),
                        globals,
                    )?],
                ),
                Page::Link(l) => {
                    let (file, view) = report.link_page(c, book, l);
                    (file, vec![render(tera, "hits.html", &view, globals)?])
                }
                Page::Recipients(p) => {
                    let (file, view) = report.recipient_page(c, book, p);
                    if fast_recipients {
                        (file, sections::render_page(tera, view, globals)?.into())
                    } else {
                        (file, vec![render(tera, "recipients.html", &view, globals)?])
                    }
                }
            };
            let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
            write_file(&dir.join(&file), &parts)?;
        }
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mine = work();
        others
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .fold(mine, Result::and)
    })?;
    let rejected = report.rejected_page(&overview);
    write(
        "rejected.html",
        render(tera, "rejected.html", &rejected, globals)?.as_bytes(),
    )?;
    let about = StaticView {
        version: overview.version,
        generated_at: overview.generated_at.clone(),
        glossary: glossary::GLOSSARY,
    };
    write(
        "about.html",
        render(tera, "about.html", &about, globals)?.as_bytes(),
    )?;
    report.write_campaigns_csv(&dir.join("campaigns.csv"), &overview.campaigns)?;
    if report.privacy.recipient_detail {
        report.write_recipients_csv(&dir.join("recipients.csv"), &books)?;
    }
    Ok(())
}

/// Writes the file at `path` as `parts`, one after another.
fn write_file(path: &Path, parts: &[&[u8]]) -> Result<()> {
    let out = || -> std::io::Result<()> {
        let mut f = fs::File::create(path)?;
        for part in parts {
            std::io::Write::write_all(&mut f, part)?;
        }
        Ok(())
    };
    out().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_replace_a_foreign_directory() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("precious.txt"), "x").unwrap();
        assert!(check_replaceable(d.path()).is_err());
        fs::write(d.path().join(MARKER_FILE), "").unwrap();
        assert!(check_replaceable(d.path()).is_ok());
    }
}
