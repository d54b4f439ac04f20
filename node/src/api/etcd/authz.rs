//! Who a request runs as (etcd `AuthInfoFromCtx`): the user its simple token names, looked up in
//! this member's token table, with the auth revision at that moment.
//!
//! Every service handler starts with [`Shared::for_request`] and serves the request through the
//! copy it returns: proposals carry the caller (checked when applied, against the auth revision
//! then), and local reads check it against the state they read under the same lock, so no change
//! to users or roles can fall between the check and the read (etcd re-checks the revision after
//! the read instead).

use super::Shared;
use crate::error::ApiError;
use crate::state::auth::tokens::SimpleTokens;
use crate::state::auth::{AuthError, Caller};
use crate::types::Index;
use tonic::metadata::MetadataMap;

/// The metadata keys a client's token may come in (etcd's `TokenFieldNameGRPC` and, for its
/// gRPC gateway, `TokenFieldNameSwagger`).
const TOKEN_KEYS: [&str; 2] = ["token", "authorization"];

impl Shared {
    /// A copy of this context that runs as the caller the request's token names (none without a
    /// token).
    ///
    /// # Errors
    /// `InvalidAuthToken` for a token this member does not know (malformed, expired, dropped, or
    /// naming an entry it has not applied within the request timeout).
    pub async fn for_request(&self, metadata: &MetadataMap) -> Result<Shared, ApiError> {
        let caller = self.caller_of(metadata).await?;
        Ok(Shared { caller, ..self.clone() })
    }

    async fn caller_of(&self, metadata: &MetadataMap) -> Result<Option<Caller>, ApiError> {
        let Some(token) = TOKEN_KEYS.iter().find_map(|k| metadata.get(*k)) else {
            return Ok(None);
        };
        let token = token.to_str().map_err(|_| ApiError::InvalidAuthToken)?;
        let index = SimpleTokens::index_of(token).ok_or(ApiError::InvalidAuthToken)?;
        self.wait_applied(index).await.map_err(|_| ApiError::InvalidAuthToken)?;
        let now = self.clock.now();
        let mut state = self.state();
        let revision = state.auth.revision();
        let user = state.tokens.lookup(token, now).ok_or(ApiError::InvalidAuthToken)?;
        Ok(Some(Caller { user, revision }))
    }

    /// Waits until this member has applied `index`, at most the request timeout.
    async fn wait_applied(&self, index: Index) -> Result<(), ApiError> {
        let mut progress = self.state().subscribe();
        match self.clock.timeout(self.timing.request_timeout(), progress.wait_for(|p| p.applied >= index)).await {
            Some(Ok(_)) => Ok(()),
            Some(Err(_)) => Err(ApiError::Stopped),
            None => Err(ApiError::Timeout),
        }
    }

    /// Whether the caller may manage auth (etcd `IsAdminPermitted`), against the current state.
    pub fn check_admin(&self) -> Result<(), AuthError> {
        self.state().auth.check_admin(self.caller.as_ref())
    }
}
