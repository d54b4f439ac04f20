//! The replicated state machine: the MVCC store plus cluster metadata, advanced one committed entry
//! at a time. Deterministic: the same entries in the same order give the same state on every member.
//!
//! Invariants:
//! - `applied` only grows, one entry at a time (every committed index is applied exactly once, in
//!   order): asserted in [`StateMachine::apply`].
//! - The MVCC revision changes only when a write request is applied.

use crate::apply::{self, NoLeases};
use crate::config::InitialMember;
use crate::error::ApiError;
use crate::mvcc::Store;
use crate::request::{Applied, MemberAttributes, Op, ReplicatedRequest};
use crate::types::{Index, MemberId};
use std::collections::BTreeMap;

/// A member as the cluster knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    pub peer_urls: Vec<String>,
    /// Empty until the member has published itself (etcd shows it as "unstarted").
    pub name: String,
    pub client_urls: Vec<String>,
}

pub struct StateMachine {
    pub kv: Store,
    pub members: BTreeMap<MemberId, MemberInfo>,
    applied: Index,
}

impl StateMachine {
    pub fn new(initial: &BTreeMap<MemberId, InitialMember>) -> StateMachine {
        let members = initial
            .iter()
            .map(|(id, m)| (*id, MemberInfo { peer_urls: m.peer_urls.clone(), name: String::new(), client_urls: vec![] }))
            .collect();
        StateMachine { kv: Store::new(), members, applied: Index(0) }
    }

    /// The index of the last applied entry.
    pub fn applied(&self) -> Index {
        self.applied
    }

    fn advance(&mut self, index: Index) {
        assert_eq!(index.0, self.applied.0 + 1, "entries must be applied in order, exactly once");
        self.applied = index;
    }

    /// Applies an entry with no command (a new leader's first entry).
    pub fn apply_empty(&mut self, index: Index) {
        self.advance(index);
    }

    /// Applies a committed request. Errors are results for the client (e.g. key not found); the
    /// state machine is unchanged by a request that fails.
    pub fn apply(&mut self, index: Index, req: ReplicatedRequest) -> Result<Applied, ApiError> {
        self.advance(index);
        match req.op {
            Some(Op::Put(r)) => apply::put(&mut self.kv, &NoLeases, &r).map(Applied::Put),
            Some(Op::DeleteRange(r)) => apply::delete_range(&mut self.kv, &r).map(Applied::DeleteRange),
            Some(Op::Txn(r)) => apply::txn(&mut self.kv, &NoLeases, &r).map(Applied::Txn),
            Some(Op::Compaction(r)) => apply::compaction(&mut self.kv, &r).map(Applied::Compaction),
            Some(Op::Publish(m)) => {
                self.publish(m);
                Ok(Applied::Publish)
            }
            None => Err(ApiError::InvalidArgument("empty request".into())),
        }
    }

    fn publish(&mut self, m: MemberAttributes) {
        if let Some(info) = self.members.get_mut(&MemberId(m.id)) {
            info.name = m.name;
            info.client_urls = m.client_urls;
        }
    }
}
