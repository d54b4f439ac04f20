//! etcd's users, roles and key permissions (etcd `auth/store.go`), replicated like the store: they
//! change only when a committed entry is applied, travel in snapshots, and come back after a
//! restart. Pure: passwords arrive already hashed (bcrypt, by the member that took the request,
//! with a salt from its seeded RNG), so applying is deterministic and no password is in the log.
//!
//! The rules, as etcd 3.4 applies them:
//! - `enable` needs a user `root` holding the role `root`; once enabled, `root` cannot be
//!   deleted, nor lose the `root` role, nor can the `root` role be deleted.
//! - Every change to users, roles or permissions bumps the auth revision by one (enabling does
//!   not; disabling does; granting a role the user already has changes nothing). A request checked
//!   against an older revision is refused (`AuthOldRevision`), so a revoke takes effect for every
//!   request applied after it, whatever its member cached.
//! - A holder of the `root` role may do everything; anyone else needs, for a single key, a
//!   permission of the right kind containing it, and for a range, permissions whose union covers
//!   the whole range ([`perms`]).
//!
//! Not replicated: the simple tokens each member hands out ([`tokens`]); a token names its
//! entry's index, and every member learns it by applying that entry.

pub mod perms;
pub mod requests;
pub mod tokens;

use crate::error::ApiError;
use crate::types::AuthRevision;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub const ROOT_USER: &str = "root";
pub const ROOT_ROLE: &str = "root";

/// Errors of the auth store, as etcd's `auth` package names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("auth: root user does not exist")]
    RootUserNotExist,
    #[error("auth: root user does not have root role")]
    RootRoleNotExist,
    #[error("auth: user already exists")]
    UserAlreadyExist,
    #[error("auth: user name is empty")]
    UserEmpty,
    #[error("auth: user not found")]
    UserNotFound,
    #[error("auth: role already exists")]
    RoleAlreadyExist,
    #[error("auth: role not found")]
    RoleNotFound,
    #[error("auth: role name is empty")]
    RoleEmpty,
    #[error("auth: authentication failed, invalid user ID or password")]
    AuthFailed,
    #[error("auth: authentication failed, password was given for no password user")]
    NoPasswordUser,
    #[error("auth: permission denied")]
    PermissionDenied,
    #[error("auth: role is not granted to the user")]
    RoleNotGranted,
    #[error("auth: permission is not granted to the role")]
    PermissionNotGranted,
    #[error("auth: authentication is not enabled")]
    AuthNotEnabled,
    #[error("auth: revision in header is old")]
    AuthOldRevision,
    #[error("auth: invalid auth token")]
    InvalidAuthToken,
    #[error("auth: invalid auth management")]
    InvalidAuthMgmt,
}

impl AuthError {
    /// The error as a service that passes the auth package's error through unconverted answers
    /// it: gRPC `Unknown` with the package's text (etcd's maintenance service does).
    pub fn raw(self) -> ApiError {
        ApiError::Unknown(self.to_string())
    }
}

/// As etcd's `togRPCError` converts them (the KV, Auth and Watch services): `etcdserver: ...` with
/// etcd's codes; an error it has no mapping for goes out as `Unknown` with the package's text.
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        use AuthError as A;
        match e {
            A::RootUserNotExist => ApiError::RootUserNotExist,
            A::RootRoleNotExist => ApiError::RootRoleNotExist,
            A::UserAlreadyExist => ApiError::UserAlreadyExist,
            A::UserEmpty => ApiError::UserEmpty,
            A::UserNotFound => ApiError::UserNotFound,
            A::RoleAlreadyExist => ApiError::RoleAlreadyExist,
            A::RoleNotFound => ApiError::RoleNotFound,
            A::RoleEmpty => ApiError::RoleEmpty,
            A::AuthFailed => ApiError::AuthFailed,
            A::PermissionDenied => ApiError::PermissionDenied,
            A::RoleNotGranted => ApiError::RoleNotGranted,
            A::PermissionNotGranted => ApiError::PermissionNotGranted,
            A::AuthNotEnabled => ApiError::AuthNotEnabled,
            A::AuthOldRevision => ApiError::AuthOldRevision,
            A::InvalidAuthToken => ApiError::InvalidAuthToken,
            A::InvalidAuthMgmt => ApiError::InvalidAuthMgmt,
            A::NoPasswordUser => e.raw(),
        }
    }
}

/// What a permission allows (etcd `authpb.Permission.Type`, same numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermKind {
    Read = 0,
    Write = 1,
    ReadWrite = 2,
}

