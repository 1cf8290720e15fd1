//! The report site: view structs for the templates, rendering with tera, `events.csv`, and the
//! atomic replacement of the previous site.
//!
//! Templates see only the `*View` structs here, never domain types. Autoescaping is on for every
//! template (all are named `*.html`), so text from logs and the manifest reaches pages escaped.
//! CSV cells that a spreadsheet would run as a formula are prefixed with `'`.
//!
//! The site is built in a temporary sibling directory and swapped in at the end: a crash mid-build
//! leaves the previous report as it was. A directory is only ever replaced if it is empty or holds
//! pxtrack's marker file, so `--out ~` cannot clobber a home directory.
//!
//! Key types: [`Report`], [`OverviewView`], [`CampaignView`], [`Staging`], [`EventsCsv`],
//! [`write_pages`].

pub mod chart;
pub mod export_file;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

pub use crate::outdir::{OutputKind, Staging, process_is_gone};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
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

/// The embedded default templates, by name.
pub const TEMPLATES: [(&str, &str); 8] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    (
        "recipients.html",
        include_str!("../../templates/recipients.html"),
    ),
    ("index.html", include_str!("../../templates/index.html")),
    (
        "campaign.html",
        include_str!("../../templates/campaign.html"),
    ),
    ("hits.html", include_str!("../../templates/hits.html")),
    (
        "rejected.html",
        include_str!("../../templates/rejected.html"),
    ),
    ("about.html", include_str!("../../templates/about.html")),
];

/// Static files written beside the pages: one stylesheet and one small script for every page,
/// instead of a copy in each (a site of 100,000 pages would otherwise repeat them 100,000 times).
pub const ASSETS: [(&str, &str); 2] = [
    ("pxtrack.css", include_str!("../../templates/pxtrack.css")),
    ("pxtrack.js", include_str!("../../templates/pxtrack.js")),
];

/// `events.csv` columns, in order. The first twelve are the contract; more may be added at the end.
pub const EVENTS_HEADER: [&str; 21] = [
    "time",
    "kind",
    "token_status",
    "campaign",
    "recipient",
    "label",
    "class",
    "detail",
    "method",
    "status",
    "ip",
    "user_agent",
    "reason",
    "target",
    "uri",
    "referer",
    "requested_with",
    "purpose",
    "accept_language",
    "token",
    "source",
];

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// [`rfc3339`] without a date library: `2026-11-22T10:00:05.123Z` into a reused buffer. It is
/// called once per row of `events.csv`, where chrono's formatter was a measurable share.
pub fn rfc3339_fast(ms: i64, buf: &mut String) -> &str {
    buf.clear();
    let milli = push_date_time(buf, ms, 'T');
    buf.push('.');
    push_digits(buf, milli, 3);
    buf.push('Z');
    buf
}

/// Appends `YYYY-MM-DD<sep>HH:MM:SS` (UTC) and returns the milliseconds.
fn push_date_time(buf: &mut String, ms: i64, sep: char) -> i64 {
    let (y, m, d, h, mi, sec, milli) = civil(ms);
    push_digits(buf, y, 4);
    buf.push('-');
    push_digits(buf, m, 2);
    buf.push('-');
    push_digits(buf, d, 2);
    buf.push(sep);
    push_digits(buf, h, 2);
    buf.push(':');
    push_digits(buf, mi, 2);
    buf.push(':');
    push_digits(buf, sec, 2);
    milli
}

/// Appends `n` zero-padded to `width` digits (more if it needs them; a sign if negative).
fn push_digits(buf: &mut String, n: i64, width: usize) {
    if !(0..10_000).contains(&n) {
        use std::fmt::Write as _;
        let _ = write!(buf, "{n:0width$}");
        return;
    }
    let digits = [n / 1000 % 10, n / 100 % 10, n / 10 % 10, n % 10];
    for &dg in &digits[4 - width.min(4)..] {
        buf.push(char::from(b'0' + dg as u8));
    }
}

/// Epoch milliseconds to (year, month, day, hour, minute, second, millisecond), UTC.
fn civil(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    )
}

/// Formats epoch milliseconds for people: `2026-11-22 10:00:05 UTC`.
pub fn human_time(ms: i64) -> String {
    let mut buf = String::with_capacity(24);
    push_human_time(&mut buf, ms);
    buf
}

/// Appends [`human_time`] to `buf` (hit rows call it once each).
pub fn push_human_time(buf: &mut String, ms: i64) {
    if DateTime::<Utc>::from_timestamp_millis(ms).is_none() {
        return;
    }
    push_date_time(buf, ms, ' ');
    buf.push_str(" UTC");
}

fn opt_time(ms: Option<i64>) -> String {
    ms.map(human_time).unwrap_or_else(|| "—".into())
}

