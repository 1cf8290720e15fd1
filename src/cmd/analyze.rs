//! `pxtrack analyze`: logs in, report site out.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use anyhow::{Result, bail};
use pxtrack::config::Config;
use pxtrack::enrich::GeoDb;
use pxtrack::manifest;
use pxtrack::report::{self, Report};
use pxtrack::rules::Rules;
use pxtrack::{analysis, logfiles, pipeline};

use super::{Outcome, demo, load_config, load_keys, terminal_safe};
use crate::cli::AnalyzeArgs;

pub fn run(config_flag: Option<&Path>, args: &AnalyzeArgs) -> Result<Outcome> {
    let demo = if args.demo {
        Some(demo::unpack()?)
    } else {
        None
    };
    let (config, inputs) = match &demo {
        Some(dir) => {
            let config = Config::load(&dir.path().join("pxtrack.toml"))?;
            let inputs = if args.paths.is_empty() {
                vec![dir.path().join("logs")]
            } else {
                args.paths.clone()
            };
            (config, inputs)
        }
        None => (load_config(config_flag)?, args.paths.clone()),
    };
    // Before any log is read: a report can only go where it may replace what is there.
    check_out(&args.out)?;
    let events_format = args.events.unwrap_or(config.analyze.events);
    let mut found = if inputs.is_empty() {
        let mut all = Vec::new();
        let mut problems = Vec::new();
        for log in &config.analyze.logs {
            if config.nginx.access_log == *log && config.nginx.log_deleted_by_debian_logrotate() {
                eprintln!(
                    "pxtrack: warning: {} is under {}, where Debian's /etc/logrotate.d/nginx \
                     deletes *.log files after 14 days: older hits are gone from it. Move the \
                     log (README, \"Logs are kept\")",
                    terminal_safe(&log.display().to_string()),
                    pxtrack::config::DEBIAN_NGINX_LOG_DIR
                );
            }
            match logfiles::with_rotations(log) {
                Ok(files) => all.extend(files),
                Err(e) => problems.push(e.to_string()),
            }
        }
        let mut found = logfiles::discover(&all);
        found.problems.splice(0..0, problems);
        found
    } else {
        logfiles::discover(&inputs)
    };
    logfiles::drop_copies(&mut found);
    if found.files.is_empty() {
        bail!(with_problems(
            format!("no log files found in {}", display_list(&inputs, &config)),
            &found.problems
        ));
    }
    let files = found.files;

    let mut timings = Timings::from_env();
    let keys = load_keys(&config, !args.demo)?;
    let (manifest, manifest_warnings) = manifest::load(&config.manifest)?;
    for w in &manifest_warnings {
        eprintln!("pxtrack: warning: {}", terminal_safe(w));
    }
    let file_names: Vec<String> = files
        .iter()
        .map(|p| {
            demo.as_ref()
                .and_then(|d| d.shown(p))
                .unwrap_or_else(|| p.display().to_string())
        })
        .collect();
    let rules = Rules::load_with_lists(
        config.classify.rules.as_deref(),
        config.classify.apple_relay_egress.as_deref(),
        &config.classify.lists,
    )?;
    let geo = GeoDb::discover(
        config.geoip.location.as_deref(),
        config.geoip.asn.as_deref(),
    )?;
    let geo_description = geo.as_ref().map(GeoDb::describe).map(|text| match &demo {
        Some(d) => text.replace(&d.path().display().to_string(), demo::SHOWN_AS),
        None => text,
    });
    let tera = report::templates(args.templates.as_deref())?;
    let staging = report::staging(&args.out)?;

    // When messages were sent, from the send snapshot (the earliest stamp per message).
    let mut send_times: std::collections::HashMap<(String, String), i64> =
        std::collections::HashMap::new();
    let sends = pxtrack::sends::read(&config.sends)?;
    for s in sends.iter().cloned() {
        if let Some(at) = s.sent_at {
            let ms = at.timestamp_millis();
            send_times
                .entry((s.campaign, s.recipient))
                .and_modify(|t| *t = (*t).min(ms))
                .or_insert(ms);
        }
    }

    // pipeline::run sets its length to the logs' total size.
    let bar = progress_bar(args.quiet);
    let progress: Arc<dyn pipeline::Progress> = Arc::new(Bar(bar.clone()));
    let (analysis, pages) = analysis::run_then(
        analysis::Inputs {
            files: &files,
            file_names: &file_names,
            manifest: &manifest,
            keys: &keys,
            rules: &rules,
            path_prefix: &config.base_url.path_prefix,
            settings: &config.analyze,
            privacy: config.privacy,
            geo,
            events: events_format,
            events_dir: staging.dir(),
            options: options_from_env(),
            send_times: &send_times,
        },
        &progress,
        |outcome: &pipeline::Outcome,
         stats: &pxtrack::aggregate::Stats|
         -> Result<(Vec<String>, pxtrack::ingest::FileTally)> {
            bar.finish_and_clear();
            timings.note(&format!(
                "waiting for parsed blocks: {:.3} s",
                outcome.wait_secs
            ));
            let mut problems = found.problems;
            for (name, tally) in file_names.iter().zip(&outcome.files) {
                if let Some(e) = &tally.error {
                    problems.push(format!("{name}: {e}"));
                } else if tally.lines > 0 && tally.pxtrack_format + tally.combined_format == 0 {
                    problems.push(format!(
                        "{name}: none of its {} line(s) is an nginx access-log line (pxtrack's format or \
                         `combined`); is it the right file?",
                        tally.lines
                    ));
                }
            }
            let totals = pxtrack::ingest::sum(&outcome.files);
            if totals.lines == 0 && !problems.is_empty() {
                // Nothing could be read: keep the previous report rather than replace it with an
                // empty one.
                bail!(with_problems(
                    "no log could be read; the previous report is left as it was".to_string(),
                    &problems
                ));
            }
            for p in &problems {
                eprintln!("pxtrack: warning: {}", terminal_safe(p));
            }
            if !args.quiet {
                for n in &found.notes {
                    eprintln!("pxtrack: note: {}", terminal_safe(n));
                }
            }
            if outcome.late > 0 && !args.quiet {
                eprintln!(
                    "pxtrack: note: {} request(s) were logged more than {} s out of time order and were \
                     classified where they appeared",
                    outcome.late,
                    pipeline::SLACK_MS / 1000
                );
            }
            timings.lap("read, parse, classify, aggregate");
            let mut notes = found.notes.clone();
            if stats.valid_not_served > 0 {
                notes.push(format!(
                    "{} hit(s) of minted tokens were answered 404 by nginx: its maps were older than \
                     those tokens. They are counted, but the reader saw no pixel or got no redirect; run \
                     `pxtrack nginx` and reload nginx after minting",
                    stats.valid_not_served
                ));
                if !args.quiet {
                    eprintln!("pxtrack: note: {}", notes.last().expect("just pushed"));
                }
            }
            let report = Report {
                manifest: &manifest,
                file_names: &file_names,
                files: &outcome.files,
                rejects: &outcome.rejects,
                stats,
                generated_at_ms: chrono::Utc::now().timestamp_millis(),
                privacy: config.privacy,
                geoip: geo_description,
                input_problems: &problems,
                input_notes: &notes,
                sends: &sends,
                zone: args.timezone.unwrap_or(config.report.timezone),
                events: events_format,
            };
            report::write_pages(&report, &tera, staging.dir())?;
            timings.lap("pages (the events file is finished meanwhile)");
            Ok((problems, totals))
        },
    )?;
    let (problems, totals) = pages?;
    timings.lap("finishing the events file");
    let (outcome, stats) = (&analysis.outcome, &analysis.stats);
    let (main_cpu, rows_cpu, disk_cpu) = (
        analysis.classify_cpu_secs,
        analysis.events_rows_cpu_secs,
        analysis.events_disk_cpu_secs,
    );
    let mut by_thread: Vec<String> = outcome
        .thread_cpu_secs
        .iter()
        .map(|(name, secs)| format!("{name} {secs:.2} s"))
        .collect();
    by_thread.extend([
        format!("classify and aggregate {main_cpu:.2} s"),
        format!("events rows {rows_cpu:.2} s"),
        format!("events encoding and disk {disk_cpu:.2} s"),
    ]);
    timings.note(&format!(
        "processor time by thread: {}",
        by_thread.join(", ")
    ));
    timings.note(&format!(
        "{} events, {} kept for the pages ({} bytes each)",
        stats.events,
        stats.samples.len(),
        std::mem::size_of::<pxtrack::aggregate::Sample>()
    ));

    staging.commit()?;
    timings.lap("swapping the report in (and deleting the previous one)");

    if !args.quiet {
        println!(
            "read {}, {}: {}, {}, {}",
            count(files.len() as u64, "file", "files"),
            count(totals.lines, "line", "lines"),
            count(totals.hits, "hit", "hits"),
            count(totals.other, "other request", "other requests"),
            count(totals.rejected, "rejected line", "rejected lines"),
        );
        for line in people_lines(stats) {
            println!("{}", terminal_safe(&line));
        }
        println!(
            "report: {}",
            terminal_safe(&args.out.join("index.html").display().to_string())
        );
    }
    if problems.is_empty() {
        Ok(Outcome::Done)
    } else {
        eprintln!(
            "pxtrack: the report is incomplete: {} input problem(s), listed above and at the top \
             of the report (exit status 1)",
            problems.len()
        );
        Ok(Outcome::Incomplete)
    }
}

