//! The primary's lease timers.

use super::table::LeaseTable;
use crate::clock::LocalTime;
use crate::types::{LeaseId, Term};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// After proposing to revoke an expired lease, the primary waits this long before proposing it
/// again (etcd `expiredLeaseRetryInterval`): the first proposal may have been lost with a leader
/// change, or still be on its way.
pub const EXPIRED_RETRY: Duration = Duration::from_secs(3);

/// Why a renew (keep-alive) or a TTL query could not be answered here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenewError {
    /// This member is not the primary: ask the leader.
    NotPrimary,
    /// No such lease.
    NotFound,
    /// The lease has run out and its revoke is on its way: the caller waits for it to be applied
    /// and then answers "not found" (etcd's `Renew` waits for `revokec` the same way).
    Expired,
}

/// This member's lease timers. Empty (not primary) except while this member leads.
#[derive(Debug, Default)]
pub struct Lessor {
    primary: Option<Primary>,
}

/// The timers of a primary.
#[derive(Debug, Default)]
struct Primary {
    /// The term of leadership these timers belong to: a renewal is valid only if the member
    /// confirmed it still leads in this term.
    term: Term,
    /// When each scheduled lease expires.
    /// - Together with `unscheduled`, exactly the leases of the table, each once.
    expiry: BTreeMap<LeaseId, LocalTime>,
    /// `expiry` ordered by time, to find the expired ones without a scan.
    /// - Exactly the pairs `(expiry[id], id)`.
    queue: BTreeSet<(LocalTime, LeaseId)>,
    /// Leases granted (applied) since the last call that knew the time: they get a full TTL from
    /// that call on. The apply path has no clock (it is pure), and starting a TTL a little later
    /// than the grant only ever lengthens a lease, never shortens it.
    unscheduled: BTreeSet<LeaseId>,
    /// Expired leases whose revoke was proposed, with the time to propose again if still there.
    /// - A subset of `expiry`'s keys.
    revoking: BTreeMap<LeaseId, LocalTime>,
}

impl Primary {
    fn set(&mut self, id: LeaseId, at: LocalTime) {
        if let Some(old) = self.expiry.insert(id, at) {
            self.queue.remove(&(old, id));
        }
        self.queue.insert((at, id));
    }

    fn remove(&mut self, id: LeaseId) {
        if let Some(old) = self.expiry.remove(&id) {
            self.queue.remove(&(old, id));
        }
        self.unscheduled.remove(&id);
        self.revoking.remove(&id);
    }

    /// Gives every lease granted since the last call a full TTL from `now`.
    fn schedule(&mut self, table: &LeaseTable, now: LocalTime) {
        for id in std::mem::take(&mut self.unscheduled) {
            let lease = table.get(id).expect("an unscheduled lease is in the table");
            self.set(id, now.plus(ttl(lease.ttl_s)));
        }
    }
}

fn ttl(ttl_s: i64) -> Duration {
    Duration::from_secs(ttl_s.max(0) as u64)
}

impl Lessor {
    pub fn new() -> Lessor {
        Lessor::default()
    }

    /// Whether this member keeps lease timers (it is, or recently was, the leader).
    pub fn is_primary(&self) -> bool {
        self.primary.is_some()
    }

    /// The term of leadership this member keeps the timers for, if it keeps them.
    pub fn primary_term(&self) -> Option<Term> {
        self.primary.as_ref().map(|p| p.term)
    }

    /// Makes this member the primary for its leadership in `term`: every lease gets its full TTL
    /// plus `extend` from `now` (etcd's refresh on promote), so that no lease expires early
    /// because leadership moved. The caller promotes only once it has applied every entry
    /// committed before `term` began (`NodeStatus::lead_ready`; module doc of `lease`).
    ///
    /// # Panics
    /// If already primary: the caller demotes first (a new term is a new leadership).
    pub fn promote(&mut self, table: &LeaseTable, now: LocalTime, extend: Duration, term: Term) {
        assert!(self.primary.is_none(), "promote while already primary");
        let mut p = Primary { term, ..Primary::default() };
        for lease in table.iter() {
            p.set(lease.id, now.plus(extend + ttl(lease.ttl_s)));
        }
        self.primary = Some(p);
    }

    /// Stops keeping timers (this member no longer leads): nothing expires here any more.
    pub fn demote(&mut self) {
        self.primary = None;
    }

