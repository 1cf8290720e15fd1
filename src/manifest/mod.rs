//! The manifest: one CSV row per minted token, the only link between an opaque token and the
//! campaign, recipient and target behind it.
//!
//! Appending never leaves a half-written file: under an exclusive lock on a sidecar lock file the
//! current manifest is copied to a temporary file in the same directory, the new rows are added,
//! the temporary file is synced and renamed over the manifest. Readers never see a partial row;
//! concurrent `mint` runs queue on the lock instead of interleaving.
//!
//! Key types: [`ManifestRow`], [`Manifest`] (an index for analysis), [`validate_target`].

mod append;

pub(crate) use append::hidden_sidecar;
pub use append::{append, create_empty, lock_beside};

use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher as _;
use std::io::{self, BufRead as _, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::{Error, Result};
use crate::token::TokenKind;

/// The manifest's header, in column order. Scripts may rely on these names.
pub const HEADER: [&str; 9] = [
    "created",
    "kind",
    "token",
    "campaign",
    "recipient",
    "label",
    "target",
    "expires",
    "message",
];

/// The header before the `message` column (pxtrack 0.1 until `rewrite`): still read, and
/// brought up to [`HEADER`] by the next append.
pub const LEGACY_HEADER: [&str; 8] = [
    "created",
    "kind",
    "token",
    "campaign",
    "recipient",
    "label",
    "target",
    "expires",
];

/// One minted token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    /// When it was minted.
    pub created: DateTime<Utc>,
    /// Open or click.
    pub kind: TokenKind,
    /// The token text as it appears in URLs.
    pub token: String,
    /// The campaign name.
    pub campaign: String,
    /// The recipient (usually an address); never in any URL.
    pub recipient: String,
    /// A free label: a link name for clicks, anything for opens.
    pub label: String,
    /// The click target; empty for opens.
    pub target: String,
    /// When the token stops being valid, if ever.
    pub expires: Option<DateTime<Utc>>,
    /// The `Message-ID` of the message the token went out in (`pxtrack rewrite`); empty for
    /// tokens minted on their own.
    pub message: String,
}

impl ManifestRow {
    /// A row for unit tests: minted at the epoch for recipient `r` of campaign `c`, with no
    /// label, no target and no expiry; change what a test needs with `..ManifestRow::example()`.
    #[cfg(test)]
    pub(crate) fn example(kind: TokenKind, token: &str) -> Self {
        ManifestRow {
            created: DateTime::UNIX_EPOCH,
            kind,
            token: token.into(),
            campaign: "c".into(),
            recipient: "r".into(),
            label: String::new(),
            target: String::new(),
            expires: None,
            message: String::new(),
        }
    }

    /// The target with its recipient written as `{recipient}` wherever the address appears in it
    /// (as written, or percent-encoded): what the per-recipient links of one message have in
    /// common (an unsubscribe URL per person), and a target that names nobody.
    pub fn shared_target(&self) -> std::borrow::Cow<'_, str> {
        let who = self.recipient.trim();
        if who.is_empty() || self.target.is_empty() {
            return std::borrow::Cow::Borrowed(&self.target);
        }
        let mut forms = vec![who.to_string()];
        let encoded: String = url::form_urlencoded::byte_serialize(who.as_bytes()).collect();
        if encoded != who {
            forms.push(encoded.clone());
            forms.push(encoded.replace('+', "%20"));
        }
        // Addresses compare without case (ASCII: the case an address's bytes may differ in).
        let contains = |hay: &str, needle: &str| {
            let (h, n) = (hay.as_bytes(), needle.as_bytes());
            h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
        };
        if !forms.iter().any(|f| contains(&self.target, f)) {
            return std::borrow::Cow::Borrowed(&self.target);
        }
        let mut out = self.target.clone();
        for f in &forms {
            // Addresses compare without case; replace every spelling found.
            loop {
                let l = out.to_ascii_lowercase();
                let Some(i) = l.find(&f.to_ascii_lowercase()) else {
                    break;
                };
                out.replace_range(i..i + f.len(), "{recipient}");
            }
        }
        std::borrow::Cow::Owned(out)
    }

    fn record(&self) -> [String; 9] {
        [
            self.created.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.kind.as_str().to_string(),
            self.token.clone(),
            self.campaign.clone(),
            self.recipient.clone(),
            self.label.clone(),
            self.target.clone(),
            self.expires
                .map(|e| e.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default(),
            self.message.clone(),
        ]
    }
}

