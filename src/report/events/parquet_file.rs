//! `events.parquet`: the columns of `events.csv` ([`EVENTS_COLUMNS`], same names, same order),
//! typed for query engines. `time` is a UTC timestamp in microseconds, `status` an integer, every
//! other column a string; the writer dictionary-encodes each string column (the low-cardinality
//! ones stay dictionaries: kind, token status, campaign, class, detail, method, label...), pages
//! are zstd-compressed, row groups hold about a million rows. The privacy switches apply exactly
//! as in the CSV; cells carry their text as it is (no spreadsheet formula guard: no spreadsheet
//! opens Parquet).

use std::fs::File;
use std::sync::Arc;

use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::{Compression, ZstdLevel};
use ::parquet::file::properties::{EnabledStatistics, WriterProperties};
use ::parquet::schema::types::ColumnPath;
use arrow_array::builder::{Int32Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::*;

/// Rows per row group: "about a million", a power of two.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// Rows handed to the Parquet writer at a time.
const BATCH_ROWS: usize = 64 * 1024;

/// The Arrow type of a column.
fn data_type(cell: Cell) -> DataType {
    match cell {
        Cell::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Cell::Status => DataType::Int32,
        _ => DataType::Utf8,
    }
}

/// The schema: [`EVENTS_COLUMNS`] with their types.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        EVENTS_COLUMNS
            .iter()
            .map(|&(name, cell)| Field::new(name, data_type(cell), false))
            .collect::<Vec<_>>(),
    ))
}

/// A column being filled.
enum Column {
    Time(TimestampMicrosecondBuilder),
    Int(Int32Builder),
    Text(StringBuilder),
}

/// The Parquet encoder on a thread of its own: the columns of a batch are filled on the export
/// thread while the previous batch is encoded and compressed here, so the two halves of the
/// writer's work use both cores (they were 30% and 70% of one thread).
struct Encoder {
    to_thread: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    thread: Option<std::thread::JoinHandle<std::result::Result<f64, ParquetErrorText>>>,
}

/// A Parquet error, as text (the crate's error does not cross threads by reference).
type ParquetErrorText = String;

