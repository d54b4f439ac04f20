//! Unit tests, one property each.

use super::key_index::{KeyIndex, RevisionPair};
use super::{KeyValue, MvccError, Store};
use crate::types::{LeaseId, Revision};

const NO_LEASE: LeaseId = LeaseId(0);
const ALL: (&[u8], &[u8]) = (&[0], &[0]);

fn put(store: &mut Store, key: &str, value: &str) -> Revision {
    let mut txn = store.write();
    txn.put(key.as_bytes(), value.as_bytes(), NO_LEASE);
    let rev = txn.commit();
    store.check_invariants();
    rev
}

fn delete(store: &mut Store, key: &str, range_end: &str) -> Revision {
    let mut txn = store.write();
    txn.delete_range(key.as_bytes(), range_end.as_bytes());
    let rev = txn.commit();
    store.check_invariants();
    rev
}

fn get(store: &Store, key: &str, rev: i64) -> Option<KeyValue> {
    let r = store
        .range(key.as_bytes(), &[], Revision(rev), 0)
        .expect("readable revision");
    assert!(r.count <= 1 && !r.more);
    r.kvs.into_iter().next()
}

fn keys(store: &Store, key: &[u8], range_end: &[u8], rev: i64) -> Vec<String> {
    let r = store
        .range(key, range_end, Revision(rev), 0)
        .expect("readable revision");
    r.kvs
        .iter()
        .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
        .collect()
}

fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        create_revision: Revision(create),
        mod_revision: Revision(modified),
        version,
        value: value.into(),
        lease: NO_LEASE,
    }
}

fn pair(main: i64, sub: i64) -> RevisionPair {
    RevisionPair {
        main: Revision(main),
        sub,
    }
}

/// Every read of every revision from 1 to the current one, for comparing before and after.
fn all_reads(store: &Store, from: i64) -> Vec<(i64, Vec<KeyValue>, u32)> {
    (from..=store.current_revision().0)
        .map(|r| {
            let kvs = store.range(ALL.0, ALL.1, Revision(r), 0).unwrap().kvs;
            let hash = store.hash_kv(Revision(r)).ok().unwrap_or(0);
            (r, kvs, hash)
        })
        .collect()
}

#[test]
fn fresh_store_is_at_revision_1_and_empty() {
    let store = Store::new();
    store.check_invariants();
    assert_eq!(store.current_revision(), Revision(1));
    assert_eq!(store.compacted_revision(), Revision(0));
    let r = store.range(ALL.0, ALL.1, Revision(0), 0).unwrap();
    assert_eq!((r.kvs.len(), r.count, r.more), (0, 0, false));
    assert_eq!(store.range(ALL.0, ALL.1, Revision(1), 0).unwrap().count, 0);
}

#[test]
fn put_bumps_revision_once() {
    let mut store = Store::new();
    assert_eq!(put(&mut store, "a", "1"), Revision(2));
    assert_eq!(
        put(&mut store, "a", "1"),
        Revision(3),
        "the same value again is still a change"
    );
    assert_eq!(get(&store, "a", 0), Some(kv("a", "1", 2, 3, 2)));
}

#[test]
fn txn_with_three_puts_bumps_once_with_sub_revisions() {
    let mut store = Store::new();
    let mut txn = store.write();
    assert_eq!(txn.put(b"a", b"1", NO_LEASE), None);
    assert_eq!(txn.put(b"b", b"2", NO_LEASE), None);
    // The same key twice: the second put sees the first (sub-revision 0 before 2).
    assert_eq!(txn.put(b"a", b"3", NO_LEASE), Some(kv("a", "1", 2, 2, 1)));
    assert_eq!(txn.revision(), Revision(2));
    txn.check_invariants();
    assert_eq!(txn.commit(), Revision(2));
    store.check_invariants();
    assert_eq!(store.count_records_at(Revision(2)), 3);
    assert_eq!(
        store.range(ALL.0, ALL.1, Revision(0), 0).unwrap().kvs,
        vec![kv("a", "3", 2, 2, 2), kv("b", "2", 2, 2, 1)]
    );
}

#[test]
fn read_only_txn_does_not_bump() {
    let mut store = Store::new();
    put(&mut store, "a", "1");
    let txn = store.write();
    assert_eq!(txn.range(b"a", &[], Revision(0), 0).unwrap().count, 1);
    assert_eq!(txn.revision(), Revision(2));
    assert_eq!(txn.commit(), Revision(2));
    assert_eq!(store.current_revision(), Revision(2));
}