/// Makes a CSV cell safe to open in a spreadsheet: a leading `=`, `+`, `-`, `@`, tab or carriage
/// return would start a formula, so such a cell gets a leading `'`.
pub fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if starts_like_formula(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// Whether a spreadsheet would take the cell for a formula: it starts with `=`, `+`, `-`, `@`,
/// a tab or a carriage return.
fn starts_like_formula(cell: &str) -> bool {
    matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// A file name for a campaign page: a readable slug plus a hash of the exact name, so two names
/// that slug alike never collide and no name can escape the directory.
pub fn campaign_file(name: &str) -> String {
    let mut slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    slug = slug
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    slug.truncate(40);
    let hash = Sha256::digest(name.as_bytes());
    let hex: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    if slug.is_empty() {
        format!("campaign-{hex}.html")
    } else {
        format!("campaign-{slug}-{hex}.html")
    }
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()[..5]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The page of one tracked link of a campaign.
pub fn link_file(campaign: &str, label: &str, target: &str) -> String {
    format!("link-{}.html", short_hash(&[campaign, label, target]))
}

/// Recipients listed on one recipients page.
pub const RECIPIENTS_PER_PAGE: usize = 50;

/// The anchor of a recipient's section.
pub fn recipient_anchor(campaign: &str, recipient: &str) -> String {
    format!("r-{}", short_hash(&[campaign, recipient]))
}

/// The anchor of a token's section: the token itself when it is plain base64url, else a hash.
pub fn token_anchor(token: &str) -> String {
    if !token.is_empty() && token.len() <= 64 && crate::token::is_token_charset(token.as_bytes()) {
        format!("t-{token}")
    } else {
        format!("t-{}", short_hash(&[token]))
    }
}

/// Where each recipient of a campaign who has a hit is shown: in sections of recipients pages,
/// [`RECIPIENTS_PER_PAGE`] to a page, each recipient's tokens in sections of their own. Grouping
/// keeps a campaign of 100,000 recipients to a few thousand files; recipients with no hit get no
/// section. Empty when recipient detail is off.
pub struct RecipientBook<'a> {
    /// The campaign's short hash, which names its recipients pages.
    campaign_hash: String,
    /// Indices into the campaign's `recipient_stats`, by page.
    pub pages: Vec<Vec<usize>>,
    /// Recipient -> page and section anchor (hashed once here, not once per hit row).
    page_of: HashMap<&'a str, (usize, String)>,
}

impl<'a> RecipientBook<'a> {
    /// The book for a campaign.
    pub fn new(c: &'a CampaignStats, privacy: &Privacy) -> Self {
        let active: Vec<usize> = if privacy.recipient_detail {
            (0..c.recipient_stats.len())
                .filter(|&i| c.recipient_stats[i].hits > 0)
                .collect()
        } else {
            Vec::new()
        };
        let pages: Vec<Vec<usize>> = active
            .chunks(RECIPIENTS_PER_PAGE)
            .map(<[usize]>::to_vec)
            .collect();
        let mut page_of = HashMap::new();
        for (p, list) in pages.iter().enumerate() {
            for &i in list {
                let r = c.recipient_stats[i].recipient.as_str();
                page_of.insert(r, (p, recipient_anchor(&c.name, r)));
            }
        }
        RecipientBook {
            campaign_hash: short_hash(&[&c.name]),
            pages,
            page_of,
        }
    }

    /// The file of page `page` (0-based).
    pub fn page_file(&self, page: usize) -> String {
        format!("recipients-{}-{}.html", self.campaign_hash, page + 1)
    }

    /// Where a recipient's section is, if they have one.
    pub fn recipient_href(&self, recipient: &str) -> Option<String> {
        let (p, anchor) = self.page_of.get(recipient)?;
        Some(format!("{}#{anchor}", self.page_file(*p)))
    }

    /// Where a token's section is, if its recipient has one.
    pub fn token_href(&self, recipient: &str, token: &str) -> Option<String> {
        let (p, _) = self.page_of.get(recipient)?;
        Some(format!("{}#{}", self.page_file(*p), token_anchor(token)))
    }
}

/// One row of a class breakdown.
#[derive(Debug, Serialize)]
pub struct ClassRowView {
    /// Class name.
    pub class: &'static str,
    /// Open hits.
    pub opens: u64,
    /// Click hits.
    pub clicks: u64,
    /// Whether hits of this class count as opens and clicks.
    pub counted: bool,
}

/// A campaign's headline figures (overview row and campaign page).
#[derive(Debug, Serialize)]
pub struct FiguresView {
    /// Campaign name.
    pub name: String,
    /// Page file name.
    pub href: String,
    /// Distinct recipients minted.
    pub recipients: u64,
    /// Open tokens minted.
    pub open_tokens: u64,
    /// Click tokens minted.
    pub click_tokens: u64,
    /// Recipients with a counted open or click.
    pub unique_opens: u64,
    /// Of those, recipients whose only sign of an open is a click.
    pub opens_implied_by_click: u64,
    /// Estimated human opens (recipients).
    pub unique_human_opens: u64,
    /// Delivery-time proxy fetches plus scanner and bot pixel loads.
    pub machine_opens: u64,
    /// Recipients with a human-looking click.
    pub unique_human_clicks: u64,
    /// Counted opens.
    pub total_opens: u64,
    /// Human-looking opens.
    pub human_opens: u64,
    /// Proxy opens.
    pub proxy_opens: u64,
    /// Recipients with a counted click.
    pub unique_clicks: u64,
    /// Counted clicks.
    pub total_clicks: u64,
    /// Scanner and bot hits.
    pub machine_hits: u64,
    /// Last counted activity.
    pub last_activity: String,
    /// Estimated human clicks over estimated human opens, as a percentage ("—" without opens).
    pub click_to_open: String,
}

impl FiguresView {
    fn new(c: &CampaignStats) -> Self {
        FiguresView {
            name: c.name.clone(),
            href: campaign_file(&c.name),
            recipients: c.recipients,
            open_tokens: c.open_tokens,
            click_tokens: c.click_tokens,
            unique_opens: c.unique_opens,
            opens_implied_by_click: c.opens_implied_by_click,
            unique_human_opens: c.unique_human_opens,
            machine_opens: c.machine_opens,
            unique_human_clicks: c.unique_human_clicks,
            total_opens: c.total_opens(),
            human_opens: c.opens[HitClass::Human.index()],
            proxy_opens: c.opens[HitClass::Proxy.index()],
            unique_clicks: c.unique_clicks,
            total_clicks: c.total_clicks(),
            machine_hits: c.machine_hits(),
            last_activity: opt_time(c.last_activity_ms),
            click_to_open: if c.unique_human_opens == 0 {
                "—".into()
            } else {
                format!(
                    "{:.0}%",
                    100.0 * c.unique_human_clicks as f64 / c.unique_human_opens as f64
                )
            },
        }
    }
}

/// One log file on the overview.
#[derive(Debug, Serialize)]
pub struct FileView {
    /// Path as given or found.
    pub path: String,
    /// Lines read.
    pub lines: u64,
    /// Hits.
    pub hits: u64,
    /// Other requests.
    pub other: u64,
    /// Rejected lines.
    pub rejected: u64,
    /// Read error, if the file ended early.
    pub error: Option<String>,
}

/// One reject reason with examples.
#[derive(Debug, Serialize)]
pub struct RejectView {
    /// The reason in words.
    pub reason: &'static str,
    /// How many lines.
    pub count: u64,
    /// Example lines.
    pub examples: Vec<RejectExampleView>,
}

/// One example rejected line.
#[derive(Debug, Serialize)]
pub struct RejectExampleView {
    /// File path.
    pub file: String,
    /// Line number.
    pub line: u64,
    /// Column (1-based byte offset) where parsing stopped.
    pub column: usize,
    /// The line text.
    pub text: String,
}

/// One hit in a hit log.
#[derive(Debug, Serialize)]
pub struct HitView {
    /// Time, for people.
    pub time: String,
    /// open / click / other.
    pub kind: &'static str,
    /// Class.
    pub class: &'static str,
    /// Detail.
    pub detail: String,
    /// Reason in words.
    pub reason: String,
    /// Token status.
    pub token_status: &'static str,
    /// Recipient.
    pub recipient: String,
    /// Label.
    pub label: String,
    /// Client address.
    pub ip: String,
    /// User agent.
    pub user_agent: String,
    /// Method.
    pub method: String,
    /// HTTP status.
    pub status: u16,
    /// `file:line`.
    pub source: String,
    /// The token's page, for hits with a manifest row.
    pub token_href: Option<String>,
    /// The recipient's page, when recipient detail is on.
    pub recipient_href: Option<String>,
}

/// One tracked link of a campaign.
#[derive(Debug, Serialize)]
pub struct LinkView {
    /// Its page.
    pub href: String,
    /// Label.
    pub label: String,
    /// Target URL (shown as text, never as a live link).
    pub target: String,
    /// Tokens minted.
    pub tokens: u64,
    /// Recipients with a counted click.
    pub unique_clicks: u64,
    /// Counted clicks.
    pub total_clicks: u64,
    /// Scanner and bot clicks.
    pub machine_clicks: u64,
    /// First counted click.
    pub first_click: String,
    /// Last counted click.
    pub last_click: String,
}

/// One recipient of a campaign.
#[derive(Debug, Serialize)]
pub struct RecipientView {
    /// Their page, when they have any hit (pages are written only for those).
    pub href: Option<String>,
    /// Recipient.
    pub recipient: String,
    /// Status phrase.
    pub status: &'static str,
    /// Counted opens.
    pub opens: u64,
    /// Human-looking opens.
    pub human_opens: u64,
    /// Counted clicks.
    pub clicks: u64,
    /// Machine hits.
    pub machine_hits: u64,
    /// First counted open.
    pub first_open: String,
    /// Last activity.
    pub last_activity: String,
}

/// The overview page.
#[derive(Debug, Serialize)]
pub struct OverviewView {
    /// pxtrack version.
    pub version: &'static str,
    /// When the report was built (the one line that changes between identical runs).
    pub generated_at: String,
    /// First and last request time seen.
    pub window_from: String,
    /// Last request time seen.
    pub window_to: String,
    /// Files read.
    pub files: Vec<FileView>,
    /// Lines read.
    pub lines: u64,
    /// Hits on pixels and links.
    pub hits: u64,
    /// Other requests.
    pub other: u64,
    /// Rejected lines.
    pub rejected: u64,
    /// Whether lines = hits + other + rejected.
    pub reconciled: bool,
    /// Reject reasons.
    pub rejects: Vec<RejectView>,
    /// Campaigns.
    pub campaigns: Vec<FiguresView>,
    /// Pixel hits with forged or unknown tokens.
    pub unattributed_opens: u64,
    /// Link hits with forged or unknown tokens.
    pub unattributed_clicks: u64,
    /// Hits on pixels and links that name no campaign (forged, unknown), newest last.
    pub unattributed_hits: Vec<HitView>,
    /// All events by class.
    pub classes: Vec<ClassRowView>,
    /// Inputs that could not be read whole or hold no access-log line: the report is
    /// incomplete.
    pub input_problems: Vec<String>,
    /// Inputs read once because another input holds the same lines.
    pub input_notes: Vec<String>,
}

/// One bucket of a timeline, for the table beside the chart.
#[derive(Debug, Serialize)]
pub struct BucketView {
    /// When the bucket starts.
    pub label: String,
    /// Counted opens (human + proxy).
    pub opens: u64,
    /// Other pixel loads.
    pub other_opens: u64,
    /// Counted clicks.
    pub clicks: u64,
    /// Other link hits.
    pub other_clicks: u64,
}

/// A campaign's timeline: two charts and their numbers.
#[derive(Debug, Serialize)]
pub struct TimelineView {
    /// Bucket width in words.
    pub bucket: String,
    /// Inline SVG of pixel loads (pxtrack's own markup: rendered unescaped).
    pub opens_svg: String,
    /// Inline SVG of link hits.
    pub clicks_svg: String,
    /// The numbers behind both, non-empty buckets only.
    pub rows: Vec<BucketView>,
}

/// A breakdown panel: a title and (name, count, percent) rows, largest first.
#[derive(Debug, Serialize)]
pub struct PanelView {
    /// The panel's title.
    pub title: &'static str,
    /// What the counts are.
    pub of: &'static str,
    /// Rows.
    pub rows: Vec<(String, u64, String)>,
}

fn panel<K: AsRef<str>>(
    title: &'static str,
    of: &'static str,
    counts: &BTreeMap<K, u64>,
) -> PanelView {
    let total: u64 = counts.values().sum();
    let mut rows: Vec<(String, u64, String)> = counts
        .iter()
        .map(|(k, &n)| {
            let pct = if total == 0 {
                0.0
            } else {
                100.0 * n as f64 / total as f64
            };
            (k.as_ref().to_string(), n, format!("{pct:.0}%"))
        })
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    PanelView { title, of, rows }
}

/// A campaign page.
#[derive(Debug, Serialize)]
pub struct CampaignView {
    /// Clients, OS, devices and countries.
    pub panels: Vec<PanelView>,
    /// The GeoIP databases in use, or `None` when geo is off.
    pub geoip: Option<String>,
    /// Opens and clicks over time, when there were any.
    pub timeline: Option<TimelineView>,
    /// pxtrack version.
    pub version: &'static str,
    /// When the report was built.
    pub generated_at: String,
    /// Headline figures.
    pub figures: FiguresView,
    /// First counted activity.
    pub first_activity: String,
    /// Class breakdown.
    pub classes: Vec<ClassRowView>,
    /// Links.
    pub links: Vec<LinkView>,
    /// Whether per-recipient detail may be shown.
    pub recipient_detail: bool,
    /// Recipients (empty when `recipient_detail` is off), capped at [`MAX_ROWS_PER_TABLE`].
    pub recipients: Vec<RecipientView>,
    /// Recipients in all.
    pub recipients_total: usize,
    /// The hit log (opens and clicks), the first [`crate::aggregate::CAMPAIGN_SAMPLE`].
    pub hits: HitRows,
}

/// `summary.json`: the overview's figures for scripts.
#[derive(Debug, Serialize)]
pub struct SummaryView<'a> {
    /// pxtrack version.
    pub version: &'static str,
    /// When the report was built.
    pub generated_at: &'a str,
    /// Lines read.
    pub lines: u64,
    /// Hits on pixels and links.
    pub hits: u64,
    /// Other requests.
    pub other: u64,
    /// Rejected lines.
    pub rejected: u64,
    /// Whether lines = hits + other + rejected.
    pub reconciled: bool,
    /// Per campaign.
    pub campaigns: &'a [FiguresView],
    /// All pixel and link hits by class.
    pub classes: &'a [ClassRowView],
    /// False when some input could not be read whole or held no access-log line (the run's
    /// exit status is then 1).
    pub complete: bool,
    /// What was wrong with those inputs, in words.
    pub input_problems: &'a [String],
    /// Inputs read once because another input holds the same lines.
    pub input_notes: &'a [String],
}

/// A page listing the hits behind one link, recipient or token.
#[derive(Debug, Serialize)]
pub struct HitListView {
    /// pxtrack version.
    pub version: &'static str,
    /// When the report was built.
    pub generated_at: String,
    /// What the page is about: "Link", "Recipient", "Token".
    pub kind: &'static str,
    /// Its name (a label, an address, a token). Hostile: escaped by the template.
    pub name: String,
    /// The campaign it belongs to.
    pub campaign: String,
    /// The campaign's page.
    pub campaign_href: String,
    /// Facts shown under the title, as (term, value).
    pub facts: Vec<(String, String)>,
    /// The hits, the first [`crate::aggregate::LINK_SAMPLE`].
    pub hits: HitRows,
    /// Whether to show the recipient column.
    pub recipient_detail: bool,
}

/// One token of a recipient, with its hits.
#[derive(Debug, Serialize)]
pub struct TokenSectionView {
    /// The section's id.
    pub anchor: String,
    /// The token.
    pub token: String,
    /// open or click.
    pub kind: &'static str,
    /// Its label.
    pub label: String,
    /// Its target (clicks).
    pub target: String,
    /// When it was minted.
    pub minted: String,
    /// Its hits, the first [`crate::aggregate::TOKEN_SAMPLE`].
    pub hits: HitRows,
}

/// One recipient's section of a recipients page.
#[derive(Debug, Serialize)]
pub struct RecipientSectionView {
    /// The section's id.
    pub anchor: String,
    /// The recipient.
    pub recipient: String,
    /// Status and counts, as (term, value).
    pub facts: Vec<(String, String)>,
    /// Their tokens that were requested.
    pub tokens: Vec<TokenSectionView>,
}

/// A page of a campaign's recipients, each with every hit of each of their tokens.
#[derive(Debug, Serialize)]
pub struct RecipientsPageView {
    /// pxtrack version.
    pub version: &'static str,
    /// When the report was built.
    pub generated_at: String,
    /// The campaign.
    pub campaign: String,
    /// The campaign's page.
    pub campaign_href: String,
    /// This page's number, from 1.
    pub page: usize,
    /// Pages in all.
    pub pages: usize,
    /// The previous page.
    pub prev: Option<String>,
    /// The next page.
    pub next: Option<String>,
    /// The recipients on this page.
    pub recipients: Vec<RecipientSectionView>,
}

/// The rejected-lines page.
#[derive(Debug, Serialize)]
pub struct RejectedView {
    /// pxtrack version.
    pub version: &'static str,
    /// When the report was built.
    pub generated_at: String,
    /// Reasons with examples.
    pub rejects: Vec<RejectView>,
    /// Rejected lines in all.
    pub rejected: u64,
    /// Lines read in all.
    pub lines: u64,
}

/// A page with no data of its own (About the numbers).
#[derive(Debug, Serialize)]
pub struct StaticView {
    /// pxtrack version.
    pub version: &'static str,
    /// When the report was built.
    pub generated_at: String,
}

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
}

