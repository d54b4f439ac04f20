//! `etcdserverpb.Lease`: grant, revoke, keep-alive, time-to-live, list; and the lessor task that
//! makes this member the primary lessor while it leads and proposes the revoke of expired leases.
//!
//! Keep-alives and TTL queries need the primary's timers, so a follower forwards them to the leader
//! (etcd forwards them over its peer HTTP API; we call the leader's own Lease service at its client
//! URL). Grants and revokes go through Raft like any write.

use super::Shared;
use crate::bugs::Bug;
use crate::error::ApiError;
use crate::state::lease::{promote_extend, RenewError, MAX_LEASE_TTL_S};
use crate::pb::etcdserverpb::lease_client::LeaseClient;
use crate::pb::etcdserverpb::lease_server::Lease;
use crate::pb::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseLeasesRequest,
    LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus, LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
};
use crate::events::Role;
use crate::state::request::{Applied, Op};
use crate::trace_context::TraceId;
use crate::types::{LeaseId, Revision, Term};
use std::pin::Pin;
use std::time::Duration;
use crate::feed::FeedRx;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

/// How often the primary looks for expired leases (etcd's lessor run loop period).
pub const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Expired leases the primary proposes to revoke per check, at most (etcd revokes at most 1000 per
/// second, so that a mass expiry does not flood the log).
pub const REVOKES_PER_CHECK_MAX: usize = 500;
/// Keep-alive responses buffered for one stream, at most.
const KEEP_ALIVE_BUFFER_MAX: usize = 16;
/// Pause between attempts to reach the primary (it may be changing).
const RETRY_PAUSE: Duration = Duration::from_millis(50);

pub struct LeaseService {
    pub shared: Shared,
}

impl LeaseService {
    fn fill(&self, header: &mut Option<crate::pb::etcdserverpb::ResponseHeader>) {
        let rev = header.as_ref().map_or(0, |h| h.revision);
        *header = self.shared.header(Revision(rev));
    }
}

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(&self, req: Request<LeaseGrantRequest>) -> Result<Response<LeaseGrantResponse>, Status> {
        let trace = TraceId::of_metadata(req.metadata());
        let mut r = req.into_inner();
        if r.ttl > MAX_LEASE_TTL_S {
            return Err(ApiError::LeaseTtlTooLarge.into());
        }
        if r.id == 0 {
            r.id = self.shared.new_lease_id().0;
        }
        match self.shared.propose_traced(Op::LeaseGrant(r), trace).await? {
            Applied::LeaseGrant(mut resp) => {
                self.fill(&mut resp.header);
                Ok(Response::new(resp))
            }
            other => unreachable!("lease grant applied as {other:?}"),
        }
    }

    async fn lease_revoke(&self, req: Request<LeaseRevokeRequest>) -> Result<Response<LeaseRevokeResponse>, Status> {
        let trace = TraceId::of_metadata(req.metadata());
        let shared = self.shared.for_request(req.metadata()).await?;
        match shared.propose_traced(Op::LeaseRevoke(req.into_inner()), trace).await? {
            Applied::LeaseRevoke(mut resp) => {
                self.fill(&mut resp.header);
                Ok(Response::new(resp))
            }
            other => unreachable!("lease revoke applied as {other:?}"),
        }
    }

    type LeaseKeepAliveStream = Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send + 'static>>;

    async fn lease_keep_alive(
        &self,
        req: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut requests = req.into_inner();
        let (tx, rx) = mpsc::channel(KEEP_ALIVE_BUFFER_MAX);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    biased;
                    _ = tx.closed() => return,
                    _ = shared.stopped() => {
                        // Best effort (see the watch stream): never wait on a client at shutdown.
                        let _ = tx.try_send(Err(ApiError::Stopped.into()));
                        return;
                    }
                    m = requests.message() => m,
                };
                let Ok(Some(r)) = msg else { return };
                // etcd: a lease that is not found (never was, revoked, or expired) answers TTL 0.
                let reply = match renew(&shared, LeaseId(r.id)).await {
                    Ok(ttl) => Ok(LeaseKeepAliveResponse { header: shared.header(shared.current_revision()), id: r.id, ttl }),
                    Err(e) => Err(Status::from(e)),
                };
                let failed = reply.is_err();
                let sent = tokio::select! {
                    biased;
                    _ = shared.stopped() => false,
                    r = tx.send(reply) => r.is_ok(),
                };
                if !sent || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn lease_time_to_live(
        &self,
        req: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let r = req.into_inner();
        let mut resp = time_to_live(&self.shared, r).await?;
        self.fill(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn lease_leases(&self, _: Request<LeaseLeasesRequest>) -> Result<Response<LeaseLeasesResponse>, Status> {
        let now = self.shared.clock.now();
        let (ids, rev) = {
            let mut guard = self.shared.state();
            let st = &mut *guard;
            (st.lessor.by_expiry(&st.leases, now), st.kv.current_revision())
        };
        let leases = ids.into_iter().map(|id| LeaseStatus { id: id.0 }).collect();
        Ok(Response::new(LeaseLeasesResponse { header: self.shared.header(rev), leases }))
    }
}

/// Whether this member may answer for the lease timers, and in which term.
enum Standing {
    /// It keeps the timers for its current term and has confirmed, by a quorum round begun after
    /// the request arrived, that it still leads in that term.
    Confirmed(Term),
    /// It leads but has not taken over the timers yet (it is still applying the entries committed
    /// before its term), or the confirmation failed: ask again shortly.
    NotYet,
    /// It does not lead: the leader answers.
    AskLeader,
}

/// Decides this member's [`Standing`] for a lease request that has arrived (module doc of
/// `state::lease`: why a renewal needs the confirmation).
async fn standing(shared: &Shared) -> Standing {
    let primary = shared.state().lessor.primary_term();
    if shared.bugs.has(Bug::StaleLeaderRenewsLease) {
        // BUG stale-leader-renews-lease: the member's own timers answer, confirmed by nothing.
        return primary.map_or(Standing::AskLeader, Standing::Confirmed);
    }
    let status = *shared.status.borrow();
    if status.role != Role::Leader {
        return Standing::AskLeader;
    }
    if shared.bugs.has(Bug::StaleExpiryHonoured) && primary == Some(status.term) && !status.lead_ready() {
        // BUG stale-expiry-honoured: "just elected, so surely the leader": no quorum round, which
        // would have waited for the entries committed before this term to be applied.
        return Standing::Confirmed(status.term);
    }
    match primary {
        Some(term) if term == status.term && shared.ensure_leadership(term).await => Standing::Confirmed(term),
        _ => Standing::NotYet,
    }
}

/// What the primary says about a lease.
enum Local<T> {
    Answer(T),
    /// Expired, revoke on its way: wait for the state to move and ask again.
    WaitRevoke,
    /// The timers changed hands since the confirmation (a new term): confirm again.
    Again,
}

/// Renews lease `id` at the primary: here if this member is it (after confirming it still leads),
/// else at the leader. Returns the TTL, 0 if the lease does not exist (any more).
///
/// # Errors
/// `Timeout` if no primary answered within the request timeout.
async fn renew(shared: &Shared, id: LeaseId) -> Result<i64, ApiError> {
    let attempt = async {
        let mut progress = shared.state().subscribe();
        loop {
            let term = match standing(shared).await {
                Standing::Confirmed(term) => term,
                Standing::NotYet => {
                    shared.clock.sleep(RETRY_PAUSE).await;
                    continue;
                }
                Standing::AskLeader => match forward_renew(shared, id).await {
                    Some(ttl) => return Ok(ttl),
                    None => {
                        shared.clock.sleep(RETRY_PAUSE).await;
                        continue;
                    }
                },
            };
            let local = {
                let now = shared.clock.now();
                let mut guard = shared.state();
                let st = &mut *guard;
                if st.lessor.primary_term() != Some(term) {
                    Local::Again
                } else {
                    match st.lessor.renew(&st.leases, id, now) {
                        Ok(ttl) => {
                            shared.metrics.lease_renewed.inc();
                            Local::Answer(ttl)
                        }
                        Err(RenewError::NotFound) => Local::Answer(0),
                        Err(RenewError::Expired) => Local::WaitRevoke,
                        Err(RenewError::NotPrimary) => Local::Again,
                    }
                }
            };
            match local {
                Local::Answer(ttl) => return Ok(ttl),
                Local::WaitRevoke => {
                    let _ = progress.changed().await;
                }
                Local::Again => {}
            }
        }
    };
    shared.clock.timeout(shared.timing.request_timeout(), attempt).await.unwrap_or(Err(ApiError::Timeout))
}

/// Asks the leader to renew; `None` if there is no other leader to ask or it did not answer.
async fn forward_renew(shared: &Shared, id: LeaseId) -> Option<i64> {
    let mut client = LeaseClient::new(shared.leader_channel().await?);
    let mut responses = client.lease_keep_alive(tokio_stream::once(LeaseKeepAliveRequest { id: id.0 })).await.ok()?.into_inner();
    let resp = responses.message().await.ok()??;
    Some(resp.ttl)
}

/// The lease's remaining TTL from the primary, confirmed as for [`renew`].
async fn time_to_live(shared: &Shared, r: LeaseTimeToLiveRequest) -> Result<LeaseTimeToLiveResponse, ApiError> {
    let id = LeaseId(r.id);
    let attempt = async {
        loop {
            let term = match standing(shared).await {
                Standing::Confirmed(term) => term,
                Standing::NotYet => {
                    shared.clock.sleep(RETRY_PAUSE).await;
                    continue;
                }
                Standing::AskLeader => {
                    if let Some(channel) = shared.leader_channel().await {
                        if let Ok(resp) = LeaseClient::new(channel).lease_time_to_live(r.clone()).await {
                            return Ok(resp.into_inner());
                        }
                    }
                    shared.clock.sleep(RETRY_PAUSE).await;
                    continue;
                }
            };
            let now = shared.clock.now();
            let mut guard = shared.state();
            let st = &mut *guard;
            if st.lessor.primary_term() != Some(term) {
                continue;
            }
            let rev = st.kv.current_revision();
            return Ok(match st.lessor.remaining(&st.leases, id, now) {
                Ok(left) => {
                    let lease = st.leases.get(id).expect("the lessor found it");
                    LeaseTimeToLiveResponse {
                        header: shared.header(rev),
                        id: id.0,
                        // etcd truncates: a lease with 299.9 s left shows 299.
                        ttl: left.as_secs() as i64,
                        granted_ttl: lease.ttl_s,
                        keys: if r.keys { lease.keys.iter().cloned().collect() } else { vec![] },
                    }
                }
                // etcd answers a missing lease with TTL -1 and no error.
                Err(RenewError::NotFound) => LeaseTimeToLiveResponse { header: shared.header(rev), id: id.0, ttl: -1, ..Default::default() },
                Err(RenewError::NotPrimary) => continue,
                Err(RenewError::Expired) => unreachable!("remaining() does not report expiry"),
            });
        }
    };
    shared.clock.timeout(shared.timing.request_timeout(), attempt).await.unwrap_or(Err(ApiError::Timeout))
}

/// The lessor task: keeps this member's [`Lessor`](crate::state::lease::Lessor) primary exactly while it
/// leads and has applied every entry committed before its term (promoting with a full refresh at
/// each new leadership), and proposes the revoke of the leases that expire by this member's
/// clock, once it has confirmed it still leads. Runs until `shutdown`.
pub async fn run_lessor(shared: Shared, mut shutdown: FeedRx<bool>) {
    let mut status = shared.status.clone();
    let mut leading: Option<Term> = None;
    let mut next_check = shared.clock.deadline_after(EXPIRY_CHECK_INTERVAL);
    loop {
        // Follow leadership first: a new term of leadership is a new promotion.
        let now_status = *status.borrow_and_update();
        // A new leader takes over the timers only once it has applied everything committed before
        // its term: a deposed leader's expiry in its log is then applied (or was never committed).
        // BUG stale-expiry-honoured: it takes over at once, on election.
        let ready = if shared.bugs.has(Bug::StaleExpiryHonoured) { now_status.role == Role::Leader } else { now_status.lead_ready() };
        // BUG lease-expiry-by-follower-clock: every member keeps timers and expires by its clock.
        let lessor_role = ready || shared.bugs.has(Bug::LeaseExpiryByFollowerClock);
        let lead_term = lessor_role.then_some(now_status.term);
        if lead_term != leading {
            let now = shared.clock.now();
            let mut guard = shared.state();
            let st = &mut *guard;
            if st.lessor.is_primary() {
                st.lessor.demote();
            }
            if lead_term.is_some() && shared.bugs.has(Bug::NoLeaseRefreshOnPromote) {
                // BUG no-lease-refresh-on-promote: the deadlines as of this clock's epoch, never
                // refreshed: every lease older than its TTL on this clock is due at once.
                st.lessor.promote(&st.leases, crate::clock::LocalTime(0), Duration::ZERO, now_status.term);
            } else if lead_term.is_some() {
                st.lessor.promote(&st.leases, now, promote_extend(&shared.timing), now_status.term);
                tracing::info!(member = %shared.id, term = now_status.term.0, leases = st.leases.len(), "became primary lessor");
            }
            leading = lead_term;
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            changed = status.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep_until(next_check) => {
                next_check = shared.clock.deadline_after(EXPIRY_CHECK_INTERVAL);
                let expired = {
                    let now = shared.clock.now();
                    let mut guard = shared.state();
                    let st = &mut *guard;
                    st.lessor.expired(&st.leases, now, REVOKES_PER_CHECK_MAX)
                };
                let Some(term) = leading.filter(|_| !expired.is_empty()) else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    // Confirm the leadership first (etcd PR 16822): a deposed leader that has not
                    // heard of the new term proposes nothing. A lost expiry is proposed again later.
                    // BUG stale-expiry-honoured: no confirmation (nor with lease-expiry-by-follower-clock,
                    // whose followers expire by their own clocks).
                    let unconfirmed = shared.bugs.has(Bug::StaleExpiryHonoured) || shared.bugs.has(Bug::LeaseExpiryByFollowerClock);
                    if !unconfirmed && !shared.ensure_leadership(term).await {
                        return;
                    }
                    for id in expired {
                        tracing::debug!(member = %shared.id, lease = %id, "lease expired, proposing its revoke");
                        let shared = shared.clone();
                        // Each revoke waits for its own entry.
                        tokio::spawn(async move {
                            let _ = shared.propose(Op::LeaseExpire(LeaseRevokeRequest { id: id.0 })).await;
                        });
                    }
                });
            }
        }
    }
}
