//! `pxtrack rewrite` through the real binary: a table-layout newsletter with an Outlook VML
//! button, every kind of link a template carries, merge fields from a spreadsheet's CSV; the
//! bytes outside the rewritten hrefs unchanged, every tracked target the URL a browser would
//! open, and, through a real nginx, every tracked URL redirecting to exactly it.

mod util;

use std::collections::HashMap;

use util::{Nginx, Work, free_port, request, succeeded};

const NEWSLETTER: &str = include_str!("data/templates/newsletter.html");

/// `html` without its `href` attributes (any quoting), pxtrack's own attributes and the pixel:
/// what must be the same before and after the rewrite.
fn without_rewritten_parts(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    // The pixel: one <img> pointing at /o/.
    while let Some(i) = rest.find("<img src=\"http://127.0.0.1:") {
        if rest[i..].contains("/o/") {
            let end = rest[i..].find('>').unwrap() + i + 1;
            out.push_str(&rest[..i]);
            rest = &rest[end..];
        } else {
            break;
        }
    }
    out.push_str(rest);
    strip_attrs(&out)
}

fn strip_attrs(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let bytes = html.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let tail = &html[i..];
        let lower = tail.get(..20).unwrap_or(tail).to_ascii_lowercase();
        let attr = ["href=", "data-pxtrack-label=", "data-pxtrack="]
            .iter()
            .find(|a| lower.starts_with(**a) && i > 0 && bytes[i - 1].is_ascii_whitespace());
        if let Some(a) = attr {
            let mut j = i + a.len();
            match bytes[j] {
                q @ (b'"' | b'\'') => {
                    j += 1;
                    while bytes[j] != q {
                        j += 1;
                    }
                    j += 1;
                }
                _ => {
                    while j < bytes.len() && !bytes[j].is_ascii_whitespace() && bytes[j] != b'>' {
                        j += 1;
                    }
                }
            }
            // Drop the whitespace before the attribute too: removing one leaves its own.
            while out.ends_with([' ', '\t']) {
                out.pop();
            }
            i = j;
            continue;
        }
        let c = tail.chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[test]
fn a_newsletter_is_tracked_link_by_link_and_nothing_else_changes() {
    let w = Work::new();
    let port = free_port();
    w.ok(&["init", "--base-url", &format!("http://127.0.0.1:{port}")]);
    std::fs::write(w.path("news.html"), NEWSLETTER).unwrap();
    // A spreadsheet's export: BOM, CRLF, the address in an "Email" column.
    std::fs::write(
        w.path("list.csv"),
        "\u{feff}First_Name,Email\r\nAna,ana@example.org\r\nBob <b>,bob@example.org\r\n",
    )
    .unwrap();
    let rewrite = |extra: &[&str]| {
        let mut args = vec![
            "rewrite",
            "news.html",
            "--campaign",
            "autumn",
            "--recipients",
            "list.csv",
            "--out",
            "outbox",
        ];
        args.extend_from_slice(extra);
        w.ok(&args)
    };
    let plan = rewrite(&["--dry-run"]);
    assert!(!w.path("outbox").exists(), "a dry run writes nothing");
    let manifest_before = std::fs::read(w.path("manifest.csv")).unwrap();
    assert_eq!(
        pxtrack::manifest::read(&w.path("manifest.csv"))
            .unwrap()
            .len(),
        0,
        "and mints nothing"
    );
    assert!(plan.starts_with("6 link(s) would be tracked"), "{plan}");
    rewrite(&[]);
    assert_ne!(
        std::fs::read(w.path("manifest.csv")).unwrap(),
        manifest_before
    );
    let rows = pxtrack::manifest::read(&w.path("manifest.csv")).unwrap();
    let messages = std::fs::read_to_string(w.path("outbox/messages.csv")).unwrap();
    let lines: Vec<&str> = messages.lines().collect();
    assert_eq!(
        lines[0],
        "recipient,file,message_id,subject,links_tracked,links_left_alone"
    );
    assert_eq!(lines.len(), 3, "{messages}");
    assert!(
        lines[1].starts_with("ana@example.org,0001-ana-example.org.html,<"),
        "{messages}"
    );
    // The VML button in Outlook's conditional comment links where its HTML twin does: tracked.
    assert!(
        lines[1].ends_with(",Autumn at Example & Co,7,9"),
        "{messages}"
    );

    // Every token of a copy names the message it went out in.
    let ana_message = lines[1].split(',').nth(2).unwrap();
    assert!(ana_message.starts_with('<') && ana_message.ends_with('>'));
    let ana_rows: Vec<_> = rows
        .iter()
        .filter(|r| r.recipient == "ana@example.org")
        .collect();
    assert_eq!(ana_rows.len(), 7, "one pixel and six links");
    assert!(ana_rows.iter().all(|r| r.message == ana_message));
    let expected_targets = [
        (
            "Read the autumn story",
            "https://example.com/autumn?utm_source=news&utm_medium=email",
        ),
        ("See pricing", "https://example.com/pricing"),
        (
            "Wiki",
            "https://example.com/wiki/Rust_(programming_language)",
        ),
        (
            "Unquoted",
            "https://example.com/people/@ana?tags[]=a&tags[]=b",
        ),
        ("Docs", "https://example.com/docs"),
        ("link-14", "https://example.com/area"),
    ];
    let mut redirects: Vec<(String, String)> = Vec::new();
    for (who, first_name_html) in [("ana", "Ana"), ("bob", "Bob &lt;b&gt;")] {
        let file = w.path(&format!(
            "outbox/000{}-{who}-example.org.html",
            if who == "ana" { 1 } else { 2 }
        ));
        let out = std::fs::read_to_string(&file).unwrap();
        // The merge field, escaped; nothing else of the template changed but the hrefs.
        let merged = NEWSLETTER.replace("{{ first_name }}", first_name_html);
        assert_eq!(without_rewritten_parts(&out), strip_attrs(&merged), "{who}");
        assert_eq!(out.matches("/o/").count(), 1, "one pixel: {who}");
        let pricing = rows
            .iter()
            .find(|r| r.recipient == format!("{who}@example.org") && r.label == "See pricing")
            .unwrap();
        assert!(out.contains(&format!(
            "<v:roundrect xmlns:v=\"urn:schemas-microsoft-com:vml\" \
             href=\"http://127.0.0.1:{port}/c/{}\"",
            pricing.token
        )));
        assert!(!out.contains("example.org"), "no address in any URL: {who}");
        assert!(!out.contains("data-pxtrack"), "{who}");
        let mine: HashMap<&str, &pxtrack::manifest::ManifestRow> = rows
            .iter()
            .filter(|r| {
                r.recipient == format!("{who}@example.org")
                    && r.kind == pxtrack::token::TokenKind::Click
            })
            .map(|r| (r.label.as_str(), r))
            .collect();
        assert_eq!(mine.len(), expected_targets.len(), "{who}: {mine:?}");
        for (label, target) in expected_targets {
            let row = mine
                .get(label)
                .unwrap_or_else(|| panic!("{who}: no {label}"));
            assert_eq!(row.target, target, "{who} {label}");
            let url = format!("http://127.0.0.1:{port}/c/{}", row.token);
            assert!(out.contains(&url), "{who}: {label} not in the copy");
            redirects.push((format!("/c/{}", row.token), target.to_string()));
        }
        // Left alone, as written.
        for kept in [
            "href=\"https://example.com/account\"",
            "href=\"https://example.com/promo\" clicktracking=off",
            "href=\"mailto:hello@example.com?subject=Hi\"",
            "href=\"tel:+3212345678\"",
            "href=\"#top\"",
            "href=\"/relative/path\"",
            "href=\"*|UNSUB|*\"",
            "href=\"https://example.com/view?id=%%view_id%%\"",
            "href=\"https://example.com/unsubscribe?list=autumn\"",
            "href=\"https://example.com/mail.css\"",
        ] {
            assert!(out.contains(kept), "{who}: {kept} changed");
        }
    }

    // Through a real nginx, every tracked URL goes exactly where the link went.
    std::fs::create_dir_all(w.path("logs")).unwrap();
    w.ok(&[
        "nginx",
        "--out",
        "nginx",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--access-log",
        "logs/access.log",
    ]);
    let _nginx = Nginx::start(&w.path("prefix"), port, &w.path("nginx/pxtrack.conf"), "");
    for (path, target) in &redirects {
        let r = request(port, "GET", path, &[]);
        assert_eq!(r.status, 302, "{path}");
        assert_eq!(r.header("Location"), Some(target.as_bytes()), "{path}");
    }
}

#[test]
fn an_unknown_merge_field_names_itself_and_its_line_and_no_merge_leaves_it() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "http://127.0.0.1:8080"]);
    std::fs::write(w.path("t.html"), "<p>Hi</p>\n<p>{{ company }}</p>\n").unwrap();
    let out = rewrite_for_ana(&w, "t.html", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("t.html: line 2: {{company}} names no column of the recipient list"),
        "{err}"
    );
    assert!(!w.path("o").exists());
    assert_eq!(
        pxtrack::manifest::read(&w.path("manifest.csv"))
            .unwrap()
            .len(),
        0
    );
    succeeded(rewrite_for_ana(&w, "t.html", &["--no-merge"]));
    let copy = std::fs::read_to_string(w.path("o/0001-ana-example.org.html")).unwrap();
    assert!(copy.contains("{{ company }}"), "{copy}");
}

