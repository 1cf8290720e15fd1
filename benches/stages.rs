//! Criterion benches for the per-line stages of `analyze`: parsing both log formats, token
//! verification, resolving a line to an event, and classification.
//!
//! `cargo bench --bench stages`; `scripts/bench` runs the end-to-end comparison.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pxtrack::classify::Classifier;
use pxtrack::hit::{Resolver, Source};
use pxtrack::logparse::parse_line;
use pxtrack::manifest::{Manifest, ManifestRow};
use pxtrack::model::{HeaderFields, Headers};
use pxtrack::rules::Rules;
use pxtrack::token::{KeyRing, SecretKey, TokenKind, mint_with_id, verify};

fn setup() -> (KeyRing, Manifest, String) {
    let key = SecretKey::new(1, [7; 32]);
    let token = mint_with_id(
        TokenKind::Open,
        &key,
        uuid::Uuid::from_u128(0x1234_5678_9abc),
        None,
    );
    let row = ManifestRow {
        created: chrono::DateTime::UNIX_EPOCH,
        kind: TokenKind::Open,
        token: token.clone(),
        campaign: "c".into(),
        recipient: "r@example.com".into(),
        label: String::new(),
        target: String::new(),
        expires: None,
        message: String::new(),
    };
    (KeyRing::single(key), Manifest::new(vec![row]), token)
}

fn combined(token: &str) -> String {
    format!(
        "66.249.93.40 - - [19/Nov/2026:14:53:20 +0000] \"GET /o/{token}.png HTTP/1.1\" 200 67 \"-\" \
         \"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)\""
    )
}

fn pxtrack_line(token: &str) -> String {
    format!(
        "pxt1\t1795338000.123\t2001:db8::2\t-\tGET\t/o/{token}.png\tHTTP/1.1\t200\t67\t0.000\t-\t\
         Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)\t\
         -\t-\t-\ten-US,en;q=0.9"
    )
}

fn bench(c: &mut Criterion) {
    let (keys, manifest, token) = setup();
    let lines = [
        ("parse/combined", combined(&token)),
        ("parse/pxtrack", pxtrack_line(&token)),
    ];
    for (name, line) in &lines {
        let mut g = c.benchmark_group(*name);
        g.throughput(Throughput::Bytes(line.len() as u64));
        g.bench_function("line", |b| {
            b.iter(|| parse_line(black_box(line.as_bytes())))
        });
        g.finish();
    }
    c.bench_function("verify/token", |b| {
        b.iter(|| verify(TokenKind::Open, black_box(token.as_bytes()), &keys))
    });
    let line = combined(&token);
    let parsed = parse_line(line.as_bytes()).expect("valid line");
    c.bench_function("resolve/cached-token", |b| {
        let mut r = Resolver::new(&manifest, &keys, "");
        b.iter(|| r.resolve(black_box(&parsed), Source { file: 0, line: 1 }))
    });
    let rules = Rules::builtin();
    let mut r = Resolver::new(&manifest, &keys, "");
    let event = r.resolve(&parsed, Source { file: 0, line: 1 });
    c.bench_function("classify/cached-user-agent", |b| {
        let mut cl = Classifier::new(&rules, &manifest, vec![], 60);
        let mut e = event.clone();
        let mut t = 0i64;
        b.iter(|| {
            // Advance time past the duplicate window so every call takes the full path.
            t += 120_000;
            e.time_ms = t;
            cl.classify(black_box(&e))
        })
    });
    c.bench_function("classify/new-user-agent", |b| {
        let mut cl = Classifier::new(&rules, &manifest, vec![], 60);
        let mut e = event.clone();
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let ua = format!("Mozilla/5.0 (X11; Linux x86_64) Client/{n}");
            e.headers = Arc::new(Headers::new(HeaderFields {
                method: "GET",
                user_agent: &ua,
                ..HeaderFields::default()
            }));
            cl.classify(black_box(&e))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
