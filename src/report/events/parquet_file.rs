//! `events.parquet`: the columns of `events.csv` ([`EVENTS_COLUMNS`], same names, same order),
//! typed for query engines. `time` is a UTC timestamp in microseconds (DELTA_BINARY_PACKED),
//! `status` an integer, every other column a string; the string columns whose values repeat are
//! dictionary-encoded (kind, token status, campaign, class, detail, method, label, user agent,
//! target...), `source` is DELTA_BYTE_ARRAY (each `file:line` shares all but its last digits
//! with the one before), pages are zstd-compressed, row groups hold about a million rows. The privacy switches apply exactly as
//! in the CSV; cells carry their text as it is (no spreadsheet formula guard: no spreadsheet
//! opens Parquet).
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

use std::borrow::Cow;
use std::fs::File;
use std::sync::Arc;

use ::parquet::basic::{ConvertedType, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use ::parquet::schema::types::{Type, TypePtr};

use super::parquet_pages::{self, Dictionary, Message, PageData};
use super::*;
use crate::fast::ArcMap;

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
    Source(Vec<(u32, u64)>),
    Int(Vec<i32>),
    Text(Box<TextColumn>),
}

/// "Not met yet" (or forgotten when its column's dictionary started over), in a cache of
/// dictionary indices.
const UNSET: u32 = u32::MAX;

/// A string column: its dictionary (carried over between row groups), and the current page as
/// indices into it, or as plain values once the dictionary is full (or when the column never
/// has one).
#[derive(Default)]
struct TextColumn {
    /// The values in the plain encoding, in index order.
    dictionary: Vec<u8>,
    count: u32,
    /// Where each value starts in `dictionary` (after its length), by index.
    starts: Vec<u32>,
    /// The indices, found by their value's text (kept once, in `dictionary`).
    interned: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    /// Texts that live for the whole run (`as_str` of a class, a kind...), by address.
    statics: Vec<(usize, u32)>,
    indices: Vec<u32>,
    plain: Vec<u8>,
    plain_rows: u32,
    /// The rest of this row group is plain.
    plain_mode: bool,
    /// This row group has pages of indices.
    indexed: bool,
    /// Never a dictionary: a value of its own on nearly every row (the client address).
    always_plain: bool,
    /// Pages finished before the current one (the indices before a switch to plain).
    done: Vec<PageData>,
}

impl TextColumn {
    fn new(always_plain: bool) -> Self {
        TextColumn {
            always_plain,
            plain_mode: always_plain,
            ..TextColumn::default()
        }
    }

