//! The view structs the templates receive, and nothing else: built for them from the
//! aggregated figures by [`Report`](super::Report)'s methods, serialised by tera.

use super::*;

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
    /// Of `unique_opens`, recipients whose counted opens all came through a mail provider's proxy.
    pub opened_only_via_proxy: u64,
    /// Opens a person is likely behind: human-looking ones and reader-triggered proxy fetches.
    pub estimated_human_opens: u64,
    /// Human-looking clicks.
    pub human_clicks: u64,
}

impl FiguresView {
    pub(crate) fn new(c: &CampaignStats, zone: Zone) -> Self {
        FiguresView {
            name: c.name.clone(),
            href: campaign_file(&c.name),
            recipients: c.recipients,
            open_tokens: c.open_tokens,
            click_tokens: c.click_tokens,
            unique_opens: c.unique_opens,
            opens_implied_by_click: c.opens_implied_by_click,
            opened_only_via_proxy: c.opened_only_via_proxy,
            unique_human_opens: c.unique_human_opens,
            machine_opens: c.machine_opens,
            unique_human_clicks: c.unique_human_clicks,
            total_opens: c.total_opens(),
            human_opens: c.opens[HitClass::Human.index()],
            proxy_opens: c.opens[HitClass::Proxy.index()],
            unique_clicks: c.unique_clicks,
            total_clicks: c.total_clicks(),
            machine_hits: c.machine_hits(),
            estimated_human_opens: c
                .recipient_stats
                .iter()
                .map(|r| r.estimated_human_opens)
                .sum(),
            human_clicks: c.clicks[HitClass::Human.index()],
            last_activity: zone.opt(c.last_activity_ms),
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
    /// `certain` or `probable`.
    pub certainty: &'static str,
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
    /// Opens through a mail provider's proxy.
    pub proxy_opens: u64,
    /// Opens a person is likely behind.
    pub estimated_human_opens: u64,
    /// Pixel loads no person triggered.
    pub machine_opens: u64,
    /// Counted clicks.
    pub clicks: u64,
    /// Human-looking clicks.
    pub human_clicks: u64,
    /// Machine hits.
    pub machine_hits: u64,
    /// First counted open.
    pub first_open: String,
    /// Last activity.
    pub last_activity: String,
    /// First counted open, short (`18 Nov 08:12`), for the people table.
    pub first_open_short: String,
    /// Last activity, short.
    pub last_activity_short: String,
    /// The answer in a sentence ("opened: ..., 18 Nov 08:12; clicked Pricing twice").
    pub answer: String,
    /// How sure, in words.
    pub sureness: &'static str,
    /// How sure, as a CSS class suffix.
    pub sureness_key: people::Sureness,
}

/// A campaign of at most [`people::SMALL_SEND`] recipients, answered person by person on the overview.
#[derive(Debug, Serialize)]
pub struct SmallSendView {
    /// Campaign name.
    pub name: String,
    /// Its page.
    pub href: String,
    /// Its recipients.
    pub people: Vec<RecipientView>,
    /// Their rows of the people table, as HTML ([`people::people_rows`]).
    pub people_html: String,
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
    /// Campaigns small enough to answer person by person here.
    pub small_sends: Vec<SmallSendView>,
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

pub(crate) fn panel<K: AsRef<str>>(
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
    /// What was sent, from `sends.csv`, when `pxtrack rewrite` prepared the messages.
    pub snapshot: Option<SnapshotView>,
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
    /// The rows of the people table, as HTML ([`people::people_rows`]).
    pub people_html: String,
    /// The hit log (opens and clicks), the first [`crate::aggregate::CAMPAIGN_SAMPLE`].
    pub hits: HitRows,
}

/// A campaign's send snapshot: its messages, as `pxtrack rewrite` prepared them.
#[derive(Debug, Serialize)]
pub struct SnapshotView {
    /// Messages prepared.
    pub messages: usize,
    /// Their distinct subjects.
    pub subjects: Vec<String>,
    /// Their distinct senders.
    pub senders: Vec<String>,
    /// The templates, with the start of their sha256.
    pub templates: Vec<String>,
    /// How many have a send time.
    pub sent_messages: usize,
    /// The first and last send time, when any.
    pub first_sent: String,
    /// See `first_sent`.
    pub last_sent: String,
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
    /// The figures and what they count.
    pub glossary: &'static [glossary::Term],
}
