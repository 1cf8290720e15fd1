//! Signed, opaque tracking tokens and the keys that sign them.
//!
//! A token is base64url (no padding) of a small binary record:
//!
//! ```text
//! byte 0      version (high nibble, 1) | flags (bit 0: an expiry follows)
//! byte 1      key id: which key in the key ring signed it
//! bytes 2-17  a random id (uuid v4)
//! [4 bytes]   expiry, seconds since 1970-01-01 UTC, big endian (only when flagged)
//! 12 bytes    HMAC-SHA256 over a domain label, the kind and all bytes above, truncated to 96 bits
//! ```
//!
//! That is 40 characters without an expiry and 46 with one. Nothing about the campaign or the
//! recipient is in it: the manifest maps the id to them. The kind (open or click) is part of the
//! signed message but not of the token, so an open token presented as a click fails to verify.
//! Verification goes through `hmac`'s `verify_truncated_left`, which compares in constant time.
//!
//! Key types: [`TokenKind`], [`KeyRing`], [`SecretKey`], [`TokenClaims`], [`Forgery`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
const FLAG_EXPIRES: u8 = 0x01;
const TAG_BYTES: usize = 12;
const ID_BYTES: usize = 16;
const HEADER_BYTES: usize = 2 + ID_BYTES;
/// Domain separation: a tag made for anything else can never verify as a pxtrack token.
const DOMAIN: &[u8] = b"pxtrack-token-v1\0";

/// The shortest and longest token text [`verify`] looks at; anything else is malformed.
pub const TOKEN_CHARS: std::ops::RangeInclusive<usize> = 40..=46;

/// Length of a key's secret, in bytes.
pub const KEY_BYTES: usize = 32;

/// What a token tracks: a pixel load or a link click.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenKind {
    /// A pixel URL, `/o/<token>.png`.
    Open,
    /// A tracked link, `/c/<token>`.
    Click,
}

impl TokenKind {
    /// The name used in the manifest and in `events.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Open => "open",
            TokenKind::Click => "click",
        }
    }

    /// Parses the manifest name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(TokenKind::Open),
            "click" => Some(TokenKind::Click),
            _ => None,
        }
    }

    fn mac_byte(self) -> u8 {
        match self {
            TokenKind::Open => b'o',
            TokenKind::Click => b'c',
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One signing key: a small id (carried in every token it signs) and 32 secret bytes.
#[derive(Clone)]
pub struct SecretKey {
    id: u8,
    secret: [u8; KEY_BYTES],
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never let the secret reach a log or a panic message.
        write!(f, "SecretKey {{ id: {}, secret: <redacted> }}", self.id)
    }
}

impl SecretKey {
    /// Makes a key from its parts.
    pub fn new(id: u8, secret: [u8; KEY_BYTES]) -> Self {
        SecretKey { id, secret }
    }

    /// A fresh key from the operating system's random source.
    pub fn generate(id: u8) -> Result<Self> {
        let mut secret = [0u8; KEY_BYTES];
        getrandom::fill(&mut secret).map_err(|e| Error::Key {
            origin: "random source".into(),
            message: format!("cannot read random bytes: {e}"),
        })?;
        Ok(SecretKey { id, secret })
    }

    /// The key id carried in tokens.
    pub fn id(&self) -> u8 {
        self.id
    }

    fn mac(&self, kind: TokenKind, header: &[u8]) -> HmacSha256 {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(&self.secret).expect("HMAC takes any key size");
        mac.update(DOMAIN);
        mac.update(&[kind.mac_byte()]);
        mac.update(header);
        mac
    }
}

/// The keys pxtrack knows: the first signs new tokens, all of them verify.
///
/// Text form (the key file, or the `PXTRACK_KEY` variable): one key a line, `ID SECRET`, where ID
/// is 0-255 and SECRET is 32 bytes in base64url; `#` starts a comment. Rotating a key means adding
/// a new first line and keeping the old one below it for as long as its tokens should verify.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<SecretKey>,
}

