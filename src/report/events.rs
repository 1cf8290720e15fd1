//! `events.csv`: one row per event, streamed as the events pass, with its columns in
//! [`EVENTS_HEADER`]. The cells that repeat across events (a manifest row's, a known target's, a
//! set of headers') are quoted once and kept; the file side is `export_file`.

use super::*;

/// `events.csv` columns, in order. The first twelve are the contract; more may be added at the end.
pub const EVENTS_HEADER: [&str; 21] = [
    "time",
    "kind",
    "token_status",
    "campaign",
    "recipient",
    "label",
    "class",
    "detail",
    "method",
    "status",
    "ip",
    "user_agent",
    "reason",
    "target",
    "uri",
    "referer",
    "requested_with",
    "purpose",
    "accept_language",
    "token",
    "source",
];

/// `events.csv`, written one row at a time as the events stream past, so that a log of any
/// length is exported without being held in memory.
///
/// This is the one CSV file written without the csv crate: it is the largest output, and the
/// crate's field-by-field writer was most of the thread that writes it. Cells are written as
/// the crate writes them (quoted when they hold a comma, a quote, CR or LF; quotes doubled), a
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
    /// The cells of each [`Headers`] met, by its address (the map holds the `Arc`, so an address
    /// is not reused for other headers while it is here).
    header_cells: foldhash::HashMap<usize, (Arc<Headers>, HeaderCells)>,
    /// The cells of each manifest row met.
    row_cells: CellTable,
    /// The request target and token cells of each known target met.
    known_cells: CellTable,
    /// The same cells of an event whose texts are its own.
    own_cells: Vec<u8>,
    /// Per log file: the start of its `source` cells (`name:`, guarded), when its name needs
    /// no quoting, so a row writes only the line number after it.
    source_prefixes: Vec<Option<Box<[u8]>>>,
    /// The second of the last row's time and its text up to the milliseconds
    /// (`YYYY-MM-DDTHH:MM:SS.`): a log has several requests a second.
    time_prefix: (i64, [u8; 20]),
}

/// `events.csv` cells quoted and made safe once per key, two groups of cells per key, side by
/// side in one buffer. Keyed by manifest row: campaign, recipient and label, then the target;
/// by known target ([`KnownTargets`]): the request target, then the token. Each cell ends with
/// its comma.
///
/// Read from the manifest, a row's cells were five places in memory (the row and its four
/// strings), rarely in cache with tens of thousands of tokens; here they are one or two cache
/// lines, and their text is not scanned for characters to quote again. Keys are added as
/// events meet them, so a large manifest over a small log costs only its index.
pub(crate) struct CellTable {
    bytes: Vec<u8>,
    /// Per key: where its cells start in `bytes`, where its second group starts, and where
    /// they end; all 0 until the key is met.
    spans: Vec<[u32; 3]>,
}

impl CellTable {
    pub(crate) fn new(keys: usize) -> Self {
        CellTable {
            bytes: Vec::new(),
            spans: vec![[0; 3]; keys],
        }
    }

    /// The two groups of cells of key `k`; `fill` writes them when `k` is new and says where
    /// the second starts.
    pub(crate) fn get(
        &mut self,
        k: usize,
        fill: impl FnOnce(&mut Vec<u8>) -> usize,
    ) -> (&[u8], &[u8]) {
        if self.spans[k][2] == 0 {
            // Offsets are 32 bits: past 2 GiB of cells (a manifest of tens of millions of
            // rows), start over, so that the next key's cells still end below 4 GiB.
            if self.bytes.len() > (u32::MAX as usize) / 2 {
                self.bytes.clear();
                self.spans.fill([0; 3]);
            }
            let start = self.bytes.len();
            let second = fill(&mut self.bytes);
            let at = |n: usize| u32::try_from(n).expect("kept under 4 GiB above");
            self.spans[k] = [at(start), at(second), at(self.bytes.len())];
        }
        let [start, second, end] = self.spans[k].map(|n| n as usize);
        (&self.bytes[start..second], &self.bytes[second..end])
    }

    /// Asks for key `k`'s place in the buffer to be brought into cache.
    pub(crate) fn prefetch_span(&self, k: usize) {
        if let Some(span) = self.spans.get(k) {
            prefetch(span);
        }
    }

    /// Asks for key `k`'s cells to be brought into cache, once its place is.
    pub(crate) fn prefetch_cells(&self, k: usize) {
        if let Some(&[start, _, end]) = self.spans.get(k)
            && end > 0
        {
            let cells = self.bytes.as_ptr().wrapping_add(start as usize);
            prefetch(cells);
            prefetch(cells.wrapping_add(64));
        }
    }
}

/// Writes a manifest row's cells for [`CellTable`]: campaign, recipient and label, then the
/// target.
pub(crate) fn fill_row_cells(bytes: &mut Vec<u8>, row: &ManifestRow, privacy: Privacy) -> usize {
    let recipient = if privacy.recipient_detail {
        row.recipient.as_str()
    } else {
        ""
    };
    for text in [row.campaign.as_str(), recipient, row.label.as_str()] {
        push_csv_cell(bytes, text);
        bytes.push(b',');
    }
    let target = bytes.len();
    push_csv_cell(bytes, &row.target);
    bytes.push(b',');
    target
}

/// Writes an event's request target and token cells, for [`CellTable`] or on their own.
pub(crate) fn fill_target_cells(bytes: &mut Vec<u8>, token: &str, uri: &str) -> usize {
    push_csv_cell(bytes, uri);
    bytes.push(b',');
    let token_at = bytes.len();
    push_csv_cell(bytes, token);
    bytes.push(b',');
    token_at
}

