//! Helpers for the end-to-end tests in `tests/tests/`.
//!
//! Real mode: real server processes (detcd, or etcd itself to validate the harness) on 127.0.0.1,
//! driven by the real `etcdctl` 3.4 (Debian package `etcd-client`). See `tests/README.md`.
//!
//! - [`Cluster`]: starts 3 members with etcd's own flags; `Drop` kills them.
//! - [`Etcdctl`]: runs etcdctl with a hard timeout, capturing stdout, stderr and the exit code.
//! - [`Command`] / [`parse_commands`]: the shared command script `tests/golden/commands.txt`
//!   (also read by `scripts/etcd-reference.sh`).
//! - [`record`]: the golden-file text of one command's result (same format as the script writes).
//! - [`Masker`]: hides what legitimately differs between two fresh clusters.
//! - [`line_diff`]: a small unified-style diff for the mismatch report.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The demo cluster of etcd's docs: the golden outputs contain these names and ports.
pub const MEMBER_NAMES: [&str; 3] = ["machine-1", "machine-2", "machine-3"];
pub const CLIENT_PORTS: [u16; 3] = [2379, 22379, 32379];
pub const PEER_PORTS: [u16; 3] = [2380, 22380, 32380];
pub const CLUSTER_TOKEN: &str = "token-01";
/// etcd's version whose answers are in `tests/golden/`.
pub const GOLDEN_VERSION: &str = "etcd-3.4.23";

/// The tests use fixed ports, so they must not overlap: every test holds this for its duration.
static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests of one test binary (a panicked test does not poison the others).
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `tests/` (this crate's directory).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn commands_file() -> PathBuf {
    crate_dir().join("golden").join("commands.txt")
}

pub fn golden_dir() -> PathBuf {
    crate_dir().join("golden").join(GOLDEN_VERSION)
}

/// The server binary under test: `$DETCD_SERVER_BIN`, else `detcd` next to the test executable's
/// profile dir (`<target>/debug/detcd` for `<target>/debug/deps/etcdctl-<hash>`).
pub fn server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("DETCD_SERVER_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "DETCD_SERVER_BIN={} does not exist",
            p.display()
        );
        return p;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent() // deps/
        .and_then(Path::parent) // debug/ (or release/, or <triple>/debug/)
        .expect("test executable has no grandparent dir");
    let bin = profile_dir.join(format!("detcd{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "server binary {} is missing: build it with cargo build --bin detcd \
         (same CARGO_TARGET_DIR and profile as the tests), or set DETCD_SERVER_BIN \
         (e.g. DETCD_SERVER_BIN=/usr/bin/etcd to check the harness against real etcd)",
        bin.display()
    );
    bin
}

/// `$ETCDCTL_BIN`, else `etcdctl` from PATH; panics with the install hint if absent.
pub fn etcdctl_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ETCDCTL_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join("etcdctl");
        if cand.is_file() {
            return cand;
        }
    }
    panic!(
        "etcdctl not found in PATH: run scripts/install-test-deps.sh (Debian package etcd-client)"
    );
}

/// Panics with a clear message if something already listens on one of `ports`.
pub fn assert_ports_free(ports: &[u16]) {
    for &p in ports {
        if let Err(e) = TcpListener::bind(("127.0.0.1", p)) {
            panic!(
                "port 127.0.0.1:{p} is in use ({e}): the e2e tests need the fixed demo ports \
                 {CLIENT_PORTS:?}/{PEER_PORTS:?}; stop whatever listens there (a packaged etcd \
                 service started by apt? `ss -ltnp 'sport = :{p}'`)"
            );
        }
    }
}

/// Waits until nothing listens on `ports` any more (after killing members).
pub fn wait_ports_free(ports: &[u16], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ports
            .iter()
            .all(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Result of one process run.
#[derive(Debug, Clone)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    /// Exit code; -1 if killed by a signal or by the timeout.
    pub code: i32,
    pub timed_out: bool,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == 0 && !self.timed_out
    }
}

