//! Ingestion: raw lines in, events and rejected-line tallies out.
//!
//! This is the per-line loop of `analyze`: parse, resolve the token, keep the event; or count the
//! line as rejected under its reason, with a few examples for the report. It keeps the books that
//! must reconcile: every line read is an event (a hit or another request) or a rejected line.
//!
//! Key types: [`Ingest`], [`FileTally`], [`Rejects`], [`RejectedLine`].

use std::collections::{BTreeMap, VecDeque};

use crate::hit::{Event, KnownTargets, Resolver, Source};

use crate::logparse::{Expected, LineError, LogFormat, LogLine, parse_line};
use crate::model::HitKind;

/// How many lines [`Ingest::lines`] parses ahead of the one it resolves: as many as the shared
/// table's lookups want to see coming.
const AHEAD: usize = KnownTargets::LOOKAHEAD;

/// A line parsed ahead, with its target's hash in the shared table of targets.
struct Ahead<'b> {
    line_no: u64,
    bytes: &'b [u8],
    parsed: Result<LogLine<'b>, LineError>,
    known_hash: Option<u64>,
}

/// How many example lines are kept per reject reason.
pub const EXAMPLES_PER_REASON: usize = 5;

/// The longest example line kept, in bytes; the rest is cut.
const MAX_EXAMPLE_BYTES: usize = 500;

/// One rejected line kept as an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// Index into the file list.
    pub file: u32,
    /// 1-based line number.
    pub line: u64,
    /// Byte offset where parsing stopped.
    pub offset: usize,
    /// The line, lossily decoded and cut to a few hundred bytes. Hostile: escape it.
    pub text: String,
}

/// Rejected lines, counted by reason.
#[derive(Debug, Clone, Default)]
pub struct Rejects {
    /// Count and examples per reason.
    pub by_reason: BTreeMap<Expected, (u64, Vec<RejectedLine>)>,
}

impl Rejects {
    /// All rejected lines.
    pub fn total(&self) -> u64 {
        self.by_reason.values().map(|(n, _)| n).sum()
    }

    /// Takes in the rejects of a later part of file `file`, read as if it were a file of its
    /// own (numbered from line 1): its examples are renumbered after `line_offset`, up to `keep`
    /// examples per reason.
    pub fn merge(&mut self, other: Rejects, file: u32, line_offset: u64, keep: usize) {
        for (reason, (count, examples)) in other.by_reason {
            let entry = self.by_reason.entry(reason).or_default();
            entry.0 += count;
            for mut ex in examples {
                if entry.1.len() < keep {
                    ex.file = file;
                    ex.line += line_offset;
                    entry.1.push(ex);
                }
            }
        }
    }
}

/// What one file contributed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileTally {
    /// Lines read.
    pub lines: u64,
    /// Requests for pixels or links.
    pub hits: u64,
    /// Other requests.
    pub other: u64,
    /// Rejected lines.
    pub rejected: u64,
    /// Lines in pxtrack's format.
    pub pxtrack_format: u64,
    /// Lines in `combined`.
    pub combined_format: u64,
    /// A read error that ended the file early (a truncated `.gz`, say).
    pub error: Option<String>,
}

/// The per-line loop's state: what one block of lines (see `pipeline`) gave. Events and
/// examples are numbered from line 1 of the block; the merge re-bases them on the file.
pub struct Ingest<'m> {
    resolver: Resolver<'m>,
    /// Every event, in input order.
    pub events: Vec<Event>,
    /// Rejected lines.
    pub rejects: Rejects,
    /// Lines read, hits, other requests, rejected lines.
    pub tally: FileTally,
}

impl<'m> Ingest<'m> {
    /// Starts with a resolver.
    pub fn new(resolver: Resolver<'m>) -> Self {
        Ingest {
            resolver,
            events: Vec::new(),
            rejects: Rejects::default(),
            tally: FileTally::default(),
        }
    }

    /// Takes what was read so far and starts afresh, keeping the resolver and its caches.
    pub fn take(&mut self) -> (Vec<Event>, FileTally, Rejects) {
        (
            std::mem::take(&mut self.events),
            std::mem::take(&mut self.tally),
            std::mem::take(&mut self.rejects),
        )
    }

