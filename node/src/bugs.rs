//! Injectable bugs: classic mistakes of consensus systems that the simulator can switch on, one
//! at a time, to measure whether its scenarios and checks catch them (`sim hunt`).
//!
//! Each [`Bug`] is one small `if bugs.has(Bug::X)` at the exact point of the mistake in the node
//! (or, for `unfenced-lock`, in the simulated lock client). A bug is compiled in only in the
//! simulation build (`--cfg madsim`): in every other build [`Bugs`] has no way to hold a bug,
//! [`Bugs::has`] is a constant `false`, and the compiler removes the buggy branches. The real
//! `detcd` binary therefore cannot run with a bug, whatever its flags; `--bug` exists only in the
//! `sim` binary.
//!
//! Invariants:
//! - `Bug::ALL` lists every variant once, in catalog order; `Bug::name` is its kebab-case name,
//!   and `name` and `FromStr` are inverse (unit test below).
//! - Outside `cfg(madsim)`, `Bugs::has` returns `false` for every bug.

use std::fmt;
use std::str::FromStr;

/// One classic mistake (the catalog of issue 8). The doc line says what goes wrong in real systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// A follower answers linearizable reads from its own state without a ReadIndex round: it
    /// returns values the leader has already overwritten (a stale read).
    StaleFollowerRead,
    /// Reads use raft-rs's leader lease (`ReadOnlyOption::LeaseBased`), which trusts that clocks
    /// run at the same rate: a leader whose clock runs slow believes its lease after a new leader
    /// was elected, and serves stale reads.
    LeaseReadUnderSkew,
    /// A write is acknowledged (and replicas acknowledge appends) before its WAL record is
    /// fsynced: a power loss forgets writes that clients were told were committed.
    AckBeforeFsync,
    /// A new term or vote is not fsynced before the vote is granted: a crash forgets it, and the
    /// node's term goes back or it votes twice in one term (two leaders).
    VoteNotPersisted,
    /// Entries are applied to the store as soon as they are appended, before they are committed:
    /// a write that a new leader later overwrites was already visible, and acknowledged.
    ApplyUncommitted,
    /// A new leader does not refresh lease deadlines when it takes over: leases expire early,
    /// while their holders' keep-alives could not reach anyone during the election.
    NoLeaseRefreshOnPromote,
    /// A follower expires leases by its own clock instead of waiting for the leader's revoke: a
    /// follower with a fast clock deletes keys whose lease is still alive.
    LeaseExpiryByFollowerClock,
    /// A watch resumed at revision R starts one revision off: it skips the event at R (a gap) or
    /// repeats R-1 (a duplicate).
    WatchResumeOffByOne,
    /// A Txn compare on `mod_revision` reads the key's `create_revision` instead: a
    /// compare-and-set succeeds against a value it never saw.
    TxnCompareWrongRevision,
    /// A new WAL segment's directory entry is not fsynced: a crash forgets the whole file, and
    /// with it every write acknowledged since the segment was created.
    SkipDirFsync,
    /// A leader that has stepped down (check-quorum) keeps answering reads locally until it hears
    /// of a newer term: an isolated old leader serves stale reads.
    ServeAfterStepDown,
    /// A lock holder keeps writing after its lease expired and another client took the lock: the
    /// writes are not fenced by the lock's revision (the Jepsen etcd lock finding).
    UnfencedLock,
    /// A keep-alive or a time-to-live query is answered from the member's own lease timers
    /// without first confirming, by a quorum round begun after the request arrived, that it still
    /// leads: a deposed leader that has not yet heard of the new term renews a lease the real
    /// leader never hears of (etcd issue 15247; detcd seed 933 of all-faults-5-nodes).
    StaleLeaderRenewsLease,
    /// A new leader takes over the lease timers as soon as it is elected and, trusting its fresh
    /// election, answers keep-alives from them without the quorum round (which would have waited
    /// for the entries committed before its term to be applied); and the lessor proposes expiries
    /// without confirming it still leads: a deposed leader's expiry, committed by the new leader,
    /// deletes a lease just renewed (etcd issue 12528; detcd seed 931).
    StaleExpiryHonoured,
}