/// The `events.csv` cells of one [`Headers`], quoted and made safe once: the method, the user
/// agent, then referer, `X-Requested-With`, purpose and `Accept-Language`, each with its comma.
/// Every hit from one client shares its headers (the benchmark log has 19 combinations for ten
/// million lines), and scanning a hundred-byte user agent for characters to quote was the
/// writer's largest cost after waiting for memory.
pub(crate) struct HeaderCells {
    bytes: Box<[u8]>,
    /// Where the user agent's cell starts.
    user_agent_at: usize,
    /// Where the referer's cell starts.
    referer_at: usize,
}

impl HeaderCells {
    pub(crate) fn new(h: &Headers) -> Self {
        let mut bytes = Vec::new();
        let cell = |bytes: &mut Vec<u8>, text: &str| {
            push_csv_cell(bytes, text);
            bytes.push(b',');
        };
        cell(&mut bytes, h.method());
        let user_agent_at = bytes.len();
        cell(&mut bytes, h.user_agent());
        let referer_at = bytes.len();
        for text in [
            h.referer(),
            h.requested_with(),
            h.purpose(),
            h.accept_language(),
        ] {
            cell(&mut bytes, text);
        }
        HeaderCells {
            bytes: bytes.into(),
            user_agent_at,
            referer_at,
        }
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
            header_cells: foldhash::HashMap::default(),
            row_cells: CellTable::new(manifest.rows.len()),
            known_cells: CellTable::new(known.len()),
            own_cells: Vec::new(),
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

    /// Writes one event's row.
    pub fn write(&mut self, c: &Classified) -> Result<()> {
        let ev = &c.event;
        if self.header_cells.len() >= MAX_HEADER_CELLS {
            self.header_cells.clear();
        }
        let (_, headers) = self
            .header_cells
            .entry(Arc::as_ptr(&ev.headers) as usize)
            .or_insert_with(|| (ev.headers.clone(), HeaderCells::new(&ev.headers)));
        let (method, user_agent, rest) = (
            &headers.bytes[..headers.user_agent_at],
            &headers.bytes[headers.user_agent_at..headers.referer_at],
            &headers.bytes[headers.referer_at..],
        );
        let (manifest, privacy, known) = (self.manifest, self.privacy, self.known);
        let (row_cells, target) = match ev.row {
            Some(r) => self
                .row_cells
                .get(r, |b| fill_row_cells(b, &manifest.rows[r], privacy)),
            None => (&b",,,"[..], &b","[..]),
        };
        let (uri, token) = match &ev.target {
            &TargetText::Known(i) => self.known_cells.get(i as usize, |b| {
                let (token, uri) = known.texts(i);
                fill_target_cells(b, token, uri)
            }),
            TargetText::Own { token, uri } => {
                self.own_cells.clear();
                let at = fill_target_cells(&mut self.own_cells, token, uri);
                self.own_cells.split_at(at)
            }
        };
        let out = self.chunk.buf();
        let cell = |out: &mut Vec<u8>, v: &str| {
            push_csv_cell(out, v);
            out.push(b',');
        };
        let plain = |out: &mut Vec<u8>, v: &str| {
            push_plain_cell(out, v);
            out.push(b',');
        };
        push_time(out, ev.time_ms, &mut self.time_prefix, &mut self.text);
        plain(out, ev.kind.as_str());
        plain(out, ev.token_status.as_str());
        out.extend_from_slice(row_cells);
        plain(out, c.verdict.class.as_str());
        cell(out, &c.verdict.detail);
        out.extend_from_slice(method);
        push_u16(out, ev.status);
        out.push(b',');
        if self.privacy.anonymize_ip {
            plain(out, &self.privacy.show_ip(ev.client));
        } else {
            push_ip(out, ev.client);
            out.push(b',');
        }
        out.extend_from_slice(user_agent);
        cell(out, &c.verdict.reason);
        out.extend_from_slice(target);
        out.extend_from_slice(uri);
        out.extend_from_slice(rest);
        out.extend_from_slice(token);
        match self.source_prefixes.get(ev.source.file as usize) {
            Some(Some(prefix)) => {
                out.extend_from_slice(prefix);
                out.extend_from_slice(self.num.format(ev.source.line).as_bytes());
            }
            _ => {
                self.text.clear();
                self.text.push_str(
                    self.file_names
                        .get(ev.source.file as usize)
                        .map_or("?", String::as_str),
                );
                self.text.push(':');
                self.text.push_str(self.num.format(ev.source.line));
                push_csv_cell(out, &self.text);
            }
        }
        out.push(b'\n');
        if self.chunk.rows().len() >= FLUSH_BYTES {
            self.writer.write_blocks(&mut self.chunk)?;
        }
        Ok(())
    }

    /// Writes the rows of a batch of events, in order.
    ///
    /// A row reads texts that live apart: the manifest row's cells and the event's target's
    /// ([`CellTable`]), its headers and reason. With 80,000 tokens they are rarely in cache, and
    /// waiting for them one at a time was most of this thread's time. So the rows a few places
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

    /// A classified request for no token, from line `line` of log file `file`.
    fn other_request(file: u32, line: u64, user_agent: &str) -> Classified {
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
            },
            client: Arc::new(crate::enrich::detect("curl/8", "")),
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
        // File 4 is not in the list: `?`, as before.
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
            assert!(lines[1].ends_with(",access.log:1"));
            assert!(lines[rows as usize / 2].contains(&long));
            assert!(lines[rows as usize].ends_with(&format!(",access.log:{rows}")));
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
