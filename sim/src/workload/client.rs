//! One simulated client: a Jepsen-style process with at most one operation open, talking to the
//! cluster through etcd's generated gRPC clients from its own madsim host.

use super::plan::{Knowledge, Plan};
use super::wire;
use crate::cluster::node_ip;
use crate::history::{Bookmark, ClientOp, KeepAliveRecord, LockAnswer, LockCall, LockRecord, Outcome, OutcomeClass, Renewal, Step, StepOutcome, WatchEvent, WatchEventKind, WatchRecord};
use crate::scenario::OpKind;
use detcd_check::models::etcd::{Compare, CompareOp, CompareTarget, KeySet, Request, Response, Revision};
use detcd_node::pb::etcdserverpb::kv_client::KvClient;
use detcd_node::pb::etcdserverpb::lease_client::LeaseClient;
use detcd_node::pb::etcdserverpb::watch_client::WatchClient;
use detcd_node::pb::etcdserverpb::{LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest, WatchResponse};
use detcd_node::pb::mvccpb::event::EventType;
use detcd_node::pb::v3lockpb::lock_client::LockClient;
use detcd_node::pb::v3lockpb::{LockRequest, UnlockRequest};
use madsim::time::Instant;
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;
use tonic::codegen::tokio_stream::{self, StreamExt as _};
use tonic::transport::{Channel, Endpoint};
use tonic::Status;

/// Events a watch records before it closes itself.
pub const WATCH_EVENTS_MAX: usize = 256;

/// What every client of a workload shares.
#[derive(Clone, Debug)]
pub struct Config {
    pub keys: usize,
    pub rate_per_s: f64,
    pub timeout: Duration,
    /// Operation kinds with positive weights, in `OpKind` order.
    pub mix: Vec<(OpKind, u32)>,
    pub members: usize,
    pub run_start: Instant,
    pub stop_at: Duration,
    /// Lock holders write with a txn guarded by their ownership key (off: the `unfenced-lock` bug).
    pub fenced_locks: bool,
}

/// The gRPC stubs for one member.
struct Stubs {
    kv: KvClient<Channel>,
    lease: LeaseClient<Channel>,
    watch: WatchClient<Channel>,
    lock: LockClient<Channel>,
}

pub struct Client {
    id: usize,
    cfg: Config,
    rng: StdRng,
    kinds: WeightedIndex<u32>,
    knowledge: Knowledge,
    /// The member the next operation goes to.
    /// - starts at `id % members`; moves to the next one after trouble with the member.
    member: usize,
    stubs: Vec<Stubs>,
    ops: Vec<ClientOp>,
    /// Requests sent so far: numbers each request's trace ID ([`trace_id`]).
    requests_sent: u64,
}

/// The trace ID of client `client`'s `n`th request: unique in a run, never zero, the same for the
/// same seed.
pub fn trace_id(client: usize, n: u64) -> u128 {
    (0xd57a_u128 << 112) | ((client as u128) << 64) | u128::from(n)
}

/// `message` as a gRPC request carrying `trace` in a `traceparent` header.
fn traced<T>(message: T, trace: u128) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    let value = detcd_node::trace_context::TraceId(trace).traceparent(1);
    r.metadata_mut().insert(detcd_node::trace_context::TRACEPARENT, value.parse().expect("an ASCII header value"));
    r
}

impl Client {
    /// Must be called on the client's own madsim host (connections are made from it).
    pub fn new(id: usize, seed: u64, cfg: Config) -> Client {
        assert!(cfg.members >= 1 && !cfg.mix.is_empty() && cfg.rate_per_s > 0.0);
        let kinds = WeightedIndex::new(cfg.mix.iter().map(|(_, w)| *w)).expect("positive weights");
        let stubs = (0..cfg.members)
            .map(|m| {
                // Lazy: madsim-tonic connects per request anyway, so a member that is down
                // shows up as that request's error, never here.
                let channel = Endpoint::from_shared(format!("http://{}:2379", node_ip(m))).expect("a valid URL").connect_lazy();
                Stubs {
                    kv: KvClient::new(channel.clone()),
                    lease: LeaseClient::new(channel.clone()),
                    watch: WatchClient::new(channel.clone()),
                    lock: LockClient::new(channel),
                }
            })
            .collect();
        Client {
            id,
            knowledge: Knowledge::new(id, cfg.keys),
            member: id % cfg.members,
            rng: StdRng::seed_from_u64(seed),
            kinds,
            stubs,
            ops: Vec::new(),
            requests_sent: 0,
            cfg,
        }
    }

    fn now(&self) -> Duration {
        self.cfg.run_start.elapsed()
    }

