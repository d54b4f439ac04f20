//! The report rendered from a small synthetic run (no simulator needed).

use super::story::tests::split_brain_log;
use super::*;
use crate::history::{ClientOp, Step, StepOutcome};
use crate::scenario::OpKind;
use detcd_check::models::etcd::{KeySet, Request, Response, Revision};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn scenario() -> Scenario {
    Scenario::parse(
        Path::new("split-brain.toml"),
        "description = \"the leader is cut off with a minority <and> heals\"\nnodes = 3\nduration_s = 12.0\n\
         [workload]\nclients = 2\nmix = { get = 1, put = 1 }\n",
    )
    .expect("scenario parses")
}

fn put(client: usize, at: u64, took: u64, outcome: StepOutcome) -> ClientOp {
    let request = Request::Put { key: "k1".into(), value: format!("c{client}-{at}"), lease: None, prev_kv: false };
    ClientOp { client, kind: OpKind::Put, member: 0, steps: vec![Step { request, invoked: ms(at), completed: ms(at + took), outcome, trace: 0 }], watch: None, lock: None, keepalive: None }
}

fn get(client: usize, at: u64, took: u64) -> ClientOp {
    let request = Request::Range { keys: KeySet::Key("k1".into()) };
    let outcome = StepOutcome::Ok(Response::Range { revision: Revision(1), kvs: vec![] });
    ClientOp { client, kind: OpKind::Get, member: 0, steps: vec![Step { request, invoked: ms(at), completed: ms(at + took), outcome, trace: 0 }], watch: None, lock: None, keepalive: None }
}

/// Client 0 writes every 100 ms; nothing succeeds between 2.0 s and 2.4 s (an election);
/// client 1 reads, and one of its writes times out.
fn history() -> History {
    let ok = || StepOutcome::Ok(Response::Put { revision: Revision(2), prev_kv: None });
    let c0: Vec<ClientOp> = (0..100u64)
        .map(|i| 300 + i * 100)
        .filter(|t| !(2000..2400).contains(t))
        .map(|t| put(0, t, 5, ok()))
        .collect();
    let c1 = vec![get(1, 500, 3), put(1, 1990, 1000, StepOutcome::Info("timeout".into())), put(1, 3000, 2, StepOutcome::Fail("no leader".into())), get(1, 3100, 4)];
    History::new(vec![c0, c1])
}

