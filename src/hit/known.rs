//! The manifest's own URLs, verified and resolved once before the logs are read and shared by
//! every parsing worker ([`KnownTargets`]), and the prefetch steps that bring a request's entry
//! into cache before it is looked up.

use super::*;

/// The request targets the manifest's tokens are fetched at (`/o/TOKEN.png`, `/c/TOKEN`),
/// verified and resolved once before the logs are read and shared by every parsing worker.
///
/// Almost every hit asks for one of these exact targets. Filled into each worker's own cache,
/// the resolved targets would be held once per core; this table holds them once. Targets it
/// does not have (query strings, escapes, forged tokens, scanners' paths) still go through each
/// worker's own caches. Building it costs about a microsecond and 90 bytes per row, so the
/// pipeline builds it only when the logs are large enough to ask for most rows;
/// [`KnownTargets::default`] is the empty table.
///
/// The table is read for almost every line, and with tens of thousands of tokens its entries
/// are rarely in cache. So it is a plain open-addressing table whose slots name entries laid
/// out back to back in one buffer, each the resolved target (row, expiry, kind) followed by the
/// target's own bytes: a lookup waits on two loads in turn (the slot, then the entry), and both
/// can be asked for ahead of time ([`KnownTargets::warm`]): the parsing worker hashes the
/// target of a line a dozen lines ahead and brings its slot, then its entry into cache while it
/// resolves the lines before. The slots and the entries ask for huge pages
/// ([`crate::fast::advise_huge_pages`]): prefetched lookups still waited on the page walk.
#[derive(Debug, Default)]
pub struct KnownTargets {
    /// Offset + 1 in `entries` of an entry, by hash, linear probing; 0 is empty. A power of
    /// two, at most half full.
    slots: Vec<u32>,
    /// The entries back to back: [`HEAD`] bytes of header, then the target's bytes.
    entries: Vec<u8>,
    /// Offset in `entries` of record `i`'s entry: events name records by number.
    at: Vec<u32>,
    hasher: foldhash::fast::RandomState,
}

/// Where an entry's header keeps each field, little-endian: the token's expiry (i64,
/// `i64::MIN` for none), the manifest row (u32), the record number (u32), the target's length,
/// the token's offset and length in it (u16 each), the kind (u8: 0 open, 1 click).
const EXPIRES: usize = 0;
const ROW: usize = 8;
const INDEX: usize = 12;
const LEN: usize = 16;
const TOKEN_AT: usize = 18;
const TOKEN_LEN: usize = 20;
const KIND: usize = 22;
/// Bytes of an entry's header (one of padding after the kind).
const HEAD: usize = 24;

/// Bytes [`KnownTargets::warm`] brings into cache from an entry's start: the header and a
/// target of up to 104 bytes (`/o/` + a 40-character token + `.png` is 47).
const ENTRY_PREFETCH: usize = 128;

/// A known target found: its record number and what it resolves to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found {
    pub(super) index: u32,
    pub(super) kind: HitKind,
    pub(super) lookup: TokenLookup,
}

/// One entry of [`KnownTargets::entries`], read in place.
#[derive(Debug, Clone, Copy)]
struct Entry<'a>(&'a [u8]);

impl<'a> Entry<'a> {
    fn u16_at(&self, at: usize) -> usize {
        usize::from(u16::from_le_bytes([self.0[at], self.0[at + 1]]))
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().expect("four bytes"))
    }

    /// The request target, as requested.
    fn key(&self) -> &'a [u8] {
        &self.0[HEAD..HEAD + self.u16_at(LEN)]
    }

    fn found(&self) -> Found {
        let expires = i64::from_le_bytes(
            self.0[EXPIRES..EXPIRES + 8]
                .try_into()
                .expect("eight bytes"),
        );
        Found {
            index: self.u32_at(INDEX),
            kind: if self.0[KIND] == 0 {
                HitKind::Open
            } else {
                HitKind::Click
            },
            lookup: TokenLookup::Found {
                row: self.u32_at(ROW) as usize,
                expires_at_secs: (expires != i64::MIN).then_some(expires),
            },
        }
    }

    /// The token text and the request target.
    fn texts(&self) -> (&'a str, &'a str) {
        // Checked to be UTF-8 when the entry was made (the target is its own decoding).
        let uri = std::str::from_utf8(self.key()).unwrap_or_default();
        let (at, len) = (self.u16_at(TOKEN_AT), self.u16_at(TOKEN_LEN));
        (uri.get(at..at + len).unwrap_or_default(), uri)
    }
}