/// Refuses an `--out` that replacing as a whole would be a disaster (`.`, `/`, the home
/// directory, a directory above this one) or that is not a previous report, an empty
/// directory or a new path. Nothing is created.
fn check_out(out: &Path) -> Result<()> {
    let refuse = |why: &str| -> Result<()> {
        bail!(
            "--out {}: {why}; pxtrack replaces --out as a whole, so give it a directory of its \
             own, such as --out report",
            terminal_safe(&out.display().to_string())
        )
    };
    if out.as_os_str().is_empty() {
        return refuse("is empty");
    }
    let here = std::env::current_dir().ok();
    let full = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    // The path as the file system knows it (a link above it resolved), where it exists.
    let real = std::fs::canonicalize(out).unwrap_or_else(|_| full.clone());
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .and_then(|h| std::fs::canonicalize(h).ok());
    if real.parent().is_none() || full.parent().is_none() {
        return refuse("is the root directory");
    }
    if home.as_deref() == Some(real.as_path()) {
        return refuse("is your home directory");
    }
    if let Some(here) = here.and_then(|h| std::fs::canonicalize(h).ok())
        && here.starts_with(&real)
    {
        return refuse("is the working directory or a directory above it");
    }
    report::check_replaceable(out)?;
    Ok(())
}

/// Phase timings on stderr when `PXTRACK_TIMINGS` is set: for benchmarks and profiling.
struct Timings {
    last: Option<std::time::Instant>,
}

