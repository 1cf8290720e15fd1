//! `events.csv`: one row per event, streamed as the events pass, with its columns in
//! [`EVENTS_HEADER`]. The cells that repeat across events (a manifest row's, a known target's, a
//! set of headers') are quoted once and kept; the file side is `export_file`.

use super::*;

/// Where an `events.csv` cell comes from. The cells of a [`Group`] are the same for every event
/// that shares the group's source, so they are quoted once and kept; the rest are the event's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// The request's time, RFC 3339 UTC with milliseconds.
    Time,
    /// `open`, `click` or `other`.
    Kind,
    /// `valid`, `forged`, `expired`, `unknown` or `none`.
    TokenStatus,
    /// The manifest row's campaign ([`Group::Row`]).
    Campaign,
    /// The manifest row's recipient, empty when `recipient_detail` is off ([`Group::Row`]).
    Recipient,
    /// The manifest row's label ([`Group::Row`]).
    Label,
    /// The class.
    Class,
    /// The class's detail.
    Detail,
    /// The request method ([`Group::Headers`]).
    Method,
    /// nginx's response status.
    Status,
    /// The client address, as the privacy settings allow.
    Ip,
    /// `User-Agent` ([`Group::Headers`]).
    UserAgent,
    /// Why the class.
    Reason,
    /// The manifest row's click target ([`Group::Row`]).
    Target,
    /// The request target ([`Group::Request`]).
    Uri,
    /// `Referer` ([`Group::Headers`]).
    Referer,
    /// `X-Requested-With` ([`Group::Headers`]).
    RequestedWith,
    /// `Sec-Purpose` or `Purpose` ([`Group::Headers`]).
    Purpose,
    /// `Accept-Language` ([`Group::Headers`]).
    AcceptLanguage,
    /// The token text in the request ([`Group::Request`]).
    Token,
    /// `file:line` the event was read from.
    Source,
}

/// Cells that many events share, kept quoted per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Per manifest row.
    Row,
    /// Per distinct set of headers.
    Headers,
    /// Per request target and token.
    Request,
}

impl Cell {
    /// The group whose cache holds this cell, if any.
    pub const fn group(self) -> Option<Group> {
        match self {
            Cell::Campaign | Cell::Recipient | Cell::Label | Cell::Target => Some(Group::Row),
            Cell::Method
            | Cell::UserAgent
            | Cell::Referer
            | Cell::RequestedWith
            | Cell::Purpose
            | Cell::AcceptLanguage => Some(Group::Headers),
            Cell::Uri | Cell::Token => Some(Group::Request),
            _ => None,
        }
    }
}

/// `events.csv`'s columns, in order: the header is their names, every row their cells. The first
/// twelve are the contract; more may be added at the end (and only there).
pub const EVENTS_COLUMNS: [(&str, Cell); 21] = [
    ("time", Cell::Time),
    ("kind", Cell::Kind),
    ("token_status", Cell::TokenStatus),
    ("campaign", Cell::Campaign),
    ("recipient", Cell::Recipient),
    ("label", Cell::Label),
    ("class", Cell::Class),
    ("detail", Cell::Detail),
    ("method", Cell::Method),
    ("status", Cell::Status),
    ("ip", Cell::Ip),
    ("user_agent", Cell::UserAgent),
    ("reason", Cell::Reason),
    ("target", Cell::Target),
    ("uri", Cell::Uri),
    ("referer", Cell::Referer),
    ("requested_with", Cell::RequestedWith),
    ("purpose", Cell::Purpose),
    ("accept_language", Cell::AcceptLanguage),
    ("token", Cell::Token),
    ("source", Cell::Source),
];

/// `events.csv`'s header: the names in [`EVENTS_COLUMNS`].
pub const EVENTS_HEADER: [&str; 21] = {
    let mut names = [""; 21];
    let mut i = 0;
    while i < names.len() {
        names[i] = EVENTS_COLUMNS[i].0;
        i += 1;
    }
    names
};

/// The most runs (stretches of neighbouring columns) one group's cells fall into.
const MAX_RUNS: usize = 3;

/// What a row writes, in order: an event's own cell, or a run of one group's kept cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Own(Cell),
    Run(Group, usize),
}

/// How [`EVENTS_COLUMNS`] is written: the steps of a row, and per group the cells of each run
/// (the order in which its cache keeps them).
#[derive(Debug)]
struct Plan {
    steps: Vec<Step>,
    /// Per group (`Row`, `Headers`, `Request`): its runs' cells.
    runs: [Vec<Vec<Cell>>; 3],
    /// Per group and run: the cells of an event without that group's source (no manifest row):
    /// one comma per cell.
    empty: [Vec<Vec<u8>>; 3],
}

fn group_index(g: Group) -> usize {
    match g {
        Group::Row => 0,
        Group::Headers => 1,
        Group::Request => 2,
    }
}

