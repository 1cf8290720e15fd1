//! Times as the report and the exports write them: RFC 3339 in UTC with milliseconds (a fast
//! path for `events.csv`, checked against chrono), and the shorter form the pages show.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// [`rfc3339`] without a date library: `2026-11-22T10:00:05.123Z` into a reused buffer. It is
/// called once per row of `events.csv`, where chrono's formatter was a measurable share.
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

/// Formats epoch milliseconds for people: `2026-11-22 10:00:05 UTC`.
pub fn human_time(ms: i64) -> String {
    let mut buf = String::with_capacity(24);
    push_human_time(&mut buf, ms);
    buf
}

/// Appends [`human_time`] to `buf` (hit rows call it once each).
pub fn push_human_time(buf: &mut String, ms: i64) {
    if DateTime::<Utc>::from_timestamp_millis(ms).is_none() {
        return;
    }
    push_date_time(buf, ms, ' ');
    buf.push_str(" UTC");
}

pub(crate) fn opt_time(ms: Option<i64>) -> String {
    ms.map(human_time).unwrap_or_else(|| "—".into())
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
}
