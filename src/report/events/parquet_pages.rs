//! The encoding half of `events.parquet`'s writer, on a thread of its own: it receives a column's
//! values a page at a time ([`PageData`]), encodes them (plain, or dictionary indices in
//! Parquet's RLE/bit-packed hybrid), compresses them with zstd, and at the end of a row group
//! writes each column chunk, its dictionary page first, through the parquet crate's page and file
//! writers, which also write the footer. What it does not do is look at a value: the fill side
//! ([`super::parquet_file`]) has already found every dictionary index.

use std::fs::File;
use std::sync::Arc;

use ::parquet::basic::{Compression, Encoding, ZstdLevel};
use ::parquet::column::page::{CompressedPage, Page, PageWriter};
use ::parquet::column::writer::ColumnCloseResult;
use ::parquet::file::metadata::ColumnChunkMetaData;
use ::parquet::file::properties::WriterProperties;
use ::parquet::file::statistics::Statistics;
use ::parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use ::parquet::schema::types::{ColumnDescPtr, TypePtr};
use bytes::Bytes;

/// zstd's level: its fastest, the writer runs beside the analysis.
const ZSTD_LEVEL: i32 = 1;

/// One page of one column's values, in row order.
pub(crate) enum PageData {
    /// `time`: microseconds since the epoch, written DELTA_BINARY_PACKED (a log's times
    /// climb by small steps: a byte or two a row instead of eight).
    Int64(Vec<i64>),
    /// `source`: the file (an index into the run's file names) and the line, written
    /// DELTA_BYTE_ARRAY (each `file:line` shares all but its last digits with the one before).
    Source(Vec<crate::hit::Source>),
    /// `status`.
    Int32(Vec<i32>),
    /// Indices into the column chunk's dictionary.
    Indices(Vec<u32>),
    /// Strings in Parquet's plain encoding (each a 4-byte little-endian length, then its bytes).
    Plain { bytes: Vec<u8>, rows: u32 },
}

/// A column chunk's dictionary: its values in the plain encoding, in index order.
pub(crate) struct Dictionary {
    pub(crate) values: Vec<u8>,
    pub(crate) count: u32,
}

/// What the fill side sends.
pub(crate) enum Message {
    /// Pages, each with its column's number.
    Pages(Vec<(usize, PageData)>),
    /// The row group of `rows` rows is complete; each column's dictionary, if it has one.
    EndGroup {
        rows: u64,
        dictionaries: Vec<Option<Dictionary>>,
    },
}

/// A column chunk being built: its compressed data pages, until the row group ends and its
/// dictionary (which must come first in the file) is known.
#[derive(Default)]
struct Chunk {
    pages: Vec<CompressedPage>,
    /// The encodings its data pages use, in the order first used.
    encodings: Vec<Encoding>,
    /// Smallest and largest value, for the integer columns (query engines prune by them).
    range: Option<(i64, i64)>,
    /// Whether the column is 32-bit (its statistics are typed).
    int32: bool,
}

/// The thread's state.
struct Encoder {
    writer: SerializedFileWriter<File>,
    file_names: Vec<String>,
    columns: Vec<ColumnDescPtr>,
    chunks: Vec<Chunk>,
    zstd: zstd::bulk::Compressor<'static>,
    scratch: Vec<u8>,
}

type Result<T> = std::result::Result<T, String>;

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs the encoder until the fill side hangs up; returns the thread's processor time.
pub(crate) fn run(
    rx: std::sync::mpsc::Receiver<Message>,
    file: File,
    schema: TypePtr,
    file_names: Vec<String>,
) -> Result<f64> {
    let props = WriterProperties::builder()
        .set_created_by(format!(
            "pxtrack {} (pages of its own, parquet-rs's file writer)",
            env!("CARGO_PKG_VERSION")
        ))
        .set_compression(compression())
        .build();
    let writer = SerializedFileWriter::new(file, schema, Arc::new(props)).map_err(text)?;
    let columns = writer.schema_descr().columns().to_vec();
    let mut e = Encoder {
        chunks: columns.iter().map(|_| Chunk::default()).collect(),
        columns,
        writer,
        file_names,
        zstd: zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(text)?,
        scratch: Vec::new(),
    };
    for message in rx {
        match message {
            Message::Pages(pages) => {
                for (c, data) in pages {
                    e.add_page(c, data)?;
                }
            }
            Message::EndGroup { rows, dictionaries } => e.end_group(rows, dictionaries)?,
        }
    }
    e.writer.into_inner().map_err(text)?;
    Ok(crate::fast::thread_cpu_secs())
}

