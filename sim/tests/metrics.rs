//! Each simulated node's own metrics (issue 16): the registry a real member serves at `/metrics`,
//! sampled over the run, shows what the simulator did to that node.

use detcd_sim::node_metrics::intervals;
use detcd_sim::run::run;
use detcd_sim::scenario::find;
use std::time::Duration;

/// disk-faults slows one follower's disk by 20 ms from 5 s to 8 s: that node's WAL fsync
/// histogram (simulated time, from the clock seam) says so, and no node's does before the faults.
#[test]
fn a_slow_disk_shows_in_the_nodes_fsync_metric() {
    let out = run(&find("disk-faults").unwrap(), 3).unwrap();
    let samples = &out.log.metrics;
    assert!(samples.len() > 100, "{} samples", samples.len());
    let iv = intervals(samples);
    let in_window = |from: f64, to: f64| iv.iter().filter(move |i| i.start >= Duration::from_secs_f64(from) && i.end <= Duration::from_secs_f64(to));
    let before: Vec<_> = in_window(0.5, 1.9).filter_map(|i| i.fsync_mean).collect();
    assert!(!before.is_empty() && before.iter().all(|d| *d < Duration::from_millis(5)), "fsyncs before the faults: {before:?}");
    let slow: std::collections::BTreeSet<usize> = in_window(5.2, 7.9).filter(|i| i.fsync_mean.is_some_and(|d| d >= Duration::from_millis(20))).map(|i| i.node).collect();
    assert_eq!(slow.len(), 1, "exactly the slowed follower shows 20 ms fsyncs in 5-8 s: {slow:?}");
    let after: Vec<_> = in_window(9.0, 11.5).filter_map(|i| i.fsync_mean).collect();
    assert!(after.iter().all(|d| *d < Duration::from_millis(5)), "fsyncs after the disk healed: {after:?}");
    // Every node was sampled, and the samples report a leader most of the time.
    for n in 0..3 {
        assert!(samples.iter().any(|s| s.node == n), "n{} never sampled", n + 1);
    }
    assert!(samples.iter().filter(|s| s.has_leader).count() * 10 >= samples.len() * 8);
}
