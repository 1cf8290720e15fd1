//! From a parsed log line to an [`Event`]: which tracked URL it asked for, whether its token is
//! genuine, and what it refers to in the manifest.
//!
//! Token checks are cached per distinct token text, so a token seen a million times is verified
//! once. Events own their data (decoded from nginx's escapes); a request's method and headers
//! are interned as one [`Headers`], so that a million hits from one proxy share one, and the
//! later stages find a user agent by its [`AgentKey`](crate::model::AgentKey) rather than
//! hashing its text again.
//!
//! Key types: [`Event`], [`Resolver`], [`KnownTargets`].

use crate::fast::{LogBytes, prefetch, prefetch_bytes};

mod known;

use crate::model::{HeaderFields, Headers, HitKind, TokenStatus};
pub use known::KnownTargets;
use std::hash::BuildHasher as _;
use std::net::IpAddr;
use std::sync::Arc;

use crate::logparse::{LogLine, decode};
use crate::manifest::Manifest;
use crate::token::{self, Forgery, KeyRing, TokenKind};

/// Where a line came from: an index into the list of files read, and a 1-based line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    /// Index into the analysis' file list.
    pub file: u32,
    /// 1-based line number.
    pub line: u64,
}

/// One request line, resolved against the manifest. Every string is decoded text from the log and
/// must be escaped wherever it is shown.
#[derive(Debug, Clone)]
pub struct Event {
    /// Request time, milliseconds since the epoch, UTC.
    pub time_ms: i64,
    /// Pixel, link or other.
    pub kind: HitKind,
    /// The token's verdict.
    pub token_status: TokenStatus,
    /// Why a forged token failed (`bad-signature`, `malformed`, `unknown-key`).
    pub forgery: Option<Forgery>,
    /// The manifest row, for valid and expired tokens.
    pub row: Option<usize>,
    /// The token text and the request target: read them with [`Event::texts`].
    pub target: TargetText,
    /// Client address.
    pub client: IpAddr,
    /// Response status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes_sent: u64,
    /// The method and the request headers pxtrack logs, shared by every event that sent the
    /// same ones.
    pub headers: Arc<Headers>,
    /// Where the line came from.
    pub source: Source,
    /// The client's autonomous system, when an ASN database is loaded.
    pub asn: Option<u32>,
    /// What GeoIP says of the client address, when a database is loaded.
    pub geo: Option<Arc<crate::model::GeoInfo>>,
}

impl Event {
    /// The token text (for kinds open and click, as requested) and the request target (or the
    /// whole junk request line). `known` is the table the event was resolved with.
    pub fn texts<'a>(&'a self, known: &'a KnownTargets) -> (&'a str, &'a str) {
        match &self.target {
            TargetText::Known(i) => known.texts(*i),
            TargetText::Own { token, uri } => (token, uri),
        }
    }
}

/// Where an event's token and request target are. Nearly every hit asks for one of the
/// manifest's own URLs, and then the event names its record in the run's [`KnownTargets`]:
/// a number, where shared texts would cost two reference counts written by the parsing thread
/// and again by whichever thread drops the event (on two cores, a cache line passed back and
/// forth per hit).
#[derive(Debug, Clone)]
pub enum TargetText {
    /// Record `n` of the run's [`KnownTargets`].
    Known(u32),
    /// Texts of its own, shared with the resolver's caches.
    Own {
        /// The token text, as requested.
        token: Arc<str>,
        /// The request target.
        uri: Arc<str>,
    },
}

#[cfg(test)]
impl Event {
    /// For tests: a valid open of manifest row 0 at `time_ms`, a GET from 192.0.2.1 with
    /// `user_agent` and no other header; a test changes the fields it is about.
    pub(crate) fn test_open(time_ms: i64, user_agent: &str) -> Event {
        Event {
            time_ms,
            kind: HitKind::Open,
            token_status: TokenStatus::Valid,
            forgery: None,
            row: Some(0),
            target: TargetText::Own {
                token: "o".into(),
                uri: "/o/o.png".into(),
            },
            client: IpAddr::from([192, 0, 2, 1]),
            status: 200,
            bytes_sent: 67,
            headers: Arc::new(Headers::new(HeaderFields {
                method: "GET",
                user_agent,
                ..HeaderFields::default()
            })),
            source: Source { file: 0, line: 1 },
            asn: None,
            geo: None,
        }
    }
}

