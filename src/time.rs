//! Times: as nginx logs them (`$time_local`, `$msec`), parsed at fixed width without a date
//! library (it is per line); and as the report and the exports write them, RFC 3339 in UTC with
//! milliseconds (a fast path for `events.csv`, checked against chrono) and the shorter form the
//! pages show.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// [`rfc3339`] without a date library: `2026-11-22T10:00:05.123Z` into a reused buffer. It is
/// called once per row of `events.csv`, where chrono's formatter would be a measurable share.
pub fn rfc3339_fast(ms: i64, buf: &mut String) -> &str {
    buf.clear();
    let milli = push_date_time(buf, ms, 'T');
    buf.push('.');
    push_digits(buf, milli, 3);
    buf.push('Z');
    buf
}

/// Appends `YYYY-MM-DD<sep>HH:MM:SS` (UTC) and returns the milliseconds.
pub(crate) fn push_date_time(buf: &mut String, ms: i64, sep: char) -> i64 {
    let (y, m, d, h, mi, sec, milli) = civil(ms);
    push_digits(buf, y, 4);
    buf.push('-');
    push_digits(buf, m, 2);
    buf.push('-');
    push_digits(buf, d, 2);
    buf.push(sep);
    push_digits(buf, h, 2);
    buf.push(':');
    push_digits(buf, mi, 2);
    buf.push(':');
    push_digits(buf, sec, 2);
    milli
}

/// Appends `n` zero-padded to `width` digits (more if it needs them; a sign if negative).
pub(crate) fn push_digits(buf: &mut String, n: i64, width: usize) {
    if !(0..10_000).contains(&n) {
        use std::fmt::Write as _;
        let _ = write!(buf, "{n:0width$}");
        return;
    }
    let digits = [n / 1000 % 10, n / 100 % 10, n / 10 % 10, n % 10];
    for &dg in &digits[4 - width.min(4)..] {
        buf.push(char::from(b'0' + dg as u8));
    }
}

/// Epoch milliseconds to (year, month, day, hour, minute, second, millisecond), UTC.
pub(crate) fn civil(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    )
}

/// The time zone the pages show times in (`[report] timezone`, `--timezone`): an IANA zone,
/// UTC by default. Exports (`events.csv`, the CSVs, `summary.json`) stay in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(chrono_tz::Tz);

impl Default for Zone {
    fn default() -> Self {
        Zone(chrono_tz::Tz::UTC)
    }
}

impl std::str::FromStr for Zone {
    type Err = String;

    /// An IANA name (`Europe/Paris`), or `UTC`.
    fn from_str(name: &str) -> Result<Self, String> {
        if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("z") {
            return Ok(Zone::default());
        }
        name.parse::<chrono_tz::Tz>().map(Zone).map_err(|_| {
            format!(
                "{name:?} is not an IANA time zone name: write it as Region/City, for example \
                 \"Europe/Paris\", \"America/New_York\" or \"Asia/Tokyo\" (or \"UTC\")"
            )
        })
    }
}

impl Zone {
    /// Its IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    fn is_utc(self) -> bool {
        self.0 == chrono_tz::Tz::UTC
    }

    /// The offset from UTC at `ms`, in seconds, and the zone's abbreviation then (`CET`,
    /// `+0530`).
    fn at(self, ms: i64) -> (i64, String) {
        use chrono::{Offset, TimeZone};
        let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else {
            return (0, "UTC".into());
        };
        let off = self.0.offset_from_utc_datetime(&t.naive_utc());
        let abbr = off.to_string();
        (i64::from(off.fix().local_minus_utc()), abbr)
    }

    /// The offset from UTC at `ms`, in seconds.
    pub fn offset_secs(self, ms: i64) -> i64 {
        if self.is_utc() { 0 } else { self.at(ms).0 }
    }

    /// A moment in a sentence: `18 Nov 08:12`.
    pub fn short(self, ms: i64) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (_, m, d, h, mi, ..) = civil(ms + self.offset_secs(ms) * 1000);
        let mut buf = format!("{d} {} ", MONTHS[(m - 1) as usize]);
        push_digits(&mut buf, h, 2);
        buf.push(':');
        push_digits(&mut buf, mi, 2);
        buf
    }

    /// For people: `2026-11-22 10:00:05 UTC`, `2026-11-22 11:00:05 CET`.
    pub fn human(self, ms: i64) -> String {
        let mut buf = String::with_capacity(24);
        self.push_human(&mut buf, ms);
        buf
    }

    /// Appends [`Zone::human`] to `buf` (hit rows call it once each).
    pub fn push_human(self, buf: &mut String, ms: i64) {
        if DateTime::<Utc>::from_timestamp_millis(ms).is_none() {
            return;
        }
        if self.is_utc() {
            push_date_time(buf, ms, ' ');
            buf.push_str(" UTC");
            return;
        }
        let (off, abbr) = self.at(ms);
        push_date_time(buf, ms + off * 1000, ' ');
        buf.push(' ');
        buf.push_str(&abbr);
    }

    /// `ms` formatted with a chrono format string, in this zone.
    pub fn format(self, ms: i64, format: &str) -> String {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .map(|t| t.with_timezone(&self.0).format(format).to_string())
            .unwrap_or_default()
    }

    /// [`Zone::human`], or a dash for none.
    pub fn opt(self, ms: Option<i64>) -> String {
        ms.map_or_else(|| "—".into(), |ms| self.human(ms))
    }
}

