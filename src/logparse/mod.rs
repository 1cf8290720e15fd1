//! Access-log parsing: pxtrack's own tab-separated format and nginx's stock `combined`, told
//! apart line by line, with nom.
//!
//! Parsers are built bottom up, one small parser per field, combined into one parser per format
//! behind [`parse_line`]. Fields borrow from the line as raw bytes, still in nginx's escaped form
//! (`"`, `\`, control and non-ASCII bytes become `\xHH`); [`decode`] turns a field into text when
//! a caller keeps it. A line that is not an access-log line at all yields a [`LineError`] naming
//! the first field that did not parse; a junk *request* (TLS bytes, `PRI * HTTP/2.0`, `"-"`) is
//! still a valid log line, with a [`Request`] that has no method or URI.
//!
//! Key types: [`LogLine`], [`Request`], [`LogFormat`], [`Expected`], [`LineError`].

mod fields;
mod formats;

pub use fields::split_request;
use fields::*;
pub use formats::PXTRACK_FIELD_COUNT;
use formats::*;

use std::borrow::Cow;
use std::net::IpAddr;

use nom::bytes::complete::{tag, take, take_till, take_while1};
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

use crate::logformat::{LOG_FIELDS, LOG_FORMAT_TAG};
use crate::time::digits;
pub use crate::time::{TIME_RANGE_MS, parse_msec, parse_time_local};

/// Which format a line was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// pxtrack's `log_format pxtrack`, tab-separated, tagged `pxt1`.
    Pxtrack,
    /// nginx's predefined `combined` (extra trailing fields, as in `main`, are ignored; the
    /// Common Log Format, which stops after the byte count, is accepted too).
    Combined,
}

/// The request line, split. All three parts are empty for a junk request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request<'a> {
    /// `GET`, `HEAD`, ... (raw, escaped).
    pub method: &'a [u8],
    /// The request target as sent, query included (raw, escaped).
    pub uri: &'a [u8],
    /// `HTTP/1.1` and so on; empty for HTTP/0.9.
    pub protocol: &'a [u8],
    /// The whole request line as logged, for showing junk requests (raw, escaped).
    pub raw: &'a [u8],
}

impl Request<'_> {
    /// True when the request line could not be split into a method and a target.
    pub fn is_junk(&self) -> bool {
        self.method.is_empty()
    }
}

/// One access-log line, borrowed from the input. Optional fields nginx logged as `-` are empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// The format it was written in.
    pub format: LogFormat,
    /// Request time, milliseconds since the epoch, UTC.
    pub time_ms: i64,
    /// The client address nginx saw (after `real_ip`, if configured).
    pub client: IpAddr,
    /// `X-Forwarded-For` as sent (pxtrack format only).
    pub forwarded_for: &'a [u8],
    /// The request line.
    pub request: Request<'a>,
    /// HTTP status sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// `Referer`.
    pub referer: &'a [u8],
    /// `User-Agent`.
    pub user_agent: &'a [u8],
    /// `X-Requested-With` (pxtrack format only): Android apps name themselves here.
    pub requested_with: &'a [u8],
    /// `Sec-Purpose` (pxtrack format only): `prefetch` marks a speculative load.
    pub sec_purpose: &'a [u8],
    /// `Purpose` (pxtrack format only): the older form of `Sec-Purpose`.
    pub purpose: &'a [u8],
    /// `Accept-Language` (pxtrack format only).
    pub accept_language: &'a [u8],
}

/// What a parser expected where a line went wrong. Its text is the reason a line is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expected {
    /// The line is empty.
    NonEmptyLine,
    /// The first field is not an IP address (combined) or the address field is not one.
    ClientAddress,
    /// The `-` ident and remote-user fields of `combined`.
    UserFields,
    /// `[dd/Mon/yyyy:HH:MM:SS +zzzz]` or `$msec`.
    Time,
    /// A time a real request can have: from the year 2000 to 9999.
    TimeRange,
    /// A double-quoted request line.
    Request,
    /// A three-digit status.
    Status,
    /// A byte count.
    BytesSent,
    /// A double-quoted referer.
    Referer,
    /// A double-quoted user agent.
    UserAgent,
    /// A tab before the next field of pxtrack's format.
    Field,
    /// The end of the line after the last field of pxtrack's format.
    LineEnd,
}

