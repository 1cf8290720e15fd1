//! The fill side's building blocks for `events.parquet` ([`super::parquet_file`]): a string
//! column's dictionary and current page ([`TextColumn`]), and the caches that find a cell's
//! dictionary index by the identity of its source ([`Slots`]: per manifest row, set of headers,
//! known target, and by address for a verdict's texts, [`TextSlots`]).

use std::borrow::Cow;
use std::sync::Arc;

use super::parquet_pages::{Dictionary, PageData};
use super::*;
use crate::fast::ArcMap;

/// "Not met yet" (or forgotten when its column's dictionary started over), in a cache of
/// dictionary indices.
pub(super) const UNSET: u32 = u32::MAX;

/// A string column: its dictionary (carried over between row groups), and the current page as
/// indices into it, or as plain values once the dictionary is full (or when the column never
/// has one).
#[derive(Default)]
pub(super) struct TextColumn {
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
    pub(super) fn new(always_plain: bool) -> Self {
        TextColumn {
            always_plain,
            plain_mode: always_plain,
            ..TextColumn::default()
        }
    }

    /// Adds a value whose index, once known, is kept in `slot` (a cache keyed by the value's
    /// source); `text` is asked for only when the slot is empty or the column is plain.
    #[inline]
    pub(super) fn push_cached<'t>(
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
    pub(super) fn push_slot<'t>(
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
    pub(super) fn push_static(&mut self, text: &'static str, limit: usize) {
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
    pub(super) fn push_text(&mut self, text: &str, limit: usize) {
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

    /// Adds a plain value that `write` appends to the page itself (no copy through a buffer).
    pub(super) fn push_plain_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let at = self.plain.len();
        self.plain.extend_from_slice(&[0; 4]);
        write(&mut self.plain);
        let len = u32::try_from(self.plain.len() - at - 4).expect("a cell under 4 GiB");
        self.plain[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self.plain_rows += 1;
    }

    /// Moves the pages so far, in row order, to `out`.
    pub(super) fn take_pages(&mut self, c: usize, rows: usize, out: &mut Vec<(usize, PageData)>) {
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
    pub(super) fn end_group(&mut self) -> (Option<Dictionary>, bool) {
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

/// Per source, the dictionary indices of its cells (kept across row groups, as the
/// dictionaries are; a column's are forgotten when its dictionary starts over).
pub(super) struct Slots {
    /// Per manifest row: campaign, recipient, label, target.
    pub(super) rows: Vec<[u32; 4]>,
    pub(super) no_row: [u32; 4],
    /// Per set of headers: method, user agent, referer, requested-with, purpose, language.
    pub(super) headers: ArcMap<Headers, [u32; 6]>,
    /// Per known target: uri, token.
    pub(super) known: Vec<[u32; 2]>,
    pub(super) detail: TextSlots,
    pub(super) reason: TextSlots,
}

/// The most entries an identity cache keeps before it starts over (its keys come from logs;
/// the values stay in the dictionary, found again by their text).
pub(super) const MAX_SLOTS: usize = 1 << 16;

impl Slots {
    pub(super) fn new(rows: usize, known: usize) -> Self {
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
    pub(super) fn forget(&mut self, cell: Cell) {
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
pub(super) struct TextSlots {
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
    pub(super) fn slot(&mut self, key: &Arc<str>) -> &mut u32 {
        let at = self.at(key);
        let entry = &mut self.entries[at];
        match entry {
            Some((k, _)) if Arc::ptr_eq(k, key) => {}
            _ => *entry = Some((Arc::clone(key), UNSET)),
        }
        &mut entry.as_mut().expect("filled above").1
    }

    pub(super) fn prefetch(&self, key: &Arc<str>) {
        prefetch(&self.entries[self.at(key)]);
    }

    fn clear(&mut self) {
        self.entries.fill(None);
    }
}

pub(super) fn row_slot(cell: Cell) -> usize {
    match cell {
        Cell::Campaign => 0,
        Cell::Recipient => 1,
        Cell::Label => 2,
        _ => 3,
    }
}

pub(super) fn header_slot(cell: Cell) -> usize {
    match cell {
        Cell::Method => 0,
        Cell::UserAgent => 1,
        Cell::Referer => 2,
        Cell::RequestedWith => 3,
        Cell::Purpose => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
