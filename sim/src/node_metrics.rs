//! Each node's own metrics over a run (issue 16): the registry a real member serves at `/metrics`
//! (`detcd_node::metrics`), read at the node's own events, at most once per [`SAMPLE_EVERY`] of
//! simulated time. Sampling adds no task and no timer, so it cannot change what the run does.
//!
//! A restarted node starts a new registry (as a restarted process does): its counters start again
//! from zero, and the report's rates are computed between samples of one incarnation only.

use detcd_node::metrics::{Labels, Metrics};
use detcd_node::types::MemberId;
use std::time::Duration;

/// The least simulated time between two samples of one node.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// One node's metrics at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricSample {
    pub at: Duration,
    pub node: usize,
    /// Which start of the node this registry belongs to (0 for the first).
    pub incarnation: u32,
    pub has_leader: bool,
    pub proposals_pending: i64,
    pub proposals_committed: i64,
    pub proposals_applied: i64,
    /// `etcd_disk_wal_fsync_duration_seconds` count and sum.
    pub fsyncs: u64,
    pub fsync_seconds: f64,
    /// `etcd_network_peer_sent_bytes_total`, over every peer.
    pub peer_sent_bytes: u64,
    pub leader_changes: u64,
}

impl MetricSample {
    /// Reads `metrics` of node `node` (its peers are `peers`, for the per-peer counters).
    pub fn of(at: Duration, node: usize, incarnation: u32, metrics: &Metrics, peers: &[MemberId]) -> MetricSample {
        let to = |p: &MemberId| -> Labels { Metrics::peer("To", p.0) };
        MetricSample {
            at,
            node,
            incarnation,
            has_leader: metrics.has_leader.get() == 1,
            proposals_pending: metrics.proposals_pending.get(),
            proposals_committed: metrics.proposals_committed.get(),
            proposals_applied: metrics.proposals_applied.get(),
            fsyncs: metrics.wal_fsync.count(),
            fsync_seconds: metrics.wal_fsync.sum(),
            peer_sent_bytes: peers.iter().filter_map(|p| metrics.peer_sent_bytes.get(&to(p)).map(|c| c.get())).sum(),
            leader_changes: metrics.leader_changes.get(),
        }
    }
}

/// Between two samples of one node's incarnation: the mean fsync time (if any fsync happened)
/// and the bytes sent per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub node: usize,
    pub start: Duration,
    pub end: Duration,
    pub fsync_mean: Option<Duration>,
    pub sent_bytes_per_s: f64,
}

/// The intervals between consecutive samples of each node (same incarnation), in sample order.
pub fn intervals(samples: &[MetricSample]) -> Vec<Interval> {
    let mut last: std::collections::BTreeMap<usize, MetricSample> = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for s in samples {
        if let Some(p) = last.get(&s.node).filter(|p| p.incarnation == s.incarnation && s.at > p.at) {
            let fsyncs = s.fsyncs.saturating_sub(p.fsyncs);
            let fsync_mean = (fsyncs > 0).then(|| Duration::from_secs_f64(((s.fsync_seconds - p.fsync_seconds) / fsyncs as f64).max(0.0)));
            let secs = (s.at - p.at).as_secs_f64();
            out.push(Interval { node: s.node, start: p.at, end: s.at, fsync_mean, sent_bytes_per_s: s.peer_sent_bytes.saturating_sub(p.peer_sent_bytes) as f64 / secs });
        }
        last.insert(s.node, *s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, node: usize, incarnation: u32, fsyncs: u64, fsync_seconds: f64, sent: u64) -> MetricSample {
        MetricSample {
            at: Duration::from_millis(at_ms),
            node,
            incarnation,
            has_leader: true,
            proposals_pending: 0,
            proposals_committed: 0,
            proposals_applied: 0,
            fsyncs,
            fsync_seconds,
            peer_sent_bytes: sent,
            leader_changes: 1,
        }
    }

    #[test]
    fn intervals_take_differences_within_one_incarnation() {
        let s = [
            sample(0, 0, 0, 0, 0.0, 0),
            sample(100, 1, 0, 5, 0.1, 1000),
            sample(200, 0, 0, 4, 0.08, 500),
            sample(300, 0, 1, 1, 0.5, 10),
            sample(500, 0, 1, 1, 0.5, 210),
        ];
        let iv = intervals(&s);
        assert_eq!(iv.len(), 2, "{iv:?}");
        assert_eq!(iv[0].fsync_mean, Some(Duration::from_millis(20)));
        assert_eq!(iv[0].sent_bytes_per_s, 2500.0);
        assert_eq!((iv[1].fsync_mean, iv[1].sent_bytes_per_s), (None, 1000.0));
    }
}