/// Checks a campaign, recipient or label: no control characters (they would reach terminals and
/// nginx comments), and a campaign must not be empty.
pub fn validate_text(what: &str, value: &str, required: bool) -> std::result::Result<(), String> {
    if required && value.trim().is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{what} {value:?} contains the control character {c:?}"
        ));
    }
    if value.len() > 1024 {
        return Err(format!("{what} is longer than 1024 bytes"));
    }
    Ok(())
}

/// Validates a click target and returns the form that is stored and redirected to.
///
/// The target must be an absolute http(s) URL with a host and no control characters or white
/// space. Every other byte is kept as given (`$`, `;`, quotes, braces, `%`, backslashes), so the
/// redirect goes exactly where the user asked; only non-ASCII characters are percent-encoded as
/// UTF-8 (RFC 3987, section 3.1), because a `Location` header carries ASCII.
pub fn validate_target(target: &str) -> std::result::Result<String, String> {
    if let Some(c) = target.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "target URL {target:?} contains {c:?}: control characters and spaces are not allowed \
             (percent-encode a space as %20)"
        ));
    }
    if target.len() > 8192 {
        return Err("target URL is longer than 8192 bytes".into());
    }
    let mut stored = String::with_capacity(target.len());
    for c in target.chars() {
        if c.is_ascii() {
            stored.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                stored.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let lower = stored.to_ascii_lowercase();
    if let Some(hint) = crate::config::scheme_hint(&stored) {
        return Err(format!(
            "target URL {target:?} has no scheme: did you mean {hint}?"
        ));
    }
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!(
            "target URL {target:?} must be absolute and start with http:// or https://"
        ));
    }
    let authority = &stored[stored.find("://").map_or(0, |i| i + 3)..];
    if authority.is_empty() || authority.starts_with(['/', '\\', '?', '#']) {
        return Err(format!("target URL {target:?} has no host"));
    }
    let parsed =
        url::Url::parse(&stored).map_err(|e| format!("target URL {target:?} is not valid: {e}"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("target URL {target:?} has no host"));
    }
    Ok(stored)
}

/// Reads every row of a manifest. Errors name the file and the physical line (CRLF line ends
/// and quoted cells spanning lines included).
pub fn read(path: &Path) -> Result<Vec<ManifestRow>> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::io(
            path,
            io::Error::other("is a directory, not a manifest file"),
        ));
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // Errors are rare: only then is the file read again to turn a byte offset into a line.
    parse(
        io::BufReader::with_capacity(1 << 20, file),
        path,
        &|offset| {
            File::open(path)
                .ok()
                .and_then(|f| line_of_offset(f, offset).ok())
                .unwrap_or(0)
        },
    )
}

/// Reads rows from any reader; `path` names errors.
pub fn read_from(mut input: impl Read, path: &Path) -> Result<Vec<ManifestRow>> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    parse(bytes.as_slice(), path, &|offset| {
        line_of_offset(bytes.as_slice(), offset).unwrap_or(0)
    })
}

/// The 1-based physical line of a record the csv crate places at byte `offset`. After a CRLF
/// the crate starts the next record at the `\n`, so its own line count names the line before;
/// line ends at `offset` are skipped here.
pub fn line_of_offset(input: impl Read, offset: u64) -> io::Result<u64> {
    let mut lines = 1u64;
    let mut pos = 0u64;
    let mut skipping = false;
    let mut reader = io::BufReader::with_capacity(1 << 16, input);
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(lines);
        }
        let n = buf.len();
        for &b in buf {
            if pos >= offset && !skipping {
                skipping = true;
            }
            if skipping && !matches!(b, b'\r' | b'\n') {
                return Ok(lines);
            }
            if b == b'\n' {
                lines += 1;
            }
            pos += 1;
        }
        reader.consume(n);
    }
}

