use super::*;

fn perm(kind: PermKind, key: &str, range_end: &[u8]) -> Permission {
    Permission { kind, key: key.as_bytes().to_vec(), range_end: range_end.to_vec() }
}

/// The golden file's `reader`: read web*, readwrite [a, c), write stock1, read z and after.
fn store_with_reader() -> AuthStore {
    let mut s = AuthStore::new();
    s.role_add("reader").unwrap();
    s.role_grant_permission("reader", perm(PermKind::Read, "web", b"wec")).unwrap();
    s.role_grant_permission("reader", perm(PermKind::ReadWrite, "a", b"c")).unwrap();
    s.role_grant_permission("reader", perm(PermKind::Write, "stock1", b"")).unwrap();
    s.role_grant_permission("reader", perm(PermKind::Read, "z", b"\0")).unwrap();
    s.user_add("root", Some("x".into())).unwrap();
    s.user_grant_role("root", ROOT_ROLE).unwrap();
    s.user_add("alice", Some("x".into())).unwrap();
    s.user_grant_role("alice", "reader").unwrap();
    s.enable().unwrap();
    s
}

fn caller(s: &AuthStore, user: &str) -> Caller {
    Caller { user: user.into(), revision: s.revision() }
}

#[test]
fn permissions_follow_etcds_interval_rules() {
    let s = store_with_reader();
    let alice = caller(&s, "alice");
    let ok = |key: &str, end: &[u8], want| s.check(Some(&alice), key.as_bytes(), end, want).is_ok();
    use PermKind::{Read, Write};
    assert!(ok("web", b"wec", Read), "get web --prefix");
    assert!(ok("web1", b"", Read), "a key inside the prefix");
    assert!(!ok("\0", b"\0", Read), "get \"\" --prefix");
    assert!(ok("z", b"\0", Read), "get z --from-key");
    assert!(ok("zz", b"", Read));
    assert!(!ok("web1", b"", Write), "read-only");
    assert!(ok("stock1", b"", Write) && !ok("stock1", b"", Read), "write-only");
    assert!(ok("a", b"c", Write) && ok("b", b"", Read));
    assert!(!ok("a", b"d", Write), "the range sticks out past c");
    assert!(!ok("c", b"", Read), "c is outside [a, c)");
    assert!(!ok("foo", b"", Read));
}

#[test]
fn a_range_may_be_covered_by_several_permissions_together() {
    let mut s = store_with_reader();
    s.role_grant_permission("reader", perm(PermKind::Read, "c", b"e")).unwrap();
    let alice = caller(&s, "alice");
    assert!(s.check(Some(&alice), b"a", b"e", PermKind::Read).is_ok(), "[a, c) + [c, e)");
    assert!(s.check(Some(&alice), b"a", b"f", PermKind::Read).is_err());
    assert!(s.check(Some(&alice), b"a", b"e", PermKind::Write).is_err(), "[c, e) is read-only");
}

#[test]
fn root_may_do_everything_and_no_caller_is_an_empty_user() {
    let s = store_with_reader();
    assert!(s.check(Some(&caller(&s, "root")), b"\0", b"\0", PermKind::Write).is_ok());
    assert_eq!(s.check(None, b"foo", b"", PermKind::Read), Err(AuthError::UserEmpty));
    assert_eq!(s.check(Some(&caller(&s, "nobody")), b"foo", b"", PermKind::Read), Err(AuthError::PermissionDenied));
    assert_eq!(s.check_admin(Some(&caller(&s, "alice"))), Err(AuthError::PermissionDenied));
    assert_eq!(s.check_admin(Some(&caller(&s, "nobody"))), Err(AuthError::UserNotFound));
    assert_eq!(s.check_admin(None), Err(AuthError::UserEmpty));
    assert!(s.check_admin(Some(&caller(&s, "root"))).is_ok());
}

#[test]
fn a_change_makes_earlier_lookups_stale() {
    let mut s = store_with_reader();
    let before = caller(&s, "alice");
    s.role_revoke_permission("reader", b"web", b"wec").unwrap();
    assert_eq!(s.check(Some(&before), b"a", b"", PermKind::Read), Err(AuthError::AuthOldRevision));
    assert_eq!(s.check(Some(&caller(&s, "alice")), b"web1", b"", PermKind::Read), Err(AuthError::PermissionDenied));
    let r = s.revision();
    s.user_grant_role("alice", "reader").unwrap();
    assert_eq!(s.revision(), r, "granting a role the user has changes nothing");
}

