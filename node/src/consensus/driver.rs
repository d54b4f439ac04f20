//! The Raft driver: the one task that owns raft-rs's `RawNode` and does its I/O.
//!
//! raft-rs does no I/O; it returns everything it wants done in a `Ready`. The driver's loop:
//!
//! ```text
//!   wait for: shutdown | tick (clock seam) | client command | peer message
//!   feed it to RawNode (tick / propose / read_index / step)
//!   handle the Ready:  leader's sends  ->  persist  ->  (disk time)  ->  sends that need it durable
//!                      ->  apply  ->  advance  ->  snapshot?
//! ```
//!
//! Client requests arrive as [`Command`]s with a reply channel. A write is proposed with a unique
//! request ID and answered when the entry carrying that ID is applied, at whatever index it lands
//! (see `state/request.rs`). A linearizable read asks raft-rs for a ReadIndex and is answered once this
//! node has applied up to that index.
//!
//! Snapshots: after applying, the driver asks the log store whether it wants a snapshot
//! ([`LogStore::wants_snapshot`]); if so it hands it the state machine's bytes at its applied
//! index, and the store compacts. A leader whose follower needs entries it no longer holds sends
//! its newest snapshot (raft-rs asks the store); the follower's driver saves it durably with the
//! rest of the Ready, and restores its state machine from it before applying what follows. A
//! snapshot message can be lost like any other, but raft-rs does not re-send one by itself: when a
//! follower is still waiting for its snapshot [`SNAPSHOT_RETRY_TICKS`] after it was sent, the
//! driver reports the send as failed, and raft-rs sends a fresh one.
//!
//! Randomness: raft-rs draws election timeouts from `rand::thread_rng`, which is not deterministic
//! under madsim (STACK.md). After every event that may have changed term, role or leader, the driver
//! overrides the timeout with one drawn from the node's own seeded RNG, so one seed fixes every
//! election.

