//! Randomized comparison against a naive model: a full snapshot of the key-values per revision.
//!
//! Random write transactions (puts, deletes, reads; some dropped instead of committed) and random
//! compactions go to both; after every step, every read at every revision (and just outside the
//! readable ones) must agree, as must `hash_kv` and the errors.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::store::hash_kvs;
use super::{KeyValue, MvccError, RangeResult, Store, WriteTxn};
use crate::types::{LeaseId, Revision};

const SEEDS: [u64; 4] = [1, 2, 3, 0xdead_beef];
const STEPS_PER_SEED: usize = 300;
const KEYS: [&[u8]; 7] = [b"a", b"b", b"ba", b"bb", b"c", b"d", b"e"];
/// Range ends: single key, from-key, and a few bounds (some before any key, some between keys).
const ENDS: [&[u8]; 7] = [b"", b"\0", b"b", b"bb", b"c", b"e", b"z"];

type Snapshot = BTreeMap<Vec<u8>, KeyValue>;

/// The reference: what etcd's API promises, written out the slow, obvious way.
struct Model {
    /// `snapshots[r]`: every key-value at revision `r`. Index 0 is unused; 1 is the empty store.
    snapshots: Vec<Snapshot>,
    compacted: Option<i64>,
}

impl Model {
    fn new() -> Self {
        Model {
            snapshots: vec![Snapshot::new(), Snapshot::new()],
            compacted: None,
        }
    }

    fn current(&self) -> i64 {
        self.snapshots.len() as i64 - 1
    }

    /// The snapshot a read at `rev` sees, from a view whose newest snapshot is `view` (at `view_rev`).
    fn read<'a>(
        &'a self,
        rev: i64,
        view_rev: i64,
        view: &'a Snapshot,
    ) -> Result<&'a Snapshot, MvccError> {
        if rev > view_rev {
            return Err(MvccError::FutureRevision);
        }
        let at = if rev <= 0 { view_rev } else { rev };
        if self.compacted.is_some_and(|c| at < c) {
            return Err(MvccError::Compacted);
        }
        Ok(if at == view_rev {
            view
        } else {
            &self.snapshots[at as usize]
        })
    }

    fn compact(&mut self, rev: i64) -> Result<(), MvccError> {
        if rev <= self.compacted.unwrap_or(-1) {
            return Err(MvccError::Compacted);
        }
        if rev > self.current() {
            return Err(MvccError::FutureRevision);
        }
        self.compacted = Some(rev);
        Ok(())
    }

    fn hash(&self, rev: i64) -> Result<u32, MvccError> {
        if rev > 0 && self.compacted.is_some_and(|c| rev <= c) {
            return Err(MvccError::Compacted);
        }
        let current = self.current();
        let snapshot = self.read(rev, current, &self.snapshots[current as usize])?;
        Ok(hash_kvs(snapshot.values()))
    }
}

fn in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    match end {
        [] => k == key,
        [0] => k >= key,
        _ => key <= k && k < end,
    }
}

fn expected_range(snapshot: &Snapshot, key: &[u8], end: &[u8], limit: usize) -> RangeResult {
    let all: Vec<KeyValue> = snapshot
        .values()
        .filter(|kv| in_range(&kv.key, key, end))
        .cloned()
        .collect();
    let count = all.len();
    let kvs: Vec<KeyValue> = if limit == 0 {
        all
    } else {
        all.into_iter().take(limit).collect()
    };
    RangeResult {
        more: kvs.len() < count,
        kvs,
        count,
    }
}

fn random_range(rng: &mut StdRng) -> (&'static [u8], &'static [u8]) {
    if rng.gen_ratio(1, 8) {
        return (b"\0", b"\0");
    }
    (
        KEYS[rng.gen_range(0..KEYS.len())],
        ENDS[rng.gen_range(0..ENDS.len())],
    )
}

/// One open write transaction on both sides.
struct Step<'s> {
    txn: WriteTxn<'s>,
    /// The model's view: the last snapshot plus this transaction's changes.
    working: Snapshot,
    changed: bool,
}

