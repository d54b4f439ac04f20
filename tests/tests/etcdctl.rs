//! Real-mode e2e: a fresh 3-member cluster of the server under test (`DETCD_SERVER_BIN`, default
//! `<target>/<profile>/detcd`) on the fixed demo ports, driven by the real etcdctl 3.4; every
//! command of `tests/golden/commands.txt` must print what etcd 3.4.23 printed on a fresh cluster
//! (`tests/golden/etcd-3.4.23/`, from `scripts/etcd-reference.sh`), after masking.
//!
//! Check the harness against etcd itself:
//!   DETCD_SERVER_BIN=/usr/bin/etcd cargo test -p detcd-e2e -- --nocapture

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use detcd_e2e::*;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The stdout section of a golden record.
fn stdout_of(record: &str) -> &str {
    let start = record
        .find("--- stdout\n")
        .map_or(0, |p| p + "--- stdout\n".len());
    let end = record[start..]
        .find("--- stderr\n")
        .map_or(record.len(), |p| start + p);
    &record[start..end]
}

#[test]
fn etcdctl_commands_match_etcd_golden() {
    let _serial = serial();
    let bin = server_bin();
    let text = std::fs::read_to_string(commands_file()).expect("read tests/golden/commands.txt");
    let cmds = parse_commands(&text);
    let golden = golden_dir();
    eprintln!(
        "server under test: {}; {} commands; golden: {}",
        bin.display(),
        cmds.len(),
        golden.display()
    );

    let mut cluster = Cluster::start(&bin);
    let leader = cluster.wait_for_leader(STARTUP_TIMEOUT);
    eprintln!("leader: {}", cluster.members[leader].name);
    let ctl = cluster.etcdctl();

    let actual_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("etcdctl-actual");
    let _ = std::fs::remove_dir_all(&actual_dir);
    std::fs::create_dir_all(&actual_dir).unwrap();

    let mut actual = Vec::new();
    let mut vars = BTreeMap::new();
    let mut jobs: BTreeMap<String, Job> = BTreeMap::new();
    for c in &cmds {
        let t = Instant::now();
        let argv = c.argv_with(&vars);
        let out = match &c.kind {
            Kind::Run => ctl.run(&argv, &c.stdin.bytes()),
            Kind::Start => {
                jobs.insert(c.name.clone(), Job::start(&ctl, &argv));
                std::thread::sleep(SETTLE);
                continue;
            }
            Kind::Sleep { seconds } => {
                std::thread::sleep(Duration::from_secs(*seconds));
                continue;
            }
            Kind::Peek { job } => {
                std::thread::sleep(SETTLE);
                jobs.get(job).unwrap_or_else(|| panic!("job {job} is not running")).peek()
            }
            Kind::Stop { job } => {
                std::thread::sleep(SETTLE);
                jobs.remove(job).unwrap_or_else(|| panic!("job {job} is not running")).stop(Duration::from_secs(10))
            }
        };
        if let Some(var) = &c.capture {
            let id = first_hex16(&out.stdout).unwrap_or_else(|| panic!("{}: no lease ID to capture in {:?}", c.file_name(), out.stdout));
            vars.insert(var.clone(), id);
        }
        let rec = record(c, &out);
        std::fs::write(actual_dir.join(c.file_name()), &rec).unwrap();
        eprintln!(
            "{:<48} exit {:>2}  {:>5} ms",
            c.file_name(),
            out.code,
            t.elapsed().as_millis()
        );
        actual.push((c, rec));
    }
    drop(jobs);
    // Member IDs for masking "which member answered": the live cluster's, and the golden one's.
    let live_ids = parse_member_ids(&ctl.run_ok(&["member", "list", "-w", "json"]));
    assert_eq!(cluster.live().len(), 3, "a member died during the run");
    drop(cluster);

    let mut golden_ids = BTreeSet::new();
    let mut golden_vars = BTreeMap::new();
    let mut expected = Vec::new();
    for (c, _) in &actual {
        let g = std::fs::read_to_string(golden.join(c.file_name())).ok();
        if let Some(g) = &g {
            if c.argv.iter().map(String::as_str).eq(["member", "list", "-w", "json"]) {
                golden_ids = parse_member_ids(stdout_of(g));
            }
            if let (Some(var), Some(id)) = (&c.capture, first_hex16(stdout_of(g))) {
                golden_vars.insert(var.clone(), id);
            }
        }
        expected.push(g);
    }
    let live_mask = vars.iter().fold(Masker::new(live_ids), |m, (k, v)| m.with_var(k, v));
    let golden_mask = golden_vars.iter().fold(Masker::new(golden_ids), |m, (k, v)| m.with_var(k, v));

    let mut report = String::new();
    let mut bad = 0;
    for ((c, act), exp) in actual.iter().zip(&expected) {
        let (act, exp) = if order_is_timing(c) {
            (sort_section_lines(act), exp.as_deref().map(sort_section_lines))
        } else {
            (act.clone(), exp.clone())
        };
        let act_m = live_mask.mask(&act);
        match exp {
            None => {
                bad += 1;
                report += &format!(
                    "\n=== {}: no golden file (regenerate with scripts/etcd-reference.sh); actual:\n{act}",
                    c.file_name()
                );
            }
            Some(exp) => {
                let exp_m = golden_mask.mask(&exp);
                if exp_m != act_m {
                    bad += 1;
                    report += &format!(
                        "\n=== {} (- golden {GOLDEN_VERSION}, + actual; masked)\n{}",
                        c.file_name(),
                        line_diff(&exp_m, &act_m)
                    );
                }
            }
        }
    }
    // Golden files no command produces any more are stale.
    let names: BTreeSet<String> = cmds.iter().filter(|c| c.recorded()).map(|c| c.file_name()).collect();
    for e in std::fs::read_dir(&golden).expect("golden dir").flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.ends_with(".txt") && !names.contains(&n) {
            bad += 1;
            report += &format!("\n=== {n}: stale golden file (no such command in commands.txt)\n");
        }
    }
    if bad > 0 {
        eprintln!("{report}");
        panic!(
            "{bad} of {} etcdctl commands differ from {GOLDEN_VERSION} (report above; raw actual \
             outputs in {})",
            actual.len(),
            actual_dir.display()
        );
    }
    eprintln!("all {} commands match {GOLDEN_VERSION}", actual.len());
}