    /// Adds a value whose index, once known, is kept in `slot` (a cache keyed by the value's
    /// source); `text` is asked for only when the slot is empty or the column is plain.
    #[inline]
    fn push_cached<'t>(
        &mut self,
        slot: &mut u32,
        limit: usize,
        text: impl FnOnce() -> Cow<'t, str>,
    ) {
        self.push_slot(slot, limit, false, text)
    }

    /// As [`TextColumn::push_cached`], for sources whose texts are theirs alone (`unique`: no
    /// other source has the same), which go into the dictionary without being looked for.
    #[inline]
    fn push_slot<'t>(
        &mut self,
        slot: &mut u32,
        limit: usize,
        unique: bool,
        text: impl FnOnce() -> Cow<'t, str>,
    ) {
        if !self.plain_mode && *slot != UNSET {
            self.indices.push(*slot);
            return;
        }
        let text = text();
        let index = match (self.plain_mode, unique) {
            (true, _) => None,
            (false, true) => self.add(&text, limit),
            (false, false) => self.intern(&text, limit),
        };
        if let Some(i) = index {
            *slot = i;
            self.indices.push(i);
            return;
        }
        self.push_plain(text.as_bytes());
    }

    /// Adds a value that lives as long as the program.
    #[inline]
    fn push_static(&mut self, text: &'static str, limit: usize) {
        let key = text.as_ptr() as usize;
        if !self.plain_mode
            && let Some(&(_, i)) = self.statics.iter().find(|&&(k, _)| k == key)
        {
            self.indices.push(i);
            return;
        }
        if self.statics.len() < 64
            && !self.plain_mode
            && let Some(i) = self.intern(text, limit)
        {
            self.statics.push((key, i));
            self.indices.push(i);
            return;
        }
        self.push_text(text, limit);
    }

    /// Adds a value found by its text.
    fn push_text(&mut self, text: &str, limit: usize) {
        if !self.plain_mode
            && let Some(i) = self.intern(text, limit)
        {
            self.indices.push(i);
            return;
        }
        self.push_plain(text.as_bytes());
    }

    /// The index of `text` in the dictionary, added when new; `None` (and the column plain
    /// from here on) when the dictionary is full.
    fn intern(&mut self, text: &str, limit: usize) -> Option<u32> {
        use std::hash::BuildHasher as _;
        let hash = self.hasher.hash_one(text.as_bytes());
        let (dictionary, starts) = (&self.dictionary, &self.starts);
        let found = self.interned.find(hash, |&i| {
            dictionary_value(dictionary, starts, i) == text.as_bytes()
        });
        if let Some(&i) = found {
            return Some(i);
        }
        let i = self.add(text, limit)?;
        let (dictionary, starts, hasher) = (&self.dictionary, &self.starts, &self.hasher);
        self.interned.insert_unique(hash, i, |&i| {
            hasher.hash_one(dictionary_value(dictionary, starts, i))
        });
        Some(i)
    }

    /// Adds `text` to the dictionary without looking for it there: for values whose source
    /// has a text of its own (a known target's token and address); `None` (and the column plain
    /// from here on) when the dictionary is full.
    fn add(&mut self, text: &str, limit: usize) -> Option<u32> {
        if self.dictionary.len() + 4 + text.len() > limit {
            self.go_plain();
            return None;
        }
        let i = self.count;
        self.count += 1;
        push_plain_value(&mut self.dictionary, text.as_bytes());
        self.starts
            .push(u32::try_from(self.dictionary.len() - text.len()).expect("under the limit"));
        Some(i)
    }

    fn go_plain(&mut self) {
        if !self.indices.is_empty() {
            self.indexed = true;
            self.done
                .push(PageData::Indices(std::mem::take(&mut self.indices)));
        }
        self.plain_mode = true;
    }

    fn push_plain(&mut self, text: &[u8]) {
        push_plain_value(&mut self.plain, text);
        self.plain_rows += 1;
    }

    /// Starts a plain value written in place; [`TextColumn::end_plain`] sets its length.
    fn start_plain(&mut self) -> usize {
        let at = self.plain.len();
        self.plain.extend_from_slice(&[0; 4]);
        at
    }

    fn end_plain(&mut self, at: usize) {
        let len = u32::try_from(self.plain.len() - at - 4).expect("a cell under 4 GiB");
        self.plain[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self.plain_rows += 1;
    }

    /// Moves the pages so far, in row order, to `out`.
    fn take_pages(&mut self, c: usize, rows: usize, out: &mut Vec<(usize, PageData)>) {
        out.extend(self.done.drain(..).map(|p| (c, p)));
        if !self.indices.is_empty() {
            self.indexed = true;
            let indices = std::mem::replace(&mut self.indices, Vec::with_capacity(rows));
            out.push((c, PageData::Indices(indices)));
        }
        if self.plain_rows > 0 {
            let capacity = self.plain.len();
            let bytes = std::mem::replace(&mut self.plain, Vec::with_capacity(capacity));
            out.push((
                c,
                PageData::Plain {
                    bytes,
                    rows: std::mem::take(&mut self.plain_rows),
                },
            ));
        }
    }

    /// The row group's dictionary, if its pages use one, and whether the column starts over.
    ///
    /// The dictionary carries over to the next row group (each row group's copy holds every
    /// value met so far, which Parquet allows), so that the values of a manifest row, a set of
    /// headers or a verdict are looked at once per run, not once per row group. When it filled
    /// up, the column starts over with an empty one (and its sources must forget their indices).
    fn end_group(&mut self) -> (Option<Dictionary>, bool) {
        let used = std::mem::take(&mut self.indexed);
        let dictionary = (used && self.count > 0).then(|| Dictionary {
            values: self.dictionary.clone(),
            count: self.count,
        });
        let start_over = self.plain_mode && !self.always_plain;
        if start_over {
            self.dictionary = Vec::new();
            self.count = 0;
            self.interned.clear();
            self.starts.clear();
            self.statics.clear();
            self.plain_mode = false;
        }
        (dictionary, start_over)
    }
}

