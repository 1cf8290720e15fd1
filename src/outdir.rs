//! Output directories replaced as a whole: the report site (`pxtrack analyze --out`) and the nginx
//! files (`pxtrack nginx --out`). A new version is built in a temporary directory beside the old
//! one and swapped in only when complete, so a reader (a browser, nginx reloading) never sees a
//! half-written directory, and a failed run leaves the previous one as it was.
//!
//! Only directories this module may replace are replaced: missing, empty, or marked as made by
//! pxtrack ([`OutputKind::marker`]). Leftovers of killed runs are removed by the next run.
//!
//! Key types: [`OutputKind`], [`Staging`].

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What a replaceable output directory holds and how it is recognised.
#[derive(Debug, Clone, Copy)]
pub struct OutputKind {
    /// A file inside that marks the directory as pxtrack's; the caller writes it.
    pub marker: &'static str,
    /// What the directory is, for errors ("a pxtrack report").
    pub what: &'static str,
    /// File names an older pxtrack wrote there before the marker existed: a directory holding
    /// only these may be replaced too.
    pub legacy: &'static [&'static str],
}

/// A directory being built: a temporary directory beside `out` that replaces it on
/// [`Staging::commit`], or is removed if the build fails or is dropped half-way.
///
/// A run killed half-way (SIGKILL, a reboot) leaves `.NAME.building-PID` or `.NAME.old-PID`
/// beside `out`; the next run removes those whose process is gone, and puts back a previous
/// directory that a kill caught between its two renames.
pub struct Staging {
    tmp: PathBuf,
    out: PathBuf,
    old: PathBuf,
    committed: bool,
}

/// Whether process `pid` has ended (so whatever it left behind is a leftover). Where this
/// cannot be known, `false`: leaving a leftover is better than deleting a live run's files.
pub fn process_is_gone(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc/self").exists() && !Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        false
    }
}

/// The process id at the end of a leftover's name, after `infix` (`.report.building-123`).
fn leftover_pid(name: &str, prefix: &str, infix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.strip_prefix(infix)?.parse().ok()
}

impl Staging {
    /// Checks that `out` may be replaced, clears the leftovers of killed runs and creates the
    /// temporary directory.
    pub fn new(out: &Path, kind: &OutputKind) -> Result<Self> {
        check_replaceable(out, kind)?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        sweep_leftovers(&parent, &name, out, kind)?;
        let tmp = parent.join(format!(".{name}.building-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(Staging {
            tmp,
            out: out.to_path_buf(),
            old: parent.join(format!(".{name}.old-{}", std::process::id())),
            committed: false,
        })
    }

    /// Where to write.
    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    /// Swaps the finished directory in for the previous one. On Linux the two trade places in
    /// one step (`renameat2` with `RENAME_EXCHANGE`), so there is no moment without one at
    /// `out`; elsewhere the previous one is moved aside first.
    pub fn commit(mut self) -> Result<()> {
        let out = self.out.clone();
        let had_old = out.exists();
        #[cfg(target_os = "linux")]
        if had_old {
            use rustix::fs::{CWD, RenameFlags, renameat_with};
            if renameat_with(CWD, &self.tmp, CWD, &out, RenameFlags::EXCHANGE).is_ok() {
                self.committed = true;
                // The previous directory is now at the temporary path.
                return fs::remove_dir_all(&self.tmp).map_err(|e| Error::io(&self.tmp, e));
            }
        }
        let old = &self.old;
        if had_old {
            fs::rename(&out, old).map_err(|e| Error::io(&out, e))?;
        }
        if let Err(e) = fs::rename(&self.tmp, &out) {
            if had_old {
                let _ = fs::rename(old, &out);
            }
            return Err(Error::io(&out, e));
        }
        self.committed = true;
        if had_old {
            fs::remove_dir_all(old).map_err(|e| Error::io(old, e))?;
        }
        Ok(())
    }
}