/// How far ahead a step of [`KnownTargets::warm`] reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefetch {
    /// The slot.
    Slot,
    /// The entry the slot names (the slot should be in cache by now).
    Entry,
}

impl KnownTargets {
    /// Resolves the target of every manifest row whose token verifies.
    pub fn new(manifest: &Manifest, keys: &KeyRing, path_prefix: &str) -> Self {
        let mut resolver = Resolver::new(manifest, keys, path_prefix);
        let longest_prefix = resolver.open_prefix.len().max(resolver.click_prefix.len());
        let bytes: usize = (manifest.rows.iter())
            .map(|r| HEAD + longest_prefix + r.token.len() + ".png".len())
            .sum();
        let mut known = KnownTargets {
            slots: vec![0; (manifest.rows.len() * 2).next_power_of_two().max(16)],
            entries: Vec::with_capacity(bytes),
            at: Vec::with_capacity(manifest.rows.len()),
            hasher: foldhash::fast::RandomState::default(),
        };
        crate::fast::advise_huge_pages(&mut known.slots);
        crate::fast::advise_huge_pages(&mut known.entries);
        let mut uri = Vec::new();
        for row in &manifest.rows {
            // The URL shapes Resolver::target reads: PREFIX/o/TOKEN.png and PREFIX/c/TOKEN.
            uri.clear();
            let prefix = match row.kind {
                TokenKind::Open => &resolver.open_prefix,
                TokenKind::Click => &resolver.click_prefix,
            };
            let token_at = prefix.len();
            uri.extend_from_slice(prefix);
            uri.extend_from_slice(row.token.as_bytes());
            if row.kind == TokenKind::Open {
                uri.extend_from_slice(b".png");
            }
            let target = resolver.resolve_target(&uri, false);
            let TokenLookup::Found {
                row: found_row,
                expires_at_secs,
            } = target.lookup
            else {
                continue;
            };
            // The entry's target is the request's bytes and its own text: a target that
            // decodes to something else (escapes in the prefix) or is cut stays with the
            // workers' caches, as does a token twice in the manifest (its index finds one row
            // either way).
            let slot = known.probe(known.hash(&uri), &uri);
            if known.slots[slot] != 0
                || target.uri.as_bytes() != uri.as_slice()
                || uri.get(token_at..token_at + target.token.len()) != Some(target.token.as_bytes())
            {
                continue;
            }
            let (Ok(len), Ok(token_at), Ok(token_len), Ok(row32), Ok(at), Ok(index)) = (
                u16::try_from(uri.len()),
                u16::try_from(token_at),
                u16::try_from(target.token.len()),
                u32::try_from(found_row),
                u32::try_from(known.entries.len()),
                u32::try_from(known.at.len()),
            ) else {
                continue;
            };
            let mut head = [0u8; HEAD];
            let expires = expires_at_secs.unwrap_or(i64::MIN);
            head[EXPIRES..EXPIRES + 8].copy_from_slice(&expires.to_le_bytes());
            head[ROW..ROW + 4].copy_from_slice(&row32.to_le_bytes());
            head[INDEX..INDEX + 4].copy_from_slice(&index.to_le_bytes());
            head[LEN..LEN + 2].copy_from_slice(&len.to_le_bytes());
            head[TOKEN_AT..TOKEN_AT + 2].copy_from_slice(&token_at.to_le_bytes());
            head[TOKEN_LEN..TOKEN_LEN + 2].copy_from_slice(&token_len.to_le_bytes());
            head[KIND] = u8::from(target.kind == HitKind::Click);
            known.entries.extend_from_slice(&head);
            known.entries.extend_from_slice(&uri);
            known.at.push(at);
            known.slots[slot] = at + 1;
        }
        known
    }

