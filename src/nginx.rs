//! The nginx configuration that serves pixels and redirects, for Debian's stock nginx (1.22) with
//! no extra module: `log_format`, `geo`, `map`, `realip`, `ssl`, `http2` and the static file
//! handler are all in the stock build.
//!
//! [`generate`] makes the files `pxtrack nginx` writes (see [`FILES`]): `pxtrack.conf` (http-level:
//! log format, maps and complete `server` blocks), `locations.conf` (the tracking `location`
//! blocks alone, for a server block of the user's own), `opens.map` and `clicks.map` (one entry
//! per live token), and `logrotate.conf` (for `/etc/logrotate.d/`). The pixel is [`PIXEL_PNG`].
//! Everything here is text generation; the command layer writes the files and runs `nginx -t`.
//!
//! What nginx serves is exactly what `analyze` counts. nginx's `map` compares strings ignoring
//! case and `location` looks at the normalised `$uri` (percent-decoded, dot segments resolved,
//! slashes merged), while `analyze` reads the raw `$request_uri` it logged. So the token is taken
//! from `$request_uri` by one case-sensitive regular expression (the exact minted path, then `?`,
//! `#` or the end), looked up by the token alone (so the key length never depends on the base
//! path), and the entry found must equal the token byte for byte (`if` compares case-sensitively).
//! Any other spelling is 404.
//!
//! Nothing from the manifest or the config can change the config's meaning: map keys are tokens
//! checked to be base64url; targets are written as double-quoted nginx strings with `\` and `"`
//! escaped and every `$` replaced by a variable that `geo` (whose values are never parsed for
//! variables) defines as a literal `$`; every setting that reaches a directive is validated
//! against what nginx accepts. No http-level directive that an nginx.conf may already set
//! (`map_hash_*`) is written, and every name nginx shares across files derives from
//! `[nginx] instance`, so the include fits beside any other configuration.
//!
//! Key types: [`Layout`], [`NginxFiles`].

use std::fmt::Write as _;
use std::path::Path;

use crate::config::{Config, NginxSettings};
use crate::error::{Error, Result};
use crate::logformat::{LOG_FIELDS, LOG_FORMAT_TAG};
use crate::manifest::{ManifestRow, validate_target};
use crate::outdir::OutputKind;
use crate::token::{self, TokenKind};

/// A valid 1x1 fully transparent PNG (RGBA), 67 bytes.
pub const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// The default name of pxtrack's log format in nginx (the default `[nginx] instance`).
pub const LOG_FORMAT_NAME: &str = crate::config::DEFAULT_INSTANCE;

/// The files `pxtrack nginx` writes into its output directory, with the marker that lets a
/// later run replace the directory.
pub const FILES: [&str; 7] = [
    "pxtrack.conf",
    "locations.conf",
    "opens.map",
    "clicks.map",
    "pixel.png",
    "logrotate.conf",
    MARKER_FILE,
];

/// The file that marks a directory as written by `pxtrack nginx`.
pub const MARKER_FILE: &str = ".pxtrack-nginx";

/// What `pxtrack nginx --out` may replace: its own directory, or one that an older pxtrack
/// wrote (the same files, before the marker and `opens.map`).
pub const OUTPUT_DIR: OutputKind = OutputKind {
    marker: MARKER_FILE,
    what: "a directory written by `pxtrack nginx`",
    legacy: &["pxtrack.conf", "locations.conf", "clicks.map", "pixel.png"],
};

/// The longest quoted string nginx 1.22 reads in a configuration file, quotes included: one
/// token must fit its 4,096-byte read buffer (`NGX_CONF_BUFFER`); one byte more is `too long
/// parameter` (measured with `nginx -t`).
pub const MAX_CONFIG_STRING: usize = 4096;

/// The most bytes a click target may take in the map, as written by [`quote_target`] without
/// its quotes: the map value is `"TOKEN TARGET"`, and a token has at most 46 characters.
pub const MAX_TARGET_CONFIG_BYTES: usize = MAX_CONFIG_STRING - 2 - *token::TOKEN_CHARS.end() - 1;

/// The longest `[nginx] instance` name.
pub const MAX_INSTANCE_CHARS: usize = 24;

/// A self-signed certificate that `pxtrack nginx` hands to `nginx -t` in its scratch check, in
/// place of the real one (which lives on the server, readable by root alone). It is public and
/// never served: the check only proves that the configuration around it is what nginx accepts.
pub const CHECK_CERTIFICATE_PEM: &str = include_str!("nginx/check-certificate.pem");

/// The key of [`CHECK_CERTIFICATE_PEM`].
pub const CHECK_CERTIFICATE_KEY_PEM: &str = include_str!("nginx/check-certificate-key.pem");

/// Where the generated files will be read by nginx, and how much of the configuration to write.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    /// The directory that will hold the files on the server (`--server-dir`, else `--out`).
    pub dir: &'a Path,
    /// Write the port-80 server alone, answering certbot's challenge and redirecting the rest:
    /// the certificate files do not exist yet.
    pub acme_only: bool,
}

