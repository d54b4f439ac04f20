//! The etcd model's state and its pure transition function, written from etcd's documented
//! semantics (not from the node's MVCC code).
//!
//! Worked example, from a fresh store (revision 1):
//!
//! ```text
//!   put a=x            -> rev 2   a: value x, create 2, mod 2, version 1
//!   put a=y            -> rev 3   a: value y, create 2, mod 3, version 2
//!   delete b (absent)  -> rev 3   nothing changed, so no new revision
//!   range a            -> rev 3   [a=y (create 2, mod 3, version 2)]
//!   delete a           -> rev 4   a gone
//!   put a=z            -> rev 5   a: value z, create 5, mod 5, version 1 (a new generation)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::types::{
    Compare, CompareOp, CompareTarget, EtcdError, KeySet, KeyValue, LeaseId, Request, Response,
    Revision, TxnResponse,
};

/// What the model remembers about etcd.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Store {
    /// The current revision.
    /// - 1 in a fresh store;
    /// - grows by exactly 1 with each request that changes a key, and not otherwise;
    /// - not below any key's `mod_revision`.
    revision: Revision,
    /// The live keys.
    /// - `create_revision <= mod_revision <= revision`, `version >= 1`;
    /// - a key's lease, if any, is in `leases`.
    keys: BTreeMap<String, KeyState>,
    /// Granted leases not yet revoked or expired. TTLs are not modelled: when a lease expires
    /// is the history's business (a `lease_expire` operation), not the model's.
    leases: BTreeSet<LeaseId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct KeyState {
    value: String,
    create_revision: Revision,
    mod_revision: Revision,
    version: i64,
    lease: Option<LeaseId>,
}

/// How many keys [`Store::describe`] lists.
const DESCRIBE_KEYS_MAX: usize = 20;

impl Store {
    pub fn new() -> Self {
        Store {
            revision: Revision(1),
            keys: BTreeMap::new(),
            leases: BTreeSet::new(),
        }
    }

    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// About how many bytes this store owns on the heap: per key its name, value and B-tree
    /// slot, per lease a slot (for the checker's memory bound).
    pub fn heap_bytes(&self) -> usize {
        const SLOT_BYTES: usize = 48;
        let keys: usize = self.keys.iter().map(|(k, v)| k.len() + v.value.len() + std::mem::size_of::<KeyState>() + SLOT_BYTES).sum();
        keys + self.leases.len() * (std::mem::size_of::<LeaseId>() + SLOT_BYTES)
    }

    /// Runs `request`: the new store (`None` if unchanged) and the response etcd would give.
    pub fn apply(&self, request: &Request) -> (Option<Store>, Response) {
        let (next, response) = match request {
            Request::LeaseGrant { id, .. } => self.grant(*id),
            Request::LeaseRevoke { id } => self.drop_lease(*id, true),
            Request::LeaseExpire { id } => self.drop_lease(*id, false),
            // A plain read changes nothing: answer it without copying the store.
            Request::Range { keys } => (
                None,
                Response::Range {
                    revision: self.revision,
                    kvs: self.read(keys),
                },
            ),
            Request::Put { .. } | Request::Delete { .. } | Request::Txn { .. } => {
                self.run_kv(request)
            }
        };
        if let Some(next) = &next {
            next.check_invariants(self.revision);
        }
        (next, response)
    }

    fn grant(&self, id: LeaseId) -> (Option<Store>, Response) {
        if self.leases.contains(&id) {
            return (None, error(EtcdError::LeaseExists));
        }
        let mut next = self.clone();
        next.leases.insert(id);
        let revision = next.revision;
        (Some(next), Response::LeaseGrant { revision })
    }

    /// Revoke or expiry: the lease goes, and its keys with it in one revision (if it had any).
    fn drop_lease(&self, id: LeaseId, revoke: bool) -> (Option<Store>, Response) {
        if !self.leases.contains(&id) {
            return (None, error(EtcdError::LeaseNotFound));
        }
        let mut next = self.clone();
        next.leases.remove(&id);
        let before = next.keys.len();
        next.keys.retain(|_, k| k.lease != Some(id));
        if next.keys.len() != before {
            next.revision = Revision(self.revision.0 + 1);
        }
        let revision = next.revision;
        let response = if revoke {
            Response::LeaseRevoke { revision }
        } else {
            Response::LeaseExpire { revision }
        };
        (Some(next), response)
    }

