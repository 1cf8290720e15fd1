//! `events.csv`'s columns as one table ([`EVENTS_COLUMNS`]): each column's name and where its
//! cell comes from. The writer compiles the table once into a [`Plan`]: the steps of a row, and
//! for each group of cells that many events share, the runs its cache keeps.

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
    /// `Sec-Purpose`, else `Purpose`, `X-Purpose` or `X-Moz` ([`Group::Headers`]).
    Purpose,
    /// `Accept-Language` ([`Group::Headers`]).
    AcceptLanguage,
    /// The token text in the request ([`Group::Request`]).
    Token,
    /// `file:line` the event was read from.
    Source,
    /// `certain` or `probable`: how sure the class is.
    Certainty,
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
pub const EVENTS_COLUMNS: [(&str, Cell); 22] = [
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
    ("certainty", Cell::Certainty),
];

/// `events.csv`'s header: the names in [`EVENTS_COLUMNS`].
pub const EVENTS_HEADER: [&str; EVENTS_COLUMNS.len()] = {
    let mut names = [""; EVENTS_COLUMNS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = EVENTS_COLUMNS[i].0;
        i += 1;
    }
    names
};

/// The most runs (stretches of neighbouring columns) one group's cells fall into.
pub(crate) const MAX_RUNS: usize = 3;

/// What a row writes, in order: an event's own cell, or a run of one group's kept cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Own(Cell),
    Run(Group, usize),
}

/// How [`EVENTS_COLUMNS`] is written: the steps of a row, and per group the cells of each run
/// (the order in which its cache keeps them).
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
    /// Per group (`Row`, `Headers`, `Request`): its runs' cells.
    pub(crate) runs: [Vec<Vec<Cell>>; 3],
    /// Per group and run: the cells of an event without that group's source (no manifest row):
    /// one comma per cell.
    pub(crate) empty: [Vec<Vec<u8>>; 3],
}

pub(crate) fn group_index(g: Group) -> usize {
    match g {
        Group::Row => 0,
        Group::Headers => 1,
        Group::Request => 2,
    }
}

impl Plan {
    pub(crate) fn new() -> Self {
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
    pub(crate) fn fill<T: AsRef<str>>(
        &self,
        group: Group,
        bytes: &mut Vec<u8>,
        text: impl Fn(Cell) -> T,
    ) -> [u32; MAX_RUNS] {
        let mut ends = [0u32; MAX_RUNS];
        for (r, run) in self.runs[group_index(group)].iter().enumerate() {
            for &cell in run {
                push_csv_cell(bytes, text(cell).as_ref());
                bytes.push(b',');
            }
            ends[r] = u32::try_from(bytes.len()).expect("kept under 4 GiB");
        }
        ends
    }
}
