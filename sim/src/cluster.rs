//! The cluster stage: detcd members as madsim nodes, and the fault verbs applied to them.
//!
//! Each member runs the real node code (`detcd_node::node::Node`) on a simulated host
//! `10.0.0.<i+1>` with client port 2379 and peer port 2380. Per-node clocks and disks are created
//! here and outlive a node's restart, as a machine's clock and disk outlive its process.
//!
//! Each node's Raft log is a `WalLog` (the real WAL and snapshot files) on its own [`SimDisk`],
//! seeded from the node's seed, with small segments and frequent snapshots ([`sim_log_options`])
//! so that a run of seconds rotates segments, compacts, and catches lagging followers up by
//! snapshot. Every (re)start of a node reopens its log from that disk, as `detcd` does from its
//! data directory; a disk the node cannot trust makes it refuse to start, which the event log
//! records (it is not a panic: refusing is the correct behaviour). A node that stops by itself (a
//! failed fsync) shuts down and stays down until restarted, as a process would.
//!
//! Fault verbs on the disk: [`SimCluster::crash`] (the process dies, then the machine loses what
//! was not synced, whole or torn), [`SimCluster::fail_fsync`], [`SimCluster::slow_disk`],
//! [`SimCluster::corrupt_wal`]. The disk's own module doc (`detcd_node::durable::disk::sim`) states what
//! each does and what the cluster must survive.

use crate::node_metrics::MetricSample;
use detcd_node::metrics::Metrics;
use std::collections::BTreeMap;
use crate::eventlog::{Entry, EventLog};
use detcd_node::bugs::Bugs;
use detcd_node::clock::Clock;
use detcd_node::config::{members_of, InitialMember, Limits, NodeConfig, RaftTiming};
use detcd_node::durable::disk::sim::SimLatency;
use detcd_node::durable::disk::{CrashMode, SimDisk};
use detcd_node::events::{EventSink, NodeEvent};
use detcd_node::ids;
use detcd_node::node::{Node, NodeError};
use detcd_node::types::MemberId;
use detcd_node::durable::wal::{self, Kind, WalOptions, FRAME_HEADER_BYTES};
use detcd_node::durable::wal_log::{Opened, WalLog, WalLogOptions};
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use madsim::time::Instant;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The simulated cluster token (member IDs derive from it as in etcd).
pub const TOKEN: &str = "detcd-sim";

/// Mixed into a node's seed to seed its disk, so that the disk's crash draws and the node's
/// election timeouts come from different streams.
const DISK_SEED_SALT: u64 = 0xd15c_5eed_0000_0001;

/// The IP address of node `i` (0-based).
pub fn node_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, (i + 1) as u8))
}

/// How each node's log is laid out in simulation: 16 KiB segments, a snapshot every 200 applied
/// entries, 100 entries kept before it for followers that lag a little. A follower cut off for a
/// few seconds under load then needs a snapshot; etcd's defaults (64 MiB, 100,000, 5,000) would
/// never compact in a run of seconds.
pub fn sim_log_options() -> WalLogOptions {
    WalLogOptions { wal: WalOptions { segment_bytes_max: 16 << 10, ..WalOptions::default() }, catch_up_entries: 100, snapshot_count: 200 }
}

/// A running simulated cluster.
pub struct SimCluster {
    pub hosts: Vec<NodeHandle>,
    pub members: Vec<MemberId>,
    pub clocks: Vec<Clock>,
    /// One disk per node; survives the node's crashes and restarts.
    pub disks: Vec<SimDisk>,
    pub log: Arc<Mutex<EventLog>>,
    start: Instant,
    net: Mutex<NetState>,
    /// Nodes whose process ended by itself (it stopped on an error or refused to start), as the
    /// nodes themselves report it.
    exited: Arc<Mutex<BTreeSet<usize>>>,
}

/// What the network faults currently in force have cut, so that a heal can undo exactly that.
#[derive(Default)]
struct NetState {
    /// Directed links (from, to) that drop every message.
    cut: BTreeSet<(usize, usize)>,
    /// Nodes clogged completely (swizzle-clog).
    clogged: BTreeSet<usize>,
    /// Nodes currently crashed or paused.
    down: BTreeSet<usize>,
    paused: BTreeSet<usize>,
}

