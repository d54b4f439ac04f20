//! `detcd-bench`: put and get load against any etcd v3 endpoint list (detcd or etcd).
//!
//! ```text
//! detcd-bench --endpoints 127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379 --ops 2000 --clients 1,16,64
//! ```
//!
//! For every client count and every workload (`put`, linearizable `get-l`, serializable `get-s`)
//! it runs one case: N clients, each on its own gRPC channel to `endpoints[client % len]`, take the
//! next operation from a shared counter until `--ops` are done (or `--duration-s` has passed), and
//! the case reports ops/s (successful operations over wall time), p50 and p99 latency and errors.
//! Keys are 8 bytes (`k0000000`..), values 256 bytes; gets read keys the puts wrote (the put cases
//! run first; with `--workloads` lacking `put`, the keys are written first, untimed).
//! Real mode only, loopback only: every endpoint must be 127.0.0.1 or localhost.

#[cfg(madsim)]
fn main() {
    eprintln!("detcd-bench is a real-mode tool; this binary was built with --cfg madsim.");
    std::process::exit(2);
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    real::main()
}

#[cfg(not(madsim))]
mod real {
    use clap::Parser;
    use detcd_node::pb::etcdserverpb::kv_client::KvClient;
    use detcd_node::pb::etcdserverpb::maintenance_client::MaintenanceClient;
    use detcd_node::pb::etcdserverpb::{PutRequest, RangeRequest, StatusRequest};
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tonic::transport::{Channel, Endpoint};

    /// Hard cap on one case's wall time, whatever the flags say.
    const MAX_CASE: Duration = Duration::from_secs(120);
    /// Hard cap on the operations of one case.
    const MAX_OPS: u64 = 2_000_000;
    /// Distinct keys written and read.
    const KEYSPACE: u64 = 10_000;
    const VALUE_LEN: usize = 256;

    /// Put and get load against etcd v3 endpoints; prints ops/s and p50/p99 latency per case.
    #[derive(Parser, Debug)]
    #[command(name = "detcd-bench", version)]
    struct Flags {
        /// Comma-separated client endpoints (host:port or http://host:port; loopback only).
        #[arg(long, default_value = "127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379")]
        endpoints: String,
        /// Operations per case (ignored when --duration-s is given).
        #[arg(long, default_value_t = 2000)]
        ops: u64,
        /// Run each case for this many seconds instead of a fixed number of operations.
        #[arg(long)]
        duration_s: Option<f64>,
        /// Comma-separated concurrent client counts.
        #[arg(long, default_value = "1,16,64")]
        clients: String,
        /// Comma-separated workloads: put, get-l (linearizable), get-s (serializable).
        #[arg(long, default_value = "put,get-l,get-s")]
        workloads: String,
        /// Per-request timeout in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Workload {
        Put,
        GetLinearizable,
        GetSerializable,
    }

