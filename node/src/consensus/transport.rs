//! The network seam between members: Raft messages over gRPC (`detcd.peer.Peer/Send`).
//!
//! raft-rs messages are rust-protobuf types, not prost ones, so each travels as opaque bytes
//! (`write_to_bytes` / `parse_from_bytes`) inside our own `MessageBatch` (STACK.md).
//!
//! Delivery contract, which is all Raft asks of a network: messages may be lost, delayed, duplicated
//! or reordered across batches; they are never corrupted (gRPC and TCP checksum them). So the sender
//! never blocks the driver: each peer has a bounded queue, and when it is full (peer down or slow)
//! new messages are dropped; Raft retransmits what matters.

use crate::pb::peer::peer_client::PeerClient;
use crate::pb::peer::peer_server::Peer;
use crate::pb::peer::{MessageBatch, SendAck};
use crate::types::MemberId;
use protobuf::Message as _;
use raft::prelude::Message;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

/// Messages queued for one peer at most; more are dropped (see the module doc).
pub const PEER_QUEUE_MAX: usize = 4096;
/// Messages in one `Send` call at most.
pub const BATCH_MESSAGES_MAX: usize = 512;
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
    pub fn start(from: MemberId, peers: BTreeMap<MemberId, String>) -> Transport {
        let mut senders = BTreeMap::new();
        for (id, url) in peers {
            let (tx, rx) = mpsc::channel(PEER_QUEUE_MAX);
            tokio::spawn(peer_sender(from, id, url, rx));
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

async fn peer_sender(from: MemberId, to: MemberId, url: String, mut rx: mpsc::Receiver<Message>) {
    let endpoint = match Endpoint::from_shared(url.clone()) {
        Ok(e) => e.connect_timeout(PEER_RPC_TIMEOUT),
        Err(e) => {
            tracing::error!(peer = %to, %url, error = %e, "bad peer URL; nothing will be sent to this peer");
            return;
        }
    };
    let mut client: Option<PeerClient<Channel>> = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH_MESSAGES_MAX {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let messages: Vec<Vec<u8>> = batch
            .iter()
            .map(|m| m.write_to_bytes().expect("raft message encodes"))
            .collect();
        if client.is_none() {
            match endpoint.connect().await {
                Ok(ch) => client = Some(PeerClient::new(ch)),
                Err(e) => {
                    tracing::debug!(peer = %to, error = %e, "peer unreachable, batch dropped");
                    continue;
                }
            }
        }
        let c = client.as_mut().expect("connected above");
        let bytes: usize = messages.iter().map(Vec::len).sum();
        let mut req = tonic::Request::new(MessageBatch { from: from.0, to: to.0, messages });
        // A large batch (a snapshot) gets time in proportion to its size on top of the base.
        req.set_timeout(PEER_RPC_TIMEOUT + Duration::from_secs_f64(bytes as f64 / PEER_BYTES_PER_S_MIN));
        if let Err(e) = c.send(req).await {
            tracing::debug!(peer = %to, error = %e, "send failed, batch dropped; reconnecting next time");
            client = None;
        }
    }
}

/// Incoming side: hands decoded messages to the driver's bounded queue.
pub struct PeerService {
    me: MemberId,
    to_driver: mpsc::Sender<Message>,
}

impl PeerService {
    pub fn new(me: MemberId, to_driver: mpsc::Sender<Message>) -> PeerService {
        PeerService { me, to_driver }
    }
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn send(&self, req: tonic::Request<MessageBatch>) -> Result<tonic::Response<SendAck>, tonic::Status> {
        let batch = req.into_inner();
        if batch.to != self.me.0 {
            return Err(tonic::Status::failed_precondition(format!(
                "batch for member {:x} reached member {}",
                batch.to, self.me
            )));
        }
        for bytes in batch.messages {
            let msg = Message::parse_from_bytes(&bytes)
                .map_err(|e| tonic::Status::invalid_argument(format!("undecodable raft message: {e}")))?;
            // Full queue: drop (the driver is behind; Raft retransmits).
            let _ = self.to_driver.try_send(msg);
        }
        Ok(tonic::Response::new(SendAck {}))
    }
}