/// A line's header fields as logged (nginx's escapes not yet decoded): method, user agent,
/// referer, `X-Requested-With`, purpose, `Accept-Language`.
type RawHeaders<'a> = [&'a [u8]; 6];

/// An interned [`Headers`], found by the raw fields it was decoded from (kept one after another
/// in the resolver's `header_keys`): a line's fields are compared as logged, so a line whose
/// headers were seen before needs no decoding, escaped fields included.
#[derive(Debug)]
struct InternedHeaders {
    headers: Arc<Headers>,
    /// Where the raw fields start in `header_keys`, and where each ends.
    start: usize,
    ends: [usize; 6],
}

impl InternedHeaders {
    fn raw<'k>(&self, keys: &'k [u8]) -> RawHeaders<'k> {
        let mut start = self.start;
        self.ends.map(|end| {
            let field = &keys[start..end];
            start = end;
            field
        })
    }
}

/// The interning hash of raw header fields.
fn hash_raw(hasher: &foldhash::fast::RandomState, raw: &RawHeaders<'_>) -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = hasher.build_hasher();
    for field in raw {
        h.write_usize(field.len());
        h.write(field);
    }
    h.finish()
}

/// Distinct header combinations a worker remembers before its table starts over (they come
/// from logs: a crawler may send a new referer with every request).
const MAX_INTERNED_HEADERS: usize = 1 << 16;

/// The longest URI kept per event; longer ones are cut (scanners send megabytes of path).
const MAX_URI_CHARS: usize = 2048;

/// Resolves log lines into events, caching token checks and interning headers.
pub struct Resolver<'m> {
    manifest: &'m Manifest,
    keys: &'m KeyRing,
    open_prefix: Vec<u8>,
    click_prefix: Vec<u8>,
    /// Raw request target -> what it resolves to. Every hit on a token repeats its URI, so one
    /// lookup per line replaces verifying, interning the token and decoding the URI. Targets
    /// that name a manifest row are kept apart from the rest (forged tokens, scanners' paths):
    /// those are attacker-chosen, so their cache is small and starts over when full.
    genuine: TargetCache,
    other: TargetCache,
    /// When `genuine` starts over: twice the manifest (query strings vary), at least 10,000.
    genuine_cap: usize,
    /// The token of requests without one, shared.
    empty: Arc<str>,
    /// Interned headers, by the hash of their raw fields.
    headers: hashbrown::HashTable<InternedHeaders>,
    header_hasher: foldhash::fast::RandomState,
    /// The raw fields of the interned headers, one after another.
    header_keys: Vec<u8>,
    /// The manifest's own URLs, resolved once for every worker.
    known: Option<&'m KnownTargets>,
}

/// A resolved request target.
#[derive(Debug, Clone)]
struct Target {
    kind: HitKind,
    lookup: TokenLookup,
    /// The token text as requested (cut to 256 bytes), shared by every hit on this target.
    token: Arc<str>,
    /// The decoded request target, cut to [`MAX_URI_CHARS`], likewise shared.
    uri: Arc<str>,
}

/// A cached [`Target`], found by the raw request target. Most raw targets decode to
/// themselves, and then the decoded `uri` is the key: it is not stored twice (the caches hold a
/// hundred thousand entries or more per worker).
#[derive(Debug)]
struct Cached {
    /// The raw target, when it differs from `target.uri` (escapes, or cut for length).
    raw: Option<Box<[u8]>>,
    target: Target,
}

impl Cached {
    fn new(raw: &[u8], target: Target) -> Self {
        Cached {
            raw: (target.uri.as_bytes() != raw).then(|| raw.into()),
            target,
        }
    }

    fn key(&self) -> LogBytes<'_> {
        LogBytes(self.raw.as_deref().unwrap_or(self.target.uri.as_bytes()))
    }
}

/// Cached targets, found by the raw request target.
#[derive(Debug, Default)]
struct TargetCache {
    table: hashbrown::HashTable<Cached>,
    hasher: foldhash::fast::RandomState,
}

impl TargetCache {
    fn get(&self, raw: &[u8]) -> Option<&Cached> {
        self.table
            .find(self.hasher.hash_one(raw), |c| c.key() == LogBytes(raw))
    }

