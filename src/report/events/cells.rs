//! The cells `events.csv` keeps quoted between rows (a manifest row's, a known target's, a set of
//! headers'), and the writers of the cells pxtrack formats itself (times, statuses, addresses).

use super::*;
use std::borrow::Cow;

/// `events.csv` cells of one [`Group`] quoted and made safe once per key (a manifest row, a known
/// target), side by side in one buffer, with where each of the group's runs ends. Each cell ends
/// with its comma.
///
/// Read from the manifest, a row's cells would be five places in memory (the row and its four
/// strings), rarely in cache with tens of thousands of tokens; here they are one or two cache
/// lines, and their text is not scanned for characters to quote again. Keys are added as
/// events meet them, so a large manifest over a small log costs only its index.
pub(crate) struct CellTable {
    bytes: Vec<u8>,
    /// Per key: where its cells start in `bytes`, then where each run ends; all 0 until the key
    /// is met.
    spans: Vec<[u32; MAX_RUNS + 1]>,
}

impl CellTable {
    pub(crate) fn new(keys: usize) -> Self {
        CellTable {
            bytes: Vec::new(),
            spans: vec![[0; MAX_RUNS + 1]; keys],
        }
    }

    /// The cells of key `k` and where its runs start and end; `fill` writes them when `k` is new
    /// and says where each run ends.
    pub(crate) fn get(
        &mut self,
        k: usize,
        fill: impl FnOnce(&mut Vec<u8>) -> [u32; MAX_RUNS],
    ) -> (&[u8], [u32; MAX_RUNS + 1]) {
        if self.spans[k][1] == 0 {
            // Offsets are 32 bits: past 2 GiB of cells (a manifest of tens of millions of
            // rows), start over, so that the next key's cells still end below 4 GiB.
            if self.bytes.len() > (u32::MAX as usize) / 2 {
                self.bytes.clear();
                self.spans.fill([0; MAX_RUNS + 1]);
            }
            let start = u32::try_from(self.bytes.len()).expect("kept under 4 GiB above");
            let ends = fill(&mut self.bytes);
            let mut span = [start; MAX_RUNS + 1];
            span[1..].copy_from_slice(&ends);
            self.spans[k] = span;
        }
        (&self.bytes, self.spans[k])
    }

    /// Asks for key `k`'s place in the buffer to be brought into cache.
    pub(crate) fn prefetch_span(&self, k: usize) {
        if let Some(span) = self.spans.get(k) {
            prefetch(span);
        }
    }

    /// Asks for key `k`'s cells to be brought into cache, once its place is.
    pub(crate) fn prefetch_cells(&self, k: usize) {
        if let Some(&[start, end, ..]) = self.spans.get(k)
            && end > 0
        {
            let cells = self.bytes.as_ptr().wrapping_add(start as usize);
            prefetch(cells);
            prefetch(cells.wrapping_add(64));
        }
    }
}

/// Appends a cell and its comma, quoted and guarded.
pub(crate) fn csv_cell(out: &mut Vec<u8>, text: &str) {
    push_csv_cell(out, text);
    out.push(b',');
}

/// Appends a cell pxtrack wrote itself (no quoting, no guard) and its comma.
pub(crate) fn plain_cell(out: &mut Vec<u8>, text: &str) {
    push_plain_cell(out, text);
    out.push(b',');
}

/// Run `r` of the cells at `span` in `bytes` (runs a group does not have are empty).
pub(crate) fn run_of<'b>(bytes: &'b [u8], span: &[u32; MAX_RUNS + 1], r: usize) -> &'b [u8] {
    let start = span[r] as usize;
    let end = (span[r + 1] as usize).max(start);
    &bytes[start..end]
}

/// The `events.csv` cells of one [`Headers`], quoted and made safe once. Every hit from one
/// client shares its headers (the benchmark log has 19 combinations for ten million lines), and
/// scanning a hundred-byte user agent for characters to quote on every row would be the
/// writer's largest cost after waiting for memory.
pub(crate) struct HeaderCells {
    pub(crate) bytes: Box<[u8]>,
    /// 0, then where each run ends.
    pub(crate) span: [u32; MAX_RUNS + 1],
}

