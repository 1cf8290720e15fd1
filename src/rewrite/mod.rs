//! Rewriting an HTML email body for tracking: every trackable link through a click token, a pixel
//! in, and every other byte as it came (lol_html's streaming rewriter re-emits what it does not
//! touch as its original bytes: doctype, comments, Outlook's conditional comments, whitespace,
//! attribute quoting). A DOM that parses and re-serialises the document is what broke the peer
//! tools (`../shared/reference/mail-rewriting.md`).
//!
//! Two passes over one recipient's text: [`find_links`] reads every `<a href>` and `<area href>`
//! (the href decoded as a browser would, the visible text for a label) and decides which to
//! track; [`rewrite`] writes the tracked URLs and the pixel in, in the same document order.
//! [`merge`] fills `{{name}}` placeholders before both. Minting is the command layer's.
//!
//! Whole messages (`.eml`) are in [`message`]: only their `text/html` parts are decoded,
//! rewritten and re-encoded, spliced back by their offsets.
//!
//! Key types: [`Link`], [`Settings`], [`PixelPlace`].

pub mod message;

use std::cell::RefCell;
use std::rc::Rc;

use lol_html::html_content::ContentType;
use lol_html::{RewriteStrSettings, element, end, end_tag, rewrite_str, text};

/// The longest label taken from a link's visible text, in characters.
pub const MAX_LABEL_CHARS: usize = 60;

/// Gmail clips a message's HTML past about this many bytes; a pixel at the bottom of a clipped
/// message is never loaded.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// Where the pixel goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelPlace {
    /// First thing in `<body>`: loaded even when a long message is clipped.
    Top,
    /// Just before `</body>` (appended when there is none).
    #[default]
    Bottom,
    /// Both.
    Both,
}

/// What decides which links are tracked.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// URLs left alone: a prefix (`https://example.com/account/`) or a domain (`example.com`,
    /// which covers its subdomains).
    pub skip: Vec<String>,
    /// Track unsubscribe links too (left alone by default).
    pub track_unsubscribe: bool,
}

/// One link of a template, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The href as written (entities and all).
    pub raw: String,
    /// The href decoded as a browser would open it: the click target.
    pub target: String,
    /// `data-pxtrack-label`, else the visible text (collapsed, cut), else `link-N`.
    pub label: String,
    /// `None`: tracked; otherwise why it is left alone.
    pub skipped: Option<&'static str>,
}

/// A rewrite that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The HTML could not be processed.
    #[error("cannot process the HTML: {0}")]
    Html(String),
    /// A `{{name}}` placeholder names no column.
    #[error(
        "line {line}: {{{{{name}}}}} names no column of the recipient list (it has: {columns}); \
         --no-merge leaves placeholders of another tool alone"
    )]
    UnknownField {
        /// The placeholder's name.
        name: String,
        /// 1-based line of the template.
        line: usize,
        /// The columns there are.
        columns: String,
    },
}

/// Attributes by which a link is marked to be left alone: pxtrack's own, and the ESPs' that
/// templates carry (SendGrid, SparkPost, Mailgun).
const OPT_OUTS: [(&str, &str); 4] = [
    ("data-pxtrack", "off"),
    ("clicktracking", "off"),
    ("data-msys-clicktrack", "0"),
    ("disable-tracking", "true"),
];

