//! "Did Ana open it, and when?": one sentence per recipient, from their figures and the first
//! hits of each of their tokens, that never claims a person read anything.

use super::*;
use crate::aggregate::{RecipientStats, Sample};
use crate::model::HitKind;

/// How sure a recipient's answer is, as the people table shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sureness {
    /// A human-looking hit, or a proxy fetch a reader triggers.
    LikelyAPerson,
    /// Only fetches that happen whether or not anyone looks (Apple MPP, prefetch).
    CannotTell,
    /// Only scanners and bots.
    MachinesOnly,
    /// No request at all.
    NothingSeen,
}

impl Sureness {
    /// As a CSS class suffix (`sure-likely-a-person`).
    pub fn key(self) -> &'static str {
        match self {
            Sureness::LikelyAPerson => "likely-a-person",
            Sureness::CannotTell => "cannot-tell",
            Sureness::MachinesOnly => "only-machines",
            Sureness::NothingSeen => "nothing-seen",
        }
    }

    /// In words.
    pub fn words(self) -> &'static str {
        match self {
            Sureness::LikelyAPerson => "likely a person",
            Sureness::CannotTell => "cannot tell",
            Sureness::MachinesOnly => "only machines",
            Sureness::NothingSeen => "nothing seen",
        }
    }
}

/// "once", "twice", "3 times"; `at_least` when only the first hits are known.
fn times(n: u64, at_least: bool) -> String {
    let s = match n {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
    };
    if at_least && n > 1 {
        format!("at least {s}")
    } else {
        s
    }
}

/// "A", "A and B", "A, B and C".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// How a counted pixel load reached the tracker, in words.
fn how_loaded(report: &Report<'_>, s: &Sample) -> String {
    let client = report.stats.samples.text(s.client_name);
    let detail = report.stats.samples.text(s.detail);
    let known = !client.is_empty() && client != "Other";
    match s.class {
        HitClass::Proxy => match detail {
            "apple-mpp" => "Apple Mail Privacy Protection fetched the image at delivery (it does \
                            whether or not anyone looks)"
                .to_string(),
            "sent-copy" => "Gmail's proxy loaded the image right after the send (most likely \
                            the sender's Sent copy)"
                .to_string(),
            d if d.contains("prefetch") => "the image was prefetched at delivery".to_string(),
            _ if known && client.to_ascii_lowercase().contains("proxy") => {
                format!("loaded through the {client}")
            }
            _ if known => format!("loaded through {client}'s proxy"),
            _ => "loaded through a mail provider's proxy".to_string(),
        },
        _ if known => format!("loaded straight from {client}"),
        _ => "loaded straight from a mail client".to_string(),
    }
}

/// The rows of a people table, as HTML: written here rather than by tera, since a campaign's
/// table has up to 2,000 of them and each is a dozen lookups in a template. Every text goes
/// through [`push_escaped`].
pub fn people_rows(people: &[RecipientView]) -> String {
    let mut html = String::with_capacity(people.len() * 700);
    let e = |out: &mut String, t: &str| push_escaped(out, t);
    let mut num = itoa::Buffer::new();
    for r in people {
        html.push_str("<tr data-recipient=\"");
        e(&mut html, &r.recipient);
        html.push_str("\"><td class=\"addr\">");
        super::hit_rows::push_link(&mut html, r.href.as_deref(), &r.recipient);
        html.push_str("</td>\n<td class=\"answer\">");
        e(&mut html, &r.answer);
        html.push_str("</td><td class=\"sure-cell\"><span class=\"sure sure-");
        html.push_str(r.sureness_key.key());
        html.push_str("\">");
        html.push_str(r.sureness);
        html.push_str(
            "</span></td>\n<td class=\"num\" data-label=\"opens\" data-figure=\"opens\" title=\"",
        );
        html.push_str(num.format(r.human_opens));
        html.push_str(" human-looking, ");
        html.push_str(num.format(r.proxy_opens));
        html.push_str(" via proxy, ");
        html.push_str(num.format(r.estimated_human_opens));
        html.push_str(" estimated human\">");
        html.push_str(num.format(r.opens));
        html.push_str("</td>\n<td class=\"num\" data-label=\"clicks\" data-figure=\"clicks\">");
        html.push_str(num.format(r.clicks));
        html.push_str(
            "</td><td class=\"num\" data-label=\"machine hits\" data-figure=\"machine_hits\">",
        );
        html.push_str(num.format(r.machine_hits));
        html.push_str("</td>\n<td class=\"when\" data-label=\"first open\" title=\"");
        e(&mut html, &r.first_open);
        html.push_str("\">");
        e(&mut html, &r.first_open_short);
        html.push_str("</td><td class=\"when\" data-label=\"last activity\" title=\"");
        e(&mut html, &r.last_activity);
        html.push_str("\">");
        e(&mut html, &r.last_activity_short);
        html.push_str("</td></tr>\n");
    }
    html
}

