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

use std::borrow::Cow;
use std::net::IpAddr;

use nom::bytes::complete::{tag, take, take_till, take_while1};
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

use crate::logformat::{LOG_FIELDS, LOG_FORMAT_TAG};

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

// ---------------------------------------------------------------- fields shared by both formats

fn ip_addr(i: &[u8]) -> PResult<'_, IpAddr> {
    let (rest, raw) = take_while1(|b: u8| b.is_ascii_hexdigit() || b == b'.' || b == b':')(i)?;
    if let Some(v4) = dotted_quad(raw) {
        return Ok((rest, IpAddr::V4(v4)));
    }
    if let Some(v6) = colon_hex(raw) {
        return Ok((rest, IpAddr::V6(v6)));
    }
    // Every byte is ASCII, so this cannot fail. A colon can only be IPv6, and its absence only
    // IPv4: asking for the family spares the standard parser's trying IPv4 first.
    let text = std::str::from_utf8(raw).unwrap_or_default();
    let ip = if raw.contains(&b':') {
        text.parse::<std::net::Ipv6Addr>().map(IpAddr::V6).ok()
    } else {
        text.parse::<std::net::Ipv4Addr>().map(IpAddr::V4).ok()
    };
    match ip {
        Some(ip) => Ok((rest, ip)),
        None => fail(i),
    }
}

/// An IPv6 address of hexadecimal groups (at most one `::`, no embedded IPv4), read without the
/// standard parser, which tries an embedded IPv4 address at every group and was a quarter of
/// parsing a pxtrack line from an IPv6 client; `None` for anything else, which the standard
/// parser then decides.
fn colon_hex(raw: &[u8]) -> Option<std::net::Ipv6Addr> {
    let hex = |b: u8| (b as char).to_digit(16);
    // Groups before the `::` (or all of them), and after it.
    let (mut head, mut tail) = ([0u16; 8], [0u16; 8]);
    let (mut heads, mut tails) = (0, 0);
    let mut gap = false;
    let mut i = 0;
    if raw.starts_with(b"::") {
        gap = true;
        i = 2;
    }
    while i < raw.len() {
        let start = i;
        let mut group = 0u16;
        while let Some(d) = raw.get(i).and_then(|&b| hex(b)) {
            if i - start == 4 {
                return None;
            }
            group = group << 4 | d as u16;
            i += 1;
        }
        if i == start {
            return None;
        }
        let (groups, n) = if gap {
            (&mut tail, &mut tails)
        } else {
            (&mut head, &mut heads)
        };
        *groups.get_mut(*n)? = group;
        *n += 1;
        match raw.get(i..i + 2) {
            None if i == raw.len() => break,
            Some(b"::") if !gap => {
                gap = true;
                i += 2;
            }
            // A single colon before another group; a dot (embedded IPv4) or a third colon is
            // left to the standard parser.
            Some([b':', b]) if hex(*b).is_some() => i += 1,
            _ => return None,
        }
    }
    let groups = heads + tails;
    if (gap && groups > 7) || (!gap && groups != 8) {
        return None;
    }
    let mut all = [0u16; 8];
    all[..heads].copy_from_slice(&head[..heads]);
    all[8 - tails..].copy_from_slice(&tail[..tails]);
    Some(std::net::Ipv6Addr::from(all))
}

/// An IPv4 address in the one form nginx writes (four decimal octets, no leading zeros), read
/// without the standard parser's generality; `None` for anything else, which the standard
/// parser then decides.
fn dotted_quad(raw: &[u8]) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = raw.split(|&b| b == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        *octet = u8::try_from(digits(part)?).ok()?;
    }
    parts
        .next()
        .is_none()
        .then_some(std::net::Ipv4Addr::from(octets))
}

fn status(i: &[u8]) -> PResult<'_, u16> {
    let (rest, d) = take(3usize)(i)?;
    if d.iter().all(u8::is_ascii_digit) && (b'1'..=b'5').contains(&d[0]) {
        let v = d.iter().fold(0u16, |a, &b| a * 10 + u16::from(b - b'0'));
        Ok((rest, v))
    } else {
        fail(i)
    }
}

fn number(i: &[u8]) -> PResult<'_, u64> {
    let (rest, d) = take_while1(|b: u8| b.is_ascii_digit())(i)?;
    if d.len() > 19 {
        return fail(i);
    }
    Ok((
        rest,
        d.iter().fold(0u64, |a, &b| a * 10 + u64::from(b - b'0')),
    ))
}

/// nginx logs an empty variable as `-`.
fn dash_is_empty(field: &[u8]) -> &[u8] {
    if field == b"-" { b"" } else { field }
}

