//! `detcd`: one member of a detcd cluster, started with etcd's own flags.
//!
//! ```text
//! detcd --name machine-1 \
//!   --initial-advertise-peer-urls http://127.0.0.1:2380 --listen-peer-urls http://127.0.0.1:2380 \
//!   --advertise-client-urls http://127.0.0.1:2379 --listen-client-urls http://127.0.0.1:2379 \
//!   --initial-cluster machine-1=http://127.0.0.1:2380,machine-2=http://127.0.0.1:22380,... \
//!   --initial-cluster-state new --initial-cluster-token token-01
//! ```
//!
//! The member keeps its WAL and snapshot files in `<data-dir>/member/`. Started again with the
//! same data directory (after a crash, a kill or a clean stop), it recovers its log and state from
//! there and rejoins the cluster: as in etcd, the `--initial-cluster*` flags then only name the
//! peers. A data directory that cannot be trusted (a corrupt WAL record or snapshot) stops the
//! start with an error naming the file and offset, and exit code 1.
//!
//! Operating mistakes are refused before anything is written, as etcd refuses them: a second
//! `detcd` on a data directory in use (the directory is locked), a data directory written by
//! another member or cluster (the WAL records its owner), a member whose data directory is new but
//! which its peers have seen run before ("has already been bootstrapped": its data was wiped, and
//! rejoining as new could lose writes it acknowledged), and a `--max-request-bytes` the WAL cannot
//! hold. The data directory is private (0700, files 0600). Any panic exits the process (exit code
//! 134 via abort), so that a supervisor restarts a member whose driver died instead of leaving it
//! half alive.

#[cfg(madsim)]
fn main() {
    eprintln!("detcd is the real-mode server; this binary was built with --cfg madsim. Use `cargo sim` for simulation.");
    std::process::exit(2);
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    real::main()
}

#[cfg(not(madsim))]
mod real {
    use clap::Parser;
    use detcd_node::clock::Clock;
    use detcd_node::config::{self, Limits, NodeConfig, RaftTiming};
    use detcd_node::durable::disk::RealDisk;
    use detcd_node::events::tracing_sink;
    use detcd_node::ids;
    use detcd_node::node::Node;
    use detcd_node::durable::wal::{Identity, BODY_BYTES_MAX};
    use detcd_node::durable::wal_log::{Opened, WalLog, WalLogOptions, SNAPSHOT_COUNT_DEFAULT};
    use std::fs::File;
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    use std::path::Path;
    use std::process::ExitCode;
    use std::sync::Arc;

    /// A detcd member. Flags are etcd's; defaults are etcd's.
    #[derive(Parser, Debug)]
    #[command(name = "detcd", version, about = "An etcd-compatible key-value store on Raft (tikv raft-rs)")]
    struct Flags {
        /// Human-readable name for this member.
        #[arg(long, default_value = "default")]
        name: String,
        /// Path to the data directory (default: ${name}.etcd).
        #[arg(long)]
        data_dir: Option<String>,
        /// URLs to listen on for client traffic.
        #[arg(long, default_value = "http://localhost:2379")]
        listen_client_urls: String,
        /// This member's client URLs to advertise to the rest of the cluster.
        #[arg(long, default_value = "http://localhost:2379")]
        advertise_client_urls: String,
        /// List of URLs to listen on for the metrics and health endpoints.
        #[arg(long, default_value = "")]
        listen_metrics_urls: String,
        /// URLs to listen on for peer traffic.
        #[arg(long, default_value = "http://localhost:2380")]
        listen_peer_urls: String,
        /// This member's peer URLs to advertise to the rest of the cluster.
        #[arg(long, default_value = "http://localhost:2380")]
        initial_advertise_peer_urls: String,
        /// Initial cluster configuration for bootstrapping: name=peerURL,...
        #[arg(long, default_value = "default=http://localhost:2380")]
        initial_cluster: String,
        /// Initial cluster state ("new").
        #[arg(long, default_value = "new")]
        initial_cluster_state: String,
        /// Initial cluster token for the cluster during bootstrap.
        #[arg(long, default_value = "etcd-cluster")]
        initial_cluster_token: String,
        /// Maximum client request size in bytes the server will accept.
        #[arg(long, default_value_t = Limits::default().max_request_bytes)]
        max_request_bytes: usize,
        /// Maximum number of operations permitted in a transaction.
        #[arg(long, default_value_t = Limits::default().max_txn_ops)]
        max_txn_ops: usize,
        /// Number of committed transactions to trigger a snapshot to disk.
        #[arg(long, default_value_t = SNAPSHOT_COUNT_DEFAULT)]
        snapshot_count: u64,
        /// Number of entries a leader keeps before its snapshot for slow followers to catch up
        /// from (etcd 3.5's flag; fewer means lagging followers get a snapshot sooner).
        #[arg(long, default_value_t = detcd_node::durable::wal_log::CATCH_UP_ENTRIES_DEFAULT)]
        experimental_snapshot_catchup_entries: u64,
        /// Specify auth token type: "simple" ("jwt,..." is not supported yet).
        #[arg(long, default_value = "simple")]
        auth_token: String,
        /// The TTL of a simple token, in seconds, restarted by every use.
        #[arg(long, default_value_t = 300)]
        auth_token_ttl: u64,
        /// Specify bcrypt algorithm cost factor for auth password hashing (4..=31).
        #[arg(long, default_value_t = 10)]
        bcrypt_cost: u32,
        /// Test hook: the Raft driver panics after applying this index.
        #[arg(long, hide = true)]
        debug_panic_after_applied: Option<u64>,
    }

