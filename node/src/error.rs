//! Errors a client can see, each with etcd's gRPC status code and message (etcd
//! `api/v3rpc/rpctypes/error.go`), so etcdctl and etcd's client libraries react to them as they do
//! to etcd's.

/// An error returned to a client. The Display text is etcd's message, verbatim.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    #[error("etcdserver: key not found")]
    KeyNotFound,
    #[error("etcdserver: value is provided")]
    ValueProvided,
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    #[error("etcdserver: request is too large")]
    RequestTooLarge,
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision,
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
    #[error("etcdserver: not leader")]
    NotLeader,
    #[error("etcdserver: leader changed")]
    LeaderChanged,
    #[error("etcdserver: mvcc: watcher range is empty")]
    EmptyWatcherRange,
    /// An error that etcd returns as a plain Go error, which gRPC sends with code Unknown (the
    /// election and lock services do: "election: no leader", "election: not leader").
    #[error("{0}")]
    Unknown(String),
    #[error("etcdserver: no leader")]
    NoLeader,
    #[error("etcdserver: request timed out")]
    Timeout,
    #[error("etcdserver: server stopped")]
    Stopped,
    #[error("etcdserver: {0}")]
    InvalidArgument(String),
    #[error("etcdserver: root user does not exist")]
    RootUserNotExist,
    #[error("etcdserver: root user does not have root role")]
    RootRoleNotExist,
    #[error("etcdserver: user name already exists")]
    UserAlreadyExist,
    #[error("etcdserver: user name is empty")]
    UserEmpty,
    #[error("etcdserver: user name not found")]
    UserNotFound,
    #[error("etcdserver: role name already exists")]
    RoleAlreadyExist,
    #[error("etcdserver: role name not found")]
    RoleNotFound,
    #[error("etcdserver: role name is empty")]
    RoleEmpty,
    #[error("etcdserver: authentication failed, invalid user ID or password")]
    AuthFailed,
    #[error("etcdserver: permission denied")]
    PermissionDenied,
    #[error("etcdserver: role is not granted to the user")]
    RoleNotGranted,
    #[error("etcdserver: permission is not granted to the role")]
    PermissionNotGranted,
    #[error("etcdserver: authentication is not enabled")]
    AuthNotEnabled,
    #[error("etcdserver: invalid auth token")]
    InvalidAuthToken,
    #[error("etcdserver: invalid auth management")]
    InvalidAuthMgmt,
    #[error("etcdserver: revision of auth store is old")]
    AuthOldRevision,
}

/// gRPC status codes used by etcd's errors (numbers are gRPC's wire codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcCode {
    Unknown = 2,
    InvalidArgument = 3,
    NotFound = 5,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    OutOfRange = 11,
    Unavailable = 14,
    Unauthenticated = 16,
}

impl ApiError {
    /// The gRPC status code etcd returns this error with.
    pub fn code(&self) -> GrpcCode {
        use ApiError::*;
        match self {
            EmptyKey | KeyNotFound | ValueProvided | LeaseProvided | TooManyOps | DuplicateKey | RequestTooLarge
            | InvalidArgument(_) => GrpcCode::InvalidArgument,
            Compacted | FutureRevision => GrpcCode::OutOfRange,
            LeaseNotFound => GrpcCode::NotFound,
            LeaseExists => GrpcCode::FailedPrecondition,
            LeaseTtlTooLarge => GrpcCode::OutOfRange,
            EmptyWatcherRange => GrpcCode::InvalidArgument,
            NoLeader | Timeout | Stopped | NotLeader | LeaderChanged => GrpcCode::Unavailable,
            Unknown(_) => GrpcCode::Unknown,
            RootUserNotExist | RootRoleNotExist | UserAlreadyExist | UserNotFound | RoleAlreadyExist | RoleNotFound
            | RoleNotGranted | PermissionNotGranted | AuthNotEnabled => GrpcCode::FailedPrecondition,
            UserEmpty | RoleEmpty | AuthFailed | InvalidAuthMgmt | AuthOldRevision => GrpcCode::InvalidArgument,
            PermissionDenied => GrpcCode::PermissionDenied,
            InvalidAuthToken => GrpcCode::Unauthenticated,
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        let code = match e.code() {
            GrpcCode::Unknown => tonic::Code::Unknown,
            GrpcCode::InvalidArgument => tonic::Code::InvalidArgument,
            GrpcCode::NotFound => tonic::Code::NotFound,
            GrpcCode::ResourceExhausted => tonic::Code::ResourceExhausted,
            GrpcCode::FailedPrecondition => tonic::Code::FailedPrecondition,
            GrpcCode::OutOfRange => tonic::Code::OutOfRange,
            GrpcCode::Unavailable => tonic::Code::Unavailable,
            GrpcCode::PermissionDenied => tonic::Code::PermissionDenied,
            GrpcCode::Unauthenticated => tonic::Code::Unauthenticated,
        };
        tonic::Status::new(code, e.to_string())
    }
}
