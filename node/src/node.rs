//! Wires one member together: state machine, Raft driver, peer transport, client gRPC services, and
//! the publish step that tells the cluster this member's name and client URLs.
//!
//! The same function starts a member in the real `detcd` binary and inside a madsim node: the only
//! things that differ are what is passed in through the seams (clock, log storage, and whether the
//! listen addresses are real sockets or simulated ones).
//!
//! A member restarting from its data directory is started with the log store opened from it and
//! the newest snapshot found there ([`Node::start_from`]): the state machine is restored from the
//! snapshot, Raft starts with `applied` at the snapshot's index, and raft-rs hands the committed
//! entries after it to the state machine again.

use crate::clock::Clock;
use crate::feed::{Feed, FeedRx};
use crate::metrics::Metrics;
use crate::config::{NodeConfig, GRPC_OVERHEAD_BYTES};
use crate::consensus::driver::{Command, Driver, DriverError};
use crate::events::{EventSink, NodeStatus, Role};
use crate::pb::etcdserverpb::cluster_server::ClusterServer;
use crate::pb::etcdserverpb::auth_server::AuthServer;
use crate::pb::etcdserverpb::kv_server::KvServer;
use crate::pb::etcdserverpb::maintenance_server::MaintenanceServer;
use crate::pb::peer::peer_server::PeerServer;
use crate::pb::etcdserverpb::lease_server::LeaseServer;
use crate::pb::etcdserverpb::watch_server::WatchServer;
use crate::pb::v3electionpb::election_server::ElectionServer;
use crate::pb::v3lockpb::lock_server::LockServer;
use crate::state::request::{MemberAttributes, Op, RequestIds};
use crate::api::etcd::{
    run_lessor, AuthService, ClusterService, ElectionService, KvService, LeaseService, LockService, MaintenanceService, Shared, WatchService,
};
use crate::state::{RestoreError, StateMachine};
use crate::durable::log_store::LogStore;
use crate::consensus::peer_guard::{Refusal, Refusals};
use crate::consensus::transport::{PeerReceived, PeerService, Published, Transport, STREAMS_PER_CONNECTION_MAX};
use crate::types::{Index, MemberId, Term};
use raft::prelude::Snapshot;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Client commands queued for the driver at most; a full queue makes clients wait (backpressure).
pub const COMMAND_QUEUE_MAX: usize = 4096;
/// Peer messages queued for the driver at most; more are dropped (Raft retransmits).
pub const PEER_INBOX_MAX: usize = 8192;
/// How long a stopping member waits for its tasks (open client streams) before it cuts them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How often an unpublished member retries publishing itself.
const PUBLISH_RETRY: Duration = Duration::from_millis(200);
/// Mixed into the node's seed for the RNG that draws token prefixes and password salts, so that
/// it does not repeat the driver's draws.
const AUTH_RNG_SALT: u64 = 0x6175_7468_5f72_6e67;
/// The largest batch of Raft messages a member accepts from a peer. A snapshot travels as one
/// message carrying the whole state machine, so this bounds the store a lagging member can be
/// caught up with.
pub const PEER_BATCH_BYTES_MAX: usize = 1 << 30;

/// Why a member could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("cannot restore the state machine from the snapshot in the data directory: {0}")]
    Restore(#[from] RestoreError),
    #[error("serving {what} on {addr}: {error}")]
    Serve { what: &'static str, addr: SocketAddr, error: String },
    #[error("the {0} task panicked; stopping the member rather than serve without it")]
    TaskDied(&'static str),
}

/// Reports a task that ends by panicking: held by the task, dropped while the panic unwinds. A
/// member whose driver (or a server) died must stop, not linger with open ports serving stale
/// reads (the `detcd` binary also exits on any panic, see its panic hook).
struct PanicWatch {
    what: &'static str,
    done: mpsc::Sender<Result<(), NodeError>>,
}

impl Drop for PanicWatch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.done.try_send(Err(NodeError::TaskDied(self.what)));
        }
    }
}

