//! The streaming engine of `analyze`: log files in, resolved events out in time order, with every
//! core busy and memory bounded by a few blocks, whatever the size of the logs.
//!
//! ```text
//!  source thread per log family      worker threads (one per core)       the calling thread
//!  read + gunzip, cut into blocks -> parse, verify, resolve a block  ->  blocks back in order,
//!  of whole lines (permits bound     (own token and string caches)       line numbers, tallies,
//!  the blocks in flight)                                                  time order -> sink
//! ```
//!
//! A *family* is one log and its rotations (`access.log.2.gz`, `access.log.1`, `access.log`),
//! read oldest first as one stream. Several families (logs of several servers, say) are merged by
//! time: the next block is always taken from the family that is furthest behind. Within the
//! merged stream, events wait in a short reorder buffer ([`SLACK_MS`] of log time) so that the
//! small disorder of a real log (nginx logs a request when it ends; workers share the file) still
//! comes out sorted by (time, file, line). An event older than what has already gone out is passed
//! on at once and counted as late.
//!
//! Key items: [`run`], [`Outcome`].

use crate::fast::thread_cpu_secs;
use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use crate::hit::{Event, KnownTargets, Resolver, Source};
use crate::ingest::{FileTally, Ingest, Rejects};
use crate::logfiles;
use crate::manifest::Manifest;
use crate::token::KeyRing;

/// How far back in log time an event may arrive and still be put in its place.
pub const SLACK_MS: i64 = 60_000;

/// Bytes of log text per block (override with `PXTRACK_BLOCK_BYTES`, for tests).
pub const BLOCK_BYTES: usize = 1 << 20;

/// The longest line kept whole; the rest of a longer one is dropped (it is rejected anyway).
const MAX_LINE_BYTES: usize = 16 << 20;

/// Blocks of one family in flight at once: read, queued, parsed or waiting to be merged. With 4,
/// the parsing workers ran out of permits while the merging thread classified, and a core sat
/// idle: the run kept 1.70 of 2 cores busy; with 8, 1.81 (10M lines, 5 + 5 runs), for about
/// 8 MiB more in flight. More did not help (12, 16 and 32: the same share of the cores).
const PERMITS_PER_FAMILY: usize = 8;

/// Nice levels the parsing workers run below the thread that merges and classifies (see
/// [`crate::fast::lower_thread_priority`]).
const WORKER_NICE: i32 = 5;

/// A typical access-log line's length, to guess a log's lines from its size.
const LINE_BYTES_ESTIMATE: u64 = 256;

/// What reading all the logs gave, besides the events.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Per file, in the order of the file list.
    pub files: Vec<FileTally>,
    /// Rejected lines by reason, with examples.
    pub rejects: Rejects,
    /// Events that arrived more than [`SLACK_MS`] behind events already passed on.
    pub late: u64,
    /// Processor time of each reading and parsing thread, in seconds, for `PXTRACK_TIMINGS`.
    pub thread_cpu_secs: Vec<(&'static str, f64)>,
    /// Wall time the merging thread spent waiting for parsed blocks, in seconds.
    pub wait_secs: f64,
}

/// Where a run says how far it has read: the command layer draws a progress bar from it.
pub trait Progress: Send + Sync {
    /// The bytes the run will read (the files' sizes), before it starts.
    fn start(&self, total_bytes: u64);
    /// `bytes` more were read.
    fn advance(&self, bytes: u64);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// A reader that tells a [`Progress`] how many bytes went through it.
struct Counted<R> {
    inner: R,
    progress: Arc<dyn Progress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes per block.
    pub block_bytes: usize,
    /// Parsing threads.
    pub workers: usize,
    /// Whether to resolve the manifest's URLs before reading ([`KnownTargets`]): `None` decides
    /// by the logs' size; tests force either way.
    pub known_targets: Option<bool>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_bytes: BLOCK_BYTES,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8)),
            known_targets: None,
        }
    }
}

/// A piece of one file: whole lines, or the end of the file (with the error that ended it).
struct Block {
    family: usize,
    seq: u64,
    file: u32,
    data: Vec<u8>,
    /// Set on the family's last block, after its last file.
    end: bool,
    /// A read error that ended this file early (the block then has no data).
    error: Option<String>,
}

/// A parsed block: events numbered from line 1 of the block.
struct Parsed {
    family: usize,
    seq: u64,
    file: u32,
    end: bool,
    error: Option<String>,
    events: Vec<Event>,
    tally: FileTally,
    rejects: Rejects,
}

