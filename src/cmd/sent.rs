//! `pxtrack sent`: stamp the send time of prepared messages in `sends.csv`.

use std::path::Path;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use pxtrack::sends;

use super::{load_config, terminal_safe};
use crate::cli::SentArgs;

/// A send time as the user writes it: RFC 3339, or `now`.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    if text.trim().eq_ignore_ascii_case("now") {
        return Ok(Utc::now());
    }
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            anyhow::anyhow!(
                "{:?} is not a time pxtrack reads: write it as RFC 3339, such as \
                 2026-12-01T09:00:00Z (or 2026-12-01T10:00:00+01:00), or `now`",
                terminal_safe(text)
            )
        })
}

pub fn run(config_flag: Option<&Path>, args: &SentArgs) -> Result<()> {
    let config = load_config(config_flag)?;
    let at = match &args.at {
        Some(t) => parse_time(t)?,
        None => Utc::now(),
    };
    let (stamped, matching) = sends::update(&config.sends, |rows| {
        let mut stamped = 0;
        let mut matching = 0;
        for r in rows.iter_mut().filter(|r| {
            r.campaign == args.campaign
                && args
                    .recipient
                    .as_ref()
                    .is_none_or(|who| &r.recipient == who)
        }) {
            matching += 1;
            if r.sent_at.is_none() {
                r.sent_at = Some(at);
                stamped += 1;
            }
        }
        (stamped, matching)
    })?;
    if matching == 0 {
        bail!(
            "{}: no message of campaign {:?}{} was prepared by `pxtrack rewrite`; check the names \
             (nothing was stamped)",
            terminal_safe(&config.sends.display().to_string()),
            terminal_safe(&args.campaign),
            args.recipient
                .as_ref()
                .map(|r| format!(" for {:?}", terminal_safe(r)))
                .unwrap_or_default()
        );
    }
    eprintln!(
        "pxtrack: stamped {stamped} message(s) as sent at {}{}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        if matching > stamped {
            format!(
                "; {} already had a send time and kept it",
                matching - stamped
            )
        } else {
            String::new()
        }
    );
    Ok(())
}
