//! Shared helpers for the integration tests: a work directory, the real binary, a real nginx on
//! 127.0.0.1 and a raw HTTP/1.1 client that shows headers byte for byte.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A temporary work directory with the pxtrack binary at hand.
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Self {
        Work {
            dir: tempfile::Builder::new()
                .prefix("pxtrack-test-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `pxtrack ARGS` with the work dir's config; panics with stderr when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "pxtrack {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `pxtrack ARGS` with one more environment variable set; panics with stderr when it fails.
    pub fn ok_with_env(&self, (name, value): (&str, &str), args: &[&str]) -> String {
        let out = self.cmd().env(name, value).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{name}={value} pxtrack {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `pxtrack ARGS`, whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pxtrack"));
        c.current_dir(self.dir.path())
            .env("PXTRACK_CONFIG", self.path("pxtrack.toml"))
            .env_remove("PXTRACK_KEY");
        c
    }

    /// Replaces `from` with `to` in a file of the work dir (config edits).
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let p = self.path(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{rel} has no {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
}

/// The nginx binary: `$PXTRACK_NGINX`, else `nginx` on PATH or in /usr/sbin. A missing nginx is
/// a test failure, never a skip: the README's test command installs it.
pub fn nginx_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("PXTRACK_NGINX") {
        return PathBuf::from(p);
    }
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = Path::new(dir).join("nginx");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "nginx is not installed: the end-to-end tests need Debian's nginx \
         (`apt-get install nginx`, or run scripts/test, which installs it)"
    );
}

/// The token at the end of a minted URL (`.../o/TOKEN.png`, `.../c/TOKEN`).
pub fn token_of(url: &str) -> String {
    let last = url.trim().rsplit('/').next().unwrap();
    last.trim_end_matches(".png").to_string()
}

/// Mints a pixel for ana@example.org in `w`: its token.
pub fn mint_pixel(w: &Work) -> String {
    token_of(&w.ok(&[
        "mint",
        "open",
        "--campaign",
        "c",
        "--recipient",
        "ana@example.org",
    ]))
}

/// A finished command's output, after checking that it succeeded (its stderr otherwise).
pub fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A port that was free a moment ago, and never handed to another test of this process: the
/// tests of one binary run at once, and two of them given the same port would each take the
/// other's nginx for theirs (a minted pixel answered 404 by the wrong server).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A running nginx with its own prefix directory; stopped when dropped, even on a failed test.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub prefix: PathBuf,
}

impl Nginx {
    /// Writes a minimal nginx.conf that includes `include` in its http block (plus `extra_http`),
    /// checks it with `nginx -t`, starts nginx in the foreground and waits for the port.
    pub fn start(prefix: &Path, port: u16, include: &Path, extra_http: &str) -> Nginx {
        Self::start_with_clock(prefix, port, include, extra_http, None)
    }

    /// As [`Nginx::start`], with nginx's clock driven by `clock` (libfaketime), so a test can
    /// send requests "an hour later" without waiting an hour.
    pub fn start_with_clock(
        prefix: &Path,
        port: u16,
        include: &Path,
        extra_http: &str,
        clock: Option<&Clock>,
    ) -> Nginx {
        std::fs::create_dir_all(prefix.join("logs")).unwrap();
        let p = prefix.display();
        // nginx clears its environment at start; `env` keeps libfaketime's settings visible.
        let env = if clock.is_some() {
            "env FAKETIME_TIMESTAMP_FILE;\nenv FAKETIME_NO_CACHE;\n"
        } else {
            ""
        };
        let conf = format!(
            "{env}error_log {p}/logs/error.log;\npid {p}/nginx.pid;\nevents {{ worker_connections 128; }}\n\
             http {{\n  client_body_temp_path {p}/body; proxy_temp_path {p}/proxy;\n  \
             fastcgi_temp_path {p}/fastcgi; uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n  \
             {extra_http}\n  include \"{}\";\n}}\n",
            include.display()
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let nginx = nginx_binary();
        let base_args = |c: &mut Command| {
            c.arg("-p")
                .arg(prefix)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(prefix.join("logs/error.log"));
        };
        let mut t = Command::new(&nginx);
        base_args(&mut t);
        let test = t.arg("-t").output().unwrap();
        assert!(
            test.status.success(),
            "nginx -t failed:\n{}",
            String::from_utf8_lossy(&test.stderr)
        );
        let mut c = Command::new(&nginx);
        base_args(&mut c);
        if let Some(clock) = clock {
            clock.apply(&mut c);
        }
        // Single process in the foreground: it runs as the test's user and dies with the guard.
        let child = c
            .args(["-g", "daemon off; master_process off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut n = Nginx {
            child,
            port,
            prefix: prefix.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // Listening, and by this nginx: a port answered by another process would make every
        // request of the test go to the wrong server.
        while TcpStream::connect(("127.0.0.1", port)).is_err() || !listens(n.child.id(), port) {
            if let Ok(Some(status)) = n.child.try_wait() {
                let mut err = String::new();
                if let Some(mut s) = n.child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                let log =
                    std::fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default();
                panic!("nginx exited ({status}) before listening:\n{err}\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }
}

/// Whether process `pid` holds a socket listening on TCP `port` (from /proc).
fn listens(pid: u32, port: u16) -> bool {
    let suffix = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[1].ends_with(&suffix) && f[3] == "0A" {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
    })
}

impl Nginx {
    /// The nginx process (one process: `master_process off`), for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `log` has at least `lines` lines: nginx writes a request's log line when it frees
/// the request, which for a lingering close can come after the client has seen the answer.
pub fn wait_for_lines(log: &Path, lines: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = std::fs::read(log)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0);
        if n >= lines {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {n} lines, expected {lines}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// libfaketime's preload library: Debian's `faketime` package. Missing is a failure, not a skip.
pub fn libfaketime() -> PathBuf {
    for p in [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    ] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "libfaketime is not installed: the timing scenarios need Debian's faketime package \
         (`apt-get install faketime`, or run scripts/test, which installs it)"
    );
}

/// A fake clock for the processes a test starts: a file holding `@YYYY-MM-DD HH:MM:SS` (UTC),
/// read by libfaketime at every time call.
pub struct Clock {
    file: PathBuf,
    lib: PathBuf,
}

impl Clock {
    /// A clock set to `start`, as `YYYY-MM-DD HH:MM:SS` UTC.
    pub fn new(dir: &Path, start: &str) -> Clock {
        let c = Clock {
            file: dir.join("faketime"),
            lib: libfaketime(),
        };
        c.set(start);
        c
    }

    /// Moves the clock to `at` (`YYYY-MM-DD HH:MM:SS`, UTC).
    pub fn set(&self, at: &str) {
        std::fs::write(&self.file, format!("@{at}\n")).unwrap();
    }

    /// Moves the clock to `start` plus `secs` seconds.
    pub fn set_offset(&self, start: &str, secs: i64) {
        let t = chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M:%S").unwrap()
            + chrono::Duration::seconds(secs);
        self.set(&t.format("%Y-%m-%d %H:%M:%S").to_string());
    }

    /// Makes a command run on this clock.
    pub fn apply(&self, c: &mut Command) {
        c.env("LD_PRELOAD", &self.lib)
            .env("FAKETIME_TIMESTAMP_FILE", &self.file)
            .env("FAKETIME_NO_CACHE", "1")
            .env("TZ", "UTC");
    }
}

/// A response, headers kept as raw bytes.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub fn header_str(&self, name: &str) -> Option<String> {
        self.header(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Sends raw bytes and reads the whole answer (the connection is closed by the request).
pub fn raw(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// An HTTP/1.1 request with `Connection: close`; `headers` are extra header lines.
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let bytes = raw(port, req.as_bytes());
    parse_response(&bytes, method == "HEAD")
}

fn parse_response(bytes: &[u8], head: bool) -> Response {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(bytes)));
    let head_text = &bytes[..end];
    let mut lines = head_text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = String::from_utf8_lossy(lines.next().unwrap()).into_owned();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let colon = l.iter().position(|&b| b == b':').unwrap();
            let name = String::from_utf8_lossy(&l[..colon]).into_owned();
            let mut v = &l[colon + 1..];
            while v.first() == Some(&b' ') {
                v = &v[1..];
            }
            (name, v.to_vec())
        })
        .collect();
    let body = if head {
        Vec::new()
    } else {
        bytes[end + 4..].to_vec()
    };
    Response {
        status,
        headers,
        body,
    }
}

/// Reads a CSV export (`events.csv`, `recipients.csv`...) into maps from column name to value.
pub fn read_events(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The first campaign page of a report directory.
pub fn campaign_page(report: &Path) -> String {
    let page = std::fs::read_dir(report)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("campaign-")
        })
        .expect("a campaign page");
    std::fs::read_to_string(page).unwrap()
}