impl Encoder {
    fn start(mut writer: ArrowWriter<File>) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(0);
        let thread = std::thread::Builder::new()
            .name("pxtrack-parquet".into())
            .spawn(move || {
                for batch in rx {
                    writer.write(&batch).map_err(|e| e.to_string())?;
                }
                writer.close().map_err(|e| e.to_string())?;
                Ok(crate::fast::thread_cpu_secs())
            })
            .expect("a thread can be started");
        Encoder {
            to_thread: Some(tx),
            thread: Some(thread),
        }
    }

    /// Hands a batch over; an error the thread met is reported here or at [`Encoder::finish`].
    fn write(&mut self, batch: RecordBatch, path: &Path) -> Result<()> {
        let sent = self.to_thread.as_ref().map(|tx| tx.send(batch));
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
    writer: Encoder,
    schema: SchemaRef,
    columns: Vec<Column>,
    rows: usize,
    manifest: &'a Manifest,
    known: &'a KnownTargets,
    privacy: Privacy,
    file_names: &'a [String],
    text: String,
    ip: Vec<u8>,
    num: itoa::Buffer,
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
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let schema = schema();
        // zstd's fastest level: the writer is one thread beside the analysis. Min/max
        // statistics are kept where a query engine prunes by them (time, status); on the string
        // columns they were a third of the writer's time, two byte comparisons per value.
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1).expect("a valid level"),
            ))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_statistics_enabled(EnabledStatistics::None);
        for name in ["time", "status"] {
            props = props
                .set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::Page);
        }
        // Columns with a value of their own on nearly every row, or one per token, gain nothing
        // from a dictionary: it would outgrow its page and fall back to plain after costing a
        // hash per value.
        for name in ["time", "source", "token", "uri", "target", "ip"] {
            props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props.build()))
            .map_err(|e| parquet_error(path, e))?;
        Ok(EventsParquet {
            writer: Encoder::start(writer),
            schema,
            columns: Self::new_columns(),
            rows: 0,
            manifest,
            known,
            privacy,
            file_names,
            text: String::new(),
            ip: Vec::with_capacity(40),
            num: itoa::Buffer::new(),
            path: path.to_path_buf(),
        })
    }

    fn new_columns() -> Vec<Column> {
        EVENTS_COLUMNS
            .iter()
            .map(|&(_, cell)| match cell {
                Cell::Time => Column::Time(
                    TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC"),
                ),
                Cell::Status => Column::Int(Int32Builder::with_capacity(BATCH_ROWS)),
                // Sized for a batch of typical cells, so that the buffers rarely grow (each
                // growth copies what is there).
                _ => {
                    let bytes = match cell {
                        Cell::UserAgent => 160,
                        Cell::Reason | Cell::Target | Cell::Uri | Cell::Referer => 80,
                        Cell::Token | Cell::Source | Cell::Recipient => 48,
                        _ => 16,
                    };
                    Column::Text(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * bytes))
                }
            })
            .collect()
    }

    /// Adds one event's row.
    pub fn write(&mut self, c: &Classified) -> Result<()> {
        let ev = &c.event;
        let row = ev.row.map(|r| &self.manifest.rows[r]);
        let (token, uri) = ev.texts(self.known);
        for (column, &(_, cell)) in self.columns.iter_mut().zip(EVENTS_COLUMNS.iter()) {
            match column {
                Column::Time(b) => b.append_value(ev.time_ms.saturating_mul(1000)),
                Column::Int(b) => b.append_value(i32::from(ev.status)),
                Column::Text(b) => {
                    let text: std::borrow::Cow<'_, str> = match cell {
                        Cell::Kind => ev.kind.as_str().into(),
                        Cell::TokenStatus => ev.token_status.as_str().into(),
                        Cell::Campaign | Cell::Recipient | Cell::Label | Cell::Target => {
                            match row {
                                Some(r) => row_text(r, self.privacy, cell),
                                None => "".into(),
                            }
                        }
                        Cell::Class => c.verdict.class.as_str().into(),
                        Cell::Detail => (&*c.verdict.detail).into(),
                        Cell::Method => ev.headers.method().into(),
                        Cell::Ip if self.privacy.anonymize_ip => {
                            self.text.clear();
                            self.privacy.push_ip(&mut self.text, ev.client);
                            self.text.as_str().into()
                        }
                        Cell::Ip => {
                            // As events.csv writes it, without the formatting machinery.
                            self.ip.clear();
                            push_ip(&mut self.ip, ev.client);
                            std::str::from_utf8(&self.ip).unwrap_or_default().into()
                        }
                        Cell::UserAgent => ev.headers.user_agent().into(),
                        Cell::Reason => (&*c.verdict.reason).into(),
                        Cell::Certainty => c.verdict.certainty.as_str().into(),
                        Cell::Uri => uri.into(),
                        Cell::Referer => ev.headers.referer().into(),
                        Cell::RequestedWith => ev.headers.requested_with().into(),
                        Cell::Purpose => ev.headers.purpose().into(),
                        Cell::AcceptLanguage => ev.headers.accept_language().into(),
                        Cell::Token => token.into(),
                        Cell::Source => {
                            source_text(&mut self.text, self.file_names, ev.source, &mut self.num)
                                .into()
                        }
                        Cell::Time | Cell::Status => unreachable!("typed columns"),
                    };
                    b.append_value(&*text);
                }
            }
        }
        self.rows += 1;
        if self.rows == BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Adds the rows of a batch of events, in order.
    ///
    /// A row's texts live apart (the manifest row's strings, the headers', the reason, the
    /// known target's), and copying them was mostly waiting for them: so the structs a few rows
    /// ahead are asked for early, then the texts they point to, as the CSV writer does.
    pub fn write_batch(&mut self, batch: &[Classified]) -> Result<()> {
        const AHEAD: usize = 6;
        for (i, c) in batch.iter().enumerate() {
            if let Some(later) = batch.get(i + 2 * AHEAD) {
                let ev = &later.event;
                if let Some(r) = ev.row.and_then(|r| self.manifest.rows.get(r)) {
                    prefetch(r);
                }
                prefetch(Arc::as_ptr(&ev.headers));
                if let TargetText::Known(k) = ev.target {
                    self.known.prefetch_texts(k);
                }
            }
            if let Some(next) = batch.get(i + AHEAD) {
                let ev = &next.event;
                if let Some(r) = ev.row.and_then(|r| self.manifest.rows.get(r)) {
                    for text in [&r.campaign, &r.recipient, &r.label, &r.target] {
                        prefetch(text.as_ptr());
                    }
                }
                let h = &ev.headers;
                for text in [h.method(), h.user_agent(), h.referer(), h.accept_language()] {
                    prefetch(text.as_ptr());
                }
                prefetch(next.verdict.reason.as_ptr());
                prefetch(next.verdict.detail.as_ptr());
            }
            self.write(c)?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        // Fresh builders sized for a batch: a finished builder starts over without capacity,
        // and growing it again copies every buffer several times.
        let mut full = std::mem::replace(&mut self.columns, Self::new_columns());
        let arrays: Vec<ArrayRef> = full
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Column::Time(b) => Arc::new(b.finish()),
                    Column::Int(b) => Arc::new(b.finish()),
                    Column::Text(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .expect("columns match the schema they were made from");
        self.writer.write(batch, &self.path)?;
        self.rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer; says how many bytes the file has.
    pub fn finish(mut self) -> Result<Written> {
        self.flush_batch()?;
        let cpu_secs = self.writer.finish(&self.path)?;
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

fn parquet_error(path: &Path, e: ::parquet::errors::ParquetError) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}
