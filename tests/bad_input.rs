//! Bad input as data: every directory under `tests/data/bad-input/` is one input a user really
//! had that once made pxtrack do the wrong thing (its name says what broke), with the command,
//! the exit status and fragments of the message that must come out. One test runs them all
//! through the real binary, so a new case is a new directory, not new code.
//!
//! A case is `case.toml` and the files beside it, copied into a fresh work directory:
//!
//! ```toml
//! what = "what broke, in one line (the README's table is drawn from these)"
//! setup = "init"               # optional: `pxtrack init --base-url https://t.example.com` first
//! sh = "ln -s access.log b.log" # optional: a shell step in the work directory; $PXTRACK is the binary
//! args = ["analyze", "access.log"]
//! stdin = "access.log"         # optional: a file of the case fed to standard input
//! env = { HOME = "{work}" }    # optional; {work} is the work directory
//! unprivileged = true          # optional: run as `nobody` when the tests run as root (CI), so
//!                              # that a file of mode 000 is unreadable as it is for a user
//! status = 1
//! stderr = ["fragment"]        # each must appear; also `stdout`, and `stderr_lacks`
//! unchanged = ["manifest.csv"] # files whose bytes the command must not change
//! absent = ["report"]          # paths that must not exist afterwards; `exists` the opposite
//! [contains]                   # file -> fragments it must hold afterwards
//! "report/index.html" = ["This report is incomplete"]
//! ```

mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use serde::Deserialize;
use util::Work;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    what: String,
    #[serde(default)]
    setup: Option<String>,
    #[serde(default)]
    sh: Option<String>,
    args: Vec<String>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    unprivileged: bool,
    status: i32,
    #[serde(default)]
    stderr: Vec<String>,
    #[serde(default)]
    stdout: Vec<String>,
    #[serde(default)]
    stderr_lacks: Vec<String>,
    #[serde(default)]
    unchanged: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    exists: Vec<String>,
    #[serde(default)]
    contains: BTreeMap<String, Vec<String>>,
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "case.toml" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs one case; returns what went wrong, if anything.
fn run_case(dir: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(dir.join("case.toml")).map_err(|e| e.to_string())?;
    let case: Case = toml::from_str(&text).map_err(|e| format!("case.toml: {e}"))?;
    let w = Work::new();
    let work = w.dir.path().to_path_buf();
    let place = |s: &str| s.replace("{work}", &work.display().to_string());
    if let Some(setup) = &case.setup {
        match setup.as_str() {
            "init" => {
                w.ok(&["init", "--base-url", "https://t.example.com"]);
            }
            other => return Err(format!("unknown setup {other:?}")),
        }
    }
    copy_dir(dir, &work);
    if let Some(sh) = &case.sh {
        let out = std::process::Command::new("sh")
            .arg("-ec")
            .arg(sh)
            .current_dir(&work)
            .env("PXTRACK", env!("CARGO_BIN_EXE_pxtrack"))
            .env("PXTRACK_CONFIG", work.join("pxtrack.toml"))
            .output()
            .map_err(|e| format!("sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "the case's sh step failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let before: Vec<(String, Option<Vec<u8>>)> = case
        .unchanged
        .iter()
        .map(|f| (f.clone(), std::fs::read(work.join(f)).ok()))
        .collect();
    let mut cmd = if case.unprivileged && is_root() {
        // As `nobody`: the work directory must be open to it, and the key comes by variable
        // (pxtrack.key is root's, mode 0600).
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o777))
            .map_err(|e| e.to_string())?;
        let key = std::fs::read_to_string(work.join("pxtrack.key")).unwrap_or_default();
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_pxtrack"))
            .current_dir(&work)
            .env("PXTRACK_CONFIG", work.join("pxtrack.toml"))
            .env("PXTRACK_KEY", key);
        c
    } else {
        w.cmd()
    };
    cmd.args(case.args.iter().map(|a| place(a)));
    for (k, v) in &case.env {
        cmd.env(k, place(v));
    }
    match &case.stdin {
        Some(f) => cmd.stdin(std::fs::File::open(work.join(f)).map_err(|e| e.to_string())?),
        None => cmd.stdin(Stdio::null()),
    };
    let out = cmd.output().map_err(|e| e.to_string())?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let mut problems = Vec::new();
    if out.status.code() != Some(case.status) {
        problems.push(format!(
            "exit status {:?}, expected {}",
            out.status.code(),
            case.status
        ));
    }
    for f in &case.stderr {
        if !stderr.contains(&place(f)) {
            problems.push(format!("stderr lacks {f:?}"));
        }
    }
    for f in &case.stderr_lacks {
        if stderr.contains(&place(f)) {
            problems.push(format!("stderr holds {f:?}"));
        }
    }
    for f in &case.stdout {
        if !stdout.contains(&place(f)) {
            problems.push(format!("stdout lacks {f:?}"));
        }
    }
    for (f, bytes) in before {
        if std::fs::read(work.join(&f)).ok() != bytes {
            problems.push(format!("{f} was changed"));
        }
    }
    for f in &case.absent {
        if std::fs::symlink_metadata(work.join(f)).is_ok() {
            problems.push(format!("{f} exists"));
        }
    }
    for f in &case.exists {
        if std::fs::symlink_metadata(work.join(f)).is_err() {
            problems.push(format!("{f} does not exist"));
        }
    }
    for (f, fragments) in &case.contains {
        let text = std::fs::read_to_string(work.join(f)).unwrap_or_default();
        for frag in fragments {
            if !text.contains(&place(frag)) {
                problems.push(format!("{f} lacks {frag:?}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} ({})\n  {}\n  --- stdout\n{stdout}\n  --- stderr\n{stderr}",
            problems.join("; "),
            case.what,
            case.args.join(" ")
        ))
    }
}

#[test]
fn every_bad_input_gets_its_exit_status_and_message() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad-input");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 30,
        "only {} cases under {}",
        dirs.len(),
        root.display()
    );
    let mut failed = Vec::new();
    for dir in &dirs {
        if let Err(e) = run_case(dir) {
            failed.push(format!(
                "{}: {e}",
                dir.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    println!("{} bad-input cases, {} failed", dirs.len(), failed.len());
    assert!(failed.is_empty(), "\n{}", failed.join("\n\n"));
}
