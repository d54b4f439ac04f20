//! Seeded fuzzers for what the state machine reads from elsewhere: every request kind through the
//! path a committed entry takes (bytes -> decode -> `request::check` -> apply), and snapshot bytes
//! through restore. No input may panic; the state's invariants hold after every entry (asserted by
//! `StateMachine::apply` in test builds); a snapshot restores to an equal state.
//!
//! Executions: the defaults times `DETCD_FUZZ_ITERS` (1 in CI; as in the WAL's fuzz tests).

use super::*;
use crate::pb::etcdserverpb::{
    compare, request_op, CompactionRequest, Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest, PutRequest,
    RangeRequest, RequestOp, TxnRequest,
};
use crate::state::request::{check, MemberAttributes, ReplicatedRequest};
use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn iterations(default: u64) -> u64 {
    default * std::env::var("DETCD_FUZZ_ITERS").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(1)
}

fn members() -> BTreeMap<MemberId, InitialMember> {
    [(MemberId(7), InitialMember { name: "a".into(), peer_urls: vec!["http://10.0.0.1:2380".into()] })].into()
}

fn key(rng: &mut StdRng) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0 => vec![],
        1 => vec![0],
        2 => vec![0xff; rng.gen_range(1..4)],
        _ => vec![b'a' + rng.gen_range(0..6)],
    }
}

fn range_end(rng: &mut StdRng) -> Vec<u8> {
    match rng.gen_range(0..4) {
        0 => vec![],
        1 => vec![0],
        _ => key(rng),
    }
}

fn number(rng: &mut StdRng) -> i64 {
    let edges = [0, 1, -1, 2, 3, 5, 8, i64::MAX, i64::MIN, 9_000_000_000];
    if rng.gen_bool(0.3) {
        edges[rng.gen_range(0..edges.len())]
    } else {
        rng.gen_range(-2..40)
    }
}

fn lease(rng: &mut StdRng) -> i64 {
    if rng.gen_bool(0.5) {
        0
    } else {
        rng.gen_range(1..5)
    }
}

fn compare(rng: &mut StdRng) -> Compare {
    let union = match rng.gen_range(0..5) {
        0 => compare::TargetUnion::Version(number(rng)),
        1 => compare::TargetUnion::CreateRevision(number(rng)),
        2 => compare::TargetUnion::ModRevision(number(rng)),
        3 => compare::TargetUnion::Value(key(rng)),
        _ => compare::TargetUnion::Lease(lease(rng)),
    };
    Compare {
        result: rng.gen_range(-1..5),
        target: rng.gen_range(-1..6),
        key: key(rng),
        range_end: range_end(rng),
        target_union: rng.gen_bool(0.9).then_some(union),
    }
}

fn put(rng: &mut StdRng) -> PutRequest {
    PutRequest {
        key: key(rng),
        value: if rng.gen_bool(0.8) { key(rng) } else { vec![] },
        lease: lease(rng),
        prev_kv: rng.gen(),
        ignore_value: rng.gen_bool(0.1),
        ignore_lease: rng.gen_bool(0.1),
    }
}

fn txn_op(rng: &mut StdRng, depth: u32) -> RequestOp {
    let request = match rng.gen_range(0..if depth < 2 { 5 } else { 4 }) {
        0 => request_op::Request::RequestRange(RangeRequest {
            key: key(rng),
            range_end: range_end(rng),
            limit: number(rng),
            revision: number(rng),
            sort_order: rng.gen_range(-1..4),
            sort_target: rng.gen_range(-1..6),
            count_only: rng.gen(),
            keys_only: rng.gen(),
            ..Default::default()
        }),
        1 | 2 => request_op::Request::RequestPut(put(rng)),
        3 => request_op::Request::RequestDeleteRange(DeleteRangeRequest { key: key(rng), range_end: range_end(rng), prev_kv: rng.gen() }),
        _ => request_op::Request::RequestTxn(txn(rng, depth + 1)),
    };
    RequestOp { request: rng.gen_bool(0.97).then_some(request) }
}

fn txn(rng: &mut StdRng, depth: u32) -> TxnRequest {
    TxnRequest {
        compare: (0..rng.gen_range(0..3)).map(|_| compare(rng)).collect(),
        success: (0..rng.gen_range(0..4)).map(|_| txn_op(rng, depth)).collect(),
        failure: (0..rng.gen_range(0..3)).map(|_| txn_op(rng, depth)).collect(),
    }
}