/// The generated files' contents.
#[derive(Debug)]
pub struct NginxFiles {
    /// `pxtrack.conf`: include it in the `http` block.
    pub main_conf: String,
    /// `locations.conf`: the tracking location blocks alone.
    pub locations_conf: String,
    /// `opens.map`: the open map entries.
    pub opens_map: String,
    /// `clicks.map`: the click map entries.
    pub clicks_map: String,
    /// `logrotate.conf`: for `/etc/logrotate.d/`.
    pub logrotate: String,
    /// How many open tokens the map holds.
    pub open_tokens: usize,
    /// How many click tokens the map holds.
    pub click_tokens: usize,
    /// Rows left out because they expired (their URLs answer 404, as `analyze` counts them).
    pub expired: usize,
    /// Rows nginx cannot serve, with the reason and the manifest's token: a target too long for
    /// nginx, a token that is not a pxtrack token, a token that differs from another only in
    /// case (nginx's map would confuse them).
    pub refused: Vec<String>,
    /// Click tokens in the map that expire within [`EXPIRING_SOON_SECS`] of the run.
    pub expiring_soon: usize,
    /// Open tokens in the map that expire within [`EXPIRING_SOON_SECS`] of the run.
    pub opens_expiring_soon: usize,
    /// Whether TLS is configured (the https server block is written unless `acme_only`).
    pub tls: bool,
}

/// How far ahead `pxtrack nginx` looks for tokens about to stop being served: a week.
pub const EXPIRING_SOON_SECS: i64 = 7 * 86_400;

/// The names nginx shares across configuration files, derived from `[nginx] instance`.
struct Names<'a> {
    instance: &'a str,
}

impl Names<'_> {
    fn var(&self, what: &str) -> String {
        format!("${}_{what}", self.instance)
    }

    fn dollar(&self) -> String {
        format!("${{{}_dollar}}", self.instance)
    }
}

/// The `log_format` directive for pxtrack's format, named `name`.
pub fn log_format_directive_named(name: &str) -> String {
    let mut s = format!("log_format {name} '{LOG_FORMAT_TAG}");
    for field in LOG_FIELDS {
        s.push_str("\\t");
        s.push_str(field);
    }
    s.push_str("';");
    s
}

/// The `log_format` directive for pxtrack's format under its default name.
pub fn log_format_directive() -> String {
    log_format_directive_named(LOG_FORMAT_NAME)
}

/// Quotes a file path for nginx, refusing what nginx would interpret.
pub fn quote_path(path: &Path) -> Result<String> {
    let text = path
        .to_str()
        .ok_or_else(|| Error::Nginx(format!("path {} is not UTF-8", path.display())))?;
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() || matches!(c, '$' | '"' | '\'' | '\\' | '*' | '?' | '[' | '{'))
    {
        return Err(Error::Nginx(format!(
            "path {text:?} contains {c:?}, which nginx would interpret; choose another directory"
        )));
    }
    Ok(format!("\"{text}\""))
}

/// Quotes a setting's path for nginx: absolute, a file name at its end, nothing nginx interprets.
fn quote_setting_path(setting: &str, path: &Path) -> Result<String> {
    if !path.is_absolute() {
        return Err(Error::Nginx(format!(
            "nginx.{setting} {:?} must be an absolute path: nginx would read a relative one from \
             its own prefix directory",
            path.display().to_string()
        )));
    }
    if path.as_os_str().to_string_lossy().ends_with('/') || path.file_name().is_none() {
        return Err(Error::Nginx(format!(
            "nginx.{setting} {:?} names a directory; give a file, such as \
             \"/var/log/pxtrack/access.log\"",
            path.display().to_string()
        )));
    }
    quote_path(path).map_err(|e| Error::Nginx(format!("nginx.{setting}: {e}")))
}

/// Quotes a URL as an nginx string whose value is exactly `url`: `\` and `"` are escaped and `$`
/// becomes `${pxtrack_dollar}`. `url` must already be a validated target (no control characters).
pub fn quote_target(url: &str) -> String {
    quote_target_for(url, LOG_FORMAT_NAME)
}

fn quote_target_for(url: &str, instance: &str) -> String {
    let dollar = Names { instance }.dollar();
    let mut s = String::with_capacity(url.len() + 2);
    s.push('"');
    for c in url.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '$' => s.push_str(&dollar),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// How many bytes `target` takes in the click map for `instance` ([`quote_target`] without its
/// quotes); more than [`MAX_TARGET_CONFIG_BYTES`] is more than nginx reads.
pub fn target_config_bytes(target: &str, instance: &str) -> usize {
    let dollar = Names { instance }.dollar().len();
    target
        .bytes()
        .map(|b| match b {
            b'\\' | b'"' => 2,
            b'$' => dollar,
            _ => 1,
        })
        .sum()
}

/// Checks that a click target fits in nginx's configuration, with the limit in the error.
pub fn check_target_fits(target: &str, instance: &str) -> Result<()> {
    let bytes = target_config_bytes(target, instance);
    if bytes <= MAX_TARGET_CONFIG_BYTES {
        return Ok(());
    }
    let dollars = target.bytes().filter(|&b| b == b'$').count();
    let how = if dollars > 0 {
        format!(
            " (each of its {dollars} '$' is written as {}, {} bytes)",
            Names { instance }.dollar(),
            Names { instance }.dollar().len()
        )
    } else {
        String::new()
    };
    Err(Error::Nginx(format!(
        "target URL takes {bytes} bytes in nginx's configuration{how}; nginx reads at most \
         {MAX_TARGET_CONFIG_BYTES} for a click target, so nginx could not redirect it. Shorten the \
         URL (fewer or shorter query parameters)"
    )))
}

/// Checks `[nginx] instance`: a name nginx can use in variable and format names.
pub fn check_instance(name: &str) -> Result<()> {
    let ok = (1..=MAX_INSTANCE_CHARS).contains(&name.len())
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Nginx(format!(
            "nginx.instance {name:?} must be 1 to {MAX_INSTANCE_CHARS} lower-case letters, digits \
             or '_', starting with a letter (it names nginx variables, such as $pxtrack_click_key)"
        )))
    }
}

