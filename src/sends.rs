//! `sends.csv`: the send snapshot, one row per message `pxtrack rewrite` prepared: which
//! message, for whom, with which subject and sender, from which template (its file name and
//! sha256), under which tracking base URL, prepared and (once the user says so) sent when.
//!
//! The file is small (a row per message), so it is rewritten whole under an exclusive lock,
//! through a temporary file and a rename: a reader never sees half of it.
//!
//! Key types: [`Send`].

use std::fs;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::{Error, Result};

/// The columns of `sends.csv`, in order.
pub const HEADER: [&str; 10] = [
    "message_id",
    "campaign",
    "recipient",
    "subject",
    "from",
    "template",
    "template_sha256",
    "base_url",
    "prepared_at",
    "sent_at",
];

/// One prepared message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    /// Its `Message-ID`, with the angle brackets.
    pub message_id: String,
    /// The campaign.
    pub campaign: String,
    /// The recipient.
    pub recipient: String,
    /// The subject (a message's `Subject:`, an HTML body's `<title>`).
    pub subject: String,
    /// The sender (`From:`), when the template is a whole message.
    pub from: String,
    /// The template's file name.
    pub template: String,
    /// The template's sha256, hex.
    pub template_sha256: String,
    /// The tracking base URL its URLs are under.
    pub base_url: String,
    /// When `pxtrack rewrite` prepared it.
    pub prepared_at: DateTime<Utc>,
    /// When it was sent, once known (`pxtrack sent`, or `rewrite --sent-at`).
    pub sent_at: Option<DateTime<Utc>>,
}

fn time_cell(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads `sends.csv`; a missing file has no rows.
pub fn read(path: &Path) -> Result<Vec<Send>> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let bad = |line: u64, message: String| Error::DataFile {
        path: path.to_path_buf(),
        line: Some(line),
        message,
    };
    let mut r = csv::Reader::from_reader(file);
    let header = r
        .headers()
        .map_err(|e| bad(1, format!("not a CSV: {e}")))?
        .clone();
    if header.iter().collect::<Vec<_>>() != HEADER {
        return Err(bad(
            1,
            format!(
                "not pxtrack's sends.csv: expected the header {}",
                HEADER.join(",")
            ),
        ));
    }
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| bad(line, e.to_string()))?;
        let time = |k: usize| -> Result<Option<DateTime<Utc>>> {
            let text = rec.get(k).unwrap_or_default();
            if text.is_empty() {
                return Ok(None);
            }
            DateTime::parse_from_rfc3339(text)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| {
                    bad(
                        line,
                        format!("expected an RFC 3339 time in {}, found {text:?}", HEADER[k]),
                    )
                })
        };
        let text = |k: usize| rec.get(k).unwrap_or_default().to_string();
        rows.push(Send {
            message_id: text(0),
            campaign: text(1),
            recipient: text(2),
            subject: text(3),
            from: text(4),
            template: text(5),
            template_sha256: text(6),
            base_url: text(7),
            prepared_at: time(8)?.ok_or_else(|| bad(line, "prepared_at is empty".into()))?,
            sent_at: time(9)?,
        });
    }
    Ok(rows)
}

/// Changes `sends.csv` under an exclusive lock: reads it, lets `change` edit the rows, writes it
/// back whole (temporary file, then rename). Returns what `change` returns.
pub fn update<R>(path: &Path, change: impl FnOnce(&mut Vec<Send>) -> R) -> Result<R> {
    let _lock = crate::manifest::lock_beside(path)?;
    let mut rows = read(path)?;
    let result = change(&mut rows);
    let tmp = crate::manifest::hidden_sidecar(path, &format!(".tmp-{}", std::process::id()));
    let written = (|| -> Result<()> {
        let mut w = csv::Writer::from_path(&tmp).map_err(|e| Error::Csv {
            path: tmp.clone(),
            cause: e,
        })?;
        let csv_err = |e| Error::Csv {
            path: tmp.clone(),
            cause: e,
        };
        w.write_record(HEADER).map_err(csv_err)?;
        for s in &rows {
            w.write_record([
                s.message_id.clone(),
                s.campaign.clone(),
                s.recipient.clone(),
                s.subject.clone(),
                s.from.clone(),
                s.template.clone(),
                s.template_sha256.clone(),
                s.base_url.clone(),
                time_cell(&s.prepared_at),
                s.sent_at.as_ref().map(time_cell).unwrap_or_default(),
            ])
            .map_err(csv_err)?;
        }
        let file = w
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map(|()| result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_are_stamped_under_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("sends.csv");
        assert!(read(&path).unwrap().is_empty());
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let row = Send {
            message_id: "<a@x>".into(),
            campaign: "c, \"q\"".into(),
            recipient: "ana@example.org".into(),
            subject: "Hi".into(),
            from: "Cara <cara@example.com>".into(),
            template: "t.eml".into(),
            template_sha256: "00".into(),
            base_url: "https://t.example.com".into(),
            prepared_at: at,
            sent_at: None,
        };
        update(&path, |rows| rows.push(row.clone())).unwrap();
        let n = update(&path, |rows| {
            rows.iter_mut()
                .filter(|r| r.sent_at.is_none())
                .map(|r| r.sent_at = Some(at))
                .count()
        })
        .unwrap();
        assert_eq!(n, 1);
        let back = read(&path).unwrap();
        assert_eq!(
            back,
            [Send {
                sent_at: Some(at),
                ..row
            }]
        );
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            2,
            "the file and its lock"
        );
    }
}
