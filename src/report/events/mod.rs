//! `events.csv`: one row per event, streamed as the events pass, with its columns in
//! [`EVENTS_HEADER`]. The cells that repeat across events (a manifest row's, a known target's, a
//! set of headers') are quoted once and kept; the file side is `export_file`.

use super::*;

mod cells;
mod columns;
mod parquet_columns;
mod parquet_file;
mod parquet_pages;

use cells::*;
pub use columns::{Cell, EVENTS_COLUMNS, EVENTS_HEADER, Group};
use columns::{MAX_RUNS, Plan, Step};
pub use parquet_file::{EventsParquet, ROW_GROUP_ROWS, schema as parquet_schema};

/// The per-event export's format (`analyze --events`, `[analyze] events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventsFormat {
    /// `events.csv` (the default: what scripts read).
    #[default]
    Csv,
    /// `events.parquet`: the same columns, typed, for query engines.
    Parquet,
    /// No per-event file; every other output is the same.
    None,
}

impl EventsFormat {
    /// The export's file name in the report directory.
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            EventsFormat::Csv => Some("events.csv"),
            EventsFormat::Parquet => Some("events.parquet"),
            EventsFormat::None => None,
        }
    }

    /// As written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            EventsFormat::Csv => "csv",
            EventsFormat::Parquet => "parquet",
            EventsFormat::None => "none",
        }
    }
}

impl std::str::FromStr for EventsFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "csv" => Ok(EventsFormat::Csv),
            "parquet" => Ok(EventsFormat::Parquet),
            "none" => Ok(EventsFormat::None),
            other => Err(format!(
                "{other:?} is not an events format: csv (events.csv, the default), parquet \
                 (events.parquet, for DuckDB, ClickHouse, Polars, Spark) or none"
            )),
        }
    }
}

/// Where the events go: one of the exports, or nowhere.
pub enum EventsOut<'a> {
    /// `events.csv`.
    Csv(Box<EventsCsv<'a>>),
    /// `events.parquet`.
    Parquet(Box<EventsParquet<'a>>),
    /// No file.
    None,
}

impl<'a> EventsOut<'a> {
    /// Creates the export of `format` at `dir/<its file name>`.
    pub fn create(
        format: EventsFormat,
        dir: &Path,
        manifest: &'a Manifest,
        known: &'a KnownTargets,
        privacy: Privacy,
        file_names: &'a [String],
    ) -> Result<Self> {
        Ok(match format {
            EventsFormat::Csv => EventsOut::Csv(Box::new(EventsCsv::create(
                &dir.join("events.csv"),
                manifest,
                known,
                privacy,
                file_names,
            )?)),
            EventsFormat::Parquet => EventsOut::Parquet(Box::new(EventsParquet::create(
                &dir.join("events.parquet"),
                manifest,
                known,
                privacy,
                file_names,
            )?)),
            EventsFormat::None => EventsOut::None,
        })
    }

    /// Writes the rows of a batch of events.
    pub fn write_batch(&mut self, batch: &[Classified]) -> Result<()> {
        match self {
            EventsOut::Csv(w) => w.write_batch(batch),
            EventsOut::Parquet(w) => w.write_batch(batch),
            EventsOut::None => Ok(()),
        }
    }

    /// Finishes the file.
    pub fn finish(self) -> Result<Written> {
        match self {
            EventsOut::Csv(w) => w.finish(),
            EventsOut::Parquet(w) => w.finish(),
            EventsOut::None => Ok(Written::default()),
        }
    }
}

/// `events.csv`, written one row at a time as the events stream past, so that a log of any
/// length is exported without being held in memory.
///
/// This is the one CSV file written without the csv crate: it is the largest output, and the
/// crate's field-by-field writer would be most of the thread that writes it. Cells are written
/// as the crate writes them (quoted when they hold a comma, a quote, CR or LF; quotes doubled), a
/// property the tests check against the crate itself.
pub struct EventsCsv<'a> {
    /// The rows not yet handed to the writer.
    chunk: Chunk,
    writer: ExportWriter,
    manifest: &'a Manifest,
    known: &'a KnownTargets,
    privacy: Privacy,
    file_names: &'a [String],
    text: String,
    num: itoa::Buffer,
    /// The cells of each [`Headers`] met (interned: one per distinct set).
    header_cells: crate::fast::ArcMap<Headers, HeaderCells>,
    /// The cells of each manifest row met.
    row_cells: CellTable,
    /// The request target and token cells of each known target met.
    known_cells: CellTable,
    /// The same cells of an event whose texts are its own.
    own_cells: Vec<u8>,
    /// How [`EVENTS_COLUMNS`] is written.
    plan: Plan,
    /// Per log file: the start of its `source` cells (`name:`, guarded), when its name needs
    /// no quoting, so a row writes only the line number after it.
    source_prefixes: Vec<Option<Box<[u8]>>>,
    /// The second of the last row's time and its text up to the milliseconds
    /// (`YYYY-MM-DDTHH:MM:SS.`): a log has several requests a second.
    time_prefix: (i64, [u8; 20]),
}

