//! `etcdserverpb.Auth`: enabling auth, authenticating, and managing users, roles and permissions
//! (etcd 3.4's semantics and errors; the rules live in `state/auth/`).
//!
//! Changes go through Raft, checked when applied (only a `root` may make them once auth is
//! enabled). Reads (user/role get and list, status) are linearizable: a ReadIndex round, then
//! the local state. Passwords are hashed here, before proposing, with a salt from the member's
//! seeded RNG, so the log carries neither a password nor anything that differs between members;
//! hashing and checking run off the async workers (bcrypt at cost 10 is tens of milliseconds).

use super::Shared;
use crate::error::ApiError;
use crate::pb::authpb;
use crate::pb::etcdserverpb::auth_server::Auth;
use crate::pb::etcdserverpb::*;
use crate::state::auth::{self as store, tokens};
use crate::state::request::{Applied, AuthenticateEntry, Op};
use rand::Rng;
use tonic::{Request, Response, Status};

pub struct AuthService {
    pub shared: Shared,
}

/// Runs CPU-heavy work (bcrypt) where blocking is acceptable: a blocking-pool thread in real mode,
/// a task in simulation (madsim has no threads; its `spawn_blocking` is a plain task).
async fn off_the_workers<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    #[allow(deprecated)] // madsim deprecates it to discourage blocking; here it is what we want
    tokio::task::spawn_blocking(f).await.map_err(|_| ApiError::Stopped)
}

impl AuthService {
    /// Proposes an auth change as the request's caller; the header of etcd's empty response.
    async fn change<T>(&self, req: &Request<T>, op: Op) -> Result<Option<ResponseHeader>, Status> {
        let shared = self.shared.for_request(req.metadata()).await?;
        match shared.propose(op).await? {
            Applied::Auth => Ok(shared.header(shared.current_revision())),
            other => unreachable!("auth change applied as {other:?}"),
        }
    }

    /// The request's caller, after a ReadIndex round: for the linearizable reads.
    async fn reader<T>(&self, req: &Request<T>) -> Result<Shared, Status> {
        let shared = self.shared.for_request(req.metadata()).await?;
        shared.read_barrier().await?;
        Ok(shared)
    }

    /// A bcrypt hash of `password` at the configured cost, salted from the member's RNG.
    async fn hash(&self, password: String) -> Result<String, Status> {
        let salt: [u8; 16] = self.shared.rng.lock().expect("rng lock").gen();
        let cost = self.shared.auth.bcrypt_cost;
        off_the_workers(move || store::hash_password(&password, cost, salt)).await?.map_err(Status::internal)
    }

    fn token_prefix(&self) -> String {
        let mut rng = self.shared.rng.lock().expect("rng lock");
        (0..tokens::PREFIX_LEN).map(|_| tokens::PREFIX_LETTERS[rng.gen_range(0..tokens::PREFIX_LETTERS.len())] as char).collect()
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(&self, req: Request<AuthEnableRequest>) -> Result<Response<AuthEnableResponse>, Status> {
        let header = self.change(&req, Op::AuthEnable(AuthEnableRequest {})).await?;
        Ok(Response::new(AuthEnableResponse { header }))
    }

    async fn auth_disable(&self, req: Request<AuthDisableRequest>) -> Result<Response<AuthDisableResponse>, Status> {
        let header = self.change(&req, Op::AuthDisable(AuthDisableRequest {})).await?;
        Ok(Response::new(AuthDisableResponse { header }))
    }

    async fn auth_status(&self, req: Request<AuthStatusRequest>) -> Result<Response<AuthStatusResponse>, Status> {
        let shared = self.reader(&req).await?;
        let (enabled, auth_revision) = {
            let state = shared.state();
            (state.auth.enabled(), state.auth.revision().0)
        };
        Ok(Response::new(AuthStatusResponse { header: shared.header(shared.current_revision()), enabled, auth_revision }))
    }

    /// etcd's `Authenticate`: check the password here, then propose the token (its prefix drawn
    /// here, its index the entry's) so that every member knows it; again if users or roles
    /// changed between the check and the grant.
    async fn authenticate(&self, req: Request<AuthenticateRequest>) -> Result<Response<AuthenticateResponse>, Status> {
        let shared = &self.shared;
        shared.read_barrier().await?;
        let AuthenticateRequest { name, password } = req.into_inner();
        loop {
            let (hash, checked) = shared.state().auth.password_of(&name).map_err(ApiError::from)?;
            let password = password.clone();
            if !off_the_workers(move || store::verify_password(&password, &hash)).await? {
                return Err(ApiError::AuthFailed.into());
            }
            let entry = AuthenticateEntry { name: name.clone(), token_prefix: self.token_prefix() };
            let token = match shared.propose(Op::Authenticate(entry)).await? {
                Applied::Authenticated(token) => token,
                other => unreachable!("authenticate applied as {other:?}"),
            };
            if shared.state().auth.revision() == checked {
                return Ok(Response::new(AuthenticateResponse { header: shared.header(shared.current_revision()), token }));
            }
            tracing::info!(user = %name, "auth revision moved while authenticating; checking again");
        }
    }

    async fn user_add(&self, req: Request<AuthUserAddRequest>) -> Result<Response<AuthUserAddResponse>, Status> {
        let mut r = req.get_ref().clone();
        if r.name.is_empty() {
            return Err(ApiError::UserEmpty.into());
        }
        let no_password = r.options.is_some_and(|o| o.no_password);
        r.hashed_password = if no_password { String::new() } else { self.hash(std::mem::take(&mut r.password)).await? };
        r.password.clear();
        let header = self.change(&req, Op::UserAdd(r)).await?;
        Ok(Response::new(AuthUserAddResponse { header }))
    }

    async fn user_get(&self, req: Request<AuthUserGetRequest>) -> Result<Response<AuthUserGetResponse>, Status> {
        let shared = self.reader(&req).await?;
        let name = &req.get_ref().name;
        let roles = {
            let state = shared.state();
            if let Err(e) = state.auth.check_admin(shared.caller.as_ref()) {
                if shared.caller.as_ref().is_none_or(|c| c.user != *name) {
                    return Err(ApiError::from(e).into());
                }
            }
            let user = state.auth.user(name).ok_or(ApiError::UserNotFound)?;
            user.roles.iter().cloned().collect()
        };
        Ok(Response::new(AuthUserGetResponse { header: shared.header(shared.current_revision()), roles }))
    }

    async fn user_list(&self, req: Request<AuthUserListRequest>) -> Result<Response<AuthUserListResponse>, Status> {
        let shared = self.reader(&req).await?;
        shared.check_admin().map_err(ApiError::from)?;
        let users = shared.state().auth.user_names();
        Ok(Response::new(AuthUserListResponse { header: shared.header(shared.current_revision()), users }))
    }

    async fn user_delete(&self, req: Request<AuthUserDeleteRequest>) -> Result<Response<AuthUserDeleteResponse>, Status> {
        let header = self.change(&req, Op::UserDelete(req.get_ref().clone())).await?;
        Ok(Response::new(AuthUserDeleteResponse { header }))
    }

    async fn user_change_password(
        &self,
        req: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        let mut r = req.get_ref().clone();
        r.hashed_password = self.hash(std::mem::take(&mut r.password)).await?;
        let header = self.change(&req, Op::UserChangePassword(r)).await?;
        Ok(Response::new(AuthUserChangePasswordResponse { header }))
    }

    async fn user_grant_role(&self, req: Request<AuthUserGrantRoleRequest>) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        let header = self.change(&req, Op::UserGrantRole(req.get_ref().clone())).await?;
        Ok(Response::new(AuthUserGrantRoleResponse { header }))
    }

