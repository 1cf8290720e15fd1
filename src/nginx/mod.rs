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

mod confs;
mod settings;

pub use confs::{ServerConfs, server_confs};
pub use settings::{check_instance, check_settings};
use settings::{origin, quote_setting_path};

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
pub const CHECK_CERTIFICATE_PEM: &str = include_str!("check-certificate.pem");

/// The key of [`CHECK_CERTIFICATE_PEM`].
pub const CHECK_CERTIFICATE_KEY_PEM: &str = include_str!("check-certificate-key.pem");

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

/// The `log_format` directive for pxtrack's format, named `name`; the fields' own variables
/// (`$pxtrack_...` in [`LOG_FIELDS`]) are named after it too (see [`purpose_map_named`]).
pub fn log_format_directive_named(name: &str) -> String {
    let mut s = format!("log_format {name} '{LOG_FORMAT_TAG}");
    for field in LOG_FIELDS {
        s.push_str("\\t");
        match field.strip_prefix("$pxtrack_") {
            Some(own) => s.push_str(&format!("${name}_{own}")),
            None => s.push_str(field),
        }
    }
    s.push_str("';");
    s
}

/// The `map` that defines the log format's `${name}_purpose`: `Purpose`, else Safari's
/// `X-Purpose` and older Firefoxes' `X-Moz`, the other prefetch markers browsers send.
pub fn purpose_map_named(name: &str) -> String {
    format!(
        "map $http_purpose ${name}_purpose {{\n    \"\" \"$http_x_purpose$http_x_moz\";\n    \
         default $http_purpose;\n}}"
    )
}

/// The `log_format` directive for pxtrack's format under its default name.
pub fn log_format_directive() -> String {
    log_format_directive_named(LOG_FORMAT_NAME)
}

/// Quotes a file path for nginx, refusing what nginx would interpret.
pub fn quote_path(path: &Path) -> Result<String> {
    let text = path.to_str().ok_or_else(|| Error::UnsafePath {
        path: path.display().to_string(),
        problem: "is not UTF-8".into(),
    })?;
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() || matches!(c, '$' | '"' | '\'' | '\\' | '*' | '?' | '[' | '{'))
    {
        return Err(Error::UnsafePath {
            path: text.to_string(),
            problem: format!(
                "contains {c:?}, which nginx would interpret; choose another directory"
            ),
        });
    }
    Ok(format!("\"{text}\""))
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
    Err(Error::TargetTooLong {
        bytes,
        limit: MAX_TARGET_CONFIG_BYTES,
        how,
    })
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

    pub(super) fn config(base: &str) -> Config {
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
    fn log_format_has_every_field_tab_separated() {
        let d = log_format_directive();
        assert!(d.starts_with("log_format pxtrack 'pxt1\\t$msec\\t$remote_addr"));
        assert_eq!(d.matches("\\t").count(), LOG_FIELDS.len());
    }
}
