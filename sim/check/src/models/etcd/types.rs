//! The requests and responses of the etcd model: a subset of etcd's KV and Lease APIs with the
//! fields a client observes. Serialized (serde) as our history format's `input`/`output`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A store revision. A fresh store is at 1; every write that changes something adds exactly 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(pub i64);

/// A lease's id. The client chooses it in `lease_grant` (etcd allows this), so the model knows
/// it even when the grant's outcome is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaseId(pub i64);

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A key and its metadata as a response carries it (etcd's `mvccpb.KeyValue`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    /// Puts since the key was (re)created, 1 after the first.
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseId>,
}

/// Which keys a range, delete or compare covers. Keys compare as bytes, as in etcd.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySet {
    /// Exactly this key.
    Key(String),
    /// Every key starting with this prefix (etcd's `--prefix`).
    Prefix(String),
    /// Keys in `[start, end)` (etcd's `range_end`).
    Range(String, String),
    /// Every key `>= start` (etcd's `range_end = "\0"`).
    From(String),
}

impl KeySet {
    pub fn contains(&self, key: &str) -> bool {
        match self {
            KeySet::Key(k) => key == k,
            KeySet::Prefix(p) => key.starts_with(p.as_str()),
            KeySet::Range(start, end) => start.as_str() <= key && key < end.as_str(),
            KeySet::From(start) => start.as_str() <= key,
        }
    }
}

/// One condition of a txn (etcd's `Compare`). Over several keys it holds iff it holds for each;
/// over no key at all it holds for a zero key (version, revisions and lease 0), except that a
/// value comparison then always fails, as in etcd.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    pub keys: KeySet,
    /// `key's field <op> target`.
    pub op: CompareOp,
    pub target: CompareTarget,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Equal,
    NotEqual,
    Less,
    Greater,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareTarget {
    Value(String),
    Version(i64),
    CreateRevision(Revision),
    ModRevision(Revision),
    /// 0 means "no lease".
    Lease(i64),
}

/// What a client asked. `Range`, `Put`, `Delete` and `Txn` may appear inside a txn's branches;
/// the lease requests may not (see [`Request::nesting_error`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Reads the keys in `keys` at the current revision.
    Range {
        keys: KeySet,
    },
    Put {
        key: String,
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lease: Option<LeaseId>,
        /// Ask for the previous key-value in the response.
        #[serde(default)]
        prev_kv: bool,
    },
    Delete {
        keys: KeySet,
        #[serde(default)]
        prev_kv: bool,
    },
    /// If every compare holds, run `success`, else `failure`: atomically, in one revision.
    Txn {
        #[serde(default)]
        compare: Vec<Compare>,
        #[serde(default)]
        success: Vec<Request>,
        #[serde(default)]
        failure: Vec<Request>,
    },
    LeaseGrant {
        id: LeaseId,
        ttl_s: i64,
    },
    /// Deletes the lease and, in one revision, every key attached to it.
    LeaseRevoke {
        id: LeaseId,
    },
    /// The lease ran out: same effect as a revoke. Histories record it when a node reports
    /// it, or as an operation of unknown outcome from the grant on ("may expire any time").
    LeaseExpire {
        id: LeaseId,
    },
}

impl Request {
    /// Why this request cannot be sent, if it cannot: lease requests inside a txn.
    pub fn nesting_error(&self) -> Option<String> {
        let Request::Txn {
            success, failure, ..
        } = self
        else {
            return None;
        };
        success.iter().chain(failure).find_map(|r| match r {
            Request::LeaseGrant { .. }
            | Request::LeaseRevoke { .. }
            | Request::LeaseExpire { .. } => {
                Some("a txn may only hold range, put, delete and txn requests".to_string())
            }
            _ => r.nesting_error(),
        })
    }
}