    /// A grant was applied. Called by the apply path, which has no clock.
    pub fn granted(&mut self, id: LeaseId) {
        if let Some(p) = &mut self.primary {
            p.unscheduled.insert(id);
        }
    }

    /// A revoke (by a client or by expiry) was applied.
    pub fn revoked(&mut self, id: LeaseId) {
        if let Some(p) = &mut self.primary {
            p.remove(id);
        }
    }

    /// A keep-alive: restarts the lease's TTL from `now` and returns the TTL in seconds.
    ///
    /// # Errors
    /// See [`RenewError`].
    pub fn renew(&mut self, table: &LeaseTable, id: LeaseId, now: LocalTime) -> Result<i64, RenewError> {
        let p = self.primary.as_mut().ok_or(RenewError::NotPrimary)?;
        let lease = table.get(id).ok_or(RenewError::NotFound)?;
        p.schedule(table, now);
        if p.expiry[&id] <= now {
            return Err(RenewError::Expired);
        }
        p.set(id, now.plus(ttl(lease.ttl_s)));
        Ok(lease.ttl_s)
    }

    /// How long lease `id` has left (etcd `Remaining`; zero once expired).
    ///
    /// # Errors
    /// `NotPrimary` or `NotFound`.
    pub fn remaining(&mut self, table: &LeaseTable, id: LeaseId, now: LocalTime) -> Result<Duration, RenewError> {
        let p = self.primary.as_mut().ok_or(RenewError::NotPrimary)?;
        if !table.contains(id) {
            return Err(RenewError::NotFound);
        }
        p.schedule(table, now);
        Ok(p.expiry[&id].since(now))
    }

    /// The leases that have expired by `now` and should be revoked now, soonest expiry first, at
    /// most `max` (etcd limits revokes per second the same way). Each is then not returned again
    /// for [`EXPIRED_RETRY`] unless it is still there by then. Empty unless primary.
    pub fn expired(&mut self, table: &LeaseTable, now: LocalTime, max: usize) -> Vec<LeaseId> {
        let Some(p) = self.primary.as_mut() else { return vec![] };
        p.schedule(table, now);
        let due: Vec<LeaseId> = p
            .queue
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .filter(|id| p.revoking.get(id).is_none_or(|retry| *retry <= now))
            .take(max)
            .collect();
        for id in &due {
            p.revoking.insert(*id, now.plus(EXPIRED_RETRY));
        }
        due
    }

    /// Every lease, soonest expiry first (etcd's `Leases` order on the leader); by ID when not
    /// primary.
    pub fn by_expiry(&mut self, table: &LeaseTable, now: LocalTime) -> Vec<LeaseId> {
        match self.primary.as_mut() {
            Some(p) => {
                p.schedule(table, now);
                p.queue.iter().map(|(_, id)| *id).collect()
            }
            None => table.iter().map(|l| l.id).collect(),
        }
    }