    /// Adds a target that is not in the cache.
    fn insert(&mut self, cached: Cached) {
        let hasher = &self.hasher;
        self.table
            .insert_unique(hasher.hash_one(cached.key().0), cached, |c| {
                hasher.hash_one(c.key().0)
            });
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn clear(&mut self) {
        self.table.clear();
    }
}

/// Request targets that name no manifest row, remembered until the cache starts over.
const MAX_CACHED_OTHER: usize = 10_000;

#[derive(Debug, Clone, Copy)]
enum TokenLookup {
    /// A request with no token.
    NoToken,
    Found {
        row: usize,
        expires_at_secs: Option<i64>,
    },
    NotInManifest,
    Forged(Forgery),
}

impl<'m> Resolver<'m> {
    /// A resolver for URLs under `path_prefix` (the base URL's path, `""` or `/prefix`).
    pub fn new(manifest: &'m Manifest, keys: &'m KeyRing, path_prefix: &str) -> Self {
        Resolver {
            manifest,
            keys,
            open_prefix: format!("{path_prefix}/o/").into_bytes(),
            click_prefix: format!("{path_prefix}/c/").into_bytes(),
            genuine: TargetCache::default(),
            other: TargetCache::default(),
            empty: Arc::from(""),
            genuine_cap: (manifest.rows.len() * 2).max(10_000),
            headers: hashbrown::HashTable::new(),
            header_hasher: foldhash::fast::RandomState::default(),
            header_keys: Vec::new(),
            known: None,
        }
    }

    /// A resolver for the same manifest, keys, URLs and known targets, with empty caches of its
    /// own (one for each parsing thread).
    pub fn fresh(&self) -> Self {
        Resolver {
            open_prefix: self.open_prefix.clone(),
            click_prefix: self.click_prefix.clone(),
            known: self.known,
            ..Resolver::new(self.manifest, self.keys, "")
        }
    }

    /// The same resolver, looking up `known` targets before its own caches.
    pub fn with_known(self, known: &'m KnownTargets) -> Self {
        Resolver {
            known: Some(known),
            ..self
        }
    }

    /// Which tracked URL a raw request target names, and the token text in it.
    pub fn target<'a>(&self, uri: &'a [u8]) -> Option<(TokenKind, &'a [u8])> {
        let path = uri.split(|&b| b == b'?' || b == b'#').next().unwrap_or(uri);
        if let Some(rest) = path.strip_prefix(self.open_prefix.as_slice()) {
            return rest.strip_suffix(b".png").map(|t| (TokenKind::Open, t));
        }
        path.strip_prefix(self.click_prefix.as_slice())
            .map(|t| (TokenKind::Click, t))
    }

    fn lookup(&self, kind: TokenKind, text: &[u8]) -> TokenLookup {
        match token::verify(kind, text, self.keys) {
            Err(f) => TokenLookup::Forged(f),
            Ok(claims) => {
                // verify() accepted it, so it is ASCII base64url.
                let text = std::str::from_utf8(text).unwrap_or_default();
                match self.manifest.find(text) {
                    Some(row) if self.manifest.rows[row].kind == kind => TokenLookup::Found {
                        row,
                        expires_at_secs: claims.expires_at_secs,
                    },
                    _ => TokenLookup::NotInManifest,
                }
            }
        }
    }

    /// Resolves a raw request target (the URI, or the whole request line when it is junk).
    fn resolve_target(&mut self, raw: &[u8], is_junk: bool) -> Target {
        let (kind, token_text) = match (is_junk, self.target(raw)) {
            (false, Some((TokenKind::Open, t))) => (HitKind::Open, Some((TokenKind::Open, t))),
            (false, Some((TokenKind::Click, t))) => (HitKind::Click, Some((TokenKind::Click, t))),
            _ => (HitKind::Other, None),
        };
        let (lookup, token) = match token_text {
            None => (TokenLookup::NoToken, self.empty.clone()),
            // Not interned: the target cache shares these, and forged tokens are one-offs.
            Some((tk, text)) => (
                self.lookup(tk, text),
                Arc::from(decode(&text[..text.len().min(256)])),
            ),
        };
        let decoded = decode(raw);
        let uri = if decoded.len() > MAX_URI_CHARS {
            let cut = (0..=MAX_URI_CHARS)
                .rev()
                .find(|&i| decoded.is_char_boundary(i))
                .unwrap_or(0);
            let mut u = decoded[..cut].to_string();
            u.push('…');
            Arc::from(u)
        } else {
            Arc::from(decoded)
        };
        Target {
            kind,
            lookup,
            token,
            uri,
        }
    }

