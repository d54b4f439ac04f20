//! The sequential specifications histories are checked against.
//!
//! - [`register`]: one register with read/write/cas, for Jepsen's etcd logs;
//! - [`kv_append`]: string keys with get/put/append, for Porcupine's kv logs (per-key partitions);
//! - [`etcd`]: etcd's KV and Lease APIs with revisions, for our own histories.

pub mod etcd;
pub mod kv_append;
pub mod register;

use std::fmt;
use std::str::FromStr;

/// Which model to check a history against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    Etcd,
    Register,
    KvAppend,
}

impl ModelKind {
    pub const ALL: [ModelKind; 3] = [ModelKind::Etcd, ModelKind::Register, ModelKind::KvAppend];

    /// The name used on the command line and in our history format's header.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Etcd => "etcd",
            ModelKind::Register => "register",
            ModelKind::KvAppend => "kv-append",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ModelKind::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown model {s:?}: expected etcd, register or kv-append"))
    }
}

#[cfg(test)]
pub(crate) mod testing;
