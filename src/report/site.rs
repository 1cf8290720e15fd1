//! The site's file names and anchors: a page per campaign, link and page of recipients, each
//! named by a readable slug and a hash of the exact text, so that no name collides or escapes
//! the directory; [`RecipientBook`] finds the page that shows a recipient.

use super::*;

/// A file name for a campaign page: a readable slug plus a hash of the exact name, so two names
/// that slug alike never collide and no name can escape the directory.
pub fn campaign_file(name: &str) -> String {
    let mut slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    slug = slug
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    slug.truncate(40);
    let hash = Sha256::digest(name.as_bytes());
    let hex: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    if slug.is_empty() {
        format!("campaign-{hex}.html")
    } else {
        format!("campaign-{slug}-{hex}.html")
    }
}

pub(crate) fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()[..5]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The page of one tracked link of a campaign.
pub fn link_file(campaign: &str, label: &str, target: &str) -> String {
    format!("link-{}.html", short_hash(&[campaign, label, target]))
}

/// Recipients listed on one recipients page.
pub const RECIPIENTS_PER_PAGE: usize = 50;

/// The anchor of a recipient's section.
pub fn recipient_anchor(campaign: &str, recipient: &str) -> String {
    format!("r-{}", short_hash(&[campaign, recipient]))
}

/// The anchor of a token's section: the token itself when it is plain base64url, else a hash.
pub fn token_anchor(token: &str) -> String {
    if !token.is_empty() && token.len() <= 64 && crate::token::is_token_charset(token.as_bytes()) {
        format!("t-{token}")
    } else {
        format!("t-{}", short_hash(&[token]))
    }
}

/// Where each recipient of a campaign who has a hit is shown: in sections of recipients pages,
/// [`RECIPIENTS_PER_PAGE`] to a page, each recipient's tokens in sections of their own. Grouping
/// keeps a campaign of 100,000 recipients to a few thousand files; recipients with no hit get no
/// section. Empty when recipient detail is off.
pub struct RecipientBook<'a> {
    /// The campaign's short hash, which names its recipients pages.
    campaign_hash: String,
    /// Indices into the campaign's `recipient_stats`, by page.
    pub pages: Vec<Vec<usize>>,
    /// Recipient -> page and section anchor (hashed once here, not once per hit row).
    page_of: HashMap<&'a str, (usize, String)>,
    /// Each recipient's answer and how sure it is, by index into `recipient_stats` (worked out
    /// once: the campaign page, the recipients pages and `recipients.csv` all show it). Empty
    /// when recipient detail is off.
    pub(crate) answers: Vec<(String, super::people::Sureness)>,
}

impl<'a> RecipientBook<'a> {
    /// The book for a campaign.
    pub fn new(c: &'a CampaignStats, privacy: &Privacy) -> Self {
        let active: Vec<usize> = if privacy.recipient_detail {
            (0..c.recipient_stats.len())
                .filter(|&i| c.recipient_stats[i].hits > 0)
                .collect()
        } else {
            Vec::new()
        };
        let pages: Vec<Vec<usize>> = active
            .chunks(RECIPIENTS_PER_PAGE)
            .map(<[usize]>::to_vec)
            .collect();
        let mut page_of = HashMap::new();
        for (p, list) in pages.iter().enumerate() {
            for &i in list {
                let r = c.recipient_stats[i].recipient.as_str();
                page_of.insert(r, (p, recipient_anchor(&c.name, r)));
            }
        }
        RecipientBook {
            campaign_hash: short_hash(&[&c.name]),
            pages,
            page_of,
            answers: Vec::new(),
        }
    }

    /// A recipient's answer, as worked out by [`super::Report::books`].
    pub(crate) fn answer(&self, i: usize) -> (&str, super::people::Sureness) {
        match self.answers.get(i) {
            Some((a, s)) => (a, *s),
            None => ("", super::people::Sureness::NothingSeen),
        }
    }

    /// The file of page `page` (0-based).
    pub fn page_file(&self, page: usize) -> String {
        format!("recipients-{}-{}.html", self.campaign_hash, page + 1)
    }

    /// Where a recipient's section is, if they have one.
    pub fn recipient_href(&self, recipient: &str) -> Option<String> {
        let (p, anchor) = self.page_of.get(recipient)?;
        Some(format!("{}#{anchor}", self.page_file(*p)))
    }

    /// Where a token's section is, if its recipient has one.
    pub fn token_href(&self, recipient: &str, token: &str) -> Option<String> {
        let (p, _) = self.page_of.get(recipient)?;
        Some(format!("{}#{}", self.page_file(*p), token_anchor(token)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_files_are_safe_and_distinct() {
        assert!(campaign_file("Autumn launch").starts_with("campaign-autumn-launch-"));
        assert_ne!(campaign_file("a b"), campaign_file("a-b"));
        let evil = campaign_file("../../etc/passwd");
        assert!(!evil.contains('/') && !evil.contains(".."), "{evil}");
        assert!(campaign_file("<>").starts_with("campaign-"));
    }
}
