//! pxtrack's access-log format, declared once for both sides: `nginx` writes it into
//! `log_format`, `logparse` reads it back.

/// The first field of every line in pxtrack's log format: it names the format and its version,
/// so the analyzer can tell it from `combined` and a future `pxt2` can add fields.
pub const LOG_FORMAT_TAG: &str = "pxt1";

/// The variables of pxtrack's log format, in order, after the tag. Tab-separated: nginx's default
/// log escaping turns tabs, quotes, backslashes and non-ASCII bytes inside values into `\xHH`, so
/// a tab always separates fields. A `$pxtrack_` variable is one the generated config defines,
/// named after `[nginx] instance` (`$pxtrack_purpose`: `Purpose`, else `X-Purpose` or `X-Moz`).
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
    "$pxtrack_purpose",
    "$http_accept_language",
];