impl KeyRing {
    /// A ring of one key.
    pub fn single(key: SecretKey) -> Self {
        KeyRing { keys: vec![key] }
    }

    /// Parses the text form; `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let err = |line: usize, message: String| Error::Key {
            origin: format!("{origin}:{line}"),
            message,
        };
        let mut keys: Vec<SecretKey> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, secret) = line.split_once(char::is_whitespace).ok_or_else(|| {
                err(
                    i + 1,
                    "expected a key id and a secret separated by a space".into(),
                )
            })?;
            let id: u8 = id
                .parse()
                .map_err(|_| err(i + 1, "expected a key id from 0 to 255".into()))?;
            let bytes = URL_SAFE_NO_PAD
                .decode(secret.trim())
                .map_err(|_| err(i + 1, "expected the secret in base64url".into()))?;
            let secret: [u8; KEY_BYTES] = bytes.try_into().map_err(|b: Vec<u8>| {
                err(
                    i + 1,
                    format!(
                        "expected a {KEY_BYTES}-byte secret, found {} bytes",
                        b.len()
                    ),
                )
            })?;
            if secret.iter().all(|&b| b == 0) {
                return Err(err(
                    i + 1,
                    "the secret is all zero bytes, which anyone could guess; make a new key with \
                     `pxtrack init --dir NEW_DIR --base-url URL` and copy its key line here"
                        .into(),
                ));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(err(i + 1, format!("key id {id} appears twice")));
            }
            keys.push(SecretKey { id, secret });
        }
        if keys.is_empty() {
            return Err(Error::Key {
                origin: origin.into(),
                message: "no key found".into(),
            });
        }
        Ok(KeyRing { keys })
    }

    /// The text form, with an explanatory header.
    pub fn to_text(&self, header: &str) -> String {
        let mut out = String::from(header);
        for key in &self.keys {
            out.push_str(&format!(
                "{} {}\n",
                key.id,
                URL_SAFE_NO_PAD.encode(key.secret)
            ));
        }
        out
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &SecretKey {
        &self.keys[0]
    }

    /// The key with this id, if the ring has it.
    pub fn get(&self, id: u8) -> Option<&SecretKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

/// What a verified token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenClaims {
    /// The id of the key that signed it.
    pub key_id: u8,
    /// The random id that the manifest maps to a campaign and recipient.
    pub id: uuid::Uuid,
    /// When the token stops being valid, seconds since the epoch.
    pub expires_at_secs: Option<i64>,
}

/// Why a token did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forgery {
    /// Not base64url of a token record of the right length and version.
    Malformed,
    /// Signed with a key id the key ring does not have.
    UnknownKey,
    /// The signature does not match (tampered, wrong kind, or another key).
    BadSignature,
}

impl Forgery {
    /// A short name for `events.csv` and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Forgery::Malformed => "malformed",
            Forgery::UnknownKey => "unknown-key",
            Forgery::BadSignature => "bad-signature",
        }
    }

    /// Why a hit with this token is invalid, in words (the `reason` column). A constant per
    /// kind, so that classification shares one string instead of formatting one per hit.
    pub fn reason(self) -> &'static str {
        match self {
            Forgery::Malformed => "token does not verify (malformed)",
            Forgery::UnknownKey => "token does not verify (unknown-key)",
            Forgery::BadSignature => "token does not verify (bad-signature)",
        }
    }
}

/// Mints a token of `kind` signed by `key`, with a fresh random id.
pub fn mint(kind: TokenKind, key: &SecretKey, expires_at_secs: Option<u32>) -> String {
    mint_with_id(kind, key, uuid::Uuid::new_v4(), expires_at_secs)
}