/// Runs `cmd` feeding `stdin`, with a hard `timeout` after which the child is killed.
pub fn run_with_timeout(mut cmd: Proc, stdin: &[u8], timeout: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut sin = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&input); // EPIPE if the child does not read: fine
    });
    let mut sout = child.stdout.take().unwrap();
    let mut serr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = sout.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = serr.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status: ExitStatus = loop {
        match child.try_wait().expect("try_wait") {
            Some(s) => break s,
            None if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait");
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    Output {
        stdout,
        stderr,
        code: if timed_out { -1 } else { exit_code(status) },
        timed_out,
    }
}

/// `ETCDCTL_API=3 etcdctl --endpoints=... ARGS`.
#[derive(Debug, Clone)]
pub struct Etcdctl {
    pub bin: PathBuf,
    /// Comma-separated `host:port` list, added as `--endpoints=` unless the args have one.
    pub endpoints: String,
    pub timeout: Duration,
}

impl Etcdctl {
    pub fn new(endpoints: impl Into<String>) -> Self {
        Etcdctl {
            bin: etcdctl_bin(),
            endpoints: endpoints.into(),
            timeout: Duration::from_secs(30),
        }
    }

    /// The etcdctl process for `args`, with `--endpoints` added unless the args name endpoints.
    pub fn command<S: AsRef<str>>(&self, args: &[S]) -> Proc {
        let mut cmd = Proc::new(&self.bin);
        cmd.env("ETCDCTL_API", "3");
        // No ETCDCTL_* from the caller's environment may change the output.
        for (k, _) in std::env::vars_os() {
            if let Some(k) = k.to_str() {
                if k.starts_with("ETCDCTL_") && k != "ETCDCTL_API" {
                    cmd.env_remove(k);
                }
            }
        }
        if !args.iter().any(|a| a.as_ref().starts_with("--endpoints")) {
            cmd.arg(format!("--endpoints={}", self.endpoints));
        }
        cmd.args(args.iter().map(|a| a.as_ref()));
        cmd
    }

    pub fn run<S: AsRef<str>>(&self, args: &[S], stdin: &[u8]) -> Output {
        run_with_timeout(self.command(args), stdin, self.timeout)
    }

    /// Runs and panics (with both streams) unless it exits 0; returns stdout.
    pub fn run_ok<S: AsRef<str>>(&self, args: &[S]) -> String {
        let out = self.run(args, b"");
        let shown: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
        assert!(
            out.ok(),
            "etcdctl {shown:?} failed (exit {}{}):\nstdout: {}\nstderr: {}",
            out.code,
            if out.timed_out { ", timed out" } else { "" },
            out.stdout,
            out.stderr
        );
        out.stdout
    }
}

// ---------------------------------------------------------------------------------------------
// Cluster

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

// ---------------------------------------------------------------------------------------------
// The shared command script

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    None,
    /// `@bytes:N`: N bytes of `x`.
    Bytes(usize),
    /// Text with `\n` and `\\` escapes (as bash's `printf %b` for these).
    Text(String),
}

impl Stdin {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Stdin::None => Vec::new(),
            Stdin::Bytes(n) => vec![b'x'; *n],
            Stdin::Text(t) => unescape(t).into_bytes(),
        }
    }
}

/// What a line of `commands.txt` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Runs etcdctl and waits for it (the default).
    Run,
    /// `&JOB<TAB>ARGS`: starts etcdctl in the background as job JOB, then waits [`SETTLE`].
    /// Records nothing and takes no number.
    Start,
    /// `NAME<TAB>=JOB`: after [`SETTLE`], records what JOB has printed so far (it keeps running).
    Peek { job: String },
    /// `NAME<TAB>^JOB`: after [`SETTLE`], interrupts JOB (SIGINT, as Ctrl-C), waits for it to exit
    /// and records everything it printed and its exit code.
    Stop { job: String },
    /// `@sleep<TAB>SECONDS`: waits. Records nothing and takes no number.
    Sleep { seconds: u64 },
}

/// How long a background job gets to start (connect, create its watch, take or queue for its lock)
/// or to print what the commands before it caused, before the next line runs.
pub const SETTLE: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone)]
pub struct Command {
    /// 1-based position among the recorded lines (0 for lines that record nothing).
    pub index: usize,
    pub name: String,
    pub kind: Kind,
    /// `NAME>VAR`: after the command, VAR holds the first 16-hex-digit word of its stdout (a lease
    /// ID), and `{VAR}` in later ARGS is replaced by it.
    pub capture: Option<String>,
    /// ARGS as written in the file (for Peek/Stop: the job's ARGS).
    pub args: String,
    pub argv: Vec<String>,
    /// STDIN as written in the file ("" for none).
    pub stdin_spec: String,
    pub stdin: Stdin,
}

