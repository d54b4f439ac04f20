//! Every catalog scenario is deterministic: the same seed gives a byte-identical story twice in one
//! process; and `sim run` in a separate process prints exactly what an in-process run prints.
//! (Verdicts are not asserted here: the sweep decides those.)
#![cfg(madsim)]

use detcd_sim::run::{run, run_log};
use detcd_sim::scenario::{catalog, find};
use std::process::Command;

#[test]
fn every_catalog_scenario_tells_the_same_story_twice_in_one_process() {
    for s in catalog().expect("catalog") {
        let (a, b) = (run_log(&s, 1), run_log(&s, 1));
        assert_eq!(a.render(), b.render(), "{}: two runs of seed 1 in one process differ", s.name);
        assert_eq!(a.applied, b.applied, "{}: applied entries differ", s.name);
    }
}

#[test]
fn a_separate_process_prints_what_an_in_process_run_prints() {
    let sim = env!("CARGO_BIN_EXE_sim");
    let out = std::env::temp_dir().join("detcd-catalog-determinism");
    for name in ["happy-path", "random-nemesis", "watch-under-failover"] {
        let s = find(name).unwrap();
        let here = run(&s, 3).expect("runs").text();
        let p = Command::new(sim).args(["run", name, "--seed", "3", "--out"]).arg(&out).output().expect("sim runs");
        assert_eq!(String::from_utf8_lossy(&p.stdout), here, "{name}: a separate process printed something else");
    }
}
