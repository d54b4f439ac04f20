//! One test per resolution rule: applied once, never applied (a write; a read), applied twice.

use super::*;
use crate::eventlog::EventLog;
use crate::history::{ClientOp, History, Step, StepOutcome};
use crate::scenario::OpKind;
use detcd_check::models::etcd::KeySet;
use detcd_node::types::MemberId;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn put(key: &str, value: &str) -> Request {
    Request::Put { key: key.into(), value: value.into(), lease: None, prev_kv: false }
}

/// Client 0 sends `request` with trace 7 at 100 ms; the answer is lost (timeout at 1100 ms).
fn lost(request: Request) -> History {
    let step = Step { request, invoked: ms(100), completed: ms(1100), outcome: StepOutcome::Info("timeout".into()), trace: 7 };
    History::new(vec![vec![ClientOp { client: 0, kind: OpKind::Put, member: 0, steps: vec![step], watch: None, lock: None, keepalive: None }]])
}

fn log_with(entries: &[(u64, usize, u64, EntryOutcome)]) -> EventLog {
    let mut log = EventLog::new(&[MemberId(1), MemberId(2), MemberId(3)]);
    for (at, node, index, outcome) in entries {
        log.traced.entry(7).or_default().push(TracedEntry { at: ms(*at), node: *node, index: *index, outcome: outcome.clone() });
    }
    log
}

fn ok(revision: i64) -> EntryOutcome {
    EntryOutcome::Ok { revision: Some(revision) }
}

#[test]
fn a_lost_write_applied_once_becomes_definite_at_its_first_application() {
    let log = log_with(&[(350, 1, 12, ok(5)), (300, 0, 12, ok(5)), (400, 2, 12, ok(5))]);
    let (patched, report) = patch(&lost(put("k", "v")), &log);
    assert_eq!(report, PatchReport { applied: 1, ..PatchReport::default() });
    assert_eq!(patched.resolved, vec![Resolved { request: put("k", "v"), invoked: ms(100), applied_at: ms(300), response: Response::Applied { revision: Revision(5) } }]);
    assert!(matches!(patched.ops[0][0].steps[0].outcome, StepOutcome::Fail(_)), "the client's own stream no longer carries it");
    assert_eq!(applied_at_most_once(&log), Verdict::Pass);
    // The checker's history has it as its own definite operation.
    let jsonl = patched.to_jsonl();
    assert!(jsonl.contains(r#""output":{"f":"applied","revision":5}"#), "{jsonl}");
}

#[test]
fn a_lost_write_applied_with_an_error_the_model_knows_is_definite_too() {
    let log = log_with(&[(300, 0, 12, EntryOutcome::Error { message: "etcdserver: requested lease not found".into() })]);
    let (patched, report) = patch(&lost(put("k", "v")), &log);
    assert_eq!(report.applied, 1);
    assert_eq!(patched.resolved[0].response, Response::Error { error: EtcdError::LeaseNotFound });
    // An error the model has no name for stays unknown.
    let log = log_with(&[(300, 0, 12, EntryOutcome::Error { message: "etcdserver: something new".into() })]);
    assert_eq!(patch(&lost(put("k", "v")), &log).1.still_unknown, 1);
}

#[test]
fn a_lost_write_no_member_applied_had_no_effect() {
    let (patched, report) = patch(&lost(put("k", "v")), &log_with(&[]));
    assert_eq!(report, PatchReport { never_applied: 1, ..PatchReport::default() });
    assert!(patched.resolved.is_empty());
    assert!(matches!(&patched.ops[0][0].steps[0].outcome, StepOutcome::Fail(why) if why.contains("never applied")));
    let (_, report) = patch(&lost(Request::Range { keys: KeySet::Key("k".into()) }), &log_with(&[]));
    assert_eq!(report, PatchReport { reads: 1, ..PatchReport::default() });
}

#[test]
fn a_call_applied_at_two_indexes_is_a_violation_and_stays_unknown() {
    let log = log_with(&[(300, 0, 12, ok(5)), (900, 1, 15, ok(7))]);
    let (patched, report) = patch(&lost(put("k", "v")), &log);
    assert_eq!(report, PatchReport { still_unknown: 1, ..PatchReport::default() });
    assert!(matches!(patched.ops[0][0].steps[0].outcome, StepOutcome::Info(_)));
    let v = applied_at_most_once(&log);
    assert!(matches!(&v, Verdict::Fail(w) if w.contains("applied at 2 indexes ([12, 15])")), "{v:?}");
}

#[test]
fn a_step_without_a_trace_is_never_judged_absent() {
    let mut h = lost(put("k", "v"));
    h.ops[0][0].steps[0].trace = 0;
    assert_eq!(patch(&h, &log_with(&[])).1.still_unknown, 1);
}
