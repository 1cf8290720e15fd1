//! One analysis, wired end to end: log files in; the figures, the samples the pages show and
//! the per-event export (`events.csv`, `events.parquet` or none) out. The library can run an
//! analysis by itself with [`run`]; the command layer finds the inputs, draws the progress bar,
//! writes the pages through [`run_then`] while the export is finished, and prints.
//!
//! ```text
//! pipeline::run (read, parse, resolve on every core; merged in time order)
//!   -> GeoIP -> classify::Stream -> client detection -> batches of BATCH events
//!        -> aggregate::Aggregator                        (this thread) -> then(figures)
//!        -> report::EventsOut                             (a thread of its own)
//! ```
//!
//! Key types: [`Inputs`], [`Analysis`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::aggregate::{Aggregator, Classified, Stats};
use crate::classify::{Classifier, Stream};
use crate::config::{AnalyzeSettings, Privacy};
use crate::enrich::{ClientDetector, GeoDb};
use crate::error::Result;
use crate::fast::thread_cpu_secs;
use crate::hit::{Event, Resolver};
use crate::manifest::Manifest;
use crate::pipeline::{self, Progress};
use crate::report::EventsOut;
use crate::rules::Rules;
use crate::token::KeyRing;

/// Events handed to the aggregator and the `events.csv` writer at a time.
const BATCH: usize = 1024;

/// What one analysis reads.
pub struct Inputs<'a> {
    /// The log files, oldest first within each family.
    pub files: &'a [PathBuf],
    /// Their names as the report and `events.csv` show them.
    pub file_names: &'a [String],
    /// The manifest.
    pub manifest: &'a Manifest,
    /// The keys that verify tokens.
    pub keys: &'a KeyRing,
    /// The classification rules.
    pub rules: &'a Rules,
    /// The base URL's path prefix (`""` or `/prefix`).
    pub path_prefix: &'a str,
    /// The config's `[analyze]` settings.
    pub settings: &'a AnalyzeSettings,
    /// What `events.csv` may show.
    pub privacy: Privacy,
    /// GeoIP, when databases were found.
    pub geo: Option<GeoDb>,
    /// The per-event export's format.
    pub events: crate::report::EventsFormat,
    /// The directory the per-event export is written into (as `events.csv` or
    /// `events.parquet`).
    pub events_dir: &'a Path,
    /// How the pipeline runs.
    pub options: pipeline::Options,
    /// When messages were sent (from `sends.csv`), by (campaign, recipient), epoch ms.
    pub send_times: &'a std::collections::HashMap<(String, String), i64>,
}

/// What one analysis found.
pub struct Analysis {
    /// Per-file tallies, rejected lines, lateness and the reading threads' processor time.
    pub outcome: pipeline::Outcome,
    /// The figures and the samples the pages show.
    pub stats: Stats,
    /// Processor time of the thread that classified and aggregated, in seconds.
    pub classify_cpu_secs: f64,
    /// Processor time of the thread that made `events.csv`'s rows, in seconds.
    pub events_rows_cpu_secs: f64,
    /// Processor time of `events.csv`'s disk thread, in seconds.
    pub events_disk_cpu_secs: f64,
}

/// Runs one analysis. Events stream through: read and parsed on every core, then classified,
/// aggregated and sampled on this thread while another writes `events.csv`; nothing holds the
/// whole log. `progress` hears how many bytes were read.
pub fn run(inputs: Inputs<'_>, progress: &Arc<dyn Progress>) -> Result<Analysis> {
    run_then(inputs, progress, |_, _| ()).map(|(analysis, ())| analysis)
}

