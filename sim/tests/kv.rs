//! The KV API over the simulated network, through the same generated gRPC client real clients use.
#![cfg(madsim)]

use detcd_node::config::RaftTiming;
use detcd_node::pb::etcdserverpb::kv_client::KvClient;
use detcd_node::pb::etcdserverpb::{compare, request_op, Compare, PutRequest, RangeRequest, RequestOp, TxnRequest};
use detcd_sim::cluster::{node_ip, SimCluster};
use detcd_sim::seeds::Seeds;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

fn sim<F: std::future::Future<Output = ()> + Send + 'static>(seed: u64, body: impl FnOnce(SimCluster) -> F) {
    let seeds = Seeds::derive(seed, 3);
    let rt = madsim::runtime::Runtime::with_seed_and_config(seeds.runtime, madsim::Config::default());
    rt.block_on(async move {
        let cluster = SimCluster::start(&seeds.nodes, RaftTiming::default());
        let client = madsim::runtime::Handle::current()
            .create_node()
            .name("client")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)))
            .build();
        client.spawn(body(cluster)).await.expect("client task");
    });
}

async fn connect(node: usize) -> KvClient<tonic::transport::Channel> {
    let url = format!("http://{}:2379", node_ip(node));
    KvClient::connect(url).await.expect("connect")
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest { key: key.into(), value: value.into(), ..Default::default() }
}

fn get(key: &str) -> RangeRequest {
    RangeRequest { key: key.into(), ..Default::default() }
}

/// A write acknowledged through one member is seen by a linearizable read through every other
/// member right after, and revisions follow etcd's rules.
#[test]
fn acknowledged_put_is_visible_to_linearizable_reads_on_every_member() {
    sim(42, |_cluster| async move {
        madsim::time::sleep(Duration::from_secs(1)).await; // elect a leader
        let mut c0 = connect(0).await;
        let r = c0.put(put("foo", "bar")).await.expect("put").into_inner();
        assert_eq!(r.header.unwrap().revision, 2, "a fresh store is at 1; the first put makes 2");
        for n in 0..3 {
            let mut c = connect(n).await;
            let got = c.range(get("foo")).await.expect("range").into_inner();
            assert_eq!(got.kvs.len(), 1, "member n{}", n + 1);
            let kv = &got.kvs[0];
            assert_eq!((kv.value.as_slice(), kv.create_revision, kv.mod_revision, kv.version), (&b"bar"[..], 2, 2, 1));
        }
    });
}

/// Compare-and-set through Txn: exactly one of two CAS attempts from the same version wins.
#[test]
fn txn_compare_and_set_lets_exactly_one_writer_win() {
    sim(7, |_cluster| async move {
        madsim::time::sleep(Duration::from_secs(1)).await;
        let mut c = connect(1).await;
        c.put(put("x", "0")).await.expect("put");
        let cas = |to: &str| TxnRequest {
            compare: vec![Compare {
                key: b"x".to_vec(),
                target: compare::CompareTarget::Version as i32,
                result: compare::CompareResult::Equal as i32,
                target_union: Some(compare::TargetUnion::Version(1)),
                ..Default::default()
            }],
            success: vec![RequestOp { request: Some(request_op::Request::RequestPut(put("x", to))) }],
            failure: vec![RequestOp { request: Some(request_op::Request::RequestRange(get("x"))) }],
        };
        let a = c.txn(cas("a")).await.expect("txn a").into_inner();
        let b = connect(2).await.txn(cas("b")).await.expect("txn b").into_inner();
        assert!(a.succeeded && !b.succeeded);
        let Some(request_op_resp) = b.responses[0].response.clone() else { panic!("no response") };
        match request_op_resp {
            detcd_node::pb::etcdserverpb::response_op::Response::ResponseRange(r) => assert_eq!(r.kvs[0].value, b"a"),
            other => panic!("failure branch should have read x, got {other:?}"),
        }
    });
}
