//! The history stage: what the simulated clients saw, in simulated time.
//!
//! The workload ([`crate::workload`]) records one [`ClientOp`] per operation a client issued; each
//! holds the model requests it sent ([`Step`]s: one, or two for `put_lease`, none for `watch`)
//! with invoke and completion times since the run's start and what came back. From that:
//! - [`History::to_jsonl`] writes the checker's history format (`detcd_check::formats::ours`,
//!   model `etcd`), read back by `detcd_check::check_text` / `check_file`;
//! - [`History::watches_jsonl`], [`History::locks_jsonl`] and [`History::keepalives_jsonl`]
//!   write the watch streams, lock operations and lease renewals (which the checker's history
//!   leaves out: see `checks::watch`, `checks::lock`, `checks::lease`);
//! - [`History::stats`] counts outcomes per operation kind and draws throughput and latency
//!   over time, for the report.
//!
//! Worked example: client 0 grants lease 7 and puts `k1` with it, then times out on a read.
//!
//! ```text
//!   ClientOp { client: 0, kind: PutLease, steps: [
//!       Step { lease_grant 7, invoked 1.000s, completed 1.004s, Ok(lease_grant rev 5) },
//!       Step { put k1=c0-3 lease 7, invoked 1.004s, completed 1.009s, Ok(put rev 6) } ] }
//!   ClientOp { client: 0, kind: Get, steps: [
//!       Step { range k1, invoked 1.050s, completed 2.050s, Info("timeout") } ] }
//! ```
//!
//! becomes these events (plus the header line):
//!
//! ```text
//!   {"client":0,"kind":"invoke","time_ns":1000000000,"input":{"f":"lease_grant","id":7,"ttl_s":5}}
//!   {"client":0,"kind":"ok","time_ns":1004000000,"output":{"f":"lease_grant","revision":5}}
//!   ... put invoke/ok, range invoke, then {"client":0,"kind":"info","time_ns":2050000000}
//! ```
//!
//! and, if the event log says a member applied lease 7's expiry first at 6.2 s, at revision 8:
//!
//! ```text
//!   {"client":1000000,"kind":"invoke","time_ns":6200000000,"input":{"f":"lease_expire","id":7}}
//!   {"client":1000000,"kind":"ok","time_ns":6200000000,"output":{"f":"lease_expire","revision":8}}
//! ```
//!
//! Expiries are not something a client saw; they come from the nodes' inspection events
//! ([`History::note_expiries`]) and belong to the pseudo-client [`LEASE_EXPIRY_CLIENT`]. Each is
//! recorded as happening at the instant the first member applied it. That is sound: the expiry
//! committed before that instant, no client can observe it before some member applied it, and
//! every operation ordered before it in the cluster was invoked before it committed. A lease
//! whose expiry no member applied did not expire during the run.

use crate::scenario::OpKind;
use detcd_check::formats::ours::{event_line, header_line, Recorded};
use detcd_check::models::etcd::{Etcd, KeySet, KeyValue, LeaseId, Request, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The pseudo-client carrying the cluster's lease expiries, far above any real client.
pub const LEASE_EXPIRY_CLIENT: u64 = 1_000_000;
const _: () = assert!((crate::scenario::CLIENTS_MAX as u64) < LEASE_EXPIRY_CLIENT);
/// The first pseudo-client of resolved steps (one each: a resolved step may complete after its
/// client's next operation began).
pub const RESOLVED_CLIENT_BASE: u64 = 2_000_000;

/// A lease the cluster expired: when a member first applied the expiry, and the revision after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    pub at: Duration,
    pub lease: LeaseId,
    pub revision: i64,
}

/// How one call ended: what it answered, or why there is no answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome<T> {
    Ok(T),
    /// The call certainly had no effect; why.
    Fail(String),
    /// Nobody knows whether it took effect; why.
    Info(String),
}

impl<T> Outcome<T> {
    pub fn class(&self) -> OutcomeClass {
        match self {
            Outcome::Ok(_) => OutcomeClass::Ok,
            Outcome::Fail(_) => OutcomeClass::Fail,
            Outcome::Info(_) => OutcomeClass::Info,
        }
    }
}