impl Command {
    /// `NNN-name.txt`.
    pub fn file_name(&self) -> String {
        format!("{:03}-{}.txt", self.index, self.name)
    }

    /// Whether the line produces a record (and so a golden file).
    pub fn recorded(&self) -> bool {
        matches!(self.kind, Kind::Run | Kind::Peek { .. } | Kind::Stop { .. })
    }

    /// `argv` with every `{VAR}` replaced by its captured value.
    pub fn argv_with(&self, vars: &std::collections::BTreeMap<String, String>) -> Vec<String> {
        self.argv
            .iter()
            .map(|a| {
                let mut a = a.clone();
                for (k, v) in vars {
                    a = a.replace(&format!("{{{k}}}"), v);
                }
                a
            })
            .collect()
    }
}

/// The first word of `out` that looks like an etcdctl lease ID (16 lower-case hex digits).
pub fn first_hex16(out: &str) -> Option<String> {
    out.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 16 && w.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .map(String::from)
}

/// Parses `commands.txt`: `NAME<TAB>ARGS[<TAB>STDIN]`, `#` comments, blank lines; see [`Kind`] for
/// the background-job and sleep lines.
pub fn parse_commands(text: &str) -> Vec<Command> {
    let mut cmds: Vec<Command> = Vec::new();
    let mut jobs: std::collections::BTreeMap<String, (String, Vec<String>)> = std::collections::BTreeMap::new();
    let mut index = 0;
    for (ln, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| -> String { format!("commands.txt:{}: {e}", ln + 1) };
        let mut parts = line.splitn(3, '\t');
        let head = parts.next().unwrap().to_string();
        let args = parts.next().unwrap_or_else(|| panic!("{}", at("no ARGS field".into()))).to_string();
        let stdin_spec = parts.next().unwrap_or("").to_string();
        let (head, capture) = match head.split_once('>') {
            Some((h, v)) => (h.to_string(), Some(v.to_string())),
            None => (head, None),
        };
        let stdin = if stdin_spec.is_empty() {
            Stdin::None
        } else if let Some(n) = stdin_spec.strip_prefix("@bytes:") {
            Stdin::Bytes(n.parse().unwrap_or_else(|_| panic!("{}", at("bad @bytes:N".into()))))
        } else {
            Stdin::Text(stdin_spec.clone())
        };
        let (name, kind, args, argv) = if head == "@sleep" {
            let seconds = args.trim().parse().unwrap_or_else(|_| panic!("{}", at("@sleep wants whole seconds".into())));
            (head.clone(), Kind::Sleep { seconds }, args, vec![])
        } else if let Some(job) = head.strip_prefix('&') {
            let argv = split_args(&args).unwrap_or_else(|e| panic!("{}", at(e)));
            assert!(jobs.insert(job.to_string(), (args.clone(), argv.clone())).is_none(), "{}", at(format!("job {job} started twice")));
            (job.to_string(), Kind::Start, args, argv)
        } else if let Some(job) = args.strip_prefix('=').or_else(|| args.strip_prefix('^')) {
            let (jargs, jargv) = jobs.get(job).cloned().unwrap_or_else(|| panic!("{}", at(format!("no job {job} started before"))));
            let kind = if args.starts_with('=') { Kind::Peek { job: job.to_string() } } else { Kind::Stop { job: job.to_string() } };
            (head.clone(), kind, jargs, jargv)
        } else {
            let argv = split_args(&args).unwrap_or_else(|e| panic!("{}", at(e)));
            (head.clone(), Kind::Run, args, argv)
        };
        let mut cmd = Command { index: 0, name, kind, capture, args, argv, stdin_spec, stdin };
        if cmd.recorded() {
            index += 1;
            cmd.index = index;
        }
        cmds.push(cmd);
    }
    assert!(index < 1000, "NNN-name.txt numbering has three digits");
    cmds
}

