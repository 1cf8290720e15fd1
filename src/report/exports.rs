//! The small exports beside the pages: `campaigns.csv` (the headline figures) and
//! `recipients.csv` (one row per recipient), written with the csv crate and [`csv_safe`].

use super::*;

/// A `campaigns.csv` cell of a campaign's figures.
type FigureCell = fn(&FiguresView) -> String;

/// `campaigns.csv`'s columns, in order: the header is their names, every row their cells (the
/// same names as the figures' keys in `summary.json`).
const CAMPAIGN_COLUMNS: [(&str, FigureCell); 20] = [
    ("campaign", |c| csv_safe(&c.name).into_owned()),
    ("recipients", |c| c.recipients.to_string()),
    ("open_tokens", |c| c.open_tokens.to_string()),
    ("click_tokens", |c| c.click_tokens.to_string()),
    ("unique_human_opens", |c| c.unique_human_opens.to_string()),
    ("unique_opens", |c| c.unique_opens.to_string()),
    ("opens_implied_by_click", |c| {
        c.opens_implied_by_click.to_string()
    }),
    ("total_opens", |c| c.total_opens.to_string()),
    ("human_opens", |c| c.human_opens.to_string()),
    ("proxy_opens", |c| c.proxy_opens.to_string()),
    ("machine_opens", |c| c.machine_opens.to_string()),
    ("unique_human_clicks", |c| c.unique_human_clicks.to_string()),
    ("unique_clicks", |c| c.unique_clicks.to_string()),
    ("total_clicks", |c| c.total_clicks.to_string()),
    ("machine_hits", |c| c.machine_hits.to_string()),
    ("last_activity", |c| c.last_activity.clone()),
    ("click_to_open", |c| c.click_to_open.clone()),
    ("opened_only_via_proxy", |c| {
        c.opened_only_via_proxy.to_string()
    }),
    ("estimated_human_opens", |c| {
        c.estimated_human_opens.to_string()
    }),
    ("human_clicks", |c| c.human_clicks.to_string()),
];

impl Report<'_> {
    /// Writes `campaigns.csv`: one row of headline figures per campaign.
    pub fn write_campaigns_csv(&self, path: &Path, campaigns: &[FiguresView]) -> Result<()> {
        let csv_err = |e| Error::Csv {
            path: path.to_path_buf(),
            cause: e,
        };
        let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
        w.write_record(CAMPAIGN_COLUMNS.map(|(name, _)| name))
            .map_err(csv_err)?;
        for c in campaigns {
            w.write_record(CAMPAIGN_COLUMNS.map(|(_, cell)| cell(c)))
                .map_err(csv_err)?;
        }
        w.flush().map_err(|e| Error::io(path, e))
    }

    /// Writes `recipients.csv`: every recipient of every campaign with their status and counts
    /// (the openers and clickers export). Not written when recipient detail is off.
    pub fn write_recipients_csv(&self, path: &Path, books: &[RecipientBook<'_>]) -> Result<()> {
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
            "proxy_opens",
            "estimated_human_opens",
            "answer",
            "sureness",
        ])
        .map_err(csv_err)?;
        for (c, book) in self.stats.campaigns.iter().zip(books) {
            for (i, r) in c.recipient_stats.iter().enumerate() {
                let n = |v: u64| v.to_string();
                let t = |ms: Option<i64>| ms.map(rfc3339).unwrap_or_default();
                let (answer, sureness) = book.answer(i);
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
                    n(r.opens - r.human_opens),
                    n(r.estimated_human_opens),
                    csv_safe(answer).into_owned(),
                    sureness.words().to_string(),
                ])
                .map_err(csv_err)?;
            }
        }
        w.flush().map_err(|e| Error::io(path, e))
    }
}
