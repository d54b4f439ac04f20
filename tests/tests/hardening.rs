//! Hardening I (issue 12), against the real binary: forged peer messages, a second process on a
//! data directory, a wiped data directory, a dead driver, data directories of another member or
//! with entries that cannot be applied, and flags the WAL cannot honour. Each is refused the way
//! etcd refuses it, and the cluster keeps every acknowledged write.

use detcd_e2e::*;
use detcd_node::durable::disk::RealDisk;
use detcd_node::durable::log_store::LogStore;
use detcd_node::durable::wal_log::{WalLog, WalLogOptions};
use detcd_node::ids;
use detcd_node::pb::peer::peer_client::PeerClient;
use detcd_node::pb::peer::MessageBatch;
use detcd_node::types::MemberId;
use protobuf::Message as _;
use raft::prelude::{Entry, HardState, Message, MessageType};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const STARTUP: Duration = Duration::from_secs(30);

/// These tests are about detcd's own refusals; against another server (the harness check with
/// `DETCD_SERVER_BIN=/usr/bin/etcd`) they do not apply.
fn detcd_bin() -> Option<PathBuf> {
    let bin = server_bin();
    bin.file_name().is_some_and(|n| n.to_string_lossy().starts_with("detcd")).then_some(bin)
}

/// The serial lock, the binary and a 3-member cluster with a leader (`None` for another server).
fn running_cluster() -> Option<(std::sync::MutexGuard<'static, ()>, PathBuf, Cluster)> {
    let bin = detcd_bin()?;
    let serial = serial();
    let mut cluster = Cluster::start(&bin);
    cluster.wait_for_leader(STARTUP);
    Some((serial, bin, cluster))
}