impl Expected {
    /// The reason in words: "expected a status code".
    pub fn describe(self) -> &'static str {
        match self {
            Expected::NonEmptyLine => "expected a log line, found an empty line",
            Expected::ClientAddress => "expected a client IP address",
            Expected::UserFields => "expected the ident and user fields (\"- -\")",
            Expected::Time => "expected a time",
            Expected::TimeRange => {
                "expected a time from the year 2000 to 9999 (a clock far off, or a forged line)"
            }
            Expected::Request => "expected a quoted request line",
            Expected::Status => "expected a status code",
            Expected::BytesSent => "expected a byte count",
            Expected::Referer => "expected a quoted referer",
            Expected::UserAgent => "expected a quoted user agent",
            Expected::Field => "expected another tab-separated field",
            Expected::LineEnd => "expected the end of the line",
        }
    }
}

/// Why a line is not an access-log line: what was expected, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineError {
    /// What the parser expected.
    pub expected: Expected,
    /// Byte offset in the line where it was expected.
    pub offset: usize,
}

/// The cheap error the field parsers use: where they stopped and, once known, what was expected.
#[derive(Debug)]
struct FieldError<'a> {
    input: &'a [u8],
    expected: Option<Expected>,
}

impl<'a> ParseError<&'a [u8]> for FieldError<'a> {
    fn from_error_kind(input: &'a [u8], _kind: ErrorKind) -> Self {
        FieldError {
            input,
            expected: None,
        }
    }

    fn append(_input: &'a [u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, O> = IResult<&'a [u8], O, FieldError<'a>>;

/// Labels a field parser's failure with what it expected (the innermost label wins).
fn expect<'a, O>(
    what: Expected,
    mut p: impl Parser<&'a [u8], Output = O, Error = FieldError<'a>>,
) -> impl FnMut(&'a [u8]) -> PResult<'a, O> {
    move |i: &'a [u8]| {
        p.parse(i).map_err(|e| {
            e.map(|mut fe| {
                fe.expected.get_or_insert(what);
                fe
            })
        })
    }
}

fn fail<'a, O>(input: &'a [u8]) -> PResult<'a, O> {
    Err(nom::Err::Error(FieldError::from_error_kind(
        input,
        ErrorKind::Verify,
    )))
}

/// Parses a line in either format.
pub fn parse_line(line: &[u8]) -> Result<LogLine<'_>, LineError> {
    if line.is_empty() {
        return Err(LineError {
            expected: Expected::NonEmptyLine,
            offset: 0,
        });
    }
    let result = if line.starts_with(LOG_FORMAT_TAG.as_bytes()) {
        pxtrack_line(line)
    } else {
        combined_line(line)
    };
    match result {
        Ok((_, parsed)) => Ok(parsed),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(LineError {
            expected: e.expected.unwrap_or(Expected::LineEnd),
            offset: line.len() - e.input.len(),
        }),
        Err(nom::Err::Incomplete(_)) => Err(LineError {
            expected: Expected::LineEnd,
            offset: line.len(),
        }),
    }
}

// ---------------------------------------------------------------- decoding

