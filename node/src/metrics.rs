//! A member's Prometheus metrics, with etcd 3.4's names, types, labels and buckets for what detcd
//! has (issue 16).
//!
//! One [`Metrics`] per member (no global registry: simulated members keep their own), created in
//! `node.rs` and handed down as an `Arc` to the layers that count: the driver (leadership,
//! proposals, WAL fsync and apply time), the transport (peer bytes, failures, round trips) and the
//! API (gRPC calls). Values that are cheaper to read than to track (keys, database size) are read
//! from the state at scrape time by [`Metrics::encode`]. Durations come from the clock seam, so a
//! simulated member's histograms hold simulated time.
//!
//! Names that break Prometheus' naming rules are kept as etcd spells them, because dashboards
//! query them: `etcd_server_proposals_committed_total`, `etcd_server_proposals_applied_total` and
//! `etcd_debugging_mvcc_keys_total` are gauges whose names end in `_total`. prometheus-client
//! appends `_total` to counters itself, so counters are registered without it.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Label pairs (`To`, `From`, `grpc_method`, ...), in the order etcd prints them.
pub type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// The content type of [`Metrics::encode`]'s output (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn disk_buckets() -> Histogram {
    // etcd: prometheus.ExponentialBuckets(0.001, 2, 14), 1 ms .. 8 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

fn peer_rtt_buckets() -> Histogram {
    // etcd: prometheus.ExponentialBuckets(0.0001, 2, 14), 0.1 ms .. 0.8 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 14))
}

/// Every metric a member exports. Cloning a metric shares it (prometheus-client's metrics are
/// handles on atomics), so each field can be updated through `&Metrics`.
pub struct Metrics {
    registry: Registry,
    pub has_leader: Gauge,
    pub is_leader: Gauge,
    pub leader_changes: Counter,
    pub proposals_committed: Gauge,
    pub proposals_applied: Gauge,
    pub proposals_pending: Gauge,
    pub proposals_failed: Counter,
    pub wal_fsync: Histogram,
    pub backend_commit: Histogram,
    pub snapshot_save: Histogram,
    pub peer_sent_bytes: Family<Labels, Counter>,
    pub peer_received_bytes: Family<Labels, Counter>,
    pub peer_sent_failures: Family<Labels, Counter>,
    pub peer_received_failures: Family<Labels, Counter>,
    pub peer_rtt: HistogramFamily,
    pub lease_granted: Counter,
    pub lease_revoked: Counter,
    pub lease_renewed: Counter,
    pub grpc_started: Family<Labels, Counter>,
    pub grpc_handled: Family<Labels, Counter>,
    pub health_success: Counter,
    pub health_failures: Counter,
    db_size: Gauge,
    keys: Gauge,
    /// Real mode only: set at scrape time from /proc (`encode`'s `process` argument).
    resident_memory: Gauge,
    open_fds: Gauge,
}

/// What the store holds at scrape time (read by the API layer, which may lock the state).
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreStats {
    pub db_size_bytes: i64,
    pub keys: i64,
}

