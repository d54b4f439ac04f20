//! Lease checks, over the client history and the members' reports of lease ends.
//!
//! - **Keys die with their lease** ([`keys_die_with_their_lease`]): once some member applied the
//!   end of lease `L` (a client's revoke or the cluster's expiry) at revision `R`, no successful
//!   read at a revision `>= R` returns a key attached to `L`. Linearizability implies this too,
//!   but this check needs no search: it still answers when the linearizability check runs out
//!   of budget, and it names the key and the lease.
//! - **No lease expires before its TTL by the deciding member's clock** ([`no_early_expiry`]):
//!   for every lease the cluster expired, the time from the moment its grant, or the latest
//!   keep-alive that was answered with a TTL above 0, was sent to the moment a member first
//!   applied its expiry, measured on the clock of the member that proposed the expiry (the
//!   member bits of the entry's request ID; the local times come from the simulator's record of
//!   every clock change, [`EventLog::local_time`]), is at least the TTL the client asked for.
//!   The TTL can only start after the grant was sent, the proposer only expires a lease after
//!   its TTL by its own clock counted from its own renewal or promotion (both after the send),
//!   and the first apply comes after the proposal, so a correct cluster always passes. Drift
//!   counts: a leader whose clock runs fast expires leases early in real time, and is right by
//!   its own clock. A lease whose judge clock jumped between grant and expiry is not judged (a
//!   jump is the clock's doing, not the lessor's). Without a known proposer (member IDs whose
//!   low 16 bits collide), the leader at the moment of the first apply judges. An expiry
//!   proposed by a member that did not lead at any moment while the lease lived fails outright:
//!   only the primary lessor decides expiries.
//!
//! A keep-alive answered by a member that was no longer leader (and did not check) renews a lease
//! the real leader never hears of: this check catches that (etcd 3.5 added `ensureLeadership`
//! to `LeaseRenew` for it, etcd issue 15247).
//!
//! Judging by the proposer's clock matters when leadership changes while an expiry is in flight:
//! the new leader's clock used to judge the old leader's decision, a false alarm when the two
//! clocks ran at different rates (all-faults-5-nodes seed 581: the new leader's clock had run at
//! 0.56x).

use super::Verdict;
use crate::eventlog::EventLog;
use crate::history::{History, Outcome, Renewal, StepOutcome};
use detcd_check::models::etcd::{KeyValue, LeaseId, Request, Response, TxnResponse};
use std::collections::BTreeMap;
use std::time::Duration;

/// Slack for rounding local times (nanoseconds through a float rate).
const CLOCK_SLACK: Duration = Duration::from_millis(1);

/// No successful read at or after a lease's end revision shows a key attached to that lease.
pub fn keys_die_with_their_lease(history: &History, log: &EventLog) -> Verdict {
    // The first (lowest) end revision per lease, and who applied it when.
    let mut ends: BTreeMap<i64, (i64, usize, Duration)> = BTreeMap::new();
    for e in &log.lease_ends {
        let entry = ends.entry(e.lease).or_insert((e.revision, e.node, e.at));
        if e.revision < entry.0 {
            *entry = (e.revision, e.node, e.at);
        }
    }
    if ends.is_empty() {
        return Verdict::Skipped("no lease ended".into());
    }
    for op in history.all() {
        for step in &op.steps {
            let StepOutcome::Ok(response) = &step.outcome else { continue };
            let Some((revision, kvs)) = read_of(&step.request, response) else { continue };
            for kv in kvs {
                let Some(LeaseId(lease)) = kv.lease else { continue };
                if let Some(&(end, node, at)) = ends.get(&lease) {
                    if revision >= end {
                        return Verdict::Fail(format!(
                            "client {} read {}={} attached to lease {lease} at revision {revision} ({:.3}s), but n{} had ended that lease at revision {end} ({:.3}s)",
                            op.client,
                            kv.key,
                            kv.value,
                            step.completed.as_secs_f64(),
                            node + 1,
                            at.as_secs_f64()
                        ));
                    }
                }
            }
        }
    }
    Verdict::Pass
}

/// The keys a successful read returned, with the revision they were read at: a range, or a txn
/// that changed nothing (its ranges read the revision it reports).
fn read_of<'a>(request: &Request, response: &'a Response) -> Option<(i64, Vec<&'a KeyValue>)> {
    match response {
        Response::Range { revision, kvs } => Some((revision.0, kvs.iter().collect())),
        Response::Txn { revision, responses, .. } if response.changes_nothing(request) => {
            let mut kvs = Vec::new();
            collect_ranges(responses, &mut kvs);
            Some((revision.0, kvs))
        }
        _ => None,
    }
}

