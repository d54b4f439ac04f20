//! Where things are: the binaries under test, the golden files, the demo ports.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
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