/// What the process reports about itself at scrape time (real mode; `None` in simulation).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessStats {
    pub resident_memory_bytes: i64,
    pub open_fds: i64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            has_leader: Gauge::default(),
            is_leader: Gauge::default(),
            leader_changes: Counter::default(),
            proposals_committed: Gauge::default(),
            proposals_applied: Gauge::default(),
            proposals_pending: Gauge::default(),
            proposals_failed: Counter::default(),
            wal_fsync: disk_buckets(),
            backend_commit: disk_buckets(),
            snapshot_save: disk_buckets(),
            peer_sent_bytes: Family::default(),
            peer_received_bytes: Family::default(),
            peer_sent_failures: Family::default(),
            peer_received_failures: Family::default(),
            peer_rtt: Family::new_with_constructor(peer_rtt_buckets),
            lease_granted: Counter::default(),
            lease_revoked: Counter::default(),
            lease_renewed: Counter::default(),
            grpc_started: Family::default(),
            grpc_handled: Family::default(),
            health_success: Counter::default(),
            health_failures: Counter::default(),
            db_size: Gauge::default(),
            keys: Gauge::default(),
            resident_memory: Gauge::default(),
            open_fds: Gauge::default(),
            registry: Registry::default(),
        };
        r.register("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not", m.has_leader.clone());
        r.register("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise", m.is_leader.clone());
        r.register("etcd_server_leader_changes_seen", "The number of leader changes seen", m.leader_changes.clone());
        r.register("etcd_server_proposals_committed_total", "The total number of consensus proposals committed", m.proposals_committed.clone());
        r.register("etcd_server_proposals_applied_total", "The total number of consensus proposals applied", m.proposals_applied.clone());
        r.register("etcd_server_proposals_pending", "The current number of pending proposals to commit", m.proposals_pending.clone());
        r.register("etcd_server_proposals_failed", "The total number of failed proposals seen", m.proposals_failed.clone());
        r.register("etcd_disk_wal_fsync_duration_seconds", "The latency distributions of fsync called by WAL", m.wal_fsync.clone());
        r.register(
            "etcd_disk_backend_commit_duration_seconds",
            "The latency distributions of commit called by backend (detcd: applying one batch of committed entries to the store)",
            m.backend_commit.clone(),
        );
        r.register("etcd_debugging_snap_save_total_duration_seconds", "The total latency distributions of save called by snapshot", m.snapshot_save.clone());
        r.register("etcd_network_peer_sent_bytes", "The total number of bytes sent to peers", m.peer_sent_bytes.clone());
        r.register("etcd_network_peer_received_bytes", "The total number of bytes received from peers", m.peer_received_bytes.clone());
        r.register("etcd_network_peer_sent_failures", "The total number of send failures from peers", m.peer_sent_failures.clone());
        r.register("etcd_network_peer_received_failures", "The total number of receive failures from peers", m.peer_received_failures.clone());
        r.register("etcd_network_peer_round_trip_time_seconds", "Round-Trip-Time histogram between peers", m.peer_rtt.clone());
        r.register("etcd_debugging_lease_granted", "The total number of granted leases", m.lease_granted.clone());
        r.register("etcd_debugging_lease_revoked", "The total number of revoked leases", m.lease_revoked.clone());
        r.register("etcd_debugging_lease_renewed", "The number of renewed leases seen by the leader", m.lease_renewed.clone());
        r.register("grpc_server_started", "Total number of RPCs started on the server", m.grpc_started.clone());
        r.register("grpc_server_handled", "Total number of RPCs completed on the server, regardless of success or failure", m.grpc_handled.clone());
        r.register("etcd_server_health_success", "The total number of successful health checks", m.health_success.clone());
        r.register("etcd_server_health_failures", "The total number of failed health checks", m.health_failures.clone());
        r.register("etcd_mvcc_db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes", m.db_size.clone());
        r.register("etcd_debugging_mvcc_keys_total", "Total number of keys", m.keys.clone());
        r.register("process_resident_memory_bytes", "Resident memory size in bytes", m.resident_memory.clone());
        r.register("process_open_fds", "Number of open file descriptors", m.open_fds.clone());
        Metrics { registry: r, ..m }
    }

    /// Records a leadership observation: `leader` is who this member believes leads (if anyone).
    /// A change to a new, known leader counts as a leader change, as etcd counts them.
    pub fn observe_leader(&self, previous: Option<u64>, leader: Option<u64>, me: u64) {
        self.has_leader.set(i64::from(leader.is_some()));
        self.is_leader.set(i64::from(leader == Some(me)));
        if leader.is_some() && leader != previous {
            self.leader_changes.inc();
        }
    }

    pub fn observe_duration(h: &Histogram, d: Duration) {
        h.observe(d.as_secs_f64());
    }

    /// Labels naming a peer as etcd does (`To`/`From` = the member ID in hex).
    pub fn peer(direction: &'static str, member: u64) -> Labels {
        vec![(direction, format!("{member:x}"))]
    }

    /// The text exposition of every metric, with the store's figures as of now.
    pub fn encode(&self, store: StoreStats, process: Option<ProcessStats>) -> String {
        self.db_size.set(store.db_size_bytes);
        self.keys.set(store.keys);
        if let Some(p) = process {
            self.resident_memory.set(p.resident_memory_bytes);
            self.open_fds.set(p.open_fds);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_names_and_types_are_exported() {
        let m = Metrics::new();
        m.observe_leader(None, Some(7), 7);
        m.proposals_committed.set(12);
        m.peer_sent_bytes.get_or_create(&Metrics::peer("To", 0xab)).inc_by(100);
        Metrics::observe_duration(&m.wal_fsync, Duration::from_micros(1500));
        let text = m.encode(StoreStats { db_size_bytes: 10, keys: 0 }, Some(ProcessStats { resident_memory_bytes: 4096, open_fds: 9 }));
        for line in [
            "etcd_server_has_leader 1",
            "# HELP etcd_server_has_leader Whether or not a leader exists. 1 is existence, 0 is not.",
            "etcd_server_is_leader 1",
            "etcd_server_leader_changes_seen_total 1",
            "# TYPE etcd_server_proposals_committed_total gauge",
            "etcd_server_proposals_committed_total 12",
            "etcd_network_peer_sent_bytes_total{To=\"ab\"} 100",
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"} 1",
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"} 0",
            "etcd_debugging_mvcc_keys_total 0",
            "process_open_fds 9",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn a_leader_change_counts_only_when_a_new_leader_is_known() {
        let m = Metrics::new();
        m.observe_leader(None, Some(1), 2);
        m.observe_leader(Some(1), None, 2);
        m.observe_leader(None, Some(1), 2);
        m.observe_leader(Some(1), Some(2), 2);
        assert_eq!(m.leader_changes.get(), 3);
        assert_eq!((m.has_leader.get(), m.is_leader.get()), (1, 1));
    }
}
