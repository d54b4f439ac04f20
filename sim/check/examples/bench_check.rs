//! Times the linearizability checker and reports peak memory.
//!
//! `cargo run --release -p detcd-check --example bench_check` runs every scenario in its own
//! process (so each peak-memory figure, VmHWM, is that scenario's alone) and prints a table.
//! `... --example bench_check -- SCENARIO` runs one.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{generate, EtcdSpec, KvSpec, Shape};
use detcd_check::linearizability::{check, check_within, History, Model, NoDeadline, Verdict};
use detcd_check::models::etcd::Etcd;
use detcd_check::models::kv_append::KvAppend;
use detcd_check::{check_text, ModelKind};
use rand::rngs::StdRng;
use rand::SeedableRng;

const SCENARIOS: [&str; 9] = [
    "porcupine-corpus",
    "c10-ok",
    "c10-bad",
    "c50-ok",
    "c50-bad",
    "gen-kv-10k",
    "gen-etcd-10k",
    "gen-etcd-10k-many-timeouts",
    "gen-kv-10k-seeds",
];
/// Repetitions for the small corpus files (the median is reported).
const REPEATS: usize = 21;
/// The generated histories' shape: 10,000 operations, 50 clients, 10 keys.
const GENERATED: Shape = Shape {
    clients: 50,
    operations: 10_000,
    timeout_chance: 0.002,
};
const SEED: u64 = 6;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/porcupine")
}

fn peak_memory_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Parses and checks `file` REPEATS times; the median time and the verdict.
/// Porcupine's c50 kv histories, vendored with the crate (`testdata/porcupine-kv/`).
fn vendored() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine-kv")
}

fn time_file(file: &str, model: ModelKind) -> (Duration, Verdict) {
    time_path(&corpus().join(file), model, REPEATS)
}

fn time_path(path: &std::path::Path, model: ModelKind, repeats: usize) -> (Duration, Verdict) {
    let text = std::fs::read_to_string(path).expect("history file");
    let mut times = Vec::new();
    let mut verdict = Verdict::Unknown;
    for _ in 0..repeats {
        let t = Instant::now();
        verdict = check_text(&text, model, None, &NoDeadline)
            .expect("parses")
            .verdict;
        times.push(t.elapsed());
    }
    (median(times), verdict)
}

fn time_generated<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
) -> (Duration, Verdict) {
    let t = Instant::now();
    let verdict = check(model, history, &NoDeadline);
    (t.elapsed(), verdict)
}

fn short(v: &Verdict) -> &'static str {
    match v {
        Verdict::Ok => "linearizable",
        Verdict::Illegal(_) => "NOT linearizable",
        Verdict::Unknown => "unknown",
    }
}

fn run(scenario: &str) {
    let (what, time, verdict) = match scenario {
        "porcupine-corpus" => {
            let mut total = Duration::ZERO;
            let mut slowest = (Duration::ZERO, String::new());
            let mut files = 0;
            for (folder, model) in [("jepsen", ModelKind::Register), ("kv", ModelKind::KvAppend)] {
                let verdicts =
                    std::fs::read_to_string(corpus().join(folder).join("VERDICTS.txt")).unwrap();
                for line in verdicts.lines().filter(|l| !l.is_empty()) {
                    let file = format!("{folder}/{}", line.split_whitespace().next().unwrap());
                    let t = time_file(&file, model).0;
                    total += t;
                    slowest = slowest.max((t, file));
                    files += 1;
                }
            }
            let what = format!(
                "all {files} corpus files, sum of medians (slowest {} at {:.3} ms)",
                slowest.1,
                slowest.0.as_secs_f64() * 1e3
            );
            (what, total, Verdict::Ok)
        }
        "c10-ok" | "c10-bad" => {
            let (t, v) = time_file(&format!("kv/{scenario}.txt"), ModelKind::KvAppend);
            (
                format!("kv/{scenario}.txt parse+check, median of {REPEATS}"),
                t,
                v,
            )
        }
        "c50-ok" | "c50-bad" => {
            let (t, v) = time_path(&vendored().join(format!("{scenario}.txt")), ModelKind::KvAppend, 5);
            (format!("Porcupine kv/{scenario}.txt parse+check, median of 5"), t, v)
        }
        "gen-kv-10k" => {
            let h = generate(
                &KvSpec { keys: 10 },
                GENERATED,
                &mut StdRng::seed_from_u64(SEED),
            );
            let (t, v) = time_generated(&KvAppend, &h);
            (
                format!("kv-append, {} ops, 50 clients, 10 keys", h.len()),
                t,
                v,
            )
        }
        "gen-etcd-10k" => {
            let h = generate(
                &EtcdSpec { keys: 10 },
                GENERATED,
                &mut StdRng::seed_from_u64(SEED),
            );
            let (t, v) = time_generated(&Etcd, &h);
            (format!("etcd, {} ops, 50 clients, 10 keys", h.len()), t, v)
        }
        "gen-etcd-10k-many-timeouts" => {
            // Five times the timeouts (about 3% of operations unknown): beyond what the
            // search handles; shows the budget answering "unknown" instead of hanging.
            let shape = Shape {
                timeout_chance: 0.01,
                ..GENERATED
            };
            let h = generate(
                &EtcdSpec { keys: 10 },
                shape,
                &mut StdRng::seed_from_u64(SEED),
            );
            let t = Instant::now();
            let v = check_within(&Etcd, &h, Duration::from_secs(5));
            (
                format!("etcd, {} ops, ~3% unknown outcome, 5 s budget", h.len()),
                t.elapsed(),
                v,
            )
        }
        "gen-kv-10k-seeds" => {
            // The same shape under other seeds, 10 s budget each: how often it is hard.
            let mut times = Vec::new();
            let mut unknown = 0;
            for seed in 0..6 {
                let h = generate(
                    &KvSpec { keys: 10 },
                    GENERATED,
                    &mut StdRng::seed_from_u64(seed),
                );
                let t = Instant::now();
                if check_within(&KvAppend, &h, Duration::from_secs(10)) == Verdict::Unknown {
                    unknown += 1;
                }
                times.push(format!("{:.1}", t.elapsed().as_secs_f64()));
            }
            let what = format!(
                "kv-append as above, seeds 0-5: {} s each, {unknown} unknown",
                times.join(" / ")
            );
            (what, Duration::ZERO, Verdict::Ok)
        }
        other => panic!("unknown scenario {other}; one of {SCENARIOS:?}"),
    };
    println!(
        "| {scenario} | {what} | {:.3} ms | {} | {} MiB |",
        time.as_secs_f64() * 1e3,
        short(&verdict),
        peak_memory_kib() / 1024
    );
}

fn main() {
    if let Some(scenario) = std::env::args().nth(1) {
        run(&scenario);
        return;
    }
    println!("| scenario | what | time | verdict | peak memory (VmHWM) |");
    println!("|---|---|---|---|---|");
    let me = std::env::current_exe().expect("own path");
    for s in SCENARIOS {
        let out = Command::new(&me).arg(s).output().expect("runs itself");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprintln!("{s} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}