impl PermKind {
    /// From the wire value; `None` for a number etcd does not define.
    pub fn from_i32(v: i32) -> Option<PermKind> {
        match v {
            0 => Some(PermKind::Read),
            1 => Some(PermKind::Write),
            2 => Some(PermKind::ReadWrite),
            _ => None,
        }
    }

    /// Whether a permission of this kind allows `want` (`Read` or `Write`).
    pub fn allows(self, want: PermKind) -> bool {
        self == PermKind::ReadWrite || self == want
    }
}

/// One key permission of a role: a single key (`range_end` empty), a range `[key, range_end)`,
/// or every key from `key` on (`range_end` = `\0`), as etcd stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub kind: PermKind,
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The bcrypt hash (`$2a$...`), or `None` for a user created with `--no-password` (only a
    /// client certificate's common name can act as it).
    pub password: Option<String>,
    pub roles: BTreeSet<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Sorted by key, as etcd keeps them (equal keys in the order they were granted).
    pub perms: Vec<Permission>,
}

/// Who a request runs as: the user its token (or client certificate) names, and the auth revision
/// when that was looked up (etcd's `AuthInfo`). A request without either has no caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub revision: AuthRevision,
}

/// The replicated auth state (module doc).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthStore {
    enabled: bool,
    revision: AuthRevision,
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
}

impl Default for AuthStore {
    fn default() -> Self {
        AuthStore::new()
    }
}