#[test]
fn delete_of_absent_key_does_not_bump() {
    let mut store = Store::new();
    put(&mut store, "a", "1");
    let mut txn = store.write();
    assert_eq!(txn.delete_range(b"b", &[]), vec![]);
    assert_eq!(txn.delete_range(b"c", b"z"), vec![]);
    assert_eq!(txn.commit(), Revision(2));
    assert_eq!(delete(&mut store, "a", ""), Revision(3));
    assert_eq!(
        delete(&mut store, "a", ""),
        Revision(3),
        "deleting a deleted key changes nothing"
    );
}

#[test]
fn delete_leaves_tombstone_and_resets_version() {
    let mut store = Store::new();
    put(&mut store, "foo", "a"); // 2
    put(&mut store, "foo", "b"); // 3
    delete(&mut store, "foo", ""); // 4
    put(&mut store, "foo", "c"); // 5
    assert_eq!(get(&store, "foo", 2), Some(kv("foo", "a", 2, 2, 1)));
    assert_eq!(get(&store, "foo", 3), Some(kv("foo", "b", 2, 3, 2)));
    assert_eq!(get(&store, "foo", 4), None);
    assert_eq!(
        get(&store, "foo", 5),
        Some(kv("foo", "c", 5, 5, 1)),
        "a new generation starts at version 1"
    );
}

#[test]
fn key_index_generations_follow_module_doc_example() {
    let mut ki = KeyIndex::new();
    ki.put(pair(2, 0));
    ki.put(pair(3, 0));
    ki.tombstone(pair(4, 0));
    ki.put(pair(5, 0));
    ki.verify().unwrap();
    let revs: Vec<_> = ki.revisions().collect();
    assert_eq!(
        revs,
        vec![
            (pair(2, 0), false),
            (pair(3, 0), false),
            (pair(4, 0), true),
            (pair(5, 0), false)
        ]
    );
    let got: Vec<_> = (1..=6).map(|r| ki.get(Revision(r))).collect();
    assert_eq!(
        got,
        vec![
            None,
            Some(pair(2, 0)),
            Some(pair(3, 0)),
            None,
            Some(pair(5, 0)),
            Some(pair(5, 0))
        ]
    );

    let mut c2 = ki.clone();
    assert_eq!(c2.compact(Revision(2)), Some(pair(2, 0)));
    assert_eq!(c2, ki, "compact(2) keeps everything");
    let mut c3 = ki.clone();
    assert_eq!(c3.compact(Revision(3)), Some(pair(3, 0)));
    assert_eq!(
        c3.revisions().map(|(r, _)| r).collect::<Vec<_>>(),
        vec![pair(3, 0), pair(4, 0), pair(5, 0)]
    );
    let mut c4 = ki.clone();
    assert_eq!(c4.compact(Revision(4)), None);
    assert_eq!(
        c4.revisions().collect::<Vec<_>>(),
        vec![(pair(5, 0), false)]
    );
    c4.verify().unwrap();
}

#[test]
fn key_index_fully_deleted_before_compaction_becomes_empty() {
    let mut ki = KeyIndex::new();
    ki.put(pair(2, 0));
    ki.tombstone(pair(3, 0));
    let mut at_2 = ki.clone();
    assert_eq!(at_2.compact(Revision(2)), Some(pair(2, 0)));
    assert!(!at_2.is_empty());
    assert_eq!(ki.compact(Revision(3)), None);
    assert!(ki.is_empty());
}

#[test]
fn reads_at_past_revisions_see_the_store_as_it_was() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    put(&mut store, "b", "1"); // 3
    put(&mut store, "a", "2"); // 4
    delete(&mut store, "b", ""); // 5
    assert_eq!(keys(&store, ALL.0, ALL.1, 1), Vec::<String>::new());
    assert_eq!(keys(&store, ALL.0, ALL.1, 2), vec!["a"]);
    assert_eq!(keys(&store, ALL.0, ALL.1, 3), vec!["a", "b"]);
    assert_eq!(get(&store, "a", 3).unwrap().value, b"1");
    assert_eq!(get(&store, "a", 4).unwrap().value, b"2");
    assert_eq!(keys(&store, ALL.0, ALL.1, 5), vec!["a"]);
    assert_eq!(keys(&store, ALL.0, ALL.1, 0), vec!["a"]);
    assert_eq!(
        keys(&store, ALL.0, ALL.1, -3),
        vec!["a"],
        "a negative revision means current, as in etcd"
    );
}

