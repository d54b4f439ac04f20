//! `sim run` and `sim sweep`: one run with its files, or many seeds in parallel (simulation build).

use crate::exit;
use detcd_node::bugs::{Bug, Bugs};
use detcd_sim::outcome::{default_jobs, parallel, run_one, Outcome};
use detcd_sim::{coverage, report};
use detcd_sim::scenario::Scenario;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn bugs_of(bug: Option<Bug>) -> Bugs {
    bug.map_or(Bugs::none(), Bugs::only)
}

/// The command that reproduces one run, as the user can type it.
pub fn reproduce(s: &Scenario, seed: u64, bug: Option<Bug>) -> String {
    s.reproduce(seed, bug.map(|b| b.name()))
}

/// Where runs write their files unless told otherwise: `reports/` of the current directory.
const REPORTS_DIR: &str = "reports";

pub fn run(s: &Scenario, seed: u64, out: Option<PathBuf>, bug: Option<Bug>) -> u8 {
    match run_one(s, seed, bugs_of(bug)) {
        Outcome::Ran(run) => {
            let text = run.text();
            print!("{text}");
            // A run with a bug gets its own directory: it must not overwrite the clean run's.
            let name = format!("{}-seed{seed}{}", s.name, bug.map(|b| format!("-{b}")).unwrap_or_default());
            let dir = out.unwrap_or_else(|| Path::new(REPORTS_DIR).join(name));
            if let Err(e) = write_run_files(&dir, s, seed, bug, &run) {
                eprintln!("sim: cannot write the run's files to {}: {e}", dir.display());
                return exit::USAGE;
            }
            eprintln!("run files: {} (report: index.html, report.md)", dir.display());
            let code = run.exit_code();
            if code != exit::PASS {
                eprintln!("FAIL {} seed {seed}\n  reproduce: {}", s.name, reproduce(s, seed, bug));
            }
            code
        }
        Outcome::Panicked(msg) => {
            eprintln!("FAIL {} seed {seed}: a node assertion failed: {msg}", s.name);
            exit::SAFETY
        }
        Outcome::CannotRun(msg) => {
            eprintln!("sim: {msg}");
            exit::USAGE
        }
    }
}

/// The run's files: its story, the client history (the checker's format), watch records, and
/// the report (index.html, report.md, plots; see `detcd_sim::report`). Returns the run's row
/// for a sweep's index.
fn write_run_files(dir: &Path, s: &Scenario, seed: u64, bug: Option<Bug>, run: &detcd_sim::run::RunOutput) -> Result<report::sweep::Row, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("events.log"), run.text()).map_err(|e| e.to_string())?;
    if let Some(h) = &run.history {
        // What the checker checks (unknown outcomes resolved from the members' record, see
        // `detcd_sim::patch`), so `sim check history.jsonl` gives the run's verdict; and what the
        // clients saw.
        std::fs::write(dir.join("history.jsonl"), detcd_sim::patch::patch(h, &run.log).0.to_jsonl()).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("history-observed.jsonl"), h.to_jsonl()).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("watches.jsonl"), h.watches_jsonl()).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("locks.jsonl"), h.locks_jsonl()).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("keepalives.jsonl"), h.keepalives_jsonl()).map_err(|e| e.to_string())?;
    }
    report::write_run_report(dir, &report::RunData::of(s, seed, run, bug.map(|b| b.name()))).map_err(|e| e.to_string())
}

/// A sweep's row for one run, writing the run's files under `reports`.
fn report_row(reports: &Path, s: &Scenario, seed: u64, bug: Option<Bug>, outcome: &Outcome) -> report::sweep::Row {
    let name = format!("{}-seed{seed}", s.name);
    match outcome {
        Outcome::Ran(run) => match write_run_files(&reports.join(&name), s, seed, bug, run) {
            Ok(row) => report::sweep::Row { link: Some(format!("{name}/index.html")), ..row },
            Err(e) => report::sweep::Row::not_run(&s.name, seed, exit::USAGE, format!("cannot write the report: {e}"), s.duration_s),
        },
        Outcome::Panicked(m) => report::sweep::Row::not_run(&s.name, seed, exit::SAFETY, format!("node assertion failed: {m}"), s.duration_s),
        Outcome::CannotRun(m) => report::sweep::Row::not_run(&s.name, seed, exit::USAGE, m.clone(), s.duration_s),
    }
}

pub fn sweep(plan: Vec<(Scenario, u64)>, jobs: Option<usize>, with_report: bool, bug: Option<Bug>) -> u8 {
    let reports = Path::new(REPORTS_DIR);
    let rows: Mutex<Vec<report::sweep::Row>> = Mutex::new(Vec::new());
    let failures: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    let worst = Mutex::new(exit::PASS);
    // Per scenario (by name): what its runs reached.
    let coverage: Mutex<BTreeMap<String, coverage::Table>> = Mutex::new(BTreeMap::new());
    let work = |i: usize| {
        let (s, seed) = &plan[i];
        let outcome = run_one(s, *seed, bugs_of(bug));
        if let Outcome::Ran(run) = &outcome {
            coverage.lock().expect("lock").entry(s.name.clone()).or_default().add(&run.coverage);
        }
        if with_report {
            rows.lock().expect("lock").push(report_row(reports, s, *seed, bug, &outcome));
        }
        let Some(f) = outcome.failure() else { return };
        let line = format!("FAIL {} seed {seed}: {}\n  reproduce: {}", s.name, f.why, reproduce(s, *seed, bug));
        failures.lock().expect("lock").push((i, line));
        let mut w = worst.lock().expect("lock");
        // Most severe first: safety (1) > liveness (4) > unknown (3) > usage (2).
        let rank = |c: u8| [exit::SAFETY, exit::LIVENESS, exit::UNKNOWN, exit::USAGE].iter().position(|x| *x == c).unwrap_or(9);
        if *w == exit::PASS || rank(f.code) < rank(*w) {
            *w = f.code;
        }
    };
    parallel(plan.len(), jobs.unwrap_or_else(default_jobs), work, || false);
    let mut failures = failures.into_inner().expect("lock");
    failures.sort();
    for (_, line) in &failures {
        println!("{line}");
    }
    let coverage = coverage.into_inner().expect("lock");
    let mut all = coverage::Table::default();
    for t in coverage.values() {
        all.runs += t.runs;
        for (e, (runs, n)) in &t.reached {
            let a = all.reached.entry(e).or_default();
            a.0 += runs;
            a.1 += n;
        }
    }
    print!("{}", all.render());
    let mut gaps = 0;
    let scenarios: BTreeMap<&str, &Scenario> = plan.iter().map(|(s, _)| (s.name.as_str(), s)).collect();
    for s in scenarios.values() {
        let expected = s.expect.as_ref().map(|e| e.events.as_slice()).unwrap_or_default();
        let missing = coverage.get(&s.name).map_or(expected.iter().map(String::as_str).collect(), |t| t.missing(expected));
        if !missing.is_empty() {
            gaps += 1;
            println!("COVERAGE {}: no seed reached {} (expected by the scenario)", s.name, missing.join(", "));
        }
    }
    println!("sweep: {} passed, {} failed", plan.len() - failures.len(), failures.len());
    if with_report {
        match report::sweep::write_index(reports, &rows.into_inner().expect("lock")) {
            Ok(path) => println!("sweep report: {}", path.display()),
            Err(e) => eprintln!("sim: cannot write the sweep's index in {}: {e}", reports.display()),
        }
    }
    match worst.into_inner().expect("lock") {
        exit::PASS if gaps > 0 => exit::COVERAGE,
        w => w,
    }
}
