//! Finding and opening access logs: files and directories, logrotate's rotations (numbered, and
//! dated by `dateext`), and
//! gzip (recognised by its magic bytes, not its name).
//!
//! Order matters for duplicate detection, so files are read oldest first: for one base name,
//! `access.log.3.gz`, `access.log.2.gz`, `access.log.1`, `access.log-20261128.gz`,
//! `access.log-20261129`, then `access.log`.
//!
//! Key functions: [`discover`], [`with_rotations`], [`from_reader`], [`lines`].

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// How old a rotation is, by its name's suffix: logrotate's numbered ones (`.1`, `.2.gz`: a
/// higher number is older) and `dateext` ones (`-20261129`, `-2026112903.gz`: an earlier date is
/// older). Sorted oldest first: numbered before dated (numbered is Debian's default, so a switch
/// to `dateext` leaves the numbered ones behind as the oldest), then the live log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rotation {
    Numbered(std::cmp::Reverse<u32>),
    Dated(u64),
    Live,
}

/// Splits `access.log.2.gz` into (`access.log`, 2nd rotation) and `access.log-20261129.gz` into
/// (`access.log`, that date); a name with neither is the live log.
fn rotation_key(name: &str) -> (String, Rotation) {
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    if let Some((base, n)) = stem.rsplit_once('.')
        && let Ok(n) = n.parse::<u32>()
    {
        return (base.to_string(), Rotation::Numbered(std::cmp::Reverse(n)));
    }
    if let Some((base, date)) = stem.rsplit_once('-')
        && (8..=14).contains(&date.len())
        && date.bytes().all(|b| b.is_ascii_digit())
        && !base.is_empty()
        && let Ok(d) = date.parse::<u64>()
    {
        return (base.to_string(), Rotation::Dated(d));
    }
    (stem.to_string(), Rotation::Live)
}

/// The name of a log without its rotation suffixes: `access.log.2.gz` -> `access.log`.
pub fn rotation_base(name: &str) -> String {
    rotation_key(name).0
}

/// Sorts paths oldest first: by directory and base name, then by rotation: numbered ones
/// (highest number first), then dated ones (earliest first), then the live log.
pub fn sort_oldest_first(paths: &mut [PathBuf]) {
    paths.sort_by_cached_key(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (base, rotation) = rotation_key(&name);
        (p.parent().map(Path::to_path_buf), base, rotation)
    });
}

/// Whether a file found in a directory looks like an access log: its name, without rotation
/// suffixes, ends in `.log` or mentions `access`. Hidden files are skipped.
fn looks_like_log(name: &str) -> bool {
    if name.starts_with('.') {
        return false;
    }
    let (base, _) = rotation_key(name);
    base.ends_with(".log") || base.contains("access")
}

/// The path that names standard input, as in most Unix tools (`./-` names a file called `-`).
pub const STDIN: &str = "-";

/// Whether `path` names standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// The logs found for a run: the files to read, what could not be read at all, and what was
/// left out because another input already holds it.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files to read, each once, in the order to read them.
    pub files: Vec<PathBuf>,
    /// Inputs that could not be read at all, in words (`path: why`). A run with problems is
    /// incomplete (exit status 1).
    pub problems: Vec<String>,
    /// Inputs left out because another input holds the same bytes, in words.
    pub notes: Vec<String>,
}

impl Discovery {
    /// Adds a file unless a path already taken reaches the same file (the same path twice, a
    /// symlink, a directory and a file in it).
    fn push(&mut self, path: PathBuf, seen: &mut Vec<((u64, u64), usize)>) {
        if let Some(id) = file_id(&path) {
            if let Some(&(_, i)) = seen.iter().find(|(k, _)| *k == id) {
                self.notes.push(format!(
                    "{}: the same file as {}; read once",
                    path.display(),
                    self.files[i].display()
                ));
                return;
            }
            seen.push((id, self.files.len()));
        }
        self.files.push(path);
    }
}

/// The device and inode a path leads to, following links.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if is_stdin(path) {
            return None;
        }
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Expands the user's paths: a file is read as given (`-` is standard input); a directory is
/// walked for log files. Whatever cannot be reached (a missing path, a dangling link, a loop, an
/// unreadable directory) is a problem, not a stop: the rest is still read.
pub fn discover(inputs: &[PathBuf]) -> Discovery {
    let mut out = Discovery::default();
    let mut seen = Vec::new();
    let mut stdin_taken = false;
    for input in inputs {
        if is_stdin(input) {
            if stdin_taken {
                out.notes
                    .push("-: standard input was named twice; read once".to_string());
            } else {
                stdin_taken = true;
                out.files.push(input.clone());
            }
            continue;
        }
        let meta = match std::fs::metadata(input) {
            Ok(m) => m,
            Err(e) => {
                out.problems.push(describe_open_error(input, &e));
                continue;
            }
        };
        if meta.is_dir() {
            let mut found = Vec::new();
            for entry in WalkDir::new(input).follow_links(true) {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        let at = e.path().unwrap_or(input).to_path_buf();
                        let why = if e.loop_ancestor().is_some() {
                            "a symbolic link loop; not followed".to_string()
                        } else if let Some(io) = e.io_error() {
                            if io.kind() == io::ErrorKind::NotFound {
                                "a dangling symbolic link".to_string()
                            } else {
                                describe_io_error(io)
                            }
                        } else {
                            e.to_string()
                        };
                        out.problems.push(format!("{}: {why}", at.display()));
                        continue;
                    }
                };
                if entry.file_type().is_file()
                    && looks_like_log(&entry.file_name().to_string_lossy())
                {
                    found.push(entry.into_path());
                }
            }
            sort_oldest_first(&mut found);
            for f in found {
                out.push(f, &mut seen);
            }
        } else {
            out.push(input.clone(), &mut seen);
        }
    }
    out
}