/// A running member.
pub struct Node {
    pub id: MemberId,
    status: watch::Receiver<NodeStatus>,
    shutdown: Feed<bool>,
    /// Finishes when the member stops; carries the first fatal error.
    done: mpsc::Receiver<Result<(), NodeError>>,
    tasks: Vec<JoinHandle<()>>,
    clock: Clock,
    refusals: Arc<Refusals>,
    metrics: Arc<Metrics>,
}

impl Node {
    /// Starts a member with a log store that holds no snapshot (a fresh one, or one that never
    /// compacts). Must be called inside a tokio (or madsim) runtime.
    pub fn start<S: LogStore>(cfg: NodeConfig, store: S, clock: Clock, events: EventSink) -> Result<Node, NodeError> {
        Node::start_from(cfg, store, None, clock, events)
    }

    /// Starts a member whose log store was opened from disk, with the newest snapshot found there
    /// (`None` before the first): the state machine starts from it (module doc). Must be called
    /// inside a tokio (or madsim) runtime.
    ///
    /// # Errors
    /// `Restore` if the snapshot's data cannot be restored; `Driver` if Raft refuses the log.
    pub fn start_from<S: LogStore>(
        cfg: NodeConfig,
        store: S,
        snapshot: Option<Snapshot>,
        clock: Clock,
        events: EventSink,
    ) -> Result<Node, NodeError> {
        let mut machine = StateMachine::new(&cfg.members, crate::state::lease::min_ttl_s(&cfg.timing));
        machine.tokens = crate::state::auth::tokens::SimpleTokens::new(cfg.auth.token_ttl);
        if let Some(snap) = &snapshot {
            machine.restore(&snap.data, Index(snap.get_metadata().index))?;
        }
        let applied = machine.applied();
        let state = Arc::new(Mutex::new(machine));
        let (status_tx, status_rx) = watch::channel(NodeStatus {
            id: cfg.id,
            term: Term(0),
            role: Role::Follower,
            leader: None,
            commit: applied,
            applied,
            term_start: None,
        });
        // A `Feed`, not a `watch`: its many waiters wake in a fixed order (see `crate::feed`).
        let shutdown_tx = Feed::new(false);
        let shutdown_rx = shutdown_tx.subscribe();
        let (cmd_tx, cmd_rx) = mpsc::channel::<Command>(COMMAND_QUEUE_MAX);
        let (peer_tx, peer_rx) = mpsc::channel(PEER_INBOX_MAX);
        let (done_tx, done_rx) = mpsc::channel(4);

        let peers: BTreeMap<MemberId, String> = cfg
            .members
            .iter()
            .filter(|(id, _)| **id != cfg.id)
            .map(|(id, m)| (*id, m.peer_urls[0].clone()))
            .collect();
        let metrics = Arc::new(Metrics::new());
        let transport = Transport::start(cfg.id, cfg.cluster_id, peers, metrics.clone());
        let ids_from_ms = cfg.id_epoch_ms.unwrap_or_else(|| clock.now().as_millis().max(0) as u64);
        let refusals = Arc::new(Refusals::default());
        let driver = Driver::new(
            cfg.id,
            store,
            cfg.timing.clone(),
            cfg.limits.clone(),
            cfg.seed,
            clock.clone(),
            state.clone(),
            transport,
            events,
            status_tx,
            cfg.bugs,
            refusals.clone(),
            ids_from_ms,
            cfg.panic_after_applied,
            metrics.clone(),
        )?;

        let mut tasks = Vec::new();
        {
            let done = done_tx.clone();
            let shutdown = shutdown_rx.clone();
            tasks.push(tokio::spawn(async move {
                let _watch = PanicWatch { what: "raft driver", done: done.clone() };
                let r = driver.run(cmd_rx, peer_rx, shutdown).await;
                let _ = done.send(r.map_err(NodeError::from)).await;
            }));
        }

        let shared = Shared {
            id: cfg.id,
            cluster_id: cfg.cluster_id,
            state,
            commands: cmd_tx,
            status: status_rx.clone(),
            clock: clock.clone(),
            timing: cfg.timing.clone(),
            limits: cfg.limits.clone(),
            lease_ids: Arc::new(Mutex::new(RequestIds::new(cfg.id.0, ids_from_ms))),
            leader_link: Arc::new(Mutex::new(None)),
            shutdown: shutdown_rx.clone(),
            bugs: cfg.bugs,
            metrics: metrics.clone(),
            auth: cfg.auth.clone(),
            rng: Arc::new(Mutex::new(rand::SeedableRng::seed_from_u64(cfg.seed ^ AUTH_RNG_SALT))),
            caller: None,
        };
        let max_msg = cfg.limits.max_request_bytes + GRPC_OVERHEAD_BYTES;
        for &addr in &cfg.listen_peer {
            let voters = cfg.members.keys().map(|m| m.0).collect();
            let state = shared.state.clone();
            let published: Published = Arc::new(move |id| {
                state.lock().expect("state lock").members.get(&id).is_some_and(|m| !m.name.is_empty())
            });
            let peer = PeerService {
                me: cfg.id,
                cluster: cfg.cluster_id,
                voters,
                to_driver: peer_tx.clone(),
                refusals: refusals.clone(),
                published,
                shutdown: shutdown_rx.clone(),
                received: Arc::new(PeerReceived::new(&metrics, &cfg.members.keys().map(|m| m.0).collect())),
            };
            let svc = PeerServer::new(peer).max_decoding_message_size(PEER_BATCH_BYTES_MAX);
            let (shutdown, done) = (shutdown_rx.clone(), done_tx.clone());
            tasks.push(tokio::spawn(async move {
                let _watch = PanicWatch { what: "peer server", done: done.clone() };
                let r = tonic::transport::Server::builder()
                    .max_concurrent_streams(STREAMS_PER_CONNECTION_MAX)
                    .concurrency_limit_per_connection(STREAMS_PER_CONNECTION_MAX as usize)
                    .add_service(svc)
                    .serve_with_shutdown(addr, until_shutdown(shutdown))
                    .await;
                report_serve_error(&done, "peer API", addr, r).await;
            }));
        }
        for &addr in &cfg.listen_client {
            let kv = KvServer::new(KvService { shared: shared.clone() }).max_decoding_message_size(max_msg);
            let auth = AuthServer::new(AuthService { shared: shared.clone() });
            let cluster = ClusterServer::new(ClusterService { shared: shared.clone() });
            let maintenance = MaintenanceServer::new(MaintenanceService { shared: shared.clone() });
            let watch = WatchServer::new(WatchService { shared: shared.clone() }).max_decoding_message_size(max_msg);
            let lease = LeaseServer::new(LeaseService { shared: shared.clone() });
            let lock = LockServer::new(LockService { shared: shared.clone() });
            let election = ElectionServer::new(ElectionService { shared: shared.clone() });
            let (shutdown, done) = (shutdown_rx.clone(), done_tx.clone());
            #[cfg(not(madsim))]
            let (http, counted) = (crate::api::metrics::router(shared.clone()), crate::api::grpc_metrics::GrpcMetricsLayer { metrics: metrics.clone() });
            tasks.push(tokio::spawn(async move {
                let _watch = PanicWatch { what: "client server", done: done.clone() };
                // Real mode: etcd's `/metrics` and `/health` share the client port with gRPC
                // (HTTP/1.1 for them, HTTP/2 for gRPC). madsim's gRPC server speaks only gRPC.
                #[cfg(not(madsim))]
                let r = {
                    let grpc = tonic::service::Routes::new(kv)
                        .add_service(auth)
                        .add_service(watch)
                        .add_service(lease)
                        .add_service(lock)
                        .add_service(election)
                        .add_service(cluster)
                        .add_service(maintenance);
                    let routes = tonic::service::Routes::from(grpc.into_axum_router().merge(http));
                    tonic::transport::Server::builder()
                        .accept_http1(true)
                        .layer(counted)
                        .add_routes(routes)
                        .serve_with_shutdown(addr, until_shutdown(shutdown))
                        .await
                };
                #[cfg(madsim)]
                let r = tonic::transport::Server::builder()
                    .add_service(kv)
                    .add_service(auth)
                    .add_service(watch)
                    .add_service(lease)
                    .add_service(lock)
                    .add_service(election)
                    .add_service(cluster)
                    .add_service(maintenance)
                    .serve_with_shutdown(addr, until_shutdown(shutdown))
                    .await;
                report_serve_error(&done, "client API", addr, r).await;
            }));
        }
        #[cfg(not(madsim))]
        for &addr in &cfg.listen_metrics {
            let http = crate::api::metrics::router(shared.clone());
            let (shutdown, done) = (shutdown_rx.clone(), done_tx.clone());
            tasks.push(tokio::spawn(async move {
                let _watch = PanicWatch { what: "metrics server", done: done.clone() };
                let served = match tokio::net::TcpListener::bind(addr).await {
                    Ok(listener) => axum::serve(listener, http).with_graceful_shutdown(until_shutdown(shutdown)).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(error) = served {
                    let _ = done.send(Err(NodeError::Serve { what: "metrics", addr, error })).await;
                }
            }));
        }
        let attrs = MemberAttributes { id: cfg.id.0, name: cfg.name.clone(), client_urls: cfg.advertise_client_urls.clone() };
        {
            let (shared, shutdown, done) = (shared.clone(), shutdown_rx.clone(), done_tx.clone());
            tasks.push(tokio::spawn(async move {
                let _watch = PanicWatch { what: "lessor", done };
                run_lessor(shared, shutdown).await;
            }));
        }
        tasks.push(tokio::spawn(publish(shared, attrs, shutdown_rx)));

        Ok(Node { id: cfg.id, status: status_rx, shutdown: shutdown_tx, done: done_rx, tasks, clock, refusals, metrics })
    }

    /// The member's Raft status now.
    pub fn status(&self) -> NodeStatus {
        *self.status.borrow()
    }

    /// Peer messages refused so far, by reason (`consensus::peer_guard`).
    pub fn peer_refusals(&self) -> Vec<(Refusal, u64)> {
        self.refusals.snapshot()
    }

    /// The member's metrics (issue 16).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<NodeStatus> {
        self.status.clone()
    }