impl AuthStore {
    /// Auth disabled, no users or roles, revision 1 (etcd starts its auth revision at 1).
    pub fn new() -> AuthStore {
        AuthStore { enabled: false, revision: AuthRevision(1), users: BTreeMap::new(), roles: BTreeMap::new() }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn revision(&self) -> AuthRevision {
        self.revision
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// User names, sorted.
    pub fn user_names(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// Role names, sorted.
    pub fn role_names(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    pub fn has_role(&self, user: &str, role: &str) -> bool {
        self.users.get(user).is_some_and(|u| u.roles.contains(role))
    }

    fn commit(&mut self) {
        self.revision = AuthRevision(self.revision.0 + 1);
    }

    // ---- changes (applied from committed entries) ----

    pub fn enable(&mut self) -> Result<(), AuthError> {
        if self.enabled {
            return Ok(());
        }
        let root = self.users.get(ROOT_USER).ok_or(AuthError::RootUserNotExist)?;
        if !root.roles.contains(ROOT_ROLE) {
            return Err(AuthError::RootRoleNotExist);
        }
        self.enabled = true;
        Ok(())
    }

    pub fn disable(&mut self) {
        if self.enabled {
            self.enabled = false;
            self.commit();
        }
    }

    /// Adds a user with a bcrypt hash, or with no password (`None`).
    pub fn user_add(&mut self, name: &str, password: Option<String>) -> Result<(), AuthError> {
        if name.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        if self.users.contains_key(name) {
            return Err(AuthError::UserAlreadyExist);
        }
        self.users.insert(name.to_string(), User { password, roles: BTreeSet::new() });
        self.commit();
        Ok(())
    }

    pub fn user_delete(&mut self, name: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT_USER {
            return Err(AuthError::InvalidAuthMgmt);
        }
        self.users.remove(name).ok_or(AuthError::UserNotFound)?;
        self.commit();
        Ok(())
    }

    pub fn user_change_password(&mut self, name: &str, password: String) -> Result<(), AuthError> {
        let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
        user.password = Some(password);
        self.commit();
        Ok(())
    }

    pub fn user_grant_role(&mut self, name: &str, role: &str) -> Result<(), AuthError> {
        if !self.users.contains_key(name) {
            return Err(AuthError::UserNotFound);
        }
        if role != ROOT_ROLE && !self.roles.contains_key(role) {
            return Err(AuthError::RoleNotFound);
        }
        let user = self.users.get_mut(name).expect("checked above");
        if user.roles.insert(role.to_string()) {
            self.commit();
        }
        Ok(())
    }

    pub fn user_revoke_role(&mut self, name: &str, role: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT_USER && role == ROOT_ROLE {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
        if !user.roles.remove(role) {
            return Err(AuthError::RoleNotGranted);
        }
        self.commit();
        Ok(())
    }

    pub fn role_add(&mut self, name: &str) -> Result<(), AuthError> {
        if name.is_empty() {
            return Err(AuthError::RoleEmpty);
        }
        if self.roles.contains_key(name) {
            return Err(AuthError::RoleAlreadyExist);
        }
        self.roles.insert(name.to_string(), Role::default());
        self.commit();
        Ok(())
    }

    /// Deletes a role and takes it from every user who had it.
    pub fn role_delete(&mut self, name: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT_ROLE {
            return Err(AuthError::InvalidAuthMgmt);
        }
        self.roles.remove(name).ok_or(AuthError::RoleNotFound)?;
        for user in self.users.values_mut() {
            user.roles.remove(name);
        }
        self.commit();
        Ok(())
    }

    /// Grants a permission, or changes the kind of the role's permission on exactly that key and
    /// range end.
    pub fn role_grant_permission(&mut self, name: &str, perm: Permission) -> Result<(), AuthError> {
        let role = self.roles.get_mut(name).ok_or(AuthError::RoleNotFound)?;
        match role.perms.iter_mut().find(|p| p.key == perm.key && p.range_end == perm.range_end) {
            Some(existing) => existing.kind = perm.kind,
            None => {
                role.perms.push(perm);
                role.perms.sort_by(|a, b| a.key.cmp(&b.key)); // stable: equal keys keep their order
            }
        }
        self.commit();
        Ok(())
    }

    pub fn role_revoke_permission(&mut self, name: &str, key: &[u8], range_end: &[u8]) -> Result<(), AuthError> {
        let role = self.roles.get_mut(name).ok_or(AuthError::RoleNotFound)?;
        let before = role.perms.len();
        role.perms.retain(|p| !(p.key == key && p.range_end == range_end));
        if role.perms.len() == before {
            return Err(AuthError::PermissionNotGranted);
        }
        self.commit();
        Ok(())
    }

    // ---- checks ----

    /// Whether `caller` may read (`want` = `Read`) or write (`Write`) the key `key` (`range_end`
    /// empty) or the range `[key, range_end)` (etcd `isOpPermitted`). Always allowed while auth
    /// is disabled.
    ///
    /// # Errors
    /// `UserEmpty` without a caller, `AuthOldRevision` if the caller was looked up before the last
    /// change, `PermissionDenied` otherwise.
    pub fn check(&self, caller: Option<&Caller>, key: &[u8], range_end: &[u8], want: PermKind) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        let caller = caller.filter(|c| c.revision.0 != 0).ok_or(AuthError::UserEmpty)?;
        if caller.revision < self.revision {
            return Err(AuthError::AuthOldRevision);
        }
        let user = self.users.get(&caller.user).ok_or(AuthError::PermissionDenied)?;
        if user.roles.contains(ROOT_ROLE) {
            return Ok(());
        }
        let granted = user.roles.iter().filter_map(|r| self.roles.get(r)).flat_map(|r| &r.perms).filter(|p| p.kind.allows(want));
        if perms::permits(granted, key, range_end) {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied)
        }
    }

    /// Whether `caller` may manage auth and run maintenance (etcd `IsAdminPermitted`): anyone
    /// while auth is disabled, then only holders of the `root` role.
    pub fn check_admin(&self, caller: Option<&Caller>) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        let caller = caller.filter(|c| !c.user.is_empty()).ok_or(AuthError::UserEmpty)?;
        let user = self.users.get(&caller.user).ok_or(AuthError::UserNotFound)?;
        if user.roles.contains(ROOT_ROLE) {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied)
        }
    }

    /// The bcrypt hash to check `name`'s password against, and the auth revision it belongs to
    /// (etcd `CheckPassword` up to the comparison, which [`verify_password`] does: it costs tens
    /// of milliseconds of CPU, so the caller does it without holding the state).
    pub fn password_of(&self, name: &str) -> Result<(String, AuthRevision), AuthError> {
        if !self.enabled {
            return Err(AuthError::AuthNotEnabled);
        }
        let user = self.users.get(name).ok_or(AuthError::AuthFailed)?;
        let hash = user.password.clone().ok_or(AuthError::NoPasswordUser)?;
        Ok((hash, self.revision))
    }

    /// Whether `name` may be handed a token (applying an authenticate entry).
    pub fn can_authenticate(&self, name: &str) -> Result<(), AuthError> {
        if !self.enabled {
            return Err(AuthError::AuthNotEnabled);
        }
        match self.users.get(name) {
            Some(u) if u.password.is_some() => Ok(()),
            _ => Err(AuthError::AuthFailed),
        }
    }
}

/// Whether `password` matches the bcrypt `hash` (a malformed hash matches nothing).
pub fn verify_password(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// A bcrypt hash of `password` at `cost` with `salt`, in the `$2a$` form Go's bcrypt (etcd's)
/// writes and reads.
///
/// # Errors
/// A cost outside bcrypt's 4..=31.
pub fn hash_password(password: &str, cost: u32, salt: [u8; 16]) -> Result<String, String> {
    bcrypt::hash_with_salt(password, cost, salt).map(|h| h.format_for_version(bcrypt::Version::TwoA)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
