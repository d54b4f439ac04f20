//! Property tests with fixed seeds: histories made by running a sequential implementation
//! under random concurrency (and timeouts) are always accepted; the same history with one read
//! corrupted to a value never written is always rejected.

mod common;

use common::{corrupt_one_read, generate, EtcdSpec, KvSpec, RegisterSpec, Shape, Spec};
use detcd_check::linearizability::{check, Model, NoDeadline, Verdict};
use detcd_check::models::etcd::Etcd;
use detcd_check::models::kv_append::KvAppend;
use detcd_check::models::register::Register;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Histories per model and property.
const CASES: u64 = 150;

fn accepted_then_rejected_when_corrupted<S, M>(spec: &S, model: &M, shape: Shape, seed: u64)
where
    S: Spec,
    M: Model<Input = S::Input, Output = S::Output>,
    S::Output: Clone,
{
    let mut corrupted = 0;
    for case in 0..CASES {
        let mut rng = StdRng::seed_from_u64(seed + case);
        let history = generate(spec, shape, &mut rng);
        assert_eq!(
            check(model, &history, &NoDeadline),
            Verdict::Ok,
            "seed {}",
            seed + case
        );
        if let Some(bad) = corrupt_one_read(spec, &history, rng.gen()) {
            corrupted += 1;
            let verdict = check(model, &bad, &NoDeadline);
            assert!(
                matches!(verdict, Verdict::Illegal(_)),
                "seed {}: {verdict:?}",
                seed + case
            );
        }
    }
    assert!(
        corrupted > CASES / 2,
        "too few histories had a read to corrupt"
    );
}

#[test]
fn generated_register_histories_are_accepted_and_a_corrupted_read_is_not() {
    let shape = Shape {
        clients: 5,
        operations: 60,
        timeout_chance: 0.05,
    };
    accepted_then_rejected_when_corrupted(&RegisterSpec, &Register, shape, 1_000);
}

#[test]
fn generated_kv_histories_are_accepted_and_a_corrupted_read_is_not() {
    let shape = Shape {
        clients: 8,
        operations: 120,
        timeout_chance: 0.05,
    };
    accepted_then_rejected_when_corrupted(&KvSpec { keys: 3 }, &KvAppend, shape, 2_000);
}

#[test]
fn generated_etcd_histories_are_accepted_and_a_corrupted_read_is_not() {
    let shape = Shape {
        clients: 6,
        operations: 80,
        timeout_chance: 0.05,
    };
    accepted_then_rejected_when_corrupted(&EtcdSpec { keys: 3 }, &Etcd, shape, 3_000);
}

#[test]
fn busy_histories_with_many_clients_are_accepted() {
    // Every client always has an operation in flight, as under a load generator. The kv ones
    // are big enough (600 operations) for the partitions to be searched on several threads.
    let kv = Shape {
        clients: 20,
        operations: 600,
        timeout_chance: 0.002,
    };
    let etcd = Shape {
        clients: 50,
        operations: 1_000,
        timeout_chance: 0.002,
    };
    for seed in 0..5 {
        let mut rng = StdRng::seed_from_u64(seed);
        let h = generate(&KvSpec { keys: 6 }, kv, &mut rng);
        assert_eq!(
            check(&KvAppend, &h, &NoDeadline),
            Verdict::Ok,
            "seed {seed}"
        );
        let bad = corrupt_one_read(&KvSpec { keys: 6 }, &h, seed as usize).expect("has reads");
        match check(&KvAppend, &bad, &NoDeadline) {
            Verdict::Illegal(info) => {
                assert_eq!(info.partitions, 6, "seed {seed}");
                assert_eq!(
                    info.failing.len(),
                    1,
                    "only the corrupted key fails, seed {seed}"
                );
            }
            other => panic!("seed {seed}: {other:?}"),
        }
        let h = generate(&EtcdSpec { keys: 10 }, etcd, &mut rng);
        assert_eq!(check(&Etcd, &h, &NoDeadline), Verdict::Ok, "seed {seed}");
    }
}