/// `pxtrack rewrite TEMPLATE --campaign c --recipient ana@example.org --out o EXTRA...`.
fn rewrite_for_ana(w: &Work, template: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "rewrite",
        template,
        "--campaign",
        "c",
        "--recipient",
        "ana@example.org",
        "--out",
        "o",
    ];
    args.extend_from_slice(extra);
    w.run(&args)
}

const ANNOUNCEMENT: &[u8] = include_bytes!("data/templates/announcement.eml");

/// The Python of the test command's virtual environment (aiosmtpd, the email package).
fn python() -> std::path::PathBuf {
    match std::env::var_os("PXTRACK_TEST_PYTHON") {
        Some(p) if std::path::Path::new(&p).is_file() => p.into(),
        _ => panic!(
            "PXTRACK_TEST_PYTHON is not set to a Python with aiosmtpd: run scripts/test, which \
             makes target/test-venv"
        ),
    }
}

#[test]
fn a_message_is_rewritten_part_by_part_and_arrives_through_smtp() {
    let w = Work::new();
    let port = free_port();
    w.ok(&["init", "--base-url", &format!("http://127.0.0.1:{port}")]);
    std::fs::write(w.path("a.eml"), ANNOUNCEMENT).unwrap();
    std::fs::write(w.path("l.csv"), "email,name\nana@example.org,Ana\n").unwrap();
    w.ok(&[
        "rewrite",
        "a.eml",
        "--campaign",
        "news",
        "--recipients",
        "l.csv",
        "--out",
        "outbox",
    ]);
    let out = std::fs::read(w.path("outbox/0001-ana-example.org.eml")).unwrap();
    let text = String::from_utf8_lossy(&out);
    // Headers: To and Message-ID are the copy's, the Subject merged, the rest as they were.
    assert!(text.starts_with("From: Cara Example <cara@example.com>\nTo: ana@example.org\nSubject: News for Ana\nDate: Mon, 30 Nov 2026 09:00:00 +0000\nMessage-ID: <"), "{text}");
    assert!(!text.contains("template-1@example.com"));
    // The attachment and the structure, byte for byte.
    let tail = |b: &[u8]| {
        let s = String::from_utf8_lossy(b).into_owned();
        s[s.find("--alt--").unwrap()..].to_string()
    };
    assert_eq!(tail(&out), tail(ANNOUNCEMENT));
    // The plain part: the merge field filled, still quoted-printable.
    assert!(text.contains("Hi Ana, read it at https://example.com/news?id=3D1 =E2=80=94 Cara"));
    let rows = pxtrack::manifest::read(&w.path("manifest.csv")).unwrap();
    let click = rows
        .iter()
        .find(|r| r.kind == pxtrack::token::TokenKind::Click)
        .unwrap();
    assert_eq!(click.target, "https://example.com/news?id=1&lang=fr");
    assert_eq!(click.label, "Read the news");
    let messages = std::fs::read_to_string(w.path("outbox/messages.csv")).unwrap();
    assert!(messages.contains(",News for Ana,1,1\n"), "{messages}");

    // A real SMTP exchange on loopback: aiosmtpd receives what msmtp sends from the file.
    let smtp_port = free_port();
    let spool = w.path("spool");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(
        w.path("server.py"),
        "import os, sys\nfrom aiosmtpd.controller import Controller\n\
         class Handler:\n    async def handle_DATA(self, server, session, envelope):\n        \
         open(os.path.join(sys.argv[2], 'received.eml'), 'wb').write(envelope.content)\n        \
         open(os.path.join(sys.argv[2], 'rcpt.txt'), 'w').write(' '.join(envelope.rcpt_tos))\n        \
         return '250 OK'\n\
         c = Controller(Handler(), hostname='127.0.0.1', port=int(sys.argv[1]))\nc.start()\n\
         print('ready', flush=True)\nsys.stdin.read()\nc.stop()\n",
    )
    .unwrap();
    let mut server = std::process::Command::new(python())
        .arg(w.path("server.py"))
        .arg(smtp_port.to_string())
        .arg(&spool)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::BufRead as _;
        let mut line = String::new();
        std::io::BufReader::new(server.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
    }
    let msmtp = ["/usr/bin/msmtp", "/usr/local/bin/msmtp"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("msmtp is not installed: run scripts/test, which installs it");
    let sent = std::process::Command::new(msmtp)
        .args(["--host=127.0.0.1", &format!("--port={smtp_port}")])
        .args(["--auth=off", "--tls=off", "--from=cara@example.com", "-t"])
        .stdin(std::fs::File::open(w.path("outbox/0001-ana-example.org.eml")).unwrap())
        .output()
        .unwrap();
    drop(server.stdin.take());
    let _ = server.wait();
    assert!(
        sent.status.success(),
        "msmtp: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(spool.join("rcpt.txt")).unwrap(),
        "ana@example.org",
        "sendmail -t semantics: the recipient from To:"
    );
    // What arrived, read by Python's email package.
    std::fs::write(
        w.path("read.py"),
        "import email, json, sys\nfrom email import policy\n\
         m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)\n\
         html = m.get_body(('html',)).get_content()\n\
         print(json.dumps({'to': m['To'], 'subject': m['Subject'], 'html': html, \
         'attachments': [a.get_filename() for a in m.iter_attachments()]}))\n",
    )
    .unwrap();
    let read = std::process::Command::new(python())
        .arg(w.path("read.py"))
        .arg(spool.join("received.eml"))
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(got["to"], "ana@example.org");
    assert_eq!(got["subject"], "News for Ana");
    assert_eq!(got["attachments"], serde_json::json!(["leaflet.pdf"]));
    let html = got["html"].as_str().unwrap();
    assert!(
        html.contains(&format!("http://127.0.0.1:{port}/c/{}", click.token)),
        "{html}"
    );
    assert!(
        html.contains("caf\u{e9} news"),
        "the charset survived: {html}"
    );
    let open = rows
        .iter()
        .find(|r| r.kind == pxtrack::token::TokenKind::Open)
        .unwrap();
    assert_eq!(
        html.matches(&format!("/o/{}.png", open.token)).count(),
        1,
        "one pixel"
    );
}

#[test]
fn a_dkim_signed_message_is_refused_and_nothing_is_minted() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "http://127.0.0.1:8080"]);
    let signed = [
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; b=abc\n".as_slice(),
        ANNOUNCEMENT,
    ]
    .concat();
    std::fs::write(w.path("s.eml"), signed).unwrap();
    let out = rewrite_for_ana(&w, "s.eml", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is DKIM-signed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!w.path("o").exists());
    assert_eq!(
        pxtrack::manifest::read(&w.path("manifest.csv"))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn a_personal_message_from_thunderbird_keeps_its_crlf_and_base64() {
    let original: &[u8] = include_bytes!("data/templates/personal.eml");
    let w = Work::new();
    w.ok(&["init", "--base-url", "http://127.0.0.1:8080"]);
    std::fs::write(w.path("p.eml"), original).unwrap();
    w.ok(&[
        "rewrite",
        "p.eml",
        "--campaign",
        "photos",
        "--recipient",
        "bob@example.net",
        "--out",
        "o",
    ]);
    let out = std::fs::read(w.path("o/0001-bob-example.net.eml")).unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(!text.replace("\r\n", "").contains('\n'), "CRLF throughout");
    assert!(text.contains("\r\nTo: bob@example.net\r\n"), "{text}");
    // The plain part: merged, 7bit, as it was around the merge field.
    assert!(text.contains("Hi bob@example.net,\r\n\r\nthe photos are here:\r\nhttps://photos.example.com/album/2026?key=a&b=%C3%A9\r\n"), "{text}");
    // The HTML part, base64 in 76-column lines, decodes to the rewritten HTML.
    let b64 = text
        .split("Content-Transfer-Encoding: base64\r\n\r\n")
        .nth(1)
        .unwrap()
        .split("\r\n--------------")
        .next()
        .unwrap();
    assert!(b64.lines().all(|l| l.len() <= 76));
    use base64::Engine as _;
    let html = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64.replace("\r\n", ""))
            .unwrap(),
    )
    .unwrap();
    let rows = pxtrack::manifest::read(&w.path("manifest.csv")).unwrap();
    let click = rows
        .iter()
        .find(|r| r.kind == pxtrack::token::TokenKind::Click)
        .unwrap();
    assert_eq!(
        click.target,
        "https://photos.example.com/album/2026?key=a&b=%C3%A9"
    );
    assert!(html.contains(&format!("href=\"http://127.0.0.1:8080/c/{}\"", click.token)));
    assert!(html.contains("<p>Hi bob@example.net,</p>"), "{html}");
    assert!(
        html.contains("Ana \u{2014} sent from Thunderbird"),
        "{html}"
    );
    // Everything before the HTML part's body, but the To line, as it was.
    let head = |b: &[u8]| {
        let s = String::from_utf8_lossy(b).into_owned();
        let cut = s.find("Content-Transfer-Encoding: base64").unwrap();
        s[..cut]
            .lines()
            .filter(|l| {
                !l.starts_with("To:") && !l.starts_with("Message-ID:") && !l.starts_with("Hi ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(head(&out), head(original));
}

#[test]
fn text_links_tracks_the_urls_of_the_plain_part_too() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "http://127.0.0.1:8080"]);
    std::fs::write(w.path("a.eml"), ANNOUNCEMENT).unwrap();
    w.ok(&[
        "rewrite",
        "a.eml",
        "--campaign",
        "news",
        "--recipient",
        "ana@example.org",
        "--out",
        "o",
        "--no-merge",
        "--text-links",
    ]);
    let rows = pxtrack::manifest::read(&w.path("manifest.csv")).unwrap();
    let text_link = rows.iter().find(|r| r.label == "text link").unwrap();
    assert_eq!(text_link.target, "https://example.com/news?id=1");
    let out = std::fs::read(w.path("o/0001-ana-example.org.eml")).unwrap();
    let m = String::from_utf8_lossy(&out).replace("=\n", "");
    assert!(
        m.contains(&format!(
            "read it at http://127.0.0.1:8080/c/{} =E2=80=94 Cara",
            text_link.token
        )),
        "{m}"
    );
}

