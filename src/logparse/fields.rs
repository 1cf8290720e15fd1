//! The fields both formats share: the client address (IPv4 and IPv6 parsed by hand: a line's
//! first field, on every line), the status, byte counts and the request line split into method,
//! target and protocol.

use super::*;

pub(crate) fn ip_addr(i: &[u8]) -> PResult<'_, IpAddr> {
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
/// standard parser, which tries an embedded IPv4 address at every group and would be a quarter
/// of parsing a pxtrack line from an IPv6 client; `None` for anything else, which the standard
/// parser then decides.
pub(crate) fn colon_hex(raw: &[u8]) -> Option<std::net::Ipv6Addr> {
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
pub(crate) fn dotted_quad(raw: &[u8]) -> Option<std::net::Ipv4Addr> {
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

pub(crate) fn status(i: &[u8]) -> PResult<'_, u16> {
    let (rest, d) = take(3usize)(i)?;
    if d.iter().all(u8::is_ascii_digit) && (b'1'..=b'5').contains(&d[0]) {
        let v = d.iter().fold(0u16, |a, &b| a * 10 + u16::from(b - b'0'));
        Ok((rest, v))
    } else {
        fail(i)
    }
}

pub(crate) fn number(i: &[u8]) -> PResult<'_, u64> {
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
pub(crate) fn dash_is_empty(field: &[u8]) -> &[u8] {
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