/// Decodes the HTML character references of an attribute value: `&amp;` and the other common
/// named ones, and numeric ones (`&#38;`, `&#x26;`). Unknown names are kept as written, as
/// browsers do.
pub fn decode_entities(raw: &str) -> String {
    const NAMED: [(&str, char); 7] = [
        ("amp", '&'),
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("nbsp", '\u{a0}'),
        ("sol", '/'),
    ];
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|e| e + 1);
        let (name, after) = match end {
            Some(e) => (&rest[1..e], &rest[e..]),
            None => (&rest[1..], ""),
        };
        let decoded = if let Some(num) = name.strip_prefix('#') {
            let value = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse().ok(),
            };
            value.and_then(char::from_u32)
        } else {
            NAMED.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = after.strip_prefix(';').unwrap_or(after);
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Appends `text` escaped for HTML (text and attribute values).
fn escape_html(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Fills `{{name}}` placeholders (spaces inside the braces allowed) from `field`; values are
/// HTML-escaped. A placeholder whose name `field` does not know is an error naming it and its
/// line; `columns` lists the names there are, for that error.
pub fn merge(
    text: &str,
    field: impl Fn(&str) -> Option<String>,
    columns: &[String],
) -> Result<String, RewriteError> {
    merge_as(text, field, columns, true)
}

/// [`merge`], for plain text (`html: false`: values as they are) or HTML.
pub fn merge_as(
    text: &str,
    field: impl Fn(&str) -> Option<String>,
    columns: &[String],
    html: bool,
) -> Result<String, RewriteError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut consumed = 0;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            break;
        };
        let name = rest[open + 2..open + 2 + close].trim();
        let is_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '));
        out.push_str(&rest[..open]);
        if !is_name {
            // Another tool's syntax ({{#if}}, {{ x | filter }}): not a merge field.
            out.push_str(&rest[open..open + 2]);
            consumed += open + 2;
            rest = &rest[open + 2..];
            continue;
        }
        match field(name) {
            Some(value) if html => escape_html(&value, &mut out),
            Some(value) => out.push_str(&value),
            None => {
                let line = text[..consumed + open].matches('\n').count() + 1;
                return Err(RewriteError::UnknownField {
                    name: name.to_string(),
                    line,
                    columns: columns.join(", "),
                });
            }
        }
        let skip = open + 2 + close + 2;
        consumed += skip;
        rest = &rest[skip..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Why a decoded href is left alone, if it is.
fn skip_reason(raw: &str, target: &str, text: &str, settings: &Settings) -> Option<&'static str> {
    let t = target.trim();
    if ["{{", "{%", "*|", "%%"].iter().any(|m| raw.contains(m)) {
        return Some("holds another tool's template syntax");
    }
    let lower = t.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Some(if t.starts_with('#') {
            "a fragment of the message itself"
        } else if lower.contains(':') && !lower.starts_with("//") {
            "not an http(s) URL (mailto:, tel:, ...)"
        } else {
            "a relative URL: it has no place to go from a mail client"
        });
    }
    if !settings.track_unsubscribe
        && (lower.contains("unsubscribe") || text.to_ascii_lowercase().contains("unsubscribe"))
    {
        return Some("an unsubscribe link ([rewrite] track_unsubscribe = true tracks them)");
    }
    let host = url::Url::parse(t)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    for s in &settings.skip {
        let s_lower = s.to_ascii_lowercase();
        let hit = if s_lower.contains("://") {
            lower.starts_with(&s_lower)
        } else {
            host.as_deref()
                .is_some_and(|h| h == s_lower || h.ends_with(&format!(".{s_lower}")))
        };
        if hit {
            return Some("matches [rewrite] skip");
        }
    }
    if let Err(_e) = crate::manifest::validate_target(t) {
        return Some("not a URL pxtrack can track (spaces or control characters)");
    }
    None
}

/// The label from a link's visible text: whitespace collapsed, cut to [`MAX_LABEL_CHARS`].
fn label_of_text(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut label: String = collapsed.chars().take(MAX_LABEL_CHARS).collect();
    if collapsed.chars().count() > MAX_LABEL_CHARS {
        label.push('…');
    }
    label
}

/// What [`find_links`] gathers as it goes.
#[derive(Default)]
struct Found {
    links: Vec<(String, Option<String>, String, bool, bool)>,
    /// The open `<a>` collecting text.
    open: Option<usize>,
    in_head: bool,
    /// Links inside comments (Outlook's conditional comments): left alone, counted.
    in_comments: usize,
}

