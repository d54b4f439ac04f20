//! `etcdserverpb.KV`: Range, Put, DeleteRange, Txn, Compact.

use super::Shared;
use crate::state::apply;
use crate::bugs::Bug;
use crate::pb::etcdserverpb::kv_server::Kv;
use crate::pb::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse,
    RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use crate::error::ApiError;
use crate::state::auth::requests as authz;
use crate::state::request::{Applied, Op};
use crate::trace_context::TraceId;
use crate::types::Revision;
use tonic::{Request, Response, Status};

pub struct KvService {
    pub shared: Shared,
}

impl KvService {
    fn revision_of(&self, header: &Option<crate::pb::etcdserverpb::ResponseHeader>) -> Revision {
        Revision(header.as_ref().map_or(0, |h| h.revision))
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(&self, req: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let shared = self.shared.for_request(req.metadata()).await?;
        let r = req.into_inner();
        apply::check_range(&r)?;
        if !r.serializable {
            shared.read_barrier().await?;
        }
        let mut resp = {
            let state = shared.state();
            authz::check_range(&state.auth, shared.caller.as_ref(), &r).map_err(ApiError::from)?;
            apply::range(&state.kv, &r)?
        };
        resp.header = shared.header(self.revision_of(&resp.header));
        Ok(Response::new(resp))
    }

    async fn put(&self, req: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let trace = TraceId::of_metadata(req.metadata());
        let shared = self.shared.for_request(req.metadata()).await?;
        let r = req.into_inner();
        apply::check_put(&r)?;
        match shared.propose_traced(Op::Put(r), trace).await? {
            Applied::Put(mut resp) => {
                resp.header = self.shared.header(self.revision_of(&resp.header));
                Ok(Response::new(resp))
            }
            other => unreachable!("put applied as {other:?}"),
        }
    }

    async fn delete_range(&self, req: Request<DeleteRangeRequest>) -> Result<Response<DeleteRangeResponse>, Status> {
        let trace = TraceId::of_metadata(req.metadata());
        let shared = self.shared.for_request(req.metadata()).await?;
        let r = req.into_inner();
        apply::check_delete(&r)?;
        match shared.propose_traced(Op::DeleteRange(r), trace).await? {
            Applied::DeleteRange(mut resp) => {
                resp.header = self.shared.header(self.revision_of(&resp.header));
                Ok(Response::new(resp))
            }
            other => unreachable!("delete applied as {other:?}"),
        }
    }

    async fn txn(&self, req: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let trace = TraceId::of_metadata(req.metadata());
        let shared = self.shared.for_request(req.metadata()).await?;
        let mut r = req.into_inner();
        if shared.bugs.has(Bug::TxnCompareWrongRevision) {
            mod_compares_read_create_revision(&mut r);
        }
        apply::check_txn(&r, &self.shared.limits)?;
        let mut resp = if apply::txn_is_read_only(&r) {
            // A txn that only reads is a read: linearizable via ReadIndex unless every range in it
            // asks for serializable (etcd `isTxnSerializable`).
            if !txn_is_serializable(&r) {
                shared.read_barrier().await?;
            }
            let state = shared.state();
            authz::check_txn(&state.auth, shared.caller.as_ref(), &state.leases, &r).map_err(ApiError::from)?;
            apply::txn_read_only(&state.kv, &r)?
        } else {
            match shared.propose_traced(Op::Txn(r), trace).await? {
                Applied::Txn(resp) => resp,
                other => unreachable!("txn applied as {other:?}"),
            }
        };
        resp.header = self.shared.header(self.revision_of(&resp.header));
        Ok(Response::new(resp))
    }

    async fn compact(&self, req: Request<CompactionRequest>) -> Result<Response<CompactionResponse>, Status> {
        let trace = TraceId::of_metadata(req.metadata());
        let shared = self.shared.for_request(req.metadata()).await?;
        let r = req.into_inner();
        match shared.propose_traced(Op::Compaction(r), trace).await? {
            Applied::Compaction(mut resp) => {
                resp.header = self.shared.header(self.revision_of(&resp.header));
                Ok(Response::new(resp))
            }
            other => unreachable!("compaction applied as {other:?}"),
        }
    }
}

/// BUG txn-compare-wrong-revision: every compare on a key's mod revision becomes a compare on its
/// create revision (the wrong field of the key), as a typo in the compare's target would.
fn mod_compares_read_create_revision(r: &mut TxnRequest) {
    use crate::pb::etcdserverpb::compare::{CompareTarget as T, TargetUnion as U};
    for c in &mut r.compare {
        if c.target == T::Mod as i32 {
            c.target = T::Create as i32;
            if let Some(U::ModRevision(v)) = c.target_union {
                c.target_union = Some(U::CreateRevision(v));
            }
        }
    }
}

fn txn_is_serializable(r: &TxnRequest) -> bool {
    use crate::pb::etcdserverpb::request_op::Request as R;
    r.success.iter().chain(&r.failure).all(|op| match &op.request {
        Some(R::RequestRange(q)) => q.serializable,
        Some(R::RequestTxn(t)) => txn_is_serializable(t),
        _ => false,
    })
}
