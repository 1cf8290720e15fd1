//! Generates deterministic, realistic pixel-tracker logs for benchmarks, with tokens minted by
//! pxtrack itself so they verify: a config, a key, a manifest and one access log.
//!
//! ```text
//! cargo run --release --example genlogs -- OUT_DIR LINES [combined|pxtrack] [RECIPIENTS]
//! ```
//!
//! The traffic mix follows what the reference notes describe: Gmail, Yahoo and Apple proxy
//! opens, direct client opens, clicks, scanner bursts at delivery, bots, junk request lines,
//! forged tokens, IPv4 and IPv6, and user agents with escaped quotes. The same arguments always
//! give the same bytes.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use pxtrack::manifest::{self, ManifestRow};
use pxtrack::token::{KeyRing, SecretKey, TokenKind, mint_with_id};

/// A small deterministic generator (SplitMix64): reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const HUMAN_UAS: &[&str] = &[
    "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux i686; rv:17.0) Gecko/20130330 Thunderbird/17.0.5",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    // A user agent with quotes, which nginx logs as \x22.
    "Mozilla/5.0 (compatible; \\x22QuotedClient\\x22/1.0)",
];
const GMAIL: &str =
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
const YAHOO: &str = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html";
const SCANNER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/72.0.3626.109 Safari/537.36";
const BOTS: &[&str] = &[
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: genlogs OUT_DIR LINES [combined|pxtrack] [RECIPIENTS]");
        std::process::exit(2);
    }
    let out = PathBuf::from(&args[0]);
    let lines: u64 = args[1].parse()?;
    let combined = args.get(2).is_none_or(|f| f == "combined");
    let recipients: u64 = args.get(3).map_or(Ok(20_000), |r| r.parse())?;
    generate(&out, lines, combined, recipients)
}

