//! Classifier accuracy on two labelled corpora of real user agents (with addresses from
//! documented ranges where the source gives them), each row with the public source it was
//! collected from:
//! - `tests/data/user_agents.csv`: the corpus the rules were extended from (pixel loads);
//! - `tests/data/user_agents_2.csv`: an out-of-sample corpus from sources the first did not use
//!   (measured before any rule was changed for it), with the kind of hit, the seconds after the
//!   send when the source gives the timing, and a `Sec-Purpose` header when documented.
//!
//! Each fails below 97% on class, or when a proxy row is classed as anything but `proxy`; both
//! print their accuracy, the confusion by class and every miss.

use std::collections::BTreeMap;
use std::sync::Arc;

use pxtrack::classify::Classifier;

use pxtrack::hit::{Event, Source, TargetText};
use pxtrack::manifest::{Manifest, ManifestRow};
use pxtrack::model::{HeaderFields, Headers, HitClass, HitKind, TokenStatus};
use pxtrack::rules::Rules;
use pxtrack::token::TokenKind;

/// When the corpus's message was sent (any fixed time: rows are classified apart).
const SENT_MS: i64 = 1_780_000_000_000;
/// A row without timing is a later read: a day after the send.
const LATER_SECS: i64 = 86_400;

struct Row {
    line: usize,
    ua: String,
    method: String,
    ip: String,
    kind: HitKind,
    after_send_secs: Option<i64>,
    purpose: String,
    class: String,
    source: String,
}

fn read(file: &str) -> Vec<Row> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (ua, method, ip, class, source) = (
        col("user_agent").unwrap(),
        col("method").unwrap(),
        col("ip").unwrap(),
        col("expected_class").unwrap(),
        col("source").unwrap(),
    );
    let (kind, after, purpose) = (col("kind"), col("secs_after_send"), col("purpose"));
    reader
        .records()
        .enumerate()
        .map(|(i, rec)| {
            let rec = rec.unwrap();
            let get = |c: Option<usize>| c.map(|c| rec[c].to_string()).unwrap_or_default();
            Row {
                line: i + 2,
                ua: rec[ua].to_string(),
                method: rec[method].to_string(),
                ip: rec[ip].to_string(),
                kind: match get(kind).as_str() {
                    "" | "open" => HitKind::Open,
                    "click" => HitKind::Click,
                    k => panic!("{file}:{}: kind {k:?}", i + 2),
                },
                after_send_secs: Some(get(after))
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().expect("secs_after_send is a number")),
                purpose: get(purpose),
                class: rec[class].to_string(),
                source: rec[source].to_string(),
            }
        })
        .collect()
}

fn event(row: &Row, time_ms: i64) -> Event {
    let (token, uri) = match row.kind {
        HitKind::Click => ("c", "/c/c"),
        _ => ("t", "/o/t.png"),
    };
    Event {
        time_ms,
        kind: row.kind,
        token_status: TokenStatus::Valid,
        forgery: None,
        row: Some(usize::from(row.kind == HitKind::Click)),
        target: TargetText::Own {
            token: token.into(),
            uri: uri.into(),
        },
        client: if row.ip.is_empty() {
            "192.0.2.1"
        } else {
            &row.ip
        }
        .parse()
        .expect("corpus addresses are valid"),
        status: if row.kind == HitKind::Click { 302 } else { 200 },
        bytes_sent: 67,
        headers: Arc::new(Headers::new(HeaderFields {
            method: &row.method,
            user_agent: &row.ua,
            purpose: &row.purpose,
            ..HeaderFields::default()
        })),
        source: Source {
            file: 0,
            line: row.line as u64,
        },
        asn: None,
        geo: None,
    }
}

fn manifest() -> Manifest {
    let row = |kind, token: &str| ManifestRow {
        created: chrono::DateTime::UNIX_EPOCH,
        kind,
        token: token.into(),
        campaign: "c".into(),
        recipient: "r".into(),
        label: String::new(),
        target: if kind == TokenKind::Click {
            "https://example.com/".into()
        } else {
            String::new()
        },
        expires: None,
        message: String::new(),
    };
    Manifest::new(vec![row(TokenKind::Open, "t"), row(TokenKind::Click, "c")])
}

