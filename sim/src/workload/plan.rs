//! What a client asks next: pure, from its random generator and what it has seen so far.
//!
//! A client remembers a little (the last value and mod revision it saw per key, the highest
//! revision, its own leases) so that compare-and-set, revoke and watch ask meaningful
//! questions instead of ones that always fail.

use crate::history::{lease_id, Step, StepOutcome};
use crate::scenario::OpKind;
use detcd_check::models::etcd::{
    Compare, CompareOp, CompareTarget, KeySet, LeaseId, Request, Response, Revision, TxnResponse,
};
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

/// TTLs a granted lease asks for: short enough that some run out within a run (the history
/// says they may, see `history`), long enough that most keys live a while.
pub const LEASE_TTL_S: RangeInclusive<i64> = 2..=6;
/// How long a watch stays open.
pub const WATCH_OPEN_MS: RangeInclusive<u64> = 200..=1000;
/// The TTL of a lock's lease: short, so that some holders outlive it (their fenced writes must
/// then fail, and another client may take the lock).
pub const LOCK_TTL_S: i64 = 2;
/// How long a client holds a lock it took (it writes in between).
pub const LOCK_HOLD_MS: RangeInclusive<u64> = 50..=2500;
/// Writes of `lockdata` while holding a lock.
pub const LOCK_WRITES: RangeInclusive<usize> = 1..=3;
/// The one lock the workload contends on.
pub const LOCK_NAME: &str = "lock";
/// The key lock holders write.
pub const LOCK_DATA_KEY: &str = "lockdata";
/// How far before the highest revision it has seen a watch may start.
pub const WATCH_REWIND_MAX: i64 = 5;

/// The next operation of a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// One request: get, put, delete, txn_cas, range, lease_revoke.
    One(Request),
    /// Grant a lease, and if that worked put a key with it.
    PutLease { grant: Request, key: String, value: String },
    Watch { keys: KeySet, start_revision: i64, open_for: Duration },
    /// Grant a lease, lock `LOCK_NAME` with it, write `values` to `LOCK_DATA_KEY` spread over
    /// `hold`, unlock.
    Lock { grant: Request, hold: Duration, values: Vec<String> },
    /// Renew this lease once.
    KeepAlive { lease: LeaseId },
}

/// What one client knows.
#[derive(Clone, Debug)]
pub struct Knowledge {
    client: usize,
    keys: usize,
    /// Values written so far (values are `c{client}-{n}`, unique in the run).
    writes: u64,
    /// Lease ids used so far (granted or revoked without a grant).
    lease_ids: u64,
    /// Leases this client granted that may still exist, in grant order.
    leases: Vec<LeaseId>,
    /// Per key, the last (value, mod revision) seen, or `None` if last seen absent.
    seen: BTreeMap<String, Option<(String, Revision)>>,
    /// The highest revision any response showed.
    revision: Revision,
}

impl Knowledge {
    pub fn new(client: usize, keys: usize) -> Knowledge {
        assert!(keys >= 1, "a workload has keys");
        Knowledge { client, keys, writes: 0, lease_ids: 0, leases: Vec::new(), seen: BTreeMap::new(), revision: Revision(0) }
    }

    fn key(&self, rng: &mut StdRng) -> String {
        format!("k{}", rng.gen_range(0..self.keys))
    }

    fn value(&mut self) -> String {
        self.writes += 1;
        format!("c{}-{}", self.client, self.writes - 1)
    }

    fn new_lease(&mut self) -> LeaseId {
        self.lease_ids += 1;
        lease_id(self.client, self.lease_ids - 1)
    }

