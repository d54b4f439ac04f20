//! The Lock and Election services (etcd's `v3lockpb` / `v3electionpb`) and the Lease service's
//! forwarding, on a real 3-member cluster in this process (real tokio, real sockets on 127.0.0.1),
//! through the generated gRPC clients.
#![cfg(not(madsim))]

use detcd_node::clock::Clock;
use detcd_node::config::{members_of, InitialMember, Limits, NodeConfig, RaftTiming};
use detcd_node::events::EventSink;
use detcd_node::ids;
use detcd_node::node::Node;
use detcd_node::pb::etcdserverpb::kv_client::KvClient;
use detcd_node::pb::etcdserverpb::lease_client::LeaseClient;
use detcd_node::pb::etcdserverpb::maintenance_client::MaintenanceClient;
use detcd_node::pb::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest, PutRequest, RangeRequest,
    StatusRequest,
};
use detcd_node::pb::v3electionpb::election_client::ElectionClient;
use detcd_node::pb::v3electionpb::{CampaignRequest, LeaderRequest, ProclaimRequest, ResignRequest};
use detcd_node::pb::v3lockpb::lock_client::LockClient;
use detcd_node::pb::v3lockpb::{LockRequest, UnlockRequest};
use detcd_node::durable::log_store::MemLog;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

