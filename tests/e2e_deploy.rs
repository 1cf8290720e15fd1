//! A real deployment against a real nginx on 127.0.0.1: HTTPS with a certificate made by openssl
//! (and the port-80 server that answers certbot before it exists), the agreement between what
//! nginx serves and what `analyze` counts for every spelling of a minted URL, the include in
//! several nginx.conf files (Debian's stock one, one that sets the map hash sizes, two pxtrack
//! instances side by side) and at the limits (a target as long as nginx holds, a long base path,
//! 100,000 click tokens, `--server-dir`), and the logrotate file under `logrotate -d`.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use util::{
    Nginx, Work, free_port, mint_pixel, raw, read_events, request, succeeded, token_of,
    wait_for_lines,
};

/// Debian 12's stock /etc/nginx/nginx.conf (nginx 1.22.1), as shipped by the package.
const DEBIAN_NGINX_CONF: &str = include_str!("data/nginx/debian-nginx.conf");

/// Mints a pixel and a tracked link to `target` for ana@example.org: their tokens.
fn mint_pixel_and_link(w: &Work, target: &str) -> (String, String) {
    let mint = |kind: &str, extra: &[&str]| {
        let mut args = vec![
            "mint",
            kind,
            "--campaign",
            "c",
            "--recipient",
            "ana@example.org",
        ];
        args.extend_from_slice(extra);
        token_of(&w.ok(&args))
    };
    (mint("open", &[]), mint("click", &[target]))
}

/// Runs a program the test command installs; a missing one is a failure that says so.
fn tool(name: &str) -> Command {
    let found = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    match found {
        Some(p) => Command::new(p),
        None => panic!("{name} is not installed: run scripts/test, which installs it"),
    }
}

/// Makes a self-signed certificate for `localhost` with openssl.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("fullchain.pem"), dir.join("privkey.pem"));
    let out = tool("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    succeeded(out);
    (cert, key)
}

/// curl over https to 127.0.0.1 as `localhost`, trusting `cert`: status, HTTP version, Location
/// and body.
fn curl_https(port: u16, path: &str, cert: &Path, extra: &[&str]) -> (String, Vec<u8>) {
    let body = tempfile::NamedTempFile::new().unwrap();
    let out = tool("curl")
        .args(["-s", "--http2", "--cacert"])
        .arg(cert)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args([
            "-A",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0",
        ])
        .args(extra)
        .arg("-o")
        .arg(body.path())
        .args(["-w", "%{http_code} %{http_version} %{redirect_url}"])
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read(body.path()).unwrap_or_default(),
    )
}