/// Decodes nginx's `\xHH` escapes and returns the field as text (invalid UTF-8 is replaced with
/// U+FFFD). The result may contain any character, control characters included: escape it for
/// wherever it goes.
pub fn decode(raw: &[u8]) -> Cow<'_, str> {
    if !raw.contains(&b'\\') {
        return String::from_utf8_lossy(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\'
            && raw.get(i + 1) == Some(&b'x')
            && let (Some(h), Some(l)) = (
                raw.get(i + 2).and_then(|&c| (c as char).to_digit(16)),
                raw.get(i + 3).and_then(|&c| (c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 4;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMBINED: &[u8] = b"203.0.113.9 - - [22/Nov/2026:10:00:00 +0100] \"GET /o/abc.png HTTP/1.1\" 200 67 \"-\" \"Mozilla/5.0 (X11; Linux x86_64) \\x22quoted\\x22\"";

    #[test]
    fn combined_basic() {
        let l = parse_line(COMBINED).unwrap();
        assert_eq!(l.format, LogFormat::Combined);
        assert_eq!(l.client.to_string(), "203.0.113.9");
        // 10:00 at +01:00 is 09:00 UTC.
        assert_eq!(l.time_ms, 1_795_338_000_000);
        assert_eq!(l.request.method, b"GET");
        assert_eq!(l.request.uri, b"/o/abc.png");
        assert_eq!(l.status, 200);
        assert_eq!(l.bytes_sent, 67);
        assert_eq!(l.referer, b"");
        assert_eq!(
            decode(l.user_agent),
            "Mozilla/5.0 (X11; Linux x86_64) \"quoted\""
        );
    }

    #[test]
    fn combined_ipv6_clf_and_main_extras() {
        let l = parse_line(
            b"2001:db8::1 - bob [01/Jan/2026:00:00:00 +0000] \"HEAD /c/x HTTP/1.1\" 302 0",
        )
        .unwrap();
        assert_eq!(l.client.to_string(), "2001:db8::1");
        assert_eq!(l.user_agent, b"");
        let l = parse_line(b"192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 404 0 \"-\" \"curl/8.0\" \"198.51.100.2\"").unwrap();
        assert_eq!(l.user_agent, b"curl/8.0");
    }

    #[test]
    fn junk_request_lines_are_requests_without_a_target() {
        for req in [
            &b"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03"[..],
            b"PRI * HTTP/2.0",
            b"-",
            b"",
        ] {
            let mut line = b"192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] \"".to_vec();
            line.extend_from_slice(req);
            line.extend_from_slice(b"\" 400 157 \"-\" \"-\"");
            let l = parse_line(&line).unwrap_or_else(|e| panic!("{e:?}"));
            // PRI * HTTP/2.0 is well formed; its target is "*", which holds no token.
            if req != b"PRI * HTTP/2.0" {
                assert!(l.request.is_junk(), "{}", String::from_utf8_lossy(req));
            }
            assert_eq!(l.status, 400);
        }
    }

    #[test]
    fn user_fields_and_targets_hold_whatever_a_client_sent() {
        // $remote_user from `Authorization: Basic` with spaces, brackets and a quote (escaped
        // by nginx); a target with a space.
        let line = b"192.0.2.1 - a b] [c\\x22 d [01/Jan/2026:00:00:00 +0000] \"GET /o/a b.png HTTP/1.1\" 404 0 \"-\" \"x\"";
        let l = parse_line(line).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(l.request.method, b"GET");
        assert_eq!(l.request.uri, b"/o/a b.png");
        assert_eq!(l.request.protocol, b"HTTP/1.1");
        assert_eq!(l.time_ms, 1_767_225_600_000);
        // No protocol after the last space: the target is everything after the method.
        let l = parse_line(
            b"192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] \"GET /a b\" 404 0 \"-\" \"x\"",
        )
        .unwrap();
        assert_eq!(l.request.uri, b"/a b");
    }

    #[test]
    fn times_no_real_request_can_have_are_rejected_with_their_reason() {
        let old =
            b"192.0.2.1 - - [01/Jan/1999:00:00:00 +0000] \"GET / HTTP/1.1\" 404 0 \"-\" \"x\"";
        assert_eq!(parse_line(old).unwrap_err().expected, Expected::TimeRange);
        let far = b"pxt1\t999999999999.000\t192.0.2.1\t-\tGET\t/\tHTTP/1.1\t404\t0\t0.000\t-\tx\t-\t-\t-\t-";
        assert_eq!(parse_line(far).unwrap_err().expected, Expected::TimeRange);
        let ok = b"pxt1\t253402300799.999\t192.0.2.1\t-\tGET\t/\tHTTP/1.1\t404\t0\t0.000\t-\tx\t-\t-\t-\t-";
        assert!(parse_line(ok).is_ok());
    }

    #[test]
    fn pxtrack_format() {
        let line = b"pxt1\t1795338000.123\t2001:db8::2\t198.51.100.7\tGET\t/o/tok.png?x=1\tHTTP/1.1\t200\t67\t0.000\t-\tMozilla/5.0\tcom.samsung.android.email.provider\tprefetch\t-\tde-DE,de;q=0.9";
        let l = parse_line(line).unwrap();
        assert_eq!(l.format, LogFormat::Pxtrack);
        assert_eq!(l.time_ms, 1_795_338_000_123);
        assert_eq!(l.client.to_string(), "2001:db8::2");
        assert_eq!(l.forwarded_for, b"198.51.100.7");
        assert_eq!(l.request.uri, b"/o/tok.png?x=1");
        assert_eq!(l.requested_with, b"com.samsung.android.email.provider");
        assert_eq!(l.sec_purpose, b"prefetch");
        assert_eq!(l.purpose, b"");
        assert_eq!(l.accept_language, b"de-DE,de;q=0.9");
        assert_eq!(PXTRACK_FIELD_COUNT, line.split(|&b| b == b'\t').count());
    }

    #[test]
    fn rejected_lines_say_what_was_expected() {
        let cases: &[(&[u8], Expected)] = &[
            (b"", Expected::NonEmptyLine),
            (b"hello world", Expected::ClientAddress),
            (b"2026/11/22 10:00:00 [error] 12#12: open() failed", Expected::ClientAddress),
            (b"192.0.2.1 - - [32/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1", Expected::Time),
            (b"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 2x0 1", Expected::Status),
            (b"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"trunc", Expected::UserAgent),
            (b"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1", Expected::Request),
            (b"pxt1\t1795338000.123\t192.0.2.1\t-", Expected::Field),
            (b"pxt1\tnow\t192.0.2.1", Expected::Time),
            (b"pxt1\t1795338000.123\tnot-ip\t-", Expected::ClientAddress),
            (b"pxt1\t1795338000.123\t192.0.2.1\t-\tGET\t/\tHTTP/1.1\t200\t1\t0\t-\t-\t-\t-\t-\t-\textra", Expected::LineEnd),
        ];
        for (line, want) in cases {
            let e = parse_line(line).unwrap_err();
            assert_eq!(e.expected, *want, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn decode_escapes() {
        assert_eq!(decode(b"a\\x22b\\x5Cc"), "a\"b\\c");
        assert_eq!(decode(b"caf\\xC3\\xA9"), "caf\u{e9}");
        assert_eq!(decode(b"bad \\xZZ and \\x"), "bad \\xZZ and \\x");
        assert_eq!(decode(b"\\xFF"), "\u{fffd}");
    }

    proptest::proptest! {
        #[test]
        fn colon_hex_reads_as_the_standard_parser_reads_it(
            text in "[0-9a-fA-F:]{1,41}",
            v6: u128,
            zeros in 0u32..8,
        ) {
            // What the fast path reads, the standard parser reads the same.
            if let Some(ip) = colon_hex(text.as_bytes()) {
                proptest::prop_assert_eq!(text.parse::<std::net::Ipv6Addr>(), Ok(ip));
            }
            // Addresses as written, with runs of zero groups so that `::` appears; those with
            // an embedded IPv4 (the standard writer's `::ffff:a.b.c.d`) are left to it.
            let ip = std::net::Ipv6Addr::from(v6 & !(u128::MAX >> (zeros * 16) << 16));
            let written = ip.to_string();
            if !written.contains('.') {
                proptest::prop_assert_eq!(colon_hex(written.as_bytes()), Some(ip));
            }
        }

        #[test]
        fn addresses_read_as_the_standard_parser_reads_them(text in "[0-9a-f.:]{1,40}") {
            let ours = ip_addr(text.as_bytes()).ok().filter(|(rest, _)| rest.is_empty());
            proptest::prop_assert_eq!(ours.map(|(_, ip)| ip), text.parse::<IpAddr>().ok());
        }

        #[test]
        fn requests_split_at_the_first_space_and_before_the_protocol(
            text in "[A-Z/ a-zH.0-9]{0,24}",
        ) {
            // The model: the method is before the first space; the protocol is after the last
            // space when it starts with HTTP/; the target is what lies between.
            let raw = text.as_bytes();
            let r = split_request(raw);
            let model = raw.iter().position(|&b| b == b' ').map(|f| {
                let (method, rest) = (&raw[..f], &raw[f + 1..]);
                match rest.iter().rposition(|&b| b == b' ') {
                    Some(n) if rest[n + 1..].starts_with(b"HTTP/") => {
                        (method, &rest[..n], &rest[n + 1..])
                    }
                    _ => (method, rest, &b""[..]),
                }
            });
            let well_formed = model.is_some_and(|(m, u, _)| {
                !m.is_empty()
                    && m.iter().all(|b| b.is_ascii_uppercase())
                    && u.first().is_some_and(|&b| b == b'/' || b.is_ascii_alphabetic())
            });
            if r.is_junk() {
                proptest::prop_assert!(!well_formed, "{text:?}");
            } else {
                let (m, u, p) = model.expect("split");
                proptest::prop_assert_eq!(r.method, m);
                proptest::prop_assert_eq!(r.uri, u);
                proptest::prop_assert_eq!(r.protocol, p);
            }
        }

        #[test]
        fn dotted_quads_read_as_the_standard_parser_reads_them(
            text in "[0-9.]{1,16}",
            v4: u32,
        ) {
            // What the fast path reads, the standard parser reads the same; what it leaves,
            // the standard parser decides.
            if let Some(ip) = dotted_quad(text.as_bytes()) {
                proptest::prop_assert_eq!(text.parse::<std::net::Ipv4Addr>(), Ok(ip));
            }
            let ip = std::net::Ipv4Addr::from(v4);
            proptest::prop_assert_eq!(dotted_quad(ip.to_string().as_bytes()), Some(ip));
        }

        #[test]
        fn never_panics(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = parse_line(&line);
        }

        #[test]
        fn never_panics_on_near_misses(tail in "[ -~\t]{0,120}") {
            let mut a = b"pxt1\t1795338000.123\t192.0.2.1".to_vec();
            a.extend_from_slice(tail.as_bytes());
            let _ = parse_line(&a);
            let mut b = b"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] \"".to_vec();
            b.extend_from_slice(tail.as_bytes());
            let _ = parse_line(&b);
        }
    }
}
