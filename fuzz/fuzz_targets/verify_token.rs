//! Any bytes as a token: verification never panics and never accepts what was not minted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pxtrack::token::{KeyRing, SecretKey, TokenKind, verify};

fuzz_target!(|data: &[u8]| {
    let ring = KeyRing::single(SecretKey::new(1, [42; 32]));
    for kind in [TokenKind::Open, TokenKind::Click] {
        let _ = verify(kind, data, &ring);
    }
});
