//! Auth state is replicated state (issue 14): users, roles, permissions and the enabled flag
//! survive a restart of every member, and reach a member that was down through a snapshot
//! install. Driven by the real etcdctl; the members snapshot and compact often
//! (`--snapshot-count=20`, `--experimental-snapshot-catchup-entries=5`), so a member that misses
//! a few dozen writes can only catch up from the leader's snapshot.

use detcd_e2e::*;
use std::time::Duration;

const STARTUP: Duration = Duration::from_secs(30);

/// The checks that show the auth state is whole, run against `endpoint` alone.
fn assert_auth_state(ctl: &Etcdctl, endpoint: &str, when: &str) {
    let ep = format!("--endpoints={endpoint}");
    let get = |user: &str, key: &str| ctl.run(&[ep.as_str(), &format!("--user={user}"), "get", key], b"");
    let alice = get("alice:secret", "web1");
    assert!(alice.ok() && alice.stdout.contains("hello"), "{when}: alice reads web1 at {endpoint}: {alice:?}");
    let denied = get("alice:secret", "foo");
    assert!(!denied.ok() && denied.stderr.contains("permission denied"), "{when}: alice may not read foo at {endpoint}: {denied:?}");
    let anonymous = ctl.run(&[ep.as_str(), "get", "foo"], b"");
    assert!(anonymous.stderr.contains("user name is empty"), "{when}: auth is still enabled at {endpoint}: {anonymous:?}");
    let wrong = get("alice:wrong", "web1");
    assert!(wrong.stderr.contains("authentication failed"), "{when}: the password hash survived at {endpoint}: {wrong:?}");
    let users = ctl.run_ok(&[ep.as_str(), "--user=root:123", "user", "list"]);
    assert_eq!(users, "alice\nroot\n", "{when}: users at {endpoint}");
    let role = ctl.run_ok(&[ep.as_str(), "--user=root:123", "role", "get", "reader"]);
    assert!(role.contains("[web, wec) (prefix web)"), "{when}: reader's permissions at {endpoint}: {role}");
}

#[test]
fn auth_state_survives_restarts_and_reaches_a_lagging_member_by_snapshot() {
    let _serial = serial();
    let bin = server_bin();
    let mut cluster = Cluster::start_with(&bin, &["--snapshot-count=20", "--experimental-snapshot-catchup-entries=5", "--bcrypt-cost=4"]);
    cluster.wait_for_leader(STARTUP);
    let ctl = cluster.etcdctl();
    ctl.run_ok(&["put", "web1", "hello"]);
    for args in [
        &["role", "add", "reader"][..],
        &["role", "grant-permission", "reader", "read", "web", "--prefix"],
        &["user", "add", "root:123"],
        &["user", "grant-role", "root", "root"],
        &["user", "add", "alice:secret"],
        &["user", "grant-role", "alice", "reader"],
        &["auth", "enable"],
    ] {
        ctl.run_ok(args);
    }
    for i in 0..3 {
        assert_auth_state(&ctl, &cluster.members[i].endpoint(), "before any restart");
    }

    // Member 3 misses the writes that make every other member snapshot and compact past it.
    let lagging = 2;
    cluster.kill(lagging);
    let live = format!("--endpoints={},{}", cluster.members[0].endpoint(), cluster.members[1].endpoint());
    for i in 0..60 {
        ctl.run_ok(&[live.as_str(), "--user=root:123", "put", &format!("filler{i}"), "x"]);
    }
    cluster.restart(lagging);
    let log = &cluster.members[lagging].log;
    let installed = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(log).is_ok_and(|l| l.contains("installed a snapshot from the leader"))
    });
    assert!(installed, "member {} never installed a snapshot:\n{}", lagging + 1, cluster.log_tails());
    assert_auth_state(&ctl, &cluster.members[lagging].endpoint(), "after a snapshot install");

    // Every member down at once, then up from its data dir.
    for i in 0..3 {
        cluster.kill(i);
    }
    for i in 0..3 {
        cluster.restart(i);
    }
    cluster.wait_for_leader(STARTUP);
    for i in 0..3 {
        assert_auth_state(&ctl, &cluster.members[i].endpoint(), "after restarting every member");
    }
}
