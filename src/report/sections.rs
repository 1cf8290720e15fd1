//! The recipients pages' sections (one per recipient, one per token inside it) written in
//! Rust, byte for byte what the loop of the embedded `recipients.html` and the `hit_table`
//! macro of `macros.html` make of the same view. A recipients page is nearly all sections, and
//! the pages are most of a large report's bytes: through tera, the view was first copied into a
//! tree of JSON values and then walked node by node, which took more processor time than
//! building the view itself (BENCHMARKS.md, session 13).
//!
//! Used only when neither of those two templates is replaced (`--templates`): a template of
//! the user's own is rendered by tera from the whole view, as before.

use super::templates::{Globals, render};
use super::views::{RecipientSectionView, RecipientsPageView, TokenSectionView};
use crate::error::Result;

/// The name the recipients page is registered under when its sections come from here: the
/// embedded `recipients.html` with its loop over `recipients` replaced by [`MARKER`].
pub(crate) const FAST_RECIPIENTS: &str = "pxtrack-recipients-sections.html";

/// Where the sections go in a page rendered from [`FAST_RECIPIENTS`]: the page is written as
/// the text before it, the sections, and the text after it. No rendered value can hold it
/// (tera escapes `<` in every value; the template text is the embedded one).
pub(crate) const MARKER: &str = "<!--pxtrack:sections-->";

/// Where the embedded `recipients.html`'s loop starts and ends.
const LOOP_START: &str = "{% for r in recipients %}";
const LOOP_END: &str = "</section>\n{% endfor %}\n";

/// The template [`FAST_RECIPIENTS`] from the text of the embedded `recipients.html`, or `None`
/// when its loop is not where this module expects it (a unit test keeps them in step).
pub(crate) fn fast_recipients_template(recipients_html: &str) -> Option<String> {
    let start = recipients_html.find(LOOP_START)?;
    let end = recipients_html.rfind(LOOP_END)? + LOOP_END.len();
    (start < end).then(|| {
        // The loop's own closing tag leaves the newline after it in place.
        format!(
            "{}{MARKER}\n{}",
            &recipients_html[..start],
            &recipients_html[end..]
        )
    })
}

/// A recipients page from [`FAST_RECIPIENTS`], as the three parts it is written in: tera's page
/// before the sections, the sections, and tera's page after them. The sections do not go through
/// tera, which would copy them into its context and again into its output.
pub(crate) fn render_page(
    tera: &tera::Tera,
    mut view: RecipientsPageView,
    globals: Globals,
) -> Result<[String; 3]> {
    let mut sections = String::new();
    push_sections(
        &mut sections,
        &std::mem::take(&mut view.recipients),
        globals.events_file,
    );
    let mut head = render(tera, FAST_RECIPIENTS, &view, globals)?;
    let at = head
        .find(MARKER)
        .expect("the fast template holds the marker once");
    let tail = head[at + MARKER.len()..].to_string();
    head.truncate(at);
    Ok([head, sections, tail])
}

/// Appends `text` escaped as tera escapes a `{{ value }}` (which also escapes `/`).
fn push_tera_escaped(out: &mut String, text: &str) {
    if text
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | b'/'))
    {
        out.push_str(&tera::escape_html(text));
    } else {
        out.push_str(text);
    }
}

/// Appends the sections of `recipients`, as the embedded templates write them with
/// `events_file` as the per-event export's name.
pub(crate) fn push_sections(
    out: &mut String,
    recipients: &[RecipientSectionView],
    events_file: Option<&str>,
) {
    for r in recipients {
        out.push_str("\n<section id=\"");
        push_tera_escaped(out, &r.anchor);
        out.push_str("\">\n<h2 class=\"text\">");
        push_tera_escaped(out, &r.recipient);
        out.push_str("</h2>\n<dl class=\"facts\">\n");
        for (term, value) in &r.facts {
            out.push_str("<dt>");
            push_tera_escaped(out, term);
            out.push_str("</dt><dd>");
            push_tera_escaped(out, value);
            out.push_str("</dd>");
        }
        out.push_str("\n</dl>\n");
        for t in &r.tokens {
            push_token(out, t, events_file);
        }
        out.push_str("\n</section>\n");
    }
}