/// Appends `text` to `out`, escaped for HTML text and attribute values.
pub fn push_escaped(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    // Most texts (times, addresses, user agents) hold nothing to escape: one scan that the
    // compiler vectorizes finds that out before the byte loop that rewrites.
    let special = |b: u8| (b == b'&') | (b == b'<') | (b == b'>') | (b == b'"') | (b == b'\'');
    let mut chunks = bytes.chunks_exact(16);
    let mut start = 0;
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |m, &b| m | special(b)) {
            break;
        }
        start += 16;
    }
    if start == bytes.len() || !bytes[start..].iter().any(|&b| special(b)) {
        out.push_str(text);
        return;
    }
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&text[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&text[last..]);
}

/// Pre-rendered rows of a hit table. Hit tables are the bulk of a large site, so their rows are
/// written here, every value escaped by [`push_escaped`], instead of through a template loop
/// (about ten times faster); the table around them stays in `macros.html`.
#[derive(Debug, Serialize)]
pub struct HitRows {
    /// The `<tr>` elements (pxtrack's own markup: rendered unescaped).
    pub html: String,
    /// Rows written.
    pub shown: usize,
    /// Hits in all.
    pub total: usize,
}

impl Report<'_> {
    /// Writes the rows for kept hits `hits` (indices into the samples) of `total` hits in all.
    /// `show_recipient` adds the recipient column (off on recipients pages, which are per recipient).
    fn hit_rows(
        &self,
        hits: &[u32],
        total: u64,
        book: Option<&RecipientBook<'_>>,
        show_recipient: bool,
    ) -> HitRows {
        let mut html = String::with_capacity(hits.len() * 600);
        let detail = show_recipient && self.privacy.recipient_detail;
        let e = |out: &mut String, t: &str| push_escaped(out, t);
        // Rows of one token (a recipients page's section, most of them) share their links:
        // they are made once per manifest row, not once per hit row.
        let mut links: Option<(usize, Option<String>, Option<String>)> = None;
        for &i in hits {
            let c = &self.stats.samples[i as usize];
            let ev = c;
            let text = |id| self.stats.samples.text(id);
            let row = ev.row().map(|r| (r, &self.manifest.rows[r]));
            let (recipient_href, token_href) = match (row, book) {
                (Some((r, m)), Some(b)) => {
                    if links.as_ref().is_none_or(|(at, _, _)| *at != r) {
                        let recipient = detail.then(|| b.recipient_href(&m.recipient)).flatten();
                        links = Some((r, recipient, b.token_href(&m.recipient, &m.token)));
                    }
                    let (_, recipient, token) = links.as_ref().expect("set just above");
                    (recipient.as_deref(), token.as_deref())
                }
                _ => (None, None),
            };
            let row = row.map(|(_, m)| m);
            html.push_str("<tr><td>");
            push_human_time(&mut html, ev.time_ms);
            html.push_str("</td><td>");
            html.push_str(ev.kind.as_str());
            html.push_str("</td>");
            if detail {
                html.push_str("<td class=\"text\">");
                if let Some(r) = row {
                    match recipient_href {
                        Some(href) => {
                            html.push_str("<a href=\"");
                            e(&mut html, href);
                            html.push_str("\">");
                            e(&mut html, &r.recipient);
                            html.push_str("</a>");
                        }
                        None => e(&mut html, &r.recipient),
                    }
                }
                html.push_str("</td>");
            }
            html.push_str("<td>");
            if let Some(r) = row {
                e(&mut html, &r.label);
            }
            let class = c.class.as_str();
            html.push_str("</td><td><span class=\"class class-");
            html.push_str(class);
            html.push_str("\">");
            html.push_str(class);
            html.push_str("</span> <span class=\"muted\">");
            e(&mut html, text(c.detail));
            html.push_str("</span></td><td>");
            e(&mut html, text(c.reason));
            html.push_str("</td><td class=\"mono\">");
            self.privacy.push_ip(&mut html, ev.client);
            html.push_str("</td><td>");
            if let Some(cc) = ev.country() {
                e(&mut html, cc);
            }
            html.push_str("</td><td>");
            e(&mut html, text(c.client_name));
            html.push_str("</td><td class=\"ua\">");
            let headers = self.stats.samples.headers(ev);
            e(&mut html, headers.user_agent());
            html.push_str("</td><td class=\"mono\">");
            e(&mut html, headers.method());
            html.push(' ');
            html.push_str(itoa::Buffer::new().format(ev.status));
            html.push_str("</td><td>");
            match token_href {
                Some(href) => {
                    html.push_str("<a href=\"");
                    e(&mut html, href);
                    html.push_str("\">hits</a>");
                }
                None => {
                    html.push_str("<span class=\"muted\">");
                    html.push_str(ev.token_status.as_str());
                    html.push_str("</span>");
                }
            }
            html.push_str("</td></tr>\n");
        }
        HitRows {
            html,
            shown: hits.len(),
            total: usize::try_from(total).unwrap_or(usize::MAX),
        }
    }

    fn hit_view(&self, c: &Sample, book: Option<&RecipientBook<'_>>) -> HitView {
        let ev = c;
        let text = |id| self.stats.samples.text(id);
        let row = ev.row().map(|r| &self.manifest.rows[r]);
        HitView {
            time: human_time(ev.time_ms),
            kind: ev.kind.as_str(),
            class: c.class.as_str(),
            detail: text(c.detail).to_string(),
            reason: text(c.reason).to_string(),
            token_status: ev.token_status.as_str(),
            recipient: row
                .filter(|_| self.privacy.recipient_detail)
                .map(|r| r.recipient.clone())
                .unwrap_or_default(),
            label: row.map(|r| r.label.clone()).unwrap_or_default(),
            ip: self.privacy.show_ip(ev.client),
            user_agent: self.stats.samples.headers(ev).user_agent().to_string(),
            method: self.stats.samples.headers(ev).method().to_string(),
            status: ev.status,
            source: self.source(ev.source),
            token_href: row
                .zip(book)
                .and_then(|(r, b)| b.token_href(&r.recipient, &r.token)),
            recipient_href: row
                .zip(book)
                .and_then(|(r, b)| b.recipient_href(&r.recipient)),
        }
    }

    fn source(&self, s: crate::hit::Source) -> String {
        let name = self
            .file_names
            .get(s.file as usize)
            .map_or("?", String::as_str);
        format!("{name}:{}", s.line)
    }

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
            generated_at: human_time(self.generated_at_ms),
            window_from: opt_time(self.stats.first_ms),
            window_to: opt_time(self.stats.last_ms),
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
            campaigns: self.stats.campaigns.iter().map(FiguresView::new).collect(),
            unattributed_opens: self.stats.unattributed[0],
            unattributed_clicks: self.stats.unattributed[1],
            unattributed_hits,
            classes: Self::class_rows(&self.stats.opens_by_class, &self.stats.clicks_by_class),
            input_problems: self.input_problems.to_vec(),
            input_notes: self.input_notes.to_vec(),
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
        let buckets = chart::Bucketing::for_range(first, last);
        let mut opens = chart::Timeline::new(buckets);
        let mut clicks = chart::Timeline::new(buckets);
        for (&granule, by_kind) in &c.timeline.counts {
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
        CampaignView {
            panels: vec![
                panel("Email clients and browsers", "counted hits", &c.clients),
                panel("Operating systems", "human-looking hits", &c.oses),
                panel("Devices", "human-looking hits", &c.devices),
                panel("Countries", "human-looking hits", &c.countries),
            ],
            geoip: self.geoip.clone(),
            timeline: self.timeline(c),
            version: env!("CARGO_PKG_VERSION"),
            generated_at: human_time(self.generated_at_ms),
            figures: FiguresView::new(c),
            first_activity: opt_time(c.first_activity_ms),
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
                    first_click: opt_time(l.first_click_ms),
                    last_click: opt_time(l.last_click_ms),
                })
                .collect(),
            recipient_detail: self.privacy.recipient_detail,
            recipients: c
                .recipient_stats
                .iter()
                .filter(|_| self.privacy.recipient_detail)
                .take(MAX_ROWS_PER_TABLE)
                .map(|r| RecipientView {
                    href: book.recipient_href(&r.recipient),
                    recipient: r.recipient.clone(),
                    status: r.status(),
                    opens: r.opens,
                    human_opens: r.human_opens,
                    clicks: r.clicks,
                    machine_hits: r.machine_hits,
                    first_open: opt_time(r.first_open_ms),
                    last_activity: opt_time(r.last_activity_ms),
                })
                .collect(),
            hits: self.hit_rows(&c.hits, c.hit_count, Some(book), true),
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
            generated_at: human_time(self.generated_at_ms),
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
                        self.hit_rows(&l.hits, l.hit_count, Some(book), true),
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
                                        .map(|x| human_time(x.created.timestamp_millis()))
                                        .unwrap_or_default(),
                                    hits: self.hit_rows(&t.hits, t.total, Some(book), false),
                                }
                            })
                            .collect();
                        RecipientSectionView {
                            anchor: recipient_anchor(&c.name, &r.recipient),
                            recipient: r.recipient.clone(),
                            facts: vec![
                                ("Status".into(), r.status().to_string()),
                                ("Opens".into(), r.opens.to_string()),
                                ("Clicks".into(), r.clicks.to_string()),
                                ("First open".into(), opt_time(r.first_open_ms)),
                                ("Last activity".into(), opt_time(r.last_activity_ms)),
                            ],
                            tokens,
                        }
                    })
                    .collect();
                let view = RecipientsPageView {
                    version: env!("CARGO_PKG_VERSION"),
                    generated_at: human_time(self.generated_at_ms),
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

    /// Writes `campaigns.csv`: one row of headline figures per campaign.
    pub fn write_campaigns_csv(&self, path: &Path, campaigns: &[FiguresView]) -> Result<()> {
        let csv_err = |e| Error::Csv {
            path: path.to_path_buf(),
            cause: e,
        };
        let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
        w.write_record([
            "campaign",
            "recipients",
            "open_tokens",
            "click_tokens",
            "unique_human_opens",
            "unique_opens",
            "opens_implied_by_click",
            "total_opens",
            "human_opens",
            "proxy_opens",
            "machine_opens",
            "unique_human_clicks",
            "unique_clicks",
            "total_clicks",
            "machine_hits",
            "last_activity",
            "click_to_open",
        ])
        .map_err(csv_err)?;
        for c in campaigns {
            let n = |v: u64| v.to_string();
            w.write_record([
                csv_safe(&c.name).into_owned(),
                n(c.recipients),
                n(c.open_tokens),
                n(c.click_tokens),
                n(c.unique_human_opens),
                n(c.unique_opens),
                n(c.opens_implied_by_click),
                n(c.total_opens),
                n(c.human_opens),
                n(c.proxy_opens),
                n(c.machine_opens),
                n(c.unique_human_clicks),
                n(c.unique_clicks),
                n(c.total_clicks),
                n(c.machine_hits),
                c.last_activity.clone(),
                c.click_to_open.clone(),
            ])
            .map_err(csv_err)?;
        }
        w.flush().map_err(|e| Error::io(path, e))
    }

    /// Writes `recipients.csv`: every recipient of every campaign with their status and counts
    /// (the openers and clickers export). Not written when recipient detail is off.
    pub fn write_recipients_csv(&self, path: &Path) -> Result<()> {
        let csv_err = |e| Error::Csv {
            path: path.to_path_buf(),
            cause: e,
        };
        let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
        w.write_record([
            "campaign",
            "recipient",
            "status",
            "opens",
            "human_opens",
            "machine_opens",
            "clicks",
            "human_clicks",
            "machine_hits",
            "first_open",
            "last_activity",
        ])
        .map_err(csv_err)?;
        for c in &self.stats.campaigns {
            for r in &c.recipient_stats {
                let n = |v: u64| v.to_string();
                let t = |ms: Option<i64>| ms.map(rfc3339).unwrap_or_default();
                w.write_record([
                    csv_safe(&c.name).into_owned(),
                    csv_safe(&r.recipient).into_owned(),
                    r.status().to_string(),
                    n(r.opens),
                    n(r.human_opens),
                    n(r.machine_opens),
                    n(r.clicks),
                    n(r.human_clicks),
                    n(r.machine_hits),
                    t(r.first_open_ms),
                    t(r.last_activity_ms),
                ])
                .map_err(csv_err)?;
            }
        }
        w.flush().map_err(|e| Error::io(path, e))
    }
}

