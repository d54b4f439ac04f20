//! The network seam between members: Raft messages over gRPC, one long-lived stream of batches
//! from each member to each other member (`detcd.peer.Peer/Stream`; `Send` takes one batch).
//!
//! raft-rs messages are rust-protobuf types, not prost ones, so each travels as opaque bytes
//! (`write_to_bytes` / `parse_from_bytes`) inside our own `MessageBatch` (STACK.md).
//!
//! The receiving side trusts no one: a batch must carry this cluster's ID and come from one of its
//! voters, stay within the size limits, and every message in it passes `peer_guard` in the driver.
//! A refused batch gets an error that names nothing about this member.
//!
//! Delivery contract, which is all Raft asks of a network: messages may be lost, delayed, duplicated
//! or reordered across batches; they are never corrupted (gRPC and TCP checksum them). So the sender
//! never blocks the driver: each peer has a bounded queue, and when it is full (peer down or slow)
//! new messages are dropped; Raft retransmits what matters.
//!
//! The receiver acknowledges every batch it accepts. A stream whose oldest unacknowledged batch
//! is older than [`PEER_RPC_TIMEOUT`] (plus time for its size) is abandoned: the peer is paused, cut
//! off, or restarted behind a connection that never reset (the simulated network does not reset
//! one). Its batch is dropped, and the next batch opens a new connection and stream.

use crate::pb::peer::peer_client::PeerClient;
use crate::pb::peer::peer_server::Peer;
use crate::pb::peer::{BootstrappedQuery, BootstrappedReply, MessageBatch, SendAck, StreamAck};
use crate::consensus::peer_guard::{Refusal, Refusals};
use crate::types::{ClusterId, MemberId};
use protobuf::Message as _;
use raft::prelude::Message;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use crate::feed::{Feed, FeedRx};
use crate::metrics::Metrics;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::Stream;
use tonic::transport::Endpoint;

/// Messages queued for one peer at most; more are dropped (see the module doc).
pub const PEER_QUEUE_MAX: usize = 4096;
/// Messages in one `Send` call at most.
pub const BATCH_MESSAGES_MAX: usize = 512;
/// A sender stops adding messages to a batch once it holds this many bytes (one message may take
/// it past: a snapshot travels whole).
pub const BATCH_BYTES_SOFT_MAX: usize = 4 << 20;
/// Concurrent `Send` calls one connection may have open; an honest sender has one.
pub const STREAMS_PER_CONNECTION_MAX: u32 = 4;
/// How long one dial or one `Send` may take before the peer counts as unreachable for that batch.
const PEER_RPC_TIMEOUT: Duration = Duration::from_secs(1);
/// The slowest transfer rate a peer link is expected to sustain: a batch of `b` bytes may take
/// `PEER_RPC_TIMEOUT + b / PEER_BYTES_PER_S_MIN` (a snapshot of the whole store is one batch).
const PEER_BYTES_PER_S_MIN: f64 = 8.0 * 1024.0 * 1024.0;

/// Outgoing side: one sender task per peer.
#[derive(Clone)]
pub struct Transport {
    peers: BTreeMap<u64, mpsc::Sender<Message>>,
}

impl Transport {
    /// Starts one sender task per peer (`peers` excludes this member).
    pub fn start(from: MemberId, cluster: ClusterId, peers: BTreeMap<MemberId, String>, metrics: Arc<Metrics>) -> Transport {
        let mut senders = BTreeMap::new();
        for (id, url) in peers {
            let (tx, rx) = mpsc::channel(PEER_QUEUE_MAX);
            tokio::spawn(peer_sender(from, cluster, id, url, rx, metrics.clone()));
            senders.insert(id.0, tx);
        }
        Transport { peers: senders }
    }

    /// Queues messages for their peers without waiting. A full queue drops the message.
    pub fn send(&self, msgs: Vec<Message>) {
        for m in msgs {
            match self.peers.get(&m.to) {
                Some(tx) => {
                    if tx.try_send(m).is_err() {
                        tracing::trace!("peer queue full or closed, message dropped");
                    }
                }
                None => tracing::warn!(to = m.to, "message for an unknown member dropped"),
            }
        }
    }
}

