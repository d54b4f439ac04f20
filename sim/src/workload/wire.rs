//! Between the checker's model types and etcd's gRPC messages, both ways, and what a gRPC error
//! means for the history: pure functions, no I/O.
//!
//! What is sent is built from the model request that is recorded, so the history says exactly
//! what went on the wire; what is recorded is built from exactly what came back.

use crate::history::StepOutcome;
use detcd_check::models::etcd::{
    Compare, CompareOp, CompareTarget, EtcdError, KeySet, KeyValue, LeaseId, Request, Response, Revision,
    TxnResponse,
};
use detcd_node::pb::etcdserverpb as pb;
use detcd_node::pb::mvccpb;
use tonic::{Code, Status};

/// etcd's `key`/`range_end` pair for a key set.
pub fn key_range(keys: &KeySet) -> (Vec<u8>, Vec<u8>) {
    match keys {
        KeySet::Key(k) => (k.as_bytes().to_vec(), Vec::new()),
        KeySet::Prefix(p) => (p.as_bytes().to_vec(), prefix_end(p.as_bytes())),
        KeySet::Range(start, end) => (start.as_bytes().to_vec(), end.as_bytes().to_vec()),
        KeySet::From(start) => (start.as_bytes().to_vec(), vec![0]),
    }
}

/// The first key after every key with `prefix` (etcd clientv3 `GetPrefixRangeEnd`): the prefix
/// with its last byte below 0xff incremented and the rest dropped; `\0` (every key) if none.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

pub fn range_request(keys: &KeySet) -> pb::RangeRequest {
    let (key, range_end) = key_range(keys);
    pb::RangeRequest { key, range_end, ..Default::default() }
}

pub fn put_request(key: &str, value: &str, lease: Option<LeaseId>, prev_kv: bool) -> pb::PutRequest {
    pb::PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        lease: lease.map_or(0, |l| l.0),
        prev_kv,
        ..Default::default()
    }
}

pub fn delete_request(keys: &KeySet, prev_kv: bool) -> pb::DeleteRangeRequest {
    let (key, range_end) = key_range(keys);
    pb::DeleteRangeRequest { key, range_end, prev_kv }
}

pub fn txn_request(compare: &[Compare], success: &[Request], failure: &[Request]) -> pb::TxnRequest {
    pb::TxnRequest {
        compare: compare.iter().map(compare_pb).collect(),
        success: success.iter().map(request_op).collect(),
        failure: failure.iter().map(request_op).collect(),
    }
}

fn request_op(r: &Request) -> pb::RequestOp {
    use pb::request_op::Request as R;
    let request = match r {
        Request::Range { keys } => R::RequestRange(range_request(keys)),
        Request::Put { key, value, lease, prev_kv } => R::RequestPut(put_request(key, value, *lease, *prev_kv)),
        Request::Delete { keys, prev_kv } => R::RequestDeleteRange(delete_request(keys, *prev_kv)),
        Request::Txn { compare, success, failure } => R::RequestTxn(txn_request(compare, success, failure)),
        Request::LeaseGrant { .. } | Request::LeaseRevoke { .. } | Request::LeaseExpire { .. } => {
            unreachable!("a txn holds only range, put, delete and txn requests: {r:?}")
        }
    };
    pb::RequestOp { request: Some(request) }
}

fn compare_pb(c: &Compare) -> pb::Compare {
    use pb::compare::{CompareResult as R, CompareTarget as T, TargetUnion as U};
    let (key, range_end) = key_range(&c.keys);
    let result = match c.op {
        CompareOp::Equal => R::Equal,
        CompareOp::NotEqual => R::NotEqual,
        CompareOp::Less => R::Less,
        CompareOp::Greater => R::Greater,
    };
    let (target, union) = match &c.target {
        CompareTarget::Value(v) => (T::Value, U::Value(v.as_bytes().to_vec())),
        CompareTarget::Version(v) => (T::Version, U::Version(*v)),
        CompareTarget::CreateRevision(r) => (T::Create, U::CreateRevision(r.0)),
        CompareTarget::ModRevision(r) => (T::Mod, U::ModRevision(r.0)),
        CompareTarget::Lease(l) => (T::Lease, U::Lease(*l)),
    };
    pb::Compare { result: result as i32, target: target as i32, key, range_end, target_union: Some(union) }
}

pub fn watch_create(keys: &KeySet, start_revision: i64) -> pb::WatchRequest {
    let (key, range_end) = key_range(keys);
    // prev_kv on: the watch checks verify it (etcd's `--prev-kv`).
    let create = pb::WatchCreateRequest { key, range_end, start_revision, prev_kv: true, ..Default::default() };
    pb::WatchRequest { request_union: Some(pb::watch_request::RequestUnion::CreateRequest(create)) }
}

/// A progress request (`etcdctl watch` sends one for `--progress-notify`'s manual form).
pub fn watch_progress() -> pb::WatchRequest {
    pb::WatchRequest { request_union: Some(pb::watch_request::RequestUnion::ProgressRequest(pb::WatchProgressRequest {})) }
}

