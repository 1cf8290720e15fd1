//! Provider network lists: the address ranges that mail-security vendors, mail providers and
//! clouds publish, each with where it is published and the date of the copy in force.
//!
//! A `[[network]]` rule that names a `list` carries the built-in copy (its `cidr`, `url` and
//! `taken` date). The user refreshes it by naming a downloaded file under `[classify.lists]`:
//! pxtrack reads the file in the format its publisher uses ([`ListFormat`]) and takes its date
//! from the file (Google's `creationTime`, Amazon's `createDate`, a `# taken:` line) or, when the
//! format carries none, from the file's modification time.

use super::*;

use chrono::NaiveDate;

/// A list older than this is flagged by `pxtrack rules`.
pub const STALE_AFTER_DAYS: i64 = 365;

/// The format a provider publishes its ranges in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListFormat {
    /// One network per line (the first comma-separated field), `#` comments; a `# taken:
    /// YYYY-MM-DD` line gives the date. Apple's `egress-ip-ranges.csv` is of this shape.
    Cidr,
    /// Google's `goog.json`, `cloud.json`, `special-crawlers.json`, `user-triggered-fetchers*.json`:
    /// `{"creationTime": "...", "prefixes": [{"ipv4Prefix": "..."}, {"ipv6Prefix": "..."}]}`.
    GoogleIpranges,
    /// Microsoft 365's endpoint web service (`endpoints.office.com/endpoints/worldwide`): an array
    /// of `{"id", "serviceArea", "urls": [...], "ips": [...]}`; the rule's `select` names the URL
    /// whose entries hold its ranges (`*.mail.protection.outlook.com` for Exchange Online
    /// Protection).
    MicrosoftEndpoints,
    /// Amazon's `ip-ranges.json`: `{"createDate": "YYYY-MM-DD-hh-mm-ss", "prefixes":
    /// [{"ip_prefix", "service"}], "ipv6_prefixes": [{"ipv6_prefix", "service"}]}`; `select`
    /// keeps one service (`EC2`), else all.
    AwsIpRanges,
}

impl ListFormat {
    /// The name in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            ListFormat::Cidr => "cidr",
            ListFormat::GoogleIpranges => "google-ipranges",
            ListFormat::MicrosoftEndpoints => "microsoft-endpoints",
            ListFormat::AwsIpRanges => "aws-ip-ranges",
        }
    }
}

/// Where the copy in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListCopy {
    /// The copy in the built-in rules (none when the rule ships no ranges).
    Builtin,
    /// A file the user named under `[classify.lists]`.
    File(PathBuf),
}

/// A published list behind a network rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    /// Its name, the key under `[classify.lists]`.
    pub name: String,
    /// Where the provider publishes it.
    pub url: String,
    /// The format of the published file.
    pub format: ListFormat,
    /// For formats with several sets of ranges in one file: which to keep.
    pub select: String,
    /// The date of the copy in force; `None` for a list pxtrack ships empty and nobody supplied.
    pub taken: Option<NaiveDate>,
    /// Where the copy in force came from.
    pub copy: ListCopy,
    /// How many networks it holds.
    pub networks: usize,
}

impl ListInfo {
    /// Whole days from its date to `today`, if it has one.
    pub fn age_days(&self, today: NaiveDate) -> Option<i64> {
        self.taken.map(|t| (today - t).num_days())
    }

    /// Whether it is older than [`STALE_AFTER_DAYS`] on `today`.
    pub fn is_stale(&self, today: NaiveDate) -> bool {
        self.age_days(today).is_some_and(|d| d > STALE_AFTER_DAYS)
    }
}

