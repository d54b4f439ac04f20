//! ok/bad pairs for the etcd model: each property once accepted, once violated.

use super::*;
use crate::models::testing::{assert_illegal, assert_ok, ops};

fn get(key: &str) -> Request {
    Request::Range {
        keys: KeySet::Key(key.into()),
    }
}

fn put(key: &str, value: &str) -> Request {
    Request::Put {
        key: key.into(),
        value: value.into(),
        lease: None,
        prev_kv: false,
    }
}

fn put_on_lease(key: &str, value: &str, lease: i64) -> Request {
    Request::Put {
        key: key.into(),
        value: value.into(),
        lease: Some(LeaseId(lease)),
        prev_kv: false,
    }
}

fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
        create_revision: Revision(create),
        mod_revision: Revision(modified),
        version,
        lease: None,
    }
}

fn put_ok(revision: i64) -> Response {
    Response::Put {
        revision: Revision(revision),
        prev_kv: None,
    }
}

fn range_ok(revision: i64, kvs: Vec<KeyValue>) -> Response {
    Response::Range {
        revision: Revision(revision),
        kvs,
    }
}

fn cas(key: &str, version: i64, value: &str) -> Request {
    Request::Txn {
        compare: vec![Compare {
            keys: KeySet::Key(key.into()),
            op: CompareOp::Equal,
            target: CompareTarget::Version(version),
        }],
        success: vec![put(key, value)],
        failure: vec![get(key)],
    }
}

#[test]
fn a_read_sees_the_last_put_with_its_revisions() {
    let h = || {
        ops()
            .ok(0, 0, 1, put("a", "x"), put_ok(2))
            .ok(0, 2, 3, put("a", "y"), put_ok(3))
    };
    assert_ok(
        h().ok(1, 4, 5, get("a"), range_ok(3, vec![kv("a", "y", 2, 3, 2)]))
            .check(&Etcd),
    );
    assert_illegal(
        h().ok(1, 4, 5, get("a"), range_ok(3, vec![kv("a", "y", 3, 3, 1)]))
            .check(&Etcd),
    );
}

#[test]
fn deleting_an_absent_key_does_not_bump_the_revision() {
    let delete = |rev| {
        ops().ok(
            0,
            0,
            1,
            Request::Delete {
                keys: KeySet::Key("a".into()),
                prev_kv: false,
            },
            Response::Delete {
                revision: Revision(rev),
                deleted: 0,
                prev_kvs: vec![],
            },
        )
    };
    assert_ok(delete(1).check(&Etcd));
    assert_illegal(delete(2).check(&Etcd));
}

#[test]
fn puts_on_different_keys_cannot_share_a_revision() {
    // Per key each history is fine: the reason the etcd model is not partitioned per key.
    let h = |rev_b| {
        ops()
            .ok(0, 0, 1, put("a", "x"), put_ok(2))
            .ok(1, 2, 3, put("b", "y"), put_ok(rev_b))
    };
    assert_ok(h(3).check(&Etcd));
    assert_illegal(h(2).check(&Etcd));
}

#[test]
fn concurrent_compare_and_swaps_on_one_version_cannot_both_succeed() {
    let won = |rev| Response::Txn {
        revision: Revision(rev),
        succeeded: true,
        responses: vec![TxnResponse::Put { prev_kv: None }],
    };
    let lost = Response::Txn {
        revision: Revision(3),
        succeeded: false,
        responses: vec![TxnResponse::Range {
            kvs: vec![kv("a", "x", 2, 2, 1)],
        }],
    };
    let h = || ops().ok(0, 0, 1, put("a", "o"), put_ok(2));
    // Version 1 after the first put: one cas wins (rev 3), the other sees version 2.
    let lost_v2 = Response::Txn {
        revision: Revision(3),
        succeeded: false,
        responses: vec![TxnResponse::Range {
            kvs: vec![kv("a", "x", 2, 3, 2)],
        }],
    };
    assert_ok(
        h().ok(1, 2, 5, cas("a", 1, "x"), won(3))
            .ok(2, 3, 6, cas("a", 1, "y"), lost_v2)
            .check(&Etcd),
    );
    assert_illegal(
        h().ok(1, 2, 5, cas("a", 1, "x"), won(3))
            .ok(2, 3, 6, cas("a", 1, "y"), won(4))
            .check(&Etcd),
    );
    // A failed compare whose read shows the value it compared against is also impossible.
    assert_illegal(h().ok(1, 2, 5, cas("a", 1, "x"), lost).check(&Etcd));
}

#[test]
fn revoking_a_lease_deletes_its_keys_in_one_revision() {
    let h = |revoke_rev| {
        ops()
            .ok(
                0,
                0,
                1,
                Request::LeaseGrant {
                    id: LeaseId(7),
                    ttl_s: 10,
                },
                Response::LeaseGrant {
                    revision: Revision(1),
                },
            )
            .ok(0, 2, 3, put_on_lease("a", "x", 7), put_ok(2))
            .ok(0, 4, 5, put_on_lease("b", "y", 7), put_ok(3))
            .ok(
                0,
                6,
                7,
                Request::LeaseRevoke { id: LeaseId(7) },
                Response::LeaseRevoke {
                    revision: Revision(revoke_rev),
                },
            )
            .ok(1, 8, 9, get("b"), range_ok(4, vec![]))
    };
    assert_ok(h(4).check(&Etcd));
    let why = assert_illegal(h(5).check(&Etcd));
    assert!(why.contains("lease_revoke(7)"), "{why}");
}

