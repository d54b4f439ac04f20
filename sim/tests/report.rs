//! The report of a real simulated run: split-brain, seed 42. Its figure must show the story the
//! scenario is about (the old leader cut off, a new leader in a higher term on the majority side,
//! the old leader rejoining after the heal), and the same run must give the same files.
//!
//! Writes the report to `<target>/tmp/report-split-brain-seed42/`, and two variants (a
//! linearizability failure, 10,000 operations) beside it, where `scripts/browser-check.sh` (run
//! by `scripts/test-all.sh` after this test) loads them in Chromium.
#![cfg(madsim)]

use detcd_check::models::etcd::{KeySet, Request, Response, Revision};
use detcd_sim::checks::Verdict;
use detcd_sim::history::{ClientOp, History, Step, StepOutcome};
use detcd_sim::report::{self, RunData, FILES};
use detcd_sim::scenario::OpKind;
use detcd_sim::run::run;
use detcd_sim::scenario::find;
use std::path::PathBuf;
use std::time::Duration;

fn out_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn split_brain_report_shows_the_isolated_old_leader_and_the_new_term() {
    let s = find("split-brain").unwrap();
    let out = run(&s, 42).unwrap();
    let data = RunData::of(&s, 42, &out, None);
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
        report::write_run_report(d, &RunData::of(&s, 42, &out, None)).expect("writes");
    }
    for f in FILES {
        let a = std::fs::read(dirs[0].join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(a == std::fs::read(dirs[1].join(f)).unwrap(), "{f} differs between two runs of one seed");
    }
    // The request traces too (Zipkin JSON, one file per trace).
    let traces = |d: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(d.join("traces"))
            .expect("a traces directory")
            .map(|e| e.expect("entry").path())
            .map(|p| (p.file_name().unwrap().to_string_lossy().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        files
    };
    let first = traces(&dirs[0]);
    assert!(!first.is_empty(), "split-brain seed 42 writes request traces");
    assert!(first == traces(&dirs[1]), "the traces differ between two runs of one seed");
}

/// `op #N (client C, [CALL, RETURN])`, as the checker describes an operation.
fn op_ref(n: usize, client: usize, step: &Step) -> String {
    format!("op #{n} (client {client}, [{}, {}])", step.invoked.as_nanos(), step.completed.as_nanos())
}

#[test]
fn a_violation_and_ten_thousand_operations_render_for_the_browser_check() {
    let s = find("split-brain").unwrap();
    let out = run(&s, 42).unwrap();
    let h = out.history.as_ref().expect("split-brain has a workload");
    // Evidence in the checker's words, naming two operations of the real history.
    let steps: Vec<(usize, &Step)> = h.all().flat_map(|o| o.steps.iter().map(move |st| (o.client, st))).collect();
    let (a, b) = (steps[0], steps[steps.len() / 2]);
    let text = format!(
        "etcd model, ours format, {n} operations: not linearizable: 1 of 1 partition(s) have no valid order\n\
         partition 0 ({n} operations):\n  longest linearizable prefix found: 1 operation(s)\n       1. {}: put\n  state after it: s\n  \
         {}: get has returned, so it or an operation called before that return must take effect next, but none can:\n    {}: get: impossible in this state\n",
        op_ref(0, a.0, a.1),
        op_ref(7, b.0, b.1),
        op_ref(7, b.0, b.1),
        n = steps.len()
    );
    let verdicts = vec![("linearizability", Verdict::Fail(text))];
    let data = RunData { scenario: &s, seed: 42, header: &out.header, log: &out.log, history: Some(h), verdicts: &verdicts, bug: None };
    let r = report::render(&data).expect("renders");
    assert!(r.html.contains("id=\"tl-violation\"") && r.analysis.named.offending.len() == 1 && r.analysis.named.prefix.len() == 1);
    r.write(&out_dir("report-split-brain-seed42-violation")).expect("writes");

    // 20 clients, 500 operations each, over the run.
    let get = |c: usize, i: u64| {
        let invoked = Duration::from_millis(i * 22 + c as u64);
        let outcome = StepOutcome::Ok(Response::Range { revision: Revision(1), kvs: vec![] });
        let step = Step { request: Request::Range { keys: KeySet::Key("k1".into()) }, invoked, completed: invoked + Duration::from_millis(20), outcome, trace: 0 };
        ClientOp { client: c, kind: OpKind::Get, member: 0, steps: vec![step], watch: None, lock: None, keepalive: None }
    };
    let big = History::new((0..20).map(|c| (0..500).map(|i| get(c, i)).collect()).collect());
    let data = RunData { history: Some(&big), verdicts: &out.verdicts, ..data };
    let r = report::render(&data).expect("renders");
    assert!(r.html.len() < 2_000_000, "{} bytes", r.html.len());
    r.write(&out_dir("report-ten-thousand-operations")).expect("writes");
}