impl Plan {
    fn new() -> Self {
        let mut steps: Vec<Step> = Vec::new();
        let mut runs: [Vec<Vec<Cell>>; 3] = Default::default();
        for (_, cell) in EVENTS_COLUMNS {
            match cell.group() {
                None => steps.push(Step::Own(cell)),
                Some(g) => {
                    let gi = group_index(g);
                    match steps.last() {
                        Some(Step::Run(last, r)) if *last == g => runs[gi][*r].push(cell),
                        _ => {
                            steps.push(Step::Run(g, runs[gi].len()));
                            runs[gi].push(vec![cell]);
                        }
                    }
                }
            }
        }
        assert!(
            runs.iter().all(|r| r.len() <= MAX_RUNS),
            "a group's cells fall into more than {MAX_RUNS} runs"
        );
        let empty = runs
            .clone()
            .map(|g| g.iter().map(|run| vec![b','; run.len()]).collect());
        Plan { steps, runs, empty }
    }

    /// Writes a group's cells, run by run, each cell with its comma; returns where each run ends.
    fn fill<'t>(
        &self,
        group: Group,
        bytes: &mut Vec<u8>,
        text: impl Fn(Cell) -> &'t str,
    ) -> [u32; MAX_RUNS] {
        let mut ends = [0u32; MAX_RUNS];
        for (r, run) in self.runs[group_index(group)].iter().enumerate() {
            for &cell in run {
                push_csv_cell(bytes, text(cell));
                bytes.push(b',');
            }
            ends[r] = u32::try_from(bytes.len()).expect("kept under 4 GiB");
        }
        ends
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
    /// The cells of each [`Headers`] met, by its address (the map holds the `Arc`, so an address
    /// is not reused for other headers while it is here).
    header_cells: foldhash::HashMap<usize, (Arc<Headers>, HeaderCells)>,
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
    fn get(
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
fn csv_cell(out: &mut Vec<u8>, text: &str) {
    push_csv_cell(out, text);
    out.push(b',');
}

/// Appends a cell pxtrack wrote itself (no quoting, no guard) and its comma.
fn plain_cell(out: &mut Vec<u8>, text: &str) {
    push_plain_cell(out, text);
    out.push(b',');
}

/// Run `r` of the cells at `span` in `bytes` (runs a group does not have are empty).
fn run_of<'b>(bytes: &'b [u8], span: &[u32; MAX_RUNS + 1], r: usize) -> &'b [u8] {
    let start = span[r] as usize;
    let end = (span[r + 1] as usize).max(start);
    &bytes[start..end]
}

/// The `events.csv` cells of one [`Headers`], quoted and made safe once. Every hit from one
/// client shares its headers (the benchmark log has 19 combinations for ten million lines), and
/// scanning a hundred-byte user agent for characters to quote on every row would be the
/// writer's largest cost after waiting for memory.
pub(crate) struct HeaderCells {
    bytes: Box<[u8]>,
    /// 0, then where each run ends.
    span: [u32; MAX_RUNS + 1],
}

impl HeaderCells {
    fn new(plan: &Plan, h: &Headers) -> Self {
        let mut bytes = Vec::new();
        let ends = plan.fill(Group::Headers, &mut bytes, |cell| match cell {
            Cell::Method => h.method(),
            Cell::UserAgent => h.user_agent(),
            Cell::Referer => h.referer(),
            Cell::RequestedWith => h.requested_with(),
            Cell::Purpose => h.purpose(),
            Cell::AcceptLanguage => h.accept_language(),
            _ => unreachable!("a header cell"),
        });
        let mut span = [0; MAX_RUNS + 1];
        span[1..].copy_from_slice(&ends);
        HeaderCells {
            bytes: bytes.into(),
            span,
        }
    }
}

/// A manifest row's text for one of its cells.
fn row_text(row: &ManifestRow, privacy: Privacy, cell: Cell) -> &str {
    match cell {
        Cell::Campaign => &row.campaign,
        Cell::Recipient if privacy.recipient_detail => &row.recipient,
        Cell::Recipient => "",
        Cell::Label => &row.label,
        Cell::Target => &row.target,
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
        let (_, headers) = self
            .header_cells
            .entry(Arc::as_ptr(&ev.headers) as usize)
            .or_insert_with(|| (ev.headers.clone(), HeaderCells::new(plan, &ev.headers)));
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
                    Cell::Ip if self.privacy.anonymize_ip => {
                        plain_cell(out, &self.privacy.show_ip(ev.client));
                    }
                    Cell::Ip => {
                        push_ip(out, ev.client);
                        out.push(b',');
                    }
                    Cell::Reason => csv_cell(out, &c.verdict.reason),
                    Cell::Source => {
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
    /// ([`CellTable`]), its headers and reason. With 80,000 tokens they are rarely in cache, and
    /// waiting for them one at a time would be most of this thread's time. So the rows a few places
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
