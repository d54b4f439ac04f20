//! The cluster stage: detcd members as madsim nodes, and the fault verbs applied to them.
//!
//! Each member runs the real node code (`detcd_node::node::Node`) on a simulated host
//! `10.0.0.<i+1>` with client port 2379 and peer port 2380. Per-node clocks are created here and
//! outlive a node's restart, as a machine's clock outlives its process.

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
            let (sink, voters) = (sink.clone(), voters.clone());
            let host = Handle::current()
                .create_node()
                .name(initial[i].name.clone())
                .ip(ip)
                .init(move || {
                    let (cfg, clock, sink, voters) = (cfg.clone(), clock.clone(), sink.clone(), voters.clone());
                    async move {
                        let mut node = Node::start(cfg, MemLog::new_cluster(voters), clock, sink).expect("member starts");
                        if let Err(e) = node.stopped().await {
                            panic!("member stopped: {e}");
                        }
                    }
                })
                .build();
            hosts.push(host);
        }
        SimCluster { hosts, members, clocks, log, start }
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
        NetSim::current().clog_node(self.hosts[i].id());
        self.fault(format!("isolate n{}{why}", i + 1));
    }

    /// Undoes every partition.
    pub fn heal_all(&self) {
        for h in &self.hosts {
            NetSim::current().unclog_node(h.id());
        }
        self.fault("heal: every node reaches every node".into());
    }
}
