//! `pxtrack analyze`: logs in, report site out.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use pxtrack::aggregate::{self, Classified};
use pxtrack::classify::Classifier;
use pxtrack::config::Config;
use pxtrack::enrich::{ClientDetector, GeoDb};
use pxtrack::hit::Resolver;
use pxtrack::ingest::Ingest;
use pxtrack::logfiles;
use pxtrack::manifest::{self, Manifest};
use pxtrack::report::{self, Report};
use pxtrack::rules::Rules;

use super::{load_config, load_keys, terminal_safe};
use crate::cli::AnalyzeArgs;

/// Where the bundled sample lives: `./sample-logs`, else the source tree this binary was built
/// from (so `cargo run -- analyze --demo` works from any directory of a checkout).
fn demo_dir() -> Result<PathBuf> {
    let here = PathBuf::from("sample-logs");
    if here.join("pxtrack.toml").is_file() {
        return Ok(here);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    if built.join("pxtrack.toml").is_file() {
        return Ok(built);
    }
    bail!("--demo needs the sample-logs/ directory of a pxtrack source checkout; none was found")
}

pub fn run(config_flag: Option<&Path>, args: &AnalyzeArgs) -> Result<()> {
    let (config, inputs) = if args.demo {
        let dir = demo_dir()?;
        let config = Config::load(&dir.join("pxtrack.toml"))?;
        let inputs = if args.paths.is_empty() {
            vec![dir.join("logs")]
        } else {
            args.paths.clone()
        };
        (config, inputs)
    } else {
        let config = load_config(config_flag)?;
        let inputs = args.paths.clone();
        (config, inputs)
    };
    let files = if inputs.is_empty() {
        let mut all = Vec::new();
        for log in &config.analyze.logs {
            all.extend(logfiles::with_rotations(log)?);
        }
        all
    } else {
        logfiles::discover(&inputs)?
    };
    if files.is_empty() {
        bail!("no log files found in {}", display_list(&inputs));
    }

    let mut timings = Timings::from_env();
    let keys = load_keys(&config, !args.demo)?;
    let manifest = Manifest::new(manifest::read(&config.manifest)?);
    let resolver = Resolver::new(&manifest, &keys, &config.base_url.path_prefix);
    let mut ingest = Ingest::new(resolver);
    let file_names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();

    let total_bytes: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let progress = progress_bar(total_bytes, args.quiet);
    for path in &files {
        let file = ingest.start_file();
        let raw =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let reader = logfiles::from_reader(progress.wrap_read(raw))
            .with_context(|| format!("cannot read {}", path.display()))?;
        let result = logfiles::for_each_line(reader, |n, line| ingest.line(file, n, line));
        if let Err((n, e)) = result {
            let msg = format!("reading stopped after line {n}: {e}");
            eprintln!(
                "pxtrack: warning: {}: {}",
                terminal_safe(&path.display().to_string()),
                msg
            );
            ingest.file_error(file, msg);
        }
    }

    progress.finish_and_clear();
    timings.lap("read, parse and resolve");
    let totals = ingest.totals();
    let mut events = std::mem::take(&mut ingest.events);
    events.sort_by_key(|e| (e.time_ms, e.source));
    let rules = Rules::load(
        config.classify.rules.as_deref(),
        config.classify.apple_relay_egress.as_deref(),
    )?;
    let mut classifier = Classifier::new(
        &rules,
        &manifest,
        config.analyze.internal_networks.clone(),
        config.analyze.duplicate_window_secs,
    );
    let mut geo = GeoDb::discover(
        config.geoip.location.as_deref(),
        config.geoip.asn.as_deref(),
    )?;
    if let Some(g) = geo.as_mut() {
        for ev in &mut events {
            let info = g.lookup(ev.client);
            ev.asn = info.asn;
            ev.geo = Some(info);
        }
    }
    timings.lap("sort and geo");
    let verdicts = classifier.classify_all(&events);
    timings.lap("classify");
    let mut clients = ClientDetector::new();
    let classified: Vec<Classified> = events
        .into_iter()
        .zip(verdicts)
        .map(|(event, verdict)| Classified {
            client: clients.detect(&event.user_agent, &event.requested_with),
            event,
            verdict,
        })
        .collect();
    let stats = aggregate::aggregate(&manifest, &classified);
    timings.lap("aggregate");

    let report = Report {
        manifest: &manifest,
        file_names: &file_names,
        files: &ingest.files,
        rejects: &ingest.rejects,
        events: &classified,
        stats: &stats,
        generated_at_ms: chrono::Utc::now().timestamp_millis(),
        privacy: config.privacy,
        geoip: geo.as_ref().map(GeoDb::describe),
    };
    let tera = report::templates(args.templates.as_deref())?;
    report::write_site(&report, &tera, &args.out)?;
    timings.lap("report");

    if !args.quiet {
        let opens: u64 = stats.campaigns.iter().map(|c| c.total_opens()).sum();
        let clicks: u64 = stats.campaigns.iter().map(|c| c.total_clicks()).sum();
        println!(
            "read {} file(s), {} lines: {} hits, {} other requests, {} rejected lines",
            files.len(),
            totals.lines,
            totals.hits,
            totals.other,
            totals.rejected
        );
        println!(
            "{} campaign(s): {} counted opens, {} counted clicks (of which proxy and human-looking; \
             machine traffic is labelled in the report)",
            stats.campaigns.len(),
            opens,
            clicks
        );
        println!(
            "report: {}",
            terminal_safe(&args.out.join("index.html").display().to_string())
        );
    }
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

    fn lap(&mut self, phase: &str) {
        if let Some(last) = self.last {
            eprintln!("pxtrack: {phase}: {:.3} s", last.elapsed().as_secs_f64());
            self.last = Some(std::time::Instant::now());
        }
    }
}

/// A byte-based progress bar on stderr, shown only when stderr is a terminal and not --quiet.
fn progress_bar(total_bytes: u64, quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total_bytes);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "reading logs {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} \
             eta {eta}",
        )
        .expect("the template is valid"),
    );
    bar
}

fn display_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| terminal_safe(&p.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}
