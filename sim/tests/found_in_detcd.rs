//! Runs that found real bugs in detcd itself (reports/TRACK_RECORD.md, "Bugs found in detcd
//! itself") pass now, with no injected bug. Each failed before its fix; the injected bugs that
//! reproduce the same mistakes on purpose are caught in `bugs.rs`.
#![cfg(madsim)]

use detcd_node::bugs::Bugs;
use detcd_sim::outcome::run_one;
use detcd_sim::scenario::find;

fn passes(scenario: &str, seed: u64) {
    let s = find(scenario).expect("a catalog scenario");
    let failure = run_one(&s, seed, Bugs::none()).failure();
    assert!(failure.is_none(), "{scenario} seed {seed}: {failure:?}");
}

/// Issue 19, seed 931: a deposed leader's lease expiry, committed by the next leader after that
/// leader had renewed the lease (fixed in af179b9: no renewal before the term's first entry is
/// applied).
#[test]
fn a_deposed_leaders_expiry_does_not_end_a_lease_the_new_leader_renewed() {
    passes("all-faults-5-nodes", 931);
}

/// Issue 19, seed 933: a stale leader answering a keep-alive from its own timers after a new
/// leader was elected (fixed in af179b9: a ReadIndex round confirms leadership first).
#[test]
fn a_stale_leader_does_not_renew_a_lease() {
    passes("all-faults-5-nodes", 933);
}