/// Mints a token with a given id (deterministic; for tests and benchmarks).
pub fn mint_with_id(
    kind: TokenKind,
    key: &SecretKey,
    id: uuid::Uuid,
    expires_at_secs: Option<u32>,
) -> String {
    let mut record = Vec::with_capacity(HEADER_BYTES + 4 + TAG_BYTES);
    let flags = if expires_at_secs.is_some() {
        FLAG_EXPIRES
    } else {
        0
    };
    record.push((VERSION << 4) | flags);
    record.push(key.id);
    record.extend_from_slice(id.as_bytes());
    if let Some(exp) = expires_at_secs {
        record.extend_from_slice(&exp.to_be_bytes());
    }
    let tag = key.mac(kind, &record).finalize().into_bytes();
    record.extend_from_slice(&tag[..TAG_BYTES]);
    URL_SAFE_NO_PAD.encode(&record)
}

/// Checks a token's form and signature for `kind`. Expiry is the caller's to judge, against the
/// time of the request rather than the time of analysis.
pub fn verify(kind: TokenKind, text: &[u8], keys: &KeyRing) -> Result<TokenClaims, Forgery> {
    if !TOKEN_CHARS.contains(&text.len()) {
        return Err(Forgery::Malformed);
    }
    let mut buf = [0u8; HEADER_BYTES + 4 + TAG_BYTES];
    let n = URL_SAFE_NO_PAD
        .decode_slice(text, &mut buf)
        .map_err(|_| Forgery::Malformed)?;
    let record = &buf[..n];
    let flags = record[0] & 0x0f;
    if record[0] >> 4 != VERSION || flags & !FLAG_EXPIRES != 0 {
        return Err(Forgery::Malformed);
    }
    let has_expiry = flags & FLAG_EXPIRES != 0;
    let body_len = HEADER_BYTES + if has_expiry { 4 } else { 0 };
    if n != body_len + TAG_BYTES {
        return Err(Forgery::Malformed);
    }
    let (body, tag) = record.split_at(body_len);
    let key = keys.get(body[1]).ok_or(Forgery::UnknownKey)?;
    key.mac(kind, body)
        .verify_truncated_left(tag)
        .map_err(|_| Forgery::BadSignature)?;
    let id = uuid::Uuid::from_slice(&body[2..HEADER_BYTES]).map_err(|_| Forgery::Malformed)?;
    let expires_at_secs = has_expiry.then(|| {
        let b: [u8; 4] = body[HEADER_BYTES..]
            .try_into()
            .expect("length checked above");
        i64::from(u32::from_be_bytes(b))
    });
    Ok(TokenClaims {
        key_id: body[1],
        id,
        expires_at_secs,
    })
}