/// [`run`], and `then` with the figures as soon as the last event is classified, while the
/// per-event export is still being finished on its thread (the report's pages need only the
/// figures, so they are written meanwhile). With no export to wait for, `then` runs after the
/// analysis has let go of its tables (the known targets, the client cache), which keeps the
/// report job's peak memory down. An error of the export is returned even when `then`
/// succeeded; `then`'s own outcome is its result.
pub fn run_then<T>(
    inputs: Inputs<'_>,
    progress: &Arc<dyn Progress>,
    then: impl FnOnce(&pipeline::Outcome, &Stats) -> T,
) -> Result<(Analysis, T)> {
    let Inputs {
        files,
        file_names,
        manifest,
        keys,
        rules,
        path_prefix,
        settings,
        privacy,
        mut geo,
        events,
        events_dir,
        options,
        send_times,
    } = inputs;
    // The manifest's own URLs are verified (an HMAC each) on a thread of their own while the
    // classifier and the aggregator index the manifest: both are the setup before the first
    // line is read, on one core until the pipeline starts.
    let (known, classifier, mut aggregator) = std::thread::scope(|scope| {
        let known =
            scope.spawn(|| pipeline::known_targets(files, manifest, keys, path_prefix, &options));
        let classifier = Classifier::new(
            rules,
            manifest,
            settings.internal_networks.clone(),
            settings.duplicate_window_secs,
        )
        .with_send_times(
            manifest,
            |campaign, recipient| {
                send_times
                    .get(&(campaign.to_string(), recipient.to_string()))
                    .copied()
            },
            settings.send_window_secs,
        );
        let aggregator = Aggregator::new(manifest);
        let known = known
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (known, classifier, aggregator)
    });
    let mut clients = ClientDetector::new();
    let mut csv = EventsOut::create(events, events_dir, manifest, &known, privacy, file_names)?;
    let overlap = !matches!(csv, EventsOut::None);
    let mut then = Some(then);
    let done = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Classified>>(4);
        // Written batches go back to be emptied and filled again where they were made: the
        // events end on the thread that made their verdicts (dropped on another, every shared
        // reason's and headers' count would move between the cores with each event).
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<Classified>>(8);
        let writer = std::thread::Builder::new()
            .name("pxtrack-csv".into())
            .spawn_scoped(scope, move || -> Result<[f64; 2]> {
                for batch in rx {
                    csv.write_batch(&batch)?;
                    // Full (the other side is done): dropped here then.
                    let _ = back_tx.try_send(batch);
                }
                let disk = csv.finish()?.cpu_secs;
                Ok([thread_cpu_secs(), disk])
            })
            .expect("a thread can be started");
        let mut batch: Vec<Classified> = Vec::with_capacity(BATCH);
        let mut emit = |event: Event, verdict| {
            let c = Classified {
                client: clients.detect(&event.headers),
                event,
                verdict,
            };
            batch.push(c);
            if batch.len() == BATCH {
                aggregator.add_batch(&batch);
                if overlap {
                    let next = match back_rx.try_recv() {
                        Ok(mut written) => {
                            written.clear();
                            written
                        }
                        Err(_) => Vec::with_capacity(BATCH),
                    };
                    // A closed channel means the writer failed; its error is reported below.
                    let _ = tx.send(std::mem::replace(&mut batch, next));
                } else {
                    // No export: the events end here.
                    batch.clear();
                }
            }
        };
        let mut stream = Stream::new(classifier);
        let outcome = pipeline::run(
            files,
            &Resolver::new(manifest, keys, path_prefix).with_known(&known),
            &options,
            progress,
            |mut ev| {
                if let Some(g) = geo.as_mut() {
                    let info = g.lookup(ev.client);
                    ev.asn = info.asn;
                    ev.geo = Some(info);
                }
                stream.push(ev, &mut emit);
            },
        );
        stream.finish(&mut emit);
        if !batch.is_empty() {
            aggregator.add_batch(&batch);
            let _ = tx.send(batch);
        }
        drop(tx);
        let main_cpu = thread_cpu_secs();
        let stats = aggregator.finish();
        let after = if overlap {
            then.take().map(|f| f(&outcome, &stats))
        } else {
            None
        };
        let written = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (
            outcome,
            stats,
            after,
            written.map(|[rows, disk]| [main_cpu, rows, disk]),
        )
    });
    let (outcome, stats, after, written) = done;
    let after = match (after, then) {
        (Some(after), _) => after,
        (None, Some(then)) => {
            drop((known, clients, geo));
            then(&outcome, &stats)
        }
        (None, None) => unreachable!("then runs once"),
    };
    let [
        classify_cpu_secs,
        events_rows_cpu_secs,
        events_disk_cpu_secs,
    ] = written?;
    Ok((
        Analysis {
            outcome,
            stats,
            classify_cpu_secs,
            events_rows_cpu_secs,
            events_disk_cpu_secs,
        },
        after,
    ))
}