#[test]
fn enabling_needs_root_with_the_root_role_and_protects_it() {
    let mut s = AuthStore::new();
    assert_eq!(s.enable(), Err(AuthError::RootUserNotExist));
    s.user_add("root", None).unwrap();
    assert_eq!(s.enable(), Err(AuthError::RootRoleNotExist));
    s.user_grant_role("root", ROOT_ROLE).unwrap();
    let r = s.revision();
    s.enable().unwrap();
    assert_eq!(s.revision(), r, "enabling does not bump the revision");
    assert_eq!(s.user_delete("root"), Err(AuthError::InvalidAuthMgmt));
    assert_eq!(s.user_revoke_role("root", ROOT_ROLE), Err(AuthError::InvalidAuthMgmt));
    assert_eq!(s.role_delete(ROOT_ROLE), Err(AuthError::InvalidAuthMgmt));
    s.disable();
    assert_eq!(s.revision().0, r.0 + 1, "disabling does");
    s.user_delete("root").unwrap();
}

#[test]
fn errors_are_etcds() {
    let mut s = AuthStore::new();
    assert_eq!(s.user_add("", None), Err(AuthError::UserEmpty));
    assert_eq!(s.role_add(""), Err(AuthError::RoleEmpty));
    s.role_add("r").unwrap();
    assert_eq!(s.role_add("r"), Err(AuthError::RoleAlreadyExist));
    s.user_add("u", None).unwrap();
    assert_eq!(s.user_add("u", None), Err(AuthError::UserAlreadyExist));
    assert_eq!(s.user_grant_role("u", "nope"), Err(AuthError::RoleNotFound));
    assert_eq!(s.user_grant_role("nope", "r"), Err(AuthError::UserNotFound));
    assert_eq!(s.user_revoke_role("u", "r"), Err(AuthError::RoleNotGranted));
    assert_eq!(s.role_revoke_permission("r", b"k", b""), Err(AuthError::PermissionNotGranted));
    assert_eq!(s.role_grant_permission("nope", perm(PermKind::Read, "k", b"")), Err(AuthError::RoleNotFound));
    assert_eq!(s.password_of("u"), Err(AuthError::AuthNotEnabled));
    let before = s.clone();
    assert!(s.user_delete("nope").is_err() && s.role_delete("nope").is_err());
    assert_eq!(s, before, "failed changes change nothing");
}

#[test]
fn deleting_a_role_takes_it_from_its_users_and_regranting_updates_the_kind() {
    let mut s = store_with_reader();
    s.role_grant_permission("reader", perm(PermKind::ReadWrite, "web", b"wec")).unwrap();
    assert_eq!(s.role("reader").unwrap().perms.len(), 4, "same key and range end: updated in place");
    assert!(s.check(Some(&caller(&s, "alice")), b"web1", b"", PermKind::Write).is_ok());
    s.role_delete("reader").unwrap();
    assert!(s.user("alice").unwrap().roles.is_empty());
}

#[test]
fn passwords_are_checked_against_their_bcrypt_hash() {
    let mut s = AuthStore::new();
    let hash = hash_password("123", 4, [7; 16]).unwrap();
    assert!(hash.starts_with("$2a$04$"));
    s.user_add("root", Some(hash)).unwrap();
    s.user_add("bob", None).unwrap();
    s.user_grant_role("root", ROOT_ROLE).unwrap();
    s.enable().unwrap();
    let (h, rev) = s.password_of("root").unwrap();
    assert_eq!(rev, s.revision());
    assert!(verify_password("123", &h) && !verify_password("124", &h));
    assert!(!verify_password("123", "not a hash"));
    assert_eq!(s.password_of("nobody"), Err(AuthError::AuthFailed));
    assert_eq!(s.password_of("bob"), Err(AuthError::NoPasswordUser));
    assert_eq!(s.can_authenticate("bob"), Err(AuthError::AuthFailed));
}
