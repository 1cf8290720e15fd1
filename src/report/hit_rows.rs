//! Hit tables written in Rust, the one place outside tera's autoescaping where text from logs
//! and the manifest reaches HTML: every value goes through [`push_escaped`], and the rows are
//! inserted into `macros.html` with `| safe`. Hit tables are the bulk of a large site, and a
//! template loop over them was about ten times slower (BENCHMARKS.md).

use super::*;

/// Appends `text`, escaped, as a link to `href` when there is one.
pub(crate) fn push_link(out: &mut String, href: Option<&str>, text: &str) {
    match href {
        Some(href) => {
            out.push_str("<a href=\"");
            push_escaped(out, href);
            out.push_str("\">");
            push_escaped(out, text);
            out.push_str("</a>");
        }
        None => push_escaped(out, text),
    }
}

/// Appends `text` to `out`, escaped for HTML text and attribute values.
pub fn push_escaped(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    // Most texts (times, addresses, user agents) hold nothing to escape: one scan that the
    // compiler vectorizes finds that out before the byte loop that rewrites.
    let special = |b: u8| (b == b'&') | (b == b'<') | (b == b'>') | (b == b'"') | (b == b'\'');
    let mut chunks = bytes.chunks_exact(16);
    let mut start = 0;
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |m, &b| m | special(b)) {
            break;
        }
        start += 16;
    }
    if start == bytes.len() || !bytes[start..].iter().any(|&b| special(b)) {
        out.push_str(text);
        return;
    }
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&text[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&text[last..]);
}

/// Pre-rendered rows of a hit table. Hit tables are the bulk of a large site, so their rows are
/// written here, every value escaped by [`push_escaped`], instead of through a template loop
/// (about ten times faster); the table around them stays in `macros.html`.
#[derive(Debug, Serialize)]
pub struct HitRows {
    /// The `<tr>` elements (pxtrack's own markup: rendered unescaped).
    pub html: String,
    /// Rows written.
    pub shown: usize,
    /// Hits in all.
    pub total: usize,
}

/// How many rows ahead [`Report::hit_rows`] asks for a sample.
const SAMPLE_AHEAD: usize = 8;