    /// The next operation of kind `kind`. Every random draw comes from `rng`.
    pub fn plan(&mut self, kind: OpKind, rng: &mut StdRng) -> Plan {
        match kind {
            OpKind::Get => Plan::One(Request::Range { keys: KeySet::Key(self.key(rng)) }),
            OpKind::Put => {
                let (key, prev_kv) = (self.key(rng), rng.gen_bool(0.25));
                Plan::One(Request::Put { key, value: self.value(), lease: None, prev_kv })
            }
            OpKind::Delete => {
                let (key, prev_kv) = (self.key(rng), rng.gen_bool(0.25));
                Plan::One(Request::Delete { keys: KeySet::Key(key), prev_kv })
            }
            OpKind::TxnCas => Plan::One(self.cas(rng)),
            OpKind::Range => Plan::One(Request::Range { keys: self.key_set(rng) }),
            OpKind::PutLease => {
                let grant = Request::LeaseGrant { id: self.new_lease(), ttl_s: rng.gen_range(LEASE_TTL_S) };
                Plan::PutLease { grant, key: self.key(rng), value: self.value() }
            }
            OpKind::LeaseRevoke => {
                // One of ours that may exist, or else one never granted (etcd: not found).
                let id = if self.leases.is_empty() {
                    self.new_lease()
                } else {
                    self.leases.remove(rng.gen_range(0..self.leases.len()))
                };
                Plan::One(Request::LeaseRevoke { id })
            }
            OpKind::Watch => {
                let keys = if rng.gen_bool(0.5) { KeySet::Key(self.key(rng)) } else { KeySet::Prefix("k".into()) };
                let start_revision = match self.revision.0 {
                    0 => 0,
                    r => rng.gen_range((r - WATCH_REWIND_MAX).max(1)..=r + 1),
                };
                let open_for = Duration::from_millis(rng.gen_range(WATCH_OPEN_MS));
                Plan::Watch { keys, start_revision, open_for }
            }
            OpKind::LeaseKeepalive => {
                // One of ours that may exist (it stays on the list), or else one never granted.
                let lease = if self.leases.is_empty() { self.new_lease() } else { self.leases[rng.gen_range(0..self.leases.len())] };
                Plan::KeepAlive { lease }
            }
            OpKind::Lock => {
                let grant = Request::LeaseGrant { id: self.new_lease(), ttl_s: LOCK_TTL_S };
                let hold = Duration::from_millis(rng.gen_range(LOCK_HOLD_MS));
                let values = (0..rng.gen_range(LOCK_WRITES)).map(|_| self.value()).collect();
                Plan::Lock { grant, hold, values }
            }
        }
    }

    /// Compare-and-set on one key: if it still has the value (or mod revision) this client last
    /// saw, or is absent when never seen, put a new value; else read it.
    fn cas(&mut self, rng: &mut StdRng) -> Request {
        let key = self.key(rng);
        let target = match self.seen.get(&key) {
            Some(Some((value, _))) if rng.gen_bool(0.5) => CompareTarget::Value(value.clone()),
            Some(Some((_, mod_revision))) => CompareTarget::ModRevision(*mod_revision),
            Some(None) | None => CompareTarget::ModRevision(Revision(0)),
        };
        Request::Txn {
            compare: vec![Compare { keys: KeySet::Key(key.clone()), op: CompareOp::Equal, target }],
            success: vec![Request::Put { key: key.clone(), value: self.value(), lease: None, prev_kv: false }],
            failure: vec![Request::Range { keys: KeySet::Key(key) }],
        }
    }

    /// A prefix (`k` is every key; `k1` is k1 and k10..k19) or a range `[k_a, k_b)`.
    fn key_set(&self, rng: &mut StdRng) -> KeySet {
        if rng.gen_bool(0.5) {
            let key = self.key(rng);
            let len = rng.gen_range(1..=key.len());
            KeySet::Prefix(key[..len].to_string())
        } else {
            let (a, b) = (self.key(rng), self.key(rng));
            match a.cmp(&b) {
                std::cmp::Ordering::Less => KeySet::Range(a, b),
                std::cmp::Ordering::Greater => KeySet::Range(b, a),
                std::cmp::Ordering::Equal => KeySet::Key(a),
            }
        }
    }

    /// Learns from a finished step: values and revisions seen, leases that may exist.
    pub fn learn(&mut self, step: &Step) {
        match (&step.request, &step.outcome) {
            (Request::LeaseGrant { id, .. }, StepOutcome::Ok(Response::LeaseGrant { .. }) | StepOutcome::Info(_)) => {
                self.leases.push(*id);
            }
            // Still there for all we know (or never was: revoking it again is just as good).
            (Request::LeaseRevoke { id }, StepOutcome::Fail(_)) => self.leases.push(*id),
            (request, StepOutcome::Ok(response)) => self.learn_response(request, response),
            _ => {}
        }
    }

