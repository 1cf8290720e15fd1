//! `pxtrack nginx`: write the nginx files for the current manifest, check them with `nginx -t`
//! when nginx is installed here, and only then replace the output directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use pxtrack::config::Config;
use pxtrack::nginx::{self, Layout, NginxFiles};
use pxtrack::outdir::{Staging, process_is_gone};
use pxtrack::{config, manifest};

use super::{Outcome, load_config, terminal_safe};
use crate::cli::NginxArgs;

pub fn run(config_flag: Option<&Path>, args: &NginxArgs) -> Result<Outcome> {
    let mut config = load_config(config_flag)?;
    apply_overrides(&mut config, args)?;
    let shown_config = terminal_safe(&config.path.display().to_string());
    let in_config = |e: pxtrack::error::Error| anyhow::anyhow!("{shown_config}: {e}");
    // Every value that reaches nginx is checked before anything is read or written.
    let tls = nginx::check_settings(&config).map_err(in_config)?;

    let out = std::path::absolute(&args.out)?;
    let server_dir = match &args.server_dir {
        Some(p) if !p.is_absolute() => bail!(
            "--server-dir {} must be an absolute path: it is where nginx on the server reads the \
             files",
            terminal_safe(&p.display().to_string())
        ),
        Some(p) => p.clone(),
        None => out.clone(),
    };
    if args.acme_only && !tls {
        eprintln!(
            "pxtrack: warning: --acme-only changes nothing without [nginx] tls_certificate: the \
             plain-HTTP server is written whole"
        );
    }
    let acme_only =
        tls && (args.acme_only || (args.server_dir.is_none() && !certificate_present(&config)));

    let (manifest, warnings) = manifest::load(&config.manifest)?;
    for w in &warnings {
        eprintln!("pxtrack: warning: {}", terminal_safe(w));
    }
    let layout = Layout {
        dir: &server_dir,
        acme_only,
    };
    let now = chrono::Utc::now().timestamp();
    let files = nginx::generate(&config, &manifest.rows, &layout, now).map_err(in_config)?;

    let staging = Staging::new(&out, &nginx::OUTPUT_DIR)?;
    write_files(staging.dir(), &files)?;
    if args.no_check {
        eprintln!("pxtrack: not checked with nginx -t (--no-check)");
    } else {
        check_with_nginx(
            &config,
            staging.dir(),
            acme_only,
            files.open_tokens + files.click_tokens,
        )?;
    }
    staging.commit()?;

    report(&config, &files, &out, &server_dir, args, tls, acme_only)?;
    Ok(if files.refused.is_empty() {
        Outcome::Done
    } else {
        Outcome::Incomplete
    })
}

/// Applies the command line's overrides and makes every server path absolute: nginx would read
/// a relative one from its own prefix directory.
fn apply_overrides(config: &mut Config, args: &NginxArgs) -> Result<()> {
    if !args.listen.is_empty() {
        config.nginx.listen = args.listen.clone();
    }
    if !args.tls_listen.is_empty() {
        config.nginx.tls_listen = args.tls_listen.clone();
    }
    if let Some(log) = &args.access_log {
        config.nginx.access_log = log.clone();
    }
    let n = &mut config.nginx;
    n.access_log = std::path::absolute(&n.access_log)?;
    for p in [
        &mut n.tls_certificate,
        &mut n.tls_certificate_key,
        &mut n.acme_webroot,
    ]
    .into_iter()
    .flatten()
    {
        *p = std::path::absolute(&*p)?;
    }
    Ok(())
}

/// Whether the certificate and key are there. A path this user may not look into (certbot's
/// `live/` is root's alone) counts as present, with a warning: nginx, which runs as root, will
/// say if it is not.
fn certificate_present(config: &Config) -> bool {
    let n = &config.nginx;
    let mut present = true;
    for path in [&n.tls_certificate, &n.tls_certificate_key]
        .into_iter()
        .flatten()
    {
        match std::fs::metadata(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => present = false,
            Err(e) => eprintln!(
                "pxtrack: warning: cannot tell whether {} exists ({e}); writing the https \
                 server as if it does (run as root to check)",
                terminal_safe(&path.display().to_string())
            ),
        }
    }
    present
}

