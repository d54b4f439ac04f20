//! The testbed catches every injected bug (`detcd_node::bugs`): each bug's known catching run
//! (scenario, seed, from `sim hunt`; see reports/TRACK_RECORD.md) fails, the check that fails is
//! the one that guards against that mistake, and the same run without the bug passes. If a change
//! to the node, a scenario or a check moves the first catching seed, `sim hunt --bug NAME` finds
//! the new one.
#![cfg(madsim)]

use detcd_node::bugs::{Bug, Bugs};
use detcd_sim::outcome::run_one;
use detcd_sim::scenario::find;

/// `scenario` with `seed` fails `check` with `bug` switched on, and passes without it.
fn caught(bug: &str, scenario: &str, seed: u64, check: &str) {
    let bug: Bug = bug.parse().expect("a catalog bug");
    let s = find(scenario).expect("a catalog scenario");
    let failure = run_one(&s, seed, Bugs::only(bug)).failure();
    let failing = failure.as_ref().map(|f| f.checks.clone()).unwrap_or_default();
    assert!(failing.contains(&check), "{bug}: {scenario} seed {seed} should fail {check}; failing: {failing:?} ({failure:?})");
    let clean = run_one(&s, seed, Bugs::none()).failure();
    assert!(clean.is_none(), "{scenario} seed {seed} fails without {bug}: {clean:?}");
}

#[test]
fn a_follower_answering_reads_locally_is_not_linearizable() {
    caught("stale-follower-read", "happy-path", 1, "linearizability");
}

#[test]
fn a_read_lease_on_a_slow_clock_serves_stale_reads() {
    caught("lease-read-under-skew", "lease-read-skew", 15, "linearizability");
}

#[test]
fn acknowledging_before_fsync_loses_writes_in_a_power_loss() {
    caught("ack-before-fsync", "power-loss", 1, "linearizability");
}

#[test]
fn an_unsynced_vote_makes_a_term_go_back_after_a_crash() {
    caught("vote-not-persisted", "crash-during-election", 1, "terms-never-go-back");
}

#[test]
fn applying_before_commit_makes_replicas_disagree() {
    caught("apply-uncommitted", "split-brain", 3, "applied-entries-agree");
}

#[test]
fn a_new_leader_without_lease_refresh_expires_leases_early() {
    caught("no-lease-refresh-on-promote", "lease-expiry-under-partition", 1, "no-early-lease-expiry");
}

#[test]
fn a_follower_expiring_leases_by_its_fast_clock_expires_them_early() {
    caught("lease-expiry-by-follower-clock", "clock-skew", 1, "no-early-lease-expiry");
}

#[test]
fn a_watch_resumed_one_revision_late_misses_an_event() {
    caught("watch-resume-off-by-one", "watch-under-failover", 1, "watch-guarantees");
}

#[test]
fn a_cas_on_the_create_revision_is_not_linearizable() {
    caught("txn-compare-wrong-revision", "happy-path", 1, "linearizability");
}

#[test]
fn an_unsynced_segment_name_loses_acknowledged_writes_in_a_power_loss() {
    caught("skip-dir-fsync", "power-loss-repeated", 24, "linearizability");
}

#[test]
fn an_old_leader_serving_reads_after_stepping_down_is_not_linearizable() {
    caught("serve-after-step-down", "lease-read-skew", 2, "linearizability");
}

#[test]
fn a_lock_holder_writing_unfenced_after_its_lease_ended_breaks_exclusion() {
    caught("unfenced-lock", "lock-contention", 1, "lock-exclusion");
}

#[test]
fn a_deposed_leader_renewing_from_its_stale_timers_lets_a_lease_die_early() {
    caught("stale-leader-renews-lease", "lease-renew-slow-isolated-leader", 4, "no-early-lease-expiry");
}