/// The revision a response header carries (0 if there is none: the checker will say so).
pub fn revision(header: &Option<pb::ResponseHeader>) -> Revision {
    Revision(header.as_ref().map_or(0, |h| h.revision))
}

pub fn kv(kv: &mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value: String::from_utf8_lossy(&kv.value).into_owned(),
        create_revision: Revision(kv.create_revision),
        mod_revision: Revision(kv.mod_revision),
        version: kv.version,
        lease: (kv.lease != 0).then_some(LeaseId(kv.lease)),
    }
}

pub fn range_response(r: &pb::RangeResponse) -> Response {
    Response::Range { revision: revision(&r.header), kvs: r.kvs.iter().map(kv).collect() }
}

pub fn put_response(r: &pb::PutResponse) -> Response {
    Response::Put { revision: revision(&r.header), prev_kv: r.prev_kv.as_ref().map(kv) }
}

pub fn delete_response(r: &pb::DeleteRangeResponse) -> Response {
    Response::Delete { revision: revision(&r.header), deleted: count(r.deleted), prev_kvs: r.prev_kvs.iter().map(kv).collect() }
}

pub fn txn_response(r: &pb::TxnResponse) -> Response {
    Response::Txn { revision: revision(&r.header), succeeded: r.succeeded, responses: r.responses.iter().map(response_op).collect() }
}

fn response_op(r: &pb::ResponseOp) -> TxnResponse {
    use pb::response_op::Response as R;
    match &r.response {
        Some(R::ResponseRange(r)) => TxnResponse::Range { kvs: r.kvs.iter().map(kv).collect() },
        Some(R::ResponsePut(r)) => TxnResponse::Put { prev_kv: r.prev_kv.as_ref().map(kv) },
        Some(R::ResponseDeleteRange(r)) => {
            TxnResponse::Delete { deleted: count(r.deleted), prev_kvs: r.prev_kvs.iter().map(kv).collect() }
        }
        Some(R::ResponseTxn(r)) => {
            TxnResponse::Txn { succeeded: r.succeeded, responses: r.responses.iter().map(response_op).collect() }
        }
        // An empty response op: record it as the emptiest read, which no request answers with
        // in a correct txn of ours, so the checker reports it rather than this code hiding it.
        None => TxnResponse::Range { kvs: Vec::new() },
    }
}

/// A count etcd sends as `int64`. A negative one is recorded as 0 and left for the checker to
/// reject (a delete reporting 0 deletions with a new revision).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub fn lease_grant_response(r: &pb::LeaseGrantResponse) -> Response {
    Response::LeaseGrant { revision: revision(&r.header) }
}

pub fn lease_revoke_response(r: &pb::LeaseRevokeResponse) -> Response {
    Response::LeaseRevoke { revision: revision(&r.header) }
}

/// What a gRPC error means for the history, and whether etcd's client would try another member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    pub outcome: StepOutcome,
    pub fail_over: bool,
}

/// etcd's message for `ErrGRPCLeaseNotFound` (code NotFound).
const LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";
/// etcd's message for `ErrGRPCLeaseExist` (code FailedPrecondition).
const LEASE_EXISTS: &str = "etcdserver: lease already exists";
/// etcd's `ErrGRPCNoLeader` (code Unavailable). detcd answers it only before proposing or
/// starting a read (`node/src/api/etcd/mod.rs`, `Shared::propose` / `read_barrier`), so it is a
/// definite "no effect". A server that sent it after proposing would make this unsound: if
/// that ever changes, this line must go.
const NO_LEADER: &str = "etcdserver: no leader";
/// madsim-tonic's connection failures before the request is sent (`MultiEndpoint::connect1`:
/// the endpoint check maps to "transport error", the connection itself to "connection
/// refused"). After the request is sent the same transport says "connection reset" or
/// "broken pipe", which stay unknown.
const NOT_SENT: &[&str] = &["connection refused", "transport error"];