/// What came back for one model request: `Ok` is a response converted to the model's form (a
/// definite refusal the model explains, such as `lease_not_found`, is an `Ok(Response::Error ..)`).
pub type StepOutcome = Outcome<Response>;

/// One model request a client sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub request: Request,
    /// Since the run's start, when the request was sent.
    pub invoked: Duration,
    /// Since the run's start, when the client saw the outcome (`invoked <= completed`).
    pub completed: Duration,
    pub outcome: StepOutcome,
    /// The W3C trace ID the request carried (`traceparent`), unique per request of a run; 0 for
    /// none. Members report it with the entry the request became, which is how history
    /// patching (`crate::patch`) finds what happened to a request whose answer was lost.
    #[serde(skip)]
    pub trace: u128,
}

/// How a whole client operation ended (its last step, or its watch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeClass {
    Ok,
    Fail,
    Info,
}

/// One operation a client issued.
///
/// Invariants (asserted by [`ClientOp::check_invariants`]):
/// - `steps` are in order and do not overlap: each is invoked after the previous completed;
/// - every step but the last is `Ok` (a client stops an operation at its first failure);
/// - a `watch` operation has no steps and a `watch` record; every other kind has steps and none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientOp {
    pub client: usize,
    pub kind: OpKind,
    /// The member (0-based) the client sent it to.
    pub member: usize,
    pub steps: Vec<Step>,
    pub watch: Option<WatchRecord>,
    pub lock: Option<LockRecord>,
    pub keepalive: Option<KeepAliveRecord>,
}

impl ClientOp {
    pub fn check_invariants(&self) {
        assert_eq!(self.kind == OpKind::Watch, self.watch.is_some(), "{self:?}");
        assert_eq!(self.kind == OpKind::Lock, self.lock.is_some(), "{self:?}");
        assert_eq!(self.kind == OpKind::LeaseKeepalive, self.keepalive.is_some(), "{self:?}");
        assert_eq!(self.kind == OpKind::LeaseKeepalive, self.steps.is_empty() && self.watch.is_none(), "{self:?}");
        assert_eq!(matches!(self.kind, OpKind::Watch | OpKind::LeaseKeepalive), self.steps.is_empty(), "{self:?}");
        for w in self.steps.windows(2) {
            assert!(matches!(w[0].outcome, StepOutcome::Ok(_)), "a step after a failed one: {self:?}");
            assert!(w[0].completed <= w[1].invoked, "overlapping steps: {self:?}");
        }
        for s in &self.steps {
            assert!(s.invoked <= s.completed, "completed before invoked: {self:?}");
        }
    }

    /// When the operation began.
    pub fn invoked(&self) -> Duration {
        if let Some(k) = &self.keepalive {
            return k.invoked;
        }
        match (&self.watch, self.steps.first()) {
            (Some(w), _) => w.opened,
            (None, Some(s)) => s.invoked,
            (None, None) => unreachable!("an operation has steps or a watch"),
        }
    }

    /// When the client was done with it.
    pub fn completed(&self) -> Duration {
        if let Some(l) = &self.lock {
            return l.closed;
        }
        if let Some(k) = &self.keepalive {
            return k.completed;
        }
        match (&self.watch, self.steps.last()) {
            (Some(w), _) => w.closed,
            (None, Some(s)) => s.completed,
            (None, None) => unreachable!("an operation has steps or a watch"),
        }
    }

    pub fn outcome(&self) -> OutcomeClass {
        if let Some(w) = &self.watch {
            return w.outcome;
        }
        if let Some(l) = &self.lock {
            return l.outcome;
        }
        if let Some(k) = &self.keepalive {
            return k.outcome.class();
        }
        self.steps.last().expect("an operation has steps, a watch or a keep-alive").outcome.class()
    }
}

