//! Whole messages (RFC 5322, as a mail client saves them): each copy gets its recipient in `To:`
//! and a `Message-ID` of its own; its `text/html` parts (and `text/plain` ones, for merge fields)
//! are decoded (transfer encoding and charset), changed, re-encoded the same way and spliced back
//! by their byte offsets. Every other header, part and attachment is kept byte for byte. A
//! message that is already DKIM-signed is refused: changing it would break the signature.

use std::borrow::Cow;

use base64::Engine as _;
use mail_parser::{Encoding, MessageParser, MimeHeaders, PartType};

use super::RewriteError;

/// A change to a text (a part's decoded body, a header's value).
pub type Edit<'a> = &'a mut dyn FnMut(&str) -> Result<String, RewriteError>;

/// What a message's parts are changed with.
pub struct Edits<'a> {
    /// The HTML of a `text/html` part, changed (merge fields, tracked links, the pixel).
    pub html: Edit<'a>,
    /// The text of a `text/plain` part, changed (merge fields); `None` leaves them untouched.
    pub text: Option<Edit<'a>>,
    /// The header value of `Subject:`, changed (merge fields), or `None`.
    pub subject: Option<Edit<'a>>,
    /// The recipient, for `To:` (checked to hold no line break).
    pub to: &'a str,
    /// The copy's `Message-ID`, with its angle brackets.
    pub message_id: &'a str,
}

/// What [`rewrite_message`] found of a message.
#[derive(Debug, Default)]
pub struct Summary {
    /// The subject, decoded.
    pub subject: String,
    /// How many `text/html` parts were rewritten.
    pub html_parts: usize,
    /// The `From:` header's value, unfolded.
    pub from: String,
}

fn fail(message: impl Into<String>) -> RewriteError {
    RewriteError::Html(message.into())
}