/// Every link of `html`, in document order, with the decision for each; and how many `href`s
/// sit inside comments (Outlook's conditional comments), left alone.
pub fn find_links(html: &str, settings: &Settings) -> Result<(Vec<Link>, usize), RewriteError> {
    let found = Rc::new(RefCell::new(Found::default()));
    let (f1, f2, f3, f5, f6) = (
        found.clone(),
        found.clone(),
        found.clone(),
        found.clone(),
        found.clone(),
    );
    let handlers = vec![
        element!("head", move |el| {
            f1.borrow_mut().in_head = true;
            let f = f1.clone();
            if el.can_have_content() {
                el.on_end_tag(end_tag!(move |_| {
                    f.borrow_mut().in_head = false;
                    Ok(())
                }))?;
            }
            Ok(())
        }),
        // End tag handlers do not run for implicitly closed elements: a body ends the head.
        element!("body", move |_| {
            f6.borrow_mut().in_head = false;
            Ok(())
        }),
        element!("a[href], area[href]", move |el| {
            let raw = el.get_attribute("href").unwrap_or_default();
            // An image map's area says what it is in its alt text.
            let label = el.get_attribute("data-pxtrack-label").or_else(|| {
                if el.tag_name() == "area" {
                    el.get_attribute("alt")
                } else {
                    None
                }
            });
            let off = OPT_OUTS.iter().any(|(name, value)| {
                el.get_attribute(name)
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
            });
            let mut f = f2.borrow_mut();
            let in_head = f.in_head;
            f.links.push((raw, label, String::new(), off, in_head));
            let index = f.links.len() - 1;
            if el.tag_name() == "a" && el.can_have_content() {
                f.open = Some(index);
                let f = f2.clone();
                el.on_end_tag(end_tag!(move |_| {
                    f.borrow_mut().open = None;
                    Ok(())
                }))?;
            }
            Ok(())
        }),
        text!("a", move |t| {
            let mut f = f3.borrow_mut();
            if let Some(i) = f.open {
                f.links[i].2.push_str(t.as_str());
            }
            Ok(())
        }),
    ];
    let doc_comments = lol_html::doc_comments!(move |c| {
        // Comments outside any element (before <html>) are seen here.
        let text = c.text().to_ascii_lowercase();
        f5.borrow_mut().in_comments += text.matches("href=").count();
        Ok(())
    });
    let mut settings_str = RewriteStrSettings::new()
        .with_strict(false)
        .append_document_content_handler(doc_comments);
    for h in handlers {
        settings_str = settings_str.append_element_content_handler(h);
    }
    rewrite_str(html, settings_str).map_err(|e| RewriteError::Html(e.to_string()))?;
    let found = std::mem::take(&mut *found.borrow_mut());
    let links = found
        .links
        .into_iter()
        .enumerate()
        .map(|(i, (raw, label, text, off, in_head))| {
            let target = decode_entities(&raw).trim().to_string();
            let skipped = if off {
                Some("marked to be left alone")
            } else if in_head {
                Some("inside <head>")
            } else {
                skip_reason(&raw, &target, &text, settings)
            };
            let label = match label {
                Some(l) if !l.trim().is_empty() => label_of_text(&decode_entities(&l)),
                _ => {
                    let from_text = label_of_text(&decode_entities(&text));
                    if from_text.is_empty() {
                        format!("link-{}", i + 1)
                    } else {
                        from_text
                    }
                }
            };
            Link {
                raw,
                target,
                label,
                skipped,
            }
        })
        .collect();
    Ok((links, found.in_comments))
}

/// A URL written out in a plain-text part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLink {
    /// Where it starts and ends in the text.
    pub span: (usize, usize),
    /// The URL.
    pub target: String,
    /// `None`: tracked; otherwise why it is left alone.
    pub skipped: Option<&'static str>,
}

/// The http(s) URLs written out in plain text, with the same decisions as for HTML links
/// (unsubscribe links, `[rewrite] skip`, template syntax). A URL ends at whitespace, `<`, `>` or
/// a quote; trailing punctuation (and a `)` without its `(`) is not part of it.
pub fn text_links(text: &str, settings: &Settings) -> Vec<TextLink> {
    let lower = text.to_ascii_lowercase();
    let mut links = Vec::new();
    let mut from = 0;
    while let Some(i) = ["http://", "https://"]
        .iter()
        .filter_map(|p| lower[from..].find(p))
        .min()
    {
        let start = from + i;
        let mut end = start
            + text[start..]
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
                .unwrap_or(text.len() - start);
        while end > start {
            let last = text[..end].chars().next_back().unwrap_or(' ');
            let unbalanced_paren = last == ')'
                && text[start..end].matches('(').count() < text[start..end].matches(')').count();
            if matches!(last, '.' | ',' | ';' | ':' | '!' | '?') || unbalanced_paren {
                end -= last.len_utf8();
            } else {
                break;
            }
        }
        let target = text[start..end].to_string();
        let skipped = skip_reason(&target, &target, "", settings);
        links.push(TextLink {
            span: (start, end),
            target,
            skipped,
        });
        from = end.max(start + 1);
    }
    links
}

/// `text` with the URL of each of `links` replaced by `tracked[i]` when `Some`.
pub fn rewrite_text(text: &str, links: &[TextLink], tracked: &[Option<String>]) -> String {
    let mut out = String::with_capacity(text.len() + links.len() * 16);
    let mut at = 0;
    for (l, t) in links.iter().zip(tracked) {
        if let Some(url) = t {
            out.push_str(&text[at..l.span.0]);
            out.push_str(url);
            at = l.span.1;
        }
    }
    out.push_str(&text[at..]);
    out
}