    impl Workload {
        fn parse(s: &str) -> Result<Self, String> {
            match s.trim() {
                "put" => Ok(Self::Put),
                "get-l" | "get" => Ok(Self::GetLinearizable),
                "get-s" => Ok(Self::GetSerializable),
                other => Err(format!("unknown workload {other:?} (put, get-l, get-s)")),
            }
        }
        fn name(self) -> &'static str {
            match self {
                Self::Put => "put",
                Self::GetLinearizable => "get (linearizable)",
                Self::GetSerializable => "get (serializable)",
            }
        }
    }

    struct CaseResult {
        workload: Workload,
        clients: usize,
        ok: u64,
        errors: u64,
        elapsed: Duration,
        p50: Duration,
        p99: Duration,
        first_error: Option<String>,
    }

    fn key(i: u64) -> Vec<u8> {
        format!("k{:07}", i % KEYSPACE).into_bytes()
    }

    fn normalize(ep: &str) -> Result<String, String> {
        let ep = ep.trim();
        let url = if ep.starts_with("http://") { ep.to_string() } else { format!("http://{ep}") };
        let host = url.trim_start_matches("http://").split(':').next().unwrap_or("");
        if host != "127.0.0.1" && host != "localhost" {
            return Err(format!("endpoint {ep:?}: only 127.0.0.1/localhost endpoints are allowed"));
        }
        Ok(url)
    }

    async fn connect(url: &str, timeout: Duration) -> Result<Channel, String> {
        Endpoint::from_shared(url.to_string())
            .map_err(|e| format!("{url}: {e}"))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(timeout)
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| format!("connect {url}: {e}"))
    }

    async fn one_op(kv: &mut KvClient<Channel>, w: Workload, i: u64, value: &[u8]) -> Result<(), String> {
        match w {
            Workload::Put => kv
                .put(PutRequest { key: key(i), value: value.to_vec(), ..Default::default() })
                .await
                .map(|_| ())
                .map_err(|s| s.to_string()),
            Workload::GetLinearizable | Workload::GetSerializable => kv
                .range(RangeRequest {
                    key: key(i),
                    serializable: w == Workload::GetSerializable,
                    ..Default::default()
                })
                .await
                .map(|_| ())
                .map_err(|s| s.to_string()),
        }
    }

    fn percentile(sorted: &[Duration], p: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[idx]
    }

    async fn run_case(
        channels: &[Channel],
        w: Workload,
        ops: u64,
        duration: Option<Duration>,
    ) -> CaseResult {
        let next = Arc::new(AtomicU64::new(0));
        let limit = if duration.is_some() { MAX_OPS } else { ops.min(MAX_OPS) };
        let case_time = duration.unwrap_or(MAX_CASE).min(MAX_CASE);
        let start = Instant::now();
        let deadline = start + case_time;
        let mut tasks = Vec::with_capacity(channels.len());
        for ch in channels {
            let mut kv = KvClient::new(ch.clone());
            let next = next.clone();
            tasks.push(tokio::spawn(async move {
                let value = vec![b'v'; VALUE_LEN];
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                loop {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= limit {
                        break;
                    }
                    let t0 = Instant::now();
                    match one_op(&mut kv, w, i, &value).await {
                        Ok(()) => lat.push(t0.elapsed()),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                (lat, errors, first_error)
            }));
        }
        let mut all = Vec::new();
        let mut errors = 0;
        let mut first_error = None;
        for t in tasks {
            match t.await {
                Ok((lat, e, fe)) => {
                    all.extend(lat);
                    errors += e;
                    if first_error.is_none() {
                        first_error = fe;
                    }
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(format!("client task: {e}"));
                }
            }
        }
        let elapsed = start.elapsed();
        all.sort_unstable();
        CaseResult {
            workload: w,
            clients: channels.len(),
            ok: all.len() as u64,
            errors,
            elapsed,
            p50: percentile(&all, 0.50),
            p99: percentile(&all, 0.99),
            first_error,
        }
    }

    fn ms(d: Duration) -> String {
        format!("{:.2}", d.as_secs_f64() * 1000.0)
    }

    async fn print_status(urls: &[String], timeout: Duration) {
        for url in urls {
            let line = match connect(url, timeout).await {
                Ok(ch) => match MaintenanceClient::new(ch).status(StatusRequest {}).await {
                    Ok(r) => {
                        let r = r.into_inner();
                        let member = r.header.as_ref().map_or(0, |h| h.member_id);
                        format!(
                            "version {} member {:x} leader {:x}{}",
                            r.version,
                            member,
                            r.leader,
                            if member == r.leader { " (this is the leader)" } else { "" }
                        )
                    }
                    Err(e) => format!("status failed: {e}"),
                },
                Err(e) => e,
            };
            println!("# {url}: {line}");
        }
    }

    async fn run(flags: Flags) -> Result<bool, String> {
        let urls = flags.endpoints.split(',').filter(|s| !s.trim().is_empty()).map(normalize).collect::<Result<Vec<_>, _>>()?;
        if urls.is_empty() {
            return Err("no endpoints".into());
        }
        let clients = flags
            .clients
            .split(',')
            .map(|s| s.trim().parse::<usize>().map_err(|e| format!("--clients {s:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if clients.iter().any(|&c| c == 0 || c > 1024) {
            return Err("--clients: each count must be 1..=1024".into());
        }
        let workloads = flags.workloads.split(',').map(Workload::parse).collect::<Result<Vec<_>, _>>()?;
        let duration = match flags.duration_s {
            Some(s) if s.is_nan() || s <= 0.0 || s.is_infinite() => return Err("--duration-s must be positive".into()),
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => None,
        };
        if flags.ops == 0 {
            return Err("--ops must be positive".into());
        }
        let timeout = Duration::from_millis(flags.timeout_ms.max(1));
        print_status(&urls, timeout).await;
        let amount = match duration {
            Some(d) => format!("{:.1} s per case", d.as_secs_f64()),
            None => format!("{} ops per case", flags.ops),
        };
        println!("# {amount}; 8-byte keys ({KEYSPACE} distinct), {VALUE_LEN}-byte values; one gRPC channel per client, client i -> endpoint i mod {}", urls.len());

        // Gets read keys the puts wrote; without a put case, write them first (untimed).
        if !workloads.contains(&Workload::Put) {
            let mut kv = KvClient::new(connect(&urls[0], timeout).await?);
            let value = vec![b'v'; VALUE_LEN];
            for i in 0..flags.ops.min(KEYSPACE) {
                one_op(&mut kv, Workload::Put, i, &value).await.map_err(|e| format!("preload: {e}"))?;
            }
        }

        let mut results = Vec::new();
        for &n in &clients {
            let mut channels = Vec::with_capacity(n);
            for c in 0..n {
                channels.push(connect(&urls[c % urls.len()], timeout).await?);
            }
            // Warm every channel up (untimed): the HTTP/2 connection and the server's first request.
            for ch in &channels {
                let mut kv = KvClient::new(ch.clone());
                let _ = one_op(&mut kv, Workload::GetSerializable, 0, &[]).await;
            }
            for &w in &workloads {
                let r = run_case(&channels, w, flags.ops, duration).await;
                eprintln!(
                    "done: {} x{}: {} ok, {} errors in {:.2} s",
                    r.workload.name(),
                    r.clients,
                    r.ok,
                    r.errors,
                    r.elapsed.as_secs_f64()
                );
                results.push(r);
            }
        }

        println!();
        println!("| case | clients | ops ok | errors | ops/s | p50 ms | p99 ms |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for r in &results {
            let rate = r.ok as f64 / r.elapsed.as_secs_f64().max(1e-9);
            println!(
                "| {} | {} | {} | {} | {:.0} | {} | {} |",
                r.workload.name(),
                r.clients,
                r.ok,
                r.errors,
                rate,
                ms(r.p50),
                ms(r.p99)
            );
        }
        let mut clean = true;
        for r in &results {
            if let Some(e) = &r.first_error {
                clean = false;
                println!("# {} x{}: first error: {e}", r.workload.name(), r.clients);
            }
        }
        Ok(clean)
    }

    pub fn main() -> ExitCode {
        let flags = Flags::parse();
        let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("detcd-bench: runtime: {e}");
                return ExitCode::from(1);
            }
        };
        match rt.block_on(run(flags)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(3),
            Err(e) => {
                eprintln!("detcd-bench: {e}");
                ExitCode::from(1)
            }
        }
    }
}
