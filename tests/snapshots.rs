//! Snapshots (insta) of every report page kind built from the bundled sample, and of the
//! generated nginx configuration. Review changes with `cargo insta review`, or rerun with
//! `INSTA_UPDATE=always` and read the diff.

mod util;

use util::Work;

/// Drops what legitimately changes between runs: the build time and temporary paths.
fn stable(text: &str, tmp: &std::path::Path) -> String {
    let repo = env!("CARGO_MANIFEST_DIR").to_string();
    text.lines()
        .filter(|l| !l.contains("Built by pxtrack"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(&tmp.display().to_string(), "[TMP]")
        // The demo reads sample-logs/ from the checkout, wherever it is; tera escapes '/'.
        .replace(&repo.replace('/', "&#x2F;"), "[REPO]")
        .replace(&repo, "[REPO]")
}

#[test]
fn report_pages() {
    let w = Work::new();
    w.ok(&["analyze", "--demo", "--out", "site", "--quiet"]);
    let mut names: Vec<String> = std::fs::read_dir(w.path("site"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for prefix in [
        "index",
        "campaign-",
        "link-",
        "recipients-",
        "rejected",
        "about",
    ] {
        let name = names
            .iter()
            .find(|n| n.starts_with(prefix) && n.ends_with(".html"))
            .unwrap_or_else(|| panic!("no {prefix} page"));
        let html = std::fs::read_to_string(w.path("site").join(name)).unwrap();
        insta::assert_snapshot!(
            format!("page_{}", prefix.trim_end_matches('-')),
            stable(&html, w.dir.path())
        );
    }
    let csv = std::fs::read_to_string(w.path("site/campaigns.csv")).unwrap();
    insta::assert_snapshot!("campaigns_csv", csv);
}

#[test]
fn nginx_config() {
    let w = Work::new();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    for f in ["pxtrack.toml", "pxtrack.key", "manifest.csv"] {
        std::fs::copy(sample.join(f), w.path(f)).unwrap();
    }
    // The certificate is there (as after certbot), so the whole TLS configuration is written.
    std::fs::create_dir_all(w.path("tls")).unwrap();
    std::fs::write(
        w.path("tls/fullchain.pem"),
        pxtrack::nginx::CHECK_CERTIFICATE_PEM,
    )
    .unwrap();
    std::fs::write(
        w.path("tls/privkey.pem"),
        pxtrack::nginx::CHECK_CERTIFICATE_KEY_PEM,
    )
    .unwrap();
    w.edit(
        "pxtrack.toml",
        "/etc/letsencrypt/live/t.example.com/fullchain.pem",
        "tls/fullchain.pem",
    );
    w.edit(
        "pxtrack.toml",
        "/etc/letsencrypt/live/t.example.com/privkey.pem",
        "tls/privkey.pem",
    );
    let out = w.ok(&[
        "nginx",
        "--out",
        "nginx",
        "--listen",
        "127.0.0.1:8080",
        "--tls-listen",
        "127.0.0.1:8443",
        "--tls-listen",
        "443",
    ]);
    insta::assert_snapshot!("nginx_include_line", stable(&out, w.dir.path()));
    for f in [
        "pxtrack.conf",
        "locations.conf",
        "clicks.map",
        "opens.map",
        "logrotate.conf",
    ] {
        let text = std::fs::read_to_string(w.path("nginx").join(f)).unwrap();
        insta::assert_snapshot!(format!("nginx_{f}"), stable(&text, w.dir.path()));
    }
}