async fn peer_sender(from: MemberId, cluster: ClusterId, to: MemberId, url: String, mut rx: mpsc::Receiver<Message>, metrics: Arc<Metrics>) {
    // This peer's counters, looked up once (a family lookup hashes the labels).
    let to_label = Metrics::peer("To", to.0);
    let (sent_bytes, sent_failures, rtt) = (
        metrics.peer_sent_bytes.get_or_create_owned(&to_label),
        metrics.peer_sent_failures.get_or_create_owned(&to_label),
        metrics.peer_rtt.get_or_create_owned(&to_label),
    );
    let endpoint = match Endpoint::from_shared(url.clone()) {
        Ok(e) => e.connect_timeout(PEER_RPC_TIMEOUT),
        Err(e) => {
            tracing::error!(peer = %to, %url, error = %e, "bad peer URL; nothing will be sent to this peer");
            return;
        }
    };
    let mut link: Option<Link> = None;
    while let Some(first) = rx.recv().await {
        let mut messages: Vec<Vec<u8>> = vec![first.write_to_bytes().expect("raft message encodes")];
        let mut bytes: usize = messages[0].len();
        while messages.len() < BATCH_MESSAGES_MAX && bytes < BATCH_BYTES_SOFT_MAX {
            match rx.try_recv() {
                Ok(m) => {
                    let b = m.write_to_bytes().expect("raft message encodes");
                    bytes += b.len();
                    messages.push(b);
                }
                Err(_) => break,
            }
        }
        if link.is_none() {
            link = Link::open(&endpoint, to, rtt.clone()).await;
        }
        let Some(l) = link.as_mut() else {
            sent_failures.inc();
            continue;
        };
        // A large batch (a snapshot) gets time in proportion to its size on top of the base.
        let patience = PEER_RPC_TIMEOUT + Duration::from_secs_f64(bytes as f64 / PEER_BYTES_PER_S_MIN);
        let batch = MessageBatch { from: from.0, to: to.0, messages, cluster_id: cluster.0 };
        if l.send(batch, patience).await {
            sent_bytes.inc_by(bytes as u64);
        } else {
            sent_failures.inc();
            tracing::debug!(peer = %to, "stream ended or stalled, batch dropped; reconnecting next time");
            link = None;
        }
    }
}

/// Batches sent on one stream and not yet acknowledged, at most: the sender waits for an
/// acknowledgement (and, past the oldest batch's deadline, gives up on the stream).
const LINK_BATCHES_MAX: usize = 8;

/// One open `Stream` call to a peer. The call runs in its own task: batches go to it through
/// `batches`, the peer's acknowledgements come back through `acked` (and remove the batches they
/// cover from `unacked`). The call ends (closing both) when it fails or the peer ends it.
struct Link {
    batches: mpsc::Sender<MessageBatch>,
    acked: FeedRx<u64>,
    sent: u64,
    unacked: Arc<std::sync::Mutex<VecDeque<Unacked>>>,
    call: tokio::task::JoinHandle<()>,
}

/// A batch sent on a link and not yet acknowledged.
struct Unacked {
    /// Its sequence number on the link (the first batch is 1).
    seq: u64,
    /// When it was handed to the stream (for the round-trip metric).
    handed: Instant,
    /// When the link gives up on it.
    deadline: Instant,
}

impl Link {
    async fn open(endpoint: &Endpoint, to: MemberId, rtt: prometheus_client::metrics::histogram::Histogram) -> Option<Link> {
        let channel = match endpoint.connect().await {
            Ok(ch) => ch,
            Err(e) => {
                tracing::debug!(peer = %to, error = %e, "peer unreachable, batch dropped");
                return None;
            }
        };
        let (batches, queued) = mpsc::channel(LINK_BATCHES_MAX);
        // A `Feed` as every signal between tasks here (see `crate::feed`).
        let ack = Feed::new(0u64);
        let acked = ack.subscribe();
        let unacked: Arc<std::sync::Mutex<VecDeque<Unacked>>> = Arc::default();
        let pending = unacked.clone();
        let call = tokio::spawn(async move {
            let mut client = PeerClient::new(channel);
            match client.stream(tokio_stream::wrappers::ReceiverStream::new(queued)).await {
                Ok(response) => {
                    let mut acks = response.into_inner();
                    while let Ok(Some(a)) = acks.message().await {
                        // The batches this ack covers are done; the round trip of the newest is
                        // etcd's peer RTT.
                        let newest = {
                            let mut p = pending.lock().expect("unacked lock");
                            let mut newest = None;
                            while p.front().is_some_and(|b| b.seq <= a.batches) {
                                newest = p.pop_front().map(|b| b.handed);
                            }
                            newest
                        };
                        if let Some(t) = newest {
                            Metrics::observe_duration(&rtt, t.elapsed());
                        }
                        ack.send_replace(a.batches);
                    }
                }
                Err(e) => tracing::debug!(peer = %to, error = %e, "peer stream refused"),
            }
        });
        Some(Link { batches, acked, sent: 0, unacked, call })
    }

