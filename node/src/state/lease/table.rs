//! The replicated lease table.

use crate::types::LeaseId;
use std::collections::{BTreeMap, BTreeSet};

/// The longest TTL a lease may have (etcd `MaxLeaseTTL`, 9e9 s: about 285 years).
pub const MAX_LEASE_TTL_S: i64 = 9_000_000_000;

/// Why a lease operation failed (applied identically on every member).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("requested lease not found")]
    NotFound,
    #[error("lease already exists")]
    Exists,
    #[error("too large lease TTL")]
    TtlTooLarge,
}

/// One lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub id: LeaseId,
    /// The TTL granted (after raising it to the minimum), in seconds.
    /// - `min_ttl_s <= ttl_s <= MAX_LEASE_TTL_S`.
    pub ttl_s: i64,
    /// The keys whose current value carries this lease.
    /// - Exactly the live keys whose `lease` is `id` (checked against the store by
    ///   `StateMachine::check_invariants`).
    pub keys: BTreeSet<Vec<u8>>,
}

/// Every lease that exists, by ID. Changed only by applying committed entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseTable {
    /// - No lease has ID 0 (`LeaseId(0)` means "no lease").
    leases: BTreeMap<LeaseId, Lease>,
    /// The TTL a grant gets at least (see [`super::min_ttl_s`]).
    min_ttl_s: i64,
}

impl LeaseTable {
    pub fn new(min_ttl_s: i64) -> LeaseTable {
        assert!((1..=MAX_LEASE_TTL_S).contains(&min_ttl_s), "min lease TTL {min_ttl_s}");
        LeaseTable { leases: BTreeMap::new(), min_ttl_s }
    }

    pub fn get(&self, id: LeaseId) -> Option<&Lease> {
        self.leases.get(&id)
    }

    pub fn contains(&self, id: LeaseId) -> bool {
        self.leases.contains_key(&id)
    }

    /// Every lease, by ID.
    pub fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values()
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// Creates lease `id` with `ttl_s` seconds (raised to the minimum, as etcd's lessor does).
    ///
    /// # Errors
    /// `NotFound` for ID 0, `TtlTooLarge` above [`MAX_LEASE_TTL_S`], `Exists` if the ID is taken.
    pub fn grant(&mut self, id: LeaseId, ttl_s: i64) -> Result<&Lease, LeaseError> {
        if id.0 == 0 {
            return Err(LeaseError::NotFound);
        }
        if ttl_s > MAX_LEASE_TTL_S {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::Exists);
        }
        let ttl_s = ttl_s.max(self.min_ttl_s);
        Ok(self.leases.entry(id).or_insert(Lease { id, ttl_s, keys: BTreeSet::new() }))
    }

    /// Removes lease `id` and returns it with the keys the caller must delete.
    ///
    /// # Errors
    /// `NotFound` if there is no such lease.
    pub fn revoke(&mut self, id: LeaseId) -> Result<Lease, LeaseError> {
        self.leases.remove(&id).ok_or(LeaseError::NotFound)
    }

    /// Records that `key`'s value now carries lease `id`.
    ///
    /// # Panics
    /// If the lease does not exist: the put was checked against the table before it was applied.
    pub fn attach(&mut self, id: LeaseId, key: &[u8]) {
        let lease = self.leases.get_mut(&id).unwrap_or_else(|| panic!("attaching {key:?} to missing lease {id}"));
        lease.keys.insert(key.to_vec());
    }

    /// Records that `key`'s value no longer carries lease `id` (overwritten or deleted). A lease
    /// that is gone already is fine: its revoke is deleting the key.
    pub fn detach(&mut self, id: LeaseId, key: &[u8]) {
        if let Some(lease) = self.leases.get_mut(&id) {
            let was = lease.keys.remove(key);
            assert!(was, "detaching {key:?} from lease {id}, which does not hold it");
        }
    }

    /// Asserts the invariants of the table on its own (see `StateMachine::check_invariants` for
    /// the ones against the store).
    pub fn check_invariants(&self) {
        for (id, l) in &self.leases {
            assert_ne!(id.0, 0, "lease with ID 0");
            assert_eq!(*id, l.id);
            assert!((self.min_ttl_s..=MAX_LEASE_TTL_S).contains(&l.ttl_s), "lease {id} TTL {}", l.ttl_s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_raises_short_ttls_and_refuses_bad_ones() {
        let mut t = LeaseTable::new(2);
        assert_eq!(t.grant(LeaseId(1), 1).unwrap().ttl_s, 2);
        assert_eq!(t.grant(LeaseId(2), -5).unwrap().ttl_s, 2);
        assert_eq!(t.grant(LeaseId(3), 300).unwrap().ttl_s, 300);
        assert_eq!(t.grant(LeaseId(3), 300), Err(LeaseError::Exists));
        assert_eq!(t.grant(LeaseId(4), MAX_LEASE_TTL_S + 1), Err(LeaseError::TtlTooLarge));
        assert_eq!(t.grant(LeaseId(4), MAX_LEASE_TTL_S).unwrap().ttl_s, MAX_LEASE_TTL_S);
        assert_eq!(t.grant(LeaseId(0), 10), Err(LeaseError::NotFound));
        t.check_invariants();
    }

    #[test]
    fn revoke_returns_the_attached_keys_once() {
        let mut t = LeaseTable::new(1);
        t.grant(LeaseId(7), 10).unwrap();
        t.attach(LeaseId(7), b"b");
        t.attach(LeaseId(7), b"a");
        t.attach(LeaseId(7), b"c");
        t.detach(LeaseId(7), b"c");
        let l = t.revoke(LeaseId(7)).unwrap();
        assert_eq!(l.keys.into_iter().collect::<Vec<_>>(), [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(t.revoke(LeaseId(7)), Err(LeaseError::NotFound));
        // Detaching from a revoked lease is what deleting its keys does: harmless.
        t.detach(LeaseId(7), b"a");
    }
}