/// Removes what killed runs left beside `out` (`.NAME.building-PID`, `.NAME.old-PID` of a
/// process that is gone). A previous directory moved aside by a run killed before it moved the
/// new one in is put back when `out` is missing.
fn sweep_leftovers(parent: &Path, name: &str, out: &Path, kind: &OutputKind) -> Result<()> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Ok(());
    };
    let prefix = format!(".{name}");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(n) = file_name.to_str() else {
            continue;
        };
        let path = entry.path();
        if let Some(pid) = leftover_pid(n, &prefix, ".building-") {
            if process_is_gone(pid) {
                fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        } else if let Some(pid) = leftover_pid(n, &prefix, ".old-")
            && process_is_gone(pid)
        {
            if !out.exists() && path.join(kind.marker).is_file() {
                fs::rename(&path, out).map_err(|e| Error::io(out, e))?;
            } else {
                fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
    }
    Ok(())
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Checks that `out` may be replaced as a whole: it does not exist, or it is an empty directory
/// or one pxtrack made (its marker, or only the files an older pxtrack wrote), and it is not a
/// symbolic link (replacing the link would leave its target behind, and following it would
/// replace a directory the user did not name). Checks only: nothing is created.
pub fn check_replaceable(out: &Path, kind: &OutputKind) -> Result<()> {
    let refuse = |why: String| Err(Error::io(out, std::io::Error::other(why)));
    let meta = match fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(out, e)),
    };
    if meta.file_type().is_symlink() {
        return refuse(
            "is a symbolic link; pxtrack replaces --out as a whole, so name the directory itself \
             (or a new one)"
                .into(),
        );
    }
    if !meta.is_dir() {
        return refuse("exists and is not a directory; choose another --out".into());
    }
    if out.join(kind.marker).is_file() {
        return Ok(());
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(out).map_err(|e| Error::io(out, e))? {
        let entry = entry.map_err(|e| Error::io(out, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    if names.iter().all(|n| kind.legacy.contains(&n.as_str())) {
        Ok(())
    } else {
        names.retain(|n| !kind.legacy.contains(&n.as_str()));
        names.sort();
        refuse(format!(
            "is a non-empty directory that is not {} (it holds {}); refusing to replace it \
             (choose another --out, such as a new directory)",
            kind.what,
            names
                .iter()
                .take(3)
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
                + if names.len() > 3 { ", ..." } else { "" }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: OutputKind = OutputKind {
        marker: ".mark",
        what: "a test directory",
        legacy: &["old.txt"],
    };

    #[test]
    fn only_empty_marked_or_legacy_directories_are_replaced() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        assert!(check_replaceable(&out, &KIND).is_ok(), "missing");
        fs::create_dir(&out).unwrap();
        assert!(check_replaceable(&out, &KIND).is_ok(), "empty");
        fs::write(out.join("old.txt"), "").unwrap();
        assert!(check_replaceable(&out, &KIND).is_ok(), "legacy files only");
        fs::write(out.join("mine.txt"), "").unwrap();
        let e = check_replaceable(&out, &KIND).unwrap_err().to_string();
        assert!(
            e.contains("\"mine.txt\"") && e.contains("a test directory"),
            "{e}"
        );
        fs::write(out.join(".mark"), "").unwrap();
        assert!(check_replaceable(&out, &KIND).is_ok(), "marked");
    }

    #[test]
    fn a_committed_staging_replaces_the_directory() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(out.join(".mark"), "").unwrap();
        fs::write(out.join("a"), "old").unwrap();
        let s = Staging::new(&out, &KIND).unwrap();
        fs::write(s.dir().join(".mark"), "").unwrap();
        fs::write(s.dir().join("a"), "new").unwrap();
        s.commit().unwrap();
        assert_eq!(fs::read_to_string(out.join("a")).unwrap(), "new");
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "nothing left beside"
        );
    }
}