/// Sorts a gRPC error into the three outcomes. The rule: `fail` only when the request
/// certainly had no effect; when in doubt, `info`.
///
/// - the two lease refusals the etcd model explains are responses (`ok` with an error), so the
///   checker verifies the lease really was missing (or present) then;
/// - definite: validation errors etcd returns before proposing (InvalidArgument, OutOfRange
///   such as "lease TTL too large" or a compacted read, ResourceExhausted "too many
///   requests", NotFound, PermissionDenied, Unauthenticated), Unimplemented (no handler ran:
///   a service or RPC the server does not have), "no leader" (see [`NO_LEADER`]) and
///   connection failures before sending (see [`NOT_SENT`]);
/// - unknown: everything else, notably Unavailable "request timed out", "leader changed",
///   "server stopped", "connection reset", DeadlineExceeded, Cancelled, Unknown, Internal,
///   FailedPrecondition other than the lease refusal.
///
/// Fail over (as etcd's client does) on Unavailable and on anything that looks like the
/// connection or the member rather than the request (DeadlineExceeded, Cancelled, Unknown,
/// Internal, Aborted).
pub fn classify(status: &Status) -> Classified {
    let message = status.message();
    let reason = format!("{:?}: {message}", status.code());
    let fail_over = matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown | Code::Internal | Code::Aborted
    );
    let outcome = match status.code() {
        Code::NotFound if message == LEASE_NOT_FOUND => StepOutcome::Ok(Response::Error { error: EtcdError::LeaseNotFound }),
        Code::FailedPrecondition if message == LEASE_EXISTS => {
            StepOutcome::Ok(Response::Error { error: EtcdError::LeaseExists })
        }
        Code::InvalidArgument
        | Code::OutOfRange
        | Code::ResourceExhausted
        | Code::NotFound
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::Unimplemented => StepOutcome::Fail(reason),
        Code::Unavailable if message == NO_LEADER || NOT_SENT.contains(&message) => StepOutcome::Fail(reason),
        _ => StepOutcome::Info(reason),
    };
    Classified { outcome, fail_over }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: Code, message: &str) -> StepOutcome {
        classify(&Status::new(code, message)).outcome
    }

    fn is_fail(o: &StepOutcome) -> bool {
        matches!(o, StepOutcome::Fail(_))
    }

    fn is_info(o: &StepOutcome) -> bool {
        matches!(o, StepOutcome::Info(_))
    }

    #[test]
    fn only_errors_that_prove_no_effect_are_failures() {
        assert!(is_fail(&outcome(Code::Unavailable, "etcdserver: no leader")));
        assert!(is_fail(&outcome(Code::Unavailable, "connection refused")));
        assert!(is_fail(&outcome(Code::InvalidArgument, "etcdserver: key is not provided")));
        assert!(is_fail(&outcome(Code::Unimplemented, "service not found: /etcdserverpb.Lease/LeaseGrant")));
        for (code, message) in [
            (Code::Unavailable, "etcdserver: request timed out"),
            (Code::Unavailable, "etcdserver: leader changed"),
            (Code::Unavailable, "etcdserver: server stopped"),
            (Code::Unavailable, "connection reset"),
            (Code::Unknown, "error reading a body from connection: broken pipe"),
            (Code::DeadlineExceeded, "request timeout"),
            (Code::FailedPrecondition, "etcdserver: not leader"),
        ] {
            assert!(is_info(&outcome(code, message)), "{code:?} {message}");
        }
    }

    #[test]
    fn lease_refusals_are_responses_the_model_checks() {
        assert_eq!(
            outcome(Code::NotFound, LEASE_NOT_FOUND),
            StepOutcome::Ok(Response::Error { error: EtcdError::LeaseNotFound })
        );
        assert_eq!(outcome(Code::FailedPrecondition, LEASE_EXISTS), StepOutcome::Ok(Response::Error { error: EtcdError::LeaseExists }));
    }

    #[test]
    fn clients_fail_over_on_member_trouble_not_on_bad_requests() {
        assert!(classify(&Status::unavailable("etcdserver: no leader")).fail_over);
        assert!(classify(&Status::unavailable("connection refused")).fail_over);
        assert!(classify(&Status::deadline_exceeded("t")).fail_over);
        assert!(!classify(&Status::invalid_argument("etcdserver: key is not provided")).fail_over);
        assert!(!classify(&Status::unimplemented("service not found")).fail_over);
    }

    #[test]
    fn key_sets_map_to_etcd_ranges() {
        assert_eq!(key_range(&KeySet::Key("k1".into())), (b"k1".to_vec(), vec![]));
        assert_eq!(key_range(&KeySet::Prefix("k1".into())), (b"k1".to_vec(), b"k2".to_vec()));
        assert_eq!(key_range(&KeySet::Range("k1".into(), "k3".into())), (b"k1".to_vec(), b"k3".to_vec()));
        assert_eq!(key_range(&KeySet::From("k".into())), (b"k".to_vec(), vec![0]));
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
        assert_eq!(prefix_end(&[0xff]), vec![0]);
    }

    #[test]
    fn a_cas_txn_goes_on_the_wire_as_written() {
        let t = txn_request(
            &[Compare { keys: KeySet::Key("k".into()), op: CompareOp::Equal, target: CompareTarget::ModRevision(Revision(7)) }],
            &[Request::Put { key: "k".into(), value: "v".into(), lease: None, prev_kv: false }],
            &[Request::Range { keys: KeySet::Key("k".into()) }],
        );
        let c = &t.compare[0];
        assert_eq!((c.result, c.target), (pb::compare::CompareResult::Equal as i32, pb::compare::CompareTarget::Mod as i32));
        assert_eq!(c.target_union, Some(pb::compare::TargetUnion::ModRevision(7)));
        assert!(matches!(t.success[0].request, Some(pb::request_op::Request::RequestPut(_))));
        assert!(matches!(t.failure[0].request, Some(pb::request_op::Request::RequestRange(_))));
    }
}
