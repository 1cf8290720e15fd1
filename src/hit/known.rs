//! The manifest's own URLs, verified and resolved once before the logs are read and shared by
//! every parsing worker ([`KnownTargets`]), and the prefetch steps that bring a request's entry
//! into cache before it is looked up.

use super::*;

/// The request targets the manifest's tokens are fetched at (`/o/TOKEN.png`, `/c/TOKEN`),
/// verified and resolved once before the logs are read and shared by every parsing worker.
///
/// Almost every hit asks for one of these exact targets. Filled into each worker's own cache,
/// the resolved targets (some 25 MiB for 80,000 tokens) would be held once per core; this table
/// holds them once. Targets it does not have (query strings, escapes, forged
/// tokens, scanners' paths) still go through each worker's own caches. Building it costs about
/// 1.5 us and 250 bytes per row, so the pipeline builds it only when the logs are large enough
/// to ask for most rows; [`KnownTargets::default`] is the empty table.
///
/// The table is read for almost every line, and with tens of thousands of tokens its records
/// are rarely in cache: a lookup waited on three loads in turn (the slot, the record, the
/// target's text). So it is a plain open-addressing table whose slots and records can be asked
/// for ahead of time ([`KnownTargets::warm`]): the parsing worker hashes the target of a line
/// a dozen lines ahead and brings its slot, then its record, then its text into cache in steps
/// while it resolves the lines before. Its slots and records ask for huge pages
/// ([`crate::fast::advise_huge_pages`]): prefetched lookups still waited on the page walk.
#[derive(Debug, Default)]
pub struct KnownTargets {
    /// Record index + 1 by hash, linear probing; 0 is empty. A power of two, at most half full.
    slots: Vec<u32>,
    pub(super) records: Vec<Cached>,
    hasher: foldhash::fast::RandomState,
}

/// How far ahead a step of [`KnownTargets::warm`] reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefetch {
    /// The slot.
    Slot,
    /// The record the slot names (the slot should be in cache by now).
    Record,
    /// The text the record's key is compared with (the record should be in cache by now).
    Text,
}

impl KnownTargets {
    /// Resolves the target of every manifest row whose token verifies.
    pub fn new(manifest: &Manifest, keys: &KeyRing, path_prefix: &str) -> Self {
        let mut resolver = Resolver::new(manifest, keys, path_prefix);
        let mut known = KnownTargets {
            slots: vec![0; (manifest.rows.len() * 2).next_power_of_two().max(16)],
            records: Vec::with_capacity(manifest.rows.len()),
            hasher: foldhash::fast::RandomState::default(),
        };
        crate::fast::advise_huge_pages(&mut known.slots);
        crate::fast::advise_huge_pages(&mut known.records);
        let mut uri = Vec::new();
        for row in &manifest.rows {
            // The URL shapes Resolver::target reads: PREFIX/o/TOKEN.png and PREFIX/c/TOKEN.
            uri.clear();
            uri.extend_from_slice(match row.kind {
                TokenKind::Open => &resolver.open_prefix,
                TokenKind::Click => &resolver.click_prefix,
            });
            uri.extend_from_slice(row.token.as_bytes());
            if row.kind == TokenKind::Open {
                uri.extend_from_slice(b".png");
            }
            let target = resolver.resolve_target(&uri, false);
            let slot = known.probe(known.hash(&uri), &uri);
            // A token twice in the manifest resolves to the row its index finds either way:
            // one record serves.
            if matches!(target.lookup, TokenLookup::Found { .. }) && known.slots[slot] == 0 {
                known.records.push(Cached::new(&uri, target));
                known.slots[slot] = u32::try_from(known.records.len())
                    .expect("a manifest has under 4 billion rows");
            }
        }
        known
    }

    /// The hash lookups and [`KnownTargets::warm`] take for a raw target.
    pub fn hash(&self, raw: &[u8]) -> u64 {
        self.hasher.hash_one(raw)
    }

