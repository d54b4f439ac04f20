//! The store as a serializable image, for state-machine snapshots (`state/snapshot.rs`).
//!
//! The image is the store's records in revision order plus its current and compacted revisions:
//! everything reads at any readable revision need, and everything watchers catch up from. The key
//! index is not in it: it is rebuilt by replaying the records in revision order (a put extends the
//! key's current generation, a tombstone ends it), which gives exactly the generations the store
//! had, compacted or not, because compaction never leaves a generation without its tombstone or
//! the last put before it (see `key_index.rs`). [`Store::check_invariants`] then cross-checks the
//! rebuilt index against the records.
//!
//! Worked example, the module doc's `foo` after `compact(3)`:
//!
//! ```text
//!   current 5, compacted 3
//!   records: 3.0 put foo=b create 2 version 2 | 4.0 tombstone foo | 5.0 put foo=c create 5 version 1
//!   replay:  put 3.0 -> [3.0]   tombstone 4.0 -> [3.0, 4.0(t)] []   put 5.0 -> [3.0, 4.0(t)] [5.0]
//! ```

use super::{KeyIndex, Record, RevisionPair, Store};
use crate::state::mvcc::KeyValue;
use crate::types::{LeaseId, Revision};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// What one change wrote. A put's `mod_revision` is its revision (a store invariant), so it is
/// not repeated.
#[derive(Serialize, Deserialize)]
enum ImageRecord {
    Put { main: i64, sub: i64, key: Vec<u8>, create: i64, version: i64, value: Vec<u8>, lease: i64 },
    Tombstone { main: i64, sub: i64, key: Vec<u8> },
}

#[derive(Serialize, Deserialize)]
struct Image {
    current: i64,
    compacted: Option<i64>,
    /// In revision order.
    records: Vec<ImageRecord>,
}

impl Store {
    fn to_image(&self) -> Image {
        let records = self
            .records
            .iter()
            .map(|(rev, r)| match r {
                Record::Put(kv) => ImageRecord::Put {
                    main: rev.main.0,
                    sub: rev.sub,
                    key: kv.key.clone(),
                    create: kv.create_revision.0,
                    version: kv.version,
                    value: kv.value.clone(),
                    lease: kv.lease.0,
                },
                Record::Tombstone { key } => ImageRecord::Tombstone { main: rev.main.0, sub: rev.sub, key: key.clone() },
            })
            .collect();
        Image { current: self.current.0, compacted: self.compacted.map(|c| c.0), records }
    }

    /// Rebuilds a store from its image.
    ///
    /// # Errors
    /// Records out of order, a tombstone for a key that is not live, or any other broken invariant
    /// ([`Store::verify_up_to`]): an image no store writes. The bytes may come from a peer, so
    /// nothing here panics on them.
    fn from_image(image: Image) -> Result<Store, String> {
        let mut store = Store {
            index: BTreeMap::new(),
            records: BTreeMap::new(),
            current: Revision(image.current),
            compacted: image.compacted.map(Revision),
        };
        let mut last: Option<RevisionPair> = None;
        for r in image.records {
            let (rev, key, record) = match r {
                ImageRecord::Put { main, sub, key, create, version, value, lease } => {
                    let kv = KeyValue {
                        key: key.clone(),
                        create_revision: Revision(create),
                        mod_revision: Revision(main),
                        version,
                        value,
                        lease: LeaseId(lease),
                    };
                    (RevisionPair { main: Revision(main), sub }, key, Record::Put(kv))
                }
                ImageRecord::Tombstone { main, sub, key } => {
                    (RevisionPair { main: Revision(main), sub }, key.clone(), Record::Tombstone { key })
                }
            };
            if last.is_some_and(|l| rev <= l) || rev.main > store.current {
                return Err(format!("record at {rev:?} out of order (after {last:?}, current {})", store.current));
            }
            last = Some(rev);
            let ki = store.index.entry(key).or_insert_with(KeyIndex::new);
            match record {
                Record::Put(_) => ki.put(rev),
                Record::Tombstone { .. } if ki.is_empty() || ki.get(rev.main).is_none() => {
                    return Err(format!("tombstone at {rev:?} for a key that is not live"));
                }
                Record::Tombstone { .. } => ki.tombstone(rev),
            }
            store.records.insert(rev, record);
        }
        store.verify_up_to(store.current)?;
        Ok(store)
    }
}

impl Serialize for Store {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_image().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Store {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Store, D::Error> {
        Store::from_image(Image::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &Store) -> Store {
        let bytes = postcard::to_stdvec(s).unwrap();
        postcard::from_bytes(&bytes).unwrap()
    }

    fn put(s: &mut Store, key: &str, value: &str) {
        let mut t = s.write();
        t.put(key.as_bytes(), value.as_bytes(), LeaseId(0));
        t.commit();
    }

    fn delete(s: &mut Store, key: &str) {
        let mut t = s.write();
        t.delete_range(key.as_bytes(), &[]);
        t.commit();
    }

    #[test]
    fn the_module_docs_example_round_trips_at_every_compaction() {
        for compact_at in [None, Some(2), Some(3), Some(4), Some(5)] {
            let mut s = Store::new();
            put(&mut s, "foo", "a");
            put(&mut s, "foo", "b");
            delete(&mut s, "foo");
            put(&mut s, "foo", "c");
            put(&mut s, "bar", "x");
            if let Some(r) = compact_at {
                s.compact(Revision(r)).unwrap();
            }
            let back = roundtrip(&s);
            assert_eq!(back, s, "compacted at {compact_at:?}");
        }
    }

    #[test]
    fn an_empty_store_round_trips() {
        assert_eq!(roundtrip(&Store::new()), Store::new());
    }

    #[test]
    fn a_record_out_of_order_is_refused() {
        let image = Image {
            current: 3,
            compacted: None,
            records: vec![
                ImageRecord::Put { main: 3, sub: 0, key: b"a".to_vec(), create: 3, version: 1, value: vec![], lease: 0 },
                ImageRecord::Put { main: 2, sub: 0, key: b"b".to_vec(), create: 2, version: 1, value: vec![], lease: 0 },
            ],
        };
        assert!(Store::from_image(image).unwrap_err().contains("out of order"));
        let image = Image { current: 2, compacted: None, records: vec![ImageRecord::Tombstone { main: 2, sub: 0, key: b"a".to_vec() }] };
        assert!(Store::from_image(image).unwrap_err().contains("not live"));
    }
}
