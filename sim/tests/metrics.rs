//! Each simulated node's own metrics (issue 16): the registry a real member serves at `/metrics`,
//! sampled over the run, shows what the simulator did to that node.

#![cfg(madsim)]

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

/// The request traces (Zipkin v2 JSON) follow the Zipkin UI's upload rules, are the same for the
/// same seed, and show the slowed follower's fsync as a long span of a request it served.
#[test]
fn request_traces_follow_zipkins_rules_and_show_a_slow_fsync() {
    use detcd_sim::zipkin::{chosen, spans_of, EPOCH_US};
    let s = find("disk-faults").unwrap();
    let out = run(&s, 3).unwrap();
    let history = out.history.as_ref().expect("disk-faults has clients");
    let traces = chosen(history, &out.log);
    assert!(!traces.is_empty());
    let again = run(&s, 3).unwrap();
    assert_eq!(traces, chosen(again.history.as_ref().unwrap(), &again.log), "same seed, same traces");
    for t in &traces {
        let spans: Vec<serde_json::Value> = serde_json::from_str(&t.json()).expect("JSON");
        let roots: Vec<&serde_json::Value> = spans.iter().filter(|s| s.get("parentId").is_none()).collect();
        assert_eq!(roots.len(), 1, "one root without a parentId field: {}", t.json());
        for sp in &spans {
            assert_eq!(sp["traceId"].as_str().map(str::len), Some(32));
            assert_eq!(sp["id"].as_str().map(str::len), Some(16));
            assert!(sp["timestamp"].as_u64().is_some_and(|ts| ts >= EPOCH_US), "{sp}");
            assert!(sp["duration"].as_u64().is_some_and(|d| d >= 1), "{sp}");
            assert!(sp["localEndpoint"]["serviceName"].is_string());
        }
    }
    // A put acknowledged while one follower's disk was 20 ms slow: that follower's append + fsync
    // span is long, the others' are short.
    let slow_node = intervals(&out.log.metrics)
        .iter()
        .find(|i| i.start >= Duration::from_secs(6) && i.fsync_mean.is_some_and(|d| d >= Duration::from_millis(20)))
        .map(|i| format!("n{}", i.node + 1))
        .expect("the slowed follower");
    let shown = history
        .all()
        .flat_map(|o| o.steps.iter().map(move |st| (o, st)))
        .filter(|(_, st)| st.invoked >= Duration::from_millis(5500) && st.completed <= Duration::from_millis(7500) && st.trace != 0)
        .map(|(o, st)| spans_of(o, st, &out.log))
        .find(|spans| spans.iter().any(|sp| sp.name == "append + fsync" && sp.local_endpoint.service_name == slow_node))
        .expect("a request in the slow window whose entry the slow follower wrote");
    for sp in shown.iter().filter(|sp| sp.name == "append + fsync") {
        let slow = sp.local_endpoint.service_name == slow_node;
        assert_eq!(sp.duration >= 20_000, slow, "{sp:?}");
    }
}