#[test]
fn leader_kill_survivors_elect_and_serve() {
    let _serial = serial();
    let bin = server_bin();
    let mut cluster = Cluster::start(&bin);
    let old = cluster.wait_for_leader(STARTUP_TIMEOUT);
    let old_id = cluster.status(old).expect("leader answers").member_id;
    eprintln!("killing leader {} ({old_id:x})", cluster.members[old].name);
    cluster.kill(old);

    let t = Instant::now();
    let new = cluster.wait_for_leader(Duration::from_secs(10));
    let new_st = cluster.status(new).expect("new leader answers");
    eprintln!(
        "new leader {} ({:x}) after {:?}",
        cluster.members[new].name,
        new_st.member_id,
        t.elapsed()
    );
    assert_ne!(new, old);
    assert_ne!(new_st.member_id, old_id);

    let survivors: Vec<String> = cluster
        .live()
        .iter()
        .map(|&i| cluster.members[i].endpoint())
        .collect();
    assert_eq!(survivors.len(), 2);
    let ctl = Etcdctl::new(survivors.join(","));
    assert_eq!(
        ctl.run_ok(&["put", "after-kill", "still-serving"]).trim(),
        "OK"
    );
    assert_eq!(
        ctl.run_ok(&["get", "after-kill"]),
        "after-kill\nstill-serving\n"
    );
    // Each survivor serves a linearizable read itself.
    for ep in &survivors {
        let out = ctl.run_ok(&[
            format!("--endpoints={ep}").as_str(),
            "get",
            "after-kill",
            "--print-value-only",
        ]);
        assert_eq!(out, "still-serving\n", "read through {ep}");
    }
}