/// Classifies every row of a corpus with the built-in rules, prints the figures, and returns
/// (accuracy in percent, rows, misclassified proxy rows).
fn measure(file: &str, with_send_time: bool) -> (f64, usize, Vec<String>) {
    let rows = read(file);
    let manifest = manifest();
    let rules = Rules::builtin();
    let mut confusion: BTreeMap<(String, String), usize> = BTreeMap::new();
    let (mut right, mut misses, mut proxy_misses) = (0, Vec::new(), Vec::new());
    for row in &rows {
        assert!(!row.source.is_empty(), "{file}:{} has no source", row.line);
        // A fresh classifier per row: no row can be another's duplicate or burst.
        let mut c = Classifier::new(&rules, &manifest, vec![], 60);
        let time_ms = if with_send_time {
            c = c.with_send_times(&manifest, |_, _| Some(SENT_MS), 60);
            SENT_MS + 1000 * row.after_send_secs.unwrap_or(LATER_SECS)
        } else {
            SENT_MS + row.line as i64 * 3_600_000
        };
        let v = c.classify(&event(row, time_ms));
        let got = v.class.as_str().to_string();
        *confusion
            .entry((row.class.clone(), got.clone()))
            .or_default() += 1;
        if got == row.class {
            right += 1;
        } else {
            let miss = format!(
                "{file}:{}: {} {:?} from {} -> {got} ({}: {}), expected {}",
                row.line,
                row.kind.as_str(),
                row.ua,
                if row.ip.is_empty() { "-" } else { &row.ip },
                v.detail,
                v.reason,
                row.class
            );
            if row.class == "proxy" {
                proxy_misses.push(miss.clone());
            }
            misses.push(miss);
        }
    }
    let accuracy = 100.0 * right as f64 / rows.len() as f64;
    println!(
        "{file}: {} rows, class accuracy {accuracy:.1}% ({right}/{})",
        rows.len(),
        rows.len()
    );
    let classes = HitClass::ALL.map(HitClass::as_str);
    println!(
        "  expected \\ got {}",
        classes.map(|c| format!("{c:>10}")).join("")
    );
    for want in classes {
        let counts: Vec<usize> = classes
            .iter()
            .map(|got| {
                confusion
                    .get(&(want.to_string(), got.to_string()))
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        if counts.iter().sum::<usize>() > 0 {
            println!(
                "  {want:>14} {}",
                counts
                    .iter()
                    .map(|n| format!("{n:>10}"))
                    .collect::<String>()
            );
        }
    }
    for m in &misses {
        println!("  miss: {m}");
    }
    (accuracy, rows.len(), proxy_misses)
}

/// Measures a corpus and holds it to the goal: at least 150 rows, at least 97% on class, and no
/// proxy row classed as anything else.
fn holds_to_the_goal(file: &str, with_send_time: bool) {
    let (accuracy, rows, proxy_misses) = measure(file, with_send_time);
    assert!(rows >= 150, "{file} needs at least 150 rows, has {rows}");
    assert!(
        proxy_misses.is_empty(),
        "{file}: proxy rows misclassified: {proxy_misses:#?}"
    );
    assert!(
        accuracy >= 97.0,
        "{file}: class accuracy {accuracy:.1}% is below 97%"
    );
}

#[test]
fn first_corpus_accuracy_is_at_least_97_percent() {
    holds_to_the_goal("user_agents.csv", false);
}

#[test]
fn second_corpus_out_of_sample_accuracy_is_at_least_97_percent() {
    holds_to_the_goal("user_agents_2.csv", true);
}

#[test]
fn the_two_corpora_share_no_user_agent_and_no_source_project() {
    let first = read("user_agents.csv");
    let second = read("user_agents_2.csv");
    let agents: std::collections::HashSet<&str> = first.iter().map(|r| r.ua.as_str()).collect();
    for r in &second {
        assert!(
            !agents.contains(r.ua.as_str()),
            "user_agents_2.csv:{} repeats a user agent of the first corpus",
            r.line
        );
    }
    // The first corpus's sources, by project: none may be cited by the second.
    for project in [
        "device-detector",
        "crawler-user-agents",
        "uap-core",
        "goaccess",
        "laravel-passwordless-login",
        "gophish",
        "opencollective",
        "fusionauth",
        "warmbly",
        "bird.com",
        "phplist",
        "keila",
    ] {
        for r in &second {
            assert!(
                !r.source.to_ascii_lowercase().contains(project),
                "user_agents_2.csv:{} cites {project}, a source of the first corpus",
                r.line
            );
        }
    }
}