    /// The slot that holds `raw`, or the empty slot where it would go (linear probing).
    fn probe(&self, hash: u64, raw: &[u8]) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while let n @ 1.. = self.slots[i] {
            if self.records[n as usize - 1].key() == LogBytes(raw) {
                break;
            }
            i = (i + 1) & mask;
        }
        i
    }

    /// The record of `raw`, whose hash is `hash`.
    pub(super) fn find(&self, hash: u64, raw: &[u8]) -> Option<u32> {
        if self.records.is_empty() {
            return None;
        }
        match self.slots[self.probe(hash, raw)] {
            0 => None,
            n => Some(n - 1),
        }
    }

    /// The token text and request target of record `index`.
    pub fn texts(&self, index: u32) -> (&str, &str) {
        let target = &self.records[index as usize].target;
        (&target.token, &target.uri)
    }

    /// Asks for the texts of record `index` to be brought into cache.
    pub fn prefetch_texts(&self, index: u32) {
        if let Some(record) = self.records.get(index as usize) {
            prefetch(record.target.uri.as_ptr());
            prefetch(record.target.token.as_ptr());
        }
    }

    /// How many requests ahead of the one being resolved [`KnownTargets::warm`] wants to see.
    pub const LOOKAHEAD: usize = 12;

    /// Brings into cache, in steps, what the lookups of the coming requests will read.
    /// `upcoming(i)` is the [`KnownTargets::hash`] of the request `i` places after the one about
    /// to be resolved (`None` when there is none, or it has no known target), for `i` up to
    /// [`KnownTargets::LOOKAHEAD`]. Called once per request resolved, it asks for the newest
    /// one's slot, for the record of the one halfway, and for the text of the one a quarter of
    /// the way: each load has had a few requests' time to arrive when the next needs it.
    pub fn warm(&self, upcoming: impl Fn(usize) -> Option<u64>) {
        for (at, step) in [
            (Self::LOOKAHEAD - 1, Prefetch::Slot),
            (Self::LOOKAHEAD / 2, Prefetch::Record),
            (Self::LOOKAHEAD / 4, Prefetch::Text),
        ] {
            if let Some(hash) = upcoming(at) {
                self.prefetch(hash, step);
            }
        }
    }

    /// Asks for one step of the lookup of `hash` to be brought into cache (the first slot
    /// probed, the usual case: the table is at most half full).
    pub(crate) fn prefetch(&self, hash: u64, step: Prefetch) {
        if self.records.is_empty() {
            return;
        }
        let slot = &self.slots[hash as usize & (self.slots.len() - 1)];
        match (step, *slot) {
            (Prefetch::Slot, _) => prefetch(slot),
            (_, 0) => {}
            // A record and a text may each straddle two cache lines: all are asked for.
            (Prefetch::Record, n) => prefetch_value(&self.records[n as usize - 1]),
            (Prefetch::Text, n) => {
                let key = self.records[n as usize - 1].key().0;
                prefetch_bytes(key.as_ptr(), key.len());
            }
        }
    }

    /// How many targets are known.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestRow;
    use crate::token::{SecretKey, TokenKind};

    #[test]
    fn known_targets_find_every_row_and_nothing_else() {
        let keys = KeyRing::single(SecretKey::new(1, [5; 32]));
        let rows: Vec<ManifestRow> = (0..3000)
            .map(|i| {
                let kind = if i % 3 == 0 {
                    TokenKind::Open
                } else {
                    TokenKind::Click
                };
                ManifestRow {
                    recipient: format!("r{i}"),
                    ..ManifestRow::example(kind, &token::mint(kind, keys.active(), None))
                }
            })
            .collect();
        let m = Manifest::new(rows);
        let known = KnownTargets::new(&m, &keys, "");
        assert_eq!(known.len(), 3000);
        for (i, row) in m.rows.iter().enumerate() {
            let uri = match row.kind {
                TokenKind::Open => format!("/o/{}.png", row.token),
                TokenKind::Click => format!("/c/{}", row.token),
            };
            let hash = known.hash(uri.as_bytes());
            for step in [Prefetch::Slot, Prefetch::Record, Prefetch::Text] {
                known.prefetch(hash, step);
            }
            let found = known
                .find(hash, uri.as_bytes())
                .expect("every row is known");
            let record = &known.records[found as usize];
            assert!(matches!(record.target.lookup, TokenLookup::Found { row, .. } if row == i));
            assert_eq!(known.texts(found), (row.token.as_str(), uri.as_str()));
            known.prefetch_texts(found);
            let other = format!("{uri}?x");
            let hash = known.hash(other.as_bytes());
            known.prefetch(hash, Prefetch::Text);
            assert!(known.find(hash, other.as_bytes()).is_none());
        }
        let empty = KnownTargets::default();
        empty.prefetch(7, Prefetch::Text);
        empty.prefetch_texts(7);
        assert!(empty.find(7, b"/o/x.png").is_none());
    }
}