    async fn user_revoke_role(&self, req: Request<AuthUserRevokeRoleRequest>) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        let header = self.change(&req, Op::UserRevokeRole(req.get_ref().clone())).await?;
        Ok(Response::new(AuthUserRevokeRoleResponse { header }))
    }

    async fn role_add(&self, req: Request<AuthRoleAddRequest>) -> Result<Response<AuthRoleAddResponse>, Status> {
        let header = self.change(&req, Op::RoleAdd(req.get_ref().clone())).await?;
        Ok(Response::new(AuthRoleAddResponse { header }))
    }

    async fn role_get(&self, req: Request<AuthRoleGetRequest>) -> Result<Response<AuthRoleGetResponse>, Status> {
        let shared = self.reader(&req).await?;
        let name = &req.get_ref().role;
        let perm = {
            let state = shared.state();
            if let Err(e) = state.auth.check_admin(shared.caller.as_ref()) {
                if !shared.caller.as_ref().is_some_and(|c| state.auth.has_role(&c.user, name)) {
                    return Err(ApiError::from(e).into());
                }
            }
            let role = state.auth.role(name).ok_or(ApiError::RoleNotFound)?;
            role.perms
                .iter()
                .map(|p| authpb::Permission { perm_type: p.kind as i32, key: p.key.clone(), range_end: p.range_end.clone() })
                .collect()
        };
        Ok(Response::new(AuthRoleGetResponse { header: shared.header(shared.current_revision()), perm }))
    }

    async fn role_list(&self, req: Request<AuthRoleListRequest>) -> Result<Response<AuthRoleListResponse>, Status> {
        let shared = self.reader(&req).await?;
        shared.check_admin().map_err(ApiError::from)?;
        let roles = shared.state().auth.role_names();
        Ok(Response::new(AuthRoleListResponse { header: shared.header(shared.current_revision()), roles }))
    }

    async fn role_delete(&self, req: Request<AuthRoleDeleteRequest>) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        let header = self.change(&req, Op::RoleDelete(req.get_ref().clone())).await?;
        Ok(Response::new(AuthRoleDeleteResponse { header }))
    }

    async fn role_grant_permission(
        &self,
        req: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        let header = self.change(&req, Op::RoleGrantPermission(req.get_ref().clone())).await?;
        Ok(Response::new(AuthRoleGrantPermissionResponse { header }))
    }

    async fn role_revoke_permission(
        &self,
        req: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        let header = self.change(&req, Op::RoleRevokePermission(req.get_ref().clone())).await?;
        Ok(Response::new(AuthRoleRevokePermissionResponse { header }))
    }
}