impl Timings {
    fn from_env() -> Self {
        Timings {
            last: std::env::var_os("PXTRACK_TIMINGS").map(|_| std::time::Instant::now()),
        }
    }

    fn note(&self, text: &str) {
        if self.last.is_some() {
            eprintln!("pxtrack: {text}");
        }
    }

    fn lap(&mut self, phase: &str) {
        if let Some(last) = self.last {
            eprintln!(
                "pxtrack: {phase}: {:.3} s{}",
                last.elapsed().as_secs_f64(),
                peak_rss()
                    .map(|kb| format!(", peak RSS so far {} MiB", kb / 1024))
                    .unwrap_or_default()
            );
            self.last = Some(std::time::Instant::now());
        }
    }
}

/// The process's peak resident set so far, in KiB, where the system tells it (Linux's
/// `VmHWM`); for `PXTRACK_TIMINGS`, to see which phase sets the peak.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The terminal's summary of each campaign, in people: the busiest campaigns first, at most
/// [`SUMMARY_CAMPAIGNS`] of them, then how many more the report has.
fn people_lines(stats: &pxtrack::aggregate::Stats) -> Vec<String> {
    let plural = count;
    let mut campaigns: Vec<&pxtrack::aggregate::CampaignStats> = stats.campaigns.iter().collect();
    campaigns.sort_by_key(|c| std::cmp::Reverse(c.hit_count));
    let mut lines: Vec<String> = campaigns
        .iter()
        .take(SUMMARY_CAMPAIGNS)
        .map(|c| {
            let mut line = format!("{}: {} of {} opened", c.name, c.unique_opens, c.recipients);
            if c.opened_only_via_proxy > 0 {
                line.push_str(&format!(
                    " ({} only through mail proxies)",
                    c.opened_only_via_proxy
                ));
            }
            line.push_str(&format!(", {} clicked", c.unique_clicks));
            if c.machine_hits() > 0 {
                line.push_str(&format!(
                    "; {} not counted",
                    plural(c.machine_hits(), "machine hit", "machine hits")
                ));
            }
            line
        })
        .collect();
    if campaigns.len() > SUMMARY_CAMPAIGNS {
        lines.push(format!(
            "and {} in the report",
            plural(
                (campaigns.len() - SUMMARY_CAMPAIGNS) as u64,
                "more campaign",
                "more campaigns"
            )
        ));
    }
    lines
}

/// How many campaigns the terminal summary names.
const SUMMARY_CAMPAIGNS: usize = 5;

/// The pipeline's options, with the overrides the tests and benchmarks set:
/// `PXTRACK_BLOCK_BYTES` (bytes per block) and `PXTRACK_KNOWN_TARGETS=1` or `0` (resolve the
/// manifest's URLs up front, or not, whatever the logs' size).
fn options_from_env() -> pipeline::Options {
    let mut o = pipeline::Options::default();
    if let Some(n) = std::env::var("PXTRACK_BLOCK_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        o.block_bytes = n;
    }
    o.known_targets = match std::env::var("PXTRACK_KNOWN_TARGETS").as_deref() {
        Ok("1") => Some(true),
        Ok("0") => Some(false),
        _ => None,
    };
    o
}

/// The terminal's progress bar as the pipeline's [`pipeline::Progress`].
struct Bar(indicatif::ProgressBar);

impl pipeline::Progress for Bar {
    fn start(&self, total_bytes: u64) {
        self.0.set_length(total_bytes);
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

/// A byte-based progress bar on stderr, shown only when stderr is a terminal and not --quiet.
fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "reading logs {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} \
             eta {eta}",
        )
        .expect("the template is valid"),
    );
    bar
}

/// An error's text followed by the input problems behind it, one an indented line.
fn with_problems(mut text: String, problems: &[String]) -> String {
    for p in problems {
        text.push_str("\n  ");
        text.push_str(&terminal_safe(p));
    }
    text
}

/// The inputs named, or the config's logs when none was.
fn display_list(paths: &[PathBuf], config: &Config) -> String {
    let paths = if paths.is_empty() {
        &config.analyze.logs
    } else {
        paths
    };
    paths
        .iter()
        .map(|p| terminal_safe(&p.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 file`, `3 files`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