use crate::bugs::{Bug, Bugs};
use crate::clock::Clock;
use crate::feed::FeedRx;
use crate::metrics::Metrics;
use crate::config::{Limits, RaftTiming};
use crate::error::ApiError;
use crate::events::{EntryOutcome, EventSink, NodeEvent, NodeStatus, Role};
use crate::state::auth::Caller;
use crate::state::request::{Applied, Op, ReplicatedRequest, RequestIds};
use crate::state::{RestoreError, StateMachine};
use crate::durable::log_store::{LogStore, StorageError};
use crate::consensus::peer_guard::{self, Refusals};
use crate::consensus::transport::Transport;
use crate::trace_context::TraceId;
use crate::types::{Index, MemberId, Term};
use prost::Message as _;
use raft::prelude::{Entry, EntryType, Message, MessageType, Snapshot};
use raft::{ProgressState, RawNode, ReadState, SnapshotStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

/// How many queued commands or peer messages one loop iteration takes before it handles the Ready:
/// bounds the work between two Readies, and lets many proposals share one persist (group commit).
pub const BATCH_MAX: usize = 256;
/// A read whose ReadIndex has not come back after this many ticks is asked again: raft-rs drops
/// ReadIndex requests silently when the leader has not yet committed in its term, or is unknown.
const READ_RETRY_TICKS: u64 = 10;
/// Every this many ticks, forget waiters whose client has gone away.
const PRUNE_TICKS: u64 = 100;
/// A follower still waiting for a snapshot this many ticks after it was sent gets a fresh one
/// (module doc). Longer than any transfer in simulation; a real transfer that takes longer only
/// costs a second copy.
pub const SNAPSHOT_RETRY_TICKS: u64 = 300;

pub type ProposeReply = oneshot::Sender<Result<Applied, ApiError>>;
pub type ReadReply = oneshot::Sender<Result<(), ApiError>>;

/// A client request for the driver.
pub enum Command {
    /// Replicate and apply `op`; the reply carries its result. `trace`: the client call's trace.
    /// `caller`: who the client is (checked against the auth store when the entry is applied).
    Propose { op: Op, trace: Option<TraceId>, caller: Option<Caller>, reply: ProposeReply },
    /// Reply once this node has applied everything committed before the request arrived at the leader.
    ReadIndex { reply: ReadReply },
}

/// Why a driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("storage failed, stopping the node rather than continue with a log it cannot trust: {0}")]
    Storage(#[from] StorageError),
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error("cannot restore the snapshot received from the leader: {0}")]
    Restore(#[from] RestoreError),
    /// A committed entry that cannot be applied: applying it differently from the other members,
    /// or skipping it, would make this member's state diverge, so it stops instead, at every start,
    /// until an operator replaces its data. Entries are checked before they are proposed and when
    /// they arrive from a peer (`peer_guard`), so only a bug or tampering gets one this far.
    #[error("committed entry {index} cannot be applied: {why}; stopping rather than diverge from the other members")]
    BadEntry { index: Index, why: String },
}

struct PendingRead {
    reply: ReadReply,
    asked_at_tick: u64,
}

pub struct Driver<S: LogStore> {
    id: MemberId,
    raw: RawNode<S>,
    rng: StdRng,
    timing: RaftTiming,
    limits: Limits,
    clock: Clock,
    state: Arc<Mutex<StateMachine>>,
    transport: Transport,
    events: EventSink,
    status_tx: watch::Sender<NodeStatus>,
    request_ids: RequestIds,
    /// Proposals waiting for their entry to be applied, by request ID.
    proposals: BTreeMap<u64, ProposeReply>,
    /// Reads waiting for their ReadIndex, by read ID (the ReadIndex context).
    reads_asked: BTreeMap<u64, PendingRead>,
    /// Reads whose ReadIndex is known, waiting for this node to apply up to it.
    reads_ready: Vec<(Index, ReadReply)>,
    next_read_id: u64,
    ticks: u64,
    /// Followers sent a snapshot, with the tick it was sent at (see the module doc).
    snapshots_sent: BTreeMap<u64, u64>,
    last_seen: (Term, Role, Option<MemberId>),
    /// Injected bugs (simulation only, see `crate::bugs`).
    bugs: Bugs,
    /// The term in which this node last led (for the `serve-after-step-down` bug only).
    led_in: Option<Term>,
    /// While leading: the index of the first entry of this term (`NodeStatus::term_start`).
    term_start: Option<Index>,
    /// The cluster's voters (static in this build), for vetting peer messages.
    voters: BTreeSet<u64>,
    /// Peer messages refused, by reason (`peer_guard`).
    refusals: Arc<Refusals>,
    /// Test hook (`NodeConfig::panic_after_applied`).
    panic_after_applied: Option<u64>,
    metrics: Arc<Metrics>,
}

impl<S: LogStore> Driver<S> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: MemberId,
        store: S,
        timing: RaftTiming,
        limits: Limits,
        seed: u64,
        clock: Clock,
        state: Arc<Mutex<StateMachine>>,
        transport: Transport,
        events: EventSink,
        status_tx: watch::Sender<NodeStatus>,
        bugs: Bugs,
        refusals: Arc<Refusals>,
        ids_from_ms: u64,
        panic_after_applied: Option<u64>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, DriverError> {
        assert!(timing.election_ticks_min < timing.election_ticks_max);
        assert!(timing.heartbeat_ticks < timing.election_ticks_min, "heartbeat must be shorter than the election timeout");
        let applied = state.lock().expect("state lock").applied().0;
        let cfg = raft::Config {
            id: id.0,
            election_tick: timing.election_ticks_min,
            min_election_tick: timing.election_ticks_min,
            max_election_tick: timing.election_ticks_max,
            heartbeat_tick: timing.heartbeat_ticks,
            applied,
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            // BUG lease-read-under-skew: the leader answers ReadIndex from its lease (clock-based).
            read_only_option: if bugs.has(Bug::LeaseReadUnderSkew) { raft::ReadOnlyOption::LeaseBased } else { raft::ReadOnlyOption::Safe },
            ..Default::default()
        };
        cfg.validate()?;
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let raw = RawNode::new(&cfg, store, &logger)?;
        let voters: BTreeSet<u64> = raw.raft.prs().conf().voters().ids().iter().collect();
        let request_ids = RequestIds::new(id.0, ids_from_ms);
        let mut driver = Driver {
            id,
            raw,
            rng: StdRng::seed_from_u64(seed),
            timing,
            limits,
            clock,
            state,
            transport,
            events,
            status_tx,
            request_ids,
            proposals: BTreeMap::new(),
            reads_asked: BTreeMap::new(),
            reads_ready: Vec::new(),
            next_read_id: 1,
            ticks: 0,
            snapshots_sent: BTreeMap::new(),
            last_seen: (Term(0), Role::Follower, None),
            bugs,
            led_in: None,
            term_start: None,
            voters,
            refusals,
            panic_after_applied,
            metrics,
        };
        driver.randomize_election_timeout();
        driver.observe();
        Ok(driver)
    }

    /// Runs until `shutdown` flips or storage fails.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut peer_messages: mpsc::Receiver<Message>,
        mut shutdown: FeedRx<bool>,
    ) -> Result<(), DriverError> {
        let mut next_tick = self.clock.deadline_after(self.timing.tick);
        loop {
            // `biased`: a fixed branch order keeps runs deterministic under madsim (STACK.md).
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    self.fail_all(ApiError::Stopped);
                    return Ok(());
                }
                _ = tokio::time::sleep_until(next_tick) => {
                    next_tick = self.clock.deadline_after(self.timing.tick);
                    self.tick();
                }
                Some(cmd) = commands.recv() => {
                    self.command(cmd);
                    for _ in 1..BATCH_MAX {
                        match commands.try_recv() { Ok(cmd) => self.command(cmd), Err(_) => break }
                    }
                }
                Some(msg) = peer_messages.recv() => {
                    self.step(msg);
                    for _ in 1..BATCH_MAX {
                        match peer_messages.try_recv() { Ok(msg) => self.step(msg), Err(_) => break }
                    }
                }
            }
            if let Err(e) = self.handle_ready().await {
                (self.events)(&NodeEvent::Stopped { id: self.id, reason: e.to_string() });
                self.fail_all(ApiError::Stopped);
                return Err(e);
            }
        }
    }

    fn tick(&mut self) {
        self.ticks += 1;
        self.raw.tick();
        self.observe();
        if self.ticks % READ_RETRY_TICKS == 0 {
            self.retry_reads();
        }
        if self.ticks % PRUNE_TICKS == 0 {
            self.proposals.retain(|_, reply| !reply.is_closed());
            self.reads_asked.retain(|_, r| !r.reply.is_closed());
        }
        self.retry_snapshots();
    }

    /// Reports snapshots that got no answer in time as failed, so that raft-rs sends new ones.
    fn retry_snapshots(&mut self) {
        let now = self.ticks;
        let overdue: Vec<u64> =
            self.snapshots_sent.iter().filter(|(_, at)| now - **at >= SNAPSHOT_RETRY_TICKS).map(|(to, _)| *to).collect();
        for to in overdue {
            self.snapshots_sent.remove(&to);
            let waiting = self.raw.raft.prs().get(to).is_some_and(|pr| pr.state == ProgressState::Snapshot);
            if waiting {
                tracing::debug!(member = %self.id, to, "snapshot not acknowledged in time; sending a new one");
                self.raw.report_snapshot(to, SnapshotStatus::Failure);
            }
        }
    }

    /// Hands messages to the transport, noting snapshots (see `retry_snapshots`).
    fn send(&mut self, msgs: Vec<Message>) {
        for m in msgs.iter().filter(|m| m.get_msg_type() == MessageType::MsgSnapshot) {
            self.snapshots_sent.insert(m.to, self.ticks);
            let index = Index(m.get_snapshot().get_metadata().index);
            (self.events)(&NodeEvent::SnapshotSent { id: self.id, to: MemberId(m.to), index });
        }
        self.transport.send(msgs);
    }

    /// Steps a message from a peer, if it passes `peer_guard`'s checks.
    fn step(&mut self, msg: Message) {
        let log = &self.raw.raft.raft_log;
        let view = peer_guard::View {
            me: self.id.0,
            voters: &self.voters,
            term: self.raw.raft.term,
            leader: self.raw.raft.leader_id,
            last_index: log.last_index(),
        };
        if let Err(why) = peer_guard::vet(&msg, msg.from, &view) {
            self.refusals.count(why, self.id);
            (self.events)(&NodeEvent::PeerMessageRefused { id: self.id, from: MemberId(msg.from), reason: why.as_str() });
            return;
        }
        // What raft-rs still refuses (a response from a member it has no progress for) is not ours
        // to act on.
        if let Err(e) = self.raw.step(msg) {
            tracing::debug!(member = %self.id, error = %e, "raft step rejected a peer message");
        }
        self.observe();
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Propose { op, trace, caller, reply } => self.propose(op, trace, caller, reply),
            Command::ReadIndex { reply } => self.read_index(reply),
        }
    }

    fn propose(&mut self, op: Op, trace: Option<TraceId>, caller: Option<Caller>, reply: ProposeReply) {
        let id = self.request_ids.next_id();
        let trace = trace.map(TraceId::to_bytes).unwrap_or_default();
        let (auth_user, auth_revision) = caller.map_or((String::new(), 0), |c| (c.user, c.revision.0));
        let request = ReplicatedRequest { id, op: Some(op), trace, auth_user, auth_revision };
        if let Err(e) = crate::state::request::check(&request) {
            let _ = reply.send(Err(e));
            return;
        }
        let data = request.encode_to_vec();
        if data.len() > self.limits.max_request_bytes {
            let _ = reply.send(Err(ApiError::RequestTooLarge));
            return;
        }
        match self.raw.propose(vec![], data) {
            Ok(()) => {
                self.proposals.insert(id, reply);
            }
            Err(raft::Error::ProposalDropped) => {
                self.metrics.proposals_failed.inc();
                let _ = reply.send(Err(ApiError::NoLeader));
            }
            Err(e) => {
                tracing::warn!(member = %self.id, error = %e, "proposal refused");
                self.metrics.proposals_failed.inc();
                let _ = reply.send(Err(ApiError::NoLeader));
            }
        }
    }

    fn read_index(&mut self, reply: ReadReply) {
        if self.bugs.has(Bug::ServeAfterStepDown) && self.led_in == Some(Term(self.raw.raft.term)) {
            // BUG serve-after-step-down: "I led in this term, so no one else can have written":
            // answered from local state even after check-quorum made this node step down.
            let _ = reply.send(Ok(()));
            return;
        }
        if self.raw.raft.leader_id == raft::INVALID_ID {
            let _ = reply.send(Err(ApiError::NoLeader));
            return;
        }
        let read_id = self.next_read_id;
        self.next_read_id += 1;
        self.raw.read_index(read_id.to_be_bytes().to_vec());
        self.reads_asked.insert(read_id, PendingRead { reply, asked_at_tick: self.ticks });
    }

    fn retry_reads(&mut self) {
        let stale: Vec<u64> = self
            .reads_asked
            .iter()
            .filter(|(_, r)| self.ticks - r.asked_at_tick >= READ_RETRY_TICKS)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if self.raw.raft.leader_id == raft::INVALID_ID {
                break;
            }
            self.raw.read_index(id.to_be_bytes().to_vec());
            if let Some(r) = self.reads_asked.get_mut(&id) {
                r.asked_at_tick = self.ticks;
            }
        }
    }

    /// Draws the next election timeout from the node's seeded RNG (see the module doc).
    fn randomize_election_timeout(&mut self) {
        let t = self.rng.gen_range(self.timing.election_ticks_min..self.timing.election_ticks_max);
        self.raw.raft.set_randomized_election_timeout(t);
    }

    /// Notices term/role/leader changes: re-draws the election timeout and reports the change.
    fn observe(&mut self) {
        let r = &self.raw.raft;
        let leader = (r.leader_id != raft::INVALID_ID).then_some(MemberId(r.leader_id));
        let now = (Term(r.term), Role::from(r.state), leader);
        if now == self.last_seen {
            return;
        }
        // A node's term never goes backwards (Raft §5.1).
        assert!(now.0 >= self.last_seen.0, "term went backwards: {:?} -> {:?}", self.last_seen, now);
        if (now.0, now.1) != (self.last_seen.0, self.last_seen.1) {
            self.randomize_election_timeout();
        }
        self.metrics.observe_leader(self.last_seen.2.map(|m| m.0), now.2.map(|m| m.0), self.id.0);
        self.last_seen = now;
        if now.1 == Role::Leader {
            self.led_in = Some(now.0);
        }
        self.term_start = (now.1 == Role::Leader).then(|| self.first_index_of_term());
        (self.events)(&NodeEvent::RoleChanged { id: self.id, term: now.0, role: now.1, leader: now.2 });
        self.publish_status();
    }

    /// The index of the first entry of the current term in this node's log. Called when it becomes
    /// leader: raft-rs has just appended its empty entry of the term, so the scan is one step.
    fn first_index_of_term(&self) -> Index {
        let log = &self.raw.raft.raft_log;
        let term = self.raw.raft.term;
        let mut i = log.last_index();
        while i > log.first_index() && log.term(i - 1).is_ok_and(|t| t == term) {
            i -= 1;
        }
        Index(i)
    }

    fn publish_status(&self) {
        let r = &self.raw.raft;
        let applied = self.state.lock().expect("state lock").applied();
        let (term, role, leader) = self.last_seen;
        let commit = Index(r.raft_log.committed);
        self.metrics.proposals_committed.set(commit.0 as i64);
        self.metrics.proposals_applied.set(applied.0 as i64);
        self.metrics.proposals_pending.set(self.proposals.len() as i64);
        self.status_tx.send_replace(NodeStatus { id: self.id, term, role, leader, commit, applied, term_start: self.term_start });
    }

    /// Handles one Ready in the order leader sends -> persist -> (disk time) -> other sends -> apply,
    /// then saves a snapshot if the log store wants one.
    async fn handle_ready(&mut self) -> Result<(), DriverError> {
        if !self.raw.has_ready() {
            return Ok(());
        }
        let mut rd = self.raw.ready();

        // 0. A LEADER'S APPENDS LEAVE FIRST. raft-rs puts in `messages` only what a leader may send
        // before its own write is durable (Raft thesis §10.2.1): its appends and heartbeats promise
        // nothing about its disk, and a leader counts itself toward a quorum only once `advance`
        // says its entries are persisted. Sending them now lets the followers' fsyncs run while the
        // leader's does. Everything that does promise durability (votes, append answers) is in
        // `persisted_messages`, sent after step 1.
        self.send(rd.take_messages());

        // 1. PERSIST. Entries, HardState (term, vote, commit) and any snapshot must be durable before
        // any message that depends on them leaves this node: a vote granted and then forgotten in a
        // crash lets this node vote twice in one term (two leaders), and an append acknowledged but
        // lost lets a leader count a replica that does not exist and commit an entry a majority does
        // not hold (Raft thesis §3.8, §10.2.1). One `persist` covers every proposal that arrived since
        // the last Ready: group commit. A snapshot from the leader replaces the log, so it goes
        // first: the entries of this Ready follow it.
        let persist_from = self.clock.now();
        let writes = !rd.entries().is_empty() || rd.hs().is_some();
        let snapshot = (!rd.snapshot().is_empty()).then(|| rd.snapshot().clone());
        if let Some(snap) = &snapshot {
            self.raw.mut_store().apply_snapshot(snap.clone())?;
        }
        if !rd.entries().is_empty() {
            self.raw.mut_store().append(rd.entries())?;
        }
        if let Some(hs) = rd.hs() {
            self.raw.mut_store().set_hard_state(hs.clone())?;
        }
        self.raw.mut_store().persist()?;
        // A simulated disk owes the time its writes took (zero on a real disk, where that time has
        // passed already). Sleeping it off here delays exactly what a slow fsync delays: the
        // messages and the replies to clients of this Ready (see `disk`'s module doc).
        let disk_time = self.raw.mut_store().take_io_delay();
        if !disk_time.is_zero() {
            tokio::time::sleep(disk_time).await;
        }
        if writes {
            let took = self.clock.now().since(persist_from);
            Metrics::observe_duration(&self.metrics.wal_fsync, took);
            if let (Some(first), Some(last)) = (rd.entries().first(), rd.entries().last()) {
                (self.events)(&NodeEvent::Persisted { id: self.id, first: Index(first.index), last: Index(last.index), took });
            }
        }

        if self.bugs.has(Bug::ApplyUncommitted) {
            // BUG apply-uncommitted: what was just appended is applied (and acknowledged to its
            // client) at once, as if appending were committing.
            let appended = rd.entries().to_vec();
            self.apply(appended)?;
        }

        // 2. SEND what promises durability, now that it is durable.
        self.send(rd.take_persisted_messages());

        // 3. APPLY committed entries (durable on a majority, so safe to expose to clients), then
        // answer reads whose ReadIndex this node has now reached. The committed entries of a Ready
        // that carries a snapshot come after it: restore first.
        if let Some(snap) = &snapshot {
            self.restore(snap)?;
        }
        self.apply_timed(rd.take_committed_entries())?;
        self.read_states(rd.take_read_states());

        let mut light = self.raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.raw.mut_store().set_commit(commit)?;
        }
        self.send(light.take_messages());
        self.apply_timed(light.take_committed_entries())?;
        self.raw.advance_apply();
        if let Some(at) = self.panic_after_applied {
            let applied = self.state.lock().expect("state lock").applied();
            assert!(applied.0 < at, "test hook: driver of member {} panics after applying index {at}", self.id);
        }
        self.release_reads();
        self.observe();
        self.publish_status();
        self.maybe_save_snapshot()
    }

    /// Replaces the state machine with the leader's snapshot (just made durable by `persist`).
    fn restore(&mut self, snap: &Snapshot) -> Result<(), DriverError> {
        let meta = snap.get_metadata();
        let index = Index(meta.index);
        self.state.lock().expect("state lock").restore(&snap.data, index)?;
        (self.events)(&NodeEvent::SnapshotInstalled { id: self.id, index, term: Term(meta.term) });
        Ok(())
    }

    /// Saves a snapshot of the state machine at its applied index if the log store wants one.
    fn maybe_save_snapshot(&mut self) -> Result<(), DriverError> {
        let (applied, data) = {
            let state = self.state.lock().expect("state lock");
            let applied = state.applied();
            // With apply-uncommitted the state may be ahead of the log's commit; a snapshot waits.
            let ahead = self.bugs.has(Bug::ApplyUncommitted) && applied.0 > self.raw.raft.raft_log.committed;
            if ahead || !self.raw.store().wants_snapshot(applied.0) {
                return Ok(());
            }
            (applied, state.snapshot())
        };
        let save_from = self.clock.now();
        self.raw.mut_store().save_snapshot(applied.0, data)?;
        Metrics::observe_duration(&self.metrics.snapshot_save, self.clock.now().since(save_from));
        (self.events)(&NodeEvent::SnapshotSaved { id: self.id, index: applied });
        Ok(())
    }

    /// [`Driver::apply`], its time recorded as etcd's backend commit time (detcd's store is in
    /// memory: applying a batch is what stands in for etcd's bolt commit).
    fn apply_timed(&mut self, entries: Vec<Entry>) -> Result<(), DriverError> {
        if entries.is_empty() {
            return Ok(());
        }
        let from = self.clock.now();
        self.apply(entries)?;
        Metrics::observe_duration(&self.metrics.backend_commit, self.clock.now().since(from));
        Ok(())
    }

    /// Applies committed entries in order. An entry that cannot be applied stops the member
    /// (`DriverError::BadEntry`): nothing here panics on replicated data.
    fn apply(&mut self, entries: Vec<Entry>) -> Result<(), DriverError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut state = self.state.lock().expect("state lock");
        for entry in entries {
            if self.bugs.has(Bug::ApplyUncommitted) && entry.index != state.applied().0 + 1 {
                // With apply-uncommitted, appended entries were applied already (or lie past a gap).
                continue;
            }
            let index = Index(entry.index);
            let term = Term(entry.term);
            let digest = crate::events::entry_digest(&entry.data);
            match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => {
                    (self.events)(&NodeEvent::Applied { id: self.id, index, term, digest, trace: None, outcome: None });
                    state.apply_empty(index)
                }
                EntryType::EntryNormal => {
                    let req = ReplicatedRequest::decode(entry.data.as_ref())
                        .map_err(|e| DriverError::BadEntry { index, why: format!("it does not decode: {e}") })?;
                    crate::state::request::check(&req).map_err(|e| DriverError::BadEntry { index, why: e.to_string() })?;
                    let id = req.id;
                    let trace = TraceId::from_bytes(&req.trace);
                    let lease_end = match &req.op {
                        Some(Op::LeaseRevoke(r)) => Some((r.id, false)),
                        Some(Op::LeaseExpire(r)) => Some((r.id, true)),
                        _ => None,
                    };
                    let result = state.apply(index, req);
                    let outcome = match &result {
                        Ok(applied) => EntryOutcome::Ok { revision: applied.revision() },
                        Err(e) => EntryOutcome::Error { message: e.to_string() },
                    };
                    (self.events)(&NodeEvent::Applied { id: self.id, index, term, digest, trace, outcome: Some(outcome) });
                    if matches!(result, Ok(Applied::LeaseGrant(_))) {
                        self.metrics.lease_granted.inc();
                    }
                    if let (Some((lease, expired)), Ok(Applied::LeaseRevoke(r))) = (lease_end, &result) {
                        self.metrics.lease_revoked.inc();
                        let revision = r.header.as_ref().map_or(0, |h| h.revision);
                        (self.events)(&NodeEvent::LeaseEnded { id: self.id, lease, revision, expired, request: id });
                    }
                    if let Some(reply) = self.proposals.remove(&id) {
                        let _ = reply.send(result);
                    }
                }
                // Membership is static in this build (no member add/remove), so none are proposed.
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    return Err(DriverError::BadEntry { index, why: "it is a membership change, which this build does not support".into() });
                }
            }
        }
        Ok(())
    }

    fn read_states(&mut self, states: Vec<ReadState>) {
        for rs in states {
            let Ok(bytes) = <[u8; 8]>::try_from(rs.request_ctx.as_slice()) else { continue };
            if let Some(pending) = self.reads_asked.remove(&u64::from_be_bytes(bytes)) {
                self.reads_ready.push((Index(rs.index), pending.reply));
            }
        }
    }

    fn release_reads(&mut self) {
        if self.reads_ready.is_empty() {
            return;
        }
        let applied = self.state.lock().expect("state lock").applied();
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads_ready).into_iter().partition(|(i, _)| *i <= applied);
        self.reads_ready = later;
        for (_, reply) in now {
            let _ = reply.send(Ok(()));
        }
    }

    fn fail_all(&mut self, err: ApiError) {
        self.metrics.proposals_failed.inc_by(self.proposals.len() as u64);
        for (_, reply) in std::mem::take(&mut self.proposals) {
            let _ = reply.send(Err(err.clone()));
        }
        for (_, r) in std::mem::take(&mut self.reads_asked) {
            let _ = r.reply.send(Err(err.clone()));
        }
        for (_, reply) in std::mem::take(&mut self.reads_ready) {
            let _ = reply.send(Err(err.clone()));
        }
    }
}