/// A moment in a sentence, in UTC: `18 Nov 08:12`.
pub fn short_time(ms: i64) -> String {
    Zone::default().short(ms)
}

/// Formats epoch milliseconds for people, in UTC: `2026-11-22 10:00:05 UTC`.
pub fn human_time(ms: i64) -> String {
    Zone::default().human(ms)
}

/// Appends [`human_time`] to `buf`.
pub fn push_human_time(buf: &mut String, ms: i64) {
    Zone::default().push_human(buf, ms);
}

// ---------------------------------------------------------------- parsing nginx times

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The decimal value of ASCII digits; `None` if any byte is not a digit.
pub(crate) fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |a, &c| {
        c.is_ascii_digit().then(|| a * 10 + u32::from(c - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parses nginx's `$time_local`, `22/Nov/2026:10:00:00 +0000`, by position: it is fixed width,
/// and this is an order of magnitude cheaper than a general date parser.
pub fn parse_time_local(b: &[u8]) -> Option<i64> {
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' {
        return None;
    }
    if b[17] != b':' || b[20] != b' ' || !matches!(b[21], b'+' | b'-') {
        return None;
    }
    let day = digits(&b[0..2])?;
    let month = MONTHS.iter().position(|m| &b[3..6] == *m)? as u32 + 1;
    let year = digits(&b[7..11])?;
    let (h, mi, s) = (
        digits(&b[12..14])?,
        digits(&b[15..17])?,
        digits(&b[18..20])?,
    );
    let (oh, om) = (digits(&b[22..24])?, digits(&b[24..26])?);
    if day == 0 || day > days_in_month(year, month) || h > 23 || mi > 59 || s > 60 || om > 59 {
        return None;
    }
    let offset = i64::from(oh * 3600 + om * 60) * if b[21] == b'-' { -1 } else { 1 };
    let secs = days_from_civil(i64::from(year), month, day) * 86_400
        + i64::from(h * 3600 + mi * 60 + s)
        - offset;
    Some(secs * 1000)
}

/// The earliest and latest request times accepted, in ms: 2000-01-01 and the end of 9999.
/// Anything outside cannot be a real request, and a time past 9999 has no RFC 3339 form.
pub const TIME_RANGE_MS: std::ops::RangeInclusive<i64> = 946_684_800_000..=253_402_300_799_999;

/// Parses nginx's `$msec`, `1732270800.123`.
pub fn parse_msec(b: &[u8]) -> Option<i64> {
    let dot = b.iter().position(|&c| c == b'.')?;
    let (secs, frac) = (&b[..dot], &b[dot + 1..]);
    if secs.is_empty() || secs.len() > 12 || frac.len() != 3 {
        return None;
    }
    let secs = secs.iter().try_fold(0i64, |a, &c| {
        c.is_ascii_digit().then(|| a * 10 + i64::from(c - b'0'))
    })?;
    Some(secs * 1000 + i64::from(digits(frac)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_rfc3339_agrees_with_chrono() {
        let mut buf = String::new();
        for ms in [
            0i64,
            1_795_338_000_123,
            951_782_400_000,
            4_102_444_799_999,
            1_709_164_800_000,
        ] {
            assert_eq!(rfc3339_fast(ms, &mut buf), rfc3339(ms), "{ms}");
            let chrono_human = DateTime::<Utc>::from_timestamp_millis(ms)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap();
            assert_eq!(human_time(ms), chrono_human, "{ms}");
        }
        // Every day of four centuries, at a time of day that moves.
        for day in -73_000i64..73_000 {
            let ms = day * 86_400_000 + (day.rem_euclid(86_400)) * 997;
            assert_eq!(rfc3339_fast(ms, &mut buf), rfc3339(ms), "{ms}");
        }
    }

    #[test]
    fn time_local_edges() {
        assert_eq!(parse_time_local(b"01/Jan/1970:00:00:00 +0000"), Some(0));
        assert_eq!(
            parse_time_local(b"29/Feb/2024:00:00:00 +0000"),
            Some(1_709_164_800_000)
        );
        assert_eq!(parse_time_local(b"29/Feb/2025:00:00:00 +0000"), None);
        assert_eq!(parse_time_local(b"01/Foo/2025:00:00:00 +0000"), None);
        assert_eq!(parse_time_local(b"01/Jan/2025:24:00:00 +0000"), None);
        assert_eq!(
            parse_time_local(b"31/Dec/2025:19:00:00 -0500"),
            parse_time_local(b"01/Jan/2026:00:00:00 +0000")
        );
    }

    #[test]
    fn time_local_agrees_with_chrono() {
        use chrono::DateTime;
        for s in [
            "22/Nov/2026:10:00:00 +0000",
            "03/Mar/2031:23:59:59 +0530",
            "15/Aug/1999:12:30:45 -0700",
        ] {
            let want = DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S %z")
                .unwrap()
                .timestamp_millis();
            assert_eq!(parse_time_local(s.as_bytes()), Some(want), "{s}");
        }
    }
}
