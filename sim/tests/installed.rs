//! The `sim` binary works outside the source tree, as `cargo siminstall` installs it: the catalog is
//! compiled in, runs write under `./reports/` of the directory it runs in, and the reproduce line of
//! a failing run works as printed, also for a scenario given as a path.
#![cfg(madsim)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh empty directory, outside the source tree.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("detcd-sim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Runs the built `sim` in `dir` as an installed binary would run: not under cargo.
fn sim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(dir)
        .env_remove("CARGO")
        .env_remove("DETCD_SCENARIOS")
        .output()
        .expect("sim runs")
}

#[test]
fn an_installed_sim_runs_the_catalog_from_any_directory_and_writes_under_its_reports() {
    let dir = temp_dir("anywhere");
    let out = sim_in(&dir, &["run", "split-brain", "--seed", "42"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sim failed: {stderr}");
    assert!(stderr.contains("run files: reports/split-brain-seed42 "), "the printed path is clean: {stderr}");
    for file in ["index.html", "report.md", "events.log", "history.jsonl"] {
        assert!(dir.join("reports/split-brain-seed42").join(file).is_file(), "{file} written under ./reports");
    }
    let list = sim_in(&dir, &["list"]);
    assert!(String::from_utf8_lossy(&list.stdout).lines().any(|l| l.starts_with("split-brain ")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_reproduce_line_of_a_scenario_given_as_a_path_works_as_printed() {
    let dir = temp_dir("by-path");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/split-brain.toml");
    std::fs::copy(&source, dir.join("mine.toml")).expect("copy the scenario");
    // apply-uncommitted is caught on split-brain seed 3 (tests/bugs.rs).
    let first = sim_in(&dir, &["run", "mine.toml", "--seed", "3", "--bug", "apply-uncommitted"]);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "the run fails: {stderr}");
    let line = stderr.lines().find_map(|l| l.trim().strip_prefix("reproduce: ")).expect("a reproduce line");
    assert_eq!(line, "sim run mine.toml --seed 3 --bug apply-uncommitted");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "sim");
    let again = sim_in(&dir, &words[1..]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(again.stdout, first.stdout, "the printed command reproduces the run byte for byte");
    let _ = std::fs::remove_dir_all(&dir);
}