/// The parameters pxtrack accepts after the address in a `listen` value.
const LISTEN_PARAMS: [&str; 5] = [
    "default_server",
    "reuseport",
    "deferred",
    "bind",
    "ipv6only=",
];

/// The port a `listen` value listens on, after checking that nginx accepts it: `80`,
/// `127.0.0.1:8080`, `[::]:443` or `host:port`, then any of [`LISTEN_PARAMS`].
fn listen_port(setting: &str, value: &str) -> Result<u16> {
    let bad = |why: &str| {
        Err(Error::Nginx(format!(
            "nginx.{setting} value {value:?} {why}; write a port (\"80\"), an address and port \
             (\"127.0.0.1:8080\", \"[::]:443\"), optionally followed by {}",
            LISTEN_PARAMS
                .iter()
                .map(|p| if p.ends_with('=') {
                    format!("{p}on|off")
                } else {
                    p.to_string()
                })
                .collect::<Vec<_>>()
                .join(", ")
        )))
    };
    let mut words = value.split_ascii_whitespace();
    let Some(addr) = words.next() else {
        return bad("is empty");
    };
    for w in words {
        let known = LISTEN_PARAMS.iter().any(|p| match p.strip_suffix('=') {
            Some(name) => w
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix('='))
                .is_some_and(|v| matches!(v, "on" | "off")),
            None => w == *p,
        });
        if matches!(w, "ssl" | "http2") {
            return bad(&format!(
                "has {w:?}: pxtrack adds ssl and http2 itself, to the nginx.tls_listen values"
            ));
        }
        if !known {
            return bad(&format!("has {w:?}, which pxtrack does not write"));
        }
    }
    let port_text = if let Some(v6) = addr.strip_prefix('[') {
        let Some((ip, rest)) = v6.split_once(']') else {
            return bad("has an unclosed '['");
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("has an IPv6 address nginx would not accept");
        }
        match rest.strip_prefix(':') {
            Some(p) => p,
            None if rest.is_empty() => "80",
            None => return bad("has text after the IPv6 address"),
        }
    } else if addr.bytes().all(|b| b.is_ascii_digit()) {
        addr
    } else {
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "80"));
        let host_ok = host == "*"
            || (!host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')));
        if !host_ok {
            return bad("has an address nginx would not accept");
        }
        port
    };
    match port_text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => bad("has no port between 1 and 65535"),
    }
}

/// Checks `server_name`: names, `*.example.com`, `example.*`, `.example.com`, `_` or addresses.
/// Regular expressions and a bare `*` are refused (nginx refuses the latter).
fn check_server_name(value: &str) -> Result<()> {
    let bad = |name: &str, why: &str| {
        Err(Error::Nginx(format!(
            "nginx.server_name {name:?} {why}; write host names separated by spaces (such as \
             \"t.example.com\"), \"*.example.com\", or \"_\" for any host"
        )))
    };
    let mut any = false;
    for name in value.split_ascii_whitespace() {
        any = true;
        if name == "_" {
            continue;
        }
        if name == "*" {
            return bad(name, "is not a name nginx accepts");
        }
        let core = name
            .strip_prefix("*.")
            .or_else(|| name.strip_suffix(".*"))
            .or_else(|| name.strip_prefix('.'))
            .unwrap_or(name);
        let v6 = core
            .strip_prefix('[')
            .and_then(|c| c.strip_suffix(']'))
            .is_some_and(|c| c.parse::<std::net::Ipv6Addr>().is_ok());
        let host = !core.is_empty()
            && !core.starts_with(['.', '-'])
            && !core.ends_with(['.', '-'])
            && !core.contains("..")
            && core
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !(v6 || host) {
            return bad(name, "is not a host name");
        }
    }
    if !any {
        return bad(value, "is empty");
    }
    Ok(())
}

/// The scheme-and-host part of the base URL (`https://t.example.com:8443`), for redirects.
fn origin(config: &Config) -> &str {
    let b = &config.base_url;
    &b.url[..b.url.len() - b.path_prefix.len()]
}

/// The base URL's port, explicit or the scheme's default.
fn base_port(config: &Config) -> u16 {
    let https = config.base_url.url.starts_with("https://");
    let default = if https { 443 } else { 80 };
    let host_port = origin(config).split_once("://").map_or("", |(_, h)| h);
    let after_host = match host_port.rsplit_once(']') {
        Some((_, rest)) => rest,
        None => host_port,
    };
    after_host
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(default)
}

