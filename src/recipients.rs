//! Recipient lists as people have them: one address a line, or a spreadsheet's CSV export.
//!
//! A list is a CSV when its first line (after blank and `#` lines) has a cell named `recipient`,
//! `email` or `e-mail` (any case, spaces around it ignored); `,`, `;` and tab are tried as the
//! delimiter, since spreadsheets in many locales export `;`. A UTF-8 byte order mark (Excel's
//! "CSV UTF-8") and CRLF line ends are accepted, and quoted cells may hold the delimiter. A
//! first line with several cells and none of those names is refused, naming the cells found:
//! minting one token per *line* of a CSV would print every URL against the wrong row.
//!
//! The same recipient twice (compared without case) is kept once; [`RecipientList::dropped`]
//! counts the rest so the command layer can say so. Errors name the physical line.
//!
//! Key types: [`RecipientList`], [`Recipient`], [`ListError`].

use crate::manifest::validate_text;

/// The header names that mark the recipient column, in order of preference.
pub const COLUMN_NAMES: [&str; 3] = ["recipient", "email", "e-mail"];

/// One recipient of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The recipient as written (trimmed), usually an address.
    pub address: String,
    /// The physical line (1-based) it was read from.
    pub line: u64,
    /// Every cell of its CSV row, in the order of [`RecipientList::columns`]; empty for a plain
    /// list.
    pub fields: Vec<String>,
}

/// A parsed recipient list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientList {
    /// The CSV header's cells (trimmed); empty for a plain list.
    pub columns: Vec<String>,
    /// The recipient column's index in `columns`, for a CSV.
    pub recipient_column: Option<usize>,
    /// The recipients, first occurrence of each, in the file's order.
    pub recipients: Vec<Recipient>,
    /// How many later occurrences of a recipient already listed were dropped.
    pub dropped: u64,
    /// The first dropped recipient and its line, for the warning.
    pub first_dropped: Option<(String, u64)>,
}

/// Why a list was refused: the physical line (1-based; 0 for the file as a whole) and what was
/// expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListError {
    /// The line at fault, or 0.
    pub line: u64,
    /// What is wrong, and how to fix it.
    pub message: String,
}

impl ListError {
    fn new(line: u64, message: impl Into<String>) -> Self {
        ListError {
            line,
            message: message.into(),
        }
    }
}

/// The 1-based physical line of a record the csv crate places at byte `offset` of `text`.
fn line_at(text: &str, offset: u64) -> u64 {
    // Reading from memory cannot fail.
    crate::manifest::line_of_offset(text.as_bytes(), offset).unwrap_or(0)
}