fn collect_ranges<'a>(responses: &'a [TxnResponse], out: &mut Vec<&'a KeyValue>) {
    for r in responses {
        match r {
            TxnResponse::Range { kvs } => out.extend(kvs),
            TxnResponse::Txn { responses, .. } => collect_ranges(responses, out),
            _ => {}
        }
    }
}

/// Every expired lease lived at least its TTL by the leader's clock (see the module doc).
pub fn no_early_expiry(history: &History, log: &EventLog) -> Verdict {
    // When each lease's grant (or latest renewal) was sent, the TTL asked for, by which client.
    let mut grants: BTreeMap<i64, (Duration, i64, usize)> = BTreeMap::new();
    for op in history.all() {
        for step in &op.steps {
            if let Request::LeaseGrant { id, ttl_s } = &step.request {
                if !matches!(step.outcome, StepOutcome::Fail(_)) {
                    grants.entry(id.0).or_insert((step.invoked, *ttl_s, op.client));
                }
            }
        }
    }
    for k in history.all().filter_map(|op| op.keepalive.as_ref()) {
        if let (Outcome::Ok(Renewal { ttl }), Some(g)) = (&k.outcome, grants.get_mut(&k.lease.0)) {
            if *ttl > 0 && k.invoked > g.0 {
                g.0 = k.invoked;
            }
        }
    }
    let expiries = log.expiries();
    if expiries.is_empty() {
        return Verdict::Skipped("no lease expired".into());
    }
    let mut judged = 0;
    for e in &expiries {
        let Some(&(granted, ttl_s, client)) = grants.get(&e.lease) else {
            return Verdict::Fail(format!("n{} expired lease {} at {:.3}s, which no client asked for", e.node + 1, e.lease, e.at.as_secs_f64()));
        };
        // The member that decided the expiry judges it by its own clock, and it must have led while
        // the lease lived: only the primary lessor expires leases. Without a known proposer, the
        // leader at the moment of the first apply judges.
        if granted >= e.at {
            // A member had applied the expiry (so it was committed) before this renewal was sent;
            // a leader that confirmed its leadership afterwards has applied it too: TTL 0.
            return Verdict::Fail(format!(
                "lease {} was renewed with a TTL above 0 by client {client}'s keep-alive sent at {:.3}s, after n{} had applied its expiry at {:.3}s",
                e.lease,
                granted.as_secs_f64(),
                e.node + 1,
                e.at.as_secs_f64()
            ));
        }
        if let Some(p) = e.proposer.filter(|p| !log.led_during(*p, granted, e.at)) {
            return Verdict::Fail(format!(
                "lease {} (TTL {ttl_s}s, granted or renewed by client {client} at {:.3}s) was expired by n{}, which did not lead at any moment from then until the expiry was applied ({:.3}s)",
                e.lease,
                granted.as_secs_f64(),
                p + 1,
                e.at.as_secs_f64()
            ));
        }
        let Some(judge) = e.proposer.or_else(|| log.leader_at(e.at)) else { continue };
        if log.last_jump(judge, e.at).is_some_and(|j| j > granted) {
            continue;
        }
        judged += 1;
        let lived_ns = log.local_time(judge, e.at) - log.local_time(judge, granted);
        let ttl = Duration::from_secs(ttl_s.max(0) as u64);
        if lived_ns + (CLOCK_SLACK.as_nanos() as i128) < ttl.as_nanos() as i128 {
            return Verdict::Fail(format!(
                "lease {} (TTL {ttl_s}s, granted or renewed by client {client} at {:.3}s) expired at {:.3}s, first applied by n{}: only {:.3}s later by the clock of n{}, which decided the expiry",
                e.lease,
                granted.as_secs_f64(),
                e.at.as_secs_f64(),
                e.node + 1,
                lived_ns as f64 / 1e9,
                judge + 1
            ));
        }
    }
    if judged == 0 {
        return Verdict::Skipped(format!("{} lease(s) expired, none judgeable (a jump of the judge's clock, or no leader)", expiries.len()));
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::{ClockChange, Entry, LeaseEnd};
    use crate::history::{ClientOp, KeepAliveRecord, Step};
    use crate::scenario::OpKind;
    use detcd_check::models::etcd::{KeySet, Revision};
    use detcd_node::events::Role;
    use detcd_node::types::{MemberId, Term};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn log() -> EventLog {
        let mut l = EventLog::new(&[MemberId(1), MemberId(2), MemberId(3)]);
        l.record(ms(100), Entry::Role { node: 0, term: Term(1), role: Role::Leader, leader: Some(0) });
        l
    }

    fn end(l: &mut EventLog, at: u64, node: usize, lease: i64, revision: i64, expired: bool) {
        l.lease_ends.push(LeaseEnd { at: ms(at), node, lease, revision, expired, proposer: None });
    }

    fn step(request: Request, invoked: u64, completed: u64, response: Response) -> Step {
        Step { request, invoked: ms(invoked), completed: ms(completed), outcome: StepOutcome::Ok(response), trace: 0 }
    }

    /// Client 0 grants lease 7 (TTL 2 s) at 1 s and puts k1 with it; client 1 reads k1 at
    /// `read_ms` and sees it at revision `read_rev` (or not, when `seen` is false).
    fn history(read_ms: u64, read_rev: i64, seen: bool) -> History {
        let kv = KeyValue { key: "k1".into(), value: "c0-0".into(), create_revision: Revision(2), mod_revision: Revision(2), version: 1, lease: Some(LeaseId(7)) };
        let grant = step(Request::LeaseGrant { id: LeaseId(7), ttl_s: 2 }, 1000, 1005, Response::LeaseGrant { revision: Revision(1) });
        let put = step(Request::Put { key: "k1".into(), value: "c0-0".into(), lease: Some(LeaseId(7)), prev_kv: false }, 1005, 1010, Response::Put { revision: Revision(2), prev_kv: None });
        let read = step(Request::Range { keys: KeySet::Key("k1".into()) }, read_ms, read_ms + 5, Response::Range { revision: Revision(read_rev), kvs: if seen { vec![kv] } else { vec![] } });
        History::new(vec![
            vec![ClientOp { client: 0, kind: OpKind::PutLease, member: 0, steps: vec![grant, put], watch: None, lock: None, keepalive: None }],
            vec![ClientOp { client: 1, kind: OpKind::Get, member: 0, steps: vec![read], watch: None, lock: None, keepalive: None }],
        ])
    }

    #[test]
    fn a_key_read_after_its_lease_ended_fails() {
        let mut l = log();
        assert!(matches!(keys_die_with_their_lease(&history(4000, 3, true), &l), Verdict::Skipped(_)));
        end(&mut l, 3500, 0, 7, 3, true);
        end(&mut l, 3520, 1, 7, 3, true);
        // Read before the end's revision: fine; after it with the key gone: fine.
        assert_eq!(keys_die_with_their_lease(&history(3000, 2, true), &l), Verdict::Pass);
        assert_eq!(keys_die_with_their_lease(&history(4000, 3, false), &l), Verdict::Pass);
        // Read at the end's revision and the key is still there.
        let v = keys_die_with_their_lease(&history(4000, 3, true), &l);
        assert!(matches!(&v, Verdict::Fail(w) if w.contains("lease 7") && w.contains("k1")), "{v:?}");
    }

    #[test]
    fn an_expiry_before_the_ttl_by_the_leaders_clock_fails() {
        // Granted at 1.0 s with TTL 2 s: expiring at 3.2 s is right, at 2.5 s is early.
        let mut ok = log();
        end(&mut ok, 3200, 0, 7, 3, true);
        assert_eq!(no_early_expiry(&history(4000, 3, false), &ok), Verdict::Pass);
        let mut early = log();
        end(&mut early, 2500, 0, 7, 3, true);
        let v = no_early_expiry(&history(4000, 3, false), &early);
        assert!(matches!(&v, Verdict::Fail(w) if w.contains("lease 7") && w.contains("n1")), "{v:?}");
        // A client's revoke is not an expiry: nothing to judge.
        let mut revoked = log();
        end(&mut revoked, 1500, 0, 7, 3, false);
        assert!(matches!(no_early_expiry(&history(4000, 3, false), &revoked), Verdict::Skipped(_)));
    }

    #[test]
    fn the_leaders_clock_is_the_judge() {
        // The leader's clock runs at 2x from 0.5 s: by 2.5 s it has counted 4 s since the grant
        // at 1.0 s (3 s of it doubled), so an expiry then is right by its clock.
        let mut fast = log();
        fast.clock_changes.push(ClockChange { at: ms(500), node: 0, local_ns: 500_000_000, rate: 2.0, jumped: false });
        end(&mut fast, 2500, 0, 7, 3, true);
        assert_eq!(no_early_expiry(&history(4000, 3, false), &fast), Verdict::Pass);
        // The same expiry with a slow leader clock (0.5x) is early.
        let mut slow = log();
        slow.clock_changes.push(ClockChange { at: ms(500), node: 0, local_ns: 500_000_000, rate: 0.5, jumped: false });
        end(&mut slow, 3500, 0, 7, 3, true);
        assert!(matches!(no_early_expiry(&history(4000, 3, false), &slow), Verdict::Fail(_)));
        // A jump of the judge's clock after the grant: not judged.
        let mut jumped = log();
        jumped.clock_changes.push(ClockChange { at: ms(1500), node: 0, local_ns: 9_000_000_000, rate: 1.0, jumped: true });
        end(&mut jumped, 2000, 0, 7, 3, true);
        assert!(matches!(no_early_expiry(&history(4000, 3, false), &jumped), Verdict::Skipped(_)));
    }

    #[test]
    fn the_member_that_decided_the_expiry_is_the_judge() {
        // n1 leads and expires lease 7 by its own clock; n2, whose clock ran at 0.5x, leads when the
        // expiry is first applied (all-faults-5-nodes seed 581). n1's clock is the judge.
        let mut l = log();
        l.record(ms(3000), Entry::Role { node: 1, term: Term(2), role: Role::Leader, leader: Some(1) });
        l.clock_changes.push(ClockChange { at: ms(500), node: 1, local_ns: 500_000_000, rate: 0.5, jumped: false });
        l.lease_ends.push(LeaseEnd { at: ms(3200), node: 1, lease: 7, revision: 3, expired: true, proposer: Some(0) });
        assert_eq!(no_early_expiry(&history(4000, 3, false), &l), Verdict::Pass);
        // Decided by n2 on its slow clock: early by that clock.
        l.lease_ends[0].proposer = Some(1);
        let v = no_early_expiry(&history(4000, 3, false), &l);
        assert!(matches!(&v, Verdict::Fail(w) if w.contains("clock of n2")), "{v:?}");
    }

    #[test]
    fn an_expiry_decided_by_a_member_that_never_led_fails() {
        // n1 leads throughout; n3 proposes the expiry (a follower expiring by its own clock).
        let mut l = log();
        l.lease_ends.push(LeaseEnd { at: ms(3200), node: 0, lease: 7, revision: 3, expired: true, proposer: Some(2) });
        let v = no_early_expiry(&history(4000, 3, false), &l);
        assert!(matches!(&v, Verdict::Fail(w) if w.contains("n3, which did not lead")), "{v:?}");
    }

    #[test]
    fn a_renewal_sent_after_the_expiry_was_applied_fails() {
        let mut h = history(4000, 3, false);
        let mut l = log();
        l.lease_ends.push(LeaseEnd { at: ms(3200), node: 1, lease: 7, revision: 3, expired: true, proposer: Some(0) });
        h.ops.push(vec![ClientOp {
            client: 2,
            kind: OpKind::LeaseKeepalive,
            member: 0,
            steps: vec![],
            watch: None,
            lock: None,
            keepalive: Some(KeepAliveRecord { lease: LeaseId(7), invoked: ms(3300), completed: ms(3310), outcome: Outcome::Ok(Renewal { ttl: 2 }) }),
        }]);
        let v = no_early_expiry(&h, &l);
        assert!(matches!(&v, Verdict::Fail(w) if w.contains("after n2 had applied its expiry")), "{v:?}");
    }

    #[test]
    fn a_renewal_moves_the_start_of_the_ttl() {
        // Granted at 1.0 s (TTL 2 s), renewed at 2.0 s: expiring at 3.5 s is early.
        let mut h = history(4000, 3, false);
        let keepalive = |invoked: u64, ttl: i64| ClientOp {
            client: 2,
            kind: OpKind::LeaseKeepalive,
            member: 0,
            steps: vec![],
            watch: None,
            lock: None,
            keepalive: Some(KeepAliveRecord { lease: LeaseId(7), invoked: ms(invoked), completed: ms(invoked + 2), outcome: Outcome::Ok(Renewal { ttl }) }),
        };
        let mut l = log();
        end(&mut l, 3500, 0, 7, 3, true);
        assert_eq!(no_early_expiry(&h, &l), Verdict::Pass);
        h.ops.push(vec![keepalive(2000, 0)]);
        assert_eq!(no_early_expiry(&h, &l), Verdict::Pass, "a TTL of 0 renews nothing");
        h.ops[2].push(keepalive(2100, 2));
        let v = no_early_expiry(&h, &l);
        assert!(matches!(&v, Verdict::Fail(w) if w.contains("renewed")), "{v:?}");
    }

    #[test]
    fn an_expiry_of_a_lease_nobody_granted_fails() {
        let mut l = log();
        end(&mut l, 3200, 0, 8, 3, true);
        assert!(matches!(no_early_expiry(&history(4000, 3, false), &l), Verdict::Fail(w) if w.contains("no client asked")));
    }
}