#[test]
fn https_with_a_certificate_and_certbots_challenge_before_it_exists() {
    let w = Work::new();
    let (http, https) = (free_port(), free_port());
    w.ok(&["init", "--base-url", &format!("https://localhost:{https}")]);
    let text = std::fs::read_to_string(w.path("pxtrack.toml")).unwrap();
    assert!(
        text.contains("tls_certificate = \"/etc/letsencrypt/live/localhost/fullchain.pem\"")
            && text
                .contains("tls_certificate_key = \"/etc/letsencrypt/live/localhost/privkey.pem\""),
        "init writes certbot's paths for the host:\n{text}"
    );
    // The paths as they will be once certbot has run; the webroot is the test's.
    w.edit(
        "pxtrack.toml",
        "/etc/letsencrypt/live/localhost/fullchain.pem",
        "tls/fullchain.pem",
    );
    w.edit(
        "pxtrack.toml",
        "/etc/letsencrypt/live/localhost/privkey.pem",
        "tls/privkey.pem",
    );
    w.edit("pxtrack.toml", "/var/www/letsencrypt", "acme");
    let challenge = w.path("acme/.well-known/acme-challenge/Zm9vYmFy-token");
    std::fs::create_dir_all(challenge.parent().unwrap()).unwrap();
    std::fs::write(&challenge, "Zm9vYmFy-token.thumbprint").unwrap();
    let (pixel, click) = mint_pixel_and_link(&w, "https://example.org/pricing?plan=pro");
    std::fs::create_dir_all(w.path("logs")).unwrap();
    let generate = || {
        w.cmd()
            .args(["nginx", "--out", "nginx"])
            .args(["--listen", &format!("127.0.0.1:{http}")])
            .args(["--tls-listen", &format!("127.0.0.1:{https}")])
            .args(["--access-log", "logs/access.log"])
            .output()
            .unwrap()
    };

    // Before certbot: the port-80 server alone, answering the challenge.
    let out = generate();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("is not there yet") && err.contains("certbot certonly --webroot -w"),
        "{err}"
    );
    let conf = std::fs::read_to_string(w.path("nginx/pxtrack.conf")).unwrap();
    assert!(!conf.contains("ssl_certificate"), "{conf}");
    let challenge_answers = || {
        let r = request(
            http,
            "GET",
            "/.well-known/acme-challenge/Zm9vYmFy-token",
            &[],
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"Zm9vYmFy-token.thumbprint");
    };
    let moves_to_https = |path: &str| {
        let r = request(http, "GET", path, &[]);
        assert_eq!(r.status, 301);
        assert_eq!(
            r.header_str("Location"),
            Some(format!("https://localhost:{https}{path}"))
        );
    };
    {
        let _nginx = Nginx::start(&w.path("prefix"), http, &w.path("nginx/pxtrack.conf"), "");
        challenge_answers();
        moves_to_https(&format!("/o/{pixel}.png"));
    }

    // certbot has run: the whole configuration.
    let (cert, _) = self_signed(&w.path("tls"));
    let out = generate();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("not there yet"), "{err}");
    let conf = std::fs::read_to_string(w.path("nginx/pxtrack.conf")).unwrap();
    assert!(
        conf.contains(&format!("listen 127.0.0.1:{https} ssl http2;"))
            && conf.contains("ssl_protocols TLSv1.2 TLSv1.3;"),
        "{conf}"
    );
    let nginx = Nginx::start(&w.path("prefix"), http, &w.path("nginx/pxtrack.conf"), "");
    let (status, body) = curl_https(https, &format!("/o/{pixel}.png"), &cert, &[]);
    assert_eq!(status.trim(), "200 2", "the pixel over https and HTTP/2");
    assert_eq!(body, pxtrack::nginx::PIXEL_PNG);
    let (status, _) = curl_https(https, &format!("/c/{click}"), &cert, &[]);
    assert_eq!(status, "302 2 https://example.org/pricing?plan=pro");
    let (status, _) = curl_https(https, "/c/not-a-token", &cert, &[]);
    assert_eq!(status.trim(), "404 2");
    // TLS 1.1 and older are refused.
    let (status, _) = curl_https(
        https,
        &format!("/o/{pixel}.png"),
        &cert,
        &["--tlsv1.0", "--tls-max", "1.1"],
    );
    assert!(status.starts_with("000"), "{status}");
    // Port 80: the challenge still answers, everything else moves to https.
    challenge_answers();
    moves_to_https(&format!("/c/{click}?x=1"));
    wait_for_lines(&w.path("logs/access.log"), 3);
    drop(nginx);

    // The https hits are in pxtrack's log and counted; the port-80 redirects are not in it.
    w.ok(&["analyze", "logs/access.log", "--out", "report"]);
    let events = read_events(&w.path("report/events.csv"));
    let valid: Vec<_> = events
        .iter()
        .filter(|e| e["token_status"] == "valid")
        .map(|e| (e["kind"].as_str(), e["status"].as_str()))
        .collect();
    assert_eq!(valid, [("open", "200"), ("click", "302")], "{events:?}");
    assert_eq!(events.len(), 3, "the 404 is logged too: {events:?}");
}

/// One way of writing a minted URL, and whether it is the URL that was minted.
struct Spelling {
    what: &'static str,
    method: &'static str,
    target: String,
}