    fn learn_response(&mut self, request: &Request, response: &Response) {
        if let Some(r) = response.revision() {
            self.revision = self.revision.max(r);
        }
        match (request, response) {
            (Request::Range { keys }, Response::Range { kvs, .. }) => self.learn_read(keys, kvs),
            (Request::Put { key, value, .. }, Response::Put { revision, .. }) => {
                self.seen.insert(key.clone(), Some((value.clone(), *revision)));
            }
            (Request::Delete { keys: KeySet::Key(key), .. }, Response::Delete { .. }) => {
                self.seen.insert(key.clone(), None);
            }
            (Request::Txn { success, failure, .. }, Response::Txn { revision, succeeded, responses }) => {
                let branch = if *succeeded { success } else { failure };
                for (request, response) in branch.iter().zip(responses) {
                    match (request, response) {
                        (Request::Put { key, value, .. }, TxnResponse::Put { .. }) => {
                            self.seen.insert(key.clone(), Some((value.clone(), *revision)));
                        }
                        (Request::Range { keys }, TxnResponse::Range { kvs }) => self.learn_read(keys, kvs),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn learn_read(&mut self, keys: &KeySet, kvs: &[detcd_check::models::etcd::KeyValue]) {
        if let (KeySet::Key(key), []) = (keys, kvs) {
            self.seen.insert(key.clone(), None);
        }
        for kv in kvs {
            self.seen.insert(kv.key.clone(), Some((kv.value.clone(), kv.mod_revision)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn step(request: Request, outcome: StepOutcome) -> Step {
        Step { request, invoked: Duration::ZERO, completed: Duration::ZERO, outcome, trace: 0 }
    }

    #[test]
    fn values_are_unique_and_name_their_writer() {
        let mut k = Knowledge::new(3, 10);
        let mut rng = StdRng::seed_from_u64(1);
        let mut values = Vec::new();
        for kind in [OpKind::Put, OpKind::TxnCas, OpKind::PutLease, OpKind::Put] {
            match k.plan(kind, &mut rng) {
                Plan::One(Request::Put { value, .. }) | Plan::PutLease { value, .. } => values.push(value),
                Plan::One(Request::Txn { success, .. }) => match &success[0] {
                    Request::Put { value, .. } => values.push(value.clone()),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(values, ["c3-0", "c3-1", "c3-2", "c3-3"]);
    }

    #[test]
    fn cas_compares_against_what_the_client_saw_last() {
        let mut k = Knowledge::new(0, 1);
        let mut rng = StdRng::seed_from_u64(2);
        let Plan::One(Request::Txn { compare, .. }) = k.plan(OpKind::TxnCas, &mut rng) else { panic!() };
        assert_eq!(compare[0].target, CompareTarget::ModRevision(Revision(0)), "never seen: create if absent");
        k.learn(&step(
            Request::Put { key: "k0".into(), value: "c0-9".into(), lease: None, prev_kv: false },
            StepOutcome::Ok(Response::Put { revision: Revision(4), prev_kv: None }),
        ));
        for _ in 0..20 {
            let Plan::One(Request::Txn { compare, .. }) = k.plan(OpKind::TxnCas, &mut rng) else { panic!() };
            assert!(
                [CompareTarget::ModRevision(Revision(4)), CompareTarget::Value("c0-9".into())].contains(&compare[0].target),
                "{compare:?}"
            );
        }
    }

    #[test]
    fn revoke_takes_a_lease_that_may_exist_and_returns_it_if_the_revoke_surely_failed() {
        let mut k = Knowledge::new(1, 4);
        let mut rng = StdRng::seed_from_u64(3);
        let Plan::PutLease { grant, .. } = k.plan(OpKind::PutLease, &mut rng) else { panic!() };
        let Request::LeaseGrant { id, .. } = grant else { panic!() };
        k.learn(&step(grant, StepOutcome::Info("timeout".into())));
        let revoke = k.plan(OpKind::LeaseRevoke, &mut rng);
        assert_eq!(revoke, Plan::One(Request::LeaseRevoke { id }));
        k.learn(&step(Request::LeaseRevoke { id }, StepOutcome::Fail("no leader".into())));
        assert_eq!(k.plan(OpKind::LeaseRevoke, &mut rng), Plan::One(Request::LeaseRevoke { id }));
        // None left: a lease never granted.
        let Plan::One(Request::LeaseRevoke { id: never }) = k.plan(OpKind::LeaseRevoke, &mut rng) else { panic!() };
        assert_ne!(never, id);
    }

    #[test]
    fn watches_start_near_the_latest_revision_seen() {
        let mut k = Knowledge::new(0, 2);
        let mut rng = StdRng::seed_from_u64(4);
        let Plan::Watch { start_revision, .. } = k.plan(OpKind::Watch, &mut rng) else { panic!() };
        assert_eq!(start_revision, 0, "nothing seen yet: from now");
        k.learn(&step(Request::Range { keys: KeySet::Key("k0".into()) }, StepOutcome::Ok(Response::Range { revision: Revision(20), kvs: vec![] })));
        for _ in 0..20 {
            let Plan::Watch { start_revision, open_for, .. } = k.plan(OpKind::Watch, &mut rng) else { panic!() };
            assert!((15..=21).contains(&start_revision), "{start_revision}");
            assert!(open_for >= Duration::from_millis(*WATCH_OPEN_MS.start()));
        }
    }
}