    /// A range, put, delete or txn: one write transaction that gets one new revision if it
    /// changes anything. As in etcd, every compare of every (nested) txn is evaluated first,
    /// against the store as it was before the request, and a put naming a missing lease on
    /// the chosen path fails the whole request.
    fn run_kv(&self, request: &Request) -> (Option<Store>, Response) {
        let mut path = Vec::new();
        self.choose_path(request, &mut path);
        if self.names_missing_lease(request, &mut path.iter().copied()) {
            return (None, error(EtcdError::LeaseNotFound));
        }
        let mut tx = WriteTxn {
            store: self.clone(),
            next_revision: Revision(self.revision.0 + 1),
            changed: false,
            path: path.into_iter(),
        };
        let inner = tx.run(request);
        let changed = tx.changed;
        let mut next = tx.store;
        if changed {
            next.revision = tx.next_revision;
        }
        let revision = next.revision;
        let response = match inner {
            TxnResponse::Range { kvs } => Response::Range { revision, kvs },
            TxnResponse::Put { prev_kv } => Response::Put { revision, prev_kv },
            TxnResponse::Delete { deleted, prev_kvs } => Response::Delete {
                revision,
                deleted,
                prev_kvs,
            },
            TxnResponse::Txn {
                succeeded,
                responses,
            } => Response::Txn {
                revision,
                succeeded,
                responses,
            },
        };
        (changed.then_some(next), response)
    }

    /// Appends, in pre-order, whether each txn on the path taken succeeds.
    fn choose_path(&self, request: &Request, path: &mut Vec<bool>) {
        if let Request::Txn {
            compare,
            success,
            failure,
        } = request
        {
            let ok = compare.iter().all(|c| self.holds(c));
            path.push(ok);
            for r in if ok { success } else { failure } {
                self.choose_path(r, path);
            }
        }
    }

    fn names_missing_lease(
        &self,
        request: &Request,
        path: &mut impl Iterator<Item = bool>,
    ) -> bool {
        match request {
            Request::Put {
                lease: Some(id), ..
            } => !self.leases.contains(id),
            Request::Txn {
                success, failure, ..
            } => {
                let ok = path.next().expect("a path entry per txn");
                let branch = if ok { success } else { failure };
                // Visit every request so the path iterator stays in step.
                branch.iter().fold(false, |missing, r| {
                    self.names_missing_lease(r, path) | missing
                })
            }
            _ => false,
        }
    }

    fn holds(&self, c: &Compare) -> bool {
        let kvs = self.matching(&c.keys);
        if kvs.is_empty() {
            return !matches!(c.target, CompareTarget::Value(_)) && compare(c, None);
        }
        kvs.into_iter().all(|(_, k)| compare(c, Some(k)))
    }

    fn matching<'a>(&'a self, keys: &'a KeySet) -> Vec<(&'a String, &'a KeyState)> {
        let range: (Bound<&str>, Bound<&str>) = match keys {
            KeySet::Key(k) => return self.keys.get_key_value(k).into_iter().collect(),
            KeySet::Prefix(p) => (Bound::Included(p), Bound::Unbounded),
            KeySet::Range(start, end) if start < end => {
                (Bound::Included(start), Bound::Excluded(end))
            }
            KeySet::Range(..) => return Vec::new(),
            KeySet::From(start) => (Bound::Included(start), Bound::Unbounded),
        };
        self.keys
            .range::<str, _>(range)
            .take_while(|(k, _)| keys.contains(k))
            .collect()
    }

    fn read(&self, keys: &KeySet) -> Vec<KeyValue> {
        self.matching(keys)
            .into_iter()
            .map(|(key, k)| Store::key_value(key, k))
            .collect()
    }

    fn key_value(key: &str, k: &KeyState) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: k.value.clone(),
            create_revision: k.create_revision,
            mod_revision: k.mod_revision,
            version: k.version,
            lease: k.lease,
        }
    }

    /// Asserts the invariants documented on the fields; `before` is the revision of the store
    /// this one was derived from.
    fn check_invariants(&self, before: Revision) {
        assert!(
            self.revision == before || self.revision.0 == before.0 + 1,
            "revision moved from {before} to {}",
            self.revision
        );
        for (key, k) in &self.keys {
            assert!(
                k.create_revision <= k.mod_revision && k.mod_revision <= self.revision,
                "key {key:?}: create {} mod {} at revision {}",
                k.create_revision,
                k.mod_revision,
                self.revision
            );
            assert!(k.version >= 1, "key {key:?} has version {}", k.version);
            if let Some(id) = k.lease {
                assert!(
                    self.leases.contains(&id),
                    "key {key:?} on missing lease {id}"
                );
            }
        }
    }

    /// The store for a person: revision, keys (the first few) and leases.
    pub fn describe(&self) -> String {
        let mut s = format!("revision {}; ", self.revision);
        if self.keys.is_empty() {
            s.push_str("no keys");
        }
        for (i, (key, k)) in self.keys.iter().take(DESCRIBE_KEYS_MAX).enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&super::describe::key_value(&Self::key_value(key, k)));
        }
        if self.keys.len() > DESCRIBE_KEYS_MAX {
            s.push_str(&format!(
                " and {} more keys",
                self.keys.len() - DESCRIBE_KEYS_MAX
            ));
        }
        if !self.leases.is_empty() {
            let ids: Vec<String> = self.leases.iter().map(|l| l.to_string()).collect();
            s.push_str(&format!("; leases {}", ids.join(", ")));
        }
        s
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

