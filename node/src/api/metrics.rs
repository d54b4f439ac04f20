//! `/metrics` and `/health`, as etcd serves them beside gRPC on the client port and on
//! `--listen-metrics-urls` (issue 16).
//!
//! The answers are built here for both modes ([`metrics_text`], [`health`]); the HTTP routes exist
//! in real mode only ([`router`]): madsim's gRPC has no HTTP/1 server, so the simulator reads a
//! member's registry through `Node::metrics` instead (`sim/src/node_metrics.rs`).

use crate::api::etcd::Shared;
use crate::metrics::{Metrics, ProcessStats, StoreStats};
use crate::state::StateMachine;
use std::sync::Mutex;
use std::time::Duration;

/// How long `/health` waits for its linearizable read (etcd: 1 s for its QGET).
const HEALTH_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// The Prometheus exposition of `metrics`, with the store's size and key count as of now.
pub fn metrics_text(metrics: &Metrics, state: &Mutex<StateMachine>, process: Option<ProcessStats>) -> String {
    let store = {
        let st = state.lock().expect("state lock");
        let rev = st.kv.current_revision();
        StoreStats { db_size_bytes: st.kv.approximate_size() as i64, keys: st.kv.count(b"\0", b"\0", rev).unwrap_or(0) as i64 }
    };
    metrics.encode(store, process)
}

/// etcd's `/health`: healthy when a leader is known and a linearizable read completes within a
/// second. Returns the HTTP status and body (`{"health":"true"}`, or `"false"` with 503).
pub async fn health(shared: &Shared) -> (u16, &'static str) {
    let leader = shared.status.borrow().leader.is_some();
    let ok = leader && matches!(shared.clock.timeout(HEALTH_READ_TIMEOUT, shared.read_barrier()).await, Some(Ok(())));
    if ok {
        shared.metrics.health_success.inc();
        (200, "{\"health\":\"true\"}")
    } else {
        shared.metrics.health_failures.inc();
        (503, "{\"health\":\"false\"}\n")
    }
}

/// What the process says about itself (Linux `/proc/self`), for the `process_*` metrics.
#[cfg(not(madsim))]
pub fn process_stats() -> Option<ProcessStats> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: i64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
    // The page size is 4 KiB on every Linux this runs on (x86-64, aarch64 with 4K pages).
    Some(ProcessStats { resident_memory_bytes: resident_pages * 4096, open_fds })
}

/// The HTTP routes: `GET /metrics` and `GET /health` (other methods: 405 with `Allow: GET`, as
/// etcd answers).
#[cfg(not(madsim))]
pub fn router(shared: Shared) -> axum::Router {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    let for_metrics = shared.clone();
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let s = for_metrics.clone();
                async move {
                    let text = metrics_text(&s.metrics, &s.state, process_stats());
                    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
                }
            }),
        )
        .route(
            "/health",
            get(move || {
                let s = shared.clone();
                async move {
                    let (code, body) = health(&s).await;
                    let status = StatusCode::from_u16(code).expect("a valid status code");
                    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
                }
            }),
        )
        .method_not_allowed_fallback(|| async { (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET")], "Method Not Allowed\n") })
}