    /// The decoded headers of a line, shared with every earlier line that sent the same.
    fn intern_headers(&mut self, raw: RawHeaders<'_>) -> Arc<Headers> {
        let hash = hash_raw(&self.header_hasher, &raw);
        let keys = &self.header_keys;
        let same = |h: &InternedHeaders| h.raw(keys).map(LogBytes) == raw.map(LogBytes);
        if let Some(found) = self.headers.find(hash, same) {
            return found.headers.clone();
        }
        if self.headers.len() >= MAX_INTERNED_HEADERS {
            self.headers.clear();
            self.header_keys.clear();
        }
        let [
            method,
            user_agent,
            referer,
            requested_with,
            purpose,
            accept_language,
        ] = raw.map(decode);
        let headers = Arc::new(Headers::new(HeaderFields {
            method: &method,
            user_agent: &user_agent,
            referer: &referer,
            requested_with: &requested_with,
            purpose: &purpose,
            accept_language: &accept_language,
        }));
        let start = self.header_keys.len();
        let ends = raw.map(|field| {
            self.header_keys.extend_from_slice(field);
            self.header_keys.len()
        });
        let interned = InternedHeaders {
            headers: headers.clone(),
            start,
            ends,
        };
        let (hasher, keys) = (&self.header_hasher, &self.header_keys);
        self.headers
            .insert_unique(hash, interned, |h| hash_raw(hasher, &h.raw(keys)));
        headers
    }