/// Checks that nginx, as configured, serves the base URL and accepts every value pxtrack writes.
/// Returns whether TLS is configured.
pub fn check_settings(config: &Config) -> Result<bool> {
    let n: &NginxSettings = &config.nginx;
    check_instance(&n.instance)?;
    check_server_name(&n.server_name)?;
    if n.listen.is_empty() {
        return Err(Error::Nginx(
            "nginx.listen is empty: nginx needs a plain-HTTP port, at least to answer certbot \
             (such as [\"80\", \"[::]:80\"])"
                .into(),
        ));
    }
    let plain: Vec<u16> = n
        .listen
        .iter()
        .map(|l| listen_port("listen", l))
        .collect::<Result<_>>()?;
    let tls = n.tls_certificate.is_some();
    let tls_ports: Vec<u16> = if tls {
        if n.tls_listen.is_empty() {
            return Err(Error::Nginx(
                "nginx.tls_listen is empty while a certificate is set; such as [\"443\", \
                 \"[::]:443\"]"
                    .into(),
            ));
        }
        n.tls_listen
            .iter()
            .map(|l| listen_port("tls_listen", l))
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    if let Some(clash) = tls_ports.iter().find(|p| plain.contains(p)) {
        return Err(Error::Nginx(format!(
            "port {clash} is in both nginx.listen and nginx.tls_listen; one port speaks either \
             plain HTTP or TLS"
        )));
    }
    quote_setting_path("access_log", &n.access_log)?;
    for (setting, path) in [
        ("tls_certificate", &n.tls_certificate),
        ("tls_certificate_key", &n.tls_certificate_key),
    ] {
        if let Some(p) = path {
            quote_setting_path(setting, p)?;
        }
    }
    if let Some(root) = &n.acme_webroot {
        if !root.is_absolute() {
            return Err(Error::Nginx(format!(
                "nginx.acme_webroot {:?} must be an absolute path",
                root.display().to_string()
            )));
        }
        quote_path(root).map_err(|e| Error::Nginx(format!("nginx.acme_webroot: {e}")))?;
    }
    let https = config.base_url.url.starts_with("https://");
    let port = base_port(config);
    if n.behind_proxy {
        return Ok(tls);
    }
    if https && !tls {
        let (cert, key) = crate::config::certbot_paths(&config.base_url.host);
        return Err(Error::Nginx(format!(
            "the base URL {} is https, but [nginx] has no tls_certificate, so nginx would not \
             serve the URLs you mint. Add, under [nginx]:\n  tls_certificate = \"{}\"\n  \
             tls_certificate_key = \"{}\"\n  acme_webroot = \"{}\"\n(certbot's paths; until \
             certbot has run, `pxtrack nginx` writes the port-80 server that answers it), or \
             behind_proxy = true if a proxy or CDN in front of nginx terminates TLS",
            config.base_url.url,
            cert.display(),
            key.display(),
            crate::config::DEFAULT_ACME_WEBROOT
        )));
    }
    if !https && tls {
        return Err(Error::Nginx(format!(
            "the base URL {} is http, but a certificate is set: nginx would redirect the minted \
             http URLs to https. Use an https base URL (tokens minted so far keep working only \
             under their own URL), or remove tls_certificate",
            config.base_url.url
        )));
    }
    let (ports, setting) = if https {
        (&tls_ports, "tls_listen")
    } else {
        (&plain, "listen")
    };
    if !ports.contains(&port) {
        return Err(Error::Nginx(format!(
            "the base URL {} is on port {port}, but nginx.{setting} listens on {}: nginx would \
             not serve the URLs you mint. Add \"{port}\" to nginx.{setting} (or --{} on the \
             command line), or set behind_proxy = true if a proxy forwards to nginx",
            config.base_url.url,
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            setting.replace('_', "-"),
        )));
    }
    Ok(tls)
}

/// Builds the nginx files for `config`: every live token in `rows` in the maps, the pixel and
/// maps read from `layout.dir`. `now_secs` decides which tokens have expired.
pub fn generate(
    config: &Config,
    rows: &[ManifestRow],
    layout: &Layout<'_>,
    now_secs: i64,
) -> Result<NginxFiles> {
    let tls = check_settings(config)?;
    let names = Names {
        instance: &config.nginx.instance,
    };
    let mut files = NginxFiles {
        main_conf: String::new(),
        locations_conf: String::new(),
        opens_map: String::from(
            "# Generated by pxtrack from the manifest: one open token a line. Do not edit.\n",
        ),
        clicks_map: String::from(
            "# Generated by pxtrack from the manifest: one click token a line, with its target. \
             Do not edit.\n",
        ),
        logrotate: String::new(),
        open_tokens: 0,
        click_tokens: 0,
        expired: 0,
        refused: Vec::new(),
        expiring_soon: 0,
        opens_expiring_soon: 0,
        tls,
    };
    // nginx's map compares keys ignoring case: two tokens that differ only in case would be one
    // key ("conflicting parameter"). Genuine tokens never do; a hand-edited manifest might.
    // By a hash of the lower-cased token (16 bytes an entry, not a copy of each token); a rare
    // hash collision between tokens that differ otherwise only skips the check for the second.
    let hasher = foldhash::quality::FixedState::with_seed(0);
    let lower_hash = |t: &str| {
        use std::hash::{BuildHasher as _, Hasher as _};
        let mut h = hasher.build_hasher();
        for b in t.bytes() {
            h.write_u8(b.to_ascii_lowercase());
        }
        h.finish()
    };
    let mut seen: std::collections::HashMap<u64, usize> =
        std::collections::HashMap::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        if !token::is_token_charset(row.token.as_bytes())
            || !token::TOKEN_CHARS.contains(&row.token.len())
        {
            files.refused.push(format!(
                "token {:?}: not a pxtrack token",
                row.token.chars().take(60).collect::<String>()
            ));
            continue;
        }
        if row.expires.is_some_and(|e| e.timestamp() <= now_secs) {
            files.expired += 1;
            continue;
        }
        let entry = match row.kind {
            TokenKind::Open => format!("{t} {t};\n", t = row.token),
            TokenKind::Click => match validate_target(&row.target) {
                Ok(target) if target == row.target => {
                    if let Err(e) = check_target_fits(&target, names.instance) {
                        files.refused.push(format!("token {}: {e}", row.token));
                        continue;
                    }
                    let quoted = quote_target_for(&target, names.instance);
                    format!("{} \"{} {};\n", row.token, row.token, &quoted[1..])
                }
                Ok(_) | Err(_) => {
                    files.refused.push(format!(
                        "token {}: its target is not a URL pxtrack would mint",
                        row.token
                    ));
                    continue;
                }
            },
        };
        match seen.entry(lower_hash(&row.token)) {
            std::collections::hash_map::Entry::Occupied(o) => {
                let other = &rows[*o.get()].token;
                if other == &row.token {
                    continue;
                }
                if other.eq_ignore_ascii_case(&row.token) {
                    files.refused.push(format!(
                        "token {}: differs from token {other} only in case, which nginx's map \
                         cannot tell apart",
                        row.token
                    ));
                    continue;
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(index);
            }
        }
        match row.kind {
            TokenKind::Open => {
                files.opens_map.push_str(&entry);
                files.open_tokens += 1;
            }
            TokenKind::Click => {
                files.clicks_map.push_str(&entry);
                files.click_tokens += 1;
            }
        }
        if row
            .expires
            .is_some_and(|e| e.timestamp() <= now_secs + EXPIRING_SOON_SECS)
        {
            match row.kind {
                TokenKind::Open => files.opens_expiring_soon += 1,
                TokenKind::Click => files.expiring_soon += 1,
            }
        }
    }
    let confs = server_confs(config, layout)?;
    files.main_conf = confs.main_conf;
    files.locations_conf = confs.locations_conf;
    files.logrotate = confs.logrotate;
    Ok(files)
}

/// The files that name paths (everything but the maps): what [`generate`] writes for `layout`.
#[derive(Debug)]
pub struct ServerConfs {
    /// `pxtrack.conf`.
    pub main_conf: String,
    /// `locations.conf`.
    pub locations_conf: String,
    /// `logrotate.conf`.
    pub logrotate: String,
}

/// The configuration files for `layout`, without the maps: the command layer calls it again
/// with scratch paths to let `nginx -t` check the same text where it can run.
pub fn server_confs(config: &Config, layout: &Layout<'_>) -> Result<ServerConfs> {
    let tls = check_settings(config)?;
    let n = &config.nginx;
    let names = Names {
        instance: &n.instance,
    };
    let instance = names.instance;
    let prefix = &config.base_url.path_prefix;
    let prefix_re = prefix.replace('.', "\\.");
    let dir_q = quote_path(layout.dir)?;
    let opens_q = quote_path(&layout.dir.join("opens.map"))?;
    let clicks_q = quote_path(&layout.dir.join("clicks.map"))?;
    let locations_q = quote_path(&layout.dir.join("locations.conf"))?;
    let log_q = quote_setting_path("access_log", &n.access_log)?;
    let (open_token, open_key) = (names.var("open_token"), names.var("open_key"));
    let (click_token, click_entry, click_key, click_target) = (
        names.var("click_token"),
        names.var("click_entry"),
        names.var("click_key"),
        names.var("click_target"),
    );
    let (min, max) = (token::TOKEN_CHARS.start(), token::TOKEN_CHARS.end());

    let locations_conf = format!(
        r#"# Generated by pxtrack. Do not edit: run `pxtrack nginx` again.
# The location blocks pxtrack needs, for a server block that uses the log format and maps defined
# in pxtrack.conf (`access_log ... {instance};`). A request is served only when its raw target
# is exactly a minted URL (then `?`, `#` or its end), the same test `pxtrack analyze` applies.

# Opens: a minted, unexpired open token gets the pixel; anything else is 404.
location ^~ {prefix}/o/ {{
    if ({open_key} != {open_token}) {{
        return 404;
    }}
    limit_except GET {{ deny all; }}
    root {dir_q};
    try_files /pixel.png =404;
    types {{ }}
    default_type image/png;
    etag off;
    if_modified_since off;
    add_header Cache-Control "no-store, no-cache, must-revalidate, private" always;
    add_header Expires "0" always;
}}

# Clicks: a minted, unexpired click token redirects to its target; anything else is 404, never
# an open redirect.
location ^~ {prefix}/c/ {{
    if ({click_key} != {click_token}) {{
        return 404;
    }}
    add_header Cache-Control "no-store" always;
    add_header Referrer-Policy "no-referrer" always;
    return 302 {click_target};
}}
"#
    );

    let mut main_conf = format!(
        r#"# Generated by pxtrack from {config_path}. Do not edit: run `pxtrack nginx` again.
# Include this file inside the http {{ }} block of nginx.conf. On Debian, a file in
# /etc/nginx/conf.d/ that says this is enough:
#   include {main};
# Every name below derives from [nginx] instance = "{instance}", so a second pxtrack (another
# instance) fits beside it, and no http-level setting of your nginx.conf is overridden.

# pxtrack's access log format: tab-separated, first field "{LOG_FORMAT_TAG}". See README.md.
{log_format}

# A literal "$" for click targets: nginx strings have no escape for it, and geo values are never
# parsed for variables.
geo {dollar_var} {{
    default "$";
}}

# The token of a request whose raw target ($request_uri, as logged) is exactly a minted URL.
# Case-sensitive (~), unlike map's string keys; $uri would be the normalised path.
map $request_uri {open_token} {{
    default "";
    "~^{prefix_re}/o/([A-Za-z0-9_-]{{{min},{max}}})\.png(?:[?#]|$)" $1;
}}
map $request_uri {click_token} {{
    default "";
    "~^{prefix_re}/c/([A-Za-z0-9_-]{{{min},{max}}})(?:[?#]|$)" $1;
}}

# Minted tokens. map matches these keys ignoring case, so each value starts with the token
# itself, and the locations serve only when it equals the request's token byte for byte.
map {open_token} {open_key} {{
    default "-";
    include {opens_q};
}}
map {click_token} {click_entry} {{
    default "";
    include {clicks_q};
}}
map {click_entry} {click_key} {{
    default "-";
    "~^([^ ]+) " $1;
}}
map {click_entry} {click_target} {{
    default "";
    "~^[^ ]+ (.*)$" $1;
}}
"#,
        config_path = config.path.display().to_string().replace(['\n', '\r'], " "),
        main = layout.dir.join("pxtrack.conf").display(),
        log_format = log_format_directive_named(instance),
        dollar_var = names.var("dollar"),
    );

    let server_names = &n.server_name;
    let real_ip = {
        let mut s = String::new();
        for net in &n.real_ip_from {
            let _ = writeln!(s, "    set_real_ip_from {net};");
        }
        if !n.real_ip_from.is_empty() {
            s.push_str("    real_ip_header X-Forwarded-For;\n    real_ip_recursive on;\n");
        }
        s
    };
    let acme = match &n.acme_webroot {
        Some(root) => format!(
            r#"
    # certbot's HTTP-01 challenge: `certbot certonly --webroot -w {root} -d {host}`.
    location ^~ /.well-known/acme-challenge/ {{
        root {root_q};
        default_type text/plain;
        try_files $uri =404;
    }}
"#,
            root = root.display(),
            root_q = quote_path(root)?,
            host = config.base_url.host,
        ),
        None => String::new(),
    };
    let mut listen = String::new();
    for l in &n.listen {
        let _ = writeln!(listen, "    listen {l};");
    }
    if tls {
        let cert_q = quote_setting_path(
            "tls_certificate",
            n.tls_certificate
                .as_deref()
                .expect("tls means a certificate"),
        )?;
        let key_q = quote_setting_path(
            "tls_certificate_key",
            n.tls_certificate_key
                .as_deref()
                .expect("the config requires a key with a certificate"),
        )?;
        let _ = write!(
            main_conf,
            r#"
# Port 80: certbot's challenge; everything else moves to https. Not logged in pxtrack's log: the
# minted URLs are https, and the request that follows the redirect is the one that counts.
server {{
{listen}    server_name {server_names};
{acme}
    location / {{
        return 301 "{origin}$request_uri";
    }}
}}
"#,
            origin = origin(config),
        );
        if layout.acme_only {
            let _ = write!(
                main_conf,
                r#"
# The https server is left out: {cert} does not exist yet. Run certbot, then `pxtrack nginx`
# again.
"#,
                cert = n
                    .tls_certificate
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
                    .replace(['\n', '\r'], " "),
            );
        } else {
            let mut tls_listen = String::new();
            for l in &n.tls_listen {
                // `listen ... ssl http2`: nginx 1.22 has no separate `http2` directive (1.25.1).
                let _ = writeln!(tls_listen, "    listen {l} ssl http2;");
            }
            let _ = write!(
                main_conf,
                r#"
server {{
{tls_listen}    server_name {server_names};
    ssl_certificate {cert_q};
    ssl_certificate_key {key_q};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:{instance}_tls:10m;
    ssl_session_tickets off;
    access_log {log_q} {instance};
{real_ip}
    include {locations_q};

    location / {{
        return 404;
    }}
}}
"#
            );
        }
    } else {
        let _ = write!(
            main_conf,
            r#"
server {{
{listen}    server_name {server_names};
    access_log {log_q} {instance};
{real_ip}{acme}
    include {locations_q};

    location / {{
        return 404;
    }}
}}
"#
        );
    }

    Ok(ServerConfs {
        main_conf,
        locations_conf,
        logrotate: logrotate_conf(n, &log_q),
    })
}

/// The logrotate file for pxtrack's access log: daily, dated names (`access.log-20261129.gz`,
/// which `analyze` reads with the log), compressed a day late (nginx may still be writing the
/// newest rotation until it reopens), `create` plus nginx's reopen (never `copytruncate`, which
/// loses the lines written between the copy and the truncate), kept `keep_logs_days` or for
/// ever.
fn logrotate_conf(n: &NginxSettings, log_q: &str) -> String {
    let keep = match n.keep_logs_days {
        Some(days) => format!(
            "    # [nginx] keep_logs_days = {days}: rotations older than that are deleted.\n    \
             rotate {days}\n    maxage {days}\n"
        ),
        None => "    # Never deleted: for pxtrack the log is the database ([nginx] keep_logs_days \
                 limits it).\n    rotate -1\n"
            .to_string(),
    };
    format!(
        r#"# Generated by pxtrack. Install as /etc/logrotate.d/{instance}:
#   sudo install -m 0644 logrotate.conf /etc/logrotate.d/{instance}
# The log's directory must exist and be writable by root only, for instance:
#   sudo install -d -m 0755 -o root -g adm {dir}
{log_q} {{
    daily
    dateext
    missingok
    notifempty
    compress
    delaycompress
{keep}    create 0640 www-data adm
    sharedscripts
    postrotate
        invoke-rc.d nginx rotate >/dev/null 2>&1 || true
    endscript
}}
"#,
        instance = n.instance,
        dir = n
            .access_log
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn pixel_is_a_valid_transparent_png() {
        assert_eq!(&PIXEL_PNG[..8], b"\x89PNG\r\n\x1a\n");
        // Walk the chunks and check every CRC.
        let mut pos = 8;
        let mut idat = Vec::new();
        let mut names = Vec::new();
        while pos < PIXEL_PNG.len() {
            let len = u32::from_be_bytes(PIXEL_PNG[pos..pos + 4].try_into().unwrap()) as usize;
            let name = &PIXEL_PNG[pos + 4..pos + 8];
            let data = &PIXEL_PNG[pos + 8..pos + 8 + len];
            let crc =
                u32::from_be_bytes(PIXEL_PNG[pos + 8 + len..pos + 12 + len].try_into().unwrap());
            let mut h = crc32fast::Hasher::new();
            h.update(name);
            h.update(data);
            assert_eq!(
                h.finalize(),
                crc,
                "CRC of {}",
                String::from_utf8_lossy(name)
            );
            if name == b"IHDR" {
                assert_eq!(&data[..8], &[0, 0, 0, 1, 0, 0, 0, 1], "1x1");
                assert_eq!(data[9], 6, "RGBA");
            }
            if name == b"IDAT" {
                idat.extend_from_slice(data);
            }
            names.push(String::from_utf8_lossy(name).to_string());
            pos += 12 + len;
        }
        assert_eq!(names, ["IHDR", "IDAT", "IEND"]);
        let mut pixels = Vec::new();
        flate2::read::ZlibDecoder::new(&idat[..])
            .read_to_end(&mut pixels)
            .unwrap();
        assert_eq!(
            pixels,
            [0, 0, 0, 0, 0],
            "filter byte, then one transparent pixel"
        );
    }

    #[test]
    fn targets_are_quoted_so_nothing_is_interpreted() {
        assert_eq!(
            quote_target(r#"https://x/a$b;c"d{e}\f"#),
            r#""https://x/a${pxtrack_dollar}b;c\"d{e}\\f""#
        );
    }

    #[test]
    fn hostile_paths_are_refused() {
        for p in ["/tmp/$x", "/tmp/a\"b", "/tmp/a*b", "/tmp/a\nb"] {
            assert!(quote_path(Path::new(p)).is_err(), "{p}");
        }
        assert_eq!(
            quote_path(Path::new("/srv/px track")).unwrap(),
            "\"/srv/px track\""
        );
    }

    fn config(base: &str) -> Config {
        let b = crate::config::BaseUrl::parse(base).unwrap();
        let mut c =
            Config::parse(&Config::template(&b), Path::new("/srv/px/pxtrack.toml")).unwrap();
        c.nginx.listen = vec!["127.0.0.1:8080".into()];
        c
    }

    fn row(kind: TokenKind, token: &str, target: &str, expires: Option<i64>) -> ManifestRow {
        ManifestRow {
            target: target.into(),
            expires: expires.and_then(|e| chrono::DateTime::from_timestamp(e, 0)),
            ..ManifestRow::example(kind, token)
        }
    }

    #[test]
    fn only_live_servable_tokens_reach_the_maps() {
        let c = config("http://127.0.0.1:8080");
        let t = |ch: char| format!("EA{}", ch.to_string().repeat(38));
        let rows = [
            row(TokenKind::Open, &t('a'), "", None),
            row(TokenKind::Open, &t('a'), "", None),
            row(TokenKind::Open, &t('A').replacen("EA", "ea", 1), "", None),
            row(TokenKind::Click, &t('b'), "https://x.org/$", Some(2_000)),
            row(TokenKind::Click, &t('c'), "https://x.org/", Some(500)),
            row(
                TokenKind::Click,
                &t('d'),
                &format!("https://x.org/{}", "a".repeat(4100)),
                None,
            ),
            row(TokenKind::Click, "not a token", "https://x.org/", None),
        ];
        let layout = Layout {
            dir: Path::new("/srv/px/nginx"),
            acme_only: false,
        };
        let f = generate(&c, &rows, &layout, 1_000).unwrap();
        assert_eq!((f.open_tokens, f.click_tokens, f.expired), (1, 1, 1));
        assert_eq!(f.expiring_soon, 1);
        assert_eq!(f.refused.len(), 3, "{:?}", f.refused);
        assert!(f.refused[0].contains("only in case"), "{:?}", f.refused);
        assert!(
            f.refused[1].contains("nginx reads at most"),
            "{:?}",
            f.refused
        );
        assert!(
            f.refused[2].contains("not a pxtrack token"),
            "{:?}",
            f.refused
        );
        assert!(f.opens_map.ends_with(&format!("{0} {0};\n", t('a'))));
        assert!(f.clicks_map.ends_with(&format!(
            "{0} \"{0} https://x.org/${{pxtrack_dollar}}\";\n",
            t('b')
        )));
    }

    #[test]
    fn settings_nginx_would_refuse_are_refused() {
        let ok = config("http://127.0.0.1:8080/t");
        assert!(!check_settings(&ok).unwrap(), "no TLS for an http base URL");
        let refused = |edit: &dyn Fn(&mut Config), expect: &str| {
            let mut c = ok.clone();
            edit(&mut c);
            let e = check_settings(&c).unwrap_err().to_string();
            assert!(e.contains(expect), "{expect:?} in {e}");
        };
        refused(
            &|c| c.nginx.server_name = "*".into(),
            "not a name nginx accepts",
        );
        refused(&|c| c.nginx.server_name = "a..b".into(), "not a host name");
        refused(&|c| c.nginx.server_name = "~^x$".into(), "not a host name");
        refused(
            &|c| c.nginx.listen = vec!["80 ssl".into()],
            "pxtrack adds ssl",
        );
        refused(
            &|c| c.nginx.listen = vec!["127.0.0.1:99999".into()],
            "no port",
        );
        refused(
            &|c| c.nginx.listen = vec!["80; include x".into()],
            "has \"include\"",
        );
        refused(
            &|c| c.nginx.listen = vec!["127.0.0.1:9090".into()],
            "is on port 8080",
        );
        refused(&|c| c.nginx.listen = vec![], "nginx.listen is empty");
        refused(&|c| c.nginx.instance = "Px".into(), "nginx.instance");
        refused(
            &|c| c.nginx.access_log = "rel.log".into(),
            "must be an absolute path",
        );
        refused(
            &|c| c.nginx.access_log = "/var/log/px/".into(),
            "names a directory",
        );
        for good in [
            "_",
            "t.example.com *.example.com",
            ".example.com",
            "example.*",
            "[::1]",
        ] {
            let mut c = ok.clone();
            c.nginx.server_name = good.into();
            assert!(check_settings(&c).is_ok(), "{good}");
        }
        for good in [
            "8080",
            "127.0.0.1:8080 default_server",
            "[::]:8080 ipv6only=on",
            "*:8080",
        ] {
            let mut c = ok.clone();
            c.nginx.listen = vec![good.into()];
            assert!(check_settings(&c).is_ok(), "{good}");
        }
        let mut https = config("https://t.example.com");
        assert!(
            check_settings(&https).unwrap(),
            "init's https config has TLS"
        );
        https.nginx.tls_listen = vec!["8443".into()];
        let e = check_settings(&https).unwrap_err().to_string();
        assert!(
            e.contains("is on port 443, but nginx.tls_listen listens on 8443"),
            "{e}"
        );
        https.nginx.tls_certificate = None;
        let e = check_settings(&https).unwrap_err().to_string();
        assert!(e.contains("has no tls_certificate"), "{e}");
        https.nginx.behind_proxy = true;
        assert!(!check_settings(&https).unwrap(), "a proxy terminates TLS");
        let mut http = ok.clone();
        http.nginx.tls_certificate = Some("/c.pem".into());
        http.nginx.tls_certificate_key = Some("/k.pem".into());
        let e = check_settings(&http).unwrap_err().to_string();
        assert!(e.contains("is http, but a certificate is set"), "{e}");
    }

    #[test]
    fn log_format_has_every_field_tab_separated() {
        let d = log_format_directive();
        assert!(d.starts_with("log_format pxtrack 'pxt1\\t$msec\\t$remote_addr"));
        assert_eq!(d.matches("\\t").count(), LOG_FIELDS.len());
    }
}