/// `events.csv`, written one row at a time as the events stream past, so that a log of any
/// length is exported without being held in memory.
///
/// This is the one CSV file written without the csv crate: it is the largest output, and the
/// crate's field-by-field writer was most of the thread that writes it. Cells are written as
/// the crate writes them (quoted when they hold a comma, a quote, CR or LF; quotes doubled), a
/// property the tests check against the crate itself.
pub struct EventsCsv<'a> {
    /// The rows not yet handed to the writer.
    chunk: Chunk,
    writer: ExportWriter,
    manifest: &'a Manifest,
    known: &'a KnownTargets,
    privacy: Privacy,
    file_names: &'a [String],
    text: String,
    num: itoa::Buffer,
    /// The cells of each [`Headers`] met, by its address (the map holds the `Arc`, so an address
    /// is not reused for other headers while it is here).
    header_cells: foldhash::HashMap<usize, (Arc<Headers>, HeaderCells)>,
    /// The cells of each manifest row met.
    row_cells: CellTable,
    /// The request target and token cells of each known target met.
    known_cells: CellTable,
    /// The same cells of an event whose texts are its own.
    own_cells: Vec<u8>,
    /// Per log file: the start of its `source` cells (`name:`, guarded), when its name needs
    /// no quoting, so a row writes only the line number after it.
    source_prefixes: Vec<Option<Box<[u8]>>>,
    /// The second of the last row's time and its text up to the milliseconds
    /// (`YYYY-MM-DDTHH:MM:SS.`): a log has several requests a second.
    time_prefix: (i64, [u8; 20]),
}

