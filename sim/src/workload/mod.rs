//! The workload stage: simulated clients that use the cluster as real etcd clients do, and
//! record what they saw (the input of the `history` and `check` stages).
//!
//! Contract:
//! - **Who.** Client `c` runs on its own madsim host, `10.0.1.<c+1>` (past 250 clients, the next
//!   /24: see [`client_ip`]), and talks to members through etcd's generated gRPC clients
//!   (`KvClient`, `LeaseClient`, `WatchClient`) on port 2379, as etcdctl would.
//! - **What.** Operation kinds are drawn by the weights of `WorkloadSpec::mix`: get (a
//!   linearizable one-key range), put, delete, txn_cas (compare value or mod revision, then put,
//!   else get), range (a prefix or `[k_a, k_b)`), put_lease (grant, then put with that lease),
//!   lease_revoke, watch (a bounded stream from a revision), lock (grant a lease, `Lock`, write
//!   `lockdata` fenced by the ownership key, `Unlock`). Keys are `k0..k{keys-1}`; every
//!   written value is unique (`c{client}-{n}`), so the checker can tell writes apart. See
//!   `plan.rs`.
//! - **When.** Each client is one Jepsen-style process: at most one operation open. It aims at
//!   `rate_per_s` (random gaps, mean `1 / rate`), never bursts to catch up, issues nothing at
//!   or after `stop_at`, and waits out the last operation (each request at most `timeout_ms`).
//! - **Where.** Client `c` starts at member `c % members`; after trouble with a member
//!   (Unavailable, a connection error, a timeout) its next operation goes to the next member,
//!   as etcd's client balancer does.
//! - **Recorded.** Every request with its invoke and completion times since the run's start
//!   (simulated time), and `ok` with the response, `fail` only when the request certainly had
//!   no effect, or `info` when nobody knows (`wire::classify` has the rules).
//! - **Deterministic.** Client `c`'s random generator is seeded with the `c`th draw from
//!   `StdRng::seed_from_u64(seed)`; nothing else is random here, no hash map order reaches
//!   behaviour. With madsim's seed fixed, the same seed gives the same history byte for byte.
//!
//! Out of scope: keep-alives (leases run out on their own; members report each expiry), reads at
//! past revisions, compaction, serializable reads, lock and election recipes.

mod client;
mod plan;
mod wire;

pub use client::WATCH_EVENTS_MAX;
pub use plan::{LEASE_TTL_S, WATCH_OPEN_MS};

use crate::history::{ClientOp, History};
use crate::scenario::WorkloadSpec;
use client::{Client, Config};
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::JoinHandle;
use madsim::time::Instant;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Clients per /24 of client addresses.
const CLIENTS_PER_SUBNET: usize = 250;

/// The address of client `c`'s host: `10.0.1.<c+1>` for the first 250, then `10.0.2.<..>`.
pub fn client_ip(c: usize) -> IpAddr {
    let subnet = u8::try_from(1 + c / CLIENTS_PER_SUBNET).expect("fewer than 63,750 clients");
    IpAddr::V4(Ipv4Addr::new(10, 0, subnet, (1 + c % CLIENTS_PER_SUBNET) as u8))
}

/// Running clients; [`Workload::finish`] collects their history.
pub struct Workload {
    clients: Vec<JoinHandle<Vec<ClientOp>>>,
    /// The client hosts, kept so they live as long as the workload.
    _hosts: Vec<NodeHandle>,
}

/// Starts `spec.clients` clients against a cluster of `members` members. Must be called inside
/// a madsim runtime. `run_start` is the instant the run's times count from (the event log's),
/// `stop_at` when clients stop issuing, measured from it.
pub fn start(spec: &WorkloadSpec, seed: u64, members: usize, run_start: Instant, stop_at: Duration) -> Workload {
    start_with(spec, seed, members, run_start, stop_at, true)
}

/// [`start`], choosing whether lock holders fence their writes (`false`: the `unfenced-lock`
/// bug, a holder that keeps writing after its lease may have expired).
pub fn start_with(spec: &WorkloadSpec, seed: u64, members: usize, run_start: Instant, stop_at: Duration, fenced_locks: bool) -> Workload {
    assert!(members >= 1, "a cluster has members");
    let mix: Vec<_> = spec.mix.iter().filter(|(_, w)| **w > 0).map(|(k, w)| (*k, *w)).collect();
    assert!(!mix.is_empty(), "a workload has an operation kind with a positive weight");
    let cfg = Config {
        keys: spec.keys,
        rate_per_s: spec.rate_per_s,
        timeout: Duration::from_millis(spec.timeout_ms),
        mix,
        members,
        run_start,
        stop_at,
        fenced_locks,
    };
    // Child seeds in client order: client c's seed does not depend on how many clients follow.
    let mut seeds = StdRng::seed_from_u64(seed);
    let mut clients = Vec::with_capacity(spec.clients);
    let mut hosts = Vec::with_capacity(spec.clients);
    for c in 0..spec.clients {
        let (client_seed, cfg) = (seeds.gen::<u64>(), cfg.clone());
        let host = Handle::current().create_node().name(format!("client{c}")).ip(client_ip(c)).build();
        clients.push(host.spawn(async move { Client::new(c, client_seed, cfg).run().await }));
        hosts.push(host);
    }
    Workload { clients, _hosts: hosts }
}

impl Workload {
    /// Waits for every client to stop and returns what they recorded.
    pub async fn finish(self) -> History {
        let mut ops = Vec::with_capacity(self.clients.len());
        for (c, client) in self.clients.into_iter().enumerate() {
            ops.push(client.await.unwrap_or_else(|e| panic!("client {c} crashed: {e}")));
        }
        History::new(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addresses_are_distinct_and_never_a_members() {
        let ips: std::collections::BTreeSet<_> = (0..crate::scenario::CLIENTS_MAX).map(client_ip).collect();
        assert_eq!(ips.len(), crate::scenario::CLIENTS_MAX);
        assert_eq!(client_ip(0), IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(client_ip(250), IpAddr::V4(Ipv4Addr::new(10, 0, 2, 1)));
        assert!((0..9).map(crate::cluster::node_ip).all(|ip| !ips.contains(&ip)));
    }
}