struct Fixture {
    scenario: Scenario,
    log: EventLog,
    history: History,
    verdicts: Vec<(&'static str, Verdict)>,
}

impl Fixture {
    fn new(verdicts: Vec<(&'static str, Verdict)>) -> Fixture {
        Fixture { scenario: scenario(), log: split_brain_log(), history: history(), verdicts }
    }

    fn data(&self) -> RunData<'_> {
        RunData {
            scenario: &self.scenario,
            seed: 42,
            header: "scenario split-brain: ...\nseed 42 (runtime 0x1)\n",
            log: &self.log,
            history: Some(&self.history),
            verdicts: &self.verdicts,
            bug: None,
        }
    }
}

fn passing() -> Fixture {
    Fixture::new(vec![("one-leader-per-term", Verdict::Pass), ("linearizability", Verdict::Pass), ("liveness", Verdict::Skipped("no bound".into()))])
}

#[test]
fn the_page_has_header_verdicts_figures_summary_and_timeline() {
    let f = passing();
    let data = f.data();
    let r = render(&data).expect("renders");
    let h = &r.html;
    for needle in [
        "<!DOCTYPE html>",
        "id=\"overall-verdict\">PASS<",
        "cargo sim run split-brain --seed 42",
        &format!("{VERSION} (commit <code>{COMMIT}</code>)"),
        "seed 42 (runtime 0x1)",
        "one-leader-per-term",
        "<span class=\"badge skipped\">skipped</span>",
        "id=\"raft-plot\"",
        "id=\"clients-plot\"",
        "id=\"elections\"",
        "id=\"applied\"",
        "<canvas id=\"timeline\"",
        "id=\"timeline-data\"",
        "isolate the leader with a minority: [n2] | [n1,n3]",
        "data-report-ready",
        "minority &lt;and&gt; heals",
    ] {
        assert!(h.contains(needle), "the page lacks {needle:?}");
    }
    for fetch in ["src=\"http", "href=\"http", "fetch(", "XMLHttpRequest", "@import", "url("] {
        assert!(!h.contains(fetch), "the page must fetch nothing, found {fetch:?}");
    }
    assert!(!h.contains("<and>"), "text is escaped");
    // The figure: lanes, the leader row, the fault window and the marks.
    // plotters writes each text on its own line inside its <text> element.
    for lane in ["network", "leader", "n1", "n2", "n3"] {
        assert!(r.raft_svg.contains(&format!(">\n{lane}\n</text>")), "the raft figure lacks the {lane} lane");
    }
    for needle in ["n2 cut off from the majority", "★ leader, term 2", "steps down", "n1 leads term 2", "no leader", "term per node"] {
        assert!(r.raft_svg.contains(needle), "the raft figure lacks {needle:?}");
    }
    let clients = r.clients_svg.as_deref().expect("a workload gives a clients figure");
    assert!(clients.contains("no successful operation for"), "the stall is called out");
    let md = &r.markdown;
    for needle in ["# detcd correctness report: split-brain · seed 42", "![term and leader per node](raft.png)", "| linearizability | pass |", "| 2 | n1 | n1 | 2.317 s |", "| n1 | 3 | 2 |"] {
        assert!(md.contains(needle), "report.md lacks {needle:?}\n{md}");
    }
}

#[test]
fn the_summary_counts_elections_and_leaderless_time() {
    let f = passing();
    let data = f.data();
    let a = Analysis::new(&data);
    assert_eq!((a.raft.leaders_elected, a.raft.leader_changes), (2, 1));
    assert_eq!(a.raft.leaderless_total(), ms(226) + ms(152));
    assert_eq!(a.stall, Some((ms(1905), ms(2405))), "the last success before the gap and the first after");
    assert_eq!(a.exit_code(), 0);
}

#[test]
fn rendering_is_deterministic_to_the_byte_including_pngs() {
    let f = passing();
    let data = f.data();
    let dirs: Vec<std::path::PathBuf> = (0..2).map(|i| std::env::temp_dir().join(format!("detcd-report-det-{}-{i}", std::process::id()))).collect();
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
        write_run_report(d, &data).expect("writes");
    }
    for name in FILES {
        let a = std::fs::read(dirs[0].join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let b = std::fs::read(dirs[1].join(name)).expect("second copy");
        assert!(a == b, "{name} differs between two renders of the same run");
        assert!(!a.is_empty(), "{name} is empty");
    }
    let png = std::fs::read(dirs[0].join("raft.png")).expect("png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_linearizability_failure_highlights_the_offending_operations() {
    // Client 1's read at 3100 ms and client 0's write at 1800 ms, as the checker names them.
    let text = "etcd model, ours format, 101 operations: not linearizable: 1 of 1 partition(s) have no valid order\n\
                partition 0 (101 operations):\n  longest linearizable prefix found: 1 operation(s)\n\
                \x20      1. op #0 (client 0, [300000000, 305000000]): put\n  state after it: s\n\
                \x20 op #99 (client 1, [3100000000, 3104000000]): get has returned, so it or an operation called before that return must take effect next, but none can:\n\
                \x20   op #40 (client 0, [1800000000, 1805000000]): put: impossible in this state\n";
    let f = Fixture::new(vec![("linearizability", Verdict::Fail(text.into()))]);
    let data = f.data();
    let r = render(&data).expect("renders");
    assert!(r.html.contains("id=\"overall-verdict\">FAIL (safety)<"));
    assert!(r.html.contains("<b>Not linearizable.</b>") && r.html.contains("id=\"tl-violation\""));
    let h = history();
    let doc = timeline::document(&h, &r.analysis.story, &r.analysis.raft, &r.analysis.named);
    let flagged: Vec<(u64, u64, u64)> = doc["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .filter(|o| o[5].as_u64() != Some(0))
        .map(|o| (o[0].as_u64().unwrap(), o[1].as_u64().unwrap(), o[5].as_u64().unwrap()))
        .collect();
    assert_eq!(flagged, vec![(0, 300_000, 2), (0, 1_800_000, 1), (1, 3_100_000, 1)]);
}

#[test]
fn ten_thousand_operations_keep_the_page_small() {
    let mut f = passing();
    let ops: Vec<Vec<ClientOp>> = (0..20).map(|c| (0..500u64).map(|i| get(c, i * 20 + c as u64 % 7, 15)).collect()).collect();
    f.history = History::new(ops);
    let data = f.data();
    let r = render(&data).expect("renders");
    assert_eq!(r.html.matches("<canvas").count(), 1, "one canvas, however many operations");
    assert!(r.html.len() < 1_500_000, "page of {} bytes for 10,000 operations", r.html.len());
}

#[test]
fn the_sweep_index_puts_failures_first() {
    let row = |scenario: &str, seed, code| sweep::Row {
        scenario: scenario.into(),
        seed,
        code,
        why: if code == 0 { String::new() } else { "linearizability: FAIL".into() },
        duration_s: 12.0,
        leader_changes: Some(1),
        link: Some(format!("{scenario}-seed{seed}/index.html")),
    };
    let page = sweep::index(&[row("a", 1, 0), row("b", 2, 4), row("a", 3, 1), row("a", 2, 0)]);
    let order: Vec<usize> = ["a-seed3/", "b-seed2/", "a-seed1/", "a-seed2/"].iter().map(|l| page.find(l).expect(l)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "safety, liveness, then passes by scenario and seed");
    assert!(page.contains("4 runs, 2 passed, 2 failed"));
    assert!(page.contains("<tr class=\"failing\">"));
}

#[test]
fn buckets_are_round_and_few() {
    assert_eq!(bucket_for(Duration::from_secs(12)), ms(100));
    assert_eq!(bucket_for(Duration::from_secs(60)), ms(500));
    assert_eq!(bucket_for(Duration::from_secs(3600)), Duration::from_secs(30));
}

#[test]
fn a_run_without_clients_or_events_still_renders() {
    let f = passing();
    let empty = EventLog::new(&[]);
    let data = RunData { history: None, log: &empty, verdicts: &[], ..f.data() };
    let dir = std::env::temp_dir().join(format!("detcd-report-empty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let r = render(&data).expect("renders");
    assert!(r.clients_svg.is_none() && r.html.contains("This scenario has no client workload."));
    assert!(r.html.contains("No check applies") && r.html.contains("No fault was injected."));
    r.write(&dir).expect("writes");
    assert!(dir.join("raft.png").exists() && !dir.join("clients.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
