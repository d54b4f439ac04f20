//! Every regression file (`scenarios/regressions/*.toml`, written by `sim shrink`) still fails the
//! check it records, with its pinned seed and bug; and, where the file says so, the same run
//! passes without the bug (so the file tests the bug, not a failure of its own).
#![cfg(madsim)]

use detcd_node::bugs::{Bug, Bugs};
use detcd_sim::outcome::run_one;
use detcd_sim::scenario::{scenario_dir, Scenario};

fn regression_files() -> Vec<std::path::PathBuf> {
    let dir = scenario_dir().join("regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_regression_fails_its_recorded_check_and_only_with_its_bug() {
    let files = regression_files();
    assert!(!files.is_empty(), "scenarios/regressions/ holds at least one regression");
    for file in files {
        let s = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let r = s.regression.clone().unwrap_or_else(|| panic!("{}: no [regression] table", file.display()));
        let bugs = r.bug.as_deref().map_or(Bugs::none(), |b| Bugs::only(b.parse::<Bug>().expect("validated")));
        let failure = run_one(&s, r.seed, bugs).failure();
        let checks = failure.as_ref().map(|f| f.checks.clone()).unwrap_or_default();
        assert!(checks.contains(&r.check.as_str()), "{}: expected {} to fail, failing: {checks:?}", file.display(), r.check);
        if r.passes_without_bug {
            let clean = run_one(&s, r.seed, Bugs::none()).failure();
            assert!(clean.is_none(), "{}: fails without the bug too: {clean:?}", file.display());
        }
    }
}