/// Groups file indices into families: same directory and same name once rotation suffixes are
/// taken off, in order of first appearance; each family keeps the order of the file list.
fn families(files: &[PathBuf]) -> Vec<Vec<u32>> {
    let mut keys: Vec<(Option<PathBuf>, String)> = Vec::new();
    let mut out: Vec<Vec<u32>> = Vec::new();
    for (i, p) in files.iter().enumerate() {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = (
            p.parent().map(Path::to_path_buf),
            logfiles::rotation_base(&name),
        );
        match keys.iter().position(|k| *k == key) {
            Some(f) => out[f].push(i as u32),
            None => {
                keys.push(key);
                out.push(vec![i as u32]);
            }
        }
    }
    out
}

/// Reads one family's files into blocks of whole lines.
fn read_family(
    family: usize,
    members: &[u32],
    files: &[PathBuf],
    opts: &Options,
    progress: &Arc<dyn Progress>,
    work: &SyncSender<Block>,
    permits: &Receiver<()>,
) {
    let mut seq = 0u64;
    let mut send = |file: u32, data: Vec<u8>, end: bool, error: Option<String>| -> bool {
        // A closed channel means the run is over (an error elsewhere): stop reading.
        if permits.recv().is_err() {
            return false;
        }
        let block = Block {
            family,
            seq,
            file,
            data,
            end,
            error,
        };
        seq += 1;
        work.send(block).is_ok()
    };
    for (k, &file) in members.iter().enumerate() {
        let last_file = k + 1 == members.len();
        let path = &files[file as usize];
        let opened = logfiles::open(path).and_then(|f| {
            logfiles::from_reader(Counted {
                inner: f,
                progress: Arc::clone(progress),
            })
        });
        let mut reader = match opened {
            Ok(r) => r,
            Err(e) => {
                if !send(
                    file,
                    Vec::new(),
                    last_file,
                    Some(logfiles::describe_io_error(&e)),
                ) {
                    return;
                }
                continue;
            }
        };
        let mut carry: Vec<u8> = Vec::new();
        // Bytes to gather before cutting: a block, or more while one line is longer than that.
        let mut want = opts.block_bytes;
        // Set after a line longer than MAX_LINE_BYTES was cut: its rest is dropped.
        let mut skipping = false;
        // How much of the carried bytes is known to hold no line end.
        let mut scanned = 0;
        loop {
            let mut buf = std::mem::take(&mut carry);
            let mut error = None;
            let mut eof = false;
            while buf.len() < want {
                let start = buf.len();
                buf.resize(want, 0);
                match reader.read(&mut buf[start..]) {
                    Ok(0) => {
                        buf.truncate(start);
                        eof = true;
                        break;
                    }
                    Ok(n) => buf.truncate(start + n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(start),
                    Err(e) => {
                        buf.truncate(start);
                        error = Some(logfiles::describe_io_error(&e));
                        break;
                    }
                }
            }
            if skipping {
                match buf.iter().position(|&b| b == b'\n') {
                    Some(nl) => {
                        buf.drain(..=nl);
                        skipping = false;
                    }
                    None => buf.clear(),
                }
            }
            if error.is_none() && !eof && !skipping {
                // Cut after the last line end; the rest starts the next block.
                match buf[scanned..].iter().rposition(|&b| b == b'\n') {
                    Some(nl) => {
                        carry = buf.split_off(scanned + nl + 1);
                        want = opts.block_bytes;
                        scanned = 0;
                    }
                    None if buf.len() >= MAX_LINE_BYTES => {
                        // No access-log line is this long: keep its start as the line (it
                        // will be rejected) and drop the rest up to the next line end.
                        skipping = true;
                        want = opts.block_bytes;
                        scanned = 0;
                    }
                    None => {
                        // One line longer than a block: read on until it ends.
                        scanned = buf.len();
                        want = (buf.len() * 2).max(buf.len() + opts.block_bytes);
                        carry = buf;
                        continue;
                    }
                }
            }
            let finished = eof || error.is_some();
            if !buf.is_empty() && !send(file, buf, false, None) {
                return;
            }
            if finished {
                if (error.is_some() || last_file) && !send(file, Vec::new(), last_file, error) {
                    return;
                }
                break;
            }
        }
    }
    if members.is_empty() {
        send(0, Vec::new(), true, None);
    }
}

/// Parses blocks until the work queue closes.
fn parse_blocks(resolver: Resolver<'_>, work: &Mutex<Receiver<Block>>, done: &SyncSender<Parsed>) {
    let mut ingest = Ingest::new(resolver);
    loop {
        let block = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(block) = block else { return };
        ingest.lines(logfiles::lines(&block.data));
        let (events, tally, rejects) = ingest.take();
        let parsed = Parsed {
            family: block.family,
            seq: block.seq,
            file: block.file,
            end: block.end,
            error: block.error,
            events,
            tally,
            rejects,
        };
        if done.send(parsed).is_err() {
            return;
        }
    }
}

/// Per-family merge state.
struct FamilyState {
    next_seq: u64,
    waiting: BTreeMap<u64, Parsed>,
    finished: bool,
    /// The latest time seen, ms (the family's position in the merge).
    last_ms: i64,
    /// Lines read so far in the file being read.
    file: u32,
    line: u64,
}

/// The reorder buffer: events sorted by (time, file, line).
struct Reorder {
    queue: VecDeque<Event>,
    /// Time of the last event passed on.
    emitted_ms: i64,
    late: u64,
}

fn key(e: &Event) -> (i64, Source) {
    (e.time_ms, e.source)
}

impl Reorder {
    fn insert(&mut self, e: Event) {
        let k = key(&e);
        if self.queue.back().is_none_or(|b| key(b) <= k) {
            self.queue.push_back(e);
            return;
        }
        let at = self.queue.partition_point(|x| key(x) <= k);
        if at == 0 && e.time_ms < self.emitted_ms {
            self.late += 1;
        }
        self.queue.insert(at, e);
    }

    /// Passes on every event before `watermark`.
    fn release(&mut self, watermark: i64, sink: &mut impl FnMut(Event)) {
        while self.queue.front().is_some_and(|e| e.time_ms < watermark) {
            let e = self.queue.pop_front().expect("checked non-empty");
            self.emitted_ms = self.emitted_ms.max(e.time_ms);
            sink(e);
        }
    }
}

/// The logs' total size in bytes, as far as it can be known before reading them.
fn logs_bytes(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// The manifest's own URLs resolved for a run over `files` ([`KnownTargets`]), or the empty
/// table when the logs look too small to ask for most of them.
///
/// Resolving every manifest URL up front pays when the logs will likely ask for most of them
/// (at least a line per token); with a large manifest and a small log it would cost more than
/// it saves (about a microsecond and 90 bytes per token), so each worker then resolves only
/// what it meets.
pub fn known_targets(
    files: &[PathBuf],
    manifest: &Manifest,
    keys: &KeyRing,
    path_prefix: &str,
    opts: &Options,
) -> KnownTargets {
    let up_front = opts
        .known_targets
        .unwrap_or(logs_bytes(files) / LINE_BYTES_ESTIMATE >= manifest.rows.len() as u64);
    if up_front {
        KnownTargets::new(manifest, keys, path_prefix)
    } else {
        KnownTargets::default()
    }
}

/// Reads `files` (in the order given within each family), parsing on every core, and passes
/// every event to `sink` in time order. Each parsing thread resolves lines with a
/// [`Resolver::fresh`] copy of `resolver` (with the table of [`known_targets`], events name its
/// records). `progress` counts the bytes read, out of the files' total size.
pub fn run(
    files: &[PathBuf],
    resolver: &Resolver<'_>,
    opts: &Options,
    progress: &Arc<dyn Progress>,
    mut sink: impl FnMut(Event),
) -> Outcome {
    let fams = families(files);
    let mut outcome = Outcome {
        files: vec![FileTally::default(); files.len()],
        ..Default::default()
    };
    let (work_tx, work_rx) = sync_channel::<Block>(opts.workers * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = sync_channel::<Parsed>(opts.workers * 2);
    let mut permit_tx = Vec::new();
    let mut permit_rx = Vec::new();
    for _ in &fams {
        let (tx, rx) = sync_channel::<()>(PERMITS_PER_FAMILY);
        for _ in 0..PERMITS_PER_FAMILY {
            tx.send(()).expect("capacity is PERMITS_PER_FAMILY");
        }
        permit_tx.push(tx);
        permit_rx.push(rx);
    }
    let work_rx_for_workers = work_rx;
    progress.start(logs_bytes(files));
    let (late, thread_cpu, wait_ns) = std::thread::scope(|scope| {
        let mut threads = Vec::new();
        for (f, (members, permits)) in fams.iter().zip(permit_rx).enumerate() {
            let work = work_tx.clone();
            let reader = std::thread::Builder::new()
                .name(format!("pxtrack-read-{f}"))
                .spawn_scoped(scope, move || {
                    read_family(f, members, files, opts, progress, &work, &permits);
                    thread_cpu_secs()
                })
                .expect("a thread can be started");
            threads.push(("read", reader));
        }
        drop(work_tx);
        for _ in 0..opts.workers {
            let work = Arc::clone(&work_rx_for_workers);
            let done = done_tx.clone();
            let worker = std::thread::Builder::new()
                .name("pxtrack-parse".into())
                .spawn_scoped(scope, move || {
                    crate::fast::lower_thread_priority(WORKER_NICE);
                    parse_blocks(resolver.fresh(), &work, &done);
                    thread_cpu_secs()
                })
                .expect("a thread can be started");
            threads.push(("parse", worker));
        }
        drop(done_tx);
        // Only the workers hold the queue now: if they all stop, readers stop too.
        drop(work_rx_for_workers);

        let mut state: Vec<FamilyState> = fams
            .iter()
            .map(|m| FamilyState {
                next_seq: 0,
                waiting: BTreeMap::new(),
                finished: false,
                last_ms: i64::MIN,
                file: m.first().copied().unwrap_or(0),
                line: 0,
            })
            .collect();
        let mut outcome_wait_ns = 0u64;
        let mut reorder = Reorder {
            queue: VecDeque::new(),
            emitted_ms: i64::MIN,
            late: 0,
        };
        // The family furthest behind goes next, so that the others wait in the buffer for no
        // longer than one block.
        while let Some(f) = (0..state.len())
            .filter(|&f| !state[f].finished)
            .min_by_key(|&f| state[f].last_ms)
        {
            let block = loop {
                let s = &mut state[f];
                if let Some(b) = s.waiting.remove(&s.next_seq) {
                    s.next_seq += 1;
                    break Some(b);
                }
                let waited = std::time::Instant::now();
                let got = done_rx.recv();
                outcome_wait_ns += waited.elapsed().as_nanos() as u64;
                match got {
                    Ok(p) => {
                        let fam = p.family;
                        state[fam].waiting.insert(p.seq, p);
                    }
                    // Every worker has stopped: nothing more will come.
                    Err(_) => break None,
                }
            };
            let Some(block) = block else { break };
            let _ = permit_tx[f].try_send(());
            let s = &mut state[f];
            if block.file != s.file {
                s.file = block.file;
                s.line = 0;
            }
            let tally = &mut outcome.files[block.file as usize];
            tally.add(&block.tally);
            if let Some(e) = block.error {
                tally.error = Some(if s.line == 0 && block.tally.lines == 0 {
                    format!("cannot be read: {e}")
                } else {
                    format!(
                        "reading stopped after line {}: {e}",
                        s.line + block.tally.lines
                    )
                });
            }
            outcome.rejects.merge(
                block.rejects,
                block.file,
                s.line,
                crate::ingest::EXAMPLES_PER_REASON,
            );
            let offset = s.line;
            s.line += block.tally.lines;
            for mut e in block.events {
                e.source = Source {
                    file: block.file,
                    line: e.source.line + offset,
                };
                s.last_ms = s.last_ms.max(e.time_ms);
                reorder.insert(e);
            }
            if block.end {
                s.finished = true;
                s.last_ms = i64::MAX;
            }
            let watermark = state
                .iter()
                .map(|s| s.last_ms)
                .min()
                .unwrap_or(i64::MAX)
                .saturating_sub(SLACK_MS);
            reorder.release(watermark, &mut sink);
        }
        reorder.release(i64::MAX, &mut sink);
        // Whatever is left (an error elsewhere ended the run) unblocks the readers.
        drop(done_rx);
        drop(permit_tx);
        let thread_cpu = threads
            .into_iter()
            .map(|(name, t)| {
                let secs = t.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                (name, secs)
            })
            .collect();
        (reorder.late, thread_cpu, outcome_wait_ns)
    });
    outcome.late = late;
    outcome.thread_cpu_secs = thread_cpu;
    outcome.wait_secs = wait_ns as f64 / 1e9;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::SecretKey;
    use std::io::Write as _;

    /// Runs the pipeline over `files` with an empty manifest, small blocks and two workers.
    fn run_small(files: &[PathBuf], block_bytes: usize, sink: impl FnMut(Event)) -> Outcome {
        let manifest = Manifest::default();
        let keys = KeyRing::single(SecretKey::new(1, [1; 32]));
        let opts = Options {
            block_bytes,
            workers: 2,
            known_targets: None,
        };
        run(
            files,
            &Resolver::new(&manifest, &keys, ""),
            &opts,
            &(Arc::new(NoProgress) as Arc<dyn Progress>),
            sink,
        )
    }

    const LINE: &str =
        "192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 404 0 \"-\" \"curl/8\"";

    fn at(secs: u32) -> String {
        format!(
            "192.0.2.1 - - [22/Nov/2026:10:{:02}:{:02} +0000] \"GET /{secs} HTTP/1.1\" 404 0 \"-\" \"curl/8\"",
            secs / 60,
            secs % 60
        )
    }

    #[test]
    fn logs_of_two_servers_are_merged_by_time_and_small_disorder_is_put_right() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("b")).unwrap();
        // Server a: even seconds, with 40 and 38 swapped (within the slack); server b (another
        // directory, so another family): odd seconds, then seconds 1,000-1,003, then second 6:
        // by then everything before second 940 has been passed on.
        let a: Vec<u32> = vec![0, 2, 4, 40, 38, 42, 44];
        let mut b: Vec<u32> = (1..45).step_by(2).collect();
        b.extend([1_000, 1_001, 1_002, 1_003, 6]);
        let write = |path: std::path::PathBuf, secs: &[u32]| {
            let text: String = secs.iter().map(|&t| at(t) + "\n").collect();
            std::fs::write(&path, text).unwrap();
            path
        };
        let files = [
            write(d.path().join("access.log"), &a),
            write(d.path().join("b/access.log"), &b),
        ];
        let mut seen = Vec::new();
        let out = run_small(&files, 200, |e| seen.push((e.time_ms / 1000 % 3600) as u32));
        let mut expected: Vec<u32> = a.iter().chain(&b).copied().filter(|&t| t != 6).collect();
        expected.sort_unstable();
        // Second 6 is passed on as it comes, and counted as late.
        let (late_at, _) = seen.iter().enumerate().find(|(_, t)| **t == 6).unwrap();
        let mut rest = seen.clone();
        rest.remove(late_at);
        assert_eq!(rest, expected);
        assert_eq!(out.late, 1);
    }

    #[test]
    fn lines_longer_than_a_block_or_than_any_log_line_are_one_line_each() {
        let d = tempfile::tempdir().unwrap();
        let long = "x".repeat(5_000);
        let huge = "y".repeat(MAX_LINE_BYTES + 3 * 4096 + 7);
        let p = d.path().join("access.log");
        std::fs::write(&p, format!("{LINE}\n{long}\n{LINE}\n{huge}\n{LINE}")).unwrap();
        let mut lines = Vec::new();
        let out = run_small(&[p], 1000, |e| lines.push(e.source.line));
        let f = &out.files[0];
        assert_eq!((f.lines, f.rejected, f.other), (5, 2, 3));
        assert_eq!(lines, [1, 3, 5]);
    }

    #[test]
    fn a_truncated_gzip_keeps_its_lines_and_names_where_reading_stopped() {
        let d = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for _ in 0..20_000 {
            writeln!(gz, "{LINE}").unwrap();
        }
        let bytes = gz.finish().unwrap();
        let cut = d.path().join("a.log.gz");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let plain = d.path().join("b.log");
        std::fs::write(&plain, format!("{LINE}\njunk\n{LINE}")).unwrap();
        let mut events = 0u64;
        let out = run_small(&[cut, plain], 4096, |_| events += 1);
        let read = out.files[0].lines;
        assert!(read > 0 && read < 20_000, "{read}");
        let err = out.files[0].error.as_deref().unwrap();
        assert!(
            err.starts_with(&format!("reading stopped after line {read}:")),
            "{err}"
        );
        assert_eq!(
            (
                out.files[1].lines,
                out.files[1].rejected,
                out.files[1].error.as_deref()
            ),
            (3, 1, None)
        );
        // The books reconcile, and every event reached the sink; the cut may leave a partial
        // last line, which is a rejected line like any other.
        let total = crate::ingest::sum(&out.files);
        assert_eq!(total.lines, total.hits + total.other + total.rejected);
        assert_eq!(events, total.hits + total.other);
        assert!(total.rejected <= 2, "{total:?}");
        let junk = out
            .rejects
            .by_reason
            .values()
            .flat_map(|(_, ex)| ex)
            .find(|e| e.file == 1)
            .unwrap();
        assert_eq!(junk.line, 2);
    }
}
