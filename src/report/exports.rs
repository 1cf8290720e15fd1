//! The small exports beside the pages: `campaigns.csv` (the headline figures) and
//! `recipients.csv` (one row per recipient), written with the csv crate and [`csv_safe`].

use super::*;

impl Report<'_> {
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