    /// The largest `--max-request-bytes` the WAL can hold: an entry is the request plus its
    /// envelope (IDs, trace, the raft entry's fields), which stays well under 1 KiB.
    const MAX_REQUEST_BYTES_LIMIT: usize = BODY_BYTES_MAX - 1024;

    fn build_config(f: &Flags) -> Result<NodeConfig, config::ConfigError> {
        if f.initial_cluster_state != "new" {
            return Err(config::ConfigError::ClusterState(f.initial_cluster_state.clone()));
        }
        if f.max_request_bytes > MAX_REQUEST_BYTES_LIMIT {
            return Err(config::ConfigError::BadFlag {
                flag: "--max-request-bytes",
                value: f.max_request_bytes.to_string(),
                why: format!("over {MAX_REQUEST_BYTES_LIMIT} bytes, the most one WAL record holds"),
            });
        }
        let auth = auth_config(f)?;
        let initial = config::parse_initial_cluster(&f.initial_cluster)?;
        let (advertised_peer, _) = config::parse_url_list("--initial-advertise-peer-urls", &f.initial_advertise_peer_urls)?;
        let me = initial
            .iter()
            .find(|m| m.name == f.name)
            .ok_or_else(|| config::ConfigError::NameNotInCluster { name: f.name.clone() })?;
        let (mut a, mut b) = (me.peer_urls.clone(), advertised_peer.clone());
        a.sort();
        b.sort();
        if a != b {
            return Err(config::ConfigError::PeerUrlMismatch { name: f.name.clone(), urls: me.peer_urls.clone(), advertised: advertised_peer });
        }
        let members = config::members_of(&initial, &f.initial_cluster_token);
        let id = ids::member_id(&me.peer_urls, &f.initial_cluster_token);
        let member_ids: Vec<_> = members.keys().copied().collect();
        let (_, listen_client) = config::parse_url_list("--listen-client-urls", &f.listen_client_urls)?;
        let (advertise_client_urls, _) = config::parse_url_list("--advertise-client-urls", &f.advertise_client_urls)?;
        let (_, listen_peer) = config::parse_url_list("--listen-peer-urls", &f.listen_peer_urls)?;
        let listen_metrics = if f.listen_metrics_urls.is_empty() {
            Vec::new()
        } else {
            config::parse_url_list("--listen-metrics-urls", &f.listen_metrics_urls)?.1
        };
        Ok(NodeConfig {
            name: f.name.clone(),
            id,
            cluster_id: ids::cluster_id(&member_ids),
            members,
            listen_client,
            advertise_client_urls,
            listen_peer,
            listen_metrics,
            timing: RaftTiming::default(),
            limits: Limits { max_request_bytes: f.max_request_bytes, max_txn_ops: f.max_txn_ops },
            // Real mode: the seed comes from the OS (the randomness seam's real side).
            seed: rand::random(),
            // Injected bugs exist only in simulation builds (`detcd_node::bugs`).
            bugs: detcd_node::bugs::Bugs::none(),
            // Request and lease IDs count from the wall clock (the clock seam's real side), so that
            // they do not repeat after a restart (etcd's idutil does the same).
            id_epoch_ms: Some(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            ),
            panic_after_applied: f.debug_panic_after_applied,
            auth,
        })
    }

    fn auth_config(f: &Flags) -> Result<config::AuthConfig, config::ConfigError> {
        let bad = |flag, value: String, why: &str| config::ConfigError::BadFlag { flag, value, why: why.into() };
        if f.auth_token != "simple" {
            let why = if f.auth_token.starts_with("jwt") { "JWT tokens are not supported yet; use simple" } else { "unknown token type (want simple)" };
            return Err(bad("--auth-token", f.auth_token.clone(), why));
        }
        if !(4..=31).contains(&f.bcrypt_cost) {
            return Err(bad("--bcrypt-cost", f.bcrypt_cost.to_string(), "bcrypt allows costs from 4 to 31"));
        }
        if f.auth_token_ttl == 0 {
            return Err(bad("--auth-token-ttl", "0".into(), "must be at least 1 second"));
        }
        Ok(config::AuthConfig { bcrypt_cost: f.bcrypt_cost, token_ttl: std::time::Duration::from_secs(f.auth_token_ttl) })
    }

