//! Classifier accuracy on a labelled corpus of real user agents (and addresses from documented
//! scanner ranges), each row with the public source it was collected from:
//! `tests/data/user_agents.csv`. Fails below 97% on class; prints every miss.

use std::sync::Arc;

use pxtrack::classify::Classifier;

use pxtrack::hit::{Event, Source, TargetText};
use pxtrack::manifest::{Manifest, ManifestRow};
use pxtrack::model::HitClass;
use pxtrack::model::{HeaderFields, Headers, HitKind, TokenStatus};
use pxtrack::rules::Rules;
use pxtrack::token::TokenKind;

fn event(ua: &str, method: &str, ip: &str, t_ms: i64) -> Event {
    Event {
        time_ms: t_ms,
        kind: HitKind::Open,
        token_status: TokenStatus::Valid,
        forgery: None,
        row: Some(0),
        target: TargetText::Own {
            token: "t".into(),
            uri: "/o/t.png".into(),
        },
        client: ip.parse().expect("corpus addresses are valid"),
        status: 200,
        bytes_sent: 67,
        headers: Arc::new(Headers::new(HeaderFields {
            method,
            user_agent: ua,
            ..HeaderFields::default()
        })),
        source: Source { file: 0, line: 1 },
        asn: None,
        geo: None,
    }
}

#[test]
fn corpus_accuracy_is_at_least_97_percent() {
    let manifest = Manifest::new(vec![ManifestRow {
        created: chrono::DateTime::UNIX_EPOCH,
        kind: TokenKind::Open,
        token: "t".into(),
        campaign: "c".into(),
        recipient: "r".into(),
        label: String::new(),
        target: String::new(),
        expires: None,
        message: String::new(),
    }]);
    let rules = Rules::builtin();
    let mut reader = csv::Reader::from_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/user_agents.csv"
    ))
    .unwrap();
    let (mut rows, mut right, mut detail_checked, mut detail_right) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.unwrap();
        let (ua, method, ip, class, detail, source) =
            (&rec[0], &rec[1], &rec[2], &rec[3], &rec[4], &rec[5]);
        assert!(!source.is_empty(), "row {} has no source", i + 2);
        // A fresh classifier per row, far apart in time: no row can be another's duplicate.
        let mut c = Classifier::new(&rules, &manifest, vec![], 60);
        let ip = if ip.is_empty() { "192.0.2.1" } else { ip };
        let v = c.classify(&event(ua, method, ip, i as i64 * 3_600_000));
        rows += 1;
        if v.class.as_str() == class {
            right += 1;
        } else {
            misses.push(format!(
                "line {}: {ua:?} -> {} ({}), expected {class}",
                i + 2,
                v.class.as_str(),
                v.detail
            ));
        }
        if !detail.is_empty() {
            detail_checked += 1;
            if v.detail.as_ref() == detail {
                detail_right += 1;
            }
        }
    }
    let accuracy = 100.0 * right as f64 / rows as f64;
    println!(
        "corpus: {rows} rows, class accuracy {accuracy:.1}% ({right}/{rows}), detail {detail_right}/{detail_checked}"
    );
    for m in &misses {
        println!("  miss: {m}");
    }
    assert!(
        rows >= 150,
        "the corpus needs at least 150 rows, has {rows}"
    );
    assert!(
        accuracy >= 97.0,
        "class accuracy {accuracy:.1}% is below 97%"
    );
    let _ = HitClass::ALL;
}
