//! `sim shrink`: minimize a failing run into a regression file.

use crate::exit;
use detcd_node::bugs::{Bug, Bugs};
use detcd_sim::outcome::run_one;
use detcd_sim::scenario::{Regression, Scenario};
use detcd_sim::shrink;
use std::path::PathBuf;

/// Shrinks a failing run (see `detcd_sim::shrink`), writes the regression file, and prints the
/// shrunk run's story. Exit 0 when a file was written, 2 if the run does not fail.
pub fn shrink(s: &Scenario, seed: u64, bug: Option<Bug>, out: Option<PathBuf>) -> u8 {
    let bugs = bug.map_or(Bugs::none(), Bugs::only);
    std::panic::set_hook(Box::new(|_| {}));
    let Some(failure) = run_one(s, seed, bugs).failure() else {
        let _ = std::panic::take_hook();
        eprintln!("sim shrink: {} seed {seed} passes: nothing to shrink", s.name);
        return exit::USAGE;
    };
    let Some(&check) = failure.checks.first() else {
        let _ = std::panic::take_hook();
        eprintln!("sim shrink: {} seed {seed} cannot run: {}", s.name, failure.why);
        return exit::USAGE;
    };
    // With a bug whose run passes without it, every step must keep that so: a shrunk file
    // whose clean run fails (say, too short for liveness) would not be about the bug.
    let keep_clean = bug.is_some() && run_one(s, seed, Bugs::none()).failure().is_none();
    eprintln!(
        "shrinking {} seed {seed}: keeps failing {check}{} ({})",
        s.name,
        if keep_clean { " and passing without the bug" } else { "" },
        failure.why
    );
    let fails = |c: &Scenario| {
        run_one(c, seed, bugs).failure().is_some_and(|f| f.checks.contains(&check))
            && (!keep_clean || run_one(c, seed, Bugs::none()).failure().is_none())
    };
    let shrunk = shrink::shrink(s, fails, &|line| eprintln!("  {line}"));
    let passes_without_bug = bug.is_some() && run_one(&shrunk.scenario, seed, Bugs::none()).failure().is_none();
    let final_run = run_one(&shrunk.scenario, seed, bugs);
    let _ = std::panic::take_hook();
    let name = format!("{}-{}-seed{seed}", bug.map_or("detcd".to_string(), |b| b.to_string()), s.name);
    let regression = Regression {
        seed,
        bug: bug.map(|b| b.to_string()),
        check: check.to_string(),
        passes_without_bug,
        shrunk_from: format!("{} seed {seed}: {}", s.name, shrunk.steps.join("; ")),
    };
    let dir = out.unwrap_or_else(|| PathBuf::from("scenarios/regressions"));
    let file = dir.join(format!("{name}.toml"));
    let mut minimal = shrunk.scenario.clone();
    minimal.description = format!("shrunk by `sim shrink` from {} seed {seed}{}: {}", s.name, bug.map(|b| format!(" with {b}")).unwrap_or_default(), s.description);
    let text = shrink::regression_file(&minimal, &name, regression);
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&file, text)) {
        eprintln!("sim shrink: cannot write {}: {e}", file.display());
        return exit::USAGE;
    }
    if let detcd_sim::outcome::Outcome::Ran(run) = &final_run {
        print!("{}", run.text());
    }
    eprintln!(
        "shrunk in {} candidates ({} steps kept); {} without the bug\nregression: {}",
        shrunk.runs,
        shrunk.steps.len(),
        if passes_without_bug { "passes" } else { "fails (or no bug)" },
        file.display()
    );
    exit::PASS
}