    /// Exits the process on any panic, after the usual message: a member missing its driver, its
    /// apply path or a server must not linger (module doc).
    fn exit_on_panic() {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            report(info);
            eprintln!("detcd: a task panicked; exiting so that the member is restarted whole");
            std::process::abort();
        }));
    }

    /// Creates the data directory (0700) if needed, warns if an existing one is open to others,
    /// and locks it: the returned file holds the lock for the life of the process.
    fn lock_data_dir(dir: &Path) -> Result<File, String> {
        if !dir.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
        }
        let meta = std::fs::metadata(dir).map_err(|e| format!("data directory {}: {e}", dir.display()))?;
        if !meta.is_dir() {
            return Err(format!("data directory {} is not a directory", dir.display()));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            // etcd 3.4's words (fileutil.CheckDirPermission).
            tracing::warn!(
                "check file permission: directory {:?} exist, but the permission is {:o}. The recommended permission is 700 to prevent possible unprivileged access to the data.",
                dir.display().to_string(),
                mode
            );
        }
        let lock = File::open(dir).map_err(|e| format!("data directory {}: {e}", dir.display()))?;
        match lock.try_lock() {
            Ok(()) => Ok(lock),
            Err(std::fs::TryLockError::WouldBlock) => Err(format!("data directory {} is in use by another detcd process", dir.display())),
            Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock data directory {}: {e}", dir.display())),
        }
    }

    /// Whether `dir` holds a WAL (a member that has run before on this directory).
    fn has_wal(dir: &Path) -> bool {
        std::fs::read_dir(dir.join("member")).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().ends_with(".wal"))
        })
    }

    /// Refuses a member with a new data directory that its peers have seen run: its data was lost,
    /// and starting afresh could lose writes it acknowledged (etcd: "member X has already been
    /// bootstrapped"). Peers that cannot be reached do not count (a whole new cluster starts with
    /// none reachable).
    async fn check_not_bootstrapped(cfg: &NodeConfig) -> Result<(), String> {
        for (id, m) in cfg.members.iter().filter(|(id, _)| **id != cfg.id) {
            for url in &m.peer_urls {
                if detcd_node::consensus::transport::ask_bootstrapped(url, cfg.id, cfg.cluster_id).await == Some(true) {
                    return Err(format!(
                        "member {} has already been bootstrapped (member {id} says so): its data directory is new, so its data \
                         was lost; remove the member from the cluster and add it again rather than restart it empty",
                        cfg.id
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn main() -> ExitCode {
        let flags = Flags::parse();
        exit_on_panic();
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .init();
        let cfg = match build_config(&flags) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("detcd: {e}");
                return ExitCode::from(2);
            }
        };
        let data_dir = flags.data_dir.clone().unwrap_or_else(|| format!("{}.etcd", flags.name));
        let data_dir = Path::new(&data_dir);
        let _lock = match lock_data_dir(data_dir) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("detcd: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut opts = WalLogOptions {
            snapshot_count: flags.snapshot_count.max(1),
            catch_up_entries: flags.experimental_snapshot_catchup_entries,
            ..WalLogOptions::default()
        };
        opts.wal.owner = Identity { member: cfg.id.0, cluster: cfg.cluster_id.0 };
        let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("detcd: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        if !has_wal(data_dir) {
            if let Err(e) = rt.block_on(check_not_bootstrapped(&cfg)) {
                eprintln!("detcd: {e}");
                return ExitCode::FAILURE;
            }
        }
        let opened = match open_log(data_dir, opts, &cfg) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("detcd: {e}");
                return ExitCode::FAILURE;
            }
        };
        rt.block_on(run(cfg, opened))
    }

    /// Opens (or creates) the member's WAL and snapshots under `<data_dir>/member`, and logs what
    /// it found.
    fn open_log(data_dir: &Path, opts: WalLogOptions, cfg: &NodeConfig) -> Result<Opened, String> {
        let dir = data_dir.join("member");
        let disk = RealDisk::open(&dir).map_err(|e| format!("data directory {}: {e}", dir.display()))?;
        let voters: Vec<u64> = cfg.members.keys().map(|id| id.0).collect();
        let opened = WalLog::open(Arc::new(disk), opts, &voters).map_err(|e| format!("{}: {e}", dir.display()))?;
        match opened.recovered_event(cfg.id) {
            Some(e) => tracing_sink()(&e),
            None => tracing::info!(dir = %dir.display(), "created a new WAL"),
        }
        Ok(opened)
    }

    async fn run(cfg: NodeConfig, opened: Opened) -> ExitCode {
        tracing::info!(name = %cfg.name, member = %cfg.id, cluster = %cfg.cluster_id, "starting detcd member");
        let Opened { log, snapshot, .. } = opened;
        let mut node = match Node::start_from(cfg, log, snapshot, Clock::new(), tracing_sink()) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("detcd: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("detcd: cannot listen for SIGTERM: {e}");
                return ExitCode::FAILURE;
            }
        };
        let result = tokio::select! {
            _ = term.recv() => { tracing::info!("received SIGTERM, shutting down"); Ok(()) }
            _ = tokio::signal::ctrl_c() => { tracing::info!("received SIGINT, shutting down"); Ok(()) }
            r = node.stopped() => r,
        };
        node.shutdown().await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("detcd: {e}");
                ExitCode::FAILURE
            }
        }
    }
}