    /// The hash lookups and [`KnownTargets::warm`] take for a raw target.
    pub fn hash(&self, raw: &[u8]) -> u64 {
        self.hasher.hash_one(raw)
    }

    fn entry(&self, at: u32) -> Entry<'_> {
        Entry(&self.entries[at as usize..])
    }

    /// The slot that holds `raw`, or the empty slot where it would go (linear probing).
    fn probe(&self, hash: u64, raw: &[u8]) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while let n @ 1.. = self.slots[i] {
            if LogBytes(self.entry(n - 1).key()) == LogBytes(raw) {
                break;
            }
            i = (i + 1) & mask;
        }
        i
    }

    /// The record of `raw`, whose hash is `hash`, and what it resolves to.
    pub(super) fn find(&self, hash: u64, raw: &[u8]) -> Option<Found> {
        if self.at.is_empty() {
            return None;
        }
        match self.slots[self.probe(hash, raw)] {
            0 => None,
            n => Some(self.entry(n - 1).found()),
        }
    }

    /// The token text and request target of record `index`.
    pub fn texts(&self, index: u32) -> (&str, &str) {
        self.entry(self.at[index as usize]).texts()
    }

    /// Asks for the texts of record `index` to be brought into cache.
    pub fn prefetch_texts(&self, index: u32) {
        if let Some(&at) = self.at.get(index as usize) {
            prefetch_bytes(
                self.entries.as_ptr().wrapping_add(at as usize),
                ENTRY_PREFETCH,
            );
        }
    }

    /// How many requests ahead of the one being resolved [`KnownTargets::warm`] wants to see.
    pub const LOOKAHEAD: usize = 12;

    /// Brings into cache, in steps, what the lookups of the coming requests will read.
    /// `upcoming(i)` is the [`KnownTargets::hash`] of the request `i` places after the one about
    /// to be resolved (`None` when there is none, or it has no known target), for `i` up to
    /// [`KnownTargets::LOOKAHEAD`]. Called once per request resolved, it asks for the newest
    /// one's slot and for the entry of the one halfway: each load has had a few requests' time
    /// to arrive when the next needs it.
    pub fn warm(&self, upcoming: impl Fn(usize) -> Option<u64>) {
        for (at, step) in [
            (Self::LOOKAHEAD - 1, Prefetch::Slot),
            (Self::LOOKAHEAD / 2, Prefetch::Entry),
        ] {
            if let Some(hash) = upcoming(at) {
                self.prefetch(hash, step);
            }
        }
    }

    /// Asks for one step of the lookup of `hash` to be brought into cache (the first slot
    /// probed, the usual case: the table is at most half full).
    pub(crate) fn prefetch(&self, hash: u64, step: Prefetch) {
        if self.at.is_empty() {
            return;
        }
        let slot = &self.slots[hash as usize & (self.slots.len() - 1)];
        match (step, *slot) {
            (Prefetch::Slot, _) => prefetch(slot),
            (_, 0) => {}
            // An entry may straddle lines: the header and a usual target are asked for.
            (Prefetch::Entry, n) => prefetch_bytes(
                self.entries.as_ptr().wrapping_add(n as usize - 1),
                ENTRY_PREFETCH,
            ),
        }
    }

    /// How many targets are known.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
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
            for step in [Prefetch::Slot, Prefetch::Entry] {
                known.prefetch(hash, step);
            }
            let found = known
                .find(hash, uri.as_bytes())
                .expect("every row is known");
            assert!(matches!(found.lookup, TokenLookup::Found { row, .. } if row == i));
            assert_eq!(found.kind == HitKind::Open, row.kind == TokenKind::Open);
            assert_eq!(known.texts(found.index), (row.token.as_str(), uri.as_str()));
            known.prefetch_texts(found.index);
            let other = format!("{uri}?x");
            let hash = known.hash(other.as_bytes());
            known.prefetch(hash, Prefetch::Entry);
            assert!(known.find(hash, other.as_bytes()).is_none());
        }
        let empty = KnownTargets::default();
        empty.prefetch(7, Prefetch::Entry);
        empty.prefetch_texts(7);
        assert!(empty.find(7, b"/o/x.png").is_none());
    }
}