/// `events.csv` cells quoted and made safe once per key, two groups of cells per key, side by
/// side in one buffer. Keyed by manifest row: campaign, recipient and label, then the target;
/// by known target ([`KnownTargets`]): the request target, then the token. Each cell ends with
/// its comma.
///
/// Read from the manifest, a row's cells were five places in memory (the row and its four
/// strings), rarely in cache with tens of thousands of tokens; here they are one or two cache
/// lines, and their text is not scanned for characters to quote again. Keys are added as
/// events meet them, so a large manifest over a small log costs only its index.
struct CellTable {
    bytes: Vec<u8>,
    /// Per key: where its cells start in `bytes`, where its second group starts, and where
    /// they end; all 0 until the key is met.
    spans: Vec<[u32; 3]>,
}

impl CellTable {
    fn new(keys: usize) -> Self {
        CellTable {
            bytes: Vec::new(),
            spans: vec![[0; 3]; keys],
        }
    }

    /// The two groups of cells of key `k`; `fill` writes them when `k` is new and says where
    /// the second starts.
    fn get(&mut self, k: usize, fill: impl FnOnce(&mut Vec<u8>) -> usize) -> (&[u8], &[u8]) {
        if self.spans[k][2] == 0 {
            // Offsets are 32 bits: past 2 GiB of cells (a manifest of tens of millions of
            // rows), start over, so that the next key's cells still end below 4 GiB.
            if self.bytes.len() > (u32::MAX as usize) / 2 {
                self.bytes.clear();
                self.spans.fill([0; 3]);
            }
            let start = self.bytes.len();
            let second = fill(&mut self.bytes);
            let at = |n: usize| u32::try_from(n).expect("kept under 4 GiB above");
            self.spans[k] = [at(start), at(second), at(self.bytes.len())];
        }
        let [start, second, end] = self.spans[k].map(|n| n as usize);
        (&self.bytes[start..second], &self.bytes[second..end])
    }

    /// Asks for key `k`'s place in the buffer to be brought into cache.
    fn prefetch_span(&self, k: usize) {
        if let Some(span) = self.spans.get(k) {
            prefetch(span);
        }
    }

    /// Asks for key `k`'s cells to be brought into cache, once its place is.
    fn prefetch_cells(&self, k: usize) {
        if let Some(&[start, _, end]) = self.spans.get(k)
            && end > 0
        {
            let cells = self.bytes.as_ptr().wrapping_add(start as usize);
            prefetch(cells);
            prefetch(cells.wrapping_add(64));
        }
    }
}

/// Writes a manifest row's cells for [`CellTable`]: campaign, recipient and label, then the
/// target.
fn fill_row_cells(bytes: &mut Vec<u8>, row: &ManifestRow, privacy: Privacy) -> usize {
    let recipient = if privacy.recipient_detail {
        row.recipient.as_str()
    } else {
        ""
    };
    for text in [row.campaign.as_str(), recipient, row.label.as_str()] {
        push_csv_cell(bytes, text);
        bytes.push(b',');
    }
    let target = bytes.len();
    push_csv_cell(bytes, &row.target);
    bytes.push(b',');
    target
}

/// Writes an event's request target and token cells, for [`CellTable`] or on their own.
fn fill_target_cells(bytes: &mut Vec<u8>, token: &str, uri: &str) -> usize {
    push_csv_cell(bytes, uri);
    bytes.push(b',');
    let token_at = bytes.len();
    push_csv_cell(bytes, token);
    bytes.push(b',');
    token_at
}

/// The `events.csv` cells of one [`Headers`], quoted and made safe once: the method, the user
/// agent, then referer, `X-Requested-With`, purpose and `Accept-Language`, each with its comma.
/// Every hit from one client shares its headers (the benchmark log has 19 combinations for ten
/// million lines), and scanning a hundred-byte user agent for characters to quote was the
/// writer's largest cost after waiting for memory.
struct HeaderCells {
    bytes: Box<[u8]>,
    /// Where the user agent's cell starts.
    user_agent_at: usize,
    /// Where the referer's cell starts.
    referer_at: usize,
}

