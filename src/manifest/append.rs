//! Writing the manifest: rows appended under an exclusive lock, through a temporary file and a
//! rename, so that a reader never sees half a row and a killed `mint` leaves nothing behind but
//! a temporary file the next append removes. A file that is not a manifest is refused.

use super::*;

/// Appends rows to the manifest at `path`, atomically and under a lock. Creates the manifest
/// (with its header) when it does not exist.
pub fn append(path: &Path, rows: &[ManifestRow]) -> Result<()> {
    let _lock = lock_beside(path)?;
    // Under the lock no other `mint` is writing: any temporary file beside the manifest is a
    // killed run's leftover.
    remove_leftovers(path);

    let tmp_path = hidden_sidecar(path, &format!(".tmp-{}", std::process::id()));
    let result = write_with_rows(path, &tmp_path, rows);
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    // The lock is released when `lock` drops, after the rename.
    result
}

/// Takes an exclusive lock on the hidden `.NAME.lock` beside `path`, held until the returned
/// file is dropped: the one writer at a time of a file that several commands change (the
/// manifest, `sends.csv`).
pub fn lock_beside(path: &Path) -> Result<File> {
    let lock_path = hidden_sidecar(path, ".lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    Ok(lock)
}

pub(crate) fn write_with_rows(path: &Path, tmp_path: &Path, rows: &[ManifestRow]) -> Result<()> {
    let tmp = File::create(tmp_path).map_err(|e| Error::io(tmp_path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, tmp);
    let io_tmp = |e: io::Error| Error::io(tmp_path, e);
    match File::open(path) {
        Ok(mut existing) => {
            if check_is_manifest(&mut existing, path)? == Header::Legacy {
                // A manifest from before the `message` column: its rows again, with an empty one.
                let old = read_from(&mut existing, path)?;
                write_header(&mut out, tmp_path)?;
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(&mut out);
                for row in &old {
                    w.write_record(row.record()).map_err(|e| Error::Csv {
                        path: tmp_path.to_path_buf(),
                        cause: e,
                    })?;
                }
                w.flush().map_err(io_tmp)?;
            } else {
                io::copy(&mut existing, &mut out).map_err(|e| Error::io(path, e))?;
                // A hand-edited manifest may lack its final newline; never glue two rows together.
                let len = existing.metadata().map_err(|e| Error::io(path, e))?.len();
                if len > 0 {
                    let mut last = [0u8; 1];
                    existing
                        .seek(io::SeekFrom::Start(len - 1))
                        .and_then(|_| existing.read_exact(&mut last))
                        .map_err(|e| Error::io(path, e))?;
                    if last[0] != b'\n' {
                        out.write_all(b"\n").map_err(io_tmp)?;
                    }
                } else {
                    write_header(&mut out, tmp_path)?;
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => write_header(&mut out, tmp_path)?,
        Err(e) => return Err(Error::io(path, e)),
    }
    {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut out);
        for row in rows {
            w.write_record(row.record()).map_err(|e| Error::Csv {
                path: tmp_path.to_path_buf(),
                cause: e,
            })?;
        }
        w.flush().map_err(io_tmp)?;
    }
    let file = out.into_inner().map_err(|e| io_tmp(e.into_error()))?;
    file.sync_all().map_err(io_tmp)?;
    drop(file);
    fs::rename(tmp_path, path).map_err(|e| Error::io(path, e))?;
    // Make the rename itself durable.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Refuses to append to anything but a pxtrack manifest (or an empty file): rows added to a
/// recipient list or a report by a wrong `manifest =` would be lost there, and the file spoiled.
/// Leaves `file` at its start.
/// Whether a manifest's header is [`LEGACY_HEADER`] (without `message`): the next append brings
/// it up to [`HEADER`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    Current,
    Legacy,
    /// An empty file.
    None,
}

pub(crate) fn check_is_manifest(file: &mut File, path: &Path) -> Result<Header> {
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::io(
            path,
            io::Error::other(
                "is not a regular file (a directory?); point `manifest` in the config at a \
                 pxtrack manifest, or at a file that does not exist yet",
            ),
        ));
    }
    let mut head = Vec::with_capacity(128);
    Read::by_ref(file)
        .take(256)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    file.seek(io::SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    if head.is_empty() {
        return Ok(Header::None);
    }
    let first = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first = first.strip_prefix("\u{feff}".as_bytes()).unwrap_or(first);
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    if first == HEADER.join(",").as_bytes() {
        return Ok(Header::Current);
    }
    if first == LEGACY_HEADER.join(",").as_bytes() {
        return Ok(Header::Legacy);
    }
    Err(Error::Manifest {
        path: path.to_path_buf(),
        line: 1,
        message: format!(
            "not a pxtrack manifest: expected the header {:?}, found {:?}; nothing was written \
             (point `manifest` in the config at a pxtrack manifest, or at a new file)",
            HEADER.join(","),
            String::from_utf8_lossy(&first[..first.len().min(80)])
        ),
    })
}

pub(crate) fn write_header(out: &mut impl Write, path: &Path) -> Result<()> {
    writeln!(out, "{}", HEADER.join(",")).map_err(|e| Error::io(path, e))
}

/// Creates an empty manifest (header only), atomically.
pub fn create_empty(path: &Path) -> Result<()> {
    append(path, &[])
}

/// Removes the temporary files of appends that were killed half-way. Only called under the lock.
pub(crate) fn remove_leftovers(path: &Path) {
    let prefix = hidden_sidecar(path, ".tmp-");
    let (Some(dir), Some(prefix)) = (prefix.parent(), prefix.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = prefix.to_string_lossy().into_owned();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(&prefix)
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// `dir/.manifest.csv<suffix>`: lock and temporary files sit beside the manifest, hidden.
pub(crate) fn hidden_sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_else(|| "manifest.csv".as_ref()));
    name.push(suffix);
    path.with_file_name(name)
}