impl Report<'_> {
    /// Writes the rows for kept hits `hits` (indices into the samples) of `total` hits in all.
    /// `show_recipient` adds the recipient column (off on recipients pages, which are per recipient).
    /// `upcoming` are the hits the page shows next (the following tokens' on a recipients
    /// page): the samples of a page are scattered over tens of megabytes, and waiting for each
    /// one's first load was a seventh of writing a recipients page, so each row asks for the
    /// sample [`SAMPLE_AHEAD`] rows ahead to be brought into cache.
    pub(crate) fn hit_rows(
        &self,
        hits: &[u32],
        upcoming: &[u32],
        total: u64,
        book: Option<&RecipientBook<'_>>,
        show_recipient: bool,
    ) -> HitRows {
        let mut html = String::with_capacity(hits.len() * 600);
        let detail = show_recipient && self.privacy.recipient_detail;
        let e = |out: &mut String, t: &str| push_escaped(out, t);
        // Rows of one token (a recipients page's section, most of them) share their links:
        // they are made once per manifest row, not once per hit row.
        let mut links: Option<(usize, Option<String>, Option<String>)> = None;
        let samples = &self.stats.samples;
        for (k, &i) in hits.iter().enumerate() {
            // Past this token's own rows, the next ones' (only then is k + SAMPLE_AHEAD at
            // least hits.len()).
            let ahead = (hits.get(k + SAMPLE_AHEAD))
                .or_else(|| upcoming.get(k + SAMPLE_AHEAD - hits.len()));
            if let Some(&n) = ahead.filter(|&&n| (n as usize) < samples.len()) {
                crate::fast::prefetch_value(&samples[n as usize]);
            }
            let c = &self.stats.samples[i as usize];
            let ev = c;
            let text = |id| self.stats.samples.text(id);
            let row = ev.row().map(|r| (r, &self.manifest.rows[r]));
            let (recipient_href, token_href) = match (row, book) {
                (Some((r, m)), Some(b)) => {
                    if links.as_ref().is_none_or(|(at, _, _)| *at != r) {
                        let recipient = detail.then(|| b.recipient_href(&m.recipient)).flatten();
                        links = Some((r, recipient, b.token_href(&m.recipient, &m.token)));
                    }
                    let (_, recipient, token) = links.as_ref().expect("set just above");
                    (recipient.as_deref(), token.as_deref())
                }
                _ => (None, None),
            };
            let row = row.map(|(_, m)| m);
            html.push_str("<tr><td class=\"when\">");
            self.zone.push_human(&mut html, ev.time_ms);
            html.push_str("</td><td>");
            html.push_str(ev.kind.as_str());
            html.push_str("</td>");
            if detail {
                html.push_str("<td class=\"addr\">");
                if let Some(r) = row {
                    push_link(&mut html, recipient_href, &r.recipient);
                }
                html.push_str("</td>");
            }
            html.push_str("<td>");
            if let Some(r) = row {
                e(&mut html, &r.label);
            }
            let class = c.class.as_str();
            html.push_str("</td><td><span class=\"class class-");
            html.push_str(class);
            html.push_str("\">");
            html.push_str(class);
            html.push_str("</span> <span class=\"muted\">");
            e(&mut html, text(c.detail));
            html.push_str("</span></td><td class=\"why\">");
            e(&mut html, text(c.reason));
            html.push_str(" <span class=\"muted\">(");
            html.push_str(c.certainty.as_str());
            html.push_str(")</span></td><td class=\"mono\">");
            self.privacy.push_ip(&mut html, ev.client);
            html.push_str("</td><td>");
            if let Some(cc) = ev.country() {
                e(&mut html, cc);
            }
            html.push_str("</td><td>");
            // A scanner or a bot sends a browser's user agent as often as not: name the
            // machine, not the browser it pretends to be.
            match c.class {
                HitClass::Scanner | HitClass::Bot => {
                    html.push_str(c.class.as_str());
                    html.push_str(": ");
                    e(&mut html, text(c.detail));
                }
                _ => e(&mut html, text(c.client_name)),
            }
            // The user agent on one line, cut; hovering or tapping it shows the whole (CSS, so
            // that the text is written once: these rows are most of the report's bytes).
            html.push_str("</td><td class=\"ua\"><span class=\"clip\">");
            let headers = self.stats.samples.headers(ev);
            e(&mut html, headers.user_agent());
            html.push_str("</span></td><td class=\"mono when\">");
            e(&mut html, headers.method());
            html.push(' ');
            html.push_str(itoa::Buffer::new().format(ev.status));
            html.push_str("</td><td>");
            match token_href {
                Some(href) => {
                    html.push_str("<a href=\"");
                    e(&mut html, href);
                    html.push_str("\">hits</a>");
                }
                None => {
                    html.push_str("<span class=\"muted\">");
                    html.push_str(ev.token_status.as_str());
                    html.push_str("</span>");
                }
            }
            html.push_str("</td></tr>\n");
        }
        HitRows {
            html,
            shown: hits.len(),
            total: usize::try_from(total).unwrap_or(usize::MAX),
        }
    }

    pub(crate) fn hit_view(&self, c: &Sample, book: Option<&RecipientBook<'_>>) -> HitView {
        let ev = c;
        let text = |id| self.stats.samples.text(id);
        let row = ev.row().map(|r| &self.manifest.rows[r]);
        HitView {
            time: self.zone.human(ev.time_ms),
            kind: ev.kind.as_str(),
            class: c.class.as_str(),
            detail: text(c.detail).to_string(),
            reason: text(c.reason).to_string(),
            certainty: c.certainty.as_str(),
            token_status: ev.token_status.as_str(),
            recipient: row
                .filter(|_| self.privacy.recipient_detail)
                .map(|r| r.recipient.clone())
                .unwrap_or_default(),
            label: row.map(|r| r.label.clone()).unwrap_or_default(),
            ip: self.privacy.show_ip(ev.client),
            user_agent: self.stats.samples.headers(ev).user_agent().to_string(),
            method: self.stats.samples.headers(ev).method().to_string(),
            status: ev.status,
            source: self.source(ev.source),
            token_href: row
                .zip(book)
                .and_then(|(r, b)| b.token_href(&r.recipient, &r.token)),
            recipient_href: row
                .zip(book)
                .and_then(|(r, b)| b.recipient_href(&r.recipient)),
        }
    }

    pub(crate) fn source(&self, s: crate::hit::Source) -> String {
        let name = self
            .file_names
            .get(s.file as usize)
            .map_or("?", String::as_str);
        format!("{name}:{}", s.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        let mut out = String::new();
        push_escaped(&mut out, "<a href=\"x\" onclick='y'>&amp;</a>");
        assert_eq!(
            out,
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        let mut out = String::from("kept ");
        push_escaped(&mut out, "caf\u{e9} plain");
        assert_eq!(out, "kept caf\u{e9} plain");
    }

    proptest::proptest! {
        #[test]
        fn escaping_equals_replacing_each_special_character(
            text in "[a-z &<>\"'/.()]{0,80}|[a-z ]{14,70}[&<>\"']?[a-z]{0,20}|\\PC{0,40}"
        ) {
            let mut ours = String::from("kept ");
            push_escaped(&mut ours, &text);
            let theirs = text
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&#39;");
            proptest::prop_assert_eq!(ours, format!("kept {theirs}"));
        }
    }
}
