//! What a hit adds to its manifest row, gathered in one cache line per row ([`RowTally`]) and
//! added out to its recipient and token at the end; and the per-client panel tallies.

use super::*;

/// Where a manifest row's figures go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub(crate) campaign: u32,
    pub(crate) recipient: u32,
    /// Index into the campaign's links, for click tokens; [`Place::NO_LINK`] for others.
    pub(crate) link: u32,
}

impl Place {
    pub(crate) const NO_LINK: u32 = u32::MAX;

    pub(crate) fn link(self) -> Option<u32> {
        (self.link != Self::NO_LINK).then_some(self.link)
    }
}

/// What is known of one hit when its row counts it.
pub(crate) struct HitFacts {
    pub(crate) kind: HitKind,
    /// Its class counts (human or proxy).
    pub(crate) counted: bool,
    /// Human-looking: not through a proxy.
    pub(crate) direct: bool,
    /// A person is likely behind it (human-looking, or a proxy fetch a reader triggered).
    pub(crate) personal: bool,
    /// A scanner or a bot.
    pub(crate) machine: bool,
    /// Its row has a link (a click token's always does).
    pub(crate) has_link: bool,
    pub(crate) time_ms: i64,
}

/// What one manifest row's hits add to its recipient and token, gathered per row while the
/// events stream past and added to [`RecipientStats`] and [`TokenHits`] at the end (or when
/// `hits` is about to overflow): every figure here is a sum, a minimum, a maximum or a union
/// of flags, so the order does not matter.
///
/// Kept apart, a hit's figures would be five records in four places (the row's place, its
/// token's slot, its recipient's figures and flags, its token's record), each found from the one
/// before, rarely in cache with tens of thousands of tokens. This is one cache line, found from the
/// row alone, so it can be asked for ahead in one step. Counters are 32 bits; `hits` counts
/// every hit and so is the largest, and the row is added out before it overflows.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct RowTally {
    pub(crate) place: Place,
    /// Index into the recipient's `tokens`, once the row has a hit; `u32::MAX` before.
    pub(crate) slot: u32,
    pub(crate) hits: u32,
    /// Counted hits: opens on an open token's row, clicks on a click token's (a row only ever
    /// gets hits of its own kind, so the two share the counters).
    pub(crate) counted: u32,
    /// Of those, human-looking ones (class `human`).
    pub(crate) direct: u32,
    /// Counted opens a person is likely behind: human-looking, or a proxy fetch a reader
    /// triggered.
    pub(crate) personal: u32,
    /// Pixel loads no person triggered: delivery-time proxy fetches, scanners, bots.
    pub(crate) machine_opens: u32,
    /// Scanner and bot hits of any kind.
    pub(crate) machine_hits: u32,
    /// `OPENED | CLICKED | ...`.
    pub(crate) seen: u8,
    /// First counted open, ms; `i64::MAX`: none.
    pub(crate) first_open_ms: i64,
    /// Last counted hit, ms; `i64::MIN`: none.
    pub(crate) last_activity_ms: i64,
}

const _: () = assert!(
    std::mem::size_of::<RowTally>() == 64,
    "a tally is one cache line"
);

impl RowTally {
    pub(crate) fn new(place: Place) -> Self {
        RowTally {
            place,
            slot: u32::MAX,
            hits: 0,
            counted: 0,
            direct: 0,
            personal: 0,
            machine_opens: 0,
            machine_hits: 0,
            seen: 0,
            first_open_ms: i64::MAX,
            last_activity_ms: i64::MIN,
        }
    }

    /// Counts one hit of the row: the rules of what a hit adds to its recipient's figures, in
    /// one place (the fold into `RecipientStats` is [`RowTally::add_to`]). Unique clickers per
    /// link are counted from the flags in `finish`: a set of (link, recipient) filled per click
    /// would be a cache miss each.
    pub(crate) fn count(&mut self, f: &HitFacts) {
        if f.machine {
            self.machine_hits += 1;
        }
        if f.counted {
            self.last_activity_ms = self.last_activity_ms.max(f.time_ms);
        }
        match f.kind {
            HitKind::Open if f.counted => {
                self.counted += 1;
                self.first_open_ms = self.first_open_ms.min(f.time_ms);
                self.seen |= OPENED;
                if f.direct {
                    self.direct += 1;
                    self.seen |= DIRECT_OPENED;
                }
                if f.personal {
                    self.personal += 1;
                    self.seen |= HUMAN_OPENED;
                } else {
                    self.machine_opens += 1;
                }
            }
            HitKind::Open if f.machine => self.machine_opens += 1,
            HitKind::Click if f.has_link && f.counted => {
                self.counted += 1;
                self.seen |= CLICKED;
                if f.direct {
                    self.direct += 1;
                    self.seen |= HUMAN_CLICKED;
                }
            }
            _ => {}
        }
    }

    pub(crate) fn add_to(&mut self, rs: &mut RecipientStats, seen: &mut u8) {
        rs.hits += u64::from(self.hits);
        if self.place.link().is_some() {
            rs.clicks += u64::from(self.counted);
            rs.human_clicks += u64::from(self.direct);
        } else {
            rs.opens += u64::from(self.counted);
            rs.human_opens += u64::from(self.direct);
            rs.estimated_human_opens += u64::from(self.personal);
            rs.machine_opens += u64::from(self.machine_opens);
        }
        rs.machine_hits += u64::from(self.machine_hits);
        if self.first_open_ms != i64::MAX {
            rs.first_open_ms = min_opt(rs.first_open_ms, self.first_open_ms);
        }
        if self.last_activity_ms != i64::MIN {
            rs.last_activity_ms = max_opt(rs.last_activity_ms, self.last_activity_ms);
        }
        if let Some(t) = rs.tokens.get_mut(self.slot as usize) {
            t.total += u64::from(self.hits);
        }
        *seen |= self.seen;
        // The flags stay: adding them again is harmless, and `finish` reads them per row.
        *self = RowTally {
            slot: self.slot,
            seen: self.seen,
            ..RowTally::new(self.place)
        };
    }
}

pub(crate) const OPENED: u8 = 1;
pub(crate) const CLICKED: u8 = 2;
pub(crate) const HUMAN_OPENED: u8 = 4;
pub(crate) const HUMAN_CLICKED: u8 = 8;
/// A counted open that is human-looking (not through a mail provider's proxy).
pub(crate) const DIRECT_OPENED: u8 = 16;

/// Hits of one client result: counted ones, human-looking ones.
#[derive(Debug, Default)]
pub(crate) struct ClientTally {
    pub(crate) counted: u64,
    pub(crate) human: u64,
}
