//! `events.parquet`: the columns of `events.csv` ([`EVENTS_COLUMNS`], same names, same order),
//! typed for query engines. `time` is a UTC timestamp in microseconds (DELTA_BINARY_PACKED),
//! `status` an integer, every other column a string; the string columns whose values repeat are
//! dictionary-encoded (kind, token status, campaign, class, detail, method, label, user agent,
//! target...), `source` is DELTA_BYTE_ARRAY (each `file:line` shares all but its last digits
//! with the one before), pages are zstd-compressed, row groups hold about a million rows. The
//! privacy switches apply exactly as in the CSV; cells carry their text as it is (no spreadsheet
//! formula guard: no spreadsheet opens Parquet).
//!
//! The writer is pxtrack's own, on the parquet crate's page and file API: a general writer
//! finds a value's dictionary index by hashing the value, on every row, and that was most of
//! its cost. Here a cell's index is found by where the value comes from, as `events.csv`'s cell
//! caches do: a manifest row, a set of headers, a known target, a verdict's reason; the value
//! itself is looked at when its source is first met, and dictionaries carry over from one row
//! group to the next. This side fills the pages; [`super::parquet_pages`] encodes, compresses
//! and writes them on a thread of its own. A column whose dictionary outgrows
//! [`DICTIONARY_LIMIT`] (hostile logs can make any header unique) goes on in the plain encoding
//! for the rest of its row group, as Parquet allows, and starts over with an empty one.

use std::fs::File;
use std::sync::Arc;

use ::parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use ::parquet::schema::types::{Type, TypePtr};

use super::parquet_columns::{MAX_SLOTS, Slots, TextColumn, UNSET, header_slot, row_slot};
use super::parquet_pages::{self, Message, PageData};
use super::*;
use crate::fast::prefetch_value;

/// Rows per row group: "about a million", a power of two.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// Rows per data page: small enough that a page of indices is encoded while the next is filled.
const PAGE_ROWS: usize = 1 << 16;

/// The most bytes a column chunk's dictionary holds before the column goes on in the plain
/// encoding (readers take any size; past this a dictionary stops paying for itself).
pub const DICTIONARY_LIMIT: usize = 8 << 20;

/// The sizes the writer works to (tests make them small to reach every path).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) row_group_rows: usize,
    pub(crate) page_rows: usize,
    pub(crate) dictionary_limit: usize,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            row_group_rows: ROW_GROUP_ROWS,
            page_rows: PAGE_ROWS,
            dictionary_limit: DICTIONARY_LIMIT,
        }
    }
}

/// The Parquet schema: [`EVENTS_COLUMNS`], every one required (an empty cell is an empty
/// string, as in the CSV).
pub fn schema() -> TypePtr {
    let fields = EVENTS_COLUMNS
        .iter()
        .map(|&(name, cell)| {
            let field = match cell {
                Cell::Time => Type::primitive_type_builder(name, PhysicalType::INT64)
                    .with_logical_type(Some(LogicalType::timestamp(true, TimeUnit::MICROS)))
                    .with_converted_type(ConvertedType::TIMESTAMP_MICROS),
                Cell::Status => Type::primitive_type_builder(name, PhysicalType::INT32),
                _ => Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                    .with_logical_type(Some(LogicalType::String))
                    .with_converted_type(ConvertedType::UTF8),
            };
            Arc::new(
                field
                    .with_repetition(Repetition::REQUIRED)
                    .build()
                    .expect("a valid column type"),
            )
        })
        .collect();
    Arc::new(
        Type::group_type_builder("events")
            .with_fields(fields)
            .build()
            .expect("a valid schema"),
    )
}

/// A column being filled.
enum Column {
    Time(Vec<i64>),
    Source(Vec<crate::hit::Source>),
    Int(Vec<i32>),
    Text(Box<TextColumn>),
}

/// The encoder thread, and the channel to it.
struct Encoder {
    to_thread: Option<std::sync::mpsc::SyncSender<Message>>,
    thread: Option<std::thread::JoinHandle<std::result::Result<f64, String>>>,
}

