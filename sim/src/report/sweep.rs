//! A sweep's index page, `reports/index.html`: one row per (scenario, seed) with its verdict,
//! simulated duration, leader changes and a link to the run's report; failing rows first.

use super::html::esc;
use super::{verdict_word, Analysis};
use std::fmt::Write as _;

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub scenario: String,
    pub seed: u64,
    /// The run's exit code (0 pass, 1 safety, 2 cannot run, 3 unknown, 4 liveness).
    pub code: u8,
    /// Why it failed, one line (empty for a pass).
    pub why: String,
    pub duration_s: f64,
    /// None: the run did not finish (a node assertion, or it could not start).
    pub leader_changes: Option<usize>,
    /// The run's report, relative to the index (None: no report was written).
    pub link: Option<String>,
}

impl Row {
    /// The row of a run that finished and whose report is at `link`.
    pub fn of(a: &Analysis, link: Option<String>) -> Row {
        let why = a
            .data
            .verdicts
            .iter()
            .filter(|(_, v)| v.exit_code() != 0)
            .map(|(name, v)| format!("{name}: {}", v.to_string().lines().next().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; ");
        Row {
            scenario: a.data.scenario.name.clone(),
            seed: a.data.seed,
            code: a.exit_code(),
            why,
            duration_s: a.data.scenario.duration_s,
            leader_changes: Some(a.raft.leader_changes),
            link,
        }
    }
}

impl Row {
    /// The row of a run that did not finish: a node assertion (`code` 1) or it could not start.
    pub fn not_run(scenario: &str, seed: u64, code: u8, why: String, duration_s: f64) -> Row {
        Row { scenario: scenario.to_string(), seed, code, why, duration_s, leader_changes: None, link: None }
    }
}

/// Writes `index.html` of `rows` into `dir`; returns its path.
///
/// # Errors
/// When the directory cannot be created or the file written.
pub fn write_index(dir: &std::path::Path, rows: &[Row]) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("index.html");
    std::fs::write(&path, index(rows))?;
    Ok(path)
}

/// How failing a code is, most first (safety, liveness, unknown, cannot run, pass).
fn severity(code: u8) -> u8 {
    match code {
        1 => 0,
        4 => 1,
        3 => 2,
        0 => 4,
        _ => 3,
    }
}

/// The index page.
pub fn index(rows: &[Row]) -> String {
    let mut rows: Vec<&Row> = rows.iter().collect();
    rows.sort_by(|a, b| (severity(a.code), &a.scenario, a.seed).cmp(&(severity(b.code), &b.scenario, b.seed)));
    let failed = rows.iter().filter(|r| r.code != 0).count();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>detcd sweep</title>\n<style>\n{}</style>\n</head>\n<body>\n",
        include_str!("report.css")
    );
    let _ = writeln!(h, "<h1>detcd sweep: {} runs, {} passed, {failed} failed</h1>", rows.len(), rows.len() - failed);
    h.push_str("<table id=\"runs\">\n<tr><th>scenario</th><th>seed</th><th>verdict</th><th>why</th><th>simulated</th><th>leader changes</th><th>report</th></tr>\n");
    for r in rows {
        let class = if r.code == 0 { "pass" } else if r.code == 3 { "unknown" } else { "fail" };
        let link = r.link.as_ref().map(|l| format!("<a href=\"{}\">report</a>", esc(l))).unwrap_or_else(|| "–".into());
        let _ = writeln!(
            h,
            "<tr{}><td>{}</td><td class=\"num\">{}</td><td><span class=\"badge {class}\">{}</span></td><td>{}</td><td class=\"num\">{:.1} s</td><td class=\"num\">{}</td><td>{link}</td></tr>",
            if r.code != 0 { " class=\"failing\"" } else { "" },
            esc(&r.scenario),
            r.seed,
            verdict_word(r.code),
            esc(&r.why),
            r.duration_s,
            r.leader_changes.map(|n| n.to_string()).unwrap_or_else(|| "–".into()),
        );
    }
    h.push_str("</table>\n<p>Reproduce any run with <code>cargo sim run SCENARIO --seed N</code>.</p>\n</body>\n</html>\n");
    h
}
