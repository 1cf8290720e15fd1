//! `pxtrack nginx`: write the nginx files for the current manifest.

use std::path::Path;

use anyhow::{Context as _, Result};
use pxtrack::{manifest, nginx};

use super::{load_config, terminal_safe, write_atomic};
use crate::cli::NginxArgs;

pub fn run(config_flag: Option<&Path>, args: &NginxArgs) -> Result<()> {
    let mut config = load_config(config_flag)?;
    if !args.listen.is_empty() {
        config.nginx.listen = args.listen.clone();
    }
    if let Some(log) = &args.access_log {
        config.nginx.access_log = std::path::absolute(log)?;
    }
    let (manifest, warnings) = manifest::load(&config.manifest)?;
    for w in &warnings {
        eprintln!("pxtrack: warning: {}", terminal_safe(w));
    }
    let rows = manifest.rows;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let out = std::path::absolute(&args.out)?;
    let files = nginx::generate(&config, &rows, &out, chrono::Utc::now().timestamp())?;

    write_atomic(&out.join("pixel.png"), nginx::PIXEL_PNG)?;
    write_atomic(&out.join("clicks.map"), files.clicks_map.as_bytes())?;
    write_atomic(&out.join("locations.conf"), files.locations_conf.as_bytes())?;
    write_atomic(&out.join("pxtrack.conf"), files.main_conf.as_bytes())?;

    for s in &files.skipped {
        eprintln!("pxtrack: left out of the click map: {}", terminal_safe(s));
    }
    if files.expiring_soon > 0 {
        eprintln!(
            "pxtrack: note: {} click token(s) expire within the next 7 days; after that their \
             links answer 404",
            files.expiring_soon
        );
    }
    eprintln!(
        "pxtrack: wrote {} ({} click token(s)). Add this line inside the http block of \
         nginx.conf (on Debian, as a file in /etc/nginx/conf.d/), then run `nginx -t` and reload:",
        terminal_safe(&out.display().to_string()),
        files.click_tokens
    );
    println!("include {};", nginx::quote_path(&out.join("pxtrack.conf"))?);
    Ok(())
}