impl HeaderCells {
    fn new(h: &Headers) -> Self {
        let mut bytes = Vec::new();
        let cell = |bytes: &mut Vec<u8>, text: &str| {
            push_csv_cell(bytes, text);
            bytes.push(b',');
        };
        cell(&mut bytes, h.method());
        let user_agent_at = bytes.len();
        cell(&mut bytes, h.user_agent());
        let referer_at = bytes.len();
        for text in [
            h.referer(),
            h.requested_with(),
            h.purpose(),
            h.accept_language(),
        ] {
            cell(&mut bytes, text);
        }
        HeaderCells {
            bytes: bytes.into(),
            user_agent_at,
            referer_at,
        }
    }
}

/// Headers whose cells [`EventsCsv`] keeps before it starts over (they come from logs).
const MAX_HEADER_CELLS: usize = 4096;

/// Appends one CSV cell, made safe for spreadsheets by [`csv_safe`], quoted when it must be.
pub fn push_csv_cell(out: &mut Vec<u8>, cell: &str) {
    let formula = starts_like_formula(cell);
    let bytes = cell.as_bytes();
    if !needs_quotes(bytes) {
        if formula {
            out.push(b'\'');
        }
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    if formula {
        out.push(b'\'');
    }
    // Most quoted cells are user agents with a comma ("KHTML, like Gecko") and no quote:
    // memchr finds that out in a few vector steps, where splitting went byte by byte.
    let mut rest = bytes;
    while let Some(i) = memchr::memchr(b'"', rest) {
        out.extend_from_slice(&rest[..=i]);
        out.push(b'"');
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Whether a cell holds a byte that CSV must quote: a comma, a quote, CR or LF.
///
/// Scans 16 bytes at a time without an early exit inside a chunk, which the compiler turns into
/// vector compares; `iter().any` goes byte by byte, and this scan was most of the time spent
/// writing `events.csv` (user agents and URIs are long).
fn needs_quotes(bytes: &[u8]) -> bool {
    let special = |b: u8| (b == b',') | (b == b'"') | (b == b'\n') | (b == b'\r');
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |m, &b| m | special(b)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| special(b))
}

/// Appends a cell that is known to need neither quotes nor a formula guard: digits, times,
/// addresses and class names that pxtrack itself wrote.
fn push_plain_cell(out: &mut Vec<u8>, cell: &str) {
    debug_assert!(!needs_quotes(cell.as_bytes()));
    debug_assert!(!starts_like_formula(cell));
    out.extend_from_slice(cell.as_bytes());
}

/// Appends `n` in decimal, digit by digit: for the few digits of a status or an address
/// octet, a copy through `memcpy` (as from `itoa`'s buffer) costs more than the digits.
fn push_u16(out: &mut Vec<u8>, n: u16) {
    for div in [10_000, 1_000, 100, 10] {
        if n >= div {
            out.push(b'0' + (n / div % 10) as u8);
        }
    }
    out.push(b'0' + (n % 10) as u8);
}

/// Appends an address as `Display` writes it; IPv4, by far the most common, without the
/// formatting machinery.
fn push_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u16(out, octet.into());
            }
        }
        std::net::IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends the `time` cell and its comma: [`rfc3339_fast`], with the text up to the
/// milliseconds kept from the row before when it fell in the same second.
fn push_time(out: &mut Vec<u8>, ms: i64, prefix: &mut (i64, [u8; 20]), text: &mut String) {
    let second = ms.div_euclid(1000);
    if prefix.0 != second {
        let full = rfc3339_fast(ms, text).as_bytes();
        if full.len() != 24 {
            // A year past 9999 or before 0: no fixed width to keep.
            out.extend_from_slice(full);
            out.push(b',');
            return;
        }
        prefix.1.copy_from_slice(&full[..20]);
        prefix.0 = second;
    }
    out.extend_from_slice(&prefix.1);
    let milli = ms.rem_euclid(1000) as u16;
    out.extend_from_slice(&[
        b'0' + (milli / 100) as u8,
        b'0' + (milli / 10 % 10) as u8,
        b'0' + (milli % 10) as u8,
        b'Z',
        b',',
    ]);
}

impl<'a> EventsCsv<'a> {
    /// Creates the file and writes the header.
    pub fn create(
        path: &Path,
        manifest: &'a Manifest,
        known: &'a KnownTargets,
        privacy: Privacy,
        file_names: &'a [String],
    ) -> Result<Self> {
        Self::create_with(path, Mode::Direct, manifest, known, privacy, file_names)
    }

    fn create_with(
        path: &Path,
        mode: Mode,
        manifest: &'a Manifest,
        known: &'a KnownTargets,
        privacy: Privacy,
        file_names: &'a [String],
    ) -> Result<Self> {
        let writer = ExportWriter::create_with(path, mode)?;
        let mut chunk = Chunk::new();
        let out = chunk.buf();
        for (i, h) in EVENTS_HEADER.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_csv_cell(out, h);
        }
        out.push(b'\n');
        Ok(EventsCsv {
            chunk,
            writer,
            manifest,
            known,
            privacy,
            file_names,
            text: String::with_capacity(64),
            num: itoa::Buffer::new(),
            header_cells: foldhash::HashMap::default(),
            row_cells: CellTable::new(manifest.rows.len()),
            known_cells: CellTable::new(known.len()),
            own_cells: Vec::new(),
            source_prefixes: file_names
                .iter()
                .map(|name| {
                    (!needs_quotes(name.as_bytes())).then(|| {
                        let mut cell = Vec::new();
                        push_csv_cell(&mut cell, name);
                        cell.push(b':');
                        cell.into_boxed_slice()
                    })
                })
                .collect(),
            time_prefix: (i64::MIN, [0; 20]),
        })
    }

    /// Writes one event's row.
    pub fn write(&mut self, c: &Classified) -> Result<()> {
        let ev = &c.event;
        if self.header_cells.len() >= MAX_HEADER_CELLS {
            self.header_cells.clear();
        }
        let (_, headers) = self
            .header_cells
            .entry(Arc::as_ptr(&ev.headers) as usize)
            .or_insert_with(|| (ev.headers.clone(), HeaderCells::new(&ev.headers)));
        let (method, user_agent, rest) = (
            &headers.bytes[..headers.user_agent_at],
            &headers.bytes[headers.user_agent_at..headers.referer_at],
            &headers.bytes[headers.referer_at..],
        );
        let (manifest, privacy, known) = (self.manifest, self.privacy, self.known);
        let (row_cells, target) = match ev.row {
            Some(r) => self
                .row_cells
                .get(r, |b| fill_row_cells(b, &manifest.rows[r], privacy)),
            None => (&b",,,"[..], &b","[..]),
        };
        let (uri, token) = match &ev.target {
            &TargetText::Known(i) => self.known_cells.get(i as usize, |b| {
                let (token, uri) = known.texts(i);
                fill_target_cells(b, token, uri)
            }),
            TargetText::Own { token, uri } => {
                self.own_cells.clear();
                let at = fill_target_cells(&mut self.own_cells, token, uri);
                self.own_cells.split_at(at)
            }
        };
        let out = self.chunk.buf();
        let cell = |out: &mut Vec<u8>, v: &str| {
            push_csv_cell(out, v);
            out.push(b',');
        };
        let plain = |out: &mut Vec<u8>, v: &str| {
            push_plain_cell(out, v);
            out.push(b',');
        };
        push_time(out, ev.time_ms, &mut self.time_prefix, &mut self.text);
        plain(out, ev.kind.as_str());
        plain(out, ev.token_status.as_str());
        out.extend_from_slice(row_cells);
        plain(out, c.verdict.class.as_str());
        cell(out, &c.verdict.detail);
        out.extend_from_slice(method);
        push_u16(out, ev.status);
        out.push(b',');
        if self.privacy.anonymize_ip {
            plain(out, &self.privacy.show_ip(ev.client));
        } else {
            push_ip(out, ev.client);
            out.push(b',');
        }
        out.extend_from_slice(user_agent);
        cell(out, &c.verdict.reason);
        out.extend_from_slice(target);
        out.extend_from_slice(uri);
        out.extend_from_slice(rest);
        out.extend_from_slice(token);
        match self.source_prefixes.get(ev.source.file as usize) {
            Some(Some(prefix)) => {
                out.extend_from_slice(prefix);
                out.extend_from_slice(self.num.format(ev.source.line).as_bytes());
            }
            _ => {
                self.text.clear();
                self.text.push_str(
                    self.file_names
                        .get(ev.source.file as usize)
                        .map_or("?", String::as_str),
                );
                self.text.push(':');
                self.text.push_str(self.num.format(ev.source.line));
                push_csv_cell(out, &self.text);
            }
        }
        out.push(b'\n');
        if self.chunk.rows().len() >= FLUSH_BYTES {
            self.writer.write_blocks(&mut self.chunk)?;
        }
        Ok(())
    }

    /// Writes the rows of a batch of events, in order.
    ///
    /// A row reads texts that live apart: the manifest row's cells and the event's target's
    /// ([`CellTable`]), its headers and reason. With 80,000 tokens they are rarely in cache, and
    /// waiting for them one at a time was most of this thread's time. So the rows a few places
    /// ahead are asked for early, in two steps (the row's place among the cells, then the
    /// cells and the event's texts), and their loads overlap.
    pub fn write_batch(&mut self, batch: &[Classified]) -> Result<()> {
        const AHEAD: usize = 6;
        for (i, c) in batch.iter().enumerate() {
            if let Some(later) = batch.get(i + 2 * AHEAD).map(|c| &c.event) {
                if let Some(r) = later.row {
                    self.row_cells.prefetch_span(r);
                }
                if let TargetText::Known(k) = later.target {
                    self.known_cells.prefetch_span(k as usize);
                }
            }
            if let Some(next) = batch.get(i + AHEAD) {
                let ev = &next.event;
                if let Some(r) = ev.row {
                    self.row_cells.prefetch_cells(r);
                }
                match &ev.target {
                    &TargetText::Known(k) => self.known_cells.prefetch_cells(k as usize),
                    TargetText::Own { token, uri } => {
                        prefetch(token.as_ptr());
                        prefetch(uri.as_ptr());
                    }
                }
                prefetch(next.verdict.reason.as_ptr());
            }
            self.write(c)?;
        }
        Ok(())
    }

    /// Writes what is buffered, waits for the file and says what was written.
    pub fn finish(self) -> Result<Written> {
        self.writer.finish(self.chunk)
    }
}

