//! The nginx configuration that serves pixels and redirects, for Debian's stock nginx (1.22) with
//! no extra module: `log_format`, `geo`, `map`, `realip` and the static file handler are all in
//! the stock build.
//!
//! Three files come out of [`generate`]: `pxtrack.conf` (http-level: log format, the click map and
//! a complete `server` block), `locations.conf` (the `location` blocks alone, for users who include
//! them in a server block of their own) and `clicks.map` (one entry per click token). The pixel is
//! [`PIXEL_PNG`]. Everything here is text generation; the command layer writes the files.
//!
//! Nothing from the manifest can change the config's meaning: map keys are tokens checked to be
//! base64url; targets are written as double-quoted nginx strings with `\` and `"` escaped, and every
//! `$` replaced by `${pxtrack_dollar}`, a variable that `geo` (whose values are never parsed for
//! variables) defines as a literal `$`. Paths are quoted and refused if they hold `$`, quotes,
//! control characters or glob characters.

use std::fmt::Write as _;
use std::path::Path;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::manifest::{ManifestRow, validate_target};
use crate::token::{self, TokenKind};

/// A valid 1x1 fully transparent PNG (RGBA), 67 bytes.
pub const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// The name of pxtrack's log format in nginx.
pub const LOG_FORMAT_NAME: &str = "pxtrack";

/// The first field of every line in pxtrack's log format: it names the format and its version,
/// so the analyzer can tell it from `combined` and a future `pxt2` can add fields.
pub const LOG_FORMAT_TAG: &str = "pxt1";

/// The variables of pxtrack's log format, in order, after the tag. Tab-separated: nginx's default
/// log escaping turns tabs, quotes, backslashes and non-ASCII bytes inside values into `\xHH`, so
/// a tab always separates fields.
pub const LOG_FIELDS: [&str; 15] = [
    "$msec",
    "$remote_addr",
    "$http_x_forwarded_for",
    "$request_method",
    "$request_uri",
    "$server_protocol",
    "$status",
    "$body_bytes_sent",
    "$request_time",
    "$http_referer",
    "$http_user_agent",
    "$http_x_requested_with",
    "$http_sec_purpose",
    "$http_purpose",
    "$http_accept_language",
];

/// The generated files' contents.
#[derive(Debug)]
pub struct NginxFiles {
    /// `pxtrack.conf`: include it in the `http` block.
    pub main_conf: String,
    /// `locations.conf`: the location blocks alone.
    pub locations_conf: String,
    /// `clicks.map`: the click map entries.
    pub clicks_map: String,
    /// How many click tokens the map holds.
    pub click_tokens: usize,
    /// Rows left out of the map, with the reason (expired, refused target).
    pub skipped: Vec<String>,
    /// Click tokens in the map that expire within [`EXPIRING_SOON_SECS`] of the run.
    pub expiring_soon: usize,
}

/// How far ahead `pxtrack nginx` looks for click tokens about to stop redirecting: a week.
pub const EXPIRING_SOON_SECS: i64 = 7 * 86_400;

/// The `log_format` directive for pxtrack's format.
pub fn log_format_directive() -> String {
    let mut s = format!("log_format {LOG_FORMAT_NAME} '{LOG_FORMAT_TAG}");
    for field in LOG_FIELDS {
        s.push_str("\\t");
        s.push_str(field);
    }
    s.push_str("';");
    s
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

/// Quotes a URL as an nginx string whose value is exactly `url`: `\` and `"` are escaped and `$`
/// becomes `${pxtrack_dollar}`. `url` must already be a validated target (no control characters).
pub fn quote_target(url: &str) -> String {
    let mut s = String::with_capacity(url.len() + 2);
    s.push('"');
    for c in url.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '$' => s.push_str("${pxtrack_dollar}"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn check_directive_value(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b':' | b'[' | b']' | b'-' | b'_' | b' ' | b'*')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Nginx(format!(
            "{what} {value:?} may only use letters, digits, '.', ':', '[', ']', '-', '_', '*' and spaces"
        )))
    }
}