/// A watch stream a client opened and what it received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WatchRecord {
    pub keys: KeySet,
    /// The revision asked to start from (0: from the current one).
    pub start_revision: i64,
    pub opened: Duration,
    pub closed: Duration,
    /// The header revision of the "created" response, if the watch was created.
    pub created_revision: Option<i64>,
    /// Events received, in order; at most the workload's bound.
    pub events: Vec<WatchEvent>,
    /// Progress notifications received (the client asks for one halfway through), in order.
    pub bookmarks: Vec<Bookmark>,
    /// Why the stream ended.
    pub end: String,
    pub outcome: OutcomeClass,
}

/// A lock a client tried to take (after granting its lease, the operation's step) and what it
/// did while holding it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockRecord {
    /// The lock's name (its keys are `name/<lease hex>`).
    pub name: String,
    pub lease: LeaseId,
    /// The `Lock` call, if the lease was granted: `Ok` with the ownership key and the revision
    /// the lock was acquired at (the response header's).
    pub acquire: Option<LockCall>,
    /// Writes of `lockdata` while holding the lock: fenced (a txn that puts only if the ownership
    /// key still exists) unless the `unfenced-lock` bug is on (a plain put).
    pub writes: Vec<Step>,
    /// The `Unlock` call, if the lock was acquired: `Ok` with the response header's revision.
    pub unlock: Option<LockCall>,
    /// When the client was done (the last call's completion).
    pub closed: Duration,
    /// `Ok` if the lock was taken and released, else how the first call that did not work ended.
    pub outcome: OutcomeClass,
}

/// One renewal of a lease (a `LeaseKeepAlive` stream with one request) and its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeepAliveRecord {
    pub lease: LeaseId,
    pub invoked: Duration,
    pub completed: Duration,
    /// `Ok` with the TTL answered (0: the lease does not exist), else why not.
    pub outcome: Outcome<Renewal>,
}

/// A keep-alive's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Renewal {
    pub ttl: i64,
}

/// One call to the lock service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockCall {
    pub invoked: Duration,
    pub completed: Duration,
    pub outcome: Outcome<LockAnswer>,
}

/// What `Lock` or `Unlock` answered: the ownership key, and the response header's revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockAnswer {
    pub key: String,
    pub revision: i64,
}

/// A progress notification: the server says every event up to `revision` has been sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bookmark {
    pub received: Duration,
    pub revision: i64,
    /// How many events the stream had delivered before it.
    pub events_before: usize,
}

/// One event of a watch stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WatchEvent {
    /// Since the run's start, when the client received it.
    pub received: Duration,
    /// The revision of the response that carried it.
    pub header_revision: i64,
    pub kind: WatchEventKind,
    /// For a delete: the key, and `mod_revision` the deletion's revision (etcd's tombstone).
    pub kv: KeyValue,
    pub prev_kv: Option<KeyValue>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchEventKind {
    Put,
    Delete,
}

/// Every operation of a run's clients, per client in issue order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// `ops[c]`: client `c`'s operations, in the order it issued them.
    pub ops: Vec<Vec<ClientOp>>,
    /// The cluster's lease expiries, by time (see the module doc).
    pub expiries: Vec<Expiry>,
    /// Steps of unknown outcome that history patching found applied (`crate::patch`), each a
    /// definite operation of its own pseudo-client from [`RESOLVED_CLIENT_BASE`] on.
    pub resolved: Vec<crate::patch::Resolved>,
}

/// Outcome counts of one operation kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

/// Throughput and latency in one time bucket, by completion time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub start: Duration,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Latency percentiles (nearest rank) of the requests (not watches) that completed `ok` here.
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
}

/// Simple numbers for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub by_kind: BTreeMap<OpKind, Counts>,
    pub bucket: Duration,
    /// Consecutive buckets from time 0 to the last completion.
    pub series: Vec<Bucket>,
}

impl History {
    pub fn new(ops: Vec<Vec<ClientOp>>) -> History {
        for (c, client_ops) in ops.iter().enumerate() {
            for w in client_ops.windows(2) {
                assert!(w[0].completed() <= w[1].invoked(), "client {c} has overlapping operations");
            }
            for op in client_ops {
                assert_eq!(op.client, c);
                op.check_invariants();
            }
        }
        History { ops, expiries: Vec::new(), resolved: Vec::new() }
    }

