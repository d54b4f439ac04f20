//! **Lock exclusion** ([`lock_exclusion`]): holders of an etcd lock never overlap, judged by
//! revisions, and a holder's writes land while it holds the lock.
//!
//! etcd's lock (`v3lock`, the `concurrency.Mutex` recipe) hands the lock to the waiter whose
//! ownership key has the lowest create revision, once every older key is deleted: by `Unlock`,
//! or by the end of the holder's lease. So, for every two acquisitions of one lock, `A` at
//! revision `a` and `B` at revision `b > a` (the `Lock` responses' revisions):
//!
//! - **exclusion**: `A`'s ownership key was deleted at a revision `<= b`. The deletion revision
//!   is the lower of `A`'s `Unlock` response revision and the revision at which a member applied
//!   the end of `A`'s lease; if neither happened and the unlock certainly failed, the key was
//!   never deleted. If the unlock's outcome is unknown and the lease never ended, `A` is not
//!   judged.
//! - **writes while held**: every write of `A` that took effect (the fenced txn succeeded, or
//!   an unfenced put was acknowledged) has a revision `>= a` and `<` that deletion revision.
//!
//! Jepsen's finding on etcd locks is that a holder cannot know its lease ran out (a pause, a
//! slow network), so the lock alone never guarantees exclusion of the holders' *actions*: only
//! fencing does. The workload fences each write with a txn on its ownership key, so a holder
//! whose lease ended writes nothing; without the fence (the `unfenced-lock` bug) its write lands
//! after the lock passed on, and the second rule fails, naming the lease end that explains it.
//! A lease that ended while its holder still held the lock is a pass as long as no write of
//! that holder landed afterwards: the fence did its job.

use super::Verdict;
use crate::eventlog::EventLog;
use crate::history::{History, LockAnswer, LockRecord, Outcome, StepOutcome};
use detcd_check::models::etcd::Response;
use std::collections::BTreeMap;

/// One acquisition, as the check sees it.
struct Hold<'a> {
    client: usize,
    record: &'a LockRecord,
    acquired: i64,
    /// When the ownership key was deleted: `Some(Some(r))` at revision `r`, `Some(None)` never,
    /// `None` unknown.
    deleted: Option<Option<i64>>,
    /// Why it was deleted (unlock, lease end), for messages.
    how: String,
}

/// See the module doc.
pub fn lock_exclusion(history: &History, log: &EventLog) -> Verdict {
    let mut lease_end: BTreeMap<i64, i64> = BTreeMap::new();
    for e in &log.lease_ends {
        let r = lease_end.entry(e.lease).or_insert(e.revision);
        *r = (*r).min(e.revision);
    }
    let mut holds: BTreeMap<&str, Vec<Hold>> = BTreeMap::new();
    for op in history.all() {
        let Some(record) = &op.lock else { continue };
        let Some(Outcome::Ok(LockAnswer { revision: acquired, .. })) = record.acquire.as_ref().map(|a| &a.outcome) else { continue };
        let ended = lease_end.get(&record.lease.0).copied();
        let unlocked = record.unlock.as_ref().map(|u| &u.outcome);
        let (deleted, how) = match (unlocked, ended) {
            (Some(Outcome::Ok(LockAnswer { revision, .. })), Some(e)) if e < *revision => (Some(Some(e)), format!("lease {} ended", record.lease)),
            (Some(Outcome::Ok(LockAnswer { revision, .. })), _) => (Some(Some(*revision)), "unlocked".to_string()),
            (_, Some(e)) => (Some(Some(e)), format!("lease {} ended", record.lease)),
            (None | Some(Outcome::Fail(_)), None) => (Some(None), "never unlocked, lease never ended".to_string()),
            (Some(Outcome::Info(_)), None) => (None, "unlock outcome unknown".to_string()),
        };
        holds.entry(record.name.as_str()).or_default().push(Hold { client: op.client, record, acquired: *acquired, deleted, how });
    }
    if holds.is_empty() {
        return Verdict::Skipped("no lock was acquired".into());
    }
    for (name, mut hs) in holds {
        hs.sort_by_key(|h| h.acquired);
        for h in &hs {
            if let Some(why) = wrote_outside(h) {
                return Verdict::Fail(format!("lock {name}: client {} (acquired at revision {}): {why}", h.client, h.acquired));
            }
        }
        for pair in hs.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let overlap = match a.deleted {
                Some(Some(d)) => d > b.acquired,
                Some(None) => true,
                None => false,
            };
            if overlap {
                return Verdict::Fail(format!(
                    "lock {name}: client {} acquired it at revision {} while client {} held it (acquired at revision {}, {}{})",
                    b.client,
                    b.acquired,
                    a.client,
                    a.acquired,
                    a.how,
                    a.deleted.flatten().map(|d| format!(" at revision {d}")).unwrap_or_default()
                ));
            }
        }
    }
    Verdict::Pass
}