/// Loads the templates: the embedded defaults, each replaced by a same-named file in
/// `override_dir` when one is given and exists.
pub fn templates(override_dir: Option<&Path>) -> Result<tera::Tera> {
    let mut loaded: Vec<(String, String)> = Vec::new();
    for (name, text) in TEMPLATES {
        let custom = override_dir.map(|d| d.join(name)).filter(|p| p.is_file());
        let text = match custom {
            Some(p) => fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?,
            None => text.to_string(),
        };
        loaded.push((name.to_string(), text));
    }
    let mut tera = tera::Tera::default();
    tera.add_raw_templates(loaded)
        .map_err(|e| template_error("(loading)", &e))?;
    Ok(tera)
}

fn template_error(name: &str, e: &tera::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::Template {
        template: name.to_string(),
        message,
    }
}

fn render(tera: &tera::Tera, name: &str, view: &impl Serialize) -> Result<String> {
    let ctx = tera::Context::from_serialize(view).map_err(|e| template_error(name, &e))?;
    tera.render(name, &ctx)
        .map_err(|e| template_error(name, &e))
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
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let p = dir.join(name);
        fs::write(&p, bytes).map_err(|e| Error::io(&p, e))
    };
    write(
        MARKER_FILE,
        b"This directory is a pxtrack report. `pxtrack analyze` replaces it as a whole.\n",
    )?;
    for (name, text) in ASSETS {
        write(name, text.as_bytes())?;
    }
    let overview = report.overview();
    write(
        "index.html",
        render(tera, "index.html", &overview)?.as_bytes(),
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
    let campaigns = &report.stats.campaigns;
    let books: Vec<RecipientBook<'_>> = campaigns
        .iter()
        .map(|c| RecipientBook::new(c, &report.privacy))
        .collect();
    let mut jobs: Vec<(usize, Page)> = Vec::new();
    for (ci, c) in campaigns.iter().enumerate() {
        jobs.push((ci, Page::Campaign));
        jobs.extend((0..c.links.len()).map(|l| (ci, Page::Link(l))));
        jobs.extend((0..books[ci].pages.len()).map(|p| (ci, Page::Recipients(p))));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || -> Result<()> {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&(ci, page)) = jobs.get(i) else {
                return Ok(());
            };
            let (c, book) = (&campaigns[ci], &books[ci]);
            let (file, html) = match page {
                Page::Campaign => (
                    campaign_file(&c.name),
                    render(tera, "campaign.html", &report.campaign(c, book))?,
                ),
                Page::Link(l) => {
                    let (file, view) = report.link_page(c, book, l);
                    (file, render(tera, "hits.html", &view)?)
                }
                Page::Recipients(p) => {
                    let (file, view) = report.recipient_page(c, book, p);
                    (file, render(tera, "recipients.html", &view)?)
                }
            };
            write(&file, html.as_bytes())?;
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
        render(tera, "rejected.html", &rejected)?.as_bytes(),
    )?;
    let about = StaticView {
        version: overview.version,
        generated_at: overview.generated_at.clone(),
    };
    write("about.html", render(tera, "about.html", &about)?.as_bytes())?;
    report.write_campaigns_csv(&dir.join("campaigns.csv"), &overview.campaigns)?;
    if report.privacy.recipient_detail {
        report.write_recipients_csv(&dir.join("recipients.csv"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        let mut out = String::new();
        push_escaped(&mut out, "<a href=\"x\" onclick='y'>&amp;</a>");
        assert_eq!(
            out,
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        let mut out = String::from("kept ");
        push_escaped(&mut out, "caf\u{e9} plain");
        assert_eq!(out, "kept caf\u{e9} plain");
    }

    #[test]
    fn fast_rfc3339_agrees_with_chrono() {
        let mut buf = String::new();
        for ms in [
            0i64,
            1_795_338_000_123,
            951_782_400_000,
            4_102_444_799_999,
            1_709_164_800_000,
        ] {
            assert_eq!(rfc3339_fast(ms, &mut buf), rfc3339(ms), "{ms}");
            let chrono_human = DateTime::<Utc>::from_timestamp_millis(ms)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap();
            assert_eq!(human_time(ms), chrono_human, "{ms}");
        }
        // Every day of four centuries, at a time of day that moves.
        for day in -73_000i64..73_000 {
            let ms = day * 86_400_000 + (day.rem_euclid(86_400)) * 997;
            assert_eq!(rfc3339_fast(ms, &mut buf), rfc3339(ms), "{ms}");
        }
    }

    proptest::proptest! {
        #[test]
        fn escaping_equals_replacing_each_special_character(
            text in "[a-z &<>\"'/.()]{0,80}|[a-z ]{14,70}[&<>\"']?[a-z]{0,20}|\\PC{0,40}"
        ) {
            let mut ours = String::from("kept ");
            push_escaped(&mut ours, &text);
            let theirs = text
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&#39;");
            proptest::prop_assert_eq!(ours, format!("kept {theirs}"));
        }
    }

    proptest::proptest! {
        #[test]
        fn csv_cells_are_written_as_the_csv_crate_writes_them(
            cells in proptest::collection::vec(
                "[a-z,\"\\r\\n=+@ \\t'-]{0,12}|\\PC{0,8}|[a-z/. ]{10,40}[,\"\\n]?[a-z]{0,20}",
                1..6,
            )
        ) {
            let mut ours = Vec::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    ours.push(b',');
                }
                push_csv_cell(&mut ours, c);
            }
            ours.push(b'\n');
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(cells.iter().map(|c| csv_safe(c).into_owned())).unwrap();
            let theirs = w.into_inner().unwrap();
            // The crate writes a lone empty field as `""`; events.csv rows have 21 fields.
            if cells.len() > 1 || !cells[0].is_empty() {
                proptest::prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
            }
        }
    }

    /// A classified request for no token, from line `line` of log file `file`.
    fn other_request(file: u32, line: u64, user_agent: &str) -> Classified {
        use crate::classify::Verdict;
        use crate::hit::{Event, Source};
        use crate::model::HitClass;
        use crate::model::{HitKind, TokenStatus};
        Classified {
            event: Event {
                kind: HitKind::Other,
                token_status: TokenStatus::None,
                row: None,
                target: TargetText::Own {
                    token: "".into(),
                    uri: "/favicon.ico".into(),
                },
                status: 404,
                bytes_sent: 0,
                source: Source { file, line },
                ..Event::test_open(1_700_000_000_000, user_agent)
            },
            verdict: Verdict {
                class: HitClass::Invalid,
                detail: "no-token".into(),
                reason: "not a pixel or tracked-link URL".into(),
                machine_open: false,
            },
            client: Arc::new(crate::enrich::detect("curl/8", "")),
        }
    }

    #[test]
    fn source_cells_quote_and_guard_hostile_file_names() {
        let names = ["logs/access.log", "we,ird\".log", "=cmd.log", "-"].map(String::from);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.csv");
        let manifest = Manifest::new(Vec::new());
        let known = KnownTargets::default();
        let mut csv =
            EventsCsv::create(&path, &manifest, &known, Privacy::default(), &names).unwrap();
        let batch: Vec<Classified> = (0..5).map(|f| other_request(f, 7, "curl/8")).collect();
        csv.write_batch(&batch).unwrap();
        csv.finish().unwrap();
        let sources: Vec<String> = csv::Reader::from_path(&path)
            .unwrap()
            .records()
            .map(|r| r.unwrap().get(20).unwrap().to_string())
            .collect();
        // File 4 is not in the list: `?`, as before.
        let expected = [
            "logs/access.log:7",
            "we,ird\".log:7",
            "'=cmd.log:7",
            "'-:7",
            "?:7",
        ];
        assert_eq!(sources, expected);
    }

    #[test]
    fn a_known_target_is_written_as_the_same_texts_of_its_own_would_be() {
        use crate::hit::TargetText;
        use crate::token::{KeyRing, SecretKey, TokenKind};
        let keys = KeyRing::single(SecretKey::new(1, [3; 32]));
        let rows: Vec<ManifestRow> = [TokenKind::Open, TokenKind::Click]
            .into_iter()
            .map(|kind| ManifestRow {
                label: "l".into(),
                target: "https://example.com/".into(),
                ..ManifestRow::example(kind, &crate::token::mint(kind, keys.active(), None))
            })
            .collect();
        let manifest = Manifest::new(rows);
        // A path prefix with a comma and a quote: the cached cells must be quoted.
        let known = KnownTargets::new(&manifest, &keys, "/t,\"x");
        assert_eq!(known.len(), 2);
        let names = ["access.log".to_string()];
        let batch: Vec<Classified> = (0..6u32)
            .map(|i| {
                let mut c = other_request(0, 1, "curl/8");
                let record = i % 2;
                c.event.row = Some(record as usize);
                c.event.target = if i < 4 {
                    TargetText::Known(record)
                } else {
                    let (token, uri) = known.texts(record);
                    TargetText::Own {
                        token: token.into(),
                        uri: uri.into(),
                    }
                };
                c
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.csv");
        let mut csv =
            EventsCsv::create(&path, &manifest, &known, Privacy::default(), &names).unwrap();
        csv.write_batch(&batch).unwrap();
        csv.finish().unwrap();
        let rows: Vec<csv::StringRecord> = csv::Reader::from_path(&path)
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 6);
        for i in 0..6 {
            // Rows 0 and 2 (record 0, met first and then from the cache) as row 4, its texts.
            assert_eq!(rows[i], rows[4 + i % 2], "row {i}");
        }
        let (token, uri) = known.texts(0);
        assert_eq!((&rows[0][14], &rows[0][19]), (uri, token));
        assert!(uri.starts_with("/t,\"x/o/"));
    }

    #[test]
    fn events_csv_keeps_every_row_through_the_cache_and_direct() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0";
        // A row longer than the buffer, which moves it, halfway.
        let long = format!("{firefox} {}", "x".repeat(3 << 20));
        let rows = 60_000u64;
        let batch: Vec<Classified> = (1..=rows)
            .map(|line| other_request(0, line, if line == rows / 2 { &long } else { firefox }))
            .collect();
        let names = ["access.log".to_string()];
        let manifest = Manifest::new(Vec::new());
        let mut files = Vec::new();
        // Through the page cache, letting pages go after every 1 MiB buffer so the advice runs
        // many times; then with direct I/O.
        for mode in [Mode::Buffered { release_every: 1 }, Mode::Direct] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("events.csv");
            let known = KnownTargets::default();
            let mut csv =
                EventsCsv::create_with(&path, mode, &manifest, &known, Privacy::default(), &names)
                    .unwrap();
            csv.write_batch(&batch).unwrap();
            let w = csv.finish().unwrap();
            assert!(w.bytes > 4 << 20, "the test should write several buffers");
            if mode != Mode::Direct {
                assert!(w.released > 0 && w.released <= w.advised && w.advised <= w.bytes);
            }
            let text = fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len() as u64, rows + 1);
            assert!(lines[1].ends_with(",access.log:1"));
            assert!(lines[rows as usize / 2].contains(&long));
            assert!(lines[rows as usize].ends_with(&format!(",access.log:{rows}")));
            files.push(text);
        }
        assert!(files[0] == files[1], "direct I/O wrote other bytes");
    }

    proptest::proptest! {
        #[test]
        fn times_are_written_as_rfc3339_fast_writes_them(
            start in -100_000_000_000_000i64..300_000_000_000_000,
            steps in proptest::collection::vec(0i64..3_000, 1..20),
        ) {
            let mut prefix = (i64::MIN, [0; 20]);
            let (mut text, mut ms) = (String::new(), start);
            for step in steps {
                ms += step;
                let mut ours = Vec::new();
                push_time(&mut ours, ms, &mut prefix, &mut text);
                let expected = format!("{},", rfc3339_fast(ms, &mut String::new()));
                proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), expected);
            }
        }

        #[test]
        fn addresses_are_written_as_display_writes_them(v4: u32, v6: u128) {
            for ip in [
                std::net::IpAddr::from(std::net::Ipv4Addr::from(v4)),
                std::net::IpAddr::from(std::net::Ipv6Addr::from(v6)),
            ] {
                let mut ours = Vec::new();
                push_ip(&mut ours, ip);
                proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), ip.to_string());
            }
        }
    }

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        for n in [0, 7, 10, 99, 100, 200, 302, 999, 1000, 9999, 10_000, 65_535] {
            let mut ours = Vec::new();
            push_u16(&mut ours, n);
            assert_eq!(String::from_utf8(ours).unwrap(), n.to_string());
        }
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("+1"), "'+1");
        assert_eq!(csv_safe("-2"), "'-2");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("Mozilla/5.0"), "Mozilla/5.0");
        assert_eq!(csv_safe(""), "");
    }

    #[test]
    fn campaign_files_are_safe_and_distinct() {
        assert!(campaign_file("Autumn launch").starts_with("campaign-autumn-launch-"));
        assert_ne!(campaign_file("a b"), campaign_file("a-b"));
        let evil = campaign_file("../../etc/passwd");
        assert!(!evil.contains('/') && !evil.contains(".."), "{evil}");
        assert!(campaign_file("<>").starts_with("campaign-"));
    }

    #[test]
    fn embedded_templates_compile() {
        templates(None).unwrap();
    }

    #[test]
    fn refuses_to_replace_a_foreign_directory() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("precious.txt"), "x").unwrap();
        assert!(check_replaceable(d.path()).is_err());
        fs::write(d.path().join(MARKER_FILE), "").unwrap();
        assert!(check_replaceable(d.path()).is_ok());
    }
}