/// `path: why` for a path that cannot be opened.
pub fn describe_open_error(path: &Path, e: &io::Error) -> String {
    format!("{}: {}", path.display(), describe_io_error(e))
}

/// An I/O error in words, with the fix for the usual cases.
pub fn describe_io_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => {
            "permission denied (Debian's nginx logs are readable by \
            root and the adm group only: run as root, or add yourself to the group with `sudo \
            adduser $USER adm` and log in again)"
                .to_string()
        }
        _ => {
            let text = e.to_string();
            // `corrupt deflate stream`, `invalid gzip header` and the like: the file is damaged.
            if e.kind() == io::ErrorKind::InvalidInput || e.kind() == io::ErrorKind::InvalidData {
                format!("{text} (a damaged or truncated gzip file?)")
            } else if e.kind() == io::ErrorKind::UnexpectedEof {
                "the file ends in the middle of its gzip data (truncated?)".to_string()
            } else {
                text
            }
        }
    }
}

/// Opens a log for reading: `-` is standard input.
pub fn open(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    if is_stdin(path) {
        Ok(Box::new(io::stdin()))
    } else {
        Ok(Box::new(std::fs::File::open(path)?))
    }
}

/// The longest first line compared when looking for copies.
const FIRST_LINE_BYTES: usize = 4096;

/// The first line of a log's text (decompressed), or `None` when it cannot be read or is empty.
fn first_line(path: &Path) -> Option<Vec<u8>> {
    let mut reader = from_reader(std::fs::File::open(path).ok()?).ok()?;
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(FIRST_LINE_BYTES as u64)
        .read_until(b'\n', &mut line)
        .ok()?;
    (!line.is_empty()).then_some(line)
}

/// Whether the text of `short` is the start of the text of `long` (both decompressed), and
/// whether they are the same.
fn prefix_of(short: &Path, long: &Path) -> io::Result<Option<bool>> {
    let mut a = from_reader(std::fs::File::open(short)?)?;
    let mut b = from_reader(std::fs::File::open(long)?)?;
    loop {
        let abuf = a.fill_buf()?;
        if abuf.is_empty() {
            let same = b.fill_buf()?.is_empty();
            return Ok(Some(same));
        }
        let bbuf = b.fill_buf()?;
        if bbuf.is_empty() {
            return Ok(None);
        }
        let n = abuf.len().min(bbuf.len());
        if abuf[..n] != bbuf[..n] {
            return Ok(None);
        }
        a.consume(n);
        b.consume(n);
    }
}

/// Leaves out inputs whose text another input already holds: the same log pulled twice, or
/// pulled again later when it had grown (its start is the earlier copy). The longer copy is
/// read. Logs with the same first line are the only ones compared, so the usual run (every log
/// starts with a request of its own) reads one line of each.
pub fn drop_copies(d: &mut Discovery) {
    let mut by_first: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
    for (i, path) in d.files.iter().enumerate() {
        if is_stdin(path) {
            continue;
        }
        let Some(line) = first_line(path) else {
            continue;
        };
        match by_first.iter_mut().find(|(l, _)| *l == line) {
            Some((_, group)) => group.push(i),
            None => by_first.push((line, vec![i])),
        }
    }
    let mut dropped = vec![false; d.files.len()];
    for (_, group) in by_first.iter().filter(|(_, g)| g.len() > 1) {
        for (x, &i) in group.iter().enumerate() {
            for &j in &group[x + 1..] {
                if dropped[i] || dropped[j] {
                    continue;
                }
                let (a, b) = (&d.files[i], &d.files[j]);
                // Whichever is the start of the other goes; of two equal copies, the later.
                if let Ok(Some(same)) = prefix_of(b, a) {
                    dropped[j] = true;
                    d.notes.push(if same {
                        format!(
                            "{}: the same content as {}; read once",
                            b.display(),
                            a.display()
                        )
                    } else {
                        format!(
                            "{}: a copy of the start of {}; only the longer copy is read",
                            b.display(),
                            a.display()
                        )
                    });
                } else if let Ok(Some(_)) = prefix_of(a, b) {
                    dropped[i] = true;
                    d.notes.push(format!(
                        "{}: a copy of the start of {}; only the longer copy is read",
                        a.display(),
                        b.display()
                    ));
                }
            }
        }
    }
    let mut k = 0;
    d.files.retain(|_| {
        k += 1;
        !dropped[k - 1]
    });
}