#[test]
fn read_at_future_revision_fails() {
    let mut store = Store::new();
    assert_eq!(
        store.range(b"a", &[], Revision(2), 0),
        Err(MvccError::FutureRevision)
    );
    put(&mut store, "a", "1");
    assert!(store.range(b"a", &[], Revision(2), 0).is_ok());
    assert_eq!(
        store.range(b"a", &[], Revision(3), 0),
        Err(MvccError::FutureRevision)
    );
    assert_eq!(
        store.count(b"a", &[], Revision(3)),
        Err(MvccError::FutureRevision)
    );
    assert_eq!(
        MvccError::FutureRevision.to_string(),
        "mvcc: required revision is a future revision"
    );
}

#[test]
fn compact_twice_or_into_the_future_fails() {
    let mut store = Store::new();
    for i in 0..4 {
        put(&mut store, "a", &i.to_string());
    }
    assert_eq!(store.compact(Revision(6)), Err(MvccError::FutureRevision));
    assert_eq!(store.compact(Revision(3)), Ok(()));
    assert_eq!(store.compacted_revision(), Revision(3));
    assert_eq!(store.compact(Revision(3)), Err(MvccError::Compacted));
    assert_eq!(store.compact(Revision(2)), Err(MvccError::Compacted));
    assert_eq!(
        store.compact(Revision(5)),
        Ok(()),
        "compacting at the current revision is allowed"
    );
    assert_eq!(
        store.current_revision(),
        Revision(5),
        "compaction does not change the revision"
    );
    assert_eq!(
        MvccError::Compacted.to_string(),
        "mvcc: required revision has been compacted"
    );
}

#[test]
fn first_compaction_may_be_at_zero_as_in_etcd() {
    let mut store = Store::new();
    assert_eq!(store.compact(Revision(-1)), Err(MvccError::Compacted));
    assert_eq!(store.compact(Revision(0)), Ok(()));
    assert_eq!(store.compact(Revision(0)), Err(MvccError::Compacted));
    assert_eq!(store.compact(Revision(1)), Ok(()));
    store.check_invariants();
}

#[test]
fn reads_before_compacted_revision_fail_and_at_it_succeed() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    put(&mut store, "a", "2"); // 3
    put(&mut store, "a", "3"); // 4
    store.compact(Revision(3)).unwrap();
    store.check_invariants();
    assert_eq!(
        store.range(b"a", &[], Revision(2), 0),
        Err(MvccError::Compacted)
    );
    assert_eq!(store.check_revision(Revision(2)), Err(MvccError::Compacted));
    assert_eq!(get(&store, "a", 3).unwrap().value, b"2");
    assert_eq!(get(&store, "a", 0).unwrap().value, b"3");
    // etcd's HashByRev refuses the compacted revision itself, unlike range.
    assert_eq!(store.hash_kv(Revision(3)), Err(MvccError::Compacted));
    assert!(store.hash_kv(Revision(4)).is_ok());
}

#[test]
fn reads_after_compaction_are_identical_for_revisions_at_or_after_it() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    put(&mut store, "b", "1"); // 3
    delete(&mut store, "a", ""); // 4
    put(&mut store, "a", "2"); // 5
    put(&mut store, "c", "1"); // 6
    delete(&mut store, "b", "c"); // 7
    put(&mut store, "a", "3"); // 8
    for at in 1..=8 {
        let before = all_reads(&store, at);
        store.compact(Revision(at)).unwrap();
        store.check_invariants();
        let after = all_reads(&store, at);
        // hash_kv refuses the compacted revision itself: compare the others.
        assert_eq!(before[0].1, after[0].1, "read at compacted revision {at}");
        assert_eq!(before[1..], after[1..], "after compact({at})");
    }
}

#[test]
fn compacted_deleted_key_disappears_entirely() {
    let mut store = Store::new();
    put(&mut store, "gone", "1"); // 2
    put(&mut store, "gone", "2"); // 3
    delete(&mut store, "gone", ""); // 4
    put(&mut store, "kept", "1"); // 5
    store.compact(Revision(4)).unwrap();
    store.check_invariants();
    assert_eq!(store.indexed_keys(), vec![b"kept".to_vec()]);
    assert_eq!(
        store.count_records_at(Revision(2))
            + store.count_records_at(Revision(3))
            + store.count_records_at(Revision(4)),
        0
    );
}