/// A write of `h` that took effect outside `[acquired, deleted)`.
fn wrote_outside(h: &Hold) -> Option<String> {
    for w in &h.record.writes {
        let revision = match &w.outcome {
            StepOutcome::Ok(Response::Txn { succeeded: true, revision, .. }) | StepOutcome::Ok(Response::Put { revision, .. }) => revision.0,
            _ => continue,
        };
        if revision < h.acquired {
            return Some(format!("a write landed at revision {revision}, before the lock was acquired"));
        }
        if let Some(deleted) = h.deleted.flatten() {
            if revision >= deleted {
                return Some(format!(
                    "a write landed at revision {revision} ({:.3}s), after its ownership key was deleted at revision {deleted} ({}): an unfenced write",
                    w.completed.as_secs_f64(),
                    h.how
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::LeaseEnd;
    use crate::history::{ClientOp, LockCall, OutcomeClass, Step};
    use crate::scenario::OpKind;
    use detcd_check::models::etcd::{LeaseId, Request, Revision};
    use detcd_node::types::MemberId;
    use std::time::Duration;

    fn call(ms: u64, outcome: Outcome<LockAnswer>) -> LockCall {
        LockCall { invoked: Duration::from_millis(ms), completed: Duration::from_millis(ms + 1), outcome }
    }

    fn ok(revision: i64) -> Outcome<LockAnswer> {
        Outcome::Ok(LockAnswer { key: "lock/x".into(), revision })
    }

    fn write(revision: i64, succeeded: bool) -> Step {
        let request = Request::Put { key: "lockdata".into(), value: "v".into(), lease: None, prev_kv: false };
        let response = Response::Txn { revision: Revision(revision), succeeded, responses: vec![] };
        Step { request, invoked: Duration::from_millis(revision as u64), completed: Duration::from_millis(revision as u64), outcome: StepOutcome::Ok(response), trace: 0 }
    }

    /// Client `client` (lease `client + 1`) takes the lock at `acquired`, writes at `writes`,
    /// and unlocks with `unlock`.
    fn hold(client: usize, acquired: i64, writes: Vec<Step>, unlock: Option<Outcome<LockAnswer>>) -> ClientOp {
        let grant = Step {
            request: Request::LeaseGrant { id: LeaseId(client as i64 + 1), ttl_s: 2 },
            invoked: Duration::ZERO,
            completed: Duration::ZERO,
            outcome: StepOutcome::Ok(Response::LeaseGrant { revision: Revision(1) }),
            trace: 0,
        };
        let record = LockRecord {
            name: "lock".into(),
            lease: LeaseId(client as i64 + 1),
            acquire: Some(call(acquired as u64, ok(acquired))),
            writes,
            unlock: unlock.map(|u| call(1000, u)),
            closed: Duration::from_millis(1001),
            outcome: OutcomeClass::Ok,
        };
        ClientOp { client, kind: OpKind::Lock, member: 0, steps: vec![grant], watch: None, lock: Some(record), keepalive: None }
    }

    fn log() -> EventLog {
        EventLog::new(&[MemberId(1), MemberId(2), MemberId(3)])
    }

    fn check(a: ClientOp, b: ClientOp, l: &EventLog) -> Verdict {
        lock_exclusion(&History::new(vec![vec![a], vec![b]]), l)
    }

    #[test]
    fn holders_one_after_the_other_pass() {
        let v = check(hold(0, 5, vec![write(6, true)], Some(ok(7))), hold(1, 7, vec![write(8, true)], Some(ok(9))), &log());
        assert_eq!(v, Verdict::Pass);
    }

    #[test]
    fn overlapping_holders_fail() {
        let v = check(hold(0, 5, vec![], Some(ok(9))), hold(1, 7, vec![], Some(ok(10))), &log());
        assert!(matches!(&v, Verdict::Fail(w) if w.contains("client 1 acquired it at revision 7 while client 0 held it")), "{v:?}");
        // Never released at all.
        let v = check(hold(0, 5, vec![], Some(Outcome::Fail("refused".into()))), hold(1, 7, vec![], Some(ok(10))), &log());
        assert!(matches!(v, Verdict::Fail(_)));
        // Unknown unlock, no lease end: not judged.
        let v = check(hold(0, 5, vec![], Some(Outcome::Info("timeout".into()))), hold(1, 7, vec![], Some(ok(10))), &log());
        assert_eq!(v, Verdict::Pass);
    }

    #[test]
    fn a_lease_end_releases_the_lock_and_fences_later_writes() {
        let mut l = log();
        l.lease_ends.push(LeaseEnd { at: Duration::from_millis(600), node: 0, lease: 1, revision: 6, expired: true, proposer: Some(0) });
        // Client 0's lease ended at 6; client 1 took the lock at 7; client 0's fenced write at
        // 8 failed (the txn did not succeed): a pass.
        let fenced = check(hold(0, 5, vec![write(8, false)], Some(ok(9))), hold(1, 7, vec![], Some(ok(10))), &l);
        assert_eq!(fenced, Verdict::Pass);
        // The same write unfenced: it landed after the lock passed on.
        let unfenced = check(hold(0, 5, vec![write(8, true)], Some(ok(9))), hold(1, 7, vec![], Some(ok(10))), &l);
        assert!(matches!(&unfenced, Verdict::Fail(w) if w.contains("unfenced") && w.contains("lease 1 ended")), "{unfenced:?}");
    }
}