fn member_ids() -> (Vec<MemberId>, u64) {
    let ids: Vec<MemberId> = PEER_PORTS.iter().map(|p| ids::member_id(&[format!("http://127.0.0.1:{p}")], CLUSTER_TOKEN)).collect();
    let cluster = ids::cluster_id(&ids).0;
    (ids, cluster)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Waits for `child` to exit by itself, at most `timeout`.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One member of a one-member cluster on free ports, on `dir`, with `extra` flags.
fn lone_member(bin: &Path, dir: &Path, token: &str, extra: &[&str], log: &Path) -> Child {
    lone_member_at(bin, dir, token, extra, log, free_port())
}

/// As [`lone_member`], with peer port `pp` (which the member's ID derives from).
fn lone_member_at(bin: &Path, dir: &Path, token: &str, extra: &[&str], log: &Path, pp: u16) -> Child {
    let cp = free_port();
    let logf = std::fs::File::create(log).expect("log file");
    Command::new(bin)
        .arg("--name=machine-1")
        .arg(format!("--data-dir={}", dir.display()))
        .arg(format!("--listen-client-urls=http://127.0.0.1:{cp}"))
        .arg(format!("--advertise-client-urls=http://127.0.0.1:{cp}"))
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{pp}"))
        .arg(format!("--initial-advertise-peer-urls=http://127.0.0.1:{pp}"))
        .arg(format!("--initial-cluster=machine-1=http://127.0.0.1:{pp}"))
        .arg(format!("--initial-cluster-token={token}"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(logf.try_clone().expect("log"))
        .stderr(logf)
        .spawn()
        .expect("start detcd")
}

fn temp_dir(what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let d = std::env::temp_dir().join(format!("detcd-hardening-{what}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn put_n(ctl: &Etcdctl, prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let (k, v) = (format!("{prefix}{i:03}"), format!("v{i}"));
            assert_eq!(ctl.run_ok(&["put", &k, &v]).trim(), "OK");
            (k, v)
        })
        .collect()
}

fn assert_readable(ctl: &Etcdctl, kvs: &[(String, String)]) {
    for (k, v) in kvs {
        let got = ctl.run_ok(&["get", k, "--print-value-only"]);
        assert_eq!(got.trim(), v, "key {k}");
    }
}

fn raft_msg(kind: MessageType, from: u64, to: u64, term: u64) -> Vec<u8> {
    let mut m = Message::default();
    m.set_msg_type(kind);
    (m.from, m.to, m.term) = (from, to, term);
    m.write_to_bytes().expect("encodes")
}

#[test]
fn forged_peer_messages_are_refused_and_every_acknowledged_write_stays_readable() {
    let Some((_serial, _, mut cluster)) = running_cluster() else { return };
    let ctl = cluster.etcdctl();
    let mut acked = put_n(&ctl, "before", 20);
    let (ids, cluster_id) = member_ids();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut replies = Vec::new();
    for (i, to) in ids.iter().enumerate() {
        let from = ids[(i + 1) % 3].0;
        let stranger = 0xdead_beef_u64;
        let mut hb_commit = Message::default();
        hb_commit.set_msg_type(MessageType::MsgHeartbeat);
        (hb_commit.from, hb_commit.to, hb_commit.term, hb_commit.commit) = (stranger, to.0, 1, u64::MAX);
        let mut far = Message::default();
        far.set_msg_type(MessageType::MsgAppend);
        (far.from, far.to, far.term, far.index, far.log_term, far.commit) = (from, to.0, 2, u64::MAX / 2, 1, u64::MAX);
        let batch = |from: u64, cluster_id: u64, messages: Vec<Vec<u8>>| MessageBatch { from, to: to.0, messages, cluster_id };
        let batches = vec![
            // From a member, with this cluster's ID: passes the batch checks, refused one by one.
            batch(from, cluster_id, vec![raft_msg(MessageType::MsgPropose, from, to.0, 0)]),
            batch(from, cluster_id, vec![raft_msg(MessageType::MsgHeartbeat, from, to.0, u64::MAX)]),
            batch(from, cluster_id, vec![far.write_to_bytes().unwrap()]),
            batch(from, cluster_id, vec![hb_commit.write_to_bytes().unwrap()]),
            batch(from, cluster_id, vec![vec![0xff, 0xff, 0xff, 0x07]]),
            // The heartbeat with commit u64::MAX as the stranger itself, and from another cluster.
            batch(stranger, cluster_id, vec![hb_commit.write_to_bytes().unwrap()]),
            batch(from, cluster_id ^ 1, vec![raft_msg(MessageType::MsgHeartbeat, from, to.0, u64::MAX)]),
        ];
        let url = format!("http://127.0.0.1:{}", PEER_PORTS[i]);
        for b in batches {
            let r = rt.block_on(async {
                let mut client = PeerClient::connect(url.clone()).await.expect("peer port reachable");
                client.send(b).await.map(|_| ()).map_err(|s| s.message().to_string())
            });
            replies.push(r);
        }
    }
    // Errors say what is wrong with the batch, nothing about the member that answers.
    let errors: Vec<&String> = replies.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(errors.len() >= 9, "undecodable, stranger and other-cluster batches are answered with errors: {replies:?}");
    for e in &errors {
        for id in &ids {
            assert!(!e.contains(&id.to_string()) && !e.contains("machine-"), "error names a member: {e}");
        }
    }
    assert!(errors.iter().any(|e| e.contains("cluster ID mismatch")), "{errors:?}");

    // Every member is alive, the cluster serves, and nothing acknowledged was lost.
    for m in &mut cluster.members {
        assert!(m.child.as_mut().unwrap().try_wait().unwrap().is_none(), "{} exited", m.name);
    }
    cluster.wait_for_leader(STARTUP);
    acked.extend(put_n(&ctl, "after", 10));
    assert_readable(&ctl, &acked);
    let logs: String = cluster.members.iter().map(|m| std::fs::read_to_string(&m.log).unwrap_or_default()).collect();
    for reason in ["empty-proposal", "term-absurd", "index-absurd", "misaddressed", "undecodable", "stranger"] {
        assert!(logs.contains(reason), "no member logged a refusal for {reason}\n{}", cluster.log_tails());
    }
}

#[test]
fn a_second_detcd_on_a_data_directory_in_use_is_refused_and_the_directory_is_private() {
    let Some((_serial, bin, cluster)) = running_cluster() else { return };
    let data = cluster.dir.join("machine-1.etcd");
    let log = cluster.dir.join("second.log");
    let mut second = lone_member(&bin, &data, CLUSTER_TOKEN, &[], &log);
    let status = wait_exit(&mut second, Duration::from_secs(10)).expect("the second process exits at once");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("is in use by another detcd process"), "{text}");
    // The first member is undisturbed.
    assert_eq!(cluster.etcdctl().run_ok(&["put", "still", "here"]).trim(), "OK");

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("member")), 0o700, "member directory");
    for f in std::fs::read_dir(data.join("member")).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

#[test]
fn a_member_whose_data_directory_was_wiped_is_refused_and_the_cluster_serves_on() {
    let Some((_serial, _, mut cluster)) = running_cluster() else { return };
    let ctl = cluster.etcdctl();
    let acked = put_n(&ctl, "k", 10);
    // Every member has published itself (member list shows its name).
    let deadline = Instant::now() + STARTUP;
    while ctl.run_ok(&["member", "list"]).lines().any(|l| l.contains("unstarted")) {
        assert!(Instant::now() < deadline, "members never published");
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.kill(1);
    std::fs::remove_dir_all(cluster.dir.join("machine-2.etcd")).unwrap();
    cluster.restart(1);
    let status = wait_exit(cluster.members[1].child.as_mut().unwrap(), Duration::from_secs(15));
    let text = std::fs::read_to_string(&cluster.members[1].log).unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{text}");
    assert!(text.contains("has already been bootstrapped"), "{text}");
    cluster.members[1].child = None;
    assert_readable(&Etcdctl::new(format!("127.0.0.1:{}", CLIENT_PORTS[0])), &acked);
}

#[test]
fn a_member_whose_driver_panics_exits_instead_of_lingering() {
    let Some((_serial, _, mut cluster)) = running_cluster() else { return };
    let acked = put_n(&cluster.etcdctl(), "k", 5);
    cluster.kill(2);
    cluster.extra_args = vec!["--debug-panic-after-applied=3".into()];
    cluster.restart(2);
    let status = wait_exit(cluster.members[2].child.as_mut().unwrap(), Duration::from_secs(20));
    let text = std::fs::read_to_string(&cluster.members[2].log).unwrap();
    let status = status.unwrap_or_else(|| panic!("the member lingered after its driver panicked\n{text}"));
    assert!(!status.success(), "{status:?}");
    assert!(text.contains("test hook: driver") && text.contains("exiting"), "{text}");
    cluster.members[2].child = None;
    assert_readable(&Etcdctl::new(format!("127.0.0.1:{}", CLIENT_PORTS[0])), &acked);
}

/// Writes a WAL for member `id` (a one-member cluster) holding `data` as committed entry 1.
fn wal_with_entry(dir: &Path, id: MemberId, data: Vec<u8>) {
    let disk = RealDisk::open(dir.join("member")).unwrap();
    let mut log = WalLog::open(Arc::new(disk), WalLogOptions::default(), &[id.0]).unwrap().log;
    let mut e = Entry::default();
    (e.index, e.term, e.data) = (1, 1, data.into());
    log.append(&[e]).unwrap();
    let mut hs = HardState::default();
    (hs.term, hs.vote, hs.commit) = (1, id.0, 1);
    log.set_hard_state(hs).unwrap();
    log.persist().unwrap();
}

#[test]
fn data_directories_and_flags_the_member_cannot_trust_are_refused_at_start() {
    let Some(bin) = detcd_bin() else { return };
    let tmp = temp_dir("start");

    // --max-request-bytes past what one WAL record holds.
    let log = tmp.join("big.log");
    let mut c = lone_member(&bin, &tmp.join("big"), CLUSTER_TOKEN, &["--max-request-bytes=100000000"], &log);
    let s = wait_exit(&mut c, Duration::from_secs(10)).expect("exits");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(s.code(), Some(2), "{text}");
    assert!(text.contains("--max-request-bytes") && text.contains("WAL record"), "{text}");

    // A data directory written by another cluster (another token: other member and cluster IDs).
    let other = tmp.join("other");
    let log = tmp.join("other.log");
    let mut c = lone_member(&bin, &other, "another-token", &[], &log);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_dir(other.join("member")).is_ok_and(|d| d.filter_map(Result::ok).any(|e| e.path().extension().is_some_and(|x| x == "wal"))) {
        assert!(Instant::now() < deadline, "no WAL created");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = c.kill();
    let _ = c.wait();
    let mut c = lone_member(&bin, &other, CLUSTER_TOKEN, &[], &log);
    let s = wait_exit(&mut c, Duration::from_secs(10)).expect("exits");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(s.code(), Some(1), "{text}");
    assert!(text.contains("another member's data directory"), "{text}");

    // Committed entries that cannot be applied: garbage, and a request kind from a newer version
    // (an unknown field). The member stops with the index named, at every start, never panics.
    for (name, data) in [("garbage", vec![0xff, 0xff, 0xff, 0xff, 0x0f]), ("newer", vec![0x08, 0x01, 0xfa, 0x01, 0x01, 0x00])] {
        let dir = tmp.join(name);
        let pp = free_port();
        let id = ids::member_id(&[format!("http://127.0.0.1:{pp}")], CLUSTER_TOKEN);
        wal_with_entry(&dir, id, data);
        for attempt in 0..2 {
            let log = tmp.join(format!("{name}-{attempt}.log"));
            let mut c = lone_member_at(&bin, &dir, CLUSTER_TOKEN, &[], &log, pp);
            let s = wait_exit(&mut c, Duration::from_secs(10)).expect("exits");
            let text = std::fs::read_to_string(&log).unwrap();
            assert_eq!(s.code(), Some(1), "{name}: {text}");
            assert!(text.contains("committed entry 1 cannot be applied"), "{name}: {text}");
            assert!(!text.contains("panicked"), "{name}: {text}");
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Lease IDs (and request IDs, made the same way) count from the wall clock, so a restarted
/// member does not hand out the IDs it handed out before (etcd's idutil).
#[test]
fn lease_ids_do_not_repeat_after_a_restart() {
    let Some((_serial, _, mut cluster)) = running_cluster() else { return };
    let one = Etcdctl::new(format!("127.0.0.1:{}", CLIENT_PORTS[0]));
    let grant = |ctl: &Etcdctl| -> String {
        let out = ctl.run_ok(&["lease", "grant", "60"]);
        out.split_whitespace().nth(1).expect("lease <id> granted").to_string()
    };
    let mut ids: Vec<String> = (0..3).map(|_| grant(&one)).collect();
    cluster.kill(0);
    cluster.restart(0);
    cluster.wait_for_leader(STARTUP);
    ids.extend((0..3).map(|_| grant(&one)));
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "lease IDs repeat across the restart: {ids:?}");
}
