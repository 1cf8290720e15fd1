//! The command-line contract through the real binary: init, mint, config discovery, errors.

mod util;

use util::Work;

#[test]
fn init_writes_a_private_key_and_refuses_to_overwrite_it() {
    let w = Work::new();
    w.ok(&[
        "init",
        "--dir",
        "px",
        "--base-url",
        "https://t.example.com/",
    ]);
    let key = w.path("px/pxtrack.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let before = std::fs::read(&key).unwrap();
    let out = w.run(&[
        "init",
        "--dir",
        "px",
        "--base-url",
        "https://t.example.com/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite a key"));
    assert_eq!(std::fs::read(&key).unwrap(), before);
    let manifest = std::fs::read_to_string(w.path("px/manifest.csv")).unwrap();
    assert_eq!(
        manifest,
        "created,kind,token,campaign,recipient,label,target,expires,message\n"
    );
}

#[test]
fn config_is_found_by_flag_env_or_working_directory() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com"]);
    // --config beats PXTRACK_CONFIG.
    let url = w.ok(&[
        "--config",
        "pxtrack.toml",
        "mint",
        "open",
        "--campaign",
        "c",
        "--recipient",
        "r",
    ]);
    assert!(url.starts_with("https://t.example.com/o/"));
    // ./pxtrack.toml when nothing is set.
    let out = w
        .cmd()
        .env_remove("PXTRACK_CONFIG")
        .args(["mint", "open", "--campaign", "c", "--recipient", "r"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // A clear message when there is none.
    let out = w
        .cmd()
        .env("PXTRACK_CONFIG", "missing.toml")
        .args(["mint", "open", "--campaign", "c", "--recipient", "r"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PXTRACK_CONFIG=missing.toml: no such file") && err.contains("pxtrack init"),
        "{err}"
    );
}

#[test]
fn key_from_environment_and_bad_key_errors_name_the_line() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com"]);
    let out = w
        .cmd()
        .env("PXTRACK_KEY", "1 not-base64!")
        .args(["mint", "open", "--campaign", "c", "--recipient", "r"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("PXTRACK_KEY:1: expected the secret in base64url")
    );
    let rows_before = std::fs::read_to_string(w.path("manifest.csv"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(rows_before, 1, "nothing written on error");
}

#[test]
fn recipients_from_a_csv_keep_file_order() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com"]);
    std::fs::write(
        w.path("r.csv"),
        "name,recipient\nZoe,z@example.com\nAl,a@example.com\n",
    )
    .unwrap();
    let out = w.ok(&[
        "mint",
        "click",
        "--campaign",
        "c",
        "--recipients",
        "r.csv",
        "https://example.com/",
    ]);
    assert_eq!(out.lines().count(), 2);
    let rows = pxtrack::manifest::read(&w.path("manifest.csv")).unwrap();
    let who: Vec<_> = rows.iter().map(|r| r.recipient.as_str()).collect();
    assert_eq!(who, ["z@example.com", "a@example.com"]);
    for (row, url) in rows.iter().zip(out.lines()) {
        assert!(url.ends_with(&row.token));
    }
}

#[test]
fn concurrent_mints_lose_no_row() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com"]);
    let children: Vec<_> = (0..8)
        .map(|i| {
            w.cmd()
                .args([
                    "mint",
                    "open",
                    "--campaign",
                    "c",
                    "--recipient",
                    &format!("r{i}"),
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let rows = pxtrack::manifest::read(&w.path("manifest.csv")).unwrap();
    assert_eq!(rows.len(), 8);
}

#[test]
fn help_teaches_by_example() {
    let w = Work::new();
    let help = w.ok(&["--help"]);
    for needle in [
        "mint",
        "nginx",
        "analyze",
        "Examples:",
        "directional signal",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}");
    }
    let help = w.ok(&["mint", "click", "--help"]);
    assert!(help.contains("--recipients") && help.contains("TARGET_URL"));
}

#[test]
fn analyze_errors_name_the_missing_path() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com"]);
    let out = w.run(&["analyze", "nope.log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.log"));
}

#[test]
fn analyze_refuses_to_replace_a_directory_that_is_not_a_report() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com"]);
    std::fs::write(w.path("a.log"), "").unwrap();
    std::fs::create_dir(w.path("docs")).unwrap();
    std::fs::write(w.path("docs/thesis.tex"), "precious").unwrap();
    let out = w.run(&["analyze", "a.log", "--out", "docs"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(w.path("docs/thesis.tex")).unwrap(),
        "precious"
    );
    // A report directory is replaced as a whole.
    w.ok(&["analyze", "a.log", "--out", "rep"]);
    w.ok(&["analyze", "a.log", "--out", "rep"]);
    assert!(w.path("rep/index.html").is_file());
}

#[test]
fn demo_runs_from_any_directory() {
    let w = Work::new();
    let out = w.ok(&["analyze", "--demo", "--out", "demo"]);
    assert!(out.contains("report: demo/index.html"), "{out}");
    assert!(w.path("demo/events.csv").is_file());
}

#[test]
fn privacy_switches_hide_addresses_and_recipients() {
    let w = Work::new();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    for f in ["pxtrack.toml", "pxtrack.key", "manifest.csv"] {
        std::fs::copy(sample.join(f), w.path(f)).unwrap();
    }
    std::fs::create_dir(w.path("geoip")).unwrap();
    for f in ["demo-City.mmdb", "demo-ASN.mmdb"] {
        std::fs::copy(sample.join("geoip").join(f), w.path("geoip").join(f)).unwrap();
    }
    w.edit(
        "pxtrack.toml",
        "anonymize_ip = false",
        "anonymize_ip = true",
    );
    w.edit(
        "pxtrack.toml",
        "recipient_detail = true",
        "recipient_detail = false",
    );
    let logs = sample.join("logs");
    w.ok(&["analyze", logs.to_str().unwrap(), "--out", "rep"]);
    let events = util::read_events(&w.path("rep/events.csv"));
    assert!(!events.is_empty());
    for e in &events {
        assert!(e["recipient"].is_empty(), "{e:?}");
        assert!(
            e["ip"].ends_with("/24") || e["ip"].ends_with("/48"),
            "{}",
            e["ip"]
        );
    }
    for entry in std::fs::read_dir(w.path("rep")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains("@example."), "a recipient leaked");
        assert!(!text.contains("203.0.113.20<"), "an address leaked");
    }
}

#[test]
fn templates_directory_overrides_one_page() {
    let w = Work::new();
    std::fs::create_dir(w.path("mytemplates")).unwrap();
    std::fs::write(
        w.path("mytemplates/about.html"),
        "{% extends \"base.html\" %}{% block content %}<h1>Our own words</h1>{% endblock content %}",
    )
    .unwrap();
    w.ok(&[
        "analyze",
        "--demo",
        "--out",
        "site",
        "--templates",
        "mytemplates",
    ]);
    assert!(
        std::fs::read_to_string(w.path("site/about.html"))
            .unwrap()
            .contains("Our own words")
    );
    assert!(
        std::fs::read_to_string(w.path("site/index.html"))
            .unwrap()
            .contains("All campaigns")
    );
    // A broken override is an error that names the template, and the old site stays.
    std::fs::write(w.path("mytemplates/index.html"), "{% if %}").unwrap();
    let out = w.run(&[
        "analyze",
        "--demo",
        "--out",
        "site",
        "--templates",
        "mytemplates",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("template"));
    assert!(w.path("site/about.html").is_file());
}

#[test]
fn resolving_the_manifest_up_front_changes_nothing() {
    // The shared table of the manifest's URLs is built only for logs large enough; force it on
    // and off over the sample logs and compare every export.
    let w = Work::new();
    for (dir, known) in [("shared", "1"), ("own", "0")] {
        let args = ["analyze", "--demo", "--out", dir, "--quiet"];
        w.ok_with_env(("PXTRACK_KNOWN_TARGETS", known), &args);
    }
    assert_same_exports(&w, "shared", "own");
}

#[test]
fn reading_in_tiny_blocks_on_every_core_changes_nothing() {
    // PXTRACK_BLOCK_BYTES=300 cuts the logs into blocks of a line or two, parsed by all the
    // workers in whatever order they finish, and merged back.
    let w = Work::new();
    w.ok(&["analyze", "--demo", "--out", "whole", "--quiet"]);
    let args = ["analyze", "--demo", "--out", "blocks", "--quiet"];
    w.ok_with_env(("PXTRACK_BLOCK_BYTES", "300"), &args);
    assert_same_exports(&w, "whole", "blocks");
}

#[test]
fn timings_name_each_phase_and_each_thread() {
    // PXTRACK_TIMINGS is how benchmarks see where the time goes: the phases, and the processor
    // time of every thread (on two cores their sum is what bounds a run).
    let w = Work::new();
    let out = w
        .cmd()
        .env("PXTRACK_TIMINGS", "1")
        .args(["analyze", "--demo", "--out", "site", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for what in [
        "read, parse, classify, aggregate:",
        "processor time by thread: read ",
        ", parse ",
        ", classify and aggregate ",
        ", events rows ",
        ", events encoding and disk ",
        "pages (the events file is finished meanwhile):",
        "finishing the events file:",
    ] {
        assert!(err.contains(what), "no {what:?} in:\n{err}");
    }
}

/// Asserts that two reports in `w` have the same exports and overview, but for the build time.
fn assert_same_exports(w: &Work, a: &str, b: &str) {
    let text = |dir: &str, f: &str| {
        std::fs::read_to_string(w.path(dir).join(f))
            .unwrap()
            .lines()
            .filter(|l| !l.contains("Built by pxtrack"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for f in [
        "events.csv",
        "recipients.csv",
        "campaigns.csv",
        "rejected.html",
        "index.html",
    ] {
        assert_eq!(text(a, f), text(b, f), "{f} differs between {a} and {b}");
    }
}

#[test]
fn rules_show_each_list_with_its_date_read_refreshed_copies_and_warn_when_stale() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com/"]);
    // A fresh copy of Google's special crawlers in the published format, and a stale Barracuda
    // list: the first replaces the built-in copy, the second earns a warning.
    std::fs::write(
        w.path("special-crawlers.json"),
        r#"{"creationTime": "2026-11-30T14:45:37.000000", "prefixes": [{"ipv4Prefix": "203.0.113.0/27"}]}"#,
    )
    .unwrap();
    std::fs::write(
        w.path("barracuda.txt"),
        "# taken: 2024-01-15\n209.222.82.0/24\n",
    )
    .unwrap();
    w.edit(
        "pxtrack.toml",
        "[classify]\n",
        "[classify.lists]\ngoogle-special-crawlers = \"special-crawlers.json\"\nbarracuda-egd = \"barracuda.txt\"\n\n[classify]\n",
    );
    let out = w.run(&["rules"]);
    assert!(out.status.success());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name) && l.contains(" networks "))
            .unwrap_or_else(|| panic!("no list line for {name}:\n{stdout}"))
            .to_string()
    };
    let google = line("google-special-crawlers");
    assert!(
        google.contains("2026-11-30") && google.contains("special-crawlers.json"),
        "{google}"
    );
    assert!(line("barracuda-egd").contains("2024-01-15"));
    assert!(line("aws").contains("not shipped"));
    assert!(
        stderr.contains("warning: the list barracuda-egd is from 2024-01-15")
            && stderr.contains("[classify.lists] barracuda-egd"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("google-special-crawlers is from"),
        "{stderr}"
    );
    // A list name pxtrack does not know is an error that lists the ones it does.
    w.edit("pxtrack.toml", "barracuda-egd = ", "barracuda = ");
    let out = w.run(&["rules"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"barracuda\"") && err.contains("barracuda-egd, "),
        "{err}"
    );
}
