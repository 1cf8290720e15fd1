//! The command layer: one file per subcommand. This is where files are found and opened, where
//! the stages of the library are wired together, and where anything is printed.

mod analyze;
mod demo;
mod init;
mod mint;
mod nginx;
mod rewrite;
mod rules;
mod sent;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use pxtrack::config::{self, Config};
use pxtrack::token::KeyRing;

use crate::cli::{Cli, Command};

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "PXTRACK_CONFIG";

/// The environment variable that may hold the key ring instead of the key file.
pub const KEY_ENV: &str = "PXTRACK_KEY";

/// The largest key file read: a ring of 256 keys with comments is a few KiB.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was done: exit status 0.
    Done,
    /// Done, but some input was missing or not a log: exit status 1, so that cron and scripts
    /// notice a report that leaves something out.
    Incomplete,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<Outcome> {
    let done = |r: Result<()>| r.map(|()| Outcome::Done);
    match cli.command {
        Command::Init(args) => done(init::run(&args)),
        Command::Mint(m) => done(mint::run(cli.config.as_deref(), m)),
        Command::Nginx(args) => nginx::run(cli.config.as_deref(), &args),
        Command::Rewrite(args) => done(rewrite::run(cli.config.as_deref(), &args)),
        Command::Sent(args) => done(sent::run(cli.config.as_deref(), &args)),
        Command::Analyze(args) => analyze::run(cli.config.as_deref(), &args),
        Command::Rules => done(rules::run(cli.config.as_deref())),
    }
}

/// Where the config was looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOrigin {
    /// `--config FILE`.
    Flag,
    /// `$PXTRACK_CONFIG`.
    Env,
    /// `./pxtrack.toml`, since neither was given.
    WorkingDirectory,
}

/// Finds the config: `--config`, else `$PXTRACK_CONFIG`, else `./pxtrack.toml`.
pub fn config_path(flag: Option<&Path>) -> (PathBuf, ConfigOrigin) {
    if let Some(p) = flag {
        return (p.to_path_buf(), ConfigOrigin::Flag);
    }
    match std::env::var_os(CONFIG_ENV) {
        Some(p) if !p.is_empty() => (PathBuf::from(p), ConfigOrigin::Env),
        _ => (
            PathBuf::from(config::FILE_NAME),
            ConfigOrigin::WorkingDirectory,
        ),
    }
}

/// The error for a config that is not there, with the fix that fits how it was named.
fn missing_config(path: &Path, origin: ConfigOrigin) -> anyhow::Error {
    let shown = terminal_safe(&path.display().to_string());
    match origin {
        ConfigOrigin::Flag => anyhow::anyhow!(
            "--config {shown}: no such file; check the path, or create a config there with \
             `pxtrack init --dir DIR --base-url URL`"
        ),
        ConfigOrigin::Env => anyhow::anyhow!(
            "{CONFIG_ENV}={shown}: no such file; fix or unset {CONFIG_ENV}, or create a config \
             there with `pxtrack init --dir DIR --base-url URL`"
        ),
        ConfigOrigin::WorkingDirectory => anyhow::anyhow!(
            "no config at ./{}: pass --config FILE, set {CONFIG_ENV}, or create one with \
             `pxtrack init --base-url URL`",
            config::FILE_NAME
        ),
    }
}

/// Loads the config found by [`config_path`], with a hint when there is none.
pub fn load_config(flag: Option<&Path>) -> Result<Config> {
    let (path, origin) = config_path(flag);
    if !path.exists() {
        return Err(missing_config(&path, origin));
    }
    Ok(Config::load(&path)?)
}

/// Loads the config when one was named or is in the working directory: `None` only when none
/// was named and there is no `./pxtrack.toml` (a config that was named must exist).
pub fn load_config_if_any(flag: Option<&Path>) -> Result<Option<Config>> {
    let (path, origin) = config_path(flag);
    if !path.exists() {
        if origin == ConfigOrigin::WorkingDirectory {
            return Ok(None);
        }
        return Err(missing_config(&path, origin));
    }
    Ok(Some(Config::load(&path)?))
}

/// Loads the key ring from `$PXTRACK_KEY` when set, else from the config's key file, warning
/// when that file is readable by others (`check_mode`; off for the public demo key).
pub fn load_keys(config: &Config, check_mode: bool) -> Result<KeyRing> {
    if let Some(text) = std::env::var_os(KEY_ENV).filter(|v| !v.is_empty()) {
        let text = text
            .into_string()
            .map_err(|_| anyhow::anyhow!("{KEY_ENV} is not valid UTF-8"))?;
        return Ok(KeyRing::parse(&text, KEY_ENV)?);
    }
    let path = &config.key_file;
    let shown = terminal_safe(&path.display().to_string());
    // Checked before reading: a key file named wrongly (a directory, /dev/zero, a log) must
    // not be read whole.
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read the key file {shown}"))?;
    if !meta.is_file() {
        bail!(
            "the key file {shown} is not a regular file; `key_file` in the config must name the \
             pxtrack.key that `pxtrack init` wrote"
        );
    }
    if meta.len() > MAX_KEY_FILE_BYTES {
        bail!(
            "the key file {shown} is {} bytes, far more than a key ring; `key_file` in the config \
             must name the pxtrack.key that `pxtrack init` wrote",
            meta.len()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {shown}"))?;
    if check_mode {
        warn_if_readable_by_others(path);
    }
    Ok(KeyRing::parse(&text, &path.display().to_string())?)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "pxtrack: warning: {} is readable by other users; run `chmod 600` on it",
            terminal_safe(&path.display().to_string())
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Escapes control characters so text from files cannot drive the terminal (newlines and tabs
/// are kept).
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes a file atomically: a temporary sibling, synced, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // What killed runs left beside this file: `.NAME.tmp-PID` of a process that is gone.
    if let Ok(entries) = std::fs::read_dir(dir) {
        let prefix = format!(".{name}.tmp-");
        for entry in entries.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = n.strip_prefix(&prefix).and_then(|p| p.parse().ok())
                && pxtrack::report::process_is_gone(pid)
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_safe_escapes_controls() {
        assert_eq!(terminal_safe("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\n");
    }
}
