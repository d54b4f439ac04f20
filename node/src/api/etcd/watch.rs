//! `etcdserverpb.Watch`: one task per watch stream drives a [`WatchStream`] (see [`crate::state::watch`]).
//!
//! The task waits for: the client (create, cancel, progress requests), room in the bounded response
//! buffer, the state machine moving, the progress tick, and (for clients that require a leader) the
//! leader check. It reads from the store only when the buffer has room for what it reads, so a
//! client that stops reading costs one full buffer and blocks nothing else.

use super::Shared;
use crate::bugs::{Bug, Bugs};
use crate::error::ApiError;
use crate::pb::etcdserverpb::watch_request::RequestUnion;
use crate::pb::etcdserverpb::watch_server::Watch;
use crate::pb::etcdserverpb::{WatchRequest, WatchResponse};
use crate::types::Revision;
use crate::state::watch::{WatchLimits, WatchStream, PROGRESS_NOTIFY_INTERVAL, SEND_BUFFER_MAX};
use std::pin::Pin;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use crate::state::auth::PermKind;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

/// A stream that requires a leader ends after this many consecutive election timeouts without one
/// (etcd `maxNoLeaderCnt`).
const NO_LEADER_CHECKS_MAX: u32 = 3;

pub struct WatchService {
    pub shared: Shared,
}

/// Whether the client asked to be cut off when the cluster has no leader (etcd clients send
/// `hasleader: true` for `WithRequireLeader`, which `etcdctl watch`, `lock` and `elect` use).
pub(super) fn requires_leader<T>(req: &Request<T>) -> bool {
    req.metadata().get("hasleader").is_some_and(|v| v.as_bytes() == b"true")
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send + 'static>>;

    async fn watch(&self, req: Request<Streaming<WatchRequest>>) -> Result<Response<Self::WatchStream>, Status> {
        let require_leader = requires_leader(&req);
        if require_leader && self.shared.status.borrow().leader.is_none() {
            return Err(ApiError::NoLeader.into());
        }
        let (tx, rx) = mpsc::channel(SEND_BUFFER_MAX);
        let metadata = req.metadata().clone();
        tokio::spawn(serve(self.shared.clone(), metadata, req.into_inner(), tx, require_leader));
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

type Sender = mpsc::Sender<Result<WatchResponse, Status>>;

async fn serve(shared: Shared, metadata: MetadataMap, mut requests: Streaming<WatchRequest>, tx: Sender, require_leader: bool) {
    let mut ws = WatchStream::new(WatchLimits::new(shared.limits.max_request_bytes));
    let mut progress = shared.state().subscribe();
    let mut requests_open = true;
    let mut next_tick = shared.clock.deadline_after(PROGRESS_NOTIFY_INTERVAL);
    let election = shared.timing.tick * shared.timing.election_ticks_max as u32;
    let mut next_leader_check = shared.clock.deadline_after(election);
    let mut leaderless_checks = 0;
    loop {
        let current = progress.borrow().revision;
        let work = ws.has_work(current);
        // `biased`: a fixed branch order keeps runs deterministic under madsim.
        tokio::select! {
            biased;
            _ = tx.closed() => return,
            _ = shared.stopped() => {
                // Best effort: a client that stopped reading has a full buffer, and must not hold up
                // the shutdown; dropping the sender ends the stream either way.
                let _ = tx.try_send(Err(ApiError::Stopped.into()));
                return;
            }
            msg = requests.message(), if requests_open && ws.accepts_requests() => match msg {
                Ok(Some(req)) => match refusal(&shared, &metadata, &req).await {
                    Some(reason) => ws.refuse(&reason, current),
                    None => handle(&mut ws, req, current, shared.bugs),
                },
                // etcd keeps serving a stream whose client closed its sending side.
                Ok(None) => requests_open = false,
                Err(_) => return,
            },
            permit = tx.reserve(), if work => {
                let Ok(permit) = permit else { return };
                let resp = {
                    let state = shared.state();
                    ws.next_response(&state.kv)
                };
                match resp {
                    Some(mut r) => {
                        r.header = shared.header(Revision(r.header.map_or(0, |h| h.revision)));
                        permit.send(Ok(r));
                    }
                    // Watchers moved past revisions with nothing for them; let others run.
                    None => tokio::task::yield_now().await,
                }
            }
            changed = progress.changed(), if !work => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(next_tick) => {
                ws.progress_tick(current);
                next_tick = shared.clock.deadline_after(PROGRESS_NOTIFY_INTERVAL);
            }
            _ = tokio::time::sleep_until(next_leader_check), if require_leader => {
                next_leader_check = shared.clock.deadline_after(election);
                leaderless_checks = if shared.status.borrow().leader.is_none() { leaderless_checks + 1 } else { 0 };
                if leaderless_checks >= NO_LEADER_CHECKS_MAX {
                    let _ = tx.try_send(Err(ApiError::NoLeader.into()));
                    return;
                }
            }
        }
    }
}

/// Why a create request may not be served (etcd `isWatchPermitted`): the caller its token names
/// (looked up at each create, as etcd does) may not read the range. `None` for other requests.
/// The reason reads as etcd writes it: the text of the gRPC error (`rpc error: code = ... desc =
/// ...`), which clients turn back into that error. (etcd checks a from-key watch as the single
/// key; this checks the range it watches.)
async fn refusal(shared: &Shared, metadata: &MetadataMap, req: &WatchRequest) -> Option<String> {
    let Some(RequestUnion::CreateRequest(c)) = &req.request_union else { return None };
    let verdict = match shared.for_request(metadata).await {
        Ok(s) => {
            let key = if c.key.is_empty() { vec![0] } else { c.key.clone() };
            let state = s.state();
            state.auth.check(s.caller.as_ref(), &key, &c.range_end, PermKind::Read).map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    let e = match verdict {
        Ok(()) => return None,
        Err(e @ (ApiError::InvalidAuthToken | ApiError::AuthOldRevision | ApiError::UserEmpty)) => e,
        Err(_) => ApiError::PermissionDenied,
    };
    let status = tonic::Status::from(e);
    Some(format!("rpc error: code = {:?} desc = {}", status.code(), status.message()))
}

fn handle(ws: &mut WatchStream, req: WatchRequest, current: Revision, bugs: Bugs) {
    match req.request_union {
        Some(RequestUnion::CreateRequest(mut c)) => {
            if bugs.has(Bug::WatchResumeOffByOne) && c.start_revision > 0 {
                // BUG watch-resume-off-by-one: "resume after revision R" read as "from R + 1": the
                // event at the start revision is skipped.
                c.start_revision += 1;
            }
            ws.create(c, current)
        }
        Some(RequestUnion::CancelRequest(c)) => ws.cancel(c.watch_id, current),
        Some(RequestUnion::ProgressRequest(_)) => ws.request_progress(),
        None => {}
    }
}