impl<'a> EventsCsv<'a> {
    /// Creates the file and writes the header.
    pub fn create(
        path: &Path,
        manifest: &'a Manifest,
        known: &'a KnownTargets,
        privacy: Privacy,
        file_names: &'a [String],
    ) -> Result<Self> {
        Self::create_with(path, Mode::Direct, manifest, known, privacy, file_names)
    }

    pub(crate) fn create_with(
        path: &Path,
        mode: Mode,
        manifest: &'a Manifest,
        known: &'a KnownTargets,
        privacy: Privacy,
        file_names: &'a [String],
    ) -> Result<Self> {
        let writer = ExportWriter::create_with(path, mode)?;
        let mut chunk = Chunk::new();
        let out = chunk.buf();
        for (i, h) in EVENTS_HEADER.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_csv_cell(out, h);
        }
        out.push(b'\n');
        Ok(EventsCsv {
            chunk,
            writer,
            manifest,
            known,
            privacy,
            file_names,
            text: String::with_capacity(64),
            num: itoa::Buffer::new(),
            header_cells: crate::fast::ArcMap::default(),
            row_cells: CellTable::new(manifest.rows.len()),
            known_cells: CellTable::new(known.len()),
            own_cells: Vec::new(),
            plan: Plan::new(),
            source_prefixes: file_names
                .iter()
                .map(|name| {
                    (!needs_quotes(name.as_bytes())).then(|| {
                        let mut cell = Vec::new();
                        push_csv_cell(&mut cell, name);
                        cell.push(b':');
                        cell.into_boxed_slice()
                    })
                })
                .collect(),
            time_prefix: (i64::MIN, [0; 20]),
        })
    }

    /// Writes one event's row: the cells of [`EVENTS_COLUMNS`], in order.
    pub fn write(&mut self, c: &Classified) -> Result<()> {
        let ev = &c.event;
        if self.header_cells.len() >= MAX_HEADER_CELLS {
            self.header_cells.clear();
        }
        let plan = &self.plan;
        let headers = self
            .header_cells
            .get_or_insert_with(&ev.headers, || HeaderCells::new(plan, &ev.headers));
        let (manifest, privacy, known) = (self.manifest, self.privacy, self.known);
        let row = match ev.row {
            Some(r) => Some(self.row_cells.get(r, |b| {
                plan.fill(Group::Row, b, |cell| {
                    row_text(&manifest.rows[r], privacy, cell)
                })
            })),
            None => None,
        };
        let request = match &ev.target {
            &TargetText::Known(i) => self.known_cells.get(i as usize, |b| {
                let (token, uri) = known.texts(i);
                plan.fill(Group::Request, b, |cell| match cell {
                    Cell::Token => token,
                    Cell::Uri => uri,
                    _ => unreachable!("a request cell"),
                })
            }),
            TargetText::Own { token, uri } => {
                self.own_cells.clear();
                let ends = plan.fill(Group::Request, &mut self.own_cells, |cell| match cell {
                    Cell::Token => token,
                    Cell::Uri => uri,
                    _ => unreachable!("a request cell"),
                });
                let mut span = [0; MAX_RUNS + 1];
                span[1..].copy_from_slice(&ends);
                (&self.own_cells[..], span)
            }
        };
        let out = self.chunk.buf();
        for step in &plan.steps {
            match *step {
                Step::Run(Group::Row, r) => match &row {
                    Some((bytes, span)) => out.extend_from_slice(run_of(bytes, span, r)),
                    None => out.extend_from_slice(&plan.empty[0][r]),
                },
                Step::Run(Group::Headers, r) => {
                    out.extend_from_slice(run_of(&headers.bytes, &headers.span, r));
                }
                Step::Run(Group::Request, r) => {
                    out.extend_from_slice(run_of(request.0, &request.1, r));
                }
                Step::Own(cell) => match cell {
                    Cell::Time => push_time(out, ev.time_ms, &mut self.time_prefix, &mut self.text),
                    Cell::Kind => plain_cell(out, ev.kind.as_str()),
                    Cell::TokenStatus => plain_cell(out, ev.token_status.as_str()),
                    Cell::Class => plain_cell(out, c.verdict.class.as_str()),
                    Cell::Detail => csv_cell(out, &c.verdict.detail),
                    Cell::Status => {
                        push_u16(out, ev.status);
                        out.push(b',');
                    }
                    Cell::Ip => {
                        push_address(out, self.privacy, ev.client, &mut self.text);
                        out.push(b',');
                    }
                    Cell::Reason => csv_cell(out, &c.verdict.reason),
                    Cell::Certainty => plain_cell(out, c.verdict.certainty.as_str()),
                    Cell::Source => {
                        match self.source_prefixes.get(ev.source.file as usize) {
                            Some(Some(prefix)) => {
                                out.extend_from_slice(prefix);
                                out.extend_from_slice(self.num.format(ev.source.line).as_bytes());
                            }
                            _ => push_csv_cell(
                                out,
                                source_text(
                                    &mut self.text,
                                    self.file_names,
                                    ev.source,
                                    &mut self.num,
                                ),
                            ),
                        }
                        out.push(b',');
                    }
                    _ => unreachable!("a grouped cell is written by its run"),
                },
            }
        }
        // Every cell ended with its comma; the row ends with a line end instead.
        out.pop();
        out.push(b'\n');
        if self.chunk.rows().len() >= FLUSH_BYTES {
            self.writer.write_blocks(&mut self.chunk)?;
        }
        Ok(())
    }

    /// Writes the rows of a batch of events, in order.
    ///
    /// A row reads texts that live apart: the manifest row's cells and the event's target's
    /// (kept quoted per key), its headers and reason. With 80,000 tokens they are rarely in
    /// cache, and waiting for them one at a time would be most of this thread's time. So the rows a few places
    /// ahead are asked for early, in two steps (the row's place among the cells, then the
    /// cells and the event's texts), and their loads overlap.
    pub fn write_batch(&mut self, batch: &[Classified]) -> Result<()> {
        const AHEAD: usize = 6;
        for (i, c) in batch.iter().enumerate() {
            if let Some(later) = batch.get(i + 2 * AHEAD).map(|c| &c.event) {
                if let Some(r) = later.row {
                    self.row_cells.prefetch_span(r);
                }
                if let TargetText::Known(k) = later.target {
                    self.known_cells.prefetch_span(k as usize);
                }
            }
            if let Some(next) = batch.get(i + AHEAD) {
                let ev = &next.event;
                if let Some(r) = ev.row {
                    self.row_cells.prefetch_cells(r);
                }
                match &ev.target {
                    &TargetText::Known(k) => self.known_cells.prefetch_cells(k as usize),
                    TargetText::Own { token, uri } => {
                        prefetch(token.as_ptr());
                        prefetch(uri.as_ptr());
                    }
                }
                prefetch(next.verdict.reason.as_ptr());
            }
            self.write(c)?;
        }
        Ok(())
    }

    /// Writes what is buffered, waits for the file and says what was written.
    pub fn finish(self) -> Result<Written> {
        self.writer.finish(self.chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A classified request for no token, from line `line` of log file `file`.
    pub(super) fn other_request(file: u32, line: u64, user_agent: &str) -> Classified {
        use crate::classify::Verdict;
        use crate::hit::{Event, Source};
        use crate::model::HitClass;
        use crate::model::{HitKind, TokenStatus};
        Classified {
            event: Event {
                kind: HitKind::Other,
                token_status: TokenStatus::None,
                row: None,
                target: TargetText::Own {
                    token: "".into(),
                    uri: "/favicon.ico".into(),
                },
                status: 404,
                bytes_sent: 0,
                source: Source { file, line },
                ..Event::test_open(1_700_000_000_000, user_agent)
            },
            verdict: Verdict {
                class: HitClass::Invalid,
                detail: "no-token".into(),
                reason: "not a pixel or tracked-link URL".into(),
                machine_open: false,
                certainty: crate::model::Certainty::Certain,
            },
            client: Arc::new(crate::enrich::detect("curl/8", "")),
        }
    }

    /// Every column's cell, for an event whose every field holds a text of its own, sits under
    /// that column's name, whatever the order of [`EVENTS_COLUMNS`] and its cached groups.
    #[test]
    fn each_cell_sits_under_its_header() {
        use crate::model::{HeaderFields, Headers};
        use crate::token::TokenKind;
        let row = ManifestRow {
            campaign: "the-campaign".into(),
            recipient: "the-recipient".into(),
            label: "the-label".into(),
            target: "https://example.com/the-target".into(),
            ..ManifestRow::example(TokenKind::Click, "the-token-in-the-manifest")
        };
        let manifest = Manifest::new(vec![row]);
        let known = KnownTargets::default();
        let names = ["the.log".to_string()];
        let mut c = other_request(0, 42, "the-agent");
        c.event.row = Some(0);
        c.event.target = TargetText::Own {
            token: "the-token".into(),
            uri: "/the-uri".into(),
        };
        c.event.status = 302;
        c.event.client = "192.0.2.9".parse().unwrap();
        c.event.headers = Arc::new(Headers::new(HeaderFields {
            method: "GET",
            user_agent: "the-agent",
            referer: "the-referer",
            requested_with: "the-app",
            purpose: "the-purpose",
            accept_language: "the-language",
        }));
        c.verdict.detail = "the-detail".into();
        c.verdict.reason = "the-reason".into();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.csv");
        let mut csv =
            EventsCsv::create(&path, &manifest, &known, Privacy::default(), &names).unwrap();
        csv.write_batch(&[c.clone(), c.clone()]).unwrap();
        csv.finish().unwrap();
        let mut r = csv::Reader::from_path(&path).unwrap();
        let header = r.headers().unwrap().clone();
        assert_eq!(header.iter().collect::<Vec<_>>(), EVENTS_HEADER);
        for rec in r.records() {
            let rec = rec.unwrap();
            let cell = |name: &str| {
                let i = header.iter().position(|h| h == name).unwrap();
                rec[i].to_string()
            };
            for (name, want) in [
                ("time", "2023-11-14T22:13:20.000Z"),
                ("kind", "other"),
                ("token_status", "none"),
                ("campaign", "the-campaign"),
                ("recipient", "the-recipient"),
                ("label", "the-label"),
                ("class", "invalid"),
                ("detail", "the-detail"),
                ("method", "GET"),
                ("status", "302"),
                ("ip", "192.0.2.9"),
                ("user_agent", "the-agent"),
                ("reason", "the-reason"),
                ("target", "https://example.com/the-target"),
                ("uri", "/the-uri"),
                ("referer", "the-referer"),
                ("requested_with", "the-app"),
                ("purpose", "the-purpose"),
                ("accept_language", "the-language"),
                ("token", "the-token"),
                ("source", "the.log:42"),
                ("certainty", "certain"),
            ] {
                assert_eq!(cell(name), want, "column {name}");
            }
            assert_eq!(rec.len(), EVENTS_COLUMNS.len());
        }
    }

    #[test]
    fn source_cells_quote_and_guard_hostile_file_names() {
        let names = ["logs/access.log", "we,ird\".log", "=cmd.log", "-"].map(String::from);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.csv");
        let manifest = Manifest::new(Vec::new());
        let known = KnownTargets::default();
        let mut csv =
            EventsCsv::create(&path, &manifest, &known, Privacy::default(), &names).unwrap();
        let batch: Vec<Classified> = (0..5).map(|f| other_request(f, 7, "curl/8")).collect();
        csv.write_batch(&batch).unwrap();
        csv.finish().unwrap();
        let sources: Vec<String> = csv::Reader::from_path(&path)
            .unwrap()
            .records()
            .map(|r| r.unwrap().get(20).unwrap().to_string())
            .collect();
        // File 4 is not in the list: `?`.
        let expected = [
            "logs/access.log:7",
            "we,ird\".log:7",
            "'=cmd.log:7",
            "'-:7",
            "?:7",
        ];
        assert_eq!(sources, expected);
    }

    #[test]
    fn a_known_target_is_written_as_the_same_texts_of_its_own_would_be() {
        use crate::hit::TargetText;
        use crate::token::{KeyRing, SecretKey, TokenKind};
        let keys = KeyRing::single(SecretKey::new(1, [3; 32]));
        let rows: Vec<ManifestRow> = [TokenKind::Open, TokenKind::Click]
            .into_iter()
            .map(|kind| ManifestRow {
                label: "l".into(),
                target: "https://example.com/".into(),
                ..ManifestRow::example(kind, &crate::token::mint(kind, keys.active(), None))
            })
            .collect();
        let manifest = Manifest::new(rows);
        // A path prefix with a comma and a quote: the cached cells must be quoted.
        let known = KnownTargets::new(&manifest, &keys, "/t,\"x");
        assert_eq!(known.len(), 2);
        let names = ["access.log".to_string()];
        let batch: Vec<Classified> = (0..6u32)
            .map(|i| {
                let mut c = other_request(0, 1, "curl/8");
                let record = i % 2;
                c.event.row = Some(record as usize);
                c.event.target = if i < 4 {
                    TargetText::Known(record)
                } else {
                    let (token, uri) = known.texts(record);
                    TargetText::Own {
                        token: token.into(),
                        uri: uri.into(),
                    }
                };
                c
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.csv");
        let mut csv =
            EventsCsv::create(&path, &manifest, &known, Privacy::default(), &names).unwrap();
        csv.write_batch(&batch).unwrap();
        csv.finish().unwrap();
        let rows: Vec<csv::StringRecord> = csv::Reader::from_path(&path)
            .unwrap()
            .records()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 6);
        for i in 0..6 {
            // Rows 0 and 2 (record 0, met first and then from the cache) as row 4, its texts.
            assert_eq!(rows[i], rows[4 + i % 2], "row {i}");
        }
        let (token, uri) = known.texts(0);
        assert_eq!((&rows[0][14], &rows[0][19]), (uri, token));
        assert!(uri.starts_with("/t,\"x/o/"));
    }

    #[test]
    fn events_csv_keeps_every_row_through_the_cache_and_direct() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0";
        // A row longer than the buffer, which moves it, halfway.
        let long = format!("{firefox} {}", "x".repeat(3 << 20));
        let rows = 60_000u64;
        let batch: Vec<Classified> = (1..=rows)
            .map(|line| other_request(0, line, if line == rows / 2 { &long } else { firefox }))
            .collect();
        let names = ["access.log".to_string()];
        let manifest = Manifest::new(Vec::new());
        let mut files = Vec::new();
        // Through the page cache, letting pages go after every 1 MiB buffer so the advice runs
        // many times; then with direct I/O.
        for mode in [Mode::Buffered { release_every: 1 }, Mode::Direct] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("events.csv");
            let known = KnownTargets::default();
            let mut csv =
                EventsCsv::create_with(&path, mode, &manifest, &known, Privacy::default(), &names)
                    .unwrap();
            csv.write_batch(&batch).unwrap();
            let w = csv.finish().unwrap();
            assert!(w.bytes > 4 << 20, "the test should write several buffers");
            if mode != Mode::Direct {
                assert!(w.released > 0 && w.released <= w.advised && w.advised <= w.bytes);
            }
            let text = fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len() as u64, rows + 1);
            assert!(lines[1].ends_with(",access.log:1,certain"));
            assert!(lines[rows as usize / 2].contains(&long));
            assert!(lines[rows as usize].ends_with(&format!(",access.log:{rows},certain")));
            files.push(text);
        }
        assert!(files[0] == files[1], "direct I/O wrote other bytes");
    }

    proptest::proptest! {
        #[test]
        fn times_are_written_as_rfc3339_fast_writes_them(
            start in -100_000_000_000_000i64..300_000_000_000_000,
            steps in proptest::collection::vec(0i64..3_000, 1..20),
        ) {
            let mut prefix = (i64::MIN, [0; 20]);
            let (mut text, mut ms) = (String::new(), start);
            for step in steps {
                ms += step;
                let mut ours = Vec::new();
                push_time(&mut ours, ms, &mut prefix, &mut text);
                let expected = format!("{},", rfc3339_fast(ms, &mut String::new()));
                proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), expected);
            }
        }

        #[test]
        fn addresses_are_written_as_display_writes_them(v4: u32, v6: u128) {
            for ip in [
                std::net::IpAddr::from(std::net::Ipv4Addr::from(v4)),
                std::net::IpAddr::from(std::net::Ipv6Addr::from(v6)),
            ] {
                let mut ours = Vec::new();
                push_ip(&mut ours, ip);
                proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), ip.to_string());
            }
        }
    }

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        for n in [0, 7, 10, 99, 100, 200, 302, 999, 1000, 9999, 10_000, 65_535] {
            let mut ours = Vec::new();
            push_u16(&mut ours, n);
            assert_eq!(String::from_utf8(ours).unwrap(), n.to_string());
        }
    }
}