    /// A random gap between two operations: uniform in `[0, 2 / rate)`, so `rate` on average.
    fn gap(&mut self) -> Duration {
        Duration::from_secs_f64(self.rng.gen_range(0.0..2.0 / self.cfg.rate_per_s))
    }

    /// Issues operations until `stop_at`, each waiting for the previous one, and returns them.
    /// The last one may finish after `stop_at`: each request still waits up to its timeout.
    pub async fn run(mut self) -> Vec<ClientOp> {
        // Spread the clients' first operations over one mean gap.
        let mut next_at = self.gap() / 2;
        while next_at < self.cfg.stop_at {
            let now = self.now();
            if next_at > now {
                madsim::time::sleep(next_at - now).await;
            }
            let kind = self.cfg.mix[self.kinds.sample(&mut self.rng)].0;
            let op = self.issue(kind).await;
            op.check_invariants();
            self.ops.push(op);
            // Keep the rate as a ceiling: after a slow operation, no burst to catch up.
            next_at = (next_at + self.gap()).max(self.now());
        }
        self.ops
    }

    async fn issue(&mut self, kind: OpKind) -> ClientOp {
        let member = self.member;
        let mut op = ClientOp { client: self.id, kind, member, steps: Vec::new(), watch: None, lock: None, keepalive: None };
        match self.knowledge.plan(kind, &mut self.rng) {
            Plan::One(request) => op.steps.push(self.step(request).await),
            Plan::PutLease { grant, key, value } => {
                let Request::LeaseGrant { id, .. } = grant else { unreachable!("put_lease starts with a grant") };
                let granted = self.step(grant).await;
                let put = matches!(granted.outcome, StepOutcome::Ok(Response::LeaseGrant { .. }));
                op.steps.push(granted);
                if put {
                    op.steps.push(self.step(Request::Put { key, value, lease: Some(id), prev_kv: false }).await);
                }
            }
            Plan::Watch { keys, start_revision, open_for } => {
                op.watch = Some(self.watch(keys, start_revision, open_for).await);
            }
            Plan::KeepAlive { lease } => {
                op.keepalive = Some(self.keep_alive(lease).await);
            }
            Plan::Lock { grant, hold, values } => {
                let Request::LeaseGrant { id, .. } = grant else { unreachable!("a lock starts with a grant") };
                let granted = self.step(grant).await;
                let ok = matches!(granted.outcome, StepOutcome::Ok(Response::LeaseGrant { .. }));
                let mut record = LockRecord {
                    name: super::plan::LOCK_NAME.into(),
                    lease: id,
                    acquire: None,
                    writes: Vec::new(),
                    unlock: None,
                    closed: granted.completed,
                    outcome: granted.outcome.class(),
                };
                op.steps.push(granted);
                if ok {
                    self.lock(&mut record, hold, values).await;
                }
                op.lock = Some(record);
            }
        }
        op
    }

    /// Takes the lock with `record.lease`, writes `values` over `hold`, unlocks.
    async fn lock(&mut self, record: &mut LockRecord, hold: Duration, values: Vec<String>) {
        let request = LockRequest { name: record.name.clone().into_bytes(), lease: record.lease.0 };
        let acquire = self
            .lock_call(|mut c| async move {
                let r = c.lock(request).await?.into_inner();
                Ok(LockAnswer { key: String::from_utf8_lossy(&r.key).into_owned(), revision: wire::revision(&r.header).0 })
            })
            .await;
        record.closed = acquire.completed;
        let Outcome::Ok(LockAnswer { key, .. }) = &acquire.outcome else {
            record.outcome = acquire.outcome.class();
            record.acquire = Some(acquire);
            return;
        };
        let key = key.clone();
        record.acquire = Some(acquire);
        let pause = hold / (values.len() as u32 + 1);
        for value in values {
            madsim::time::sleep(pause).await;
            let put = Request::Put { key: super::plan::LOCK_DATA_KEY.into(), value, lease: None, prev_kv: false };
            let write = if self.cfg.fenced_locks {
                let fence = Compare { keys: KeySet::Key(key.clone()), op: CompareOp::Greater, target: CompareTarget::CreateRevision(Revision(0)) };
                Request::Txn { compare: vec![fence], success: vec![put], failure: vec![] }
            } else {
                put
            };
            let step = self.step(write).await;
            record.closed = step.completed;
            record.writes.push(step);
        }
        madsim::time::sleep(pause).await;
        let unlock_key = key.clone().into_bytes();
        let unlock = self
            .lock_call(|mut c| async move {
                let r = c.unlock(UnlockRequest { key: unlock_key }).await?.into_inner();
                Ok(LockAnswer { key, revision: wire::revision(&r.header).0 })
            })
            .await;
        record.closed = unlock.completed;
        record.outcome = unlock.outcome.class();
        record.unlock = Some(unlock);
    }

