//! The library's one error type.
//!
//! Variants are grouped by pipeline stage. Messages are lower case and, where input came from a
//! file, name the file and line (`manifest.csv:12: ...`) so a user can go straight to the fault.
//! The command layer adds context with `anyhow`; the library never prints.

use std::path::PathBuf;

/// Everything the pxtrack library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What the OS said (part of the message, so not also reported as a source).
        cause: std::io::Error,
    },

    /// The configuration file is not valid.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config {
        /// The config file.
        path: PathBuf,
        /// The line at fault, when one is.
        line: Option<u64>,
        /// What is wrong, in words.
        message: String,
    },

    /// The key file or `PXTRACK_KEY` is not valid.
    #[error("{origin}: {message}")]
    Key {
        /// Where the key text came from (a path or the variable's name).
        origin: String,
        /// What is wrong, in words.
        message: String,
    },

    /// A manifest row is not valid.
    #[error("{}:{line}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line number of the offending record.
        line: u64,
        /// What is wrong, in words.
        message: String,
    },

    /// A data file named by the config is not what it should be: Apple's relay list, a GeoIP
    /// database.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    DataFile {
        /// The file.
        path: PathBuf,
        /// The line at fault, for a text file.
        line: Option<u64>,
        /// What is wrong, in words.
        message: String,
    },

    /// A `[nginx]` setting (or the base URL against it) is not something nginx accepts, or would
    /// not serve the minted URLs; nothing was written.
    #[error("{message}")]
    Nginx {
        /// The `[nginx]` setting at fault (`listen`, `server_name`, ...).
        setting: &'static str,
        /// What is wrong and how to fix it, naming the setting.
        message: String,
    },

    /// A path nginx would read holds what nginx would interpret (`$`, quotes, globs, control
    /// characters), or is not UTF-8.
    #[error("path {path:?} {problem}")]
    UnsafePath {
        /// The path as text.
        path: String,
        /// What is in it.
        problem: String,
    },

    /// A click target longer than nginx reads in one configuration string.
    #[error(
        "target URL takes {bytes} bytes in nginx's configuration{how}; nginx reads at most \
         {limit} for a click target, so nginx could not redirect it. Shorten the URL (fewer or \
         shorter query parameters)"
    )]
    TargetTooLong {
        /// What the target takes, quoted for nginx.
        bytes: usize,
        /// The most nginx reads.
        limit: usize,
        /// How its `$` are written, when it has any (part of the message).
        how: String,
    },

    /// A template failed to render.
    #[error("report template {template}: {message}")]
    Template {
        /// The template's name.
        template: String,
        /// Tera's explanation, with its causes.
        message: String,
    },

    /// CSV writing failed.
    #[error("{}: {cause}", path.display())]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// What the csv crate said (part of the message).
        cause: csv::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