/// What one incarnation of node `i` needs; cloned into each start.
#[derive(Clone)]
struct Boot {
    i: usize,
    cfg: NodeConfig,
    clock: Clock,
    disk: SimDisk,
    voters: Vec<u64>,
    sink: EventSink,
    exited: Arc<Mutex<BTreeSet<usize>>>,
    metrics: NodeMetrics,
}

/// Each node's count of starts before its current one, and its registry while it runs (none
/// between a stop and the end of the next start, so that no sample mixes two incarnations).
type NodeMetrics = Arc<Mutex<BTreeMap<usize, (u32, Option<Arc<Metrics>>)>>>;

impl Boot {
    /// One incarnation: open the log from the disk, run the member until it stops by itself.
    async fn run(self) {
        let Boot { i, cfg, clock, disk, voters, sink, exited, metrics } = self;
        if let Some(entry) = metrics.lock().expect("metrics lock").get_mut(&i) {
            entry.1 = None;
        }
        exited.lock().expect("exited lock").remove(&i);
        let id = cfg.id;
        let stop = |reason: String| {
            sink(&NodeEvent::StartFailed { id, reason });
            exited.lock().expect("exited lock").insert(i);
        };
        let opened = match WalLog::open(Arc::new(disk), sim_log_options(), &voters) {
            Ok(o) => o,
            Err(e) => return stop(e.to_string()),
        };
        if let Some(e) = opened.recovered_event(id) {
            sink(&e);
        }
        let Opened { mut log, snapshot, .. } = opened;
        log.inject_bugs(cfg.bugs);
        let mut node = match Node::start_from(cfg, log, snapshot, clock, sink.clone()) {
            Ok(n) => n,
            Err(e) => return stop(e.to_string()),
        };
        {
            let mut m = metrics.lock().expect("metrics lock");
            let incarnation = m.get(&i).map_or(0, |(n, _)| n + 1);
            m.insert(i, (incarnation, Some(node.metrics())));
        }
        // The driver reports its own fatal errors; a server that cannot serve is reported here.
        if let Err(e @ NodeError::Serve { .. }) = node.stopped().await {
            sink(&NodeEvent::Stopped { id, reason: e.to_string() });
        }
        node.shutdown().await;
        if let Some(entry) = metrics.lock().expect("metrics lock").get_mut(&i) {
            entry.1 = None;
        }
        exited.lock().expect("exited lock").insert(i);
    }
}

impl SimCluster {
    /// Starts `node_seeds.len()` members. Must run inside a madsim runtime.
    pub fn start(node_seeds: &[u64], timing: RaftTiming) -> SimCluster {
        SimCluster::start_with_bugs(node_seeds, timing, Bugs::none())
    }

    /// Starts `node_seeds.len()` members with `bugs` switched on in every one (see
    /// `detcd_node::bugs`). Must run inside a madsim runtime.
    pub fn start_with_bugs(node_seeds: &[u64], timing: RaftTiming, bugs: Bugs) -> SimCluster {
        let n = node_seeds.len();
        let initial: Vec<InitialMember> = (0..n)
            .map(|i| InitialMember { name: format!("n{}", i + 1), peer_urls: vec![format!("http://{}:2380", node_ip(i))] })
            .collect();
        let members_map = members_of(&initial, TOKEN);
        let members: Vec<MemberId> = initial.iter().map(|m| ids::member_id(&m.peer_urls, TOKEN)).collect();
        let cluster_id = ids::cluster_id(&members);
        let start = Instant::now();
        let log = Arc::new(Mutex::new(EventLog::new(&members)));
        let node_metrics: NodeMetrics = Arc::default();
        let sink: EventSink = {
            let (log, node_metrics, members) = (log.clone(), node_metrics.clone(), members.clone());
            Arc::new(move |e: &NodeEvent| {
                let at = start.elapsed();
                let mut log = log.lock().expect("log lock");
                log.record_node_event(at, e);
                // The reporting node's own metrics, at most every SAMPLE_EVERY: sampled here, at an
                // event, so that sampling adds no task or timer to the run (crate::node_metrics).
                let node = log.node_of(e.member());
                if log.metrics_due(node, at) {
                    if let Some((incarnation, Some(m))) = node_metrics.lock().expect("metrics lock").get(&node) {
                        let peers: Vec<MemberId> = members.iter().copied().filter(|p| *p != members[node]).collect();
                        log.record_metrics(MetricSample::of(at, node, *incarnation, m, &peers));
                    }
                }
            })
        };
        let voters: Vec<u64> = members.iter().map(|m| m.0).collect();
        let exited = Arc::new(Mutex::new(BTreeSet::new()));
        let mut hosts = Vec::new();
        let mut clocks = Vec::new();
        let mut disks = Vec::new();
        for i in 0..n {
            let ip = node_ip(i);
            let cfg = NodeConfig {
                name: initial[i].name.clone(),
                id: members[i],
                cluster_id,
                members: members_map.clone(),
                listen_client: vec![SocketAddr::new(ip, 2379)],
                advertise_client_urls: vec![format!("http://{ip}:2379")],
                listen_peer: vec![SocketAddr::new(ip, 2380)],
                listen_metrics: vec![],
                timing: timing.clone(),
                limits: Limits::default(),
                seed: node_seeds[i],
                bugs,
                id_epoch_ms: None,
                panic_after_applied: None,
                auth: Default::default(),
            };
            let clock = Clock::new();
            clocks.push(clock.clone());
            let disk = SimDisk::new(node_seeds[i] ^ DISK_SEED_SALT);
            disks.push(disk.clone());
            let boot = Boot { i, cfg, clock, disk, voters: voters.clone(), sink: sink.clone(), exited: exited.clone(), metrics: node_metrics.clone() };
            let host = Handle::current().create_node().name(initial[i].name.clone()).ip(ip).init(move || boot.clone().run()).build();
            hosts.push(host);
        }
        SimCluster { hosts, members, clocks, disks, log, start, net: Mutex::new(NetState::default()), exited }
    }

