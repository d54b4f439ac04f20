//! `Cluster`: three real members on 127.0.0.1 at the demo ports; `Drop` kills them.

use crate::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc, Stdio};
use std::time::{Duration, Instant};

pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub log: PathBuf,
    pub child: Option<Child>,
}

impl Member {
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }
}

/// What one member says in `endpoint status -w json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointStatus {
    pub member_id: u64,
    pub leader: u64,
    pub raft_term: u64,
}

/// A 3-member cluster of `bin` processes on 127.0.0.1 at the demo ports. Drop kills them all and
/// removes the data dirs (kept, with the logs, when the test is panicking).
pub struct Cluster {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub members: Vec<Member>,
    /// Flags every member gets besides the cluster's own (e.g. `--snapshot-count=50`).
    pub extra_args: Vec<String>,
}

impl Cluster {
    /// Starts machine-1..3 with etcd's flags (`--initial-cluster-state new`, token `token-01`).
    pub fn start(bin: &Path) -> Cluster {
        Cluster::start_with(bin, &[])
    }

    /// As [`Cluster::start`], with `extra_args` added to every member's flags.
    pub fn start_with(bin: &Path, extra_args: &[&str]) -> Cluster {
        let ports: Vec<u16> = CLIENT_PORTS
            .iter()
            .chain(PEER_PORTS.iter())
            .copied()
            .collect();
        assert_ports_free(&ports);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("detcd-e2e-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create cluster temp dir");
        let mut cluster = Cluster {
            bin: bin.to_path_buf(),
            dir: dir.clone(),
            members: Vec::new(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        };
        for i in 0..3 {
            let (name, cp, pp) = (MEMBER_NAMES[i], CLIENT_PORTS[i], PEER_PORTS[i]);
            cluster.members.push(Member {
                name: name.to_string(),
                client_port: cp,
                peer_port: pp,
                log: dir.join(format!("{name}.log")),
                child: None,
            });
            cluster.spawn(i);
        }
        cluster
    }

    /// Starts member `i`'s process with its data dir (which may exist: a restart), appending to
    /// its log.
    fn spawn(&mut self, i: usize) {
        let initial = MEMBER_NAMES
            .iter()
            .zip(PEER_PORTS)
            .map(|(n, p)| format!("{n}=http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let m = &self.members[i];
        let (name, cp, pp) = (m.name.as_str(), m.client_port, m.peer_port);
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .expect("open log file");
        let child = Proc::new(&self.bin)
            .arg(format!("--name={name}"))
            .arg(format!(
                "--data-dir={}",
                self.dir.join(format!("{name}.etcd")).display()
            ))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{cp}"))
            .arg(format!("--advertise-client-urls=http://127.0.0.1:{cp}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{pp}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{pp}"
            ))
            .arg(format!("--initial-cluster={initial}"))
            .arg(format!("--initial-cluster-token={CLUSTER_TOKEN}"))
            .arg("--initial-cluster-state=new")
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.members[i].child = Some(child);
    }

    /// Starts member `i` again from its data dir after [`Cluster::kill`], once its ports are free.
    ///
    /// # Panics
    /// If it is still running, or its ports stay taken.
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "{} is still running", self.members[i].name);
        let ports = [self.members[i].client_port, self.members[i].peer_port];
        assert!(wait_ports_free(&ports, Duration::from_secs(10)), "ports {ports:?} stay taken");
        self.spawn(i);
    }

    /// All client endpoints, comma-separated (as in the golden outputs).
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(Member::endpoint)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn etcdctl(&self) -> Etcdctl {
        Etcdctl::new(self.endpoints())
    }

    /// Indexes of members whose process still runs (panics if one exited by itself).
    pub fn live(&mut self) -> Vec<usize> {
        let mut live = Vec::new();
        for (i, m) in self.members.iter_mut().enumerate() {
            if let Some(c) = m.child.as_mut() {
                if let Some(st) = c.try_wait().expect("try_wait") {
                    let name = m.name.clone();
                    m.child = None;
                    panic!(
                        "{name} exited by itself ({st}); log tail:\n{}",
                        self.log_tails()
                    );
                }
                live.push(i);
            }
        }
        live
    }

    /// `endpoint status -w json` of member `i` alone (None if it does not answer).
    pub fn status(&self, i: usize) -> Option<EndpointStatus> {
        let mut ctl = Etcdctl::new(self.members[i].endpoint());
        ctl.timeout = Duration::from_secs(5);
        let out = ctl.run(
            &[
                "--dial-timeout=1s",
                "--command-timeout=2s",
                "endpoint",
                "status",
                "-w",
                "json",
            ],
            b"",
        );
        if !out.ok() {
            return None;
        }
        parse_endpoint_status(&out.stdout).into_iter().next()
    }

    /// Polls until every live member answers and they all name the same live leader; returns its
    /// index. Panics with the logs after `timeout`.
    pub fn wait_for_leader(&mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let live = self.live();
            let st: Vec<(usize, Option<EndpointStatus>)> =
                live.iter().map(|&i| (i, self.status(i))).collect();
            if st.iter().all(|(_, s)| s.is_some()) {
                let leaders: BTreeSet<u64> = st.iter().map(|(_, s)| s.unwrap().leader).collect();
                if leaders.len() == 1 {
                    let l = *leaders.iter().next().unwrap();
                    if let Some((i, _)) = st.iter().find(|(_, s)| s.unwrap().member_id == l) {
                        return *i;
                    }
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "no leader agreed on by members {live:?} within {timeout:?}; last statuses: {st:?}\n{}",
                    self.log_tails()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs member `i` and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The last lines of every member's log, for failure messages.
    pub fn log_tails(&self) -> String {
        let mut s = String::new();
        for m in &self.members {
            let text = std::fs::read_to_string(&m.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            s += &format!("---- {} ({}), last lines:\n", m.name, m.log.display());
            for l in &lines[lines.len().saturating_sub(15)..] {
                s += l;
                s.push('\n');
            }
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        let ports: Vec<u16> = self
            .members
            .iter()
            .flat_map(|m| [m.client_port, m.peer_port])
            .collect();
        wait_ports_free(&ports, Duration::from_secs(5));
        if std::thread::panicking() {
            eprintln!("cluster data dirs and logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Parses `etcdctl endpoint status -w json` (an array of `{"Endpoint","Status":{"header":..}}`).
pub fn parse_endpoint_status(json: &str) -> Vec<EndpointStatus> {
    let v: serde_json::Value = match serde_json::from_str(json.trim()) {
        Ok(v) => v,
        Err(_) => return Vec::new(),
    };
    let mut res = Vec::new();
    for e in v.as_array().into_iter().flatten() {
        let st = &e["Status"];
        let (Some(member_id), Some(leader)) =
            (st["header"]["member_id"].as_u64(), st["leader"].as_u64())
        else {
            continue;
        };
        let raft_term = st["raftTerm"]
            .as_u64()
            .or(st["header"]["raft_term"].as_u64())
            .unwrap_or(0);
        res.push(EndpointStatus {
            member_id,
            leader,
            raft_term,
        });
    }
    res
}

/// Member IDs in `etcdctl member list -w json` output.
pub fn parse_member_ids(json: &str) -> BTreeSet<u64> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap_or(serde_json::Value::Null);
    v["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["ID"].as_u64())
        .collect()
}
