//! The verdicts that depend on nothing but which rule decided: one table, built into shared
//! verdicts once per classifier.

use super::*;

/// The verdicts that depend on nothing but the rule that decided them: built once per
/// classifier and shared by every hit they decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fixed {
    BeforeMint,
    NoToken,
    Forged,
    ForgedMalformed,
    ForgedUnknownKey,
    ForgedBadSignature,
    Expired,
    Unknown,
    NoUserAgent,
    UnexpectedMethod,
    HeadRequest,
    Prefetch,
}

impl Fixed {
    pub(crate) const ALL: [Fixed; 12] = [
        Fixed::BeforeMint,
        Fixed::NoToken,
        Fixed::Forged,
        Fixed::ForgedMalformed,
        Fixed::ForgedUnknownKey,
        Fixed::ForgedBadSignature,
        Fixed::Expired,
        Fixed::Unknown,
        Fixed::NoUserAgent,
        Fixed::UnexpectedMethod,
        Fixed::HeadRequest,
        Fixed::Prefetch,
    ];

    /// Its class, detail and reason.
    pub(crate) fn verdict(self) -> (HitClass, &'static str, &'static str) {
        use HitClass::{Bot, Invalid};
        match self {
            Fixed::BeforeMint => (
                Invalid,
                "before-mint",
                "requested more than an hour before its token was minted: the server's \
                     clock or the manifest is wrong",
            ),
            Fixed::NoToken => (Invalid, "no-token", "not a pixel or tracked-link URL"),
            Fixed::Forged => (Invalid, "forged", "token does not verify (forged)"),
            Fixed::ForgedMalformed => (Invalid, "forged", Forgery::Malformed.reason()),
            Fixed::ForgedUnknownKey => (Invalid, "forged", Forgery::UnknownKey.reason()),
            Fixed::ForgedBadSignature => (Invalid, "forged", Forgery::BadSignature.reason()),
            Fixed::Expired => (
                Invalid,
                "expired",
                "token verified but was requested after its expiry",
            ),
            Fixed::Unknown => (
                Invalid,
                "unknown",
                "token verified but is not in the manifest",
            ),
            Fixed::NoUserAgent => (
                Bot,
                "no-user-agent",
                "no user agent: no mail client or browser omits it",
            ),
            Fixed::UnexpectedMethod => (
                Bot,
                "unexpected-method",
                "neither GET nor HEAD: mail clients and browsers fetch pixels and links with GET",
            ),
            Fixed::HeadRequest => (
                Bot,
                "head-request",
                "HEAD request: link checkers send them, mail clients and browsers do not",
            ),
            Fixed::Prefetch => (
                Bot,
                "prefetch",
                "Sec-Purpose/Purpose header marks a speculative load",
            ),
        }
    }
}