/// A campaign with at most this many recipients is answered person by person on the overview.
pub const SMALL_SEND: usize = 5;

impl Report<'_> {
    /// The recipients pages' books of every campaign, with each recipient's answer worked out
    /// once (on every core: a campaign of 100,000 recipients has as many sentences).
    pub fn books(&self) -> Vec<RecipientBook<'_>> {
        let campaigns = &self.stats.campaigns;
        let mut books: Vec<RecipientBook<'_>> = campaigns
            .iter()
            .map(|c| RecipientBook::new(c, &self.privacy))
            .collect();
        if !self.privacy.recipient_detail {
            return books;
        }
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
        for (c, book) in campaigns.iter().zip(&mut books) {
            let chunk = c.recipient_stats.len().div_ceil(threads).max(1);
            book.answers = std::thread::scope(|scope| {
                let parts: Vec<_> = c
                    .recipient_stats
                    .chunks(chunk)
                    .map(|part| {
                        scope.spawn(move || part.iter().map(|r| self.person(r)).collect::<Vec<_>>())
                    })
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            });
        }
        books
    }

    /// Recipient `i`'s row of a people table.
    pub(crate) fn recipient_view(
        &self,
        book: &RecipientBook<'_>,
        i: usize,
        r: &RecipientStats,
    ) -> RecipientView {
        let (answer, sureness) = book.answer(i);
        let answer = answer.to_string();
        RecipientView {
            href: book.recipient_href(&r.recipient),
            recipient: r.recipient.clone(),
            status: r.status(),
            opens: r.opens,
            human_opens: r.human_opens,
            proxy_opens: r.opens - r.human_opens,
            estimated_human_opens: r.estimated_human_opens,
            machine_opens: r.machine_opens,
            clicks: r.clicks,
            human_clicks: r.human_clicks,
            machine_hits: r.machine_hits,
            first_open: self.zone.opt(r.first_open_ms),
            last_activity: self.zone.opt(r.last_activity_ms),
            first_open_short: r.first_open_ms.map_or("—".into(), |ms| self.zone.short(ms)),
            last_activity_short: r
                .last_activity_ms
                .map_or("—".into(), |ms| self.zone.short(ms)),
            answer,
            sureness: sureness.words(),
            sureness_key: sureness,
        }
    }

    /// The campaigns small enough to answer person by person on the overview (none when
    /// recipient detail is off).
    pub(crate) fn small_sends(&self, books: &[RecipientBook<'_>]) -> Vec<SmallSendView> {
        if !self.privacy.recipient_detail {
            return Vec::new();
        }
        self.stats
            .campaigns
            .iter()
            .zip(books)
            .filter(|(c, _)| c.recipient_stats.len() <= SMALL_SEND)
            .map(|(c, book)| {
                let people: Vec<RecipientView> = c
                    .recipient_stats
                    .iter()
                    .enumerate()
                    .map(|(i, r)| self.recipient_view(book, i, r))
                    .collect();
                SmallSendView {
                    name: c.name.clone(),
                    href: campaign_file(&c.name),
                    people_html: people_rows(&people),
                    people,
                }
            })
            .collect()
    }

    /// One recipient's answer: the sentence and how sure it is.
    pub(crate) fn person(&self, r: &RecipientStats) -> (String, Sureness) {
        let samples = &self.stats.samples;
        let hits = |t: &crate::aggregate::TokenHits| -> Vec<&Sample> {
            t.hits.iter().map(|&i| &samples[i as usize]).collect()
        };
        let sureness = if r.estimated_human_opens > 0 || r.human_clicks > 0 {
            Sureness::LikelyAPerson
        } else if r.opens > 0 || r.clicks > 0 {
            Sureness::CannotTell
        } else if r.machine_hits > 0 {
            Sureness::MachinesOnly
        } else {
            Sureness::NothingSeen
        };
        let mut parts = Vec::new();
        if r.opens > 0 {
            // The first counted pixel load among the tokens' first hits, preferring one a
            // person is likely behind.
            let loads: Vec<&Sample> = r
                .tokens
                .iter()
                .flat_map(hits)
                .filter(|s| s.kind == HitKind::Open && counts(s.class))
                .collect();
            let first = loads
                .iter()
                .filter(|s| {
                    let d = samples.text(s.detail);
                    s.class == HitClass::Human
                        || !(matches!(d, "apple-mpp" | "sent-copy") || d.contains("prefetch"))
                })
                .min_by_key(|s| s.time_ms)
                .or_else(|| loads.iter().min_by_key(|s| s.time_ms));
            let mut open = match first {
                Some(s) => format!(
                    "opened: {}, {}",
                    how_loaded(self, s),
                    self.zone.short(s.time_ms)
                ),
                None => format!("opened, {}", self.zone.short(r.first_open_ms.unwrap_or(0))),
            };
            let shown = first.map(|s| s.time_ms);
            let mut more = Vec::new();
            if r.opens > 1 {
                more.push(format!("{} opens", r.opens));
            }
            if let Some(f) = r.first_open_ms.filter(|&f| Some(f) != shown) {
                more.push(format!("the first {}", self.zone.short(f)));
            }
            if let Some(l) = r.last_activity_ms.filter(|&l| {
                Some(l) != shown && self.zone.short(l) != self.zone.short(shown.unwrap_or(l))
            }) {
                more.push(format!("last activity {}", self.zone.short(l)));
            }
            if !more.is_empty() {
                open.push_str(&format!(" ({})", more.join(", ")));
            }
            parts.push(open);
        }
        if r.clicks > 0 {
            // Counted clicks per label, from each click token's first hits.
            let mut by_label: Vec<(String, u64, bool)> = Vec::new();
            for t in &r.tokens {
                let row = &self.manifest.rows[t.row];
                if row.kind != crate::token::TokenKind::Click {
                    continue;
                }
                let hs = hits(t);
                let n = hs
                    .iter()
                    .filter(|s| s.kind == HitKind::Click && counts(s.class))
                    .count() as u64;
                if n == 0 {
                    continue;
                }
                let partial = t.total > hs.len() as u64;
                let label = if row.label.is_empty() {
                    "a link".to_string()
                } else {
                    row.label.clone()
                };
                match by_label.iter_mut().find(|(l, ..)| *l == label) {
                    Some(e) => {
                        e.1 += n;
                        e.2 |= partial;
                    }
                    None => by_label.push((label, n, partial)),
                }
            }
            let items: Vec<String> = by_label
                .iter()
                .map(|(l, n, partial)| format!("{l} {}", times(*n, *partial)))
                .collect();
            if items.is_empty() {
                parts.push(format!("clicked {}", times(r.clicks, false)));
            } else {
                parts.push(format!("clicked {}", and_list(&items)));
            }
        }
        if parts.is_empty() {
            if r.machine_hits > 0 {
                let mut names: Vec<String> = Vec::new();
                let (mut pixels, mut links) = (0u64, 0u64);
                for t in &r.tokens {
                    for s in hits(t) {
                        if matches!(s.class, HitClass::Scanner | HitClass::Bot) {
                            let what = if s.class == HitClass::Scanner {
                                "a security scanner"
                            } else {
                                "a bot"
                            };
                            let name = samples.text(s.detail);
                            let n = if name.is_empty() {
                                what.to_string()
                            } else {
                                format!("{what} ({name})")
                            };
                            if !names.contains(&n) {
                                names.push(n);
                            }
                            match s.kind {
                                HitKind::Open => pixels += 1,
                                HitKind::Click => links += 1,
                                HitKind::Other => {}
                            }
                        }
                    }
                }
                let mut did = Vec::new();
                if pixels > 0 {
                    did.push("loaded the image".to_string());
                }
                if links > 0 {
                    did.push(format!(
                        "followed {} link{}",
                        links,
                        if links == 1 { "" } else { "s" }
                    ));
                }
                let who = if names.is_empty() {
                    "machines".to_string()
                } else {
                    and_list(&names)
                };
                let what = if did.is_empty() {
                    "made requests".to_string()
                } else {
                    and_list(&did)
                };
                return (
                    format!("only machines: {who} {what}; not counted as an open"),
                    sureness,
                );
            }
            return (
                "no activity: no pixel load and no click (the mail client may block images)"
                    .to_string(),
                sureness,
            );
        }
        let mut sentence = parts.join("; ");
        if r.machine_hits > 0 {
            sentence.push_str(&format!(
                "; {} machine hit{} not counted",
                r.machine_hits,
                if r.machine_hits == 1 { "" } else { "s" }
            ));
        }
        (sentence, sureness)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_words() {
        assert_eq!(times(1, false), "once");
        assert_eq!(times(2, false), "twice");
        assert_eq!(times(5, true), "at least 5 times");
        assert_eq!(
            and_list(&["a".into(), "b".into(), "c".into()]),
            "a, b and c"
        );
    }
}