#[test]
fn per_recipient_links_are_one_link_and_without_recipient_detail_no_address_appears() {
    let w = Work::new();
    let port = free_port();
    w.ok(&["init", "--base-url", &format!("http://127.0.0.1:{port}")]);
    w.edit(
        "pxtrack.toml",
        "recipient_detail = true",
        "recipient_detail = false",
    );
    std::fs::write(
        w.path("t.html"),
        "<body><a href=\"https://example.com/prefs?who={{recipient}}\">Preferences</a></body>",
    )
    .unwrap();
    let list: String = (0..5).map(|i| format!("p{i}@example.org\n")).collect();
    std::fs::write(w.path("list.txt"), list).unwrap();
    w.ok(&[
        "rewrite",
        "t.html",
        "--campaign",
        "c",
        "--recipients",
        "list.txt",
        "--out",
        "o",
    ]);
    std::fs::create_dir_all(w.path("logs")).unwrap();
    w.ok(&[
        "nginx",
        "--out",
        "nginx",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--access-log",
        "logs/access.log",
    ]);
    let rows = pxtrack::manifest::read(&w.path("manifest.csv")).unwrap();
    let clicks: Vec<_> = rows
        .iter()
        .filter(|r| r.kind == pxtrack::token::TokenKind::Click)
        .collect();
    assert_eq!(clicks.len(), 5, "one token a recipient");
    {
        let _nginx = Nginx::start(&w.path("prefix"), port, &w.path("nginx/pxtrack.conf"), "");
        for r in &clicks {
            let resp = request(
                port,
                "GET",
                &format!("/c/{}", r.token),
                &[(
                    "User-Agent",
                    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                )],
            );
            assert_eq!(resp.status, 302);
        }
        util::wait_for_lines(&w.path("logs/access.log"), 5);
    }
    w.ok(&["analyze", "logs/access.log", "--out", "report"]);
    // One link in the report, named without anybody's address.
    let page = util::campaign_page(&w.path("report"));
    assert_eq!(
        page.matches("prefs?who={recipient}</span>").count(),
        1,
        "{page}"
    );
    for entry in std::fs::read_dir(w.path("report")).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert!(
            !text.contains("example.org"),
            "{} names a recipient",
            path.display()
        );
    }
}
