//! `pxtrack rewrite`: tracked copies of an HTML email, one per recipient, with the tokens in the
//! manifest and a line per message in `messages.csv`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use chrono::Utc;
use pxtrack::manifest::{self, ManifestRow, validate_text};
use pxtrack::rewrite::{self, GMAIL_CLIP_BYTES, Link, PixelPlace};
use pxtrack::token::{self, TokenKind};

use super::mint::{parse_duration, read_recipients};
use super::{load_config, load_keys, terminal_safe, write_atomic};
use crate::cli::{PixelArg, RewriteArgs};

/// One recipient with the merge fields their row gives.
struct Person {
    address: String,
    fields: HashMap<String, String>,
}

/// One prepared message.
struct Message {
    person: usize,
    file: String,
    message_id: String,
    output: Vec<u8>,
    subject: String,
    from: String,
    tracked: usize,
    left_alone: usize,
}

pub fn run(config_flag: Option<&Path>, args: &RewriteArgs) -> Result<()> {
    let config = load_config(config_flag)?;
    let template_path = &args.template;
    let ext = template_path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let is_message = match ext.as_str() {
        "html" | "htm" => false,
        "eml" => true,
        _ => bail!(
            "{}: expected an HTML email body (.html, .htm) or a whole message (.eml)",
            terminal_safe(&template_path.display().to_string())
        ),
    };
    let bytes = std::fs::read(template_path)
        .with_context(|| format!("cannot read {}", template_path.display()))?;
    // A message's parts carry their own charsets; an HTML body must be UTF-8.
    let template = if is_message {
        String::new()
    } else {
        String::from_utf8(bytes.clone()).map_err(|e| {
            anyhow::anyhow!(
                "{}: not UTF-8 (byte {} is not); save the template as UTF-8",
                terminal_safe(&template_path.display().to_string()),
                e.utf8_error().valid_up_to() + 1
            )
        })?
    };
    let common = &args.common;
    validate_text("campaign", &common.campaign, true).map_err(anyhow::Error::msg)?;
    let (people, columns) = people(args)?;
    let shown = terminal_safe(&template_path.display().to_string());

    let merge_text =
        |p: &Person, text: &str, html: bool| -> Result<String, rewrite::RewriteError> {
            if args.no_merge {
                return Ok(text.to_string());
            }
            rewrite::merge_as(
                text,
                |name| p.fields.get(&field_key(name)).cloned(),
                &columns,
                html,
            )
        };
    let merged_for = |p: &Person| -> Result<String> {
        merge_text(p, &template, true).map_err(|e| anyhow::anyhow!("{shown}: {e}"))
    };

    if args.dry_run {
        let first = people.first().expect("at least one recipient");
        let mut plans = Vec::new();
        if is_message {
            let mut html = |body: &str| {
                plans.push(rewrite::find_links(
                    &merge_text(first, body, true)?,
                    &config.rewrite,
                )?);
                Ok(body.to_string())
            };
            rewrite::message::rewrite_message(
                &bytes,
                rewrite::message::Edits {
                    html: &mut html,
                    text: None,
                    subject: None,
                    to: &first.address,
                    message_id: "<dry-run@pxtrack>",
                },
            )
            .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        } else {
            plans.push(
                rewrite::find_links(&merged_for(first)?, &config.rewrite)
                    .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?,
            );
        }
        for (links, in_comments) in &plans {
            print_plan(links, *in_comments, people.len());
        }
        return Ok(());
    }

    let sent_at = args
        .sent_at
        .as_deref()
        .map(super::sent::parse_time)
        .transpose()?;
    let keys = load_keys(&config, true)?;
    let key = keys.active();
    let now = Utc::now();
    let expires = match &common.expires {
        None => None,
        Some(text) => {
            let secs = parse_duration(text).map_err(anyhow::Error::msg)?;
            Some(
                u32::try_from(now.timestamp() + secs)
                    .map_err(|_| anyhow::anyhow!("--expires {text:?} ends after the year 2106"))?,
            )
        }
    };
    let expires_at = expires.and_then(|e| chrono::DateTime::from_timestamp(i64::from(e), 0));
    let place = match args.pixel {
        PixelArg::Top => PixelPlace::Top,
        PixelArg::Bottom => PixelPlace::Bottom,
        PixelArg::Both => PixelPlace::Both,
    };
    let host = config.base_url.host.clone();
    let mut rows: Vec<ManifestRow> = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    let row = |kind, token: String, recipient: &str, label: &str, target: &str, message: &str| {
        ManifestRow {
            created: now,
            kind,
            token,
            campaign: common.campaign.clone(),
            recipient: recipient.to_string(),
            label: label.to_string(),
            target: target.to_string(),
            expires: expires_at,
            message: message.to_string(),
        }
    };
    for (i, p) in people.iter().enumerate() {
        let message_id = format!("<{}@{host}>", uuid::Uuid::new_v4());
        let open = token::mint(TokenKind::Open, key, expires);
        let pixel_url = config.base_url.open_url(&open);
        rows.push(row(
            TokenKind::Open,
            open.clone(),
            &p.address,
            "",
            "",
            &message_id,
        ));
        // One token per distinct (target, label) of the message, shared by its parts.
        let minted: RefCell<HashMap<(String, String), String>> = RefCell::new(HashMap::new());
        let new_rows: RefCell<Vec<ManifestRow>> = RefCell::new(Vec::new());
        let (tracked, left_alone) = (Cell::new(0usize), Cell::new(0usize));
        let mint_click = |target: &str, label: &str| -> Result<String, rewrite::RewriteError> {
            if let Err(e) = pxtrack::nginx::check_target_fits(target, &config.nginx.instance) {
                return Err(rewrite::RewriteError::Html(format!("link {target:?}: {e}")));
            }
            tracked.set(tracked.get() + 1);
            Ok(minted
                .borrow_mut()
                .entry((target.to_string(), label.to_string()))
                .or_insert_with(|| {
                    let t = token::mint(TokenKind::Click, key, expires);
                    new_rows.borrow_mut().push(row(
                        TokenKind::Click,
                        t.clone(),
                        &p.address,
                        label,
                        target,
                        &message_id,
                    ));
                    config.base_url.click_url(&t)
                })
                .clone())
        };
        let mut rewrite_html = |html: &str| -> Result<String, rewrite::RewriteError> {
            let merged = merge_text(p, html, true)?;
            let (links, in_comments) = rewrite::find_links(&merged, &config.rewrite)?;
            let mut urls = Vec::with_capacity(links.len());
            for l in &links {
                if l.skipped.is_some() {
                    left_alone.set(left_alone.get() + 1);
                    urls.push(None);
                    continue;
                }
                urls.push(Some(mint_click(&l.target, &l.label)?));
            }
            // An Outlook VML button links where its HTML twin does: the same tracked URL.
            let by_target: HashMap<String, String> = links
                .iter()
                .zip(&urls)
                .filter_map(|(l, u)| u.as_ref().map(|u| (l.target.clone(), u.clone())))
                .collect();
            let (out, twins) = rewrite::rewrite(&merged, &urls, &by_target, &pixel_url, place)?;
            tracked.set(tracked.get() + twins);
            left_alone.set(left_alone.get() + in_comments.saturating_sub(twins));
            Ok(out)
        };
        let (output, subject, from) = if is_message {
            // Plain-text parts: merge fields, and with --text-links their URLs tracked too.
            let mut text = |t: &str| -> Result<String, rewrite::RewriteError> {
                let merged = merge_text(p, t, false)?;
                if !args.text_links {
                    return Ok(merged);
                }
                let links = rewrite::text_links(&merged, &config.rewrite);
                let mut urls = Vec::with_capacity(links.len());
                for l in &links {
                    if l.skipped.is_some() {
                        left_alone.set(left_alone.get() + 1);
                        urls.push(None);
                    } else {
                        urls.push(Some(mint_click(&l.target, "text link")?));
                    }
                }
                Ok(rewrite::rewrite_text(&merged, &links, &urls))
            };
            let mut subject = |t: &str| merge_text(p, t, false);
            let (out, summary) = rewrite::message::rewrite_message(
                &bytes,
                rewrite::message::Edits {
                    html: &mut rewrite_html,
                    text: Some(&mut text),
                    subject: Some(&mut subject),
                    to: &p.address,
                    message_id: &message_id,
                },
            )
            .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
            (out, summary.subject, summary.from)
        } else {
            let html =
                rewrite_html(&merged_for(p)?).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
            (html.into_bytes(), title_of(&template), String::new())
        };
        if output.len() > GMAIL_CLIP_BYTES && place == PixelPlace::Bottom && i == 0 {
            eprintln!(
                "pxtrack: warning: the rewritten message is {} KB; Gmail clips messages past \
                 102 KB and a pixel at the bottom of a clipped message is never loaded: use \
                 --pixel top (or both)",
                output.len() / 1024
            );
        }
        rows.extend(new_rows.into_inner());
        let (tracked, left_alone) = (tracked.get(), left_alone.get());
        messages.push(Message {
            person: i,
            file: file_name(i, &p.address, if is_message { "eml" } else { "html" }),
            message_id,
            output,
            subject,
            from,
            tracked,
            left_alone,
        });
    }

    // The rows first: a tracked URL must never be handed out before its token is in the manifest.
    manifest::append(&config.manifest, &rows)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for m in &messages {
        write_atomic(&args.out.join(&m.file), &m.output)?;
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        "recipient",
        "file",
        "message_id",
        "subject",
        "links_tracked",
        "links_left_alone",
    ])?;
    for m in &messages {
        csv.write_record([
            pxtrack::report::csv_safe(&people[m.person].address).into_owned(),
            m.file.clone(),
            m.message_id.clone(),
            pxtrack::report::csv_safe(&m.subject).into_owned(),
            m.tracked.to_string(),
            m.left_alone.to_string(),
        ])?;
    }
    let csv_bytes = csv.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    write_atomic(&args.out.join("messages.csv"), &csv_bytes)?;
    // The send snapshot: what went out, to whom, from which template, under which base URL.
    let template_sha256 = {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(&bytes);
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let template_name = template_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    pxtrack::sends::update(&config.sends, |rows| {
        rows.extend(messages.iter().map(|m| pxtrack::sends::Send {
            message_id: m.message_id.clone(),
            campaign: common.campaign.clone(),
            recipient: people[m.person].address.clone(),
            subject: m.subject.clone(),
            from: m.from.clone(),
            template: template_name.clone(),
            template_sha256: template_sha256.clone(),
            base_url: config.base_url.url.clone(),
            prepared_at: now,
            sent_at,
        }));
    })?;
    let tracked: usize = messages.iter().map(|m| m.tracked).sum();
    let alone: usize = messages.iter().map(|m| m.left_alone).sum();
    eprintln!(
        "pxtrack: wrote {} message(s) into {} ({} link(s) tracked, {} left alone; \
         messages.csv lists them). Run `pxtrack nginx` and reload nginx before sending, so that \
         nginx serves the new tokens.",
        messages.len(),
        terminal_safe(&args.out.display().to_string()),
        tracked,
        alone
    );
    Ok(())
}

