//! etcd requests and responses in words: `put("a", "1") -> rev 5`.

use super::types::{
    Compare, CompareOp, CompareTarget, KeySet, KeyValue, Request, Response, TxnResponse,
};

pub(super) fn key_value(kv: &KeyValue) -> String {
    let lease = kv.lease.map_or(String::new(), |l| format!(", lease {l}"));
    format!(
        "{:?}={:?} (create {}, mod {}, version {}{lease})",
        kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version
    )
}

fn key_values(kvs: &[KeyValue]) -> String {
    let all: Vec<String> = kvs.iter().map(key_value).collect();
    format!("[{}]", all.join(", "))
}

fn key_set(keys: &KeySet) -> String {
    match keys {
        KeySet::Key(k) => format!("{k:?}"),
        KeySet::Prefix(p) => format!("prefix {p:?}"),
        KeySet::Range(s, e) => format!("[{s:?}, {e:?})"),
        KeySet::From(s) => format!("keys >= {s:?}"),
    }
}

fn compare(c: &Compare) -> String {
    let (field, target) = match &c.target {
        CompareTarget::Value(v) => ("value", format!("{v:?}")),
        CompareTarget::Version(v) => ("version", v.to_string()),
        CompareTarget::CreateRevision(r) => ("create", r.to_string()),
        CompareTarget::ModRevision(r) => ("mod", r.to_string()),
        CompareTarget::Lease(l) => ("lease", l.to_string()),
    };
    let op = match c.op {
        CompareOp::Equal => "=",
        CompareOp::NotEqual => "!=",
        CompareOp::Less => "<",
        CompareOp::Greater => ">",
    };
    format!("{field}({}) {op} {target}", key_set(&c.keys))
}

fn requests(rs: &[Request]) -> String {
    let all: Vec<String> = rs.iter().map(request).collect();
    all.join("; ")
}

pub(super) fn request(r: &Request) -> String {
    match r {
        Request::Range { keys } => format!("range({})", key_set(keys)),
        Request::Put {
            key, value, lease, ..
        } => match lease {
            Some(l) => format!("put({key:?}, {value:?}, lease {l})"),
            None => format!("put({key:?}, {value:?})"),
        },
        Request::Delete { keys, .. } => format!("delete({})", key_set(keys)),
        Request::Txn {
            compare: cs,
            success,
            failure,
        } => {
            let cs: Vec<String> = cs.iter().map(compare).collect();
            format!(
                "txn(if {} then [{}] else [{}])",
                cs.join(" and "),
                requests(success),
                requests(failure)
            )
        }
        Request::LeaseGrant { id, ttl_s } => format!("lease_grant({id}, ttl {ttl_s}s)"),
        Request::LeaseRevoke { id } => format!("lease_revoke({id})"),
        Request::LeaseExpire { id } => format!("lease {id} expires"),
    }
}

fn txn_response(r: &TxnResponse) -> String {
    match r {
        TxnResponse::Range { kvs } => key_values(kvs),
        TxnResponse::Put { prev_kv: Some(kv) } => format!("ok, was {}", key_value(kv)),
        TxnResponse::Put { prev_kv: None } => "ok".to_string(),
        TxnResponse::Delete { deleted, .. } => format!("deleted {deleted}"),
        TxnResponse::Txn {
            succeeded,
            responses,
        } => {
            let inner: Vec<String> = responses.iter().map(txn_response).collect();
            format!("succeeded {succeeded}: [{}]", inner.join("; "))
        }
    }
}

pub(super) fn response(r: Option<&Response>) -> String {
    let Some(r) = r else {
        return "outcome unknown".to_string();
    };
    match r {
        Response::Range { revision, kvs } => format!("rev {revision}, {}", key_values(kvs)),
        Response::Put { revision, prev_kv } => match prev_kv {
            Some(kv) => format!("rev {revision}, was {}", key_value(kv)),
            None => format!("rev {revision}"),
        },
        Response::Delete {
            revision, deleted, ..
        } => format!("rev {revision}, deleted {deleted}"),
        Response::Txn {
            revision,
            succeeded,
            responses,
        } => {
            let inner: Vec<String> = responses.iter().map(txn_response).collect();
            format!(
                "rev {revision}, succeeded {succeeded}: [{}]",
                inner.join("; ")
            )
        }
        Response::LeaseGrant { revision }
        | Response::LeaseRevoke { revision }
        | Response::LeaseExpire { revision } => format!("rev {revision}"),
        Response::Error { error } => format!("error {error:?}"),
        Response::Applied { revision } => format!("applied (per the cluster's record), rev {revision}"),
    }
}