/// Parses a `YYYY-MM-DD` date at the start of `text`.
pub(crate) fn date_prefix(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// Reads a provider's file: its networks, and its date when the file carries one.
pub(crate) fn read_list(
    path: &Path,
    format: ListFormat,
    select: &str,
) -> Result<(Vec<IpNet>, Option<NaiveDate>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let bad = |line: Option<u64>, message: String| Error::DataFile {
        path: path.to_path_buf(),
        line,
        message,
    };
    let net = |s: &str, line: Option<u64>| {
        s.trim()
            .parse::<IpNet>()
            .map(|n| n.trunc())
            .map_err(|_| bad(line, format!("expected a CIDR network, found {s:?}")))
    };
    let json = || -> Result<serde_json::Value> {
        serde_json::from_str(&text).map_err(|e| {
            bad(
                Some(e.line() as u64),
                format!(
                    "not JSON ({e}); a {} list is the JSON file its publisher serves",
                    format.as_str()
                ),
            )
        })
    };
    let mut nets = Vec::new();
    let mut date = None;
    match format {
        ListFormat::Cidr => {
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if let Some(comment) = line.strip_prefix('#') {
                    if let Some(d) = comment.trim().strip_prefix("taken:") {
                        date = date_prefix(d.trim());
                    }
                    continue;
                }
                if line.is_empty() {
                    continue;
                }
                let first = line.split(',').next().unwrap_or("");
                nets.push(net(first, Some(i as u64 + 1))?);
            }
        }
        ListFormat::GoogleIpranges => {
            let v = json()?;
            date = v["creationTime"].as_str().and_then(date_prefix);
            let prefixes = v["prefixes"].as_array().ok_or_else(|| {
                bad(
                    None,
                    "no \"prefixes\" array: expected Google's {\"creationTime\", \"prefixes\"} \
                     format"
                        .into(),
                )
            })?;
            for p in prefixes {
                if let Some(s) = p["ipv4Prefix"].as_str().or(p["ipv6Prefix"].as_str()) {
                    nets.push(net(s, None)?);
                }
            }
        }
        ListFormat::MicrosoftEndpoints => {
            let v = json()?;
            let entries = v.as_array().ok_or_else(|| {
                bad(
                    None,
                    "expected the array the Microsoft 365 endpoint service returns".into(),
                )
            })?;
            for e in entries {
                let urls = e["urls"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                if !select.is_empty() && !urls.iter().any(|u| u.as_str() == Some(select)) {
                    continue;
                }
                for ip in e["ips"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    if let Some(s) = ip.as_str() {
                        nets.push(net(s, None)?);
                    }
                }
            }
        }
        ListFormat::AwsIpRanges => {
            let v = json()?;
            date = v["createDate"].as_str().and_then(date_prefix);
            for (key, field) in [("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")] {
                for p in v[key].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                    if !select.is_empty() && p["service"].as_str() != Some(select) {
                        continue;
                    }
                    if let Some(s) = p[field].as_str() {
                        nets.push(net(s, None)?);
                    }
                }
            }
        }
    }
    if nets.is_empty() {
        return Err(bad(
            None,
            format!(
                "no networks found{}: is this the {} file?",
                if select.is_empty() {
                    String::new()
                } else {
                    format!(" for {select:?}")
                },
                format.as_str()
            ),
        ));
    }
    Ok((nets, date.or_else(|| file_date(path))))
}

/// The day a file was last modified (UTC): the date of a download whose format carries none.
pub(crate) fn file_date(path: &Path) -> Option<NaiveDate> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| chrono::DateTime::<chrono::Utc>::from(t).date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_reads_its_networks_and_date() {
        let d = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = d.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let g = write(
            "special-crawlers.json",
            r#"{"creationTime": "2026-08-21T23:00:58.000000", "prefixes": [{"ipv4Prefix": "108.177.2.32/27"}, {"ipv6Prefix": "2001:4860:4801:2008::/64"}]}"#,
        );
        let (nets, date) = read_list(&g, ListFormat::GoogleIpranges, "").unwrap();
        assert_eq!(nets.len(), 2);
        assert_eq!(date, NaiveDate::from_ymd_opt(2026, 8, 21));
        let m = write(
            "endpoints.json",
            r#"[{"id": 9, "serviceArea": "Exchange", "urls": ["*.mail.protection.outlook.com"], "ips": ["40.92.0.0/15", "2a01:111:f400::/48"]},
                {"id": 1, "serviceArea": "Exchange", "urls": ["outlook.office.com"], "ips": ["13.107.6.152/31"]}]"#,
        );
        let (nets, _) = read_list(
            &m,
            ListFormat::MicrosoftEndpoints,
            "*.mail.protection.outlook.com",
        )
        .unwrap();
        assert_eq!(nets.len(), 2, "only the selected entry's ranges");
        let a = write(
            "ip-ranges.json",
            r#"{"createDate": "2026-11-30-21-13-07", "prefixes": [{"ip_prefix": "3.5.140.0/22", "service": "AMAZON"}, {"ip_prefix": "3.2.34.0/26", "service": "EC2"}], "ipv6_prefixes": [{"ipv6_prefix": "2600:1f14::/35", "service": "EC2"}]}"#,
        );
        let (nets, date) = read_list(&a, ListFormat::AwsIpRanges, "EC2").unwrap();
        assert_eq!(nets.len(), 2);
        assert_eq!(date, NaiveDate::from_ymd_opt(2026, 11, 30));
        let c = write(
            "barracuda.txt",
            "# taken: 2026-07-01\n209.222.82.0/24\n3.24.133.128/25,AU\n",
        );
        let (nets, date) = read_list(&c, ListFormat::Cidr, "").unwrap();
        assert_eq!(nets.len(), 2);
        assert_eq!(date, NaiveDate::from_ymd_opt(2026, 7, 1));
    }

    #[test]
    fn a_wrong_file_is_named_with_what_was_expected() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("list.json");
        std::fs::write(&p, "209.222.82.0/24\n").unwrap();
        let e = read_list(&p, ListFormat::GoogleIpranges, "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("list.json") && e.contains("not JSON"), "{e}");
        std::fs::write(&p, "[]").unwrap();
        let e = read_list(
            &p,
            ListFormat::MicrosoftEndpoints,
            "*.mail.protection.outlook.com",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no networks found"), "{e}");
        std::fs::write(&p, "10.0.0.0/8\nnot-a-net\n").unwrap();
        let e = read_list(&p, ListFormat::Cidr, "").unwrap_err().to_string();
        assert!(e.contains("list.json:2"), "{e}");
    }
}
