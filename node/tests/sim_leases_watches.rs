//! Leases and watches on a simulated 3-member cluster (madsim), through the same generated gRPC
//! clients real clients use. Run with the sim build:
//!
//! ```text
//! cargo test -p detcd-node --test sim_leases_watches --config 'build.rustflags=["--cfg","madsim"]' --target-dir target/sim --release
//! ```
#![cfg(madsim)]

use detcd_node::clock::Clock;
use detcd_node::config::{members_of, InitialMember, Limits, NodeConfig, RaftTiming};
use detcd_node::events::EventSink;
use detcd_node::ids;
use detcd_node::node::Node;
use detcd_node::pb::etcdserverpb::kv_client::KvClient;
use detcd_node::pb::etcdserverpb::lease_client::LeaseClient;
use detcd_node::pb::etcdserverpb::maintenance_client::MaintenanceClient;
use detcd_node::pb::etcdserverpb::watch_client::WatchClient;
use detcd_node::pb::etcdserverpb::watch_request::RequestUnion;
use detcd_node::pb::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseTimeToLiveRequest, PutRequest, RangeRequest, StatusRequest,
    WatchCreateRequest, WatchRequest, WatchResponse,
};
use detcd_node::pb::mvccpb::Event;
use detcd_node::durable::log_store::MemLog;
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::transport::Channel;

const N: usize = 3;

fn ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, (i + 1) as u8))
}

/// Starts 3 members on simulated hosts 10.0.0.1-3; returns their hosts.
fn start_cluster(seed: u64) -> Vec<NodeHandle> {
    let initial: Vec<InitialMember> =
        (0..N).map(|i| InitialMember { name: format!("n{}", i + 1), peer_urls: vec![format!("http://{}:2380", ip(i))] }).collect();
    let members = members_of(&initial, "lease-watch");
    let ids: Vec<_> = initial.iter().map(|m| ids::member_id(&m.peer_urls, "lease-watch")).collect();
    let cluster_id = ids::cluster_id(&ids);
    let voters: Vec<u64> = ids.iter().map(|m| m.0).collect();
    let sink: EventSink = Arc::new(|_| {});
    (0..N)
        .map(|i| {
            let cfg = NodeConfig {
                name: initial[i].name.clone(),
                id: ids[i],
                cluster_id,
                members: members.clone(),
                listen_client: vec![SocketAddr::new(ip(i), 2379)],
                advertise_client_urls: vec![format!("http://{}:2379", ip(i))],
                listen_peer: vec![SocketAddr::new(ip(i), 2380)],
                listen_metrics: vec![],
                timing: RaftTiming::default(),
                limits: Limits::default(),
                seed: seed.wrapping_mul(31).wrapping_add(i as u64),
                bugs: detcd_node::bugs::Bugs::none(),
                id_epoch_ms: None,
                panic_after_applied: None,
                auth: Default::default(),
            };
            let (voters, sink) = (voters.clone(), sink.clone());
            Handle::current()
                .create_node()
                .name(cfg.name.clone())
                .ip(ip(i))
                .init(move || {
                    let (cfg, voters, sink) = (cfg.clone(), voters.clone(), sink.clone());
                    async move {
                        let mut node = Node::start(cfg, MemLog::new_cluster(voters), Clock::new(), sink).expect("member starts");
                        if let Err(e) = node.stopped().await {
                            panic!("member stopped: {e}");
                        }
                    }
                })
                .build()
        })
        .collect()
}

/// Runs `body` on a client host next to a fresh cluster.
fn sim<F>(seed: u64, body: impl FnOnce(Vec<NodeHandle>) -> F + Send + 'static)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.block_on(async move {
        let hosts = start_cluster(seed);
        let client = Handle::current().create_node().name("client").ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))).build();
        client.spawn(body(hosts)).await.expect("client task");
    });
}

async fn try_channel(i: usize) -> Option<Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}:2379", ip(i))).unwrap();
    madsim::time::timeout(Duration::from_secs(1), endpoint.connect()).await.ok()?.ok()
}

async fn channel(i: usize) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{}:2379", ip(i))).unwrap().connect().await.expect("connect")
}