fn compression() -> Compression {
    Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL).expect("a valid level"))
}

impl Encoder {
    fn compress(&mut self, data: &[u8]) -> Result<Bytes> {
        self.zstd.compress(data).map(Bytes::from).map_err(text)
    }

    fn add_page(&mut self, c: usize, data: PageData) -> Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let chunk = &mut self.chunks[c];
        let (num_values, encoding, statistics, raw): (usize, Encoding, Option<Statistics>, &[u8]) =
            match &data {
                PageData::Int64(values) => {
                    let (lo, hi) = range(values.iter().copied());
                    chunk.widen(lo, hi);
                    delta_binary_packed(values, &mut scratch);
                    let stats = int_statistics(lo, hi, false);
                    (
                        values.len(),
                        Encoding::DELTA_BINARY_PACKED,
                        Some(stats),
                        &scratch,
                    )
                }
                PageData::Source(sources) => {
                    delta_byte_array(sources, &self.file_names, &mut scratch);
                    (sources.len(), Encoding::DELTA_BYTE_ARRAY, None, &scratch)
                }
                PageData::Int32(values) => {
                    let (lo, hi) = range(values.iter().map(|&v| i64::from(v)));
                    chunk.widen(lo, hi);
                    chunk.int32 = true;
                    for v in values {
                        scratch.extend_from_slice(&v.to_le_bytes());
                    }
                    (
                        values.len(),
                        Encoding::PLAIN,
                        Some(int_statistics(lo, hi, true)),
                        &scratch,
                    )
                }
                PageData::Indices(indices) => {
                    encode_indices(indices, &mut scratch);
                    (indices.len(), Encoding::RLE_DICTIONARY, None, &scratch)
                }
                PageData::Plain { bytes, rows } => (*rows as usize, Encoding::PLAIN, None, bytes),
            };
        if !chunk.encodings.contains(&encoding) {
            chunk.encodings.push(encoding);
        }
        let uncompressed = raw.len();
        let buf = self.compress(raw)?;
        let page = Page::DataPage {
            buf,
            num_values: u32::try_from(num_values).expect("a page holds under 2^32 values"),
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics,
        };
        self.chunks[c]
            .pages
            .push(CompressedPage::new(page, uncompressed));
        self.scratch = scratch;
        Ok(())
    }

    fn end_group(&mut self, rows: u64, dictionaries: Vec<Option<Dictionary>>) -> Result<()> {
        let mut chunks = Vec::with_capacity(self.chunks.len());
        for (c, dictionary) in dictionaries.into_iter().enumerate() {
            let dictionary = match dictionary {
                Some(d) => Some((self.compress(&d.values)?, d)),
                None => None,
            };
            let chunk = std::mem::take(&mut self.chunks[c]);
            chunks.push(chunk.write(self.columns[c].clone(), dictionary, rows)?);
        }
        let mut group = self.writer.next_row_group().map_err(text)?;
        for (bytes, close) in chunks {
            group.append_column(&bytes, close).map_err(text)?;
        }
        group.close().map_err(text)?;
        Ok(())
    }
}

impl Chunk {
    fn widen(&mut self, lo: i64, hi: i64) {
        self.range = Some(match self.range {
            Some((a, b)) => (a.min(lo), b.max(hi)),
            None => (lo, hi),
        });
    }

