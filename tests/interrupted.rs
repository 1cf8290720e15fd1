//! A run killed half-way (SIGKILL: the OOM killer, a reboot, an impatient Ctrl-\) loses
//! nothing: the previous report stays whole, and the next run clears what the killed one left.

mod util;

use std::io::Write as _;
use std::time::{Duration, Instant};

use util::Work;

fn leftovers(w: &Work) -> Vec<String> {
    std::fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".building-") || n.contains(".old-") || n.contains(".tmp-"))
        .collect()
}

#[test]
#[cfg(unix)]
fn sigkill_of_analyze_leaves_the_previous_report_whole_and_the_next_run_clears_up() {
    let w = Work::new();
    w.ok(&["init", "--base-url", "https://t.example.com"]);
    let url = w.ok(&[
        "mint",
        "open",
        "--campaign",
        "c",
        "--recipient",
        "a@example.org",
    ]);
    let path = url.trim().trim_start_matches("https://t.example.com");
    let line = |i: u64| {
        format!(
            "192.0.2.{} - - [22/Nov/2026:{:02}:{:02}:{:02} +0000] \"GET {path} HTTP/1.1\" 200 67 \
             \"-\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 \
             Firefox/133.0\"\n",
            i % 250,
            i / 3600 % 24,
            i / 60 % 60,
            i % 60
        )
    };
    std::fs::write(w.path("small.log"), (0..10).map(line).collect::<String>()).unwrap();
    w.ok(&["analyze", "small.log", "--out", "report", "--quiet"]);
    let report = || -> Vec<(String, Vec<u8>)> {
        ["index.html", "events.csv", "summary.json"]
            .iter()
            .map(|f| {
                (
                    f.to_string(),
                    std::fs::read(w.path("report").join(f)).unwrap(),
                )
            })
            .collect()
    };
    let mut before = report();

    // A log long enough that the run is still reading when it is killed.
    let mut big = std::io::BufWriter::new(std::fs::File::create(w.path("big.log")).unwrap());
    for i in 0..600_000 {
        big.write_all(line(i).as_bytes()).unwrap();
    }
    big.flush().unwrap();
    drop(big);

    let mut killed = 0;
    for delay_ms in [300, 1500] {
        let mut child = w
            .cmd()
            .args(["analyze", "big.log", "--out", "report", "--quiet"])
            .spawn()
            .unwrap();
        let building = format!(".report.building-{}", child.id());
        let start = Instant::now();
        while !w.path(&building).exists() && start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SIGKILL: nothing of the process runs after it.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        if status.success() {
            // The machine was faster than the log is long; the kill came after the end.
            continue;
        }
        killed += 1;
        for ((f, was), (_, is)) in before.iter().zip(report()) {
            assert!(
                was == &is,
                "report/{f} changed after a kill at {delay_ms} ms"
            );
        }
        assert!(!leftovers(&w).is_empty(), "the kill left nothing to clear");
        // The next run clears what the killed one left.
        w.ok(&["analyze", "small.log", "--out", "report", "--quiet"]);
        assert_eq!(leftovers(&w), Vec::<String>::new());
        let after = report();
        assert!(after[1] == before[1], "events.csv of the same log differs");
        before = after;
    }
    assert!(
        killed > 0,
        "every run ended before its kill: make the log longer"
    );
}
