//! `report.md`: the header, verdicts, Raft summary and faults as Markdown, with the PNG figures,
//! for a bug report or a pull request (the interactive timeline is in `index.html`).

use super::html::verdict_parts;
use super::{verdict_word, Analysis, COMMIT, VERSION};
use std::fmt::Write as _;

fn secs(d: std::time::Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// A table cell: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.lines().next().unwrap_or_default().replace('|', "\\|")
}

pub fn document(a: &Analysis) -> String {
    let d = a.data;
    let mut m = String::new();
    let _ = writeln!(m, "# detcd correctness report: {}\n", a.title());
    let _ = writeln!(m, "**{}** — {}\n", verdict_word(a.exit_code()), d.scenario.description);
    let _ = writeln!(m, "| | |\n|---|---|");
    let _ = writeln!(m, "| scenario | `{}` |", d.scenario.name);
    let _ = writeln!(m, "| seed | {} |", d.seed);
    let _ = writeln!(m, "| detcd | {VERSION} (commit `{COMMIT}`) |");
    let _ = writeln!(m, "| reproduce | `{}` |", a.reproduce());
    let _ = writeln!(m, "| nodes / duration | {} nodes, {:.1} s simulated |\n", d.scenario.nodes, d.scenario.duration_s);
    let _ = writeln!(m, "Derived options:\n\n```text\n{}```\n", d.header);
    let _ = writeln!(m, "## Checks\n\n| check | verdict | reason |\n|---|---|---|");
    for (name, v) in d.verdicts {
        let (_, word, reason) = verdict_parts(v);
        let _ = writeln!(m, "| {name} | {word} | {} |", cell(&reason));
    }
    for (name, v) in d.verdicts {
        let (_, _, reason) = verdict_parts(v);
        if reason.lines().count() > 1 {
            let _ = writeln!(m, "\n{name}, in full:\n\n```text\n{reason}\n```");
        }
    }
    let _ = writeln!(m, "\n## Terms and leaders\n\n![term and leader per node](raft.png)\n");
    let r = &a.raft;
    let _ = writeln!(
        m,
        "{} leader(s) elected, {} leader change(s), highest term {}. Time without a leader acknowledged by a majority: **{}** in {} stretch(es).\n",
        r.leaders_elected,
        r.leader_changes,
        r.max_term,
        secs(r.leaderless_total()),
        r.leaderless.len()
    );
    let _ = writeln!(m, "| term | candidates | winner | elected at |\n|---|---|---|---|");
    for e in &r.elections {
        let names = e.candidates.iter().map(|c| format!("n{}", c + 1)).collect::<Vec<_>>().join(", ");
        let (w, at) = e.winner.map(|(n, t)| (format!("n{}", n + 1), secs(t))).unwrap_or(("nobody".into(), "–".into()));
        let _ = writeln!(m, "| {} | {names} | {w} | {at} |", e.term);
    }
    let _ = writeln!(m, "\n| node | last applied index | its term |\n|---|---|---|");
    for (i, l) in r.applied.iter().enumerate() {
        match l {
            Some(l) => {
                let _ = writeln!(m, "| n{} | {} | {} |", i + 1, l.index, l.term);
            }
            None => {
                let _ = writeln!(m, "| n{} | – | – |", i + 1);
            }
        }
    }
    if a.stats.is_some() {
        let _ = writeln!(m, "\n## Throughput and latency\n\n![throughput and latency](clients.png)\n");
        if let Some((s, e)) = a.stall {
            let _ = writeln!(m, "Longest stretch without a successful operation: **{}** ({} to {}).", secs(e - s), secs(s), secs(e));
        }
    }
    if !a.story.faults.is_empty() {
        let _ = writeln!(m, "\n## Faults\n\n| at | fault |\n|---|---|");
        for (at, text) in &a.story.faults {
            let _ = writeln!(m, "| {} | {} |", secs(*at), cell(text));
        }
    }
    let _ = writeln!(m, "\nThe interactive client history timeline is in `index.html`.");
    m
}
