//! The bundled demo (`pxtrack analyze --demo`): the files of `sample-logs/` travel inside the
//! binary, so the demo works from an installed `pxtrack` as well as from a checkout. They are
//! written to a fresh temporary directory for the run and removed after it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// `sample-logs/`, file by file: its path inside the directory and its bytes.
const FILES: [(&str, &[u8]); 8] = [
    (
        "pxtrack.toml",
        include_bytes!("../../sample-logs/pxtrack.toml"),
    ),
    (
        "pxtrack.key",
        include_bytes!("../../sample-logs/pxtrack.key"),
    ),
    (
        "manifest.csv",
        include_bytes!("../../sample-logs/manifest.csv"),
    ),
    (
        "logs/access.log",
        include_bytes!("../../sample-logs/logs/access.log"),
    ),
    (
        "logs/access.log.1",
        include_bytes!("../../sample-logs/logs/access.log.1"),
    ),
    (
        "logs/access.log.2.gz",
        include_bytes!("../../sample-logs/logs/access.log.2.gz"),
    ),
    (
        "geoip/demo-ASN.mmdb",
        include_bytes!("../../sample-logs/geoip/demo-ASN.mmdb"),
    ),
    (
        "geoip/demo-City.mmdb",
        include_bytes!("../../sample-logs/geoip/demo-City.mmdb"),
    ),
];

/// The name the demo's files are shown under in the report, as in the source tree.
pub const SHOWN_AS: &str = "sample-logs";

/// The demo's files written out; removed when dropped.
pub struct DemoDir {
    path: PathBuf,
}

impl DemoDir {
    /// The directory holding the demo's `pxtrack.toml`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How a path inside the demo directory is shown: `sample-logs/logs/access.log`.
    pub fn shown(&self, path: &Path) -> Option<String> {
        let rest = path.strip_prefix(&self.path).ok()?;
        Some(Path::new(SHOWN_AS).join(rest).display().to_string())
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Writes the demo's files into a new directory under the system's temporary directory.
pub fn unpack() -> Result<DemoDir> {
    let base = std::env::temp_dir();
    let mut n = 0u32;
    let path = loop {
        let p = base.join(format!("pxtrack-demo-{}-{n}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => break p,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create {}", p.display()));
            }
        }
    };
    let dir = DemoDir { path };
    for (name, bytes) in FILES {
        let p = dir.path.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&p, bytes).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(dir)
}