/// The recipients with their merge fields, and the field names there are.
fn people(args: &RewriteArgs) -> Result<(Vec<Person>, Vec<String>)> {
    let common = &args.common;
    if let Some(r) = &common.recipient {
        validate_text("recipient", r, true).map_err(anyhow::Error::msg)?;
        let fields = HashMap::from([("recipient".to_string(), r.clone())]);
        return Ok((
            vec![Person {
                address: r.clone(),
                fields,
            }],
            vec!["recipient".into()],
        ));
    }
    let path = common
        .recipients
        .as_ref()
        .expect("clap requires --recipient or --recipients");
    let list = read_recipients(path)?;
    let mut columns: Vec<String> = vec!["recipient".into()];
    for c in &list.columns {
        if !columns.iter().any(|k| k == c) {
            columns.push(c.clone());
        }
    }
    let people = list
        .recipients
        .into_iter()
        .map(|r| {
            let mut fields: HashMap<String, String> = list
                .columns
                .iter()
                .map(|c| field_key(c))
                .zip(r.fields.iter().cloned())
                .collect();
            fields.insert("recipient".into(), r.address.clone());
            Person {
                address: r.address,
                fields,
            }
        })
        .collect::<Vec<_>>();
    if people.is_empty() {
        bail!("{}: no recipients in it", path.display());
    }
    Ok((people, columns))
}

