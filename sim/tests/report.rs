//! The report of a real simulated run: split-brain, seed 42. Its figure must show the story the
//! scenario is about (the old leader cut off, a new leader in a higher term on the majority side,
//! the old leader rejoining after the heal), and the same run must give the same files.
//!
//! Writes the report to `<target>/tmp/report-split-brain-seed42/`, where
//! `scripts/browser-check.sh` (run by `scripts/test-all.sh` after this test) loads it in Chromium.
#![cfg(madsim)]

use detcd_sim::report::{self, RunData, FILES};
use detcd_sim::run::run;
use detcd_sim::scenario::find;
use std::path::PathBuf;

fn out_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn split_brain_report_shows_the_isolated_old_leader_and_the_new_term() {
    let s = find("split-brain").unwrap();
    let out = run(&s, 42).unwrap();
    let data = RunData::of(&s, 42, &out);
    let r = report::render(&data).expect("renders");
    let svg = &r.raft_svg;
    for lane in ["network", "leader", "n1", "n2", "n3"] {
        assert!(svg.contains(&format!(">\n{lane}\n</text>")), "the figure has the {lane} lane");
    }
    // The fault window, as the injector recorded it, over the cluster's band and the old leader's lane.
    let window = r.analysis.story.faults.first().map(|(_, t)| t.clone()).expect("a fault line");
    assert!(window.starts_with("isolate the leader with a minority: ["), "{window}");
    assert!(svg.contains(&window), "the network band names the fault: {window}");
    let old = r.analysis.raft.elections.first().and_then(|e| e.winner).map(|(n, _)| n).expect("a first leader");
    assert!(svg.contains(&format!("n{} cut off from the majority", old + 1)), "the old leader's lane shows it cut off");
    // A new leader in a higher term, elected while the old one was cut off, on the majority side.
    let cut = r.analysis.story.windows_of(report::story::WindowKind::CutOff).find(|w| w.node == Some(old)).expect("cut-off window");
    let new = r.analysis.raft.elections.iter().find(|e| e.winner.is_some_and(|(n, at)| n != old && at > cut.start && at < cut.end)).expect("a new leader during the partition");
    assert!(new.term > 1 && svg.contains(&format!("★ leader, term {}", new.term)));
    // After the heal the old leader learns the new term.
    assert!(
        r.analysis.story.marks.iter().any(|m| matches!(m, report::story::Mark::Rejoined { node, term, .. } if *node == old && *term >= new.term)),
        "the old leader rejoins in the new term"
    );
    assert!(svg.contains("rejoins: term"));
    assert!(r.html.contains("id=\"raft-plot\"") && r.html.contains("<canvas id=\"timeline\""));
}

#[test]
fn the_same_run_gives_the_same_report_files() {
    let s = find("split-brain").unwrap();
    let dirs = [out_dir("report-split-brain-seed42"), out_dir("report-split-brain-seed42-again")];
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
        let out = run(&s, 42).unwrap();
        report::write_run_report(d, &RunData::of(&s, 42, &out)).expect("writes");
    }
    for f in FILES {
        let a = std::fs::read(dirs[0].join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(a == std::fs::read(dirs[1].join(f)).unwrap(), "{f} differs between two runs of one seed");
    }
}