/// Splits like a POSIX shell with plain quoting only: whitespace separates words; 'single quotes'
/// are literal; "double quotes" allow \" \\ \$ \`; a backslash outside quotes escapes the next char.
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated ' in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unterminated \" in {s:?}")),
                        },
                        Some(c @ ('$' | '`')) => {
                            return Err(format!("{c} is not supported in {s:?}"))
                        }
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated \" in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            '$' | '`' | '*' | '?' | '[' | '|' | '&' | ';' | '<' | '>' | '(' | ')' | '~' => {
                return Err(format!("shell metacharacter {c} is not supported in {s:?}"));
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `\n` → newline, `\t` → tab, `\\` → backslash; other backslashes stay.
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The text of one golden file (must match what `scripts/etcd-reference.sh` writes):
/// ```text
/// $ etcdctl ARGS
/// < STDIN            (only if the command has stdin)
/// --- stdout
/// ...                (trailing newlines trimmed; nothing if empty)
/// --- stderr
/// ...
/// --- exit CODE
/// ```
pub fn record(cmd: &Command, out: &Output) -> String {
    let background = matches!(cmd.kind, Kind::Peek { .. } | Kind::Stop { .. });
    let mut s = format!("$ etcdctl {}{}\n", cmd.args, if background { " &" } else { "" });
    if !cmd.stdin_spec.is_empty() {
        s += &format!("< {}\n", cmd.stdin_spec);
    }
    let section = |s: &mut String, title: &str, body: &str| {
        s.push_str(title);
        s.push('\n');
        let body = body.trim_end_matches('\n');
        if !body.is_empty() {
            s.push_str(body);
            s.push('\n');
        }
    };
    section(&mut s, "--- stdout", &out.stdout);
    section(&mut s, "--- stderr", &out.stderr);
    match cmd.kind {
        Kind::Peek { .. } => s += "--- running\n",
        _ => {
            if matches!(cmd.kind, Kind::Stop { .. }) {
                s += "--- interrupted (SIGINT)\n";
            }
            if out.timed_out {
                s += "--- timed out (killed)\n";
            }
            s += &format!("--- exit {}\n", out.code);
        }
    }
    s
}

/// `rec` with the lines of each section sorted, for commands whose output order is the order in
/// which concurrent answers arrived (`endpoint health` with several endpoints).
pub fn sort_section_lines(rec: &str) -> String {
    let mut out = String::new();
    let mut section: Vec<&str> = Vec::new();
    for line in rec.lines() {
        if line.starts_with("--- ") || line.starts_with("$ ") || line.starts_with("< ") {
            section.sort_unstable();
            for l in section.drain(..) {
                out += l;
                out.push('\n');
            }
            out += line;
            out.push('\n');
        } else {
            section.push(line);
        }
    }
    section.sort_unstable();
    for l in section {
        out += l;
        out.push('\n');
    }
    out
}

/// Whether the order of `c`'s output lines depends on timing (see [`sort_section_lines`]).
pub fn order_is_timing(c: &Command) -> bool {
    c.argv.len() >= 2 && c.argv[0] == "endpoint" && c.argv[1] == "health" && !c.argv.iter().any(|a| a.starts_with("--endpoints"))
}

// ---------------------------------------------------------------------------------------------
// Background jobs

/// An etcdctl running in the background (`&JOB` lines), its output collected as it comes.
pub struct Job {
    child: Child,
    stdout: std::sync::Arc<Mutex<Vec<u8>>>,
    stderr: std::sync::Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Job {
    /// Starts `etcdctl ARGS` (endpoints added as [`Etcdctl::run`] does) with no input.
    pub fn start<S: AsRef<str>>(ctl: &Etcdctl, args: &[S]) -> Job {
        let mut cmd = ctl.command(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let collect = |mut r: Box<dyn Read + Send>| {
            let buf = std::sync::Arc::new(Mutex::new(Vec::new()));
            let b = buf.clone();
            let t = std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = r.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    b.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            });
            (buf, t)
        };
        let (stdout, t1) = collect(Box::new(child.stdout.take().unwrap()));
        let (stderr, t2) = collect(Box::new(child.stderr.take().unwrap()));
        Job { child, stdout, stderr, readers: vec![t1, t2] }
    }

    /// What the job printed so far.
    pub fn peek(&self) -> Output {
        let text = |b: &Mutex<Vec<u8>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
        Output { stdout: text(&self.stdout), stderr: text(&self.stderr), code: 0, timed_out: false }
    }