/// One token's section, with its hit table as `hit_table(recipient_detail=false)` writes it.
fn push_token(out: &mut String, t: &TokenSectionView, events_file: Option<&str>) {
    out.push_str("\n<section id=\"");
    push_tera_escaped(out, &t.anchor);
    out.push_str("\">\n<h3>");
    push_tera_escaped(out, t.kind);
    if !t.label.is_empty() {
        out.push_str(": ");
        push_tera_escaped(out, &t.label);
    }
    out.push_str(" <span class=\"muted mono\">");
    push_tera_escaped(out, &t.token);
    out.push_str("</span></h3>\n<p class=\"muted\">");
    if !t.target.is_empty() {
        out.push_str("Target <span class=\"mono text\">");
        push_tera_escaped(out, &t.target);
        out.push_str("</span>. ");
    }
    out.push_str("Minted ");
    push_tera_escaped(out, &t.minted);
    out.push_str(".</p>\n");
    out.push_str(
        "\n<div class=\"table-wrap\">\n<table class=\"sortable\">\n<thead><tr><th>Time</th>\
         <th>Kind</th><th>Label</th><th>Class</th><th>Why</th>\n<th>IP</th><th>Country</th>\
         <th>Client</th><th>User agent</th><th>Request</th><th>Token</th></tr></thead>\n\
         <tbody>\n",
    );
    let hits = &t.hits;
    if hits.shown > 0 {
        out.push_str(&hits.html);
    } else {
        out.push_str("<tr><td colspan=\"12\">No requests in these logs.</td></tr>");
    }
    out.push_str("\n</tbody>\n</table>\n</div>\n");
    if hits.total > hits.shown {
        out.push_str("<p class=\"note\">The first ");
        out.push_str(itoa::Buffer::new().format(hits.shown));
        out.push_str(" of ");
        out.push_str(itoa::Buffer::new().format(hits.total));
        out.push_str(" hits are shown here; every one is in ");
        match events_file {
            Some(f) => {
                out.push_str("<a href=\"");
                push_tera_escaped(out, f);
                out.push_str("\">");
                push_tera_escaped(out, f);
                out.push_str("</a>");
            }
            None => out.push_str(
                "the per-event export (<code>--events csv</code> or <code>parquet</code>)",
            ),
        }
        out.push_str(".</p>");
    }
    out.push_str("\n\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::super::hit_rows::HitRows;
    use super::super::templates::{Globals, TEMPLATES, render, templates};
    use super::super::views::RecipientsPageView;
    use super::*;

    /// Text from a manifest or a log, with everything either escaper treats specially.
    const HOSTILE: &str = "a&b <script>\"x\"</script> it's /path/ é";

    fn token(label: &str, target: &str, shown: usize, total: usize) -> TokenSectionView {
        TokenSectionView {
            anchor: format!("t-{label}\"/"),
            token: "EAE-abc_def".into(),
            kind: if target.is_empty() { "open" } else { "click" },
            label: label.into(),
            target: target.into(),
            minted: "2026-11-19 14:53:20 UTC".into(),
            hits: HitRows {
                html: (0..shown)
                    .map(|i| format!("<tr><td>{i}</td></tr>\n"))
                    .collect(),
                shown,
                total,
            },
        }
    }

    fn page() -> RecipientsPageView {
        let recipient = |name: &str, tokens| RecipientSectionView {
            anchor: format!("r-{name}"),
            recipient: name.into(),
            facts: vec![
                ("What was seen".into(), format!("{HOSTILE} (probable)")),
                ("Opens".into(), "3".into()),
            ],
            tokens,
        };
        RecipientsPageView {
            version: "0.1.0",
            generated_at: "2026-12-02 00:00:00 UTC".into(),
            campaign: HOSTILE.into(),
            campaign_href: "campaign-x.html".into(),
            page: 2,
            pages: 3,
            prev: Some("recipients-x-1.html".into()),
            next: Some("recipients-x-3.html".into()),
            recipients: vec![
                recipient(
                    "ana@example.com",
                    vec![
                        token("", "", 2, 2),
                        token(HOSTILE, "https://example.com/?a=1&b='2'", 20, 31),
                    ],
                ),
                recipient(HOSTILE, vec![token("news", "", 0, 0)]),
                recipient("no-tokens@example.com", vec![]),
            ],
        }
    }

    #[test]
    fn sections_are_what_the_embedded_templates_write() {
        let tera = templates(None).unwrap();
        for events_file in [Some("events.csv"), Some("events.parquet"), None] {
            let globals = Globals {
                zone: crate::time::Zone::default(),
                events_file,
            };
            let mut view = page();
            let by_tera = render(&tera, "recipients.html", &view, globals).unwrap();
            let recipients = std::mem::take(&mut view.recipients);
            let mut sections = String::new();
            push_sections(&mut sections, &recipients, events_file);
            let page = render(&tera, FAST_RECIPIENTS, &view, globals).unwrap();
            assert_eq!(page.matches(MARKER).count(), 1);
            let by_rust = page.replace(MARKER, &sections);
            assert_eq!(by_rust, by_tera, "events file {events_file:?}");
        }
    }

    #[test]
    fn a_template_of_the_users_own_is_rendered_by_tera() {
        assert!(fast_recipients_template(TEMPLATES[2].1).is_some());
        assert_eq!(TEMPLATES[2].0, "recipients.html");
        let fast = |t: &tera::Tera| t.get_template_names().any(|n| n == FAST_RECIPIENTS);
        assert!(fast(&templates(None).unwrap()));
        for name in ["recipients.html", "macros.html"] {
            let dir = tempfile::tempdir().unwrap();
            let embedded = TEMPLATES.iter().find(|(n, _)| *n == name).unwrap().1;
            std::fs::write(dir.path().join(name), embedded).unwrap();
            assert!(!fast(&templates(Some(dir.path())).unwrap()), "{name}");
        }
        // Another page's template replaced: the sections are still the embedded ones.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("about.html"), "about").unwrap();
        assert!(fast(&templates(Some(dir.path())).unwrap()));
    }
}
