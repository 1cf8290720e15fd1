//! `pxtrack mint open|click`: sign tokens, append them to the manifest, print the URLs.
//!
//! Everything is validated before anything is written, and URLs are printed only after the
//! manifest holds their rows, so a printed URL is always one pxtrack can attribute.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use chrono::Utc;
use pxtrack::manifest::{self, ManifestRow, validate_target, validate_text};
use pxtrack::recipients::{self, RecipientList};
use pxtrack::report::{csv_safe, push_escaped};
use pxtrack::token::{self, TokenKind};

use super::{load_config, load_keys, terminal_safe};
use crate::cli::{MintArgs, MintCommand, MintFormat};

pub fn run(config_flag: Option<&Path>, cmd: MintCommand) -> Result<()> {
    let (kind, common, html, target) = match cmd {
        MintCommand::Open { common, html } => (TokenKind::Open, common, html, None),
        MintCommand::Click { common, target } => (TokenKind::Click, common, false, Some(target)),
    };
    let format = if html {
        MintFormat::Html
    } else {
        common.format
    };
    let config = load_config(config_flag)?;
    let target = target
        .map(|t| validate_target(&t).map_err(anyhow::Error::msg))
        .transpose()?;
    if let Some(t) = &target {
        // A target nginx could not hold would make `pxtrack nginx` leave the link out.
        pxtrack::nginx::check_target_fits(t, &config.nginx.instance)?;
    }
    validate_text("campaign", &common.campaign, true).map_err(anyhow::Error::msg)?;
    validate_text("label", &common.label, false).map_err(anyhow::Error::msg)?;
    let now = Utc::now();
    let expires = match &common.expires {
        None => None,
        Some(text) => {
            let secs = parse_duration(text).map_err(anyhow::Error::msg)?;
            let at = now.timestamp() + secs;
            let at32 = u32::try_from(at)
                .map_err(|_| anyhow::anyhow!("--expires {text:?} ends after the year 2106"))?;
            if kind == TokenKind::Click && secs < 86_400 {
                warn(&format!(
                    "--expires {text}: these links stop redirecting at {} UTC (nginx answers \
                     404 after that); use a longer duration, such as 90d, for mail that may be \
                     read later",
                    chrono::DateTime::from_timestamp(at, 0)
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_default()
                ));
            }
            Some(at32)
        }
    };
    let recipients = recipients(&common)?;
    let keys = load_keys(&config, true)?;
    let key = keys.active();

    let rows: Vec<ManifestRow> = recipients
        .into_iter()
        .map(|recipient| ManifestRow {
            created: now,
            kind,
            token: token::mint(kind, key, expires),
            campaign: common.campaign.clone(),
            recipient,
            label: common.label.clone(),
            target: target.clone().unwrap_or_default(),
            expires: expires.and_then(|e| chrono::DateTime::from_timestamp(i64::from(e), 0)),
            message: String::new(),
        })
        .collect();
    manifest::append(&config.manifest, &rows)?;

    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    if format == MintFormat::Csv {
        writeln!(out, "recipient,url")?;
    }
    let mut line = String::new();
    for row in &rows {
        let url = match kind {
            TokenKind::Open => config.base_url.open_url(&row.token),
            TokenKind::Click => config.base_url.click_url(&row.token),
        };
        line.clear();
        match (format, kind) {
            (MintFormat::Url, _) => line.push_str(&url),
            (MintFormat::Csv, _) => {
                let mut cells = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(Vec::new());
                cells.write_record([csv_safe(&row.recipient).as_ref(), url.as_str()])?;
                let bytes = cells.into_inner().map_err(|e| e.into_error())?;
                line.push_str(String::from_utf8_lossy(&bytes).trim_end());
            }
            (MintFormat::Html, TokenKind::Open) => {
                line.push_str("<img src=\"");
                line.push_str(&url);
                line.push_str("\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">");
            }
            (MintFormat::Html, TokenKind::Click) => {
                line.push_str("<a href=\"");
                line.push_str(&url);
                line.push_str("\">");
                let text = if row.label.is_empty() {
                    &row.target
                } else {
                    &row.label
                };
                push_escaped(&mut line, text);
                line.push_str("</a>");
            }
        }
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    eprintln!(
        "pxtrack: minted {} {} token(s); run `pxtrack nginx` and reload nginx so that nginx {}",
        rows.len(),
        kind.as_str(),
        match kind {
            TokenKind::Open => "serves their pixels",
            TokenKind::Click => "redirects them",
        }
    );
    Ok(())
}

fn warn(text: &str) {
    eprintln!("pxtrack: warning: {}", terminal_safe(text));
}

/// The recipients: the one given, or those in the file (first occurrence of each).
pub(super) fn recipients(args: &MintArgs) -> Result<Vec<String>> {
    if let Some(r) = &args.recipient {
        validate_text("recipient", r, true).map_err(anyhow::Error::msg)?;
        return Ok(vec![r.clone()]);
    }
    let path = args
        .recipients
        .as_ref()
        .expect("clap requires --recipient or --recipients");
    let list = read_recipients(path)?;
    if list.dropped > 0 {
        let (first, line) = list.first_dropped.clone().unwrap_or_default();
        warn(&format!(
            "{}: {} recipient(s) listed more than once (compared without case) were minted \
             once; the first repeat is {first:?} on line {line}",
            path.display(),
            list.dropped
        ));
    }
    Ok(list.recipients.into_iter().map(|r| r.address).collect())
}

/// Reads a recipient list, with errors that name the file and line.
pub fn read_recipients(path: &Path) -> Result<RecipientList> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read recipients from {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line =
            memchr::memchr_iter(b'\n', &e.as_bytes()[..e.utf8_error().valid_up_to()]).count() + 1;
        anyhow::anyhow!(
            "{}:{line}: expected UTF-8 text; save the list as \"CSV UTF-8\" (or plain UTF-8 \
             text)",
            path.display()
        )
    })?;
    let list = recipients::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}:{}: {}", path.display(), e.line, e.message))?;
    if list.recipients.is_empty() {
        bail!(
            "{}: no recipients found (expected one address a line, or a CSV with an email column)",
            path.display()
        );
    }
    Ok(list)
}

/// Parses `90d`, `12h`, `30m`, `45s` or `2w` into seconds. A bare number is refused: `90` could
/// mean seconds or days, and guessing wrong makes every link in the sent mail a 404.
pub(super) fn parse_duration(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| {
        format!("--expires {text:?}: expected a number and a unit, such as 90d, 12h, 30m or 45s")
    })?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "" => {
            return Err(format!(
                "--expires {text:?} needs a unit: {n}d for days, {n}h for hours, {n}m for \
                 minutes, {n}s for seconds"
            ));
        }
        _ => {
            return Err(format!(
                "--expires {text:?}: the unit must be d (days), h (hours), m (minutes), s \
                 (seconds) or w (weeks), as in 90d"
            ));
        }
    };
    if n == 0 {
        return Err(format!("--expires {text:?}: must be longer than zero"));
    }
    n.checked_mul(mult)
        .ok_or_else(|| format!("--expires {text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        let e = parse_duration("90").unwrap_err();
        assert!(e.contains("needs a unit: 90d for days"), "{e}");
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("d").is_err());
    }
}
