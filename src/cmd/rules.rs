//! `pxtrack rules`: print the classification rules in force, in the order they are checked.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Result;
use pxtrack::rules::{Certainty, ListCopy, Rules, STALE_AFTER_DAYS, Scope};

use super::{load_config_if_any, terminal_safe};

pub fn run(config_flag: Option<&Path>) -> Result<()> {
    // Without a config, the built-in rules are still worth showing; a config that was named
    // must exist.
    let (rules, internal) = if let Some(config) = load_config_if_any(config_flag)? {
        let rules = Rules::load_with_lists(
            config.classify.rules.as_deref(),
            config.classify.apple_relay_egress.as_deref(),
            &config.classify.lists,
        )?;
        (rules, config.analyze.internal_networks)
    } else {
        (Rules::builtin(), Vec::new())
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let w = rules.windows;
    writeln!(
        out,
        "windows: delivery {} s, burst {} s, probe {} s, instant click {} s",
        w.delivery_secs, w.burst_secs, w.probe_secs, w.instant_secs
    )?;
    let nets: Vec<String> = internal.iter().map(|n| n.to_string()).collect();
    writeln!(
        out,
        "internal networks: {}",
        if nets.is_empty() {
            "none".to_string()
        } else {
            nets.join(" ")
        }
    )?;
    writeln!(
        out,
        "\nnetworks ({} prefixes; longest prefix wins):",
        rules.network_count
    )?;
    for n in &rules.nets {
        writeln!(
            out,
            "  {:<10} {:<8} {:<6} {:<11} {:<8} -> {}/{}{}  {}",
            n.outcome.origin.as_str(),
            n.certainty.as_str(),
            n.scope.as_str(),
            n.user_agent.as_str(),
            n.window.as_str(),
            n.outcome.class.as_str(),
            n.outcome.detail,
            if n.outcome.machine_open {
                " (machine open)"
            } else {
                ""
            },
            terminal_safe(&n.matches),
        )?;
    }
    let today = chrono::Utc::now().date_naive();
    writeln!(
        out,
        "\npublished lists (refresh one with [classify.lists] NAME = \"FILE\", as downloaded):"
    )?;
    let mut stale = Vec::new();
    for l in rules.lists() {
        let when = match (l.taken, l.age_days(today)) {
            (Some(t), Some(age)) => format!("{t} ({age} days old)"),
            _ => "not shipped".to_string(),
        };
        let copy = match &l.copy {
            ListCopy::Builtin if l.networks == 0 => "no copy".to_string(),
            ListCopy::Builtin => "built-in copy".to_string(),
            ListCopy::File(p) => terminal_safe(&p.display().to_string()),
        };
        writeln!(
            out,
            "  {:<31} {:<24} {:>5} networks  {}  {} ({})",
            terminal_safe(&l.name),
            when,
            l.networks,
            copy,
            terminal_safe(&l.url),
            l.format.as_str(),
        )?;
        if l.is_stale(today) {
            stale.push(l);
        }
    }
    writeln!(out, "\nuser agents (first match wins):")?;
    for r in &rules.user_agents {
        writeln!(
            out,
            "  {:<10} {:<17} {:<60} -> {}/{}{}{}{}",
            r.outcome.origin.as_str(),
            r.kind.as_str(),
            terminal_safe(&format!("{:?}", r.pattern)),
            r.outcome.class.as_str(),
            r.outcome.detail,
            if r.outcome.machine_open {
                " (machine open)"
            } else {
                ""
            },
            if r.outcome.certainty == Certainty::Probable {
                " (probable)"
            } else {
                ""
            },
            match r.scope {
                Scope::Both => "",
                Scope::Opens => " (pixel loads only)",
                Scope::Clicks => " (clicks only)",
            },
        )?;
    }
    writeln!(
        out,
        "\nthen: networks with window delivery, within the delivery window; a bare Apple WebKit \
         pixel load within the delivery window of its send (sends.csv) -> proxy/apple-mpp \
         (probable); any method but GET -> bot/unexpected-method; HEAD -> bot/head-request; \
         Sec-Purpose or Purpose prefetch -> bot/prefetch; a click right after a forged one from \
         the same address -> scanner/link-probe (probable); a click within the instant window of \
         its send -> scanner/at-delivery (probable); repeats within duplicate_window_secs -> \
         duplicate; the rest -> human/direct (probable); finally, bursts of different links of \
         one message -> scanner/click-burst (probable)"
    )?;
    out.flush()?;
    for l in stale {
        eprintln!(
            "pxtrack: warning: the list {} is from {}, more than {STALE_AFTER_DAYS} days ago: \
             download {} again and name the file in the config, [classify.lists] {} = \"FILE\"",
            terminal_safe(&l.name),
            l.taken.map(|t| t.to_string()).unwrap_or_default(),
            terminal_safe(&l.url),
            terminal_safe(&l.name),
        );
    }
    Ok(())
}