/// Splits a logged request line. Never fails: what does not look like `METHOD TARGET [PROTOCOL]`
/// is a junk request.
pub fn split_request(raw: &[u8]) -> Request<'_> {
    let junk = Request {
        raw,
        ..Request::default()
    };
    // Spaces found with memchr: the target is the longest part, and a byte-by-byte split
    // costs a tenth of parsing a line.
    let Some(first) = memchr::memchr(b' ', raw) else {
        return junk;
    };
    let (method, rest) = (&raw[..first], &raw[first + 1..]);
    // nginx accepts spaces inside the target (`GET /a b HTTP/1.1` asks for "/a b") and logs
    // them as they came: the protocol is what follows the last space.
    let (uri, protocol) = match memchr::memrchr(b' ', rest) {
        Some(n) if rest[n + 1..].starts_with(b"HTTP/") => (&rest[..n], &rest[n + 1..]),
        _ => (rest, &b""[..]),
    };
    let method_ok = !method.is_empty()
        && method.len() <= 32
        && method
            .iter()
            .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_');
    let uri_ok = uri
        .first()
        .is_some_and(|&b| b == b'/' || b == b'*' || b.is_ascii_alphabetic());
    let proto_ok = protocol.is_empty() || protocol.starts_with(b"HTTP/");
    if !method_ok || !uri_ok || !proto_ok {
        return junk;
    }
    Request {
        method,
        uri,
        protocol,
        raw,
    }
}

// ---------------------------------------------------------------- time

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn digits(b: &[u8]) -> Option<u32> {
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

// ---------------------------------------------------------------- combined

fn quoted(i: &[u8]) -> PResult<'_, &[u8]> {
    // nginx escapes '"' inside values as \x22, so the next quote always closes the field;
    // memchr finds it a vector at a time (a user agent is a hundred bytes).
    let (i, _) = tag(&b"\""[..])(i)?;
    match memchr::memchr(b'"', i) {
        Some(n) => Ok((&i[n + 1..], &i[..n])),
        // No closing quote: the line ended inside the field.
        None => Err(nom::Err::Error(FieldError::from_error_kind(
            &i[i.len()..],
            ErrorKind::Tag,
        ))),
    }
}

/// The ident, user and time fields of `combined`: ` - USER [TIME] ` before the request line's
/// quote. `$remote_user` comes from the client's Authorization header, and nginx logs its
/// spaces and brackets as they came (only quotes, backslashes and control bytes are escaped),
/// so the fields are found from the first quote backwards: the 26 bytes of `$time_local` in
/// brackets sit right before it. `None` when the line does not have that shape.
fn user_and_time(i: &[u8]) -> Option<(&[u8], i64)> {
    const TIME: usize = 26;
    let quote = memchr::memchr(b'"', i)?;
    let before = &i[..quote];
    // " - " (at least), "[", the time, "] ".
    if before.len() < 3 + TIME + 3 || before[0] != b' ' || !before.ends_with(b"] ") {
        return None;
    }
    let open = before.len() - TIME - 3;
    if before[open] != b'[' || before[open - 1] != b' ' {
        return None;
    }
    let ms = parse_time_local(&before[open + 1..open + 1 + TIME])?;
    // The request line's leading space is the caller's.
    Some((&i[quote - 1..], ms))
}

fn combined_line(line: &[u8]) -> PResult<'_, LogLine<'_>> {
    let sp = || tag(&b" "[..]);
    let word = || take_till(|b| b == b' ');
    let (i, client) = expect(Expected::ClientAddress, ip_addr).parse(line)?;
    let (i, time_ms) = match user_and_time(i) {
        Some(found) => found,
        None => {
            // Not the usual shape: parse field by field, to say where it breaks.
            let (i, _) =
                expect(Expected::UserFields, (sp(), word(), sp(), word(), sp())).parse(i)?;
            expect(Expected::Time, |i| {
                let (rest, (_, t, _)) =
                    (tag(&b"["[..]), take_till(|b| b == b']'), tag(&b"]"[..])).parse(i)?;
                match parse_time_local(t) {
                    Some(ms) => Ok((rest, ms)),
                    None => fail(i),
                }
            })
            .parse(i)?
        }
    };
    if !TIME_RANGE_MS.contains(&time_ms) {
        return Err(nom::Err::Error(FieldError {
            input: &i[i.len().min(1)..],
            expected: Some(Expected::TimeRange),
        }));
    }
    let (i, request) = expect(Expected::Request, (sp(), quoted)).parse(i)?;
    let (i, status) = expect(Expected::Status, (sp(), status)).parse(i)?;
    let (i, bytes_sent) = expect(Expected::BytesSent, |i| {
        let (i, _) = sp().parse(i)?;
        if let Ok((rest, _)) = tag::<_, _, FieldError<'_>>(&b"-"[..])(i) {
            return Ok((rest, 0));
        }
        number(i)
    })
    .parse(i)?;
    // The Common Log Format stops here.
    let (i, referer, user_agent) = if i.is_empty() {
        (i, &b""[..], &b""[..])
    } else {
        let (i, (_, referer)) = expect(Expected::Referer, (sp(), quoted)).parse(i)?;
        let (i, (_, ua)) = expect(Expected::UserAgent, (sp(), quoted)).parse(i)?;
        (i, referer, ua)
    };
    // Fields after the user agent (nginx's `main` adds X-Forwarded-For) are ignored, but they
    // must be separated from it.
    if !i.is_empty() && i[0] != b' ' {
        return Err(nom::Err::Error(FieldError {
            input: i,
            expected: Some(Expected::LineEnd),
        }));
    }
    Ok((
        &i[i.len()..],
        LogLine {
            format: LogFormat::Combined,
            time_ms,
            client,
            forwarded_for: b"",
            request: split_request(request.1),
            status: status.1,
            bytes_sent,
            referer: dash_is_empty(referer),
            user_agent: dash_is_empty(user_agent),
            requested_with: b"",
            sec_purpose: b"",
            purpose: b"",
            accept_language: b"",
        },
    ))
}