/// One changed copy of `raw`.
pub fn rewrite_message(raw: &[u8], edits: Edits<'_>) -> Result<(Vec<u8>, Summary), RewriteError> {
    if edits.to.contains(['\r', '\n']) || edits.message_id.contains(['\r', '\n']) {
        return Err(fail(
            "a recipient with a line break cannot go into a header",
        ));
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| fail("not an RFC 5322 message"))?;
    let top = message
        .parts
        .first()
        .ok_or_else(|| fail("not an RFC 5322 message"))?;
    let header_end = top.offset_body as usize;
    let header_block = &raw[..header_end];
    let newline: &[u8] = if header_block.windows(2).any(|w| w == b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let lines = header_lines(header_block);
    if lines
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("DKIM-Signature"))
    {
        return Err(fail(
            "the message is DKIM-signed: changing it would break the signature. Rewrite the \
             message before it is signed (export it from the mail client unsent)",
        ));
    }
    let from = lines
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("From"))
        .map(|(name, field)| {
            String::from_utf8_lossy(&field[name.len() + 1..])
                .replace(['\r', '\n'], "")
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    let mut summary = Summary {
        subject: message.subject().unwrap_or_default().to_string(),
        from,
        ..Summary::default()
    };
    // Parts to change, by their body's byte range.
    let mut splices: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    let Edits {
        html,
        mut text,
        mut subject,
        to,
        message_id,
    } = edits;
    for part in &message.parts {
        let (is_html, body) = match &part.body {
            PartType::Html(b) => (true, b),
            PartType::Text(b) => (false, b),
            _ => continue,
        };
        let declared = part.content_type().map(|c| {
            (
                c.ctype().to_ascii_lowercase(),
                c.subtype().unwrap_or_default().to_ascii_lowercase(),
            )
        });
        // mail-parser turns some parts into text on its own; only what says it is text counts.
        let html_part = is_html
            && declared
                .as_ref()
                .is_none_or(|(t, s)| t == "text" && s == "html");
        let text_part = !is_html
            && declared
                .as_ref()
                .is_none_or(|(t, s)| t == "text" && s == "plain");
        let changed = if html_part {
            summary.html_parts += 1;
            html(body)?
        } else if text_part && let Some(t) = text.as_mut() {
            t(body)?
        } else {
            continue;
        };
        if changed == **body {
            continue;
        }
        let charset = part
            .content_type()
            .and_then(|c| c.attribute("charset"))
            .unwrap_or("utf-8");
        let encoding =
            encoding_rs::Encoding::for_label(charset.as_bytes()).unwrap_or(encoding_rs::UTF_8);
        // Characters the charset lacks become HTML references in HTML (encoding_rs does that).
        let (bytes, _, _) = encoding.encode(&changed);
        let (start, end) = (part.offset_body as usize, part.offset_end as usize);
        let original = &raw[start..end];
        let trailing_newline = original.ends_with(b"\n");
        let mut encoded = match part.encoding {
            Encoding::QuotedPrintable => quoted_printable(&bytes, newline),
            Encoding::Base64 => base64_lines(&bytes, newline),
            Encoding::None => bytes.into_owned(),
        };
        if trailing_newline && !encoded.ends_with(b"\n") {
            encoded.extend_from_slice(newline);
        }
        splices.push((start, end, encoded));
    }
    if summary.html_parts == 0 {
        return Err(fail("the message has no text/html part to track"));
    }

    let mut out = Vec::with_capacity(raw.len() + 1024);
    // The top-level headers: To and Message-ID replaced (added when missing), Subject merged.
    let (mut wrote_to, mut wrote_id) = (false, false);
    for (name, field) in &lines {
        if name.eq_ignore_ascii_case("To") {
            if !wrote_to {
                out.extend_from_slice(b"To: ");
                out.extend_from_slice(to.as_bytes());
                out.extend_from_slice(newline);
                wrote_to = true;
            }
        } else if name.eq_ignore_ascii_case("Message-ID") {
            if !wrote_id {
                out.extend_from_slice(b"Message-ID: ");
                out.extend_from_slice(message_id.as_bytes());
                out.extend_from_slice(newline);
                wrote_id = true;
            }
        } else if name.eq_ignore_ascii_case("Subject")
            && let Some(s) = subject.as_mut()
        {
            let value = String::from_utf8_lossy(&field[name.len() + 1..]);
            let unfolded: String = value.replace(['\r', '\n'], "");
            let merged = s(unfolded.trim())?;
            if merged == unfolded.trim() {
                out.extend_from_slice(field);
            } else {
                if merged.contains(['\r', '\n']) {
                    return Err(fail("a merge field put a line break into the Subject"));
                }
                summary.subject = merged.clone();
                out.extend_from_slice(b"Subject: ");
                out.extend_from_slice(encode_header_value(&merged).as_bytes());
                out.extend_from_slice(newline);
            }
        } else {
            out.extend_from_slice(field);
        }
    }
    let mut prefix = Vec::new();
    if !wrote_to {
        prefix.extend_from_slice(b"To: ");
        prefix.extend_from_slice(to.as_bytes());
        prefix.extend_from_slice(newline);
    }
    if !wrote_id {
        prefix.extend_from_slice(b"Message-ID: ");
        prefix.extend_from_slice(message_id.as_bytes());
        prefix.extend_from_slice(newline);
    }
    out.splice(0..0, prefix);
    // The rest, with the changed parts spliced in.
    let mut at = header_end;
    splices.sort_by_key(|s| s.0);
    for (start, end, bytes) in splices {
        if start < at {
            continue;
        }
        out.extend_from_slice(&raw[at..start]);
        out.extend_from_slice(&bytes);
        at = end;
    }
    out.extend_from_slice(&raw[at..]);
    Ok((out, summary))
}

/// The header block as (name, the whole field with its folded lines and line end), in order;
/// the blank line that ends the block is kept as a field with an empty name.
fn header_lines(block: &[u8]) -> Vec<(String, &[u8])> {
    let mut fields: Vec<(String, &[u8])> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < block.len() {
        let end = block[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(block.len(), |p| i + p + 1);
        let next_is_continuation = block.get(end).is_some_and(|&b| b == b' ' || b == b'\t');
        if !next_is_continuation {
            let field = &block[start..end];
            let name = field
                .iter()
                .position(|&b| b == b':')
                .map(|c| String::from_utf8_lossy(&field[..c]).trim().to_string())
                .filter(|_| !field.starts_with(b"\r\n") && !field.starts_with(b"\n"))
                .unwrap_or_default();
            fields.push((name, field));
            start = end;
        }
        i = end;
    }
    fields
}

/// A header value as it may be written: as is when ASCII, else one RFC 2047 encoded word.
fn encode_header_value(value: &str) -> Cow<'_, str> {
    if value.is_ascii() {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        ))
    }
}

