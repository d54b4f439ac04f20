//! etcd's simple tokens (`--auth-token=simple`, `auth/simple_token.go`): `PREFIX.INDEX`, where
//! PREFIX is 16 random letters the authenticating member drew and INDEX the index of the entry
//! that granted it. Every member learns a token by applying that entry, so a client may use it at
//! any member; a member that has not applied INDEX yet waits for it before answering "invalid".
//!
//! Member-local and not replicated (not in snapshots, as in etcd): a member that restores a
//! snapshot forgets tokens granted before it, and clients authenticate again. A token expires
//! after the TTL (`--auth-token-ttl`, 300 s) without use; every use restarts it. Deleting a user,
//! changing their password or disabling auth drops their tokens.
//!
//! Time comes in as arguments (the state machine reads no clock): a token's TTL starts at the
//! first lookup on this member after it was granted ([`SimpleTokens::lookup`] stamps every new
//! token), which on a member serving clients is within one request of the grant.

use crate::clock::LocalTime;
use crate::types::Index;
use std::collections::BTreeMap;
use std::time::Duration;

/// etcd's default `--auth-token-ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// The letters a token prefix is drawn from, as etcd's.
pub const PREFIX_LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const PREFIX_LEN: usize = 16;

#[derive(Clone, Debug)]
struct Token {
    user: String,
    /// `None` until the first lookup after the grant.
    expires: Option<LocalTime>,
}

#[derive(Clone, Debug)]
pub struct SimpleTokens {
    tokens: BTreeMap<String, Token>,
    ttl: Duration,
}

impl SimpleTokens {
    pub fn new(ttl: Duration) -> SimpleTokens {
        SimpleTokens { tokens: BTreeMap::new(), ttl }
    }

    /// Records the token granted to `user` by the entry at `index` and returns it.
    pub fn assign(&mut self, prefix: &str, index: Index, user: &str) -> String {
        let token = format!("{prefix}.{}", index.0);
        self.tokens.insert(token.clone(), Token { user: user.to_string(), expires: None });
        token
    }

    /// The index a well-formed token names (the entry a member must have applied to know it).
    pub fn index_of(token: &str) -> Option<Index> {
        let (_, index) = token.split_once('.')?;
        index.parse().ok().map(Index)
    }

    /// The user `token` belongs to, if it is known and has not expired at `now`; a hit restarts
    /// its TTL. Also starts the TTL of tokens granted since the last lookup and forgets expired ones.
    pub fn lookup(&mut self, token: &str, now: LocalTime) -> Option<String> {
        let ttl = self.ttl;
        self.tokens.retain(|_, t| {
            let expires = *t.expires.get_or_insert(now.plus(ttl));
            expires > now
        });
        let t = self.tokens.get_mut(token)?;
        t.expires = Some(now.plus(ttl));
        Some(t.user.clone())
    }

    pub fn invalidate_user(&mut self, user: &str) {
        self.tokens.retain(|_, t| t.user != user);
    }

    pub fn clear(&mut self) {
        self.tokens.clear();
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_lives_for_its_ttl_after_each_use() {
        let mut t = SimpleTokens::new(Duration::from_secs(10));
        let tok = t.assign("abcdefghijklmnop", Index(7), "alice");
        assert_eq!(tok, "abcdefghijklmnop.7");
        assert_eq!(SimpleTokens::index_of(&tok), Some(Index(7)));
        let s = |n: i128| LocalTime(n * 1_000_000_000);
        assert_eq!(t.lookup(&tok, s(0)).as_deref(), Some("alice"));
        assert_eq!(t.lookup(&tok, s(9)).as_deref(), Some("alice"), "used at 9 s: lives until 19 s");
        assert_eq!(t.lookup(&tok, s(18)).as_deref(), Some("alice"));
        assert_eq!(t.lookup(&tok, s(29)), None, "unused for 11 s");
        assert!(t.is_empty(), "the expired token is forgotten");
    }

    #[test]
    fn unknown_malformed_and_invalidated_tokens_are_refused() {
        let mut t = SimpleTokens::new(DEFAULT_TTL);
        let a = t.assign("p", Index(1), "alice");
        let b = t.assign("q", Index(2), "bob");
        assert_eq!(t.lookup("nope.1", LocalTime(0)), None);
        assert_eq!(SimpleTokens::index_of("nodot"), None);
        assert_eq!(SimpleTokens::index_of("x.notanumber"), None);
        t.invalidate_user("alice");
        assert_eq!(t.lookup(&a, LocalTime(0)), None);
        assert_eq!(t.lookup(&b, LocalTime(0)).as_deref(), Some("bob"));
        t.clear();
        assert_eq!(t.lookup(&b, LocalTime(0)), None);
    }
}
