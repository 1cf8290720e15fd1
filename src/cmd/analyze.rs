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
    let split_bytes = std::env::var("PXTRACK_SPLIT_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SPLIT_BYTES);
    for path in &files {
        let file = ingest.start_file();
        let second_half = match split_point(path, split_bytes) {
            Ok(Some(mid)) => Some(mid),
            Ok(None) => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let (first_len, errors) = match second_half {
            None => (
                None,
                vec![read_range(&mut ingest, file, path, 0, None, &progress)],
            ),
            Some(mid) => {
                // Two halves, one per core, each with its own token and string caches; the second
                // is renumbered after the first when they are merged.
                let mut second = Ingest::new(Resolver::new(
                    &manifest,
                    &keys,
                    &config.base_url.path_prefix,
                ));
                let second_file = second.start_file();
                let (a, b) = std::thread::scope(|scope| {
                    let handle = scope
                        .spawn(|| read_range(&mut second, second_file, path, mid, None, &progress));
                    let a = read_range(&mut ingest, file, path, 0, Some(mid), &progress);
                    let b = handle
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p));
                    (a, b)
                });
                let offset = ingest.lines_in(file);
                ingest.absorb(file, second, offset);
                (Some(offset), vec![a, b])
            }
        };
        for (half, result) in errors.into_iter().enumerate() {
            if let Err((n, e)) = result {
                let after = if half == 1 {
                    n + first_len.unwrap_or(0)
                } else {
                    n
                };
                let msg = format!("reading stopped after line {after}: {e}");
                eprintln!(
                    "pxtrack: warning: {}: {}",
                    terminal_safe(&path.display().to_string()),
                    msg
                );
                ingest.file_error(file, msg);
            }
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
    // Move events into their classified form a sixteenth at a time, giving the old vector's
    // memory back as it empties: holding both in full was the run's peak.
    let mut classified: Vec<Classified> = Vec::with_capacity(events.len());
    let mut verdicts = verdicts.into_iter();
    let step = (events.len() / 16).max(1 << 14);
    while !events.is_empty() {
        let k = step.min(events.len());
        for event in events.drain(..k) {
            let verdict = verdicts.next().expect("one verdict per event");
            classified.push(Classified {
                client: clients.detect(&event.user_agent, &event.requested_with),
                event,
                verdict,
            });
        }
        events.shrink_to_fit();
    }
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

/// Plain files at least this large are read as two halves on two cores.
const SPLIT_BYTES: u64 = 64 << 20;

/// Where to cut a plain (not gzipped) file of at least `min_bytes` in two: just after the first
/// line end past its middle. `None` for small or compressed files, or a middle with no line end.
fn split_point(path: &Path, min_bytes: u64) -> std::io::Result<Option<u64>> {
    use std::io::{BufRead as _, Read as _, Seek as _};
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    if size < min_bytes.max(2) {
        return Ok(None);
    }
    let mut magic = [0u8; 2];
    f.read_exact(&mut magic)?;
    if magic == [0x1f, 0x8b] {
        return Ok(None);
    }
    f.seek(std::io::SeekFrom::Start(size / 2))?;
    let mut rest = Vec::new();
    let n = std::io::BufReader::new(f).read_until(b'\n', &mut rest)?;
    let mid = size / 2 + n as u64;
    Ok((rest.ends_with(b"\n") && mid < size).then_some(mid))
}

/// Reads lines `start..end` (bytes) of `path` into `ingest` as file `file`, numbering from 1.
fn read_range(
    ingest: &mut Ingest<'_>,
    file: u32,
    path: &Path,
    start: u64,
    end: Option<u64>,
    progress: &indicatif::ProgressBar,
) -> Result<u64, (u64, std::io::Error)> {
    use std::io::{Read as _, Seek as _};
    let open = || -> std::io::Result<Box<dyn std::io::BufRead + Send>> {
        let mut raw = std::fs::File::open(path)?;
        raw.seek(std::io::SeekFrom::Start(start))?;
        let raw: Box<dyn std::io::Read + Send> = match end {
            Some(e) => Box::new(raw.take(e - start)),
            None => Box::new(raw),
        };
        logfiles::from_reader(progress.wrap_read(raw))
    };
    let reader = open().map_err(|e| (0, e))?;
    logfiles::for_each_line(reader, |n, line| ingest.line(file, n, line))
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
