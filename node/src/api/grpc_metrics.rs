//! `grpc_server_started_total` and `grpc_server_handled_total` (go-grpc-prometheus' names, which
//! etcd exports and its dashboards query), counted by a tower layer around the real-mode client
//! server. A call is started when its request arrives and handled when its status is known: in the
//! response headers (a trailers-only answer, as an error usually is) or in the trailers at the end
//! of the response stream; a stream the client drops before its end counts as `Canceled`.
//!
//! Labels come from a fixed list of etcd's services and methods: a request for anything else is
//! counted as `unknown`, so a client cannot grow the label set without bound.

use crate::metrics::{Labels, Metrics};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// etcd's v3 services and their methods, with the gRPC type of each streaming one.
const METHODS: &[(&str, &[(&str, &str)])] = &[
    ("etcdserverpb.KV", &[("Range", "unary"), ("Put", "unary"), ("DeleteRange", "unary"), ("Txn", "unary"), ("Compact", "unary")]),
    ("etcdserverpb.Watch", &[("Watch", "bidi_stream")]),
    (
        "etcdserverpb.Lease",
        &[("LeaseGrant", "unary"), ("LeaseRevoke", "unary"), ("LeaseKeepAlive", "bidi_stream"), ("LeaseTimeToLive", "unary"), ("LeaseLeases", "unary")],
    ),
    (
        "etcdserverpb.Cluster",
        &[("MemberAdd", "unary"), ("MemberRemove", "unary"), ("MemberUpdate", "unary"), ("MemberList", "unary"), ("MemberPromote", "unary")],
    ),
    (
        "etcdserverpb.Maintenance",
        &[
            ("Alarm", "unary"),
            ("Status", "unary"),
            ("Defragment", "unary"),
            ("Hash", "unary"),
            ("HashKV", "unary"),
            ("Snapshot", "server_stream"),
            ("MoveLeader", "unary"),
            ("Downgrade", "unary"),
        ],
    ),
    (
        "etcdserverpb.Auth",
        &[
            ("AuthEnable", "unary"),
            ("AuthDisable", "unary"),
            ("AuthStatus", "unary"),
            ("Authenticate", "unary"),
            ("UserAdd", "unary"),
            ("UserGet", "unary"),
            ("UserList", "unary"),
            ("UserDelete", "unary"),
            ("UserChangePassword", "unary"),
            ("UserGrantRole", "unary"),
            ("UserRevokeRole", "unary"),
            ("RoleAdd", "unary"),
            ("RoleGet", "unary"),
            ("RoleList", "unary"),
            ("RoleDelete", "unary"),
            ("RoleGrantPermission", "unary"),
            ("RoleRevokePermission", "unary"),
        ],
    ),
    ("v3lockpb.Lock", &[("Lock", "unary"), ("Unlock", "unary")]),
    ("v3electionpb.Election", &[("Campaign", "unary"), ("Proclaim", "unary"), ("Leader", "unary"), ("Observe", "server_stream"), ("Resign", "unary")]),
];

/// gRPC status codes by number, as go-grpc-prometheus prints them.
const CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// The labels of a call to `path` (`/etcdserverpb.KV/Range`): method, service, type.
pub fn call_labels(path: &str) -> Labels {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (service, method) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let known = METHODS.iter().find(|(s, _)| *s == service).and_then(|(s, ms)| ms.iter().find(|(m, _)| *m == method).map(|(m, t)| (*s, *m, *t)));
    let (service, method, kind) = known.unwrap_or(("unknown", "unknown", "unknown"));
    vec![("grpc_method", method.to_string()), ("grpc_service", service.to_string()), ("grpc_type", kind.to_string())]
}

/// The status code named by a `grpc-status` value.
pub fn code_name(grpc_status: &[u8]) -> &'static str {
    std::str::from_utf8(grpc_status).ok().and_then(|s| s.parse::<usize>().ok()).and_then(|n| CODES.get(n).copied()).unwrap_or("Unknown")
}

fn handled(metrics: &Metrics, call: &Labels, code: &'static str) {
    let mut labels = vec![("grpc_code", code.to_string())];
    labels.extend(call.iter().cloned());
    metrics.grpc_handled.get_or_create(&labels).inc();
}

/// Wraps a server's services (`tonic::transport::Server::builder().layer(...)`).
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    pub metrics: Arc<Metrics>,
}

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService { inner, metrics: self.metrics.clone() }
    }
}

#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, ReqB, ResB> tower_service::Service<Request<ReqB>> for GrpcMetricsService<S>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>>,
    S::Future: Send + 'static,
    ResB: Body + Unpin,
{
    type Response = Response<CountedBody<ResB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let grpc = req.headers().get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        let call = grpc.then(|| call_labels(req.uri().path()));
        if let Some(c) = &call {
            self.metrics.grpc_started.get_or_create(c).inc();
        }
        let metrics = self.metrics.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let response = fut.await?;
            let mut pending = call;
            if let (Some(c), Some(status)) = (&pending, response.headers().get("grpc-status")) {
                handled(&metrics, c, code_name(status.as_bytes()));
                pending = None;
            }
            Ok(response.map(|inner| CountedBody { inner, pending, metrics }))
        })
    }
}

/// A response body that counts its call as handled when the trailers carry its status (or as
/// `Canceled` if it is dropped first).
pub struct CountedBody<B> {
    inner: B,
    /// The call's labels while it is not yet counted as handled.
    pending: Option<Labels>,
    metrics: Arc<Metrics>,
}

impl<B: Body + Unpin> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(status) = frame.trailers_ref().and_then(|t| t.get("grpc-status")) {
                if let Some(c) = self.pending.take() {
                    handled(&self.metrics, &c, code_name(status.as_bytes()));
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for CountedBody<B> {
    fn drop(&mut self) {
        if let Some(c) = self.pending.take() {
            handled(&self.metrics, &c, "Canceled");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_calls_are_labelled_and_anything_else_is_unknown() {
        assert_eq!(
            call_labels("/etcdserverpb.Watch/Watch"),
            vec![("grpc_method", "Watch".to_string()), ("grpc_service", "etcdserverpb.Watch".to_string()), ("grpc_type", "bidi_stream".to_string())]
        );
        assert_eq!(call_labels("/etcdserverpb.KV/Range")[2].1, "unary");
        assert_eq!(call_labels("/etcdserverpb.KV/Nonsense")[0].1, "unknown");
        assert_eq!(call_labels("/x.Y/Z")[1].1, "unknown");
        assert_eq!((code_name(b"0"), code_name(b"14"), code_name(b"99"), code_name(b"x")), ("OK", "Unavailable", "Unknown", "Unknown"));
    }
}
