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
//! Expiry is a Raft proposal (`LeaseRevoke`) made by the primary when its own clock says a lease
//! ran out, so every member deletes the lease's keys at the same revision. Time enters only as
//! [`LocalTime`](crate::clock::LocalTime) arguments read from the node's clock seam.

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