    /// Sends one batch, to be acknowledged within `patience`. `false` when the stream has ended,
    /// or has not acknowledged a batch by its deadline (a peer paused, cut off or restarted
    /// behind a connection that never reset): the batch is dropped and the link is done.
    async fn send(&mut self, batch: MessageBatch, patience: Duration) -> bool {
        let full = {
            let u = self.unacked.lock().expect("unacked lock");
            (u.len() >= LINK_BATCHES_MAX).then(|| (u[0].seq, u[0].deadline))
        };
        if let Some((oldest, deadline)) = full {
            let wait = deadline.saturating_duration_since(Instant::now());
            let moved = matches!(tokio::time::timeout(wait, self.acked.wait_for(|n| *n >= oldest)).await, Ok(Ok(_)));
            if !moved {
                return false;
            }
        }
        let now = Instant::now();
        let mut u = self.unacked.lock().expect("unacked lock");
        if u.front().is_some_and(|b| b.deadline < now) || self.batches.try_send(batch).is_err() {
            return false;
        }
        self.sent += 1;
        u.push_back(Unacked { seq: self.sent, handed: now, deadline: now + patience });
        true
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.call.abort();
    }
}

/// Incoming side: checks the batch, decodes its messages and hands them to the driver's bounded
/// queue (where `peer_guard` vets each one).
#[derive(Clone)]
pub struct PeerService {
    pub me: MemberId,
    pub cluster: ClusterId,
    pub voters: BTreeSet<u64>,
    pub to_driver: mpsc::Sender<Message>,
    pub refusals: Arc<Refusals>,
    /// Whether a member has published itself (it has run before).
    pub published: Published,
    /// Flips when the member stops: open streams end then, before the server shuts down.
    pub shutdown: FeedRx<bool>,
    pub received: Arc<PeerReceived>,
}

/// The received-bytes and received-failures counters of each voter, and of `unknown` senders,
/// looked up once (a family lookup per batch would hash the labels each time).
pub struct PeerReceived {
    by_sender: BTreeMap<u64, (Counter, Counter)>,
    unknown: (Counter, Counter),
}

impl PeerReceived {
    pub fn new(metrics: &Metrics, voters: &BTreeSet<u64>) -> PeerReceived {
        let pair = |from: String| {
            let labels = vec![("From", from)];
            (metrics.peer_received_bytes.get_or_create_owned(&labels), metrics.peer_received_failures.get_or_create_owned(&labels))
        };
        PeerReceived { by_sender: voters.iter().map(|v| (*v, pair(format!("{v:x}")))).collect(), unknown: pair("unknown".into()) }
    }
}

/// Answers whether a member has published its attributes, from this member's state.
pub type Published = Arc<dyn Fn(MemberId) -> bool + Send + Sync>;

impl PeerService {
    fn refuse(&self, why: Refusal, status: tonic::Status) -> tonic::Status {
        self.refusals.count(why, self.me);
        status
    }

    /// Checks one batch (see the module doc) and queues its messages for the driver; the error of
    /// a refused batch names nothing about this member. Counted per sender: bytes accepted, batches
    /// refused (a sender that is not a voter counts as `unknown`, so a forger cannot grow the label
    /// set).
    fn accept(&self, batch: MessageBatch) -> Result<(), tonic::Status> {
        let (received, failures) = self.received.by_sender.get(&batch.from).unwrap_or(&self.received.unknown);
        let bytes: usize = batch.messages.iter().map(Vec::len).sum();
        let result = self.check_and_queue(batch);
        match result {
            Ok(()) => received.inc_by(bytes as u64),
            Err(_) => failures.inc(),
        };
        result
    }