/// Value `i` of a dictionary whose values start at `starts`.
fn dictionary_value<'d>(dictionary: &'d [u8], starts: &[u32], i: u32) -> &'d [u8] {
    let start = starts[i as usize] as usize;
    let len: [u8; 4] = dictionary[start - 4..start]
        .try_into()
        .expect("four length bytes");
    &dictionary[start..start + u32::from_le_bytes(len) as usize]
}

/// Appends a string in Parquet's plain encoding.
fn push_plain_value(out: &mut Vec<u8>, text: &[u8]) {
    let len = u32::try_from(text.len()).expect("a cell under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(text);
}

/// Per source, the dictionary indices of its cells in the current row group.
struct Slots {
    /// Per manifest row: campaign, recipient, label, target.
    rows: Vec<[u32; 4]>,
    no_row: [u32; 4],
    /// Per set of headers: method, user agent, referer, requested-with, purpose, language.
    headers: ArcMap<Headers, [u32; 6]>,
    /// Per known target: uri, token.
    known: Vec<[u32; 2]>,
    detail: TextSlots,
    reason: TextSlots,
}

/// The most entries an identity cache keeps before it starts over (its keys come from logs;
/// the values stay in the dictionary, found again by their text).
const MAX_SLOTS: usize = 1 << 16;

impl Slots {
    fn new(rows: usize, known: usize) -> Self {
        Slots {
            rows: vec![[UNSET; 4]; rows],
            no_row: [UNSET; 4],
            headers: ArcMap::default(),
            known: vec![[UNSET; 2]; known],
            detail: TextSlots::new(10),
            reason: TextSlots::new(16),
        }
    }

    /// Forgets every index of `cell`'s column (its dictionary started over).
    fn forget(&mut self, cell: Cell) {
        match cell.group() {
            Some(Group::Row) => {
                let i = row_slot(cell);
                self.no_row[i] = UNSET;
                self.rows.iter_mut().for_each(|s| s[i] = UNSET);
            }
            Some(Group::Headers) => {
                let i = header_slot(cell);
                self.headers.values_mut().for_each(|s| s[i] = UNSET);
            }
            Some(Group::Request) => {
                let i = usize::from(cell == Cell::Token);
                self.known.iter_mut().for_each(|s| s[i] = UNSET);
            }
            None if cell == Cell::Detail => self.detail.clear(),
            None if cell == Cell::Reason => self.reason.clear(),
            // The rest are found by their text.
            None => {}
        }
    }
}

/// Dictionary indices of texts found by their `Arc`'s address, in a direct-mapped table whose
/// entry for an address can be computed (and so fetched early) before it is needed: a verdict's
/// reason names the client's address for network rules, tens of thousands of texts that a hash
/// map would keep out of cache. An entry holds its `Arc`, so that no other text can take that
/// address while it is there; a text whose entry another took is found again by its value.
struct TextSlots {
    entries: Vec<Option<(Arc<str>, u32)>>,
    bits: u32,
}

impl TextSlots {
    fn new(bits: u32) -> Self {
        TextSlots {
            entries: vec![None; 1 << bits],
            bits,
        }
    }

    fn at(&self, key: &Arc<str>) -> usize {
        let address = Arc::as_ptr(key).cast::<u8>() as usize as u64;
        (address.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.bits)) as usize
    }

    /// The index kept for `key` (`UNSET` when it has none yet).
    fn slot(&mut self, key: &Arc<str>) -> &mut u32 {
        let at = self.at(key);
        let entry = &mut self.entries[at];
        match entry {
            Some((k, _)) if Arc::ptr_eq(k, key) => {}
            _ => *entry = Some((Arc::clone(key), UNSET)),
        }
        &mut entry.as_mut().expect("filled above").1
    }

    fn prefetch(&self, key: &Arc<str>) {
        prefetch(&self.entries[self.at(key)]);
    }

    fn clear(&mut self) {
        self.entries.fill(None);
    }
}