fn error(error: EtcdError) -> Response {
    Response::Error { error }
}

/// etcd's `compareKV`: `key's field <op> target`, a missing key reading as all zeros.
fn compare(c: &Compare, k: Option<&KeyState>) -> bool {
    let ordering = match &c.target {
        CompareTarget::Value(v) => k.map_or("", |k| &k.value).as_bytes().cmp(v.as_bytes()),
        CompareTarget::Version(v) => k.map_or(0, |k| k.version).cmp(v),
        CompareTarget::CreateRevision(r) => k.map_or(Revision(0), |k| k.create_revision).cmp(r),
        CompareTarget::ModRevision(r) => k.map_or(Revision(0), |k| k.mod_revision).cmp(r),
        CompareTarget::Lease(l) => k.and_then(|k| k.lease).map_or(0, |l| l.0).cmp(l),
    };
    match c.op {
        CompareOp::Equal => ordering.is_eq(),
        CompareOp::NotEqual => ordering.is_ne(),
        CompareOp::Less => ordering.is_lt(),
        CompareOp::Greater => ordering.is_gt(),
    }
}

/// A request being applied: every change gets `next_revision`; reads see earlier changes of
/// the same request (etcd's write txn reads at its own pending revision).
struct WriteTxn {
    store: Store,
    next_revision: Revision,
    changed: bool,
    /// Whether each txn succeeds, in pre-order (from [`Store::choose_path`]).
    path: std::vec::IntoIter<bool>,
}

impl WriteTxn {
    fn run(&mut self, request: &Request) -> TxnResponse {
        match request {
            Request::Range { keys } => TxnResponse::Range {
                kvs: self.read(keys),
            },
            Request::Put {
                key,
                value,
                lease,
                prev_kv,
            } => self.put(key, value, *lease, *prev_kv),
            Request::Delete { keys, prev_kv } => {
                let gone = self.read(keys);
                for kv in &gone {
                    self.store.keys.remove(&kv.key);
                }
                self.changed |= !gone.is_empty();
                TxnResponse::Delete {
                    deleted: gone.len() as u64,
                    prev_kvs: if *prev_kv { gone } else { Vec::new() },
                }
            }
            Request::Txn {
                success, failure, ..
            } => {
                let succeeded = self.path.next().expect("a path entry per txn");
                let branch = if succeeded { success } else { failure };
                TxnResponse::Txn {
                    succeeded,
                    responses: branch.iter().map(|r| self.run(r)).collect(),
                }
            }
            Request::LeaseGrant { .. }
            | Request::LeaseRevoke { .. }
            | Request::LeaseExpire { .. } => {
                panic!("lease request inside a txn: {request:?} (histories are validated)")
            }
        }
    }

    fn read(&self, keys: &KeySet) -> Vec<KeyValue> {
        self.store.read(keys)
    }

    fn put(
        &mut self,
        key: &str,
        value: &str,
        lease: Option<LeaseId>,
        prev_kv: bool,
    ) -> TxnResponse {
        let old = self.store.keys.get(key);
        let prev = old.filter(|_| prev_kv).map(|k| Store::key_value(key, k));
        let next = KeyState {
            value: value.to_string(),
            create_revision: old.map_or(self.next_revision, |k| k.create_revision),
            mod_revision: self.next_revision,
            version: old.map_or(1, |k| k.version + 1),
            lease,
        };
        self.store.keys.insert(key.to_string(), next);
        self.changed = true;
        TxnResponse::Put { prev_kv: prev }
    }
}