/// Writes the config, key, manifest and `access.log` of `lines` lines into `out` (the browser
/// tests include this file to make their large report).
pub fn generate(
    out: &std::path::Path,
    lines: u64,
    combined: bool,
    recipients: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;

    let key = SecretKey::new(1, [7u8; 32]);
    let ring = KeyRing::single(key.clone());
    std::fs::write(
        out.join("pxtrack.key"),
        ring.to_text("# benchmark key: public, deterministic\n"),
    )?;
    std::fs::write(
        out.join("pxtrack.toml"),
        "base_url = \"https://t.example.com\"\n[analyze]\nlogs = [\"access.log\"]\n",
    )?;

    // Tokens: per recipient one open and three links, over 5 campaigns.
    let created = chrono::DateTime::from_timestamp(1_795_000_000, 0).expect("valid time");
    let mut ids = Rng(7);
    let mut rows = Vec::with_capacity(recipients as usize * 4);
    for r in 0..recipients {
        let campaign = format!("campaign-{}", r % 5);
        let recipient = format!("user{r}@example.com");
        for (k, kind) in [
            TokenKind::Open,
            TokenKind::Click,
            TokenKind::Click,
            TokenKind::Click,
        ]
        .into_iter()
        .enumerate()
        {
            let _ = k;
            let id = uuid::Uuid::from_u128((u128::from(ids.next()) << 64) | u128::from(ids.next()));
            rows.push(ManifestRow {
                created,
                kind,
                token: mint_with_id(kind, &key, id, None),
                campaign: campaign.clone(),
                recipient: recipient.clone(),
                label: if k == 0 {
                    String::new()
                } else {
                    format!("link-{k}")
                },
                target: if k == 0 {
                    String::new()
                } else {
                    format!("https://example.com/page/{k}?utm_source=mail")
                },
                expires: None,
                message: String::new(),
            });
        }
    }
    let manifest_path = out.join("manifest.csv");
    let _ = std::fs::remove_file(&manifest_path);
    manifest::append(&manifest_path, &rows)?;

    let mut rng = Rng(42);
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out.join("access.log"))?);
    let mut line = String::with_capacity(512);
    let start = 1_795_100_000i64;
    for n in 0..lines {
        line.clear();
        // Time advances about 0.2 s a line: 10 million lines cover about three weeks.
        let t_ms = start * 1000 + (n as i64) * 200 + rng.below(200) as i64;
        let r = rng.below(recipients) as usize;
        let roll = rng.below(1000);
        let (path, ua, ip, method, status): (String, &str, String, &str, u16) = match roll {
            0..=299 => {
                let ua = HUMAN_UAS[rng.below(HUMAN_UAS.len() as u64) as usize];
                let ip = if rng.below(4) == 0 {
                    format!("2001:db8:{:x}::{:x}", rng.below(65536), rng.below(65536))
                } else {
                    format!("203.0.{}.{}", rng.below(256), rng.below(256))
                };
                (format!("/o/{}.png", rows[r * 4].token), ua, ip, "GET", 200)
            }
            300..=499 => (
                format!("/o/{}.png", rows[r * 4].token),
                GMAIL,
                format!("66.249.93.{}", rng.below(256)),
                "GET",
                200,
            ),
            500..=559 => (
                format!("/o/{}.png", rows[r * 4].token),
                YAHOO,
                "98.136.0.21".into(),
                "GET",
                200,
            ),
            560..=699 => (
                format!("/o/{}.png", rows[r * 4].token),
                "Mozilla/5.0",
                format!("172.224.226.{}", rng.below(32)),
                "GET",
                200,
            ),
            700..=849 => {
                let k = 1 + rng.below(3) as usize;
                let ua = HUMAN_UAS[rng.below(HUMAN_UAS.len() as u64) as usize];
                (
                    format!("/c/{}", rows[r * 4 + k].token),
                    ua,
                    format!("198.18.{}.{}", rng.below(256), rng.below(256)),
                    "GET",
                    302,
                )
            }
            850..=919 => {
                let k = 1 + rng.below(3) as usize;
                (
                    format!("/c/{}", rows[r * 4 + k].token),
                    SCANNER,
                    format!("40.107.{}.{}", rng.below(256), rng.below(256)),
                    if rng.below(3) == 0 { "HEAD" } else { "GET" },
                    302,
                )
            }
            920..=969 => {
                let bot = BOTS[rng.below(BOTS.len() as u64) as usize];
                (
                    format!("/o/{}.png", rows[r * 4].token),
                    bot,
                    format!("192.0.2.{}", rng.below(256)),
                    "GET",
                    200,
                )
            }
            970..=984 => {
                // A forged token: one character changed.
                let mut t = rows[r * 4 + 1].token.clone().into_bytes();
                t[10] = if t[10] == b'A' { b'B' } else { b'A' };
                (
                    format!("/c/{}", String::from_utf8(t)?),
                    HUMAN_UAS[0],
                    "192.0.2.99".into(),
                    "GET",
                    404,
                )
            }
            985..=994 => (
                "/favicon.ico".into(),
                HUMAN_UAS[4],
                "203.0.113.5".into(),
                "GET",
                404,
            ),
            _ => ("-".into(), "-", "192.0.2.200".into(), "-", 400),
        };
        if combined {
            let t = chrono::DateTime::from_timestamp_millis(t_ms).expect("valid time");
            let request = if method == "-" {
                "\\x16\\x03\\x01\\x02\\x00\\x01\\x00".to_string()
            } else {
                format!("{method} {path} HTTP/1.1")
            };
            let bytes = if status == 200 && method == "GET" {
                67
            } else {
                153
            };
            let _ = write!(
                line,
                "{ip} - - [{}] \"{request}\" {status} {bytes} \"-\" \"{ua}\"",
                t.format("%d/%b/%Y:%H:%M:%S +0000")
            );
        } else {
            let _ = write!(
                line,
                "pxt1\t{}.{:03}\t{ip}\t-\t{method}\t{path}\t{}\t{status}\t67\t0.000\t-\t{ua}\t-\t-\t-\ten-US,en;q=0.9",
                t_ms / 1000,
                t_ms % 1000,
                if method == "-" { "-" } else { "HTTP/1.1" },
            );
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    w.flush()?;
    eprintln!(
        "wrote {} lines and {} tokens to {}",
        lines,
        rows.len(),
        out.display()
    );
    Ok(())
}