/// True when `text` has only base64url characters, as every token does. Cheap pre-filter used
/// before any text is trusted as a map key or a file name.
pub fn is_token_charset(text: &[u8]) -> bool {
    text.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(id: u8, fill: u8) -> SecretKey {
        SecretKey::new(id, [fill; KEY_BYTES])
    }

    #[test]
    fn forgery_reasons_name_their_kind() {
        for f in [
            Forgery::Malformed,
            Forgery::UnknownKey,
            Forgery::BadSignature,
        ] {
            assert_eq!(
                f.reason(),
                format!("token does not verify ({})", f.as_str())
            );
        }
    }

    #[test]
    fn round_trip_without_and_with_expiry() {
        let ring = KeyRing::single(key(1, 7));
        let t = mint(TokenKind::Open, ring.active(), None);
        assert_eq!(t.len(), 40);
        let c = verify(TokenKind::Open, t.as_bytes(), &ring).unwrap();
        assert_eq!(c.key_id, 1);
        assert_eq!(c.expires_at_secs, None);

        let t = mint(TokenKind::Click, ring.active(), Some(2_000_000_000));
        assert_eq!(t.len(), 46);
        let c = verify(TokenKind::Click, t.as_bytes(), &ring).unwrap();
        assert_eq!(c.expires_at_secs, Some(2_000_000_000));
    }

    #[test]
    fn wrong_kind_does_not_verify() {
        let ring = KeyRing::single(key(1, 7));
        let t = mint(TokenKind::Open, ring.active(), None);
        assert_eq!(
            verify(TokenKind::Click, t.as_bytes(), &ring),
            Err(Forgery::BadSignature)
        );
    }

    #[test]
    fn wrong_key_does_not_verify() {
        let t = mint(TokenKind::Open, &key(1, 7), None);
        let other = KeyRing::single(key(1, 8));
        assert_eq!(
            verify(TokenKind::Open, t.as_bytes(), &other),
            Err(Forgery::BadSignature)
        );
        let other_id = KeyRing::single(key(2, 7));
        assert_eq!(
            verify(TokenKind::Open, t.as_bytes(), &other_id),
            Err(Forgery::UnknownKey)
        );
    }

    #[test]
    fn rotated_ring_verifies_old_tokens() {
        let old = key(1, 7);
        let t = mint(TokenKind::Click, &old, None);
        let text = format!(
            "# rotated\n2 {}\n1 {}\n",
            URL_SAFE_NO_PAD.encode([9u8; 32]),
            URL_SAFE_NO_PAD.encode([7u8; 32])
        );
        let ring = KeyRing::parse(&text, "test").unwrap();
        assert_eq!(ring.active().id(), 2);
        assert!(verify(TokenKind::Click, t.as_bytes(), &ring).is_ok());
    }

    #[test]
    fn tampering_any_character_is_detected() {
        let ring = KeyRing::single(key(3, 1));
        let t = mint(TokenKind::Open, ring.active(), Some(1_900_000_000));
        for i in 0..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            assert!(
                verify(TokenKind::Open, &bytes, &ring).is_err(),
                "position {i}"
            );
        }
    }

    #[test]
    fn expiry_is_signed() {
        // Moving the expiry (a byte-level edit of the record) must break the signature.
        let ring = KeyRing::single(key(3, 1));
        let t = mint(TokenKind::Open, ring.active(), Some(1_000));
        let mut rec = URL_SAFE_NO_PAD.decode(&t).unwrap();
        rec[HEADER_BYTES + 3] = 0xff;
        let forged = URL_SAFE_NO_PAD.encode(&rec);
        assert_eq!(
            verify(TokenKind::Open, forged.as_bytes(), &ring),
            Err(Forgery::BadSignature)
        );
    }

    #[test]
    fn malformed_inputs() {
        let ring = KeyRing::single(key(1, 1));
        for bad in [
            "",
            "abc",
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            &"A".repeat(46),
        ] {
            assert!(
                verify(TokenKind::Open, bad.as_bytes(), &ring).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn key_file_errors_name_the_line() {
        let e = KeyRing::parse("# c\n1 short\n", "k.key").unwrap_err();
        assert_eq!(e.to_string(), "k.key:2: expected the secret in base64url");
        let e = KeyRing::parse("1 AAAA\n", "k.key").unwrap_err();
        assert!(
            e.to_string()
                .contains("expected a 32-byte secret, found 3 bytes"),
            "{e}"
        );
        assert!(KeyRing::parse("# nothing\n", "k").is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = key(4, 0xAB);
        assert!(!format!("{k:?}").contains("171"));
        assert!(format!("{k:?}").contains("redacted"));
    }

    proptest! {
        #[test]
        fn any_minted_token_verifies(id in any::<u128>(), exp in proptest::option::of(any::<u32>()),
                                     kid in any::<u8>(), fill in any::<u8>()) {
            let k = key(kid, fill);
            let ring = KeyRing::single(k.clone());
            for kind in [TokenKind::Open, TokenKind::Click] {
                let t = mint_with_id(kind, &k, uuid::Uuid::from_u128(id), exp);
                prop_assert!(is_token_charset(t.as_bytes()));
                let c = verify(kind, t.as_bytes(), &ring).unwrap();
                prop_assert_eq!(c.id, uuid::Uuid::from_u128(id));
                prop_assert_eq!(c.expires_at_secs, exp.map(i64::from));
            }
        }

        #[test]
        fn random_text_never_panics(s in "[A-Za-z0-9_-]{0,60}") {
            let ring = KeyRing::single(key(1, 1));
            let _ = verify(TokenKind::Open, s.as_bytes(), &ring);
        }
    }
}
