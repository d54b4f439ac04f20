//! History patching: client calls whose answer was lost, resolved from what the members applied.
//!
//! A call that timed out (or whose connection broke) has an unknown outcome: it may have taken
//! effect at any point after it was sent, or never. Each such call makes the linearizability
//! search try it everywhere, and a few dozen of them exhaust any search ("unknown" verdicts). The
//! simulator knows more than a client: every member reports every entry it applies with the trace
//! ID of the client call that proposed it (`traceparent`, [`detcd_node::trace_context`]) and what
//! applying it gave. etcd's robustness suite patches histories the same way from the WAL and watch
//! events; Jepsen does it from the final reads.
//!
//! # Rules, for a step whose outcome is unknown
//! 1. **Applied once** (its trace is on entries at one index): it took effect at that index.
//!    The step leaves its client's stream (marked failed there) and becomes a definite operation of
//!    its own pseudo-client: invoked when the client sent it, completed at the instant the first
//!    member applied it, answered `applied` with the store's revision after it (or the error
//!    applying it gave, if the model explains it). The model then places it by that revision.
//! 2. **Never applied** (its trace is on no entry any member applied during the run): it had no
//!    effect the run could see. Marked failed (the checker drops it). A read, which never becomes
//!    an entry, is treated the same.
//! 3. **Applied at two indexes**: one call took effect twice. That is a violation of its own
//!    ([`applied_at_most_once`]), and the step stays unknown.
//!
//! # Why this is sound
//! - Rule 1: the entry with the step's trace committed before any member applied it, after the
//!   client sent the request (a member proposes only what it received), so its linearization
//!   point lies in `[invoked, first applied]`, and its effect and revision are what the state
//!   machine computed for it, the same on every member.
//! - Rule 2: everything a client can observe was computed from some member's applied state: a
//!   read's result, a write's response (computed when applied), a lease expiry (recorded when first
//!   applied). So a call whose entry no member applied was observed by nobody, and "it took effect
//!   after every other operation" (or never) is a linearization point consistent with everything
//!   seen. The settle phase at the end of a run (clients stopped, faults healed, members caught up
//!   and quiet, see `run.rs`) lets entries still in flight land first, so fewer calls need rule 2.
//!
//! # What patching takes on trust, and which checks guard it
//! That the members' reports are the truth: every member applies the same entry at the same index
//! (`applied-entries-agree`) and ends with the same store (`stores-agree-hashkv`), and trace IDs are
//! unique per call (the workload numbers them, `workload::client::trace_id`). A node that applied
//! an entry without reporting it would make rule 2 wrong; the inspection events are emitted on the
//! apply path itself.

use crate::checks::Verdict;
use crate::eventlog::{EventLog, TracedEntry};
use crate::history::{History, Step, StepOutcome};
use detcd_check::models::etcd::{EtcdError, Request, Response, Revision};
use detcd_node::events::EntryOutcome;
use std::time::Duration;

/// What patching did, for the run's verdict text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatchReport {
    /// Unknown steps found applied (rule 1).
    pub applied: usize,
    /// Unknown writes found never applied (rule 2).
    pub never_applied: usize,
    /// Unknown reads dropped (rule 2).
    pub reads: usize,
    /// Unknown steps left unknown (applied twice, or an outcome the model cannot take).
    pub still_unknown: usize,
}

impl std::fmt::Display for PatchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown outcomes resolved from the members' applied entries: {} applied, {} never applied, {} reads; {} left unknown",
            self.applied, self.never_applied, self.reads, self.still_unknown
        )
    }
}

/// A step resolved by rule 1: a definite operation of its own pseudo-client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub request: Request,
    pub invoked: Duration,
    /// When the first member applied it.
    pub applied_at: Duration,
    pub response: Response,
}

/// `history` with every unknown step resolved where the members' reports allow (module doc).
pub fn patch(history: &History, log: &EventLog) -> (History, PatchReport) {
    let mut patched = history.clone();
    let mut report = PatchReport::default();
    for op in patched.ops.iter_mut().flatten() {
        let Some(step) = op.steps.last_mut() else { continue };
        if !matches!(step.outcome, StepOutcome::Info(_)) {
            continue;
        }
        match resolve(step, log.traced.get(&step.trace).map(Vec::as_slice).unwrap_or_default()) {
            Resolution::Applied(resolved) => {
                report.applied += 1;
                step.outcome = StepOutcome::Fail("resolved: applied; checked as its own operation".into());
                patched.resolved.push(resolved);
            }
            Resolution::Never if matches!(step.request, Request::Range { .. }) => {
                report.reads += 1;
                step.outcome = StepOutcome::Fail("resolved: a read has no effect".into());
            }
            Resolution::Never => {
                report.never_applied += 1;
                step.outcome = StepOutcome::Fail("resolved: never applied".into());
            }
            Resolution::Unknown => report.still_unknown += 1,
        }
    }
    patched.resolved.sort_by_key(|r| (r.applied_at, r.invoked));
    (patched, report)
}

enum Resolution {
    Applied(Resolved),
    Never,
    Unknown,
}

fn resolve(step: &Step, entries: &[TracedEntry]) -> Resolution {
    if step.trace == 0 {
        return Resolution::Unknown;
    }
    let Some(first) = entries.iter().min_by_key(|e| (e.at, e.node)) else { return Resolution::Never };
    if entries.iter().any(|e| e.index != first.index) {
        return Resolution::Unknown;
    }
    let response = match &first.outcome {
        EntryOutcome::Ok { revision: Some(r) } => Response::Applied { revision: Revision(*r) },
        EntryOutcome::Error { message } => match model_error(message) {
            Some(error) => Response::Error { error },
            None => return Resolution::Unknown,
        },
        EntryOutcome::Ok { revision: None } => return Resolution::Unknown,
    };
    Resolution::Applied(Resolved { request: step.request.clone(), invoked: step.invoked, applied_at: first.at.max(step.invoked), response })
}

/// The model's name for an error applying an entry gave, if it has one.
fn model_error(message: &str) -> Option<EtcdError> {
    match message {
        "etcdserver: requested lease not found" => Some(EtcdError::LeaseNotFound),
        "etcdserver: lease already exists" => Some(EtcdError::LeaseExists),
        _ => None,
    }
}

/// No client call took effect twice: every trace ID is on entries at one index only.
pub fn applied_at_most_once(log: &EventLog) -> Verdict {
    if log.traced.is_empty() {
        return Verdict::Skipped("no applied entry carried a client's trace".into());
    }
    for (trace, entries) in &log.traced {
        let mut indexes: Vec<u64> = entries.iter().map(|e| e.index).collect();
        indexes.sort_unstable();
        indexes.dedup();
        if indexes.len() > 1 {
            let first = &entries[0];
            return Verdict::Fail(format!(
                "the client call with trace {trace:032x} was applied at {} indexes ({indexes:?}); n{} first applied it at {:.3}s",
                indexes.len(),
                first.node + 1,
                first.at.as_secs_f64()
            ));
        }
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests;