fn write_files(dir: &Path, files: &NginxFiles) -> Result<()> {
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("cannot write {}", p.display()))
    };
    write(
        nginx::MARKER_FILE,
        b"This directory was written by `pxtrack nginx`, which replaces it as a whole.\n",
    )?;
    write("pixel.png", nginx::PIXEL_PNG)?;
    write("opens.map", files.opens_map.as_bytes())?;
    write("clicks.map", files.clicks_map.as_bytes())?;
    write("locations.conf", files.locations_conf.as_bytes())?;
    write("pxtrack.conf", files.main_conf.as_bytes())?;
    write("logrotate.conf", files.logrotate.as_bytes())?;
    Ok(())
}

/// The environment variable naming the nginx binary that checks the result.
const NGINX_ENV: &str = "PXTRACK_NGINX";

/// nginx here: `$PXTRACK_NGINX` (which must exist), else on PATH, else where Debian installs it.
fn nginx_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(NGINX_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

/// A scratch directory for the check, removed when dropped; those of killed runs are removed by
/// the next run.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let base = std::env::temp_dir();
        let prefix = "pxtrack-nginx-check-";
        if let Ok(entries) = std::fs::read_dir(&base) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix(prefix).and_then(|p| p.parse().ok())
                    && process_is_gone(pid)
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(format!("{prefix}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `nginx -t` on a scratch nginx.conf that includes the staged files. The scratch copy of
/// pxtrack.conf differs from the staged one only where nginx -t would touch the server: the
/// access log (nginx opens it) and the certificate (root's alone on the server) are scratch
/// files, and the staged maps and locations are included where they are.
fn check_with_nginx(config: &Config, staged: &Path, acme_only: bool, tokens: usize) -> Result<()> {
    let Some(nginx_bin) = nginx_binary() else {
        if let Some(p) = std::env::var_os(NGINX_ENV).filter(|p| !p.is_empty()) {
            bail!(
                "{NGINX_ENV}={} is not a file, so the result cannot be checked with `nginx -t`; \
                 nothing was written. Point it at nginx, unset it, or pass --no-check",
                terminal_safe(&p.to_string_lossy())
            );
        }
        bail!(
            "nginx is not installed here, so the result cannot be checked with `nginx -t`; \
             nothing was written. Pass --no-check to write it unchecked (on a laptop that \
             generates for a server, with --server-dir), then run `nginx -t` on the server"
        );
    };
    let scratch = Scratch::new()?;
    let s = &scratch.0;
    let mut check = config.clone();
    check.nginx.access_log = s.join("access.log");
    if check.nginx.tls_certificate.is_some() {
        std::fs::write(s.join("cert.pem"), nginx::CHECK_CERTIFICATE_PEM)?;
        std::fs::write(s.join("key.pem"), nginx::CHECK_CERTIFICATE_KEY_PEM)?;
        check.nginx.tls_certificate = Some(s.join("cert.pem"));
        check.nginx.tls_certificate_key = Some(s.join("key.pem"));
    }
    let confs = nginx::server_confs(
        &check,
        &Layout {
            dir: staged,
            acme_only,
        },
    )?;
    std::fs::write(s.join("pxtrack.conf"), &confs.main_conf)?;
    let p = s.display();
    let conf = format!(
        "error_log {p}/error.log;\npid {p}/nginx.pid;\nevents {{ worker_connections 64; }}\n\
         http {{\n    client_body_temp_path {p}/body;\n    proxy_temp_path {p}/proxy;\n    \
         fastcgi_temp_path {p}/fastcgi;\n    uwsgi_temp_path {p}/uwsgi;\n    \
         scgi_temp_path {p}/scgi;\n    include {};\n}}\n",
        nginx::quote_path(&s.join("pxtrack.conf"))?
    );
    std::fs::write(s.join("nginx.conf"), conf)?;
    let output = Command::new(&nginx_bin)
        .arg("-t")
        .arg("-p")
        .arg(s)
        .arg("-c")
        .arg(s.join("nginx.conf"))
        .arg("-e")
        .arg(s.join("error.log"))
        .output()
        .with_context(|| format!("cannot run {}", nginx_bin.display()))?;
    let text = String::from_utf8_lossy(&output.stderr);
    let messages: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("syntax is ok") && !l.contains("test is successful"))
        .collect();
    if !output.status.success() {
        bail!(
            "nginx -t refused the generated configuration; nothing was replaced. nginx said:\n{}",
            terminal_safe(&messages.join("\n"))
        );
    }
    for m in messages {
        eprintln!("pxtrack: nginx -t: {}", terminal_safe(m));
        if m.contains("map_hash") {
            eprintln!(
                "pxtrack: note: the maps work as they are, but each lookup scans about {} \
                 entries instead of one or two (with 1,000,000 tokens: 20,200 instead of 21,900 \
                 requests a second, BENCHMARKS.md). To have nginx build them optimally, set \
                 `map_hash_bucket_size 256;` and `map_hash_max_size {};` in nginx.conf's http \
                 block, before the include. pxtrack.conf sets no http-level directive, so that \
                 it fits beside yours",
                (tokens / 2048).max(2),
                (tokens * 5).next_power_of_two().max(4096)
            );
        }
    }
    Ok(())
}

fn report(
    config: &Config,
    files: &NginxFiles,
    out: &Path,
    server_dir: &Path,
    args: &NginxArgs,
    tls: bool,
    acme_only: bool,
) -> Result<()> {
    let n = &config.nginx;
    for r in &files.refused {
        eprintln!(
            "pxtrack: not served (left out of the maps): {}",
            terminal_safe(r)
        );
    }
    if files.expiring_soon > 0 {
        eprintln!(
            "pxtrack: note: {} click token(s) expire within the next 7 days; after that their \
             links answer 404 (from the next `pxtrack nginx`)",
            files.expiring_soon
        );
    }
    if files.opens_expiring_soon > 0 {
        eprintln!(
            "pxtrack: note: {} open token(s) expire within the next 7 days; after that their \
             pixels answer 404 (from the next `pxtrack nginx`)",
            files.opens_expiring_soon
        );
    }
    if n.log_deleted_by_debian_logrotate() {
        eprintln!(
            "pxtrack: warning: the access log {} is under {}, where Debian's \
             /etc/logrotate.d/nginx deletes *.log files after 14 days, and for pxtrack the log is \
             the database. Set [nginx] access_log = \"{}\" (and list the old path in [analyze] \
             logs to keep reading it), then install OUT/logrotate.conf",
            terminal_safe(&n.access_log.display().to_string()),
            config::DEBIAN_NGINX_LOG_DIR,
            config::DEFAULT_ACCESS_LOG,
        );
    }
    if args.server_dir.is_none()
        && let Some(dir) = n.access_log.parent()
        && !dir.is_dir()
    {
        eprintln!(
            "pxtrack: warning: {} does not exist, and nginx will not start without it: \
             sudo install -d -m 0755 -o root -g adm {}",
            terminal_safe(&dir.display().to_string()),
            terminal_safe(&dir.display().to_string()),
        );
    }
    if acme_only {
        let cert = n
            .tls_certificate
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let root = n
            .acme_webroot
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        eprintln!(
            "pxtrack: {} is not there yet, so only the port-80 server is written: it answers \
             certbot's challenge from {} and redirects the rest to https. Once nginx has loaded \
             it, run\n  sudo certbot certonly --webroot -w {} -d {}\nthen `pxtrack nginx` again \
             and reload nginx.",
            terminal_safe(&cert),
            terminal_safe(&root),
            terminal_safe(&root),
            terminal_safe(&config.base_url.host),
        );
    } else if tls && args.server_dir.is_some() {
        eprintln!(
            "pxtrack: the https server expects {} on the server (before certbot has run there, \
             generate with --acme-only)",
            terminal_safe(
                &n.tls_certificate
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )
        );
    }
    let where_ = if args.server_dir.is_some() {
        format!(
            "{} (for {} on the server)",
            out.display(),
            server_dir.display()
        )
    } else {
        out.display().to_string()
    };
    eprintln!(
        "pxtrack: wrote {} ({} open and {} click token(s); {} expired left out). Add this line \
         inside the http block of nginx.conf (on Debian, as a file in /etc/nginx/conf.d/), \
         install logrotate.conf as /etc/logrotate.d/{}, then run `nginx -t` and reload:",
        terminal_safe(&where_),
        files.open_tokens,
        files.click_tokens,
        files.expired,
        n.instance,
    );
    println!(
        "include {};",
        nginx::quote_path(&server_dir.join("pxtrack.conf"))?
    );
    Ok(())
}