    /// Takes the lines of a block (without their line endings), numbered from 1.
    ///
    /// Lines are parsed a dozen ahead of the one being resolved, and the shared table of targets
    /// ([`KnownTargets::warm`]) is shown what is coming, so that their records come into cache
    /// while the lines before them are resolved.
    pub fn lines<'b>(&mut self, lines: impl IntoIterator<Item = &'b [u8]>) {
        let known = self.resolver.known();
        let mut lines = lines.into_iter();
        let mut ahead: VecDeque<Ahead<'b>> = VecDeque::with_capacity(AHEAD);
        let mut line_no = 0;
        loop {
            while ahead.len() < AHEAD {
                let Some(bytes) = lines.next() else { break };
                line_no += 1;
                let parsed = parse_line(bytes);
                let known_hash = parsed
                    .as_ref()
                    .ok()
                    .and_then(|l| self.resolver.known_hash(l));
                ahead.push_back(Ahead {
                    line_no,
                    bytes,
                    parsed,
                    known_hash,
                });
            }
            if let Some(k) = known {
                k.warm(|i| ahead.get(i).and_then(|a| a.known_hash));
            }
            let Some(a) = ahead.pop_front() else { break };
            self.take_line(a.line_no, a.bytes, a.parsed, a.known_hash);
        }
    }

    fn take_line(
        &mut self,
        line_no: u64,
        bytes: &[u8],
        parsed: Result<LogLine<'_>, LineError>,
        known_hash: Option<u64>,
    ) {
        let tally = &mut self.tally;
        tally.lines += 1;
        let source = Source {
            file: 0,
            line: line_no,
        };
        match parsed {
            Ok(parsed) => {
                match parsed.format {
                    LogFormat::Pxtrack => tally.pxtrack_format += 1,
                    LogFormat::Combined => tally.combined_format += 1,
                }
                let ev = self.resolver.resolve_hashed(&parsed, source, known_hash);
                if ev.kind == HitKind::Other {
                    tally.other += 1;
                } else {
                    tally.hits += 1;
                }
                self.events.push(ev);
            }
            Err(e) => {
                tally.rejected += 1;
                let entry = self.rejects.by_reason.entry(e.expected).or_default();
                entry.0 += 1;
                if entry.1.len() < EXAMPLES_PER_REASON {
                    let cut = &bytes[..bytes.len().min(MAX_EXAMPLE_BYTES)];
                    let mut text = String::from_utf8_lossy(cut).into_owned();
                    if cut.len() < bytes.len() {
                        text.push('…');
                    }
                    entry.1.push(RejectedLine {
                        file: source.file,
                        line: line_no,
                        offset: e.offset,
                        text,
                    });
                }
            }
        }
    }
}

/// Adds up per-file tallies (read errors are per file and not carried).
pub fn sum(files: &[FileTally]) -> FileTally {
    let mut t = FileTally::default();
    for f in files {
        t.add(f);
    }
    t
}

impl FileTally {
    /// Adds another tally's counts (not its read error).
    pub fn add(&mut self, other: &FileTally) {
        self.lines += other.lines;
        self.hits += other.hits;
        self.other += other.other;
        self.rejected += other.rejected;
        self.pxtrack_format += other.pxtrack_format;
        self.combined_format += other.combined_format;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::token::{KeyRing, SecretKey};

    #[test]
    fn merged_rejects_are_renumbered_and_capped() {
        let manifest = Manifest::default();
        let keys = KeyRing::single(SecretKey::new(1, [1; 32]));
        let mut part = Ingest::new(Resolver::new(&manifest, &keys, ""));
        part.lines([b"junk".as_slice(); 4]);
        let mut all = Rejects::default();
        all.merge(part.rejects.clone(), 3, 0, 5);
        all.merge(part.rejects, 3, 10, 5);
        assert_eq!(all.total(), 8);
        let lines: Vec<(u32, u64)> = all
            .by_reason
            .values()
            .flat_map(|(_, v)| v.iter().map(|e| (e.file, e.line)))
            .collect();
        assert_eq!(lines, [(3, 1), (3, 2), (3, 3), (3, 4), (3, 11)]);
    }
}