    /// Waits until the member stops by itself (a fatal error) and returns why.
    pub async fn stopped(&mut self) -> Result<(), NodeError> {
        self.done.recv().await.unwrap_or(Ok(()))
    }

    /// Stops the member: pending requests fail with "server stopped", servers close.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        for mut t in self.tasks {
            // Streams end when the member stops, but a client that stopped reading keeps its HTTP/2
            // stream (and so the graceful server shutdown) open: past the grace period, cut it.
            tokio::select! {
                biased;
                _ = &mut t => {}
                _ = self.clock.sleep(SHUTDOWN_GRACE) => t.abort(),
            }
        }
    }
}

async fn until_shutdown(mut shutdown: FeedRx<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

async fn report_serve_error(
    done: &mpsc::Sender<Result<(), NodeError>>,
    what: &'static str,
    addr: SocketAddr,
    result: Result<(), tonic::transport::Error>,
) {
    if let Err(e) = result {
        let _ = done.send(Err(NodeError::Serve { what, addr, error: e.to_string() })).await;
    }
}

/// Tells the cluster this member's name and client URLs (etcd's `publish`), retrying until a
/// leader has applied it.
async fn publish(shared: Shared, attrs: MemberAttributes, mut shutdown: FeedRx<bool>) {
    loop {
        if shutdown.borrow() {
            return;
        }
        if shared.status.borrow().leader.is_some() && shared.propose(Op::Publish(attrs.clone())).await.is_ok() {
            tracing::info!(member = %shared.id, name = %attrs.name, "published member attributes");
            return;
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => return,
            _ = shared.clock.sleep(PUBLISH_RETRY) => {}
        }
    }
}