    /// Renews `lease` once: a keep-alive stream with one request, the first answer.
    async fn keep_alive(&mut self, lease: detcd_check::models::etcd::LeaseId) -> KeepAliveRecord {
        let mut stub = self.stubs[self.member].lease.clone();
        let (invoked, completed, outcome) = self
            .timed(async move {
                let requests = tokio_stream::iter([LeaseKeepAliveRequest { id: lease.0 }]).chain(tokio_stream::pending());
                let mut responses = stub.lease_keep_alive(requests).await?.into_inner();
                match responses.message().await? {
                    Some(r) => Ok(Renewal { ttl: r.ttl }),
                    None => Err(Status::unavailable("the keep-alive stream closed without an answer")),
                }
            })
            .await;
        KeepAliveRecord { lease, invoked, completed, outcome }
    }

    /// One call to the lock service on the current member, within the timeout.
    async fn lock_call<F, Fut>(&mut self, call: F) -> LockCall
    where
        F: FnOnce(LockClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<LockAnswer, Status>>,
    {
        let stub = self.stubs[self.member].lock.clone();
        let (invoked, completed, outcome) = self.timed(call(stub)).await;
        LockCall { invoked, completed, outcome }
    }

    /// Runs a call that is not a model request (so not a [`Step`]) within the timeout: its
    /// invoke and completion times, and its answer or how it ended, classified as a step's
    /// error would be. Fails over after trouble, as [`Client::step`] does.
    async fn timed<T>(&mut self, call: impl std::future::Future<Output = Result<T, Status>>) -> (Duration, Duration, Outcome<T>) {
        let invoked = self.now();
        let result = madsim::time::timeout(self.cfg.timeout, call).await;
        let completed = self.now();
        let (outcome, fail_over) = match result {
            Ok(Ok(answer)) => (Outcome::Ok(answer), false),
            Ok(Err(status)) => {
                let c = wire::classify(&status);
                let outcome = match c.outcome {
                    Outcome::Fail(why) => Outcome::Fail(why),
                    Outcome::Info(why) => Outcome::Info(why),
                    Outcome::Ok(r) => Outcome::Fail(format!("refused: {r:?}")),
                };
                (outcome, c.fail_over)
            }
            Err(_) => (Outcome::Info(format!("no answer within {} ms", self.cfg.timeout.as_millis())), true),
        };
        if fail_over {
            self.fail_over();
        }
        (invoked, completed, outcome)
    }

    fn fail_over(&mut self) {
        self.member = (self.member + 1) % self.cfg.members;
    }

    /// Sends one request and records what came back, within the timeout.
    async fn step(&mut self, request: Request) -> Step {
        let invoked = self.now();
        let timeout = self.cfg.timeout;
        self.requests_sent += 1;
        let trace = trace_id(self.id, self.requests_sent);
        let result = madsim::time::timeout(timeout, self.send(&request, trace)).await;
        let completed = self.now();
        let (outcome, fail_over) = match result {
            Ok(Ok(response)) => (StepOutcome::Ok(response), false),
            Ok(Err(status)) => {
                let c = wire::classify(&status);
                (c.outcome, c.fail_over)
            }
            Err(_) => (StepOutcome::Info(format!("no answer within {} ms", timeout.as_millis())), true),
        };
        if fail_over {
            self.fail_over();
        }
        let step = Step { request, invoked, completed, outcome, trace };
        self.knowledge.learn(&step);
        step
    }

    /// Sends `request` to the current member, in trace `trace` (see [`trace_id`]).
    async fn send(&mut self, request: &Request, trace: u128) -> Result<Response, Status> {
        let stubs = &mut self.stubs[self.member];
        Ok(match request {
            Request::Range { keys } => wire::range_response(stubs.kv.range(traced(wire::range_request(keys), trace)).await?.get_ref()),
            Request::Put { key, value, lease, prev_kv } => {
                wire::put_response(stubs.kv.put(traced(wire::put_request(key, value, *lease, *prev_kv), trace)).await?.get_ref())
            }
            Request::Delete { keys, prev_kv } => {
                wire::delete_response(stubs.kv.delete_range(traced(wire::delete_request(keys, *prev_kv), trace)).await?.get_ref())
            }
            Request::Txn { compare, success, failure } => {
                wire::txn_response(stubs.kv.txn(traced(wire::txn_request(compare, success, failure), trace)).await?.get_ref())
            }
            Request::LeaseGrant { id, ttl_s } => {
                let r = stubs.lease.lease_grant(traced(LeaseGrantRequest { ttl: *ttl_s, id: id.0 }, trace)).await?.into_inner();
                if !r.error.is_empty() {
                    // etcd never fills this field; if a server does, nobody knows what happened.
                    return Err(Status::unknown(format!("lease grant answered with error {:?}", r.error)));
                }
                wire::lease_grant_response(&r)
            }
            Request::LeaseRevoke { id } => {
                wire::lease_revoke_response(stubs.lease.lease_revoke(traced(LeaseRevokeRequest { id: id.0 }, trace)).await?.get_ref())
            }
            Request::LeaseExpire { .. } => unreachable!("clients do not send lease expiry"),
        })
    }

    /// Opens a watch, records what arrives for `open_for` (at most [`WATCH_EVENTS_MAX`] events),
    /// and closes it. Its outcome only says whether the stream worked: watches do not change
    /// the store, so they are not in the linearizability history.
    async fn watch(&mut self, keys: KeySet, start_revision: i64, open_for: Duration) -> WatchRecord {
        let opened = self.now();
        let close_at = opened + open_for;
        let mut record = WatchRecord {
            keys: keys.clone(),
            start_revision,
            opened,
            closed: opened,
            created_revision: None,
            events: Vec::new(),
            bookmarks: Vec::new(),
            end: String::new(),
            outcome: OutcomeClass::Info,
        };
        // The request stream stays open (`progress` is held until the watch closes) after the
        // create request: in etcd a client that closes its sending side ends the watch stream.
        // Halfway through, the client asks for a bookmark (a progress request).
        let (progress, asks) = tokio::sync::mpsc::channel(1);
        let requests = tokio_stream::iter([wire::watch_create(&keys, start_revision)]).chain(tokio_stream::wrappers::ReceiverStream::new(asks));
        let mut ask_at = Some(opened + open_for / 2);
        let member = self.member;
        let started = madsim::time::timeout(self.cfg.timeout, self.stubs[member].watch.watch(requests)).await;
        let mut stream = match started {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => {
                let c = wire::classify(&status);
                if c.fail_over {
                    self.fail_over();
                }
                (record.end, record.outcome) = match c.outcome {
                    StepOutcome::Fail(why) => (why, OutcomeClass::Fail),
                    StepOutcome::Info(why) => (why, OutcomeClass::Info),
                    StepOutcome::Ok(r) => (format!("refused: {r:?}"), OutcomeClass::Fail),
                };
                record.closed = self.now();
                return record;
            }
            Err(_) => {
                self.fail_over();
                record.end = format!("no answer within {} ms", self.cfg.timeout.as_millis());
                record.closed = self.now();
                return record;
            }
        };
        loop {
            let left = ask_at.unwrap_or(close_at).min(close_at).saturating_sub(self.now());
            let next = madsim::time::timeout(left, stream.message()).await;
            let now = self.now();
            match next {
                Err(_) if ask_at.is_some_and(|t| now >= t && now < close_at) => {
                    ask_at = None;
                    let _ = progress.try_send(wire::watch_progress());
                }
                Err(_) => {
                    (record.end, record.outcome) = ("closed by the client after its time".into(), OutcomeClass::Ok);
                    break;
                }
                Ok(Ok(Some(response))) => {
                    if let Some(end) = self.receive(&mut record, response, now) {
                        record.end = end;
                        record.outcome = OutcomeClass::Ok;
                        break;
                    }
                }
                Ok(Ok(None)) => {
                    record.end = "the server closed the stream".into();
                    break;
                }
                Ok(Err(status)) => {
                    if wire::classify(&status).fail_over {
                        self.fail_over();
                    }
                    record.end = format!("{:?}: {}", status.code(), status.message());
                    break;
                }
            }
        }
        record.closed = self.now();
        record
    }

    /// Records one watch response; `Some(why)` when the watch is over.
    fn receive(&mut self, record: &mut WatchRecord, response: WatchResponse, now: Duration) -> Option<String> {
        let header_revision = wire::revision(&response.header).0;
        if response.created {
            record.created_revision = Some(header_revision);
        } else if response.events.is_empty() && !response.canceled {
            // A progress notification: everything up to `header_revision` has been sent.
            record.bookmarks.push(Bookmark { received: now, revision: header_revision, events_before: record.events.len() });
        }
        for event in &response.events {
            if record.events.len() == WATCH_EVENTS_MAX {
                return Some(format!("closed by the client after {WATCH_EVENTS_MAX} events"));
            }
            let kind = if event.r#type == EventType::Delete as i32 { WatchEventKind::Delete } else { WatchEventKind::Put };
            let kv = event.kv.as_ref().map(wire::kv).unwrap_or_else(|| wire::kv(&Default::default()));
            record.events.push(WatchEvent { received: now, header_revision, kind, kv, prev_kv: event.prev_kv.as_ref().map(wire::kv) });
        }
        response.canceled.then(|| {
            format!("canceled by the server: {:?} (compact revision {})", response.cancel_reason, response.compact_revision)
        })
    }
}