/// The byte spans of the `href` values inside a comment's text (Outlook's conditional comments
/// hold VML buttons such as `<v:roundrect href="...">`), quoted or not.
fn comment_hrefs(text: &str) -> Vec<(usize, usize)> {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("href=") {
        let mut start = from + i + "href=".len();
        let end = match bytes.get(start) {
            Some(&q) if q == b'"' || q == b'\'' => {
                start += 1;
                match text[start..].find(q as char) {
                    Some(e) => start + e,
                    None => break,
                }
            }
            Some(_) => {
                start
                    + text[start..]
                        .find(|c: char| c.is_ascii_whitespace() || c == '>')
                        .unwrap_or(text.len() - start)
            }
            None => break,
        };
        spans.push((start, end));
        from = end;
    }
    spans
}

/// Writes `tracked[i]` (when `Some`) as the href of the `i`-th link [`find_links`] found, removes
/// pxtrack's own attributes, and puts in the pixel `<img>` for `pixel_url` at `place`. A link
/// inside a comment (an Outlook VML button) whose URL is the target of a tracked link gets that
/// link's tracked URL (`by_target`); returns how many did.
pub fn rewrite(
    html: &str,
    tracked: &[Option<String>],
    by_target: &std::collections::HashMap<String, String>,
    pixel_url: &str,
    place: PixelPlace,
) -> Result<(String, usize), RewriteError> {
    let in_comments = Rc::new(RefCell::new(0usize));
    let counted = in_comments.clone();
    let by_target = by_target.clone();
    let comments = lol_html::doc_comments!(move |c| {
        let text = c.text();
        let spans = comment_hrefs(&text);
        if spans.is_empty() {
            return Ok(());
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in spans {
            let target = decode_entities(&text[start..end]);
            out.push_str(&text[at..start]);
            match by_target.get(target.trim()) {
                Some(url) => {
                    out.push_str(url);
                    *counted.borrow_mut() += 1;
                }
                None => out.push_str(&text[start..end]),
            }
            at = end;
        }
        out.push_str(&text[at..]);
        if out != text {
            c.set_text(&out)?;
        }
        Ok(())
    });
    let mut img = String::from("<img src=\"");
    escape_html(pixel_url, &mut img);
    img.push_str(
        "\" width=\"1\" height=\"1\" alt=\"\" border=\"0\" style=\"display:block;width:1px;\
         height:1px;border:0;\">",
    );
    let index = Rc::new(RefCell::new(0usize));
    let body_seen = Rc::new(RefCell::new(false));
    let (i1, b1, b2) = (index.clone(), body_seen.clone(), body_seen.clone());
    let (img1, img2) = (img.clone(), img.clone());
    let tracked = tracked.to_vec();
    let handlers = vec![
        element!("a[href], area[href]", move |el| {
            let mut i = i1.borrow_mut();
            if let Some(Some(url)) = tracked.get(*i) {
                el.set_attribute("href", url)?;
            }
            *i += 1;
            el.remove_attribute("data-pxtrack");
            el.remove_attribute("data-pxtrack-label");
            Ok(())
        }),
        element!("body", move |el| {
            *b1.borrow_mut() = true;
            if matches!(place, PixelPlace::Top | PixelPlace::Both) {
                el.prepend(&img1, ContentType::Html);
            }
            if matches!(place, PixelPlace::Bottom | PixelPlace::Both) {
                el.append(&img1, ContentType::Html);
            }
            Ok(())
        }),
    ];
    let at_end = end!(move |end| {
        if !*b2.borrow() {
            end.append(&img2, ContentType::Html);
        }
        Ok(())
    });
    let mut settings = RewriteStrSettings::new()
        .with_strict(false)
        .append_document_content_handler(comments)
        .append_document_content_handler(at_end);
    for h in handlers {
        settings = settings.append_element_content_handler(h);
    }
    let out = rewrite_str(html, settings).map_err(|e| RewriteError::Html(e.to_string()))?;
    let n = *in_comments.borrow();
    Ok((out, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_decode_as_a_browser_does() {
        assert_eq!(
            decode_entities("https://x/?a=1&amp;b=2&#38;c=3&#x26;d=4&bogus;e"),
            "https://x/?a=1&b=2&c=3&d=4&bogus;e"
        );
        assert_eq!(decode_entities("a&amp"), "a&");
    }

    #[test]
    fn links_are_found_decided_and_rewritten_in_place() {
        let html = "<!DOCTYPE html>\n<html><head><link href=\"https://cdn/x.css\"></head>\
            <body><!--[if mso]><v:roundrect href=\"https://x/vml\"></v:roundrect><![endif]-->\n\
            <a HREF='https://x/a?b=1&amp;c=2'>Read  the\n post</a> <a href=mailto:a@b>mail</a>\
            <a href=\"#top\">top</a><a href=\"https://x/unsubscribe\">bye</a>\
            <a href=\"https://x/{{ id }}\">tpl</a><a href=\"https://x/p\" data-pxtrack=off>no</a>\
            <a href=\"https://x/l\" data-pxtrack-label=\"Pricing\"><img src=a></a>\
            <map><area href=\"https://x/area\"></map></body></html>";
        let (links, in_comments) = find_links(html, &Settings::default()).unwrap();
        assert_eq!(in_comments, 1);
        let tracked: Vec<_> = links
            .iter()
            .filter(|l| l.skipped.is_none())
            .map(|l| (l.target.as_str(), l.label.as_str()))
            .collect();
        assert_eq!(
            tracked,
            [
                ("https://x/a?b=1&c=2", "Read the post"),
                ("https://x/l", "Pricing"),
                ("https://x/area", "link-8"),
            ]
        );
        let urls: Vec<Option<String>> = links
            .iter()
            .enumerate()
            .map(|(i, l)| l.skipped.is_none().then(|| format!("https://t/c/T{i}")))
            .collect();
        let by_target = std::collections::HashMap::from([(
            "https://x/vml".to_string(),
            "https://t/c/VML".to_string(),
        )]);
        let (out, in_comments) = rewrite(
            html,
            &urls,
            &by_target,
            "https://t/o/P.png",
            PixelPlace::Bottom,
        )
        .unwrap();
        assert_eq!(in_comments, 1);
        assert!(out.starts_with("<!DOCTYPE html>\n<html><head><link href=\"https://cdn/x.css\">"));
        assert!(
            out.contains("<!--[if mso]><v:roundrect href=\"https://t/c/VML\"></v:roundrect>"),
            "{out}"
        );
        assert!(
            out.contains("HREF=\"https://t/c/T0\">Read  the\n post</a>"),
            "{out}"
        );
        assert!(out.contains("<a href=mailto:a@b>mail</a>"), "{out}");
        assert!(
            out.contains("<a href=\"https://x/p\" >no</a>")
                || out.contains("<a href=\"https://x/p\">no</a>"),
            "{out}"
        );
        assert!(!out.contains("data-pxtrack"), "{out}");
        assert!(out.ends_with("<img src=\"https://t/o/P.png\" width=\"1\" height=\"1\" alt=\"\" border=\"0\" style=\"display:block;width:1px;height:1px;border:0;\"></body></html>"), "{out}");
    }

    #[test]
    fn urls_in_plain_text_are_found_without_their_punctuation() {
        let text = "See https://x.org/a?b=1. Or (https://x.org/wiki/A_(b)), \
                    https://x.org/unsubscribe and mailto:a@b.";
        let links = text_links(text, &Settings::default());
        let found: Vec<(&str, bool)> = links
            .iter()
            .map(|l| (l.target.as_str(), l.skipped.is_none()))
            .collect();
        assert_eq!(
            found,
            [
                ("https://x.org/a?b=1", true),
                ("https://x.org/wiki/A_(b)", true),
                ("https://x.org/unsubscribe", false),
            ]
        );
        let out = rewrite_text(text, &links, &[Some("T1".into()), Some("T2".into()), None]);
        assert_eq!(
            out,
            "See T1. Or (T2), https://x.org/unsubscribe and mailto:a@b."
        );
    }

    #[test]
    fn merge_fields_are_filled_escaped_and_unknown_ones_named() {
        let cols = ["recipient".to_string(), "name".to_string()];
        let field = |n: &str| match n {
            "name" => Some("Ana <&>".to_string()),
            "recipient" => Some("ana@example.org".to_string()),
            _ => None,
        };
        assert_eq!(
            merge("Hi {{ name }}, {{recipient}} {{#if x}}", field, &cols).unwrap(),
            "Hi Ana &lt;&amp;&gt;, ana@example.org {{#if x}}"
        );
        let e = merge("a\nb {{company}}", field, &cols)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2: {{company}} names no column"), "{e}");
        assert!(e.contains("recipient, name"), "{e}");
    }
}
