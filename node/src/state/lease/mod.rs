//! Leases: a TTL that keys can be attached to; when the lease ends (revoked, or expired because its
//! owner stopped sending keep-alives) its keys are deleted, all in one revision (etcd `lease/`).
//!
//! Two halves, because a lease is part replicated state, part leader-local timer:
//! - [`LeaseTable`] is replicated: which leases exist, their granted TTL and attached keys. It
//!   changes only when a committed entry is applied (grant, revoke, a put or delete that attaches
//!   or detaches a key), so every member holds the same table at the same applied index.
//! - [`Lessor`] is this member's timer view: when each lease expires. Only the leader ("primary")
//!   keeps expiries; followers hold none (etcd sets them to "forever"). Keep-alives renew the
//!   primary's expiry without going through Raft (as in etcd), which is why the leader alone may
//!   expire a lease, and why a new leader must give every lease a full TTL again ("refresh on
//!   promote"): it cannot know when the old leader last saw a keep-alive.
//!
//! Expiry is a Raft proposal (`LeaseExpire`) made by the primary when its own clock says a lease
//! ran out, so every member deletes the lease's keys at the same revision. Time enters only as
//! [`LocalTime`](crate::clock::LocalTime) arguments read from the node's clock seam.
//!
//! # Why no client holds a TTL the cluster will not honour
//! Three rules, enforced by the lessor task and the Lease service (`api/etcd/lease.rs`), close the
//! two ways a lease used to die early across a leader change (etcd issues 15247 and 12528, found in
//! detcd by the simulator: `reports/TRACK_RECORD.md`):
//! 1. **Renew only after confirming leadership.** A keep-alive or time-to-live is answered from
//!    the timers only after a ReadIndex round begun after the request arrived has shown that a
//!    quorum still follows this member in the term its timers belong to (etcd's
//!    `ensureLeadership`). Otherwise it is forwarded to the leader, or retried until the request
//!    times out: never answered with a TTL computed by a member that no longer leads.
//! 2. **Take over the timers only after applying the past.** A new leader becomes primary (refresh
//!    on promote) only once it has applied its term's first entry, and with it every entry
//!    committed before its term began (`NodeStatus::lead_ready`).
//! 3. **Expire only after confirming leadership.** The primary proposes an expiry only after a
//!    ReadIndex round begun after it found the lease expired (etcd PR 16822).
//!
//! The event orders this leaves, for a renewal answered at `T` with TTL `t` by leader `L` of term
//! `n`:
//! - A leader `L'` of a later term `n' > n` is elected only after the quorum round of rule 1: a
//!   quorum member acknowledged `L` in term `n` after the request arrived, and it votes in `n'`
//!   only after that (terms only grow), and quorums intersect. So `L'` promotes (rule 2) after the
//!   client sent the renewal, and gives every lease at least `t` from then: the renewal's promise
//!   is kept by `L'`'s timers, which start later.
//! - An expiry `L` proposed before the renewal (for this lease: it had run out by `L`'s clock, and
//!   the renewal then answers "not found" after waiting for it, as etcd's `Renew` waits for
//!   `revokec`) cannot be applied after the renewal's answer, because `L` answers it only after
//!   the revoke applied.
//! - An expiry proposed by a deposed leader `L0` of an earlier term that reached `L`'s log is
//!   either committed before `L`'s first entry, and then applied before `L` became primary
//!   (rule 2: the renewal answers "not found"), or never committed at all: an entry of an older
//!   term that is not below the new leader's first entry can never commit. Rule 3 makes such
//!   stale expiries rare in the first place.
//!
//! The argument counts a TTL from the moment the client sent its request, as etcd's clients do;
//! how late the quorum's acknowledgements reach `L` does not matter. Out of scope: clock rates. A
//! leader whose clock runs fast expires leases early in real time (its TTL is right by its own
//! clock), as in etcd.

mod lessor;
mod table;

pub use lessor::{Lessor, RenewError, EXPIRED_RETRY};
pub use table::{Lease, LeaseError, LeaseTable, MAX_LEASE_TTL_S};

use crate::config::RaftTiming;
use std::time::Duration;

/// The shortest TTL a lease gets, as etcd computes it (`minLeaseTTL`): 1.5 election timeouts,
/// rounded up to whole seconds, so that a lease outlives the election that follows a leader
/// crash. A grant asking for less gets this.
pub fn min_ttl_s(timing: &RaftTiming) -> i64 {
    let min = timing.tick * (3 * timing.election_ticks_max as u32) / 2;
    (min.as_nanos().div_ceil(1_000_000_000) as i64).max(1)
}

/// How much longer than its TTL a lease lives after this member becomes leader (etcd passes its
/// election timeout to `Promote`): the time a client may have needed to find the new leader.
pub fn promote_extend(timing: &RaftTiming) -> Duration {
    timing.tick * timing.election_ticks_max as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_ttl_is_one_and_a_half_election_timeouts_rounded_up() {
        let t = RaftTiming::default(); // 10 ms x 30 ticks = 300 ms: 450 ms -> 1 s
        assert_eq!(min_ttl_s(&t), 1);
        // etcd's defaults (100 ms ticks, 10-tick elections): 1.5 s -> 2 s, as etcd grants.
        let etcd = RaftTiming { tick: Duration::from_millis(100), election_ticks_min: 9, election_ticks_max: 10, heartbeat_ticks: 1 };
        assert_eq!(min_ttl_s(&etcd), 2);
        assert_eq!(promote_extend(&t), Duration::from_millis(300));
    }
}