impl Encoder {
    fn start(file: File, file_names: Vec<String>) -> Self {
        // One message in flight: a page set is encoded while the next is filled.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Message>(1);
        let thread = std::thread::Builder::new()
            .name("pxtrack-parquet".into())
            .spawn(move || parquet_pages::run(rx, file, schema(), file_names))
            .expect("a thread can be started");
        Encoder {
            to_thread: Some(tx),
            thread: Some(thread),
        }
    }

    /// Hands a message over; an error the thread met is reported here or at [`Encoder::finish`].
    fn send(&mut self, message: Message, path: &Path) -> Result<()> {
        let sent = self.to_thread.as_ref().map(|tx| tx.send(message));
        match sent {
            Some(Ok(())) => Ok(()),
            // The thread stopped: it says why.
            _ => self.finish(path).map(|_| ()),
        }
    }

    /// Closes the file; returns the encoder thread's processor time.
    fn finish(&mut self, path: &Path) -> Result<f64> {
        self.to_thread = None;
        let outcome = match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("the Parquet encoder stopped".to_string())),
            None => Err("the Parquet encoder already stopped".to_string()),
        };
        outcome.map_err(|e| Error::io(path, std::io::Error::other(e)))
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        self.to_thread = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `events.parquet`, written as the events stream past, a row group at a time.
pub struct EventsParquet<'a> {
    encoder: Encoder,
    columns: Vec<Column>,
    slots: Slots,
    layout: Layout,
    /// Rows in the current page and row group.
    page_rows: usize,
    group_rows: usize,
    manifest: &'a Manifest,
    known: &'a KnownTargets,
    privacy: Privacy,
    text: String,
    path: std::path::PathBuf,
}

impl<'a> EventsParquet<'a> {
    /// Creates the file.
    pub fn create(
        path: &Path,
        manifest: &'a Manifest,
        known: &'a KnownTargets,
        privacy: Privacy,
        file_names: &'a [String],
    ) -> Result<Self> {
        Self::create_with(
            path,
            manifest,
            known,
            privacy,
            file_names,
            Layout::default(),
        )
    }

