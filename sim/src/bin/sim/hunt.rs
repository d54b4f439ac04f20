//! `sim hunt`: which scenarios catch an injected bug, each (bug, scenario) in a child process.

use crate::exit;
use detcd_node::bugs::Bug;
use detcd_sim::hunt;
use detcd_sim::outcome::default_jobs;
use detcd_sim::scenario::Scenario;
use std::process::{Command, Stdio};

/// Hunts each bug; prints every catch as it is found, then the table. Each (bug, scenario)
/// runs in a child process (`--child`), so memory stays bounded over a long hunt. Exit 0 if
/// every bug was caught by some scenario, 1 otherwise (an uncaught bug is a gap in the testbed).
pub fn hunt(bugs: &[Bug], scenarios: &[String], seeds: &str, seeds_max: usize, jobs: Option<usize>) -> u8 {
    let jobs = jobs.unwrap_or_else(default_jobs);
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("sim hunt: cannot find my own binary to run children: {e}");
            return exit::USAGE;
        }
    };
    let mut hunts = Vec::new();
    for &bug in bugs {
        let mut find = |scenario: &str| {
            let out = Command::new(&exe)
                .args(["hunt", "--child", "--bug", bug.name(), "--scenarios", scenario, "--seeds", seeds, "--jobs", &jobs.to_string()])
                .stderr(Stdio::null())
                .output();
            match out {
                Ok(o) => String::from_utf8_lossy(&o.stdout).lines().find_map(|l| hunt::Catch::from_line(scenario, l)),
                Err(e) => {
                    eprintln!("sim hunt: cannot run a child for {bug} in {scenario}: {e}");
                    None
                }
            }
        };
        let h = hunt::hunt(bug, scenarios, seeds_max, &mut find, &|line| eprintln!("caught {line}"));
        if h.catches.is_empty() {
            eprintln!("missed {bug}: no scenario caught it within {seeds_max} seeds");
        }
        hunts.push(h);
    }
    print!("{}", hunt::table(&hunts));
    if hunts.iter().all(|h| !h.catches.is_empty()) {
        exit::PASS
    } else {
        exit::SAFETY
    }
}

/// One (bug, scenario) of a hunt, in this process: prints the catch line, or `none`.
pub fn hunt_child(bug: Bug, s: &Scenario, seeds: &[u64], jobs: Option<usize>) -> u8 {
    match hunt::first_failure(s, seeds, bug, jobs.unwrap_or_else(default_jobs)) {
        Some(c) => println!("{}", c.to_line()),
        None => println!("none"),
    }
    exit::PASS
}