struct Cluster {
    nodes: Vec<Node>,
    client_urls: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    async fn start() -> Cluster {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<InitialMember> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, p))| InitialMember { name: format!("m{i}"), peer_urls: vec![format!("http://127.0.0.1:{p}")] })
            .collect();
        let members = members_of(&initial, "services");
        let ids: Vec<_> = initial.iter().map(|m| ids::member_id(&m.peer_urls, "services")).collect();
        let voters: Vec<u64> = ids.iter().map(|m| m.0).collect();
        let sink: EventSink = Arc::new(|_| {});
        let mut nodes = Vec::new();
        let mut client_urls = Vec::new();
        for (i, (c, p)) in ports.iter().enumerate() {
            let cfg = NodeConfig {
                name: initial[i].name.clone(),
                id: ids[i],
                cluster_id: ids::cluster_id(&ids),
                members: members.clone(),
                listen_client: vec![SocketAddr::from(([127, 0, 0, 1], *c))],
                advertise_client_urls: vec![format!("http://127.0.0.1:{c}")],
                listen_peer: vec![SocketAddr::from(([127, 0, 0, 1], *p))],
                listen_metrics: vec![],
                timing: RaftTiming::default(),
                limits: Limits::default(),
                seed: i as u64 + 1,
                bugs: detcd_node::bugs::Bugs::none(),
                id_epoch_ms: None,
                panic_after_applied: None,
                auth: Default::default(),
            };
            client_urls.push(format!("http://127.0.0.1:{c}"));
            nodes.push(Node::start(cfg, MemLog::new_cluster(voters.clone()), Clock::new(), sink.clone()).expect("member starts"));
        }
        let cluster = Cluster { nodes, client_urls };
        cluster.wait_for_leader().await;
        cluster
    }

    async fn channel(&self, i: usize) -> Channel {
        for _ in 0..50 {
            if let Ok(ch) = tonic::transport::Endpoint::from_shared(self.client_urls[i].clone()).unwrap().connect().await {
                return ch;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("member {i} does not answer");
    }

    /// Waits until every member knows the leader and it has published its client URL; returns it.
    async fn wait_for_leader(&self) -> usize {
        for _ in 0..100 {
            let leaders: Vec<_> = self.nodes.iter().map(|n| n.status().leader).collect();
            if let Some(l) = leaders[0].filter(|l| leaders.iter().all(|x| *x == Some(*l))) {
                let i = self.nodes.iter().position(|n| n.id == l).unwrap();
                let mut m = MaintenanceClient::new(self.channel(i).await);
                if m.status(StatusRequest {}).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(500)).await; // let every member publish
                    return i;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no leader");
    }

    async fn grant(&self, i: usize, ttl: i64) -> i64 {
        LeaseClient::new(self.channel(i).await).lease_grant(LeaseGrantRequest { ttl, id: 0 }).await.expect("grant").into_inner().id
    }

    async fn stop(self) {
        for n in self.nodes {
            n.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_locker_blocks_until_the_holder_unlocks() {
    let c = Cluster::start().await;
    let (l1, l2) = (c.grant(0, 30).await, c.grant(1, 30).await);
    let mut lock = LockClient::new(c.channel(1).await);
    let first = lock.lock(LockRequest { name: b"mutex1".to_vec(), lease: l1 }).await.expect("lock").into_inner();
    assert_eq!(first.key, format!("mutex1/{l1:x}").into_bytes());
    let mut other = LockClient::new(c.channel(2).await);
    let second = tokio::spawn(async move { other.lock(LockRequest { name: b"mutex1".to_vec(), lease: l2 }).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!second.is_finished(), "the second locker must wait while the first holds the lock");
    lock.unlock(UnlockRequest { key: first.key.clone() }).await.expect("unlock");
    let second = tokio::time::timeout(Duration::from_secs(5), second).await.expect("acquires after unlock").unwrap().expect("lock");
    assert_eq!(second.into_inner().key, format!("mutex1/{l2:x}").into_bytes());
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_passes_on_when_its_holders_lease_is_revoked_and_a_lock_without_lease_gets_one() {
    let c = Cluster::start().await;
    let l1 = c.grant(0, 30).await;
    let mut lock = LockClient::new(c.channel(0).await);
    lock.lock(LockRequest { name: b"m".to_vec(), lease: l1 }).await.expect("lock");
    let mut other = LockClient::new(c.channel(2).await);
    let second = tokio::spawn(async move { other.lock(LockRequest { name: b"m".to_vec(), lease: 0 }).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished());
    LeaseClient::new(c.channel(1).await).lease_revoke(LeaseRevokeRequest { id: l1 }).await.expect("revoke");
    let key = tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap().expect("lock").into_inner().key;
    // Without a lease the service granted one (etcd's 60 s session) and named the key after it.
    let lease = i64::from_str_radix(std::str::from_utf8(&key[2..]).unwrap(), 16).unwrap();
    let ttl = LeaseClient::new(c.channel(0).await).lease_time_to_live(LeaseTimeToLiveRequest { id: lease, keys: true }).await.unwrap().into_inner();
    assert_eq!((ttl.granted_ttl, ttl.keys), (60, vec![key]));
    // A lock with a lease that does not exist fails as etcd's does.
    let err = lock.lock(LockRequest { name: b"m".to_vec(), lease: 0x1234 }).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (tonic::Code::NotFound, "etcdserver: requested lease not found"));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_campaign_proclaim_observe_resign() {
    let c = Cluster::start().await;
    let (l1, l2) = (c.grant(0, 30).await, c.grant(1, 30).await);
    let mut e = ElectionClient::new(c.channel(0).await);
    let err = e.leader(LeaderRequest { name: b"one".to_vec() }).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (tonic::Code::Unknown, "election: no leader"));
    let mut observe = ElectionClient::new(c.channel(2).await).observe(LeaderRequest { name: b"one".to_vec() }).await.unwrap().into_inner();
    let p1 = e.campaign(CampaignRequest { name: b"one".to_vec(), lease: l1, value: b"p1".to_vec() }).await.unwrap().into_inner();
    let leader1 = p1.leader.unwrap();
    assert_eq!(leader1.key, format!("one/{l1:x}").into_bytes());
    let mut e2 = ElectionClient::new(c.channel(1).await);
    let p2 = tokio::spawn(async move { e2.campaign(CampaignRequest { name: b"one".to_vec(), lease: l2, value: b"p2".to_vec() }).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!p2.is_finished(), "the second campaigner waits");
    e.proclaim(ProclaimRequest { leader: Some(leader1.clone()), value: b"p1b".to_vec() }).await.unwrap();
    let now = e.leader(LeaderRequest { name: b"one".to_vec() }).await.unwrap().into_inner();
    assert_eq!(now.kv.unwrap().value, b"p1b");
    let mut stale = leader1.clone();
    stale.rev += 1000;
    let err = e.proclaim(ProclaimRequest { leader: Some(stale), value: b"x".to_vec() }).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (tonic::Code::Unknown, "election: not leader"));
    let err = e.proclaim(ProclaimRequest { leader: None, value: b"x".to_vec() }).await.unwrap_err();
    assert_eq!(err.message(), "\"leader\" field must be provided");
    e.resign(ResignRequest { leader: Some(leader1) }).await.unwrap();
    let p2 = tokio::time::timeout(Duration::from_secs(5), p2).await.unwrap().unwrap().unwrap().into_inner();
    assert_eq!(p2.leader.unwrap().key, format!("one/{l2:x}").into_bytes());
    let mut values = Vec::new();
    while values.len() < 3 {
        let r = tokio::time::timeout(Duration::from_secs(5), observe.message()).await.unwrap().unwrap().unwrap();
        values.push(String::from_utf8(r.kv.unwrap().value).unwrap());
    }
    assert_eq!(values, ["p1", "p1b", "p2"], "observe follows proclamations and the next leader");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_forward_keep_alives_and_ttls_to_the_leader() {
    let c = Cluster::start().await;
    let leader = c.wait_for_leader().await;
    let follower = (leader + 1) % 3;
    let mut lease = LeaseClient::new(c.channel(follower).await);
    let id = lease.lease_grant(LeaseGrantRequest { ttl: 10, id: 0 }).await.unwrap().into_inner().id;
    KvClient::new(c.channel(follower).await)
        .put(PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), lease: id, ..Default::default() })
        .await
        .unwrap();
    let ttl = lease.lease_time_to_live(LeaseTimeToLiveRequest { id, keys: true }).await.unwrap().into_inner();
    assert_eq!((ttl.granted_ttl, ttl.keys.clone()), (10, vec![b"k".to_vec()]));
    assert!((8..=10).contains(&ttl.ttl), "{ttl:?}");
    let mut ka = lease.lease_keep_alive(tokio_stream::iter(vec![LeaseKeepAliveRequest { id }])).await.unwrap().into_inner();
    assert_eq!(ka.message().await.unwrap().unwrap().ttl, 10);
    // Unknown leases: keep-alive answers TTL 0, time-to-live TTL -1, revoke NotFound.
    let mut ka = lease.lease_keep_alive(tokio_stream::iter(vec![LeaseKeepAliveRequest { id: 77 }])).await.unwrap().into_inner();
    assert_eq!(ka.message().await.unwrap().unwrap().ttl, 0);
    assert_eq!(lease.lease_time_to_live(LeaseTimeToLiveRequest { id: 77, keys: false }).await.unwrap().into_inner().ttl, -1);
    let err = lease.lease_revoke(LeaseRevokeRequest { id: 77 }).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (tonic::Code::NotFound, "etcdserver: requested lease not found"));
    let err = lease.lease_grant(LeaseGrantRequest { ttl: 10, id }).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (tonic::Code::FailedPrecondition, "etcdserver: lease already exists"));
    let r = KvClient::new(c.channel(leader).await).range(RangeRequest { key: b"k".to_vec(), ..Default::default() }).await.unwrap();
    assert_eq!(r.into_inner().kvs[0].lease, id);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_kv_is_equal_on_every_member_and_a_client_that_stops_reading_blocks_no_write() {
    use detcd_node::pb::etcdserverpb::watch_client::WatchClient;
    use detcd_node::pb::etcdserverpb::watch_request::RequestUnion;
    use detcd_node::pb::etcdserverpb::{HashKvRequest, WatchCreateRequest, WatchRequest};
    use tokio_stream::StreamExt;
    let c = Cluster::start().await;
    // A watcher of everything whose client never reads a response.
    let create = WatchCreateRequest { key: vec![0], range_end: vec![0], ..Default::default() };
    let req = WatchRequest { request_union: Some(RequestUnion::CreateRequest(create)) };
    let _stalled = WatchClient::new(c.channel(0).await).watch(tokio_stream::iter(vec![req]).chain(tokio_stream::pending())).await.unwrap();
    let mut kv = KvClient::new(c.channel(0).await);
    let value = vec![b'x'; 10_000];
    let started = std::time::Instant::now();
    for i in 0..300 {
        kv.put(PutRequest { key: format!("k{}", i % 50).into_bytes(), value: value.clone(), ..Default::default() }).await.unwrap();
    }
    // 3 MB of events wait for the stalled client; the writes did not wait for it.
    assert!(started.elapsed() < Duration::from_secs(30), "writes took {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_millis(300)).await; // every member applies the last put
    let mut hashes = Vec::new();
    for i in 0..3 {
        let h = MaintenanceClient::new(c.channel(i).await).hash_kv(HashKvRequest { revision: 0 }).await.unwrap().into_inner();
        hashes.push((h.hash, h.hash_revision));
    }
    assert_eq!(hashes[0].1, 301);
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    c.stop().await;
}