    pub(crate) fn create_with(
        path: &Path,
        manifest: &'a Manifest,
        known: &'a KnownTargets,
        privacy: Privacy,
        file_names: &'a [String],
        layout: Layout,
    ) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let columns = EVENTS_COLUMNS
            .iter()
            .map(|&(_, cell)| match cell {
                Cell::Time => Column::Time(Vec::with_capacity(layout.page_rows)),
                Cell::Status => Column::Int(Vec::with_capacity(layout.page_rows)),
                Cell::Source => Column::Source(Vec::with_capacity(layout.page_rows)),
                Cell::Ip => Column::Text(Box::new(TextColumn::new(true))),
                _ => Column::Text(Box::new(TextColumn::new(false))),
            })
            .collect();
        Ok(EventsParquet {
            encoder: Encoder::start(file, file_names.to_vec()),
            columns,
            slots: Slots::new(manifest.rows.len(), known.len()),
            layout,
            page_rows: 0,
            group_rows: 0,
            manifest,
            known,
            privacy,
            text: String::new(),
            path: path.to_path_buf(),
        })
    }

    /// Adds one event's row.
    pub fn write(&mut self, c: &Classified) -> Result<()> {
        let ev = &c.event;
        let limit = self.layout.dictionary_limit;
        let privacy = self.privacy;
        let Slots {
            rows,
            no_row,
            headers,
            known,
            detail,
            reason,
        } = &mut self.slots;
        if headers.len() > MAX_SLOTS {
            headers.clear();
        }
        let row = ev.row.and_then(|r| Some((self.manifest.rows.get(r)?, r)));
        let row_slots = match row {
            Some((_, r)) => &mut rows[r],
            None => no_row,
        };
        let h = &ev.headers;
        let header_slots = headers.get_or_insert_with(h, || [UNSET; 6]);
        let mut known_slots = match ev.target {
            TargetText::Known(k) => known.get_mut(k as usize),
            TargetText::Own { .. } => None,
        };
        let detail_slot = detail.slot(&c.verdict.detail);
        let reason_slot = reason.slot(&c.verdict.reason);
        for (column, &(_, cell)) in self.columns.iter_mut().zip(EVENTS_COLUMNS.iter()) {
            let t = match column {
                Column::Time(values) => {
                    values.push(ev.time_ms.saturating_mul(1000));
                    continue;
                }
                Column::Int(values) => {
                    values.push(i32::from(ev.status));
                    continue;
                }
                Column::Source(values) => {
                    values.push(ev.source);
                    continue;
                }
                Column::Text(t) => t,
            };
            match cell {
                Cell::Kind => t.push_static(ev.kind.as_str(), limit),
                Cell::TokenStatus => t.push_static(ev.token_status.as_str(), limit),
                Cell::Class => t.push_static(c.verdict.class.as_str(), limit),
                Cell::Certainty => t.push_static(c.verdict.certainty.as_str(), limit),
                Cell::Campaign | Cell::Recipient | Cell::Label | Cell::Target => {
                    t.push_cached(&mut row_slots[row_slot(cell)], limit, || match row {
                        Some((r, _)) => row_text(r, privacy, cell),
                        None => "".into(),
                    })
                }
                Cell::Method
                | Cell::UserAgent
                | Cell::Referer
                | Cell::RequestedWith
                | Cell::Purpose
                | Cell::AcceptLanguage => {
                    t.push_cached(&mut header_slots[header_slot(cell)], limit, || {
                        header_text(h, cell).into()
                    })
                }
                Cell::Detail => t.push_cached(detail_slot, limit, || (&*c.verdict.detail).into()),
                Cell::Reason => t.push_cached(reason_slot, limit, || (&*c.verdict.reason).into()),
                Cell::Uri | Cell::Token => {
                    let i = usize::from(cell == Cell::Token);
                    let text = || {
                        let (token, uri) = ev.texts(self.known);
                        if i == 1 { token } else { uri }
                    };
                    match known_slots.as_deref_mut() {
                        // A known target's texts are its own: no other has the same.
                        Some(slots) => t.push_slot(&mut slots[i], limit, true, || text().into()),
                        None => t.push_text(text(), limit),
                    }
                }
                Cell::Ip => t.push_plain_with(|out| {
                    push_address(out, privacy, ev.client, &mut self.text);
                }),
                Cell::Time | Cell::Status | Cell::Source => unreachable!("columns of their own"),
            }
        }
        self.page_rows += 1;
        self.group_rows += 1;
        if self.group_rows == self.layout.row_group_rows {
            self.end_group()?;
        } else if self.page_rows == self.layout.page_rows {
            self.send_pages()?;
        }
        Ok(())
    }

    /// Adds the rows of a batch of events, in order.
    ///
    /// The slots of a manifest row and of a known target are where a row waits for memory
    /// (events come in no order of either), so those of a row a few ahead are asked for early.
    pub fn write_batch(&mut self, batch: &[Classified]) -> Result<()> {
        const AHEAD: usize = 8;
        for (i, c) in batch.iter().enumerate() {
            if let Some(later) = batch.get(i + 2 * AHEAD) {
                // Made on another core: not in this one's cache.
                prefetch_value(later);
            }
            if let Some(later) = batch.get(i + AHEAD) {
                self.slots.reason.prefetch(&later.verdict.reason);
                let ev = &later.event;
                if let Some(slot) = ev.row.and_then(|r| self.slots.rows.get(r)) {
                    prefetch(slot);
                }
                if let TargetText::Known(k) = ev.target
                    && let Some(slot) = self.slots.known.get(k as usize)
                {
                    prefetch(slot);
                }
            }
            self.write(c)?;
        }
        Ok(())
    }

    fn send_pages(&mut self) -> Result<()> {
        if self.page_rows == 0 {
            return Ok(());
        }
        let capacity = self.layout.page_rows;
        let mut pages = Vec::with_capacity(self.columns.len());
        for (c, column) in self.columns.iter_mut().enumerate() {
            match column {
                Column::Time(v) => {
                    let v = std::mem::replace(v, Vec::with_capacity(capacity));
                    pages.push((c, PageData::Int64(v)));
                }
                Column::Int(v) => {
                    let v = std::mem::replace(v, Vec::with_capacity(capacity));
                    pages.push((c, PageData::Int32(v)));
                }
                Column::Source(v) => {
                    let v = std::mem::replace(v, Vec::with_capacity(capacity));
                    pages.push((c, PageData::Source(v)));
                }
                Column::Text(t) => t.take_pages(c, capacity, &mut pages),
            }
        }
        self.page_rows = 0;
        self.encoder.send(Message::Pages(pages), &self.path)
    }

    fn end_group(&mut self) -> Result<()> {
        self.send_pages()?;
        if self.group_rows == 0 {
            return Ok(());
        }
        let mut dictionaries = Vec::with_capacity(self.columns.len());
        for (column, &(_, cell)) in self.columns.iter_mut().zip(EVENTS_COLUMNS.iter()) {
            let (dictionary, start_over) = match column {
                Column::Text(t) => t.end_group(),
                Column::Time(_) | Column::Int(_) | Column::Source(_) => (None, false),
            };
            if start_over {
                self.slots.forget(cell);
            }
            dictionaries.push(dictionary);
        }
        let rows = self.group_rows as u64;
        self.group_rows = 0;
        self.encoder
            .send(Message::EndGroup { rows, dictionaries }, &self.path)
    }

    /// Writes the last row group and the footer; says how many bytes the file has.
    pub fn finish(mut self) -> Result<Written> {
        self.end_group()?;
        let cpu_secs = self.encoder.finish(&self.path)?;
        let bytes = std::fs::metadata(&self.path)
            .map_err(|e| Error::io(&self.path, e))?
            .len();
        Ok(Written {
            bytes,
            cpu_secs,
            ..Written::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::other_request;
    use super::*;
    use ::parquet::basic::Encoding;
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    use ::parquet::record::Field;

    /// Events that reach every path of the writer: manifest rows and none, known targets and
    /// texts of their own, headers and reasons shared and unique, IPv4 and IPv6.
    fn events(known: &KnownTargets, n: usize) -> Vec<Classified> {
        use crate::model::{HeaderFields, Headers};
        let shared: Vec<Arc<Headers>> = (0..5)
            .map(|i| {
                Arc::new(Headers::new(HeaderFields {
                    method: if i == 4 { "HEAD" } else { "GET" },
                    user_agent: &format!("Mozilla/5.0 agent {i}"),
                    referer: if i == 2 { "https://example.org/" } else { "" },
                    requested_with: "",
                    purpose: if i == 3 { "prefetch" } else { "" },
                    accept_language: "en",
                }))
            })
            .collect();
        (0..n)
            .map(|i| {
                let mut c = other_request(i as u32 % 2, i as u64 + 1, "");
                // Mostly climbing, now and then back (lines are logged as requests end).
                c.event.time_ms = 1_700_000_000_000 + i as i64 * 1_234 - (i % 3) as i64 * 5_000;
                c.event.status = [200, 302, 404][i % 3];
                c.event.client = if i % 7 == 0 {
                    format!("2001:db8::{:x}", i).parse().unwrap()
                } else {
                    format!("192.0.{}.{}", i % 200, i % 250).parse().unwrap()
                };
                c.event.row = (i % 5 != 0).then_some(i % 3);
                if i % 4 == 0 && !known.is_empty() {
                    c.event.target = TargetText::Known((i % known.len()) as u32);
                } else if i % 4 == 1 {
                    c.event.target = TargetText::Own {
                        token: format!("forged{i}").into(),
                        uri: format!("/c/forged{i}").into(),
                    };
                }
                // Every 10th row an agent of its own, long enough to fill a small dictionary.
                c.event.headers = if i % 10 == 9 {
                    Arc::new(Headers::new(HeaderFields {
                        method: "GET",
                        user_agent: &format!("scanner {i} {}", "x".repeat(i % 300)),
                        referer: "=cmd|' /C calc'!A0",
                        requested_with: "",
                        purpose: "",
                        accept_language: "",
                    }))
                } else {
                    shared[i % shared.len()].clone()
                };
                if i % 6 == 0 {
                    c.verdict.reason = format!("address {} is in a test network", i % 40).into();
                }
                c
            })
            .collect()
    }

    /// Each event's `events.parquet` row, as the parquet crate's own reader reads it, is its
    /// `events.csv` row: every cell the same text (with the CSV's formula guard applied), the
    /// time the same instant; over many row groups and pages, dictionaries that fill up and
    /// start over, and columns that go plain.
    #[test]
    fn each_row_reads_back_as_its_csv_row() {
        use crate::token::{KeyRing, SecretKey, TokenKind};
        let keys = KeyRing::single(SecretKey::new(1, [3; 32]));
        let rows: Vec<ManifestRow> = (0..3)
            .map(|i| {
                let kind = if i == 0 {
                    TokenKind::Open
                } else {
                    TokenKind::Click
                };
                ManifestRow {
                    campaign: format!("campaign-{}", i % 2),
                    recipient: format!("person{i}@example.com"),
                    label: format!("link {i}"),
                    target: format!("https://example.com/{i}?for=person{i}@example.com"),
                    ..ManifestRow::example(kind, &crate::token::mint(kind, keys.active(), None))
                }
            })
            .collect();
        let manifest = Manifest::new(rows);
        let known = KnownTargets::new(&manifest, &keys, "/t");
        let names = ["access.log".to_string(), "access.log.1".to_string()];
        let batch = events(&known, 5_000);
        let layout = Layout {
            row_group_rows: 1_200,
            // Pages of more than two DELTA_BINARY_PACKED blocks, the last one partial.
            page_rows: 300,
            dictionary_limit: 3_000,
        };
        for privacy in [
            Privacy::default(),
            Privacy {
                anonymize_ip: true,
                recipient_detail: false,
            },
        ] {
            let dir = tempfile::tempdir().unwrap();
            let csv_path = dir.path().join("events.csv");
            let mut csv = EventsCsv::create(&csv_path, &manifest, &known, privacy, &names).unwrap();
            csv.write_batch(&batch).unwrap();
            csv.finish().unwrap();
            let pq_path = dir.path().join("events.parquet");
            let mut pq =
                EventsParquet::create_with(&pq_path, &manifest, &known, privacy, &names, layout)
                    .unwrap();
            // In uneven batches, as the export thread hands them over.
            for chunk in batch.chunks(777) {
                pq.write_batch(chunk).unwrap();
            }
            pq.finish().unwrap();

            let reader = SerializedFileReader::new(File::open(&pq_path).unwrap()).unwrap();
            let meta = reader.metadata();
            assert_eq!(meta.num_row_groups(), 5);
            // The agents' dictionary fills within a row group: its pages go from indices to
            // plain there.
            let ua = EVENTS_HEADER
                .iter()
                .position(|&h| h == "user_agent")
                .unwrap();
            let mut switched = 0;
            for g in 0..meta.num_row_groups() {
                let encodings: Vec<Encoding> = reader
                    .get_row_group(g)
                    .unwrap()
                    .get_column_page_reader(ua)
                    .unwrap()
                    .map(|p| p.unwrap())
                    .filter(|p| p.page_type() == ::parquet::basic::PageType::DATA_PAGE)
                    .map(|p| p.encoding())
                    .collect();
                assert_eq!(encodings[0], Encoding::RLE_DICTIONARY, "row group {g}");
                if encodings.contains(&Encoding::PLAIN) {
                    switched += 1;
                }
            }
            assert!(switched >= 3, "{switched}");
            let csv_rows: Vec<csv::StringRecord> = csv::Reader::from_path(&csv_path)
                .unwrap()
                .records()
                .map(Result::unwrap)
                .collect();
            let mut n = 0;
            let mut text = String::new();
            for (i, row) in reader.get_row_iter(None).unwrap().enumerate() {
                let row = row.unwrap();
                let want = &csv_rows[i];
                for (j, (name, field)) in row.get_column_iter().enumerate() {
                    assert_eq!(name, EVENTS_COLUMNS[j].0);
                    let got: String = match field {
                        Field::TimestampMicros(us) => rfc3339_fast(us / 1000, &mut text).into(),
                        Field::Int(v) => v.to_string(),
                        Field::Str(s) => csv_safe(s).into_owned(),
                        other => panic!("column {name}: {other:?}"),
                    };
                    assert_eq!(got, want[j], "row {i}, column {name}");
                }
                n += 1;
            }
            assert_eq!(n, batch.len());
        }
    }

    /// Three readers written apart from this writer (DuckDB, PyArrow's Arrow C++, Polars) read
    /// a file of five row groups, 300-row pages, dictionaries that fill and start over, and the
    /// delta encodings, and find every value the parquet crate's reader finds, with the types.
    #[test]
    fn duckdb_pyarrow_and_polars_read_what_the_parquet_crate_reads() {
        use crate::token::{KeyRing, SecretKey, TokenKind};
        let python = match std::env::var_os("PXTRACK_TEST_PYTHON") {
            Some(p) if Path::new(&p).is_file() => p,
            _ => panic!(
                "PXTRACK_TEST_PYTHON is not set to a Python with duckdb, pyarrow and polars: \
                 run scripts/test, which makes target/test-venv"
            ),
        };
        let keys = KeyRing::single(SecretKey::new(1, [3; 32]));
        let rows: Vec<ManifestRow> = (0..3)
            .map(|i| ManifestRow {
                recipient: format!("person{i}@example.com"),
                ..ManifestRow::example(
                    TokenKind::Click,
                    &crate::token::mint(TokenKind::Click, keys.active(), None),
                )
            })
            .collect();
        let manifest = Manifest::new(rows);
        let known = KnownTargets::new(&manifest, &keys, "");
        let names = ["access.log".to_string(), "access.log.1".to_string()];
        let layout = Layout {
            row_group_rows: 1_200,
            page_rows: 300,
            dictionary_limit: 3_000,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.parquet");
        let mut pq = EventsParquet::create_with(
            &path,
            &manifest,
            &known,
            Privacy::default(),
            &names,
            layout,
        )
        .unwrap();
        pq.write_batch(&events(&known, 5_000)).unwrap();
        pq.finish().unwrap();
        // What the parquet crate reads, as JSON: times as microseconds, the rest as text.
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let expected: Vec<Vec<String>> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|row| {
                row.unwrap()
                    .get_column_iter()
                    .map(|(_, f)| match f {
                        Field::TimestampMicros(us) => us.to_string(),
                        Field::Int(v) => v.to_string(),
                        Field::Str(s) => s.clone(),
                        other => panic!("{other:?}"),
                    })
                    .collect()
            })
            .collect();
        std::fs::write(
            dir.path().join("expected.json"),
            serde_json::to_string(&expected).unwrap(),
        )
        .unwrap();
        let script = r#"
import json, datetime, duckdb, pyarrow.parquet as pq, polars as pl
expected = json.load(open("expected.json"))
epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
def text(v):
    if isinstance(v, datetime.datetime):
        d = v - epoch
        return str((d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds)
    return str(v)
t = pq.read_table("events.parquet")
types = {f.name: str(f.type) for f in t.schema}
assert types["time"] == "timestamp[us, tz=UTC]", types["time"]
assert types["status"] == "int32", types["status"]
assert types["user_agent"] in ("string", "large_string"), types["user_agent"]
readers = {
    "pyarrow": [[text(v) for v in r.values()] for r in t.to_pylist()],
    "polars": [[text(v) for v in r] for r in pl.read_parquet("events.parquet").iter_rows()],
    "duckdb": [[text(v) for v in r] for r in duckdb.sql("select * from 'events.parquet'").fetchall()],
}
for name, rows in readers.items():
    assert len(rows) == len(expected), (name, len(rows))
    for i, (got, want) in enumerate(zip(rows, expected)):
        assert got == want, (name, i, [(a, b) for a, b in zip(got, want) if a != b][:3])
print("read", len(expected), "rows with", ", ".join(readers))
"#;
        let out = std::process::Command::new(python)
            .current_dir(dir.path())
            .args(["-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("read 5000 rows"));
    }
}
