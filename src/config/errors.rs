//! What a config error says: the setting's full name, what it takes in words and what was
//! found, instead of the TOML parser's `expected u32`. One table ([`SETTING_TAKES`]) of every
//! setting.

/// What each setting takes, in words, for errors: a TOML type error names the key and this
/// instead of serde's `expected u32`.
pub(crate) const SETTING_TAKES: [(&str, &str); 28] = [
    (
        "base_url",
        "a URL in quotes, such as \"https://t.example.com\"",
    ),
    ("key_file", "a path in quotes, such as \"pxtrack.key\""),
    ("manifest", "a path in quotes, such as \"manifest.csv\""),
    ("sends", "a path in quotes, such as \"sends.csv\""),
    (
        "nginx.listen",
        "a list of addresses in quotes, such as [\"80\", \"[::]:80\"]",
    ),
    (
        "nginx.server_name",
        "a host name in quotes, such as \"t.example.com\"",
    ),
    (
        "nginx.access_log",
        "a path in quotes, such as \"/var/log/pxtrack/access.log\"",
    ),
    (
        "nginx.tls_listen",
        "a list of addresses in quotes, such as [\"443\", \"[::]:443\"]",
    ),
    (
        "nginx.tls_certificate",
        "a path in quotes, such as \"/etc/letsencrypt/live/t.example.com/fullchain.pem\"",
    ),
    (
        "nginx.tls_certificate_key",
        "a path in quotes, such as \"/etc/letsencrypt/live/t.example.com/privkey.pem\"",
    ),
    (
        "nginx.acme_webroot",
        "a path in quotes, such as \"/var/www/letsencrypt\"",
    ),
    (
        "nginx.instance",
        "a name in quotes, such as \"pxtrack\" (lower-case letters, digits and '_')",
    ),
    (
        "nginx.keep_logs_days",
        "a whole number of days, such as 730",
    ),
    ("nginx.behind_proxy", "true or false, without quotes"),
    (
        "nginx.real_ip_from",
        "a list of addresses or networks in quotes, such as [\"10.0.0.0/8\"]",
    ),
    (
        "analyze.logs",
        "a list of paths in quotes, such as [\"/var/log/pxtrack/access.log\"]",
    ),
    (
        "analyze.duplicate_window_secs",
        "a whole number of seconds, such as 60",
    ),
    (
        "analyze.send_window_secs",
        "a whole number of seconds, such as 60",
    ),
    (
        "analyze.internal_networks",
        "a list of networks in quotes, such as [\"203.0.113.0/24\"]",
    ),
    ("classify.rules", "a path in quotes, such as \"rules.toml\""),
    (
        "classify.apple_relay_egress",
        "a path in quotes, such as \"egress-ip-ranges.csv\"",
    ),
    (
        "classify.lists",
        "a table of list names and paths, such as [classify.lists] then aws = \"ip-ranges.json\"",
    ),
    (
        "geoip.location",
        "a path in quotes, such as \"/var/lib/GeoIP/GeoLite2-City.mmdb\"",
    ),
    (
        "geoip.asn",
        "a path in quotes, such as \"/var/lib/GeoIP/GeoLite2-ASN.mmdb\"",
    ),
    (
        "rewrite.skip",
        "a list of URL prefixes or domains in quotes, such as [\"example.com\"]",
    ),
    ("rewrite.track_unsubscribe", "true or false, without quotes"),
    ("privacy.anonymize_ip", "true or false, without quotes"),
    ("privacy.recipient_detail", "true or false, without quotes"),
];

/// A TOML error as its line and `KEY takes WHAT; found ...`: the setting's full name and what
/// it takes, instead of the parser's `expected u32`.
pub fn describe_toml_error(text: &str, e: &toml::de::Error) -> (Option<u64>, String) {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return (None, message.to_string());
    };
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let section = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_matches(['[', ']']).trim().to_string());
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"'));
    let full = match (&section, key) {
        (Some(s), Some(k)) => format!("{s}.{k}"),
        (None, Some(k)) => k.to_string(),
        _ => String::new(),
    };
    let takes = SETTING_TAKES
        .iter()
        .find(|(k, _)| *k == full)
        .map(|(_, t)| *t);
    let found = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|m| m.split_once(", expected"))
        .map(|(found, _)| found.replace('`', ""));
    let text = match (takes, found) {
        (Some(takes), Some(found)) => format!("{full} takes {takes}; found {found}"),
        (Some(takes), None) => format!("{full} takes {takes}; {message}"),
        _ if message.starts_with("unknown field") => format!(
            "{message} (in {}); a misspelt setting is an error, so that it never falls back to a \
             default unnoticed",
            section.map_or("the top level".to_string(), |s| format!("[{s}]"))
        ),
        _ => message.to_string(),
    };
    (Some(line_no as u64), text)
}
