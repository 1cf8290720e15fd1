//! Finding and opening access logs: files and directories, logrotate's numbered siblings, and
//! gzip (recognised by its magic bytes, not its name).
//!
//! Order matters for duplicate detection, so files are read oldest first: for one base name,
//! `access.log.3.gz`, `access.log.2.gz`, `access.log.1`, then `access.log`.
//!
//! Key functions: [`discover`], [`with_rotations`], [`from_reader`], [`lines`].

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// Splits `access.log.2.gz` into (`access.log`, 2); a name with no rotation number gets 0.
fn rotation_key(name: &str) -> (String, u32) {
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    if let Some((base, n)) = stem.rsplit_once('.')
        && let Ok(n) = n.parse::<u32>()
    {
        return (base.to_string(), n);
    }
    (stem.to_string(), 0)
}

/// The name of a log without its rotation suffixes: `access.log.2.gz` -> `access.log`.
pub fn rotation_base(name: &str) -> String {
    rotation_key(name).0
}

/// Sorts paths oldest first: by directory and base name, then by rotation number descending.
pub fn sort_oldest_first(paths: &mut [PathBuf]) {
    paths.sort_by_cached_key(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (base, n) = rotation_key(&name);
        (
            p.parent().map(Path::to_path_buf),
            base,
            std::cmp::Reverse(n),
        )
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

/// Expands the user's paths: a file is read as given; a directory is walked for log files.
/// Returns an error naming a path that does not exist.
pub fn discover(inputs: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", input.display())))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            for entry in WalkDir::new(input).follow_links(true) {
                let entry =
                    entry.map_err(|e| io::Error::other(format!("{}: {e}", input.display())))?;
                if entry.file_type().is_file()
                    && looks_like_log(&entry.file_name().to_string_lossy())
                {
                    found.push(entry.into_path());
                }
            }
            sort_oldest_first(&mut found);
            out.extend(found);
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

/// A log path plus its rotated siblings (`path.1`, `path.2.gz`, ...), oldest first. Used for the
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
/// was a tenth of the parsing workers' time.
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

    #[test]
    fn rotation_order() {
        let mut v: Vec<PathBuf> = [
            "d/access.log",
            "d/access.log.1",
            "d/access.log.10.gz",
            "d/access.log.2.gz",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        sort_oldest_first(&mut v);
        let names: Vec<_> = v.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        assert_eq!(
            names,
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
        let files = discover(&[d.path().to_path_buf()]).unwrap();
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
        assert!(discover(&[d.path().join("missing")]).is_err());
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