impl Bug {
    /// Every bug, in catalog order.
    pub const ALL: [Bug; 14] = [
        Bug::StaleFollowerRead,
        Bug::LeaseReadUnderSkew,
        Bug::AckBeforeFsync,
        Bug::VoteNotPersisted,
        Bug::ApplyUncommitted,
        Bug::NoLeaseRefreshOnPromote,
        Bug::LeaseExpiryByFollowerClock,
        Bug::WatchResumeOffByOne,
        Bug::TxnCompareWrongRevision,
        Bug::SkipDirFsync,
        Bug::ServeAfterStepDown,
        Bug::UnfencedLock,
        Bug::StaleLeaderRenewsLease,
        Bug::StaleExpiryHonoured,
    ];

    /// The bug's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Bug::StaleFollowerRead => "stale-follower-read",
            Bug::LeaseReadUnderSkew => "lease-read-under-skew",
            Bug::AckBeforeFsync => "ack-before-fsync",
            Bug::VoteNotPersisted => "vote-not-persisted",
            Bug::ApplyUncommitted => "apply-uncommitted",
            Bug::NoLeaseRefreshOnPromote => "no-lease-refresh-on-promote",
            Bug::LeaseExpiryByFollowerClock => "lease-expiry-by-follower-clock",
            Bug::WatchResumeOffByOne => "watch-resume-off-by-one",
            Bug::TxnCompareWrongRevision => "txn-compare-wrong-revision",
            Bug::SkipDirFsync => "skip-dir-fsync",
            Bug::ServeAfterStepDown => "serve-after-step-down",
            Bug::UnfencedLock => "unfenced-lock",
            Bug::StaleLeaderRenewsLease => "stale-leader-renews-lease",
            Bug::StaleExpiryHonoured => "stale-expiry-honoured",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bug {given:?}; valid names: {}", Bug::ALL.map(Bug::name).join(", "))]
pub struct UnknownBug {
    pub given: String,
}

impl FromStr for Bug {
    type Err = UnknownBug;
    fn from_str(s: &str) -> Result<Bug, UnknownBug> {
        Bug::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| UnknownBug { given: s.to_string() })
    }
}

/// The bugs switched on in one node (or the simulated clients). Empty, and unable to be anything
/// else, outside the simulation build (module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    #[cfg(madsim)]
    bits: u32,
}

impl Bugs {
    /// No bug: the only value outside the simulation build.
    pub const fn none() -> Bugs {
        Bugs {
            #[cfg(madsim)]
            bits: 0,
        }
    }

    /// Exactly one bug switched on. Simulation build only.
    #[cfg(madsim)]
    pub fn only(bug: Bug) -> Bugs {
        Bugs { bits: bug.bit() }
    }

    /// The bugs switched on, in catalog order.
    pub fn list(self) -> Vec<Bug> {
        Bug::ALL.into_iter().filter(|b| self.has(*b)).collect()
    }

    /// Whether `bug` is switched on. Always `false` outside the simulation build.
    #[inline(always)]
    pub fn has(self, bug: Bug) -> bool {
        #[cfg(madsim)]
        {
            self.bits & bug.bit() != 0
        }
        #[cfg(not(madsim))]
        {
            let _ = (self, bug.bit());
            false
        }
    }
}

impl fmt::Display for Bugs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.list().into_iter().map(Bug::name).collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_bug_and_names_are_unique() {
        for b in Bug::ALL {
            assert_eq!(b.name().parse::<Bug>(), Ok(b));
        }
        let mut names: Vec<&str> = Bug::ALL.map(Bug::name).to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Bug::ALL.len());
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_valid_names() {
        let e = "stale-reads".parse::<Bug>().unwrap_err().to_string();
        assert!(e.contains("stale-reads") && e.contains("stale-follower-read") && e.contains("unfenced-lock"), "{e}");
    }

    #[test]
    fn no_bug_is_on_by_default() {
        assert!(Bug::ALL.iter().all(|b| !Bugs::none().has(*b)));
        assert_eq!(Bugs::none().to_string(), "none");
    }

    #[cfg(madsim)]
    #[test]
    fn only_switches_on_exactly_one_bug() {
        let b = Bugs::only(Bug::SkipDirFsync);
        assert_eq!(b.list(), vec![Bug::SkipDirFsync]);
    }
}
