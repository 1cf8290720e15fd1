//! One word, one figure: every figure the glossary names has the same number on the pages
//! (`data-figure`), in `summary.json` and in the CSV exports of the sample report, and a
//! campaign's per-recipient figures are the sums of its recipients'.

mod util;

use pxtrack::report::glossary::{GLOSSARY, Scope};
use util::Work;

/// Every `data-figure="key">value<` in `html`, in order.
fn figures_in(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("data-figure=\"") {
        rest = &rest[at + 13..];
        let key_end = rest.find('"').expect("closed attribute");
        let key = rest[..key_end].to_string();
        let open = rest.find('>').expect("closed tag");
        let value_end = rest[open..].find('<').expect("a value") + open;
        out.push((key, rest[open + 1..value_end].trim().to_string()));
        rest = &rest[value_end..];
    }
    out
}

/// `text` as tera escapes it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2F;")
}

/// The text of a JSON figure as the CSV and the pages write it.
fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn every_glossary_figure_is_one_number_everywhere() {
    let w = Work::new();
    w.ok(&["analyze", "--demo", "--out", "site"]);
    let dir = w.path("site");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let campaigns_csv = util::read_events(&dir.join("campaigns.csv"));
    let recipients_csv = util::read_events(&dir.join("recipients.csv"));
    let about = std::fs::read_to_string(dir.join("about.html")).unwrap();
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();

    let campaigns = summary["campaigns"].as_array().unwrap();
    assert!(campaigns.len() >= 2);
    let mut checked = 0;
    for t in GLOSSARY {
        // The glossary is on "About the numbers", under the figure's name.
        assert!(
            about.contains(&format!("id=\"g-{}\"", t.key)) && about.contains(&escaped(t.meaning)),
            "about.html lacks the glossary entry of {}",
            t.key
        );
    }
    for c in campaigns {
        let name = c["name"].as_str().unwrap();
        let csv_row = campaigns_csv
            .iter()
            .find(|r| r["campaign"] == name)
            .unwrap_or_else(|| panic!("{name} not in campaigns.csv"));
        let page = std::fs::read_to_string(dir.join(c["href"].as_str().unwrap())).unwrap();
        // The campaign page's own figures: everything before the people table's rows and after
        // it (the people rows carry per-recipient figures of the same names).
        let (head, people_and_rest) = page.split_at(page.find("id=\"people\"").unwrap());
        let after_people = &people_and_rest[people_and_rest.find("id=\"figures\"").unwrap()..];
        let on_page: Vec<(String, String)> = figures_in(head)
            .into_iter()
            .chain(figures_in(after_people))
            .collect();
        let row_start = index
            .find(&format!("<tr data-campaign=\"{name}\">"))
            .unwrap();
        let row = &index[row_start..row_start + index[row_start..].find("</tr>").unwrap()];
        let on_index = figures_in(row);
        let mine: Vec<&std::collections::HashMap<String, String>> = recipients_csv
            .iter()
            .filter(|r| r["campaign"] == name)
            .collect();
        for t in GLOSSARY {
            let json = json_text(
                c.get(t.key)
                    .unwrap_or_else(|| panic!("summary.json lacks {}", t.key)),
            );
            assert_eq!(
                csv_row.get(t.key),
                Some(&json),
                "{name}: campaigns.csv {} disagrees with summary.json",
                t.key
            );
            let shown: Vec<&String> = on_page
                .iter()
                .chain(&on_index)
                .filter(|(k, _)| k == t.key)
                .map(|(_, v)| v)
                .collect();
            for v in &shown {
                assert_eq!(**v, json, "{name}: a page shows {} as {v}", t.key);
            }
            checked += shown.len();
            if t.scope == Scope::Both {
                let sum: u64 = mine
                    .iter()
                    .map(|r| r[t.recipient_key].parse::<u64>().unwrap())
                    .sum();
                assert_eq!(
                    sum.to_string(),
                    json,
                    "{name}: the recipients' {} do not add up to the campaign's {}",
                    t.recipient_key,
                    t.key
                );
                checked += 1;
            }
        }
        // Each person's row on the page says what recipients.csv says.
        for r in &mine {
            let at = page
                .find(&format!("<tr data-recipient=\"{}\">", r["recipient"]))
                .unwrap_or_else(|| panic!("{} has no row", r["recipient"]));
            let row = &page[at..at + page[at..].find("</tr>").unwrap()];
            for (k, v) in figures_in(row) {
                assert_eq!(&r[&k], &v, "{}: {k}", r["recipient"]);
                checked += 1;
            }
            assert!(
                row.contains(&escaped(&r["answer"])),
                "{}: the row's answer differs from recipients.csv",
                r["recipient"]
            );
        }
        // Proxy opens are opens that are not human-looking, per recipient too.
        for r in &mine {
            let n = |k: &str| r[k].parse::<u64>().unwrap();
            assert_eq!(n("opens"), n("human_opens") + n("proxy_opens"));
            assert!(n("estimated_human_opens") >= n("human_opens"));
        }
    }
    assert!(checked > 100, "only {checked} figures compared");
}

#[test]
fn pages_show_the_chosen_time_zone_and_exports_stay_in_utc() {
    let w = Work::new();
    w.ok(&["analyze", "--demo", "--out", "utc"]);
    w.ok(&[
        "analyze",
        "--demo",
        "--out",
        "paris",
        "--timezone",
        "Europe/Paris",
    ]);
    let page = |site: &str, name: &str| std::fs::read_to_string(w.path(site).join(name)).unwrap();
    for name in ["index.html", "about.html", "rejected.html"] {
        assert!(page("utc", name).contains("times in UTC"), "{name}");
        assert!(
            page("paris", name).contains("times in Europe&#x2F;Paris"),
            "{name}"
        );
    }
    let summary: serde_json::Value = serde_json::from_str(&page("paris", "summary.json")).unwrap();
    let href = summary["campaigns"][0]["href"]
        .as_str()
        .unwrap()
        .to_string();
    // The first hit of the demo is at 08:00:05 UTC on 18 November: 09:00:05 in Paris.
    assert!(page("utc", &href).contains("2026-11-18 08:00:05 UTC"));
    assert!(page("paris", &href).contains("2026-11-18 09:00:05 CET"));
    assert!(!page("paris", &href).contains(" UTC<"));
    // Exports are for programs: UTC in both.
    assert_eq!(page("utc", "events.csv"), page("paris", "events.csv"));
    assert_eq!(
        page("utc", "recipients.csv").lines().next(),
        page("paris", "recipients.csv").lines().next()
    );
    // A name that is not a zone is refused with the fix, and nothing is written.
    let out = w.run(&["analyze", "--demo", "--out", "bad", "--timezone", "Paris"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not an IANA time zone name") && err.contains("Europe/Paris"),
        "{err}"
    );
    assert!(!w.path("bad").exists());
}