    /// The resolver's table of the manifest's own targets, if it has one.
    pub fn known(&self) -> Option<&'m KnownTargets> {
        self.known
    }

    /// The [`KnownTargets::hash`] of a line's request target, for [`Resolver::resolve_hashed`]
    /// (`None` for a junk request line or without a table).
    pub fn known_hash(&self, line: &LogLine<'_>) -> Option<u64> {
        self.known
            .filter(|_| !line.request.is_junk())
            .map(|k| k.hash(line.request.uri))
    }

    /// Resolves one parsed line.
    pub fn resolve(&mut self, line: &LogLine<'_>, source: Source) -> Event {
        let hash = self.known_hash(line);
        self.resolve_hashed(line, source, hash)
    }

    /// Resolves one parsed line whose [`Resolver::known_hash`] is `known_hash`.
    pub fn resolve_hashed(
        &mut self,
        line: &LogLine<'_>,
        source: Source,
        known_hash: Option<u64>,
    ) -> Event {
        let is_junk = line.request.is_junk();
        let raw = if is_junk {
            line.request.raw
        } else {
            line.request.uri
        };
        // Junk request lines are rare and never name a token: not cached, so that a junk line
        // cannot shadow a real request target with the same bytes.
        let known = self
            .known
            .zip(known_hash)
            .filter(|_| !is_junk)
            .and_then(|(k, hash)| k.find(hash, raw));
        let (kind, lookup, target) = match known {
            Some(f) => (f.kind, f.lookup, TargetText::Known(f.index)),
            None => {
                let cached = if is_junk {
                    None
                } else {
                    self.genuine
                        .get(raw)
                        .or_else(|| self.other.get(raw))
                        .map(|c| c.target.clone())
                };
                let t = match cached {
                    Some(t) => t,
                    None if is_junk => self.resolve_target(raw, true),
                    None => {
                        let t = self.resolve_target(raw, false);
                        let (cache, cap) = match t.lookup {
                            TokenLookup::Found { .. } => (&mut self.genuine, self.genuine_cap),
                            _ => (&mut self.other, MAX_CACHED_OTHER),
                        };
                        if cache.len() >= cap {
                            cache.clear();
                        }
                        cache.insert(Cached::new(raw, t.clone()));
                        t
                    }
                };
                let text = TargetText::Own {
                    token: t.token,
                    uri: t.uri,
                };
                (t.kind, t.lookup, text)
            }
        };
        let (token_status, forgery, row) = match lookup {
            TokenLookup::NoToken => (TokenStatus::None, None, None),
            TokenLookup::Forged(f) => (TokenStatus::Forged, Some(f), None),
            TokenLookup::NotInManifest => (TokenStatus::Unknown, None, None),
            TokenLookup::Found {
                row,
                expires_at_secs,
            } => {
                let expired = expires_at_secs.is_some_and(|e| line.time_ms > e * 1000);
                let status = if expired {
                    TokenStatus::Expired
                } else {
                    TokenStatus::Valid
                };
                (status, None, Some(row))
            }
        };
        let purpose = if line.sec_purpose.is_empty() {
            line.purpose
        } else {
            line.sec_purpose
        };
        Event {
            time_ms: line.time_ms,
            kind,
            token_status,
            forgery,
            row,
            target,
            client: line.client,
            status: line.status,
            bytes_sent: line.bytes_sent,
            headers: self.intern_headers([
                line.request.method,
                line.user_agent,
                line.referer,
                line.requested_with,
                purpose,
                line.accept_language,
            ]),
            source,
            asn: None,
            geo: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logparse::parse_line;
    use crate::manifest::ManifestRow;
    use crate::token::SecretKey;

    fn setup() -> (Manifest, KeyRing, String, String, String) {
        let keys = KeyRing::single(SecretKey::new(1, [5; 32]));
        let open = token::mint(TokenKind::Open, keys.active(), None);
        let click = token::mint(TokenKind::Click, keys.active(), Some(1_000_000_000));
        let stray = token::mint(TokenKind::Open, keys.active(), None);
        let row = |kind, token: &str| ManifestRow::example(kind, token);
        let m = Manifest::new(vec![
            row(TokenKind::Open, &open),
            row(TokenKind::Click, &click),
        ]);
        (m, keys, open, click, stray)
    }

    fn event(r: &mut Resolver<'_>, uri: &str, epoch_secs: i64) -> Event {
        let line = format!(
            "pxt1\t{epoch_secs}.000\t192.0.2.1\t-\tGET\t{uri}\tHTTP/1.1\t200\t67\t0.000\t-\tcurl/8\t-\t-\t-\t-"
        );
        let l = parse_line(line.as_bytes()).unwrap();
        r.resolve(&l, Source { file: 0, line: 1 })
    }

    #[test]
    fn statuses() {
        let (m, keys, open, click, stray) = setup();
        let mut r = Resolver::new(&m, &keys, "");
        let e = event(&mut r, &format!("/o/{open}.png?utm=1"), 990_000_000);
        assert_eq!(
            (e.kind, e.token_status, e.row),
            (HitKind::Open, TokenStatus::Valid, Some(0))
        );
        let e = event(&mut r, &format!("/c/{click}"), 990_000_000);
        assert_eq!(
            (e.kind, e.token_status),
            (HitKind::Click, TokenStatus::Valid)
        );
        let e = event(&mut r, &format!("/c/{click}"), 1_000_000_001);
        assert_eq!(e.token_status, TokenStatus::Expired);
        let e = event(&mut r, &format!("/c/{open}"), 990_000_000);
        assert_eq!(
            (e.kind, e.token_status, e.forgery),
            (
                HitKind::Click,
                TokenStatus::Forged,
                Some(Forgery::BadSignature)
            )
        );
        let e = event(&mut r, &format!("/o/{stray}.png"), 990_000_000);
        assert_eq!(e.token_status, TokenStatus::Unknown);
        let e = event(&mut r, "/favicon.ico", 990_000_000);
        assert_eq!(
            (e.kind, e.token_status),
            (HitKind::Other, TokenStatus::None)
        );
        let e = event(&mut r, "/o/short", 990_000_000);
        assert_eq!(e.kind, HitKind::Other);
    }

    #[test]
    fn known_targets_resolve_as_the_workers_own_caches_do() {
        let (m, keys, open, click, stray) = setup();
        for prefix in ["", "/t"] {
            let known = KnownTargets::new(&m, &keys, prefix);
            assert_eq!(known.len(), 2);
            let mut plain = Resolver::new(&m, &keys, prefix);
            let mut shared = Resolver::new(&m, &keys, prefix).with_known(&known);
            for uri in [
                format!("{prefix}/o/{open}.png"),
                format!("{prefix}/o/{open}.png?utm=1"),
                format!("{prefix}/c/{click}"),
                format!("{prefix}/c/{open}"),
                format!("{prefix}/o/{stray}.png"),
                "/favicon.ico".to_string(),
            ] {
                // Twice: the first from the caches' misses, the second from their hits; the
                // click after its expiry too.
                for secs in [990_000_000, 990_000_000, 1_000_000_001] {
                    let (a, b) = (
                        event(&mut plain, &uri, secs),
                        event(&mut shared, &uri, secs),
                    );
                    assert_eq!(
                        (a.kind, a.token_status, a.forgery, a.row, a.texts(&known)),
                        (b.kind, b.token_status, b.forgery, b.row, b.texts(&known)),
                        "{uri}"
                    );
                    // The manifest's own URLs are named by their record, the rest carry text.
                    let own_url = uri == format!("{prefix}/o/{open}.png")
                        || uri == format!("{prefix}/c/{click}");
                    assert_eq!(matches!(b.target, TargetText::Known(_)), own_url, "{uri}");
                    assert!(matches!(a.target, TargetText::Own { .. }), "{uri}");
                }
            }
        }
        // A target that decodes to other text (a log escape in the prefix) is left to the
        // workers' caches, which show it decoded.
        let prefix = r"/a\x41b";
        let known = KnownTargets::new(&m, &keys, prefix);
        assert!(known.is_empty());
        let mut shared = Resolver::new(&m, &keys, prefix).with_known(&known);
        let e = event(&mut shared, &format!("{prefix}/o/{open}.png"), 990_000_000);
        assert_eq!(
            (e.kind, e.token_status),
            (HitKind::Open, TokenStatus::Valid)
        );
        assert_eq!(e.texts(&known).1, format!("/aAb/o/{open}.png"));
    }

    #[test]
    fn lines_with_the_same_headers_share_one_and_agents_match_across_workers() {
        let (m, keys, _, _, _) = setup();
        let line = |ua: &str, referer: &str| {
            format!(
                "pxt1\t990000000.000\t192.0.2.1\t-\tGET\t/x\tHTTP/1.1\t404\t0\t0.000\t{referer}\t{ua}\t-\t-\t-\t-"
            )
        };
        let resolve = |r: &mut Resolver<'_>, text: &str| {
            r.resolve(
                &parse_line(text.as_bytes()).unwrap(),
                Source { file: 0, line: 1 },
            )
        };
        let (mut one, mut two) = (Resolver::new(&m, &keys, ""), Resolver::new(&m, &keys, ""));
        let a = resolve(&mut one, &line("Mail/1", "-"));
        let b = resolve(&mut one, &line("Mail/1", "-"));
        assert!(Arc::ptr_eq(&a.headers, &b.headers));
        let c = resolve(&mut one, &line("Mail/1", "https://example.com/"));
        assert!(!Arc::ptr_eq(&a.headers, &c.headers));
        assert_eq!(c.headers.referer(), "https://example.com/");
        assert_eq!(a.headers.agent_key(), c.headers.agent_key());
        // Another worker's copy of the same agent has the same key.
        let d = resolve(&mut two, &line("Mail/1", "-"));
        assert!(!Arc::ptr_eq(&a.headers, &d.headers));
        assert_eq!(a.headers.agent_key(), d.headers.agent_key());
        // Escapes are decoded, and found again by their raw bytes.
        let escaped = line("Say \\x22hi\\x22", "-");
        let e = resolve(&mut one, &escaped);
        assert_eq!(e.headers.user_agent(), "Say \"hi\"");
        assert!(Arc::ptr_eq(
            &e.headers,
            &resolve(&mut one, &escaped).headers
        ));
        assert_ne!(e.headers.agent_key(), a.headers.agent_key());
        assert_eq!(
            (
                e.headers.method(),
                e.headers.purpose(),
                e.headers.accept_language()
            ),
            ("GET", "", "")
        );
    }

    #[test]
    fn path_prefix() {
        let (m, keys, open, _, _) = setup();
        let mut r = Resolver::new(&m, &keys, "/t");
        assert_eq!(
            event(&mut r, &format!("/o/{open}.png"), 990_000_000).kind,
            HitKind::Other
        );
        assert_eq!(
            event(&mut r, &format!("/t/o/{open}.png"), 990_000_000).token_status,
            TokenStatus::Valid
        );
    }
}