    /// Adds the lease expiries the members reported (the first application of each).
    pub fn note_expiries(&mut self, log: &crate::eventlog::EventLog) {
        self.expiries = log.expiries().into_iter().map(|e| Expiry { at: e.at, lease: LeaseId(e.lease), revision: e.revision }).collect();
    }

    /// Every operation, client by client.
    pub fn all(&self) -> impl Iterator<Item = &ClientOp> {
        self.ops.iter().flatten()
    }

    /// The history in the checker's format (`detcd_check::formats::ours`, model `etcd`): a
    /// header, then every step's invoke and completion, and every lease expiry (see the module
    /// doc), ordered by time, then client, then the client's own order.
    pub fn to_jsonl(&self) -> String {
        let mut events = Vec::new();
        let mut expiries = Lines { client: LEASE_EXPIRY_CLIENT, next: 0 };
        for e in &self.expiries {
            let revision = detcd_check::models::etcd::Revision(e.revision);
            expiries.push(&mut events, e.at, Recorded::Invoke(&Request::LeaseExpire { id: e.lease }));
            expiries.push(&mut events, e.at, Recorded::Ok(&Response::LeaseExpire { revision }));
        }
        for (i, r) in self.resolved.iter().enumerate() {
            let mut own = Lines { client: RESOLVED_CLIENT_BASE + i as u64, next: 0 };
            own.push(&mut events, r.invoked, Recorded::Invoke(&r.request));
            own.push(&mut events, r.applied_at, Recorded::Ok(&r.response));
        }
        for (c, client_ops) in self.ops.iter().enumerate() {
            let mut real = Lines { client: c as u64, next: 0 };
            for step in client_ops.iter().flat_map(|op| &op.steps) {
                real.push(&mut events, step.invoked, Recorded::Invoke(&step.request));
                let completion = match &step.outcome {
                    StepOutcome::Ok(response) => Recorded::Ok(response),
                    StepOutcome::Fail(_) => Recorded::Fail,
                    StepOutcome::Info(_) => Recorded::Info,
                };
                real.push(&mut events, step.completed, completion);
            }
        }
        // Per client, times never go back along its sequence, so this keeps each client's order.
        events.sort_unstable_by_key(|e| (e.time_ns, e.client, e.seq));
        let mut out = header_line::<Etcd>();
        out.push('\n');
        for EventLine { line, .. } in events {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// Every watch stream, client by client.
    pub fn watches(&self) -> impl Iterator<Item = (usize, &WatchRecord)> {
        self.all().filter_map(|op| op.watch.as_ref().map(|w| (op.client, w)))
    }

    /// The watch streams as JSON Lines: `{"client":c,"member":m,"watch":{..}}` per stream.
    pub fn watches_jsonl(&self) -> String {
        self.records_jsonl("watch", |op| op.watch.as_ref())
    }

    /// The lock operations as JSON Lines: `{"client":c,"member":m,"lock":{..}}` per operation.
    pub fn locks_jsonl(&self) -> String {
        self.records_jsonl("lock", |op| op.lock.as_ref())
    }

    /// The lease renewals as JSON Lines: `{"client":c,"member":m,"keepalive":{..}}` each.
    pub fn keepalives_jsonl(&self) -> String {
        self.records_jsonl("keepalive", |op| op.keepalive.as_ref())
    }

    fn records_jsonl<'a, R: Serialize + 'a>(&'a self, field: &str, record: impl Fn(&'a ClientOp) -> Option<&'a R>) -> String {
        let mut out = String::new();
        for op in self.all() {
            if let Some(r) = record(op) {
                let line = serde_json::json!({ "client": op.client, "member": op.member, field: r });
                out.push_str(&serde_json::to_string(&line).expect("records serialize"));
                out.push('\n');
            }
        }
        out
    }

    /// Outcome counts per kind, and per `bucket` of completion time: completions by outcome
    /// and the latency (first invoke to last completion) of those that succeeded, watches
    /// left out (a watch lasts as long as the client keeps it open).
    pub fn stats(&self, bucket: Duration) -> Stats {
        assert!(!bucket.is_zero(), "a stats bucket has a length");
        let mut by_kind: BTreeMap<OpKind, Counts> = BTreeMap::new();
        let mut series: Vec<(Bucket, Vec<Duration>)> = Vec::new();
        for op in self.all() {
            let counts = by_kind.entry(op.kind).or_default();
            let i = (nanos(op.completed()) / nanos(bucket)) as usize;
            while series.len() <= i {
                let start = bucket * series.len() as u32;
                series.push((Bucket { start, ok: 0, fail: 0, info: 0, p50: None, p99: None }, Vec::new()));
            }
            let (b, latencies) = &mut series[i];
            match op.outcome() {
                OutcomeClass::Ok => {
                    counts.ok += 1;
                    b.ok += 1;
                    if op.watch.is_none() {
                        latencies.push(op.completed() - op.invoked());
                    }
                }
                OutcomeClass::Fail => {
                    counts.fail += 1;
                    b.fail += 1;
                }
                OutcomeClass::Info => {
                    counts.info += 1;
                    b.info += 1;
                }
            }
        }
        let series = series
            .into_iter()
            .map(|(mut b, mut latencies)| {
                latencies.sort_unstable();
                b.p50 = percentile(&latencies, 50);
                b.p99 = percentile(&latencies, 99);
                b
            })
            .collect();
        Stats { by_kind, bucket, series }
    }
}

/// One line of [`History::to_jsonl`] with its sort key.
struct EventLine {
    time_ns: u64,
    client: u64,
    /// Position in its client's own order.
    seq: usize,
    line: String,
}

/// One (pseudo-)client's lines, numbered in the order it wrote them.
struct Lines {
    client: u64,
    next: usize,
}

impl Lines {
    fn push(&mut self, events: &mut Vec<EventLine>, at: Duration, event: Recorded<'_, Request, Response>) {
        let time_ns = nanos(at);
        let line = event_line::<Etcd>(self.client, time_ns, event);
        events.push(EventLine { time_ns, client: self.client, seq: self.next, line });
        self.next += 1;
    }
}

/// The nearest-rank `p`th percentile of sorted `values`.
fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).expect("a run lasts less than 584 years")
}