/// Quoted-printable (RFC 2045), lines of at most 76 characters, soft breaks with `=`.
fn quoted_printable(bytes: &[u8], newline: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 11 / 10);
    let mut line_len = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') || b == b'\n' {
            // A hard line break; whitespace before it must be encoded.
            if let Some(&last) = out.last()
                && (last == b' ' || last == b'\t')
            {
                out.pop();
                out.extend_from_slice(format!("={last:02X}").as_bytes());
            }
            out.extend_from_slice(newline);
            line_len = 0;
            i += if b == b'\r' { 2 } else { 1 };
            continue;
        }
        let plain = (b == b' ' || b == b'\t' || (33..=126).contains(&b)) && b != b'=';
        let piece: Vec<u8> = if plain {
            vec![b]
        } else {
            format!("={b:02X}").into_bytes()
        };
        if line_len + piece.len() > 75 {
            out.push(b'=');
            out.extend_from_slice(newline);
            line_len = 0;
        }
        line_len += piece.len();
        out.extend_from_slice(&piece);
        i += 1;
    }
    out
}

/// Base64 in lines of 76 characters.
fn base64_lines(bytes: &[u8], newline: &[u8]) -> Vec<u8> {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(text.len() + text.len() / 76 * 2 + 2);
    for chunk in text.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(newline);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_round_trips_through_mail_parser() {
        let text = "caf\u{e9} = 100% <a href=\"https://x/?a=1&b=2\">x</a>  \n".repeat(5);
        let qp = quoted_printable(text.as_bytes(), b"\r\n");
        assert!(qp.split(|&b| b == b'\n').all(|l| l.len() <= 77));
        let raw = [
            b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: \
               quoted-printable\r\n\r\n"
                .as_slice(),
            &qp,
        ]
        .concat();
        let m = MessageParser::default().parse(&raw).unwrap();
        let back = m.body_html(0).unwrap().replace("\r\n", "\n");
        assert_eq!(back.trim_end(), text.trim_end());
    }

    #[test]
    fn an_html_part_in_multipart_related_is_rewritten_and_its_inline_image_kept() {
        let raw = b"From: a@example.com\r\nTo: x@example.com\r\nSubject: Hi\r\n\
            MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n\
            --r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
            <p><img src=\"cid:logo\"><a href=\"https://x.org/\">x</a></p>\r\n\
            --r\r\nContent-Type: image/png\r\nContent-ID: <logo>\r\n\
            Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--r--\r\n";
        let mut html = |h: &str| Ok(h.replace("https://x.org/", "https://t/c/T"));
        let (out, summary) = rewrite_message(
            raw,
            Edits {
                html: &mut html,
                text: None,
                subject: None,
                to: "ana@example.org",
                message_id: "<m@t>",
            },
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(summary.html_parts, 1);
        assert!(out.contains("<a href=\"https://t/c/T\">x</a>"), "{out}");
        assert!(out.contains("<img src=\"cid:logo\">"), "{out}");
        assert!(out.ends_with(
            "--r\r\nContent-Type: image/png\r\nContent-ID: <logo>\r\n\
             Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--r--\r\n"
        ));
        assert!(out.contains("\r\nFrom: a@example.com\r\nTo: ana@example.org\r\n"));
        assert!(
            out.starts_with("Message-ID: <m@t>\r\n"),
            "added when missing: {out}"
        );
    }
}