#[test]
fn nginx_serves_a_url_if_and_only_if_analyze_counts_it() {
    let w = Work::new();
    let port = free_port();
    // A base path, so that the spellings of the prefix are tried too.
    w.ok(&["init", "--base-url", &format!("http://127.0.0.1:{port}/t")]);
    let (pixel, click) = mint_pixel_and_link(&w, "https://example.org/a");
    std::fs::create_dir_all(w.path("logs")).unwrap();
    generate(&w, port, None);
    let _nginx = Nginx::start(&w.path("prefix"), port, &w.path("nginx/pxtrack.conf"), "");

    let pct = |t: &str| format!("%{:02X}{}", t.as_bytes()[0], &t[1..]);
    let swap_case = |t: &str| -> String {
        t.chars()
            .map(|c| {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    };
    let mut spellings = Vec::new();
    for (kind, tok) in [("o", &pixel), ("c", &click)] {
        let url = |t: &str| match kind {
            "o" => format!("/t/o/{t}.png"),
            _ => format!("/t/c/{t}"),
        };
        let mut add = |what: &'static str, method: &'static str, target: String| {
            spellings.push(Spelling {
                what,
                method,
                target,
            })
        };
        add("as minted", "GET", url(tok));
        add(
            "with a query",
            "GET",
            format!("{}?utm_source=news&x=%41", url(tok)),
        );
        add("with an empty query", "GET", format!("{}?", url(tok)));
        add("with a fragment", "GET", format!("{}#top", url(tok)));
        add("HEAD", "HEAD", url(tok));
        add("lower-cased", "GET", url(&tok.to_ascii_lowercase()));
        add("upper-cased", "GET", url(&tok.to_ascii_uppercase()));
        add("case swapped", "GET", url(&swap_case(tok)));
        add("first letter percent-encoded", "GET", url(&pct(tok)));
        add(
            "a doubled slash before the token",
            "GET",
            url(tok).replacen(&format!("/{kind}/"), &format!("/{kind}//"), 1),
        );
        add(
            "a dot segment before the token",
            "GET",
            url(tok).replacen(&format!("/{kind}/"), &format!("/{kind}/./"), 1),
        );
        add(
            "a doubled slash in the prefix",
            "GET",
            url(tok).replacen("/t/", "//t/", 1),
        );
        add("a dot-dot segment", "GET", format!("/x/..{}", url(tok)));
        add(
            "prefix upper-cased",
            "GET",
            url(tok).replacen("/t/", "/T/", 1),
        );
        add(
            "prefix percent-encoded",
            "GET",
            url(tok).replacen("/t/", "/%74/", 1),
        );
        add("a trailing slash", "GET", format!("{}/", url(tok)));
        add("a character more", "GET", format!("{}A", url(tok)));
        add("a character less", "GET", url(&tok[..tok.len() - 1]));
        add(
            "without the prefix",
            "GET",
            url(tok).replacen("/t/", "/", 1),
        );
        add(
            "the other kind's path",
            "GET",
            match kind {
                "o" => format!("/t/c/{tok}"),
                _ => format!("/t/o/{tok}.png"),
            },
        );
    }
    spellings.push(Spelling {
        what: "pixel with .PNG",
        method: "GET",
        target: format!("/t/o/{pixel}.PNG"),
    });
    spellings.push(Spelling {
        what: "pixel with the dot encoded",
        method: "GET",
        target: format!("/t/o/{pixel}%2Epng"),
    });
    spellings.push(Spelling {
        what: "click in absolute form",
        method: "GET",
        target: format!("http://127.0.0.1:{port}/t/c/{click}"),
    });

    let mut served = Vec::new();
    for (i, s) in spellings.iter().enumerate() {
        let req = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: agree-{i}\r\nConnection: \
             close\r\n\r\n",
            s.method, s.target
        );
        let answer = raw(port, req.as_bytes());
        let status: u16 = String::from_utf8_lossy(&answer)
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no answer to {}", s.target));
        served.push(status);
    }
    wait_for_lines(&w.path("logs/access.log"), spellings.len());
    w.ok(&["analyze", "logs/access.log", "--out", "report"]);
    let events = read_events(&w.path("report/events.csv"));
    assert_eq!(events.len(), spellings.len(), "one event a request");

    let mut table = String::new();
    let mut wrong = Vec::new();
    for (i, s) in spellings.iter().enumerate() {
        let e = events
            .iter()
            .find(|e| e["user_agent"] == format!("agree-{i}"))
            .unwrap_or_else(|| panic!("no event for {}", s.target));
        let status = served[i];
        let nginx_served = matches!(status, 200 | 302);
        let counted = e["token_status"] == "valid";
        table.push_str(&format!(
            "{:>3} {:<6} {:<5} {:<34} {}\n",
            status, e["token_status"], s.method, s.what, s.target
        ));
        if nginx_served != counted || e["status"] != status.to_string() {
            wrong.push(s.what);
        }
    }
    println!("status token  method spelling\n{table}");
    assert!(
        wrong.is_empty(),
        "nginx and analyze disagree on {wrong:?}:\n{table}"
    );
    // The table is not trivially agreeing: the minted spellings are served, the rest are not.
    assert!(served.iter().filter(|&&s| s == 200).count() >= 5, "{table}");
    assert!(served.iter().filter(|&&s| s == 302).count() >= 5, "{table}");
    assert!(
        served.iter().filter(|&&s| s == 404).count() >= 30,
        "{table}"
    );
}

#[test]
fn a_token_minted_after_the_last_generation_is_404_and_analyze_says_so() {
    let w = Work::new();
    let port = free_port();
    w.ok(&["init", "--base-url", &format!("http://127.0.0.1:{port}")]);
    std::fs::create_dir_all(w.path("logs")).unwrap();
    generate(&w, port, None);
    let late = mint_pixel(&w);
    let _nginx = Nginx::start(&w.path("prefix"), port, &w.path("nginx/pxtrack.conf"), "");
    assert_eq!(
        request(port, "GET", &format!("/o/{late}.png"), &[]).status,
        404
    );
    wait_for_lines(&w.path("logs/access.log"), 1);
    let out = w
        .cmd()
        .args(["analyze", "logs/access.log", "--out", "report"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 hit(s) of minted tokens were answered 404 by nginx: its maps were older"),
        "{err}"
    );
    let index = std::fs::read_to_string(w.path("report/index.html")).unwrap();
    assert!(
        index.contains("were answered 404 by nginx"),
        "the report says so too"
    );
}

/// Debian's stock nginx.conf with its paths moved into `prefix` and its includes of conf.d and
/// sites-enabled replaced by `includes` (and `http_extra` at the top of http).
fn stock_nginx_conf(prefix: &Path, includes: &[&Path], http_extra: &str) -> PathBuf {
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let lines: String = includes
        .iter()
        .map(|p| format!("\tinclude \"{}\";\n", p.display()))
        .collect();
    assert!(DEBIAN_NGINX_CONF.contains("include /etc/nginx/conf.d/*.conf;"));
    let p = prefix.display();
    let conf = DEBIAN_NGINX_CONF
        .replace("user www-data;", "")
        .replace("pid /run/nginx.pid;", &format!("pid {p}/nginx.pid;"))
        .replace("/var/log/nginx", &format!("{p}/logs"))
        // Dynamic modules and the default site are the package's, not the test's.
        .replace("include /etc/nginx/modules-enabled/*.conf;", "")
        .replace("include /etc/nginx/sites-enabled/*;", "")
        .replace("include /etc/nginx/conf.d/*.conf;", &lines)
        .replace("http {", &format!("http {{\n{http_extra}"));
    let path = prefix.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

fn nginx_t(prefix: &Path, conf: &Path) -> String {
    let out = Command::new(util::nginx_binary())
        .arg("-t")
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(conf)
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "nginx -t failed:\n{err}");
    err
}

/// A config for one instance in `dir`, with `n` click tokens minted from a list.
fn instance(base: &str, name: &str, clicks: usize) -> Work {
    let w = Work::new();
    w.ok(&["init", "--base-url", base]);
    w.edit(
        "pxtrack.toml",
        "# instance = \"pxtrack\"",
        &format!("instance = \"{name}\""),
    );
    let list: String = (0..clicks).map(|i| format!("r{i}@example.org\n")).collect();
    std::fs::write(w.path("list.txt"), list).unwrap();
    w.ok(&[
        "mint",
        "click",
        "--campaign",
        "c",
        "--recipients",
        "list.txt",
        "https://example.org/x",
    ]);
    w
}

fn generate(w: &Work, port: u16, server_dir: Option<&Path>) -> String {
    let mut c = w.cmd();
    c.args([
        "nginx",
        "--out",
        "nginx",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .args(["--access-log", "logs/access.log"]);
    if let Some(d) = server_dir {
        c.arg("--server-dir").arg(d);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

#[test]
fn the_include_fits_any_nginx_conf_and_every_limit() {
    let root = tempfile::tempdir().unwrap();
    let (p1, p2) = (free_port(), free_port());
    // A base path of 120 bytes: the map's keys are tokens alone, so its length does not matter.
    let long_path = format!("/{}", "track-".repeat(20));
    let one = instance(
        &format!("http://127.0.0.1:{p1}{long_path}"),
        "pxtrack",
        100_000,
    );
    // A target exactly as long as nginx holds, with '$' in it.
    let limit = pxtrack::nginx::MAX_TARGET_CONFIG_BYTES;
    let dollar = "${pxtrack_dollar}".len();
    let head = "https://example.org/$";
    let at_limit = format!("{head}{}", "a".repeat(limit - (head.len() - 1 + dollar)));
    assert_eq!(
        pxtrack::nginx::target_config_bytes(&at_limit, "pxtrack"),
        limit
    );
    let mint_click = |target: &str| {
        one.run(&[
            "mint",
            "click",
            "--campaign",
            "c",
            "--recipient",
            "r",
            target,
        ])
    };
    succeeded(mint_click(&at_limit));
    let refused = mint_click(&format!("{at_limit}a"));
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(&format!("nginx reads at most {limit}")),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let err = generate(&one, p1, None);
    assert!(err.contains("100001 click token(s)"), "{err}");
    // nginx builds that map with its default sizes, more slowly than it could, and says so;
    // pxtrack passes the warning on with the setting that silences it.
    assert!(
        err.contains("could not build optimal map_hash")
            && err.contains("`map_hash_bucket_size 256;` and `map_hash_max_size 524288;`"),
        "{err}"
    );
    let two = instance(&format!("http://127.0.0.1:{p2}/news"), "news", 3);
    generate(&two, p2, None);
    let inc1 = one.path("nginx/pxtrack.conf");
    let inc2 = two.path("nginx/pxtrack.conf");
    let text2 = std::fs::read_to_string(&inc2).unwrap();
    assert!(
        text2.contains("log_format news ") && text2.contains("$news_click_key"),
        "{text2}"
    );

    let prefix = root.path().join("prefix");
    for w in [&one, &two] {
        std::fs::create_dir_all(w.path("logs")).unwrap();
    }
    // Debian's stock nginx.conf.
    nginx_t(&prefix, &stock_nginx_conf(&prefix, &[&inc1], ""));
    // One that already sets the map hash sizes, to what pxtrack advised: no duplicate directive,
    // and no warning.
    let err = nginx_t(
        &prefix,
        &stock_nginx_conf(
            &prefix,
            &[&inc1],
            "\tmap_hash_bucket_size 256;\n\tmap_hash_max_size 524288;\n",
        ),
    );
    assert!(!err.contains("[warn]"), "{err}");
    // Two pxtrack instances side by side.
    nginx_t(&prefix, &stock_nginx_conf(&prefix, &[&inc1, &inc2], ""));

    // The long prefix and the target at the limit are served by the real nginx.
    let rows = pxtrack::manifest::read(&one.path("manifest.csv")).unwrap();
    let limit_token = &rows.iter().find(|r| r.target == at_limit).unwrap().token;
    let first_token = &rows[0].token;
    {
        std::fs::create_dir_all(one.path("logs")).unwrap();
        let _n = Nginx::start(&one.path("prefix"), p1, &inc1, "");
        let r = request(p1, "GET", &format!("{long_path}/c/{limit_token}"), &[]);
        assert_eq!(r.status, 302);
        assert_eq!(r.header("Location"), Some(at_limit.as_bytes()));
        let r = request(p1, "GET", &format!("{long_path}/c/{first_token}"), &[]);
        assert_eq!(r.status, 302);
    }

    // --server-dir: the files name the server's directory, never the laptop's.
    let server = root.path().join("srv/pxtrack");
    let err = generate(&two, p2, Some(&server));
    assert!(err.contains("for "), "{err}");
    let laptop = two.path("nginx").display().to_string();
    for f in ["pxtrack.conf", "locations.conf"] {
        let text = std::fs::read_to_string(two.path("nginx").join(f)).unwrap();
        assert!(
            !text.contains(&laptop),
            "{f} names the laptop's directory:\n{text}"
        );
        assert!(text.contains(&server.display().to_string()), "{f}:\n{text}");
    }
    // Copied to the server, it passes there.
    copy_dir(&two.path("nginx"), &server);
    nginx_t(
        &prefix,
        &stock_nginx_conf(&prefix, &[&server.join("pxtrack.conf")], ""),
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// nginx's reopen (`kill -USR1`), as Debian's `invoke-rc.d nginx rotate` sends it.
fn reopen_logs(nginx: &Nginx) {
    let status = Command::new("kill")
        .arg("-USR1")
        .arg(nginx.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_rotated_log_is_kept_and_analyze_reads_both() {
    let w = Work::new();
    let port = free_port();
    w.ok(&["init", "--base-url", &format!("http://127.0.0.1:{port}")]);
    w.edit(
        "pxtrack.toml",
        "logs = [\"/var/log/pxtrack/access.log\"]",
        "logs = [\"logs/access.log\"]",
    );
    let pixel = mint_pixel(&w);
    std::fs::create_dir_all(w.path("logs")).unwrap();
    generate(&w, port, None);
    let nginx = Nginx::start(&w.path("prefix"), port, &w.path("nginx/pxtrack.conf"), "");
    assert_eq!(
        request(port, "GET", &format!("/o/{pixel}.png"), &[]).status,
        200
    );
    wait_for_lines(&w.path("logs/access.log"), 1);
    // What cron.daily does: rotate with the generated file, then nginx reopens its log.
    let out = tool("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(w.path("logrotate.state"))
        .arg(w.path("nginx/logrotate.conf"))
        .output()
        .unwrap();
    succeeded(out);
    reopen_logs(&nginx);
    let rotated: Vec<String> = std::fs::read_dir(w.path("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("access.log-"))
        .collect();
    assert_eq!(rotated.len(), 1, "one dated rotation: {rotated:?}");
    let day = &rotated[0]["access.log-".len()..];
    assert!(
        day.len() == 8 && day.bytes().all(|b| b.is_ascii_digit()),
        "{rotated:?}"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        request(port, "GET", &format!("/o/{pixel}.png"), &[]).status,
        200
    );
    wait_for_lines(&w.path("logs/access.log"), 1);
    drop(nginx);
    // With no path, analyze reads the log and its dated rotation.
    let out = w.ok(&["analyze", "--out", "report"]);
    assert!(out.contains("read 2 files, 2 lines: 2 hits"), "{out}");
}

#[test]
fn the_logrotate_file_passes_logrotate_and_keeps_what_it_says() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "http://127.0.0.1:8080"]);
    let logs = w.path("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("access.log"), "pxt1\n").unwrap();
    let check = |expect: &[&str]| {
        w.ok(&[
            "nginx",
            "--out",
            "nginx",
            "--listen",
            "127.0.0.1:8080",
            "--access-log",
            "logs/access.log",
        ]);
        let conf = w.path("nginx/logrotate.conf");
        let text = std::fs::read_to_string(&conf).unwrap();
        for e in expect {
            assert!(text.contains(e), "{e:?} in\n{text}");
        }
        assert!(!text.contains("copytruncate"), "{text}");
        let out = tool("logrotate")
            .arg("-d")
            .arg("-s")
            .arg(w.path("logrotate.state"))
            .arg(&conf)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "logrotate -d failed:\n{err}");
        assert!(!err.contains("error:"), "{err}");
        assert!(err.contains("access.log"), "{err}");
    };
    check(&[
        "rotate -1",
        "create 0640 www-data adm",
        "dateext",
        "compress",
    ]);
    w.edit(
        "pxtrack.toml",
        "# keep_logs_days = 730",
        "keep_logs_days = 400",
    );
    check(&["rotate 400", "maxage 400"]);
}