    /// The instant the run's times count from (the event log's and the history's).
    pub fn start_instant(&self) -> Instant {
        self.start
    }

    /// Simulated time since the cluster started.
    pub fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    fn fault(&self, text: String) {
        let at = self.elapsed();
        self.log.lock().expect("log lock").record(at, Entry::Fault(text));
    }

    /// The node that currently leads in the highest term, by the nodes' own reports.
    pub fn leader(&self) -> Option<usize> {
        self.log.lock().expect("log lock").current_leader()
    }

    /// Cuts node `i` off from every other node, both directions.
    pub fn isolate(&self, i: usize, why: &str) {
        let rest: Vec<usize> = (0..self.hosts.len()).filter(|&j| j != i).collect();
        self.cut_between(&[i], &rest);
        self.cut_between(&rest, &[i]);
        self.fault(format!("isolate n{}{why}", i + 1));
    }

    /// Undoes every network fault.
    pub fn heal_all(&self) {
        self.heal_network();
        self.fault("heal: every node reaches every node".into());
    }

    /// Drops every message from a node in `from` to a node in `to`.
    pub fn cut_between(&self, from: &[usize], to: &[usize]) {
        let mut net = self.net.lock().expect("net lock");
        for &a in from {
            for &b in to {
                if a != b && net.cut.insert((a, b)) {
                    NetSim::current().clog_link(self.hosts[a].id(), self.hosts[b].id());
                }
            }
        }
    }

    /// Restores every link and unclogs every node (latency and loss are separate knobs).
    pub fn heal_network(&self) {
        let mut net = self.net.lock().expect("net lock");
        for (a, b) in std::mem::take(&mut net.cut) {
            NetSim::current().unclog_link(self.hosts[a].id(), self.hosts[b].id());
        }
        for i in std::mem::take(&mut net.clogged) {
            NetSim::current().unclog_node(self.hosts[i].id());
        }
    }

    /// Clogs or unclogs one node completely.
    pub fn set_clogged(&self, i: usize, clogged: bool) {
        let mut net = self.net.lock().expect("net lock");
        if clogged && net.clogged.insert(i) {
            NetSim::current().clog_node(self.hosts[i].id());
        } else if !clogged && net.clogged.remove(&i) {
            NetSim::current().unclog_node(self.hosts[i].id());
        }
    }

    /// Kills node `i`'s process, then its machine loses what its disk had not synced (`mode`:
    /// all of it, or a torn part: see `detcd_node::durable::disk::sim`). Returns the unsynced bytes lost,
    /// or `None` if the node was down already (nothing happens then).
    pub fn crash(&self, i: usize, mode: CrashMode) -> Option<u64> {
        let mut net = self.net.lock().expect("net lock");
        net.paused.remove(&i);
        if !net.down.insert(i) {
            return None;
        }
        Handle::current().kill(self.hosts[i].id());
        let before = self.disks[i].stats().bytes_lost;
        self.disks[i].crash(mode);
        Some(self.disks[i].stats().bytes_lost - before)
    }