/// How a column and a placeholder are matched: without case, and with spaces and hyphens as
/// underscores, so that a spreadsheet's "First Name" fills `{{first_name}}`.
fn field_key(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// `0001-ana-example.org.html`: the message's place and its recipient, in characters any file
/// system takes.
fn file_name(i: usize, address: &str, ext: &str) -> String {
    let slug: String = address
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    format!("{:04}-{}.{ext}", i + 1, slug.trim_matches(['-', '.']))
}

/// The template's `<title>`, entities decoded, as the message's subject.
fn title_of(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let Some(start) = lower.find("<title") else {
        return String::new();
    };
    let Some(open_end) = lower[start..].find('>').map(|i| start + i + 1) else {
        return String::new();
    };
    let Some(close) = lower[open_end..].find("</title").map(|i| open_end + i) else {
        return String::new();
    };
    rewrite::decode_entities(html[open_end..close].trim())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_plan(links: &[Link], in_comments: usize, recipients: usize) {
    let tracked: Vec<&Link> = links.iter().filter(|l| l.skipped.is_none()).collect();
    println!(
        "{} link(s) would be tracked, {} left alone, for each of {} recipient(s) (no token minted, \
         nothing written):",
        tracked.len(),
        links.len() - tracked.len() + in_comments,
        recipients
    );
    for l in &tracked {
        println!(
            "  track  {:<24} {}",
            terminal_safe(&l.label),
            terminal_safe(&l.target)
        );
    }
    for l in links.iter().filter(|l| l.skipped.is_some()) {
        println!(
            "  leave  {:<24} {} ({})",
            terminal_safe(&l.label),
            terminal_safe(&l.raw),
            l.skipped.unwrap_or_default()
        );
    }
    if in_comments > 0 {
        println!(
            "  twin   {in_comments} link(s) inside Outlook's conditional comments: given the tracked \
             URL of the link with the same target, else left alone"
        );
    }
}