/// A request of any kind, fields at their edges as often as in their middles.
fn op(rng: &mut StdRng) -> Op {
    match rng.gen_range(0..12) {
        0..=3 => Op::Put(put(rng)),
        4 => Op::DeleteRange(DeleteRangeRequest { key: key(rng), range_end: range_end(rng), prev_kv: rng.gen() }),
        5 | 6 => Op::Txn(txn(rng, 0)),
        7 => Op::Compaction(CompactionRequest { revision: number(rng), physical: rng.gen() }),
        8 => Op::LeaseGrant(LeaseGrantRequest { id: lease(rng), ttl: number(rng) }),
        9 => Op::LeaseRevoke(LeaseRevokeRequest { id: lease(rng) }),
        10 => Op::LeaseExpire(LeaseRevokeRequest { id: lease(rng) }),
        _ => Op::Publish(MemberAttributes { id: if rng.gen() { 7 } else { 8 }, name: "n".into(), client_urls: vec![] }),
    }
}

/// Flips, cuts or extends the encoding now and then: bytes a newer version or a bad disk wrote.
fn mutate(rng: &mut StdRng, mut bytes: Vec<u8>) -> Vec<u8> {
    match rng.gen_range(0..20) {
        0 if !bytes.is_empty() => {
            let i = rng.gen_range(0..bytes.len());
            bytes[i] ^= 1 << rng.gen_range(0..8);
        }
        1 => bytes.truncate(rng.gen_range(0..=bytes.len())),
        2 => bytes.extend((0..rng.gen_range(1..6)).map(|_| rng.gen::<u8>())),
        // An unknown field (tag 15, varint): a request kind from a newer version.
        3 => bytes = vec![0x08, 0x01, 0x78, 0x05],
        _ => {}
    }
    bytes
}

#[test]
fn fuzz_every_request_kind_through_decode_check_and_apply() {
    let runs = (iterations(3_000) / 300).max(1);
    let (mut applied, mut refused) = (0, 0);
    for seed in 0..runs {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sm = StateMachine::new(&members(), 2);
        let mut index = 0;
        for n in 0..300 {
            let req = ReplicatedRequest { id: n, op: Some(op(&mut rng)), trace: vec![], ..Default::default() };
            let bytes = mutate(&mut rng, req.encode_to_vec());
            // The driver's path for a committed entry: what fails here stops the member cleanly.
            let Ok(req) = ReplicatedRequest::decode(bytes.as_slice()) else {
                refused += 1;
                continue;
            };
            if check(&req).is_err() {
                refused += 1;
                continue;
            }
            index += 1;
            let _ = sm.apply(Index(index), req);
            applied += 1;
            if n % 50 == 49 {
                let mut copy = StateMachine::new(&members(), 2);
                copy.restore(&sm.snapshot(), sm.applied()).expect("a snapshot restores");
                assert_eq!(copy.kv, sm.kv, "seed {seed}");
                assert_eq!(copy.leases, sm.leases, "seed {seed}");
            }
        }
    }
    assert!(applied > refused, "the generator mostly makes valid requests ({applied} applied, {refused} refused)");
}

#[test]
fn fuzz_snapshot_bytes_never_panic_restore() {
    let runs = iterations(3_000);
    let mut rng = StdRng::seed_from_u64(1);
    // A state with history, compaction, leases and keys.
    let mut sm = StateMachine::new(&members(), 2);
    let mut index = 0;
    while index < 200 {
        let req = ReplicatedRequest { id: index, op: Some(op(&mut rng)), trace: vec![], ..Default::default() };
        if check(&req).is_ok() {
            index += 1;
            let _ = sm.apply(Index(index), req);
        }
    }
    let good = sm.snapshot();
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..runs {
        let mut bytes = good.clone();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..bytes.len());
            match rng.gen_range(0..4) {
                0 => bytes[i] ^= 1 << rng.gen_range(0..8),
                1 => bytes[i] = rng.gen(),
                2 => bytes.truncate(i.max(1)),
                _ => {
                    let j = rng.gen_range(0..bytes.len());
                    bytes.swap(i, j);
                }
            }
        }
        let mut other = StateMachine::new(&members(), 2);
        let before = other.kv.clone();
        match other.restore(&bytes, sm.applied()) {
            Ok(()) => ok += 1,
            Err(_) => {
                refused += 1;
                assert_eq!(other.kv, before, "a refused snapshot changes nothing");
            }
        }
    }
    assert!(refused > 0 && ok + refused == runs);
}