fn parse(input: impl Read, path: &Path, locate: &dyn Fn(u64) -> u64) -> Result<Vec<ManifestRow>> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let bad = |line: u64, message: String| Error::Manifest {
        path: path.to_path_buf(),
        line,
        message,
    };
    let at =
        |pos: Option<&csv::Position>, fallback: u64| pos.map_or(fallback, |p| locate(p.byte()));
    let headers = reader
        .headers()
        .map_err(|e| bad(at(e.position(), 1), e.to_string()))?
        .clone();
    let names: Vec<&str> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                h
            }
        })
        .collect();
    if names != HEADER && names != LEGACY_HEADER {
        return Err(bad(
            1,
            format!(
                "expected the header {:?}, found {:?}: this is not a pxtrack manifest",
                HEADER.join(","),
                names.join(",")
            ),
        ));
    }
    let columns = names.len();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { len, .. } => {
                        format!("expected {columns} cells (the header's), found {len}")
                    }
                    csv::ErrorKind::Utf8 { .. } => "expected UTF-8 text".to_string(),
                    _ => e.to_string(),
                };
                return Err(bad(at(e.position(), 0), message));
            }
        }
        // Only an error needs the line; finding it reads the file again.
        let line = || at(record.position(), 0);
        let time = |s: &str, what: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    bad(
                        line(),
                        format!("expected an RFC 3339 time in {what}, found {s:?}"),
                    )
                })
        };
        let kind = TokenKind::parse(&record[1]).ok_or_else(|| {
            bad(
                line(),
                format!(
                    "expected kind \"open\" or \"click\", found {:?}",
                    &record[1]
                ),
            )
        })?;
        let expires = match &record[7] {
            "" => None,
            s => Some(time(s, "expires")?),
        };
        rows.push(ManifestRow {
            created: time(&record[0], "created")?,
            kind,
            token: record[2].to_string(),
            campaign: record[3].to_string(),
            recipient: record[4].to_string(),
            label: record[5].to_string(),
            target: record[6].to_string(),
            expires,
            message: record.get(8).unwrap_or_default().to_string(),
        });
    }
    Ok(rows)
}

/// The manifest read for `nginx` and `analyze`: every token once. Identical rows of one token
/// (a manifest merged twice) are read once, with a warning naming both lines; rows of one token
/// that disagree are an error naming both lines, since the token cannot mean both.
pub fn load(path: &Path) -> Result<(Manifest, Vec<String>)> {
    let rows = read(path)?;
    let (manifest, duplicates) = Manifest::index(rows);
    if duplicates.is_empty() {
        return Ok((manifest, Vec::new()));
    }
    let mut wanted: Vec<usize> = duplicates.iter().flat_map(|&(a, b)| [a, b]).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let lines = row_lines(path, &wanted)?;
    let line = |i: usize| lines[wanted.binary_search(&i).expect("asked for")];
    let mut warnings = Vec::new();
    let mut drop = Vec::new();
    for &(first, later) in &duplicates {
        let (a, b) = (&manifest.rows[first], &manifest.rows[later]);
        if a == b {
            warnings.push(format!(
                "{}:{}: the same row as line {} (token {}); read once",
                path.display(),
                line(later),
                line(first),
                a.token
            ));
            drop.push(later);
        } else {
            return Err(Error::Manifest {
                path: path.to_path_buf(),
                line: line(later),
                message: format!(
                    "token {} is also on line {} with other values ({}); a token must have one \
                     row: delete the wrong one",
                    a.token,
                    line(first),
                    differences(a, b)
                ),
            });
        }
    }
    let mut rows = manifest.rows;
    drop.sort_unstable();
    for i in drop.into_iter().rev() {
        rows.remove(i);
    }
    Ok((Manifest::new(rows), warnings))
}