#[test]
fn compaction_keeps_the_newest_put_at_or_before_it_and_drops_older() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    put(&mut store, "a", "2"); // 3
    put(&mut store, "b", "1"); // 4
    store.compact(Revision(4)).unwrap();
    store.check_invariants();
    assert_eq!(store.count_records_at(Revision(2)), 0);
    assert_eq!(store.count_records_at(Revision(3)), 1);
    assert_eq!(get(&store, "a", 4), Some(kv("a", "2", 2, 3, 2)));
    put(&mut store, "a", "3");
    assert_eq!(
        get(&store, "a", 0),
        Some(kv("a", "3", 2, 5, 3)),
        "version and create revision survive compaction"
    );
}

#[test]
fn range_end_selects_single_key_span_from_key_and_all() {
    let mut store = Store::new();
    for k in ["a", "b", "ba", "c", "d"] {
        put(&mut store, k, "v");
    }
    assert_eq!(keys(&store, b"b", b"", 0), vec!["b"]);
    assert_eq!(keys(&store, b"bb", b"", 0), Vec::<String>::new());
    assert_eq!(keys(&store, b"b", b"c", 0), vec!["b", "ba"]);
    assert_eq!(keys(&store, b"b", b"c\0", 0), vec!["b", "ba", "c"]);
    assert_eq!(
        keys(&store, b"b", b"\0", 0),
        vec!["b", "ba", "c", "d"],
        "from-key"
    );
    assert_eq!(
        keys(&store, b"\0", b"\0", 0),
        vec!["a", "b", "ba", "c", "d"],
        "all keys"
    );
    assert_eq!(
        keys(&store, b"c", b"b", 0),
        Vec::<String>::new(),
        "end before key"
    );
    assert_eq!(
        keys(&store, b"c", b"c", 0),
        Vec::<String>::new(),
        "end equal to key"
    );
}

#[test]
fn limit_truncates_but_count_covers_the_whole_range() {
    let mut store = Store::new();
    for k in ["a", "b", "c", "d"] {
        put(&mut store, k, "v");
    }
    let r = store.range(ALL.0, ALL.1, Revision(0), 2).unwrap();
    assert_eq!(
        (keys_of(&r.kvs), r.count, r.more),
        (vec!["a", "b"], 4, true)
    );
    let r = store.range(ALL.0, ALL.1, Revision(0), 4).unwrap();
    assert_eq!((r.kvs.len(), r.count, r.more), (4, 4, false));
    let r = store.range(b"b", b"d", Revision(3), 1).unwrap();
    assert_eq!(
        (keys_of(&r.kvs), r.count, r.more),
        (vec!["b"], 1, false),
        "at revision 3 only a and b existed"
    );
    assert_eq!(store.count(ALL.0, ALL.1, Revision(0)), Ok(4));
    assert_eq!(store.count(b"b", b"d", Revision(4)), Ok(2));
}

fn keys_of(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter()
        .map(|kv| std::str::from_utf8(&kv.key).unwrap())
        .collect()
}

#[test]
fn put_returns_prev_kv_and_records_lease() {
    let mut store = Store::new();
    let mut txn = store.write();
    assert_eq!(txn.put(b"a", b"1", LeaseId(7)), None);
    txn.commit();
    let mut txn = store.write();
    let prev = txn.put(b"a", b"2", NO_LEASE);
    txn.commit();
    assert_eq!(
        prev,
        Some(KeyValue {
            lease: LeaseId(7),
            ..kv("a", "1", 2, 2, 1)
        })
    );
    assert_eq!(get(&store, "a", 0).unwrap().lease, NO_LEASE);
}

#[test]
fn delete_returns_deleted_kvs_as_they_were() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    put(&mut store, "b", "1"); // 3
    put(&mut store, "b", "2"); // 4
    put(&mut store, "c", "1"); // 5
    let mut txn = store.write();
    let deleted = txn.delete_range(b"a", b"c");
    assert_eq!(deleted, vec![kv("a", "1", 2, 2, 1), kv("b", "2", 3, 4, 2)]);
    assert_eq!(txn.commit(), Revision(6));
    store.check_invariants();
    assert_eq!(
        store.count_records_at(Revision(6)),
        2,
        "one tombstone per deleted key"
    );
    assert_eq!(keys(&store, ALL.0, ALL.1, 0), vec!["c"]);
}

