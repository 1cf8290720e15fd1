//! `pxtrack mint open|click`: sign tokens, append them to the manifest, print the URLs.
//!
//! Everything is validated before anything is written, and URLs are printed only after the
//! manifest holds their rows, so a printed URL is always one pxtrack can attribute.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use chrono::Utc;
use pxtrack::manifest::{self, ManifestRow, validate_target, validate_text};
use pxtrack::token::{self, TokenKind};

use super::{load_config, load_keys};
use crate::cli::{MintArgs, MintCommand};

pub fn run(config_flag: Option<&Path>, cmd: MintCommand) -> Result<()> {
    let (kind, common, html, target) = match cmd {
        MintCommand::Open { common, html } => (TokenKind::Open, common, html, None),
        MintCommand::Click { common, target } => (TokenKind::Click, common, false, Some(target)),
    };
    let config = load_config(config_flag)?;
    let target = target
        .map(|t| validate_target(&t).map_err(anyhow::Error::msg))
        .transpose()?;
    validate_text("campaign", &common.campaign, true).map_err(anyhow::Error::msg)?;
    validate_text("label", &common.label, false).map_err(anyhow::Error::msg)?;
    let recipients = recipients(&common)?;
    let now = Utc::now();
    let expires = match &common.expires {
        None => None,
        Some(text) => {
            let secs = parse_duration(text).map_err(anyhow::Error::msg)?;
            let at = now.timestamp() + secs;
            let at32 = u32::try_from(at)
                .map_err(|_| anyhow::anyhow!("--expires {text:?} ends after the year 2106"))?;
            Some(at32)
        }
    };
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
        })
        .collect();
    manifest::append(&config.manifest, &rows)?;

    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    for row in &rows {
        match kind {
            TokenKind::Open if html => writeln!(
                out,
                "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">",
                config.base_url.open_url(&row.token)
            )?,
            TokenKind::Open => writeln!(out, "{}", config.base_url.open_url(&row.token))?,
            TokenKind::Click => writeln!(out, "{}", config.base_url.click_url(&row.token))?,
        }
    }
    out.flush()?;
    if kind == TokenKind::Click {
        eprintln!(
            "pxtrack: minted {} click token(s); run `pxtrack nginx` and reload nginx so they \
             redirect",
            rows.len()
        );
    }
    Ok(())
}

/// The recipients: the one given, or those in the file.
fn recipients(args: &MintArgs) -> Result<Vec<String>> {
    if let Some(r) = &args.recipient {
        validate_text("recipient", r, true).map_err(anyhow::Error::msg)?;
        return Ok(vec![r.clone()]);
    }
    let path = args
        .recipients
        .as_ref()
        .expect("clap requires --recipient or --recipients");
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read recipients from {}", path.display()))?;
    let list = parse_recipients(&text)
        .map_err(|(line, msg)| anyhow::anyhow!("{}:{line}: {msg}", path.display()))?;
    if list.is_empty() {
        bail!("{}: no recipients found", path.display());
    }
    Ok(list)
}

/// One recipient a line, or a CSV whose header has a `recipient` column. Blank lines and lines
/// starting with `#` are skipped. Errors carry the 1-based line.
fn parse_recipients(text: &str) -> std::result::Result<Vec<String>, (u64, String)> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let header_has_column = first
        .split(',')
        .any(|f| f.trim().trim_matches('"').eq_ignore_ascii_case("recipient"));
    let mut out = Vec::new();
    if header_has_column {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers = rdr.headers().map_err(|e| (1, e.to_string()))?.clone();
        let col = headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case("recipient"))
            .expect("checked above");
        for rec in rdr.records() {
            let rec = rec.map_err(|e| (e.position().map_or(0, |p| p.line()), e.to_string()))?;
            let line = rec.position().map_or(0, |p| p.line());
            let r = rec.get(col).unwrap_or("").trim();
            if r.is_empty() {
                return Err((line, "expected a recipient in the recipient column".into()));
            }
            validate_text("recipient", r, true).map_err(|m| (line, m))?;
            out.push(r.to_string());
        }
    } else {
        for (i, raw) in text.lines().enumerate() {
            let r = raw.trim();
            if r.is_empty() || r.starts_with('#') {
                continue;
            }
            validate_text("recipient", r, true).map_err(|m| (i as u64 + 1, m))?;
            out.push(r.to_string());
        }
    }
    Ok(out)
}

/// Parses `90d`, `12h`, `30m`, `2w`, `3600s` (or a bare number of seconds) into seconds.
fn parse_duration(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("--expires {text:?}: expected a number and a unit, such as 90d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "--expires {text:?}: the unit must be s, m, h, d or w"
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
    fn durations() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("d").is_err());
    }

    #[test]
    fn recipient_files() {
        assert_eq!(
            parse_recipients("# list\na@example.com\n\n b@example.com \n").unwrap(),
            ["a@example.com", "b@example.com"]
        );
        assert_eq!(
            parse_recipients("name,Recipient\nAna,a@example.com\n\"B, b\",b@example.com\n")
                .unwrap(),
            ["a@example.com", "b@example.com"]
        );
        assert_eq!(parse_recipients("recipient\na\n,\n").unwrap_err().0, 3);
    }
}
