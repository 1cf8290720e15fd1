//! `events.parquet` read by a real query engine: DuckDB (from PyPI, in the virtual environment
//! scripts/test makes) finds the same rows and values as in `events.csv` of the sample logs, with
//! the types a query engine wants, dictionary-encoded, zstd-compressed; and with
//! `recipient_detail = false` no address anywhere in it.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use util::Work;

fn python() -> PathBuf {
    match std::env::var_os("PXTRACK_TEST_PYTHON") {
        Some(p) if Path::new(&p).is_file() => p.into(),
        _ => panic!(
            "PXTRACK_TEST_PYTHON is not set to a Python with duckdb: run scripts/test, which \
             makes target/test-venv"
        ),
    }
}

/// Runs a DuckDB script on `dir`; returns what it printed.
fn duckdb(dir: &Path, script: &str) -> String {
    let out = Command::new(python())
        .current_dir(dir)
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sample's config and data in a directory of their own, `extra` appended to the config.
fn sample(w: &Work, extra: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let dst = w.path("sample");
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        let to = dst.join(entry.path().strip_prefix(&src).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    let config = dst.join("pxtrack.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("anonymize_ip = false\n", "")
        .replace("recipient_detail = true\n", extra);
    std::fs::write(&config, text).unwrap();
    dst
}

fn analyze(w: &Work, dir: &Path, events: &str, out: &str) {
    let o = w
        .cmd()
        .current_dir(dir)
        .env("PXTRACK_CONFIG", dir.join("pxtrack.toml"))
        .args(["analyze", "--events", events, "--out", out])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn duckdb_reads_the_same_events_from_parquet_as_from_csv() {
    same_events("recipient_detail = true\n");
}

#[test]
fn with_anonymized_addresses_too() {
    same_events("recipient_detail = true\nanonymize_ip = true\n");
}

fn same_events(privacy: &str) {
    let w = Work::new();
    let dir = sample(&w, privacy);
    analyze(&w, &dir, "csv", "csv");
    analyze(&w, &dir, "parquet", "parquet");
    analyze(&w, &dir, "none", "none");
    assert!(!dir.join("csv/events.parquet").exists());
    assert!(!dir.join("parquet/events.csv").exists());
    assert!(!dir.join("none/events.csv").exists() && !dir.join("none/events.parquet").exists());
    // Every other output is the same whichever format is chosen (but the build time).
    for name in ["summary.json", "campaigns.csv", "recipients.csv"] {
        let strip = |p: PathBuf| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .filter(|l| !l.contains("generated_at"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            strip(dir.join("csv").join(name)),
            strip(dir.join("none").join(name)),
            "{name}"
        );
        assert_eq!(
            strip(dir.join("csv").join(name)),
            strip(dir.join("parquet").join(name)),
            "{name}"
        );
    }
    let printed = duckdb(
        &dir,
        r#"
import duckdb
c = duckdb.connect()
one = lambda q: c.sql(q).fetchall()[0][0]
types = dict(c.sql("select column_name, column_type from (describe select * from 'parquet/events.parquet')").fetchall())
print("types", types["time"], types["status"], types["kind"])
csv_cols = [r[0] for r in c.sql("describe select * from read_csv('csv/events.csv', all_varchar=true, header=true)").fetchall()]
pq_cols = [r[0] for r in c.sql("describe select * from 'parquet/events.parquet'").fetchall()]
assert csv_cols == pq_cols, (csv_cols, pq_cols)
cols = ", ".join(
    "strftime(time at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') as time" if n == "time"
    else f"cast({n} as varchar) as {n}" for n in pq_cols)
c.sql(f"create table p as select {cols} from 'parquet/events.parquet'")
c.sql("create table v as select * from read_csv('csv/events.csv', all_varchar=true, header=true)")
# The CSV writes an empty cell where Parquet has an empty string.
c.sql("update v set " + ", ".join(f"{n} = coalesce({n}, '')" for n in pq_cols))
rows = one("select count(*) from p")
assert rows == one("select count(*) from v")
only_p = one("select count(*) from (select * from p except all select * from v)")
only_v = one("select count(*) from (select * from v except all select * from p)")
assert only_p == 0 and only_v == 0, (only_p, only_v, c.sql("select * from p except all select * from v limit 3").fetchall())
meta = c.sql("select distinct path_in_schema, compression, encodings from parquet_metadata('parquet/events.parquet')").fetchall()
by = {m[0]: m for m in meta}
assert all(m[1] == "ZSTD" for m in meta), meta
assert "DICTIONARY" in by["kind"][2] or "RLE_DICTIONARY" in by["kind"][2], by["kind"]
assert "DICTIONARY" in by["campaign"][2] or "RLE_DICTIONARY" in by["campaign"][2], by["campaign"]
groups = one("select count(distinct row_group_id) from parquet_metadata('parquet/events.parquet')")
print("rows", rows, "groups", groups)
# A question a user asks: who opened, first time.
opened = c.sql("select recipient, min(time) from 'parquet/events.parquet' where kind = 'open' and class in ('human', 'proxy') group by recipient").fetchall()
assert len(opened) > 5, opened
"#,
    );
    assert!(
        printed.contains("types TIMESTAMP WITH TIME ZONE INTEGER VARCHAR"),
        "{printed}"
    );
    assert!(printed.contains("groups 1"), "{printed}");
}

#[test]
fn without_recipient_detail_the_parquet_names_nobody() {
    let w = Work::new();
    let dir = sample(&w, "recipient_detail = false\n");
    analyze(&w, &dir, "parquet", "report");
    let manifest = std::fs::read_to_string(dir.join("manifest.csv")).unwrap();
    let addresses: Vec<&str> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').find(|c| c.contains('@')))
        .collect();
    assert!(addresses.len() > 10);
    let printed = duckdb(
        &dir,
        r#"
import duckdb
c = duckdb.connect()
rows = c.sql("select * from 'report/events.parquet'").fetchall()
print("rows", len(rows))
for r in rows:
    for v in r:
        print(v)
"#,
    );
    assert!(printed.contains("rows "), "{printed}");
    for a in addresses {
        assert!(!printed.contains(a), "{a} is in events.parquet");
    }
}