    fn check_and_queue(&self, batch: MessageBatch) -> Result<(), tonic::Status> {
        // etcd answers a peer request from another cluster with "cluster ID mismatch" (HTTP 412).
        if batch.cluster_id != self.cluster.0 {
            return Err(self.refuse(Refusal::Stranger, tonic::Status::failed_precondition("cluster ID mismatch")));
        }
        if !self.voters.contains(&batch.from) || batch.from == self.me.0 {
            return Err(self.refuse(Refusal::Stranger, tonic::Status::permission_denied("sender is not a member of this cluster")));
        }
        if batch.to != self.me.0 {
            return Err(self.refuse(Refusal::Misaddressed, tonic::Status::failed_precondition("batch addressed to another member")));
        }
        if batch.messages.len() > BATCH_MESSAGES_MAX {
            return Err(self.refuse(Refusal::Undecodable, tonic::Status::invalid_argument("too many messages in one batch")));
        }
        let mut decoded = Vec::with_capacity(batch.messages.len());
        for bytes in &batch.messages {
            match Message::parse_from_bytes(bytes) {
                // Every message speaks for the batch's sender, to this member.
                Ok(m) if m.from != batch.from || m.to != self.me.0 => {
                    return Err(self.refuse(Refusal::Misaddressed, tonic::Status::invalid_argument("message not from the batch's sender")));
                }
                Ok(m) => decoded.push(m),
                Err(_) => return Err(self.refuse(Refusal::Undecodable, tonic::Status::invalid_argument("undecodable raft message"))),
            }
        }
        for msg in decoded {
            // Full queue: drop (the driver is behind; Raft retransmits).
            let _ = self.to_driver.try_send(msg);
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn send(&self, req: tonic::Request<MessageBatch>) -> Result<tonic::Response<SendAck>, tonic::Status> {
        self.accept(req.into_inner())?;
        Ok(tonic::Response::new(SendAck {}))
    }

    type StreamStream = Pin<Box<dyn Stream<Item = Result<StreamAck, tonic::Status>> + Send + 'static>>;

    async fn stream(&self, req: tonic::Request<tonic::Streaming<MessageBatch>>) -> Result<tonic::Response<Self::StreamStream>, tonic::Status> {
        let mut batches = req.into_inner();
        let (acks, answer) = mpsc::channel(LINK_BATCHES_MAX);
        let mut service = self.clone();
        tokio::spawn(async move {
            let mut accepted = 0;
            loop {
                let batch = tokio::select! {
                    biased;
                    _ = service.shutdown.wait_for(|s| *s) => break,
                    b = batches.message() => match b {
                        Ok(Some(b)) => b,
                        _ => break,
                    },
                };
                let ack = service.accept(batch).map(|()| {
                    accepted += 1;
                    StreamAck { batches: accepted }
                });
                let refused = ack.is_err();
                if acks.send(ack).await.is_err() || refused {
                    break;
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(answer))))
    }

    async fn bootstrapped(&self, req: tonic::Request<BootstrappedQuery>) -> Result<tonic::Response<BootstrappedReply>, tonic::Status> {
        let q = req.into_inner();
        if q.cluster_id != self.cluster.0 {
            return Err(self.refuse(Refusal::Stranger, tonic::Status::failed_precondition("cluster ID mismatch")));
        }
        let bootstrapped = self.voters.contains(&q.member) && (self.published)(MemberId(q.member));
        Ok(tonic::Response::new(BootstrappedReply { bootstrapped }))
    }
}

/// Asks the member at `url` whether `member` of `cluster` has run before (see the `Bootstrapped`
/// RPC). `None` if it cannot be asked (down, or not a detcd of this cluster).
pub async fn ask_bootstrapped(url: &str, member: MemberId, cluster: ClusterId) -> Option<bool> {
    let endpoint = Endpoint::from_shared(url.to_string()).ok()?.connect_timeout(PEER_RPC_TIMEOUT).timeout(PEER_RPC_TIMEOUT);
    let mut client = PeerClient::new(endpoint.connect().await.ok()?);
    let reply = client.bootstrapped(BootstrappedQuery { member: member.0, cluster_id: cluster.0 }).await.ok()?;
    Some(reply.into_inner().bootstrapped)
}