impl Step<'_> {
    fn write_rev(&self, model: &Model) -> i64 {
        model.current() + 1
    }

    fn view_rev(&self, model: &Model) -> i64 {
        if self.changed {
            self.write_rev(model)
        } else {
            model.current()
        }
    }

    fn put(&mut self, model: &Model, rng: &mut StdRng) {
        let key = KEYS[rng.gen_range(0..KEYS.len())];
        let value: Vec<u8> = (0..rng.gen_range(0..3))
            .map(|_| rng.gen_range(b'0'..=b'2'))
            .collect();
        let lease = LeaseId(rng.gen_range(0..3));
        let rev = Revision(self.write_rev(model));
        let prev = self.working.get(key).cloned();
        let (create_revision, version) = prev
            .as_ref()
            .map_or((rev, 1), |p| (p.create_revision, p.version + 1));
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision,
            mod_revision: rev,
            version,
            value: value.clone(),
            lease,
        };
        self.working.insert(key.to_vec(), kv);
        self.changed = true;
        assert_eq!(
            self.txn.put(key, &value, lease),
            prev,
            "prev kv of put {key:?}"
        );
    }

    fn delete(&mut self, rng: &mut StdRng) {
        let (key, end) = random_range(rng);
        let doomed: Vec<Vec<u8>> = self
            .working
            .keys()
            .filter(|k| in_range(k, key, end))
            .cloned()
            .collect();
        let expected: Vec<KeyValue> = doomed
            .iter()
            .map(|k| self.working.remove(k).unwrap())
            .collect();
        self.changed |= !expected.is_empty();
        assert_eq!(
            self.txn.delete_range(key, end),
            expected,
            "delete_range {key:?}..{end:?}"
        );
    }

    fn read(&self, model: &Model, rng: &mut StdRng) {
        let (key, end) = random_range(rng);
        let rev = rng.gen_range(-1..=self.view_rev(model) + 1);
        let limit = rng.gen_range(0..4);
        let expected = model
            .read(rev, self.view_rev(model), &self.working)
            .map(|s| expected_range(s, key, end, limit));
        assert_eq!(
            self.txn.range(key, end, Revision(rev), limit),
            expected,
            "txn range {key:?}..{end:?} at {rev}"
        );
        assert_eq!(self.txn.revision(), Revision(self.view_rev(model)));
    }
}

fn random_txn(store: &mut Store, model: &mut Model, rng: &mut StdRng) {
    let working = model.snapshots.last().unwrap().clone();
    let mut step = Step {
        txn: store.write(),
        working,
        changed: false,
    };
    for _ in 0..rng.gen_range(1..=4) {
        match rng.gen_range(0..10) {
            0..=4 => step.put(model, rng),
            5..=7 => step.delete(rng),
            _ => step.read(model, rng),
        }
        step.txn.check_invariants();
    }
    if rng.gen_ratio(1, 6) {
        drop(step.txn);
        return;
    }
    let committed = step.txn.commit();
    if step.changed {
        model.snapshots.push(step.working);
    }
    assert_eq!(committed, Revision(model.current()));
}

/// Every read the store can be asked, at every revision, against the model.
fn compare_everything(store: &Store, model: &Model, rng: &mut StdRng) {
    let current = model.current();
    assert_eq!(store.current_revision(), Revision(current));
    assert_eq!(
        store.compacted_revision(),
        Revision(model.compacted.unwrap_or(0))
    );
    let newest = &model.snapshots[current as usize];
    for rev in -1..=current + 1 {
        let all = model
            .read(rev, current, newest)
            .map(|s| expected_range(s, b"\0", b"\0", 0));
        assert_eq!(
            store.range(b"\0", b"\0", Revision(rev), 0),
            all,
            "all keys at {rev}"
        );
        let (key, end) = random_range(rng);
        let limit = rng.gen_range(0..4);
        let some = model
            .read(rev, current, newest)
            .map(|s| expected_range(s, key, end, limit));
        assert_eq!(
            store.range(key, end, Revision(rev), limit),
            some,
            "range {key:?}..{end:?} limit {limit} at {rev}"
        );
        assert_eq!(
            store.count(key, end, Revision(rev)),
            some.map(|r| r.count),
            "count {key:?}..{end:?} at {rev}"
        );
        assert_eq!(
            store.hash_kv(Revision(rev)),
            model.hash(rev),
            "hash at {rev}"
        );
    }
}

fn run(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut store = Store::new();
    let mut model = Model::new();
    for _ in 0..STEPS_PER_SEED {
        if rng.gen_ratio(1, 8) {
            // Mostly just past the last compaction, so that history stays readable for a while.
            let rev = if rng.gen_ratio(1, 10) {
                rng.gen_range(-1..=model.current() + 1)
            } else {
                model.compacted.unwrap_or(0) + rng.gen_range(-1..=6)
            };
            assert_eq!(
                store.compact(Revision(rev)),
                model.compact(rev),
                "compact({rev})"
            );
        } else {
            random_txn(&mut store, &mut model, &mut rng);
        }
        store.check_invariants();
        compare_everything(&store, &model, &mut rng);
    }
}

#[test]
fn store_matches_snapshot_model_under_random_ops_and_compactions() {
    for seed in SEEDS {
        run(seed);
    }
}