/// The columns in which two rows differ.
fn differences(a: &ManifestRow, b: &ManifestRow) -> String {
    let (ra, rb) = (a.record(), b.record());
    HEADER
        .iter()
        .zip(ra.iter().zip(rb.iter()))
        .filter(|(_, (x, y))| x != y)
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The physical lines of the rows at `indices` (sorted), by reading the file again.
fn row_lines(path: &Path, indices: &[usize]) -> Result<Vec<u64>> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes.as_slice());
    let mut record = csv::StringRecord::new();
    let mut out = Vec::with_capacity(indices.len());
    let mut row = 0usize;
    let mut want = indices.iter().peekable();
    while want.peek().is_some() {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            _ => break,
        }
        if want.peek() == Some(&&row) {
            want.next();
            let offset = record.position().map_or(0, |p| p.byte());
            out.push(line_of_offset(bytes.as_slice(), offset).unwrap_or(0));
        }
        row += 1;
    }
    out.resize(indices.len(), 0);
    Ok(out)
}

/// The manifest indexed by token, for analysis.
#[derive(Debug, Default)]
pub struct Manifest {
    /// All rows, in file order.
    pub rows: Vec<ManifestRow>,
    /// Row indices, hashed by their row's token. A table of indices, not a map from token to
    /// index: a map keeps a second copy of every token (some 110 MiB for a million tokens).
    by_token: hashbrown::HashTable<usize>,
    /// Seeded: tokens looked up come from logs.
    hasher: foldhash::fast::RandomState,
}

impl Manifest {
    /// Indexes rows by token. A token that appears twice keeps its first row ([`load`] checks
    /// for such rows first).
    pub fn new(rows: Vec<ManifestRow>) -> Self {
        Self::index(rows).0
    }