fn row_slot(cell: Cell) -> usize {
    match cell {
        Cell::Campaign => 0,
        Cell::Recipient => 1,
        Cell::Label => 2,
        _ => 3,
    }
}

fn header_slot(cell: Cell) -> usize {
    match cell {
        Cell::Method => 0,
        Cell::UserAgent => 1,
        Cell::Referer => 2,
        Cell::RequestedWith => 3,
        Cell::Purpose => 4,
        _ => 5,
    }
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
                    values.push((ev.source.file, ev.source.line));
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
                        match cell {
                            Cell::Method => h.method(),
                            Cell::UserAgent => h.user_agent(),
                            Cell::Referer => h.referer(),
                            Cell::RequestedWith => h.requested_with(),
                            Cell::Purpose => h.purpose(),
                            _ => h.accept_language(),
                        }
                        .into()
                    })
                }
                Cell::Detail => t.push_cached(detail_slot, limit, || (&*c.verdict.detail).into()),
                Cell::Reason => t.push_cached(reason_slot, limit, || (&*c.verdict.reason).into()),
                Cell::Uri | Cell::Token => {
                    let i = usize::from(cell == Cell::Token);
                    match (&mut known_slots, &ev.target) {
                        (Some(slots), TargetText::Known(k)) => {
                            let k = *k;
                            t.push_slot(&mut slots[i], limit, true, || {
                                let (token, uri) = self.known.texts(k);
                                if i == 1 { token } else { uri }.into()
                            })
                        }
                        (_, TargetText::Own { token, uri }) => {
                            t.push_text(if i == 1 { token } else { uri }, limit)
                        }
                        // A known target past the table: its texts as the CSV writes them.
                        (None, TargetText::Known(_)) => {
                            let (token, uri) = ev.texts(self.known);
                            t.push_text(if i == 1 { token } else { uri }, limit)
                        }
                    }
                }
                Cell::Ip => {
                    let at = t.start_plain();
                    if privacy.anonymize_ip {
                        self.text.clear();
                        privacy.push_ip(&mut self.text, ev.client);
                        t.plain.extend_from_slice(self.text.as_bytes());
                    } else {
                        push_ip(&mut t.plain, ev.client);
                    }
                    t.end_plain(at);
                }
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
                let at = std::ptr::from_ref(later).cast::<u8>();
                for line in 0..std::mem::size_of::<Classified>().div_ceil(64) {
                    prefetch(at.wrapping_add(line * 64));
                }
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

    /// A dictionary that fills in a row group goes plain for the rest of it, and starts over
    /// in the next; the file says so in its encodings.
    #[test]
    fn a_full_dictionary_goes_plain_then_starts_over() {
        let mut t = TextColumn::new(false);
        for i in 0..10 {
            t.push_text(&format!("value number {i}"), 60);
        }
        assert!(t.plain_mode);
        assert_eq!(t.count, 3);
        let mut pages = Vec::new();
        t.take_pages(0, 16, &mut pages);
        assert!(matches!(pages[0].1, PageData::Indices(ref v) if v == &[0, 1, 2]));
        assert!(matches!(pages[1].1, PageData::Plain { rows: 7, .. }));
        let (dictionary, start_over) = t.end_group();
        assert!(start_over && dictionary.is_some_and(|d| d.count == 3));
        assert!(!t.plain_mode && t.count == 0);
        // A dictionary that did not fill carries over, and is sent again with the next group.
        t.push_text("kept", 60);
        t.take_pages(0, 16, &mut pages);
        assert_eq!(t.end_group().0.map(|d| d.count), Some(1));
        t.push_text("kept", 60);
        t.push_text("new", 60);
        t.take_pages(0, 16, &mut pages);
        assert_eq!(t.end_group().0.map(|d| d.count), Some(2));
    }
}
