//! `pxtrack init`: a config, a new key and an empty manifest.

use std::fs::OpenOptions;
use std::io::Write;

use anyhow::{Context as _, Result, bail};
use pxtrack::config::{BaseUrl, Config, FILE_NAME};
use pxtrack::manifest;
use pxtrack::token::{KeyRing, SecretKey};

use super::{terminal_safe, write_atomic};
use crate::cli::InitArgs;

const KEY_HEADER: &str = "\
# pxtrack secret key. Keep it private (mode 0600) and out of version control.
# One key a line: a key id (0-255) and 32 bytes in base64url. The first line signs new tokens;
# lines below it still verify tokens minted before a rotation.
";

pub fn run(args: &InitArgs) -> Result<()> {
    let base = BaseUrl::parse(&args.base_url).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let config_path = args.dir.join(FILE_NAME);
    let key_path = args.dir.join("pxtrack.key");
    let manifest_path = args.dir.join("manifest.csv");
    if key_path.exists() {
        bail!(
            "{} already exists; refusing to overwrite a key (tokens signed with it would stop \
             verifying)",
            key_path.display()
        );
    }
    if config_path.exists() {
        bail!(
            "{} already exists; refusing to overwrite it",
            config_path.display()
        );
    }

    let text = Config::template(&base);
    // Check the template parses before anything is written.
    Config::parse(&text, &config_path)?;

    let ring = KeyRing::single(SecretKey::generate(1)?);
    write_key(&key_path, &ring.to_text(KEY_HEADER))?;
    write_atomic(&config_path, text.as_bytes())?;
    if !manifest_path.exists() {
        manifest::create_empty(&manifest_path)?;
    }
    eprintln!(
        "created {}, {} (mode 0600) and {}\nnext: export PXTRACK_CONFIG={}",
        terminal_safe(&config_path.display().to_string()),
        terminal_safe(&key_path.display().to_string()),
        terminal_safe(&manifest_path.display().to_string()),
        terminal_safe(&std::path::absolute(&config_path)?.display().to_string()),
    );
    if base.url.starts_with("https://") {
        let (cert, _) = pxtrack::config::certbot_paths(&base.host);
        eprintln!(
            "the config names certbot's certificate for {} ({}); until it exists, `pxtrack nginx` \
             writes the port-80 server that answers certbot (README: Deploying on a server)",
            terminal_safe(&base.host),
            terminal_safe(&cert.display().to_string()),
        );
    }
    Ok(())
}

fn write_key(path: &std::path::Path, text: &str) -> Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