    /// Indexes rows by token, and lists the rows whose token an earlier row has: (the earlier
    /// row, the later one), by index. The index keeps the earlier row.
    pub fn index(rows: Vec<ManifestRow>) -> (Self, Vec<(usize, usize)>) {
        let hasher = foldhash::fast::RandomState::default();
        let mut by_token = hashbrown::HashTable::with_capacity(rows.len());
        let hash = |t: &str| hasher.hash_one(t);
        let mut duplicates = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let token = row.token.as_str();
            match by_token.entry(
                hash(token),
                |&j: &usize| rows[j].token == token,
                |&j: &usize| hash(&rows[j].token),
            ) {
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(i);
                }
                hashbrown::hash_table::Entry::Occupied(o) => duplicates.push((*o.get(), i)),
            }
        }
        let manifest = Manifest {
            rows,
            by_token,
            hasher,
        };
        (manifest, duplicates)
    }

    /// The row index for a token.
    pub fn find(&self, token: &str) -> Option<usize> {
        let h = self.hasher.hash_one(token);
        self.by_token
            .find(h, |&j| self.rows[j].token == token)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(token: &str, target: &str) -> ManifestRow {
        ManifestRow {
            created: DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            kind: if target.is_empty() {
                TokenKind::Open
            } else {
                TokenKind::Click
            },
            token: token.into(),
            campaign: "launch, \"autumn\"".into(),
            recipient: "ana@example.com".into(),
            label: "=cmd()".into(),
            target: target.into(),
            expires: None,
            message: String::new(),
        }
    }

    #[test]
    fn a_per_recipient_target_is_shared_without_the_address() {
        let r = ManifestRow {
            recipient: "Ana.B@Example.org".into(),
            target: "https://x.org/unsub?u=ana.b%40example.org&l=ana.b@example.org".into(),
            ..ManifestRow::example(TokenKind::Click, "t")
        };
        assert_eq!(
            r.shared_target(),
            "https://x.org/unsub?u={recipient}&l={recipient}"
        );
        let plain = ManifestRow {
            target: "https://x.org/".into(),
            ..r.clone()
        };
        assert!(matches!(
            plain.shared_target(),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_manifest_from_before_the_message_column_is_read_and_brought_up_by_the_next_append() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("manifest.csv");
        fs::write(
            &p,
            "created,kind,token,campaign,recipient,label,target,expires\n\
             2026-11-20T10:00:00Z,open,AAA,\"launch, x\",ana@example.com,,,\n",
        )
        .unwrap();
        let old = read(&p).unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].message, "");
        append(
            &p,
            &[ManifestRow {
                message: "<m@x>".into(),
                ..row("BBB", "https://example.com/")
            }],
        )
        .unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "created,kind,token,campaign,recipient,label,target,expires,message\n\
             2026-11-20T10:00:00Z,open,AAA,\"launch, x\",ana@example.com,,,,\n\
             2026-11-20T10:00:00Z,click,BBB,\"launch, \"\"autumn\"\"\",ana@example.com,=cmd(),https://example.com/,,<m@x>\n"
        );
        let rows = read(&p).unwrap();
        assert_eq!(rows[1].message, "<m@x>");
    }

    #[test]
    fn append_creates_then_appends_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.csv");
        append(&path, &[row("a", "")]).unwrap();
        append(&path, &[row("b", "https://x.example/$;\"{}")]).unwrap();
        let rows = read(&path).unwrap();
        assert_eq!(
            rows,
            vec![row("a", ""), row("b", "https://x.example/$;\"{}")]
        );
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }

    #[test]
    fn append_removes_what_a_killed_append_left_and_refuses_what_is_not_a_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.csv");
        append(&path, &[row("a", "")]).unwrap();
        let leftover = dir.path().join(".manifest.csv.tmp-999999");
        fs::write(&leftover, "half").unwrap();
        append(&path, &[row("b", "")]).unwrap();
        assert!(!leftover.exists());
        let list = dir.path().join("list.csv");
        fs::write(&list, "email\nana@example.com\n").unwrap();
        let e = append(&list, &[row("c", "")]).unwrap_err();
        assert!(e.to_string().contains("not a pxtrack manifest"), "{e}");
        assert_eq!(
            fs::read_to_string(&list).unwrap(),
            "email\nana@example.com\n"
        );
    }

    #[test]
    fn errors_name_the_physical_line_with_crlf_and_duplicates_are_checked() {
        let text = format!(
            "{}\r\n2026-11-20T10:00:00Z,open,t,c,r,\"two\r\nlines\",,\r\nbad,open,u,c,r,,,\r\n",
            LEGACY_HEADER.join(",")
        );
        let e = read_from(text.as_bytes(), Path::new("m.csv")).unwrap_err();
        assert!(e.to_string().starts_with("m.csv:4: "), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        append(&path, &[row("a", ""), row("b", ""), row("a", "")]).unwrap();
        let (m, warnings) = load(&path).unwrap();
        assert_eq!(m.rows.len(), 2);
        assert!(warnings[0].ends_with("m.csv:4: the same row as line 2 (token a); read once"));
        let mut other = row("a", "");
        other.recipient = "bob@example.com".into();
        append(&path, &[other]).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("m.csv:5: token a is also on line 2"), "{e}");
        assert!(e.contains("(recipient)"), "{e}");
    }

    #[test]
    fn append_repairs_a_missing_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        append(&path, &[row("a", "")]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.trim_end()).unwrap();
        append(&path, &[row("b", "")]).unwrap();
        assert_eq!(read(&path).unwrap().len(), 2);
    }

    #[test]
    fn read_errors_name_file_and_line() {
        let text = format!(
            "{}\n2026-11-20T10:00:00Z,open,t,c,r,,,\nnot-a-time,open,t,c,r,,,\n",
            LEGACY_HEADER.join(",")
        );
        let e = read_from(text.as_bytes(), Path::new("m.csv")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.csv:3: expected an RFC 3339 time in created, found \"not-a-time\""
        );
        let e = read_from("a,b\n".as_bytes(), Path::new("m.csv")).unwrap_err();
        assert!(
            e.to_string().starts_with("m.csv:1: expected the header"),
            "{e}"
        );
    }

    #[test]
    fn targets() {
        assert_eq!(
            validate_target("https://example.com/a$b;c\"d{e}f%g\\h?q=ü").unwrap(),
            "https://example.com/a$b;c\"d{e}f%g\\h?q=%C3%BC"
        );
        for bad in [
            "ftp://example.com/",
            "/relative",
            "https://example.com/a b",
            "https://example.com/\n",
            "javascript:alert(1)",
            "https://",
            "https:///path",
        ] {
            assert!(validate_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_fields() {
        assert!(validate_text("campaign", "", true).is_err());
        assert!(validate_text("campaign", "a\u{1b}[31m", true).is_err());
        assert!(validate_text("label", "", false).is_ok());
    }
}
