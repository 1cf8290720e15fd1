//! The two line formats, one nom parser each: nginx's `combined` and pxtrack's own
//! (tab-separated, tagged `pxt1`, its fields in `crate::logformat::LOG_FIELDS`).

use super::*;

// ---------------------------------------------------------------- combined

pub(crate) fn quoted(i: &[u8]) -> PResult<'_, &[u8]> {
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
pub(crate) fn user_and_time(i: &[u8]) -> Option<(&[u8], i64)> {
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

pub(crate) fn combined_line(line: &[u8]) -> PResult<'_, LogLine<'_>> {
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

pub(crate) fn tab_field(i: &[u8]) -> PResult<'_, &[u8]> {
    let (i, _) = tag(&b"\t"[..])(i)?;
    // memchr: the user agent and the target are long, and a byte-by-byte scan of them was
    // most of parsing a line.
    let end = memchr::memchr(b'\t', i).unwrap_or(i.len());
    Ok((&i[end..], &i[..end]))
}

pub(crate) fn pxtrack_line(line: &[u8]) -> PResult<'_, LogLine<'_>> {
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