/// The member every member names as leader, once they agree.
async fn leader() -> usize {
    loop {
        let mut named = Vec::new();
        for i in 0..N {
            if let Ok(s) = MaintenanceClient::new(channel(i).await).status(StatusRequest {}).await {
                let s = s.into_inner();
                named.push((i, s.header.unwrap().member_id, s.leader));
            }
        }
        if named.len() == N && named.iter().all(|n| n.2 == named[0].2 && n.2 != 0) {
            return named.iter().find(|n| n.1 == n.2).map(|n| n.0).expect("the leader is a member");
        }
        madsim::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens a watch on member `i` for `key`..`end` from `start` and forwards every event to `out`
/// (a task per stream); the returned sender ends the stream when dropped.
async fn watch(i: usize, key: &[u8], end: &[u8], start: i64, out: mpsc::UnboundedSender<(usize, Event)>) -> mpsc::Sender<WatchRequest> {
    let (tx, rx) = mpsc::channel(4);
    let create = WatchCreateRequest { key: key.to_vec(), range_end: end.to_vec(), start_revision: start, ..Default::default() };
    tx.send(WatchRequest { request_union: Some(RequestUnion::CreateRequest(create)) }).await.unwrap();
    let mut stream = WatchClient::new(channel(i).await)
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("watch")
        .into_inner();
    let created: WatchResponse = stream.message().await.expect("created").expect("created");
    assert!(created.created);
    tokio::spawn(async move {
        while let Ok(Some(r)) = stream.message().await {
            for e in r.events {
                if out.send((i, e)).is_err() {
                    return;
                }
            }
        }
    });
    tx
}

/// A lease whose owner stops sending keep-alives expires once, by the leader's clock, and every
/// member deletes its keys in the same revision (the expiry is a Raft proposal).
#[test]
fn abandoned_lease_expires_once_on_every_member_in_the_same_revision() {
    sim(7, |_hosts| async move {
        let l = leader().await;
        let follower = (l + 1) % N;
        let mut lease = LeaseClient::new(channel(follower).await);
        let g = lease.lease_grant(LeaseGrantRequest { ttl: 3, id: 0 }).await.expect("grant").into_inner();
        assert_eq!(g.ttl, 3);
        let mut kv = KvClient::new(channel(follower).await);
        for k in ["a", "b"] {
            kv.put(PutRequest { key: k.into(), value: b"v".to_vec(), lease: g.id, ..Default::default() }).await.expect("put");
        }
        let (tx, mut events) = mpsc::unbounded_channel();
        let mut streams = Vec::new();
        for i in 0..N {
            streams.push(watch(i, b"a", b"c", 0, tx.clone()).await);
        }
        // Kept alive (through a follower, which forwards to the leader) well past its TTL.
        let (ka_tx, ka_rx) = mpsc::channel(1);
        let mut ka = lease.lease_keep_alive(tokio_stream::wrappers::ReceiverStream::new(ka_rx)).await.expect("keep-alive").into_inner();
        for _ in 0..6 {
            ka_tx.send(LeaseKeepAliveRequest { id: g.id }).await.unwrap();
            assert_eq!(ka.message().await.unwrap().unwrap().ttl, 3);
            madsim::time::sleep(Duration::from_secs(1)).await;
        }
        let got = kv.range(RangeRequest { key: b"a".to_vec(), range_end: b"c".to_vec(), ..Default::default() }).await.unwrap();
        assert_eq!(got.into_inner().count, 2, "alive while kept alive");
        // The owner goes silent.
        drop(ka_tx);
        madsim::time::sleep(Duration::from_secs(6)).await;
        let mut deletes: Vec<(usize, Event)> = Vec::new();
        while let Ok(e) = events.try_recv() {
            deletes.push(e);
        }
        assert_eq!(deletes.len(), 2 * N, "each member saw each key deleted exactly once: {deletes:?}");
        let rev = deletes[0].1.kv.as_ref().unwrap().mod_revision;
        for (member, e) in &deletes {
            assert_eq!(e.r#type, 1, "a delete");
            assert_eq!(e.kv.as_ref().unwrap().mod_revision, rev, "member {member} deleted at another revision");
        }
        for i in 0..N {
            let mut c = KvClient::new(channel(i).await);
            let r = c.range(RangeRequest { key: b"a".to_vec(), range_end: b"c".to_vec(), serializable: true, ..Default::default() }).await.unwrap().into_inner();
            assert_eq!((r.count, r.header.unwrap().revision), (0, rev), "member {i}: expired once, nothing after");
        }
        let ttl = lease.lease_time_to_live(LeaseTimeToLiveRequest { id: g.id, keys: false }).await.unwrap().into_inner();
        assert_eq!(ttl.ttl, -1);
        drop(streams);
    });
}

/// A watcher whose member is cut off by a leader change reconnects elsewhere at its last revision
/// + 1 and sees every change exactly once, in order.
#[test]
fn watcher_resumes_after_leader_change_without_gaps_or_duplicates() {
    sim(11, |hosts| async move {
        let l = leader().await;
        let (tx, mut events) = mpsc::unbounded_channel();
        // Watch through the leader, which is about to be cut off.
        let stream = watch(l, b"w", b"", 0, tx.clone()).await;
        let writer = tokio::spawn(async move {
            let mut written = 0;
            let mut i = 0;
            while written < 60 {
                let put = PutRequest { key: b"w".to_vec(), value: written.to_string().into_bytes(), ..Default::default() };
                let done = match try_channel(i % N).await {
                    Some(ch) => matches!(madsim::time::timeout(Duration::from_secs(2), KvClient::new(ch).put(put)).await, Ok(Ok(_))),
                    None => false,
                };
                if done {
                    written += 1;
                } else {
                    i += 1; // that member cannot commit now: try the next
                }
                madsim::time::sleep(Duration::from_millis(50)).await;
            }
        });
        madsim::time::sleep(Duration::from_secs(1)).await;
        NetSim::current().clog_node(hosts[l].id());
        madsim::time::sleep(Duration::from_secs(2)).await;
        let new_leader = loop {
            let n = leader_among(&[(l + 1) % N, (l + 2) % N]).await;
            if let Some(n) = n {
                break n;
            }
        };
        assert_ne!(new_leader, l);
        // The client gives up on the isolated member and resumes elsewhere after what it saw.
        drop(stream);
        let mut seen: Vec<Event> = Vec::new();
        while let Ok((_, e)) = events.try_recv() {
            seen.push(e);
        }
        let last = seen.last().map_or(1, |e| e.kv.as_ref().unwrap().mod_revision);
        let _resumed = watch(new_leader, b"w", b"", last + 1, tx.clone()).await;
        writer.await.unwrap();
        madsim::time::sleep(Duration::from_secs(1)).await;
        while let Ok((_, e)) = events.try_recv() {
            seen.push(e);
        }
        // The truth: the whole history of w, replayed from revision 1 on a survivor.
        let (htx, mut history) = mpsc::unbounded_channel();
        let _h = watch(new_leader, b"w", b"", 1, htx).await;
        madsim::time::sleep(Duration::from_secs(1)).await;
        let mut truth = Vec::new();
        while let Ok((_, e)) = history.try_recv() {
            truth.push(e);
        }
        let revs = |v: &[Event]| v.iter().map(|e| e.kv.as_ref().unwrap().mod_revision).collect::<Vec<_>>();
        assert!(truth.len() >= 60, "{} puts committed", truth.len());
        assert_eq!(revs(&seen), revs(&truth), "resumed watch = full history: no gap, no duplicate");
        assert_eq!(seen, truth);
    });
}

/// The member among `candidates` that they both name as leader, if any.
async fn leader_among(candidates: &[usize]) -> Option<usize> {
    madsim::time::sleep(Duration::from_millis(100)).await;
    let mut named = Vec::new();
    for &i in candidates {
        let s = MaintenanceClient::new(try_channel(i).await?).status(StatusRequest {}).await.ok()?.into_inner();
        named.push((i, s.header.unwrap().member_id, s.leader));
    }
    if named.iter().all(|n| n.2 == named[0].2 && n.2 != 0) {
        return named.iter().find(|n| n.1 == n.2).map(|n| n.0);
    }
    None
}