/// What a client saw back. Every successful response carries the store revision after the
/// request (etcd's `header.revision`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    /// Matching keys, sorted by key.
    Range {
        revision: Revision,
        kvs: Vec<KeyValue>,
    },
    Put {
        revision: Revision,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prev_kv: Option<KeyValue>,
    },
    Delete {
        revision: Revision,
        deleted: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        prev_kvs: Vec<KeyValue>,
    },
    Txn {
        revision: Revision,
        succeeded: bool,
        responses: Vec<TxnResponse>,
    },
    LeaseGrant {
        revision: Revision,
    },
    LeaseRevoke {
        revision: Revision,
    },
    LeaseExpire {
        revision: Revision,
    },
    /// A definite refusal: the request had no effect.
    Error {
        error: EtcdError,
    },
    /// The request took effect, leaving the store at `revision`; the rest of the answer is not
    /// known. Not something a client sees: a history patched from the cluster's own record of
    /// what it applied (the simulator's history patching) says this of a call whose answer was
    /// lost. Never for a range, which is not applied as an entry.
    Applied {
        revision: Revision,
    },
}

/// A response inside a txn: like [`Response`] without the revision (the txn's carries it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case", deny_unknown_fields)]
pub enum TxnResponse {
    Range {
        kvs: Vec<KeyValue>,
    },
    Put {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prev_kv: Option<KeyValue>,
    },
    Delete {
        deleted: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        prev_kvs: Vec<KeyValue>,
    },
    Txn {
        succeeded: bool,
        responses: Vec<TxnResponse>,
    },
}

/// Refusals the model explains. Other failures are either "no effect" (drop the operation from
/// the history) or "unknown outcome".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EtcdError {
    /// A put (or a txn whose chosen branch puts) names a lease that does not exist, or a revoke
    /// names one that does not exist.
    LeaseNotFound,
    /// A grant names a lease that exists.
    LeaseExists,
}

impl Response {
    /// The revision the response carries, if any (errors carry none).
    pub fn revision(&self) -> Option<Revision> {
        match self {
            Response::Range { revision, .. }
            | Response::Put { revision, .. }
            | Response::Delete { revision, .. }
            | Response::Txn { revision, .. }
            | Response::LeaseGrant { revision }
            | Response::LeaseRevoke { revision }
            | Response::LeaseExpire { revision }
            | Response::Applied { revision } => Some(*revision),
            Response::Error { .. } => None,
        }
    }

    /// Whether `request`, answered by this response, changes the store wherever it can have
    /// happened: not for a range, a delete that deleted nothing, a txn whose taken branch is
    /// made of such, or an error (errors have no effect).
    pub fn changes_nothing(&self, request: &Request) -> bool {
        match (request, self) {
            (_, Response::Error { .. }) => true,
            (Request::Range { .. }, Response::Range { .. }) => true,
            (Request::Delete { .. }, Response::Delete { deleted, .. }) => *deleted == 0,
            (
                Request::Txn {
                    success, failure, ..
                },
                Response::Txn {
                    succeeded,
                    responses,
                    ..
                },
            ) => branch_changes_nothing(if *succeeded { success } else { failure }, responses),
            _ => false,
        }
    }

    /// Whether this response answers `request` (same kind, or an error).
    pub fn answers(&self, request: &Request) -> bool {
        matches!(
            (request, self),
            (_, Response::Error { .. })
                | (Request::Put { .. } | Request::Delete { .. } | Request::Txn { .. }, Response::Applied { .. })
                | (Request::LeaseGrant { .. } | Request::LeaseRevoke { .. } | Request::LeaseExpire { .. }, Response::Applied { .. })
                | (Request::Range { .. }, Response::Range { .. })
                | (Request::Put { .. }, Response::Put { .. })
                | (Request::Delete { .. }, Response::Delete { .. })
                | (Request::Txn { .. }, Response::Txn { .. })
                | (Request::LeaseGrant { .. }, Response::LeaseGrant { .. })
                | (Request::LeaseRevoke { .. }, Response::LeaseRevoke { .. })
                | (Request::LeaseExpire { .. }, Response::LeaseExpire { .. })
        )
    }
}

/// Whether every request of a txn branch, answered by `responses`, changes nothing.
fn branch_changes_nothing(requests: &[Request], responses: &[TxnResponse]) -> bool {
    requests.len() == responses.len()
        && requests.iter().zip(responses).all(|(q, r)| match (q, r) {
            (Request::Range { .. }, TxnResponse::Range { .. }) => true,
            (Request::Delete { .. }, TxnResponse::Delete { deleted, .. }) => *deleted == 0,
            (
                Request::Txn {
                    success, failure, ..
                },
                TxnResponse::Txn {
                    succeeded,
                    responses,
                },
            ) => branch_changes_nothing(if *succeeded { success } else { failure }, responses),
            _ => false,
        })
}
