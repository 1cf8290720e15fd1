//! The figures' names and what each counts: one table, shown on "About the numbers", and the
//! names every page (`data-figure`), `summary.json` key and CSV column use for exactly that.
//!
//! A figure of scope [`Scope::Both`] is one per recipient (`recipients.csv`, recipient rows) and
//! one per campaign (`summary.json`, `campaigns.csv`, the campaign page); the campaign's is the
//! sum of its recipients'. Campaign-only figures count recipients or are ratios.

use serde::Serialize;

/// Where a figure exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Per campaign only.
    Campaign,
    /// Per recipient and per campaign (the sum of its recipients').
    Both,
}

/// One figure.
#[derive(Debug, Serialize)]
pub struct Term {
    /// Its name as a JSON key and CSV column. For [`Scope::Both`] figures the per-recipient
    /// column is `recipient_key` when it differs.
    pub key: &'static str,
    /// The per-recipient column, for figures whose campaign key says "total".
    pub recipient_key: &'static str,
    /// What pages call it.
    pub name: &'static str,
    /// Per campaign, or per recipient too.
    pub scope: Scope,
    /// What it counts.
    pub meaning: &'static str,
}

const fn term(
    key: &'static str,
    recipient_key: &'static str,
    name: &'static str,
    scope: Scope,
    meaning: &'static str,
) -> Term {
    Term {
        key,
        recipient_key,
        name,
        scope,
        meaning,
    }
}

/// Every figure, in the order the pages show them.
pub const GLOSSARY: &[Term] = &[
    term(
        "recipients",
        "",
        "recipients",
        Scope::Campaign,
        "Distinct recipients minted for the campaign.",
    ),
    term(
        "unique_opens",
        "",
        "opened",
        Scope::Campaign,
        "Recipients with at least one counted open, or a counted click (a click implies an \
         open: many mail clients block images). Raw: includes opens no person triggered.",
    ),
    term(
        "unique_human_opens",
        "",
        "opened, a person likely behind it",
        Scope::Campaign,
        "Recipients with at least one estimated human open or human-looking click.",
    ),
    term(
        "opened_only_via_proxy",
        "",
        "opened only through mail proxies",
        Scope::Campaign,
        "Of those who opened, recipients whose every counted open came through a mail \
         provider's proxy (Gmail, Yahoo, Apple): the proxy hides when and where they looked.",
    ),
    term(
        "opens_implied_by_click",
        "",
        "known to have opened only from a click",
        Scope::Campaign,
        "Of those who opened, recipients with a counted click and no counted pixel load.",
    ),
    term(
        "total_opens",
        "opens",
        "opens",
        Scope::Both,
        "Pixel loads counted as opens: human-looking ones plus those through a mail provider's \
         proxy. Duplicates, scanners, bots, internal and invalid hits are not counted.",
    ),
    term(
        "human_opens",
        "human_opens",
        "human-looking opens",
        Scope::Both,
        "Counted opens straight from a mail client, with no machine signal in the user agent, \
         network, method, headers or timing. An estimate, not proof.",
    ),
    term(
        "proxy_opens",
        "proxy_opens",
        "opens via proxy",
        Scope::Both,
        "Counted opens through a mail provider's proxy: the address and device are the \
         proxy's. Equals opens minus human-looking opens.",
    ),
    term(
        "estimated_human_opens",
        "estimated_human_opens",
        "estimated human opens",
        Scope::Both,
        "Counted opens a person is likely behind: human-looking ones plus the proxy fetches a \
         reader triggers (Gmail, Yahoo). Apple Mail Privacy Protection and delivery-time \
         prefetches are left out.",
    ),
    term(
        "machine_opens",
        "machine_opens",
        "machine opens",
        Scope::Both,
        "Pixel loads no person triggered: delivery-time proxy fetches (Apple Mail Privacy \
         Protection, Gmail's prefetch, the sender's Sent copy) plus scanner and bot pixel \
         loads. The first are counted opens, the others are not.",
    ),
    term(
        "unique_clicks",
        "",
        "clicked",
        Scope::Campaign,
        "Recipients with at least one counted click.",
    ),
    term(
        "unique_human_clicks",
        "",
        "clicked, human-looking",
        Scope::Campaign,
        "Recipients with at least one human-looking click.",
    ),
    term(
        "total_clicks",
        "clicks",
        "clicks",
        Scope::Both,
        "Tracked-link requests counted as clicks (human-looking or through a proxy). A \
         scanner's or a bot's request is never a click.",
    ),
    term(
        "human_clicks",
        "human_clicks",
        "human-looking clicks",
        Scope::Both,
        "Counted clicks with no machine signal.",
    ),
    term(
        "machine_hits",
        "machine_hits",
        "machine hits",
        Scope::Both,
        "Requests for pixels and links classed scanner or bot: never counted, always shown.",
    ),
    term(
        "click_to_open",
        "",
        "click-to-open rate",
        Scope::Campaign,
        "Recipients who clicked, human-looking, over recipients who opened with a person \
         likely behind it (unique_human_clicks / unique_human_opens).",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut keys: Vec<_> = GLOSSARY.iter().map(|t| t.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), GLOSSARY.len());
        for t in GLOSSARY {
            assert_eq!(t.scope == Scope::Both, !t.recipient_key.is_empty());
        }
    }
}
