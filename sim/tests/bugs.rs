//! The testbed catches every injected bug (`detcd_node::bugs`): each bug's known catching run
//! (scenario, seed, from `sim hunt`; see reports/TRACK_RECORD.md) fails, the check that fails is
//! the one that guards against that mistake, and the same run without the bug passes. If a change
//! to the node, a scenario or a check moves the first catching seed, `sim hunt --bug NAME` finds
//! the new one.
#![cfg(madsim)]

use detcd_node::bugs::{Bug, Bugs};
use detcd_sim::outcome::run_one;
use detcd_sim::scenario::find;

/// Within `scenario`'s first `seeds_max` seeds, one fails `check` with `bug` switched on, and that
/// same seed passes without it. (A range, not one pinned seed: a change to the node's timing
/// moves the first catching seed; `sim hunt --bug NAME` shows where it is now.)
fn caught(bug: &str, scenario: &str, seeds_max: u64, check: &str) {
    let bug: Bug = bug.parse().expect("a catalog bug");
    let s = find(scenario).expect("a catalog scenario");
    for seed in 1..=seeds_max {
        let failure = run_one(&s, seed, Bugs::only(bug)).failure();
        if failure.as_ref().is_some_and(|f| f.checks.contains(&check)) {
            let clean = run_one(&s, seed, Bugs::none()).failure();
            assert!(clean.is_none(), "{scenario} seed {seed} fails without {bug}: {clean:?}");
            return;
        }
    }
    panic!("{bug}: no seed of {scenario} 1..={seeds_max} fails {check}");
}

#[test]
fn a_follower_answering_reads_locally_is_not_linearizable() {
    // A follower lags its leader by about one message; on a healthy network (happy-path) a client
    // rarely reads from it inside that window since peer messages stream. A cut-off follower lags
    // by seconds.
    caught("stale-follower-read", "split-brain", 15, "linearizability");
}

#[test]
fn a_read_lease_on_a_slow_clock_serves_stale_reads() {
    caught("lease-read-under-skew", "lease-read-skew", 5, "linearizability");
}

#[test]
fn acknowledging_before_fsync_loses_writes_in_a_power_loss() {
    caught("ack-before-fsync", "power-loss", 3, "linearizability");
}

#[test]
fn an_unsynced_vote_makes_a_term_go_back_after_a_crash() {
    caught("vote-not-persisted", "crash-during-election", 3, "terms-never-go-back");
}

#[test]
fn applying_before_commit_makes_replicas_disagree() {
    caught("apply-uncommitted", "split-brain", 3, "applied-entries-agree");
}

#[test]
fn a_new_leader_without_lease_refresh_expires_leases_early() {
    caught("no-lease-refresh-on-promote", "lease-expiry-under-partition", 3, "no-early-lease-expiry");
}

#[test]
fn a_follower_expiring_leases_by_its_fast_clock_expires_them_early() {
    caught("lease-expiry-by-follower-clock", "clock-skew", 3, "no-early-lease-expiry");
}

#[test]
fn a_watch_resumed_one_revision_late_misses_an_event() {
    caught("watch-resume-off-by-one", "watch-under-failover", 3, "watch-guarantees");
}

#[test]
fn a_cas_on_the_create_revision_is_not_linearizable() {
    caught("txn-compare-wrong-revision", "happy-path", 3, "linearizability");
}

#[test]
fn an_unsynced_segment_name_loses_acknowledged_writes_in_a_power_loss() {
    caught("skip-dir-fsync", "power-loss-repeated", 30, "linearizability");
}

#[test]
fn an_old_leader_serving_reads_after_stepping_down_is_not_linearizable() {
    caught("serve-after-step-down", "lease-read-skew", 6, "linearizability");
}

#[test]
fn a_lock_holder_writing_unfenced_after_its_lease_ended_breaks_exclusion() {
    caught("unfenced-lock", "lock-contention", 3, "lock-exclusion");
}

#[test]
fn a_deposed_leader_renewing_from_its_stale_timers_lets_a_lease_die_early() {
    caught("stale-leader-renews-lease", "lease-renew-slow-isolated-leader", 12, "no-early-lease-expiry");
}

#[test]
fn a_new_leader_renewing_before_it_applied_the_past_lets_a_stale_expiry_kill_a_renewed_lease() {
    caught("stale-expiry-honoured", "lease-expiry-new-leader", 10, "no-early-lease-expiry");
}