    /// Asserts the invariants documented on [`Primary`]'s fields against `table`.
    pub fn check_invariants(&self, table: &LeaseTable) {
        let Some(p) = &self.primary else { return };
        let timed: BTreeSet<LeaseId> = p.expiry.keys().copied().collect();
        assert!(timed.is_disjoint(&p.unscheduled), "a lease both scheduled and not");
        let all: BTreeSet<LeaseId> = table.iter().map(|l| l.id).collect();
        let known: BTreeSet<LeaseId> = timed.union(&p.unscheduled).copied().collect();
        assert_eq!(known, all, "the primary's timers vs the lease table");
        let queued: BTreeSet<(LocalTime, LeaseId)> = p.expiry.iter().map(|(id, at)| (*at, *id)).collect();
        assert_eq!(queued, p.queue, "expiry queue vs expiry map");
        assert!(p.revoking.keys().all(|id| p.expiry.contains_key(id)), "revoking a lease without a timer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_s(s: u64) -> LocalTime {
        LocalTime(0).plus(Duration::from_secs(s))
    }

    fn table(leases: &[(i64, i64)]) -> LeaseTable {
        let mut t = LeaseTable::new(1);
        for &(id, ttl_s) in leases {
            t.grant(LeaseId(id), ttl_s).unwrap();
        }
        t
    }

    #[test]
    fn a_follower_keeps_no_timers_and_expires_nothing() {
        let t = table(&[(1, 5)]);
        let mut l = Lessor::new();
        assert_eq!(l.expired(&t, at_s(1000), 10), []);
        assert_eq!(l.renew(&t, LeaseId(1), at_s(0)), Err(RenewError::NotPrimary));
        assert_eq!(l.remaining(&t, LeaseId(1), at_s(0)), Err(RenewError::NotPrimary));
    }

    #[test]
    fn a_lease_expires_once_its_ttl_passes_without_keep_alive() {
        let mut t = table(&[]);
        let mut l = Lessor::new();
        l.promote(&t, at_s(0), Duration::ZERO, Term(1));
        t.grant(LeaseId(1), 10).unwrap();
        l.granted(LeaseId(1));
        // The first call that knows the time starts the TTL.
        assert_eq!(l.remaining(&t, LeaseId(1), at_s(1)), Ok(Duration::from_secs(10)));
        assert_eq!(l.expired(&t, at_s(10), 10), []);
        assert_eq!(l.expired(&t, at_s(11), 10), [LeaseId(1)]);
        // Proposed once; not again until the retry interval passed.
        assert_eq!(l.expired(&t, at_s(12), 10), []);
        assert_eq!(l.expired(&t, at_s(14), 10), [LeaseId(1)]);
        assert_eq!(l.renew(&t, LeaseId(1), at_s(14)), Err(RenewError::Expired));
        t.revoke(LeaseId(1)).unwrap();
        l.revoked(LeaseId(1));
        l.check_invariants(&t);
        assert_eq!(l.expired(&t, at_s(100), 10), []);
        assert_eq!(l.renew(&t, LeaseId(1), at_s(100)), Err(RenewError::NotFound));
    }

    #[test]
    fn keep_alive_restarts_the_ttl() {
        let t = table(&[(1, 10)]);
        let mut l = Lessor::new();
        l.promote(&t, at_s(0), Duration::ZERO, Term(1));
        assert_eq!(l.renew(&t, LeaseId(1), at_s(8)), Ok(10));
        assert_eq!(l.expired(&t, at_s(17), 10), []);
        assert_eq!(l.remaining(&t, LeaseId(1), at_s(17)), Ok(Duration::from_secs(1)));
        assert_eq!(l.expired(&t, at_s(18), 10), [LeaseId(1)]);
        assert_eq!(l.remaining(&t, LeaseId(1), at_s(19)), Ok(Duration::ZERO));
        l.check_invariants(&t);
    }

    #[test]
    fn refresh_on_promote_gives_every_lease_a_full_ttl_plus_the_extension() {
        let t = table(&[(1, 10), (2, 60)]);
        let mut old = Lessor::new();
        old.promote(&t, at_s(0), Duration::ZERO, Term(1));
        // The old leader saw no keep-alive for 9 s, then lost leadership.
        old.demote();
        assert_eq!(old.expired(&t, at_s(11), 10), []);
        let mut new = Lessor::new();
        new.promote(&t, at_s(9), Duration::from_secs(1), Term(1));
        assert_eq!(new.remaining(&t, LeaseId(1), at_s(9)), Ok(Duration::from_secs(11)));
        assert_eq!(new.expired(&t, at_s(19), 10), []);
        assert_eq!(new.expired(&t, at_s(20), 10), [LeaseId(1)]);
        new.check_invariants(&t);
    }

    #[test]
    fn expiry_is_bounded_per_call_and_soonest_first() {
        let t = table(&[(1, 30), (2, 10), (3, 20)]);
        let mut l = Lessor::new();
        l.promote(&t, at_s(0), Duration::ZERO, Term(1));
        assert_eq!(l.by_expiry(&t, at_s(0)), [LeaseId(2), LeaseId(3), LeaseId(1)]);
        assert_eq!(l.expired(&t, at_s(100), 2), [LeaseId(2), LeaseId(3)]);
        assert_eq!(l.expired(&t, at_s(100), 2), [LeaseId(1)]);
    }

    #[test]
    #[should_panic(expected = "promote while already primary")]
    fn promoting_twice_is_a_bug() {
        let t = table(&[]);
        let mut l = Lessor::new();
        l.promote(&t, at_s(0), Duration::ZERO, Term(1));
        l.promote(&t, at_s(0), Duration::ZERO, Term(1));
    }
}