impl HeaderCells {
    pub(crate) fn new(plan: &Plan, h: &Headers) -> Self {
        let mut bytes = Vec::new();
        let ends = plan.fill(Group::Headers, &mut bytes, |cell| header_text(h, cell));
        let mut span = [0; MAX_RUNS + 1];
        span[1..].copy_from_slice(&ends);
        HeaderCells {
            bytes: bytes.into(),
            span,
        }
    }
}

/// A set of headers' text for one of its cells ([`Group::Headers`]).
pub(crate) fn header_text(h: &Headers, cell: Cell) -> &str {
    match cell {
        Cell::Method => h.method(),
        Cell::UserAgent => h.user_agent(),
        Cell::Referer => h.referer(),
        Cell::RequestedWith => h.requested_with(),
        Cell::Purpose => h.purpose(),
        Cell::AcceptLanguage => h.accept_language(),
        _ => unreachable!("a header cell"),
    }
}

/// A manifest row's text for one of its cells.
pub(crate) fn row_text(row: &ManifestRow, privacy: Privacy, cell: Cell) -> Cow<'_, str> {
    match cell {
        Cell::Campaign => Cow::Borrowed(&row.campaign),
        Cell::Recipient if privacy.recipient_detail => Cow::Borrowed(&row.recipient),
        Cell::Recipient => Cow::Borrowed(""),
        Cell::Label => Cow::Borrowed(&row.label),
        Cell::Target if privacy.recipient_detail => Cow::Borrowed(&row.target),
        // Without recipient detail, a per-recipient link names nobody.
        Cell::Target => row.shared_target(),
        _ => unreachable!("a row cell"),
    }
}

/// Headers whose cells [`EventsCsv`] keeps before it starts over (they come from logs).
pub(crate) const MAX_HEADER_CELLS: usize = 4096;

/// Appends `n` in decimal, digit by digit: for the few digits of a status or an address
/// octet, a copy through `memcpy` (as from `itoa`'s buffer) costs more than the digits.
pub(crate) fn push_u16(out: &mut Vec<u8>, n: u16) {
    for div in [10_000, 1_000, 100, 10] {
        if n >= div {
            out.push(b'0' + (n / div % 10) as u8);
        }
    }
    out.push(b'0' + (n % 10) as u8);
}

/// Appends an address as `Display` writes it; IPv4, by far the most common, without the
/// formatting machinery.
pub(crate) fn push_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u16(out, octet.into());
            }
        }
        std::net::IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends the `ip` cell's text as the privacy settings allow: the address, or its network when
/// addresses are anonymized (written through `scratch`).
pub(crate) fn push_address(
    out: &mut Vec<u8>,
    privacy: Privacy,
    ip: std::net::IpAddr,
    scratch: &mut String,
) {
    if privacy.anonymize_ip {
        scratch.clear();
        privacy.push_ip(scratch, ip);
        out.extend_from_slice(scratch.as_bytes());
    } else {
        push_ip(out, ip);
    }
}

/// Appends the `time` cell and its comma: [`rfc3339_fast`], with the text up to the
/// milliseconds kept from the row before when it fell in the same second.
pub(crate) fn push_time(
    out: &mut Vec<u8>,
    ms: i64,
    prefix: &mut (i64, [u8; 20]),
    text: &mut String,
) {
    let second = ms.div_euclid(1000);
    if prefix.0 != second {
        let full = rfc3339_fast(ms, text).as_bytes();
        if full.len() != 24 {
            // A year past 9999 or before 0: no fixed width to keep.
            out.extend_from_slice(full);
            out.push(b',');
            return;
        }
        prefix.1.copy_from_slice(&full[..20]);
        prefix.0 = second;
    }
    out.extend_from_slice(&prefix.1);
    let milli = ms.rem_euclid(1000) as u16;
    out.extend_from_slice(&[
        b'0' + (milli / 100) as u8,
        b'0' + (milli / 10 % 10) as u8,
        b'0' + (milli % 10) as u8,
        b'Z',
        b',',
    ]);
}

/// Writes an event's `source` text (`file:line`) into `text`.
pub(crate) fn source_text<'t>(
    text: &'t mut String,
    file_names: &[String],
    source: crate::hit::Source,
    num: &mut itoa::Buffer,
) -> &'t str {
    text.clear();
    text.push_str(
        file_names
            .get(source.file as usize)
            .map_or("?", String::as_str),
    );
    text.push(':');
    text.push_str(num.format(source.line));
    text
}
