//! CSV cells, made safe: a cell a spreadsheet would run as a formula gets a leading `'`
//! ([`csv_safe`]), and [`push_csv_cell`] quotes a cell exactly as the csv crate would. Every
//! CSV the report writes goes through one of the two.

/// Makes a CSV cell safe to open in a spreadsheet: a leading `=`, `+`, `-`, `@`, tab or carriage
/// return would start a formula, so such a cell gets a leading `'`.
pub fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if starts_like_formula(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// Whether a spreadsheet would take the cell for a formula: it starts with `=`, `+`, `-`, `@`,
/// a tab or a carriage return.
pub(crate) fn starts_like_formula(cell: &str) -> bool {
    matches!(
        cell.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// Appends one CSV cell, made safe for spreadsheets by [`csv_safe`], quoted when it must be.
pub fn push_csv_cell(out: &mut Vec<u8>, cell: &str) {
    let formula = starts_like_formula(cell);
    let bytes = cell.as_bytes();
    if !needs_quotes(bytes) {
        if formula {
            out.push(b'\'');
        }
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    if formula {
        out.push(b'\'');
    }
    // Most quoted cells are user agents with a comma ("KHTML, like Gecko") and no quote:
    // memchr finds that out in a few vector steps, where splitting goes byte by byte.
    let mut rest = bytes;
    while let Some(i) = memchr::memchr(b'"', rest) {
        out.extend_from_slice(&rest[..=i]);
        out.push(b'"');
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// Whether a cell holds a byte that CSV must quote: a comma, a quote, CR or LF.
///
/// Scans 16 bytes at a time without an early exit inside a chunk, which the compiler turns into
/// vector compares; `iter().any` goes byte by byte, and this scan is most of the time spent
/// writing `events.csv` (user agents and URIs are long).
pub(crate) fn needs_quotes(bytes: &[u8]) -> bool {
    let special = |b: u8| (b == b',') | (b == b'"') | (b == b'\n') | (b == b'\r');
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |m, &b| m | special(b)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| special(b))
}

/// Appends a cell that is known to need neither quotes nor a formula guard: digits, times,
/// addresses and class names that pxtrack itself wrote.
pub(crate) fn push_plain_cell(out: &mut Vec<u8>, cell: &str) {
    debug_assert!(!needs_quotes(cell.as_bytes()));
    debug_assert!(!starts_like_formula(cell));
    out.extend_from_slice(cell.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn csv_cells_are_written_as_the_csv_crate_writes_them(
            cells in proptest::collection::vec(
                "[a-z,\"\\r\\n=+@ \\t'-]{0,12}|\\PC{0,8}|[a-z/. ]{10,40}[,\"\\n]?[a-z]{0,20}",
                1..6,
            )
        ) {
            let mut ours = Vec::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    ours.push(b',');
                }
                push_csv_cell(&mut ours, c);
            }
            ours.push(b'\n');
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(cells.iter().map(|c| csv_safe(c).into_owned())).unwrap();
            let theirs = w.into_inner().unwrap();
            // The crate writes a lone empty field as `""`; events.csv rows have 21 fields.
            if cells.len() > 1 || !cells[0].is_empty() {
                proptest::prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
            }
        }
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("+1"), "'+1");
        assert_eq!(csv_safe("-2"), "'-2");
        assert_eq!(csv_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_safe("Mozilla/5.0"), "Mozilla/5.0");
        assert_eq!(csv_safe(""), "");
    }
}