/// Builds the nginx files for `config`, serving the pixel from `out_dir` and mapping every live
/// click token in `rows`. `now_secs` decides which tokens have expired.
pub fn generate(
    config: &Config,
    rows: &[ManifestRow],
    out_dir: &Path,
    now_secs: i64,
) -> Result<NginxFiles> {
    let prefix = &config.base_url.path_prefix;
    let prefix_re = prefix.replace('.', "\\.");
    let out_q = quote_path(out_dir)?;
    let map_q = quote_path(&out_dir.join("clicks.map"))?;
    let locations_q = quote_path(&out_dir.join("locations.conf"))?;
    let log_q = quote_path(&config.nginx.access_log)?;
    for l in &config.nginx.listen {
        check_directive_value("nginx.listen", l)?;
    }
    check_directive_value("nginx.server_name", &config.nginx.server_name)?;

    let mut clicks_map = String::from(
        "# Generated by pxtrack from the manifest: one click token per line. Do not edit.\n",
    );
    let mut click_tokens = 0usize;
    let mut expiring_soon = 0usize;
    let mut skipped = Vec::new();
    for row in rows.iter().filter(|r| r.kind == TokenKind::Click) {
        if !token::is_token_charset(row.token.as_bytes()) || row.token.is_empty() {
            skipped.push(format!("token {:?}: not a pxtrack token", row.token));
            continue;
        }
        if row.expires.is_some_and(|e| e.timestamp() <= now_secs) {
            skipped.push(format!("token {}: expired", row.token));
            continue;
        }
        match validate_target(&row.target) {
            Ok(target) if target == row.target => {
                let _ = writeln!(
                    clicks_map,
                    "\"{prefix}/c/{}\" {};",
                    row.token,
                    quote_target(&target)
                );
                click_tokens += 1;
                if row
                    .expires
                    .is_some_and(|e| e.timestamp() <= now_secs + EXPIRING_SOON_SECS)
                {
                    expiring_soon += 1;
                }
            }
            Ok(_) | Err(_) => {
                skipped.push(format!("token {}: target refused", row.token));
            }
        }
    }

    // nginx sizes the map's hash from these; the defaults hold a few thousand keys. Keys are
    // "/c/" plus a token (under 64 bytes), so a 128-byte bucket always fits one. With 1,000,000
    // tokens, twice the count made nginx warn that it could not build an optimal hash; four
    // times does not (measured, BENCHMARKS.md).
    let map_hash_max = (click_tokens * 4).next_power_of_two().max(2048);

    let locations_conf = format!(
        r#"# Generated by pxtrack. Do not edit: run `pxtrack nginx` again.
# The location blocks pxtrack needs, for inclusion in a server block that uses the log format
# and map defined in pxtrack.conf.

# Opens: any well-formed token gets the pixel. Tokens are verified later, by `pxtrack analyze`,
# so minting new pixels never needs a reload.
location ~ "^{prefix_re}/o/[A-Za-z0-9_-]{{16,128}}\.png$" {{
    limit_except GET {{ deny all; }}
    root {out_q};
    try_files /pixel.png =404;
    types {{ }}
    default_type image/png;
    etag off;
    if_modified_since off;
    add_header Cache-Control "no-store, no-cache, must-revalidate, private" always;
    add_header Expires "0" always;
}}

# Clicks: only tokens in the generated map redirect; anything else is 404, never an open redirect.
location ^~ {prefix}/c/ {{
    if ($pxtrack_click_target = "") {{
        return 404;
    }}
    add_header Cache-Control "no-store" always;
    add_header Referrer-Policy "no-referrer" always;
    return 302 $pxtrack_click_target;
}}
"#
    );

    let mut main_conf = format!(
        r#"# Generated by pxtrack from {config_path}. Do not edit: run `pxtrack nginx` again.
# Include this file inside the http {{ }} block of nginx.conf. On Debian, a file in
# /etc/nginx/conf.d/ that says `include {main};` is enough.

# pxtrack's access log format: tab-separated, first field "{LOG_FORMAT_TAG}". See README.md.
{log_format}

# A literal "$" for click targets: nginx strings have no escape for it, and geo values are never
# parsed for variables.
geo $pxtrack_dollar {{
    default "$";
}}

map_hash_bucket_size 128;
map_hash_max_size {map_hash_max};

map $uri $pxtrack_click_target {{
    default "";
    include {map_q};
}}

server {{
"#,
        config_path = config.path.display().to_string().replace(['\n', '\r'], " "),
        main = out_dir.join("pxtrack.conf").display(),
        log_format = log_format_directive(),
    );
    for l in &config.nginx.listen {
        let _ = writeln!(main_conf, "    listen {l};");
    }
    let _ = writeln!(main_conf, "    server_name {};", config.nginx.server_name);
    let _ = writeln!(main_conf, "    access_log {log_q} {LOG_FORMAT_NAME};");
    if !config.nginx.real_ip_from.is_empty() {
        for net in &config.nginx.real_ip_from {
            let _ = writeln!(main_conf, "    set_real_ip_from {net};");
        }
        main_conf.push_str("    real_ip_header X-Forwarded-For;\n    real_ip_recursive on;\n");
    }
    let _ = write!(
        main_conf,
        r#"
    include {locations_q};

    location / {{
        return 404;
    }}
}}
"#
    );

    Ok(NginxFiles {
        main_conf,
        locations_conf,
        clicks_map,
        click_tokens,
        skipped,
        expiring_soon,
    })
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

    #[test]
    fn log_format_has_every_field_tab_separated() {
        let d = log_format_directive();
        assert!(d.starts_with("log_format pxtrack 'pxt1\\t$msec\\t$remote_addr"));
        assert_eq!(d.matches("\\t").count(), LOG_FIELDS.len());
    }
}