    /// Interrupts the job (SIGINT) and waits up to `timeout` for it to exit (then kills it). The
    /// exit code of a process ended by a signal is 128 + the signal, as a shell reports it.
    pub fn stop(mut self, timeout: Duration) -> Output {
        let _ = Proc::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match self.child.try_wait().expect("try_wait") {
                Some(s) => break s,
                None if Instant::now() >= deadline => {
                    timed_out = true;
                    let _ = self.child.kill();
                    break self.child.wait().expect("wait");
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        for t in self.readers.drain(..) {
            let _ = t.join();
        }
        let mut out = self.peek();
        out.code = exit_code(status);
        out.timed_out = timed_out;
        out
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The exit code, or 128 + the signal for a process a signal ended (as a shell reports it).
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(-1)
}

// ---------------------------------------------------------------------------------------------
// Masking

/// Hides what differs between two fresh clusters of the same software with the same flags:
/// which member served a request (etcdctl balances round-robin), which member leads, raft
/// term/index, db size, server version, durations, and the client-side log's timestamp and
/// random client id. Member IDs and the cluster ID are NOT masked: they are derived from the
/// member names/peer URLs and the token, and were identical across fresh etcd clusters.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    /// The cluster's member IDs: a header's member_id / a status's leader is masked only when
    /// it is one of them (any other value still shows as a difference).
    pub member_ids: BTreeSet<u64>,
    /// Captured lease IDs (`NAME>VAR` lines) by variable: shown as `<VAR>`, in hex and decimal.
    pub vars: Vec<(String, String)>,
}

impl Masker {
    pub fn new(member_ids: BTreeSet<u64>) -> Self {
        Masker { member_ids, vars: Vec::new() }
    }

    /// Also masks the lease ID `hex` (captured as `var`).
    pub fn with_var(mut self, var: &str, hex: &str) -> Self {
        self.vars.push((var.to_string(), hex.to_string()));
        self
    }

    pub fn mask(&self, text: &str) -> String {
        let mut lines = Vec::new();
        let mut table_header: Option<Vec<String>> = None;
        for line in text.lines() {
            if is_table_border(line) {
                lines.push("+--+".to_string());
                continue;
            }
            if line.starts_with('|') && line.ends_with('|') {
                let cells: Vec<String> = line[1..line.len() - 1]
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect();
                let cells = match &table_header {
                    None => {
                        table_header = Some(cells.clone());
                        cells
                    }
                    Some(h) => self.mask_status_cells(h, cells),
                };
                lines.push(format!("| {} |", cells.join(" | ")));
                continue;
            }
            table_header = None;
            lines.push(self.mask_line(line));
        }
        let mut s = lines.join("\n");
        if text.ends_with('\n') {
            s.push('\n');
        }
        s
    }

    fn mask_status_cells(&self, header: &[String], mut cells: Vec<String>) -> Vec<String> {
        for (i, h) in header.iter().enumerate() {
            let m = match h.as_str() {
                "VERSION" => "<version>",
                "DB SIZE" => "<db-size>",
                "IS LEADER" => "<is-leader>",
                "RAFT TERM" => "<raft-term>",
                "RAFT INDEX" => "<raft-index>",
                "RAFT APPLIED INDEX" => "<raft-applied-index>",
                _ => continue,
            };
            if let Some(c) = cells.get_mut(i) {
                *c = m.to_string();
            }
        }
        cells
    }

    fn mask_line(&self, line: &str) -> String {
        let mut l = line.to_string();
        // Lease IDs differ between clusters: captured ones by name, in hex and as JSON decimals.
        for (var, hex) in &self.vars {
            l = l.replace(hex.as_str(), &format!("<{var}>"));
            if let Ok(n) = u64::from_str_radix(hex, 16) {
                for key in ["\"lease\":", "\"id\":", "\"ID\":"] {
                    l = l.replace(&format!("{key}{n}"), &format!("{key}<{var}>"));
                }
            }
        }
        // The lease of an `etcdctl lock`/`elect` session shows only in its key: NAME/<lease hex>.
        if let Some((name, hex)) = l.rsplit_once('/') {
            if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && (1..=16).contains(&hex.len())
                && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                l = format!("{name}/<lease>");
            }
        }
        // A lease's remaining TTL counts down.
        if let Some(p) = l.find("remaining(") {
            let start = p + "remaining(".len();
            if let Some(end) = l[start..].find(')').map(|e| start + e) {
                l.replace_range(start..end, "<ttl>");
            }
        }
        l = replace_number(&l, "\"ttl\":", |_| Some("<ttl>".into()));
        // etcd lists a lease's keys in Go map order: compare them sorted.
        if let Some(p) = l.find("attached keys([") {
            let start = p + "attached keys([".len();
            if let Some(end) = l[start..].find("])").map(|e| start + e) {
                let mut keys: Vec<&str> = l[start..end].split(' ').collect();
                keys.sort_unstable();
                let sorted = keys.join(" ");
                l.replace_range(start..end, &sorted);
            }
        }
        // `endpoint status` (simple): ENDPOINT, ID, VERSION, DB SIZE, IS LEADER, IS LEARNER,
        // RAFT TERM, RAFT INDEX, RAFT APPLIED INDEX, ERRORS
        let f: Vec<&str> = l.split(", ").collect();
        if f.len() >= 9
            && f[0].contains("127.0.0.1:")
            && f[1].len() == 16
            && f[1].chars().all(|c| c.is_ascii_hexdigit())
            && matches!(f[4], "true" | "false")
        {
            let mut g: Vec<String> = f.iter().map(|s| s.to_string()).collect();
            g[2] = "<version>".into();
            g[3] = "<db-size>".into();
            g[4] = "<is-leader>".into();
            g[6] = "<raft-term>".into();
            g[7] = "<raft-index>".into();
            g[8] = "<raft-applied-index>".into();
            l = g.join(", ");
        }
        // JSON (etcdctl -w json is compact: "key":value)
        l = replace_number(&l, "\"raft_term\":", |_| Some("<raft-term>".into()));
        l = replace_number(&l, "\"raftTerm\":", |_| Some("<raft-term>".into()));
        l = replace_number(&l, "\"raftIndex\":", |_| Some("<raft-index>".into()));
        l = replace_number(&l, "\"raftAppliedIndex\":", |_| {
            Some("<raft-applied-index>".into())
        });
        l = replace_number(&l, "\"dbSize\":", |_| Some("<db-size>".into()));
        l = replace_number(&l, "\"dbSizeInUse\":", |_| Some("<db-size-in-use>".into()));
        l = replace_number(&l, "\"member_id\":", |n| self.member(n));
        l = replace_number(&l, "\"leader\":", |n| {
            self.member(n).map(|_| "<leader>".into())
        });
        l = replace_string(&l, "\"version\":", "<version>");
        // -w fields: "Key" : value
        l = replace_number(&l, "\"RaftTerm\" : ", |_| Some("<raft-term>".into()));
        l = replace_number(&l, "\"RaftIndex\" : ", |_| Some("<raft-index>".into()));
        l = replace_number(&l, "\"RaftAppliedIndex\" : ", |_| {
            Some("<raft-applied-index>".into())
        });
        l = replace_number(&l, "\"DBSize\" : ", |_| Some("<db-size>".into()));
        l = replace_number(&l, "\"DBSizeInUse\" : ", |_| {
            Some("<db-size-in-use>".into())
        });
        l = replace_number(&l, "\"MemberID\" : ", |n| self.member(n));
        l = replace_number(&l, "\"Leader\" : ", |n| {
            self.member(n).map(|_| "<leader>".into())
        });
        // endpoint health: "... successfully committed proposal: took = 4.73068ms"
        if let Some(p) = l.find("took = ") {
            let start = p + "took = ".len();
            let end = l[start..].find([',', ' ']).map_or(l.len(), |e| start + e);
            l.replace_range(start..end, "<duration>");
        }
        // clientv3's zap warnings on stderr: {"level":"warn","ts":"...",...,"target":"endpoint://client-<uuid>/...",...}
        l = replace_string(&l, "\"ts\":", "<ts>");
        if let Some(p) = l.find("endpoint://client-") {
            let start = p + "endpoint://client-".len();
            let end = l[start..].find('/').map_or(l.len(), |e| start + e);
            l.replace_range(start..end, "<uuid>");
        }
        l
    }

    fn member(&self, n: u64) -> Option<String> {
        self.member_ids
            .contains(&n)
            .then(|| "<member-id>".to_string())
    }
}

fn is_table_border(line: &str) -> bool {
    line.len() > 1 && line.starts_with('+') && line.chars().all(|c| c == '+' || c == '-')
}

/// Replaces the unsigned integer after each occurrence of `key` by `f(n)` (if Some).
fn replace_number(line: &str, key: &str, f: impl Fn(u64) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(p) = rest.find(key) {
        let start = p + key.len();
        out.push_str(&rest[..start]);
        let digits = rest[start..].bytes().take_while(u8::is_ascii_digit).count();
        let num = &rest[start..start + digits];
        match num.parse::<u64>().ok().and_then(&f) {
            Some(r) => out.push_str(&r),
            None => out.push_str(num),
        }
        rest = &rest[start + digits..];
    }
    out.push_str(rest);
    out
}

/// Replaces the JSON string value after each occurrence of `key` by `"repl"` (number values stay).
fn replace_string(line: &str, key: &str, repl: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(p) = rest.find(key) {
        let start = p + key.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if let Some(body) = rest.strip_prefix('"') {
            if let Some(end) = body.find('"') {
                out.push('"');
                out.push_str(repl);
                out.push('"');
                rest = &body[end + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Diff

/// A line diff of `a` (expected) and `b` (actual): ` ` common, `-` only in a, `+` only in b.
pub fn line_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let (n, m) = (a.len(), b.len());
    // LCS table (outputs are small).
    let mut t = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[i][j] = if a[i] == b[j] {
                t[i + 1][j + 1] + 1
            } else {
                t[i + 1][j].max(t[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out += &format!("  {}\n", a[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || t[i + 1][j] >= t[i][j + 1]) {
            out += &format!("- {}\n", a[i]);
            i += 1;
        } else {
            out += &format!("+ {}\n", b[j]);
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn split_args_quoting() {
        assert_eq!(
            split_args(r#"put foo "Hello World!""#).unwrap(),
            ["put", "foo", "Hello World!"]
        );
        assert_eq!(
            split_args(r#"get "" --prefix"#).unwrap(),
            ["get", "", "--prefix"]
        );
        assert_eq!(
            split_args("put 'a b' c\\ d").unwrap(),
            ["put", "a b", "c d"]
        );
        assert!(split_args("put $(x)").is_err());
    }

    #[test]
    fn unescape_stdin() {
        assert_eq!(
            unescape(r#"value("a") = "b"\n\nx\\y"#),
            "value(\"a\") = \"b\"\n\nx\\y"
        );
    }

    #[test]
    fn masks_status_and_headers() {
        let m = Masker::new([7548723584699153593u64, 2759271418354571410].into());
        assert_eq!(
            m.mask("127.0.0.1:2379, 264ae6bc59e99892, 3.4.23, 2.0 MB, false, false, 2, 34, 34, \n"),
            "127.0.0.1:2379, 264ae6bc59e99892, <version>, <db-size>, <is-leader>, false, <raft-term>, <raft-index>, <raft-applied-index>, \n"
        );
        assert_eq!(
            m.mask(r#"{"header":{"cluster_id":1,"member_id":7548723584699153593,"revision":2,"raft_term":2},"kvs":[{"version":1}]}"#),
            r#"{"header":{"cluster_id":1,"member_id":<member-id>,"revision":2,"raft_term":<raft-term>},"kvs":[{"version":1}]}"#
        );
        // an unknown member id stays visible
        assert!(m.mask(r#"{"member_id":5}"#).contains("\"member_id\":5"));
        assert_eq!(m.mask("x: took = 4.73068ms"), "x: took = <duration>");
        assert_eq!(
            m.mask(r#"{"ts":"2026-11-24T01:58:08.002Z","target":"endpoint://client-0134a117-46ff/127.0.0.1:2379"}"#),
            r#"{"ts":"<ts>","target":"endpoint://client-<uuid>/127.0.0.1:2379"}"#
        );
    }

    #[test]
    fn masks_tables() {
        let t =
            "+---+---+\n|  ENDPOINT | IS LEADER | RAFT TERM |\n+--+\n| a |  true | 2 |\n+---+\n";
        assert_eq!(
            Masker::default().mask(t),
            "+--+\n| ENDPOINT | IS LEADER | RAFT TERM |\n+--+\n| a | <is-leader> | <raft-term> |\n+--+\n"
        );
    }

    #[test]
    fn diff_marks_changes() {
        assert_eq!(line_diff("a\nb\nc\n", "a\nx\nc\n"), "  a\n- b\n+ x\n  c\n");
    }
}