    /// The chunk's bytes (dictionary page, then data pages) and what the file writer records of
    /// it; offsets are from the start of the bytes, as `append_column` expects.
    fn write(
        self,
        descr: ColumnDescPtr,
        dictionary: Option<(Bytes, Dictionary)>,
        rows: u64,
    ) -> Result<(Bytes, ColumnCloseResult)> {
        let mut sink = TrackedWrite::new(Vec::new());
        let mut pages = SerializedPageWriter::new(&mut sink);
        let (mut compressed, mut uncompressed) = (0u64, 0u64);
        let mut dictionary_offset = None;
        let mut encodings = Vec::new();
        if let Some((buf, d)) = dictionary {
            let page = Page::DictionaryPage {
                buf,
                num_values: d.count,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            let spec = pages
                .write_page(CompressedPage::new(page, d.values.len()))
                .map_err(text)?;
            dictionary_offset = Some(spec.offset as i64);
            compressed += spec.compressed_size as u64;
            uncompressed += spec.uncompressed_size as u64;
            encodings.push(Encoding::PLAIN);
        }
        for e in self.encodings {
            if !encodings.contains(&e) {
                encodings.push(e);
            }
        }
        let mut data_offset = None;
        for page in self.pages {
            let spec = pages.write_page(page).map_err(text)?;
            data_offset.get_or_insert(spec.offset as i64);
            compressed += spec.compressed_size as u64;
            uncompressed += spec.uncompressed_size as u64;
        }
        pages.close().map_err(text)?;
        let bytes = Bytes::from(sink.into_inner().map_err(text)?);
        let mut meta = ColumnChunkMetaData::builder(descr)
            .set_compression(compression())
            .set_encodings(encodings)
            .set_num_values(rows as i64)
            .set_total_compressed_size(compressed as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_data_page_offset(data_offset.ok_or("a row group without rows")?)
            .set_dictionary_page_offset(dictionary_offset);
        if let Some((lo, hi)) = self.range {
            meta = meta.set_statistics(int_statistics(lo, hi, self.int32));
        }
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows,
            metadata: meta.build().map_err(text)?,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        };
        Ok((bytes, close))
    }
}

/// Min/max statistics of an integer column or page, typed as the column is; no nulls.
fn int_statistics(lo: i64, hi: i64, int32: bool) -> Statistics {
    if int32 {
        // The values were i32: so are their extremes.
        Statistics::new(Some(lo as i32), Some(hi as i32), None, Some(0), false)
    } else {
        Statistics::new(Some(lo), Some(hi), None, Some(0), false)
    }
}

fn range(values: impl Iterator<Item = i64>) -> (i64, i64) {
    values.fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// A dictionary data page's body: the indices' bit width in one byte, then the indices in the
/// RLE/bit-packed hybrid encoding. Runs of at least [`MIN_REPEAT`] equal indices are one RLE
/// run (a header and the value); the rest is bit-packed, eight values at a time.
pub(crate) fn encode_indices(indices: &[u32], out: &mut Vec<u8>) {
    let max = indices.iter().copied().max().unwrap_or(0);
    // Width 0 is legal for a dictionary of one, but not every reader takes it.
    let width = (32 - max.leading_zeros()).max(1);
    out.push(width as u8);
    let mut i = 0;
    while i < indices.len() {
        let run = repeats(indices, i);
        if run >= MIN_REPEAT {
            push_varint(out, (run as u64) << 1);
            let value = indices[i].to_le_bytes();
            out.extend_from_slice(&value[..(width as usize).div_ceil(8)]);
            i += run;
            continue;
        }
        // Bit-packed groups of eight until a long run starts at a group's start: only the last
        // group of the page may be padded (a reader stops at the page's value count).
        let start = i;
        i += 8;
        while i < indices.len() && repeats_at_least(indices, i, MIN_REPEAT) < MIN_REPEAT {
            i += 8;
        }
        let end = i.min(indices.len());
        let groups = (i - start) / 8;
        push_varint(out, ((groups as u64) << 1) | 1);
        bit_pack(&indices[start..end], groups * 8, width, out);
    }
}

/// Equal indices worth an RLE run rather than bit-packing.
const MIN_REPEAT: usize = 16;

fn repeats(v: &[u32], i: usize) -> usize {
    repeats_at_least(v, i, usize::MAX)
}

/// How many values from `i` on equal `v[i]`, counting at most `cap`.
fn repeats_at_least(v: &[u32], i: usize, cap: usize) -> usize {
    let first = v[i];
    v[i..].iter().take(cap).take_while(|&&x| x == first).count()
}

/// Packs `values` at `width` bits each (up to 64), least significant bit first, padded with
/// zeros to `len` values (a multiple of eight, so that the last byte is whole).
fn bit_pack<T: Copy + Into<u64>>(values: &[T], len: usize, width: u32, out: &mut Vec<u8>) {
    if width == 0 {
        return;
    }
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    for k in 0..len {
        let v: u64 = values.get(k).map_or(0, |&v| v.into());
        acc |= u128::from(v) << bits;
        bits += width;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    debug_assert_eq!(bits, 0, "eight values of any width fill whole bytes");
}

fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Values per DELTA_BINARY_PACKED block, and miniblocks per block (the sizes other writers use).
const DELTA_BLOCK: usize = 128;
const DELTA_MINIBLOCKS: usize = 4;

/// Integers in the DELTA_BINARY_PACKED encoding: a header (block size, miniblocks per block,
/// value count, first value), then per block of 128 deltas the smallest, each miniblock's bit
/// width, and the miniblocks of (delta - smallest), bit-packed.
pub(crate) fn delta_binary_packed(values: &[i64], out: &mut Vec<u8>) {
    push_varint(out, DELTA_BLOCK as u64);
    push_varint(out, DELTA_MINIBLOCKS as u64);
    push_varint(out, values.len() as u64);
    let Some((&first, rest)) = values.split_first() else {
        push_varint(out, 0);
        return;
    };
    push_varint(out, zigzag(first));
    let mut previous = first;
    let mut block = [0i64; DELTA_BLOCK];
    let mut len = 0;
    for &v in rest {
        block[len] = v.wrapping_sub(previous);
        previous = v;
        len += 1;
        if len == DELTA_BLOCK {
            delta_block(&block[..len], out);
            len = 0;
        }
    }
    if len > 0 {
        delta_block(&block[..len], out);
    }
}

fn delta_block(deltas: &[i64], out: &mut Vec<u8>) {
    const PER_MINIBLOCK: usize = DELTA_BLOCK / DELTA_MINIBLOCKS;
    let min = deltas.iter().copied().min().expect("a block has deltas");
    push_varint(out, zigzag(min));
    let mut offsets = [0u64; DELTA_BLOCK];
    for (o, &d) in offsets.iter_mut().zip(deltas) {
        *o = d.wrapping_sub(min) as u64;
    }
    let offsets = &offsets[..deltas.len()];
    // Miniblocks without values (in the last block) are given width 0.
    let mut widths = [0u32; DELTA_MINIBLOCKS];
    for (w, part) in widths.iter_mut().zip(offsets.chunks(PER_MINIBLOCK)) {
        *w = 64 - part.iter().copied().max().unwrap_or(0).leading_zeros();
    }
    out.extend(widths.iter().map(|&w| w as u8));
    // Only the miniblocks that hold values are written; the last is padded to its full size.
    for (part, &width) in offsets.chunks(PER_MINIBLOCK).zip(&widths) {
        bit_pack(part, PER_MINIBLOCK, width, out);
    }
}

/// Strings in the DELTA_BYTE_ARRAY encoding, each `file:line`: the lengths of the prefixes
/// each shares with the one before and the lengths of the rest (both DELTA_BINARY_PACKED),
/// then the rests, one after the other.
fn delta_byte_array(sources: &[crate::hit::Source], file_names: &[String], out: &mut Vec<u8>) {
    let (mut previous, mut current) = (String::new(), String::new());
    let mut prefixes = Vec::with_capacity(sources.len());
    let mut suffix_lens = Vec::with_capacity(sources.len());
    let mut suffixes = Vec::new();
    let mut num = itoa::Buffer::new();
    for &source in sources {
        let text = super::cells::source_text(&mut current, file_names, source, &mut num).as_bytes();
        let shared = previous
            .as_bytes()
            .iter()
            .zip(text)
            .take_while(|(a, b)| a == b)
            .count();
        prefixes.push(shared as i64);
        suffix_lens.push((text.len() - shared) as i64);
        suffixes.extend_from_slice(&text[shared..]);
        std::mem::swap(&mut previous, &mut current);
    }
    delta_binary_packed(&prefixes, out);
    delta_binary_packed(&suffix_lens, out);
    out.extend_from_slice(&suffixes);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes what [`encode_indices`] wrote, as the format says a reader does.
    fn decode(mut data: &[u8], n: usize) -> Vec<u32> {
        let width = data[0] as u32;
        data = &data[1..];
        let mut out = Vec::new();
        while out.len() < n {
            let mut header = 0u64;
            let mut shift = 0;
            loop {
                let b = data[0];
                data = &data[1..];
                header |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    break;
                }
            }
            if header & 1 == 0 {
                let bytes = (width as usize).div_ceil(8);
                let mut v = [0u8; 4];
                v[..bytes].copy_from_slice(&data[..bytes]);
                data = &data[bytes..];
                out.extend(std::iter::repeat_n(
                    u32::from_le_bytes(v),
                    (header >> 1) as usize,
                ));
            } else {
                let count = (header >> 1) as usize * 8;
                let mut acc = 0u64;
                let mut bits = 0;
                for _ in 0..count {
                    while bits < width {
                        acc |= u64::from(data[0]) << bits;
                        data = &data[1..];
                        bits += 8;
                    }
                    out.push((acc & ((1u64 << width) - 1)) as u32);
                    acc >>= width;
                    bits -= width;
                }
            }
        }
        out.truncate(n);
        assert!(data.is_empty(), "{} bytes left over", data.len());
        out
    }

    proptest::proptest! {
        #[test]
        fn indices_decode_to_what_was_encoded(
            runs in proptest::collection::vec((0u32..70_000, 1usize..40), 0..60),
        ) {
            let values: Vec<u32> = runs
                .iter()
                .flat_map(|&(v, n)| std::iter::repeat_n(v, n))
                .collect();
            let mut out = Vec::new();
            encode_indices(&values, &mut out);
            proptest::prop_assert_eq!(decode(&out, values.len()), values);
        }
    }

    /// Decodes DELTA_BINARY_PACKED as the format says a reader does; returns the values and
    /// the bytes left.
    fn undelta(mut data: &[u8]) -> (Vec<i64>, &[u8]) {
        let varint = |data: &mut &[u8]| {
            let mut n = 0u64;
            let mut shift = 0;
            loop {
                let b = data[0];
                *data = &data[1..];
                n |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    return n;
                }
            }
        };
        let unzig = |n: u64| ((n >> 1) as i64) ^ -((n & 1) as i64);
        let block = varint(&mut data) as usize;
        let minis = varint(&mut data) as usize;
        let total = varint(&mut data) as usize;
        let mut out = vec![unzig(varint(&mut data))];
        if total == 0 {
            return (Vec::new(), data);
        }
        while out.len() < total {
            let min = unzig(varint(&mut data));
            let widths: Vec<u32> = data[..minis].iter().map(|&w| u32::from(w)).collect();
            data = &data[minis..];
            for &w in &widths {
                if out.len() >= total {
                    break;
                }
                let (mut acc, mut bits) = (0u128, 0u32);
                for _ in 0..block / minis {
                    while bits < w {
                        acc |= u128::from(data[0]) << bits;
                        data = &data[1..];
                        bits += 8;
                    }
                    let offset = (acc & ((1u128 << w) - 1)) as u64;
                    acc >>= w;
                    bits -= w;
                    if out.len() < total {
                        let previous = *out.last().expect("the first value");
                        out.push(previous.wrapping_add(min.wrapping_add(offset as i64)));
                    }
                }
            }
        }
        (out, data)
    }

    proptest::proptest! {
        #[test]
        fn delta_binary_packed_decodes_to_what_was_encoded(
            values in proptest::collection::vec(proptest::num::i64::ANY, 0..600),
            steps in proptest::collection::vec(-3_000i64..100_000, 0..600),
        ) {
            for values in [values, steps.iter().scan(0i64, |t, d| { *t += d; Some(*t) }).collect()] {
                let mut out = Vec::new();
                delta_binary_packed(&values, &mut out);
                let (decoded, rest) = undelta(&out);
                proptest::prop_assert_eq!(decoded, values);
                proptest::prop_assert!(rest.is_empty());
            }
        }
    }

    #[test]
    fn long_runs_take_a_few_bytes() {
        let mut out = Vec::new();
        encode_indices(&[3; 100_000], &mut out);
        assert!(out.len() < 8, "{}", out.len());
        assert_eq!(decode(&out, 100_000), vec![3; 100_000]);
    }
}