    /// Starts node `i` again from its disk, if it is down or its process ended by itself
    /// (returns whether it did).
    pub fn restart(&self, i: usize) -> bool {
        let mut net = self.net.lock().expect("net lock");
        let was_down = net.down.remove(&i);
        let exited = self.exited.lock().expect("exited lock").remove(&i);
        if exited && !was_down {
            self.release_sockets(i);
        }
        if was_down || exited {
            Handle::current().restart(self.hosts[i].id());
        }
        was_down || exited
    }

    /// Starts node `i` again if its process ended by itself and no crash fault holds it down (as a
    /// supervisor restarts a process that exited); returns whether it did.
    pub fn restart_exited(&self, i: usize) -> bool {
        let net = self.net.lock().expect("net lock");
        let mut exited = self.exited.lock().expect("exited lock");
        let start = !net.down.contains(&i) && exited.remove(&i);
        if start {
            self.release_sockets(i);
            Handle::current().restart(self.hosts[i].id());
        }
        start
    }

    /// Closes the sockets of node `i`, whose process exited by itself, as the operating system
    /// does for an exited process. madsim's `restart` alone does not: a server socket that a
    /// lingering connection still references would stay bound, and the next incarnation could not
    /// listen. `kill` closes them.
    fn release_sockets(&self, i: usize) {
        Handle::current().kill(self.hosts[i].id());
    }

    /// The nodes running now: not crashed, paused or exited.
    pub fn running(&self) -> Vec<usize> {
        let net = self.net.lock().expect("net lock");
        (0..self.hosts.len()).filter(|i| !net.down.contains(i) && !net.paused.contains(i) && !self.has_exited(*i)).collect()
    }

    /// Whether node `i`'s process ended by itself (it stopped on an error, or refused to start).
    pub fn has_exited(&self, i: usize) -> bool {
        self.exited.lock().expect("exited lock").contains(&i)
    }

    /// Makes the next `n` fsyncs of node `i`'s disk fail (0: none; clears what is left).
    pub fn fail_fsync(&self, i: usize, n: u32) {
        self.disks[i].fail_syncs(n);
    }

    /// Every operation of node `i`'s disk takes `latency` from now on (zero: back to normal).
    pub fn slow_disk(&self, i: usize, latency: Duration) {
        self.disks[i].set_latency(SimLatency { op: latency, sync: Duration::ZERO });
    }

    /// Corrupts one record in the middle of node `i`'s WAL, as a disk returning bad data without
    /// an error would: reads of its file see one byte of the record's body flipped. The record is
    /// an entry that other records follow, so that a restart must see corruption, not a torn tail.
    /// Returns the file and the record's offset, or `None` if the WAL has no such record yet.
    pub fn corrupt_wal(&self, i: usize) -> Option<(String, u64)> {
        let disk = &self.disks[i];
        let segments = wal::inspect(disk).expect("the simulated disk reads");
        let last_segment = segments.len().checked_sub(1)?;
        let candidates: Vec<(String, u64, u64)> = segments
            .iter()
            .enumerate()
            .flat_map(|(s, seg)| {
                let n = seg.records.len();
                seg.records
                    .iter()
                    .enumerate()
                    .filter(move |(r, (_, _, kind))| *kind == Kind::Entry as u8 && (s < last_segment || r + 1 < n))
                    .map(move |(_, (offset, len, _))| (seg.name.clone(), *offset, *len))
            })
            .collect();
        let (name, offset, len) = candidates.get(candidates.len() / 2)?.clone();
        let body = offset + FRAME_HEADER_BYTES as u64;
        disk.corrupt_read(&name, body + (len - FRAME_HEADER_BYTES as u64) / 2, 0x20);
        Some((name, offset))
    }

    /// Pauses or resumes node `i` (its clock keeps running).
    pub fn set_paused(&self, i: usize, paused: bool) -> bool {
        let mut net = self.net.lock().expect("net lock");
        if net.down.contains(&i) {
            return false;
        }
        if paused && net.paused.insert(i) {
            Handle::current().pause(self.hosts[i].id());
            true
        } else if !paused && net.paused.remove(&i) {
            Handle::current().resume(self.hosts[i].id());
            true
        } else {
            false
        }
    }

    /// Records a fault line in the event log.
    pub fn note_fault(&self, text: String) {
        self.fault(text)
    }
}