// ---------------------------------------------------------------- pxtrack format

fn tab_field(i: &[u8]) -> PResult<'_, &[u8]> {
    let (i, _) = tag(&b"\t"[..])(i)?;
    // memchr: the user agent and the target are long, and a byte-by-byte scan of them was
    // most of parsing a line.
    let end = memchr::memchr(b'\t', i).unwrap_or(i.len());
    Ok((&i[end..], &i[..end]))
}

fn pxtrack_line(line: &[u8]) -> PResult<'_, LogLine<'_>> {
    let f = || expect(Expected::Field, tab_field);
    let (i, _) = expect(Expected::Field, tag(LOG_FORMAT_TAG.as_bytes())).parse(line)?;
    let (i, time_ms) = expect(Expected::Time, |i| {
        let (rest, raw) = tab_field(i)?;
        match parse_msec(raw) {
            Some(ms) if TIME_RANGE_MS.contains(&ms) => Ok((rest, ms)),
            Some(_) => Err(nom::Err::Error(FieldError {
                input: &i[1..],
                expected: Some(Expected::TimeRange),
            })),
            None => fail(i),
        }
    })
    .parse(i)?;
    let (i, client) = expect(Expected::ClientAddress, |i| {
        let (rest, _) = tag(&b"\t"[..])(i)?;
        let (rest, ip) = ip_addr(rest)?;
        if rest.first().is_some_and(|&b| b != b'\t') {
            return fail(i);
        }
        Ok((rest, ip))
    })
    .parse(i)?;
    let (i, (forwarded_for, method, uri, protocol)) = (f(), f(), f(), f()).parse(i)?;
    let (i, status) = expect(Expected::Status, |i| {
        let (rest, _) = tag(&b"\t"[..])(i)?;
        status(rest)
    })
    .parse(i)?;
    let (i, bytes_sent) = expect(Expected::BytesSent, |i| {
        let (rest, _) = tag(&b"\t"[..])(i)?;
        number(rest)
    })
    .parse(i)?;
    let (i, (_request_time, referer, user_agent, requested_with)) =
        (f(), f(), f(), f()).parse(i)?;
    let (i, (sec_purpose, purpose, accept_language)) = (f(), f(), f()).parse(i)?;
    if !i.is_empty() {
        return Err(nom::Err::Error(FieldError {
            input: i,
            expected: Some(Expected::LineEnd),
        }));
    }
    let (method, uri, protocol) = (
        dash_is_empty(method),
        dash_is_empty(uri),
        dash_is_empty(protocol),
    );
    let request = if method.is_empty() || uri.is_empty() {
        Request {
            raw: uri,
            ..Request::default()
        }
    } else {
        Request {
            method,
            uri,
            protocol,
            raw: uri,
        }
    };
    Ok((
        i,
        LogLine {
            format: LogFormat::Pxtrack,
            time_ms,
            client,
            forwarded_for: dash_is_empty(forwarded_for),
            request,
            status,
            bytes_sent,
            referer: dash_is_empty(referer),
            user_agent: dash_is_empty(user_agent),
            requested_with: dash_is_empty(requested_with),
            sec_purpose: dash_is_empty(sec_purpose),
            purpose: dash_is_empty(purpose),
            accept_language: dash_is_empty(accept_language),
        },
    ))
}

/// How many tab-separated fields a pxtrack line has: the tag plus [`LOG_FIELDS`].
pub const PXTRACK_FIELD_COUNT: usize = LOG_FIELDS.len() + 1;

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