#[test]
fn reads_in_a_write_txn_see_its_own_writes() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    let mut txn = store.write();
    assert_eq!(
        txn.range(b"a", &[], Revision(3), 0),
        Err(MvccError::FutureRevision),
        "nothing written yet"
    );
    txn.put(b"b", b"1", NO_LEASE);
    assert_eq!(txn.revision(), Revision(3));
    assert_eq!(txn.count(ALL.0, ALL.1, Revision(0)), Ok(2));
    assert_eq!(txn.range(ALL.0, ALL.1, Revision(3), 0).unwrap().count, 2);
    assert_eq!(
        txn.range(ALL.0, ALL.1, Revision(2), 0).unwrap().count,
        1,
        "past revisions are unchanged"
    );
    assert_eq!(txn.delete_range(b"a", b"\0").len(), 2);
    assert_eq!(txn.count(ALL.0, ALL.1, Revision(0)), Ok(0));
    txn.put(b"a", b"2", NO_LEASE);
    assert_eq!(
        txn.range(b"a", &[], Revision(0), 0).unwrap().kvs,
        vec![kv("a", "2", 3, 3, 1)],
        "a new generation inside the txn"
    );
    txn.check_invariants();
    assert_eq!(txn.commit(), Revision(3));
    store.check_invariants();
    assert_eq!(keys(&store, ALL.0, ALL.1, 0), vec!["a"]);
}

#[test]
fn put_then_delete_in_one_txn_leaves_no_key() {
    let mut store = Store::new();
    let mut txn = store.write();
    txn.put(b"a", b"1", NO_LEASE);
    assert_eq!(txn.delete_range(b"a", &[]), vec![kv("a", "1", 2, 2, 1)]);
    assert_eq!(txn.commit(), Revision(2));
    store.check_invariants();
    assert_eq!(get(&store, "a", 2), None);
    store.compact(Revision(2)).unwrap();
    store.check_invariants();
    assert!(store.indexed_keys().is_empty());
}

#[test]
fn dropped_txn_leaves_no_trace() {
    let mut store = Store::new();
    put(&mut store, "a", "1"); // 2
    put(&mut store, "b", "1"); // 3
    delete(&mut store, "b", ""); // 4
    let before = store.clone();
    {
        let mut txn = store.write();
        txn.put(b"a", b"2", NO_LEASE);
        txn.delete_range(b"a", &[]);
        txn.put(b"a", b"3", NO_LEASE);
        txn.put(b"b", b"2", NO_LEASE);
        txn.put(b"new", b"1", NO_LEASE);
        txn.delete_range(b"new", &[]);
        txn.check_invariants();
    }
    store.check_invariants();
    assert_eq!(store, before);
    assert_eq!(put(&mut store, "a", "4"), Revision(5));
}

#[test]
fn hash_is_equal_for_equal_stores_and_survives_compaction() {
    let build = || {
        let mut store = Store::new();
        put(&mut store, "a", "1");
        put(&mut store, "b", "2");
        delete(&mut store, "a", "");
        put(&mut store, "a", "3");
        store
    };
    let (mut one, two) = (build(), build());
    for r in 0..=5 {
        assert_eq!(one.hash_kv(Revision(r)), two.hash_kv(Revision(r)));
    }
    let at_5 = one.hash_kv(Revision(5)).unwrap();
    assert_ne!(at_5, one.hash_kv(Revision(4)).unwrap());
    assert_ne!(
        one.hash_kv(Revision(1)).unwrap(),
        one.hash_kv(Revision(2)).unwrap()
    );
    one.compact(Revision(4)).unwrap();
    assert_eq!(one.hash_kv(Revision(5)), Ok(at_5));
    assert_eq!(one.hash_kv(Revision(0)), Ok(at_5));
    assert_eq!(one.hash_kv(Revision(6)), Err(MvccError::FutureRevision));

    let mut other = build();
    put(&mut other, "b", "2");
    assert_ne!(
        other.hash_kv(Revision(0)),
        Ok(at_5),
        "same values, other revisions"
    );
}

#[test]
fn approximate_size_grows_with_writes_and_shrinks_with_compaction() {
    let mut store = Store::new();
    assert_eq!(store.approximate_size(), 0);
    put(&mut store, "a", "1");
    let one = store.approximate_size();
    put(&mut store, "a", "2");
    assert!(store.approximate_size() > one);
    store.compact(Revision(3)).unwrap();
    assert_eq!(store.approximate_size(), one);
}