/// A log path plus its rotated siblings (`path.1`, `path.2.gz`, `path-20261129.gz`, ...),
/// oldest first. Used for the
/// config's default logs. Missing siblings are fine; a missing `path` with no siblings is not.
pub fn with_rotations(path: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            let (base, _) = rotation_key(&n);
            if (n == name || base == name) && entry.path().is_file() {
                found.push(entry.path());
            }
        }
    }
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{}: no such log file (nor rotated copies of it)",
                path.display()
            ),
        ));
    }
    sort_oldest_first(&mut found);
    Ok(found)
}

/// Reads a log from any byte source (a file wrapped by a progress counter, say), decompressing
/// gzip when its magic bytes say so.
pub fn from_reader(raw: impl Read + Send + 'static) -> io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::with_capacity(1 << 16, raw);
    let magic = file.fill_buf()?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::bufread::MultiGzDecoder::new(file);
        Ok(Box::new(BufReader::with_capacity(1 << 16, gz)))
    } else {
        Ok(Box::new(file))
    }
}

/// The lines of a block of whole lines (as read by `pipeline`), without `\n` or `\r\n`. A
/// final line without a line end is a line; an empty block has none.
///
/// Line ends are found with `memchr` (sixteen or more bytes at a time): a byte-by-byte split
/// costs a tenth of the parsing workers' time.
pub fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut rest = (!data.is_empty()).then_some(body);
    std::iter::from_fn(move || {
        let r = rest?;
        Some(match memchr::memchr(b'\n', r) {
            Some(end) => {
                rest = Some(&r[end + 1..]);
                &r[..end]
            }
            None => {
                rest = None;
                r
            }
        })
    })
    .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// `names` in the order [`sort_oldest_first`] reads them.
    fn oldest_first(names: &[&str]) -> Vec<String> {
        let mut v: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
        sort_oldest_first(&mut v);
        v.iter().map(|p| p.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn dated_rotations_are_read_oldest_first_after_numbered_ones() {
        assert_eq!(
            oldest_first(&[
                "d/access.log",
                "d/access.log-20261129",
                "d/access.log-20261127.gz",
                "d/access.log.1",
                "d/access.log-20261128.gz",
                "d/other-2026.log",
            ]),
            [
                "d/access.log.1",
                "d/access.log-20261127.gz",
                "d/access.log-20261128.gz",
                "d/access.log-20261129",
                "d/access.log",
                "d/other-2026.log",
            ]
        );
        assert_eq!(rotation_base("access.log-20261129.gz"), "access.log");
    }

    #[test]
    fn rotation_order() {
        assert_eq!(
            oldest_first(&[
                "d/access.log",
                "d/access.log.1",
                "d/access.log.10.gz",
                "d/access.log.2.gz",
            ]),
            [
                "d/access.log.10.gz",
                "d/access.log.2.gz",
                "d/access.log.1",
                "d/access.log"
            ]
        );
    }

    #[test]
    fn directories_walk_only_logs_and_gzip_is_detected() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("access.log"), "b\n").unwrap();
        std::fs::write(d.path().join("pxtrack.toml"), "x").unwrap();
        std::fs::write(d.path().join(".hidden.log"), "x").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"a1\r\na2").unwrap();
        std::fs::write(d.path().join("access.log.2.gz"), gz.finish().unwrap()).unwrap();
        let files = discover(&[d.path().to_path_buf()]).files;
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["access.log.2.gz", "access.log"]);
        let mut text = Vec::new();
        from_reader(std::fs::File::open(&files[0]).unwrap())
            .unwrap()
            .read_to_end(&mut text)
            .unwrap();
        assert_eq!(lines(&text).collect::<Vec<_>>(), [b"a1", b"a2"]);
        assert_eq!(lines(b"\n\nx").collect::<Vec<_>>(), [&b""[..], b"", b"x"]);
        assert_eq!(lines(b"\n").collect::<Vec<_>>(), [&b""[..]]);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(
            with_rotations(&d.path().join("access.log")).unwrap().len(),
            2
        );
        let missing = discover(&[d.path().join("missing")]);
        assert!(missing.files.is_empty());
        assert!(missing.problems[0].ends_with("missing: no such file or directory"));
    }

    proptest::proptest! {
        #[test]
        fn lines_are_the_pieces_between_line_ends(text in "[a\\r\\n]{0,40}") {
            let data = text.as_bytes();
            // Split at every \n; a final \n ends the last line rather than starting one.
            let body = data.strip_suffix(b"\n").unwrap_or(data);
            let expected: Vec<&[u8]> = if data.is_empty() {
                Vec::new()
            } else {
                body.split(|&b| b == b'\n')
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                    .collect()
            };
            proptest::prop_assert_eq!(lines(data).collect::<Vec<_>>(), expected);
        }
    }
}