/// Parses a recipient list (see the module docs).
pub fn parse(text: &str) -> Result<RecipientList, ListError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The first line that says something, and its byte offset.
    let mut offset = 0;
    let mut first = None;
    for raw in text.split_inclusive('\n') {
        let l = raw.trim();
        if !l.is_empty() && !l.starts_with('#') {
            first = Some((offset, raw.trim_end_matches(['\n', '\r'])));
            break;
        }
        offset += raw.len();
    }
    let Some((start, first)) = first else {
        return Ok(RecipientList::default());
    };
    for delimiter in [b',', b';', b'\t'] {
        let cells = header_cells(first, delimiter);
        if let Some(col) = recipient_column(&cells) {
            return parse_csv(text, start, delimiter, col);
        }
    }
    let cells = header_cells(first, b',');
    if cells.len() > 1 {
        return Err(ListError::new(
            line_at(text, start as u64),
            format!(
                "this looks like a CSV, but no column is named recipient, email or e-mail (found \
                 {}); name the column that holds the addresses `email` in the first line",
                cells
                    .iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    parse_lines(text)
}

/// The cells of a header line, trimmed.
fn header_cells(line: &str, delimiter: u8) -> Vec<String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(line.as_bytes());
    let mut record = csv::StringRecord::new();
    match rdr.read_record(&mut record) {
        Ok(true) => record.iter().map(|c| c.trim().to_string()).collect(),
        _ => Vec::new(),
    }
}

/// The recipient column among a header's cells: `recipient`, else `email`, else `e-mail`.
fn recipient_column(cells: &[String]) -> Option<usize> {
    COLUMN_NAMES
        .iter()
        .find_map(|name| cells.iter().position(|c| c.eq_ignore_ascii_case(name)))
}

/// Keeps the first occurrence of each recipient, compared without case.
struct Seen {
    keys: std::collections::HashSet<String>,
    list: RecipientList,
}

impl Seen {
    fn push(&mut self, r: Recipient) {
        if self.keys.insert(r.address.to_lowercase()) {
            self.list.recipients.push(r);
        } else {
            self.list.dropped += 1;
            self.list.first_dropped.get_or_insert((r.address, r.line));
        }
    }
}

fn parse_lines(text: &str) -> Result<RecipientList, ListError> {
    let mut seen = Seen {
        keys: Default::default(),
        list: RecipientList::default(),
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        let r = raw.trim();
        if r.is_empty() || r.starts_with('#') {
            continue;
        }
        validate_text("recipient", r, true).map_err(|m| ListError::new(line, m))?;
        seen.push(Recipient {
            address: r.to_string(),
            line,
            fields: Vec::new(),
        });
    }
    Ok(seen.list)
}

fn parse_csv(
    text: &str,
    start: usize,
    delimiter: u8,
    col: usize,
) -> Result<RecipientList, ListError> {
    let body = &text[start..];
    let at =
        |pos: Option<&csv::Position>| pos.map_or(0, |p| line_at(text, start as u64 + p.byte()));
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(body.as_bytes());
    let columns: Vec<String> = rdr
        .headers()
        .map_err(|e| ListError::new(at(e.position()), e.to_string()))?
        .iter()
        .map(|c| c.trim().to_string())
        .collect();
    let name = columns[col].clone();
    let mut seen = Seen {
        keys: Default::default(),
        list: RecipientList {
            columns,
            recipient_column: Some(col),
            ..Default::default()
        },
    };
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(ListError::new(at(e.position()), e.to_string())),
        }
        let line = at(record.position());
        // A spreadsheet's trailing empty rows (",,,") say nothing.
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let r = record.get(col).unwrap_or("").trim();
        if r.is_empty() {
            return Err(ListError::new(
                line,
                format!("expected a recipient in the {name:?} column, found an empty cell"),
            ));
        }
        validate_text("recipient", r, true).map_err(|m| ListError::new(line, m))?;
        seen.push(Recipient {
            address: r.to_string(),
            line,
            fields: record.iter().map(str::to_string).collect(),
        });
    }
    Ok(seen.list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(list: &RecipientList) -> Vec<&str> {
        list.recipients.iter().map(|r| r.address.as_str()).collect()
    }

    #[test]
    fn plain_lists_skip_blank_and_comment_lines() {
        let l = parse("# list\r\na@example.com\r\n\r\n b@example.com \n").unwrap();
        assert_eq!(addresses(&l), ["a@example.com", "b@example.com"]);
        assert_eq!(l.recipients[1].line, 4);
        assert!(l.columns.is_empty());
    }

    #[test]
    fn a_csv_header_names_the_column_in_any_case_with_a_bom_and_crlf() {
        let l = parse("\u{feff}name, Email ,company\r\nAna,a@example.com,\"X, Inc\"\r\n").unwrap();
        assert_eq!(addresses(&l), ["a@example.com"]);
        assert_eq!(l.columns, ["name", "Email", "company"]);
        assert_eq!(l.recipients[0].fields, ["Ana", "a@example.com", "X, Inc"]);
        assert_eq!(l.recipients[0].line, 2);
        let l = parse("E-Mail;Name\nb@example.com;Bo\n").unwrap();
        assert_eq!(addresses(&l), ["b@example.com"]);
        let l = parse("email\tname\nc@example.com\tCy\n").unwrap();
        assert_eq!(addresses(&l), ["c@example.com"]);
        // `recipient` wins over `email`.
        let l = parse("email,recipient\nx@example.com,id-7\n").unwrap();
        assert_eq!(addresses(&l), ["id-7"]);
    }

    #[test]
    fn a_csv_without_a_recipient_column_is_refused_with_its_columns() {
        let e = parse("name,mail\nAna,a@example.com\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("\"name\", \"mail\""), "{}", e.message);
    }

    #[test]
    fn duplicates_are_dropped_without_case_and_counted() {
        let l =
            parse("email\na@example.com\nA@Example.com\nb@example.com\na@example.com\n").unwrap();
        assert_eq!(addresses(&l), ["a@example.com", "b@example.com"]);
        assert_eq!(l.dropped, 2);
        assert_eq!(l.first_dropped, Some(("A@Example.com".into(), 3)));
    }

    #[test]
    fn errors_name_the_physical_line_across_crlf_and_quoted_line_breaks() {
        let e = parse("email,note\r\na@example.com,\"two\r\nlines\"\r\n,x\r\n").unwrap_err();
        assert_eq!(e.line, 4, "{e:?}");
        let e = parse("recipient\na\n\u{1b}[31m\n").unwrap_err();
        assert_eq!(e.line, 3);
        // Empty rows of a spreadsheet are skipped.
        assert_eq!(
            parse("email,name\na@x.org,A\n,\n")
                .unwrap()
                .recipients
                .len(),
            1
        );
    }
}