#[test]
fn a_key_vanishes_only_if_its_lease_may_have_expired() {
    let h = || {
        ops()
            .ok(
                0,
                0,
                1,
                Request::LeaseGrant {
                    id: LeaseId(7),
                    ttl_s: 1,
                },
                Response::LeaseGrant {
                    revision: Revision(1),
                },
            )
            .ok(0, 2, 3, put_on_lease("a", "x", 7), put_ok(2))
            .ok(1, 10, 11, get("a"), range_ok(3, vec![]))
    };
    assert_ok(
        h().unknown(9, 1, Request::LeaseExpire { id: LeaseId(7) })
            .check(&Etcd),
    );
    assert_illegal(h().check(&Etcd));
}

#[test]
fn a_put_on_a_missing_lease_fails_without_effect() {
    let h = |out| {
        ops()
            .ok(0, 0, 1, put_on_lease("a", "x", 9), out)
            .ok(0, 2, 3, get("a"), range_ok(1, vec![]))
    };
    assert_ok(
        h(Response::Error {
            error: EtcdError::LeaseNotFound,
        })
        .check(&Etcd),
    );
    assert_illegal(h(put_ok(2)).check(&Etcd));
}

#[test]
fn a_prefix_range_returns_its_keys_sorted() {
    let h = || {
        ops()
            .ok(0, 0, 1, put("k/b", "2"), put_ok(2))
            .ok(0, 2, 3, put("k/a", "1"), put_ok(3))
            .ok(0, 4, 5, put("l", "3"), put_ok(4))
    };
    let range = Request::Range {
        keys: KeySet::Prefix("k/".into()),
    };
    let sorted = vec![kv("k/a", "1", 3, 3, 1), kv("k/b", "2", 2, 2, 1)];
    let unsorted = vec![kv("k/b", "2", 2, 2, 1), kv("k/a", "1", 3, 3, 1)];
    assert_ok(
        h().ok(1, 6, 7, range.clone(), range_ok(4, sorted))
            .check(&Etcd),
    );
    assert_illegal(h().ok(1, 6, 7, range, range_ok(4, unsorted)).check(&Etcd));
}

#[test]
fn a_timed_out_put_may_or_may_not_have_happened() {
    let h = || ops().unknown(0, 0, put("a", "x"));
    assert_ok(
        h().ok(1, 5, 6, get("a"), range_ok(2, vec![kv("a", "x", 2, 2, 1)]))
            .check(&Etcd),
    );
    assert_ok(h().ok(1, 5, 6, get("a"), range_ok(1, vec![])).check(&Etcd));
    assert_illegal(h().ok(1, 5, 6, get("a"), range_ok(2, vec![])).check(&Etcd));
}

#[test]
fn a_txn_reads_its_own_earlier_writes_in_the_same_revision() {
    let txn = Request::Txn {
        compare: vec![],
        success: vec![put("a", "x"), get("a")],
        failure: vec![],
    };
    let out = |version| Response::Txn {
        revision: Revision(2),
        succeeded: true,
        responses: vec![
            TxnResponse::Put { prev_kv: None },
            TxnResponse::Range {
                kvs: vec![kv("a", "x", 2, 2, version)],
            },
        ],
    };
    assert_ok(ops().ok(0, 0, 1, txn.clone(), out(1)).check(&Etcd));
    assert_illegal(ops().ok(0, 0, 1, txn, out(2)).check(&Etcd));
}

#[test]
fn an_applied_answer_pins_the_revision_and_the_effect() {
    // A put whose answer was lost, known (from the cluster's record) to have made revision 3,
    // between a put that made 2 and a read at 3.
    let applied = |rev| Response::Applied { revision: Revision(rev) };
    let h = |rev| {
        ops()
            .ok(0, 0, 1, put("a", "x"), put_ok(2))
            .ok(1, 0, 5, put("a", "y"), applied(rev))
    };
    assert_ok(
        h(3).ok(2, 6, 7, get("a"), range_ok(3, vec![kv("a", "y", 2, 3, 2)]))
            .check(&Etcd),
    );
    // The read did not see it although it was applied before the read began.
    assert_illegal(
        h(3).ok(2, 6, 7, get("a"), range_ok(2, vec![kv("a", "x", 2, 2, 1)]))
            .check(&Etcd),
    );
    // Applied at a revision it cannot have made.
    assert_illegal(h(5).check(&Etcd));
    // A refused request is not "applied".
    assert_illegal(
        ops()
            .ok(0, 0, 1, put_on_lease("a", "x", 9), applied(2))
            .check(&Etcd),
    );
}