/// A lease id the workload never grants twice: client `c`'s `n`th lease.
pub fn lease_id(client: usize, n: u64) -> LeaseId {
    assert!(n < 1 << 32, "a client grants fewer than 2^32 leases");
    LeaseId((((client as i64) + 1) << 32) | n as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use detcd_check::linearizability::NoDeadline;
    use detcd_check::models::etcd::Revision;
    use detcd_check::{check_text, Format, ModelKind, Verdict};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn step(request: Request, invoked: u64, completed: u64, outcome: StepOutcome) -> Step {
        Step { request, invoked: ms(invoked), completed: ms(completed), outcome, trace: 0 }
    }

    fn op(client: usize, kind: OpKind, steps: Vec<Step>) -> ClientOp {
        ClientOp { client, kind, member: 0, steps, watch: None, lock: None, keepalive: None }
    }

    fn put(key: &str, value: &str, lease: Option<LeaseId>) -> Request {
        Request::Put { key: key.into(), value: value.into(), lease, prev_kv: false }
    }

    fn get(key: &str) -> Request {
        Request::Range { keys: KeySet::Key(key.into()) }
    }

    fn kv(key: &str, value: &str, rev: i64, lease: Option<LeaseId>) -> KeyValue {
        KeyValue { key: key.into(), value: value.into(), create_revision: Revision(rev), mod_revision: Revision(rev), version: 1, lease }
    }

    /// Client 0 puts with a lease; client 1 reads the key, then (later) reads it again: it may
    /// only be gone if the lease expired (or was revoked) in between.
    fn leased_history(second_read: (i64, Vec<KeyValue>)) -> History {
        let lease = lease_id(0, 0);
        let ok = StepOutcome::Ok;
        History::new(vec![
            vec![op(
                0,
                OpKind::PutLease,
                vec![
                    step(Request::LeaseGrant { id: lease, ttl_s: 2 }, 10, 20, ok(Response::LeaseGrant { revision: Revision(1) })),
                    step(put("k1", "c0-0", Some(lease)), 20, 30, ok(Response::Put { revision: Revision(2), prev_kv: None })),
                ],
            )],
            vec![
                op(1, OpKind::Get, vec![step(get("k1"), 40, 50, ok(Response::Range { revision: Revision(2), kvs: vec![kv("k1", "c0-0", 2, Some(lease))] }))]),
                op(1, OpKind::Put, vec![step(put("k2", "c1-0", None), 60, 1060, StepOutcome::Info("timeout".into()))]),
                op(1, OpKind::Get, vec![step(get("k1"), 5000, 5010, StepOutcome::Fail("connection refused".into()))]),
                op(1, OpKind::Get, vec![step(get("k1"), 5020, 5030, ok(Response::Range { revision: Revision(second_read.0), kvs: second_read.1 }))]),
            ],
        ])
    }

    fn verdict(h: &History) -> Verdict {
        check_text(&h.to_jsonl(), ModelKind::Etcd, Some(Format::Ours), &NoDeadline).expect("the history parses").verdict
    }

    fn expired(mut h: History, at_ms: u64, revision: i64) -> History {
        h.expiries.push(Expiry { at: ms(at_ms), lease: lease_id(0, 0), revision });
        h
    }

    #[test]
    fn the_checker_reads_what_the_history_writes_including_lease_expiry() {
        let gone = expired(leased_history((3, vec![])), 4000, 3);
        let text = gone.to_jsonl();
        assert!(text.starts_with("{\"detcd_history\":1,\"model\":\"etcd\"}\n"), "{text}");
        assert!(text.contains(r#"{"client":1000000,"kind":"invoke","time_ns":4000000000,"input":{"f":"lease_expire","#), "{text}");
        assert!(text.contains(r#"{"client":1000000,"kind":"ok","time_ns":4000000000,"output":{"f":"lease_expire","revision":3}}"#), "{text}");
        assert_eq!(verdict(&gone), Verdict::Ok, "the lease expired at revision 3:\n{text}");
        // Without a reported expiry nothing explains k1's disappearance.
        let unexplained = leased_history((3, vec![]));
        assert!(matches!(verdict(&unexplained), Verdict::Illegal(_)), "{}", unexplained.to_jsonl());
        // The key outlives its lease's expiry.
        let outlived = expired(leased_history((4, vec![kv("k1", "c0-0", 2, Some(lease_id(0, 0)))])), 4000, 3);
        assert!(matches!(verdict(&outlived), Verdict::Illegal(_)), "{}", outlived.to_jsonl());
        // An expiry reported after the read that already missed the key does not explain it.
        let late = expired(leased_history((3, vec![])), 6000, 3);
        assert!(matches!(verdict(&late), Verdict::Illegal(_)), "{}", late.to_jsonl());
    }

    #[test]
    fn stats_count_outcomes_per_kind_and_bucket_latencies() {
        let s = leased_history((3, vec![])).stats(ms(100));
        assert_eq!(s.by_kind[&OpKind::Get], Counts { ok: 2, fail: 1, info: 0 });
        assert_eq!(s.by_kind[&OpKind::Put], Counts { ok: 0, fail: 0, info: 1 });
        assert_eq!(s.by_kind[&OpKind::PutLease], Counts { ok: 1, fail: 0, info: 0 });
        assert_eq!(s.series.len(), 51, "0 ms .. 5030 ms in 100 ms buckets");
        let first = &s.series[0];
        assert_eq!((first.ok, first.p50, first.p99), (2, Some(ms(10)), Some(ms(20))));
        assert_eq!((s.series[10].info, s.series[50].ok, s.series[50].fail), (1, 1, 1));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!((percentile(&v, 50), percentile(&v, 99)), (Some(ms(50)), Some(ms(99))));
        assert_eq!(percentile(&v[..1], 99), Some(ms(1)));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn lease_ids_are_unique_per_client_and_positive() {
        assert_ne!(lease_id(0, 1), lease_id(1, 0));
        assert!(lease_id(0, 0).0 > 0);
        assert!(lease_id(crate::scenario::CLIENTS_MAX - 1, (1 << 32) - 1).0 > 0);
    }
}
