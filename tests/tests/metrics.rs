//! Metrics as an operator sees them (issue 16): Debian's Prometheus scrapes a real 3-member
//! cluster on its client ports (`/metrics` beside gRPC, as etcd serves it) and its HTTP API
//! answers: every member has a leader, exactly one leads, and a SIGKILLed leader shows as a leader
//! change on the survivors. `promtool check metrics` lints what a member exports. Needs
//! `prometheus` and `promtool` (scripts/install-test-deps.sh installs Debian's package).

use detcd_e2e::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STARTUP: Duration = Duration::from_secs(30);
/// Prometheus answers within this after it starts and scrapes every second.
const PROMETHEUS_PATIENCE: Duration = Duration::from_secs(30);

/// A GET over HTTP/1.0 to 127.0.0.1 (status, body); `None` if nothing answers.
fn http_get(port: u16, path_and_query: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Percent-encodes a PromQL expression for a query string.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` every second, storing under `dir`.
    fn start(dir: &Path, targets: &[String]) -> Prometheus {
        std::fs::create_dir_all(dir).expect("prometheus dir");
        let list = targets.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: detcd\n    static_configs:\n      - targets: [{list}]\n"),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("log file"))
            .spawn()
            .expect("prometheus runs (scripts/install-test-deps.sh installs it)");
        Prometheus { child, port, dir: dir.to_path_buf() }
    }

    /// The instant vector of `promql` as (instance, value) pairs; empty until Prometheus answers.
    fn query(&self, promql: &str) -> Vec<(String, f64)> {
        let Some((200, body)) = http_get(self.port, &format!("/api/v1/query?query={}", encode(promql))) else { return Vec::new() };
        let v: serde_json::Value = serde_json::from_str(&body).expect("Prometheus answers JSON");
        v["data"]["result"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        let instance = r["metric"]["instance"].as_str().unwrap_or("").to_string();
                        let value = r["value"][1].as_str().and_then(|x| x.parse().ok()).unwrap_or(f64::NAN);
                        (instance, value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `promql`'s result satisfies `ok`, and returns it.
    fn wait_for(&self, promql: &str, ok: impl Fn(&[(String, f64)]) -> bool) -> Vec<(String, f64)> {
        let deadline = Instant::now() + PROMETHEUS_PATIENCE;
        loop {
            let r = self.query(promql);
            if ok(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus: {promql} = {r:?} after {PROMETHEUS_PATIENCE:?}\n{}",
                std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[test]
fn prometheus_sees_one_leader_and_a_leader_change_after_a_kill() {
    let _serial = serial();
    let mut cluster = Cluster::start(&server_bin());
    let leader = cluster.wait_for_leader(STARTUP);
    let targets: Vec<String> = cluster.members.iter().map(|m| m.endpoint()).collect();
    let prometheus = Prometheus::start(&cluster.dir.join("prometheus"), &targets);

    let has = prometheus.wait_for("etcd_server_has_leader", |r| r.len() == 3 && r.iter().all(|(_, v)| *v == 1.0));
    eprintln!("etcd_server_has_leader: {has:?}");
    dashboard_queries_answer(&prometheus, &cluster);
    prometheus.wait_for("sum(etcd_server_is_leader)", |r| r.len() == 1 && r[0].1 == 1.0);
    let leader_target = &targets[leader];
    let led = prometheus.query("etcd_server_is_leader == 1");
    assert_eq!(led.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(), vec![leader_target.as_str()], "the member etcdctl calls leader");
    let before = prometheus.wait_for("etcd_server_leader_changes_seen_total", |r| r.len() == 3);
    assert!(before.iter().all(|(_, v)| *v >= 1.0), "each member has seen the first leader: {before:?}");

    cluster.kill(leader);
    let survivors: Vec<&String> = targets.iter().filter(|t| *t != leader_target).collect();
    let after = prometheus.wait_for("etcd_server_leader_changes_seen_total", |r| {
        survivors.iter().all(|s| r.iter().any(|(i, v)| i == *s && before.iter().any(|(bi, bv)| bi == i && v > bv)))
    });
    eprintln!("leader changes before the kill {before:?}, after {after:?}");
    prometheus.wait_for("sum(etcd_server_is_leader)", |r| r.len() == 1 && r[0].1 == 1.0);
    prometheus.wait_for("up == 0", |r| r.len() == 1 && r[0].0 == *leader_target);
}

/// The dashboard's panel queries, with Grafana's variables replaced as Grafana would for a
/// 1 s scrape interval: (panel title, PromQL).
fn dashboard_queries() -> Vec<(String, String)> {
    let path = crate_dir().parent().expect("workspace").join("dashboards/detcd.json");
    let dash: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboards/detcd.json")).expect("dashboard JSON");
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"].as_str().expect("expr").replace("$__rate_interval", "10s").replace("$job", ".*");
            out.push((p["title"].as_str().expect("title").to_string(), expr));
        }
    }
    out
}

/// Every panel query of dashboards/detcd.json is valid PromQL that Prometheus evaluates over what
/// detcd exports; all but the ones about failures (which a healthy cluster may not have) return
/// data once a few scrapes are in.
fn dashboard_queries_answer(prometheus: &Prometheus, cluster: &Cluster) {
    assert_eq!(cluster.etcdctl().run_ok(&["put", "dashboard", "v"]).trim(), "OK");
    let may_be_empty = ["RPC error rate by method", "Proposals pending and failed"];
    let queries = dashboard_queries();
    assert!(queries.len() >= 14, "{queries:?}");
    for (title, expr) in queries {
        let (status, body) = http_get(prometheus.port, &format!("/api/v1/query?query={}", encode(&expr))).expect("Prometheus answers");
        assert_eq!(status, 200, "panel {title:?}: {expr}\n{body}");
        if !may_be_empty.contains(&title.as_str()) {
            let r = prometheus.wait_for(&expr, |r| !r.is_empty());
            eprintln!("panel {title:?}: {} series", r.len());
        }
    }
}

/// The alert rules load and their unit tests pass (`promtool check rules`, `promtool test rules`).
#[test]
fn alert_rules_pass_promtool() {
    let dir = crate_dir().parent().expect("workspace").join("dashboards");
    for args in [&["check", "rules", "alerts.yml"][..], &["test", "rules", "alerts_test.yml"][..]] {
        let out = Command::new("promtool").args(args).current_dir(&dir).output().expect("promtool runs");
        assert!(out.status.success(), "promtool {args:?}:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}

/// The dashboard's shape: schemaVersion 36 or later, only `timeseries` and `stat` panels, each on the
/// Prometheus data source chosen by the `datasource` variable, with unique IDs and a grid position.
#[test]
fn the_dashboard_has_grafanas_shape() {
    let path = crate_dir().parent().expect("workspace").join("dashboards/detcd.json");
    let dash: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard")).expect("JSON");
    assert!(dash["schemaVersion"].as_u64().expect("schemaVersion") >= 36);
    let vars = dash["templating"]["list"].as_array().expect("templating");
    assert!(vars.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"), "{vars:?}");
    let panels = dash["panels"].as_array().expect("panels");
    let mut ids = std::collections::BTreeSet::new();
    for p in panels {
        assert!(["timeseries", "stat"].contains(&p["type"].as_str().unwrap_or("")), "{p}");
        assert!(ids.insert(p["id"].as_u64().expect("id")), "duplicate id in {p}");
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "{p}");
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{p}");
        assert!(p["targets"].as_array().is_some_and(|t| !t.is_empty() && t.iter().all(|t| t["expr"].is_string())), "{p}");
    }
    assert!(panels.iter().filter(|p| p["type"] == "stat").count() >= 2 && panels.iter().filter(|p| p["type"] == "timeseries").count() >= 8);
}

/// What a member exports passes `promtool check metrics`, except the names etcd chose and
/// dashboards depend on (docs/OBSERVABILITY.md lists them), and promtool reading OpenMetrics'
/// counter `HELP` lines (which name the family without `_total`) as missing.
#[test]
fn promtool_finds_nothing_but_etcds_own_exceptions() {
    let _serial = serial();
    let mut cluster = Cluster::start(&server_bin());
    cluster.wait_for_leader(STARTUP);
    assert_eq!(cluster.etcdctl().run_ok(&["put", "k", "v"]).trim(), "OK");
    let port = cluster.members[0].client_port;
    let (status, text) = http_get(port, "/metrics").expect("/metrics answers");
    assert_eq!(status, 200);
    // The harness asked every member for its status (etcdctl endpoint status) while waiting.
    let status_ok = "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Status\",grpc_service=\"etcdserverpb.Maintenance\",grpc_type=\"unary\"}";
    for name in ["etcd_server_has_leader", "etcd_disk_wal_fsync_duration_seconds_bucket", "etcd_network_peer_sent_bytes_total", "etcd_debugging_mvcc_keys_total 1", status_ok] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    let mut promtool = Command::new("promtool").args(["check", "metrics"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("promtool runs");
    promtool.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
    let out = promtool.wait_with_output().expect("promtool output");
    let report = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let etcd_names = ["etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total", "etcd_debugging_mvcc_keys_total"];
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !(l.ends_with("non-counter metrics should not have \"_total\" suffix") && etcd_names.iter().any(|n| l.starts_with(n))))
        .filter(|l| !(l.ends_with(" no help text") && l.split_whitespace().next().is_some_and(|n| n.ends_with("_total"))))
        .collect();
    assert!(unexpected.is_empty(), "promtool check metrics:\n{report}");

    let (status, body) = http_get(port, "/health").expect("/health answers");
    assert_eq!((status, body.as_str()), (200, "{\"health\":\"true\"}"));
}
