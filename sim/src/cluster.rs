//! The cluster stage: detcd members as madsim nodes, and the fault verbs applied to them.
//!
//! Each member runs the real node code (`detcd_node::node::Node`) on a simulated host
//! `10.0.0.<i+1>` with client port 2379 and peer port 2380. Per-node clocks and logs are created
//! here and outlive a node's restart, as a machine's clock and disk outlive its process.
//!
//! Until the simulated disk and WAL are wired in, each node's Raft log is a `MemLog` kept by the
//! simulator: a perfect disk on which every write is durable at once, so a crash loses nothing and a
//! restarted node replays its whole log into a fresh state machine.

use crate::eventlog::{Entry, EventLog};
use detcd_node::clock::Clock;
use detcd_node::config::{members_of, InitialMember, Limits, NodeConfig, RaftTiming};
use detcd_node::events::{EventSink, NodeEvent};
use detcd_node::ids;
use detcd_node::node::Node;
use detcd_node::storage::MemLog;
use detcd_node::types::MemberId;
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use madsim::time::Instant;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// The simulated cluster token (member IDs derive from it as in etcd).
pub const TOKEN: &str = "detcd-sim";

/// The IP address of node `i` (0-based).
pub fn node_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, (i + 1) as u8))
}

/// A running simulated cluster.
pub struct SimCluster {
    pub hosts: Vec<NodeHandle>,
    pub members: Vec<MemberId>,
    pub clocks: Vec<Clock>,
    pub log: Arc<Mutex<EventLog>>,
    start: Instant,
    net: Mutex<NetState>,
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

impl SimCluster {
    /// Starts `node_seeds.len()` members. Must run inside a madsim runtime.
    pub fn start(node_seeds: &[u64], timing: RaftTiming) -> SimCluster {
        let n = node_seeds.len();
        let initial: Vec<InitialMember> = (0..n)
            .map(|i| InitialMember { name: format!("n{}", i + 1), peer_urls: vec![format!("http://{}:2380", node_ip(i))] })
            .collect();
        let members_map = members_of(&initial, TOKEN);
        let members: Vec<MemberId> = initial.iter().map(|m| ids::member_id(&m.peer_urls, TOKEN)).collect();
        let cluster_id = ids::cluster_id(&members);
        let start = Instant::now();
        let log = Arc::new(Mutex::new(EventLog::new(&members)));
        let sink: EventSink = {
            let log = log.clone();
            Arc::new(move |e: &NodeEvent| {
                log.lock().expect("log lock").record_node_event(start.elapsed(), e);
            })
        };
        let voters: Vec<u64> = members.iter().map(|m| m.0).collect();
        let mut hosts = Vec::new();
        let mut clocks = Vec::new();
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
                timing: timing.clone(),
                limits: Limits::default(),
                seed: node_seeds[i],
            };
            let clock = Clock::new();
            clocks.push(clock.clone());
            let raft_log = MemLog::new_cluster(voters.clone());
            let sink = sink.clone();
            let host = Handle::current()
                .create_node()
                .name(initial[i].name.clone())
                .ip(ip)
                .init(move || {
                    let (cfg, clock, sink, raft_log) = (cfg.clone(), clock.clone(), sink.clone(), raft_log.clone());
                    async move {
                        let mut node = Node::start(cfg, raft_log, clock, sink).expect("member starts");
                        if let Err(e) = node.stopped().await {
                            panic!("member stopped: {e}");
                        }
                    }
                })
                .build();
            hosts.push(host);
        }
        SimCluster { hosts, members, clocks, log, start, net: Mutex::new(NetState::default()) }
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

    /// Kills node `i`'s process (idempotent).
    pub fn crash(&self, i: usize) -> bool {
        let mut net = self.net.lock().expect("net lock");
        net.paused.remove(&i);
        let fresh = net.down.insert(i);
        if fresh {
            Handle::current().kill(self.hosts[i].id());
        }
        fresh
    }

    /// Starts node `i` again from its disk (no-op if it is running).
    pub fn restart(&self, i: usize) -> bool {
        let mut net = self.net.lock().expect("net lock");
        let was_down = net.down.remove(&i);
        if was_down {
            Handle::current().restart(self.hosts[i].id());
        }
        was_down
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
